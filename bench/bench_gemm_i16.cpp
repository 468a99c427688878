// Throughput of the integer signal product (src/device/gemm_i16.hpp) against a float32 sgemm of
// the same shape, one thread.
//
//   build/<dir>/bench/acim_bench_gemm_i16 [--benchmark_filter=i16] [--benchmark_repetitions=5]
//
// Shapes: x[batch, K] * W[K, N] for (K, N) = (256, 256), (512, 512), (784, 256) (an MLP's first
// layer on 28 x 28 images), batch 1 and 256. Configurations:
//   f32   cblas_sgemm (OpenBLAS, single-threaded: what ops::sgemm_blocked calls)
//   f32_gemv  cblas_sgemv (batch 1 only): OpenBLAS's own matrix-vector kernel, the stronger
//         float baseline there
//   f32_acim  acim's own AVX-512 float GEMM (ops::fast_gemm; where the CPU has AVX-512): the
//         float kernel at the vector width of gemm_i16 (the Debian OpenBLAS may run AVX2 code)
//   i16   gemm_i16 over one group of K rows: 8-bit DAC levels (|a| <= 127), W packed to 16 bits
//   i16_scalar  the same through the portable path (detail::gemm_i16_scalar)
// Counters: GMAC/s (batch * K * N multiply-adds per second); for i16, the time of a float
// baseline / the time of gemm_i16: speedup (sgemm), speedup_gemv (sgemv, batch 1), speedup_acim
// (fast_gemm), each baseline timed in the same benchmark right after the gemm_i16 loop (so both
// see the same load on a shared machine).
#include <benchmark/benchmark.h>
#include <cblas.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <random>
#include <vector>

#include "acim/threads.hpp"
#include "device/gemm_i16.hpp"
#include "ops/kernels_gemm.hpp"

namespace {

constexpr int kMaxLevel = 127;

std::vector<float> uniform_values(size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = u(rng);
  return v;
}

std::vector<int16_t> uniform_levels(size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> u(-kMaxLevel, kMaxLevel);
  std::vector<int16_t> v(n);
  for (int16_t& x : v) x = static_cast<int16_t>(u(rng));
  return v;
}

struct Shape {
  int k, n, batch;
};

Shape shape_of(const benchmark::State& state) {
  return {static_cast<int>(state.range(0)), static_cast<int>(state.range(1)),
          static_cast<int>(state.range(2))};
}

void set_macs(benchmark::State& state, const Shape& s, double seconds_per_call) {
  state.counters["GMAC/s"] = static_cast<double>(s.batch) * s.k * s.n / seconds_per_call * 1e-9;
}

// The float32 baselines.
enum class Float { sgemm, sgemv, acim };

// y = x * w through baseline f.
void float_product(Float f, const Shape& s, const std::vector<float>& x,
                   const std::vector<float>& w, std::vector<float>& y) {
  switch (f) {
    case Float::sgemm:
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, s.batch, s.n, s.k, 1.0f, x.data(), s.k,
                  w.data(), s.n, 0.0f, y.data(), s.n);
      break;
    case Float::sgemv:
      cblas_sgemv(CblasRowMajor, CblasTrans, s.k, s.n, 1.0f, w.data(), s.n, x.data(), 1, 0.0f,
                  y.data(), 1);
      break;
    case Float::acim:
      acim::ops::fast_gemm(s.batch, s.n, s.k, x.data(), s.k, w.data(), s.n, false, y.data(), s.n,
                           {});
      break;
  }
  benchmark::DoNotOptimize(y.data());
  benchmark::ClobberMemory();
}

// Seconds per call of baseline f over about the same wall time as `iters` calls of the kernel
// timed before it (at least 10 calls).
double float_seconds(Float f, const Shape& s, const std::vector<float>& x,
                     const std::vector<float>& w, std::vector<float>& y,
                     benchmark::IterationCount iters) {
  const int64_t n = std::clamp<int64_t>(static_cast<int64_t>(iters) / 2, 10, 100000);
  const auto t0 = std::chrono::steady_clock::now();
  for (int64_t i = 0; i < n; ++i) float_product(f, s, x, w, y);
  const auto t1 = std::chrono::steady_clock::now();
  return std::chrono::duration<double>(t1 - t0).count() / static_cast<double>(n);
}

void bm_f32(benchmark::State& state, Float f) {
  const Shape s = shape_of(state);
  if (f == Float::acim && !acim::ops::fast_gemm_available()) {
    state.SkipWithError("no AVX-512 on this CPU");
    return;
  }
  acim::set_num_threads(1);
  const std::vector<float> w = uniform_values(static_cast<size_t>(s.k) * s.n, 1);
  const std::vector<float> x = uniform_values(static_cast<size_t>(s.batch) * s.k, 2);
  std::vector<float> y(static_cast<size_t>(s.batch) * s.n);
  const auto t0 = std::chrono::steady_clock::now();
  for (auto _ : state) float_product(f, s, x, w, y);
  const auto t1 = std::chrono::steady_clock::now();
  set_macs(
      state, s,
      std::chrono::duration<double>(t1 - t0).count() / static_cast<double>(state.iterations()));
}

void bm_i16(benchmark::State& state, bool scalar) {
  const Shape s = shape_of(state);
  acim::set_num_threads(1);
  const std::vector<float> w = uniform_values(static_cast<size_t>(s.k) * s.n, 1);
  const std::vector<float> x = uniform_values(static_cast<size_t>(s.batch) * s.k, 2);
  const std::vector<int16_t> a = uniform_levels(static_cast<size_t>(s.batch) * s.k, 3);
  std::vector<float> y(static_cast<size_t>(s.batch) * s.n);
  const acim::PackedI16 p = acim::pack_i16(w.data(), s.k, s.n, s.n, s.k, kMaxLevel);
  const auto run = scalar ? acim::detail::gemm_i16_scalar : acim::gemm_i16;
  const auto t0 = std::chrono::steady_clock::now();
  for (auto _ : state) {
    run(s.batch, a.data(), s.k, p, 0, s.k, 1.0f, y.data(), s.n);
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  const auto t1 = std::chrono::steady_clock::now();
  const double i16_s =
      std::chrono::duration<double>(t1 - t0).count() / static_cast<double>(state.iterations());
  set_macs(state, s, i16_s);
  const auto speedup = [&](Float f) {
    return float_seconds(f, s, x, w, y, state.iterations()) / i16_s;
  };
  state.counters["speedup"] = speedup(Float::sgemm);
  if (s.batch == 1) state.counters["speedup_gemv"] = speedup(Float::sgemv);
  if (acim::ops::fast_gemm_available()) state.counters["speedup_acim"] = speedup(Float::acim);
}

void add_shapes(benchmark::internal::Benchmark* b, bool batch1_only = false) {
  // 144 x 16: a narrow layer (ResNet-20's first-stage 3 x 3 convolutions, 16 channels).
  for (const auto& kn :
       {std::pair{256, 256}, std::pair{512, 512}, std::pair{784, 256}, std::pair{144, 16}})
    for (int batch : {1, 256})
      if (batch == 1 || !batch1_only) b->Args({kn.first, kn.second, batch});
  b->ArgNames({"k", "n", "batch"})->Unit(benchmark::kMicrosecond)->UseRealTime();
}

const int kRegistered = [] {
  add_shapes(
      benchmark::RegisterBenchmark("f32", [](benchmark::State& s) { bm_f32(s, Float::sgemm); }));
  add_shapes(benchmark::RegisterBenchmark("f32_gemv",
                                          [](benchmark::State& s) { bm_f32(s, Float::sgemv); }),
             true);
  add_shapes(benchmark::RegisterBenchmark("f32_acim",
                                          [](benchmark::State& s) { bm_f32(s, Float::acim); }));
  add_shapes(benchmark::RegisterBenchmark("i16", [](benchmark::State& s) { bm_i16(s, false); }));
  add_shapes(
      benchmark::RegisterBenchmark("i16_scalar", [](benchmark::State& s) { bm_i16(s, true); }));
  return 0;
}();

}  // namespace

BENCHMARK_MAIN();
