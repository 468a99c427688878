// Mapping a graph's weight matrices onto a chip's arrays: lowering (matrix views), tiling,
// block-diagonal packing of small groups, replication, placement and the multi-chip split.
// See include/acim/mapping.hpp for the rules; each step below is one function.
#include "acim/mapping.hpp"

#include <algorithm>
#include <map>
#include <set>

#include "acim/error.hpp"

namespace acim {

namespace {

int64_t ceil_div(int64_t a, int64_t b) {
  return (a + b - 1) / b;
}

// Elements of a value per inference, unknown dims counted as 1.
int64_t known_numel(const Graph& g, const std::string& value) {
  const ValueInfo* vi = g.value_info(value);
  if (vi == nullptr || !vi->shape_known) return 0;
  int64_t n = 1;
  for (int64_t d : vi->shape) n *= d > 0 ? d : 1;
  return n;
}

const Shape* value_shape(const Graph& g, const std::string& value) {
  const ValueInfo* vi = g.value_info(value);
  if (vi == nullptr || !vi->shape_known) return nullptr;
  return &vi->shape;
}

std::string op_with_fused(const Node& n) {
  std::string s = n.op_type;
  for (const Node& f : n.fused) s += "+" + f.op_type;
  return s;
}

// Adds the tiles of `count` K x N matrices to the layer, packing groups when they are small.
void add_matrix(LayerMapping& l, const MatrixView& m, int64_t rows, int64_t cols) {
  l.matrices.push_back(m);
  int64_t per = m.count > 1 ? groups_per_array(m.rows, m.cols, rows, cols) : 1;
  MatrixTiling t = tile_matrix(m.rows, m.cols, rows, cols);
  if (per > 1) {
    int64_t arrays = ceil_div(m.count, per);
    l.groups_packed = std::min(per, m.count);
    l.tiles += arrays;
    l.allocated += arrays * rows * cols;
  } else {
    l.tiles += t.arrays * m.count;
    l.allocated += t.allocated * m.count;
  }
  l.weights += t.weights * m.count;
  l.row_blocks = std::max(l.row_blocks, t.row_blocks);
  l.col_blocks = std::max(l.col_blocks, t.col_blocks);
}

// The analog lowering of one node, or false when the arrays cannot run it.
bool lower_node(const Graph& g, const Node& n, int64_t rows, int64_t cols, LayerMapping& l) {
  l.node = n.name;
  l.op = op_with_fused(n);
  for (const Node& f : n.fused) l.digital.push_back(f.op_type);
  if (!n.outputs.empty()) l.output_elements = known_numel(g, n.outputs[0]);
  if (n.op_type == "Conv") {
    const Tensor* w = n.has_input(1) ? g.initializer(n.inputs[1]) : nullptr;
    const Shape* out = value_shape(g, n.outputs[0]);
    if (w == nullptr || w->shape().size() < 3 || out == nullptr) return false;
    const Shape& ws = w->shape();
    int64_t groups = n.attr_int("group", 1);
    if (groups < 1 || ws[0] % groups != 0) return false;
    int64_t k = ws[1];
    for (size_t i = 2; i < ws.size(); ++i) k *= ws[i];
    int64_t positions = 1;
    for (size_t i = 2; i < out->size(); ++i) positions *= (*out)[i] > 0 ? (*out)[i] : 1;
    if (!out->empty() && (*out)[0] > 0) positions *= (*out)[0];
    add_matrix(l, {groups > 1 ? "group" : "weight", k, ws[0] / groups, groups}, rows, cols);
    l.mvms = positions;
    l.partial_sum_adds = (l.row_blocks - 1) * ws[0] * positions;
    if (n.has_input(2)) l.digital.push_back("bias");
    return true;
  }
  if (n.op_type == "Gemm" || n.op_type == "MatMul") {
    const Tensor* b = n.has_input(1) ? g.initializer(n.inputs[1]) : nullptr;
    const Shape* a = value_shape(g, n.inputs[0]);
    if (b == nullptr || b->shape().size() != 2 || a == nullptr || a->empty()) return false;
    if (n.op_type == "Gemm" && n.attr_int("transA", 0) != 0) return false;
    bool trans_b = n.op_type == "Gemm" && n.attr_int("transB", 0) != 0;
    int64_t k = trans_b ? b->shape()[1] : b->shape()[0];
    int64_t nn = trans_b ? b->shape()[0] : b->shape()[1];
    int64_t m = 1;
    for (size_t i = 0; i + 1 < a->size(); ++i) m *= (*a)[i] > 0 ? (*a)[i] : 1;
    add_matrix(l, {"weight", k, nn, 1}, rows, cols);
    l.mvms = m;
    l.partial_sum_adds = (l.row_blocks - 1) * nn * m;
    if (n.op_type == "Gemm" && n.has_input(2)) l.digital.push_back("bias");
    return true;
  }
  if (n.op_type == "LSTM" || n.op_type == "GRU" || n.op_type == "RNN") {
    const Tensor* w = n.has_input(1) ? g.initializer(n.inputs[1]) : nullptr;
    const Tensor* r = n.has_input(2) ? g.initializer(n.inputs[2]) : nullptr;
    const Shape* x = value_shape(g, n.inputs[0]);
    if (w == nullptr || r == nullptr || w->shape().size() != 3 || r->shape().size() != 3 ||
        x == nullptr || x->empty())
      return false;
    int64_t dirs = w->shape()[0];
    add_matrix(l, {"W", w->shape()[2], w->shape()[1], dirs}, rows, cols);
    add_matrix(l, {"R", r->shape()[2], r->shape()[1], dirs}, rows, cols);
    int64_t steps = (*x)[0] > 0 ? (*x)[0] : 1;
    int64_t batch = x->size() > 1 && (*x)[1] > 0 ? (*x)[1] : 1;
    l.mvms = steps * batch;
    // W and R outputs are added per gate output, plus each matrix's own row blocks.
    int64_t gate_outputs = w->shape()[1] * dirs;
    l.partial_sum_adds = l.mvms * gate_outputs;
    for (const MatrixView& mv : l.matrices)
      l.partial_sum_adds += l.mvms * (ceil_div(mv.rows, rows) - 1) * mv.cols * mv.count;
    l.digital.push_back(n.op_type + " gates");
    return true;
  }
  return false;
}

std::string digital_unit(const std::string& op, const ChipSpec& chip) {
  static const std::set<std::string> act = {
      "Relu", "LeakyRelu", "Sigmoid",  "Tanh",  "Clip", "HardSigmoid", "HardSwish", "Gelu",
      "Elu",  "Selu",      "Softplus", "PRelu", "Erf",  "Exp",         "Log",       "Sqrt"};
  static const std::set<std::string> pool = {"MaxPool", "AveragePool", "GlobalAveragePool",
                                             "GlobalMaxPool", "LpPool"};
  static const std::set<std::string> soft = {"Softmax", "LogSoftmax"};
  static const std::set<std::string> norm = {"LayerNormalization", "BatchNormalization",
                                             "InstanceNormalization", "GroupNormalization",
                                             "LpNormalization"};
  static const std::set<std::string> move = {
      "Reshape", "Flatten", "Squeeze", "Unsqueeze", "Transpose", "Concat", "Split", "Slice",
      "Gather",  "Shape",   "Expand",  "Identity",  "Cast",      "Pad",    "Tile"};
  const DigitalUnitSpec& d = chip.core.digital;
  if (act.count(op)) return d.activation ? "activation" : "host";
  if (pool.count(op)) return d.pooling ? "pooling" : "host";
  if (soft.count(op)) return d.softmax ? "softmax" : "host";
  if (norm.count(op)) return d.normalization ? "normalization" : "host";
  if (move.count(op)) return "data movement";
  return "vector";
}

// Chips a layer-order split uses when each chip is filled with at most `load` arrays (load <=
// capacity, the arrays of one chip): a layer larger than `load` starts a chip of its own, and a
// layer larger than `capacity` spans ceil(tiles / capacity) whole chips. (*assign)[i] is the
// first chip of layer i, (*last)[i] its last.
int split_chips(const std::vector<LayerMapping>& layers, int64_t load, int64_t capacity,
                std::vector<int>* assign, std::vector<int>* last) {
  int chip = 0;
  int64_t used = 0;
  if (assign) assign->assign(layers.size(), 0);
  if (last) last->assign(layers.size(), 0);
  for (size_t i = 0; i < layers.size(); ++i) {
    int64_t t = layers[i].tiles;
    int span = 1;
    if (t > load) {
      if (used > 0) ++chip;
      span = static_cast<int>(ceil_div(t, capacity));
      used = load;  // nothing else joins it
    } else {
      if (used + t > load) {
        ++chip;
        used = 0;
      }
      used += t;
    }
    if (assign) (*assign)[i] = chip;
    if (last) (*last)[i] = chip + span - 1;
    chip += span - 1;
  }
  return layers.empty() ? 1 : chip + 1;
}

}  // namespace

MatrixTiling tile_matrix(int64_t k, int64_t n, int64_t array_rows, int64_t array_cols) {
  ACIM_ASSERT(array_rows > 0 && array_cols > 0, "array size must be positive");
  MatrixTiling t;
  t.row_blocks = k > 0 ? ceil_div(k, array_rows) : 0;
  t.col_blocks = n > 0 ? ceil_div(n, array_cols) : 0;
  t.arrays = t.row_blocks * t.col_blocks;
  t.partial_sum_adds = t.row_blocks > 0 ? t.row_blocks - 1 : 0;
  t.weights = k * n;
  t.allocated = t.arrays * array_rows * array_cols;
  return t;
}

int64_t groups_per_array(int64_t k, int64_t n, int64_t array_rows, int64_t array_cols) {
  if (k <= 0 || n <= 0 || k > array_rows || n > array_cols) return 0;
  return std::min(array_rows / k, array_cols / n);
}

std::vector<LayerMapping> analog_layers(const Graph& graph, const ChipSpec& chip) {
  std::vector<LayerMapping> out;
  int64_t rows = chip.array.rows;
  int64_t cols = chip.array.logical_cols();
  if (rows < 1 || cols < 1 || chip.total_arrays() < 1)
    throw Error(ErrorKind::invalid, "chip '" + chip.name + "'",
                "holds no weights (" + std::to_string(rows) + " rows x " + std::to_string(cols) +
                    " weight columns, " + std::to_string(chip.total_arrays()) + " arrays)",
                "give the array more columns than one weight needs (array.cols) and at least one "
                "array");
  for (const Node& n : graph.nodes) {
    LayerMapping l;
    // An empty weight (a zero dimension) has nothing to put on an array: digital.
    if (lower_node(graph, n, rows, cols, l) && l.tiles > 0) out.push_back(std::move(l));
  }
  return out;
}

int chips_for(const std::vector<LayerMapping>& layers, int64_t capacity) {
  return split_chips(layers, capacity, capacity, nullptr, nullptr);
}

int64_t replicate_layers(std::vector<LayerMapping*>& layers, int64_t budget) {
  int64_t used = 0;
  for (LayerMapping* l : layers) {
    l->replication = 1;
    used += l->tiles;
  }
  // Every layer tied at the slowest is doubled together: doubling only some of them would not
  // shorten the pipeline's bottleneck, so it stops when the whole tie does not fit.
  for (;;) {
    int64_t slowest = 0;
    for (const LayerMapping* l : layers) slowest = std::max(slowest, l->cycles());
    if (slowest <= 1) break;
    int64_t extra = 0;
    for (const LayerMapping* l : layers)
      if (l->cycles() == slowest) extra += l->arrays();
    if (used + extra > budget) break;
    for (LayerMapping* l : layers)
      if (l->cycles() == slowest) l->replication *= 2;
    used += extra;
  }
  return used;
}

Mapping map_graph(const Graph& graph, const ChipSpec& chip, const MappingOptions& options) {
  Mapping m;
  m.chip_name = chip.name;
  m.arrays_per_chip = chip.total_arrays();
  m.layers = analog_layers(graph, chip);
  for (const LayerMapping& l : m.layers) {
    m.tiles += l.tiles;
    m.weights += l.weights;
    m.bottleneck_cycles_unreplicated = std::max(m.bottleneck_cycles_unreplicated, l.cycles());
  }
  const std::string where = options.model.empty() ? graph.name : options.model;

  // Chips: the fewest that hold every layer once, in layer order.
  int needed = chips_for(m.layers, m.arrays_per_chip);
  int chips = needed;
  if (!options.chips_auto) {
    int allowed = options.chips > 0 ? options.chips : 1;
    if (needed > allowed) {
      std::string has = options.chips > 1
                            ? std::to_string(allowed) + " chips '" + chip.name + "' have " +
                                  std::to_string(m.arrays_per_chip * allowed)
                            : "chip '" + chip.name + "' has " + std::to_string(m.arrays_per_chip);
      throw Error(ErrorKind::limit, where,
                  "needs " + std::to_string(m.tiles) + " arrays; " + has + "; use --chips " +
                      std::to_string(needed) + " (or --chips auto)");
    }
    chips = allowed;
  }
  // Balance: the smallest per-chip load that still fits into `chips` chips.
  std::vector<int> assign, last;
  int64_t lo = 1, hi = m.arrays_per_chip;
  while (lo < hi) {
    int64_t mid = lo + (hi - lo) / 2;
    if (split_chips(m.layers, mid, m.arrays_per_chip, nullptr, nullptr) <= chips)
      hi = mid;
    else
      lo = mid + 1;
  }
  m.chips = split_chips(m.layers, lo, m.arrays_per_chip, &assign, &last);
  m.arrays_available = m.arrays_per_chip * m.chips;
  m.cores_used.assign(static_cast<size_t>(m.chips), 0);

  // Replication and placement, chip by chip.
  const int64_t per_core = chip.arrays_per_core();
  for (int c = 0; c < m.chips; ++c) {
    std::vector<LayerMapping*> on_chip;
    int64_t chips_spanned = 0;
    for (size_t i = 0; i < m.layers.size(); ++i)
      if (assign[i] == c) {
        m.layers[i].chip = c;
        m.layers[i].last_chip = last[i];
        on_chip.push_back(&m.layers[i]);
        chips_spanned = std::max(chips_spanned, ceil_div(m.layers[i].tiles, m.arrays_per_chip));
      }
    if (on_chip.empty()) continue;
    int64_t budget = std::max<int64_t>(1, chips_spanned) * m.arrays_per_chip;
    int64_t used = 0;
    if (options.replicate)
      used = replicate_layers(on_chip, budget);
    else
      for (LayerMapping* l : on_chip) used += l->tiles;
    int64_t next = 0;
    for (LayerMapping* l : on_chip) {
      l->first_core = next / per_core;
      next += l->arrays();
      l->last_core = (next - 1) / per_core;
    }
    // A layer larger than a chip fills the following chips too.
    int64_t left = used;
    for (size_t k = static_cast<size_t>(c); k < m.cores_used.size() && left > 0; ++k) {
      int64_t here = std::min(left, m.arrays_per_chip);
      m.cores_used[k] = ceil_div(here, per_core);
      left -= here;
    }
    m.arrays_used += used;
  }
  for (const LayerMapping& l : m.layers) {
    m.allocated += l.allocated * l.replication;
    m.bottleneck_cycles = std::max(m.bottleneck_cycles, l.cycles());
  }

  // Digital nodes, each on the chip of the analog layer before it.
  std::map<std::string, int> chip_of;
  for (const LayerMapping& l : m.layers) chip_of[l.node] = l.last_chip;
  std::map<std::string, int> value_chip;  // producer's chip per value
  int current = 0;
  for (const Node& n : graph.nodes) {
    auto it = chip_of.find(n.name);
    if (it != chip_of.end()) {
      current = it->second;  // the layer's last chip
    } else {
      m.digital.push_back({n.name, op_with_fused(n), digital_unit(n.op_type, chip), current});
    }
    for (const std::string& o : n.outputs)
      if (!o.empty()) value_chip[o] = current;
  }
  // Activations crossing each boundary: values made on chip <= b and read on a chip > b.
  if (m.chips > 1) {
    const int64_t bytes_per = (chip.array.dac.bits + 7) / 8;
    std::vector<std::set<std::string>> crossing(static_cast<size_t>(m.chips - 1));
    current = 0;
    for (const Node& n : graph.nodes) {
      auto it = chip_of.find(n.name);
      if (it != chip_of.end()) current = it->second;
      for (const std::string& in : n.inputs) {
        if (in.empty() || graph.is_initializer(in)) continue;
        auto vc = value_chip.find(in);
        int made = vc == value_chip.end() ? 0 : vc->second;
        for (int b = made; b < current; ++b) crossing[static_cast<size_t>(b)].insert(in);
      }
    }
    for (int b = 0; b + 1 < m.chips; ++b) {
      StageBoundary sb;
      sb.from = b;
      for (const std::string& v : crossing[static_cast<size_t>(b)])
        sb.elements += known_numel(graph, v);
      sb.bytes = sb.elements * bytes_per;
      m.boundaries.push_back(sb);
    }
  }
  return m;
}

}  // namespace acim
