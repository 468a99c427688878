// acim compile MODEL --chip NAME|FILE [--chips N|auto] [-o OUT.acim] [--calibrate FILE.npy ...]
//              [--calibration minmax|percentile:P] [--seed N] [--json]:
// compiles the model for the chip (compile_program: passes, mapping, quantisation) and prints,
// per analog layer, the matrix, tiles, replication, arrays, utilisation and cycles; the
// digital-unit ops; the totals (arrays used / available, utilisation, chips); the on-chip
// network traffic and the pipeline schedule; and the quantisation (calibration method and
// samples, per layer the DAC input range and the weight bits). With -o it also writes the
// Program file (atomically: a failed write leaves nothing behind).
//
// Calibration inputs (--calibrate): for a one-input model FILE.npy, for a model with several
// inputs NAME=FILE.npy with every input given the same number of samples. When the input's
// declared first dimension is 1 or unknown (a batch dimension), a file [N, ...] holds N samples
// and is split into N inputs [1, ...]; otherwise a file is one sample in the declared shape.
// Without --calibrate the activation ranges come from random inputs (--seed), with a warning.
#include <cstdio>
#include <iostream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "acim/chip.hpp"
#include "acim/error.hpp"
#include "acim/mapping.hpp"
#include "acim/npy.hpp"
#include "acim/onnx.hpp"
#include "acim/program.hpp"
#include "args.hpp"
#include "commands.hpp"
#include "format.hpp"

namespace acim::cli {

namespace {

struct CompileArgs {
  std::string model;
  std::string chip;
  std::string chips;                   // "", "N" or "auto"
  std::string output;                  // Program file; "" = print only
  std::vector<std::string> calibrate;  // [NAME=]FILE.npy
  std::string calibration = "percentile";
  uint64_t seed = 0;
  bool json = false;
  bool no_replicate = false;
};

std::string percent(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f%%", 100.0 * v);
  return buf;
}

std::string join(const std::vector<std::string>& v, const char* sep) {
  std::string s;
  for (size_t i = 0; i < v.size(); ++i) s += (i ? sep : "") + v[i];
  return s;
}

std::string matrices_str(const LayerMapping& l) {
  std::vector<std::string> parts;
  for (const MatrixView& m : l.matrices) {
    std::string s = std::to_string(m.rows) + "x" + std::to_string(m.cols);
    if (m.count > 1) s = std::to_string(m.count) + "*" + s;
    if (m.role == "W" || m.role == "R") s = m.role + " " + s;
    parts.push_back(s);
  }
  return join(parts, ", ");
}

// Whether `shape` fits the declared one (unknown dims match anything; unknown rank: any shape).
bool fits(const ValueInfo& in, const Shape& shape) {
  if (!in.shape_known) return true;
  if (shape.size() != in.shape.size()) return false;
  for (size_t i = 0; i < shape.size(); ++i)
    if (in.shape[i] != kUnknownDim && in.shape[i] != shape[i]) return false;
  return true;
}

// One .npy file as samples of input `in`: when the input declares its first dimension as 1 or
// unknown (a batch dimension), a file [N, ...] is N samples [1, ...]; otherwise the file is one
// sample in the declared shape.
std::vector<Tensor> samples_of(const ValueInfo& in, const std::string& file) {
  const Tensor t = load_npy(file);
  if (t.dtype() != in.dtype)
    throw Error(ErrorKind::shape, file,
                "holds " + dtype_name(t.dtype()) + " values; model input '" + in.name + "' is " +
                    dtype_name(in.dtype),
                "save the calibration array as " + dtype_name(in.dtype));
  const bool batch = in.shape_known && !in.shape.empty() &&
                     (in.shape[0] == 1 || in.shape[0] == kUnknownDim) && t.rank() >= 1 &&
                     t.dim(0) > 1;
  Shape one = t.shape();
  if (batch) one[0] = 1;
  if (!fits(in, one))
    throw Error(ErrorKind::shape, file,
                "has shape " + shape_str(t.shape()) + "; model input '" + in.name + "' is " +
                    shape_str(in.shape),
                "give one sample in that shape, or N of them stacked along its batch dimension");
  if (!batch) return {t};
  std::vector<Tensor> out;
  for (int64_t i = 0; i < t.dim(0); ++i) out.push_back(t.rows(i, i + 1));
  return out;
}

// --calibrate specs -> one TensorMap per sample (see the header comment).
std::vector<TensorMap> read_calibration(const Graph& g, const std::vector<std::string>& specs) {
  std::map<std::string, std::vector<Tensor>> per_input;
  for (const std::string& spec : specs) {
    const ValueInfo* in = nullptr;
    std::string file = spec;
    const size_t eq = spec.find('=');
    for (const ValueInfo& v : g.inputs)
      if (eq != std::string::npos && spec.substr(0, eq) == v.name) {
        in = &v;
        file = spec.substr(eq + 1);
      }
    if (!in && g.inputs.size() == 1) in = &g.inputs[0];
    if (!in)
      throw Error(ErrorKind::invalid, "--calibrate " + spec,
                  "the model has " + std::to_string(g.inputs.size()) +
                      " inputs, so each --calibrate must be NAME=FILE.npy",
                  "inputs: " + expected_inputs(g));
    for (Tensor& t : samples_of(*in, file)) per_input[in->name].push_back(std::move(t));
  }
  const size_t count = per_input[g.inputs[0].name].size();
  for (const ValueInfo& in : g.inputs) {
    const size_t n = per_input[in.name].size();
    if (n == 0 || n != count)
      throw Error(ErrorKind::invalid, "--calibrate",
                  "model input '" + in.name + "' has " + std::to_string(n) +
                      " calibration samples, input '" + g.inputs[0].name + "' " +
                      std::to_string(count),
                  "give every input (" + expected_inputs(g) + ") the same number of samples");
  }
  std::vector<TensorMap> samples(count);
  for (const auto& [name, tensors] : per_input)
    for (size_t i = 0; i < count; ++i) samples[i][name] = tensors[i];
  return samples;
}

std::string range_str(const LayerQuant* q) {
  if (!q || q->input_range.empty()) return "-";
  std::vector<std::string> parts;
  for (double r : q->input_range) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.4g", r);
    parts.push_back(buf);
  }
  return join(parts, ", ");
}

int run_compile(const CompileArgs& opt) {
  ChipSpec chip = chip_spec_from_name_or_file(opt.chip);
  MappingOptions mo;
  mo.model = opt.model;
  mo.replicate = !opt.no_replicate;
  if (opt.chips == "auto") {
    mo.chips_auto = true;
  } else if (!opt.chips.empty()) {
    size_t used = 0;
    long v = 0;
    try {
      v = std::stol(opt.chips, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != opt.chips.size() || v < 1 || v > 100000)
      throw Error(ErrorKind::invalid, "--chips", "'" + opt.chips + "' is not a chip count",
                  "give a number from 1 to 100000 or 'auto'");
    mo.chips = static_cast<int>(v);
  }
  CompileOptions co;
  co.mapping = mo;
  co.calibration = parse_calibration_method(opt.calibration);
  co.seed = opt.seed;
  Graph imported = load_onnx(opt.model);
  if (!opt.calibrate.empty()) co.calibration_inputs = read_calibration(imported, opt.calibrate);
  const Program program = compile_program(std::move(imported), chip, co);
  const Mapping& m = program.mapping;
  const Quantisation& quant = program.quant;
  const std::string calibration_source =
      co.calibration_inputs.empty()
          ? "random N(0, 1) inputs, seed " + std::to_string(opt.seed)
          : std::to_string(co.calibration_inputs.size()) + " samples from --calibrate";
  if (!opt.output.empty()) save_program(program, opt.output);

  if (opt.json) {
    nlohmann::json j = nlohmann::json::parse(program_mapping_json(program));
    j["model"] = opt.model;
    j["calibration"]["source"] = calibration_source;
    j["warnings"] = program.warnings;
    if (!opt.output.empty()) j["output"] = opt.output;
    std::cout << j.dump(2) << "\n";
    return 0;
  }

  for (const std::string& w : program.warnings) std::cerr << "acim: warning: " << w << "\n";
  std::cout << "model  " << opt.model << "\nchip   " << m.chip_name << "  ("
            << with_commas(m.arrays_per_chip) << " arrays of " << chip.array.rows << "x"
            << chip.array.logical_cols() << " weights)\n\n";
  bool multi = m.chips > 1;
  std::vector<std::string> head = {"layer",  "op",   "matrix KxN", "tiles", "repl",
                                   "arrays", "util", "cycles",     "cores", "digital"};
  std::vector<bool> right = {false, false, true, true, true, true, true, true, true, false};
  if (multi) {
    head.insert(head.begin() + 8, "chip");
    right.insert(right.begin() + 8, true);
  }
  Table t(head, right);
  for (const LayerMapping& l : m.layers) {
    std::string tiles = std::to_string(l.tiles);
    if (l.groups_packed > 1) tiles += " (" + std::to_string(l.groups_packed) + "/array)";
    std::vector<std::string> row = {
        l.node,
        l.op,
        matrices_str(l),
        tiles,
        std::to_string(l.replication),
        std::to_string(l.arrays()),
        percent(l.utilisation()),
        with_commas(l.cycles()),
        l.first_core == l.last_core
            ? std::to_string(l.first_core)
            : std::to_string(l.first_core) + "-" + std::to_string(l.last_core),
        join(l.digital, ", ")};
    if (multi) row.insert(row.begin() + 8, std::to_string(l.chip));
    t.add(row);
  }
  std::cout << t.str();
  if (!m.digital.empty()) {
    std::cout << "\ndigital units:\n";
    Table d({"layer", "op", "unit"}, {false, false, false});
    for (const DigitalOp& op : m.digital)
      d.add({op.node, op.op, op.unit + (multi ? " (chip " + std::to_string(op.chip) + ")" : "")});
    std::cout << d.str();
  }
  std::cout << "\narrays       " << with_commas(m.arrays_used) << " used / "
            << with_commas(m.arrays_available) << " available (" << with_commas(m.tiles)
            << " without replication)\n";
  std::cout << "utilisation  " << percent(m.utilisation()) << " of the used arrays' cells ("
            << with_commas(m.weights) << " weights)\n";
  std::cout << "bottleneck   " << with_commas(m.bottleneck_cycles)
            << " array cycles per inference (" << with_commas(m.bottleneck_cycles_unreplicated)
            << " without replication)\n";
  std::string cores;
  for (size_t c = 0; c < m.cores_used.size(); ++c)
    cores += (c ? ", " : "") + std::to_string(m.cores_used[c]);
  std::cout << "cores used   " << cores << " of " << chip.cores << (multi ? " per chip" : "")
            << "\n";
  std::cout << "chips        " << m.chips << "\n";
  for (const StageBoundary& b : m.boundaries)
    std::cout << "chip " << b.from << " -> " << b.from + 1 << "  " << with_commas(b.bytes)
              << " bytes per inference (" << with_commas(b.elements) << " activations)\n";
  char hops[96];
  std::snprintf(hops, sizeof hops, "%.0f byte-hops per inference (row-major placement: %.0f)",
                m.noc_byte_hops, m.noc_byte_hops_row_major);
  std::cout << "network      " << hops
            << (m.placement.empty() ? "" : ", " + m.placement + " placement") << "\n";
  std::cout << "schedule     latency " << with_commas(m.latency_cycles) << " array cycles, "
            << "interval " << with_commas(m.interval_cycles) << "\n";

  std::cout << "\ncalibration  " << calibration_method_name(quant.options) << " on "
            << quant.samples << " samples (" << calibration_source << ")\n";
  Table qt({"layer", "input range", "source", "weight bits"}, {false, true, false, true});
  for (const LayerMapping& l : m.layers) {
    const LayerQuant* q = quant.layer(l.node);
    qt.add({l.node, range_str(q), q ? join(q->input_source, ", ") : "",
            q && q->weight_bits > 0 ? std::to_string(q->weight_bits) : "-"});
  }
  std::cout << qt.str();
  if (!opt.output.empty()) std::cout << "\nwrote        " << opt.output << "\n";
  return 0;
}

}  // namespace

void add_compile_command(CLI::App& app, Action& action) {
  auto opt = std::make_shared<CompileArgs>();
  CLI::App* cmd = app.add_subcommand(
      "compile",
      "Compile a model for a chip (mapping, quantisation), summarise it, and write the Program");
  cmd->add_option("MODEL", opt->model, "ONNX model")->required();
  cmd->add_option("--chip", opt->chip, "Chip preset name (see `acim chips`) or spec file")
      ->required();
  cmd->add_option("--chips", opt->chips,
                  "Stack this many chips as pipeline stages, or 'auto' for the fewest that fit");
  cmd->add_option("-o,--output", opt->output, "Write the compiled Program to this file (.acim)");
  cmd->add_option(
         "--calibrate", opt->calibrate,
         "Calibration inputs: FILE.npy (one-input model) or NAME=FILE.npy; a file [N, ...] "
         "is N samples when the model's first input dimension is 1 or unknown")
      ->expected(1, -1);
  cmd->add_option("--calibration", opt->calibration,
                  "Activation range method: minmax, or percentile:P (default percentile:99.99)");
  cmd->add_option("--seed", opt->seed, "Seed of the random calibration inputs (no --calibrate)");
  cmd->add_flag("--json", opt->json, "Print the mapping and quantisation as JSON");
  cmd->add_flag("--no-replicate", opt->no_replicate, "Map one copy of each layer");
  cmd->callback([opt, &action] { action = [opt] { return run_compile(*opt); }; });
}

}  // namespace acim::cli
