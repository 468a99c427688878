// acim_gemm_peak: the machine's measured single-thread float32 GEMM throughput, the physical
// limit a network's inference can approach (its MACs at this rate), and the rate of acim's normal
// generator, the floor under an analog simulation that draws one Gaussian per ADC conversion.
// Prints one JSON object.
//
//   acim_gemm_peak [--sizes N,N,...] [--reps R]
//
// Times C = A * B for N x N x N (default N = 128, 256, 512: cache-resident sizes, where a GEMM
// kernel runs at its peak) with acim's own AVX-512 GEMM kernel (where the CPU has AVX-512) and
// with OpenBLAS's sgemm, each R times (default 11) after one warm-up, on one thread, and
// reports GFLOP/s (2 N^3 flops per product) of the fastest and the median run of each;
// "peak_gflops" is the best of all (acim_bench_gemm_i16 times the integer signal product).
// "normal_ns": nanoseconds per draw of RandomStream::normal over 65536 draws (best and median of
// R runs), the cost of the one Gaussian per conversion.
#include <cblas.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <iostream>
#include <nlohmann/json.hpp>
#include <random>
#include <vector>

#include "acim/rng.hpp"
#include "acim/threads.hpp"
#include "ops/kernels_gemm.hpp"

namespace {

// Seconds of the fastest and of the median of `reps` runs of f, after one warm-up run (page
// faults, packing buffers).
struct Timing {
  double best_s = 0, median_s = 0;
};

template <class F>
Timing time_runs(int reps, F&& f) {
  f();
  std::vector<double> s;
  for (int r = 0; r < reps; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    f();
    s.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(s.begin(), s.end());
  return {s.front(), s[s.size() / 2]};
}

nlohmann::json gflops(int n, const Timing& t) {
  const double gflop = 2e-9 * n * static_cast<double>(n) * n;
  return {{"best_gflops", gflop / t.best_s}, {"median_gflops", gflop / t.median_s}};
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"acim_gemm_peak: single-thread float32 GEMM GFLOP/s (acim's kernel, OpenBLAS)"};
  std::vector<int> sizes{128, 256, 512};
  int reps = 11;
  app.add_option("--sizes", sizes, "N of the N x N x N products")
      ->delimiter(',')
      ->check(CLI::Range(16, 4096));
  app.add_option("--reps", reps, "timed runs per size and kernel")->check(CLI::Range(1, 1000));
  CLI11_PARSE(app, argc, argv);

  acim::set_num_threads(1);
  openblas_set_num_threads(1);
  nlohmann::json out;
  out["reps"] = reps;
  double peak = 0;
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  for (const int n : sizes) {
    const size_t elems = static_cast<size_t>(n) * static_cast<size_t>(n);
    std::vector<float> a(elems), b(elems), c(elems);
    for (float& v : a) v = u(rng);
    for (float& v : b) v = u(rng);
    nlohmann::json row{{"size", n}};
    row["openblas"] = gflops(n, time_runs(reps, [&] {
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a.data(), n,
                  b.data(), n, 0.0f, c.data(), n);
    }));
    peak = std::max(peak, row["openblas"]["best_gflops"].get<double>());
    if (acim::ops::fast_gemm_available()) {
      row["acim_avx512"] = gflops(n, time_runs(reps, [&] {
        acim::ops::fast_gemm(n, n, n, a.data(), n, b.data(), n, false, c.data(), n, {});
      }));
      peak = std::max(peak, row["acim_avx512"]["best_gflops"].get<double>());
    }
    out["sizes"].push_back(row);
  }
  out["peak_gflops"] = peak;
  constexpr size_t kDraws = 65536;
  std::vector<float> z(kDraws);
  const acim::RandomStream stream(1, {2});
  uint64_t offset = 0;
  const Timing normals = time_runs(reps, [&] {
    stream.normal(z.data(), kDraws, offset);
    offset += kDraws;
  });
  out["normal_ns"] = {{"best", normals.best_s * 1e9 / kDraws},
                      {"median", normals.median_s * 1e9 / kDraws}};
  std::cout << out.dump(1) << "\n";
  return 0;
}
