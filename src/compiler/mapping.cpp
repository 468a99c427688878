// Mapping a graph's weight matrices onto a chip's arrays: lowering (matrix views), tiling,
// block-diagonal packing of small groups, replication, the multi-chip split, placement on the
// on-chip network (with the traffic between layers) and the layer-pipelined schedule.
// See include/acim/mapping.hpp for the rules; each step below is one function.
#include "acim/mapping.hpp"

#include <algorithm>
#include <bit>
#include <cstdlib>
#include <iterator>
#include <map>
#include <set>
#include <utility>

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

// The analog lowering of one node, or false when the arrays cannot run it (or, for a grouped
// convolution on a chip whose vector unit takes those, should not).
bool lower_node(const Graph& g, const Node& n, int64_t rows, int64_t cols, bool grouped_on_arrays,
                LayerMapping& l) {
  l.node = n.name;
  l.op = op_with_fused(n);
  for (const Node& f : n.fused) l.digital.push_back(f.op_type);
  if (!n.outputs.empty()) l.output_elements = known_numel(g, n.outputs[0]);
  if (n.has_input(0)) l.input_elements = known_numel(g, n.inputs[0]);
  if (n.op_type == "Conv") {
    const Tensor* w = n.has_input(1) ? g.initializer(n.inputs[1]) : nullptr;
    const Shape* out = value_shape(g, n.outputs[0]);
    if (w == nullptr || w->shape().size() < 3 || out == nullptr) return false;
    const Shape& ws = w->shape();
    int64_t groups = n.attr_int("group", 1);
    if (groups < 1 || ws[0] % groups != 0 || (groups > 1 && !grouped_on_arrays)) return false;
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
    // X is [seq, batch, input], or [batch, seq, input] with layout = 1.
    const size_t seq_dim = n.attr_int("layout", 0) == 1 ? 1 : 0;
    auto dim = [&](size_t d) { return x->size() > d && (*x)[d] > 0 ? (*x)[d] : 1; };
    int64_t steps = dim(seq_dim);
    int64_t batch = dim(1 - seq_dim);
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

// ---- The on-chip network: where the cores sit, and the orders layers are laid along ----

// Core c sits at row c / cols, column c % cols. A mesh has ceil(sqrt(cores)) columns and
// ceil(cores / cols) rows (the last row may be partly empty); a bus or a tree is one row.
struct NocGrid {
  NocTopology topology = NocTopology::mesh;
  int rows = 1, cols = 1, cores = 1;
};

NocGrid noc_grid(const ChipSpec& chip) {
  NocGrid g;
  g.topology = chip.noc.topology;
  g.cores = std::max(1, chip.cores);
  g.cols = g.cores;
  if (g.topology == NocTopology::mesh) {
    g.cols = 1;
    while (g.cols * g.cols < g.cores) ++g.cols;
    g.rows = (g.cores + g.cols - 1) / g.cols;
  }
  return g;
}

// Links between cores a and b of one chip. Mesh: Manhattan distance (dimension-order routing).
// Bus: |a - b| segments. Tree: the cores are the leaves of a binary tree in index order and a
// message climbs to the lowest common ancestor and back, 2 * bit_width(a xor b) links (at most
// 2 * ceil(log2(cores))).
int64_t core_hops(const NocGrid& g, int64_t a, int64_t b) {
  switch (g.topology) {
    case NocTopology::mesh:
      return std::abs(a / g.cols - b / g.cols) + std::abs(a % g.cols - b % g.cols);
    case NocTopology::bus:
      return std::abs(a - b);
    case NocTopology::tree:
      return 2 * static_cast<int64_t>(std::bit_width(static_cast<uint64_t>(a ^ b)));
  }
  return 0;
}

// The grid's positions in an order, as core ids (positions past the last core are skipped).
using CoreOrder = std::vector<int>;

CoreOrder row_major_order(const NocGrid& g) {
  CoreOrder o(static_cast<size_t>(g.cores));
  for (int c = 0; c < g.cores; ++c) o[static_cast<size_t>(c)] = c;
  return o;
}

// Boustrophedon: even rows left to right, odd rows right to left, so consecutive cores are
// always neighbours (row-major jumps back across the whole row at each row end).
CoreOrder serpentine_order(const NocGrid& g) {
  CoreOrder o;
  for (int r = 0; r < g.rows; ++r)
    for (int k = 0; k < g.cols; ++k) {
      int id = r * g.cols + (r % 2 == 0 ? k : g.cols - 1 - k);
      if (id < g.cores) o.push_back(id);
    }
  return o;
}

int sgn(int v) {
  return (v > 0) - (v < 0);
}
int floor_half(int v) {
  return v >= 0 ? v / 2 : -((1 - v) / 2);
}

// Generalised Hilbert ("gilbert") curve over a rectangle of any size (J. Červený, 2019,
// github.com/jakubcerveny/gilbert): the walk from (x, y) along the major axis (ax, ay), with the
// minor axis (bx, by). Consecutive positions are neighbours (a diagonal step only when both
// sides are odd), and every run of positions stays compact in both directions, where a
// serpentine run is a long thin strip: layers that talk to each other sit closer.
void gilbert(int x, int y, int ax, int ay, int bx, int by, std::vector<std::pair<int, int>>& out) {
  const int w = std::abs(ax + ay), h = std::abs(bx + by);
  const int dax = sgn(ax), day = sgn(ay), dbx = sgn(bx), dby = sgn(by);
  if (h == 1 || w == 1) {
    const int n = h == 1 ? w : h, dx = h == 1 ? dax : dbx, dy = h == 1 ? day : dby;
    for (int i = 0; i < n; ++i) out.emplace_back(x + i * dx, y + i * dy);
    return;
  }
  int ax2 = floor_half(ax), ay2 = floor_half(ay), bx2 = floor_half(bx), by2 = floor_half(by);
  const int w2 = std::abs(ax2 + ay2), h2 = std::abs(bx2 + by2);
  if (2 * w > 3 * h) {  // long: split the major axis in two
    if (w2 % 2 != 0 && w > 2) {
      ax2 += dax;
      ay2 += day;
    }
    gilbert(x, y, ax2, ay2, bx, by, out);
    gilbert(x + ax2, y + ay2, ax - ax2, ay - ay2, bx, by, out);
  } else {  // up, across, down
    if (h2 % 2 != 0 && h > 2) {
      bx2 += dbx;
      by2 += dby;
    }
    gilbert(x, y, bx2, by2, ax2, ay2, out);
    gilbert(x + bx2, y + by2, ax, ay, bx - bx2, by - by2, out);
    gilbert(x + (ax - dax) + (bx2 - dbx), y + (ay - day) + (by2 - dby), -bx2, -by2,
            -(ax - ax2), -(ay - ay2), out);
  }
}

CoreOrder hilbert_order(const NocGrid& g) {
  std::vector<std::pair<int, int>> cells;  // (column, row)
  if (g.cols >= g.rows)
    gilbert(0, 0, g.cols, 0, 0, g.rows, cells);
  else
    gilbert(0, 0, 0, g.rows, g.cols, 0, cells);
  CoreOrder o;
  for (const auto& [col, row] : cells)
    if (row * g.cols + col < g.cores) o.push_back(row * g.cols + col);
  return o;
}

CoreOrder core_order(const std::string& name, const NocGrid& g) {
  if (name == "serpentine") return serpentine_order(g);
  if (name == "hilbert") return hilbert_order(g);
  return row_major_order(g);
}

// Fills every layer's array_cores (and first_core / last_core from them): layer i's arrays take
// the consecutive slots first_slot[i], first_slot[i] + 1, ... counted over the chips in order
// (slot / arrays_per_chip is the chip), and slot s of a chip is on core
// order[s / arrays_per_core].
void assign_cores(Mapping& m, const std::vector<int64_t>& first_slot, const CoreOrder& order,
                  int64_t per_core, int cores) {
  for (size_t i = 0; i < m.layers.size(); ++i) {
    LayerMapping& l = m.layers[i];
    l.array_cores.resize(static_cast<size_t>(l.arrays()));
    for (int64_t a = 0; a < l.arrays(); ++a) {
      const int64_t s = first_slot[i] + a;
      const int64_t pos = (s % m.arrays_per_chip) / per_core;
      l.array_cores[static_cast<size_t>(a)] =
          s / m.arrays_per_chip * cores + order[static_cast<size_t>(pos)];
    }
    if (!l.array_cores.empty()) {
      l.first_core = l.array_cores.front() % cores;
      l.last_core = l.array_cores.back() % cores;
    }
  }
}

// Activations one analog layer (or the graph input, -1) sends to another per inference.
struct Flow {
  int from = -1, to = 0;
  int64_t bytes = 0;
};

// A layer's arrays on one chip, counted per core.
std::vector<std::pair<int64_t, int64_t>> arrays_per_core_on(const LayerMapping& l, int chip,
                                                            int cores) {
  std::map<int64_t, int64_t> count;
  for (int64_t gc : l.array_cores)
    if (gc / cores == chip) ++count[gc % cores];
  return {count.begin(), count.end()};
}

// Mean hops over every (producer array, consumer array) pair on the same chip; 0 when the flow
// crosses chips (that traffic is the StageBoundary's, over the chip link).
double flow_hops(const Mapping& m, const NocGrid& g, const Flow& f) {
  const LayerMapping& to = m.layers[static_cast<size_t>(f.to)];
  const int from_chip = f.from < 0 ? 0 : m.layers[static_cast<size_t>(f.from)].last_chip;
  if (from_chip != to.chip) return 0.0;
  const auto src = f.from < 0 ? std::vector<std::pair<int64_t, int64_t>>{{0, 1}}
                              : arrays_per_core_on(m.layers[static_cast<size_t>(f.from)],
                                                   from_chip, g.cores);
  const auto dst = arrays_per_core_on(to, to.chip, g.cores);
  double sum = 0.0, pairs = 0.0;
  for (const auto& [a, na] : src)
    for (const auto& [b, nb] : dst) {
      const double n = static_cast<double>(na * nb);
      sum += n * static_cast<double>(core_hops(g, a, b));
      pairs += n;
    }
  return pairs > 0 ? sum / pairs : 0.0;
}

double byte_hops(const Mapping& m, const NocGrid& g, const std::vector<Flow>& flows) {
  double total = 0.0;
  for (const Flow& f : flows) total += static_cast<double>(f.bytes) * flow_hops(m, g, f);
  return total;
}

// Cycles of producer p after which consumer layer `c` (node n) can do its first MVM. A Conv
// reading a map of H rows needs its first kernel rows: the producer makes its output in row
// order, so it needs ceil(p.cycles() * kh / H) of them, H being the consumer's input height (a
// pooling or a stride between them shrinks H and the consumer needs kh * (H_p / H) producer rows
// out of H_p: the same fraction kh / H; the pooling window's own overlap is ignored). Any other
// consumer (Gemm, MatMul, LSTM) waits for the producer's whole output.
int64_t cycles_before_first_mvm(const Graph& g, const Node& n, const LayerMapping& p) {
  if (n.op_type == "Conv") {
    const Shape* in = value_shape(g, n.inputs[0]);
    const Tensor* w = g.initializer(n.inputs[1]);
    if (in != nullptr && in->size() >= 3 && (*in)[2] > 0 && w != nullptr) {
      const std::vector<int64_t> dil = n.attr_ints("dilations", {});
      const int64_t kh = (w->shape()[2] - 1) * (dil.empty() ? 1 : dil[0]) + 1;
      const int64_t h = (*in)[2];
      return ceil_div(p.cycles() * std::min(kh, h), h);
    }
  }
  return p.cycles();
}

// The activations' paths between analog layers. A value's sources are the layers whose outputs
// reach it through digital nodes only (-1: the graph's inputs), kept sorted. A digital node runs
// on the cores of its latest source (the last in graph order), so its inputs from other sources
// (a residual Add's skip branch) are sent there; an analog layer's input comes from the cores of
// its input's latest source. The schedule waits for every source.
struct DataFlow {
  std::vector<Flow> flows;              // in graph order of their first use
  std::vector<std::vector<int>> deps;   // per layer: the sources of its input
  std::vector<const Node*> nodes;       // per layer: its node
};

DataFlow trace_data_flow(const Graph& graph, const Mapping& m, int64_t bytes_per) {
  DataFlow d;
  d.deps.resize(m.layers.size());
  d.nodes.assign(m.layers.size(), nullptr);
  std::map<std::string, int> layer_index;
  for (size_t i = 0; i < m.layers.size(); ++i) layer_index[m.layers[i].node] = static_cast<int>(i);
  std::map<std::string, std::vector<int>> sources;
  std::map<std::pair<int, int>, size_t> flow_at;
  auto sources_of = [&](const std::string& v) {
    auto it = sources.find(v);
    return it == sources.end() ? std::vector<int>{-1} : it->second;
  };
  auto add_flow = [&](int from, int to, int64_t bytes) {
    auto [it, added] = flow_at.try_emplace({from, to}, d.flows.size());
    if (added) d.flows.push_back({from, to, 0});
    d.flows[it->second].bytes += bytes;
  };
  for (const Node& n : graph.nodes) {
    std::vector<int> out;
    auto it = layer_index.find(n.name);
    if (it != layer_index.end()) {
      const size_t i = static_cast<size_t>(it->second);
      d.nodes[i] = &n;
      d.deps[i] = sources_of(n.inputs[0]);
      add_flow(d.deps[i].back(), it->second, m.layers[i].input_elements * bytes_per);
      out = {it->second};
    } else {
      for (const std::string& in : n.inputs) {
        if (in.empty() || graph.is_initializer(in)) continue;
        std::vector<int> s = sources_of(in), merged;
        std::set_union(out.begin(), out.end(), s.begin(), s.end(), std::back_inserter(merged));
        out = std::move(merged);
      }
      if (out.empty()) out = {-1};
      const int at = out.back();
      for (const std::string& in : n.inputs) {
        if (in.empty() || graph.is_initializer(in) || at < 0) continue;
        const int from = sources_of(in).back();
        if (from != at) add_flow(from, at, known_numel(graph, in) * bytes_per);
      }
    }
    for (const std::string& o : n.outputs)
      if (!o.empty()) sources[o] = out;
  }
  return d;
}

// Placement: the arrays' slots laid along an order of the cores. The serpentine and the
// Hilbert-like orders are both tried and the one with the fewer byte-hops kept (a tie keeps
// the serpentine), unless `placement` names one; row-major is measured for comparison. Fills
// array_cores, the mesh, the transfers and the byte-hops.
void place_arrays(Mapping& m, const ChipSpec& chip, const std::vector<int64_t>& first_slot,
                  const std::vector<Flow>& flows, const std::string& placement) {
  const int64_t per_core = chip.arrays_per_core();
  const NocGrid grid = noc_grid(chip);
  m.mesh_rows = grid.rows;
  m.mesh_cols = grid.cols;
  std::vector<std::string> candidates = {"serpentine", "hilbert"};
  if (!placement.empty()) {
    if (placement != "serpentine" && placement != "hilbert" && placement != "row-major")
      throw Error(ErrorKind::invalid, "placement", "'" + placement + "' is not a placement",
                  "use serpentine, hilbert or row-major, or none for the better of the first two");
    candidates = {placement};
  }
  assign_cores(m, first_slot, row_major_order(grid), per_core, grid.cores);
  m.noc_byte_hops_row_major = byte_hops(m, grid, flows);
  m.noc_byte_hops = -1.0;
  for (const std::string& name : candidates) {
    assign_cores(m, first_slot, core_order(name, grid), per_core, grid.cores);
    const double bh = byte_hops(m, grid, flows);
    if (m.noc_byte_hops < 0 || bh < m.noc_byte_hops) {
      m.noc_byte_hops = bh;
      m.placement = name;
    }
  }
  assign_cores(m, first_slot, core_order(m.placement, grid), per_core, grid.cores);
  for (const Flow& f : flows) {
    const LayerMapping& to = m.layers[static_cast<size_t>(f.to)];
    Transfer t;
    if (f.from >= 0) {
      t.from = m.layers[static_cast<size_t>(f.from)].node;
      t.from_chip = m.layers[static_cast<size_t>(f.from)].last_chip;
    }
    t.to = to.node;
    t.to_chip = to.chip;
    t.bytes = f.bytes;
    t.hops = flow_hops(m, grid, f);
    m.transfers.push_back(std::move(t));
  }
}

// Layer-pipelined schedule of one inference: a layer starts when each source has made what its
// first MVM reads, and ends no earlier than one cycle after its last source ends.
void schedule_layers(Mapping& m, const Graph& graph, const DataFlow& flow) {
  for (size_t i = 0; i < m.layers.size(); ++i) {
    LayerMapping& l = m.layers[i];
    l.stage = static_cast<int>(i);
    int64_t start = 0, end = 0;
    for (int p : flow.deps[i]) {
      if (p < 0) continue;  // the graph's input is there at cycle 0
      const LayerMapping& src = m.layers[static_cast<size_t>(p)];
      start = std::max(start, src.start_cycle + cycles_before_first_mvm(graph, *flow.nodes[i], src));
      end = std::max(end, src.finish_cycle + 1);
    }
    l.start_cycle = start;
    l.finish_cycle = std::max(start + l.cycles(), end);
    m.latency_cycles = std::max(m.latency_cycles, l.finish_cycle);
  }
  m.interval_cycles = m.bottleneck_cycles;
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
    if (lower_node(graph, n, rows, cols, !chip.core.digital.grouped_conv, l) && l.tiles > 0)
      out.push_back(std::move(l));
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

  // Replication and the arrays' slots, chip by chip.
  const int64_t per_core = chip.arrays_per_core();
  std::vector<int64_t> first_slot(m.layers.size(), 0);
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
    // Arrays in layer order, copies of a layer together, from the chip's first slot on.
    int64_t next = int64_t{c} * m.arrays_per_chip;
    for (LayerMapping* l : on_chip) {
      first_slot[static_cast<size_t>(l - m.layers.data())] = next;
      next += l->arrays();
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
  const int64_t bytes_per = (chip.array.dac.bits + 7) / 8;
  // Activations crossing each boundary: values made on chip <= b and read on a chip > b.
  if (m.chips > 1) {
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

  // The traffic between layers, the placement that shortens it, and the schedule.
  const DataFlow flow = trace_data_flow(graph, m, bytes_per);
  place_arrays(m, chip, first_slot, flow.flows, options.placement);
  schedule_layers(m, graph, flow);
  return m;
}

}  // namespace acim
