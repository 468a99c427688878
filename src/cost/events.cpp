// Event counts of one inference, in closed form from the mapping (the model is documented in
// include/acim/cost.hpp). Every count is an exact integer: tiles are grouped by shape (full and
// last row/column blocks, full and last packs of groups), so the work is per matrix view, not
// per MVM or per array.
#include <algorithm>
#include <map>
#include <set>

#include "acim/cost.hpp"
#include "acim/error.hpp"
#include "acim/model_info.hpp"

namespace acim {

namespace {

int64_t ceil_div(int64_t a, int64_t b) {
  return b > 0 ? (a + b - 1) / b : 0;
}

// Elements of a value per inference, unknown dims counted as 1 (as the mapping counts them).
int64_t numel_of(const Graph& g, const std::string& value) {
  const ValueInfo* vi = value.empty() ? nullptr : g.value_info(value);
  if (vi == nullptr || !vi->shape_known) return 0;
  int64_t n = 1;
  for (int64_t d : vi->shape) n *= d > 0 ? d : 1;
  return n;
}

int64_t outputs_numel(const Graph& g, const Node& n) {
  int64_t total = 0;
  for (const std::string& o : n.outputs) total += numel_of(g, o);
  return total;
}

// Tiles of one copy with the same shape: `count` arrays each using rows x cols (logical).
struct TileShape {
  int64_t rows = 0, cols = 0, count = 0;
};

// The tiles of one matrix view, as the mapping makes them (src/compiler/mapping.cpp: packed
// groups when more than one fits an array, else row blocks x column blocks per copy).
void view_tiles(const MatrixView& m, int64_t array_rows, int64_t array_cols,
                std::vector<TileShape>& out) {
  if (m.rows <= 0 || m.cols <= 0 || m.count <= 0) return;
  const int64_t per = m.count > 1 ? groups_per_array(m.rows, m.cols, array_rows, array_cols) : 1;
  if (per > 1) {
    const int64_t arrays = ceil_div(m.count, per);
    const int64_t last = m.count - (arrays - 1) * per;
    if (arrays > 1) out.push_back({per * m.rows, per * m.cols, arrays - 1});
    out.push_back({last * m.rows, last * m.cols, 1});
    return;
  }
  const int64_t rb = ceil_div(m.rows, array_rows), cb = ceil_div(m.cols, array_cols);
  const int64_t last_r = m.rows - (rb - 1) * array_rows;
  const int64_t last_c = m.cols - (cb - 1) * array_cols;
  for (int full_r = 0; full_r < 2; ++full_r)
    for (int full_c = 0; full_c < 2; ++full_c) {
      const int64_t nr = full_r ? rb - 1 : 1, nc = full_c ? cb - 1 : 1;
      if (nr * nc == 0) continue;
      out.push_back({full_r ? array_rows : last_r, full_c ? array_cols : last_c,
                     nr * nc * m.count});
    }
}

// Lane-ops per time step and direction of a recurrent layer's gate arithmetic, per hidden unit:
// a nonlinearity on every gate pre-activation, plus the state update — LSTM
// c = f*c + i*g (3), h = o*tanh(c) (2); GRU h = (1-z)*n + z*h with r*(R h) (5); RNN none.
struct GateOps {
  int gates = 1;
  int update = 0;
};
GateOps gate_ops(const std::string& op) {
  if (op == "LSTM") return {4, 5};
  if (op == "GRU") return {3, 5};
  return {1, 0};
}

// Lane-ops per output element of a digital op on the vector unit (pooling and products of
// activations are counted separately): softmax takes max, subtract, exp, sum and divide;
// normalisation mean, variance, subtract, scale and shift.
int64_t ops_per_element(const std::string& op, const std::string& unit) {
  if (unit == "softmax") return 5;
  if (unit == "normalization") return op == "BatchNormalization" ? 2 : 5;
  return 1;
}

// Data-movement ops that only change how a tensor is viewed (no bytes move).
bool is_view(const std::string& op) {
  static const std::set<std::string> views = {"Reshape", "Flatten",  "Squeeze", "Unsqueeze",
                                              "Identity", "Shape",   "Cast"};
  return views.count(op) > 0;
}

// Ops whose cost is their multiply-accumulates when their weights are not constants (products
// of two activations, e.g. attention's Q K^T and A V).
bool is_product(const std::string& op) {
  return op == "MatMul" || op == "Gemm" || op == "Conv" || op == "ConvTranspose" ||
         op == "Einsum";
}

// "Conv+Relu" -> "Conv".
std::string base_op(const std::string& op_with_fused) {
  return op_with_fused.substr(0, op_with_fused.find('+'));
}

}  // namespace

LayerEvents Events::total() const {
  LayerEvents t;
  t.node = t.op = "total";
  for (const LayerEvents& l : layers) {
    t.mvms += l.mvms;
    t.tile_activations += l.tile_activations;
    t.array_reads += l.array_reads;
    t.dac_drives += l.dac_drives;
    t.adc_conversions += l.adc_conversions;
    t.shift_adds += l.shift_adds;
    t.partial_sum_adds += l.partial_sum_adds;
    t.core_buffer_read_bytes += l.core_buffer_read_bytes;
    t.core_buffer_write_bytes += l.core_buffer_write_bytes;
    t.tile_buffer_read_bytes += l.tile_buffer_read_bytes;
    t.tile_buffer_write_bytes += l.tile_buffer_write_bytes;
    t.vector_lane_ops += l.vector_lane_ops;
    t.vector_ops += l.vector_ops;
    t.macs += l.macs;
    t.input_bytes += l.input_bytes;
  }
  return t;
}

int64_t Events::digital_lane_ops() const {
  int64_t n = 0;
  for (const DigitalEvents& d : digital) n += d.lane_ops;
  return n;
}

int64_t Events::host_elements() const {
  int64_t n = 0;
  for (const DigitalEvents& d : digital) n += d.host_elements;
  return n;
}

Events count_events(const Graph& graph, const Mapping& mapping, const ChipSpec& chip) {
  Events ev;
  ev.chips = mapping.chips;
  const ArrayParams& a = chip.array;
  const int64_t array_rows = a.rows, array_cols = a.logical_cols();
  const int64_t steps = a.dac.mode == DacMode::bit_serial ? std::max(a.dac.bits - 1, 1) : 1;
  const int64_t signals_per_col =
      a.encoding.scheme == Encoding::bit_sliced ? std::max(a.encoding.slices, 1) : 1;
  const int64_t in_bytes = (a.dac.bits + 7) / 8;
  const int64_t lanes = std::max(chip.core.digital.vector_lanes, 1);
  std::map<std::string, const Node*> nodes;
  for (const Node& n : graph.nodes) nodes[n.name] = &n;

  for (const LayerMapping& l : mapping.layers) {
    LayerEvents e;
    e.node = l.node;
    e.op = l.op;
    e.mvms = l.mvms;
    e.tile_activations = l.tiles * l.mvms;
    std::vector<TileShape> tiles;
    for (const MatrixView& m : l.matrices) {
      view_tiles(m, array_rows, array_cols, tiles);
      e.core_buffer_read_bytes += m.rows * m.count * l.mvms * in_bytes;
    }
    e.tile_buffer_write_bytes = e.core_buffer_read_bytes;
    int64_t tile_count = 0;
    for (const TileShape& t : tiles) {
      const int64_t groups =
          a.parallel_rows > 0 && a.parallel_rows < t.rows ? ceil_div(t.rows, a.parallel_rows) : 1;
      const int64_t reads = steps * groups;
      const int64_t conversions = t.cols * signals_per_col * reads;
      e.array_reads += t.count * reads * l.mvms;
      e.dac_drives += t.count * t.rows * steps * l.mvms;
      e.adc_conversions += t.count * conversions * l.mvms;
      e.shift_adds += t.count * (conversions - t.cols) * l.mvms;
      e.tile_buffer_read_bytes += t.count * t.rows * in_bytes * l.mvms;
      tile_count += t.count;
    }
    ACIM_ASSERT(tile_count == l.tiles, "cost: tiles of layer '" + l.node + "' (" +
                                           std::to_string(tile_count) +
                                           ") differ from the mapping's (" +
                                           std::to_string(l.tiles) + ")");
    e.partial_sum_adds = l.partial_sum_adds;
    e.core_buffer_write_bytes = l.output_elements * in_bytes;
    e.macs = l.weights * l.mvms;
    e.input_bytes = l.input_elements * in_bytes;
    // Fused digital work: one lane-op per output element for each fused op and the bias;
    // recurrent gate arithmetic per step and direction.
    for (const std::string& d : l.digital) {
      int64_t ops = l.output_elements;
      const std::string suffix = " gates";
      if (d.size() > suffix.size() && d.compare(d.size() - suffix.size(), suffix.size(), suffix) == 0) {
        const GateOps g = gate_ops(d.substr(0, d.size() - suffix.size()));
        const MatrixView& w = l.matrices.front();  // "W": gates x hidden columns per direction
        const int64_t hidden = w.cols / g.gates;
        ops = l.mvms * w.count * hidden * (g.gates + g.update);
      }
      e.vector_lane_ops += ops;
      e.vector_ops += ceil_div(ops, lanes);
    }
    ev.layers.push_back(std::move(e));
  }

  // Digital nodes. Products of two activations need the graph's MAC counts (describe runs shape
  // inference on a copy), so that is done only when there are some.
  bool any_product = false;
  for (const DigitalOp& d : mapping.digital) any_product |= is_product(base_op(d.op));
  std::map<std::string, int64_t> macs_of;
  if (any_product)
    for (const LayerInfo& li : describe(graph).layers) macs_of[li.name] = li.macs;
  for (const DigitalOp& d : mapping.digital) {
    DigitalEvents e;
    e.node = d.node;
    e.op = d.op;
    e.unit = d.unit;
    auto it = nodes.find(d.node);
    if (it == nodes.end()) {
      ev.digital.push_back(std::move(e));
      continue;
    }
    const Node& n = *it->second;
    const int64_t out = outputs_numel(graph, n);
    if (d.unit == "host") {
      e.host_elements = out;
    } else if (d.unit == "data movement") {
      if (!is_view(n.op_type)) e.buffer_bytes = out * in_bytes;
    } else {
      int64_t ops = 0;
      if (is_product(n.op_type)) {
        auto m = macs_of.find(n.name);
        e.macs = m == macs_of.end() ? 0 : m->second;
        ops = e.macs;
      } else if (d.unit == "pooling") {
        // Global pooling reads every input element once; windowed pooling a window per output.
        if (n.op_type.rfind("Global", 0) == 0) {
          ops = n.inputs.empty() ? out : numel_of(graph, n.inputs[0]);
        } else {
          int64_t window = 1;
          for (int64_t v : n.attr_ints("kernel_shape")) window *= std::max<int64_t>(v, 1);
          ops = out * window;
        }
      } else {
        ops = out * ops_per_element(n.op_type, d.unit);
      }
      ops += out * static_cast<int64_t>(n.fused.size());
      e.lane_ops = ops;
      e.vector_ops = ceil_div(ops, lanes);
    }
    ev.digital.push_back(std::move(e));
  }

  for (const Transfer& t : mapping.transfers)
    if (t.from_chip == t.to_chip) ev.noc_byte_hops += static_cast<double>(t.bytes) * t.hops;
  for (const StageBoundary& b : mapping.boundaries) ev.chip_link_bits += b.bytes * 8;
  return ev;
}

}  // namespace acim
