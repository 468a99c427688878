// The fast paths of CrossbarArray::mvm agree with the general ones: the fused small-batch
// signal + read-noise-variance kernel (batch <= 4) against the two BLAS products (larger batch),
// and the packed kernel's skipping of all-zero rows against arrays without those rows.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <utility>
#include <vector>

#include "acim/crossbar.hpp"
#include "acim/device.hpp"
#include "acim/error.hpp"
#include "acim/rng.hpp"
#include "acim/threads.hpp"
#include "device/dac.hpp"

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
  // 13: one vector of columns (tiles of 12 rows); 37: a partial 16-column vector and a partial
  // 64-column block
  for (int n : {13, 37, 200}) {
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

// Rows whose cells are all zero (bit slices of 0, groups packed block-diagonally) are skipped by
// the packed kernel. Skipping adds nothing a full sum would not (an exact zero term leaves a sum
// as it is), so an array whose 8 weight rows sit among 56 zero rows must give the same bits as
// an array of those 8 rows alone: with the rows in the second of four row groups (so the skip
// works inside a row range that does not start at 0, and whole panels are zero in the other
// passes), amplitude and bit-serial inputs, batches on the small-batch and the packed kernels.
TEST(CrossbarFastPaths, ZeroRowsAreSkippedWithoutChangingABit) {
  const int rows = 64, first = 16, used = 8, cols = 40;  // 80 signals: two 64-column panels
  const Tensor w_small = uniform(5, used, cols);
  Tensor w_big(DType::f32, {rows, cols});
  std::copy_n(w_small.data<float>(), used * cols, w_big.data<float>() + first * cols);
  for (bool serial : {false, true}) {
    ArrayParams p = default_array_params(CellType::ideal);
    p.rows = rows;
    p.cols = 2 * cols;
    p.parallel_rows = 16;
    p.effects.adc = false;
    p.dac.mode = serial ? DacMode::bit_serial : DacMode::amplitude;
    for (int batch : {1, 3, 16}) {
      const Tensor x_big = uniform(6, batch, rows);
      Tensor x_small(DType::f32, {batch, used});
      for (int b = 0; b < batch; ++b)
        std::copy_n(x_big.data<float>() + b * rows + first, used, x_small.data<float>() + b * used);
      CrossbarArray big(p, RandomStream(7, {3})), small(p, RandomStream(7, {3}));
      big.program(w_big);
      small.program(w_small);
      const Tensor y_big = big.mvm(x_big), y_small = small.mvm(x_small);
      ASSERT_EQ(y_big.numel(), y_small.numel());
      double sum_abs = 0;
      for (int64_t k = 0; k < y_big.numel(); ++k) {
        ASSERT_EQ(y_big.data<float>()[k], y_small.data<float>()[k])
            << (serial ? "bit-serial" : "amplitude") << " batch " << batch << " k " << k;
        sum_abs += std::fabs(y_big.data<float>()[k]);
      }
      EXPECT_GT(sum_abs, 0.0);  // the product is not trivially zero
    }
  }
}

// The DAC helpers of the crossbar's fast paths: the levels computed once give every bit plane
// exactly as bit_plane() does, and quantising into another buffer gives the in-place bits.
TEST(CrossbarFastPaths, DacLevelsGiveTheBitPlanesAndQuantiseOutOfPlace) {
  for (int bits : {2, 8, 12}) {
    DacParams p;
    p.bits = bits;
    p.mode = DacMode::bit_serial;
    DacModel dac(p, true);
    dac.set_input_range(0.731f);
    const Tensor xt = uniform(static_cast<uint64_t>(bits), 1, 1001);  // odd: a partial vector
    std::vector<float> x(xt.data<float>(), xt.data<float>() + xt.numel());
    for (float& v : x) v *= 1.5f;  // beyond the range too: clipping
    x[0] = std::nanf("");
    std::vector<int32_t> q(x.size());
    dac.signed_levels(x.data(), x.size(), q.data());
    std::vector<float> plane(x.size());
    for (int k = 0; k < dac.cycles(); ++k) {
      dac.bit_plane(x.data(), x.size(), k, plane.data());
      for (size_t i = 0; i < x.size(); ++i) {
        const float bit = static_cast<float>(((q[i] < 0 ? -q[i] : q[i]) >> k) & 1);
        ASSERT_EQ(q[i] < 0 ? -bit : bit, plane[i]) << "bits " << bits << " plane " << k;
      }
    }
    std::vector<float> in_place = x, out(x.size());
    dac.quantize(in_place.data(), in_place.size());
    dac.quantize(x.data(), x.size(), out.data());
    EXPECT_TRUE(std::isnan(out[0]));
    for (size_t i = 1; i < x.size(); ++i) ASSERT_EQ(in_place[i], out[i]) << "bits " << bits;
  }
}

// The DAC's float fast path rounds x * (L / x_max) in float and redoes, the scalar way, any
// vector with a value near a half-integer level boundary. Inputs at and 1..3 float steps either
// side of every boundary (where a float product and the double quotient can round to different
// levels) must give exactly the double formula's levels (signed_levels) and values (quantize),
// for narrow and wide DACs and ranges that are not powers of two; inf and NaN are reported.
TEST(CrossbarFastPaths, DacFloatPathKeepsTheDoubleFormulasLevelsAtBoundaries) {
  for (int bits : {2, 8, 13, 24}) {
    for (float x_max : {0.731f, 3.3f, 1e-3f}) {
      DacParams p;
      p.bits = bits;
      DacModel dac(p, true);
      dac.set_input_range(x_max);
      const double lv = dac.levels(), st = static_cast<double>(dac.step());
      std::vector<float> x;
      for (int k = -60; k <= 60; ++k) {
        const long level = bits <= 8 ? k : k * (static_cast<long>(lv) / 61);
        float b = static_cast<float>((static_cast<double>(level) + 0.5) * x_max / lv);
        for (int d = 0; d < 3; ++d) b = std::nextafter(b, -INFINITY);
        for (int d = 0; d < 7; ++d, b = std::nextafter(b, INFINITY)) x.push_back(b);
      }
      x.push_back(2 * x_max);  // clipping
      x.push_back(-0.0f);
      std::vector<float> out(x.size());
      std::vector<int32_t> q(x.size());
      ASSERT_TRUE(dac.quantize(x.data(), x.size(), out.data()));
      dac.signed_levels(x.data(), x.size(), q.data());
      for (size_t i = 0; i < x.size(); ++i) {
        double u = static_cast<double>(x[i]) / static_cast<double>(x_max) * lv;
        u = std::min(std::max(u, -lv), lv);
        const long level = std::lrint(u);
        ASSERT_EQ(q[i], level) << "bits " << bits << " x_max " << x_max << " x " << x[i];
        ASSERT_EQ(out[i], static_cast<float>(static_cast<double>(level) * st))
            << "bits " << bits << " x_max " << x_max << " x " << x[i];
      }
      std::vector<float> bad = {0.1f, INFINITY, 0.2f};
      EXPECT_FALSE(dac.quantize(bad.data(), bad.size(), out.data()));
      bad[1] = std::nanf("");
      EXPECT_FALSE(dac.quantize(bad.data(), bad.size(), out.data()));
      EXPECT_TRUE(std::isnan(out[1]));
    }
  }
}

// One MVM call run in parts (CrossbarArray::next_mvm, mvm_rows), in any order, gives the bits
// of mvm() on all its rows: every noise draw (per-cell read noise, the shared reference column,
// ADC noise, per bit-serial pass) is numbered by the row's place in the call. Checked with
// amplitude and bit-serial inputs, differential and offset-column encodings, several row
// groups (passes), and parts that do not line up with the kernels' chunks of 64 rows.
TEST(CrossbarFastPaths, MvmInPartsGivesTheBitsOfOneMvm) {
  struct Case {
    DacMode mode;
    Encoding scheme;
  };
  for (const Case c : {Case{DacMode::amplitude, Encoding::differential},
                       Case{DacMode::bit_serial, Encoding::differential},
                       Case{DacMode::amplitude, Encoding::offset_column}}) {
    ArrayParams p = default_array_params(CellType::pcm);
    p.rows = 96;
    p.cols = 2 * 96;
    p.parallel_rows = 40;  // three passes per MVM
    p.dac.mode = c.mode;
    p.encoding.scheme = c.scheme;
    p.adc.noise_sigma_lsb = 1.0;
    const Tensor w = uniform(6, 96, 90), x = uniform(7, 100, 96);
    CrossbarArray whole(p, RandomStream(5, {4})), parts(p, RandomStream(5, {4}));
    for (CrossbarArray* a : {&whole, &parts}) {
      a->program(w);
      a->calibrate(x);
    }
    (void)whole.mvm(x);  // the second call of each: a call number other than 0
    (void)parts.mvm(x);
    const Tensor y = whole.mvm(x);
    const uint64_t call = parts.next_mvm();
    std::vector<float> yp(static_cast<size_t>(y.numel()));
    for (const auto& [r0, r1] : {std::pair{70, 100}, std::pair{0, 7}, std::pair{7, 70}})
      parts.mvm_rows(call, x.data<float>() + r0 * 96, r1 - r0, static_cast<uint64_t>(r0),
                     yp.data() + r0 * 90);
    for (int64_t k = 0; k < y.numel(); ++k)
      ASSERT_EQ(y.data<float>()[k], yp[static_cast<size_t>(k)]) << "element " << k;
    EXPECT_EQ(whole.mvm_count(), parts.mvm_count());
    std::vector<float> bad(x.data<float>(), x.data<float>() + 96);
    bad[5] = std::nanf("");
    EXPECT_THROW(parts.mvm_rows(parts.next_mvm(), bad.data(), 1, 0, yp.data()), Error);
  }
}

// Inputs quantised once (quantize_inputs or quantize_levels, as a convolution does for all the
// arrays of a layer) give the bits of raw inputs: as the DAC's output for any array, and in the
// array's own quantized_form(): int16 integer levels where the signal product runs in integers
// without a variance product, row voltages where the product is float and one amplitude pass
// over all rows.
TEST(CrossbarFastPaths, QuantisedInputsGiveTheBitsOfRawInputs) {
  using Form = CrossbarArray::RowInputs;
  struct Case {
    CellType cell;
    DacMode mode;
    int parallel_rows;
    bool dac;
    Form form;  // quantized_form()
  };
  for (const Case c : {Case{CellType::rram, DacMode::amplitude, 0, true, Form::dac_levels},
                       Case{CellType::pcm, DacMode::amplitude, 0, true, Form::levels},
                       Case{CellType::pcm, DacMode::amplitude, 40, true, Form::levels},
                       Case{CellType::pcm, DacMode::bit_serial, 0, true, Form::dac_levels},
                       Case{CellType::pcm, DacMode::amplitude, 0, false, Form::row_voltages}}) {
    ArrayParams p = default_array_params(c.cell);  // RRAM: per-MVM read noise
    p.rows = 96;
    p.cols = 2 * 96;
    p.parallel_rows = c.parallel_rows;
    p.dac.mode = c.mode;
    p.effects.dac = c.dac;
    p.adc.noise_sigma_lsb = 1.0;
    const Tensor w = uniform(8, 96, 90), x = uniform(9, 20, 96);
    CrossbarArray raw(p, RandomStream(6, {1})), quantised(p, RandomStream(6, {1}));
    for (CrossbarArray* a : {&raw, &quantised}) {
      a->program(w);
      a->calibrate(x);
    }
    ASSERT_EQ(quantised.quantized_form(), c.form);
    for (const Form form : {Form::dac_levels, c.form}) {
      const Tensor y = raw.mvm(x);
      std::vector<float> xq(static_cast<size_t>(x.numel())), yq(static_cast<size_t>(y.numel()));
      if (form == Form::levels) {
        std::vector<int16_t> lv(xq.size());
        ASSERT_TRUE(quantised.quantize_levels(x.data<float>(), lv.size(), lv.data()));
        quantised.mvm_rows(quantised.next_mvm(), lv.data(), 20, 0, yq.data());
      } else {
        ASSERT_TRUE(quantised.quantize_inputs(x.data<float>(), xq.size(), xq.data(), form));
        quantised.mvm_rows(quantised.next_mvm(), xq.data(), 20, 0, yq.data(), form);
      }
      for (int64_t k = 0; k < y.numel(); ++k)
        ASSERT_EQ(y.data<float>()[k], yq[static_cast<size_t>(k)]) << "element " << k;
    }
  }
}

}  // namespace
}  // namespace acim
