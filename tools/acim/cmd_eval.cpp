// acim eval PROGRAM.acim --data DIR [--instances K] [--drift-time 1d]: accuracy of a compiled
// program on a labelled set, float reference vs K simulated chip instances.
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>

#include "acim/eval.hpp"
#include "acim/program.hpp"
#include "args.hpp"
#include "commands.hpp"
#include "progress.hpp"

namespace acim::cli {

namespace {

struct EvalCliOptions {
  std::string program;
  std::string data;
  int instances = 4;
  uint64_t seed = 1;
  std::string drift_time;
  int64_t batch = 64;
  bool ideal = false;
  bool json = false;
};

int run_eval(const EvalCliOptions& o) {
  if (!names_program(o.program))
    throw Error(ErrorKind::invalid, o.program, "is not a compiled program",
                "compile it first: acim compile MODEL.onnx --chip NAME -o " + o.program);
  Program program = load_program(o.program);
  const ValueInfo* out = program.graph.value_info(program.graph.outputs.at(0).name);
  int64_t classes = 0;
  if (out != nullptr && out->shape_known && !out->shape.empty() && out->shape.back() > 0)
    classes = out->shape.back();
  LabelledSet data = load_labelled_set(o.data, program.graph, classes);
  EvalOptions eo;
  eo.instances = o.instances;
  eo.seed = o.seed;
  eo.batch = o.batch;
  eo.ideal = o.ideal;
  if (!o.drift_time.empty()) eo.time_since_programming_s = parse_duration("--drift-time", o.drift_time);
  const double t = eo.time_since_programming_s >= 0 ? eo.time_since_programming_s
                                                    : program.chip.array.time_since_programming_s;
  Progress bar("eval");
  eo.progress = [&bar](int64_t done, int64_t total) { bar.update(done, total); };
  EvalResult r = evaluate(program, data, eo);
  bar.finish();
  if (o.json) {
    nlohmann::json j = {{"program", o.program},          {"chip", program.chip.name},
                        {"data", o.data},                {"samples", r.samples},
                        {"instances", o.instances},      {"seed", o.seed},
                        {"time_since_programming_s", t}, {"ideal", o.ideal},
                        {"float_accuracy", r.float_accuracy},
                        {"chip_accuracy", r.chip_accuracy},
                        {"chip_accuracy_mean", r.mean},  {"chip_accuracy_std", r.std},
                        {"chip_time_s", r.time_s}};
    std::cout << j.dump(2) << "\n";
    return 0;
  }
  std::printf("%s on chip '%s': %lld samples from %s, %d instance%s, %g s after programming\n",
              o.program.c_str(), program.chip.name.c_str(), static_cast<long long>(r.samples),
              o.data.c_str(), o.instances, o.instances == 1 ? "" : "s", t);
  std::printf("  float reference   %6.2f %%\n", 100.0 * r.float_accuracy);
  std::printf("  on chip           %6.2f %% +- %.2f  (mean +- std over instances)\n", 100.0 * r.mean,
              100.0 * r.std);
  std::printf("  drop              %6.2f points\n", 100.0 * (r.float_accuracy - r.mean));
  for (size_t i = 0; i < r.chip_accuracy.size() && r.chip_accuracy.size() > 1; ++i)
    std::printf("    instance %zu      %6.2f %%\n", i, 100.0 * r.chip_accuracy[i]);
  std::printf("  chip simulation   %.2f s (%.0f samples/s)\n", r.time_s,
              r.time_s > 0 ? static_cast<double>(r.samples * o.instances) / r.time_s : 0.0);
  return 0;
}

}  // namespace

void add_eval_command(CLI::App& app, Action& action) {
  auto opt = std::make_shared<EvalCliOptions>();
  CLI::App* cmd = app.add_subcommand(
      "eval", "Accuracy of a compiled program on a labelled set: float vs simulated chip instances");
  cmd->add_option("program", opt->program, "Compiled program (.acim, from acim compile -o)")->required();
  cmd->add_option("--data", opt->data, "Folder of NAME_x.npy (inputs) / NAME_y.npy (labels) pairs")
      ->required();
  cmd->add_option("--instances", opt->instances, "Monte-Carlo chip instances")
      ->capture_default_str()
      ->check(CLI::Range(1, 100000));
  cmd->add_option("--seed", opt->seed, "Seed of the chips' random draws")->capture_default_str();
  cmd->add_option("--drift-time", opt->drift_time,
                  "Time since programming, e.g. 1h, 1d, 1y (default: the chip spec's)");
  cmd->add_option("--batch", opt->batch, "Samples per run")->capture_default_str()->check(CLI::Range(1, 1 << 20));
  cmd->add_flag("--ideal", opt->ideal, "Every non-ideality off (the mapping alone)");
  cmd->add_flag("--json", opt->json, "Print machine-readable JSON");
  cmd->callback([opt, &action] { action = [opt] { return run_eval(*opt); }; });
}

}  // namespace acim::cli
