// Validation against silicon: the figures the published chips behind the presets report (peak
// throughput, efficiency, power, density), each with its source and the operating point it was
// measured at, beside the same figures estimated from the preset alone.
//
//   for (const ValidationRow& r : validate_presets()) ...   // what `acim validate` prints
//
// Method. Every estimate prices a synthetic workload with the cost model that prices networks
// (compile_program + price, include/acim/cost.hpp), not a separate formula: one fully-connected
// layer (Gemm with bias, then ReLU) whose weight matrix is exactly one array (rows x logical
// columns), one input vector, replication off. At peak every array of the chip does that MVM
// back to back, so
//   peak TOPS      = CostReport::peak_tops (ChipSpec::peak_tops: all weights / MVM time);
//   pJ per MAC     = the layer's energy in the figure's scope / its MACs, at the reference
//                    activities (the spec's per-event energies hold there);
//   TOPS/W         = peak TOPS / power at peak;
//   power at peak  = peak MACs/s x pJ per MAC (+ the chip's leakage in chip scope);
//   TOPS/mm^2      = peak TOPS / area in the figure's scope (CostReport::area).
// A figure's scope says what the publication measured: "analog" is the MVM datapath a macro or
// core measurement covers (array, DAC, ADC, shift-add, accumulation; arrays, ADCs and DACs for
// area), "chip" everything the cost model prices (buffers, digital units, NoC and leakage too).
// A figure measured at another precision than the preset's sets array.dac.bits / array.adc.bits
// for its estimate, so one calibrated preset also predicts the chip's other operating points.
#pragma once

#include <string>
#include <vector>

#include "acim/chip.hpp"

namespace acim {

enum class Figure {
  peak_tops,     // TOPS, 2 ops per MAC
  tops_per_w,    // TOPS/W at peak throughput
  power_w,       // W at peak throughput
  tops_per_mm2,  // peak TOPS / area
  weights,       // weights held on chip
};
std::string figure_name(Figure f);  // "peak TOPS", ...
std::string figure_unit(Figure f);  // "TOPS", ...

enum class FigureScope { analog, chip };
std::string figure_scope_name(FigureScope s);  // "analog", "chip"

// One published figure of one chip.
struct PublishedFigure {
  std::string chip;  // the preset that re-describes the chip
  Figure figure = Figure::peak_tops;
  double value = 0;  // in figure_unit(figure)
  FigureScope scope = FigureScope::chip;
  int input_bits = 0;   // the operating point's array.dac.bits; 0: the preset's
  int output_bits = 0;  // the operating point's array.adc.bits; 0: the preset's
  // True when the preset's constants were fitted to this figure (the others are predictions).
  bool calibrated = false;
  std::string conditions;  // the operating point as published
  std::string source;      // paper, table or figure
  // Non-empty: a figure the model is known not to meet, and why (excluded from the goal).
  std::string miss_reason;
};

// The table, in a fixed order (src/cost/validate.cpp cites every entry).
const std::vector<PublishedFigure>& published_figures();

// The estimated figures of one chip spec at its own operating point (see the method above).
struct PeakEstimate {
  double peak_tops = 0;
  double analog_pj_per_mac = 0;  // array, DAC, ADC, shift-add, accumulation
  double chip_pj_per_mac = 0;    // all dynamic energy (leakage excluded)
  double leakage_w = 0;
  double analog_area_mm2 = 0;  // arrays, ADCs, DACs of the whole chip
  double chip_area_mm2 = 0;    // everything CostReport::area counts
  double weights = 0;          // ChipSpec::weight_capacity
  double macs = 0;             // of the synthetic layer (= one array's weights)

  double power_w(FigureScope s) const;     // at peak throughput
  double tops_per_w(FigureScope s) const;  // peak TOPS / power_w
  double tops_per_mm2(FigureScope s) const;
  double value(Figure f, FigureScope s) const;
};
PeakEstimate estimate_peak(const ChipSpec& chip);

// The goal: |error| within this many percent.
inline constexpr double kValidationTolerancePct = 25.0;

struct ValidationRow {
  PublishedFigure published;
  double estimated = 0;  // in figure_unit
  double error_pct = 0;  // 100 (estimated - published) / published
  bool within = false;   // |error_pct| <= kValidationTolerancePct
  // "ok", "MISS (explained): REASON" or "MISS: outside ±25 %".
  std::string verdict() const;
};

// Every published figure of `chip` (a preset name; empty: every chip in the table) beside its
// estimate. An unknown or untabulated chip is Error(invalid) listing the chips in the table.
std::vector<ValidationRow> validate_presets(const std::string& chip = "");

}  // namespace acim
