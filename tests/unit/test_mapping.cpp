// Mapping a graph onto a chip's arrays: tiling arithmetic (shapes, padding, partial sums),
// block-diagonal packing of depthwise kernels, grouped conv, Gemm/MatMul, LSTM matrices,
// replication within the budget, the does-not-fit message and the multi-chip split, and the zoo
// models (DS-CNN on a 16-array voice chip, ResNet-20 on edge-vision) pinned against hand computations.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "acim/chip.hpp"
#include "acim/error.hpp"
#include "acim/mapping.hpp"
#include "acim/onnx.hpp"
#include "acim/passes.hpp"

namespace acim {
namespace {

Node make_node(const std::string& name, const std::string& op, std::vector<std::string> inputs,
               std::vector<std::string> outputs, std::map<std::string, Attribute> attrs = {}) {
  Node n;
  n.name = name;
  n.op_type = op;
  n.inputs = std::move(inputs);
  n.outputs = std::move(outputs);
  n.attrs = std::move(attrs);
  return n;
}

Tensor filled(const Shape& shape, float v = 0.5f) {
  Tensor t(DType::f32, shape);
  for (float& x : t.span<float>()) x = v;
  return t;
}

Graph one_node_graph(const std::string& input, Shape in_shape, Node node,
                     std::map<std::string, Tensor> weights) {
  Graph g;
  g.name = "test";
  g.opset = 17;
  g.inputs.push_back(ValueInfo{input, DType::f32, std::move(in_shape), true});
  g.initializers = std::move(weights);
  for (const std::string& o : node.outputs)
    if (!o.empty()) g.outputs.push_back(ValueInfo{o, DType::f32, {}, false});
  g.nodes.push_back(std::move(node));
  run_default_passes(g);
  return g;
}

// tests/data/chips/voice-16.toml: edge-voice's arrays, 16 of them, 256 rows x 18 weight
// columns (8-bit weights as 7 one-bit slices, differential: 256 / 14 = 18).
ChipSpec voice() {
  ChipSpec c = load_chip_spec(std::string(ACIM_SOURCE_DIR) + "/tests/data/chips/voice-16.toml");
  EXPECT_EQ(c.array.rows, 256);
  EXPECT_EQ(c.array.logical_cols(), 18);
  EXPECT_EQ(c.total_arrays(), 16);
  return c;
}

Graph zoo(const std::string& rel) {
  Graph g = load_onnx(std::string(ACIM_SOURCE_DIR) + "/" + rel);
  run_default_passes(g);
  return g;
}

TEST(Mapping, TileExactMultiple) {
  MatrixTiling t = tile_matrix(512, 36, 256, 18);
  EXPECT_EQ(t.row_blocks, 2);
  EXPECT_EQ(t.col_blocks, 2);
  EXPECT_EQ(t.arrays, 4);
  EXPECT_EQ(t.partial_sum_adds, 1);
  EXPECT_EQ(t.weights, 512 * 36);
  EXPECT_EQ(t.allocated, 4 * 256 * 18);  // no padding: 100 %
}

TEST(Mapping, TileOneMoreThanAMultiple) {
  MatrixTiling t = tile_matrix(513, 37, 256, 18);
  EXPECT_EQ(t.row_blocks, 3);
  EXPECT_EQ(t.col_blocks, 3);
  EXPECT_EQ(t.arrays, 9);
  EXPECT_EQ(t.partial_sum_adds, 2);
  EXPECT_EQ(t.weights, 513 * 37);
  EXPECT_EQ(t.allocated, 9 * 256 * 18);
}

TEST(Mapping, TileSmallerThanOneArray) {
  MatrixTiling t = tile_matrix(10, 5, 256, 18);
  EXPECT_EQ(t.arrays, 1);
  EXPECT_EQ(t.partial_sum_adds, 0);
  EXPECT_EQ(t.allocated, 256 * 18);
  EXPECT_EQ(t.weights, 50);
}

TEST(Mapping, GroupsPerArray) {
  EXPECT_EQ(groups_per_array(9, 1, 256, 18), 18);   // columns limit
  EXPECT_EQ(groups_per_array(64, 2, 256, 18), 4);   // rows limit
  EXPECT_EQ(groups_per_array(300, 1, 256, 18), 0);  // K larger than an array
  EXPECT_EQ(groups_per_array(9, 20, 256, 18), 0);   // N larger than an array
}

TEST(Mapping, DepthwiseConvIsPackedBlockDiagonally) {
  Node n = make_node(
      "dw", "Conv", {"x", "w"}, {"y"},
      {{"group", Attribute{int64_t{64}}}, {"pads", Attribute{std::vector<int64_t>{1, 1, 1, 1}}}});
  Graph g = one_node_graph("x", {1, 64, 25, 5}, n, {{"w", filled({64, 1, 3, 3})}});
  std::vector<LayerMapping> l = analog_layers(g, voice());
  ASSERT_EQ(l.size(), 1u);
  ASSERT_EQ(l[0].matrices.size(), 1u);
  EXPECT_EQ(l[0].matrices[0].rows, 9);
  EXPECT_EQ(l[0].matrices[0].cols, 1);
  EXPECT_EQ(l[0].matrices[0].count, 64);
  EXPECT_EQ(l[0].groups_packed, 18);  // min(256/9, 18/1)
  EXPECT_EQ(l[0].tiles, 4);           // ceil(64/18), not 64
  EXPECT_EQ(l[0].weights, 576);
  EXPECT_EQ(l[0].allocated, 4 * 256 * 18);
  EXPECT_EQ(l[0].mvms, 125);  // 25 x 5 output positions
  EXPECT_EQ(l[0].partial_sum_adds, 0);
}

TEST(Mapping, GroupedConvTilesEachGroup) {
  // 2 groups of 32 -> 32 channels, 3x3: K = 288 > 256 rows, so no packing; each group is
  // 2 row blocks x 2 column blocks (32 > 18).
  Node n = make_node("gc", "Conv", {"x", "w"}, {"y"}, {{"group", Attribute{int64_t{2}}}});
  Graph g = one_node_graph("x", {1, 64, 10, 10}, n, {{"w", filled({64, 32, 3, 3})}});
  std::vector<LayerMapping> l = analog_layers(g, voice());
  ASSERT_EQ(l.size(), 1u);
  EXPECT_EQ(l[0].matrices[0].rows, 288);
  EXPECT_EQ(l[0].matrices[0].cols, 32);
  EXPECT_EQ(l[0].matrices[0].count, 2);
  EXPECT_EQ(l[0].groups_packed, 1);
  EXPECT_EQ(l[0].tiles, 8);
  EXPECT_EQ(l[0].row_blocks, 2);
  EXPECT_EQ(l[0].col_blocks, 2);
  EXPECT_EQ(l[0].mvms, 64);                       // 8 x 8 outputs
  EXPECT_EQ(l[0].partial_sum_adds, 1 * 64 * 64);  // one add per output channel per position
  EXPECT_NEAR(l[0].utilisation(), 2.0 * 288 * 32 / (8.0 * 256 * 18), 1e-12);
}

TEST(Mapping, GemmTransBAndMatMulBatchRows) {
  Node gemm = make_node("fc", "Gemm", {"x", "b", "c"}, {"y"}, {{"transB", Attribute{int64_t{1}}}});
  Graph g = one_node_graph("x", {3, 300}, gemm, {{"b", filled({40, 300})}, {"c", filled({40})}});
  std::vector<LayerMapping> l = analog_layers(g, voice());
  ASSERT_EQ(l.size(), 1u);
  EXPECT_EQ(l[0].matrices[0].rows, 300);
  EXPECT_EQ(l[0].matrices[0].cols, 40);
  EXPECT_EQ(l[0].tiles, 6);  // 2 row blocks x 3 column blocks
  EXPECT_EQ(l[0].mvms, 3);
  EXPECT_EQ(l[0].partial_sum_adds, 1 * 40 * 3);

  Node mm = make_node("mm", "MatMul", {"x", "b"}, {"y"});
  Graph g2 = one_node_graph("x", {2, 5, 20}, mm, {{"b", filled({20, 18})}});
  std::vector<LayerMapping> l2 = analog_layers(g2, voice());
  ASSERT_EQ(l2.size(), 1u);
  EXPECT_EQ(l2[0].tiles, 1);
  EXPECT_EQ(l2[0].mvms, 10);
  EXPECT_NEAR(l2[0].utilisation(), 20.0 * 18 / (256.0 * 18), 1e-12);
}

TEST(Mapping, MatMulOfTwoActivationsIsDigital) {
  Graph g;
  g.name = "attn";
  g.opset = 17;
  g.inputs.push_back(ValueInfo{"a", DType::f32, {4, 8}, true});
  g.inputs.push_back(ValueInfo{"b", DType::f32, {8, 4}, true});
  g.outputs.push_back(ValueInfo{"y", DType::f32, {}, false});
  g.nodes.push_back(make_node("qk", "MatMul", {"a", "b"}, {"s"}));
  g.nodes.push_back(make_node("sm", "Softmax", {"s"}, {"y"}));
  run_default_passes(g);
  Mapping m = map_graph(g, voice());
  EXPECT_TRUE(m.layers.empty());
  ASSERT_EQ(m.digital.size(), 2u);
  EXPECT_EQ(m.digital[0].unit, "vector");
  EXPECT_EQ(m.digital[1].unit, "softmax");
  ChipSpec no_softmax = voice();
  no_softmax.core.digital.softmax = false;
  EXPECT_EQ(map_graph(g, no_softmax).digital[1].unit, "host");
}

TEST(Mapping, LstmWeightsAndRecurrenceAreMatrices) {
  // hidden 8, input 10: W is 10 x 32 (4 gates stacked), R is 8 x 32; each 2 column blocks.
  Node n = make_node("lstm", "LSTM", {"x", "w", "r"}, {"y", "yh"},
                     {{"hidden_size", Attribute{int64_t{8}}}});
  Graph g = one_node_graph("x", {7, 1, 10}, n,
                           {{"w", filled({1, 32, 10}, 0.1f)}, {"r", filled({1, 32, 8}, 0.1f)}});
  std::vector<LayerMapping> l = analog_layers(g, voice());
  ASSERT_EQ(l.size(), 1u);
  ASSERT_EQ(l[0].matrices.size(), 2u);
  EXPECT_EQ(l[0].matrices[0].role, "W");
  EXPECT_EQ(l[0].matrices[0].rows, 10);
  EXPECT_EQ(l[0].matrices[0].cols, 32);
  EXPECT_EQ(l[0].matrices[1].role, "R");
  EXPECT_EQ(l[0].matrices[1].rows, 8);
  EXPECT_EQ(l[0].matrices[1].cols, 32);
  EXPECT_EQ(l[0].tiles, 4);
  EXPECT_EQ(l[0].mvms, 7);                   // one per time step
  EXPECT_EQ(l[0].partial_sum_adds, 7 * 32);  // W x + R h per gate output, per step
  ASSERT_FALSE(l[0].digital.empty());
  EXPECT_EQ(l[0].digital.back(), "LSTM gates");
}

LayerMapping synthetic(int64_t tiles, int64_t mvms) {
  LayerMapping l;
  l.tiles = tiles;
  l.mvms = mvms;
  return l;
}

TEST(Mapping, ReplicationStaysInBudgetAndShortensTheBottleneck) {
  std::vector<LayerMapping> layers = {synthetic(2, 1000), synthetic(1, 100), synthetic(5, 10)};
  std::vector<LayerMapping*> ptrs;
  for (auto& l : layers) ptrs.push_back(&l);
  for (int64_t budget : {8, 9, 10, 11, 20, 33, 100}) {
    int64_t used = replicate_layers(ptrs, budget);
    int64_t sum = 0, slowest = 0;
    for (auto& l : layers) {
      sum += l.arrays();
      slowest = std::max(slowest, l.cycles());
    }
    EXPECT_EQ(used, sum);
    EXPECT_LE(used, budget) << budget;
    if (budget >= 10) EXPECT_LT(slowest, 1000) << budget;
  }
  // Budget 20: layer 0 doubled 3 times (2 -> 16 arrays, 1000 -> 125 cycles) = 16 + 1 + 5 = 22
  // would not fit; after two doublings (8 arrays, 250 cycles) the total is 14, the next costs 8.
  replicate_layers(ptrs, 20);
  EXPECT_EQ(layers[0].replication, 4);
  EXPECT_EQ(layers[0].cycles(), 250);
  EXPECT_EQ(layers[1].replication, 1);
  // Budget 8: the layers' own 8 arrays, nothing to spare.
  replicate_layers(ptrs, 8);
  EXPECT_EQ(layers[0].replication, 1);
}

TEST(Mapping, DsCnnDoesNotFitEdgeVoice) {
  // conv1 40x64: 4 column blocks; each dw 64*(9x1) packed 18 per array: 4; each pw 64x64: 4;
  // fc 64x12: 1. Total 4 + 4 * (4 + 4) + 1 = 37 arrays; layer order on 16-array chips:
  // 16 | 16 | 5 -> 3 chips.
  Graph g = zoo("zoo/kws/ds_cnn_s.onnx");
  MappingOptions o;
  o.model = "zoo/kws/ds_cnn_s.onnx";
  try {
    map_graph(g, voice(), o);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::limit);
    EXPECT_EQ(std::string(e.what()),
              "zoo/kws/ds_cnn_s.onnx: needs 37 arrays; chip 'voice-16' has 16; use --chips 3 "
              "(or --chips auto)");
  }
  o.chips = 2;
  EXPECT_THROW(map_graph(g, voice(), o), Error);
  o.chips = 3;  // the suggestion fits
  Mapping m = map_graph(g, voice(), o);
  EXPECT_EQ(m.chips, 3);
  EXPECT_EQ(m.tiles, 37);
  EXPECT_EQ(m.weights, 2560 + 4 * 576 + 4 * 4096 + 768);
  // Balanced split: the smallest per-chip load that still needs only 3 chips is 13 arrays, so
  // 3 layers per chip (12 | 12 | 12 + fc = 13). No replication fits: the 3 layers tied at 125
  // cycles on each chip would need 12 more arrays, and a chip has 16.
  EXPECT_EQ(m.arrays_used, 37);
  EXPECT_EQ(m.arrays_available, 48);
  ASSERT_EQ(m.layers.size(), 10u);
  EXPECT_EQ(m.layers[2].chip, 0);
  EXPECT_EQ(m.layers[3].chip, 1);
  EXPECT_EQ(m.layers[5].chip, 1);
  EXPECT_EQ(m.layers[6].chip, 2);
  EXPECT_EQ(m.layers[9].chip, 2);
  for (const LayerMapping& l : m.layers) EXPECT_EQ(l.replication, 1) << l.node;
  EXPECT_EQ(m.bottleneck_cycles, 125);
  ASSERT_EQ(m.boundaries.size(), 2u);
  EXPECT_EQ(m.boundaries[0].elements, 64 * 25 * 5);  // one feature map crosses each boundary
  EXPECT_EQ(m.boundaries[0].bytes, 64 * 25 * 5);     // 8-bit inputs
  MappingOptions a;
  a.chips_auto = true;
  EXPECT_EQ(map_graph(g, voice(), a).chips, 3);
}

TEST(Mapping, LayerLargerThanAChipSpansChips) {
  // lstm_kws: LSTM hidden 64, input 10 -> W 10x256 and R 64x256, ceil(256/18) = 15 column
  // blocks each = 30 arrays > 16: chips 0-1 of its own; fc (64x12, 1 array) on chip 2.
  Graph g = zoo("zoo/lstm/lstm_kws.onnx");
  EXPECT_EQ(chips_for(analog_layers(g, voice()), 16), 3);
  MappingOptions a;
  a.chips_auto = true;
  Mapping m = map_graph(g, voice(), a);
  EXPECT_EQ(m.chips, 3);
  ASSERT_EQ(m.layers.size(), 2u);
  EXPECT_EQ(m.layers[0].tiles, 30);
  EXPECT_EQ(m.layers[0].chip, 0);
  EXPECT_EQ(m.layers[0].last_chip, 1);
  EXPECT_EQ(m.layers[1].chip, 2);
  ASSERT_EQ(m.cores_used.size(), 3u);
  EXPECT_EQ(m.cores_used[0], 1);
  EXPECT_EQ(m.cores_used[1], 1);
  EXPECT_EQ(m.cores_used[2], 1);
  // The LSTM's last hidden state (64 values) reaches fc across the 1 -> 2 boundary.
  ASSERT_EQ(m.boundaries.size(), 2u);
  EXPECT_EQ(m.boundaries[1].elements, 64);
  EXPECT_LE(m.arrays_used, m.arrays_available);
}

TEST(Mapping, ChipWithoutWeightColumnsIsAnError) {
  ChipSpec c = voice();
  c.array.cols = 2;  // fewer physical columns than one 14-cell weight needs
  Graph g = zoo("zoo/mlp/mlp_mnist.onnx");
  ASSERT_EQ(c.array.logical_cols(), 0);
  try {
    map_graph(g, c);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::invalid);
    EXPECT_NE(std::string(e.what()).find("chip 'voice-16': holds no weights"), std::string::npos)
        << e.what();
  }
}

TEST(Mapping, ResNet20OnEdgeVision) {
  // 512 x 36 arrays (512 / 14 = 36), 16 cores x 4 tiles x 8 arrays = 512 arrays.
  ChipSpec c = chip_preset("edge-vision");
  ASSERT_EQ(c.array.logical_cols(), 36);
  ASSERT_EQ(c.total_arrays(), 512);
  Graph g = zoo("zoo/resnet/resnet20_cifar.onnx");
  Mapping m = map_graph(g, c);
  // Tiles: conv1 27x16: 1; stage 1 six 144x16: 1 each; stage 2 seven (144|288|16)x32: 1 each;
  // stage 3: 288x64: 2, 576x64: 4 (x5), 32x64: 2 -> 24; fc: 1. Total 39.
  std::vector<int64_t> tiles = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 4, 2, 4, 4, 4, 4, 1};
  ASSERT_EQ(m.layers.size(), tiles.size());
  for (size_t i = 0; i < tiles.size(); ++i) EXPECT_EQ(m.layers[i].tiles, tiles[i]) << i;
  EXPECT_EQ(m.tiles, 39);
  EXPECT_EQ(m.chips, 1);
  // Replication, doubling every layer tied at the slowest: S1 = 7 layers, 1024 positions, 1 tile;
  // S2 = 7 layers, 256, 1 tile; S3 = 24 tiles, 64. 39 -> +7 -> +14 -> +35 (S1+S2 at 256) -> +70
  // -> +164 (all at 64) = 329; the next step (+328) exceeds 512. Bottleneck 32 cycles.
  EXPECT_EQ(m.arrays_used, 329);
  EXPECT_EQ(m.bottleneck_cycles, 32);
  EXPECT_EQ(m.bottleneck_cycles_unreplicated, 1024);
  EXPECT_EQ(m.layers[0].replication, 32);
  EXPECT_EQ(m.layers[7].replication, 8);   // stage2.block0.conv1
  EXPECT_EQ(m.layers[15].replication, 2);  // stage3.block0.conv2
  EXPECT_EQ(m.cores_used[0], 11);          // ceil(329 / 32)
  EXPECT_EQ(m.layers.back().last_core, 10);
  EXPECT_TRUE(m.boundaries.empty());
  EXPECT_EQ(m.digital.size(), 11u);  // 9 Add+Relu, pool, flatten
}

}  // namespace
}  // namespace acim
