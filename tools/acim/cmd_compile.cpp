// acim compile MODEL --chip NAME|FILE [--chips N|auto] [--json]: maps the model's weight
// matrices onto the chip's arrays and prints, per analog layer, the matrix, tiles, replication,
// arrays, utilisation and cycles; then the digital-unit ops and the totals (arrays used /
// available, utilisation, chips). No Program file yet.
#include <cstdio>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "acim/chip.hpp"
#include "acim/error.hpp"
#include "acim/mapping.hpp"
#include "acim/onnx.hpp"
#include "acim/passes.hpp"
#include "commands.hpp"
#include "format.hpp"

namespace acim::cli {

namespace {

struct CompileOptions {
  std::string model;
  std::string chip;
  std::string chips;  // "", "N" or "auto"
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

int run_compile(const CompileOptions& opt) {
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
  Graph graph = load_onnx(opt.model);
  run_default_passes(graph);
  Mapping m = map_graph(graph, chip, mo);

  if (opt.json) {
    nlohmann::json j;
    j["model"] = opt.model;
    j["chip"] = m.chip_name;
    j["chips"] = m.chips;
    j["arrays_per_chip"] = m.arrays_per_chip;
    j["arrays_available"] = m.arrays_available;
    j["arrays_used"] = m.arrays_used;
    j["arrays_unreplicated"] = m.tiles;
    j["weights"] = m.weights;
    j["utilisation"] = m.utilisation();
    j["cores_used"] = m.cores_used;
    j["bottleneck_cycles"] = m.bottleneck_cycles;
    j["bottleneck_cycles_unreplicated"] = m.bottleneck_cycles_unreplicated;
    j["layers"] = nlohmann::json::array();
    for (const LayerMapping& l : m.layers) {
      nlohmann::json mats = nlohmann::json::array();
      for (const MatrixView& mv : l.matrices)
        mats.push_back(
            {{"role", mv.role}, {"rows", mv.rows}, {"cols", mv.cols}, {"count", mv.count}});
      j["layers"].push_back({{"name", l.node},
                             {"op", l.op},
                             {"matrices", mats},
                             {"groups_packed", l.groups_packed},
                             {"tiles", l.tiles},
                             {"row_blocks", l.row_blocks},
                             {"col_blocks", l.col_blocks},
                             {"partial_sum_adds", l.partial_sum_adds},
                             {"replication", l.replication},
                             {"arrays", l.arrays()},
                             {"weights", l.weights},
                             {"utilisation", l.utilisation()},
                             {"mvms", l.mvms},
                             {"cycles", l.cycles()},
                             {"chip", l.chip},
                             {"last_chip", l.last_chip},
                             {"first_core", l.first_core},
                             {"last_core", l.last_core},
                             {"digital", l.digital}});
    }
    j["digital"] = nlohmann::json::array();
    for (const DigitalOp& d : m.digital)
      j["digital"].push_back({{"name", d.node}, {"op", d.op}, {"unit", d.unit}, {"chip", d.chip}});
    j["boundaries"] = nlohmann::json::array();
    for (const StageBoundary& b : m.boundaries)
      j["boundaries"].push_back(
          {{"from_chip", b.from}, {"elements", b.elements}, {"bytes", b.bytes}});
    std::cout << j.dump(2) << "\n";
    return 0;
  }

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
  return 0;
}

}  // namespace

void add_compile_command(CLI::App& app, Action& action) {
  auto opt = std::make_shared<CompileOptions>();
  CLI::App* cmd = app.add_subcommand(
      "compile", "Map a model's weight matrices onto a chip's arrays and summarise the mapping");
  cmd->add_option("MODEL", opt->model, "ONNX model")->required();
  cmd->add_option("--chip", opt->chip, "Chip preset name (see `acim chips`) or spec file")
      ->required();
  cmd->add_option("--chips", opt->chips,
                  "Stack this many chips as pipeline stages, or 'auto' for the fewest that fit");
  cmd->add_flag("--json", opt->json, "Print the mapping as JSON");
  cmd->add_flag("--no-replicate", opt->no_replicate, "Map one copy of each layer");
  cmd->callback([opt, &action] { action = [opt] { return run_compile(*opt); }; });
}

}  // namespace acim::cli
