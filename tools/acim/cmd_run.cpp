// acim run MODEL --input [NAME=]FILE.npy ...: run an ONNX model on the reference executor, or a
// compiled Program (.acim) on a simulated chip instance (with --compare: against the reference).
#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>

#include "acim/crossbar.hpp"
#include "acim/executor.hpp"
#include "acim/npy.hpp"
#include "acim/onnx.hpp"
#include "acim/passes.hpp"
#include "acim/program.hpp"
#include "acim/sim.hpp"
#include "args.hpp"
#include "commands.hpp"

namespace acim::cli {

namespace {

struct RunOptions {
  std::string model;
  std::vector<std::string> inputs;
  std::string output_dir;
  bool json = false;
  bool raw = false;
  // Program files only.
  uint64_t seed = 1;
  int64_t instance = 0;
  bool ideal = false;
  std::string drift_time;
  bool compare = false;
  int repeat = 1;
};

// " (median of 5 runs)" when the run was repeated.
std::string repeat_note(int repeat) {
  return repeat > 1 ? " (median of " + std::to_string(repeat) + " runs)" : "";
}

// Output names become file names: keep [A-Za-z0-9._-], replace the rest, never a path.
std::string file_name_for(const std::string& value) {
  std::string s;
  for (char c : value)
    s += (std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-') ? c : '_';
  if (s.empty() || s[0] == '.') s = "_" + s;
  return s + ".npy";
}

struct Stats {
  double min = 0, max = 0, mean = 0;
};
Stats stats_of(const std::vector<double>& v) {
  Stats s;
  if (v.empty()) return s;
  s.min = *std::min_element(v.begin(), v.end());
  s.max = *std::max_element(v.begin(), v.end());
  double sum = 0;
  for (double x : v) sum += x;
  s.mean = sum / static_cast<double>(v.size());
  return s;
}

int run_run(const RunOptions& opt) {
  const bool program_file = names_program(opt.model);
  if (!program_file && (opt.ideal || opt.compare || !opt.drift_time.empty() || opt.instance != 0))
    throw Error(ErrorKind::invalid, opt.model,
                "--ideal, --compare, --drift-time and --instance apply to compiled programs",
                "compile it first: acim compile " + opt.model + " --chip NAME -o MODEL.acim");
  Graph graph;
  Program program;
  if (program_file) {
    program = load_program(opt.model);
    graph = program.graph;
  } else {
    graph = load_onnx(opt.model);
    if (!opt.raw) run_default_passes(graph);
  }
  TensorMap inputs = read_inputs(graph, opt.inputs);
  const std::vector<ValueInfo> graph_outputs = graph.outputs;
  const std::string chip_name = program.chip.name;
  TensorMap outputs, reference;
  // Runs `run` opt.repeat times; the outputs are the first run's, the time the median.
  std::vector<double> times_ms;
  auto timed = [&](auto&& run) {
    for (int r = 0; r < opt.repeat; ++r) {
      const auto t0 = std::chrono::steady_clock::now();
      TensorMap y = run();
      times_ms.push_back(
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
      if (r == 0) outputs = std::move(y);
    }
  };
  if (program_file) {
    SimOptions so;
    so.seed = opt.seed;
    so.instance = opt.instance;
    so.ideal = opt.ideal;
    if (!opt.drift_time.empty()) so.time_since_programming_s = parse_duration("--drift-time", opt.drift_time);
    // A run at one time: each layer's weights can go once its arrays are programmed. The
    // reference first: the Program is moved into the chip instance, which frees them (the
    // graph here shares them).
    so.keep_weights = false;
    if (opt.compare) reference = Executor(graph).run(inputs);
    graph = Graph();
    ChipInstance chip(std::move(program), so);
    timed([&] { return chip.run(inputs); });
  } else {
    Executor exec(graph);
    timed([&] { return exec.run(inputs); });
  }
  std::vector<double> sorted = times_ms;
  std::sort(sorted.begin(), sorted.end());
  const size_t n = sorted.size();
  const double ms = n % 2 == 1 ? sorted[n / 2] : 0.5 * (sorted[n / 2 - 1] + sorted[n / 2]);

  std::map<std::string, std::string> files;
  if (!opt.output_dir.empty()) {
    std::filesystem::path dir(opt.output_dir);
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec)
      throw Error(ErrorKind::io, opt.output_dir, "cannot create the output folder: " + ec.message());
    for (const auto& o : graph_outputs) {
      std::filesystem::path p = dir / file_name_for(o.name);
      save_npy(p, outputs.at(o.name));
      files[o.name] = p.string();
    }
  }

  if (opt.json) {
    nlohmann::json j;
    j["model"] = opt.model;
    j["time_ms"] = ms;  // median over --repeat runs
    j["times_ms"] = times_ms;
    if (program_file) {
      j["chip"] = chip_name;
      j["seed"] = opt.seed;
      j["instance"] = opt.instance;
      j["ideal"] = opt.ideal;
    }
    j["outputs"] = nlohmann::json::array();
    for (const auto& o : graph_outputs) {
      const Tensor& t = outputs.at(o.name);
      std::vector<double> v = t.to_doubles();
      Stats s = stats_of(v);
      nlohmann::json jo = {{"name", o.name}, {"dtype", dtype_name(t.dtype())}, {"shape", t.shape()},
                           {"min", s.min},   {"max", s.max},                  {"mean", s.mean}};
      if (v.size() <= 4096) jo["values"] = v;
      if (files.count(o.name)) jo["file"] = files[o.name];
      if (opt.compare && t.dtype() == DType::f32)
        jo["relative_error_vs_reference"] = relative_error(t, reference.at(o.name));
      j["outputs"].push_back(jo);
    }
    std::cout << j.dump(2) << "\n";
    return 0;
  }

  if (program_file)
    std::printf("ran %s on chip '%s' (instance %lld, seed %llu%s) in %.3f ms%s\n",
                opt.model.c_str(), chip_name.c_str(), static_cast<long long>(opt.instance),
                static_cast<unsigned long long>(opt.seed), opt.ideal ? ", ideal" : "", ms,
                repeat_note(opt.repeat).c_str());
  else
    std::printf("ran %s in %.3f ms%s\n", opt.model.c_str(), ms, repeat_note(opt.repeat).c_str());
  for (const auto& o : graph_outputs) {
    const Tensor& t = outputs.at(o.name);
    std::vector<double> v = t.to_doubles();
    Stats s = stats_of(v);
    std::printf("%s  %s%s  min %.6g  max %.6g  mean %.6g", o.name.c_str(), dtype_name(t.dtype()).c_str(),
                shape_str(t.shape()).c_str(), s.min, s.max, s.mean);
    if (files.count(o.name)) std::printf("  -> %s", files[o.name].c_str());
    std::printf("\n");
    if (opt.compare && t.dtype() == DType::f32)
      std::printf("  relative error vs the float reference: %.4g\n",
                  relative_error(t, reference.at(o.name)));
    if (!v.empty() && v.size() <= 16) {
      std::printf("  values:");
      for (double x : v) std::printf(" %.6g", x);
      std::printf("\n");
    }
    if (t.rank() == 2 && t.dim(1) > 1) {  // classifier-like: argmax per row
      for (int64_t r = 0; r < std::min<int64_t>(t.dim(0), 8); ++r) {
        auto row = v.begin() + r * t.dim(1);
        auto best = std::max_element(row, row + t.dim(1));
        std::printf("  row %lld: argmax %lld (%.6g)\n", static_cast<long long>(r),
                    static_cast<long long>(best - row), *best);
      }
    }
  }
  return 0;
}

}  // namespace

void add_run_command(CLI::App& app, Action& action) {
  auto opt = std::make_shared<RunOptions>();
  CLI::App* cmd = app.add_subcommand(
      "run",
      "Run an ONNX model on the float32 reference executor (the ideal digital twin), or a "
      "compiled program (.acim, from acim compile -o) on a simulated chip instance");
  cmd->add_option("model", opt->model, "ONNX model (.onnx) or compiled program (.acim)")->required();
  cmd->add_option("-i,--input", opt->inputs,
                  "Input tensor as NAME=FILE.npy (or just FILE.npy for a one-input model); "
                  "repeat for each input")
      ->required();
  cmd->add_option("-o,--output-dir", opt->output_dir,
                  "Write each output to DIR/<output name>.npy (created if missing)");
  cmd->add_flag("--json", opt->json, "Print machine-readable JSON");
  cmd->add_flag("--raw", opt->raw, "Run the graph as imported, without the compile passes");
  cmd->add_option("--seed", opt->seed, "Program: seed of the chip's random draws")
      ->capture_default_str();
  cmd->add_option("--instance", opt->instance,
                  "Program: which chip instance (same seed, another draw of static errors)")
      ->capture_default_str();
  cmd->add_flag("--ideal", opt->ideal,
                "Program: every non-ideality off (checks the mapping reproduces the reference)");
  cmd->add_option("--drift-time", opt->drift_time,
                  "Program: time since programming, e.g. 1h, 1d, 1y (default: the chip spec's)");
  cmd->add_option("--repeat", opt->repeat,
                  "Run N times and report the median time (outputs: the first run's; a chip "
                  "instance is programmed once, later runs draw fresh read noise)")
      ->capture_default_str()
      ->check(CLI::Range(1, 100000));
  cmd->add_flag("--compare", opt->compare,
                "Program: also run the float reference and print each output's relative error");
  cmd->callback([opt, &action] { action = [opt] { return run_run(*opt); }; });
}

void add_ops_command(CLI::App& app, Action& action) {
  CLI::App* cmd = app.add_subcommand("ops", "List the ONNX op types acim supports");
  cmd->callback([&action] {
    action = [] {
      auto ops = supported_ops();
      std::cout << ops.size() << " supported ONNX op types (default domain, opsets 11-21):\n";
      for (const auto& op : ops) std::cout << "  " << op << "\n";
      return 0;
    };
  });
}

}  // namespace acim::cli
