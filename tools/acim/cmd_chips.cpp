// acim chips: the built-in chip presets as a table; `acim chips show NAME [--full]` prints one as
// TOML; `acim chips check FILE` validates a user's spec and prints its summary.
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>

#include "acim/chip.hpp"
#include "acim/device.hpp"
#include "acim/error.hpp"
#include "commands.hpp"
#include "format.hpp"

namespace acim::cli {

namespace {

std::string fixed(double v, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

std::string hierarchy(const ChipSpec& s) {
  return std::to_string(s.cores) + " x " + std::to_string(s.core.tiles) + " x " +
         std::to_string(s.tile.arrays);
}

std::string array_size(const ChipSpec& s) {
  return std::to_string(s.array.rows) + "x" + std::to_string(s.array.cols);
}

int list_presets() {
  Table t({"name", "node", "cores x tiles x arrays", "array", "weights/array", "cell", "weights",
           "peak TOPS"},
          {false, true, true, true, true, false, true, true});
  for (const std::string& name : chip_preset_names()) {
    ChipSpec s = chip_preset(name);
    t.add({name, std::to_string(s.technology_nm) + " nm", hierarchy(s), array_size(s),
           std::to_string(s.array.rows) + "x" + std::to_string(s.array.logical_cols()),
           cell_type_name(s.array.cell.type), si(static_cast<double>(s.weight_capacity())),
           fixed(s.peak_tops(), 2)});
  }
  std::cout << t.str();
  std::cout << "\n`acim chips show NAME` prints a preset as TOML; `acim chips check FILE` checks "
               "your own.\n";
  return 0;
}

// The preset's file (with its source comments), or with full=true every key with its value
// (defaults included): the reference of what a spec file may set.
int show_preset(const std::string& name, bool full) {
  if (full)
    std::cout << to_toml(chip_preset(name));
  else
    std::cout << chip_preset_toml(name);
  return 0;
}

int check_file(const std::string& path) {
  ChipSpec s = chip_spec_from_name_or_file(path);
  Table t({"property", "value"}, {false, false});
  t.add({"chip", s.name});
  if (!s.description.empty()) t.add({"description", s.description});
  t.add({"technology", std::to_string(s.technology_nm) + " nm, " + fixed(s.clock_mhz, 1) +
                           " MHz, " + fixed(s.supply_v, 2) + " V"});
  t.add(
      {"cores x tiles x arrays", hierarchy(s) + " = " + with_commas(s.total_arrays()) + " arrays"});
  t.add({"array", array_size(s) + " " + cell_type_name(s.array.cell.type) + ", " +
                      std::to_string(s.array.logical_cols()) + " weight columns, " +
                      std::to_string(s.adcs_per_array()) + " ADCs of " +
                      std::to_string(s.array.adc.bits) + " b"});
  t.add({"weight capacity", with_commas(s.weight_capacity()) + " weights"});
  t.add({"MVM time", fixed(s.mvm_time_ns(), 1) + " ns"});
  t.add({"peak",
         fixed(s.peak_macs_per_cycle(), 1) + " MACs/cycle, " + fixed(s.peak_tops(), 3) + " TOPS"});
  std::cout << path << ": ok\n" << t.str();
  return 0;
}

}  // namespace

void add_chips_command(CLI::App& app, Action& action) {
  CLI::App* cmd = app.add_subcommand(
      "chips", "List the built-in chip presets; show one as TOML; check a chip spec file");
  cmd->callback([cmd, &action] {
    if (cmd->get_subcommands().empty()) action = [] { return list_presets(); };
  });
  auto name = std::make_shared<std::string>();
  CLI::App* show = cmd->add_subcommand("show", "Print a preset's TOML (the file, with sources)");
  auto full = std::make_shared<bool>(false);
  show->add_option("NAME", *name, "Preset name (see `acim chips`)")->required();
  show->add_flag("--full", *full, "Print every key with its value, defaults included");
  show->callback(
      [name, full, &action] { action = [name, full] { return show_preset(*name, *full); }; });
  auto path = std::make_shared<std::string>();
  CLI::App* check =
      cmd->add_subcommand("check", "Validate a chip spec file (or a preset) and summarise it");
  check->add_option("FILE", *path, "Chip spec (.toml) or preset name")->required();
  check->callback([path, &action] { action = [path] { return check_file(*path); }; });
}

}  // namespace acim::cli
