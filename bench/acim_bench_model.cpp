// acim_bench_model: times acim's reference executor on one ONNX model and prints one JSON
// object (what bench/bench_vs_ort.py reads).
//
//   acim_bench_model MODEL.onnx [--input NAME=FILE.npy ...] [--batch B] [--threads T]
//                    [--warmup W] [--runs K] [--no-passes] [--output-dir DIR]
//
// The model is imported, the default pass pipeline runs (BN folding, activation fusion, as
// `acim run` does), then W untimed warm-up runs and K timed runs of Executor::run. Inputs not
// given as .npy files are seeded random normal tensors whose unknown first dimension is the
// batch. With --output-dir the outputs of the last run are written there as NAME.npy.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <filesystem>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "acim/executor.hpp"
#include "acim/npy.hpp"
#include "acim/onnx.hpp"
#include "acim/passes.hpp"
#include "acim/threads.hpp"

namespace {

// A file name for a value name: anything but [A-Za-z0-9._-] becomes '_'.
std::string file_stem(const std::string& value) {
  std::string s = value;
  for (char& c : s) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-';
    if (!ok) c = '_';
  }
  return s;
}

acim::Tensor random_input(const acim::ValueInfo& vi, int64_t batch, uint32_t seed) {
  if (vi.dtype != acim::DType::f32)
    throw acim::Error(acim::ErrorKind::unsupported, "input '" + vi.name + "'",
                      "only float32 inputs can be generated",
                      "give this input as a file: --input " + vi.name + "=FILE.npy");
  acim::Shape shape = vi.shape;
  for (size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] >= 0) continue;
    if (d != 0)
      throw acim::Error(acim::ErrorKind::invalid, "input '" + vi.name + "'",
                        "dimension " + std::to_string(d) + " is unknown",
                        "give this input as a file: --input " + vi.name + "=FILE.npy");
    shape[d] = batch;
  }
  acim::Tensor t(acim::DType::f32, shape);
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (float& v : t.span<float>()) v = normal(rng);
  return t;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Times acim's reference executor on one ONNX model; prints JSON."};
  std::string model;
  std::vector<std::string> input_args;
  int64_t batch = 1;
  int threads = 1;
  int warmup = 5;
  int runs = 20;
  bool no_passes = false;
  std::string output_dir;
  app.add_option("model", model, "ONNX model")->required();
  app.add_option("--input", input_args, "NAME=FILE.npy (repeatable)");
  app.add_option("--batch", batch, "batch for generated inputs")->check(CLI::Range(1, 1 << 20));
  app.add_option("--threads", threads, "CPU threads")->check(CLI::Range(1, 1024));
  app.add_option("--warmup", warmup, "untimed runs first")->check(CLI::Range(0, 1 << 20));
  app.add_option("--runs", runs, "timed runs (median reported)")->check(CLI::Range(1, 1 << 20));
  app.add_flag("--no-passes", no_passes, "run the graph as imported, without the passes");
  app.add_option("--output-dir", output_dir, "write the last run's outputs here as NAME.npy");
  CLI11_PARSE(app, argc, argv);

  try {
    acim::set_num_threads(threads);
    acim::Graph graph = acim::load_onnx(model);
    if (!no_passes) acim::run_default_passes(graph);

    std::map<std::string, std::string> files;
    for (const std::string& arg : input_args) {
      const size_t eq = arg.find('=');
      if (eq == std::string::npos || eq == 0)
        throw acim::Error(acim::ErrorKind::invalid, "--input " + arg, "expected NAME=FILE.npy");
      files[arg.substr(0, eq)] = arg.substr(eq + 1);
    }
    acim::TensorMap inputs;
    uint32_t seed = 1;
    for (const acim::ValueInfo& vi : graph.inputs) {
      auto it = files.find(vi.name);
      if (it != files.end()) {
        inputs[vi.name] = acim::load_npy(it->second);
        files.erase(it);
      } else {
        inputs[vi.name] = random_input(vi, batch, seed++);
      }
    }
    if (!files.empty())
      throw acim::Error(acim::ErrorKind::invalid, "--input " + files.begin()->first,
                        "the model has no input of this name");

    acim::Executor exec(std::move(graph));
    acim::TensorMap outputs;
    for (int i = 0; i < warmup; ++i) outputs = exec.run(inputs);
    std::vector<double> times_ms;
    for (int i = 0; i < runs; ++i) {
      const auto t0 = std::chrono::steady_clock::now();
      outputs = exec.run(inputs);
      const auto t1 = std::chrono::steady_clock::now();
      times_ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
    }

    nlohmann::json out_names = nlohmann::json::object();
    if (!output_dir.empty()) {
      std::filesystem::create_directories(output_dir);
      for (const auto& [name, t] : outputs) {
        const std::string file = file_stem(name) + ".npy";
        acim::save_npy(std::filesystem::path(output_dir) / file, t);
        out_names[name] = file;
      }
    }
    nlohmann::json j;
    j["model"] = model;
    j["threads"] = threads;
    j["passes"] = !no_passes;
    j["warmup"] = warmup;
    j["runs"] = runs;
    j["median_ms"] = median(times_ms);
    j["min_ms"] = *std::min_element(times_ms.begin(), times_ms.end());
    j["times_ms"] = times_ms;
    nlohmann::json shapes = nlohmann::json::object();
    for (const auto& [name, t] : inputs) shapes[name] = t.shape();
    j["input_shapes"] = shapes;
    j["outputs"] = out_names;
    std::cout << j.dump() << "\n";
  } catch (const acim::Error& e) {
    std::cerr << "acim_bench_model: " << e.what() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "acim_bench_model: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
