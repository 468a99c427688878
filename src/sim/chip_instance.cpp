// ChipInstance: a compiled Program on one simulated chip (see include/acim/sim.hpp).
//
// Construction programs every array of every analog layer — the cut of view_arrays.hpp, checked
// against the mapping's array count — and calibrates them: the DAC range of each matrix view from
// program.quant (input_range; 0 or absent: max |x| seen on the calibration set), the weight
// full scale of each column from program.quant (weight_full_scale; absent: the column's max |w|),
// and the ADC ranges from the inputs each array sees when program.calibration_set runs through
// the graph (a capture pass: the analog layers compute the exact product of their programmed
// weights and record their arrays' inputs).
//
// The digital units' precision: every float value a node makes on the chip (a digital op's
// result, an analog layer's output after its bias and activation on the vector unit) is held as
// a signed fixed-point word of core.digital.vector_bits bits. Each node's format (its step, a
// power of two) is fixed from the calibration pass — the largest |x| the node made there, plus one
// bit of headroom — the way a fixed-point datapath is configured per layer; values beyond it
// saturate. So results do not depend on which samples share a batch. Not applied when ideal or
// with SimOptions::digital_precision off, without a calibration set, or for vector_bits > 24 (wider
// than float32's significand: the float32 result stands for it).
#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "core/simd.hpp"

#include "acim/error.hpp"
#include "acim/sim.hpp"
#include "core/parallel.hpp"
#include "sim/lowering.hpp"
#include "sim/view_arrays.hpp"

namespace acim {

namespace {

// Calibration rows per array for the ADC ranges (evenly spaced over all it saw). The calibrated
// full scale is the largest signal over them or |mean| + adc.calibration_sigmas * std, whichever
// is larger (CrossbarArray::calibrate): 256 rows pin a column's mean and std to a few percent.
// A layer that runs once per input (a batch-1 Gemm) sees only as many rows as the Program keeps
// calibration inputs (CompileOptions::keep_calibration); the sigma rule is what keeps its ranges
// from clipping then.
constexpr int64_t kCalibrationRows = 256;

// Widest digital word rounded to; wider ones are left as float32 results.
constexpr int kMaxRoundedBits = 24;

// y[i] = clamp(round_half_even(x[i] * inv), lo, hi) * step for i < n; NaN stays NaN.
#if ACIM_HAVE_AVX512
__attribute__((target("avx512f"))) void round_scaled_avx512(const float* x, int64_t n, float inv,
                                                            float step, float lo, float hi,
                                                            float* y) {
  const __m512 vi = _mm512_set1_ps(inv), vs = _mm512_set1_ps(step);
  const __m512 vlo = _mm512_set1_ps(lo), vhi = _mm512_set1_ps(hi);
  for (int64_t i = 0; i < n; i += 16) {
    const int64_t left = n - i;
    const __mmask16 m = left >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << left) - 1u);
    __m512 c = _mm512_roundscale_ps(_mm512_mul_ps(_mm512_maskz_loadu_ps(m, x + i), vi),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    c = _mm512_min_ps(vhi, _mm512_max_ps(vlo, c));  // (max, min return c when c is NaN)
    _mm512_mask_storeu_ps(y + i, m, _mm512_mul_ps(c, vs));
  }
}
#endif

void round_scaled(const float* x, int64_t n, float inv, float step, float lo, float hi, float* y) {
#if ACIM_HAVE_AVX512
  if (cpu_has_avx512()) {
    round_scaled_avx512(x, n, inv, step, lo, hi, y);
    return;
  }
#endif
  for (int64_t i = 0; i < n; ++i)
    y[i] = std::clamp(std::nearbyint(x[i] * inv), lo, hi) * step;  // NaN stays NaN
}

// Step of a `bits`-bit signed fixed-point format holding values up to 2x `max_abs` (one bit of
// headroom over what calibration saw); 0 when there is nothing to hold.
float fixed_point_step(float max_abs, int bits) {
  if (!(max_abs > 0) || !std::isfinite(max_abs)) return 0.0f;
  const int e = static_cast<int>(std::floor(std::log2(max_abs))) + 2;  // max_abs < 2^(e - 1)
  return std::ldexp(1.0f, e - (bits - 1));
}

// `t` rounded to the grid of `step`, saturating at the signed `bits`-bit codes: in place where no
// other tensor shares its buffer, else in a copy. x / step is computed as x * (1 / step): step is
// a power of two, so where 1 / step is one too (a normal float) both are the same correctly
// rounded value of the same real number.
void round_to_fixed_point(Tensor& t, float step, int bits) {
  Tensor out = t.sole_owner() ? t : Tensor::uninitialized(DType::f32, t.shape());
  const float top = std::ldexp(1.0f, bits - 1);
  const float* x = t.data<float>();
  float* y = out.data<float>();
  const int64_t n = t.numel();
  const float inv = 1.0f / step;
  const bool by_inverse = std::isnormal(inv) && std::isnormal(step) && inv * step == 1.0f;
  // Element by element, in chunks over the threads for a large tensor (a batch's activations).
  constexpr int64_t kChunk = int64_t{1} << 16;
  const int64_t chunks = (n + kChunk - 1) / kChunk;
  detail::parallel_for_static(chunks, chunks > 1, [&](int64_t c) {
    const int64_t i0 = c * kChunk, m = std::min(kChunk, n - i0);
    if (by_inverse) {
      round_scaled(x + i0, m, inv, step, -top, top - 1.0f, y + i0);
      return;
    }
    for (int64_t i = i0; i < i0 + m; ++i) {
      const float code = std::nearbyint(x[i] / step);
      y[i] = std::clamp(code, -top, top - 1.0f) * step;  // NaN stays NaN
    }
  });
  t = std::move(out);
}

struct AnalogLayer {
  std::string where;
  std::vector<sim::ViewArrays> views;  // LayerMapping::matrices order
  std::vector<double> input_range;     // per view; 0 = from the calibration inputs
  // What programming the views takes (the views hold their weights): per view its columns' full
  // scales (empty: each column's max |w|) and its first array's index in the layer; the layer's
  // index in the mapping and its arrays per copy (the random streams' keys).
  std::vector<std::vector<float>> full_scale;
  std::vector<int64_t> first_array;
  int64_t mapping_index = 0, tiles = 0;
};

// The array parameters of the run: the chip's, or with `ideal` exact continuous cells and every
// non-ideality off. The ideal array keeps the mapping's tile sizes (the cut uses
// program.chip.array) but is wide enough for them in differential encoding.
ArrayParams run_params(const ChipSpec& chip, const SimOptions& o) {
  ArrayParams p = chip.array;
  if (o.time_since_programming_s >= 0) p.time_since_programming_s = o.time_since_programming_s;
  if (o.ideal) {
    const int logical = chip.array.logical_cols();
    p.cell.type = CellType::ideal;
    p.cell.levels = 0;
    p.encoding.scheme = Encoding::differential;
    p.encoding.per_column_scale = true;
    p.cols = std::max(p.cols, 2 * logical);
    p.parallel_rows = 0;
    p.drift_compensation = false;
    p.effects = NonIdealities{false, false, false, false, false, false, false, false};
  }
  return p;
}

}  // namespace

struct ChipInstance::State {
  // `analog`: per node, true for the analog layers, which SimHooks replace on every run (the
  // executor does not prepare them).
  State(const Graph& g, const std::vector<bool>& analog, std::vector<AnalogLayer> analog_layers,
        std::vector<int> node_layer)
      : exec(g, analog), layers(std::move(analog_layers)), layer_of_node(std::move(node_layer)) {}
  Executor exec;
  std::vector<AnalogLayer> layers;
  std::vector<int> layer_of_node;  // per graph node: index into layers, or -1
  // The digital units' fixed-point format per graph node (step; 0 = float32 results kept).
  std::vector<float> node_step;
  int digital_bits = 0;
  bool weights_kept = true;  // SimOptions::keep_weights
};

namespace {

// Runs the analog layers on their arrays (or, in capture mode, records their inputs), and holds
// every node's float results in the digital units' fixed-point formats (in capture mode: records
// the largest |x| each node makes, to set those formats).
class SimHooks : public RunHooks {
 public:
  SimHooks(std::vector<AnalogLayer>& layers, const std::vector<int>& layer_of_node,
           sim::MvmMode mode, std::vector<float>& node_max_abs, const std::vector<float>& node_step,
           int digital_bits)
      : layers_(layers),
        layer_of_node_(layer_of_node),
        mode_(mode),
        node_max_abs_(node_max_abs),
        node_step_(node_step),
        digital_bits_(digital_bits) {}
  bool replace(size_t index, const Node& node, const std::vector<const Tensor*>& inputs,
               std::vector<Tensor>& outputs, const OutputBuffers& buffers) override {
    const int l = index < layer_of_node_.size() ? layer_of_node_[index] : -1;
    if (l < 0) return false;
    AnalogLayer& layer = layers_[static_cast<size_t>(l)];
    sim::run_analog_node(node, layer.where, layer.views, inputs, outputs, buffers, mode_);
    return true;
  }
  void adjust(size_t index, const Node&, std::vector<Tensor>& outputs) override {
    for (Tensor& t : outputs) {
      if (t.empty() || t.dtype() != DType::f32) continue;
      if (mode_ == sim::MvmMode::capture) {
        float& m = node_max_abs_[index];
        for (float v : t.span<float>())
          if (std::isfinite(v)) m = std::max(m, std::fabs(v));
      } else if (node_step_[index] > 0) {
        round_to_fixed_point(t, node_step_[index], digital_bits_);
      }
    }
  }

 private:
  std::vector<AnalogLayer>& layers_;
  const std::vector<int>& layer_of_node_;
  sim::MvmMode mode_;
  std::vector<float>& node_max_abs_;
  const std::vector<float>& node_step_;
  int digital_bits_;
};

// The weights only the arrays read: each analog Gemm's or MatMul's B that no other node (analog
// or not), no fused activation and no graph input or output reads. SimHooks replace those nodes
// on every run without reading B (run_analog_node), so the executor's graph holds an empty
// tensor in their place. Conv and recurrent layers keep theirs (their lowering reads W's shape).
std::set<std::string> arrays_only_weights(const Graph& graph, const std::vector<bool>& analog) {
  const auto arrays_only = [&](size_t i, size_t input) {
    const std::string& op = graph.nodes[i].op_type;
    return analog[i] && input == 1 && (op == "Gemm" || op == "MatMul");
  };
  std::set<std::string> read, as_b;  // values read otherwise; as an analog B
  for (size_t i = 0; i < graph.nodes.size(); ++i) {
    const Node& n = graph.nodes[i];
    for (size_t k = 0; k < n.inputs.size(); ++k)
      if (!arrays_only(i, k) || !as_b.insert(n.inputs[k]).second) read.insert(n.inputs[k]);
    for (const Node& f : n.fused) read.insert(f.inputs.begin(), f.inputs.end());
  }
  for (const ValueInfo& v : graph.outputs) read.insert(v.name);
  for (const ValueInfo& v : graph.inputs) read.insert(v.name);
  std::set<std::string> only;
  for (size_t i = 0; i < graph.nodes.size(); ++i)
    if (arrays_only(i, 1) && graph.nodes[i].has_input(1) && !read.count(graph.nodes[i].inputs[1]) &&
        graph.initializers.count(graph.nodes[i].inputs[1]))
      only.insert(graph.nodes[i].inputs[1]);
  return only;
}

}  // namespace

ChipInstance::ChipInstance(Program program, const SimOptions& options) {
  program.source = Graph();  // not read here: its weights (when moved in) go now
  const Graph& g = program.graph;
  std::vector<AnalogLayer> layers;
  std::vector<int> layer_of_node;
  const ArrayParams params = run_params(program.chip, options);
  const int64_t tile_rows = program.chip.array.rows, tile_cols = program.chip.array.logical_cols();
  std::map<std::string, size_t> node_index;
  for (size_t i = 0; i < g.nodes.size(); ++i) node_index[g.nodes[i].name] = i;
  layer_of_node.assign(g.nodes.size(), -1);
  std::vector<bool> analog(g.nodes.size(), false);
  for (const LayerMapping& lm : program.mapping.layers)
    if (auto it = node_index.find(lm.node); it != node_index.end()) analog[it->second] = true;
  // Quantisation: one LayerQuant per analog layer, or none (empty vectors: not calibrated).
  const std::vector<LayerQuant>& quant = program.quant.layers;
  if (!quant.empty() && quant.size() != program.mapping.layers.size())
    throw Error(ErrorKind::invalid, program.model,
                "quantisation has " + std::to_string(quant.size()) + " layers, the mapping " +
                    std::to_string(program.mapping.layers.size()),
                "recompile the program from the model");

  for (size_t li = 0; li < program.mapping.layers.size(); ++li) {
    const LayerMapping& lm = program.mapping.layers[li];
    auto it = node_index.find(lm.node);
    if (it == node_index.end())
      throw Error(ErrorKind::invalid, program.model,
                  "the mapping names node '" + lm.node + "', which the graph lacks",
                  "recompile the program from the model");
    const Node& node = g.nodes[it->second];
    AnalogLayer layer;
    layer.where = g.where(node);
    const std::vector<sim::ViewWeights> weights = sim::layer_weights(g, node, lm);
    int64_t tiles = 0;
    for (const sim::ViewWeights& w : weights) {
      layer.views.emplace_back(w.rows, w.cols, w.count, tile_rows, tile_cols, lm.replication);
      tiles += layer.views.back().arrays_per_copy();
    }
    if (tiles != lm.tiles)
      throw Error(ErrorKind::invalid, layer.where,
                  "cut into " + std::to_string(tiles) +
                      " arrays per copy, but the mapping counts " + std::to_string(lm.tiles),
                  "recompile the program (its mapping does not match the simulator's cut)");
    const LayerQuant* q = quant.empty() ? nullptr : &quant[li];
    size_t full_scale_size = 0;
    for (const sim::ViewWeights& w : weights)
      full_scale_size += static_cast<size_t>(w.count * w.cols);
    if (q != nullptr &&
        (q->node != lm.node ||
         (!q->input_range.empty() && q->input_range.size() != weights.size()) ||
         (!q->weight_full_scale.empty() && q->weight_full_scale.size() != full_scale_size)))
      throw Error(ErrorKind::invalid, layer.where,
                  "its quantisation (layer '" + q->node + "', " +
                      std::to_string(q->input_range.size()) + " input ranges, " +
                      std::to_string(q->weight_full_scale.size()) +
                      " weight full scales) does not match its " + std::to_string(weights.size()) +
                      " matrix views of " + std::to_string(full_scale_size) + " columns",
                  "recompile the program from the model");
    const bool use_full_scale = q != nullptr && !options.ideal && !q->weight_full_scale.empty();
    int64_t first = 0, fs_offset = 0;
    for (size_t v = 0; v < weights.size(); ++v) {
      const sim::ViewWeights& w = weights[v];
      std::vector<float> fs;
      if (use_full_scale)
        fs.assign(q->weight_full_scale.begin() + fs_offset,
                  q->weight_full_scale.begin() + fs_offset + w.count * w.cols);
      fs_offset += w.count * w.cols;
      layer.views[v].set_weights(w.values, w.transposed);
      layer.full_scale.push_back(std::move(fs));
      layer.first_array.push_back(first);
      first += layer.views[v].arrays_per_copy();
      layer.input_range.push_back(q != nullptr && v < q->input_range.size() ? q->input_range[v]
                                                                            : 0.0);
    }
    layer.mapping_index = static_cast<int64_t>(li);
    layer.tiles = lm.tiles;
    layer_of_node[it->second] = static_cast<int>(layers.size());
    layers.push_back(std::move(layer));
  }
  // The views hold the weights now: those only the arrays read leave the graph (freed here when
  // the Program was moved in), so that letting the views' go frees them (keep_weights off).
  for (const std::string& name : arrays_only_weights(g, analog))
    program.graph.initializers[name] = Tensor();
  state_ = std::make_unique<State>(g, analog, std::move(layers), std::move(layer_of_node));
  State& s = *state_;
  s.weights_kept = options.keep_weights;
  const size_t nodes = s.exec.graph().nodes.size();
  program.graph = Graph();  // the executor's copy shares what is left

  // Calibration: the capture pass over the calibration set (not needed when ideal: no DAC or
  // ADC to set), which reads the views' weights, not their arrays; then each layer is programmed
  // and its arrays' ranges set (one layer after another: without keep_weights a layer's weights
  // go before the next layer's arrays are made, so weights and arrays are never all held).
  s.digital_bits = program.chip.core.digital.vector_bits;
  s.node_step.assign(nodes, 0.0f);
  if (!options.ideal && !program.calibration_set.empty()) {
    std::vector<float> node_max_abs(nodes, 0.0f);
    const std::vector<float> no_rounding(nodes, 0.0f);
    SimHooks capture(s.layers, s.layer_of_node, sim::MvmMode::capture, node_max_abs, no_rounding,
                     s.digital_bits);
    for (const TensorMap& sample : program.calibration_set) s.exec.run(sample, &capture);
    if (options.digital_precision && s.digital_bits <= kMaxRoundedBits)
      for (size_t i = 0; i < nodes; ++i)
        s.node_step[i] = fixed_point_step(node_max_abs[i], s.digital_bits);
  }
  for (AnalogLayer& layer : s.layers) {
    for (size_t v = 0; v < layer.views.size(); ++v) {
      sim::ViewArrays& view = layer.views[v];
      view.program(layer.full_scale[v], params, options.seed, options.instance, layer.mapping_index,
                   layer.first_array[v], layer.tiles);
      view.calibrate(layer.input_range[v], kCalibrationRows);
      if (!options.keep_weights) view.drop_weights();
    }
    layer.full_scale.clear();
  }
}

ChipInstance::~ChipInstance() = default;
ChipInstance::ChipInstance(ChipInstance&&) noexcept = default;
ChipInstance& ChipInstance::operator=(ChipInstance&&) noexcept = default;

TensorMap ChipInstance::run(const TensorMap& inputs) {
  State& s = *state_;
  std::vector<float> unused_max_abs;  // written only in capture mode
  SimHooks hooks(s.layers, s.layer_of_node, sim::MvmMode::analog, unused_max_abs, s.node_step,
                 s.digital_bits);
  return s.exec.run(inputs, &hooks);
}

void ChipInstance::set_time(double seconds_since_programming) {
  if (!state_->weights_kept)
    throw Error(ErrorKind::invalid, "chip instance",
                "was made without its weights (SimOptions::keep_weights off), which moving its "
                "arrays in time draws their state from again",
                "make the instance with keep_weights, or at the time wanted "
                "(SimOptions::time_since_programming_s)");
  for (AnalogLayer& layer : state_->layers)
    for (sim::ViewArrays& v : layer.views) v.set_time(seconds_since_programming);
}

int64_t ChipInstance::arrays() const {
  int64_t n = 0;
  for (const AnalogLayer& layer : state_->layers)
    for (const sim::ViewArrays& v : layer.views) n += v.arrays_per_copy() * v.replication();
  return n;
}

}  // namespace acim
