// acim report PROGRAM.acim [--rate 50] [--inputs FILE.npy ...] [--adc-model NAME] [--json]
//             [--html OUT.html]
// acim report MODEL.onnx --chip NAME|FILE [...]   (compiled on the fly, not saved)
// What one inference costs: a terminal summary (chip and mapping, latency, throughput, energy
// per inference by component and by layer, always-on power at --rate, TOPS, TOPS/W, TOPS/mm²,
// area, and the digital baseline at the chip's node and at 5 nm with the ratio stated in
// whichever direction it goes); --json prints every field instead; --html also writes one
// self-contained page with charts (written atomically). The report model and its JSON and HTML
// renderings are in src/report (include/acim/report.hpp).
//
// Activity (the data-dependent energies) is measured on the Program's calibration set, or on
// --inputs: for a one-input model each FILE.npy (or NAME=FILE.npy) is one sample; for a model
// with several inputs the files together (NAME=FILE.npy each) are one sample.
#include <algorithm>
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "acim/chip.hpp"
#include "acim/error.hpp"
#include "acim/onnx.hpp"
#include "acim/program.hpp"
#include "acim/report.hpp"
#include "args.hpp"
#include "commands.hpp"
#include "format.hpp"

namespace acim::cli {

namespace {

struct ReportArgs {
  std::string model;
  std::string chip;  // for an .onnx model
  double rate = 50;
  std::vector<std::string> inputs;
  std::string adc_model;
  bool json = false;
  std::string html;
};

// `sig` significant digits, plain notation for everyday magnitudes.
std::string num(double v, int sig = 3) {
  char buf[48];
  std::snprintf(buf, sizeof buf, "%.*g", sig, v);
  return buf;
}

std::string pct(double fraction) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f%%", 100.0 * fraction);
  return buf;
}

// Energy in µJ (the unit people quote per inference), with enough digits for small parts.
std::string uj(double pj) {
  char buf[48];
  std::snprintf(buf, sizeof buf, "%.4g µJ", pj * 1e-6);
  return buf;
}

std::string time_str(double ns) {
  if (ns >= 1e9) return num(ns * 1e-9) + " s";
  if (ns >= 1e6) return num(ns * 1e-6) + " ms";
  if (ns >= 1e3) return num(ns * 1e-3) + " µs";
  return num(ns) + " ns";
}

// Power in µW below a milliwatt, else in mW.
std::string power(double uw) {
  return uw < 1000 ? num(uw) + " µW" : num(uw * 1e-3) + " mW";
}

Program program_of(const ReportArgs& o) {
  if (names_program(o.model)) {
    if (!o.chip.empty())
      throw Error(ErrorKind::invalid, o.model,
                  "is a compiled Program; its chip is fixed, so --chip does not apply",
                  "drop --chip, or give the .onnx model to compile it for another chip");
    return load_program(o.model);
  }
  if (o.chip.empty())
    throw Error(ErrorKind::invalid, o.model, "is not a compiled Program (.acim)",
                "give --chip NAME to compile the ONNX model on the fly, or run acim compile " +
                    o.model + " --chip NAME -o MODEL.acim first");
  CompileOptions co;
  co.mapping.model = o.model;
  Program p = compile_program(load_onnx(o.model), chip_spec_from_name_or_file(o.chip), co);
  p.model = o.model;
  for (const std::string& w : p.warnings) std::cerr << "acim: warning: " << w << "\n";
  return p;
}

std::vector<TensorMap> activity_inputs(const Program& p, const std::vector<std::string>& specs) {
  if (specs.empty()) return p.calibration_set;
  if (p.graph.inputs.size() != 1) return {read_inputs(p.graph, specs)};
  std::vector<TensorMap> samples;
  for (const std::string& s : specs) samples.push_back(read_inputs(p.graph, {s}));
  return samples;
}

void print_summary(const Report& r) {
  const CostReport& c = r.cost;
  const double total = c.energy_pj();
  std::cout << "model        " << r.model << "\n";
  std::cout << "chip         " << r.chip << " (" << r.technology_nm << " nm"
            << (r.chip_description.empty() ? "" : ", " + r.chip_description) << ")\n";
  std::cout << "arrays       " << with_commas(r.arrays_used) << " used / "
            << with_commas(r.arrays_available) << " available (" << pct(c.array_utilisation)
            << "), " << r.chips << (r.chips == 1 ? " chip" : " chips") << "\n";
  std::cout << "utilisation  " << pct(c.weight_utilisation) << " of the used arrays' cells hold "
            << "weights; arrays busy " << pct(c.busy_fraction) << " of the time\n";
  std::cout << "activity     " << r.activity_source << ", " << r.activity_samples << " samples\n\n";

  std::cout << "latency            " << time_str(c.latency_ns) << "\n";
  std::cout << "throughput         " << si(c.inferences_per_s) << " inferences/s (one every "
            << time_str(c.interval_ns) << ")\n";
  std::cout << "energy/inference   " << uj(total) << " (" << uj(c.dynamic_energy_pj())
            << " dynamic)\n";
  std::cout << "average power      " << power(r.average_power_uw) << " at " << num(r.rate)
            << " inferences/s (" << power(c.leakage_uw) << " leakage)\n";
  std::cout << "peak TOPS          " << num(c.peak_tops) << "\n";
  std::cout << "effective TOPS     " << num(c.effective_tops) << " (" << with_commas(c.macs)
            << " MACs per inference)\n";
  std::cout << "TOPS/W             " << num(c.tops_per_w) << "\n";
  std::cout << "TOPS/mm²           " << num(c.tops_per_mm2) << "\n";
  std::cout << "area               " << num(c.area.total_um2() * 1e-6) << " mm²\n";

  std::cout << "\nenergy per inference by component:\n";
  Table e({"component", "energy", "share"}, {false, true, true});
  for (int i = 0; i < kCostComponents; ++i) {
    const double v = c.energy.pj[static_cast<size_t>(i)];
    if (v > 0) e.add({cost_component_name(static_cast<CostComponent>(i)), uj(v), pct(v / total)});
  }
  e.add_rule();
  e.add({"total", uj(total), "100.0%"});
  std::cout << e.str();

  const size_t top = std::min<size_t>(r.by_energy.size(), 8);
  std::cout << "\ntop " << top << " of " << r.layers.size() << " layers by energy:\n";
  Table l({"layer", "op", "energy", "share", "stage time", "arrays"},
          {false, false, true, true, true, true});
  for (size_t k = 0; k < top; ++k) {
    const ReportLayer& x = r.layers[static_cast<size_t>(r.by_energy[k])];
    l.add({x.node, x.op, uj(x.energy_pj), pct(x.energy_pj / total), time_str(x.busy_ns),
           x.analog ? std::to_string(x.arrays) : "-"});
  }
  std::cout << l.str();

  std::cout << "\narea:\n";
  const AreaBreakdown& a = c.area;
  Table at({"part", "mm²", "share"}, {false, true, true});
  const std::pair<const char*, double> parts[] = {{"arrays", a.arrays_um2},
                                                  {"ADCs", a.adcs_um2},
                                                  {"DACs", a.dacs_um2},
                                                  {"shift-add", a.shift_add_um2},
                                                  {"digital units", a.digital_um2},
                                                  {"buffers", a.buffers_um2},
                                                  {"routers", a.routers_um2}};
  for (const auto& [name, um2] : parts) at.add({name, num(um2 * 1e-6), pct(um2 / a.total_um2())});
  std::cout << at.str();

  std::cout << "\ndigital baseline (8-bit NPU, same weights on chip):\n";
  const std::string at_rate = "power at " + num(r.rate) + "/s";
  Table b({"design", "node", "energy/inference", "analog / digital", "leakage", at_rate},
          {false, true, true, true, true, true});
  b.add({"analog: " + r.chip, std::to_string(r.technology_nm) + " nm", uj(total), "-",
         power(c.leakage_uw), power(r.average_power_uw)});
  for (const BaselineComparison& x : r.baselines)
    b.add({"digital NPU", std::to_string(x.digital.technology_nm) + " nm",
           uj(x.digital.energy_pj()), num(x.ratio) + "x", power(x.digital.leakage_uw),
           power(x.digital.average_power_uw(r.rate))});
  std::cout << b.str();
  for (const BaselineComparison& x : r.baselines) std::cout << x.verdict << "\n";

  std::cout << "\nADC model    " << c.adc.model << " (" << num(c.adc.energy_pj) << " pJ per "
            << "conversion; " << c.adc.source << ")\n";
  for (const std::string& n : r.notes) std::cout << "note: " << n << "\n";
}

int run_report(const ReportArgs& o) {
  const Program program = program_of(o);
  ReportOptions ro;
  ro.rate = o.rate;
  ro.adc_model = o.adc_model;
  ro.activity_source = o.inputs.empty() ? "calibration set" : "--inputs";
  const Report r = make_report(program, activity_inputs(program, o.inputs), ro);
  if (!o.html.empty()) write_report_file(o.html, report_html(r));
  if (o.json) {
    std::cout << report_json(r);
    return 0;
  }
  print_summary(r);
  if (!o.html.empty()) std::cout << "\nwrote        " << o.html << "\n";
  return 0;
}

}  // namespace

void add_report_command(CLI::App& app, Action& action) {
  auto opt = std::make_shared<ReportArgs>();
  CLI::App* cmd =
      app.add_subcommand("report",
                         "What one inference costs on the chip: energy, power, time, area, and the "
                         "digital baseline (terminal, --json, --html)");
  cmd->add_option("PROGRAM", opt->model, "Compiled program (.acim), or an ONNX model with --chip")
      ->required();
  cmd->add_option("--chip", opt->chip, "Compile an ONNX model for this chip (preset or file)");
  cmd->add_option("--rate", opt->rate, "Inferences per second for the always-on average power")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd->add_option("--inputs", opt->inputs,
                  "Inputs to measure the activity on (default: the program's calibration set): "
                  "[NAME=]FILE.npy, one sample per file for a one-input model")
      ->expected(1, -1);
  cmd->add_option("--adc-model", opt->adc_model,
                  "ADC energy model instead of the chip's: spec, walden, murmann_bound, fitted, "
                  "table:NAME");
  cmd->add_flag("--json", opt->json, "Print every field as JSON instead of the summary");
  cmd->add_option("--html", opt->html, "Also write a self-contained HTML report to this file");
  cmd->callback([opt, &action] { action = [opt] { return run_report(*opt); }; });
}

}  // namespace acim::cli
