// End-to-end tests of the `acim` command: run the built binary as a user would and check what
// it prints, what it writes and its exit status.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>

#include "acim/executor.hpp"
#include "acim/model_info.hpp"
#include "acim/npy.hpp"
#include "acim/onnx.hpp"
#include "acim/passes.hpp"
#include "cli_test_util.hpp"

namespace fs = std::filesystem;
using namespace acim::cli_test;

namespace {

const std::string kSrc = ACIM_SOURCE_DIR;
const std::string kData = kSrc + "/tests/data/cli/";
const std::string kDsCnn = kSrc + "/zoo/kws/ds_cnn_s.onnx";

}  // namespace

TEST(Cli, HelpListsEverySubcommand) {
  Result r = run_acim("--help");
  EXPECT_EQ(r.status, 0);
  for (const char* sub : {"info", "run", "ops"}) EXPECT_NE(r.out.find(sub), std::string::npos) << sub;
  for (const char* sub : {"info", "run", "ops"}) {
    Result h = run_acim(std::string(sub) + " --help");
    EXPECT_EQ(h.status, 0) << sub;
    EXPECT_NE(h.out.find("Usage"), std::string::npos) << sub;
  }
}

TEST(Cli, UnknownSubcommandIsAUsageError) {
  Result r = run_acim("frobnicate");
  EXPECT_NE(r.status, 0);
  EXPECT_EQ(r.out.find("Segmentation"), std::string::npos);
}

TEST(Cli, InfoPrintsTheLayerTableWithTotals) {
  Result r = run_acim("info " + kDsCnn);
  ASSERT_EQ(r.status, 0) << r.err;
  acim::Graph g = acim::load_onnx(kDsCnn);
  acim::run_default_passes(g);
  acim::ModelInfo info = acim::describe(g);
  EXPECT_NE(r.out.find("total"), std::string::npos);
  // The MAC total appears with thousands separators, e.g. 2,656,000.
  std::string macs = std::to_string(info.total_macs);
  for (int i = static_cast<int>(macs.size()) - 3; i > 0; i -= 3) macs.insert(static_cast<size_t>(i), ",");
  EXPECT_NE(r.out.find(macs), std::string::npos) << r.out;
  // Batch-norm folded and ReLU fused by the default passes.
  EXPECT_NE(r.out.find("Conv+Relu"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("BatchNormalization"), std::string::npos) << r.out;
}

TEST(Cli, InfoJsonMatchesTheLibrary) {
  Result r = run_acim("info --json --raw " + kDsCnn);
  ASSERT_EQ(r.status, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  acim::ModelInfo info = acim::describe(acim::load_onnx(kDsCnn));
  EXPECT_EQ(j["total_macs"].get<int64_t>(), info.total_macs);
  EXPECT_EQ(j["total_params"].get<int64_t>(), info.total_params);
  EXPECT_EQ(j["layers"].size(), info.layers.size());
  EXPECT_GT(info.total_macs, 0);
}

TEST(Cli, InfoDumpAfterPrintsTheGraphAfterThatPass) {
  Result r = run_acim("info --dump-after fold-batchnorm " + kDsCnn);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("--- after fold-batchnorm ---"), std::string::npos);
  Result bad = run_acim("info --dump-after no-such-pass " + kDsCnn);
  expect_one_line_error(bad, {"no-such-pass", "fold-batchnorm"});
}

TEST(Cli, RunWritesOutputsEqualToTheLibrary) {
  const TempDir dir("run");
  Result r = run_acim("run " + kDsCnn + " --input input=" + kSrc + "/examples/kws_input.npy --output-dir " +
                  dir.string());
  ASSERT_EQ(r.status, 0) << r.err;
  acim::Graph g = acim::load_onnx(kDsCnn);
  acim::Executor exec(g);
  acim::Tensor x = acim::load_npy(kSrc + "/examples/kws_input.npy");
  acim::TensorMap want = exec.run({{g.inputs[0].name, x}});
  for (const auto& o : g.outputs) {
    acim::Tensor got = acim::load_npy(dir / (o.name + ".npy"));
    const acim::Tensor& w = want.at(o.name);
    ASSERT_EQ(got.shape(), w.shape());
    for (int64_t i = 0; i < w.numel(); ++i)
      EXPECT_NEAR(got.data<float>()[i], w.data<float>()[i], 1e-4 * (1 + std::abs(w.data<float>()[i])));
  }
}

TEST(Cli, RunJsonHasShapesAndValues) {
  Result r = run_acim("run --json " + kData + "two_inputs.onnx --input x=" + kData + "x23.npy --input z=" +
                  kData + "z23.npy");
  ASSERT_EQ(r.status, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j["outputs"].size(), 1u);
  auto o = j["outputs"][0];
  EXPECT_EQ(o["shape"], nlohmann::json::array({2, 3}));
  // relu(x + 0.5) with x = -3..2
  std::vector<double> want = {0, 0, 0, 0.5, 1.5, 2.5};
  EXPECT_EQ(o["values"].get<std::vector<double>>(), want);
}

TEST(Cli, OutputNamesNeverEscapeTheOutputFolder) {
  const TempDir dir("escape");
  Result r = run_acim("run " + kData + "two_inputs.onnx -i x=" + kData + "x23.npy -i z=" + kData +
                  "z23.npy -o " + dir.string());
  ASSERT_EQ(r.status, 0) << r.err;
  int files = 0;
  for (const auto& e : fs::directory_iterator(dir.path())) {
    ++files;
    EXPECT_EQ(e.path().extension(), ".npy");
  }
  EXPECT_EQ(files, 1);
  EXPECT_FALSE(fs::exists(dir.path().parent_path().parent_path() / "evil.npy"));
}

TEST(Cli, MissingModelFile) {
  expect_one_line_error(run_acim("info /nonexistent/model.onnx"), {"/nonexistent/model.onnx", "cannot open"});
}

TEST(Cli, TruncatedModelFile) {
  const TempDir dir("trunc");
  fs::path p = dir / "truncated.onnx";
  {
    std::ifstream in(kDsCnn, std::ios::binary);
    std::string bytes(std::istreambuf_iterator<char>(in), {});
    std::ofstream out(p, std::ios::binary);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size() / 2));
  }
  expect_one_line_error(run_acim("info " + p.string()), {"truncated.onnx"});
}

TEST(Cli, NotAnOnnxFile) {
  const TempDir dir("garbage");
  fs::path p = dir / "garbage.onnx";
  std::ofstream(p, std::ios::binary) << std::string(4096, '\0').replace(0, 64, "this is not a model");
  expect_one_line_error(run_acim("info " + p.string()), {"garbage.onnx"});
}

TEST(Cli, UnsupportedOpsAreListedAllAtOnce) {
  Result r = run_acim("info " + kData + "unsupported_ops.onnx");
  expect_one_line_error(r, {"unsupported_ops.onnx", "NonZero", "nonzero1", "Hardmax", "hardmax1", "hardmax2"});
}

TEST(Cli, OpsetOutOfRange) {
  expect_one_line_error(run_acim("info " + kData + "opset9.onnx"), {"opset9.onnx", "9", "11"});
}

TEST(Cli, ShapeMismatchNamesTheNode) {
  expect_one_line_error(run_acim("info " + kData + "shape_mismatch.onnx"), {"shape_mismatch.onnx", "bad_add", "[2,3]", "[4,5]"});
}

TEST(Cli, WrongInputShapeNamesTheInput) {
  Result r = run_acim("run " + kData + "two_inputs.onnx -i x=" + kData + "x45.npy -i z=" + kData + "z23.npy");
  expect_one_line_error(r, {"'x'", "[2,3]", "[4,5]"});
}

TEST(Cli, MissingInputIsNamed) {
  Result r = run_acim("run " + kData + "two_inputs.onnx -i x=" + kData + "x23.npy");
  expect_one_line_error(r, {"'z'"});
}

TEST(Cli, MissingNpyFile) {
  expect_one_line_error(run_acim("run " + kDsCnn + " -i /nonexistent/x.npy"), {"/nonexistent/x.npy"});
}

TEST(Cli, HugeDeclaredTensorIsRefusedUpFront) {
  // A .npy whose header declares 100000 x 100000 float32 (40 GB) but holds no data: refused by
  // the tensor size limit before any allocation, not an out-of-memory kill.
  const TempDir dir("huge");
  fs::path p = dir / "huge.npy";
  std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (100000, 100000), }";
  header.append(64 - (10 + header.size() + 1) % 64, ' ');
  header += '\n';
  std::string bytes = std::string("\x93NUMPY\x01\x00", 8);
  bytes += static_cast<char>(header.size() & 0xff);
  bytes += static_cast<char>(header.size() >> 8);
  std::ofstream(p, std::ios::binary) << bytes << header;
  Result r = run_acim("--max-tensor-mb 1024 run " + kDsCnn + " -i " + p.string());
  expect_one_line_error(r, {"huge.npy", "[100000,100000]", "limit"});
}

TEST(Cli, OpsListsSupportedOps) {
  Result r = run_acim("ops");
  ASSERT_EQ(r.status, 0);
  for (const char* op : {"Conv", "Gemm", "LSTM", "GRU", "QuantizeLinear", "LayerNormalization"})
    EXPECT_NE(r.out.find(std::string("  ") + op + "\n"), std::string::npos) << op;
}
