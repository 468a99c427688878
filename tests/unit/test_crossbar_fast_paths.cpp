// The fast paths of CrossbarArray::mvm agree with the general ones: the fused small-batch
// signal + read-noise-variance kernel (batch <= 4) against the two BLAS products (larger batch).
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "acim/crossbar.hpp"
#include "acim/device.hpp"
#include "acim/rng.hpp"
#include "acim/threads.hpp"

namespace acim {
namespace {

Tensor uniform(uint64_t seed, int64_t r, int64_t c) {
  Tensor t(DType::f32, {r, c});
  RandomStream s(seed, {5});
  for (int64_t k = 0; k < t.numel(); ++k)
    t.data<float>()[k] = static_cast<float>(s.uniform_at(static_cast<uint64_t>(k)) * 2 - 1);
  return t;
}

// Two arrays of the same instance (same stream) at their first MVM draw the same per-cell
// read-noise normals for batch row 0, so row 0 of a batch-1 MVM (fused kernel) and of a batch-16
// MVM (BLAS) differ only by the rounding of float sums over n <= 200 terms: at most about
// n * 2^-24 = 1.2e-5 of the natural scale sum_i |x_i| |w_ij| (worst case; typically far less),
// so we accept 2e-5 of it. Read noise is made large (50% per cell, std about 0.035 of that scale
// at n = 200) so that a 1% error in the fused variance (0.5% in the noise, 1.8e-4 of the scale)
// fails the test.
TEST(CrossbarFastPaths, FusedSmallBatchKernelMatchesTheBlasPath) {
  for (int n : {37, 200}) {  // 37: a partial 16-column vector and a partial 64-column block
    ArrayParams p = default_array_params(CellType::rram);
    p.rows = n;
    p.cols = 2 * n;
    p.effects.dac = p.effects.adc = false;  // no code flips from rounding differences
    p.cell.rram.read_noise_rel = 0.5;
    Tensor w = uniform(1, n, n), x = uniform(2, 16, n);
    CrossbarArray small(p, RandomStream(9, {1})), large(p, RandomStream(9, {1}));
    small.program(w);
    large.program(w);
    Tensor x1(DType::f32, {1, n});
    std::copy_n(x.data<float>(), n, x1.data<float>());
    const Tensor y1 = small.mvm(x1), y16 = large.mvm(x);
    // The noise must be there: the noisy row differs from the ideal product.
    const Tensor ref = small.mvm_reference(x1);
    double diff_to_ref = 0;
    for (int j = 0; j < n; ++j) {
      double scale = 0;
      for (int i = 0; i < n; ++i)
        scale += std::fabs(x.data<float>()[i] * w.data<float>()[i * n + j]);
      EXPECT_NEAR(y1.data<float>()[j], y16.data<float>()[j], 2e-5 * scale)
          << "n=" << n << " j=" << j;
      diff_to_ref += std::fabs(y1.data<float>()[j] - ref.data<float>()[j]);
    }
    EXPECT_GT(diff_to_ref, 0.0);
  }
}

// Both fast kernels split their outputs among threads (large enough products): the bits must
// not depend on the thread count.
TEST(CrossbarFastPaths, FastKernelsGiveTheSameBitsForAnyThreadCount) {
  ArrayParams p = default_array_params(CellType::rram);
  p.rows = 256;
  p.cols = 512;
  const Tensor w = uniform(3, 256, 256);
  for (int batch : {3, 64}) {  // fused small-batch kernel, packed GEMM kernel
    const Tensor x = uniform(4, batch, 256);
    std::vector<Tensor> ys;
    for (int threads : {1, 2, 3}) {
      set_num_threads(threads);
      CrossbarArray a(p, RandomStream(21, {2}));
      a.program(w);
      a.calibrate(x);
      ys.push_back(a.mvm(x));
    }
    set_num_threads(0);
    for (size_t t = 1; t < ys.size(); ++t)
      for (int64_t k = 0; k < ys[0].numel(); ++k)
        ASSERT_EQ(ys[0].data<float>()[k], ys[t].data<float>()[k]) << "batch " << batch;
  }
}

}  // namespace
}  // namespace acim
