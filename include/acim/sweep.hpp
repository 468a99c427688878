// Design-space sweeps: a sweep file names a base chip, a model, a labelled data set and the
// chip-spec keys to vary; every point (one chip spec) is compiled, evaluated on K Monte-Carlo chip
// instances and priced, and its metrics go into a SQLite result store that survives a kill and
// is shared by several sweeps.
//
//   SweepSpec s = load_sweep("examples/sweeps/kws_edge_voice.toml");
//   SweepRunner runner(s);                 // imports the model and reads the data once
//   SweepStore store("results.db");        // creates or opens (schema version checked)
//   const int64_t id = store.begin(s);     // the sweep's id in this database
//   for (int64_t p = 0; p < s.points(); ++p)
//     if (!store.done(id, p)) store.write(id, s, runner.run(p));
//
// Sweep file (TOML; docs/SWEEPS.md):
//   [sweep]   name, chip (preset or .toml), model (.onnx), data (labelled set folder, the
//             `acim eval` format), calibrate (.npy, optional), chips ("auto" or N; default
//             one), instances, seed, drift_time_s (optional), rate (inferences/s for power),
//             samples (0 = all), max_points, metrics (names from sweep_metric_names()).
//   [parameters]  "array.adc.bits" = [4, 6, 8]                 a list
//                 "array.rows" = { from = 64, to = 256, step = 64 }      a linear range
//                 "array.rows" = { from = 64, to = 512, times = 2 }      a geometric range
//   Points are the product of all parameters, the last one varying fastest. Relative paths are
//   relative to the sweep file's folder.
//
// Errors (all before any work starts, naming the file and the key): an unknown [sweep] key or
// parameter key (with a close key suggested), an empty list or range, a value the chip spec
// rejects, a point count above max_points (default 10000), an unknown metric.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "acim/chip.hpp"

namespace acim {

// One value of a swept key, as TOML holds it.
struct SweepValue {
  enum class Kind { integer, real, boolean, text };
  Kind kind = Kind::integer;
  int64_t i = 0;
  double d = 0;
  bool b = false;
  std::string s;
  std::string str() const;  // "4", "0.5", "true", "pcm"
  double number() const;    // integer or real as double; NaN for others
};

struct SweepParameter {
  std::string key;  // chip-spec key path, "array.adc.bits"
  std::vector<SweepValue> values;
};

// Metrics a sweep can record (one row per point and instance for per-instance metrics, instance
// -1 for per-point ones):
//   accuracy          per instance: accuracy of the chip instance on the data set (fraction);
//   float_accuracy    the float reference's accuracy;
//   output_error      per instance: relative RMS error ||y_chip - y_float|| / ||y_float|| of the
//                     first output on the first 16 samples (the model's batch if it is fixed);
//   energy_pj         energy per inference (pJ, leakage over the latency included);
//   latency_ns        one inference through the pipeline;
//   interval_ns       between inferences in steady state;
//   area_mm2          of all chips used;
//   power_uw          average power at [sweep] rate inferences/s;
//   npu_power_uw      the digital NPU baseline's (at the chip's node, the same weights on chip;
//                     price_digital_baseline) at that rate, its SRAM's leakage included;
//   tops_per_w        2 x MACs / energy per inference;
//   arrays_used       crossbar arrays used (replication included);
//   chips             chips used.
const std::vector<std::string>& sweep_metric_names();

struct SweepSpec {
  std::filesystem::path file;  // the sweep file ("" when parsed from text)
  std::string name;            // the sweep's name in a result store
  std::string hash;            // of the file's and the base chip's text (16 hex digits, FNV-1a 64)
  std::string chip;            // preset name or path (resolved against the file's folder)
  std::string chip_toml;       // the base chip's own TOML text (the preset's or the file's)
  std::string model;
  std::string data;
  std::string calibrate;  // "" = random calibration inputs (seeded)
  std::string chips;      // "" = one chip (a point that does not fit fails), "auto", or N
  int instances = 1;
  uint64_t seed = 1;
  double drift_time_s = -1;  // < 0: the chip spec's
  double rate = 0;           // inferences/s for power_uw; 0 = the chip's throughput
  int64_t samples = 0;       // N evenly spaced samples of the data set; 0 = all
  int64_t max_points = 10000;
  std::vector<std::string> metrics;
  std::vector<SweepParameter> parameters;

  // Number of points: the product of the parameters' value counts (saturates at INT64_MAX).
  int64_t points() const;
  // Point `index`'s values, one per parameter in order (mixed radix, last parameter fastest).
  std::vector<SweepValue> point(int64_t index) const;
  // "array.adc.bits=4 array.cell.type=pcm"
  std::string point_label(int64_t index) const;
};

// Parses a sweep file's text; `file` is used in messages and to resolve relative paths. Checks
// every parameter key against the chip spec's keys and every point's values against the spec's
// ranges (point_chip on each point), so a bad sweep fails before any work.
SweepSpec parse_sweep(std::string_view toml, const std::filesystem::path& file);
SweepSpec load_sweep(const std::filesystem::path& file);

// Point `index`'s chip: the base chip's own TOML (chip_toml) with the point's values written in,
// parsed by the chip spec's parser — so a swept array.cell.type starts from that technology's
// defaults (conductance window, levels, encoding) where the base chip's file does not set them,
// exactly as a chip file naming that type would. Error(invalid) names the sweep file and point.
ChipSpec point_chip(const SweepSpec& spec, int64_t index);

struct SweepMetric {
  int instance = -1;  // -1: the point's
  std::string metric;
  double value = 0;
};

struct PointResult {
  int64_t point = 0;
  bool ok = true;
  std::string error;  // why the point failed (it does not fit the chip, ...); ok = false
  double seconds = 0;
  std::vector<SweepMetric> metrics;
};

// Runs points of one sweep. The model is imported and the data set and calibration inputs are
// read once; a point whose chip differs from the previous point's only in keys the compiler does
// not read (energy, time, area, cost, leakage, clock, supply, technology) reuses its compiled
// program and is only evaluated and priced again.
class SweepRunner {
 public:
  explicit SweepRunner(const SweepSpec& spec);
  ~SweepRunner();
  SweepRunner(const SweepRunner&) = delete;
  SweepRunner& operator=(const SweepRunner&) = delete;
  // A point that cannot be compiled for its chip (an acim::Error) is a failed result, not an
  // exception.
  PointResult run(int64_t index);
  int64_t compiles() const;  // programs compiled so far (the rest were reused)

 private:
  struct State;
  std::unique_ptr<State> state_;
};

// ---------------------------------------------------------------------------------------------
// The result store (SQLite; schema in docs/SWEEPS.md, PRAGMA user_version = kSweepStoreVersion).

inline constexpr int kSweepStoreVersion = 1;

struct StoredPoint {
  std::string sweep;
  int64_t point = 0;
  std::vector<std::pair<std::string, std::string>> parameters;  // key, value (SweepValue::str)
  bool ok = true;
  std::string error;
  std::vector<SweepMetric> metrics;  // ordered by metric, then instance
  // Mean over instances of a metric (the per-point value for per-point metrics); NaN if absent.
  double mean(const std::string& metric) const;
  double std(const std::string& metric) const;  // sample std over instances; 0 for one
};

class SweepStore {
 public:
  // Opens or creates the database (WAL journal). Error(unsupported) naming the file for a
  // database of another schema version; Error(io) if it cannot be opened.
  explicit SweepStore(const std::filesystem::path& path);
  ~SweepStore();
  SweepStore(const SweepStore&) = delete;
  SweepStore& operator=(const SweepStore&) = delete;

  // The sweep's id, registering it when new. Error(invalid) when the database holds a sweep of
  // the same name made from a different file (hash), so results of two designs never mix.
  int64_t begin(const SweepSpec& spec);
  // Points already stored for the sweep (done or failed).
  std::vector<int64_t> done(int64_t sweep) const;
  // One point: its parameters, status and metrics, in one transaction.
  void write(int64_t sweep, const SweepSpec& spec, const PointResult& result);
  // Every stored point of every sweep (or of the named one), by sweep name then point.
  std::vector<StoredPoint> read(const std::string& sweep = {}) const;

 private:
  struct Db;
  std::unique_ptr<Db> db_;
  std::filesystem::path path_;
};

// Indices of the points on the Pareto front of (accuracy: higher is better, energy: lower,
// area: lower): those no other point beats in one objective without losing in another. Points
// with a NaN objective are left out. Order: by energy, then area, then accuracy (descending).
struct ParetoObjectives {
  double accuracy = 0, energy = 0, area = 0;
};
std::vector<size_t> pareto_front(const std::vector<ParetoObjectives>& points);

// Exports (written atomically). CSV: one row per point — sweep, point, status, the parameters,
// each metric's mean (and _std for per-instance metrics), a 0/1 pareto column (on the front of the
// point's own sweep: points of different sweeps are not compared). HTML: a
// self-contained page with the front as an inline SVG plot (energy vs accuracy, area as marker
// size) and the table.
std::string sweep_csv(const std::vector<StoredPoint>& points);
std::string sweep_html(const std::vector<StoredPoint>& points, const std::string& title);
// Pareto objectives of stored points (accuracy mean, energy_pj, area_mm2; NaN where missing or
// failed).
std::vector<ParetoObjectives> pareto_objectives(const std::vector<StoredPoint>& points);

}  // namespace acim
