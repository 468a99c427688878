// Bad input through the `acim` command (docs/RELIABILITY.md, "Must show"): a model declaring a
// huge tensor, a cyclic graph, a graph nested past protobuf's limit, external data outside the
// model's folder, a sweep whose name would put its database in another folder, and a Program
// write that fails half-way. Each: exit status 1, one `acim: error:` line naming the file and the
// limit or rule, and nothing written (no new file; an old file byte for byte as it was). The
// exact error kinds: tests/unit/test_limits.cpp; the billion-point sweep:
// CliSweepSmall.HugeSweepFailsBeforeAnyWrite.
#include <gtest/gtest.h>
#include <sys/resource.h>

#include <algorithm>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "acim/npy.hpp"
#include "acim/tensor.hpp"
#include "cli_test_util.hpp"

namespace fs = std::filesystem;
using namespace acim::cli_test;

namespace {

const std::string kSrc = ACIM_SOURCE_DIR;
const std::string kData = kSrc + "/tests/data/cli/";

std::vector<std::string> files_in(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename());
  std::sort(names.begin(), names.end());
  return names;
}

// `acim compile MODEL -o OUT` is refused with one line holding each of `must_contain`, both when
// OUT is new (it is not created) and when OUT holds an older Program (it is left as it was); no
// temporary file is left either time.
void expect_compile_refused_writing_nothing(const std::string& model,
                                            const std::vector<std::string>& must_contain) {
  const TempDir dir("bad_input");
  const std::string compile = "compile " + model + " --chip edge-voice --chips auto -o ";
  expect_one_line_error(run_acim(compile + (dir / "new.acim").string()), must_contain);
  EXPECT_TRUE(files_in(dir).empty()) << "wrote " << files_in(dir).front();

  const std::string old = "an older Program\n";
  std::ofstream(dir / "old.acim", std::ios::binary) << old;
  expect_one_line_error(run_acim(compile + (dir / "old.acim").string()), must_contain);
  EXPECT_EQ(slurp_file(dir / "old.acim"), old);
  EXPECT_EQ(files_in(dir), std::vector<std::string>{"old.acim"});
}

TEST(CliBadInput, HugeDeclaredTensorWritesNothing) {
  expect_compile_refused_writing_nothing(
      kData + "huge_tensor.onnx",
      {"huge_tensor.onnx", "'huge'", "[1099511627776]", "tensor size limit of 8192 MiB",
       "--max-tensor-mb"});
}

TEST(CliBadInput, CyclicGraphWritesNothing) {
  expect_compile_refused_writing_nothing(
      kData + "cyclic.onnx", {"cyclic.onnx", "node 'loop_a'", "topological order and acyclic"});
}

TEST(CliBadInput, GraphNestedPastProtobufsLimitWritesNothing) {
  expect_compile_refused_writing_nothing(
      kData + "nested.onnx", {"nested.onnx", "protobuf parse failed", "limit of 100 levels"});
}

TEST(CliBadInput, ExternalDataOutsideTheModelFolderWritesNothing) {
  // The model in DIR/model/, its external data '../secret.bin' in DIR: refused, never read.
  const TempDir dir("external");
  fs::create_directories(dir / "model");
  fs::copy_file(kData + "external_escape.onnx", dir / "model" / "m.onnx");
  std::ofstream(dir / "secret.bin", std::ios::binary) << std::string(24, '\0');
  expect_compile_refused_writing_nothing(
      (dir / "model" / "m.onnx").string(),
      {"m.onnx", "tensor 'w'", "'../secret.bin' escapes the model's folder"});
}

TEST(CliBadInput, SweepNameWithAFolderWritesNoDatabase) {
  // Without --db the database is NAME.db in the current folder: a name with a folder in it must
  // not put it anywhere else (here: DIR/escaped.db).
  // Everything else in the sweep is valid, so only the name check stands between it and a run.
  const TempDir dir("sweep_name");
  fs::create_directories(dir / "data");
  acim::save_npy(dir / "data" / "mlp_x.npy", acim::Tensor(acim::DType::f32, {2, 784}));
  acim::save_npy(dir / "data" / "mlp_y.npy", acim::Tensor::from_vector<int64_t>({2}, {0, 1}));
  const fs::path toml = dir / "sweep.toml";
  std::ofstream(toml) << "[sweep]\nname = \"" << (dir / "escaped").string()
                      << "\"\nchip = \"edge-voice\"\nchips = \"auto\"\nmodel = \"" << kSrc
                      << "/zoo/mlp/mlp_mnist.onnx\"\ndata = \"data\"\n"
                         "[parameters]\n\"array.adc.bits\" = [4, 6]\n";
  expect_one_line_error(run_acim("sweep " + toml.string()),
                        {"sweep.toml:2: key 'sweep.name'", "not a plain name", "--db"});
  EXPECT_EQ(files_in(dir), (std::vector<std::string>{"data", "sweep.toml"}));
}

TEST(CliBadInput, ProgramWriteThatFailsHalfWayLeavesTheOldFile) {
  // Files may not grow past 64 KiB (RLIMIT_FSIZE, inherited by acim; SIGXFSZ ignored, so the
  // write fails with EFBIG), as on a full disk: the 130 KB Program cannot be written.
  const TempDir dir("atomic");
  const fs::path out = dir / "kws.acim";
  const std::string compile = "compile zoo/kws/ds_cnn_s.onnx --chip edge-voice --chips auto "
                              "--calibrate examples/kws_input.npy -o " + out.string();
  ASSERT_EQ(run_acim(compile).status, 0);
  const std::string old = slurp_file(out);
  ASSERT_GT(old.size(), 64u * 1024);
  // Overwritten by another chip's Program, under the limit.
  const std::string again = "compile zoo/kws/ds_cnn_s.onnx --chip hermes --chips auto "
                            "--calibrate examples/kws_input.npy -o " + out.string();
  Result r;
  {
    const auto old_handler = std::signal(SIGXFSZ, SIG_IGN);
    rlimit saved{};
    getrlimit(RLIMIT_FSIZE, &saved);
    rlimit small = saved;
    small.rlim_cur = 64 * 1024;
    EXPECT_EQ(setrlimit(RLIMIT_FSIZE, &small), 0);
    r = run_acim(again);
    setrlimit(RLIMIT_FSIZE, &saved);
    std::signal(SIGXFSZ, old_handler);
  }
  expect_one_line_error(r, {out.string(), "cannot write", "File too large"});
  EXPECT_EQ(slurp_file(out), old);
  EXPECT_EQ(files_in(dir), std::vector<std::string>{"kws.acim"});
  // Without the limit the same command overwrites it.
  ASSERT_EQ(run_acim(again).status, 0);
  EXPECT_NE(slurp_file(out), old);
}

}  // namespace
