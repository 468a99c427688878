// End-to-end tests of `acim compile`: the per-layer table and totals, --json, --chips (a number
// and auto, with the inter-chip traffic), and one-line errors (does not fit, unknown chip, bad
// --chips value).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli_test_util.hpp"

namespace fs = std::filesystem;

using namespace acim::cli_test;


TEST(CliCompile, TablePerLayerAndTotals) {
  Result r = run_acim("compile zoo/resnet/resnet20_cifar.onnx --chip edge-vision");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(r.err.empty()) << r.err;
  expect_has(r.out,
             {"matrix KxN", "repl", "util", "stage3.block0.conv2", "576x64", "GlobalAveragePool",
              "pooling", "Add+Relu", "vector", "329 used / 512 available (39 without replication)",
              "32 array cycles per inference (1,024 without replication)", "cores used   11 of 16",
              "chips        1"});
}

TEST(CliCompile, DepthwisePackingShown) {
  Result r = run_acim("compile zoo/kws/ds_cnn_s.onnx --chip tests/data/chips/voice-16.toml --chips auto");
  ASSERT_EQ(r.status, 0) << r.err;
  expect_has(r.out, {"64*9x1", "4 (18/array)", "chips        3",
                     "chip 0 -> 1  8,000 bytes per inference (8,000 activations)",
                     "chip 1 -> 2  8,000 bytes per inference"});
}

TEST(CliCompile, JsonParses) {
  Result r = run_acim("compile zoo/lstm/lstm_kws.onnx --chip edge-vision --json");
  ASSERT_EQ(r.status, 0) << r.err;
  nlohmann::json j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["chip"], "edge-vision");
  EXPECT_EQ(j["chips"], 1);
  ASSERT_EQ(j["layers"].size(), 2u);
  // LSTM hidden 64, input 10: W 10x256 and R 64x256 on 512x36 arrays: 8 column blocks each.
  EXPECT_EQ(j["layers"][0]["op"], "LSTM");
  EXPECT_EQ(j["layers"][0]["matrices"][0]["rows"], 10);
  EXPECT_EQ(j["layers"][0]["matrices"][1]["rows"], 64);
  EXPECT_EQ(j["layers"][0]["matrices"][1]["cols"], 256);
  EXPECT_EQ(j["layers"][0]["tiles"], 16);
  EXPECT_EQ(j["layers"][0]["mvms"], 49);
  EXPECT_EQ(j["arrays_unreplicated"], 17);
  EXPECT_LE(j["arrays_used"].get<int>(), 512);
}

TEST(CliCompile, DoesNotFitSuggestsChips) {
  Result r = run_acim("compile zoo/kws/ds_cnn_s.onnx --chip tests/data/chips/voice-16.toml");
  expect_one_line_error(r, {"zoo/kws/ds_cnn_s.onnx: needs 37 arrays; chip 'voice-16' has 16; "
                            "use --chips 3 (or --chips auto)"});
  Result two = run_acim("compile zoo/kws/ds_cnn_s.onnx --chip tests/data/chips/voice-16.toml --chips 2");
  expect_one_line_error(two, {"needs 37 arrays; 2 chips 'voice-16' have 32; use --chips 3"});
  Result three = run_acim("compile zoo/kws/ds_cnn_s.onnx --chip tests/data/chips/voice-16.toml --chips 3");
  EXPECT_EQ(three.status, 0) << three.err;
}

TEST(CliCompile, DsCnnFitsTheEdgeVoicePreset) {
  // The product chip for always-on voice holds the keyword spotter on one chip.
  Result r = run_acim("compile zoo/kws/ds_cnn_s.onnx --chip edge-voice");
  ASSERT_EQ(r.status, 0) << r.err;
  expect_has(r.out, {"37 used / 48 available", "chips        1"});
}

TEST(CliCompile, UnknownChipListsPresets) {
  Result r = run_acim("compile zoo/mlp/mlp_mnist.onnx --chip nosuch");
  expect_one_line_error(r, {"nosuch", "edge-voice", "edge-vision", "neurram"});
}

TEST(CliCompile, ChipFileAndBadChipsValue) {
  Result r = run_acim("compile zoo/mlp/mlp_mnist.onnx --chip chips/neurram.toml");
  ASSERT_EQ(r.status, 0) << r.err;
  expect_has(r.out, {"neurram", "fc3", "chips        1"});
  Result bad = run_acim("compile zoo/mlp/mlp_mnist.onnx --chip edge-vision --chips zero");
  expect_one_line_error(bad, {"--chips", "'zero'", "auto"});
}
