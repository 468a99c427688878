// Same seed, same numbers: `acim run`, `acim eval` and `acim report` give bit-identical outputs,
// accuracies and costs with 1, 2 and 8 threads and from one process to the next. The networks
// cover every path whose work is split between threads: convolutions with depthwise packing
// (DS-CNN on edge-voice: bit-serial DAC, bit-sliced SRAM cells), recurrences (the LSTM on
// hermes: PCM with drift) and plain matrix products (the MLP).
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "acim/npy.hpp"
#include "acim/rng.hpp"
#include "cli_test_util.hpp"

namespace fs = std::filesystem;

using namespace acim::cli_test;

namespace {

struct Case {
  const char* model;
  const char* chip;
  acim::Shape input;  // batch first
};

const Case kCases[] = {
    {"zoo/kws/ds_cnn_s.onnx", "edge-voice", {4, 1, 49, 10}},
    {"zoo/lstm/lstm_kws.onnx", "hermes", {4, 49, 10}},
    {"zoo/mlp/mlp_mnist.onnx", "hermes", {16, 784}},
};

// (threads, run): 1, 2 and 8 threads, then 1 thread again in a later process.
const std::pair<int, int> kRuns[] = {{1, 0}, {2, 0}, {8, 0}, {1, 1}};

// The output files of one `acim run --output-dir`, by name.
std::vector<std::pair<std::string, std::string>> outputs_of(const fs::path& dir) {
  std::vector<std::pair<std::string, std::string>> files;
  for (const auto& e : fs::directory_iterator(dir))
    files.emplace_back(e.path().filename().string(), slurp_file(e.path()));
  std::sort(files.begin(), files.end());
  return files;
}

}  // namespace

TEST(CliDeterminism, RunEvalAndReportAreIdenticalFor1To8ThreadsAndAcrossRuns) {
  const TempDir dir("determinism");
  for (const Case& c : kCases) {
    SCOPED_TRACE(c.model);
    const std::string stem = fs::path(c.model).stem().string();
    const fs::path x = dir / (stem + "_x.npy"), program = dir / (stem + ".acim");
    acim::Tensor t(acim::DType::f32, c.input);
    acim::RandomStream(11, {0xD7}).normal(t.data<float>(), static_cast<size_t>(t.numel()));
    acim::save_npy(x, t);
    // Labels for eval: any in-range class per sample (accuracy is compared, not judged).
    std::vector<int64_t> labels;
    for (int64_t i = 0; i < c.input[0]; ++i) labels.push_back(i % 10);
    fs::create_directories(dir / stem);
    acim::save_npy(dir / stem / "set_x.npy", t);
    acim::save_npy(dir / stem / "set_y.npy",
                   acim::Tensor::from_vector<int64_t>({c.input[0]}, labels));
    Result r = run_acim(std::string("compile ") + c.model + " --chip " + c.chip + " --chips auto" +
                        " --calibrate " + x.string() + " -o " + program.string());
    ASSERT_EQ(r.status, 0) << r.err;

    std::vector<std::pair<std::string, std::string>> first_out;
    std::string first_eval, first_report;
    for (const auto& [threads, pass] : kRuns) {
      SCOPED_TRACE("threads " + std::to_string(threads) + ", run " + std::to_string(pass));
      const std::string tflag = "--threads " + std::to_string(threads) + " ";
      const fs::path out =
          dir / (stem + "_out_" + std::to_string(pass) + "_" + std::to_string(threads));
      r = run_acim(tflag + "run " + program.string() + " -i " + x.string() +
                   " --seed 7 --instance 2 --drift-time 1d --output-dir " + out.string());
      ASSERT_EQ(r.status, 0) << r.err;
      const auto files = outputs_of(out);
      ASSERT_FALSE(files.empty());
      r = run_acim(tflag + "eval " + program.string() + " --data " + (dir / stem).string() +
                   " --instances 2 --seed 3 --json");
      ASSERT_EQ(r.status, 0) << r.err;
      auto eval = nlohmann::json::parse(r.out);
      eval.erase("chip_time_s");  // wall time, the one thing that may differ
      r = run_acim(tflag + "report " + program.string() + " --rate 50 --json");
      ASSERT_EQ(r.status, 0) << r.err;
      if (first_out.empty()) {
        first_out = files;
        first_eval = eval.dump();
        first_report = r.out;
        continue;
      }
      EXPECT_TRUE(files == first_out) << "outputs differ from the first run's";
      EXPECT_EQ(eval.dump(), first_eval);
      EXPECT_EQ(r.out, first_report);
    }
  }
}
