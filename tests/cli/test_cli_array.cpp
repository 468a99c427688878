// End-to-end tests of `acim array`: the per-source error table, JSON, the drift table and
// one-line errors for bad options.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace fs = std::filesystem;

namespace {

struct Result {
  int status = -1;
  std::string out, err;
};

Result run_acim(const std::string& args) {
  static int counter = 0;
  fs::path dir = fs::temp_directory_path() / ("acim_cli_array_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  fs::path out = dir / ("out" + std::to_string(counter));
  fs::path err = dir / ("err" + std::to_string(counter++));
  std::string cmd = std::string(ACIM_BIN) + " " + args + " >" + out.string() + " 2>" + err.string();
  int raw = std::system(cmd.c_str());
  Result r;
  if (WIFEXITED(raw)) r.status = WEXITSTATUS(raw);
  auto slurp = [](const fs::path& p) {
    std::ifstream f(p);
    return std::string(std::istreambuf_iterator<char>(f), {});
  };
  r.out = slurp(out);
  r.err = slurp(err);
  return r;
}

void expect_one_line_error(const Result& r, const std::vector<std::string>& must_contain) {
  EXPECT_EQ(r.status, 1) << r.err;
  int lines = 0;
  for (char c : r.err) lines += c == '\n';
  EXPECT_EQ(lines, 1) << r.err;
  EXPECT_EQ(r.err.rfind("acim: error: ", 0), 0u) << r.err;
  for (const auto& s : must_contain)
    EXPECT_NE(r.err.find(s), std::string::npos) << "missing '" << s << "' in: " << r.err;
}

}  // namespace

TEST(CliArray, PrintsEverySourceOfPcmAndTheDominantOne) {
  Result r = run_acim("array --cell pcm --rows 64 --cols 64 --batch 16 --instances 2");
  ASSERT_EQ(r.status, 0) << r.err;
  for (const char* s :
       {"programming", "read noise", "drift", "dac", "adc", "all", "dominant source"})
    EXPECT_NE(r.out.find(s), std::string::npos) << s << "\n" << r.out;
}

TEST(CliArray, IrDropAppearsWithWireResistanceAndFaultsForRram) {
  Result r = run_acim("array --cell rram --rows 32 --cols 32 --wire-r-ohm 2 --time 1h --batch 8");
  ASSERT_EQ(r.status, 0) << r.err;
  for (const char* s : {"ir drop", "faults", "programming"})
    EXPECT_NE(r.out.find(s), std::string::npos) << s << "\n" << r.out;
}

TEST(CliArray, JsonParsesWithOneEntryPerSource) {
  Result r =
      run_acim("array --cell sram_charge --rows 32 --cols 64 --batch 8 --instances 2 --json");
  ASSERT_EQ(r.status, 0) << r.err;
  nlohmann::json j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["cell"], "sram_charge");
  ASSERT_TRUE(j["sources"].is_array());
  bool has_all = false;
  for (const auto& s : j["sources"]) {
    EXPECT_GE(s["rel_error"].get<double>(), 0.0);
    has_all |= s["source"] == "all";
  }
  EXPECT_TRUE(has_all);
}

TEST(CliArray, DriftTableHasFourTimesAndCompensationHelps) {
  Result r =
      run_acim("array --cell pcm --rows 64 --cols 64 --batch 8 --instances 2 --drift-table --json");
  ASSERT_EQ(r.status, 0) << r.err;
  nlohmann::json j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j["drift"].size(), 4u);
  const auto& day = j["drift"][2];
  EXPECT_LT(day["rel_error_compensated"].get<double>(),
            day["rel_error_uncompensated"].get<double>());
  Result t = run_acim("array --cell pcm --rows 64 --cols 64 --batch 8 --instances 2 --drift-table");
  ASSERT_EQ(t.status, 0) << t.err;
  for (const char* s : {"1 s", "1 h", "1 day", "1 year", "compensated"})
    EXPECT_NE(t.out.find(s), std::string::npos) << s;
}

TEST(CliArray, BadOptionsGiveOneLineErrors) {
  expect_one_line_error(run_acim("array --cell dram"), {"dram", "pcm"});
  expect_one_line_error(run_acim("array --cell pcm --adc-bits 0"), {"adc.bits", "allowed"});
  expect_one_line_error(run_acim("array --cell pcm --time soon"), {"--time"});
  expect_one_line_error(run_acim("array --cell pcm --encoding zigzag"), {"--encoding"});
}
