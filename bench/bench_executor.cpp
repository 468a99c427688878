// Whole-model benchmarks of acim's reference executor on the bundled zoo models, at batch 1
// and 64, after the default pass pipeline. Threads: ACIM_BENCH_THREADS (default 1).
//
//   build/<dir>/bench/acim_bench_executor --benchmark_filter=ds_cnn
//
// Counters: items_per_second = samples per second; GMAC = 1e9 multiply-accumulates per second
// (MACs from acim::describe).
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <iostream>
#include <random>
#include <string>
#include <vector>

#include "acim/executor.hpp"
#include "acim/model_info.hpp"
#include "acim/onnx.hpp"
#include "acim/passes.hpp"
#include "acim/threads.hpp"

namespace {

struct ZooModel {
  const char* name;
  const char* path;  // relative to the source tree
};

const ZooModel kModels[] = {
    {"ds_cnn_s", "zoo/kws/ds_cnn_s.onnx"},
    {"resnet20_cifar", "zoo/resnet/resnet20_cifar.onnx"},
    {"mlp_mnist", "zoo/mlp/mlp_mnist.onnx"},
    {"lstm_kws", "zoo/lstm/lstm_kws.onnx"},
};

// Seeded random normal float inputs with the unknown batch dim set to `batch`.
acim::TensorMap make_inputs(const acim::Graph& graph, int64_t batch) {
  acim::TensorMap inputs;
  std::mt19937 rng(42);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (const acim::ValueInfo& vi : graph.inputs) {
    acim::Shape shape = vi.shape;
    for (int64_t& d : shape)
      if (d < 0) d = batch;
    acim::Tensor t(acim::DType::f32, shape);
    for (float& v : t.span<float>()) v = normal(rng);
    inputs[vi.name] = t;
  }
  return inputs;
}

void run_model(benchmark::State& state, const ZooModel& model) {
  const int64_t batch = state.range(0);
  try {
    acim::Graph graph = acim::load_onnx(std::string(ACIM_SOURCE_DIR) + "/" + model.path);
    const acim::TensorMap inputs = make_inputs(graph, batch);
    for (acim::ValueInfo& vi : graph.inputs)
      if (!vi.shape.empty() && vi.shape[0] < 0) vi.shape[0] = batch;
    const int64_t macs = acim::describe(graph).total_macs;
    acim::run_default_passes(graph);
    acim::Executor exec(std::move(graph));
    for (auto _ : state) {
      acim::TensorMap out = exec.run(inputs);
      benchmark::DoNotOptimize(out);
    }
    state.SetItemsProcessed(state.iterations() * batch);
    state.counters["GMAC"] = benchmark::Counter(static_cast<double>(macs) * 1e-9,
                                                benchmark::Counter::kIsIterationInvariantRate);
  } catch (const acim::Error& e) {
    state.SkipWithError(e.what());
  }
}

}  // namespace

int main(int argc, char** argv) {
  int threads = 1;
  if (const char* env = std::getenv("ACIM_BENCH_THREADS")) threads = std::atoi(env);
  acim::set_num_threads(threads);
  for (const ZooModel& m : kModels) {
    const std::string name = std::string(m.name) + "/cpu_threads:" + std::to_string(threads);
    benchmark::RegisterBenchmark(name.c_str(), [&m](benchmark::State& s) { run_model(s, m); })
        ->ArgName("batch")
        ->Arg(1)
        ->Arg(64)
        ->Unit(benchmark::kMillisecond)
        ->UseRealTime();
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
