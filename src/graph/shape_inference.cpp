#include "acim/shape_inference.hpp"

#include "ops/op.hpp"

namespace acim {

namespace {
// Constants are propagated through a node when its output is at most this many elements; that
// covers shape arithmetic without folding large tensors (the fold-constants pass does that).
constexpr int64_t kMaxPropagatedElements = 1 << 16;
}  // namespace

void infer_shapes(Graph& graph) {
  graph.values.clear();
  std::map<std::string, Tensor> constants;
  for (const auto& in : graph.inputs) {
    graph.values[in.name] = in;
  }
  for (const auto& [name, t] : graph.initializers) {
    graph.values[name] = ValueInfo{name, t.dtype(), t.shape(), true};
    constants[name] = t;
  }

  for (const Node& node : graph.nodes) {
    const ops::OpDef* def = ops::find_op(node.op_type);
    std::string where = graph.where(node);
    if (!def)
      throw Error(ErrorKind::unsupported, where, "op type '" + node.op_type + "' is not supported");
    ops::check_input_count(*def, node, where);
    ops::InferContext ctx{node, where, {}, {}, {}};
    bool all_const = true;
    for (const auto& in : node.inputs) {
      ops::InferInput ii;
      if (!in.empty()) {
        auto it = graph.values.find(in);
        if (it == graph.values.end())
          throw Error(ErrorKind::invalid, where, "input '" + in + "' is not defined before use");
        ii.info = &it->second;
        auto c = constants.find(in);
        if (c != constants.end())
          ii.constant = &c->second;
        else
          all_const = false;
      }
      ctx.inputs.push_back(ii);
    }
    for (const auto& out : node.outputs) ctx.outputs.push_back(ValueInfo{out, DType::f32, {}, false});
    def->infer(ctx);

    // Fused activations keep the dtype and shape of the node's first output.
    bool small = true;
    for (size_t i = 0; i < ctx.outputs.size(); ++i) {
      const ValueInfo& vi = ctx.outputs[i];
      if (!vi.shape_known || !shape_is_known(vi.shape) || shape_numel(vi.shape) > kMaxPropagatedElements)
        small = false;
    }
    for (size_t i = 0; i < ctx.output_constants.size() && i < node.outputs.size(); ++i)
      if (!ctx.output_constants[i].empty() && !node.outputs[i].empty())
        constants[node.outputs[i]] = ctx.output_constants[i];
    if (all_const && small && node.op_type != "Dropout") {
      std::vector<const Tensor*> inputs;
      for (const auto& ii : ctx.inputs) inputs.push_back(ii.constant);
      std::vector<Tensor> outs = ops::run_node(*def, node, where, std::move(inputs));
      for (size_t i = 0; i < node.outputs.size(); ++i)
        if (!node.outputs[i].empty()) constants[node.outputs[i]] = outs[i];
    }
    for (auto& vi : ctx.outputs)
      if (!vi.name.empty()) graph.values[vi.name] = vi;
  }

  for (auto& out : graph.outputs) {
    auto it = graph.values.find(out.name);
    if (it != graph.values.end()) {
      out.dtype = it->second.dtype;
      if (it->second.shape_known) {
        out.shape = it->second.shape;
        out.shape_known = true;
      }
    }
  }
}

}  // namespace acim
