// Quantisation: calibration method text, weight full scales in the matrix views' column order
// (Conv, grouped Conv, Gemm with transB, MatMul, LSTM W/R), the encoding's weight bits and SQNR
// against the uniform-quantiser formula, activation ranges (minmax exact, percentile
// interpolation, exact high percentiles of large data, the sample within its standard error,
// non-finite values left out, bounded and calibrated recurrent states), QDQ weights and
// activations from a quantised graph, and DS-CNN on edge-voice.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "acim/chip.hpp"
#include "acim/error.hpp"
#include "acim/executor.hpp"
#include "acim/mapping.hpp"
#include "acim/npy.hpp"
#include "acim/onnx.hpp"
#include "acim/passes.hpp"
#include "acim/quantize.hpp"
#include "acim/rng.hpp"
#include "test_util.hpp"

namespace acim {
namespace {

using test::make_node;

// A graph of `nodes` reading input `input`; outputs are the last node's outputs. Not yet
// through the passes (find_qdq_weights wants the imported form).
Graph imported_graph(const std::string& input, Shape in_shape, std::vector<Node> nodes,
                     std::map<std::string, Tensor> initializers) {
  Graph g;
  g.name = "test";
  g.opset = 19;
  g.inputs.push_back(ValueInfo{input, DType::f32, std::move(in_shape), true});
  g.initializers = std::move(initializers);
  for (const std::string& o : nodes.back().outputs)
    if (!o.empty()) g.outputs.push_back(ValueInfo{o, DType::f32, {}, false});
  g.nodes = std::move(nodes);
  return g;
}

Graph passed_graph(const std::string& input, Shape in_shape, std::vector<Node> nodes,
                   std::map<std::string, Tensor> initializers) {
  Graph g = imported_graph(input, std::move(in_shape), std::move(nodes), std::move(initializers));
  run_default_passes(g);
  return g;
}

Tensor f32(const Shape& shape, const std::vector<float>& v) {
  return Tensor::from_vector<float>(shape, v);
}

// The default chip: ideal continuous cells (no weight grid), 16 arrays of 256 x 128.
ChipSpec ideal_chip() {
  return ChipSpec{};
}

Quantisation run_quantise(const Graph& g, const ChipSpec& chip, const std::vector<TensorMap>& s,
                          const CalibrationOptions& o = {}) {
  MappingOptions mo;
  mo.chips_auto = true;
  return quantise(g, map_graph(g, chip, mo), chip, s, o);
}

void expect_scales(const std::vector<float>& got, const std::vector<float>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) EXPECT_FLOAT_EQ(got[i], want[i]) << "column " << i;
}

void expect_invalid(const std::string& text) {
  try {
    parse_calibration_method(text);
    ADD_FAILURE() << "'" << text << "' parsed";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::invalid);
    const std::string msg = e.what();
    EXPECT_NE(msg.find("'" + text + "'"), std::string::npos) << msg;
    EXPECT_NE(msg.find("minmax"), std::string::npos) << msg;
    EXPECT_NE(msg.find("percentile:P"), std::string::npos) << msg;
  }
}

TEST(Quantise, CalibrationMethodText) {
  EXPECT_EQ(parse_calibration_method("minmax").method, RangeMethod::minmax);
  CalibrationOptions p = parse_calibration_method("percentile");
  EXPECT_EQ(p.method, RangeMethod::percentile);
  EXPECT_DOUBLE_EQ(p.percentile, 99.99);
  EXPECT_EQ(calibration_method_name(p), "percentile 99.99");
  p = parse_calibration_method("percentile:99.9");
  EXPECT_DOUBLE_EQ(p.percentile, 99.9);
  EXPECT_EQ(calibration_method_name(p), "percentile 99.9");
  EXPECT_DOUBLE_EQ(parse_calibration_method("percentile:100").percentile, 100.0);
  // The name parses back.
  EXPECT_DOUBLE_EQ(parse_calibration_method(calibration_method_name(p)).percentile, 99.9);
  EXPECT_EQ(calibration_method_name(parse_calibration_method("minmax")), "minmax");
  for (const char* bad :
       {"max", "", "percentile:", "percentile:0", "percentile:-5", "percentile:100.5",
        "percentile:abc", "percentile:99x", "percentile99", "percentile:nan"})
    expect_invalid(bad);
}

TEST(Quantise, ConvFullScalePerOutputChannel) {
  // W [3, 2, 2, 2]: small weights, and in channel c one weight of -(c + 1) / 2.
  std::vector<float> w(24, 0.1f);
  w[0 * 8 + 5] = -0.5f;
  w[1 * 8 + 0] = -1.0f;
  w[2 * 8 + 7] = -1.5f;
  Graph g = passed_graph("x", {1, 2, 5, 5}, {make_node("conv", "Conv", {"x", "w"}, {"y"})},
                         {{"w", f32({3, 2, 2, 2}, w)}});
  ChipSpec chip = ideal_chip();
  Quantisation q = run_quantise(g, chip, {});
  ASSERT_EQ(q.layers.size(), 1u);
  const LayerQuant& l = q.layers[0];
  EXPECT_EQ(l.node, "conv");
  EXPECT_EQ(l.weight_source, "encoding");
  expect_scales(l.weight_full_scale, {0.5f, 1.0f, 1.5f});
  // Continuous levels: no grid, no quantisation noise.
  EXPECT_EQ(l.weight_bits, 0);
  EXPECT_EQ(l.weight_sqnr_db, 0.0);
  // No samples: nothing calibrated.
  EXPECT_EQ(q.samples, 0);
  ASSERT_EQ(l.input_range.size(), 1u);
  EXPECT_EQ(l.input_range[0], 0.0);
  EXPECT_EQ(l.input_source[0], "none");

  chip.array.encoding.per_column_scale = false;
  expect_scales(run_quantise(g, chip, {}).layers[0].weight_full_scale, {1.5f, 1.5f, 1.5f});
}

TEST(Quantise, GroupedConvColumnsAreGroupMajor) {
  // group 2, W [4, 1, 3, 3]: view 9 x 2, two copies; output channel c has max |w| = c + 1, an
  // all-zero channel keeps the encoding's scale of 1.
  std::vector<float> w(36, 0.0f);
  for (int c = 0; c < 3; ++c)
    w[static_cast<size_t>(c * 9 + (c * 4) % 9)] =
        (c % 2 ? -1.0f : 1.0f) * static_cast<float>(c + 1);
  Graph g = passed_graph(
      "x", {1, 2, 6, 6},
      {make_node("conv", "Conv", {"x", "w"}, {"y"}, {{"group", Attribute{int64_t{2}}}})},
      {{"w", f32({4, 1, 3, 3}, w)}});
  MappingOptions mo;
  Mapping m = map_graph(g, ideal_chip(), mo);
  ASSERT_EQ(m.layers[0].matrices.size(), 1u);
  EXPECT_EQ(m.layers[0].matrices[0].cols, 2);
  EXPECT_EQ(m.layers[0].matrices[0].count, 2);
  Quantisation q = quantise(g, m, ideal_chip(), {}, {});
  expect_scales(q.layers[0].weight_full_scale, {1.0f, 2.0f, 3.0f, 1.0f});
}

TEST(Quantise, GemmTransBAndMatMulColumns) {
  // Gemm transB: B [N=3, K=4], column j is row j of B; its largest |w| is j + 1.
  Graph gemm = passed_graph(
      "a", {2, 4},
      {make_node("gemm", "Gemm", {"a", "b"}, {"y"}, {{"transB", Attribute{int64_t{1}}}})},
      {{"b", f32({3, 4}, {1, 0, 0, 0, 0, -2, 0, 0, 0, 0, 0, 3})}});
  expect_scales(run_quantise(gemm, ideal_chip(), {}).layers[0].weight_full_scale, {1, 2, 3});
  // MatMul: B [K=4, N=3], column j is B[:, j].
  Graph mm = passed_graph("a", {2, 4}, {make_node("mm", "MatMul", {"a", "b"}, {"y"})},
                          {{"b", f32({4, 3}, {0, 0, -3, 1, 0, 0, 0, 2, 0, 0.5f, 0, 0})}});
  expect_scales(run_quantise(mm, ideal_chip(), {}).layers[0].weight_full_scale, {1, 2, 3});
}

TEST(Quantise, LstmViewsAndBoundedRecurrentRange) {
  // Bidirectional LSTM, input 5, hidden 4: W [2, 16, 5], R [2, 16, 4]. Column j of direction d
  // holds its largest weight first: W (16 d + j + 1) / 10, R -(16 d + j + 1) / 20.
  const int hidden = 4, input = 5, gates = 16;
  std::vector<float> w(2 * gates * input, 0.01f), r(2 * gates * hidden, 0.01f);
  std::vector<float> want_w, want_r;
  for (int d = 0; d < 2; ++d)
    for (int j = 0; j < gates; ++j) {
      const float k = static_cast<float>(gates * d + j + 1);
      w[static_cast<size_t>((d * gates + j) * input)] = k / 10;
      r[static_cast<size_t>((d * gates + j) * hidden)] = -k / 20;
      want_w.push_back(k / 10);
      want_r.push_back(k / 20);
    }
  Graph g = passed_graph("x", {3, 1, input},
                         {make_node("lstm", "LSTM", {"x", "w", "r"}, {"y"},
                                    {{"hidden_size", Attribute{int64_t{hidden}}},
                                     {"direction", Attribute{std::string("bidirectional")}}})},
                         {{"w", f32({2, gates, input}, w)}, {"r", f32({2, gates, hidden}, r)}});
  std::vector<float> xs(15);
  for (size_t i = 0; i < xs.size(); ++i) xs[i] = 0.3f * static_cast<float>(i) - 2.4f;  // |x| <= 2.4
  Quantisation q = run_quantise(g, ideal_chip(), {{{"x", f32({3, 1, input}, xs)}}},
                                parse_calibration_method("minmax"));
  ASSERT_EQ(q.layers.size(), 1u);
  const LayerQuant& l = q.layers[0];
  std::vector<float> want = want_w;
  want.insert(want.end(), want_r.begin(), want_r.end());
  expect_scales(l.weight_full_scale, want);
  ASSERT_EQ(l.input_range.size(), 2u);
  EXPECT_EQ(l.input_source[0], "minmax");
  EXPECT_DOUBLE_EQ(l.input_range[0], -xs[0]);
  EXPECT_DOUBLE_EQ(l.input_min[0], xs[0]);
  EXPECT_DOUBLE_EQ(l.input_max[0], xs.back());
  EXPECT_EQ(l.input_source[1], "bounded");
  EXPECT_EQ(l.input_range[1], 1.0);
  // The hidden states seen lie in (-1, 1) and are not all zero.
  EXPECT_GT(l.input_min[1], -1.0);
  EXPECT_LT(l.input_max[1], 1.0);
  EXPECT_LT(l.input_min[1], l.input_max[1]);
}

TEST(Quantise, UnboundedRecurrentStateIsCalibrated) {
  // An RNN with Relu: its hidden state has no bound, so R's range comes from the states seen:
  // max |Y| over the run (initial state zero).
  const int hidden = 3, input = 2;
  Graph g =
      passed_graph("x", {4, 1, input},
                   {make_node("rnn", "RNN", {"x", "w", "r"}, {"y"},
                              {{"hidden_size", Attribute{int64_t{hidden}}},
                               {"activations", Attribute{std::vector<std::string>{"Relu"}}}})},
                   {{"w", f32({1, hidden, input}, {1, 2, -1, 0.5f, 3, 1})},
                    {"r", f32({1, hidden, hidden}, {0.5f, 0, 0, 0, 0.5f, 0, 0.2f, 0, 0.9f})}});
  Tensor x = f32({4, 1, input}, {1, 2, 3, -1, 0.5f, 2, -2, 1});
  TensorMap out = Executor(g).run({{"x", x}});
  double y_max = 0;
  for (float v : out.at("y").span<float>())
    y_max = std::max(y_max, std::fabs(static_cast<double>(v)));
  ASSERT_GT(y_max, 1.0);
  Quantisation q = run_quantise(g, ideal_chip(), {{{"x", x}}}, parse_calibration_method("minmax"));
  const LayerQuant& l = q.layers[0];
  ASSERT_EQ(l.input_source.size(), 2u);
  EXPECT_EQ(l.input_source[0], "minmax");
  EXPECT_DOUBLE_EQ(l.input_range[0], 3.0);
  EXPECT_EQ(l.input_source[1], "minmax");
  EXPECT_DOUBLE_EQ(l.input_range[1], y_max);
}

// Gemm reading A [rows, cols] into one output.
Graph gemm_graph(int64_t rows, int64_t cols) {
  return passed_graph("a", {rows, cols}, {make_node("gemm", "Gemm", {"a", "b"}, {"y"})},
                      {{"b", f32({cols, 1}, std::vector<float>(static_cast<size_t>(cols), 1.0f))}});
}

TEST(Quantise, MinmaxAndPercentileOnKnownValues) {
  // |x| = 1..1000 with alternating signs, over two samples of 500.
  std::vector<TensorMap> samples;
  for (int s = 0; s < 2; ++s) {
    std::vector<float> v(500);
    for (int i = 0; i < 500; ++i) {
      int k = s * 500 + i + 1;
      v[static_cast<size_t>(i)] = static_cast<float>(k % 2 ? -k : k);
    }
    samples.push_back({{"a", f32({5, 100}, v)}});
  }
  Graph g = gemm_graph(5, 100);
  Quantisation mm = run_quantise(g, ideal_chip(), samples, parse_calibration_method("minmax"));
  EXPECT_EQ(mm.samples, 2);
  const LayerQuant& l = mm.layers[0];
  EXPECT_EQ(l.input_range[0], 1000.0);
  EXPECT_EQ(l.input_min[0], -999.0);
  EXPECT_EQ(l.input_max[0], 1000.0);
  // Percentile p: rank r = p/100 * 999 among 1..1000 ascending, linearly interpolated: 1 + r.
  for (double p : {50.0, 90.0, 99.0, 99.99, 100.0}) {
    CalibrationOptions o;
    o.percentile = p;
    const LayerQuant lp = run_quantise(g, ideal_chip(), samples, o).layers[0];
    EXPECT_NEAR(lp.input_range[0], 1.0 + p / 100.0 * 999.0, 1e-9) << p;
    EXPECT_LE(lp.input_range[0], l.input_range[0]);
    EXPECT_EQ(lp.input_source[0], calibration_method_name(o));
  }
}

TEST(Quantise, ConvPaddingIsNotAnInput) {
  // x = 2 x 2 ones under 2 pixels of padding each side: 32 of the 36 padded values are zeros,
  // but only the 4 ones are data. Their median is 1 (with the zeros it would be 0).
  Graph g = passed_graph("x", {1, 1, 2, 2},
                         {make_node("conv", "Conv", {"x", "w"}, {"y"},
                                    {{"pads", Attribute{std::vector<int64_t>{2, 2, 2, 2}}}})},
                         {{"w", f32({1, 1, 3, 3}, std::vector<float>(9, 1.0f))}});
  CalibrationOptions o;
  o.percentile = 50;
  const LayerQuant l =
      run_quantise(g, ideal_chip(), {{{"x", f32({1, 1, 2, 2}, {1, 1, 1, 1})}}}, o).layers[0];
  EXPECT_EQ(l.input_range[0], 1.0);
  EXPECT_EQ(l.input_min[0], 1.0);
}

TEST(Quantise, NonFiniteInputsAreLeftOut) {
  // 200 values |x| = 1..200 (signs alternating) with NaN, +inf and -inf in place of three of
  // them: in a full block of the vectorised pass, in another, and in the tail after the last
  // full block. Ranges come from the 197 finite values only, exactly.
  std::vector<float> v(200);
  for (size_t i = 0; i < v.size(); ++i)
    v[i] = static_cast<float>(i % 2 ? -static_cast<double>(i + 1) : static_cast<double>(i + 1));
  v[9] = std::numeric_limits<float>::quiet_NaN();    // |x| = 10 out
  v[69] = std::numeric_limits<float>::infinity();    // |x| = 70 out
  v[198] = -std::numeric_limits<float>::infinity();  // |x| = 199 out
  std::vector<float> finite;
  for (float x : v)
    if (std::isfinite(x)) finite.push_back(std::fabs(x));
  std::sort(finite.begin(), finite.end());
  ASSERT_EQ(finite.size(), 197u);
  std::vector<TensorMap> samples = {{{"a", f32({2, 100}, v)}}};
  Graph g = gemm_graph(2, 100);
  const LayerQuant mm =
      run_quantise(g, ideal_chip(), samples, parse_calibration_method("minmax")).layers[0];
  // Odd |x| are positive: the largest, 199, is the one replaced by -inf.
  EXPECT_EQ(mm.input_min[0], -200.0);
  EXPECT_EQ(mm.input_max[0], 197.0);
  EXPECT_EQ(mm.input_range[0], 200.0);
  for (double p : {10.0, 50.0, 99.0, 100.0}) {
    CalibrationOptions o;
    o.percentile = p;
    const double r = p / 100.0 * 196.0;
    const size_t lo = static_cast<size_t>(std::floor(r)), hi = static_cast<size_t>(std::ceil(r));
    const double want = finite[lo] + (r - std::floor(r)) * (finite[hi] - finite[lo]);
    EXPECT_NEAR(run_quantise(g, ideal_chip(), samples, o).layers[0].input_range[0], want, 1e-9)
        << p;
  }
}

TEST(Quantise, SampledPercentileWithinItsStandardError) {
  // N = 262144 = 4 x 65536 values (more than the summaries keep), |x| = (i + 1/2) / N, signs
  // alternating, in ascending order (every value beats the running threshold of the exact
  // summary: its worst case): the true percentile p of |x| is p/100 within 1/N.
  const int64_t rows = 2048, cols = 128, n = rows * cols;
  std::vector<float> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i)
    v[static_cast<size_t>(i)] = static_cast<float>(
        (i % 2 ? -1.0 : 1.0) * (static_cast<double>(i) + 0.5) / static_cast<double>(n));
  std::vector<TensorMap> samples = {{{"a", f32({rows, cols}, v)}}};
  Graph g = gemm_graph(rows, cols);

  // 99.99 and 90: the rank falls among the largest 65536 values kept exactly ((1 - p/100) N <
  // 65536): (r + 1/2) / N.
  CalibrationOptions o;
  for (double p : {99.99, 90.0}) {
    o.percentile = p;
    const double r = p / 100 * static_cast<double>(n - 1);
    EXPECT_NEAR(run_quantise(g, ideal_chip(), samples, o).layers[0].input_range[0],
                (r + 0.5) / static_cast<double>(n), 1e-6)
        << p;
  }

  // 50 and 10: from the uniform sample. It starts at rate 1 - p/100 and halves at 131072
  // values (at 10, after ~145000 values, it thins to ~65536 and grows to ~118000), so it holds
  // m >= 0.9 * 65536 values (the thinned size is Binomial(131072, 1/2), sd 181). The sample's
  // p-quantile has standard error sqrt(p (1 - p) / m) in probability, the same in value here
  // (|x| is uniform on [0, 1]): at most 0.00206 (median). Allowed: 5 of them.
  const double m = 0.9 * 65536;
  for (double p : {0.5, 0.1}) {
    o.percentile = 100 * p;
    const double se = std::sqrt(p * (1 - p) / m);
    const double got = run_quantise(g, ideal_chip(), samples, o).layers[0].input_range[0];
    EXPECT_NEAR(got, p, 5 * se) << p;
  }

  const LayerQuant l =
      run_quantise(g, ideal_chip(), samples, parse_calibration_method("minmax")).layers[0];
  EXPECT_FLOAT_EQ(static_cast<float>(l.input_range[0]), static_cast<float>((n - 0.5) / n));
}

TEST(Quantise, ExactPercentileAmongManyEqualValues) {
  // N = 262144 values, as after a ReLU: three in four are 0, value 4j is (4j + 1/2) / N. The
  // cut of the exact summary meets long runs of equal values (the zeros, before the threshold
  // passes them). 90: ascending rank r = 0.9 (N - 1) lies among the non-zero values, at
  // non-zero rank r - 3N/4, (4 (r - 3N/4) + 1/2) / N between neighbours 4 apart in value.
  const int64_t rows = 2048, cols = 128, n = rows * cols;
  std::vector<float> v(static_cast<size_t>(n), 0.0f);
  for (int64_t i = 0; i < n; i += 4)
    v[static_cast<size_t>(i)] =
        static_cast<float>((static_cast<double>(i) + 0.5) / static_cast<double>(n));
  Graph g = gemm_graph(rows, cols);
  std::vector<TensorMap> samples = {{{"a", f32({rows, cols}, v)}}};
  CalibrationOptions o;
  o.percentile = 90;
  const double r = 0.9 * static_cast<double>(n - 1) - 0.75 * static_cast<double>(n);
  EXPECT_NEAR(run_quantise(g, ideal_chip(), samples, o).layers[0].input_range[0],
              (4 * r + 0.5) / static_cast<double>(n), 1e-6);
  // All values equal: every percentile is that value, from either summary.
  samples = {{{"a", f32({rows, cols}, std::vector<float>(static_cast<size_t>(n), -0.25f))}}};
  for (double p : {99.99, 50.0}) {
    o.percentile = p;
    EXPECT_EQ(run_quantise(g, ideal_chip(), samples, o).layers[0].input_range[0], 0.25) << p;
  }
}

TEST(Quantise, WeightBitsAndSqnrOfTheEncodingGrid) {
  // B [256, 16] uniform on [-1, 1] with one weight per column at +-1 (full scale exactly 1).
  // edge-voice: 8-bit weights as 7 one-bit slices, 127 magnitude steps: 8 signed bits. A
  // uniform quantiser of step 1/127 on a uniform signal: SQNR = (1/3) / (step^2 / 12) =
  // (2 * 127)^2 -> 48.10 dB. The estimate from n weights has relative sd sqrt(0.8 / n) for the
  // signal's and the noise's sums each (Var(u^2) / E(u^2)^2 = 0.8 for uniform u): in dB
  // 10 / ln 10 * sqrt(1.6 / n) = 0.086 dB for n = 4096. Allowed: 5 of them.
  const int64_t k = 256, cols = 16;
  std::vector<float> w(static_cast<size_t>(k * cols));
  RandomStream(7).uniform(w.data(), w.size());
  for (float& x : w) x = 2 * x - 1;
  for (int64_t j = 0; j < cols; ++j)
    w[static_cast<size_t>((j * 37 % k) * cols + j)] = j % 2 ? -1.0f : 1.0f;
  Graph g = passed_graph("a", {1, k}, {make_node("mm", "MatMul", {"a", "b"}, {"y"})},
                         {{"b", f32({k, cols}, w)}});
  const LayerQuant l = run_quantise(g, chip_preset("edge-voice"), {}).layers[0];
  EXPECT_EQ(l.weight_bits, 8);
  expect_scales(l.weight_full_scale, std::vector<float>(static_cast<size_t>(cols), 1.0f));
  const double sd_db = 10 / std::log(10.0) * std::sqrt(1.6 / static_cast<double>(k * cols));
  EXPECT_NEAR(l.weight_sqnr_db, 20 * std::log10(2 * 127.0), 5 * sd_db);

  // 16-level differential cells: 15 steps, 5 signed bits, (2 * 15)^2 -> 29.54 dB.
  ChipSpec c16 = ideal_chip();
  c16.array.cell.levels = 16;
  const LayerQuant l16 = run_quantise(g, c16, {}).layers[0];
  EXPECT_EQ(l16.weight_bits, 5);
  EXPECT_NEAR(l16.weight_sqnr_db, 20 * std::log10(2 * 15.0), 5 * sd_db);
}

TEST(Quantise, QdqWeightsAndActivations) {
  // x -> Conv(W = DequantizeLinear(int8, per-channel scale, axis 0)) -> Flatten ->
  // QuantizeLinear / DequantizeLinear (int8, zero point 3) -> Gemm.
  std::vector<int8_t> wq(3 * 2 * 3 * 3);
  for (size_t i = 0; i < wq.size(); ++i)
    wq[i] = static_cast<int8_t>(static_cast<int>(i * 29 % 255) - 127);
  const std::vector<float> ws = {0.01f, 0.02f, 0.04f};
  std::vector<float> b(5 * 48);
  for (size_t i = 0; i < b.size(); ++i) b[i] = static_cast<float>(static_cast<int>(i % 7) - 3) / 8;
  std::vector<Node> nodes = {
      make_node("dq_u", "DequantizeLinear", {"uq", "us", "uzp"}, {"u"}),
      make_node("dq_w", "DequantizeLinear", {"wq", "ws", "wzp"}, {"w"},
                {{"axis", Attribute{int64_t{0}}}}),
      make_node("conv", "Conv", {"x", "w"}, {"c"},
                {{"pads", Attribute{std::vector<int64_t>{1, 1, 1, 1}}}}),
      make_node("flat", "Flatten", {"c"}, {"f"}),
      make_node("q_a", "QuantizeLinear", {"f", "as", "azp"}, {"fq"}),
      make_node("dq_a", "DequantizeLinear", {"fq", "as", "azp"}, {"fd"}),
      make_node("gemm", "Gemm", {"fd", "b"}, {"y"}, {{"transB", Attribute{int64_t{1}}}})};
  Graph imported = imported_graph("x", {1, 2, 4, 4}, nodes,
                                  {{"wq", Tensor::from_vector<int8_t>({3, 2, 3, 3}, wq)},
                                   {"ws", f32({3}, ws)},
                                   {"wzp", Tensor::from_vector<int8_t>({3}, {0, 0, 0})},
                                   {"as", Tensor::scalar<float>(0.05f)},
                                   {"azp", Tensor::scalar<int8_t>(3)},
                                   {"b", f32({5, 48}, b)},
                                   {"uq", Tensor::from_vector<uint8_t>({2}, {0, 255})},
                                   {"us", Tensor::scalar<float>(0.5f)},
                                   {"uzp", Tensor::scalar<uint8_t>(128)}});

  std::map<std::string, QdqWeight> qdq = find_qdq_weights(imported);
  // The activation's DequantizeLinear reads no constant; the uint8 one has a non-zero zero
  // point (an asymmetric grid QdqWeight cannot describe).
  ASSERT_EQ(qdq.size(), 1u);
  const QdqWeight& qw = qdq.at("w");
  EXPECT_EQ(qw.scale, ws);
  EXPECT_EQ(qw.axis, 0);
  EXPECT_EQ(qw.bits, 8);
  EXPECT_TRUE(qw.is_signed);

  Graph g = imported;
  run_default_passes(g);
  // fold-constants turned the weight's DequantizeLinear into a float initializer of its name.
  ASSERT_NE(g.find_node("conv"), nullptr);
  EXPECT_EQ(g.find_node("conv")->inputs[1], "w");
  ASSERT_TRUE(g.is_initializer("w"));

  Tensor x(DType::f32, {1, 2, 4, 4});
  RandomStream(3).normal(x.data<float>(), 32);
  MappingOptions mo;
  Mapping m = map_graph(g, ideal_chip(), mo);
  Quantisation q =
      quantise(g, m, ideal_chip(), {{{"x", x}}}, parse_calibration_method("minmax"), qdq);
  ASSERT_EQ(q.layers.size(), 2u);
  const LayerQuant& conv = q.layers[0];
  EXPECT_EQ(conv.node, "conv");
  EXPECT_EQ(conv.weight_source, "qdq");
  expect_scales(conv.weight_full_scale, {127 * 0.01f, 127 * 0.02f, 127 * 0.04f});
  double x_max = 0;
  for (float v : x.span<float>()) x_max = std::max(x_max, std::fabs(static_cast<double>(v)));
  EXPECT_EQ(conv.input_source[0], "minmax");
  EXPECT_DOUBLE_EQ(conv.input_range[0], x_max);

  const LayerQuant& gemm = q.layers[1];
  EXPECT_EQ(gemm.weight_source, "encoding");
  expect_scales(gemm.weight_full_scale, std::vector<float>(5, 3.0f / 8));
  // int8 with zero point 3: max(|-128 - 3|, |127 - 3|) * 0.05.
  EXPECT_EQ(gemm.input_source[0], "qdq");
  EXPECT_DOUBLE_EQ(gemm.input_range[0], 131 * static_cast<double>(0.05f));

  // Without samples the QDQ range stands; the Conv's is not calibrated.
  Quantisation none = quantise(g, m, ideal_chip(), {}, {}, qdq);
  EXPECT_EQ(none.layers[0].input_source[0], "none");
  EXPECT_EQ(none.layers[1].input_source[0], "qdq");
  EXPECT_DOUBLE_EQ(none.layers[1].input_range[0], 131 * static_cast<double>(0.05f));

  // On edge-voice's 127-step grid the int8 weights sit on the grid (qmax * scale / 127 =
  // scale): no noise beyond float rounding (0 reports none at all).
  const LayerQuant ev = quantise(g, map_graph(g, chip_preset("edge-voice"), mo),
                                 chip_preset("edge-voice"), {}, {}, qdq)
                            .layers[0];
  EXPECT_TRUE(ev.weight_sqnr_db == 0 || ev.weight_sqnr_db > 100) << ev.weight_sqnr_db;
}

TEST(Quantise, MappingOfAnotherGraphIsAnError) {
  Graph g = gemm_graph(2, 4);
  Mapping m = map_graph(g, ideal_chip());
  m.layers[0].node = "elsewhere";
  try {
    quantise(g, m, ideal_chip(), {}, {});
    ADD_FAILURE() << "quantised a mapping of another graph";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::invalid);
    EXPECT_NE(std::string(e.what()).find("'elsewhere'"), std::string::npos) << e.what();
  }
}

TEST(Quantise, DsCnnOnEdgeVoice) {
  Graph g = load_onnx(std::string(ACIM_SOURCE_DIR) + "/zoo/kws/ds_cnn_s.onnx");
  run_default_passes(g);
  ChipSpec chip = chip_preset("edge-voice");
  MappingOptions mo;
  mo.chips_auto = true;
  Mapping m = map_graph(g, chip, mo);
  ASSERT_EQ(g.inputs.size(), 1u);
  std::vector<TensorMap> samples = {
      {{g.inputs[0].name, load_npy(std::string(ACIM_SOURCE_DIR) + "/examples/kws_input.npy")}}};
  Quantisation q = quantise(g, m, chip, samples, {});
  ASSERT_EQ(q.layers.size(), m.layers.size());
  ASSERT_GT(q.layers.size(), 0u);
  for (size_t i = 0; i < q.layers.size(); ++i) {
    const LayerQuant& l = q.layers[i];
    const LayerMapping& lm = m.layers[i];
    EXPECT_EQ(l.node, lm.node);
    ASSERT_EQ(l.input_range.size(), lm.matrices.size()) << l.node;
    size_t cols = 0;
    for (const MatrixView& v : lm.matrices) cols += static_cast<size_t>(v.cols * v.count);
    EXPECT_EQ(l.weight_full_scale.size(), cols) << l.node;
    for (float f : l.weight_full_scale) EXPECT_GT(f, 0.0f) << l.node;
    EXPECT_EQ(l.weight_bits, 8);
    EXPECT_EQ(l.weight_source, "encoding");
    EXPECT_GT(l.weight_sqnr_db, 20.0) << l.node;
    for (size_t v = 0; v < l.input_range.size(); ++v) {
      EXPECT_EQ(l.input_source[v], "percentile 99.99") << l.node;
      EXPECT_GT(l.input_range[v], 0.0) << l.node;
      EXPECT_LE(l.input_range[v], std::max(-l.input_min[v], l.input_max[v])) << l.node;
    }
  }
}

}  // namespace
}  // namespace acim
