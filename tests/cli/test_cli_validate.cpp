// End-to-end tests of `acim validate`: the table of published vs estimated figures for every
// published-chip preset (a report: exit status 0), one chip with --chip, the JSON form against
// the library's numbers, and an unknown chip as a one-line error.
#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include "acim/validate.hpp"
#include "cli_test_util.hpp"

using namespace acim::cli_test;

namespace {

TEST(CliValidate, PrintsTheTableForEveryPublishedChip) {
  Result r = run_acim("validate");
  ASSERT_EQ(r.status, 0) << r.err;
  expect_has(r.out, {"chip", "figure", "published", "estimated", "error %", "verdict",
                     "neurram", "hermes", "mythic-like", "sram-charge-macro", "63.1 TOPS",
                     "9.76 TOPS/W", "calibrated", "predicted", "MISS (explained)", "Sources:",
                     "Nature 608", "Explained misses:"});
  EXPECT_EQ(r.out.find("edge-voice"), std::string::npos);
  EXPECT_TRUE(r.err.empty()) << r.err;
}

TEST(CliValidate, OneChip) {
  Result r = run_acim("validate --chip hermes");
  ASSERT_EQ(r.status, 0) << r.err;
  expect_has(r.out, {"hermes", "TOPS/mm2", "Le Gallo"});
  EXPECT_EQ(r.out.find("neurram"), std::string::npos) << r.out;
}

TEST(CliValidate, JsonMatchesTheLibrary) {
  Result r = run_acim("validate --json");
  ASSERT_EQ(r.status, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  const std::vector<acim::ValidationRow> rows = acim::validate_presets();
  ASSERT_EQ(j["rows"].size(), rows.size());
  EXPECT_EQ(j["tolerance_pct"].get<double>(), acim::kValidationTolerancePct);
  std::set<std::string> chips;
  for (size_t i = 0; i < rows.size(); ++i) {
    const auto& jr = j["rows"][i];
    EXPECT_EQ(jr["chip"].get<std::string>(), rows[i].published.chip);
    EXPECT_EQ(jr["published"].get<double>(), rows[i].published.value);
    EXPECT_NEAR(jr["estimated"].get<double>(), rows[i].estimated,
                1e-12 * std::abs(rows[i].estimated));
    EXPECT_EQ(jr["verdict"].get<std::string>(), rows[i].verdict());
    EXPECT_FALSE(jr["source"].get<std::string>().empty());
    chips.insert(jr["chip"].get<std::string>());
  }
  EXPECT_GE(chips.size(), 4u);
}

TEST(CliValidate, UnknownChipIsOneLine) {
  expect_one_line_error(run_acim("validate --chip edge-voice"),
                        {"'edge-voice'", "--chip", "neurram", "hermes"});
}

}  // namespace
