// Cost model: event counts of tiny networks against hand computations (exact integers), energy
// as count x per-event energy x scale on one layer by hand, the activity model, ADC models
// against their formulas, the digital baseline's node scaling, and DS-CNN on edge-voice priced
// to plausible orders of magnitude.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "acim/chip.hpp"
#include "acim/cost.hpp"
#include "acim/error.hpp"
#include "acim/mapping.hpp"
#include "acim/onnx.hpp"
#include "acim/passes.hpp"
#include "acim/rng.hpp"
#include "test_util.hpp"

namespace acim {
namespace {

using test::filled;
using test::make_node;

// input -> nodes..., output = the last node's first output; passes run.
Graph make_graph(const Shape& in_shape, std::vector<Node> nodes,
                 std::map<std::string, Tensor> weights) {
  Graph g;
  g.name = "test";
  g.opset = 17;
  g.inputs.push_back(ValueInfo{"x", DType::f32, in_shape, true});
  g.initializers = std::move(weights);
  g.outputs.push_back(ValueInfo{nodes.back().outputs[0], DType::f32, {}, false});
  g.nodes = std::move(nodes);
  run_default_passes(g);
  return g;
}

// Gemm 300 -> 40 (no bias): two row blocks on 256-row arrays.
Graph gemm_300x40() {
  return make_graph({1, 300}, {make_node("fc", "Gemm", {"x", "B"}, {"y"})},
                    {{"B", filled({300, 40}, 0.25f)}});
}

// A plain chip: ideal cells, differential pairs, 256 rows x 128 columns (64 weight columns),
// 8-bit amplitude DAC, 8-bit ADCs.
ChipSpec plain_chip() {
  ChipSpec c;
  c.name = "plain";
  c.array.rows = 256;
  c.array.cols = 128;
  c.core.tiles = 2;
  c.tile.arrays = 4;
  validate_chip_spec(c, "plain");
  return c;
}

// edge-voice's arrays (256 rows, 8-bit weights as 7 one-bit slices: 18 weight columns) with an
// amplitude DAC.
ChipSpec sliced_chip() {
  ChipSpec c = chip_preset("edge-voice");
  c.array.dac.mode = DacMode::amplitude;
  EXPECT_EQ(c.array.logical_cols(), 18);
  return c;
}

struct Priced {
  Graph graph;
  Mapping mapping;
  Events events;
};

Priced map_and_count(Graph g, const ChipSpec& chip) {
  Priced p;
  p.graph = std::move(g);
  p.mapping = map_graph(p.graph, chip);
  p.events = count_events(p.graph, p.mapping, chip);
  return p;
}

TEST(CostEvents, GemmTwoRowBlocks) {
  Priced p = map_and_count(gemm_300x40(), plain_chip());
  ASSERT_EQ(p.events.layers.size(), 1u);
  const LayerEvents& e = p.events.layers[0];
  EXPECT_EQ(e.mvms, 1);
  EXPECT_EQ(e.tile_activations, 2);     // 256 + 44 rows
  EXPECT_EQ(e.array_reads, 2);
  EXPECT_EQ(e.dac_drives, 300);         // every row once
  EXPECT_EQ(e.adc_conversions, 80);     // 40 columns on each tile
  EXPECT_EQ(e.shift_adds, 0);           // one conversion per output per tile
  EXPECT_EQ(e.partial_sum_adds, 40);    // the two row blocks, per output
  EXPECT_EQ(e.core_buffer_read_bytes, 300);
  EXPECT_EQ(e.tile_buffer_write_bytes, 300);
  EXPECT_EQ(e.tile_buffer_read_bytes, 300);
  EXPECT_EQ(e.core_buffer_write_bytes, 40);
  EXPECT_EQ(e.macs, 12000);
  EXPECT_EQ(e.vector_lane_ops, 0);
  EXPECT_EQ(p.events.chip_link_bits, 0);
}

TEST(CostEvents, GemmBitSerialAndRowGroups) {
  ChipSpec chip = plain_chip();
  chip.array.dac.mode = DacMode::bit_serial;  // 8 bits: 7 magnitude planes
  Priced p = map_and_count(gemm_300x40(), chip);
  const LayerEvents& e = p.events.layers[0];
  EXPECT_EQ(e.array_reads, 14);
  EXPECT_EQ(e.dac_drives, 2100);
  EXPECT_EQ(e.adc_conversions, 560);
  EXPECT_EQ(e.shift_adds, 560 - 80);  // 7 planes of each tile's 40 outputs into one
  // 128 rows at once: the 256-row tile reads twice per plane, the 44-row tile once.
  chip.array.parallel_rows = 128;
  p = map_and_count(gemm_300x40(), chip);
  const LayerEvents& g = p.events.layers[0];
  EXPECT_EQ(g.array_reads, 7 * (2 + 1));
  EXPECT_EQ(g.dac_drives, 2100);  // each row still driven once per plane
  EXPECT_EQ(g.adc_conversions, 40 * 7 * 2 + 40 * 7 * 1);
  EXPECT_EQ(g.shift_adds, 840 - 80);
}

TEST(CostEvents, GemmBitSliced) {
  Priced p = map_and_count(gemm_300x40(), sliced_chip());
  const LayerEvents& e = p.events.layers[0];
  // 2 row blocks x 3 column blocks (18, 18, 4 columns) = 6 tiles.
  EXPECT_EQ(e.tile_activations, 6);
  EXPECT_EQ(e.dac_drives, 300 * 3);          // each column block's tile drives its rows
  EXPECT_EQ(e.adc_conversions, 2 * 40 * 7);  // 7 slices per weight column, both row blocks
  EXPECT_EQ(e.shift_adds, 560 - 80);
  EXPECT_EQ(e.partial_sum_adds, 40);
  EXPECT_EQ(e.tile_buffer_read_bytes, 900);
  EXPECT_EQ(e.core_buffer_read_bytes, 300);
}

TEST(CostEvents, Conv3x3On4x4WithBiasAndRelu) {
  Graph g = make_graph({1, 2, 4, 4},
                       {make_node("conv", "Conv", {"x", "W", "b"}, {"c"},
                                  {{"kernel_shape", Attribute{std::vector<int64_t>{3, 3}}},
                                   {"pads", Attribute{std::vector<int64_t>{1, 1, 1, 1}}}}),
                        make_node("relu", "Relu", {"c"}, {"y"})},
                       {{"W", filled({3, 2, 3, 3}, 0.1f)}, {"b", filled({3}, 0.0f)}});
  Priced p = map_and_count(std::move(g), plain_chip());
  ASSERT_EQ(p.events.layers.size(), 1u);
  const LayerEvents& e = p.events.layers[0];
  EXPECT_EQ(e.mvms, 16);                   // 4 x 4 output positions
  EXPECT_EQ(e.tile_activations, 16);       // one tile: 18 rows x 3 columns
  EXPECT_EQ(e.dac_drives, 18 * 16);
  EXPECT_EQ(e.adc_conversions, 3 * 16);
  EXPECT_EQ(e.partial_sum_adds, 0);
  EXPECT_EQ(e.core_buffer_read_bytes, 18 * 16);  // the im2col vector per position
  EXPECT_EQ(e.core_buffer_write_bytes, 48);
  EXPECT_EQ(e.input_bytes, 32);
  // Fused: bias and ReLU, one lane-op per output each; 16 lanes.
  EXPECT_EQ(e.vector_lane_ops, 96);
  EXPECT_EQ(e.vector_ops, 6);
  EXPECT_TRUE(p.events.digital.empty());
}

TEST(CostEvents, DepthwisePacksCountEveryGroupOnce) {
  // 64-channel 3x3 depthwise on 256 x 18 arrays: 18 groups per array, 4 arrays (3 full with 162
  // rows x 18 columns, the last with 10 groups: 90 x 10).
  Graph g = make_graph({1, 64, 4, 4},
                       {make_node("dw", "Conv", {"x", "W"}, {"y"},
                                  {{"kernel_shape", Attribute{std::vector<int64_t>{3, 3}}},
                                   {"pads", Attribute{std::vector<int64_t>{1, 1, 1, 1}}},
                                   {"group", Attribute{int64_t{64}}}})},
                       {{"W", filled({64, 1, 3, 3}, 0.1f)}});
  Priced p = map_and_count(std::move(g), sliced_chip());
  const LayerEvents& e = p.events.layers[0];
  EXPECT_EQ(e.tile_activations, 4 * 16);
  EXPECT_EQ(e.dac_drives, (3 * 162 + 90) * 16);
  EXPECT_EQ(e.adc_conversions, (3 * 18 + 10) * 7 * 16);
  EXPECT_EQ(e.macs, 64 * 9 * 16);
}

TEST(CostEvents, GroupedConvOnTheVectorUnitCostsItsMacsThere) {
  // The same depthwise layer plus a fused Relu on a chip whose vector unit runs grouped
  // convolutions: no arrays, no conversions; 64 x 9 MACs per position and one lane-op per output
  // for the Relu, on 16 lanes.
  Graph g = make_graph({1, 64, 4, 4},
                       {make_node("dw", "Conv", {"x", "W"}, {"h"},
                                  {{"kernel_shape", Attribute{std::vector<int64_t>{3, 3}}},
                                   {"pads", Attribute{std::vector<int64_t>{1, 1, 1, 1}}},
                                   {"group", Attribute{int64_t{64}}}}),
                        make_node("r", "Relu", {"h"}, {"y"})},
                       {{"W", filled({64, 1, 3, 3}, 0.1f)}});
  ChipSpec chip = sliced_chip();
  chip.core.digital.grouped_conv = true;
  Priced p = map_and_count(std::move(g), chip);
  EXPECT_TRUE(p.events.layers.empty());
  ASSERT_EQ(p.events.digital.size(), 1u);
  const DigitalEvents& e = p.events.digital[0];
  EXPECT_EQ(e.op, "Conv+Relu");
  EXPECT_EQ(e.unit, "vector");
  EXPECT_EQ(e.macs, 64 * 9 * 16);
  EXPECT_EQ(e.lane_ops, 64 * 9 * 16 + 64 * 16);
  EXPECT_EQ(e.vector_ops, (64 * 9 * 16 + 64 * 16) / chip.core.digital.vector_lanes);
}

TEST(CostEvents, DigitalNodes) {
  // fc -> Softmax -> Reshape: softmax is 5 lane-ops per element; a Reshape is free.
  Graph g = make_graph({1, 300},
                       {make_node("fc", "Gemm", {"x", "B"}, {"h"}),
                        make_node("sm", "Softmax", {"h"}, {"s"}),
                        make_node("rs", "Reshape", {"s", "shape"}, {"y"})},
                       {{"B", filled({300, 40}, 0.25f)},
                        {"shape", Tensor::from_vector<int64_t>({2}, {4, 10})}});
  Priced p = map_and_count(std::move(g), plain_chip());
  ASSERT_EQ(p.events.digital.size(), 2u);
  EXPECT_EQ(p.events.digital[0].unit, "softmax");
  EXPECT_EQ(p.events.digital[0].lane_ops, 5 * 40);
  EXPECT_EQ(p.events.digital[0].vector_ops, (200 + 15) / 16);
  EXPECT_EQ(p.events.digital[1].lane_ops, 0);
  EXPECT_EQ(p.events.digital[1].buffer_bytes, 0);
}

TEST(CostEvents, LstmStepsAndGates) {
  // LSTM, 3 steps, 10 inputs, 8 hidden units: W 10 x 32 and R 8 x 32, one tile each.
  Graph g = make_graph({3, 1, 10},
                       {make_node("lstm", "LSTM", {"x", "W", "R"}, {"y"},
                                  {{"hidden_size", Attribute{int64_t{8}}}})},
                       {{"W", filled({1, 32, 10}, 0.1f)}, {"R", filled({1, 32, 8}, 0.1f)}});
  Priced p = map_and_count(std::move(g), plain_chip());
  ASSERT_EQ(p.events.layers.size(), 1u);
  const LayerEvents& e = p.events.layers[0];
  EXPECT_EQ(e.mvms, 3);
  EXPECT_EQ(e.tile_activations, 2 * 3);
  EXPECT_EQ(e.dac_drives, (10 + 8) * 3);
  EXPECT_EQ(e.adc_conversions, (32 + 32) * 3);
  EXPECT_EQ(e.partial_sum_adds, 32 * 3);  // W x + R h per gate output and step
  EXPECT_EQ(e.macs, (10 + 8) * 32 * 3);
  // Gates: 4 nonlinearities + 5 state-update ops per hidden unit and step.
  EXPECT_EQ(e.vector_lane_ops, 3 * 8 * (4 + 5));
}

TEST(CostEvents, ActivationProductsRunDigitally) {
  // Attention-like x x^T: a Transpose (data movement) and a MatMul of two activations (MACs on
  // the vector unit), plus a residual Add; no arrays.
  Graph g = make_graph({4, 8},
                       {make_node("t", "Transpose", {"x"}, {"xt"},
                                  {{"perm", Attribute{std::vector<int64_t>{1, 0}}}}),
                        make_node("mm", "MatMul", {"x", "xt"}, {"s"}),
                        make_node("add", "Add", {"s", "s"}, {"y"})},
                       {});
  Priced p = map_and_count(std::move(g), plain_chip());
  EXPECT_TRUE(p.events.layers.empty());
  ASSERT_EQ(p.events.digital.size(), 3u);
  EXPECT_EQ(p.events.digital[0].buffer_bytes, 32);
  EXPECT_EQ(p.events.digital[1].macs, 4 * 8 * 4);
  EXPECT_EQ(p.events.digital[1].lane_ops, 4 * 8 * 4);
  EXPECT_EQ(p.events.digital[2].lane_ops, 16);
  CostReport r = price(p.graph, p.mapping, plain_chip());
  EXPECT_EQ(r.macs, 128);
  EXPECT_DOUBLE_EQ(r.energy[CostComponent::digital], (128 + 16) * 0.1);
}

TEST(CostEvents, PoolingCountsItsWindow) {
  Graph g = make_graph({1, 3, 4, 4},
                       {make_node("mp", "MaxPool", {"x"}, {"p"},
                                  {{"kernel_shape", Attribute{std::vector<int64_t>{2, 2}}},
                                   {"strides", Attribute{std::vector<int64_t>{2, 2}}}}),
                        make_node("gap", "GlobalAveragePool", {"p"}, {"y"})},
                       {});
  Priced p = map_and_count(std::move(g), plain_chip());
  ASSERT_EQ(p.events.digital.size(), 2u);
  EXPECT_EQ(p.events.digital[0].lane_ops, 3 * 2 * 2 * 4);  // a 2 x 2 window per output
  EXPECT_EQ(p.events.digital[1].lane_ops, 3 * 2 * 2);     // every input once
}

TEST(CostTiming, InputLargerThanTheCoreBufferStalls) {
  ChipSpec chip = plain_chip();
  Priced p = map_and_count(gemm_300x40(), chip);
  const CostReport fits = price(p.graph, p.mapping, chip);
  EXPECT_EQ(fits.layers[0].stall_ns, 0.0);
  chip.core.buffer.size_kib = 0.25;  // 256 bytes: 44 of the 300 input bytes do not fit
  p = map_and_count(gemm_300x40(), chip);
  const CostReport spills = price(p.graph, p.mapping, chip);
  // Spilled and refilled through 2 ports of 8 bytes per 1 ns access: 2 x 44 / 16 ns.
  EXPECT_DOUBLE_EQ(spills.layers[0].stall_ns, 2 * 44 / 16.0);
  EXPECT_NEAR(spills.layers[0].energy[CostComponent::buffer] -
                  fits.layers[0].energy[CostComponent::buffer],
              44 * (0.3 + 0.35), 1e-9);
  EXPECT_NEAR(spills.latency_ns - fits.latency_ns, 5.5, 1e-9);
}

TEST(CostEnergy, OneLayerByHand) {
  ChipSpec chip = plain_chip();
  chip.cost.scale.adc = 2.0;
  chip.cost.scale.buffer = 0.5;
  Priced p = map_and_count(gemm_300x40(), chip);
  CostReport r = price(p.graph, p.mapping, chip);  // reference activities: spec energies
  const EnergyBreakdown& e = r.layers[0].energy;
  EXPECT_DOUBLE_EQ(e[CostComponent::array], 2 * 5.0);
  EXPECT_DOUBLE_EQ(e[CostComponent::dac], 300 * 0.05);
  EXPECT_DOUBLE_EQ(e[CostComponent::adc], 80 * 1.6 * 2.0);
  EXPECT_DOUBLE_EQ(e[CostComponent::shift_add], 0.0);
  EXPECT_DOUBLE_EQ(e[CostComponent::accumulate], 40 * 0.03);
  EXPECT_DOUBLE_EQ(e[CostComponent::buffer],
                   (300 * 0.3 + 40 * 0.35 + 300 * 0.2 + 300 * 0.25) * 0.5);
  EXPECT_DOUBLE_EQ(e[CostComponent::digital], 0.0);
  // Leakage over the latency (one MVM): uW x ns = 1e-3 pJ.
  EXPECT_DOUBLE_EQ(r.latency_ns, chip.mvm_time_ns());
  EXPECT_NEAR(r.energy[CostComponent::leakage], 100.0 * chip.mvm_time_ns() * 1e-3, 1e-12);
  EXPECT_NEAR(r.energy_pj(), e.total_pj() + r.energy[CostComponent::leakage], 1e-9);
  EXPECT_EQ(r.macs, 12000);
  EXPECT_NEAR(r.tops_per_w, 2.0 * 12000 / r.energy_pj(), 1e-12);
  // Always-on power: leakage plus rate x dynamic energy; beyond the throughput is an error.
  EXPECT_NEAR(r.average_power_uw(1000), 100.0 + 1000 * r.dynamic_energy_pj() * 1e-6, 1e-9);
  EXPECT_THROW(r.average_power_uw(r.inferences_per_s * 2), Error);
}

TEST(CostEnergy, ActivityScalesArrayAndDac) {
  ChipSpec chip = plain_chip();
  Priced p = map_and_count(gemm_300x40(), chip);
  auto priced = [&](double in, double col) {
    LayerActivity a;
    a.node = "fc";
    a.input_activity = in;
    a.column_activity = col;
    return price(p.graph, p.mapping, chip, {a}).layers[0].energy;
  };
  const EnergyBreakdown ref = priced(kReferenceInputActivity, kReferenceColumnActivity);
  const EnergyBreakdown low = priced(0.25, 0.0), high = priced(0.25, 1.0);
  EXPECT_DOUBLE_EQ(low[CostComponent::dac], ref[CostComponent::dac] * 0.5);
  // Full-scale against zero column current: CiMLoop's 2.3x.
  EXPECT_NEAR(high[CostComponent::array] / low[CostComponent::array], 2.3, 1e-12);
  EXPECT_DOUBLE_EQ(low[CostComponent::adc], ref[CostComponent::adc]);  // data-independent
}

TEST(CostActivity, MeasuredFromTensors) {
  ChipSpec chip = plain_chip();
  chip.array.dac.mode = DacMode::bit_serial;
  Priced p = map_and_count(gemm_300x40(), chip);
  // Half the inputs at the range (level 127 = seven 1-bits), half at half of it (level 64:
  // one 1-bit); the range is the largest |x| (no calibrated range in an empty Quantisation).
  Tensor x(DType::f32, {1, 300});
  for (int i = 0; i < 300; ++i) x.data<float>()[i] = i % 2 == 0 ? -2.0f : 1.0f;
  std::vector<LayerActivity> a =
      measure_activity(p.graph, p.mapping, Quantisation{}, chip, {TensorMap{{"x", x}}});
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].samples, 1);
  EXPECT_DOUBLE_EQ(a[0].weight_fill, 1.0);  // every weight at its column's full scale
  EXPECT_NEAR(a[0].input_activity, (1.0 + 1.0 / 7) / 2, 1e-12);
  EXPECT_NEAR(a[0].column_activity, a[0].input_activity, 1e-12);
  chip.array.dac.mode = DacMode::amplitude;
  a = measure_activity(p.graph, p.mapping, Quantisation{}, chip, {TensorMap{{"x", x}}});
  EXPECT_NEAR(a[0].input_activity, (1.0 + 64.0 / 127) / 2, 1e-12);
  // Without inputs: the reference input activity, weights still measured.
  a = measure_activity(p.graph, p.mapping, Quantisation{}, chip, {});
  EXPECT_EQ(a[0].samples, 0);
  EXPECT_DOUBLE_EQ(a[0].input_activity, kReferenceInputActivity);
}

TEST(CostAdc, ModelsMatchTheirFormulas) {
  EXPECT_DOUBLE_EQ(walden_adc_energy_pj(8, 6.25), 1.6);
  EXPECT_NEAR(murmann_bound_adc_energy_pj(8, 1.28e9), 0.93, 0.01);  // FACTS.md's example
  const double fs = 1e9 / 13.9;
  const double expect =
      1e12 / (2 * std::pow(10.0, (std::min(302.7 - 6.46 * std::log(fs), 180.1) - 37.88) / 10));
  EXPECT_DOUBLE_EQ(murmann_bound_adc_energy_pj(6, fs), expect);
  EXPECT_NEAR(fitted_adc_energy_pj(6, 0.7), (600 + 4.096) * 0.49e-3, 1e-12);  // ≈0.30 pJ
  EXPECT_NEAR(fitted_adc_area_um2(6, 28), 618, 1);                           // FACTS.md
  EXPECT_NEAR(fitted_adc_area_um2(6, 14), fitted_adc_area_um2(6, 28) / 4, 1e-9);

  ChipSpec chip = plain_chip();
  EXPECT_EQ(adc_cost(chip).energy_pj, chip.energy.adc_conversion_pj);
  chip.cost.adc_model = "walden";
  chip.cost.walden_fom_fj = 10;
  EXPECT_DOUBLE_EQ(adc_cost(chip).energy_pj, 2.56);
  chip.cost.adc_model = "table:isaac_sar_8b";
  EXPECT_EQ(adc_cost(chip).energy_pj, 1.6);
  EXPECT_EQ(adc_cost(chip).area_um2, 1200.0);
  chip.cost.adc_model = "fitted";
  EXPECT_DOUBLE_EQ(adc_cost(chip).area_um2, fitted_adc_area_um2(8, 22));
  chip.cost.adc_model = "table:isaac_sar_6b";  // 6-bit entry on an 8-bit array
  EXPECT_THROW(adc_cost(chip), Error);
  // The model moves the priced ADC energy, nothing else.
  Priced p = map_and_count(gemm_300x40(), chip);
  chip.cost.adc_model = "walden";
  CostReport w = price(p.graph, p.mapping, chip);
  EXPECT_DOUBLE_EQ(w.energy[CostComponent::adc], 80 * 2.56);
}

TEST(CostDigitalBaseline, NodeScalingAndBreakdown) {
  EXPECT_NEAR(energy_scale_from_45nm(45, 0.9), 1.0, 1e-12);
  EXPECT_LT(energy_scale_from_45nm(22, 0.8), energy_scale_from_45nm(32, 0.8));
  EXPECT_LT(energy_scale_from_45nm(5, 0.7), energy_scale_from_45nm(7, 0.7));
  ChipSpec chip = plain_chip();
  Graph g = gemm_300x40();
  DigitalBaseline at22 = price_digital_baseline(g, chip, baseline_at(chip, 22));
  DigitalBaseline at5 = price_digital_baseline(g, chip, baseline_at(chip, 5));
  EXPECT_EQ(at22.macs, 12000);
  EXPECT_EQ(at22.weight_bytes, 12000);
  EXPECT_EQ(at22.dram_read_bytes, 0);  // 16 arrays x 256 x 64 weights hold it
  EXPECT_EQ(at22.sram_read_bytes, 2 * 12000 / 16);
  EXPECT_DOUBLE_EQ(at22.mac_energy_pj, 12000 * 0.3 * at22.scale);
  EXPECT_LT(at5.energy_pj(), at22.energy_pj());
  EXPECT_DOUBLE_EQ(at5.supply_v, 0.7);
  // Weights beyond the SRAM stream from DRAM every inference.
  DigitalBaselineOptions small = baseline_at(chip, 22);
  small.sram_kib = 4;
  DigitalBaseline spill = price_digital_baseline(g, chip, small);
  EXPECT_EQ(spill.dram_read_bytes, 12000 - 4096);
  EXPECT_GT(spill.energy_pj(), at22.energy_pj());
  // Static power: the SRAM's retention leakage, per KiB held, the same at every node.
  EXPECT_DOUBLE_EQ(spill.leakage_uw, 4 * 3.13e-3);
  EXPECT_DOUBLE_EQ(at22.leakage_uw, static_cast<double>(at22.sram_bytes) / 1024 * 3.13e-3);
  EXPECT_DOUBLE_EQ(at5.leakage_uw, at22.leakage_uw);
  small.sram_leakage_nw_per_kib = -1;
  EXPECT_THROW(price_digital_baseline(g, chip, small), Error);
}

Graph ds_cnn() {
  Graph g = load_onnx(std::string(ACIM_SOURCE_DIR) + "/zoo/kws/ds_cnn_s.onnx");
  run_default_passes(g);
  return g;
}

TEST(CostZoo, DsCnnOnEdgeVoice) {
  ChipSpec chip = chip_preset("edge-voice");
  Graph g = ds_cnn();
  Mapping m = map_graph(g, chip);
  // Inputs N(0, 1) in the declared shapes for the activity factors.
  std::vector<TensorMap> inputs;
  for (uint64_t s = 0; s < 2; ++s) {
    TensorMap in;
    for (const ValueInfo& v : g.inputs) {
      Shape shape = v.shape;
      for (int64_t& d : shape) d = d > 0 ? d : 1;
      Tensor t(DType::f32, shape);
      RandomStream(7, {s}).normal(t.data<float>(), static_cast<size_t>(t.numel()));
      in[v.name] = std::move(t);
    }
    inputs.push_back(std::move(in));
  }
  std::vector<LayerActivity> act = measure_activity(g, m, Quantisation{}, chip, inputs);
  for (const LayerActivity& a : act) {
    EXPECT_GT(a.input_activity, 0.0) << a.node;
    EXPECT_LE(a.input_activity, 1.0) << a.node;
    EXPECT_GT(a.weight_fill, 0.0) << a.node;
    EXPECT_LE(a.weight_fill, 1.0) << a.node;
  }
  const auto t0 = std::chrono::steady_clock::now();
  CostReport r = price(g, m, chip, act);
  const double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  DigitalBaseline d22 = price_digital_baseline(g, chip, baseline_at(chip, 22));
  DigitalBaseline d5 = price_digital_baseline(g, chip, baseline_at(chip, 5));
  const double uj = r.energy_pj() * 1e-6;
  std::printf(
      "DS-CNN-S on edge-voice: %.3f uJ/inference, latency %.3f ms, %.0f inferences/s, %.1f uW at "
      "50/s, %.2f TOPS/W; digital 22 nm %.3f uJ (x%.2f), 5 nm %.3f uJ (x%.2f); priced in %.2f "
      "ms\n",
      uj, r.latency_ns * 1e-6, r.inferences_per_s, r.average_power_uw(50), r.tops_per_w,
      d22.energy_pj() * 1e-6, d22.energy_pj() / r.energy_pj(), d5.energy_pj() * 1e-6,
      d5.energy_pj() / r.energy_pj(), ms);
  for (int c = 0; c < kCostComponents; ++c)
    std::printf("  %-10s %9.4f uJ\n", cost_component_name(static_cast<CostComponent>(c)).c_str(),
                r.energy.pj[static_cast<size_t>(c)] * 1e-6);
  // Plausible orders (see the printout; 2.8 M MACs): between 10 nJ and 100 uJ per inference, a
  // latency under a second, always-on power at 50/s under 1 mW.
  EXPECT_GT(r.macs, 1000000);
  EXPECT_GT(uj, 0.01);
  EXPECT_LT(uj, 100.0);
  EXPECT_LT(r.latency_ns, 1e9);
  EXPECT_LT(r.average_power_uw(50), 1000.0);
  EXPECT_GT(r.area.total_um2(), 0.0);
  // Sums: the total is the layers, the digital nodes and the global components.
  double layers = 0, digital = 0;
  for (const LayerCost& l : r.layers) layers += l.energy.total_pj();
  for (const DigitalCost& c : r.digital) digital += c.energy_pj;
  EXPECT_NEAR(r.energy_pj(),
              layers + digital + r.energy[CostComponent::noc] +
                  r.energy[CostComponent::chip_link] + r.energy[CostComponent::leakage],
              1e-6 * r.energy_pj());
  EXPECT_GT(d22.energy_pj(), d5.energy_pj());
}

TEST(CostEvents, ResidualSkipIsPricedOnceOnTheNetwork) {
  // x -> fc1 -> h; h -> fc2 -> g; y = h + g. One array per core on a 2 x 2 mesh, so the layers
  // sit on different cores: fc1's output travels to fc2 (its input) and, as the Add's skip, to
  // the Add, which runs on fc2's cores. Each byte is priced once, at 1 byte per element.
  ChipSpec c = plain_chip();
  c.cores = 4;
  c.core.tiles = 1;
  c.tile.arrays = 1;
  validate_chip_spec(c, "mesh");
  Graph g = make_graph({1, 300},
                       {make_node("fc1", "Gemm", {"x", "B1"}, {"h"}),
                        make_node("fc2", "Gemm", {"h", "B2"}, {"g"}),
                        make_node("add", "Add", {"h", "g"}, {"y"})},
                       {{"B1", filled({300, 40}, 0.25f)}, {"B2", filled({40, 40}, 0.5f)}});
  MappingOptions no_copies;
  no_copies.replicate = false;
  Mapping m = map_graph(g, c, no_copies);
  ASSERT_EQ(m.layers.size(), 2u);
  Events e = count_events(g, m, c);
  ASSERT_EQ(e.digital.size(), 1u);
  EXPECT_EQ(e.digital[0].lane_ops, 40);  // one addition per element
  // Transfers are summed per (from, to) pair: the graph input into fc1, and fc1's output to
  // fc2's cores twice over — fc2's input and the Add's skip.
  ASSERT_EQ(m.transfers.size(), 2u);
  EXPECT_EQ(m.transfers[0].from, "");
  EXPECT_EQ(m.transfers[0].bytes, 300);
  EXPECT_EQ(m.transfers[1].from, "fc1");
  EXPECT_EQ(m.transfers[1].to, "fc2");
  EXPECT_EQ(m.transfers[1].bytes, 40 + 40);
  EXPECT_GT(m.transfers[1].hops, 0);
  double byte_hops = 0;
  for (const Transfer& t : m.transfers) byte_hops += static_cast<double>(t.bytes) * t.hops;
  EXPECT_DOUBLE_EQ(e.noc_byte_hops, byte_hops);
  CostReport r = price(g, m, c);
  EXPECT_DOUBLE_EQ(r.energy[CostComponent::noc], byte_hops * 8 * c.noc.hop_energy_pj_per_bit);
  // The pipeline: fc2 needs fc1's whole output.
  EXPECT_GE(m.layers[1].start_cycle, m.layers[0].finish_cycle);
}

}  // namespace
}  // namespace acim
