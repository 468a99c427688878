#include "acim/executor.hpp"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <set>

#include "ops/kernels_act.hpp"
#include "ops/op.hpp"

namespace acim {

std::vector<std::string> supported_ops() {
  std::vector<std::string> r;
  for (auto s : ops::supported_op_types()) r.emplace_back(s);
  return r;
}

void check_ops_supported(const Graph& graph) {
  std::map<std::string, std::vector<std::string>> missing;  // op type -> node names
  auto check = [&](const Node& n) {
    if (!ops::find_op(n.op_type)) missing[n.op_type].push_back(n.name);
  };
  for (const auto& n : graph.nodes) {
    check(n);
    for (const auto& f : n.fused) check(f);
  }
  if (missing.empty()) return;
  std::string what = "unsupported ops: ";
  bool first = true;
  for (const auto& [op, names] : missing) {
    what += (first ? "" : "; ") + op + " (";
    first = false;
    for (size_t i = 0; i < names.size(); ++i) {
      if (i == 5) {
        what += ", ... " + std::to_string(names.size() - 5) + " more";
        break;
      }
      what += (i ? ", " : "") + names[i];
    }
    what += ")";
  }
  throw Error(ErrorKind::unsupported, graph.source, what,
              "replace these ops, or run `acim ops` for the supported list");
}

struct Executor::Spares {
  std::mutex mutex;
  std::vector<Tensor> free;
};

Executor::Executor(Graph graph, const std::vector<bool>& hooked)
    : graph_(std::move(graph)),
      poison_recycled_(std::getenv("ACIM_POISON_RECYCLED") != nullptr),
      spares_(std::make_shared<Spares>()) {
  validate_graph(graph_);
  check_ops_supported(graph_);
  std::map<std::string, int> slot;
  auto slot_of = [&](const std::string& name) {
    auto [it, added] = slot.emplace(name, num_slots_);
    if (added) ++num_slots_;
    return it->second;
  };
  for (const auto& [name, t] : graph_.initializers) constant_slots_.emplace_back(slot_of(name), t);
  for (const auto& in : graph_.inputs) input_slots_.push_back(slot_of(in.name));
  std::vector<int> last_use;
  for (size_t i = 0; i < graph_.nodes.size(); ++i) {
    const Node& node = graph_.nodes[i];
    Step step;
    step.op = ops::find_op(node.op_type);
    for (const auto& in : node.inputs) step.inputs.push_back(in.empty() ? -1 : slot_of(in));
    for (const auto& out : node.outputs) step.outputs.push_back(out.empty() ? -1 : slot_of(out));
    last_use.resize(static_cast<size_t>(num_slots_), -1);
    for (int s : step.inputs)
      if (s >= 0) last_use[static_cast<size_t>(s)] = static_cast<int>(i);
    steps_.push_back(std::move(step));
  }
  for (const auto& out : graph_.outputs) output_slots_.push_back(slot_of(out.name));
  // Ops with a prepare hook see their constant inputs once here (not for hooked nodes). An
  // initializer that is also a graph input can be overridden by a run's inputs, so it does not
  // count as constant.
  std::set<std::string> graph_inputs;
  for (const auto& in : graph_.inputs) graph_inputs.insert(in.name);
  for (size_t i = 0; i < steps_.size(); ++i) {
    const auto* op = static_cast<const ops::OpDef*>(steps_[i].op);
    if (!op->prepare || (i < hooked.size() && hooked[i])) continue;
    const Node& node = graph_.nodes[i];
    std::vector<const Tensor*> consts;
    bool any = false;
    for (const auto& in : node.inputs) {
      auto it = in.empty() || graph_inputs.count(in) ? graph_.initializers.end()
                                                     : graph_.initializers.find(in);
      consts.push_back(it == graph_.initializers.end() ? nullptr : &it->second);
      any |= consts.back() != nullptr;
    }
    if (!any) continue;
    try {
      steps_[i].prepared = op->prepare(node, consts);
    } catch (const Error& e) {
      if (!e.where().empty()) throw;
      throw Error(e.kind(), graph_.where(node), e.what_only(), e.fix());
    }
  }
  // Free each intermediate right after its last reader, unless it is a graph output or constant.
  last_use.resize(static_cast<size_t>(num_slots_), -1);
  for (int s : output_slots_) last_use[static_cast<size_t>(s)] = -1;
  for (const auto& [s, t] : constant_slots_) last_use[static_cast<size_t>(s)] = -1;
  for (int s = 0; s < num_slots_; ++s)
    if (last_use[static_cast<size_t>(s)] >= 0)
      steps_[static_cast<size_t>(last_use[static_cast<size_t>(s)])].release.push_back(s);
}

// Applies node.fused to output 0 of a kernel that does not do it itself: in place for float32
// when the output owns its buffer (it shares none with an input) and the activations are ones
// kernels_act.hpp knows, else by running each activation op.
void Executor::run_fused(const Node& node, ops::RunContext& ctx) const {
  Tensor& out = ctx.outputs[0];
  bool in_place = out.dtype() == DType::f32 && !out.empty();
  for (const Tensor* in : ctx.inputs) in_place = in_place && (!in || in->raw() != out.raw());
  ops::FusedActs acts;
  if (in_place && ops::parse_fused(node, acts)) {
    float* p = out.data<float>();
    const int64_t n = out.numel();
    constexpr int64_t kBlock = int64_t{1} << 14;
    const int64_t nb = (n + kBlock - 1) / kBlock;
#pragma omp parallel for schedule(static) if (nb > 1)
    for (int64_t b = 0; b < nb; ++b) ops::apply_acts(acts, p + b * kBlock, std::min(kBlock, n - b * kBlock));
    return;
  }
  ops::run_fused_nodes(node, {}, out);
}

static std::string describe_type(DType dt, const Shape& s) { return dtype_name(dt) + shape_str(s); }

namespace {

// Intermediate buffers freed during one run, handed back to kernels (and to the nodes a RunHooks
// replaces: the simulator's analog layers) that ask for an output of the same dtype and size
// (OutputBuffers::new_output): a run then allocates (and the OS maps) only a few large buffers
// instead of one per layer. The executor keeps them for its next run
// (Executor::spares_): freed, they went back to the C library, which gave the top of its heap
// back to the OS, and the next run took page faults to map it again (DS-CNN at batch 256:
// 111k faults per process; 2026-11-26).
// With the environment variable ACIM_POISON_RECYCLED set (a debugging and test aid), a buffer is
// filled with NaN bytes (0xFF) before it is handed out again, so a kernel that lets a lane it
// never wrote reach a kept result shows NaN instead of passing by luck.
struct RunPool {
  static constexpr size_t kMaxBuffers = 8;
  static constexpr size_t kMinBytes = size_t{1} << 16;  // smaller ones are cheap to allocate
  std::vector<Tensor> free;
  bool poison = false;
};

Tensor take_buffer(void* p, DType dtype, const Shape& shape) {
  auto* pool = static_cast<RunPool*>(p);
  const int64_t n = shape_numel(shape);
  for (size_t i = 0; i < pool->free.size(); ++i) {
    if (pool->free[i].dtype() != dtype || pool->free[i].numel() != n) continue;
    Tensor t = pool->free[i].reshaped(shape);
    pool->free.erase(pool->free.begin() + static_cast<std::ptrdiff_t>(i));
    if (pool->poison) std::memset(t.raw(), 0xFF, t.nbytes());
    return t;
  }
  return Tensor();
}

}  // namespace

TensorMap Executor::run(const TensorMap& inputs, RunHooks* hooks) const {
  const std::string where = graph_.source.empty() ? "" : graph_.source + ": ";
  std::vector<Tensor> values(static_cast<size_t>(num_slots_));
  for (const auto& [s, t] : constant_slots_) values[static_cast<size_t>(s)] = t;
  for (size_t k = 0; k < graph_.inputs.size(); ++k) {
    const ValueInfo& in = graph_.inputs[k];
    auto it = inputs.find(in.name);
    if (it == inputs.end())
      throw Error(ErrorKind::invalid, where + "input '" + in.name + "'",
                  "no tensor given for this graph input",
                  "expected " + describe_type(in.dtype, in.shape));
    const Tensor& t = it->second;
    bool ok = t.dtype() == in.dtype &&
              (!in.shape_known || t.rank() == static_cast<int>(in.shape.size()));
    for (size_t d = 0; ok && in.shape_known && d < in.shape.size(); ++d)
      ok = in.shape[d] < 0 || in.shape[d] == t.shape()[d];
    if (!ok)
      throw Error(ErrorKind::shape, where + "input '" + in.name + "'",
                  "expected " + describe_type(in.dtype, in.shape) + ", got " +
                      describe_type(t.dtype(), t.shape()));
    values[static_cast<size_t>(input_slots_[k])] = t;
  }
  for (const auto& [name, t] : inputs) {
    bool known = false;
    for (const auto& in : graph_.inputs) known |= in.name == name;
    if (!known)
      throw Error(ErrorKind::invalid, where + "input '" + name + "'",
                  "the graph has no input of this name");
  }

  RunPool pool;
  pool.poison = poison_recycled_;
  {
    std::lock_guard<std::mutex> lock(spares_->mutex);
    pool.free.swap(spares_->free);
  }
  for (size_t i = 0; i < steps_.size(); ++i) {
    const Step& step = steps_[i];
    const Node& node = graph_.nodes[i];
    ops::RunContext ctx{node, {}, {}, std::vector<Tensor>(step.outputs.size()),
                        step.prepared.get(), OutputBuffers{take_buffer, &pool}};
    ctx.inputs.reserve(step.inputs.size());
    for (int s : step.inputs) ctx.inputs.push_back(s < 0 ? nullptr : &values[static_cast<size_t>(s)]);
    try {
      const auto* op = static_cast<const ops::OpDef*>(step.op);
      if (hooks != nullptr && hooks->replace(i, node, ctx.inputs, ctx.outputs, ctx.buffers)) {
        if (!node.fused.empty()) run_fused(node, ctx);
      } else {
        op->run(ctx);
        if (!node.fused.empty() && !op->handles_fused) run_fused(node, ctx);
      }
      if (hooks != nullptr) {
        hooks->adjust(i, node, ctx.outputs);
        hooks->observe(i, node, ctx.inputs, ctx.outputs);
      }
    } catch (const Error& e) {
      // Kernels leave `where` empty on the hot path; name the node here.
      if (!e.where().empty()) throw;
      throw Error(e.kind(), graph_.where(node), e.what_only(), e.fix());
    }
    for (size_t o = 0; o < step.outputs.size(); ++o) {
      if (step.outputs[o] < 0) continue;
      ACIM_ASSERT(!ctx.outputs[o].empty(), "kernel left an output unset");
      values[static_cast<size_t>(step.outputs[o])] = std::move(ctx.outputs[o]);
    }
    for (int s : step.release) {
      Tensor t = std::move(values[static_cast<size_t>(s)]);
      values[static_cast<size_t>(s)] = Tensor();
      // Recycled only if nothing else can see the buffer: no live value (constants, graph
      // inputs and views share buffers, and a view has its buffer's data pointer), no caller's
      // input, nothing already in the pool.
      bool reuse = !t.empty() && t.nbytes() >= RunPool::kMinBytes &&
                   pool.free.size() < RunPool::kMaxBuffers;
      for (size_t v = 0; reuse && v < values.size(); ++v)
        reuse = values[v].empty() || values[v].raw() != t.raw();
      for (auto it = inputs.begin(); reuse && it != inputs.end(); ++it)
        reuse = it->second.raw() != t.raw();
      for (size_t f = 0; reuse && f < pool.free.size(); ++f) reuse = pool.free[f].raw() != t.raw();
      if (reuse) pool.free.push_back(std::move(t));
    }
  }

  TensorMap out;
  for (size_t k = 0; k < graph_.outputs.size(); ++k)
    out[graph_.outputs[k].name] = values[static_cast<size_t>(output_slots_[k])];
  // Kept for the next run unless another run has given its spares back meanwhile. (The pool
  // holds no buffer the outputs use: an output's slot is never released.)
  std::lock_guard<std::mutex> lock(spares_->mutex);
  if (spares_->free.empty()) spares_->free.swap(pool.free);
  return out;
}

}  // namespace acim
