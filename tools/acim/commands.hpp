// The `acim` command line: one function per subcommand, each adding itself to the CLI11 app.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>

namespace acim::cli {

// A subcommand's action, run after parsing; returns the process exit code.
using Action = std::function<int()>;

void add_info_command(CLI::App& app, Action& action);
void add_run_command(CLI::App& app, Action& action);
void add_ops_command(CLI::App& app, Action& action);
void add_array_command(CLI::App& app, Action& action);
void add_chips_command(CLI::App& app, Action& action);
void add_compile_command(CLI::App& app, Action& action);
void add_eval_command(CLI::App& app, Action& action);
void add_validate_command(CLI::App& app, Action& action);
void add_report_command(CLI::App& app, Action& action);
void add_kws_command(CLI::App& app, Action& action);
void add_sweep_command(CLI::App& app, Action& action);

}  // namespace acim::cli
