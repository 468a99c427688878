// acim_gemm_peak: the machine's measured single-thread float32 GEMM throughput, the physical
// limit a network's inference can approach (its MACs at this rate). Prints one JSON object.
//
//   acim_gemm_peak [--sizes N,N,...] [--reps R]
//
// Times C = A * B for N x N x N (default N = 128, 256, 512: cache-resident sizes, where a GEMM
// kernel runs at its peak) with acim's own AVX-512 GEMM kernel (where the CPU has AVX-512) and
// with OpenBLAS's sgemm, each R times (default 11) after one warm-up, on one thread, and
// reports GFLOP/s (2 N^3 flops per product) of the fastest and the median run of each;
// "peak_gflops" is the best of all. An integer GEMM peak is not measured: the analog
// simulation multiplies quantised inputs with continuous (noisy) conductances, float work.
#include <cblas.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <iostream>
#include <nlohmann/json.hpp>
#include <random>
#include <vector>

#include "acim/threads.hpp"
#include "ops/kernels_gemm.hpp"

namespace {

struct Timing {
  double best_gflops = 0, median_gflops = 0;
};

template <class F>
Timing time_gemm(int n, int reps, F&& gemm) {
  gemm();  // warm-up: page faults, packing buffers
  std::vector<double> gflops;
  const double flops = 2.0 * n * static_cast<double>(n) * n;
  for (int r = 0; r < reps; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    gemm();
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    gflops.push_back(flops / s * 1e-9);
  }
  std::sort(gflops.begin(), gflops.end());
  return {gflops.back(), gflops[gflops.size() / 2]};
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
    const Timing blas = time_gemm(n, reps, [&] {
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a.data(), n,
                  b.data(), n, 0.0f, c.data(), n);
    });
    row["openblas"] = {{"best_gflops", blas.best_gflops}, {"median_gflops", blas.median_gflops}};
    peak = std::max(peak, blas.best_gflops);
    if (acim::ops::fast_gemm_available()) {
      const Timing own = time_gemm(n, reps, [&] {
        acim::ops::fast_gemm(n, n, n, a.data(), n, b.data(), n, false, c.data(), n, {});
      });
      row["acim_avx512"] = {{"best_gflops", own.best_gflops},
                            {"median_gflops", own.median_gflops}};
      peak = std::max(peak, own.best_gflops);
    }
    out["sizes"].push_back(row);
  }
  out["peak_gflops"] = peak;
  std::cout << out.dump(1) << "\n";
  return 0;
}
