// Sweep files (lists, ranges, products, a point's chip, every bad-input error), the Pareto front,
// and the result store (round trip, resume bookkeeping, schema version, sweeps sharing a file).
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <cmath>
#include <filesystem>
#include <limits>
#include <string>

#include "acim/chip.hpp"
#include "acim/error.hpp"
#include "acim/sweep.hpp"
#include "test_util.hpp"

namespace {

using acim::Error;
using acim::ErrorKind;
using acim::SweepSpec;

const std::string kHeader =
    "[sweep]\nname = \"t\"\nchip = \"edge-voice\"\nmodel = \"m.onnx\"\ndata = \"d\"\ninstances = "
    "2\n";

SweepSpec parse(const std::string& params, const std::string& extra = "") {
  return acim::parse_sweep(kHeader + extra + "[parameters]\n" + params, "s/sweep.toml");
}

// The error's full message, for asserting on it.
std::string error_of(const std::string& params, const std::string& extra = "") {
  try {
    parse(params, extra);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(SweepSpec, ListsRangesAndProducts) {
  const SweepSpec s = parse(
      "\"array.adc.bits\" = [4, 6, 8]\n"
      "\"array.rows\" = { from = 64, to = 256, step = 64 }\n"
      "\"core.buffer.size_kib\" = { from = 16, to = 64, times = 2 }\n"
      "\"array.cell.type\" = [\"sram_charge\", \"rram\"]\n");
  ASSERT_EQ(s.parameters.size(), 4u);
  EXPECT_EQ(s.parameters[1].values.size(), 4u);  // 64, 128, 192, 256
  EXPECT_EQ(s.parameters[1].values[3].i, 256);
  ASSERT_EQ(s.parameters[2].values.size(), 3u);  // 16, 32, 64
  EXPECT_EQ(s.parameters[2].values[2].i, 64);
  EXPECT_EQ(s.points(), 3 * 4 * 3 * 2);
  // Last parameter fastest.
  EXPECT_EQ(s.point_label(0),
            "array.adc.bits=4 array.rows=64 core.buffer.size_kib=16 array.cell.type=sram_charge");
  EXPECT_EQ(s.point_label(1),
            "array.adc.bits=4 array.rows=64 core.buffer.size_kib=16 array.cell.type=rram");
  EXPECT_EQ(s.point_label(s.points() - 1),
            "array.adc.bits=8 array.rows=256 core.buffer.size_kib=64 array.cell.type=rram");
  // Relative paths resolve against the sweep file's folder; defaults.
  EXPECT_EQ(s.model, "s/m.onnx");
  EXPECT_EQ(s.data, "s/d");
  EXPECT_EQ(s.instances, 2);
  EXPECT_EQ(s.metrics, acim::sweep_metric_names());
  EXPECT_EQ(s.hash.size(), 16u);
}

TEST(SweepSpec, TheExampleSweepsLoad) {
  // Every file in examples/sweeps parses and checks each point's chip (the data they name is not
  // in git, so they are not run here).
  int files = 0;
  for (const auto& entry :
       std::filesystem::directory_iterator(std::string(ACIM_SOURCE_DIR) + "/examples/sweeps")) {
    if (entry.path().extension() != ".toml") continue;
    SCOPED_TRACE(entry.path().string());
    EXPECT_GT(acim::load_sweep(entry.path()).points(), 1);
    ++files;
  }
  EXPECT_GE(files, 2);
  // kws_depthwise's two points differ in where the depthwise layers run.
  const SweepSpec dw =
      acim::load_sweep(std::string(ACIM_SOURCE_DIR) + "/examples/sweeps/kws_depthwise.toml");
  ASSERT_EQ(dw.points(), 2);
  EXPECT_FALSE(acim::point_chip(dw, 0).core.digital.grouped_conv);
  EXPECT_TRUE(acim::point_chip(dw, 1).core.digital.grouped_conv);
}

TEST(SweepSpec, PointChipAppliesEveryValue) {
  const SweepSpec s = parse(
      "\"array.adc.bits\" = [4, 8]\n\"energy.adc_conversion_pj\" = [2]\n"
      "\"array.cell.type\" = [\"sram_charge\", \"rram\"]\n");
  const acim::ChipSpec base = acim::chip_preset("edge-voice");
  const acim::ChipSpec c = acim::point_chip(s, 2);  // adc 8, sram_charge
  EXPECT_EQ(c.array.adc.bits, 8);
  EXPECT_EQ(c.energy.adc_conversion_pj, 2.0);  // an integer written to a real key
  EXPECT_EQ(acim::point_chip(s, 0).array.adc.bits, 4);
  // Everything not swept is the base chip's.
  acim::ChipSpec back = c;
  back.array.adc.bits = base.array.adc.bits;
  back.energy.adc_conversion_pj = base.energy.adc_conversion_pj;
  EXPECT_TRUE(back == base);
}

TEST(SweepSpec, SweptCellTypeStartsFromItsTechnologyDefaults) {
  // As a chip file naming type = "rram" would: RRAM's conductance window and levels
  // (src/device defaults), not the SRAM base chip's normalised 0..1 window.
  const SweepSpec s = parse("\"array.cell.type\" = [\"rram\"]\n");
  const acim::ChipSpec c = acim::point_chip(s, 0);
  const acim::ArrayParams rram = acim::default_array_params(acim::CellType::rram);
  EXPECT_EQ(c.array.cell.type, acim::CellType::rram);
  EXPECT_EQ(c.array.cell.g_max_us, rram.cell.g_max_us);
  EXPECT_EQ(c.array.cell.levels, rram.cell.levels);
  // What edge-voice's own file sets still holds (its array size).
  EXPECT_EQ(c.array.rows, acim::chip_preset("edge-voice").array.rows);
}

TEST(SweepSpec, UnknownParameterNamesKeyAndSuggests) {
  const std::string e = error_of("\"array.adc.bitz\" = [4, 6]\n");
  EXPECT_NE(e.find("s/sweep.toml"), std::string::npos) << e;
  EXPECT_NE(e.find("array.adc.bitz"), std::string::npos) << e;
  EXPECT_NE(e.find("did you mean 'array.adc.bits'"), std::string::npos) << e;
}

TEST(SweepSpec, EmptyListsAndRangesAreErrors) {
  EXPECT_NE(error_of("\"array.adc.bits\" = []\n").find("is an empty list"), std::string::npos);
  const std::string e = error_of("\"array.rows\" = { from = 256, to = 64, step = 64 }\n");
  EXPECT_NE(e.find("empty range"), std::string::npos) << e;
  EXPECT_NE(e.find("array.rows"), std::string::npos) << e;
  EXPECT_NE(error_of("\"array.rows\" = { from = 64, to = 256 }\n")
                .find("exactly one of 'step' and 'times'"),
            std::string::npos);
  EXPECT_NE(error_of("\"array.rows\" = { from = 64, to = 256, step = 0 }\n")
                .find("'step' must be positive"),
            std::string::npos);
}

TEST(SweepSpec, ValueTheChipRejectsNamesKeyAndValue) {
  const std::string e = error_of("\"array.adc.bits\" = [6, 99]\n");
  EXPECT_NE(e.find("array.adc.bits"), std::string::npos) << e;
  EXPECT_NE(e.find("= 99"), std::string::npos) << e;
  const std::string t = error_of("\"array.cell.type\" = [\"unobtainium\"]\n");
  EXPECT_NE(t.find("unobtainium"), std::string::npos) << t;
}

TEST(SweepSpec, HugeSweepNeedsAnExplicitLimit) {
  std::string params;
  for (const char* key : {"array.adc.bits", "array.dac.bits", "array.rows", "array.cols",
                          "core.tiles", "tile.arrays", "chip.cores", "core.buffer.size_kib"})
    params += std::string("\"") + key + "\" = { from = 1, to = 100000000, times = 1.01 }\n";
  try {
    parse(params);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::limit);
    EXPECT_NE(std::string(e.what()).find("max_points"), std::string::npos) << e.what();
  }
  // The product alone over the limit (each list small).
  std::string many;
  for (const char* key :
       {"array.adc.bits", "array.dac.bits", "energy.adc_conversion_pj", "energy.dac_drive_pj",
        "area.adc_um2", "area.dac_um2", "time.adc_conversion_ns"})
    many += std::string("\"") + key + "\" = [2, 3, 4, 5, 6, 7, 8]\n";  // 7^7 = 823543 points
  const std::string e = error_of(many);
  EXPECT_NE(e.find("823543 points, more than max_points = 10000"), std::string::npos) << e;
}

TEST(SweepSpec, SweepTableErrors) {
  EXPECT_NE(error_of("", "instancez = 3\n").find("did you mean 'sweep.instances'"),
            std::string::npos);
  EXPECT_NE(error_of("", "metrics = [\"accuracy\", \"joy\"]\n").find("'joy' is not a metric"),
            std::string::npos);
  try {
    acim::parse_sweep("[sweep]\nchip = \"edge-voice\"\nmodel = \"m.onnx\"\n", "x.toml");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("sweep.data"), std::string::npos) << e.what();
  }
}

TEST(ParetoFront, KeepsExactlyTheNonDominated) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  // accuracy (max), energy (min), area (min)
  const std::vector<acim::ParetoObjectives> p = {
      {0.90, 10, 1},  // 0 front: cheapest
      {0.95, 20, 1},  // 1 front: more accurate at more energy
      {0.90, 20, 1},  // 2 dominated by 0
      {0.95, 20, 2},  // 3 dominated by 1
      {0.99, 30, 3},  // 4 front: most accurate
      {0.80, 5, 5},   // 5 front: least energy, though large
      {nan, 1, 1},    // 6 failed point: left out
      {0.90, 10, 1},  // 7 the same as 0: neither dominates the other
  };
  EXPECT_EQ(acim::pareto_front(p), (std::vector<size_t>{5, 0, 7, 1, 4}));
  EXPECT_TRUE(acim::pareto_front({}).empty());
}

acim::PointResult result(int64_t point, double acc0, double acc1, double energy) {
  acim::PointResult r;
  r.point = point;
  r.metrics = {{0, "accuracy", acc0},
               {1, "accuracy", acc1},
               {-1, "energy_pj", energy},
               {-1, "area_mm2", 1.0}};
  return r;
}

TEST(SweepStore, RoundTripResumeAndSharing) {
  acim::test::TempDir dir;
  const auto db = dir.path() / "r.db";
  const SweepSpec s = parse("\"array.adc.bits\" = [4, 6, 8]\n");
  {
    acim::SweepStore store(db);
    const int64_t id = store.begin(s);
    EXPECT_TRUE(store.done(id).empty());
    store.write(id, s, result(2, 0.5, 0.75, 100.0));
    acim::PointResult failed;
    failed.point = 0;
    failed.ok = false;
    failed.error = "does not fit";
    store.write(id, s, failed);
  }
  acim::SweepStore store(db);  // reopened: same id, the points kept
  const int64_t id = store.begin(s);
  EXPECT_EQ(store.done(id), (std::vector<int64_t>{0, 2}));
  const std::vector<acim::StoredPoint> pts = store.read();
  ASSERT_EQ(pts.size(), 2u);
  EXPECT_FALSE(pts[0].ok);
  EXPECT_EQ(pts[0].error, "does not fit");
  EXPECT_EQ(pts[1].parameters,
            (std::vector<std::pair<std::string, std::string>>{{"array.adc.bits", "8"}}));
  EXPECT_DOUBLE_EQ(pts[1].mean("accuracy"), 0.625);
  EXPECT_DOUBLE_EQ(pts[1].std("accuracy"), std::sqrt(2 * 0.125 * 0.125));
  EXPECT_DOUBLE_EQ(pts[1].mean("energy_pj"), 100.0);
  EXPECT_TRUE(std::isnan(pts[1].mean("latency_ns")));

  // Another sweep shares the file; a changed sweep file under the same name is refused.
  SweepSpec other = parse("\"array.adc.bits\" = [4]\n");
  other.name = "u";
  const int64_t id2 = store.begin(other);
  EXPECT_NE(id2, id);
  store.write(id2, other, result(0, 1, 1, 50));
  EXPECT_EQ(store.read("u").size(), 1u);
  EXPECT_EQ(store.read().size(), 3u);
  SweepSpec changed = parse("\"array.adc.bits\" = [4, 5]\n");
  try {
    store.begin(changed);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("another sweep file"), std::string::npos) << e.what();
  }
}

TEST(SweepStore, OtherSchemaVersionIsRefused) {
  acim::test::TempDir dir;
  const std::string db = (dir.path() / "old.db").string();
  sqlite3* h = nullptr;
  ASSERT_EQ(sqlite3_open(db.c_str(), &h), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(h, "CREATE TABLE results(x); PRAGMA user_version = 7;", nullptr, nullptr,
                         nullptr),
            SQLITE_OK);
  sqlite3_close(h);
  try {
    acim::SweepStore store(db);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::unsupported);
    EXPECT_NE(std::string(e.what()).find("schema version 7; this acim reads version 1"),
              std::string::npos)
        << e.what();
  }
}

TEST(SweepExport, CsvAndHtml) {
  acim::StoredPoint a, b;
  a.sweep = b.sweep = "s";
  a.point = 0;
  b.point = 1;
  a.parameters = {{"array.adc.bits", "4"}};
  b.parameters = {{"array.adc.bits", "8"}};
  a.metrics = {
      {-1, "area_mm2", 1}, {0, "accuracy", 0.5}, {1, "accuracy", 0.5}, {-1, "energy_pj", 10}};
  b.metrics = {
      {-1, "area_mm2", 1}, {0, "accuracy", 0.5}, {1, "accuracy", 0.5}, {-1, "energy_pj", 20}};
  const std::string csv = acim::sweep_csv({a, b});
  EXPECT_EQ(
      csv,
      "sweep,point,status,array.adc.bits,accuracy,accuracy_std,energy_pj,area_mm2,pareto,error\n"
      "s,0,done,4,0.5,0,10,1,1,\n"
      "s,1,done,8,0.5,0,20,1,0,\n");
  // Another sweep's point is on its own sweep's front, though `a` beats it.
  acim::StoredPoint c = b;
  c.sweep = "t";
  c.point = 0;
  EXPECT_NE(acim::sweep_csv({a, b, c}).find("t,0,done,8,0.5,0,20,1,1,\n"), std::string::npos);
  const std::string html = acim::sweep_html({a, b}, "t <1>");
  EXPECT_NE(html.find("<svg"), std::string::npos);
  EXPECT_NE(html.find("t &lt;1&gt;"), std::string::npos);
  EXPECT_EQ(html.find("<script"), std::string::npos);
}

}  // namespace
