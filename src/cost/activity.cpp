// Activity factors from real tensors: the reference executor runs the inputs while a RunHooks
// watches every analog layer's input; weights are read from the graph. The model the factors
// feed is documented in include/acim/cost.hpp (LayerActivity, kArrayStaticShare).
#include <algorithm>
#include <bit>
#include <cmath>
#include <map>

#include "acim/cost.hpp"
#include "acim/error.hpp"

namespace acim {

namespace {

// Per analog layer: the DAC range and running sums over the elements of its input.
struct InputStats {
  double range = 0;        // DAC full scale (input units); 0 = take max_abs
  double max_abs = 0;      // largest |x| seen
  double amplitude = 0;    // sum of |level| / L
  double ones = 0;         // sum of set magnitude bits / (bits - 1)
  int64_t elements = 0;
};

class InputWatcher : public RunHooks {
 public:
  InputWatcher(std::map<std::string, InputStats*> layers, int dac_bits, bool ranges_only)
      : layers_(std::move(layers)), bits_(dac_bits), ranges_only_(ranges_only) {}

  void observe(size_t, const Node& node, const std::vector<const Tensor*>& inputs,
               const std::vector<Tensor>&) override {
    auto it = layers_.find(node.name);
    if (it == layers_.end() || inputs.empty() || inputs[0] == nullptr ||
        inputs[0]->dtype() != DType::f32)
      return;
    InputStats& s = *it->second;
    const float* x = inputs[0]->data<float>();
    const int64_t n = inputs[0]->numel();
    if (ranges_only_) {
      for (int64_t k = 0; k < n; ++k)
        if (std::isfinite(x[k])) s.max_abs = std::max(s.max_abs, std::fabs(static_cast<double>(x[k])));
      return;
    }
    const double range = s.range > 0 ? s.range : s.max_abs;
    if (!(range > 0)) {  // all-zero inputs: nothing switches
      s.elements += n;
      return;
    }
    // The DAC's levels (src/device/dac.hpp): L = 2^(bits-1) - 1 per sign, |level| =
    // round(min(|x|, range) / range * L); bit-serial sends its bits - 1 magnitude bits.
    const int64_t levels = (int64_t{1} << (bits_ - 1)) - 1;
    const double per = static_cast<double>(levels) / range;
    double amp = 0, ones = 0;
    for (int64_t k = 0; k < n; ++k) {
      const double v = std::isfinite(x[k]) ? std::min(std::fabs(static_cast<double>(x[k])), range) : 0;
      const auto q = static_cast<uint64_t>(std::nearbyint(v * per));
      amp += static_cast<double>(q);
      ones += std::popcount(q);
    }
    s.amplitude += amp / static_cast<double>(levels);
    s.ones += ones / static_cast<double>(bits_ - 1);
    s.elements += n;
  }

 private:
  std::map<std::string, InputStats*> layers_;
  int bits_;
  bool ranges_only_;
};

// Column-major view of a weight matrix: `cols` columns of `k` weights, column j's weight i at
// w[j * col_stride + i * row_stride].
struct WeightView {
  const float* w = nullptr;
  int64_t cols = 0, k = 0, col_stride = 0, row_stride = 0;
};

// Mean cell fill of the weight views as the encoding programs them (see LayerActivity), and the
// number of weights it was taken over.
std::pair<double, int64_t> weight_fill(const std::vector<WeightView>& views,
                                       const ArrayParams& a) {
  const bool sliced = a.encoding.scheme == Encoding::bit_sliced;
  const int bpc = std::max(a.encoding.bits_per_cell, 1);
  const int slices = std::max(a.encoding.slices, 1);
  const double top = std::ldexp(1.0, bpc * slices) - 1;  // magnitude steps of a sliced weight
  const uint64_t digit_mask = (uint64_t{1} << bpc) - 1;
  double sum = 0;
  int64_t count = 0;
  for (const WeightView& v : views) {
    auto at = [&](int64_t j, int64_t i) {
      return std::fabs(static_cast<double>(v.w[j * v.col_stride + i * v.row_stride]));
    };
    double tensor_max = 0;
    if (!a.encoding.per_column_scale)
      for (int64_t j = 0; j < v.cols; ++j)
        for (int64_t i = 0; i < v.k; ++i) tensor_max = std::max(tensor_max, at(j, i));
    for (int64_t j = 0; j < v.cols; ++j) {
      double full = tensor_max;
      if (a.encoding.per_column_scale)
        for (int64_t i = 0; i < v.k; ++i) full = std::max(full, at(j, i));
      count += v.k;
      if (!(full > 0) || !std::isfinite(full)) continue;
      for (int64_t i = 0; i < v.k; ++i) {
        const double r = std::min(at(j, i) / full, 1.0);
        if (!sliced) {
          sum += r;
          continue;
        }
        auto q = static_cast<uint64_t>(std::nearbyint(r * top));
        double digits = 0;
        for (int s = 0; s < slices; ++s, q >>= bpc) digits += static_cast<double>(q & digit_mask);
        sum += digits / (static_cast<double>(digit_mask) * slices);
      }
    }
  }
  return {count > 0 ? sum / static_cast<double>(count) : 0.0, count};
}

// The weight matrices of an analog layer's node, as column views.
std::vector<WeightView> weight_views(const Graph& g, const Node& n) {
  std::vector<WeightView> out;
  auto init = [&](size_t i) -> const Tensor* {
    return n.has_input(i) ? g.initializer(n.inputs[i]) : nullptr;
  };
  auto f32 = [](const Tensor* t) { return t != nullptr && t->dtype() == DType::f32 && t->numel() > 0; };
  if (n.op_type == "Conv") {
    const Tensor* w = init(1);
    if (f32(w)) {
      const int64_t cout = w->dim(0), k = w->numel() / std::max<int64_t>(cout, 1);
      out.push_back({w->data<float>(), cout, k, k, 1});
    }
  } else if (n.op_type == "Gemm" || n.op_type == "MatMul") {
    const Tensor* b = init(1);
    if (f32(b) && b->rank() == 2) {
      const bool trans = n.op_type == "Gemm" && n.attr_int("transB", 0) != 0;
      const int64_t k = trans ? b->dim(1) : b->dim(0), cols = trans ? b->dim(0) : b->dim(1);
      out.push_back({b->data<float>(), cols, k, trans ? k : 1, trans ? 1 : cols});
    }
  } else {  // LSTM / GRU / RNN: W [dirs, gates*H, K], R [dirs, gates*H, H]
    for (size_t i : {size_t{1}, size_t{2}}) {
      const Tensor* w = init(i);
      if (f32(w) && w->rank() == 3) {
        const int64_t cols = w->dim(0) * w->dim(1), k = w->dim(2);
        out.push_back({w->data<float>(), cols, k, k, 1});
      }
    }
  }
  return out;
}

}  // namespace

std::vector<LayerActivity> measure_activity(const Graph& graph, const Mapping& mapping,
                                            const Quantisation& quant, const ChipSpec& chip,
                                            const std::vector<TensorMap>& inputs) {
  const ArrayParams& a = chip.array;
  std::vector<LayerActivity> out(mapping.layers.size());
  std::vector<InputStats> stats(mapping.layers.size());
  std::map<std::string, InputStats*> watch;
  std::map<std::string, const Node*> nodes;
  for (const Node& n : graph.nodes) nodes[n.name] = &n;
  bool need_ranges = false;
  for (size_t i = 0; i < mapping.layers.size(); ++i) {
    const LayerMapping& l = mapping.layers[i];
    out[i].node = l.node;
    for (const LayerQuant& q : quant.layers)
      if (q.node == l.node && !q.input_range.empty() && q.input_range[0] > 0)
        stats[i].range = q.input_range[0];
    need_ranges |= !(stats[i].range > 0);
    watch[l.node] = &stats[i];
    auto it = nodes.find(l.node);
    if (it != nodes.end()) {
      auto [fill, n] = weight_fill(weight_views(graph, *it->second), a);
      if (n > 0) out[i].weight_fill = fill;
    }
  }
  if (!inputs.empty()) {
    Executor exec(graph);
    if (need_ranges) {
      InputWatcher ranges(watch, a.dac.bits, true);
      for (const TensorMap& in : inputs) exec.run(in, &ranges);
    }
    InputWatcher watcher(watch, a.dac.bits, false);
    for (const TensorMap& in : inputs) exec.run(in, &watcher);
  }
  const bool bit_serial = a.dac.mode == DacMode::bit_serial;
  for (size_t i = 0; i < out.size(); ++i) {
    const InputStats& s = stats[i];
    if (s.elements > 0) {
      const double n = static_cast<double>(s.elements);
      out[i].input_activity = (bit_serial ? s.ones : s.amplitude) / n;
      out[i].samples = static_cast<int64_t>(inputs.size());
    }
    out[i].column_activity = out[i].input_activity * out[i].weight_fill;
  }
  return out;
}

std::vector<LayerActivity> measure_activity(const Program& program,
                                            const std::vector<TensorMap>& inputs) {
  return measure_activity(program.graph, program.mapping, program.quant, program.chip, inputs);
}

}  // namespace acim
