// One operator's definition: how to infer its outputs' dtypes and shapes, how to run it on the
// CPU in the reference executor, and how many multiply-accumulates it costs. One OpDef per ONNX
// op type; families of ops live one file each in src/ops/ and register in registry.cpp.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "acim/executor.hpp"
#include "acim/graph.hpp"

namespace acim::ops {

// What shape inference knows about one input of a node.
struct InferInput {
  const ValueInfo* info = nullptr;  // nullptr: optional input omitted
  const Tensor* constant = nullptr;  // set when the value is a known constant
};

struct InferContext {
  const Node& node;
  std::string where;  // "model.onnx: node 'x' (Op)" for error messages
  std::vector<InferInput> inputs;  // one per node input
  std::vector<ValueInfo> outputs;  // one per node output, names set; the op fills the rest
  // An op may set output i's value here when it is known from shapes alone, even though the
  // inputs are not constant (Shape and Size of a tensor whose shape is known).
  std::vector<Tensor> output_constants;

  bool has(size_t i) const { return i < inputs.size() && inputs[i].info != nullptr; }
  // Input i's info; throws Error(invalid) naming the node if it is absent.
  const ValueInfo& in(size_t i) const;
  // Input i as a constant, or nullptr.
  const Tensor* constant(size_t i) const { return i < inputs.size() ? inputs[i].constant : nullptr; }
  // Set output i.
  void set_output(size_t i, DType dtype, Shape shape);
  void set_output_unknown_shape(size_t i, DType dtype);
  [[noreturn]] void fail(ErrorKind kind, const std::string& what, const std::string& fix = {}) const;
};

struct RunContext {
  const Node& node;
  std::string where;  // may be empty on the hot path: the executor then adds the node name
  std::vector<const Tensor*> inputs;  // nullptr for omitted optional inputs
  std::vector<Tensor> outputs;        // one per node output; the kernel assigns each
  // What the op's `prepare` returned for this node in the Executor (nullptr elsewhere: shape
  // inference, constant folding, or when prepare returned nullptr). A kernel must work without.
  const void* prepared = nullptr;
  // Optional: the buffers the Executor recycles (OutputBuffers); elsewhere new_output() makes a
  // new uninitialized tensor. For outputs the kernel writes completely.
  OutputBuffers buffers = {};
  Tensor new_output(DType dtype, Shape shape) const {
    return buffers.new_output(dtype, std::move(shape));
  }

  bool has(size_t i) const { return i < inputs.size() && inputs[i] != nullptr; }
  const Tensor& in(size_t i) const;  // throws if absent
  [[noreturn]] void fail(ErrorKind kind, const std::string& what, const std::string& fix = {}) const;
};

// Information the MAC counter gets: the node and its inputs'/outputs' value infos (nullptr for
// omitted or unknown).
struct CostContext {
  const Node& node;
  std::vector<const ValueInfo*> inputs;
  std::vector<const ValueInfo*> outputs;
};

struct OpDef {
  std::string_view op_type;
  int min_inputs = 1;
  int max_inputs = 1;  // -1: variadic
  void (*infer)(InferContext&) = nullptr;
  void (*run)(RunContext&) = nullptr;
  // Multiply-accumulate operations for one run (0 for ops that do none). nullptr means 0.
  int64_t (*macs)(const CostContext&) = nullptr;
  // True if `run` applies the node's fused activations (Node::fused) itself, in its epilogue;
  // the executor then does not run them after it.
  bool handles_fused = false;
  // Optional: called once by the Executor's constructor with the node's inputs that are constant
  // (initializers that are not also graph inputs; nullptr for the others), to prepare data the
  // kernel reuses on every run (weights re-laid out for the GEMM). May return nullptr.
  std::shared_ptr<const void> (*prepare)(const Node& node,
                                         const std::vector<const Tensor*>& inputs) = nullptr;
};

// The registry of all supported ops. find_op returns nullptr for unsupported op types.
const OpDef* find_op(std::string_view op_type);
std::vector<std::string_view> supported_op_types();  // sorted

// Throws Error(invalid) at `where` unless the node's number of inputs fits the op.
void check_input_count(const OpDef& def, const Node& node, const std::string& where);

// Applies node.fused (the activations fused into it) to its first output, in order.
void run_fused_nodes(const Node& node, const std::string& where, Tensor& out);

// Runs one node outside the executor (shape inference's constant propagation, constant
// folding): the op's kernel, then its fused activations. Returns the node's outputs.
std::vector<Tensor> run_node(const OpDef& def, const Node& node, const std::string& where,
                             std::vector<const Tensor*> inputs);

// Family registration functions, one per file in src/ops/.
void register_elementwise(std::vector<OpDef>& ops);   // elementwise.cpp
void register_activation(std::vector<OpDef>& ops);    // activation.cpp
void register_shape_ops(std::vector<OpDef>& ops);     // shape_ops.cpp
void register_reduce(std::vector<OpDef>& ops);        // reduce.cpp
void register_conv(std::vector<OpDef>& ops);          // conv.cpp
void register_gemm(std::vector<OpDef>& ops);          // gemm.cpp
void register_pool(std::vector<OpDef>& ops);          // pool.cpp
void register_norm(std::vector<OpDef>& ops);          // norm.cpp
void register_rnn(std::vector<OpDef>& ops);           // rnn.cpp
void register_quant(std::vector<OpDef>& ops);         // quant.cpp

}  // namespace acim::ops
