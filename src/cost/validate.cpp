// Validation against silicon (include/acim/validate.hpp): the published figures of the chips the
// presets re-describe, and their estimates from the presets through the cost model.
//
// Published numbers are facts from the sources named beside each entry. Figures read off a
// plot (NeuRRAM's Extended Data Fig. 12) are the values CiMLoop digitised for its own validation
// (Andrulis et al., "CiMLoop", ISPASS 2024; github.com/mit-emze/cimloop, models/arch/1_macro/
// wan_nature_2022 and jia_jssc_2020), so two estimators are checked against the same numbers.
#include "acim/validate.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <set>
#include <tuple>

#include "acim/cost.hpp"
#include "acim/error.hpp"
#include "acim/program.hpp"

namespace acim {

namespace {

const char* kNeurram =
    "W. Wan et al., Nature 608, 504-512 (2022), Extended Data Fig. 12d,e (as digitised by "
    "CiMLoop, ISPASS 2024)";
const char* kHermes =
    "M. Le Gallo et al., Nature Electronics 6, 680-693 (2023), abstract";
const char* kHermesCore =
    "R. Khaddam-Aljameh et al., 'HERMES-Core', IEEE Journal of Solid-State Circuits (2022), "
    "abstract";
const char* kMythic = "Mythic M1076 Analog Matrix Processor product brief (2021)";
const char* kMythicHotChips =
    "Mythic at Hot Chips 30 (2018), as reported by WikiChip Fuse, 'Analog AI startup Mythic to "
    "compute and scale in flash'";
const char* kJia =
    "H. Jia et al., IEEE JSSC 55(9), 2609-2621 (2020), Table II, 1.2 V (as used by CiMLoop, "
    "ISPASS 2024)";

}  // namespace

std::string figure_name(Figure f) {
  switch (f) {
    case Figure::peak_tops: return "peak TOPS";
    case Figure::tops_per_w: return "TOPS/W";
    case Figure::power_w: return "power at peak";
    case Figure::tops_per_mm2: return "TOPS/mm2";
    case Figure::weights: return "weights";
  }
  return "?";
}

std::string figure_unit(Figure f) {
  switch (f) {
    case Figure::peak_tops: return "TOPS";
    case Figure::tops_per_w: return "TOPS/W";
    case Figure::power_w: return "W";
    case Figure::tops_per_mm2: return "TOPS/mm2";
    case Figure::weights: return "M";
  }
  return "?";
}

std::string figure_scope_name(FigureScope s) {
  return s == FigureScope::analog ? "analog" : "chip";
}

const std::vector<PublishedFigure>& published_figures() {
  // {chip, figure, value, scope, input_bits, output_bits, calibrated, conditions, source, miss}
  static const std::vector<PublishedFigure> table = {
      // NeuRRAM: one core's MVM (input pulses, neurons, word-line switching) at three of the
      // measured precisions. acim's bit-serial DAC of B bits drives B - 1 magnitude pulses, as
      // NeuRRAM's signed inputs do (its 1- and 2-bit inputs take the same single pulse); the
      // preset is calibrated at 4-bit inputs, the 1- and 8-bit points are predictions.
      {"neurram", Figure::peak_tops, 0.744, FigureScope::analog, 0, 0, true,
       "4-b inputs, 6-b outputs, 48 cores", kNeurram, ""},
      {"neurram", Figure::tops_per_w, 15.95, FigureScope::analog, 0, 0, true,
       "4-b inputs, 6-b outputs, MVM energy of a core", kNeurram, ""},
      {"neurram", Figure::peak_tops, 2.122, FigureScope::analog, 2, 3, false,
       "1-b inputs, 3-b outputs, 48 cores", kNeurram, ""},
      {"neurram", Figure::tops_per_w, 43.08, FigureScope::analog, 2, 3, false,
       "1-b inputs, 3-b outputs, MVM energy of a core", kNeurram, ""},
      {"neurram", Figure::peak_tops, 0.2639, FigureScope::analog, 8, 10, false,
       "8-b inputs (two-phase), 10-b outputs, 48 cores", kNeurram, ""},
      {"neurram", Figure::tops_per_w, 6.437, FigureScope::analog, 8, 10, false,
       "8-b inputs (two-phase), 10-b outputs, MVM energy of a core", kNeurram, ""},
      // HERMES: 8-bit input/output MVMs in the one-phase (low-precision) read mode.
      {"hermes", Figure::peak_tops, 63.1, FigureScope::analog, 0, 0, true,
       "8-b inputs and outputs, one-phase read, 64 cores", kHermes, ""},
      {"hermes", Figure::tops_per_w, 9.76, FigureScope::analog, 0, 0, true,
       "8-b inputs and outputs, one-phase read", kHermes, ""},
      {"hermes", Figure::tops_per_mm2, 1.59, FigureScope::chip, 0, 0, true,
       "one core (array, ADCs, local digital unit), 1 GHz", kHermesCore, ""},
      // Mythic M1076: the brief's peak, typical power (the midpoint of its 3-4 W, taken at peak
      // throughput as the brief pairs the two) and weight capacity.
      {"mythic-like", Figure::peak_tops, 25.0, FigureScope::chip, 0, 0, true,
       "8-b, all 76 tiles busy", kMythic, ""},
      {"mythic-like", Figure::power_w, 3.5, FigureScope::chip, 0, 0, true,
       "typical power, 3-4 W (midpoint), whole chip", kMythic, ""},
      {"mythic-like", Figure::weights, 80.0, FigureScope::chip, 0, 0, true,
       "up to 80 M weights on chip", kMythic, ""},
      {"mythic-like", Figure::tops_per_w, 4.0, FigureScope::chip, 0, 0, false,
       "0.5 pJ/MAC on ResNet-50 at batch 1, whole chip with PCIe and I/O, first-generation IPU",
       kMythicHotChips,
       "a different chip generation (2018 IPU) on a network at batch 1, not the M1076 at peak: "
       "the M1076 brief's own 25 TOPS at 3-4 W is 6.3-8.3 TOPS/W, so no one calibration meets "
       "both; the preset follows the M1076 brief"},
      // Jia et al.'s 590-kb charge-domain CIMA at its 1-b input / 1-b weight point, 1.2 V.
      {"sram-charge-macro", Figure::peak_tops, 2.185, FigureScope::analog, 0, 0, true,
       "1-b inputs and weights, 1.2 V", kJia, ""},
      {"sram-charge-macro", Figure::tops_per_w, 192.0, FigureScope::analog, 0, 0, true,
       "1-b inputs and weights, 1.2 V, CIMA only", kJia, ""},
      {"sram-charge-macro", Figure::tops_per_mm2, 0.6, FigureScope::analog, 0, 0, false,
       "1-b inputs and weights, 1.2 V, CIMA and ADC area", kJia, ""},
  };
  return table;
}

double PeakEstimate::power_w(FigureScope s) const {
  const double macs_per_s = peak_tops * 1e12 / 2.0;
  if (s == FigureScope::analog) return macs_per_s * analog_pj_per_mac * 1e-12;
  return macs_per_s * chip_pj_per_mac * 1e-12 + leakage_w;
}

double PeakEstimate::tops_per_w(FigureScope s) const {
  const double w = power_w(s);
  return w > 0 ? peak_tops / w : 0;
}

double PeakEstimate::tops_per_mm2(FigureScope s) const {
  const double mm2 = s == FigureScope::analog ? analog_area_mm2 : chip_area_mm2;
  return mm2 > 0 ? peak_tops / mm2 : 0;
}

double PeakEstimate::value(Figure f, FigureScope s) const {
  switch (f) {
    case Figure::peak_tops: return peak_tops;
    case Figure::tops_per_w: return tops_per_w(s);
    case Figure::power_w: return power_w(s);
    case Figure::tops_per_mm2: return tops_per_mm2(s);
    case Figure::weights: return weights / 1e6;
  }
  return 0;
}

PeakEstimate estimate_peak(const ChipSpec& chip) {
  validate_chip_spec(chip, "chip '" + chip.name + "'");
  const int64_t rows = chip.array.rows, cols = chip.array.logical_cols();

  // x[1, rows] -> Gemm(W[rows, cols], b[cols]) -> Relu: one array's worth of weights.
  Graph g;
  g.name = "validate_" + chip.name;
  g.opset = 17;
  g.inputs.push_back(ValueInfo{"x", DType::f32, {1, rows}, true});
  Tensor w(DType::f32, {rows, cols});
  for (float& v : w.span<float>()) v = 0.5f;
  Tensor b(DType::f32, {cols});
  for (float& v : b.span<float>()) v = 0.0f;
  g.initializers["W"] = std::move(w);
  g.initializers["b"] = std::move(b);
  Node gemm;
  gemm.name = "fc";
  gemm.op_type = "Gemm";
  gemm.inputs = {"x", "W", "b"};
  gemm.outputs = {"y"};
  Node relu;
  relu.name = "relu";
  relu.op_type = "Relu";
  relu.inputs = {"y"};
  relu.outputs = {"z"};
  g.nodes = {gemm, relu};
  g.outputs.push_back(ValueInfo{"z", DType::f32, {1, cols}, true});

  CompileOptions options;
  options.mapping.model = g.name;
  options.mapping.replicate = false;  // one array, one MVM: replicas would only idle
  options.random_calibration = 1;     // ranges do not change event counts
  options.keep_calibration = 0;
  const Program p = compile_program(std::move(g), chip, options);
  ACIM_ASSERT(p.mapping.arrays_used == 1 && p.mapping.layers.size() == 1,
              "validate: the synthetic layer of chip '" + chip.name +
                  "' does not fill exactly one array");

  // Reference activities: the spec's per-event energies as written.
  const CostReport r = price(p);
  ACIM_ASSERT(r.macs == rows * cols, "validate: the synthetic layer's MACs differ from one "
                                     "array's weights");
  PeakEstimate e;
  e.peak_tops = r.peak_tops;
  e.macs = static_cast<double>(r.macs);
  const EnergyBreakdown& en = r.energy;
  const double analog = en[CostComponent::array] + en[CostComponent::dac] +
                        en[CostComponent::adc] + en[CostComponent::shift_add] +
                        en[CostComponent::accumulate];
  e.analog_pj_per_mac = analog / e.macs;
  e.chip_pj_per_mac = r.dynamic_energy_pj() / e.macs;
  e.leakage_w = r.leakage_uw * 1e-6;
  e.analog_area_mm2 = (r.area.arrays_um2 + r.area.adcs_um2 + r.area.dacs_um2) * 1e-6;
  e.chip_area_mm2 = r.area.total_um2() * 1e-6;
  e.weights = static_cast<double>(chip.weight_capacity());
  return e;
}

std::string ValidationRow::verdict() const {
  if (within) return "ok";
  if (!published.miss_reason.empty()) return "MISS (explained): " + published.miss_reason;
  char buf[64];
  std::snprintf(buf, sizeof buf, "MISS: outside +/-%.0f %%", kValidationTolerancePct);
  return buf;
}

std::vector<ValidationRow> validate_presets(const std::string& chip) {
  std::set<std::string> chips;
  for (const PublishedFigure& f : published_figures()) chips.insert(f.chip);
  if (!chip.empty() && chips.count(chip) == 0) {
    std::string names;
    for (const std::string& c : chips) names += (names.empty() ? "" : ", ") + c;
    throw Error(ErrorKind::invalid, "--chip", "'" + chip + "' has no published figures in acim's table",
                "choose one of: " + names);
  }
  // One estimate per chip and operating point.
  std::map<std::tuple<std::string, int, int>, PeakEstimate> estimates;
  std::vector<ValidationRow> rows;
  for (const PublishedFigure& f : published_figures()) {
    if (!chip.empty() && f.chip != chip) continue;
    auto key = std::make_tuple(f.chip, f.input_bits, f.output_bits);
    auto it = estimates.find(key);
    if (it == estimates.end()) {
      ChipSpec spec = chip_preset(f.chip);
      if (f.input_bits > 0) spec.array.dac.bits = f.input_bits;
      if (f.output_bits > 0) spec.array.adc.bits = f.output_bits;
      it = estimates.emplace(key, estimate_peak(spec)).first;
    }
    const PeakEstimate& e = it->second;
    ValidationRow row;
    row.published = f;
    row.estimated = e.value(f.figure, f.scope);
    row.error_pct = 100.0 * (row.estimated - f.value) / f.value;
    row.within = std::abs(row.error_pct) <= kValidationTolerancePct;
    rows.push_back(std::move(row));
  }
  return rows;
}

}  // namespace acim
