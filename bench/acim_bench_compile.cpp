// acim_bench_compile: times the compiler's steps on one ONNX model and prints one JSON object
// (what scripts/bench_compile.sh reads): the import (load_onnx), the default passes, the
// mapping (map_graph: tiling, replication, chip split, placement, schedule) and, with
// --program, the whole compile_program (passes, mapping and quantisation with its calibration
// runs on the reference executor) on a fresh import, and with --price the cost model's pricing of
// the compiled Program (count_events + price at the reference activities; issue goal: < 100 ms
// for a ResNet-50-sized Program on one core). Each is the median of --runs runs.
//
//   acim_bench_compile MODEL.onnx --chip NAME|FILE [--chips N|auto] [--runs K] [--program]
//                      [--price] [--threads T]
//
// Calibration uses compile_program's own random inputs (float N(0, 1), token ids uniform).
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "acim/chip.hpp"
#include "acim/cost.hpp"
#include "acim/error.hpp"
#include "acim/mapping.hpp"
#include "acim/onnx.hpp"
#include "acim/passes.hpp"
#include "acim/program.hpp"
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

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Times acim's compiler steps on one model; prints JSON"};
  std::string model, chip_name, chips;
  int runs = 5;
  bool program = false;
  bool price = false;
  int threads = 0;
  app.add_option("model", model, "ONNX model")->required();
  app.add_option("--chip", chip_name, "chip preset or TOML file")->required();
  app.add_option("--chips", chips, "chip count or 'auto' (default: one chip)");
  app.add_option("--runs", runs, "timed runs of each step (median)")->check(CLI::Range(1, 1000));
  app.add_flag("--program", program, "also time compile_program (with calibration)");
  app.add_flag("--price", price, "also time the cost model's pricing of the compiled Program");
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

    std::vector<double> t_import, t_passes, t_map, t_program, t_price;
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
    acim::CompileOptions co;
    co.mapping = mo;
    if (program) {
      for (int r = 0; r < runs; ++r) {
        auto t0 = Clock::now();
        acim::Program p = acim::compile_program(acim::load_onnx(model), chip, co);
        t_program.push_back(seconds_since(t0));
      }
    }
    double energy_pj = 0;
    if (price) {
      co.random_calibration = 0;  // pricing at the reference activities needs no calibration
      const acim::Program p = acim::compile_program(imported, chip, co);
      for (int r = 0; r < runs; ++r) {
        auto t0 = Clock::now();
        energy_pj = acim::price(p).energy_pj();
        t_price.push_back(seconds_since(t0));
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
    if (price) {
      j["price_s"] = median(t_price);
      j["energy_pj"] = energy_pj;
    }
    std::cout << j.dump() << "\n";
  } catch (const acim::Error& e) {
    std::cerr << "acim_bench_compile: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
