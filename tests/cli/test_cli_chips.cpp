// End-to-end tests of `acim chips`: the preset table, `show` (the preset's file), `check` on good
// and bad files (one-line errors naming file, line and key; exit status 1).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "cli_test_util.hpp"

namespace fs = std::filesystem;

using namespace acim::cli_test;

namespace {

fs::path source(const std::string& rel) {
  return fs::path(ACIM_SOURCE_DIR) / rel;
}

}  // namespace

TEST(CliChips, ListsEveryPresetWithItsGeometry) {
  Result r = run_acim("chips");
  ASSERT_EQ(r.status, 0) << r.err;
  for (const char* s : {"edge-voice", "edge-vision", "neurram", "hermes", "mythic-like",
                        "sram-charge-macro", "130 nm", "48 x 1 x 1", "64 x 1 x 1", "76 x 1 x 1",
                        "768x768", "rram", "pcm", "flash", "sram_charge"})
    EXPECT_NE(r.out.find(s), std::string::npos) << s << "\n" << r.out;
  EXPECT_TRUE(r.err.empty()) << r.err;
}

TEST(CliChips, ShowPrintsThePresetFile) {
  Result r = run_acim("chips show neurram");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, slurp_file(source("chips/neurram.toml")));
  EXPECT_NE(r.out.find("Wan et al."), std::string::npos);
}

TEST(CliChips, ShowFullPrintsEveryKeyAndChecksClean) {
  Result r = run_acim("chips show hermes --full");
  ASSERT_EQ(r.status, 0) << r.err;
  for (const char* s : {"[chip]", "cores = 64", "[array.cell.pcm]", "prog_c0_us = ", "[area]",
                        "router_um2 = ", "columns_per_adc = 2", "topology = \"mesh\""})
    EXPECT_NE(r.out.find(s), std::string::npos) << s << "\n" << r.out;
  TempDir tmp("chips_full");
  const fs::path p = tmp / "full.toml";
  std::ofstream(p) << r.out;
  Result c = run_acim("chips check " + p.string());
  EXPECT_EQ(c.status, 0) << c.err;
  EXPECT_NE(c.out.find("4,194,304 weights"), std::string::npos) << c.out;
}

TEST(CliChips, ShowUnknownPresetIsOneLine) {
  expect_one_line_error(run_acim("chips show nope"), {"'nope'", "edge-voice", "hermes"});
}

TEST(CliChips, CheckAPresetFilePrintsASummary) {
  Result r = run_acim("chips check " + source("chips/hermes.toml").string());
  ASSERT_EQ(r.status, 0) << r.err;
  for (const char* s : {": ok", "hermes", "64 x 1 x 1 = 64 arrays", "4,194,304 weights", "TOPS"})
    EXPECT_NE(r.out.find(s), std::string::npos) << s << "\n" << r.out;
}

TEST(CliChips, CheckAPresetByName) {
  Result r = run_acim("chips check mythic-like");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("79,691,776 weights"), std::string::npos) << r.out;  // 76 x 1024 x 1024
  expect_one_line_error(run_acim("chips check no-such-chip"), {"no-such-chip", "edge-voice"});
}

TEST(CliChips, CheckTheShownTextOfEveryPreset) {
  const TempDir dir("chips_show");
  for (const char* name :
       {"edge-voice", "edge-vision", "neurram", "hermes", "mythic-like", "sram-charge-macro"}) {
    SCOPED_TRACE(name);
    Result shown = run_acim(std::string("chips show ") + name);
    ASSERT_EQ(shown.status, 0) << shown.err;
    fs::path p = dir / (std::string(name) + ".toml");
    std::ofstream(p) << shown.out;
    Result r = run_acim("chips check " + p.string());
    EXPECT_EQ(r.status, 0) << r.err;
  }
}

TEST(CliChips, CheckBadFilesGiveOneLineWithFileLineAndKey) {
  struct Case {
    const char* file;
    std::vector<std::string> must;
  };
  std::vector<Case> cases = {
      {"malformed.toml", {"malformed.toml:4:", "malformed TOML"}},
      {"unknown_key.toml",
       {"unknown_key.toml:6", "core.buffer.sise_kib", "did you mean 'size_kib'?"}},
      {"wrong_type.toml", {"wrong_type.toml:4", "chip.clock_mhz", "expected a number"}},
      {"adc_bits_17.toml", {"adc_bits_17.toml:7", "array.adc.bits", "allowed 2..16"}},
      {"zero_arrays.toml", {"zero_arrays.toml:6", "tile.arrays", "allowed 1..65536"}},
      {"small_buffer.toml", {"small_buffer.toml:9", "core.buffer.size_kib", "one row"}},
      {"negative_energy.toml", {"negative_energy.toml:4", "energy.adc_conversion_pj", ">= 0"}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.file);
    Result r =
        run_acim("chips check " + source(std::string("tests/data/chips/") + c.file).string());
    expect_one_line_error(r, c.must);
    EXPECT_TRUE(r.out.empty()) << r.out;
  }
}

TEST(CliChips, CheckMissingFileIsOneLine) {
  expect_one_line_error(run_acim("chips check /nonexistent/x.toml"),
                        {"/nonexistent/x.toml", "cannot open"});
}
