// acim: the command line of the analog compute-in-memory SDK.
#include <cstdio>
#include <exception>
#include <new>

#include "acim/error.hpp"
#include "acim/tensor.hpp"
#include "acim/threads.hpp"
#include "commands.hpp"

int main(int argc, char** argv) {
  CLI::App app{
      "acim: import neural networks, compile them for analog compute-in-memory chips, and run "
      "them on a virtual chip.\n"};
  app.name("acim");
  app.set_version_flag("--version", "acim 0.1.0");
  app.require_subcommand(1);
  int threads = 0;
  int64_t max_tensor_mb = 8192;
  app.add_option("--threads", threads, "CPU threads for the kernels (default: all cores)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--max-tensor-mb", max_tensor_mb,
                 "Refuse any tensor larger than this many MiB (guards against hostile files)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();

  acim::cli::Action action;
  acim::cli::add_info_command(app, action);
  acim::cli::add_run_command(app, action);
  acim::cli::add_ops_command(app, action);
  acim::cli::add_array_command(app, action);
  acim::cli::add_chips_command(app, action);
  acim::cli::add_compile_command(app, action);
  acim::cli::add_eval_command(app, action);
  acim::cli::add_validate_command(app, action);
  acim::cli::add_report_command(app, action);
  acim::cli::add_kws_command(app, action);
  acim::cli::add_sweep_command(app, action);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  try {
    acim::set_num_threads(threads);
    acim::set_max_tensor_bytes(static_cast<size_t>(max_tensor_mb) << 20);
    return action();
  } catch (const acim::Error& e) {
    std::fprintf(stderr, "acim: error: %s\n", e.what());
    return 1;
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "acim: error: out of memory (try a smaller batch or --max-tensor-mb)\n");
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "acim: error: %s\n", e.what());
    return 1;
  }
}
