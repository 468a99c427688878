// End-to-end tests of `acim sweep`: a 4-point sweep (ADC bits x cell type) of the zoo MLP on
// edge-voice (as many chips as it needs) over 16 random inputs labelled with the float model's own
// predictions (so the float accuracy is exactly 100 %, and the chips' accuracy is their agreement
// with it). A run killed with SIGKILL mid-sweep and resumed, and a 2-rank MPI run, must give the
// same database content (every stored value, bit for bit) as one uninterrupted run. Bad input: one
// line naming the file and key, and no database written.
#include <gtest/gtest.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "acim/executor.hpp"
#include "acim/npy.hpp"
#include "acim/onnx.hpp"
#include "acim/passes.hpp"
#include "acim/rng.hpp"
#include "acim/sweep.hpp"
#include "cli_test_util.hpp"

namespace fs = std::filesystem;

using namespace acim::cli_test;

namespace {

const std::string kMlp = std::string(ACIM_SOURCE_DIR) + "/zoo/mlp/mlp_mnist.onnx";
constexpr int64_t kPoints = 4;

// dir/data/mlp_x.npy + mlp_y.npy: n random inputs labelled with the float model's argmax;
// dir/calib.npy: the first 8 of them (or all).
void write_data(const fs::path& dir, int64_t n) {
  acim::Tensor x(acim::DType::f32, {n, 784});
  acim::RandomStream(11, {0x5EE9}).normal(x.data<float>(), static_cast<size_t>(x.numel()));
  acim::Graph g = acim::load_onnx(kMlp);
  acim::run_default_passes(g);
  const acim::Tensor y = acim::Executor(g).run({{g.inputs[0].name, x}}).at(g.outputs[0].name);
  acim::Tensor labels(acim::DType::i64, {n});
  for (int64_t i = 0; i < n; ++i) {
    const float* row = y.data<float>() + i * y.dim(1);
    labels.data<int64_t>()[i] = std::max_element(row, row + y.dim(1)) - row;
  }
  fs::create_directories(dir / "data");
  acim::save_npy(dir / "data" / "mlp_x.npy", x);
  acim::save_npy(dir / "data" / "mlp_y.npy", labels);
  acim::save_npy(dir / "calib.npy", x.rows(0, std::min<int64_t>(n, 8)));
}

void write_text(const fs::path& path, const std::string& text) {
  FILE* f = std::fopen(path.string().c_str(), "wb");
  ASSERT_NE(f, nullptr);
  std::fwrite(text.data(), 1, text.size(), f);
  std::fclose(f);
}

std::string sweep_toml(const std::string& parameters) {
  return "[sweep]\nname = \"mlp\"\nchip = \"edge-voice\"\nmodel = \"" + kMlp +
         "\"\ndata = \"data\"\ncalibrate = \"calib.npy\"\nchips = \"auto\"\ninstances = 2\nseed = "
         "5\n"
         "[parameters]\n" +
         parameters;
}

const std::string kParameters =
    "\"array.adc.bits\" = [4, 8]\n\"array.cell.type\" = [\"sram_charge\", \"rram\"]\n";

// Every stored value of two databases equal, bit for bit.
void expect_same_content(const fs::path& a, const fs::path& b) {
  const auto pa = acim::SweepStore(a).read();
  const auto pb = acim::SweepStore(b).read();
  ASSERT_EQ(pa.size(), pb.size());
  for (size_t i = 0; i < pa.size(); ++i) {
    EXPECT_EQ(pa[i].sweep, pb[i].sweep);
    EXPECT_EQ(pa[i].point, pb[i].point);
    EXPECT_EQ(pa[i].parameters, pb[i].parameters);
    EXPECT_EQ(pa[i].ok, pb[i].ok);
    EXPECT_EQ(pa[i].error, pb[i].error);
    ASSERT_EQ(pa[i].metrics.size(), pb[i].metrics.size()) << "point " << pa[i].point;
    for (size_t k = 0; k < pa[i].metrics.size(); ++k) {
      EXPECT_EQ(pa[i].metrics[k].metric, pb[i].metrics[k].metric);
      EXPECT_EQ(pa[i].metrics[k].instance, pb[i].metrics[k].instance);
      EXPECT_EQ(pa[i].metrics[k].value, pb[i].metrics[k].value)
          << "point " << pa[i].point << " " << pa[i].metrics[k].metric;
    }
  }
}

std::string quoted(const fs::path& p) {
  return "'" + p.string() + "'";
}

class CliSweep : public ::testing::Test {
 protected:
  // One folder with the data, the sweep file and the uninterrupted run's database.
  static void SetUpTestSuite() {
    dir_ = std::make_unique<TempDir>("sweep");
    write_data(*dir_, 16);
    write_text(*dir_ / "sweep.toml", sweep_toml(kParameters));
    reference_ = run_acim("--threads 1 sweep " + quoted(*dir_ / "sweep.toml") + " --db " +
                          quoted(*dir_ / "ref.db"));
  }
  static void TearDownTestSuite() { dir_.reset(); }
  static fs::path dir() { return dir_->path(); }

  static std::unique_ptr<TempDir> dir_;
  static Result reference_;
};
std::unique_ptr<TempDir> CliSweep::dir_;
Result CliSweep::reference_;

TEST_F(CliSweep, RunsEveryPointAndShowsTheFront) {
  ASSERT_EQ(reference_.status, 0) << reference_.err;
  expect_has(reference_.err,
             {"sweep 'mlp': 4 points x 2 instances, 1 rank", "[4/4] point 3", "ETA"});
  expect_has(reference_.out, {"4 points run", "on the Pareto front", "array.adc.bits="});
  const auto points = acim::SweepStore(dir() / "ref.db").read();
  ASSERT_EQ(points.size(), static_cast<size_t>(kPoints));
  for (const acim::StoredPoint& p : points) {
    EXPECT_TRUE(p.ok) << p.error;
    EXPECT_EQ(p.mean("float_accuracy"), 1.0);  // the labels are the float model's predictions
    EXPECT_GT(p.mean("output_error"), 0);      // analog noise and quantisation: never exact
    EXPECT_LT(p.mean("output_error"), 10);
    EXPECT_GT(p.mean("energy_pj"), 0);
    EXPECT_GT(p.mean("area_mm2"), 0);
    EXPECT_GT(p.mean("npu_power_uw"), 0);
  }
  // The NPU holds the same weights at the same node whatever the ADC: per cell type, one value.
  EXPECT_EQ(points[0].mean("npu_power_uw"), points[2].mean("npu_power_uw"));
  EXPECT_EQ(points[1].mean("npu_power_uw"), points[3].mean("npu_power_uw"));
  // More ADC bits on the same cell: at least as accurate on these 32 (2 x 16) runs.
  EXPECT_GE(points[2].mean("accuracy"), points[0].mean("accuracy"));

  const Result show = run_acim("sweep show " + quoted(dir() / "ref.db") + " --csv " +
                               quoted(dir() / "r.csv") + " --html " + quoted(dir() / "r.html"));
  ASSERT_EQ(show.status, 0) << show.err;
  expect_has(show.out, {"sweep 'mlp': 4 points (0 failed)", "accuracy", "energy/inf"});
  const std::string csv = slurp_file(dir() / "r.csv");
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), kPoints + 1);
  expect_has(csv, {"sweep,point,status,array.adc.bits,array.cell.type,accuracy,accuracy_std"});
  expect_has(slurp_file(dir() / "r.html"), {"<svg", "Pareto front"});
}

TEST_F(CliSweep, KilledMidRunResumesToTheSameDatabase) {
  ASSERT_EQ(reference_.status, 0) << reference_.err;
  const fs::path db = dir() / "killed.db";
  const std::string cmd = "exec " + std::string(ACIM_BIN) + " --threads 1 sweep " +
                          quoted(dir() / "sweep.toml") + " --db " + quoted(db) + " >/dev/null 2>&1";
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  // Kill it as soon as the first point is stored.
  size_t stored = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (stored == 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    if (fs::exists(db)) stored = acim::SweepStore(db).read().size();
  }
  kill(pid, SIGKILL);
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFSIGNALED(status)) << "the sweep ended before it was killed";
  stored = acim::SweepStore(db).read().size();
  ASSERT_GE(stored, 1u);
  ASSERT_LT(stored, static_cast<size_t>(kPoints)) << "killed too late to show a resume";

  const Result resumed =
      run_acim("--threads 1 sweep " + quoted(dir() / "sweep.toml") + " --db " + quoted(db));
  ASSERT_EQ(resumed.status, 0) << resumed.err;
  expect_has(resumed.err, {std::to_string(stored) + " already stored: resuming"});
  expect_same_content(dir() / "ref.db", db);
}

TEST_F(CliSweep, TwoMpiRanksGiveTheSameDatabase) {
  ASSERT_EQ(reference_.status, 0) << reference_.err;
  if (std::system("command -v mpirun >/dev/null 2>&1") != 0)
    GTEST_SKIP() << "mpirun not found (openmpi-bin)";
  const fs::path db = dir() / "mpi.db";
  const fs::path err = dir() / "mpi.err";
  // Under LeakSanitizer (the asan preset) OpenMPI's own start-up allocations, never freed by
  // MPI_Finalize, would fail the ranks: leak checking is off inside mpirun (ASan stays on).
  const std::string cmd =
      "OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 "
      "ASAN_OPTIONS=\"${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0\" "
      "mpirun -x ASAN_OPTIONS -n 2 --oversubscribe " +
      std::string(ACIM_BIN) + " --threads 1 sweep " + quoted(dir() / "sweep.toml") + " --db " +
      quoted(db) + " >/dev/null 2>" + quoted(err);
  const int raw = std::system(cmd.c_str());
  ASSERT_TRUE(WIFEXITED(raw) && WEXITSTATUS(raw) == 0) << slurp_file(err);
  expect_has(slurp_file(err), {"2 ranks", "on rank 1"});
  expect_same_content(dir() / "ref.db", db);
}

// Bad input and small runs: each test its own folder (no reference run needed).
class CliSweepSmall : public ::testing::Test {
 protected:
  CliSweepSmall() : dir_("sweep_bad") {
    write_data(dir_, 4);
    write_text(dir_ / "sweep.toml", sweep_toml(kParameters));
  }
  fs::path dir() const { return dir_.path(); }
  TempDir dir_;
};

TEST_F(CliSweepSmall, UnknownParameterFailsBeforeAnyWrite) {
  write_text(dir() / "bad.toml", sweep_toml("\"array.adc.bitz\" = [4, 8]\n"));
  const Result r =
      run_acim("sweep " + quoted(dir() / "bad.toml") + " --db " + quoted(dir() / "bad.db"));
  expect_one_line_error(r, {"bad.toml:", "array.adc.bitz", "is not a chip-spec key",
                            "did you mean 'array.adc.bits'"});
  EXPECT_FALSE(fs::exists(dir() / "bad.db"));
}

TEST_F(CliSweepSmall, EmptyRangeFailsBeforeAnyWrite) {
  write_text(dir() / "empty.toml",
             sweep_toml("\"array.rows\" = { from = 256, to = 64, step = 64 }\n"));
  const Result r =
      run_acim("sweep " + quoted(dir() / "empty.toml") + " --db " + quoted(dir() / "empty.db"));
  expect_one_line_error(r, {"empty.toml:", "array.rows", "empty range"});
  EXPECT_FALSE(fs::exists(dir() / "empty.db"));
}

TEST_F(CliSweepSmall, HugeSweepFailsBeforeAnyWrite) {
  std::string params;
  for (const char* key :
       {"energy.adc_conversion_pj", "energy.dac_drive_pj", "area.adc_um2", "area.dac_um2"})
    params +=
        std::string("\"") + key + "\" = { from = 1, to = 10000, step = 1 }\n";  // 10^16 points
  write_text(dir() / "huge.toml", sweep_toml(params));
  const Result r =
      run_acim("sweep " + quoted(dir() / "huge.toml") + " --db " + quoted(dir() / "huge.db"));
  expect_one_line_error(r, {"huge.toml:", "sweep.max_points", "10000000000000000 points"});
  EXPECT_FALSE(fs::exists(dir() / "huge.db"));
}

TEST_F(CliSweepSmall, PointsThatDifferInCostKeysOnlyReuseTheCompiledProgram) {
  std::string toml =
      sweep_toml("\"energy.adc_conversion_pj\" = [1, 2, 3]\n\"area.adc_um2\" = [1000, 2000]\n");
  toml.replace(toml.find("[parameters]"), 0, "metrics = [\"energy_pj\", \"area_mm2\"]\n");
  write_text(dir() / "cost.toml", toml);
  const Result r =
      run_acim("sweep " + quoted(dir() / "cost.toml") + " --db " + quoted(dir() / "cost.db"));
  ASSERT_EQ(r.status, 0) << r.err;
  expect_has(r.out, {"6 points run", "(1 compiled on rank 0)"});
  const auto points = acim::SweepStore(dir() / "cost.db").read();
  ASSERT_EQ(points.size(), 6u);
  // Reused, yet priced with each point's own chip: energy grows with the ADC's energy, area with
  // its area.
  EXPECT_LT(points[0].mean("energy_pj"), points[2].mean("energy_pj"));
  EXPECT_LT(points[0].mean("area_mm2"), points[1].mean("area_mm2"));
  EXPECT_EQ(points[0].mean("area_mm2"), points[2].mean("area_mm2"));

  // A key the compiler reads recompiles every point.
  std::string adc = sweep_toml("\"array.adc.bits\" = [4, 6]\n");
  adc.replace(adc.find("[parameters]"), 0, "name = \"adc\"\nmetrics = [\"energy_pj\"]\n");
  adc.replace(adc.find("name = \"mlp\"\n"), 13, "");
  write_text(dir() / "adc.toml", adc);
  const Result a =
      run_acim("sweep " + quoted(dir() / "adc.toml") + " --db " + quoted(dir() / "cost.db"));
  ASSERT_EQ(a.status, 0) << a.err;
  expect_has(a.out, {"2 points run", "(2 compiled on rank 0)"});
}

TEST_F(CliSweepSmall, PointThatDoesNotFitIsStoredAsFailed) {
  // The MLP needs 3 edge-voice chips; without chips = "auto" a point must fit one.
  std::string toml = sweep_toml("\"array.adc.bits\" = [6]\n");
  toml.replace(toml.find("chips = \"auto\"\n"), 15, "");
  write_text(dir() / "one.toml", toml);
  const Result r =
      run_acim("sweep " + quoted(dir() / "one.toml") + " --db " + quoted(dir() / "one.db"));
  ASSERT_EQ(r.status, 0) << r.err;
  expect_has(r.err, {"[1/1] point 0 (array.adc.bits=6): failed (",
                     "needs 69 arrays; chip 'edge-voice' has 48"});
  const auto points = acim::SweepStore(dir() / "one.db").read();
  ASSERT_EQ(points.size(), 1u);
  EXPECT_FALSE(points[0].ok);
  EXPECT_TRUE(points[0].metrics.empty());
  expect_has(run_acim("sweep show " + quoted(dir() / "one.db")).out,
             {"1 points (1 failed), 0 on the Pareto front"});
}

TEST_F(CliSweepSmall, DatabaseOfAnotherSchemaVersionIsRefusedUntouched) {
  const fs::path db = dir() / "v9.db";
  sqlite3* h = nullptr;
  ASSERT_EQ(sqlite3_open(db.string().c_str(), &h), SQLITE_OK);
  ASSERT_EQ(
      sqlite3_exec(h, "CREATE TABLE t(x); PRAGMA user_version = 9;", nullptr, nullptr, nullptr),
      SQLITE_OK);
  sqlite3_close(h);
  const std::string before = slurp_file(db);
  const Result r = run_acim("sweep " + quoted(dir() / "sweep.toml") + " --db " + quoted(db));
  expect_one_line_error(r,
                        {"v9.db", "schema version 9; this acim reads version 1", "another --db"});
  EXPECT_EQ(slurp_file(db), before);
  EXPECT_FALSE(fs::exists(dir() / "v9.db-wal"));
}

}  // namespace
