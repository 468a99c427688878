// Mapping a graph onto a chip's arrays: tiling arithmetic (shapes, padding, partial sums),
// block-diagonal packing of depthwise kernels, grouped conv, Gemm/MatMul, LSTM matrices,
// replication within the budget, the does-not-fit message and the multi-chip split, and the zoo
// models (DS-CNN on a 16-array voice chip, ResNet-20 on edge-vision) pinned against hand computations.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "acim/chip.hpp"
#include "acim/error.hpp"
#include "acim/mapping.hpp"
#include "acim/onnx.hpp"
#include "acim/passes.hpp"
#include "test_util.hpp"

namespace acim {
namespace {

using test::filled;
using test::make_node;

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

TEST(Mapping, GroupedConvsGoToTheVectorUnitWhenTheChipSaysSo) {
  // DS-CNN on a chip whose vector unit runs grouped convolutions: its four depthwise layers are
  // digital ops (unit "vector"), the pointwise ones stay on the arrays.
  Graph g = zoo("zoo/kws/ds_cnn_s.onnx");
  ChipSpec chip = voice();
  chip.core.digital.grouped_conv = true;
  MappingOptions o;
  o.chips_auto = true;
  Mapping m = map_graph(g, chip, o);
  std::vector<std::string> analog, vector_unit;
  for (const LayerMapping& l : m.layers) analog.push_back(l.node);
  for (const DigitalOp& d : m.digital)
    if (d.unit == "vector") vector_unit.push_back(d.node);
  EXPECT_EQ(analog, (std::vector<std::string>{"conv1", "ds1.pw", "ds2.pw", "ds3.pw", "ds4.pw",
                                              "fc"}));
  EXPECT_EQ(vector_unit, (std::vector<std::string>{"ds1.dw", "ds2.dw", "ds3.dw", "ds4.dw"}));
  // A grouped (not depthwise) convolution too; an ungrouped one stays analog.
  Node gc = make_node("gc", "Conv", {"x", "w"}, {"y"}, {{"group", Attribute{int64_t{2}}}});
  EXPECT_TRUE(analog_layers(one_node_graph("x", {1, 64, 10, 10}, gc, {{"w", filled({64, 32, 3, 3})}}),
                            chip)
                  .empty());
  Node c = make_node("c", "Conv", {"x", "w"}, {"y"});
  EXPECT_EQ(
      analog_layers(one_node_graph("x", {1, 64, 10, 10}, c, {{"w", filled({8, 64, 3, 3})}}), chip)
          .size(),
      1u);
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
  // The LSTM's arrays fill chips 0 and 1 (one core each: global cores 0 and 1); the transfer to
  // fc crosses the chip link, so it has no on-chip hops.
  ASSERT_EQ(m.layers[0].array_cores.size(), 30u);
  EXPECT_EQ(m.layers[0].array_cores.front(), 0);
  EXPECT_EQ(m.layers[0].array_cores.back(), 1);
  ASSERT_EQ(m.transfers.size(), 2u);
  EXPECT_EQ(m.transfers[1].from_chip, 1);
  EXPECT_EQ(m.transfers[1].to_chip, 2);
  EXPECT_EQ(m.transfers[1].hops, 0.0);
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

// A chain of nodes (already in graph order) reading `input`; the last node's output is the
// graph's output.
Graph chain_graph(const std::string& input, Shape in_shape, std::vector<Node> nodes,
                  std::map<std::string, Tensor> weights) {
  Graph g;
  g.name = "chain";
  g.opset = 17;
  g.inputs.push_back(ValueInfo{input, DType::f32, std::move(in_shape), true});
  g.initializers = std::move(weights);
  g.outputs.push_back(ValueInfo{nodes.back().outputs[0], DType::f32, {}, false});
  g.nodes = std::move(nodes);
  run_default_passes(g);
  return g;
}

// x (4 x 16) -> fc1 -> Relu -> fc2 -> fc3, each 16 x 16: one array each, 4 MVMs (rows).
Graph gemm_chain() {
  return chain_graph("x", {4, 16},
                     {make_node("fc1", "MatMul", {"x", "w1"}, {"h1"}),
                      make_node("act", "Relu", {"h1"}, {"a1"}),  // fused or digital: either way
                      make_node("fc2", "MatMul", {"a1", "w2"}, {"h2"}),
                      make_node("fc3", "MatMul", {"h2", "w3"}, {"y"})},
                     {{"w1", filled({16, 16})}, {"w2", filled({16, 16})}, {"w3", filled({16, 16})}});
}

// Four cores of one array each: a 2 x 2 mesh (row-major ids 0 1 / 2 3).
ChipSpec four_cores(NocTopology topology = NocTopology::mesh) {
  ChipSpec c = voice();
  c.cores = 4;
  c.core.tiles = 1;
  c.tile.arrays = 1;
  c.noc.topology = topology;
  return c;
}

// Placement invariants: every array placed once, on its layer's chips, no core over-full.
void expect_valid_placement(const Mapping& m, const ChipSpec& c) {
  std::map<int64_t, int64_t> per_core;
  for (const LayerMapping& l : m.layers) {
    ASSERT_EQ(static_cast<int64_t>(l.array_cores.size()), l.arrays()) << l.node;
    for (int64_t gc : l.array_cores) {
      EXPECT_GE(gc / c.cores, l.chip) << l.node;
      EXPECT_LE(gc / c.cores, l.last_chip) << l.node;
      EXPECT_GE(gc, 0) << l.node;
      ++per_core[gc];
    }
  }
  for (const auto& [core, n] : per_core) EXPECT_LE(n, c.arrays_per_core()) << core;
}

TEST(Mapping, ScheduleOfAGemmChainIsTheSumOfItsLayers) {
  MappingOptions o;
  o.replicate = false;
  Mapping m = map_graph(gemm_chain(), voice(), o);
  ASSERT_EQ(m.layers.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(m.layers[i].stage, static_cast<int>(i));
    EXPECT_EQ(m.layers[i].cycles(), 4);
    EXPECT_EQ(m.layers[i].input_elements, 64);
    // A Gemm waits for its producer's whole output.
    EXPECT_EQ(m.layers[i].start_cycle, 4 * static_cast<int64_t>(i));
    EXPECT_EQ(m.layers[i].finish_cycle, 4 * static_cast<int64_t>(i) + 4);
  }
  EXPECT_EQ(m.latency_cycles, 12);
  EXPECT_EQ(m.interval_cycles, 4);
  // Replicated (each layer 4 copies, 1 cycle): latency 3 cycles, one inference per cycle.
  Mapping r = map_graph(gemm_chain(), voice());
  EXPECT_EQ(r.latency_cycles, 3);
  EXPECT_EQ(r.interval_cycles, 1);
  expect_valid_placement(r, voice());
}

TEST(Mapping, ConvAfterConvStartsAfterItsFirstKernelRows) {
  // conv1 3x3 pad 1 on 8x8: 64 positions. conv2 reads conv1's 8 rows directly and needs its
  // first 3: ceil(64 * 3 / 8) = 24 cycles; finish 24 + 64 = 88.
  auto conv = [](const std::string& name, const std::string& in, const std::string& out) {
    return make_node(name, "Conv", {in, name + ".w"}, {out},
                     {{"pads", Attribute{std::vector<int64_t>{1, 1, 1, 1}}}});
  };
  std::map<std::string, Tensor> w = {{"c1.w", filled({4, 4, 3, 3})},
                                     {"c2.w", filled({4, 4, 3, 3})}};
  MappingOptions o;
  o.replicate = false;
  Mapping m = map_graph(
      chain_graph("x", {1, 4, 8, 8}, {conv("c1", "x", "h"), conv("c2", "h", "y")}, w), voice(), o);
  ASSERT_EQ(m.layers.size(), 2u);
  EXPECT_EQ(m.layers[1].start_cycle, 24);
  EXPECT_EQ(m.layers[1].finish_cycle, 88);
  EXPECT_EQ(m.latency_cycles, 88);
  // A 2x2 max pool between: conv2 reads a 4x4 map and needs 3 of its 4 rows, 3/4 of conv1's
  // cycles (48); its 16 MVMs would end at 64, before conv1 has made its last row: 64 + 1.
  Mapping p = map_graph(
      chain_graph("x", {1, 4, 8, 8},
                  {conv("c1", "x", "h"),
                   make_node("pool", "MaxPool", {"h"}, {"hp"},
                             {{"kernel_shape", Attribute{std::vector<int64_t>{2, 2}}},
                              {"strides", Attribute{std::vector<int64_t>{2, 2}}}}),
                   conv("c2", "hp", "y")},
                  w),
      voice(), o);
  ASSERT_EQ(p.layers.size(), 2u);
  EXPECT_EQ(p.layers[1].mvms, 16);
  EXPECT_EQ(p.layers[1].start_cycle, 48);
  EXPECT_EQ(p.layers[1].finish_cycle, 65);
}

TEST(Mapping, HopsOnAFourCoreChipByHand) {
  // One array per core, no replication: fc1, fc2, fc3 take slots 0, 1, 2. Serpentine over the
  // 2 x 2 mesh visits cores 0 1 3 2: fc1 on core 0, fc2 on 1, fc3 on 3 (hops 0, 1, 1).
  // Row-major puts fc3 on core 2, two hops from core 1. 64 bytes per transfer: 4 x 16 inputs at
  // the DAC's 8 bits.
  MappingOptions o;
  o.replicate = false;
  Mapping m = map_graph(gemm_chain(), four_cores(), o);
  EXPECT_EQ(m.mesh_rows, 2);
  EXPECT_EQ(m.mesh_cols, 2);
  EXPECT_EQ(m.placement, "serpentine");  // the Hilbert order (0 2 3 1) ties: serpentine kept
  ASSERT_EQ(m.layers.size(), 3u);
  EXPECT_EQ(m.layers[0].array_cores, std::vector<int64_t>{0});
  EXPECT_EQ(m.layers[1].array_cores, std::vector<int64_t>{1});
  EXPECT_EQ(m.layers[2].array_cores, std::vector<int64_t>{3});
  ASSERT_EQ(m.transfers.size(), 3u);
  EXPECT_EQ(m.transfers[0].from, "");  // the graph input, entering at core 0
  EXPECT_EQ(m.transfers[0].to, "fc1");
  EXPECT_EQ(m.transfers[1].from, "fc1");  // through the Relu, which runs on fc1's core
  EXPECT_EQ(m.transfers[1].to, "fc2");
  EXPECT_EQ(m.transfers[2].from, "fc2");
  const std::vector<double> hops = {0, 1, 1};
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(m.transfers[i].bytes, 64);
    EXPECT_DOUBLE_EQ(m.transfers[i].hops, hops[i]);
  }
  EXPECT_DOUBLE_EQ(m.noc_byte_hops, 64 * 2);
  EXPECT_DOUBLE_EQ(m.noc_byte_hops_row_major, 64 * 3);
  o.placement = "row-major";
  EXPECT_EQ(map_graph(gemm_chain(), four_cores(), o).layers[2].array_cores,
            std::vector<int64_t>{2});

  // Replicated: each layer 1 copy still (4 arrays hold 3 layers, doubling all three needs 6);
  // a 2-copy layer's mean hops average over its arrays' cores.
  o.placement.clear();
  std::vector<Node> two = {make_node("fc1", "MatMul", {"x", "w1"}, {"h1"}),
                           make_node("fc2", "MatMul", {"h1", "w2"}, {"y"})};
  Mapping r = map_graph(
      chain_graph("x", {4, 16}, two, {{"w1", filled({16, 16})}, {"w2", filled({16, 16})}}),
      four_cores(), MappingOptions{});
  ASSERT_EQ(r.layers[0].replication, 2);  // cores 0, 1 (serpentine), fc2 on cores 3, 2
  EXPECT_EQ(r.layers[1].array_cores, (std::vector<int64_t>{3, 2}));
  // fc1 -> fc2: pairs (0,3) 2, (0,2) 1, (1,3) 1, (1,2) 2: mean 1.5. Input -> fc1: (0,0) 0, (0,1) 1.
  ASSERT_EQ(r.transfers.size(), 2u);
  EXPECT_DOUBLE_EQ(r.transfers[0].hops, 0.5);
  EXPECT_DOUBLE_EQ(r.transfers[1].hops, 1.5);
}

TEST(Mapping, BusAndTreeHops) {
  // One row of 4 cores; serpentine = row-major = cores 0, 1, 2. Bus: |i - j| = 0, 1, 1. Tree:
  // leaves 0..3 of a binary tree, 2 * bit_width(i xor j) links: 0 -> 1 is 2, 1 -> 2 is 4.
  MappingOptions o;
  o.replicate = false;
  Mapping bus = map_graph(gemm_chain(), four_cores(NocTopology::bus), o);
  EXPECT_EQ(bus.mesh_rows, 1);
  EXPECT_EQ(bus.mesh_cols, 4);
  EXPECT_DOUBLE_EQ(bus.noc_byte_hops, 64 * (0 + 1 + 1));
  EXPECT_DOUBLE_EQ(bus.noc_byte_hops_row_major, bus.noc_byte_hops);
  Mapping tree = map_graph(gemm_chain(), four_cores(NocTopology::tree), o);
  EXPECT_DOUBLE_EQ(tree.noc_byte_hops, 64 * (0 + 2 + 4));
}

TEST(Mapping, PlacementBeatsRowMajorOnZooModels) {
  // edge-vision: 16 cores on a 4 x 4 mesh, 32 arrays each.
  ChipSpec c = chip_preset("edge-vision");
  for (const char* model : {"zoo/kws/ds_cnn_s.onnx", "zoo/resnet/resnet20_cifar.onnx"}) {
    Graph g = zoo(model);
    MappingOptions o;
    o.placement = "serpentine";
    Mapping s = map_graph(g, c, o);
    o.placement = "hilbert";
    Mapping h = map_graph(g, c, o);
    Mapping best = map_graph(g, c);
    EXPECT_EQ(s.mesh_cols, 4);
    EXPECT_GT(s.noc_byte_hops_row_major, 0) << model;
    EXPECT_LE(s.noc_byte_hops, s.noc_byte_hops_row_major) << model;
    EXPECT_DOUBLE_EQ(best.noc_byte_hops, std::min(s.noc_byte_hops, h.noc_byte_hops)) << model;
    EXPECT_EQ(best.noc_byte_hops_row_major, s.noc_byte_hops_row_major) << model;
    expect_valid_placement(best, c);
    expect_valid_placement(h, c);
    // Every analog layer reads something; byte-hops are the transfers' sum (one chip).
    double sum = 0;
    for (const Transfer& t : best.transfers) sum += static_cast<double>(t.bytes) * t.hops;
    EXPECT_NEAR(sum, best.noc_byte_hops, 1e-9 * sum) << model;
    for (const LayerMapping& l : best.layers) {
      EXPECT_GT(l.input_elements, 0) << l.node;
      EXPECT_GE(l.finish_cycle, l.start_cycle + l.cycles()) << l.node;
      EXPECT_LE(l.finish_cycle, best.latency_cycles) << l.node;
    }
  }
}

TEST(Mapping, ResidualSkipIsSentToTheAddsCores) {
  // ResNet-20: every block's Add runs on its conv2's cores; the skip branch (the previous
  // block's output, or the input of the first) comes from another layer's cores, so each of the
  // 9 blocks adds one transfer to the 22 layer inputs.
  Mapping m = map_graph(zoo("zoo/resnet/resnet20_cifar.onnx"), chip_preset("edge-vision"));
  EXPECT_EQ(m.transfers.size(), 22u + 9u);
  EXPECT_EQ(m.layers.size(), 22u);
  expect_valid_placement(m, chip_preset("edge-vision"));
  EXPECT_GT(m.latency_cycles, m.interval_cycles);
}

TEST(Mapping, UnknownPlacementIsAnError) {
  MappingOptions o;
  o.placement = "spiral";
  EXPECT_THROW(map_graph(gemm_chain(), voice(), o), Error);
}

}  // namespace
}  // namespace acim
