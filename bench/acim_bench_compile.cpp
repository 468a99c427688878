// acim_bench_compile: times the compiler's steps on one ONNX model and prints one JSON object
// (what scripts/bench_compile.sh reads): the import (load_onnx), the default passes, the
// mapping (map_graph: tiling, replication, chip split, placement, schedule) and, with
// --program, the whole compile_program (passes, mapping and quantisation with its calibration
// runs on the reference executor) on a fresh import. Each is the median of --runs runs.
//
//   acim_bench_compile MODEL.onnx --chip NAME|FILE [--chips N|auto] [--runs K] [--program]
//                      [--threads T]
//
// The calibration inputs of --program are N(0, 1) float inputs from acim::RandomStream, and
// zeros for integer inputs (token ids), so that models with int64 inputs compile too.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "acim/chip.hpp"
#include "acim/error.hpp"
#include "acim/mapping.hpp"
#include "acim/onnx.hpp"
#include "acim/passes.hpp"
#include "acim/program.hpp"
#include "acim/rng.hpp"
#include "acim/threads.hpp"

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// `samples` input sets in the graph's declared shapes (unknown dims = 1).
std::vector<acim::TensorMap> calibration_inputs(const acim::Graph& g, int samples) {
  std::vector<acim::TensorMap> out;
  for (int s = 0; s < samples; ++s) {
    acim::TensorMap m;
    for (size_t k = 0; k < g.inputs.size(); ++k) {
      const acim::ValueInfo& in = g.inputs[k];
      acim::Shape shape = in.shape;
      for (int64_t& d : shape) d = d > 0 ? d : 1;
      acim::Tensor t(in.dtype, shape);  // zero-filled
      if (in.dtype == acim::DType::f32)
        acim::RandomStream(0, {static_cast<uint64_t>(s), k})
            .normal(t.data<float>(), static_cast<size_t>(t.numel()));
      m[in.name] = std::move(t);
    }
    out.push_back(std::move(m));
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Times acim's compiler steps on one model; prints JSON"};
  std::string model, chip_name, chips;
  int runs = 5;
  bool program = false;
  int threads = 0;
  app.add_option("model", model, "ONNX model")->required();
  app.add_option("--chip", chip_name, "chip preset or TOML file")->required();
  app.add_option("--chips", chips, "chip count or 'auto' (default: one chip)");
  app.add_option("--runs", runs, "timed runs of each step (median)")->check(CLI::Range(1, 1000));
  app.add_flag("--program", program, "also time compile_program (with calibration)");
  app.add_option("--threads", threads, "CPU threads for the kernels (default: all cores)");
  CLI11_PARSE(app, argc, argv);
  acim::set_num_threads(threads);
  try {
    const acim::ChipSpec chip = acim::chip_spec_from_name_or_file(chip_name);
    acim::MappingOptions mo;
    mo.model = model;
    if (chips == "auto")
      mo.chips_auto = true;
    else if (!chips.empty())
      mo.chips = std::stoi(chips);

    std::vector<double> t_import, t_passes, t_map, t_program;
    acim::Graph imported;
    acim::Mapping m;
    for (int r = 0; r < runs; ++r) {
      auto t0 = Clock::now();
      imported = acim::load_onnx(model);
      t_import.push_back(seconds_since(t0));
      acim::Graph g = imported;
      t0 = Clock::now();
      acim::run_default_passes(g);
      t_passes.push_back(seconds_since(t0));
      t0 = Clock::now();
      m = acim::map_graph(g, chip, mo);
      t_map.push_back(seconds_since(t0));
    }
    if (program) {
      acim::CompileOptions co;
      co.mapping = mo;
      co.calibration_inputs = calibration_inputs(imported, co.random_calibration);
      for (int r = 0; r < runs; ++r) {
        auto t0 = Clock::now();
        acim::Program p = acim::compile_program(acim::load_onnx(model), chip, co);
        t_program.push_back(seconds_since(t0));
      }
    }
    nlohmann::json j;
    j["model"] = model;
    j["chip"] = chip.name;
    j["chips"] = m.chips;
    j["weights"] = m.weights;
    j["layers"] = m.layers.size();
    j["arrays_used"] = m.arrays_used;
    j["placement"] = m.placement;
    j["noc_byte_hops"] = m.noc_byte_hops;
    j["noc_byte_hops_row_major"] = m.noc_byte_hops_row_major;
    j["latency_cycles"] = m.latency_cycles;
    j["interval_cycles"] = m.interval_cycles;
    j["runs"] = runs;
    j["import_s"] = median(t_import);
    j["passes_s"] = median(t_passes);
    j["map_s"] = median(t_map);
    if (program) j["program_s"] = median(t_program);
    std::cout << j.dump() << "\n";
  } catch (const acim::Error& e) {
    std::cerr << "acim_bench_compile: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
