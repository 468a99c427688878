#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <vector>

#include "acim/rng.hpp"

namespace acim {
namespace {

// The SIMD normal path must give the same bits as the portable scalar path (results may not
// depend on the machine), over many blocks including a counter that carries into the high word.
TEST(RngSimd, SimdAndScalarNormalsAreBitIdentical) {
  for (uint64_t first : {uint64_t{0}, uint64_t{12345}, uint64_t{0xFFFFFFF8ull}}) {
    const size_t blocks = 16 * 512;
    std::vector<float> scalar(4 * blocks), simd(4 * blocks, -1.0f);
    const uint64_t key = RandomStream(3, {1, 4}).key();
    detail::normal_blocks_scalar(key, first, blocks, scalar.data());
    if (!detail::normal_blocks_simd(key, first, blocks, simd.data()))
      GTEST_SKIP() << "no AVX-512 on this CPU";
    ASSERT_EQ(std::memcmp(scalar.data(), simd.data(), scalar.size() * sizeof(float)), 0);
  }
}

// normal() over a long range (SIMD in the middle, scalar ends) equals draw-by-draw normal_at.
TEST(RngSimd, LongRangesMatchSingleDraws) {
  RandomStream s(11, {2});
  for (uint64_t offset : {uint64_t{0}, uint64_t{3}, uint64_t{61}}) {
    std::vector<float> z(1000);
    s.normal(z.data(), z.size(), offset);
    for (size_t i = 0; i < z.size(); ++i)
      ASSERT_EQ(z[i], static_cast<float>(s.normal_at(offset + i))) << i;
  }
}

// The polynomial Box–Muller against the libm one on the same uniforms: the transform is accurate
// to a few float ulps of the result (|z| < 6.2, ulp <= 4.8e-7), far below any statistical effect.
TEST(RngSimd, TransformMatchesLibmBoxMuller) {
  const size_t blocks = 4096;
  std::vector<float> z(4 * blocks);
  const uint64_t key = RandomStream(5).key();
  detail::normal_blocks_scalar(key, 0, blocks, z.data());
  double worst = 0;
  for (size_t b = 0; b < blocks; ++b) {
    const std::array<uint32_t, 4> r =
        philox4x32({static_cast<uint32_t>(b), 0u, 0u, 0u},
                   {static_cast<uint32_t>(key), static_cast<uint32_t>(key >> 32)});
    for (int pair = 0; pair < 2; ++pair) {
      // The uniforms exactly as the generator forms them (float, 24 bits plus half a step).
      const double u1 = (static_cast<float>(r[2 * pair] >> 8) + 0.5f) * (1.0f / 16777216.0f);
      const double u2 = (static_cast<float>(r[2 * pair + 1] >> 8) + 0.5f) * (1.0f / 16777216.0f);
      const double rr = std::sqrt(-2.0 * std::log(u1)), th = 2.0 * M_PI * u2;
      worst = std::max(worst, std::fabs(z[4 * b + 2 * pair] - rr * std::cos(th)));
      worst = std::max(worst, std::fabs(z[4 * b + 2 * pair + 1] - rr * std::sin(th)));
    }
  }
  EXPECT_LT(worst, 1e-6);  // about 2 ulps at |z| = 6
}

// normal() on short and misaligned ranges (whole SIMD groups cut at both ends, or the scalar
// path for one block) equals draw-by-draw normal_at, for every start within a group and every
// length up to a little over two groups; and normal_range_simd, where the CPU has it, equals the
// scalar blocks.
TEST(RngSimd, ShortMisalignedRangesMatchSingleDraws) {
  const RandomStream s(13, {7});
  std::vector<float> ref(64 + 140);
  for (size_t i = 0; i < ref.size(); ++i) ref[i] = static_cast<float>(s.normal_at(1000 + i));
  for (uint64_t start = 0; start < 64; ++start)
    for (size_t n = 1; n <= 140; ++n) {
      std::vector<float> z(n + 1, -7.0f);
      s.normal(z.data(), n, 1000 + start);
      for (size_t i = 0; i < n; ++i)
        ASSERT_EQ(z[i], ref[start + i]) << start << " " << n << " " << i;
      ASSERT_EQ(z[n], -7.0f) << "wrote past the end: " << start << " " << n;
    }
  std::vector<float> simd(37), scalar(4 * 11);
  detail::normal_blocks_scalar(s.key(), 250, 11, scalar.data());  // draws 1000 .. 1043
  if (!detail::normal_range_simd(s.key(), 1003, simd.size(), simd.data()))
    GTEST_SKIP() << "no AVX-512 on this CPU";
  ASSERT_EQ(std::memcmp(simd.data(), scalar.data() + 3, simd.size() * sizeof(float)), 0);
}

}  // namespace
}  // namespace acim
