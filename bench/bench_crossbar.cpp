// Throughput of one crossbar array's analog MVM (CrossbarArray::mvm) against a plain float sgemm
// of the same logical shape, 1 thread unless ACIM_BENCH_THREADS says otherwise.
//
//   build/<dir>/bench/acim_bench_crossbar [--benchmark_filter=rram] [--benchmark_repetitions=5]
//   scripts/bench_crossbar.sh     (medians of repetitions, as a markdown table of ratios)
//
// Shapes: an N x N weight matrix (N = 256, 1024) on an array of N rows and 2N physical columns
// (differential pairs), inputs [batch, N], batch 1 and 256. Configurations:
//   sgemm   cblas_sgemm of x[batch, N] * W[N, N] (the baseline, OpenBLAS single-threaded)
//   sgemm_phys  cblas_sgemm of x[batch, N] * G[N, 2N], the array's physical cell matrix
//   off     CrossbarArray::mvm with every non-ideality off (ideal cells, no DAC/ADC)
//   rram    default RRAM params: programming, faults, relaxation, 16 levels, 8-bit DAC/ADC,
//           per-MVM read noise (the output-side variance GEMM + one normal per output)
//   rram_noadc  as rram with the ADC off (read noise alone on top of the GEMM)
//   rram_adc_noise  as rram with ADC noise of 1 LSB per conversion too (drawn with the read
//           noise as one normal per conversion)
//   pcm     default PCM params (the aihwkit PCMLikeNoiseModel statistics), 8-bit DAC/ADC,
//           ADC noise 1 LSB per conversion (the analogue of aihwkit's out_noise)
// Counters: items_per_second = samples (input vectors) per second; ratio = time of this MVM /
// time of the sgemm of the same shape, the sgemm timed in the same benchmark right after the
// MVM loop (so both see the same machine load).
#include <benchmark/benchmark.h>
#include <cblas.h>

#include <chrono>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "acim/crossbar.hpp"
#include "acim/device.hpp"
#include "acim/threads.hpp"

namespace {

int bench_threads() {
  const char* t = std::getenv("ACIM_BENCH_THREADS");
  return t != nullptr ? std::atoi(t) : 1;
}

std::vector<float> uniform_values(size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = u(rng);
  return v;
}

acim::ArrayParams config_params(const std::string& config, int n) {
  acim::ArrayParams p;
  if (config == "off") {
    p = acim::default_array_params(acim::CellType::ideal);
    p.effects = {false, false, false, false, false, false, false, false};
  } else if (config == "rram" || config == "rram_noadc" || config == "rram_adc_noise") {
    p = acim::default_array_params(acim::CellType::rram);
    if (config == "rram_noadc") p.effects.adc = false;
    if (config == "rram_adc_noise") p.adc.noise_sigma_lsb = 1.0;
  } else {  // pcm
    p = acim::default_array_params(acim::CellType::pcm);
    p.adc.noise_sigma_lsb = 1.0;
  }
  p.rows = n;
  p.cols = 2 * n;
  return p;
}

// Seconds per call of a plain sgemm x[batch, n] * W[n, n], over `iters` calls.
double sgemm_seconds(const std::vector<float>& x, const std::vector<float>& w,
                     std::vector<float>& y, int batch, int n, int64_t iters) {
  const auto t0 = std::chrono::steady_clock::now();
  for (int64_t k = 0; k < iters; ++k) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, batch, n, n, 1.0f, x.data(), n, w.data(),
                n, 0.0f, y.data(), n);
    benchmark::DoNotOptimize(y.data());
  }
  const auto t1 = std::chrono::steady_clock::now();
  return std::chrono::duration<double>(t1 - t0).count() / static_cast<double>(iters);
}

void bm_sgemm(benchmark::State& state, int width_factor) {
  const int k = static_cast<int>(state.range(0)), batch = static_cast<int>(state.range(1));
  const int n = width_factor * k;
  acim::set_num_threads(bench_threads());
  const std::vector<float> w = uniform_values(static_cast<size_t>(k) * n, 1);
  const std::vector<float> x = uniform_values(static_cast<size_t>(batch) * k, 2);
  std::vector<float> y(static_cast<size_t>(batch) * n);
  for (auto _ : state) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, batch, n, k, 1.0f, x.data(), k, w.data(),
                n, 0.0f, y.data(), n);
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * batch);
  state.counters["ratio"] = 1.0;
}

void bm_mvm(benchmark::State& state, const std::string& config) {
  const int n = static_cast<int>(state.range(0)), batch = static_cast<int>(state.range(1));
  acim::set_num_threads(bench_threads());
  const std::vector<float> w = uniform_values(static_cast<size_t>(n) * n, 1);
  const std::vector<float> x = uniform_values(static_cast<size_t>(batch) * n, 2);
  std::vector<float> y_ref(static_cast<size_t>(batch) * n);
  acim::CrossbarArray array(config_params(config, n), acim::RandomStream(7, {0, 0, 0}));
  array.program(acim::Tensor::from_vector<float>({n, n}, w));
  acim::Tensor xt = acim::Tensor::from_vector<float>({batch, n}, x);
  array.calibrate(xt);
  int64_t iters = 0;
  const auto t0 = std::chrono::steady_clock::now();
  for (auto _ : state) {
    acim::Tensor y = array.mvm(xt);
    benchmark::DoNotOptimize(y.data<float>());
    ++iters;
  }
  const auto t1 = std::chrono::steady_clock::now();
  const double mvm_s = std::chrono::duration<double>(t1 - t0).count() / static_cast<double>(iters);
  // The baseline over at least the same wall time as a few MVMs, right after.
  const int64_t base_iters =
      std::max<int64_t>(10, static_cast<int64_t>(0.05 / std::max(mvm_s, 1e-9)));
  const double base_s = sgemm_seconds(x, w, y_ref, batch, n, std::min<int64_t>(base_iters, 100000));
  state.SetItemsProcessed(state.iterations() * batch);
  state.counters["ratio"] = mvm_s / base_s;
}

void add_shapes(benchmark::internal::Benchmark* b) {
  for (int n : {256, 1024})
    for (int batch : {1, 256}) b->Args({n, batch});
  b->ArgNames({"n", "batch"})->Unit(benchmark::kMicrosecond)->UseRealTime();
}

const int kRegistered = [] {
  add_shapes(benchmark::RegisterBenchmark("sgemm", [](benchmark::State& s) { bm_sgemm(s, 1); }));
  add_shapes(
      benchmark::RegisterBenchmark("sgemm_phys", [](benchmark::State& s) { bm_sgemm(s, 2); }));
  for (const char* config : {"off", "rram", "rram_noadc", "rram_adc_noise", "pcm"})
    add_shapes(benchmark::RegisterBenchmark((std::string("mvm_") + config).c_str(),
                                            [config](benchmark::State& s) { bm_mvm(s, config); }));
  return 0;
}();

}  // namespace

BENCHMARK_MAIN();
