#include "acim/model_info.hpp"

#include "acim/shape_inference.hpp"
#include "ops/op.hpp"

namespace acim {

ModelInfo describe(const Graph& input_graph) {
  // Shapes are shown as inferred (unknown dims stay unknown); MACs are counted on a copy whose
  // unknown input dims (a symbolic batch) are 1.
  Graph graph = input_graph;
  infer_shapes(graph);
  Graph unit = input_graph;
  for (auto& in : unit.inputs)
    for (auto& d : in.shape)
      if (d < 0) d = 1;
  infer_shapes(unit);
  ModelInfo info;
  info.name = graph.name;
  info.opset = graph.opset;
  info.inputs = graph.inputs;
  info.outputs = graph.outputs;
  for (const Node& node : graph.nodes) {
    LayerInfo layer;
    layer.name = node.name;
    layer.op = node.op_type;
    for (const auto& f : node.fused) layer.op += "+" + f.op_type;
    ops::CostContext cost{node, {}, {}};
    for (const auto& in : node.inputs) {
      const ValueInfo* vi = in.empty() ? nullptr : graph.value_info(in);
      cost.inputs.push_back(in.empty() ? nullptr : unit.value_info(in));
      if (in.empty()) continue;
      if (const Tensor* t = graph.initializer(in))
        layer.params += t->numel();
      else if (vi)
        layer.input_shapes.push_back(vi->shape);
    }
    for (const auto& out : node.outputs) {
      const ValueInfo* vi = out.empty() ? nullptr : graph.value_info(out);
      cost.outputs.push_back(out.empty() ? nullptr : unit.value_info(out));
      if (vi) layer.output_shapes.push_back(vi->shape);
    }
    const ops::OpDef* def = ops::find_op(node.op_type);
    if (def && def->macs) layer.macs = def->macs(cost);
    info.total_params += layer.params;
    info.total_macs += layer.macs;
    info.layers.push_back(std::move(layer));
  }
  return info;
}

}  // namespace acim
