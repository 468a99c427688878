// End-to-end tests of `acim compile`: the per-layer table and totals, --json, --chips (a number
// and auto, with the inter-chip traffic), the Program file (-o, read back with load_program),
// calibration inputs (--calibrate, batches split into samples, several inputs), and one-line
// errors (does not fit, unknown chip, bad --chips value, bad calibration file, unwritable
// output) that leave no file behind.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "acim/npy.hpp"
#include "acim/program.hpp"
#include "acim/rng.hpp"
#include "cli_test_util.hpp"

namespace fs = std::filesystem;

using namespace acim::cli_test;

TEST(CliCompile, TablePerLayerAndTotals) {
  Result r = run_acim("compile zoo/resnet/resnet20_cifar.onnx --chip edge-vision");
  ASSERT_EQ(r.status, 0) << r.err;
  // Without --calibrate the ranges come from random inputs, and stderr says so (only that).
  EXPECT_EQ(r.err,
            "acim: warning: no calibration inputs: activation ranges come from 8 random inputs; "
            "give real ones with --calibrate FILE.npy\n");
  expect_has(r.out,
             {"matrix KxN", "repl", "util", "stage3.block0.conv2", "576x64", "GlobalAveragePool",
              "pooling", "Add+Relu", "vector", "329 used / 512 available (39 without replication)",
              "32 array cycles per inference (1,024 without replication)", "cores used   11 of 16",
              "chips        1"});
}

TEST(CliCompile, DepthwisePackingShown) {
  Result r =
      run_acim("compile zoo/kws/ds_cnn_s.onnx --chip tests/data/chips/voice-16.toml --chips auto");
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
  Result two =
      run_acim("compile zoo/kws/ds_cnn_s.onnx --chip tests/data/chips/voice-16.toml --chips 2");
  expect_one_line_error(two, {"needs 37 arrays; 2 chips 'voice-16' have 32; use --chips 3"});
  Result three =
      run_acim("compile zoo/kws/ds_cnn_s.onnx --chip tests/data/chips/voice-16.toml --chips 3");
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

namespace {

// [n, 1, 49, 10] N(0, 1) float32: n keyword-spotting samples stacked along the batch dimension.
fs::path write_kws_batch(const fs::path& dir, int64_t n) {
  acim::Tensor t(acim::DType::f32, {n, 1, 49, 10});
  acim::RandomStream(4, {0xCA1}).normal(t.data<float>(), static_cast<size_t>(t.numel()));
  const fs::path p = dir / "calib.npy";
  acim::save_npy(p, t);
  return p;
}

size_t files_in(const fs::path& dir) {
  return static_cast<size_t>(std::distance(fs::directory_iterator(dir), fs::directory_iterator()));
}

}  // namespace

TEST(CliCompile, OutputFileLoadsBackWithItsCalibration) {
  const TempDir dir("compile_out");
  const fs::path calib = write_kws_batch(dir, 3);
  const fs::path out = dir / "kws.acim";
  Result r = run_acim("compile zoo/kws/ds_cnn_s.onnx --chip edge-voice -o " + out.string() +
                      " --calibrate " + calib.string() + " --calibration minmax");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(r.err.empty()) << r.err;  // real calibration inputs: no warning
  expect_has(r.out,
             {"37 used / 48 available", "calibration  minmax on 3 samples", "input range",
              "weight bits", "network      ", "byte-hops per inference", "row-major placement",
              "schedule     latency", "wrote        " + out.string()});
  ASSERT_TRUE(acim::is_program_file(out));
  const acim::Program p = acim::load_program(out);
  EXPECT_EQ(p.model, "zoo/kws/ds_cnn_s.onnx");
  EXPECT_EQ(p.chip.name, "edge-voice");
  EXPECT_EQ(p.mapping.layers.size(), 10u);
  EXPECT_EQ(p.mapping.arrays_used, 37);
  EXPECT_EQ(p.quant.options.method, acim::RangeMethod::minmax);
  EXPECT_EQ(p.quant.samples, 3);
  // The batch of 3 was split into 3 samples of the model's [?,1,49,10] input, all kept.
  ASSERT_EQ(p.calibration_set.size(), 3u);
  const acim::Tensor batch = acim::load_npy(calib);
  for (size_t s = 0; s < 3; ++s) {
    const acim::Tensor& x = p.calibration_set[s].at("input");
    ASSERT_EQ(x.shape(), (acim::Shape{1, 1, 49, 10}));
    EXPECT_EQ(std::memcmp(x.raw(), batch.data<float>() + s * 490, x.nbytes()), 0) << s;
  }
  EXPECT_EQ(files_in(dir), 2u);  // calib.npy and kws.acim, no temporary file
}

TEST(CliCompile, JsonHasQuantisationNetworkAndSchedule) {
  const TempDir dir("compile_json");
  const fs::path out = dir / "mlp.acim";
  Result r = run_acim("compile zoo/mlp/mlp_mnist.onnx --chip edge-vision --seed 3 --json -o " +
                      out.string());
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(r.err.empty()) << r.err;  // the warning is in the JSON instead
  nlohmann::json j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["calibration"]["samples"], 8);
  EXPECT_NE(j["calibration"]["source"].get<std::string>().find("seed 3"), std::string::npos);
  ASSERT_EQ(j["warnings"].size(), 1u);
  EXPECT_NE(j["warnings"][0].get<std::string>().find("--calibrate"), std::string::npos);
  for (const char* key : {"noc_byte_hops", "noc_byte_hops_row_major", "latency_cycles",
                          "interval_cycles", "placement", "output"})
    EXPECT_TRUE(j.contains(key)) << key;
  EXPECT_GE(j["latency_cycles"].get<int64_t>(), j["interval_cycles"].get<int64_t>());
  ASSERT_FALSE(j["layers"].empty());
  for (const auto& l : j["layers"]) {
    EXPECT_TRUE(l.contains("input_range")) << l;
    EXPECT_TRUE(l.contains("weight_bits")) << l;
  }
  const acim::Program p = acim::load_program(out);
  EXPECT_EQ(static_cast<size_t>(j["layers"].size()), p.mapping.layers.size());
  EXPECT_EQ(j["latency_cycles"].get<int64_t>(), p.mapping.latency_cycles);
}

TEST(CliCompile, WithoutOutputNothingIsWritten) {
  const TempDir dir("compile_none");
  const fs::path calib = write_kws_batch(dir, 1);
  Result r =
      run_acim("compile zoo/kws/ds_cnn_s.onnx --chip edge-voice --calibrate " + calib.string());
  ASSERT_EQ(r.status, 0) << r.err;
  expect_has(r.out, {"calibration  percentile 99.99 on 1 samples"});
  EXPECT_EQ(r.out.find("wrote"), std::string::npos);
  EXPECT_EQ(files_in(dir), 1u);
}

TEST(CliCompile, SeveralInputsTakeNameEqualsFile) {
  const std::string d = "tests/data/cli/";
  Result r = run_acim("compile " + d + "two_inputs.onnx --chip edge-voice --calibrate x=" + d +
                      "x23.npy --calibrate z=" + d + "z23.npy");
  ASSERT_EQ(r.status, 0) << r.err;
  expect_has(r.out, {"on 1 samples (1 samples from --calibrate)"});
  Result missing =
      run_acim("compile " + d + "two_inputs.onnx --chip edge-voice --calibrate x=" + d + "x23.npy");
  expect_one_line_error(missing, {"--calibrate", "model input 'z' has 0 calibration samples",
                                  "x:float32[2,3], z:float32[2,3]"});
  Result bare =
      run_acim("compile " + d + "two_inputs.onnx --chip edge-voice --calibrate " + d + "x23.npy");
  expect_one_line_error(bare, {"x23.npy", "NAME=FILE.npy"});
}

TEST(CliCompile, BadCalibrationFileIsAnErrorAndWritesNothing) {
  const TempDir dir("compile_badcal");
  const fs::path out = dir / "kws.acim";
  Result missing = run_acim("compile zoo/kws/ds_cnn_s.onnx --chip edge-voice -o " + out.string() +
                            " --calibrate " + (dir / "nope.npy").string());
  expect_one_line_error(missing, {"nope.npy", "cannot open"});
  const fs::path wrong = dir / "wrong.npy";
  acim::save_npy(wrong, acim::Tensor(acim::DType::f32, {3, 7}));
  Result shape = run_acim("compile zoo/kws/ds_cnn_s.onnx --chip edge-voice -o " + out.string() +
                          " --calibrate " + wrong.string());
  expect_one_line_error(shape, {"wrong.npy", "[3,7]", "input 'input'", "[?,1,49,10]"});
  const fs::path f64 = dir / "f64.npy";
  acim::save_npy(f64, acim::Tensor(acim::DType::f64, {1, 1, 49, 10}));
  Result dtype = run_acim("compile zoo/kws/ds_cnn_s.onnx --chip edge-voice -o " + out.string() +
                          " --calibrate " + f64.string());
  expect_one_line_error(dtype, {"f64.npy", "float64", "float32"});
  const fs::path junk = dir / "junk.npy";
  { std::ofstream(junk) << "not numpy"; }
  Result bad = run_acim("compile zoo/kws/ds_cnn_s.onnx --chip edge-voice -o " + out.string() +
                        " --calibrate " + junk.string());
  expect_one_line_error(bad, {"junk.npy"});
  EXPECT_FALSE(fs::exists(out));
}

TEST(CliCompile, UnwritableOutputIsAnErrorAndLeavesNothing) {
  const TempDir dir("compile_badout");
  Result r = run_acim("compile zoo/mlp/mlp_mnist.onnx --chip edge-vision -o " +
                      (dir / "missing" / "mlp.acim").string());
  expect_one_line_error(r, {"missing/mlp.acim", "cannot write"});
  // A folder in the way: it stays a folder, and no temporary file is left beside it.
  fs::create_directory(dir / "taken.acim");
  Result taken = run_acim("compile zoo/mlp/mlp_mnist.onnx --chip edge-vision -o " +
                          (dir / "taken.acim").string());
  expect_one_line_error(taken, {"taken.acim", "cannot write"});
  EXPECT_TRUE(fs::is_directory(dir / "taken.acim"));
  EXPECT_EQ(files_in(dir), 1u);
}
