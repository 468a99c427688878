// End-to-end tests of `acim eval` and of `acim run` on a compiled program: DS-CNN compiled for
// edge-voice, a labelled folder whose labels are the float model's own predictions (so the float
// accuracy is exactly 100 %), the ideal chip reproducing it, noisy instances reported as
// mean +- std, --repeat timing, and one-line errors for a bad folder or a missing program.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "acim/executor.hpp"
#include "acim/npy.hpp"
#include "acim/onnx.hpp"
#include "acim/passes.hpp"
#include "acim/rng.hpp"
#include "cli_test_util.hpp"

namespace fs = std::filesystem;

using namespace acim::cli_test;

namespace {

const std::string kDsCnn = std::string(ACIM_SOURCE_DIR) + "/zoo/kws/ds_cnn_s.onnx";

// n random MFCC-shaped samples in dir/kws_x.npy, labelled with the float model's argmax.
void write_labelled_set(const fs::path& dir, int64_t n) {
  acim::Tensor x(acim::DType::f32, {n, 1, 49, 10});
  acim::RandomStream(5, {0xE1}).normal(x.data<float>(), static_cast<size_t>(x.numel()));
  acim::Graph g = acim::load_onnx(kDsCnn);
  acim::run_default_passes(g);
  const acim::Tensor y = acim::Executor(g).run({{g.inputs[0].name, x}}).at(g.outputs[0].name);
  std::vector<int64_t> labels;
  const int64_t classes = y.dim(1);
  for (int64_t i = 0; i < n; ++i) {
    const float* row = y.data<float>() + i * classes;
    labels.push_back(std::max_element(row, row + classes) - row);
  }
  acim::save_npy(dir / "kws_x.npy", x);
  acim::save_npy(dir / "kws_y.npy", acim::Tensor::from_vector<int64_t>({n}, labels));
}

}  // namespace

TEST(CliEval, IdealChipReproducesTheFloatAccuracy) {
  const TempDir dir("eval_ideal");
  fs::create_directories(dir / "data");
  write_labelled_set(dir / "data", 12);
  const fs::path program = dir / "kws.acim";
  ASSERT_EQ(run_acim("compile zoo/kws/ds_cnn_s.onnx --chip edge-voice -o " + program.string()).status, 0);
  Result r = run_acim("eval " + program.string() + " --data " + (dir / "data").string() +
                      " --ideal --instances 1 --json");
  ASSERT_EQ(r.status, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["samples"], 12);
  EXPECT_DOUBLE_EQ(j["float_accuracy"].get<double>(), 1.0);
  EXPECT_DOUBLE_EQ(j["chip_accuracy_mean"].get<double>(), 1.0);

  // Noisy instances: the text report names float, on-chip mean +- std and the drop.
  Result noisy = run_acim("eval " + program.string() + " --data " + (dir / "data").string() +
                          " --instances 2 --drift-time 1d");
  ASSERT_EQ(noisy.status, 0) << noisy.err;
  expect_has(noisy.out, {"float reference", "100.00 %", "on chip", "+-", "instance 1", "86400 s"});
}

TEST(CliEval, RunOnTheChipComparesWithTheReference) {
  const TempDir dir("eval_run");
  const fs::path program = dir / "kws.acim";
  ASSERT_EQ(run_acim("compile zoo/kws/ds_cnn_s.onnx --chip edge-voice -o " + program.string()).status, 0);
  Result r = run_acim("run " + program.string() + " -i examples/kws_input.npy --ideal --compare --json");
  ASSERT_EQ(r.status, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["chip"], "edge-voice");
  EXPECT_LT(j["outputs"][0]["relative_error_vs_reference"].get<double>(), 1e-4);
  // The same seed and instance give the same numbers; another instance others.
  auto logits = [&](const std::string& extra) {
    Result o = run_acim("run " + program.string() + " -i examples/kws_input.npy --json " + extra);
    EXPECT_EQ(o.status, 0) << o.err;
    return nlohmann::json::parse(o.out)["outputs"][0]["values"].get<std::vector<double>>();
  };
  EXPECT_EQ(logits("--seed 3"), logits("--seed 3"));
  EXPECT_EQ(logits("--seed 3"), logits("--seed 3 --repeat 3"));  // the first run's outputs
  Result timed = run_acim("run " + program.string() + " -i examples/kws_input.npy --json --repeat 3");
  ASSERT_EQ(timed.status, 0) << timed.err;
  EXPECT_EQ(nlohmann::json::parse(timed.out)["times_ms"].size(), 3u);
  EXPECT_NE(logits("--seed 3"), logits("--seed 3 --instance 1"));
}

TEST(CliEval, BadInputsAreOneLineErrors) {
  const TempDir dir("eval_bad");
  const fs::path program = dir / "kws.acim";
  ASSERT_EQ(run_acim("compile zoo/kws/ds_cnn_s.onnx --chip edge-voice -o " + program.string()).status, 0);
  expect_one_line_error(run_acim("eval " + program.string() + " --data " + dir.string()),
                        {"NAME_x.npy"});
  expect_one_line_error(run_acim("eval " + (dir / "missing.acim").string() + " --data " + dir.string()),
                        {"missing.acim"});
  expect_one_line_error(run_acim("eval " + kDsCnn + " --data " + dir.string()),
                        {"not a compiled program", "acim compile"});
  expect_one_line_error(run_acim("run " + kDsCnn + " -i examples/kws_input.npy --ideal"),
                        {"apply to compiled programs"});
}
