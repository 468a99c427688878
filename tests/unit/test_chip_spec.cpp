// ChipSpec from TOML: every preset loads, validates and round-trips; derived quantities against
// hand-computed values; every bad-input class gives its ErrorKind and a message naming the file,
// the line and the key.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "acim/chip.hpp"
#include "acim/device.hpp"
#include "acim/error.hpp"

namespace fs = std::filesystem;
using acim::ChipSpec;
using acim::Error;
using acim::ErrorKind;

namespace {

// Runs fn, expects an acim::Error of `kind` whose message contains every string.
template <class Fn>
void expect_error(Fn fn, ErrorKind kind, const std::vector<std::string>& must_contain) {
  try {
    fn();
    ADD_FAILURE() << "no error thrown";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), kind) << e.what();
    std::string msg = e.what();
    for (const auto& s : must_contain)
      EXPECT_NE(msg.find(s), std::string::npos) << "missing '" << s << "' in: " << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << "not one line: " << msg;
  }
}

void expect_parse_error(const std::string& toml, ErrorKind kind,
                        const std::vector<std::string>& must_contain) {
  expect_error([&] { acim::parse_chip_spec(toml, "bad.toml"); }, kind, must_contain);
}

fs::path fixture(const std::string& name) {
  return fs::path(ACIM_SOURCE_DIR) / "tests" / "data" / "chips" / name;
}

}  // namespace

TEST(ChipPresets, TheRequiredPresetsExist) {
  std::vector<std::string> names = acim::chip_preset_names();
  for (const char* want :
       {"edge-voice", "edge-vision", "neurram", "hermes", "mythic-like", "sram-charge-macro"})
    EXPECT_NE(std::find(names.begin(), names.end(), want), names.end()) << want;
  EXPECT_TRUE(std::is_sorted(names.begin(), names.end()));
}

TEST(ChipPresets, EveryPresetLoadsValidatesAndRoundTrips) {
  for (const std::string& name : acim::chip_preset_names()) {
    SCOPED_TRACE(name);
    ChipSpec spec = acim::chip_preset(name);
    EXPECT_EQ(spec.name, name);
    EXPECT_NO_THROW(acim::validate_chip_spec(spec));
    std::string text = acim::to_toml(spec);
    ChipSpec again = acim::parse_chip_spec(text, name + ".roundtrip.toml");
    EXPECT_TRUE(again == spec);
    EXPECT_EQ(acim::to_toml(again), text);
    // The file cites its sources in comments before anything else.
    std::string file = acim::chip_preset_toml(name);
    ASSERT_FALSE(file.empty());
    EXPECT_EQ(file[0], '#');
    EXPECT_GT(spec.total_arrays(), 0);
    EXPECT_GT(spec.weight_capacity(), 0);
    EXPECT_GT(spec.peak_tops(), 0);
  }
}

TEST(ChipPresets, PublishedChipsHaveTheirReportedGeometry) {
  ChipSpec n = acim::chip_preset("neurram");
  EXPECT_EQ(n.technology_nm, 130);
  EXPECT_EQ(n.total_arrays(), 48);
  EXPECT_EQ(n.array.rows, 256);
  EXPECT_EQ(n.array.cols, 256);
  EXPECT_EQ(n.array.cell.type, acim::CellType::rram);

  ChipSpec h = acim::chip_preset("hermes");
  EXPECT_EQ(h.technology_nm, 14);
  EXPECT_EQ(h.total_arrays(), 64);
  EXPECT_EQ(h.array.cell.type, acim::CellType::pcm);
  EXPECT_EQ(h.weight_capacity(), 64 * 256 * 256);  // 256x256 weights per core
  EXPECT_EQ(h.adcs_per_array(), 256);              // 256 ADCs per core
  // Reported peak 63.1 TOPS: 2 * 4,194,304 weights / 133 ns.
  EXPECT_NEAR(h.mvm_time_ns(), 133.0, 1e-9);
  EXPECT_NEAR(h.peak_tops(), 63.1, 0.1);

  ChipSpec m = acim::chip_preset("mythic-like");
  EXPECT_EQ(m.technology_nm, 40);
  EXPECT_EQ(m.total_arrays(), 76);
  EXPECT_EQ(m.array.cell.type, acim::CellType::flash);
  EXPECT_EQ(m.weight_capacity(), int64_t{76} * 1024 * 1024);  // "up to 80 M weights"
  EXPECT_NEAR(m.peak_tops(), 25.0, 0.1);                      // "up to 25 TOPS"

  ChipSpec s = acim::chip_preset("sram-charge-macro");
  EXPECT_EQ(s.technology_nm, 65);
  EXPECT_EQ(s.array.rows, 768);
  EXPECT_EQ(s.array.logical_cols(), 768);  // 768x768 bit-cells, each a true/complement pair
  EXPECT_EQ(s.array.adc.bits, 8);
  EXPECT_EQ(s.array.cell.type, acim::CellType::sram_charge);

  ChipSpec v = acim::chip_preset("edge-voice");
  EXPECT_EQ(v.technology_nm, 22);
  EXPECT_EQ(v.array.cell.type, acim::CellType::sram_charge);
  // 8-bit weights bit-sliced over 7 differential slices: 14 columns per weight, 256/14 = 18.
  EXPECT_EQ(v.weight_capacity(), 48 * 256 * 18);
  EXPECT_GT(v.weight_capacity(), 24332);  // holds zoo/kws/ds_cnn_s.onnx (24,332 parameters)
}

TEST(ChipPresets, UnknownPresetListsTheNames) {
  expect_error([] { acim::chip_preset("nope"); }, ErrorKind::invalid,
               {"'nope'", "edge-voice", "hermes"});
  expect_error([] { acim::chip_preset_toml("nope"); }, ErrorKind::invalid, {"neurram"});
}

TEST(ChipSpecParse, AMinimalFileTakesTheDefaults) {
  ChipSpec s = acim::parse_chip_spec("[chip]\nname = \"x\"\n", "min.toml");
  ChipSpec want;
  want.name = "x";
  EXPECT_TRUE(s == want);
  EXPECT_EQ(s.core.buffer.size_kib, 64.0);
}

TEST(ChipSpecParse, TheCellTypeBringsItsTechnologyDefaults) {
  ChipSpec s =
      acim::parse_chip_spec("[array.cell]\ntype = \"rram\"\n[array.adc]\nbits = 6\n", "rram.toml");
  acim::ArrayParams want = acim::default_array_params(acim::CellType::rram);
  EXPECT_EQ(s.array.cell.levels, want.cell.levels);
  EXPECT_EQ(s.array.cell.g_max_us, want.cell.g_max_us);
  EXPECT_EQ(s.array.adc.bits, 6);  // the file overrides
}

TEST(ChipSpecParse, ReadsEveryKindOfValue) {
  ChipSpec s = acim::parse_chip_spec(R"(
[chip]
name = "k"
clock_mhz = 125       # an integer where a real is expected is fine
supply_v = 0.75
[core.digital]
softmax = false
[noc]
topology = "tree"
[array.dac]
mode = "bit_serial"
)",
                                     "k.toml");
  EXPECT_EQ(s.clock_mhz, 125.0);
  EXPECT_EQ(s.supply_v, 0.75);
  EXPECT_FALSE(s.core.digital.softmax);
  EXPECT_EQ(s.noc.topology, acim::NocTopology::tree);
  EXPECT_EQ(s.array.dac.mode, acim::DacMode::bit_serial);
}

TEST(ChipSpecParse, StringsWithQuotesAndNewlinesRoundTrip) {
  ChipSpec s;
  // A newline in the name too: to_toml's header comment once wrote the name raw, so the line
  // after the newline was not TOML (a fuzz_chip_spec finding, 2026-11-27).
  s.name = "a \"quoted\" \\ name\non two lines";
  s.description = "two\nlines\tand a tab";
  s.clock_mhz = 0.1 + 0.2;  // not exactly representable in short decimal
  s.energy.adc_conversion_pj = 1e-7;
  ChipSpec again = acim::parse_chip_spec(acim::to_toml(s), "rt.toml");
  EXPECT_TRUE(again == s);
  EXPECT_EQ(again.description, s.description);
  EXPECT_EQ(again.clock_mhz, s.clock_mhz);
}

TEST(ChipSpecParse, EqualityNoticesAChange) {
  ChipSpec a, b;
  EXPECT_TRUE(a == b);
  b.array.adc.offset_sigma_lsb = 0.5;
  EXPECT_FALSE(a == b);
  b = a;
  b.noc.topology = acim::NocTopology::bus;
  EXPECT_FALSE(a == b);
  b = a;
  b.array.effects.drift = false;
  EXPECT_FALSE(a == b);
}

TEST(ChipSpecDerived, HandComputedQuantities) {
  ChipSpec s;
  s.cores = 2;
  s.core.tiles = 3;
  s.tile.arrays = 4;
  s.array.rows = 128;
  s.array.cols = 64;  // differential: 32 weight columns
  s.periphery.columns_per_adc = 4;
  s.time.array_activation_ns = 10;
  s.time.adc_conversion_ns = 2;
  s.clock_mhz = 500;  // 2 ns cycle
  s.array.dac.mode = acim::DacMode::amplitude;
  EXPECT_EQ(s.total_arrays(), 24);
  EXPECT_EQ(s.weights_per_array(), 128 * 32);
  EXPECT_EQ(s.weight_capacity(), 24 * 128 * 32);
  EXPECT_EQ(s.adcs_per_array(), 16);
  EXPECT_DOUBLE_EQ(s.mvm_time_ns(), 10 + 4 * 2);                   // 18 ns
  EXPECT_DOUBLE_EQ(s.peak_macs_per_cycle(), 24.0 * 128 * 32 / 9);  // 9 cycles per MVM
  EXPECT_DOUBLE_EQ(s.peak_tops(), 2.0 * 24 * 128 * 32 / 18e-9 / 1e12);
  // Bit-serial 8-bit inputs: 7 magnitude steps; two row groups of 64.
  s.array.dac.mode = acim::DacMode::bit_serial;
  s.array.dac.bits = 8;
  s.array.parallel_rows = 64;
  EXPECT_DOUBLE_EQ(s.mvm_time_ns(), 7 * 2 * 18.0);
}

TEST(ChipSpecErrors, MalformedTomlNamesFileLineAndColumn) {
  expect_parse_error("[chip]\nname = \"x\"\ncores = = 3\n", ErrorKind::parse,
                     {"bad.toml:3:", "malformed TOML"});
  expect_parse_error("[chip\n", ErrorKind::parse, {"bad.toml:1:"});
}

TEST(ChipSpecErrors, UnknownKeySuggestsTheCloseOne) {
  expect_parse_error("[chip]\nname = \"x\"\n[core.buffer]\nsise_kib = 4\n", ErrorKind::invalid,
                     {"bad.toml:4", "core.buffer.sise_kib", "did you mean 'size_kib'?"});
  // The right name in the wrong table.
  expect_parse_error("[chip]\ntiles = 4\n", ErrorKind::invalid,
                     {"bad.toml:2", "chip.tiles", "did you mean 'core.tiles'?"});
  expect_parse_error("[chipp]\nname = \"x\"\n", ErrorKind::invalid,
                     {"bad.toml:1", "'chipp'", "is not a known table", "did you mean 'chip'?"});
  expect_parse_error("\n\n[array.adc]\nbitz = 4\n", ErrorKind::invalid,
                     {"bad.toml:4", "array.adc.bitz", "did you mean 'bits'?"});
  // Nothing close: the known keys of the table are listed.
  expect_parse_error("[noc]\nqqqqqqqqqqqq = 1\n", ErrorKind::invalid,
                     {"bad.toml:2", "noc.qqqqqqqqqqqq", "topology"});
}

TEST(ChipSpecErrors, WrongTypeNamesTheExpectedType) {
  expect_parse_error("[chip]\ncores = \"four\"\n", ErrorKind::invalid,
                     {"bad.toml:2", "chip.cores", "is a string; expected an integer"});
  expect_parse_error("[chip]\ncores = 2.5\n", ErrorKind::invalid,
                     {"bad.toml:2", "chip.cores", "expected an integer"});
  expect_parse_error("[chip]\nclock_mhz = true\n", ErrorKind::invalid,
                     {"bad.toml:2", "chip.clock_mhz", "expected a number"});
  expect_parse_error("[core.digital]\npooling = 1\n", ErrorKind::invalid,
                     {"bad.toml:2", "core.digital.pooling", "expected true or false"});
  expect_parse_error("[noc]\ntopology = \"ring\"\n", ErrorKind::invalid,
                     {"bad.toml:2", "noc.topology", "'ring'", "mesh, bus, tree"});
  expect_parse_error("chip = 3\n", ErrorKind::invalid,
                     {"bad.toml:1", "'chip'", "expected a table"});
  expect_parse_error("[chip.cores]\nx = 1\n", ErrorKind::invalid,
                     {"bad.toml:1", "chip.cores", "is a table"});
}

TEST(ChipSpecErrors, OutOfRangeNamesTheAllowedRange) {
  expect_parse_error("[chip]\nclock_mhz = 0\n", ErrorKind::invalid,
                     {"bad.toml:2", "chip.clock_mhz", "is 0", "allowed (0, 100000]"});
  expect_parse_error("[chip]\ncores = 0\n", ErrorKind::invalid,
                     {"bad.toml:2", "chip.cores", "allowed 1..65536"});
  expect_parse_error("[energy]\n\nshift_add_pj = -0.5\n", ErrorKind::invalid,
                     {"bad.toml:3", "energy.shift_add_pj", "is -0.5", "allowed >= 0"});
  expect_parse_error("[chip_link]\nbandwidth_gbit_s = 0.0\n", ErrorKind::invalid,
                     {"bad.toml:2", "chip_link.bandwidth_gbit_s", "allowed > 0"});
  expect_parse_error("[array]\ncols = 256\ncolumns_per_adc = 512\n", ErrorKind::invalid,
                     {"bad.toml:3", "array.columns_per_adc", "array.cols"});
  expect_parse_error("[array]\nrows = 3000000000\n", ErrorKind::invalid,
                     {"bad.toml:2", "array.rows", "32-bit"});
  expect_parse_error("[chip]\ncores = 65536\n[core]\ntiles = 65536\n", ErrorKind::invalid,
                     {"chip.cores", "arrays"});
}

TEST(ChipSpecErrors, AdcBitsAbove16) {
  expect_parse_error("[chip]\nname = \"x\"\n[array.adc]\nbits = 17\n", ErrorKind::invalid,
                     {"bad.toml:4", "array.adc.bits", "is 17", "allowed 2..16"});
}

TEST(ChipSpecErrors, ZeroArraysTilesCores) {
  expect_parse_error("[tile]\narrays = 0\n", ErrorKind::invalid,
                     {"bad.toml:2", "tile.arrays", "is 0", "allowed 1..65536"});
  expect_parse_error("[core]\ntiles = 0\n", ErrorKind::invalid, {"bad.toml:2", "core.tiles"});
  expect_parse_error("[array]\nrows = 0\n", ErrorKind::invalid, {"bad.toml:2", "array.rows"});
}

TEST(ChipSpecErrors, BufferSmallerThanOneRow) {
  // 256 rows x 8 input bits = 256 bytes; 128 weight columns x 24 bits = 384 bytes.
  expect_parse_error("[core.buffer]\nsize_kib = 0.25\n", ErrorKind::invalid,
                     {"bad.toml:2", "core.buffer.size_kib", "384 bytes", "one row"});
  expect_parse_error("[tile.buffer]\nsize_kib = 0.125\n", ErrorKind::invalid,
                     {"bad.toml:2", "tile.buffer.size_kib", "256 bytes"});
  // A bigger array makes a buffer that was fine too small; the message points at the buffer's
  // table line when its size is the default.
  expect_parse_error("[core.buffer]\nports = 1\n[array]\nrows = 65536\n[array.dac]\nbits = 16\n",
                     ErrorKind::invalid, {"bad.toml:1", "core.buffer.size_kib", "131072 bytes"});
}

TEST(ChipSpecErrors, ArrayChecksComeFromArrayParamsWithTheLine) {
  expect_parse_error("[array.cell]\ntype = \"rram\"\nlevels = 1\n", ErrorKind::invalid,
                     {"bad.toml:3", "array.cell.levels", "allowed 0 (continuous) or 2..65536"});
  expect_parse_error("[array.dac]\nv_read = -0.2\n", ErrorKind::invalid,
                     {"bad.toml:2", "array.dac.v_read", "allowed > 0"});
}

TEST(ChipSpecErrors, ValidateASpecBuiltInCode) {
  ChipSpec s;
  s.array.adc.bits = 20;
  expect_error([&] { acim::validate_chip_spec(s, "my spec"); }, ErrorKind::invalid,
               {"my spec: key 'array.adc.bits'", "allowed 2..16"});
  s = ChipSpec{};
  s.core.digital.accumulator_bits = 4;
  expect_error([&] { acim::validate_chip_spec(s); }, ErrorKind::invalid,
               {"core.digital.accumulator_bits", "array.adc.bits"});
}

TEST(ChipSpecFiles, BadInputFixtures) {
  struct Case {
    const char* file;
    ErrorKind kind;
    std::vector<std::string> must;
  };
  std::vector<Case> cases = {
      {"malformed.toml", ErrorKind::parse, {"malformed.toml:4:", "malformed TOML"}},
      {"unknown_key.toml",
       ErrorKind::invalid,
       {"unknown_key.toml:6", "core.buffer.sise_kib", "did you mean 'size_kib'?"}},
      {"wrong_type.toml", ErrorKind::invalid, {"wrong_type.toml:4", "chip.clock_mhz", "string"}},
      {"adc_bits_17.toml", ErrorKind::invalid, {"adc_bits_17.toml:7", "array.adc.bits", "2..16"}},
      {"zero_arrays.toml", ErrorKind::invalid, {"zero_arrays.toml:6", "tile.arrays", "1..65536"}},
      {"small_buffer.toml",
       ErrorKind::invalid,
       {"small_buffer.toml:9", "core.buffer.size_kib", "one row"}},
      {"negative_energy.toml",
       ErrorKind::invalid,
       {"negative_energy.toml:4", "energy.adc_conversion_pj", ">= 0"}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.file);
    expect_error([&] { acim::load_chip_spec(fixture(c.file)); }, c.kind, c.must);
  }
}

TEST(ChipSpecFiles, MissingFileIsAnIoError) {
  expect_error([] { acim::load_chip_spec("/nonexistent/chip.toml"); }, ErrorKind::io,
               {"/nonexistent/chip.toml", "cannot open"});
}

TEST(ChipSpecFiles, PresetFilesMatchTheBuiltInText) {
  for (const std::string& name : acim::chip_preset_names()) {
    SCOPED_TRACE(name);
    fs::path p = fs::path(ACIM_SOURCE_DIR) / "chips" / (name + ".toml");
    ChipSpec from_file = acim::load_chip_spec(p);
    EXPECT_TRUE(from_file == acim::chip_preset(name));
    EXPECT_TRUE(acim::chip_spec_from_name_or_file(p.string()) == from_file);
    EXPECT_TRUE(acim::chip_spec_from_name_or_file(name) == from_file);
  }
}

TEST(ChipSpecCost, CostKeysParseAndRoundTrip) {
  ChipSpec s = acim::parse_chip_spec(R"(
[chip]
name = "c"
[array.adc]
bits = 6
[cost]
adc_model = "table:isaac_sar_6b"
walden_fom_fj = 2.5
[cost.scale]
adc = 1.5
leakage = 0
)",
                                     "c.toml");
  EXPECT_EQ(s.cost.adc_model, "table:isaac_sar_6b");
  EXPECT_EQ(s.cost.walden_fom_fj, 2.5);
  EXPECT_EQ(s.cost.scale.adc, 1.5);
  EXPECT_EQ(s.cost.scale.leakage, 0.0);
  EXPECT_EQ(s.cost.scale.array, 1.0);  // the default
  ChipSpec again = acim::parse_chip_spec(acim::to_toml(s), "rt.toml");
  EXPECT_TRUE(again == s);
  ChipSpec b = s;
  b.cost.scale.noc = 2.0;
  EXPECT_FALSE(b == s);
  b = s;
  b.cost.adc_model = "walden";
  EXPECT_FALSE(b == s);
}

TEST(ChipSpecCost, BadAdcModelNamesTheKeyAndLine) {
  expect_parse_error("[chip]\nname = \"x\"\n[cost]\nadc_model = \"magic\"\n", ErrorKind::invalid,
                     {"bad.toml:4", "cost.adc_model", "'magic'", "walden, murmann_bound"});
  expect_parse_error("[cost]\nadc_model = \"table:nope\"\n", ErrorKind::invalid,
                     {"bad.toml:2", "cost.adc_model", "'nope'", "isaac_sar_8b"});
  // The published ADC's resolution must be the array's.
  expect_parse_error("[array.adc]\nbits = 8\n[cost]\nadc_model = \"table:isaac_sar_4b\"\n",
                     ErrorKind::invalid, {"bad.toml:4", "cost.adc_model", "4-bit", "8"});
  expect_parse_error("[cost.scale]\nadc = -1\n", ErrorKind::invalid,
                     {"bad.toml:2", "cost.scale.adc", "allowed >= 0"});
  expect_parse_error("[cost]\nwalden_fom_fj = 0\n", ErrorKind::invalid,
                     {"bad.toml:2", "cost.walden_fom_fj", "allowed > 0"});
  expect_parse_error("[cost.scale]\nadcc = 1\n", ErrorKind::invalid,
                     {"bad.toml:2", "cost.scale.adcc", "did you mean 'adc'?"});
}

TEST(ChipSpecCost, PublishedAdcTableIsComplete) {
  ASSERT_FALSE(acim::published_adcs().empty());
  for (const acim::PublishedAdc& a : acim::published_adcs()) {
    EXPECT_FALSE(a.name.empty());
    EXPECT_GE(a.bits, 2);
    EXPECT_GT(a.energy_pj, 0.0) << a.name;
    EXPECT_GE(a.area_um2, 0.0) << a.name;
    EXPECT_GT(a.technology_nm, 0) << a.name;
    EXPECT_FALSE(a.source.empty()) << a.name;
  }
}
