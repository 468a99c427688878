// Report: what one inference of a compiled Program costs on its chip, gathered once from the cost
// model (include/acim/cost.hpp) and rendered for people — the terminal summary of `acim report`
// (tools/acim/cmd_report.cpp), everything machine-readable (report_json), and one
// self-contained HTML page with charts (report_html: inline CSS and SVG, no script, no network).
//
//   Report r = make_report(program, program.calibration_set, {});
//   write_report_file("ds_cnn.html", report_html(r));   // atomically
//
// The model holds no numbers of its own beyond what it derives in plain sight: the CostReport
// and the two DigitalBaselines as priced, the average power at the chosen rate, the analog /
// digital energy ratios, the rows of the per-layer charts, and the floorplan (which layer's
// array sits on which core).
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "acim/cost.hpp"
#include "acim/executor.hpp"
#include "acim/program.hpp"

namespace acim {

struct ReportOptions {
  double rate = 50;       // inferences per second for the always-on average power
  std::string adc_model;  // replaces the chip's cost.adc_model when not empty ("walden", ...)
  // Where the activity inputs came from, in words ("calibration set", "--inputs"); with the
  // number of samples it tells the reader what the data-dependent energies rest on.
  std::string activity_source = "calibration set";
};

// One row of the per-layer charts: an analog layer (CostReport::layers) or a node on the
// digital units (CostReport::digital), in graph order.
struct ReportLayer {
  std::string node, op;
  bool analog = true;
  int index = 0;           // into CostReport::layers (analog) or CostReport::digital
  EnergyBreakdown energy;  // a digital node's energy is split into digital and buffer
  double energy_pj = 0;    // energy.total_pj()
  // Time. Analog: the arrays compute (compute_ns) plus buffer stalls (stall_ns) while the
  // vector unit does the fused work (vector_ns) alongside, so the stage is busy for the longer
  // of the two, as price() takes it for the interval; digital nodes: their vector time.
  double compute_ns = 0, stall_ns = 0, vector_ns = 0;
  double busy_ns = 0;
  double start_ns = 0, finish_ns = 0;  // analog layers: the pipeline schedule
  int64_t arrays = 0;                  // arrays with replication (0 for digital nodes)
};

// The analog chip against the digital NPU at one node.
struct BaselineComparison {
  DigitalBaseline digital;
  double analog_pj = 0;  // the analog chip's energy per inference (CostReport::energy_pj)
  double ratio = 0;      // analog_pj / digital.energy_pj(): > 1 means analog costs more
  std::string verdict;   // the ratio in words, in whichever direction it goes
};

// Where every array of the mapping sits: chips side by side, each a mesh_rows x mesh_cols grid
// of cores (core c at row c / mesh_cols, column c % mesh_cols, as in include/acim/mapping.hpp),
// each core tiles_per_core tiles of arrays_per_tile arrays. The mapping records the core of
// every array (LayerMapping::array_cores), not its slot inside the core: a core's arrays are
// drawn filling its slots in mapping order.
struct Floorplan {
  int chips = 1;
  int cores = 1;  // per chip
  int mesh_rows = 1, mesh_cols = 1;
  int tiles_per_core = 1, arrays_per_tile = 1;
  // Layer (index into CostReport::layers) of every array slot, -1 when unused, indexed by
  // (chip * cores + core) * tiles_per_core * arrays_per_tile + slot.
  std::vector<int> array_layer;
  bool placed = false;  // false when the mapping records no array placement

  int64_t arrays_per_core() const { return int64_t{tiles_per_core} * arrays_per_tile; }
};

struct Report {
  std::string model;  // Program::model
  std::string chip, chip_description;
  int technology_nm = 0;
  int chips = 1;
  int64_t arrays_used = 0, arrays_available = 0, arrays_per_chip = 0;
  int64_t weights = 0;
  std::string activity_source;
  int64_t activity_samples = 0;
  double rate = 0;              // ReportOptions::rate
  double average_power_uw = 0;  // CostReport::average_power_uw(rate)
  CostReport cost;
  std::vector<ReportLayer> layers;            // graph order, analog and digital
  std::vector<int> by_energy;                 // indices into `layers`, most energy first
  std::vector<BaselineComparison> baselines;  // at the chip's node, then at 5 nm
  Floorplan floorplan;
  std::vector<std::string> notes;  // CostReport::notes and the report's own
};

// Measures the activity on `inputs` (each a full set of graph inputs; none: the reference
// activities), prices the Program and its digital baselines. Error(invalid) naming --rate when
// the rate is negative or beyond the chip's throughput, and naming cost.adc_model for an unknown
// ADC model.
Report make_report(const Program& program, const std::vector<TensorMap>& inputs,
                   const ReportOptions& options = {});

// The analog / digital ratio in words: "analog uses 3.1x less energy per inference than a
// digital NPU at 22 nm" or "... 1.4x more ...", "about the same" within 1%.
std::string baseline_verdict(double ratio, int technology_nm);

// Every field of the report, the cost report (events, per layer and per digital node) and the
// baselines, as JSON text.
std::string report_json(const Report& report);

// One self-contained HTML page: summary cards, energy breakdown, per-layer energy and time,
// pipeline schedule, floorplan, utilisation, area, and the analog vs digital baseline.
std::string report_html(const Report& report);

// Text for HTML (element content and quoted attribute values): & < > " ' as entities.
std::string html_escape(std::string_view text);

// Writes `text` to `path` atomically (a temporary file beside it, then rename); Error(io)
// naming the path, the target untouched.
void write_report_file(const std::filesystem::path& path, std::string_view text);

}  // namespace acim
