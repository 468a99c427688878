// End-to-end tests of `acim report`: the terminal summary of DS-CNN on edge-voice (energy,
// always-on power at --rate, the digital baseline in words), --json with the same numbers, an
// ONNX model compiled on the fly with --chip, activity from --inputs, one-line errors that leave
// no file behind, and the --html page rendered by a real headless browser (Debian's chromium;
// skipped when it is not installed) into a screenshot of the page.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdlib>
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

// DS-CNN compiled for edge-voice into `dir` (two random calibration samples kept).
fs::path ds_cnn_program(const fs::path& dir) {
  const fs::path out = dir / "kws.acim";
  Result r = run_acim("compile zoo/kws/ds_cnn_s.onnx --chip edge-voice -o " + out.string());
  EXPECT_EQ(r.status, 0) << r.err;
  return out;
}

// The headless browser: $ACIM_CHROMIUM, else chromium or chromium-browser on the PATH; "" if
// none.
std::string find_chromium() {
  if (const char* env = std::getenv("ACIM_CHROMIUM"); env && *env) return env;
  const char* path = std::getenv("PATH");
  std::string dirs = path ? path : "/usr/bin:/bin";
  for (const char* name : {"chromium", "chromium-browser"}) {
    size_t start = 0;
    while (start <= dirs.size()) {
      const size_t end = std::min(dirs.find(':', start), dirs.size());
      const fs::path p = fs::path(dirs.substr(start, end - start)) / name;
      std::error_code ec;
      if (!p.parent_path().empty() && fs::is_regular_file(p, ec)) return p.string();
      start = end + 1;
    }
  }
  return "";
}

// Big-endian 32-bit integer at `at`.
uint32_t be32(const std::string& s, size_t at) {
  uint32_t v = 0;
  for (size_t i = 0; i < 4; ++i) v = (v << 8) | static_cast<unsigned char>(s[at + i]);
  return v;
}

}  // namespace

TEST(CliReport, SummaryOfDsCnnOnEdgeVoice) {
  const TempDir dir("report_summary");
  const fs::path prog = ds_cnn_program(dir);
  Result r = run_acim("report " + prog.string());
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.err, "");
  expect_has(r.out, {"chip         edge-voice (22 nm",
                     "37 used / 48 available",
                     "activity     calibration set, 8 samples",
                     "latency ",
                     "inferences/s",
                     "energy/inference   ",
                     " µJ",
                     "at 50 inferences/s (20 µW leakage)",
                     "TOPS/W",
                     "TOPS/mm²",
                     "energy per inference by component:",
                     "adc",
                     "top 8 of 12 layers by energy:",
                     "ds1.dw",
                     "area:",
                     "ADCs",
                     "digital baseline",
                     "digital NPU",
                     "leakage  power at 50/s",
                     "22 nm",
                     "5 nm",
                     "than a digital NPU at 22 nm",
                     "than a digital NPU at 5 nm"});
  // The ratio is stated in one direction or the other, never both for one node.
  const bool more =
      r.out.find("more energy per inference than a digital NPU at 22 nm") != std::string::npos;
  const bool less =
      r.out.find("less energy per inference than a digital NPU at 22 nm") != std::string::npos;
  EXPECT_NE(more, less) << r.out;
}

TEST(CliReport, JsonHasTheSameNumbersAndTheRate) {
  const TempDir dir("report_json");
  const fs::path prog = ds_cnn_program(dir);
  Result r = run_acim("report " + prog.string() + " --json --rate 10");
  ASSERT_EQ(r.status, 0) << r.err;
  const nlohmann::json j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["chip"], "edge-voice");
  EXPECT_EQ(j["rate_per_s"].get<double>(), 10.0);
  const nlohmann::json& c = j["cost"];
  double sum = 0;
  for (const auto& [name, pj] : c["energy_breakdown_pj"].items()) sum += pj.get<double>();
  EXPECT_NEAR(sum, c["energy_pj"].get<double>(), 1e-9 * sum);
  // Always-on power: leakage all the time plus the rate times the dynamic energy (pJ/s = 1e-6 uW).
  EXPECT_NEAR(j["average_power_uw"].get<double>(),
              c["leakage_uw"].get<double>() + 10 * c["dynamic_energy_pj"].get<double>() * 1e-6,
              1e-9);
  EXPECT_EQ(c["layers"].size(), 10u);
  EXPECT_TRUE(c["layers"][0].contains("events"));
  EXPECT_TRUE(c["layers"][0].contains("activity"));
  ASSERT_EQ(j["baselines"].size(), 2u);
  EXPECT_EQ(j["baselines"][0]["technology_nm"], 22);
  EXPECT_EQ(j["baselines"][1]["technology_nm"], 5);
  EXPECT_GT(j["baselines"][1]["analog_over_digital"].get<double>(),
            j["baselines"][0]["analog_over_digital"].get<double>());  // 5 nm digital is cheaper
  // A baseline's always-on power: its SRAM's retention leakage plus the rate times its energy.
  for (const nlohmann::json& b : j["baselines"]) {
    EXPECT_GT(b["leakage_uw"].get<double>(), 0);
    EXPECT_NEAR(b["average_power_uw"].get<double>(),
                b["leakage_uw"].get<double>() + 10 * b["energy_pj"].get<double>() * 1e-6, 1e-9);
  }
}

TEST(CliReport, OnnxWithChipAndInputsAndAdcModel) {
  const TempDir dir("report_onnx");
  acim::Tensor t(acim::DType::f32, {1, 1, 49, 10});
  acim::RandomStream(5, {0xAE}).normal(t.data<float>(), static_cast<size_t>(t.numel()));
  const fs::path x = dir / "x.npy";
  acim::save_npy(x, t);
  Result r = run_acim(
      "report zoo/kws/ds_cnn_s.onnx --chip edge-voice --adc-model walden --json "
      "--inputs " +
      x.string() + " " + x.string());
  ASSERT_EQ(r.status, 0) << r.err;
  const nlohmann::json j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["activity"]["source"], "--inputs");
  EXPECT_EQ(j["activity"]["samples"], 2);
  EXPECT_EQ(j["cost"]["adc"]["model"], "walden");
  EXPECT_EQ(j["cost"]["layers"][0]["activity"]["samples"], 2);
}

TEST(CliReport, ErrorsAreOneLineAndWriteNothing) {
  const TempDir dir("report_errors");
  const fs::path prog = ds_cnn_program(dir);
  const fs::path html = dir / "r.html";
  expect_one_line_error(run_acim("report zoo/kws/ds_cnn_s.onnx"),
                        {"zoo/kws/ds_cnn_s.onnx", "not a compiled Program", "--chip"});
  expect_one_line_error(run_acim("report " + prog.string() + " --rate 1e9 --html " + html.string()),
                        {"--rate", "sustains at most"});
  expect_one_line_error(
      run_acim("report " + prog.string() + " --adc-model nonsense --html " + html.string()),
      {"cost.adc_model"});
  EXPECT_FALSE(fs::exists(html));
  expect_one_line_error(
      run_acim("report " + prog.string() + " --html " + (dir / "no_such_dir" / "r.html").string()),
      {"no_such_dir", "cannot write"});
}

TEST(CliReport, HtmlRendersInHeadlessChromium) {
  const TempDir dir("report_html");
  const fs::path prog = ds_cnn_program(dir);
  const fs::path html = dir / "report.html";
  Result r = run_acim("report " + prog.string() + " --html " + html.string());
  ASSERT_EQ(r.status, 0) << r.err;
  expect_has(r.out, {"wrote        " + html.string()});
  const std::string page = slurp_file(html);
  ASSERT_EQ(page.rfind("<!DOCTYPE html>", 0), 0u);
  EXPECT_EQ(page.find("<script"), std::string::npos);
  // No temporary file left beside it.
  size_t files = 0;
  for (const auto& e : fs::directory_iterator(dir)) files += e.path().extension() != ".acim";
  EXPECT_EQ(files, 1u);

  const std::string chromium = find_chromium();
  if (chromium.empty())
    GTEST_SKIP() << "chromium not found (install Debian's chromium, as scripts/setup.sh does, or "
                    "set ACIM_CHROMIUM): the page was not rendered";
  const fs::path png = dir / "report.png";
  const std::string cmd = "timeout 120 '" + chromium +
                          "' --headless --no-sandbox --disable-gpu --hide-scrollbars "
                          "--screenshot='" +
                          png.string() + "' --window-size=1280,2000 'file://" +
                          fs::absolute(html).string() + "' > '" + (dir / "chromium.log").string() +
                          "' 2>&1";
  const int status = std::system(cmd.c_str());
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << cmd << "\n"
                                                             << slurp_file(dir / "chromium.log");
  const std::string bytes = slurp_file(png);
  ASSERT_GE(bytes.size(), 24u) << "no screenshot: " << slurp_file(dir / "chromium.log");
  EXPECT_EQ(bytes.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8));
  EXPECT_EQ(bytes.substr(12, 4), "IHDR");
  EXPECT_EQ(be32(bytes, 16), 1280u);  // width
  EXPECT_EQ(be32(bytes, 20), 2000u);  // height
  // A page holding one word renders to about 12 KB at this size; the report's charts, floorplan
  // and text to about 200 KB. Well above the blank page means something was drawn.
  EXPECT_GT(bytes.size(), 60000u);
}
