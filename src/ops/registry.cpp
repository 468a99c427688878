#include <algorithm>

#include "core/blas.hpp"
#include "ops/op.hpp"

namespace acim::ops {

const ValueInfo& InferContext::in(size_t i) const {
  if (!has(i))
    fail(ErrorKind::invalid, "required input " + std::to_string(i) + " is missing");
  return *inputs[i].info;
}

void InferContext::set_output(size_t i, DType dtype, Shape shape) {
  ACIM_ASSERT(i < outputs.size(), "set_output: index out of range");
  outputs[i].dtype = dtype;
  outputs[i].shape = std::move(shape);
  outputs[i].shape_known = true;
}

void InferContext::set_output_unknown_shape(size_t i, DType dtype) {
  ACIM_ASSERT(i < outputs.size(), "set_output_unknown_shape: index out of range");
  outputs[i].dtype = dtype;
  outputs[i].shape.clear();
  outputs[i].shape_known = false;
}

void InferContext::fail(ErrorKind kind, const std::string& what, const std::string& fix) const {
  throw Error(kind, where, what, fix);
}

const Tensor& RunContext::in(size_t i) const {
  if (!has(i)) fail(ErrorKind::invalid, "required input " + std::to_string(i) + " is missing");
  return *inputs[i];
}

void RunContext::fail(ErrorKind kind, const std::string& what, const std::string& fix) const {
  throw Error(kind, where, what, fix);
}

void check_input_count(const OpDef& def, const Node& node, const std::string& where) {
  int n = static_cast<int>(node.num_inputs());
  if (n < def.min_inputs || (def.max_inputs >= 0 && n > def.max_inputs))
    throw Error(ErrorKind::invalid, where,
                "has " + std::to_string(n) + " inputs; " + node.op_type + " takes " +
                    std::to_string(def.min_inputs) +
                    (def.max_inputs < 0 ? " or more" : " to " + std::to_string(def.max_inputs)));
}

void run_fused_nodes(const Node& node, const std::string& where, Tensor& out) {
  for (const Node& f : node.fused) {
    const OpDef* fdef = find_op(f.op_type);
    if (!fdef)
      throw Error(ErrorKind::unsupported, where, "fused op type '" + f.op_type + "' is not supported");
    RunContext fctx{f, where, {&out}, std::vector<Tensor>(1)};
    fdef->run(fctx);
    out = std::move(fctx.outputs[0]);
  }
}

std::vector<Tensor> run_node(const OpDef& def, const Node& node, const std::string& where,
                             std::vector<const Tensor*> inputs) {
  RunContext ctx{node, where, std::move(inputs), std::vector<Tensor>(node.outputs.size())};
  def.run(ctx);
  if (!def.handles_fused) run_fused_nodes(node, where, ctx.outputs[0]);
  for (size_t o = 0; o < node.outputs.size(); ++o)
    ACIM_ASSERT(node.outputs[o].empty() || !ctx.outputs[o].empty(), "kernel left an output unset");
  return std::move(ctx.outputs);
}

static const std::vector<OpDef>& all_ops() {
  static const std::vector<OpDef> ops = [] {
    // Every kernel runs through this registry, so this is where BLAS is made single-threaded
    // before any kernel runs (see src/core/threads.cpp for why).
    detail::use_single_threaded_blas();
    std::vector<OpDef> v;
    register_elementwise(v);
    register_activation(v);
    register_shape_ops(v);
    register_reduce(v);
    register_conv(v);
    register_gemm(v);
    register_pool(v);
    register_norm(v);
    register_rnn(v);
    register_quant(v);
    std::sort(v.begin(), v.end(),
              [](const OpDef& a, const OpDef& b) { return a.op_type < b.op_type; });
    for (size_t i = 1; i < v.size(); ++i)
      ACIM_ASSERT(v[i - 1].op_type != v[i].op_type, "op registered twice");
    return v;
  }();
  return ops;
}

const OpDef* find_op(std::string_view op_type) {
  const auto& ops = all_ops();
  auto it = std::lower_bound(ops.begin(), ops.end(), op_type,
                             [](const OpDef& d, std::string_view t) { return d.op_type < t; });
  return (it != ops.end() && it->op_type == op_type) ? &*it : nullptr;
}

std::vector<std::string_view> supported_op_types() {
  std::vector<std::string_view> r;
  for (const auto& d : all_ops()) r.push_back(d.op_type);
  return r;
}

}  // namespace acim::ops
