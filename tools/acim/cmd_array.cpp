// acim array: "what costs me accuracy" on one crossbar array — the relative error of a random
// MVM with each non-ideality alone and all together, or (--drift-table) the error over time
// with and without global drift compensation.
#include <cmath>
#include <cstdio>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "acim/crossbar.hpp"
#include "acim/device.hpp"
#include "acim/error.hpp"
#include "args.hpp"
#include "commands.hpp"
#include "format.hpp"

namespace acim::cli {

namespace {

struct ArrayOptions {
  std::string cell = "pcm";
  int rows = 256;
  int cols = 256;
  int adc_bits = -1;  // -1: the technology's default
  int dac_bits = -1;
  std::string encoding;
  std::string time = "1s";
  int batch = 64;
  int instances = 4;
  uint64_t seed = 1;
  double wire_r_ohm = -1;
  bool json = false;
  bool drift_table = false;
};

Encoding parse_encoding(const std::string& s) {
  if (s == "differential") return Encoding::differential;
  if (s == "offset_column") return Encoding::offset_column;
  if (s == "bit_sliced") return Encoding::bit_sliced;
  throw Error(ErrorKind::invalid, "option '--encoding'", "'" + s + "' is not an encoding",
              "use differential, offset_column or bit_sliced");
}

std::string pct(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f %%", 100.0 * v);
  return buf;
}

ArrayParams make_params(const ArrayOptions& o) {
  ArrayParams p = default_array_params(parse_cell_type(o.cell));
  p.rows = o.rows;
  p.cols = o.cols;
  if (o.adc_bits >= 0) p.adc.bits = o.adc_bits;
  if (o.dac_bits >= 0) p.dac.bits = o.dac_bits;
  if (!o.encoding.empty()) p.encoding.scheme = parse_encoding(o.encoding);
  if (o.wire_r_ohm >= 0) p.ir_drop.wire_r_ohm = o.wire_r_ohm;
  p.time_since_programming_s = parse_duration("--time", o.time);
  if (o.batch < 1)
    throw Error(ErrorKind::invalid, "option '--batch'",
                "is " + std::to_string(o.batch) + "; allowed >= 1", "");
  if (o.instances < 1)
    throw Error(ErrorKind::invalid, "option '--instances'",
                "is " + std::to_string(o.instances) + "; allowed >= 1", "");
  p.validate();
  return p;
}

int run_drift_table(const ArrayOptions& o, const ArrayParams& p) {
  const std::vector<double> times = {1.0, 3600.0, 86400.0, 365.0 * 86400.0};
  const char* names[] = {"1 s", "1 h", "1 day", "1 year"};
  std::vector<DriftPoint> t = drift_error_table(p, times, o.batch, o.instances, o.seed);
  if (o.json) {
    nlohmann::json j;
    j["cell"] = o.cell;
    j["rows"] = p.rows;
    j["cols"] = p.cols;
    for (const auto& d : t)
      j["drift"].push_back({{"time_s", d.time_s},
                            {"rel_error_uncompensated", d.rel_error_uncompensated},
                            {"rel_error_uncompensated_std", d.rel_error_uncompensated_std},
                            {"rel_error_compensated", d.rel_error_compensated},
                            {"rel_error_compensated_std", d.rel_error_compensated_std}});
    std::cout << j.dump(2) << "\n";
    return 0;
  }
  std::cout << cell_type_name(p.cell.type) << " array " << p.rows << " x " << p.cols
            << ": mean relative MVM error over " << o.instances << " instances, batch " << o.batch
            << "\n\n";
  Table tab({"time", "uncompensated", "± std", "compensated", "± std"},
            {false, true, true, true, true});
  for (size_t k = 0; k < t.size(); ++k)
    tab.add({names[k], pct(t[k].rel_error_uncompensated), pct(t[k].rel_error_uncompensated_std),
             pct(t[k].rel_error_compensated), pct(t[k].rel_error_compensated_std)});
  std::cout << tab.str();
  return 0;
}

int run_array(const ArrayOptions& o) {
  const ArrayParams p = make_params(o);
  if (o.drift_table) return run_drift_table(o, p);
  std::vector<ErrorSource> src = error_breakdown(p, o.batch, o.instances, o.seed);
  const ErrorSource* worst = nullptr;
  for (const auto& s : src)
    if (s.name != "all" && (worst == nullptr || s.rel_error > worst->rel_error)) worst = &s;
  if (o.json) {
    nlohmann::json j;
    j["cell"] = o.cell;
    j["rows"] = p.rows;
    j["cols"] = p.cols;
    j["time_s"] = p.time_since_programming_s;
    j["batch"] = o.batch;
    j["instances"] = o.instances;
    j["seed"] = o.seed;
    j["sources"] = nlohmann::json::array();
    for (const auto& s : src)
      j["sources"].push_back(
          {{"source", s.name}, {"rel_error", s.rel_error}, {"rel_error_std", s.rel_error_std}});
    j["dominant"] = worst ? worst->name : "";
    std::cout << j.dump(2) << "\n";
    return 0;
  }
  std::cout << cell_type_name(p.cell.type) << " array " << p.rows << " x " << p.cols << " ("
            << p.logical_cols() << " weight columns), ADC " << p.adc.bits << " b, DAC "
            << p.dac.bits << " b, t = " << o.time << "; random weights and inputs in [-1, 1], "
            << o.instances << " instances x batch " << o.batch << "\n\n";
  Table tab({"source", "relative error", "± std"}, {false, true, true});
  for (const auto& s : src) {
    if (s.name == "all") tab.add_rule();
    tab.add({s.name, pct(s.rel_error), pct(s.rel_error_std)});
  }
  std::cout << tab.str();
  if (worst != nullptr)
    std::cout << "\ndominant source: " << worst->name << " (" << pct(worst->rel_error)
              << " alone)\n";
  return 0;
}

}  // namespace

void add_array_command(CLI::App& app, Action& action) {
  auto opt = std::make_shared<ArrayOptions>();
  CLI::App* cmd = app.add_subcommand(
      "array",
      "Error of one crossbar array's MVM broken down by non-ideality (what costs accuracy)");
  cmd->add_option("--cell", opt->cell, "Cell: ideal, pcm, rram, sram_charge, sram_current, flash")
      ->capture_default_str();
  cmd->add_option("--rows", opt->rows, "Array rows")->capture_default_str();
  cmd->add_option("--cols", opt->cols, "Array physical columns")->capture_default_str();
  cmd->add_option("--adc-bits", opt->adc_bits, "ADC bits (default: the technology's)");
  cmd->add_option("--dac-bits", opt->dac_bits, "DAC bits (default: the technology's)");
  cmd->add_option("--encoding", opt->encoding, "differential, offset_column or bit_sliced");
  cmd->add_option("--time", opt->time, "Time since programming: 1s, 1h, 1d, 1y, or seconds")
      ->capture_default_str();
  cmd->add_option("--batch", opt->batch, "Random inputs per instance")->capture_default_str();
  cmd->add_option("--instances", opt->instances, "Chip instances (static noise draws)")
      ->capture_default_str();
  cmd->add_option("--seed", opt->seed, "Seed")->capture_default_str();
  cmd->add_option("--wire-r-ohm", opt->wire_r_ohm, "Wire resistance per cell segment (ohm)");
  cmd->add_flag("--drift-table", opt->drift_table,
                "Error at 1 s, 1 h, 1 day, 1 year with and without drift compensation");
  cmd->add_flag("--json", opt->json, "Print machine-readable JSON");
  cmd->callback([opt, &action] { action = [opt] { return run_array(*opt); }; });
}

}  // namespace acim::cli
