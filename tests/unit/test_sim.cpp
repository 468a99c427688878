// The chip-instance simulator end to end: compiled Programs run on simulated arrays.
//   - Ideal runs (SimOptions::ideal: exact continuous cells, no DAC/ADC, no noise) must equal
//     the reference executor to float rounding, whatever the cut: several row blocks (partial
//     sums), several column blocks, block-diagonal packs (depthwise conv), groups, directions,
//     replicas. Covered per layer kind (Conv 2-D and 1-D, depthwise, grouped, Gemm, MatMul 3-D,
//     bidirectional LSTM, GRU, RNN, an attention block) and on the zoo models.
//   - A non-ideal run differs from the reference, within a bound derived below, and is a pure
//     function of (seed, instance): bit-identical across instances with the same key and thread
//     counts, different for another instance.
//   - The simulator checks its cut against the mapping; the crossbar's full-scale and
//     input-range options do what they say.
#include <gtest/gtest.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "acim/chip.hpp"
#include "acim/crossbar.hpp"
#include "acim/error.hpp"
#include "acim/npy.hpp"
#include "acim/onnx.hpp"
#include "acim/program.hpp"
#include "acim/rng.hpp"
#include "acim/sim.hpp"
#include "sim/lowering.hpp"
#include "sim/view_arrays.hpp"
#include "test_util.hpp"

namespace acim {
namespace {

using test::make_node;

// N(0, 1) * scale, from a stream keyed by `key`.
Tensor random_tensor(const Shape& shape, uint64_t key, float scale = 1.0f) {
  Tensor t(DType::f32, shape);
  RandomStream(1234, {key}).normal(t.data<float>(), static_cast<size_t>(t.numel()));
  for (float& v : t.span<float>()) v *= scale;
  return t;
}

// Bit-for-bit equality of two float tensors.
bool same_bits(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() &&
         std::memcmp(a.data<float>(), b.data<float>(), static_cast<size_t>(a.nbytes())) == 0;
}

struct GraphSpec {
  std::vector<std::pair<std::string, Shape>> inputs;
  std::vector<Node> nodes;
  std::map<std::string, Tensor> weights;
  std::vector<std::string> outputs;
};

Graph make_graph(GraphSpec s) {
  Graph g;
  g.name = "sim_test";
  g.opset = 17;
  for (auto& [name, shape] : s.inputs) g.inputs.push_back(ValueInfo{name, DType::f32, shape, true});
  g.initializers = std::move(s.weights);
  for (const std::string& o : s.outputs) g.outputs.push_back(ValueInfo{o, DType::f32, {}, false});
  g.nodes = std::move(s.nodes);
  return g;
}

// edge-voice's arrays cut down to 32 rows x 6 weight columns (bit-sliced: 7 differential
// one-bit slices per weight, 84 physical columns), so small layers already need several row
// and column blocks; as many chips as the model needs.
ChipSpec small_chip() {
  ChipSpec c = chip_preset("edge-voice");
  c.array.rows = 32;
  c.array.cols = 84;
  EXPECT_EQ(c.array.logical_cols(), 6);
  return c;
}

Program compile(Graph g, const ChipSpec& chip) {
  CompileOptions o;
  o.mapping.chips_auto = true;
  o.random_calibration = 4;
  o.keep_calibration = 4;
  return compile_program(std::move(g), chip, o);
}

// max |got - want| / max |want| over every output.
double max_rel_error(const TensorMap& got, const TensorMap& want) {
  double err = 0, scale = 0;
  for (const auto& [name, w] : want) {
    auto it = got.find(name);
    EXPECT_NE(it, got.end()) << name;
    if (it == got.end()) return INFINITY;
    EXPECT_EQ(it->second.shape(), w.shape()) << name;
    const auto a = it->second.span<float>();
    const auto b = w.span<float>();
    for (size_t i = 0; i < b.size() && i < a.size(); ++i) {
      err = std::max(err, std::fabs(static_cast<double>(a[i]) - b[i]));
      scale = std::max(scale, std::fabs(static_cast<double>(b[i])));
    }
  }
  return scale > 0 ? err / scale : err;
}

int64_t mapped_arrays(const Program& p) {
  int64_t n = 0;
  for (const LayerMapping& l : p.mapping.layers) n += l.arrays();
  return n;
}

// The ideal chip reproduces the reference executor; returns the program for further checks.
Program expect_ideal_matches(Graph g, const TensorMap& inputs, const ChipSpec& chip) {
  Program p = compile(std::move(g), chip);
  EXPECT_FALSE(p.mapping.layers.empty());
  const TensorMap want = Executor(p.graph).run(inputs);
  ChipInstance sim(p, SimOptions{.ideal = true});
  EXPECT_EQ(sim.arrays(), mapped_arrays(p));
  EXPECT_LE(max_rel_error(sim.run(inputs), want), 1e-4);
  return p;
}

const LayerMapping& layer(const Program& p, const std::string& node) {
  for (const LayerMapping& l : p.mapping.layers)
    if (l.node == node) return l;
  ADD_FAILURE() << "no analog layer " << node;
  return p.mapping.layers.at(0);
}

Graph conv_graph(int64_t cin, int64_t cout, int64_t group, std::map<std::string, Attribute> attrs,
                 Shape x_shape, Shape kernel, bool bias) {
  Shape w_shape{cout, cin / group};
  w_shape.insert(w_shape.end(), kernel.begin(), kernel.end());
  GraphSpec s;
  s.inputs = {{"x", x_shape}};
  s.weights["w"] = random_tensor(w_shape, 1, 0.3f);
  std::vector<std::string> in{"x", "w"};
  if (bias) {
    s.weights["b"] = random_tensor({cout}, 2);
    in.push_back("b");
  }
  attrs["group"] = Attribute{group};
  s.nodes.push_back(make_node("conv", "Conv", in, {"y"}, attrs));
  s.outputs = {"y"};
  return make_graph(std::move(s));
}

TEST(Sim, IdealConvStrideTwoPaddedSeveralRowAndColumnBlocks) {
  // K = 4 * 3 * 3 = 36 > 32 rows (2 row blocks), N = 10 > 6 columns (2 column blocks).
  Graph g = conv_graph(4, 10, 1,
                       {{"strides", Attribute{std::vector<int64_t>{2, 2}}},
                        {"pads", Attribute{std::vector<int64_t>{1, 1, 1, 1}}}},
                       {2, 4, 9, 9}, {3, 3}, true);
  Program p =
      expect_ideal_matches(std::move(g), {{"x", random_tensor({2, 4, 9, 9}, 3)}}, small_chip());
  const LayerMapping& l = layer(p, "conv");
  EXPECT_EQ(l.row_blocks, 2);
  EXPECT_EQ(l.col_blocks, 2);
}

TEST(Sim, IdealConv1dDilatedSameUpper) {
  Graph g = conv_graph(12, 7, 1,
                       {{"dilations", Attribute{std::vector<int64_t>{2}}},
                        {"auto_pad", Attribute{std::string("SAME_UPPER")}}},
                       {1, 12, 11}, {3}, false);
  Program p =
      expect_ideal_matches(std::move(g), {{"x", random_tensor({1, 12, 11}, 4)}}, small_chip());
  EXPECT_EQ(layer(p, "conv").row_blocks, 2);  // K = 36
}

TEST(Sim, IdealDepthwiseConvPacked) {
  // 8 channels of 3x3: K = 9, N = 1, min(32 / 9, 6 / 1) = 3 groups per array -> 3 arrays.
  Graph g = conv_graph(8, 8, 8, {{"pads", Attribute{std::vector<int64_t>{1, 1, 1, 1}}}},
                       {1, 8, 6, 6}, {3, 3}, true);
  Program p =
      expect_ideal_matches(std::move(g), {{"x", random_tensor({1, 8, 6, 6}, 5)}}, small_chip());
  const LayerMapping& l = layer(p, "conv");
  EXPECT_EQ(l.groups_packed, 3);
  EXPECT_EQ(l.tiles, 3);
}

TEST(Sim, IdealGroupedConv) {
  // 2 groups of K = 4 * 9 = 36, N = 7: 2 x 2 blocks per group.
  Graph g = conv_graph(8, 14, 2, {}, {1, 8, 5, 5}, {3, 3}, true);
  Program p =
      expect_ideal_matches(std::move(g), {{"x", random_tensor({1, 8, 5, 5}, 6)}}, small_chip());
  EXPECT_EQ(layer(p, "conv").tiles, 8);
}

TEST(Sim, IdealGemmTransBBiasAlphaBeta) {
  GraphSpec s;
  s.inputs = {{"a", {5, 40}}};
  s.weights["b"] = random_tensor({14, 40}, 7, 0.2f);
  s.weights["c"] = random_tensor({14}, 8);
  s.nodes.push_back(make_node(
      "gemm", "Gemm", {"a", "b", "c"}, {"y"},
      {{"transB", Attribute{int64_t{1}}}, {"alpha", Attribute{0.5f}}, {"beta", Attribute{2.0f}}}));
  s.outputs = {"y"};
  Program p = expect_ideal_matches(make_graph(std::move(s)), {{"a", random_tensor({5, 40}, 9)}},
                                   small_chip());
  const LayerMapping& l = layer(p, "gemm");
  EXPECT_EQ(l.row_blocks, 2);
  EXPECT_EQ(l.col_blocks, 3);
}

TEST(Sim, IdealMatMulThreeDimensionalInput) {
  GraphSpec s;
  s.inputs = {{"a", {2, 3, 40}}};
  s.weights["b"] = random_tensor({40, 9}, 10, 0.2f);
  s.nodes.push_back(make_node("mm", "MatMul", {"a", "b"}, {"y"}));
  s.outputs = {"y"};
  expect_ideal_matches(make_graph(std::move(s)), {{"a", random_tensor({2, 3, 40}, 11)}},
                       small_chip());
}

Graph recurrent_graph(const std::string& op, int64_t gates, int64_t input, int64_t hidden,
                      const std::string& direction, bool with_state) {
  const int64_t dirs = direction == "bidirectional" ? 2 : 1;
  GraphSpec s;
  s.inputs = {{"x", {5, 2, input}}};
  s.weights["W"] = random_tensor({dirs, gates * hidden, input}, 12, 0.3f);
  s.weights["R"] = random_tensor({dirs, gates * hidden, hidden}, 13, 0.3f);
  s.weights["B"] = random_tensor({dirs, 2 * gates * hidden}, 14, 0.3f);
  std::vector<std::string> in{"x", "W", "R", "B"};
  if (with_state) {
    s.weights["h0"] = random_tensor({dirs, 2, hidden}, 15, 0.5f);
    in.insert(in.end(), {"", "h0"});
  }
  std::vector<std::string> out{"y", "y_h"};
  if (op == "LSTM") out.push_back("y_c");
  s.nodes.push_back(
      make_node("rnn", op, in, out,
                {{"hidden_size", Attribute{hidden}}, {"direction", Attribute{direction}}}));
  s.outputs = out;
  return make_graph(std::move(s));
}

TEST(Sim, IdealLstmBidirectional) {
  // W: K = 10, N = 4 * 5 = 20 (4 column blocks) per direction; R: K = 5, N = 20.
  Program p = expect_ideal_matches(recurrent_graph("LSTM", 4, 10, 5, "bidirectional", true),
                                   {{"x", random_tensor({5, 2, 10}, 16)}}, small_chip());
  EXPECT_EQ(layer(p, "rnn").tiles, 2 * 4 + 2 * 4);
}

TEST(Sim, IdealGruRowBlocks) {
  // W: K = 36 > 32 rows; GRU's default reset gate multiplies R_h by r * h (a second product).
  expect_ideal_matches(recurrent_graph("GRU", 3, 36, 8, "forward", false),
                       {{"x", random_tensor({5, 2, 36}, 17)}}, small_chip());
}

TEST(Sim, IdealRnnReversePackedDirections) {
  // Small W (K = 3, N = 2) on a chip with 2 directions: packed 2 to an array.
  ChipSpec chip = small_chip();
  Program p = expect_ideal_matches(recurrent_graph("RNN", 1, 3, 2, "bidirectional", true),
                                   {{"x", random_tensor({5, 2, 3}, 18)}}, chip);
  EXPECT_EQ(layer(p, "rnn").groups_packed, 2);
}

TEST(Sim, IdealAttentionBlock) {
  // Q, K, V, O projections on arrays; softmax(Q Kᵀ / sqrt(d)) V digital (activation x
  // activation products).
  const int64_t t = 6, d = 8;
  GraphSpec s;
  s.inputs = {{"x", {1, t, d}}};
  for (const char* w : {"wq", "wk", "wv", "wo"})
    s.weights[w] = random_tensor({d, d}, 19 + static_cast<uint64_t>(w[1]), 0.4f);
  s.weights["scale"] = Tensor::scalar(1.0f / std::sqrt(static_cast<float>(d)));
  s.nodes = {
      make_node("q", "MatMul", {"x", "wq"}, {"q_out"}),
      make_node("k", "MatMul", {"x", "wk"}, {"k_out"}),
      make_node("v", "MatMul", {"x", "wv"}, {"v_out"}),
      make_node("kt", "Transpose", {"k_out"}, {"kt_out"},
                {{"perm", Attribute{std::vector<int64_t>{0, 2, 1}}}}),
      make_node("scores", "MatMul", {"q_out", "kt_out"}, {"s_out"}),
      make_node("scaled", "Mul", {"s_out", "scale"}, {"sc_out"}),
      make_node("soft", "Softmax", {"sc_out"}, {"p_out"}, {{"axis", Attribute{int64_t{-1}}}}),
      make_node("ctx", "MatMul", {"p_out", "v_out"}, {"c_out"}),
      make_node("o", "MatMul", {"c_out", "wo"}, {"y"}),
  };
  s.outputs = {"y"};
  Program p = expect_ideal_matches(make_graph(std::move(s)), {{"x", random_tensor({1, t, d}, 30)}},
                                   small_chip());
  EXPECT_EQ(p.mapping.layers.size(), 4u);  // the projections only
}

TEST(Sim, IdealLstmBatchFirstPeepholesClipSequenceLens) {
  // The attributes the gate arithmetic shares with the reference op: layout 1, clip, input_forget,
  // non-default activations, peepholes, sequence_lens, initial states.
  const int64_t batch = 3, seq = 4, input = 7, hidden = 5;
  GraphSpec s;
  s.inputs = {{"x", {batch, seq, input}}};
  s.weights["W"] = random_tensor({1, 4 * hidden, input}, 50, 0.4f);
  s.weights["R"] = random_tensor({1, 4 * hidden, hidden}, 51, 0.4f);
  s.weights["B"] = random_tensor({1, 8 * hidden}, 52, 0.3f);
  s.weights["lens"] = Tensor::from_vector<int32_t>({batch}, {4, 2, 3});
  s.weights["h0"] = random_tensor({batch, 1, hidden}, 53, 0.5f);
  s.weights["c0"] = random_tensor({batch, 1, hidden}, 54, 0.5f);
  s.weights["P"] = random_tensor({1, 3 * hidden}, 55, 0.3f);
  s.nodes.push_back(make_node(
      "rnn", "LSTM", {"x", "W", "R", "B", "lens", "h0", "c0", "P"}, {"y", "y_h", "y_c"},
      {{"hidden_size", Attribute{hidden}},
       {"layout", Attribute{int64_t{1}}},
       {"clip", Attribute{2.0f}},
       {"activations", Attribute{std::vector<std::string>{"HardSigmoid", "Tanh", "Softsign"}}}}));
  s.outputs = {"y", "y_h", "y_c"};
  expect_ideal_matches(make_graph(std::move(s)), {{"x", random_tensor({batch, seq, input}, 56)}},
                       small_chip());
}

Graph zoo(const std::string& rel) {
  return load_onnx(std::string(ACIM_SOURCE_DIR) + "/" + rel);
}

ChipSpec voice16() {
  return load_chip_spec(std::string(ACIM_SOURCE_DIR) + "/tests/data/chips/voice-16.toml");
}

TensorMap zoo_inputs(const Graph& g, uint64_t key) {
  TensorMap m;
  for (const ValueInfo& in : g.inputs) {
    Shape shape = in.shape;
    for (int64_t& d : shape) d = d > 0 ? d : 1;
    m[in.name] = random_tensor(shape, key);
  }
  return m;
}

TEST(Sim, IdealZooDsCnn) {
  Graph g = zoo("zoo/kws/ds_cnn_s.onnx");
  ASSERT_EQ(g.inputs.size(), 1u);
  TensorMap in{
      {g.inputs[0].name, load_npy(std::string(ACIM_SOURCE_DIR) + "/examples/kws_input.npy")}};
  Program p = expect_ideal_matches(std::move(g), in, voice16());
  EXPECT_GT(p.mapping.chips, 1);  // 37 arrays on 16-array chips
}

TEST(Sim, ZooDsCnnWithItsDepthwiseLayersOnTheVectorUnit) {
  // core.digital.grouped_conv: the depthwise convolutions run digitally, so fewer arrays; the
  // ideal chip still reproduces the executor, and a program saved and loaded again maps the same.
  Graph g = zoo("zoo/kws/ds_cnn_s.onnx");
  TensorMap in{
      {g.inputs[0].name, load_npy(std::string(ACIM_SOURCE_DIR) + "/examples/kws_input.npy")}};
  ChipSpec chip = voice16();
  chip.core.digital.grouped_conv = true;
  Program p = expect_ideal_matches(std::move(g), in, chip);
  for (const LayerMapping& l : p.mapping.layers) EXPECT_EQ(l.groups_packed, 1) << l.node;
  EXPECT_EQ(p.mapping.layers.size(), 6u);  // conv1, four pointwise layers, fc
  const test::TempDir tmp;
  save_program(p, tmp.path() / "ds_cnn_grouped_digital.acim");
  const Program q = load_program(tmp.path() / "ds_cnn_grouped_digital.acim");
  EXPECT_TRUE(q.chip.core.digital.grouped_conv);
  EXPECT_EQ(q.mapping.layers.size(), 6u);
  // Non-ideal: the same seed gives the same outputs.
  const TensorMap a = ChipInstance(q, SimOptions{.seed = 3}).run(in);
  const TensorMap b = ChipInstance(q, SimOptions{.seed = 3}).run(in);
  for (const auto& [name, t] : a) EXPECT_TRUE(same_bits(t, b.at(name))) << name;
}

TEST(Sim, IdealZooMlp) {
  Graph g = zoo("zoo/mlp/mlp_mnist.onnx");
  TensorMap in = zoo_inputs(g, 31);
  expect_ideal_matches(std::move(g), in, voice16());
}

TEST(Sim, IdealZooLstm) {
  Graph g = zoo("zoo/lstm/lstm_kws.onnx");
  TensorMap in = zoo_inputs(g, 32);
  expect_ideal_matches(std::move(g), in, voice16());
}

TEST(Sim, AnalogLayersWriteEveryElementOfRecycledBuffers) {
  // The analog layers' outputs come from the executor's recycled buffers (OutputBuffers), within
  // a run and from one run to the next. With ACIM_POISON_RECYCLED those are NaN-filled before
  // they are handed out: an element an analog kernel leaves unwritten shows up as NaN, and the
  // outputs differ from the same instance's without poison. Batch 8: DS-CNN's conv outputs and
  // the LSTM's Y are large enough (>= 64 KiB) to be recycled.
  for (const char* model : {"zoo/kws/ds_cnn_s.onnx", "zoo/lstm/lstm_kws.onnx"}) {
    SCOPED_TRACE(model);
    Graph g = zoo(model);
    Shape s = g.inputs[0].shape;
    s[0] = 8;
    const TensorMap in{{g.inputs[0].name, random_tensor(s, 77)}};
    Program p = compile(std::move(g), voice16());
    ChipInstance plain(p, SimOptions{.seed = 5});
    setenv("ACIM_POISON_RECYCLED", "1", 1);
    ChipInstance poisoned(p, SimOptions{.seed = 5});
    unsetenv("ACIM_POISON_RECYCLED");
    for (int run = 0; run < 2; ++run) {
      const TensorMap want = plain.run(in);
      const TensorMap got = poisoned.run(in);
      for (const auto& [name, t] : want) {
        EXPECT_TRUE(same_bits(got.at(name), t)) << name << " run " << run;
        for (float v : got.at(name).span<float>()) ASSERT_FALSE(std::isnan(v)) << name;
      }
    }
  }
}

// ---- Non-ideal runs ----

TEST(Sim, NonIdealCloseDeterministicAndPerInstance) {
  // The padded conv (K = 36: 2 row blocks; N = 10: 2 column blocks) on the small edge-voice
  // chip: SRAM charge-domain cells with mismatch and thermal noise, 8-bit bit-serial DAC, 6-bit
  // ADC with ranges calibrated on the Program's calibration inputs.
  Graph g = conv_graph(4, 10, 1, {{"pads", Attribute{std::vector<int64_t>{1, 1, 1, 1}}}},
                       {1, 4, 9, 9}, {3, 3}, true);
  Program p = compile(std::move(g), small_chip());
  const TensorMap in{{"x", random_tensor({1, 4, 9, 9}, 40)}};
  const Tensor ref = Executor(p.graph).run(in).at("y");
  const int threads = omp_get_max_threads();
  omp_set_num_threads(1);
  ChipInstance a(p, SimOptions{.seed = 1});
  const Tensor ya = a.run(in).at("y");
  omp_set_num_threads(2);
  ChipInstance b(p, SimOptions{.seed = 1});
  const Tensor yb = b.run(in).at("y");
  omp_set_num_threads(threads);
  ChipInstance other(p, SimOptions{.seed = 1, .instance = 1});
  const Tensor yo = other.run(in).at("y");
  EXPECT_EQ(0, std::memcmp(ya.raw(), yb.raw(), ref.nbytes()));
  EXPECT_NE(0, std::memcmp(ya.raw(), yo.raw(), ref.nbytes()));
  // The bound, from the crossbar's own error budget: error_breakdown's "all" is the relative
  // error of one MVM on this array (uniform weights and inputs in [-1, 1]; ~2.3 %). A conv
  // output is the sum of 2 row blocks' reads, each quantised against its own calibrated full
  // scale, so their errors add while the signal is shared (x2); and N(0, 1) inputs, with the DAC
  // range at the largest calibration input (~3.5 sigma), use fewer DAC and ADC levels than
  // uniform ones (x2). Past 4x the budget the arrays compute something else; below a quarter
  // of it they are not in the path.
  const std::vector<ErrorSource> budget = error_breakdown(p.chip.array, 64, 2, 1);
  ASSERT_EQ(budget.back().name, "all");
  const double rel = relative_error(ya, ref);
  EXPECT_GT(rel, 0.25 * budget.back().rel_error);
  EXPECT_LT(rel, 4.0 * budget.back().rel_error);
}

// ADC calibration on the Program's default 8 calibration inputs. A batch-1 Gemm's arrays see 8
// rows, and the largest of 8 Gaussian draws is only ~2 sigma: a range set to it clips later
// inputs (measured: MLP 25 %, LSTM 5 % relative output error from the ADC alone on mythic-like).
// With the 4-sigma rule (AdcParams::calibration_sigmas) what is left is quantisation and the
// columns whose sample std came out low: an 8-bit ADC over 4 sigma has an lsb of sigma / 32
// (rounding noise sigma / 110, ~1 % per layer, ~2 % over 3 layers), and with n = 8 the sample
// std is low by 2 of its standard errors (27 % each) in ~2.5 % of columns, which then clip at
// ~1.8 sigma — a few percent more (measured 6.8 % and 1.7 %). Bounds: 12 % and 4 %, and at most
// half of the max-only calibration's error (the headroom must be what fixes it).
TEST(Sim, ZooAdcCalibrationHasHeadroom) {
  auto adc_error = [](const std::string& model, double sigmas) {
    ChipSpec chip = chip_preset("mythic-like");
    chip.array.effects = NonIdealities{false, false, false, false, false, true, false, false};
    chip.array.adc.calibration_sigmas = sigmas;
    CompileOptions o;  // the defaults: 8 random calibration inputs, all kept
    o.mapping.chips_auto = true;
    Program p = compile_program(zoo(model), chip, o);
    EXPECT_EQ(p.calibration_set.size(), 8u);
    ChipInstance sim(p, SimOptions{.seed = 7, .digital_precision = false});  // the ADC alone
    double sum = 0;
    const int inputs = 4;
    for (int k = 0; k < inputs; ++k) {
      const TensorMap in = zoo_inputs(p.graph, 60 + static_cast<uint64_t>(k));
      const TensorMap want = Executor(p.graph).run(in), got = sim.run(in);
      sum +=
          relative_error(got.at(p.graph.outputs.at(0).name), want.at(p.graph.outputs.at(0).name));
    }
    return sum / inputs;
  };
  const double mlp = adc_error("zoo/mlp/mlp_mnist.onnx", 4.0);
  const double lstm = adc_error("zoo/lstm/lstm_kws.onnx", 4.0);
  std::printf("ADC-only error, mythic-like, 8 calibration inputs: MLP %.4f, LSTM %.4f\n", mlp,
              lstm);
  EXPECT_LT(mlp, 0.12);
  EXPECT_LT(lstm, 0.04);
  EXPECT_LT(mlp, 0.5 * adc_error("zoo/mlp/mlp_mnist.onnx", 0.0));
  EXPECT_LT(lstm, 0.5 * adc_error("zoo/lstm/lstm_kws.onnx", 0.0));
}

TEST(Sim, SetTimeMovesArrays) {
  Graph g = conv_graph(4, 10, 1, {}, {1, 4, 5, 5}, {3, 3}, false);
  ChipSpec chip = small_chip();
  chip.array = default_array_params(CellType::pcm);
  chip.array.rows = 32;
  chip.array.cols = 12;
  Program p = compile(std::move(g), chip);
  const TensorMap in{{"x", random_tensor({1, 4, 5, 5}, 41)}};
  ChipInstance a(p, SimOptions{.seed = 2});
  ChipInstance b(p, SimOptions{.seed = 2});
  b.set_time(1e6);
  EXPECT_NE(relative_error(a.run(in).at("y"), b.run(in).at("y")), 0.0);
}

TEST(Sim, InstanceWithoutItsWeightsIsTheSameChipAtOneTime) {
  // keep_weights off: each layer's weights go once its arrays are programmed. The instance runs
  // as one that keeps them (a Gemm on arrays only, a convolution, a drifted chip), and moving it
  // in time is refused with an error that says why, where keeping them moves it.
  GraphSpec s;
  s.inputs = {{"x", {3, 20}}};
  s.weights["w"] = random_tensor({20, 10}, 5);
  s.nodes.push_back(make_node("fc", "Gemm", {"x", "w"}, {"y"}));
  s.outputs = {"y"};
  ChipSpec chip = small_chip();
  chip.array = default_array_params(CellType::pcm);
  chip.array.rows = 8;
  chip.array.cols = 8;
  for (const Program& p : {compile(make_graph(std::move(s)), chip),
                           compile(conv_graph(4, 10, 1, {}, {1, 4, 5, 5}, {3, 3}, false), chip)}) {
    const Tensor xin = p.graph.inputs[0].shape.size() == 2 ? random_tensor({3, 20}, 6)
                                                           : random_tensor({1, 4, 5, 5}, 7);
    const TensorMap in{{p.graph.inputs[0].name, xin}};
    ChipInstance kept(p, SimOptions{.seed = 3, .time_since_programming_s = 3600});
    ChipInstance lean(
        Program(p), SimOptions{.seed = 3, .time_since_programming_s = 3600, .keep_weights = false});
    EXPECT_TRUE(same_bits(kept.run(in).begin()->second, lean.run(in).begin()->second));
    EXPECT_TRUE(same_bits(kept.run(in).begin()->second, lean.run(in).begin()->second));
    try {
      lean.set_time(86400);
      ADD_FAILURE() << "set_time without the weights";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::invalid);
      EXPECT_NE(std::string(e.what()).find("keep_weights"), std::string::npos) << e.what();
    }
    EXPECT_NO_THROW(kept.set_time(86400));
  }
}

TEST(Sim, NonIdealUsesTheProgramsQuantisation) {
  // program.quant's DAC ranges and weight full scales reach the arrays: a range far below the
  // inputs clips them, a full scale far below the weights clips those.
  Graph g = conv_graph(4, 10, 1, {}, {1, 4, 5, 5}, {3, 3}, false);
  Program p = compile(std::move(g), small_chip());
  const TensorMap in{{"x", random_tensor({1, 4, 5, 5}, 42)}};
  const Tensor ref = Executor(p.graph).run(in).at("y");
  auto error_with = [&](std::vector<double> range, std::vector<float> full_scale) {
    Program q = p;
    q.quant.layers.at(0).input_range = std::move(range);
    q.quant.layers.at(0).weight_full_scale = std::move(full_scale);
    ChipInstance chip(q, SimOptions{.seed = 1});
    return relative_error(chip.run(in).at("y"), ref);
  };
  const double base = error_with({}, {});  // ranges from the calibration inputs
  EXPECT_LT(base, 0.25);
  EXPECT_GT(error_with({0.01}, {}), 0.5);                         // inputs clip at 0.01
  EXPECT_GT(error_with({}, std::vector<float>(10, 1e-3f)), 0.5);  // weights clip at 0.001
  EXPECT_EQ(error_with({}, std::vector<float>(10, 0.0f)), base);  // 0: the column's own max
}

// ---- The cut against the mapping ----

TEST(Sim, MappingMismatchIsAnError) {
  Graph g = conv_graph(4, 10, 1, {}, {1, 4, 5, 5}, {3, 3}, false);
  Program p = compile(std::move(g), small_chip());
  p.mapping.layers.at(0).tiles += 1;
  try {
    ChipInstance chip(p, SimOptions{.ideal = true});
    FAIL() << "expected an Error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::invalid);
    EXPECT_NE(std::string(e.what()).find("mapping counts 5"), std::string::npos) << e.what();
  }
}

// ---- Crossbar options the simulator uses ----

ArrayParams effects_off() {
  ArrayParams p;
  p.rows = 8;
  p.cols = 8;
  p.effects = NonIdealities{false, false, false, false, false, false, false, false};
  return p;
}

TEST(Sim, CrossbarColumnFullScaleClips) {
  ArrayParams p = effects_off();
  Tensor w = Tensor::from_vector<float>({2, 2}, {1.0f, -0.25f, -0.5f, 0.5f});
  CrossbarArray a(p, RandomStream(1, {0}));
  a.program(w, {0.5f, 0.0f});  // column 0 clips at 0.5; column 1 keeps its own max
  Tensor x = Tensor::from_vector<float>({1, 2}, {1.0f, 1.0f});
  Tensor y = a.mvm(x);
  EXPECT_NEAR(y.data<float>()[0], 0.5f - 0.5f, 1e-6);
  EXPECT_NEAR(y.data<float>()[1], -0.25f + 0.5f, 1e-6);
  EXPECT_THROW(a.program(w, {1.0f}), Error);
}

TEST(Sim, CrossbarCalibrateInputRange) {
  ArrayParams p = effects_off();
  p.effects.dac = true;  // the DAC clips to its range
  Tensor w = Tensor::from_vector<float>({2, 1}, {1.0f, 1.0f});
  CrossbarArray a(p, RandomStream(1, {0}));
  a.program(w);
  Tensor x = Tensor::from_vector<float>({1, 2}, {1.0f, -0.25f});
  a.calibrate(x, 0.5);  // the range, not max |x| = 1
  EXPECT_NEAR(a.mvm(x).data<float>()[0], 0.5f - 0.25f, 0.5 / 127);
  a.calibrate(x);  // max |x|
  EXPECT_NEAR(a.mvm(x).data<float>()[0], 1.0f - 0.25f, 1.0 / 127);
}

TEST(Sim, DigitalUnitsHoldFixedPointWords) {
  // A Gemm + Relu on a chip whose vector unit holds 4-bit words: every output is one of at most
  // 16 codes on one power-of-two grid (the node's format from calibration). Off, or ideal, the
  // outputs keep float32's resolution.
  GraphSpec s;
  s.inputs = {{"x", {8, 20}}};
  s.weights["w"] = random_tensor({20, 10}, 3);
  s.nodes.push_back(make_node("fc", "Gemm", {"x", "w"}, {"h"}));
  s.nodes.push_back(make_node("act", "Relu", {"h"}, {"y"}));
  s.outputs = {"y"};
  ChipSpec chip = small_chip();
  chip.core.digital.vector_bits = 4;
  Program p = compile(make_graph(std::move(s)), chip);
  const TensorMap in{{"x", random_tensor({8, 20}, 4)}};
  auto distinct = [](const Tensor& t) {
    std::set<float> v(t.span<float>().begin(), t.span<float>().end());
    return v.size();
  };
  const Tensor rounded = ChipInstance(p, SimOptions{.seed = 1}).run(in).at("y");
  const Tensor exact = ChipInstance(p, SimOptions{.seed = 1, .digital_precision = false}).run(in).at("y");
  EXPECT_LE(distinct(rounded), 16u);
  EXPECT_GT(distinct(exact), 16u);
  // One grid: the coarsest power of two 2^k that divides every value gives codes that fit a
  // signed 4-bit word (|code| <= 8; the format keeps a bit of headroom over calibration, so the
  // largest code here is a few steps).
  auto on_grid = [&](int k) {
    for (float v : rounded.span<float>())
      if (std::ldexp(v, -k) != std::nearbyint(std::ldexp(v, -k))) return false;
    return true;
  };
  int k = 40;
  while (k > -60 && !on_grid(k)) --k;
  ASSERT_GT(k, -60) << "the outputs are not on a power-of-two grid";
  float largest_code = 0;
  for (float v : rounded.span<float>()) largest_code = std::max(largest_code, std::fabs(std::ldexp(v, -k)));
  EXPECT_LE(largest_code, 8.0f);
  EXPECT_GE(largest_code, 2.0f);
  EXPECT_GT(distinct(ChipInstance(p, SimOptions{.ideal = true}).run(in).at("y")), 16u);
}

TEST(Sim, CrossbarWeightSourceGivesTheSameArrayAsHeldWeights) {
  // An array that keeps no copy of its weights (a WeightSource gives them again) is the same
  // array: the same conductances, references and noisy products, after a move in time too.
  ArrayParams p;  // PCM, every default effect on
  p.rows = 16;
  p.cols = 16;
  const Tensor w = random_tensor({12, 7}, 5);
  const Tensor x = random_tensor({5, 12}, 6);
  CrossbarArray held(p, RandomStream(9, {1, 2}));
  CrossbarArray fed(p, RandomStream(9, {1, 2}));
  held.program(w, {});
  int calls = 0;
  fed.program(w, {}, [&] {
    ++calls;
    return w.clone();
  });
  EXPECT_EQ(calls, 0);  // programming reads the weights it is given
  held.calibrate(x);
  fed.calibrate(x);
  EXPECT_TRUE(same_bits(held.mvm(x), fed.mvm(x)));
  EXPECT_TRUE(same_bits(held.mvm_reference(x), fed.mvm_reference(x)));
  EXPECT_TRUE(same_bits(held.target_conductances_us(), fed.target_conductances_us()));
  held.set_time(86400.0);
  fed.set_time(86400.0);
  EXPECT_TRUE(same_bits(held.conductances_us(), fed.conductances_us()));
  EXPECT_TRUE(same_bits(held.mvm(x), fed.mvm(x)));
  EXPECT_GE(calls, 4);  // reference, targets, set_time, conductances
}

TEST(Sim, ViewArraysColumnBlocksShareOneCalibrationRecord) {
  // A 10 x 20 matrix on 8 x 8 arrays: 2 row blocks x 3 column blocks. The column blocks of a row
  // block see the same inputs, recorded once; each array must still be calibrated on exactly
  // those inputs: the view's analog product equals that of stand-alone arrays programmed with
  // the same blocks and streams and calibrated on the same rows.
  ArrayParams p;
  p.rows = 8;
  p.cols = 16;  // 8 differential weight columns
  const int64_t k = 10, n = 20;
  const Tensor w = random_tensor({k, n}, 11);
  const Tensor x = random_tensor({6, k}, 12);
  sim::ViewArrays view(k, n, 1, 8, 8, 1);
  ASSERT_EQ(view.arrays_per_copy(), 6);
  view.set_weights(w, false);
  view.program({}, p, 3, 0, 4, 0, 6);
  Tensor y_exact(DType::f32, {6, n});
  view.mvm(x.data<float>(), 6, k, 0, 1, 0, y_exact.data<float>(), n, 0, n, sim::MvmMode::capture);
  view.calibrate(0.0, 256);
  Tensor y(DType::f32, {6, n});
  view.mvm(x.data<float>(), 6, k, 0, 1, 0, y.data<float>(), n, 0, n, sim::MvmMode::analog);

  Tensor expected(DType::f32, {6, n}), exact(DType::f32, {6, n});
  int64_t index = 0;
  for (int64_t r0 = 0; r0 < k; r0 += 8)
    for (int64_t c0 = 0; c0 < n; c0 += 8, ++index) {
      const int64_t nr = std::min<int64_t>(8, k - r0), nc = std::min<int64_t>(8, n - c0);
      Tensor block(DType::f32, {nr, nc}), in(DType::f32, {6, nr});
      for (int64_t i = 0; i < nr; ++i)
        for (int64_t c = 0; c < nc; ++c)
          block.data<float>()[i * nc + c] = w.data<float>()[(r0 + i) * n + c0 + c];
      for (int64_t m = 0; m < 6; ++m)
        for (int64_t i = 0; i < nr; ++i)
          in.data<float>()[m * nr + i] = x.data<float>()[m * k + r0 + i];
      CrossbarArray a(p, RandomStream(3, {0, 4, static_cast<uint64_t>(index)}));
      a.program(block);
      const Tensor ref = a.mvm_reference(in);
      a.calibrate(in);
      const Tensor out = a.mvm(in);
      for (int64_t m = 0; m < 6; ++m)
        for (int64_t c = 0; c < nc; ++c) {
          float& e = expected.data<float>()[m * n + c0 + c];
          float& f = exact.data<float>()[m * n + c0 + c];
          e = r0 == 0 ? 0.0f + out.data<float>()[m * nc + c] : e + out.data<float>()[m * nc + c];
          f = r0 == 0 ? 0.0f + ref.data<float>()[m * nc + c] : f + ref.data<float>()[m * nc + c];
        }
    }
  EXPECT_TRUE(same_bits(y_exact, exact));
  EXPECT_TRUE(same_bits(y, expected));
}

TEST(Sim, ViewArraysQuantiseOnceForArraysSharingADac) {
  // Rows put on the DAC's levels once and passed as quantised give the numbers of each array
  // quantising its own inputs, both as int16 levels (quantize_levels, mvm_levels: arrays whose
  // signal product runs in integers, PCM's default) and as floats (quantize, mvm: RRAM, whose
  // read noise needs the row voltages); NaN is reported by the quantiser.
  for (const CellType cell : {CellType::pcm, CellType::rram}) {
    SCOPED_TRACE(cell == CellType::pcm ? "pcm" : "rram");
    ArrayParams p = default_array_params(cell);
    p.rows = 8;
    p.cols = 16;
    const int64_t k = 12, n = 10;
    const Tensor w = random_tensor({k, n}, 21);
    Tensor x = random_tensor({5, k}, 22);
    sim::ViewArrays a(k, n, 1, 8, 8, 1), b(k, n, 1, 8, 8, 1);
    for (sim::ViewArrays* v : {&a, &b}) {
      v->set_weights(w, false);
      v->program({}, p, 7, 0, 1, 0, v->arrays_per_copy());
      Tensor unused(DType::f32, {5, n});
      v->mvm(x.data<float>(), 5, k, 0, 1, 0, unused.data<float>(), n, 0, n, sim::MvmMode::capture);
      v->calibrate(0.5, 256);  // one input range for every array: a shared DAC
    }
    ASSERT_TRUE(b.shared_dac());
    ASSERT_EQ(b.levels_form(), cell == CellType::pcm);
    Tensor ya(DType::f32, {5, n}), yb(DType::f32, {5, n});
    a.mvm(x.data<float>(), 5, k, 0, 1, 0, ya.data<float>(), n, 0, n, sim::MvmMode::analog);
    if (b.levels_form()) {
      std::vector<int16_t> lv(static_cast<size_t>(x.numel()));
      ASSERT_TRUE(b.quantize_levels(x.data<float>(), lv.size(), lv.data()));
      EXPECT_TRUE(std::any_of(lv.begin(), lv.end(), [](int16_t l) { return l != 0; }));
      b.mvm_levels(lv.data(), 5, k, 0, 1, 0, yb.data<float>(), n, 0, n);
      EXPECT_TRUE(same_bits(ya, yb));
      x.data<float>()[3] = std::nanf("");
      EXPECT_FALSE(b.quantize_levels(x.data<float>(), lv.size(), lv.data()));
      continue;
    }
    std::vector<float> xq(static_cast<size_t>(x.numel()));
    ASSERT_TRUE(b.quantize(x.data<float>(), xq.size(), xq.data()));
    EXPECT_FALSE(std::equal(xq.begin(), xq.end(), x.data<float>()));  // the DAC moved them
    b.mvm(
        [&](int64_t m0, int64_t step, int64_t count, int64_t k0, int64_t len, float* dst,
            int64_t ld) {
          for (int64_t t = 0; t < count; ++t)
            std::copy_n(xq.data() + (m0 + t * step) * k + k0, len, dst + t * ld);
        },
        5, 0, 1, 0, sim::ViewArrays::into(yb.data<float>(), n), 0, n, sim::MvmMode::analog, true);
    EXPECT_TRUE(same_bits(ya, yb));
    x.data<float>()[3] = std::nanf("");
    EXPECT_FALSE(b.quantize(x.data<float>(), xq.size(), xq.data()));
  }
}

// A convolution on the arrays is its im2col product, bit for bit: the same arrays fed the
// explicit im2col matrix (raw inputs, each array its own DAC), with the bias added after. The
// conv path gathers its rows from an image put on the DAC's int16 levels once (3 x 3 taps of 16
// channels by word permutes, a row block that starts inside a channel's taps, the channels past
// the last 16, taps in the padding, 128-row parts that span images) and transposes each part's
// partial sums into [N, C, HW] (the first row block set, the others added, the bias after the
// last); the matrix path copies rows and adds into a [rows, C] matrix.
TEST(Sim, ConvOnArraysIsItsIm2colProductBitForBit) {
  const int64_t batch = 4, cin = 21, cout = 20, h = 7, w = 6, k = cin * 9;
  ArrayParams p = default_array_params(CellType::pcm);  // the integer signal product
  p.rows = 160;                                         // row blocks [0, 160), [160, 189)
  p.cols = 32;                                          // 16 logical: two column blocks
  const Tensor wt = random_tensor({cout, cin, 3, 3}, 51, 0.2f);
  const Tensor bias = random_tensor({cout}, 52);
  const Tensor x = random_tensor({batch, cin, h, w}, 53);
  // The im2col matrix, [image, position][channel, tap], zeros in the padding (pads 1).
  Tensor cols(DType::f32, {batch * h * w, k});
  for (int64_t n = 0; n < batch; ++n)
    for (int64_t oh = 0; oh < h; ++oh)
      for (int64_t ow = 0; ow < w; ++ow)
        for (int64_t c = 0; c < cin; ++c)
          for (int64_t t = 0; t < 9; ++t) {
            const int64_t ih = oh + t / 3 - 1, iw = ow + t % 3 - 1;
            if (ih < 0 || ih >= h || iw < 0 || iw >= w) continue;
            cols.data<float>()[((n * h + oh) * w + ow) * k + c * 9 + t] =
                x.data<float>()[((n * cin + c) * h + ih) * w + iw];
          }
  const int64_t rows = batch * h * w;
  std::vector<sim::ViewArrays> conv_views;
  conv_views.emplace_back(k, cout, 1, 160, 16, 1);
  sim::ViewArrays matrix_view(k, cout, 1, 160, 16, 1);
  for (sim::ViewArrays* v : {&conv_views[0], &matrix_view}) {
    v->set_weights(wt.reshaped({cout * k}), true);  // W_g[k, n] = W[n, k]
    v->program({}, p, 9, 0, 1, 0, v->arrays_per_copy());
    Tensor unused(DType::f32, {rows, cout});
    v->mvm(cols.data<float>(), rows, k, 0, 1, 0, unused.data<float>(), cout, 0, cout,
           sim::MvmMode::capture);
    v->calibrate(3.0, 256);  // one DAC range for the layer, as the compiler gives it
  }
  ASSERT_EQ(matrix_view.arrays_per_copy(), 4);
  ASSERT_TRUE(conv_views[0].levels_form());
  const Node conv = make_node("conv", "Conv", {"x", "w", "b"}, {"y"},
                              {{"pads", Attribute{std::vector<int64_t>{1, 1, 1, 1}}}});
  std::vector<Tensor> out(1);
  sim::run_analog_node(conv, "conv", conv_views, {&x, &wt, &bias}, out, OutputBuffers{},
                       sim::MvmMode::analog);
  Tensor y(DType::f32, {rows, cout});
  matrix_view.mvm(cols.data<float>(), rows, k, 0, 1, 0, y.data<float>(), cout, 0, cout,
                  sim::MvmMode::analog);
  Tensor want(DType::f32, {batch, cout, h, w});
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cout; ++c)
      want.data<float>()[((r / (h * w)) * cout + c) * h * w + r % (h * w)] =
          y.data<float>()[r * cout + c] + bias.data<float>()[c];
  EXPECT_TRUE(same_bits(out[0], want));
}

}  // namespace
}  // namespace acim
