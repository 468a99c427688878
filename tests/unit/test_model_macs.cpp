// MAC and parameter counts of the bundled zoo models (zoo/make_models.py), as acim::describe
// reports them, against counts computed here independently from each architecture's layer
// dimensions:
//   conv MACs = Hout * Wout * Cout * (Cin / groups) * Kh * Kw
//   FC MACs   = in * out
//   LSTM MACs = steps * 4 * hidden * (features + hidden)
// Only convolutions, Gemm and the LSTM's matrix products do multiply-accumulates; every other
// layer (BN, ReLU, Add, pooling, reshapes) counts 0.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>

#include "acim/model_info.hpp"
#include "acim/onnx.hpp"

namespace acim {
namespace {

std::string zoo(const std::string& rel) {
  return std::string(ACIM_SOURCE_DIR) + "/zoo/" + rel;
}

// describe() with the symbolic batch dim (the first dim of every graph input) set to `batch`.
ModelInfo describe_at_batch(Graph graph, int64_t batch) {
  for (ValueInfo& vi : graph.inputs)
    if (!vi.shape.empty() && vi.shape[0] < 0) vi.shape[0] = batch;
  return describe(graph);
}

int64_t conv_macs(int64_t hout, int64_t wout, int64_t cout, int64_t cin, int64_t groups, int64_t kh,
                  int64_t kw) {
  return hout * wout * cout * (cin / groups) * kh * kw;
}
int64_t conv_params(int64_t cout, int64_t cin, int64_t groups, int64_t kh, int64_t kw) {
  return cout * (cin / groups) * kh * kw;  // no bias: every conv here is followed by BN
}
// BatchNormalization: scale, shift, mean, variance.
int64_t bn_params(int64_t c) {
  return 4 * c;
}
int64_t fc_macs(int64_t in, int64_t out) {
  return in * out;
}
int64_t fc_params(int64_t in, int64_t out) {
  return in * out + out;
}

// Sums of the layers describe() reports, by op type (fused activations are not expected on a
// freshly loaded graph).
struct Sums {
  int64_t conv_macs = 0, gemm_macs = 0, other_macs = 0, lstm_macs = 0;
  int conv_layers = 0, gemm_layers = 0;
};
Sums sum_by_op(const ModelInfo& info) {
  Sums s;
  for (const LayerInfo& l : info.layers) {
    if (l.op == "Conv") {
      s.conv_macs += l.macs;
      ++s.conv_layers;
    } else if (l.op == "Gemm") {
      s.gemm_macs += l.macs;
      ++s.gemm_layers;
    } else if (l.op == "LSTM") {
      s.lstm_macs += l.macs;
    } else {
      s.other_macs += l.macs;
    }
  }
  return s;
}

// DS-CNN-S (Hello Edge): 49x10 input, conv 10x4 stride 2 "same" -> 25x5x64, then 4 x
// (depthwise 3x3 + pointwise 1x1), global average pool, FC 64 -> 12.
struct DsCnnCounts {
  int64_t conv_macs = 0, fc_macs = 0, params = 0;
};
DsCnnCounts ds_cnn_s_counts(int64_t batch) {
  const int64_t h = 25, w = 5, c = 64;  // ceil(49 / 2), ceil(10 / 2)
  DsCnnCounts n;
  n.conv_macs += conv_macs(h, w, c, 1, 1, 10, 4);
  n.params += conv_params(c, 1, 1, 10, 4) + bn_params(c);
  for (int i = 0; i < 4; ++i) {
    n.conv_macs += conv_macs(h, w, c, c, c, 3, 3);  // depthwise
    n.params += conv_params(c, c, c, 3, 3) + bn_params(c);
    n.conv_macs += conv_macs(h, w, c, c, 1, 1, 1);  // pointwise
    n.params += conv_params(c, c, 1, 1, 1) + bn_params(c);
  }
  n.fc_macs = fc_macs(c, 12);
  n.params += fc_params(c, 12);
  n.conv_macs *= batch;
  n.fc_macs *= batch;
  return n;
}

TEST(ModelMacs, DsCnnSMatchesAnalyticCount) {
  Graph g = load_onnx(zoo("kws/ds_cnn_s.onnx"));
  ModelInfo info = describe_at_batch(g, 1);
  DsCnnCounts want = ds_cnn_s_counts(1);
  // Hand-computed totals (320000 + 4 * (72000 + 512000) + 768), pinned so that an error in
  // the formulas above cannot go unnoticed either.
  EXPECT_EQ(want.conv_macs + want.fc_macs, 2'656'768);
  EXPECT_EQ(want.params, 24'332);

  Sums s = sum_by_op(info);
  EXPECT_EQ(s.conv_layers, 9);
  EXPECT_EQ(s.gemm_layers, 1);
  EXPECT_EQ(s.conv_macs, want.conv_macs);
  EXPECT_EQ(s.gemm_macs, want.fc_macs);
  EXPECT_EQ(s.other_macs, 0);
  EXPECT_EQ(info.total_macs, want.conv_macs + want.fc_macs);
  EXPECT_EQ(info.total_params, want.params);
}

TEST(ModelMacs, DsCnnSFirstConvAndDepthwiseLayers) {
  Graph g = load_onnx(zoo("kws/ds_cnn_s.onnx"));
  ModelInfo info = describe_at_batch(g, 1);
  bool saw_conv1 = false, saw_dw = false;
  for (const LayerInfo& l : info.layers) {
    if (l.name == "conv1") {
      saw_conv1 = true;
      EXPECT_EQ(l.macs, conv_macs(25, 5, 64, 1, 1, 10, 4));
      EXPECT_EQ(l.params, 64 * 1 * 10 * 4);
      ASSERT_EQ(l.output_shapes.size(), 1u);
      ASSERT_EQ(l.output_shapes[0].size(), 4u);
      EXPECT_EQ(l.output_shapes[0][2], 25);
      EXPECT_EQ(l.output_shapes[0][3], 5);
    }
    if (l.name == "ds1.dw") {
      saw_dw = true;
      EXPECT_EQ(l.macs, 25 * 5 * 64 * 9);
      EXPECT_EQ(l.params, 64 * 9);
    }
  }
  EXPECT_TRUE(saw_conv1);
  EXPECT_TRUE(saw_dw);
}

TEST(ModelMacs, DsCnnSScalesWithBatch) {
  Graph g = load_onnx(zoo("kws/ds_cnn_s.onnx"));
  DsCnnCounts want = ds_cnn_s_counts(8);
  EXPECT_EQ(describe_at_batch(g, 8).total_macs, want.conv_macs + want.fc_macs);
  EXPECT_EQ(describe_at_batch(g, 8).total_params, ds_cnn_s_counts(1).params);
}

// The models' batch dim is symbolic ("N"); describe() counts unknown dims as 1.
TEST(ModelMacs, UnknownBatchCountsAsOne) {
  const char* models[] = {"kws/ds_cnn_s.onnx", "resnet/resnet20_cifar.onnx", "mlp/mlp_mnist.onnx",
                          "lstm/lstm_kws.onnx"};
  const int64_t want[] = {2'656'768, 40'813'184, 234'752, 928'256 + 768};
  for (size_t i = 0; i < 4; ++i) {
    Graph g = load_onnx(zoo(models[i]));
    ASSERT_FALSE(g.inputs.empty());
    ASSERT_FALSE(g.inputs[0].shape.empty());
    EXPECT_LT(g.inputs[0].shape[0], 0) << models[i] << ": batch dim should be symbolic";
    EXPECT_EQ(describe(g).total_macs, want[i]) << models[i];
  }
}

// ResNet-20 (CIFAR): conv 3x3 3->16 on 32x32; stages of 3 basic blocks at 16/32/64 channels on
// 32x32 / 16x16 / 8x8; stride-2 first block in stages 2 and 3 with a 1x1 stride-2 projection
// shortcut (conv + BN); global average pool; FC 64 -> 10.
TEST(ModelMacs, ResNet20MatchesAnalyticCount) {
  Graph g = load_onnx(zoo("resnet/resnet20_cifar.onnx"));
  ModelInfo info = describe_at_batch(g, 1);

  int64_t want_conv = 0, want_params = 0;
  int convs = 0;
  want_conv += conv_macs(32, 32, 16, 3, 1, 3, 3);
  want_params += conv_params(16, 3, 1, 3, 3) + bn_params(16);
  ++convs;
  const int64_t channels[3] = {16, 32, 64};
  const int64_t size[3] = {32, 16, 8};  // output map side of each stage
  int64_t cin = 16;
  for (int s = 0; s < 3; ++s) {
    const int64_t c = channels[s], hw = size[s];
    for (int b = 0; b < 3; ++b) {
      want_conv += conv_macs(hw, hw, c, cin, 1, 3, 3);  // conv1 (stride 2 in a first block)
      want_params += conv_params(c, cin, 1, 3, 3) + bn_params(c);
      want_conv += conv_macs(hw, hw, c, c, 1, 3, 3);  // conv2
      want_params += conv_params(c, c, 1, 3, 3) + bn_params(c);
      convs += 2;
      if (cin != c) {  // projection shortcut
        want_conv += conv_macs(hw, hw, c, cin, 1, 1, 1);
        want_params += conv_params(c, cin, 1, 1, 1) + bn_params(c);
        ++convs;
      }
      cin = c;
    }
  }
  const int64_t want_fc = fc_macs(64, 10);
  want_params += fc_params(64, 10);
  // Hand-computed: 442368 + 6 * 2359296 + 2 * (1179648 + 5 * 2359296 + 131072) + 640.
  EXPECT_EQ(want_conv + want_fc, 40'813'184);
  EXPECT_EQ(want_params, 274'042);

  Sums got = sum_by_op(info);
  EXPECT_EQ(got.conv_layers, convs);
  EXPECT_EQ(got.conv_layers, 21);
  EXPECT_EQ(got.gemm_layers, 1);
  EXPECT_EQ(got.conv_macs, want_conv);
  EXPECT_EQ(got.gemm_macs, want_fc);
  EXPECT_EQ(got.other_macs, 0);
  EXPECT_EQ(info.total_macs, want_conv + want_fc);
  EXPECT_EQ(info.total_params, want_params);
}

TEST(ModelMacs, MlpMatchesAnalyticCount) {
  Graph g = load_onnx(zoo("mlp/mlp_mnist.onnx"));
  ModelInfo info = describe_at_batch(g, 1);
  const int64_t want_macs = fc_macs(784, 256) + fc_macs(256, 128) + fc_macs(128, 10);
  const int64_t want_params = fc_params(784, 256) + fc_params(256, 128) + fc_params(128, 10);
  EXPECT_EQ(want_macs, 234'752);
  EXPECT_EQ(want_params, 235'146);
  EXPECT_EQ(info.total_macs, want_macs);
  EXPECT_EQ(info.total_params, want_params);
}

TEST(ModelMacs, LstmMatchesAnalyticCount) {
  Graph g = load_onnx(zoo("lstm/lstm_kws.onnx"));
  ModelInfo info = describe_at_batch(g, 1);
  const int64_t steps = 49, feats = 10, hidden = 64;
  // Each step: the four gates' input (4H x I) and recurrent (4H x H) matrix-vector products.
  const int64_t lstm = steps * 4 * hidden * (feats + hidden);
  EXPECT_EQ(lstm, 928'256);
  Sums s = sum_by_op(info);
  EXPECT_EQ(s.lstm_macs, lstm);
  EXPECT_EQ(s.gemm_macs, fc_macs(hidden, 12));
  EXPECT_EQ(info.total_macs, lstm + fc_macs(hidden, 12));
  // W [1,4H,I], R [1,4H,H], B [1,8H]; FC weight and bias.
  const int64_t lstm_params = 4 * hidden * feats + 4 * hidden * hidden + 8 * hidden;
  bool saw_lstm = false, saw_fc = false;
  for (const LayerInfo& l : info.layers) {
    if (l.name == "lstm") {
      saw_lstm = true;
      EXPECT_EQ(l.params, lstm_params);
    }
    if (l.name == "fc") {
      saw_fc = true;
      EXPECT_EQ(l.params, fc_params(hidden, 12));
    }
  }
  EXPECT_TRUE(saw_lstm);
  EXPECT_TRUE(saw_fc);
}

}  // namespace
}  // namespace acim
