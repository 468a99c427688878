// Graph passes and the default compile pipeline. Each pass walks the node list once in
// topological order, marks the nodes it removes, and compacts the list at the end, so a pass
// is linear in the graph size apart from the rewiring of consumers.
#include "acim/passes.hpp"

#include <algorithm>
#include <cmath>
#include <iterator>
#include <set>

#include "acim/shape_inference.hpp"
#include "ops/op.hpp"

namespace acim {

namespace {

// ---- helpers shared by the passes ----------------------------------------------------------

// Index of the node producing each value.
std::map<std::string, int> producer_map(const Graph& graph) {
  std::map<std::string, int> prod;
  for (size_t i = 0; i < graph.nodes.size(); ++i)
    for (const auto& o : graph.nodes[i].outputs)
      if (!o.empty()) prod[o] = static_cast<int>(i);
  return prod;
}

int producer_of(const std::map<std::string, int>& prod, const std::string& value) {
  auto it = prod.find(value);
  return it == prod.end() ? -1 : it->second;
}

// Number of node inputs and graph outputs reading each value.
std::map<std::string, int> use_counts(const Graph& graph) {
  std::map<std::string, int> uses;
  for (const auto& node : graph.nodes)
    for (const auto& in : node.inputs)
      if (!in.empty()) ++uses[in];
  for (const auto& o : graph.outputs) ++uses[o.name];
  return uses;
}

int uses_of(const std::map<std::string, int>& uses, const std::string& value) {
  auto it = uses.find(value);
  return it == uses.end() ? 0 : it->second;
}

bool is_graph_output(const Graph& graph, const std::string& value) {
  for (const auto& o : graph.outputs)
    if (o.name == value) return true;
  return false;
}

// Every node input reading `from` now reads `to`.
void replace_uses(Graph& graph, const std::string& from, const std::string& to) {
  for (auto& node : graph.nodes)
    for (auto& in : node.inputs)
      if (in == from) in = to;
}

void remove_marked(Graph& graph, const std::vector<bool>& dead) {
  std::vector<Node> kept;
  kept.reserve(graph.nodes.size());
  for (size_t i = 0; i < graph.nodes.size(); ++i)
    if (!dead[i]) kept.push_back(std::move(graph.nodes[i]));
  graph.nodes = std::move(kept);
}

// Drops value infos of values the graph no longer defines (the final shape inference rebuilds
// them all; this keeps dumps between passes and fresh_name() honest).
void prune_values(Graph& graph) {
  std::set<std::string> defined;
  for (const auto& in : graph.inputs) defined.insert(in.name);
  for (const auto& [name, t] : graph.initializers) defined.insert(name);
  for (const auto& node : graph.nodes)
    for (const auto& o : node.outputs) defined.insert(o);
  for (auto it = graph.values.begin(); it != graph.values.end();) {
    if (defined.count(it->first))
      ++it;
    else
      it = graph.values.erase(it);
  }
}

// The value `from` is renamed `to` (its producer now writes `to`); value infos follow.
void rename_value_info(Graph& graph, const std::string& from, const std::string& to) {
  auto it = graph.values.find(from);
  if (it == graph.values.end()) return;
  ValueInfo vi = it->second;
  graph.values.erase(it);
  vi.name = to;
  graph.values[to] = vi;
}

// Node p, whose single output x is about to lose its only reader (a node being removed),
// takes over that reader's output name y.
void take_over_output(Graph& graph, std::map<std::string, int>& prod, int p, const std::string& x,
                      const std::string& y) {
  graph.nodes[static_cast<size_t>(p)].outputs[0] = y;
  prod.erase(x);
  prod[y] = p;
  rename_value_info(graph, x, y);
}

const Tensor* f32_initializer(const Graph& graph, const Node& node, size_t input) {
  if (!node.has_input(input)) return nullptr;
  const Tensor* t = graph.initializer(node.inputs[input]);
  return t && t->dtype() == DType::f32 ? t : nullptr;
}

// ---- fold-constants ------------------------------------------------------------------------

bool is_deterministic(const std::string& op) {
  static const std::set<std::string> kRandom = {
      "RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike",
      "Multinomial",  "Bernoulli",     "Dropout"};
  return kRandom.count(op) == 0;
}

// Runs `node` on constant inputs: shape inference first (it checks arity, shapes and
// attributes, so kernels only ever see valid inputs), then the kernel and fused activations.
std::vector<Tensor> run_on_constants(const Graph& graph, const Node& node, const ops::OpDef& def) {
  const std::string where = graph.where(node);
  ops::check_input_count(def, node, where);
  std::vector<ValueInfo> infos(node.inputs.size());
  ops::InferContext ictx{node, where, {}, {}, {}};
  std::vector<const Tensor*> inputs;
  for (size_t i = 0; i < node.inputs.size(); ++i) {
    const Tensor* t = node.inputs[i].empty() ? nullptr : graph.initializer(node.inputs[i]);
    ops::InferInput ii;
    if (t) {
      infos[i] = ValueInfo{node.inputs[i], t->dtype(), t->shape(), true};
      ii.info = &infos[i];
      ii.constant = t;
    }
    ictx.inputs.push_back(ii);
    inputs.push_back(t);
  }
  for (const auto& out : node.outputs)
    ictx.outputs.push_back(ValueInfo{out, DType::f32, {}, false});
  if (def.infer) def.infer(ictx);
  return ops::run_node(def, node, where, std::move(inputs));
}

// ---- fold-batchnorm ------------------------------------------------------------------------

// An inference BatchNormalization as a per-channel affine map y = x * scale + shift.
struct ChannelAffine {
  std::vector<double> scale;
  std::vector<double> shift;
};

// The BN node's per-channel map if it is foldable: inference mode, one output, all four
// parameters float32 constants with one value per channel.
bool batchnorm_affine(const Graph& graph, const Node& bn, ChannelAffine& out) {
  if (bn.num_inputs() != 5 || bn.outputs.empty() || bn.outputs[0].empty()) return false;
  for (size_t i = 1; i < bn.outputs.size(); ++i)
    if (!bn.outputs[i].empty()) return false;  // training-mode statistics requested
  if (bn.attr_int("training_mode", 0) != 0 || bn.attr_int("spatial", 1) != 1) return false;
  const Tensor* gamma = f32_initializer(graph, bn, 1);
  const Tensor* beta = f32_initializer(graph, bn, 2);
  const Tensor* mean = f32_initializer(graph, bn, 3);
  const Tensor* var = f32_initializer(graph, bn, 4);
  if (!gamma || !beta || !mean || !var) return false;
  const int64_t c = gamma->numel();
  if (gamma->rank() != 1 || beta->numel() != c || mean->numel() != c || var->numel() != c)
    return false;
  const double eps = bn.attr_float("epsilon", 1e-5f);
  const float* g = gamma->data<float>();
  const float* b = beta->data<float>();
  const float* m = mean->data<float>();
  const float* v = var->data<float>();
  out.scale.resize(static_cast<size_t>(c));
  out.shift.resize(static_cast<size_t>(c));
  for (size_t k = 0; k < out.scale.size(); ++k) {
    double s = static_cast<double>(g[k]) / std::sqrt(static_cast<double>(v[k]) + eps);
    if (!std::isfinite(s)) return false;  // negative variance: leave the model as it is
    out.scale[k] = s;
    out.shift[k] = static_cast<double>(b[k]) - static_cast<double>(m[k]) * s;
  }
  return true;
}

size_t channels(const ChannelAffine& a) {
  return a.scale.size();
}

// A bias that a per-channel map folds into: absent (nullptr), one value, or a tensor whose last
// dimension is the channel dimension (rank <= 2, [C], [1,C] or [rows,C]). Returns
// bias * bias_scale * scale + shift in the bias's shape ([C] when absent or one value), or an
// empty tensor if the bias has another shape.
Tensor fold_bias(const Tensor* bias, double bias_scale, const ChannelAffine& a) {
  const auto c = static_cast<int64_t>(channels(a));
  if (bias && bias->numel() != 1 && (bias->rank() > 2 || bias->dim(-1) != c)) return Tensor();
  Shape shape = (bias && bias->numel() != 1) ? bias->shape() : Shape{c};
  Tensor out(DType::f32, shape);
  float* o = out.data<float>();
  const float* b = bias ? bias->data<float>() : nullptr;
  const auto n = static_cast<size_t>(out.numel());
  for (size_t i = 0; i < n; ++i) {
    size_t k = i % channels(a);
    double bv = b ? static_cast<double>(bias->numel() == 1 ? b[0] : b[i]) * bias_scale : 0.0;
    o[i] = static_cast<float>(bv * a.scale[k] + a.shift[k]);
  }
  return out;
}

// Weight scaled per output channel: `w` viewed as [outer, C, inner] with the channel in the
// middle (Conv: outer 1, inner = the rest; MatMul [K,N]: outer K, inner 1).
Tensor scale_channels(const Tensor& w, int64_t outer, int64_t inner, const ChannelAffine& a) {
  Tensor out(DType::f32, w.shape());
  const float* src = w.data<float>();
  float* dst = out.data<float>();
  const auto c = static_cast<int64_t>(channels(a));
  ACIM_ASSERT(outer * c * inner == w.numel(), "scale_channels: shape mismatch");
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t k = 0; k < c; ++k)
      for (int64_t i = 0; i < inner; ++i) {
        int64_t idx = (o * c + k) * inner + i;
        dst[idx] =
            static_cast<float>(static_cast<double>(src[idx]) * a.scale[static_cast<size_t>(k)]);
      }
  return out;
}

std::string add_initializer(Graph& graph, const std::string& base, Tensor t) {
  std::string name = graph.fresh_name(base);
  graph.values[name] = ValueInfo{name, t.dtype(), t.shape(), true};
  graph.initializers[name] = std::move(t);
  return name;
}

// Conv(X, W[, B]) followed by BN: W' = W * s per output channel, B' = (B - mean) * s + beta.
bool fold_into_conv(Graph& graph, Node& conv, const ChannelAffine& a) {
  const Tensor* w = f32_initializer(graph, conv, 1);
  if (!w || w->rank() < 3) return false;
  const Tensor* b = f32_initializer(graph, conv, 2);
  if (conv.has_input(2) && !b) return false;  // a bias computed at run time
  if (static_cast<int64_t>(channels(a)) != w->dim(0)) return false;
  if (b && (b->rank() != 1 || b->numel() != w->dim(0))) return false;
  Tensor new_b = fold_bias(b, 1.0, a);
  Tensor new_w = scale_channels(*w, 1, w->numel() / w->dim(0), a);
  std::string w_name = add_initializer(graph, conv.inputs[1] + "_bn", std::move(new_w));
  std::string b_name =
      add_initializer(graph, (b ? conv.inputs[2] : conv.name + "_bias") + "_bn", std::move(new_b));
  conv.inputs.resize(3);
  conv.inputs[1] = w_name;
  conv.inputs[2] = b_name;
  return true;
}

// Gemm(A, B[, C]) followed by BN over its output columns: Y = alpha*A*B' + beta*C; the columns
// of B' (rows when transB) and C are scaled, and beta becomes 1.
bool fold_into_gemm(Graph& graph, Node& gemm, const ChannelAffine& a) {
  const Tensor* w = f32_initializer(graph, gemm, 1);
  if (!w || w->rank() != 2) return false;
  const Tensor* c = f32_initializer(graph, gemm, 2);
  if (gemm.has_input(2) && !c) return false;
  const bool trans_b = gemm.attr_int("transB", 0) != 0;
  const int64_t n = trans_b ? w->dim(0) : w->dim(1);
  if (static_cast<int64_t>(channels(a)) != n) return false;
  Tensor new_c = fold_bias(c, gemm.attr_float("beta", 1.0f), a);
  if (new_c.empty()) return false;
  Tensor new_w =
      trans_b ? scale_channels(*w, 1, w->dim(1), a) : scale_channels(*w, w->dim(0), 1, a);
  std::string w_name = add_initializer(graph, gemm.inputs[1] + "_bn", std::move(new_w));
  std::string c_name =
      add_initializer(graph, (c ? gemm.inputs[2] : gemm.name + "_bias") + "_bn", std::move(new_c));
  gemm.inputs.resize(3);
  gemm.inputs[1] = w_name;
  gemm.inputs[2] = c_name;
  gemm.attrs["beta"] = Attribute{1.0f};
  return true;
}

// MatMul(A, W) with a constant [K,N] weight and a rank-2 output (so BN's channel axis is N).
const Tensor* matmul_weight(const Graph& graph, const Node& mm, const ChannelAffine& a) {
  if (mm.op_type != "MatMul" || !mm.fused.empty() || mm.num_inputs() != 2) return nullptr;
  const Tensor* w = f32_initializer(graph, mm, 1);
  if (!w || w->rank() != 2 || w->dim(1) != static_cast<int64_t>(channels(a))) return nullptr;
  const ValueInfo* out = graph.value_info(mm.outputs[0]);
  if (!out || !out->shape_known || out->shape.size() != 2) return nullptr;
  return w;
}

// ---- fuse-activations ----------------------------------------------------------------------

bool is_fusable_activation(const std::string& op) {
  static const std::set<std::string> kActs = {"Relu", "LeakyRelu",   "Clip",      "Sigmoid",
                                              "Tanh", "HardSigmoid", "HardSwish", "Gelu"};
  return kActs.count(op) != 0;
}

bool is_fusion_producer(const std::string& op) {
  return op == "Conv" || op == "Gemm" || op == "MatMul" || op == "Add";
}

// The activation as it will sit in a producer's `fused` list: one input, constant operands as
// attributes (Clip's min/max inputs become float attributes "min"/"max"). False if an operand
// is not a float constant scalar.
bool make_fused_node(const Graph& graph, const Node& act, Node& fused) {
  fused = act;
  fused.fused.clear();
  if (act.op_type == "Clip") {
    const char* keys[] = {"", "min", "max"};
    for (size_t i = 1; i < act.inputs.size(); ++i) {
      if (act.inputs[i].empty()) continue;
      const Tensor* t = graph.initializer(act.inputs[i]);
      if (!t || t->dtype() != DType::f32 || t->numel() != 1 || i > 2) return false;
      fused.attrs[keys[i]] = Attribute{t->data<float>()[0]};
    }
    fused.inputs.resize(1);
    return true;
  }
  return act.num_inputs() == 1;
}

// ---- fuse-gelu -----------------------------------------------------------------------------

// The float value of a one-element float32 constant, if `value` is one.
bool scalar_constant(const Graph& graph, const std::string& value, float& out) {
  const Tensor* t = graph.initializer(value);
  if (!t || t->dtype() != DType::f32 || t->numel() != 1) return false;
  out = t->data<float>()[0];
  return true;
}

bool near(float a, double b) { return std::fabs(static_cast<double>(a) - b) <= 1e-4 * std::fabs(b); }

// For a binary node with one scalar-constant operand: the other operand and the constant.
bool split_binary(const Graph& graph, const Node& n, std::string& other, float& c) {
  if (n.num_inputs() != 2 || n.inputs.size() != 2) return false;
  if (scalar_constant(graph, n.inputs[1], c)) {
    other = n.inputs[0];
    return true;
  }
  if (n.op_type != "Div" && scalar_constant(graph, n.inputs[0], c)) {
    other = n.inputs[1];
    return true;
  }
  return false;
}

// For Mul(a, b): the operand other than `known`, or "" if neither is `known`.
std::string other_operand(const Node& mul, const std::string& known) {
  if (mul.op_type != "Mul" || mul.inputs.size() != 2) return "";
  if (mul.inputs[0] == known) return mul.inputs[1];
  if (mul.inputs[1] == known) return mul.inputs[0];
  return "";
}

// ---- the pipeline --------------------------------------------------------------------------

const char* const kPassNames[] = {"infer-shapes",   "eliminate-identity", "fold-constants",
                                  "fuse-gelu",      "fold-batchnorm",     "fuse-activations",
                                  "eliminate-dead-code", "final-infer-shapes"};

}  // namespace

bool eliminate_identity(Graph& graph) {
  std::map<std::string, int> prod = producer_map(graph);
  std::vector<bool> dead(graph.nodes.size(), false);
  bool changed = false;
  for (size_t i = 0; i < graph.nodes.size(); ++i) {
    const Node& node = graph.nodes[i];
    if (node.op_type == "Identity") {
      if (node.num_inputs() != 1) continue;
    } else if (node.op_type == "Dropout") {
      if (node.outputs.size() > 1 && !node.outputs[1].empty()) continue;  // mask requested
      if (node.has_input(2)) {  // training_mode: removable only if a constant false
        const Tensor* t = graph.initializer(node.inputs[2]);
        if (!t || t->numel() != 1 || t->to_int64s()[0] != 0) continue;
      }
      if (node.attr_int("is_test", 1) == 0) continue;  // opset < 7 in training mode
    } else {
      continue;
    }
    if (!node.fused.empty() || node.outputs.empty() || node.outputs[0].empty() ||
        !node.has_input(0))
      continue;
    const std::string x = node.inputs[0];
    const std::string y = node.outputs[0];
    if (is_graph_output(graph, y)) {
      // Keep the graph output's name: the producer of x writes y instead, and every other
      // reader of x reads y. Impossible when x is itself a graph output or has no producer.
      int p = producer_of(prod, x);
      if (p < 0 || is_graph_output(graph, x)) continue;
      for (auto& o : graph.nodes[static_cast<size_t>(p)].outputs)
        if (o == x) o = y;
      replace_uses(graph, x, y);
      prod.erase(x);
      prod[y] = p;
      rename_value_info(graph, x, y);
    } else {
      replace_uses(graph, y, x);
      prod.erase(y);
    }
    dead[i] = true;
    changed = true;
  }
  remove_marked(graph, dead);
  prune_values(graph);
  return changed;
}

bool fold_constants(Graph& graph) {
  std::vector<bool> dead(graph.nodes.size(), false);
  bool changed = false;
  for (size_t i = 0; i < graph.nodes.size(); ++i) {
    const Node& node = graph.nodes[i];
    if (!is_deterministic(node.op_type)) continue;
    bool all_const = true;
    bool any_output = false;
    for (const auto& in : node.inputs)
      if (!in.empty() && !graph.is_initializer(in)) all_const = false;
    for (const auto& out : node.outputs)
      if (!out.empty()) any_output = true;
    if (!all_const || !any_output) continue;
    const ops::OpDef* def = ops::find_op(node.op_type);
    if (!def || !def->run) continue;  // left for shape inference to report
    std::vector<Tensor> outs = run_on_constants(graph, node, *def);
    for (size_t o = 0; o < node.outputs.size(); ++o) {
      const std::string& name = node.outputs[o];
      if (name.empty()) continue;
      graph.values[name] = ValueInfo{name, outs[o].dtype(), outs[o].shape(), true};
      graph.initializers[name] = std::move(outs[o]);
    }
    dead[i] = true;
    changed = true;
  }
  remove_marked(graph, dead);
  prune_values(graph);
  return changed;
}

bool fold_batchnorm(Graph& graph) {
  std::map<std::string, int> prod = producer_map(graph);
  std::map<std::string, int> uses = use_counts(graph);
  std::vector<bool> dead(graph.nodes.size(), false);
  bool changed = false;
  for (size_t i = 0; i < graph.nodes.size(); ++i) {
    Node& bn = graph.nodes[i];
    if (bn.op_type != "BatchNormalization" || !bn.fused.empty() || !bn.has_input(0)) continue;
    const std::string x = bn.inputs[0];
    int p = producer_of(prod, x);
    if (p < 0 || uses_of(uses, x) != 1) continue;
    Node& prev = graph.nodes[static_cast<size_t>(p)];
    if (!prev.fused.empty() || prev.outputs.size() != 1) continue;
    ChannelAffine a;
    if (!batchnorm_affine(graph, bn, a)) continue;

    bool folded = false;
    if (prev.op_type == "Conv") {
      folded = fold_into_conv(graph, prev, a);
    } else if (prev.op_type == "Gemm") {
      folded = fold_into_gemm(graph, prev, a);
    } else if (prev.op_type == "MatMul") {
      // MatMul alone: W' = W * s, and the BN node becomes Add(X, shift).
      if (const Tensor* w = matmul_weight(graph, prev, a)) {
        Tensor new_w = scale_channels(*w, w->dim(0), 1, a);
        std::string w_name = add_initializer(graph, prev.inputs[1] + "_bn", std::move(new_w));
        std::string b_name =
            add_initializer(graph, prev.name + "_bias_bn", fold_bias(nullptr, 1, a));
        prev.inputs[1] = w_name;
        bn.op_type = "Add";
        bn.inputs = {x, b_name};
        bn.attrs.clear();
        bn.outputs.resize(1);
        changed = true;
        continue;
      }
    } else if (prev.op_type == "Add" && prev.num_inputs() == 2) {
      // MatMul(A, W) + bias: W' = W * s, bias' = (bias - mean) * s + beta.
      for (size_t k = 0; k < 2 && !folded; ++k) {
        const Tensor* bias = f32_initializer(graph, prev, 1 - k);
        int q = producer_of(prod, prev.inputs[k]);
        if (!bias || q < 0 || uses_of(uses, prev.inputs[k]) != 1) continue;
        Node& mm = graph.nodes[static_cast<size_t>(q)];
        const Tensor* w = matmul_weight(graph, mm, a);
        if (!w) continue;
        Tensor new_bias = fold_bias(bias, 1.0, a);
        if (new_bias.empty()) continue;
        Tensor new_w = scale_channels(*w, w->dim(0), 1, a);
        mm.inputs[1] = add_initializer(graph, mm.inputs[1] + "_bn", std::move(new_w));
        prev.inputs[1 - k] =
            add_initializer(graph, prev.inputs[1 - k] + "_bn", std::move(new_bias));
        folded = true;
      }
    }
    if (!folded) continue;
    // The producer takes over the BN's output name; x had no other reader.
    take_over_output(graph, prod, p, x, bn.outputs[0]);
    dead[i] = true;
    changed = true;
  }
  remove_marked(graph, dead);
  prune_values(graph);
  return changed;
}

bool fuse_activations(Graph& graph) {
  std::map<std::string, int> prod = producer_map(graph);
  std::map<std::string, int> uses = use_counts(graph);
  std::vector<bool> dead(graph.nodes.size(), false);
  bool changed = false;
  for (size_t i = 0; i < graph.nodes.size(); ++i) {
    const Node& act = graph.nodes[i];
    if (!is_fusable_activation(act.op_type) || !act.fused.empty() || act.outputs.size() != 1 ||
        act.outputs[0].empty() || !act.has_input(0))
      continue;
    const std::string x = act.inputs[0];
    int p = producer_of(prod, x);
    if (p < 0 || uses_of(uses, x) != 1) continue;
    Node& prev = graph.nodes[static_cast<size_t>(p)];
    if (!is_fusion_producer(prev.op_type) || prev.outputs.size() != 1) continue;
    Node fused;
    if (!make_fused_node(graph, act, fused)) continue;
    prev.fused.push_back(std::move(fused));
    take_over_output(graph, prod, p, x, act.outputs[0]);
    dead[i] = true;
    changed = true;
  }
  remove_marked(graph, dead);
  prune_values(graph);
  return changed;
}

// The exact GELU as exporters without a Gelu op write it (PyTorch before opset 20):
//   0.5 * x * (1 + erf(x / sqrt(2)))
// as Div(x, 1.4142) or Mul(x, 0.7071) -> Erf -> Add(1) -> Mul with x -> Mul with 0.5, or with
// the 0.5 applied to x first: Mul(Mul(x, 0.5), Add(...)). Operands of Add and Mul in either order.
bool fuse_gelu(Graph& graph) {
  std::map<std::string, int> prod = producer_map(graph);
  std::map<std::string, int> uses = use_counts(graph);
  // The single node reading `value`, if exactly one does (and it is not a graph output).
  auto sole_consumer = [&](const std::string& value) -> int {
    if (uses_of(uses, value) != 1 || is_graph_output(graph, value)) return -1;
    for (size_t i = 0; i < graph.nodes.size(); ++i)
      for (const auto& in : graph.nodes[i].inputs)
        if (in == value) return static_cast<int>(i);
    return -1;
  };
  std::vector<bool> dead(graph.nodes.size(), false);
  bool changed = false;
  for (size_t e = 0; e < graph.nodes.size(); ++e) {
    const Node& erf = graph.nodes[e];
    if (erf.op_type != "Erf" || dead[e] || !erf.has_input(0)) continue;
    // x / sqrt(2)
    int d = producer_of(prod, erf.inputs[0]);
    if (d < 0 || uses_of(uses, erf.inputs[0]) != 1) continue;
    const Node& scale = graph.nodes[static_cast<size_t>(d)];
    std::string x;
    float c = 0;
    if (!split_binary(graph, scale, x, c)) continue;
    bool scale_ok = (scale.op_type == "Div" && near(c, std::sqrt(2.0))) ||
                    (scale.op_type == "Mul" && near(c, std::sqrt(0.5)));
    if (!scale_ok) continue;
    // 1 + erf(...)
    int a = sole_consumer(erf.outputs[0]);
    if (a < 0) continue;
    const Node& add = graph.nodes[static_cast<size_t>(a)];
    std::string erf_out;
    if (add.op_type != "Add" || !split_binary(graph, add, erf_out, c) || !near(c, 1.0)) continue;
    // Either (x * (1 + erf)) * 0.5, or (x * 0.5) * (1 + erf).
    int m1 = sole_consumer(add.outputs[0]);
    if (m1 < 0) continue;
    const Node& mul1 = graph.nodes[static_cast<size_t>(m1)];
    std::string partner = other_operand(mul1, add.outputs[0]);
    if (partner.empty()) continue;
    std::vector<int> matched = {d, static_cast<int>(e), a, m1};
    int last = -1;
    if (partner == x) {
      int m2 = sole_consumer(mul1.outputs[0]);
      if (m2 < 0) continue;
      const Node& mul2 = graph.nodes[static_cast<size_t>(m2)];
      std::string rest;
      if (mul2.op_type != "Mul" || !split_binary(graph, mul2, rest, c) || !near(c, 0.5)) continue;
      matched.push_back(m2);
      last = m2;
    } else {
      int h = producer_of(prod, partner);
      if (h < 0 || uses_of(uses, partner) != 1) continue;
      const Node& half = graph.nodes[static_cast<size_t>(h)];
      std::string hx;
      if (half.op_type != "Mul" || !split_binary(graph, half, hx, c) || hx != x || !near(c, 0.5))
        continue;
      matched.push_back(h);
      last = m1;
    }
    bool clean = true;
    for (int k : matched) clean &= !dead[static_cast<size_t>(k)] && graph.nodes[static_cast<size_t>(k)].fused.empty();
    if (!clean) continue;
    // The last node becomes Gelu(x) and keeps its output name; the others go.
    Node& out = graph.nodes[static_cast<size_t>(last)];
    out.op_type = "Gelu";
    out.inputs = {x};
    out.attrs.clear();
    for (int k : matched)
      if (k != last) dead[static_cast<size_t>(k)] = true;
    changed = true;
  }
  if (!changed) return false;
  remove_marked(graph, dead);
  prune_values(graph);
  return true;
}

bool eliminate_dead_code(Graph& graph) {
  std::set<std::string> live;
  for (const auto& o : graph.outputs) live.insert(o.name);
  std::vector<bool> dead(graph.nodes.size(), false);
  bool changed = false;
  for (size_t i = graph.nodes.size(); i-- > 0;) {
    const Node& node = graph.nodes[i];
    bool needed = false;
    for (const auto& o : node.outputs)
      if (!o.empty() && live.count(o)) needed = true;
    if (!needed) {
      dead[i] = true;
      changed = true;
      continue;
    }
    for (const auto& in : node.inputs)
      if (!in.empty()) live.insert(in);
  }
  remove_marked(graph, dead);
  for (auto it = graph.initializers.begin(); it != graph.initializers.end();) {
    if (live.count(it->first)) {
      ++it;
    } else {
      it = graph.initializers.erase(it);
      changed = true;
    }
  }
  prune_values(graph);
  return changed;
}

std::vector<std::string> default_pass_names() {
  return std::vector<std::string>(std::begin(kPassNames), std::end(kPassNames));
}

void run_default_passes(Graph& graph, const PassOptions& options) {
  const std::vector<std::string> names = default_pass_names();
  std::set<std::string> dump_after;
  for (const auto& want : options.dump_after) {
    if (want != "all" && std::find(names.begin(), names.end(), want) == names.end()) {
      std::string valid = "all";
      for (const auto& n : names) valid += ", " + n;
      throw Error(ErrorKind::invalid, "--dump-after", "no pass named '" + want + "'",
                  "use one of: " + valid);
    }
    dump_after.insert(want);
  }
  if (!dump_after.empty() && !options.dump)
    throw Error(ErrorKind::invalid, "run_default_passes", "dump_after is set but dump is empty",
                "give PassOptions::dump a function to receive the graphs");
  auto after = [&](const char* pass) {
    ACIM_ASSERT(std::find(names.begin(), names.end(), pass) != names.end(),
                "run_default_passes: pass missing from kPassNames");
    if (dump_after.count("all") || dump_after.count(pass)) options.dump(pass, graph);
  };

  validate_graph(graph);
  infer_shapes(graph);
  after("infer-shapes");
  eliminate_identity(graph);
  after("eliminate-identity");
  fold_constants(graph);
  after("fold-constants");
  fuse_gelu(graph);
  after("fuse-gelu");
  fold_batchnorm(graph);
  after("fold-batchnorm");
  fuse_activations(graph);
  after("fuse-activations");
  eliminate_dead_code(graph);
  after("eliminate-dead-code");
  infer_shapes(graph);
  after("final-infer-shapes");
}

}  // namespace acim
