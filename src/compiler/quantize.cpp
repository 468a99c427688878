// Quantisation (include/acim/quantize.hpp): weight full scales and their SQNR at the encoding's
// resolution, QDQ weights and activations read from a quantised model, and activation ranges
// calibrated by running the reference executor over sample inputs.
//
// Calibration keeps, per analog layer, the exact min and max of its inputs and — for the
// percentile method — two bounded summaries of |x| (memory independent of the model and sample
// size, 1 MiB at most per stream):
//   the largest values exactly: every |x| above a running threshold is appended to a buffer;
//   when the buffer holds 2 kKeep values, a radix select keeps the largest kKeep and the
//   threshold rises to the smallest of them. No value left out exceeds one in the buffer, so
//   the buffer's order statistics are the data's: a high percentile (the default 99.99) is
//   exact while (1 - p/100) * (count - 1) < kKeep, i.e. up to ~655 million values at 99.99.
//   On data in no particular order almost every value fails the one compare (of n values,
//   ~kKeep (1 + ln(n / kKeep)) are appended);
//   a uniform random sample, for lower percentiles of larger data: a Bernoulli sample (each
//   value kept with probability q) whose q halves, the kept values thinned by fair coin flips,
//   whenever it reaches 2 kKeep values (the thinning of Gibbons & Matias' concise samples,
//   SIGMOD 1998). Of a given size, it is a uniform sample without replacement. q starts at
//   1 - p/100, so the sample holds ~kKeep values by the count at which the exact summary stops
//   covering the percentile; at 99.99 it keeps one value in 10^4. The gaps between kept values
//   are geometric draws, one per kept value, from a fixed RandomStream keyed by the layer, so
//   the same samples always give the same ranges. (A reservoir of kKeep values, even with
//   Li's skips, takes ~kKeep ln(n / kKeep) draws whatever the percentile: most of the compile
//   time of a ResNet-50.)
// While count <= kKeep the exact summary holds every value, so small calibrations are exact.
// Min, max and the test against the threshold run block by block in one vectorised pass; only
// a block whose largest |x| passes the threshold, or that holds a non-finite value, is looked at
// value by value.
//
// Percentiles interpolate linearly between order statistics (NumPy's default "linear"): with
// the n values sorted ascending v[0..n-1], percentile p is v at rank r = p/100 * (n - 1),
// v[floor r] + (r - floor r) * (v[ceil r] - v[floor r]). Percentile 100 is the maximum.
#include "acim/quantize.hpp"

#include <algorithm>
#include <bit>
#include <charconv>
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <span>

#include "acim/error.hpp"
#include "acim/rng.hpp"
#include "device/encoding.hpp"

namespace acim {

namespace {

constexpr double kDefaultPercentile = 99.99;
// Values each summary of |x| keeps per stream (each holds up to 2 kKeep floats, 512 KiB, and
// a block).
constexpr size_t kKeep = 65536;
// Values per block of the min / max / threshold pass, in vectors of kLanes floats (a GCC / Clang
// vector extension: packed SSE / NEON / AVX on any target).
constexpr size_t kBlock = 64;
constexpr size_t kLanes = 4;
using Lanes = float __attribute__((vector_size(kLanes * sizeof(float))));
// Key of the sampling streams (then the layer index and 0 for inputs, 1 for hidden states).
constexpr uint64_t kSampleSeed = 0x5E5E;

const char* const kMethodChoices =
    "use minmax, percentile (= percentile:99.99) or percentile:P with 0 < P <= 100, e.g. "
    "percentile:99.9";

// Shortest text that reads back as the same double ("99.99", not "99.989999999999995").
std::string shortest(double v) {
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  ACIM_ASSERT(ec == std::errc(), "to_chars failed");
  return std::string(buf, end);
}

void check_percentile(double p, const std::string& where) {
  if (!(p > 0.0 && p <= 100.0))
    throw Error(ErrorKind::invalid, where, "percentile " + shortest(p) + " is outside (0, 100]",
                kMethodChoices);
}

// ---- calibration statistics ------------------------------------------------------------------

// Linear interpolation at rank r (0-based, ascending) of the n values `at(i)` returns.
template <class At>
double interpolate(double r, At at) {
  const double lo = std::floor(r);
  const double hi = std::ceil(r);
  const double v_lo = at(static_cast<size_t>(lo));
  return v_lo + (r - lo) * (at(static_cast<size_t>(hi)) - v_lo);
}

// Moves the k largest of v[0, n) (non-negative floats, 0 < k <= n) to v[0, k), in no order,
// and returns the k-th largest. A radix select on the bits (non-negative floats order as their
// bit patterns): per digit, from the top, a histogram of the candidates finds the digit of the
// k-th largest; those above it are kept, those below dropped, those equal stay candidates.
// Branch-free, a few passes over v (std::nth_element's compares mispredict half the time).
// `scratch`: room for the candidates, reused from call to call.
float select_largest(float* v, size_t n, size_t k, std::vector<float>& scratch) {
  size_t lo = 0, hi = n;  // v[0, lo): kept; v[lo, hi): candidates
  size_t need = k;        // values still to keep from the candidates
  if (scratch.size() < n) scratch.resize(n);
  // Digits of the bit pattern: bits 31-21, 20-10, 9-0.
  for (const auto& [shift, mask] :
       {std::pair{21, 2047u}, std::pair{10, 2047u}, std::pair{0, 1023u}}) {
    // Four histograms in turn, summed after: runs of one digit do not wait on each other.
    uint32_t counts[4][2048] = {};
    size_t j = lo;
    for (; j + 4 <= hi; j += 4)
      for (size_t h = 0; h < 4; ++h)
        ++counts[h][(std::bit_cast<uint32_t>(v[j + h]) >> shift) & mask];
    for (; j < hi; ++j) ++counts[0][(std::bit_cast<uint32_t>(v[j]) >> shift) & mask];
    uint32_t* count = counts[0];
    for (size_t h = 1; h < 4; ++h)
      for (uint32_t b = 0; b <= mask; ++b) count[b] += counts[h][b];
    uint32_t d = mask;  // the k-th largest's digit: `above` candidates beyond it
    size_t above = 0;
    while (above + count[d] < need) above += count[d--];
    size_t kept = lo, same = 0;
    for (size_t i = lo; i < hi; ++i) {
      const float a = v[i];
      const uint32_t digit = (std::bit_cast<uint32_t>(a) >> shift) & mask;
      v[kept] = a;
      kept += digit > d ? 1 : 0;
      scratch[same] = a;
      same += digit == d ? 1 : 0;
    }
    std::copy(scratch.begin(), scratch.begin() + static_cast<std::ptrdiff_t>(same), v + kept);
    lo = kept;
    hi = kept + same;
    need -= above;
  }
  // The candidates left share every bit: the k-th largest, `need` copies of it kept.
  return v[lo];
}

// What calibration saw of one tensor stream (a layer's inputs, or its hidden states).
class RangeStats {
 public:
  // `distribution`: keep the summaries of |x| the given percentile needs (else only min and
  // max).
  RangeStats(bool distribution, double percentile, RandomStream rng)
      : distribution_(distribution), rng_(rng) {
    set_rate(1.0 - percentile / 100.0);
    if (distribution_) next_ = skip();
  }

  void add(const Tensor& t) {
    if (t.dtype() != DType::f32) {
      add(t.cast(DType::f32));
      return;
    }
    const std::span<const float> x = t.span<float>();
    const size_t full = x.size() / kBlock * kBlock;
    for (size_t b = 0; b < full; b += kBlock) add_block(x.data() + b);
    add_values(x.data() + full, x.size() - full);
  }

  int64_t count() const { return count_; }
  double min() const { return count_ > 0 ? min_ : 0.0; }
  double max() const { return count_ > 0 ? max_ : 0.0; }
  double max_abs() const { return std::max(std::fabs(min()), std::fabs(max())); }

  // Percentile p of |x|: exact from the largest values when the rank falls among them (always
  // when count <= kKeep), else estimated from the sample.
  double percentile(double p) const {
    ACIM_ASSERT(distribution_, "percentile of a stream calibrated by minmax");
    if (count_ == 0) return 0.0;
    const double r = p / 100.0 * static_cast<double>(count_ - 1);
    // Ascending rank i is descending rank count - 1 - i; floor(r) is the deeper one.
    const double deepest = static_cast<double>(count_ - 1) - std::floor(r);
    // interpolate asks for ascending rank floor(r), then ceil(r): the first selection leaves
    // every value the second needs at the front, so the second selects among those only.
    std::vector<float> v, scratch;
    size_t n = 0;
    auto kth_largest = [&](size_t k) {
      const float x = select_largest(v.data(), n, k, scratch);
      n = k;
      return static_cast<double>(x);
    };
    if (deepest < static_cast<double>(top_n_)) {
      v.assign(top_.begin(), top_.begin() + static_cast<std::ptrdiff_t>(top_n_));
      n = v.size();
      // Ascending rank i of count values is the (count - i)-th largest.
      return interpolate(r, [&](size_t i) { return kth_largest(static_cast<size_t>(count_) - i); });
    }
    ACIM_ASSERT(!sample_.empty(), "calibration sample empty beyond the exact summary");
    v = sample_;
    n = v.size();
    const double rr = p / 100.0 * static_cast<double>(v.size() - 1);
    return interpolate(rr, [&](size_t i) { return kth_largest(v.size() - i); });
  }

 private:
  // kBlock values: min, max and poison (NaN when a value is infinite or NaN, since inf * 0 and
  // NaN * 0 are NaN) over kLanes-wide vectors, so the loop compiles to packed SIMD.
  void add_block(const float* x) {
    constexpr float kInf = std::numeric_limits<float>::infinity();
    Lanes lo = Lanes{} + kInf, hi = -lo, poison = {};
    for (size_t i = 0; i < kBlock; i += kLanes) {
      Lanes v;
      std::memcpy(&v, x + i, sizeof v);
      lo = v < lo ? v : lo;
      hi = v > hi ? v : hi;
      poison += v * 0.0f;
    }
    float block_lo = lo[0], block_hi = hi[0], block_poison = poison[0];
    for (size_t l = 1; l < kLanes; ++l) {
      block_lo = std::min(block_lo, lo[l]);
      block_hi = std::max(block_hi, hi[l]);
      block_poison += poison[l];
    }
    // Non-finite values (float overflow in the model) have no place on a DAC's scale: a block
    // holding one goes value by value, skipping them.
    if (block_poison != 0.0f) {
      add_values(x, kBlock);
      return;
    }
    min_ = std::min(min_, block_lo);
    max_ = std::max(max_, block_hi);
    if (distribution_) {
      if (std::max(-block_lo, block_hi) > threshold_) {
        // Branch-free: every |x| is written, the end moves past those above the threshold.
        reserve_top(kBlock);
        for (size_t i = 0; i < kBlock; ++i) {
          const float a = std::fabs(x[i]);
          top_[top_n_] = a;
          top_n_ += a > threshold_ ? 1 : 0;
        }
        if (top_n_ >= 2 * kKeep) cut_top();
      }
      const uint64_t end = static_cast<uint64_t>(count_) + kBlock;
      while (next_ < end) take(std::fabs(x[next_ - static_cast<uint64_t>(count_)]));
    }
    count_ += static_cast<int64_t>(kBlock);
  }

  // n values one by one (a block's tail, or a block holding a non-finite value).
  void add_values(const float* x, size_t n) {
    for (size_t i = 0; i < n; ++i) {
      const float v = x[i];
      if (!std::isfinite(v)) continue;
      min_ = std::min(min_, v);
      max_ = std::max(max_, v);
      if (distribution_) {
        const float a = std::fabs(v);
        if (a > threshold_) {
          reserve_top(1);
          top_[top_n_++] = a;
          if (top_n_ >= 2 * kKeep) cut_top();
        }
        if (next_ == static_cast<uint64_t>(count_)) take(a);
      }
      ++count_;
    }
  }

  // Room in top_ for n more values (top_n_ < 2 kKeep, n <= kBlock: top_ stays within
  // 2 kKeep + kBlock floats).
  void reserve_top(size_t n) {
    if (top_n_ + n <= top_.size()) return;
    top_.resize(std::min(2 * kKeep + kBlock, std::max(2 * top_.size(), top_n_ + n)));
  }

  // The largest |x| cut back to the largest kKeep; the threshold rises to the kKeep-th largest.
  void cut_top() {
    threshold_ = select_largest(top_.data(), top_n_, kKeep, scratch_);
    top_n_ = kKeep;
  }

  // |x| of value number next_ into the sample; at 2 kKeep values the sampling rate halves and
  // each kept value stays with probability 1/2 (32 coin flips per draw).
  void take(float a) {
    sample_.push_back(a);
    if (sample_.size() == 2 * kKeep) {
      set_rate(rate_ / 2);
      size_t kept = 0;
      uint32_t coins = 0;
      for (size_t i = 0; i < sample_.size(); ++i) {
        if (i % 32 == 0) coins = rng_.bits_at(coin_draws_++);
        if ((coins >> (i % 32)) & 1u) sample_[kept++] = sample_[i];
      }
      sample_.resize(kept);
    }
    next_ += 1 + skip();
  }

  void set_rate(double q) {
    rate_ = q;
    log1m_rate_ = std::log1p(-q);
  }

  // Values passed over before the next one kept: Geometric(rate_) by inversion,
  // floor(ln u / ln(1 - q)) (rate 0: never).
  uint64_t skip() {
    const double gap = std::floor(std::log(rng_.uniform_at(gap_draws_++)) / log1m_rate_);
    constexpr double kFar = 4.0e18;  // beyond any count; keeps the conversion defined
    return static_cast<uint64_t>(std::min(gap, kFar));
  }

  bool distribution_;
  RandomStream rng_;
  uint64_t gap_draws_ = 0, coin_draws_ = 0;  // draws taken of the stream: uniforms, bits
  int64_t count_ = 0;                        // finite values seen
  float min_ = std::numeric_limits<float>::infinity();
  float max_ = -std::numeric_limits<float>::infinity();
  // top_[0, top_n_): the largest |x| (unordered), none at or below threshold_ but the
  // kKeep-th largest's copies; beyond top_n_, room to write into.
  std::vector<float> top_;
  size_t top_n_ = 0;
  float threshold_ = -1.0f;     // |x| at or below it cannot be among the largest kKeep
  std::vector<float> scratch_;  // select_largest's candidates
  std::vector<float> sample_;   // Bernoulli(rate_) sample of |x|
  double rate_ = 0, log1m_rate_ = 0;
  uint64_t next_ = 0;  // number of the next value to sample
};

// ---- weights ---------------------------------------------------------------------------------

// Where a matrix view lies in its weight tensor: element (row, col) of copy c (group,
// direction) is data[c * copy_stride + row * row_stride + col * col_stride].
struct WeightView {
  Tensor tensor;     // float32
  std::string name;  // the weight's value name (QDQ weights are found by it)
  int64_t rows = 0, cols = 0, count = 1;
  int64_t copy_stride = 0, row_stride = 0, col_stride = 0;
  bool recurrent = false;  // an R matrix: reads the hidden state, not input 0
};

WeightView view_of(const Graph& g, const std::string& name, int64_t rows, int64_t cols,
                   int64_t count, bool columns_contiguous) {
  WeightView v;
  const Tensor* t = g.initializer(name);
  ACIM_ASSERT(t != nullptr, "quantise: an analog layer's weight is not an initializer");
  v.tensor = t->dtype() == DType::f32 ? *t : t->cast(DType::f32);
  v.name = name;
  v.rows = rows;
  v.cols = cols;
  v.count = count;
  v.copy_stride = rows * cols;
  v.row_stride = columns_contiguous ? 1 : cols;
  v.col_stride = columns_contiguous ? rows : 1;
  return v;
}

// The matrix views of an analog node in LayerMapping::matrices order (see lower_node in
// mapping.cpp), laid over the node's weight tensors.
std::vector<WeightView> weight_views(const Graph& g, const Node& n) {
  std::vector<WeightView> views;
  if (n.op_type == "Conv") {
    // W [Cout, Cin/g, k...]: output channel c = group * N + column, its K weights contiguous.
    const Tensor* w = g.initializer(n.inputs[1]);
    const int64_t groups = n.attr_int("group", 1);
    const int64_t cout = w->dim(0);
    views.push_back(view_of(g, n.inputs[1], w->numel() / cout, cout / groups, groups, true));
  } else if (n.op_type == "Gemm" || n.op_type == "MatMul") {
    // B [K, N], or [N, K] with transB (each column contiguous).
    const Tensor* b = g.initializer(n.inputs[1]);
    const bool trans_b = n.op_type == "Gemm" && n.attr_int("transB", 0) != 0;
    views.push_back(trans_b ? view_of(g, n.inputs[1], b->dim(1), b->dim(0), 1, true)
                            : view_of(g, n.inputs[1], b->dim(0), b->dim(1), 1, false));
  } else {
    // LSTM / GRU / RNN: W [dirs, gates*hidden, input], R [dirs, gates*hidden, hidden].
    for (size_t i : {size_t{1}, size_t{2}}) {
      const Tensor* w = g.initializer(n.inputs[i]);
      views.push_back(view_of(g, n.inputs[i], w->dim(2), w->dim(1), w->dim(0), true));
      views.back().recurrent = i == 2;
    }
  }
  return views;
}

// Calls f(column, flat index) for every element of copy `copy`, in memory order (row by row
// when rows are contiguous, column by column otherwise): large weights stream through the cache.
template <class F>
void for_each_weight(const WeightView& v, int64_t copy, F&& f) {
  const int64_t base = copy * v.copy_stride;
  if (v.col_stride == 1) {
    for (int64_t r = 0; r < v.rows; ++r)
      for (int64_t j = 0; j < v.cols; ++j) f(j, base + r * v.row_stride + j);
  } else {
    for (int64_t j = 0; j < v.cols; ++j)
      for (int64_t r = 0; r < v.rows; ++r) f(j, base + j * v.col_stride + r * v.row_stride);
  }
}

// Largest integer magnitude of a QDQ weight's type with a zero zero point (int8: 127; a -128
// weight clips by one step — symmetric quantisers use -127..127).
double qdq_qmax(const QdqWeight& q) {
  return q.is_signed ? std::ldexp(1.0, q.bits - 1) - 1.0 : std::ldexp(1.0, q.bits) - 1.0;
}

// Per element of a QDQ weight: its channel's full scale qmax * |scale|. Empty when the QDQ
// description does not fit the tensor (then the weight is treated as a float weight).
std::vector<float> qdq_channel_scale(const QdqWeight& q, const Tensor& w, int64_t& inner) {
  const size_t n = q.scale.size();
  inner = w.numel();
  if (n == 1) return {static_cast<float>(qdq_qmax(q) * std::fabs(q.scale[0]))};
  if (q.axis < 0 || q.axis >= w.rank() ||
      w.dim(static_cast<int>(q.axis)) != static_cast<int64_t>(n))
    return {};
  inner = 1;
  for (int d = static_cast<int>(q.axis) + 1; d < w.rank(); ++d) inner *= w.dim(d);
  std::vector<float> fs(n);
  for (size_t c = 0; c < n; ++c) fs[c] = static_cast<float>(qdq_qmax(q) * std::fabs(q.scale[c]));
  return fs;
}

// 1 sign bit + the bits of `steps` magnitude steps (0: continuous levels).
int signed_bits(int steps) {
  if (steps <= 0) return 0;
  int bits = 0;
  while ((int64_t{1} << bits) < int64_t{steps} + 1) ++bits;
  return 1 + bits;
}

// w rounded to the encoding's grid: `steps` magnitude steps up to full scale fs, rounded half
// away from zero as encode_weights does, clipped at the top level.
double on_grid(double w, double fs, int steps) {
  const double m = std::min(std::round(std::fabs(w) / fs * steps), static_cast<double>(steps));
  return std::copysign(m * fs / steps, w);
}

// Fills the layer's weight fields: full scales column by column and the SQNR of the grid.
void quantise_weights(const std::vector<WeightView>& views, const ChipSpec& chip,
                      const std::map<std::string, QdqWeight>& qdq, LayerQuant& lq) {
  const int steps = encoding_magnitude_steps(chip.array);
  const bool per_column = chip.array.encoding.per_column_scale;
  lq.weight_bits = signed_bits(steps);
  double signal = 0, noise = 0;
  bool all_qdq = true;
  for (const WeightView& v : views) {
    const float* w = v.tensor.data<float>();
    int64_t inner = 1;
    std::vector<float> channel_fs;
    auto it = qdq.find(v.name);
    if (it != qdq.end()) channel_fs = qdq_channel_scale(it->second, v.tensor, inner);
    all_qdq = all_qdq && !channel_fs.empty();
    const int64_t channels = static_cast<int64_t>(channel_fs.size());
    for (int64_t c = 0; c < v.count; ++c) {
      // The |w| each column's top level stands for: its largest |w|, or its channels' QDQ
      // range; over the whole matrix without per-column scales; 1 for an all-zero column, as
      // the encoding does (any scale reproduces it).
      std::vector<float> fs(static_cast<size_t>(v.cols), 0.0f);
      if (channel_fs.empty())
        for_each_weight(v, c, [&](int64_t j, int64_t i) {
          float& m = fs[static_cast<size_t>(j)];
          m = std::max(m, std::fabs(w[i]));
        });
      else
        for_each_weight(v, c, [&](int64_t j, int64_t i) {
          float& m = fs[static_cast<size_t>(j)];
          m = std::max(m, channel_fs[static_cast<size_t>((i / inner) % channels)]);
        });
      if (!per_column) std::fill(fs.begin(), fs.end(), *std::max_element(fs.begin(), fs.end()));
      for (float& m : fs)
        if (m == 0.0f) m = 1.0f;
      lq.weight_full_scale.insert(lq.weight_full_scale.end(), fs.begin(), fs.end());
      if (steps == 0) continue;
      for_each_weight(v, c, [&](int64_t j, int64_t i) {
        const double x = w[i];
        const double e = x - on_grid(x, fs[static_cast<size_t>(j)], steps);
        signal += x * x;
        noise += e * e;
      });
    }
  }
  lq.weight_source = all_qdq ? "qdq" : "encoding";
  // No noise (continuous levels, or every weight on the grid) or no signal: reported as 0.
  lq.weight_sqnr_db = signal > 0 && noise > 0 ? 10.0 * std::log10(signal / noise) : 0.0;
}

// ---- activations -----------------------------------------------------------------------------

// DAC range of an activation that came out of DequantizeLinear with constant parameters: the
// largest |(q - zero_point) * scale| its integer type allows; 0 when it is not one.
double qdq_activation_range(const Graph& g, const std::string& value) {
  const int p = g.producer(value);
  if (p < 0) return 0;
  const Node& dq = g.nodes[static_cast<size_t>(p)];
  if (dq.op_type != "DequantizeLinear") return 0;
  const Tensor* scale = dq.has_input(1) ? g.initializer(dq.inputs[1]) : nullptr;
  const Tensor* zp = dq.has_input(2) ? g.initializer(dq.inputs[2]) : nullptr;
  const ValueInfo* x = g.value_info(dq.inputs[0]);
  if (scale == nullptr || (dq.has_input(2) && zp == nullptr) || x == nullptr) return 0;
  double qmin = 0, qmax = 0;
  switch (x->dtype) {
    case DType::i8:
      qmin = -128, qmax = 127;
      break;
    case DType::u8:
      qmin = 0, qmax = 255;
      break;
    case DType::i16:
      qmin = -32768, qmax = 32767;
      break;
    case DType::u16:
      qmin = 0, qmax = 65535;
      break;
    case DType::i32:
      qmin = -2147483648.0, qmax = 2147483647.0;
      break;
    default:
      return 0;
  }
  const std::vector<double> s = scale->to_doubles();
  const std::vector<int64_t> z = zp ? zp->to_int64s() : std::vector<int64_t>(s.size(), 0);
  if (z.size() != s.size()) return 0;
  double range = 0;
  for (size_t c = 0; c < s.size(); ++c) {
    const double zc = static_cast<double>(z[c]);
    range = std::max(range, std::max(std::fabs(qmin - zc), std::fabs(qmax - zc)) * std::fabs(s[c]));
  }
  return range;
}

// Whether a recurrent node's hidden state stays in [-1, 1] from an initial state in [-1, 1]:
// RNN H = f(.), GRU H = (1 - z) h~ + z H (z = f(.) in [0, 1], h~ = g(.)), LSTM H = o * h(C)
// (o = f(.) in [0, 1]), with the ONNX defaults (Sigmoid, Tanh) or other activations bounded the
// same way.
bool hidden_state_bounded(const Node& n) {
  static const std::vector<std::string> gate = {"Sigmoid", "HardSigmoid"};
  static const std::vector<std::string> unit = {"Sigmoid", "HardSigmoid", "Tanh", "Softsign"};
  auto in = [](const std::vector<std::string>& set, const std::string& a) {
    return std::find(set.begin(), set.end(), a) != set.end();
  };
  auto it = n.attrs.find("activations");
  if (it == n.attrs.end()) return true;
  const auto* acts = std::get_if<std::vector<std::string>>(&it->second.value);
  if (acts == nullptr) return false;
  const size_t per_dir = n.op_type == "LSTM" ? 3 : n.op_type == "GRU" ? 2 : 1;
  if (acts->empty() || acts->size() % per_dir != 0) return false;
  for (size_t d = 0; d < acts->size(); d += per_dir) {
    const std::string& f = (*acts)[d];
    if (n.op_type == "RNN" && !in(unit, f)) return false;
    if (n.op_type == "GRU" && !(in(gate, f) && in(unit, (*acts)[d + 1]))) return false;
    if (n.op_type == "LSTM" && !(in(gate, f) && in(unit, (*acts)[d + 2]))) return false;
  }
  return true;
}

// What calibration watches of one analog node.
struct Watch {
  RangeStats input;   // input 0
  RangeStats hidden;  // recurrent nodes: the hidden states (Y, else Y_h, and initial_h)
  bool recurrent = false;
};

class CalibrationHooks : public RunHooks {
 public:
  CalibrationHooks(std::vector<Watch>& watches, const std::vector<int>& watch_of_node)
      : watches_(watches), watch_of_node_(watch_of_node) {}

  void observe(size_t index, const Node& node, const std::vector<const Tensor*>& inputs,
               const std::vector<Tensor>& outputs) override {
    const int k = index < watch_of_node_.size() ? watch_of_node_[index] : -1;
    if (k < 0) return;
    Watch& w = watches_[static_cast<size_t>(k)];
    // Conv's input before padding: padded zeros never reach the arrays' inputs as data.
    if (!inputs.empty() && inputs[0] != nullptr) w.input.add(*inputs[0]);
    if (!w.recurrent) return;
    if (!outputs.empty() && !outputs[0].empty())
      w.hidden.add(outputs[0]);
    else if (outputs.size() > 1 && !outputs[1].empty())
      w.hidden.add(outputs[1]);
    if (node.has_input(5) && inputs.size() > 5 && inputs[5] != nullptr) w.hidden.add(*inputs[5]);
  }

 private:
  std::vector<Watch>& watches_;
  const std::vector<int>& watch_of_node_;  // per graph node: its watch, or -1
};

double calibrated_range(const RangeStats& s, const CalibrationOptions& o) {
  return o.method == RangeMethod::minmax ? s.max_abs() : s.percentile(o.percentile);
}

}  // namespace

CalibrationOptions parse_calibration_method(const std::string& text) {
  const std::string where = "calibration method '" + text + "'";
  CalibrationOptions o;
  if (text == "minmax") {
    o.method = RangeMethod::minmax;
    return o;
  }
  const std::string prefix = "percentile";
  if (text.compare(0, prefix.size(), prefix) != 0)
    throw Error(ErrorKind::invalid, where, "is not a calibration method", kMethodChoices);
  o.method = RangeMethod::percentile;
  o.percentile = kDefaultPercentile;
  if (text.size() == prefix.size()) return o;
  // "percentile:P", or "percentile P" as calibration_method_name writes it.
  const char sep = text[prefix.size()];
  const char* first = text.data() + prefix.size() + 1;
  const char* last = text.data() + text.size();
  auto [end, ec] = std::from_chars(first, last, o.percentile);
  if ((sep != ':' && sep != ' ') || first == last || ec != std::errc() || end != last)
    throw Error(ErrorKind::invalid, where, "is not a calibration method", kMethodChoices);
  check_percentile(o.percentile, where);
  return o;
}

std::string calibration_method_name(const CalibrationOptions& options) {
  return options.method == RangeMethod::minmax ? "minmax"
                                               : "percentile " + shortest(options.percentile);
}

std::map<std::string, QdqWeight> find_qdq_weights(const Graph& imported) {
  std::map<std::string, QdqWeight> out;
  for (const Node& n : imported.nodes) {
    if (n.op_type != "DequantizeLinear" || n.outputs.empty() || n.outputs[0].empty()) continue;
    const Tensor* x = n.has_input(0) ? imported.initializer(n.inputs[0]) : nullptr;
    const Tensor* scale = n.has_input(1) ? imported.initializer(n.inputs[1]) : nullptr;
    const Tensor* zp = n.has_input(2) ? imported.initializer(n.inputs[2]) : nullptr;
    if (x == nullptr || scale == nullptr || scale->numel() < 1 || (n.has_input(2) && !zp)) continue;
    QdqWeight q;
    switch (x->dtype()) {
      case DType::i8:
        q.bits = 8, q.is_signed = true;
        break;
      case DType::u8:
        q.bits = 8, q.is_signed = false;
        break;
      case DType::i16:
        q.bits = 16, q.is_signed = true;
        break;
      case DType::u16:
        q.bits = 16, q.is_signed = false;
        break;
      case DType::i32:
        q.bits = 32, q.is_signed = true;
        break;
      default:
        continue;
    }
    // QdqWeight has no zero point: a weight with a non-zero one (an asymmetric grid the
    // arrays' symmetric encoding cannot hold) is left to the encoding's own full scale.
    if (zp != nullptr) {
      const std::vector<int64_t> z = zp->to_int64s();
      if (std::any_of(z.begin(), z.end(), [](int64_t v) { return v != 0; })) continue;
    }
    const std::vector<double> s = scale->to_doubles();
    q.scale.assign(s.begin(), s.end());
    q.axis = n.attr_int("axis", 1);
    if (q.axis < 0) q.axis += x->rank();
    out[n.outputs[0]] = std::move(q);
  }
  return out;
}

Quantisation quantise(const Graph& graph, const Mapping& mapping, const ChipSpec& chip,
                      const std::vector<TensorMap>& samples, const CalibrationOptions& options,
                      const std::map<std::string, QdqWeight>& qdq) {
  if (options.method == RangeMethod::percentile)
    check_percentile(options.percentile,
                     "calibration method '" + calibration_method_name(options) + "'");
  Quantisation q;
  q.options = options;
  q.samples = static_cast<int64_t>(samples.size());
  const std::string method = calibration_method_name(options);
  const bool percentile = options.method == RangeMethod::percentile;
  std::map<std::string, size_t> node_index;
  for (size_t i = 0; i < graph.nodes.size(); ++i) node_index[graph.nodes[i].name] = i;

  // Weights, and which activations need calibrating.
  std::vector<Watch> watches;
  std::vector<int> watch_of_node(graph.nodes.size(), -1);
  std::vector<std::vector<WeightView>> layer_views;
  std::vector<double> qdq_range(mapping.layers.size(), 0.0);
  for (size_t li = 0; li < mapping.layers.size(); ++li) {
    const LayerMapping& l = mapping.layers[li];
    auto it = node_index.find(l.node);
    if (it == node_index.end())
      throw Error(ErrorKind::invalid, graph.source.empty() ? graph.name : graph.source,
                  "the mapping's layer '" + l.node + "' is not a node of the graph",
                  "quantise with the graph the mapping was made from");
    const Node& n = graph.nodes[it->second];
    std::vector<WeightView> views = weight_views(graph, n);
    bool same = views.size() == l.matrices.size();
    for (size_t v = 0; same && v < views.size(); ++v)
      same = views[v].rows == l.matrices[v].rows && views[v].cols == l.matrices[v].cols &&
             views[v].count == l.matrices[v].count;
    if (!same)
      throw Error(ErrorKind::invalid, graph.where(n),
                  "the mapping's matrices do not match the node's weights",
                  "quantise with the graph the mapping was made from");
    LayerQuant lq;
    lq.node = l.node;
    quantise_weights(views, chip, qdq, lq);
    q.layers.push_back(std::move(lq));
    qdq_range[li] = qdq_activation_range(graph, n.inputs[0]);
    if (!samples.empty()) {
      const bool recurrent = views.back().recurrent;
      const bool bounded = !recurrent || hidden_state_bounded(n);
      const RandomStream rng(kSampleSeed, {li});
      watches.push_back(
          Watch{RangeStats(percentile && qdq_range[li] == 0, options.percentile, rng.child(0)),
                RangeStats(percentile && !bounded, options.percentile, rng.child(1)), recurrent});
      watch_of_node[it->second] = static_cast<int>(watches.size() - 1);
    }
    layer_views.push_back(std::move(views));
  }

  if (!samples.empty()) {
    Executor ex(graph);
    CalibrationHooks hooks(watches, watch_of_node);
    for (const TensorMap& s : samples) ex.run(s, &hooks);
  }

  // Input ranges per matrix view.
  for (size_t li = 0; li < q.layers.size(); ++li) {
    LayerQuant& lq = q.layers[li];
    const Node& n = graph.nodes[node_index.at(lq.node)];
    const Watch* w = samples.empty() ? nullptr : &watches[li];
    for (const WeightView& v : layer_views[li]) {
      const RangeStats* seen = w == nullptr ? nullptr : v.recurrent ? &w->hidden : &w->input;
      lq.input_min.push_back(seen ? seen->min() : 0.0);
      lq.input_max.push_back(seen ? seen->max() : 0.0);
      if (v.recurrent && hidden_state_bounded(n)) {
        // The hidden state the R matrix reads is bounded by its activations (see
        // hidden_state_bounded): the full range [-1, 1], no calibration needed.
        lq.input_range.push_back(1.0);
        lq.input_source.push_back("bounded");
      } else if (!v.recurrent && qdq_range[li] > 0) {
        lq.input_range.push_back(qdq_range[li]);
        lq.input_source.push_back("qdq");
      } else if (seen != nullptr) {
        lq.input_range.push_back(calibrated_range(*seen, options));
        lq.input_source.push_back(method);
      } else {
        lq.input_range.push_back(0.0);
        lq.input_source.push_back("none");
      }
    }
  }
  return q;
}

}  // namespace acim
