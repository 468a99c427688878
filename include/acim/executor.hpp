// The reference executor: runs a Graph in float32 (and the integer dtypes shape arithmetic
// needs) on the CPU. It is the ideal digital twin every analog result is compared with.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "acim/graph.hpp"

namespace acim {

namespace ops {
struct RunContext;
}

using TensorMap = std::map<std::string, Tensor>;

// Buffers for a node's outputs: new_output() returns one the Executor recycles (within a run and
// from one run to the next) when it holds one of that dtype and size, contents undefined, else a
// new uninitialized tensor. For outputs written completely.
struct OutputBuffers {
  Tensor (*take)(void* pool, DType dtype, const Shape& shape) = nullptr;
  void* pool = nullptr;
  Tensor new_output(DType dtype, Shape shape) const {
    if (take != nullptr) {
      Tensor t = take(pool, dtype, shape);
      if (!t.empty()) return t;
    }
    return Tensor::uninitialized(dtype, std::move(shape));
  }
};

// Lets a caller watch or replace single nodes during one Executor::run: activation calibration
// watches the inputs of the layers that go onto arrays; the analog simulator replaces those
// layers with crossbar MVMs. Both are called on the thread that calls run().
class RunHooks {
 public:
  virtual ~RunHooks() = default;
  // Before node `index` (graph.nodes order) runs. Return true after assigning every present
  // output in `outputs` (one slot per node output) to run the node this way instead of its op;
  // the executor still applies the node's fused activations (Node::fused) to outputs[0].
  // `buffers` hands out the executor's recycled buffers for those outputs.
  virtual bool replace(size_t index, const Node& node, const std::vector<const Tensor*>& inputs,
                       std::vector<Tensor>& outputs, const OutputBuffers& buffers) {
    (void)index, (void)node, (void)inputs, (void)outputs, (void)buffers;
    return false;
  }
  // After node `index` ran (fused activations applied) and before observe(): may replace
  // outputs with other tensors of the same dtype and shape (the simulator rounds them to the
  // digital units' precision). Never write into an output in place: it can share its buffer
  // with other live values (a Reshape's output is a view of its input).
  virtual void adjust(size_t index, const Node& node, std::vector<Tensor>& outputs) {
    (void)index, (void)node, (void)outputs;
  }
  // After node `index` ran (fused activations applied), with its inputs and outputs.
  virtual void observe(size_t index, const Node& node, const std::vector<const Tensor*>& inputs,
                       const std::vector<Tensor>& outputs) {
    (void)index, (void)node, (void)inputs, (void)outputs;
  }
};

class Executor {
 public:
  // Takes its own copy of the graph; checks that it is valid and every op is supported
  // (listing all unsupported nodes at once). `hooked`: per node (graph.nodes order; may be
  // empty), true for a node a RunHooks replaces on every run: its op is not prepared (no
  // transposed copy of a weight no run reads), and runs unprepared if a hook ever declines it.
  explicit Executor(Graph graph, const std::vector<bool>& hooked = {});

  const Graph& graph() const { return graph_; }

  // Runs the graph. `inputs` must hold every graph input by name, with the declared dtype and
  // a shape matching the declared one where that is known. Returns the graph outputs.
  // `hooks` (optional) sees or replaces nodes as they run.
  TensorMap run(const TensorMap& inputs, RunHooks* hooks = nullptr) const;

 private:
  // The graph resolved once into slots, so a run does no name look-ups.
  struct Step {
    const void* op = nullptr;            // ops::OpDef of the node
    std::vector<int> inputs;             // slot per node input; -1 for omitted
    std::vector<int> outputs;            // slot per node output; -1 for omitted
    std::vector<int> release;            // slots dead after this step
    std::shared_ptr<const void> prepared;  // the op's prepare result (ops::OpDef::prepare)
  };
  // Applies node.fused to ctx.outputs[0]: in place when it can, else through the ops.
  void run_fused(const Node& node, ops::RunContext& ctx) const;

  Graph graph_;
  std::vector<Step> steps_;
  int num_slots_ = 0;
  std::vector<int> input_slots_;   // per graph input
  std::vector<int> output_slots_;  // per graph output
  std::vector<std::pair<int, Tensor>> constant_slots_;  // initializers
  // Debugging aid read once from the environment (ACIM_POISON_RECYCLED): recycled buffers are
  // filled with NaN before reuse, so a kernel that keeps an unwritten lane shows NaN.
  bool poison_recycled_ = false;
  // The intermediate buffers a run recycled, kept for the next run (executor.cpp, RunPool): a
  // warm run of the same shapes allocates no large buffer. Shared by copies of the executor;
  // a run takes them under the lock and gives them back at its end.
  struct Spares;
  std::shared_ptr<Spares> spares_;
};

// Throws one Error listing every node whose op type acim does not support (or nothing).
void check_ops_supported(const Graph& graph);

// Every op type the executor supports, sorted.
std::vector<std::string> supported_ops();

}  // namespace acim
