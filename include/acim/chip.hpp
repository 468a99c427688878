// ChipSpec: one analog compute-in-memory chip described in a TOML file — the hierarchy chip →
// cores → tiles → arrays, each core's digital units and buffers, the on-chip network, the
// chip-to-chip link used when chips are stacked, and the per-event energy, time and area
// constants the cost model multiplies event counts by. Every field has its unit in its name
// (energy_pj, time_ns, area_um2, size_kib, ...). A file only overrides the defaults below.
//
// Errors: malformed TOML is ErrorKind::parse; an unknown key, a wrong type or a value out of
// range is ErrorKind::invalid. Each names "FILE:LINE", the key path ("core.buffer.size_kib")
// and the allowed range, and suggests a close key for a misspelt one.
//
// Presets live in chips/*.toml (their source of truth, each citing its sources) and are built
// into the library: chip_preset("edge-voice").
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "acim/device.hpp"

namespace acim {

// A buffer (SRAM scratchpad) on a core or a tile.
struct BufferSpec {
  double size_kib = 64.0;  // capacity in KiB (1024 bytes)
  int ports = 2;           // accesses that can happen in the same cycle
  int width_bits = 64;     // bits moved per access
  double read_energy_pj_per_byte = 0.3;
  double write_energy_pj_per_byte = 0.35;
  double access_time_ns = 1.0;  // one access of width_bits
};

// The digital units of a core: the vector unit that runs what arrays cannot (activations,
// pooling, softmax, normalisation, element-wise ops) and the partial-sum accumulators.
struct DigitalUnitSpec {
  int vector_lanes = 16;      // elements processed per vector operation
  int vector_bits = 16;       // width of one lane's datapath
  bool activation = true;     // ReLU/sigmoid/tanh/... in hardware
  bool pooling = true;        // max/average pooling
  bool softmax = true;        // exp, divide (softmax, attention)
  bool normalization = true;  // layer/batch normalisation
  // Grouped convolutions (group > 1, depthwise ones included) multiply-accumulate here instead
  // of as block-diagonal matrices on the arrays, whose off-diagonal cells are programmed too.
  bool grouped_conv = false;
  int accumulator_bits = 24;  // width of the partial-sum accumulators
  double op_energy_pj = 0.1;  // one lane-operation (one element of one vector op)
  double op_time_ns = 1.0;    // one vector operation (all lanes)
};

struct CoreSpec {
  int tiles = 4;  // tiles per core
  DigitalUnitSpec digital;
  BufferSpec buffer;  // the core's activation buffer
};

struct TileSpec {
  int arrays = 4;                                 // crossbar arrays per tile
  int shift_add_units = 1;                        // shift-and-add units shared by the tile's arrays
  BufferSpec buffer{8.0, 1, 64, 0.2, 0.25, 1.0};  // input/output staging buffer of the tile
};

// The array's periphery that belongs to the chip rather than to the crossbar's numbers.
struct ArrayPeripherySpec {
  int columns_per_adc = 8;  // physical columns multiplexed onto one ADC (1 = one each)
};

enum class NocTopology { mesh, bus, tree };

struct NocSpec {
  NocTopology topology = NocTopology::mesh;
  int link_width_bits = 64;
  double hop_energy_pj_per_bit = 0.08;
  double hop_latency_ns = 1.0;
};

// The link between stacked chips (multi-chip pipelines).
struct ChipLinkSpec {
  double bandwidth_gbit_s = 16.0;  // per direction
  double energy_pj_per_bit = 1.6;
  double latency_ns = 100.0;
};

// Per-event energies (pJ per event).
struct EventEnergySpec {
  double dac_drive_pj = 0.05;        // driving one row for one activation (per input bit if
                                     // bit-serial)
  double array_activation_pj = 5.0;  // one array read (bitlines, sense), excluding DAC and ADC
  double adc_conversion_pj = 1.6;    // one ADC conversion
  double shift_add_pj = 0.05;        // one shift-and-add of one column result
  double accumulate_pj = 0.03;       // one partial-sum accumulation
};

// Per-event times (ns per event).
struct EventTimeSpec {
  double array_activation_ns = 10.0;  // settle/integrate one array read
  double adc_conversion_ns = 1.0;     // one conversion on one ADC
  double shift_add_ns = 1.0;
  double accumulate_ns = 1.0;
};

// Areas (µm² per instance) for the area estimate.
struct AreaSpec {
  double array_um2 = 10000.0;          // one crossbar array (cells only)
  double adc_um2 = 1200.0;             // one ADC
  double dac_um2 = 0.2;                // one row driver / DAC
  double shift_add_um2 = 60.0;         // one shift-and-add unit
  double digital_unit_um2 = 50000.0;   // one core's digital units
  double buffer_um2_per_kib = 1500.0;  // SRAM buffer
  double router_um2 = 5000.0;          // one on-chip network router (one per core)
};

// [cost]: how the cost model (include/acim/cost.hpp) prices events beyond the per-event
// constants above.
//
// adc_model picks the energy (and, where the model has one, area) of one ADC conversion, because
// published models disagree by up to 10x on an 8-bit ADC (FACTS.md):
//   "spec"          energy.adc_conversion_pj and area.adc_um2 as written (the default);
//   "walden"        E = FoM_W * 2^bits (Walden figure of merit, walden_fom_fj per conversion
//                   step; the nominal bits stand in for the ENOB); area from the spec;
//   "murmann_bound" the Murmann ADC survey's best-ADC bound at the conversion rate
//                   1 / time.adc_conversion_ns (FACTS.md; the Accelergy ADC plug-in's model);
//                   area from the spec;
//   "fitted"        the ZigZag-IMC fitted SAR model (28 nm): E = (100 B + 0.001 4^B) fF * V^2
//                   at chip.supply_v, area = 10^(-0.0369 B + 1.206) * 2^B um^2 scaled by
//                   (technology_nm / 28)^2;
//   "table:NAME"    a published ADC from published_adcs(), its energy and area as published
//                   (its resolution must equal array.adc.bits).
// scale.*: a calibration factor per energy component (1 = as modelled), to fit the model to a
// measured chip.
struct CostScaleSpec {
  double array = 1.0;
  double dac = 1.0;
  double adc = 1.0;
  double shift_add = 1.0;
  double accumulate = 1.0;
  double digital = 1.0;
  double buffer = 1.0;
  double noc = 1.0;
  double chip_link = 1.0;
  double leakage = 1.0;
};

struct CostModelSpec {
  std::string adc_model = "spec";
  // Walden FoM in fJ per conversion step. Default: ISAAC's 8-bit 1.28 GS/s SAR ADC (2 mW,
  // ≈1.6 pJ per conversion, FACTS.md): 1.6 pJ / 2^8 = 6.25 fJ.
  double walden_fom_fj = 6.25;
  CostScaleSpec scale;
};

// A published ADC for adc_model = "table:NAME".
struct PublishedAdc {
  std::string name;
  int bits = 0;
  double energy_pj = 0;  // per conversion
  double area_um2 = 0;
  int technology_nm = 0;
  std::string source;
};
// The table, in a fixed order (src/chip/chip_spec.cpp cites each entry).
const std::vector<PublishedAdc>& published_adcs();

struct ChipSpec {
  // [chip]
  std::string name = "custom";
  std::string description;
  int technology_nm = 22;
  double clock_mhz = 200.0;
  double supply_v = 0.8;
  int cores = 1;
  double leakage_uw = 100.0;  // static power of the whole chip
  // sections
  CoreSpec core;
  TileSpec tile;
  ArrayParams array;             // [array]: the crossbar model (src/device)
  ArrayPeripherySpec periphery;  // [array] keys that are not crossbar numbers
  NocSpec noc;
  ChipLinkSpec chip_link;
  EventEnergySpec energy;
  EventTimeSpec time;
  AreaSpec area;
  CostModelSpec cost;

  // Derived quantities.
  int64_t arrays_per_core() const { return int64_t{core.tiles} * tile.arrays; }
  int64_t total_arrays() const { return int64_t{cores} * arrays_per_core(); }
  // Logical weights one array holds (rows x logical columns, after the encoding).
  int64_t weights_per_array() const;
  // Weights the whole chip holds.
  int64_t weight_capacity() const;
  // ADCs per array (physical columns / columns_per_adc, rounded up).
  int64_t adcs_per_array() const;
  // Time of one full MVM on one array: activations (input bits if bit-serial, times row groups)
  // each of array_activation_ns plus the column conversions that share an ADC.
  double mvm_time_ns() const;
  // Peak multiply-accumulates per clock cycle over all arrays (every array busy).
  double peak_macs_per_cycle() const;
  // Peak tera-operations per second (2 ops per MAC).
  double peak_tops() const;
};

// Field-by-field equality over every key of the TOML form.
bool operator==(const ChipSpec& a, const ChipSpec& b);

// Parses a chip spec; source_name is used in messages ("chips/edge-voice.toml").
ChipSpec parse_chip_spec(std::string_view toml, const std::string& source_name);
// Reads and parses a file (ErrorKind::io if it cannot be read).
ChipSpec load_chip_spec(const std::filesystem::path& path);
// The full spec as TOML (every key, sections in a fixed order): parse(to_toml(s)) == s.
std::string to_toml(const ChipSpec& spec);
// Checks every range and cross-field constraint; source_name is used in messages.
void validate_chip_spec(const ChipSpec& spec, const std::string& source_name = "chip spec");

// The built-in presets (chips/*.toml), sorted by name.
std::vector<std::string> chip_preset_names();
// A preset by name; an unknown name is Error(invalid) listing the names.
ChipSpec chip_preset(const std::string& name);
// A preset's file text, comments included.
std::string chip_preset_toml(const std::string& name);
// A preset name or a path to a .toml file.
ChipSpec chip_spec_from_name_or_file(const std::string& name_or_path);

std::string noc_topology_name(NocTopology t);

}  // namespace acim
