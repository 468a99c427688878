// End-to-end tests of `acim array`: the per-source error table, JSON, the drift table and
// one-line errors for bad options.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli_test_util.hpp"

namespace fs = std::filesystem;

using namespace acim::cli_test;


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
