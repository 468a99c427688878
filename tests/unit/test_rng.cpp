#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "acim/rng.hpp"

namespace acim {
namespace {

// Known-answer vectors for Philox4x32-10 published with Random123 (kat_vectors).
TEST(Rng, PhiloxKnownAnswers) {
  EXPECT_EQ(philox4x32({0, 0, 0, 0}, {0, 0}),
            (std::array<uint32_t, 4>{0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u}));
  EXPECT_EQ(philox4x32({0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu},
                       {0xffffffffu, 0xffffffffu}),
            (std::array<uint32_t, 4>{0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu}));
  EXPECT_EQ(philox4x32({0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u},
                       {0xa4093822u, 0x299f31d0u}),
            (std::array<uint32_t, 4>{0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u}));
}

TEST(Rng, DrawsDependOnlyOnIndexNotOnHowTheRangeIsSplit) {
  RandomStream s(42, {1, 2, 3});
  std::vector<float> whole(1003);
  s.normal(whole.data(), whole.size());
  std::vector<float> parts(1003);
  // Split at odd places, as threads with different chunk sizes would.
  size_t cuts[] = {0, 1, 7, 400, 401, 1003};
  for (int k = 0; k + 1 < 6; ++k) s.normal(parts.data() + cuts[k], cuts[k + 1] - cuts[k], cuts[k]);
  EXPECT_EQ(whole, parts);
  EXPECT_EQ(static_cast<float>(s.normal_at(500)), whole[500]);
}

TEST(Rng, PathsGiveDifferentStreamsAndSameSeedTheSameStream) {
  RandomStream a(1, {0, 5}), b(1, {0, 5}), c(1, {0, 6}), d(2, {0, 5}), e(1, {5, 0});
  EXPECT_EQ(a.key(), b.key());
  EXPECT_NE(a.key(), c.key());
  EXPECT_NE(a.key(), d.key());
  EXPECT_NE(a.key(), e.key());
  EXPECT_EQ(a.child(3).key(), b.child(3).key());
  EXPECT_NE(a.child(3).key(), a.child(4).key());
}

// Moments of N(0,1) draws: with n samples the sample mean has standard error 1/sqrt(n) and the
// sample variance sqrt(2/n); accept within 5 standard errors (false failure probability < 1e-6).
TEST(Rng, NormalMomentsMatch) {
  const size_t n = 1 << 20;
  std::vector<float> z(n);
  RandomStream(7, {9}).normal(z.data(), n);
  double sum = 0, sum2 = 0, sum4 = 0;
  for (float v : z) {
    sum += v;
    sum2 += static_cast<double>(v) * v;
    sum4 += std::pow(static_cast<double>(v), 4);
  }
  double mean = sum / n, var = sum2 / n - mean * mean, kurt = sum4 / n;
  EXPECT_NEAR(mean, 0.0, 5.0 / std::sqrt(n));
  EXPECT_NEAR(var, 1.0, 5.0 * std::sqrt(2.0 / n));
  EXPECT_NEAR(kurt, 3.0, 5.0 * std::sqrt(96.0 / n));  // var of z^4 is 105 - 9 = 96
  // Tail: P(|z| > 3) = 0.0026998; binomial standard error.
  size_t tail = 0;
  for (float v : z) tail += std::fabs(v) > 3.0f;
  double p = 0.0026998, se = std::sqrt(p * (1 - p) / n);
  EXPECT_NEAR(static_cast<double>(tail) / n, p, 5 * se);
}

TEST(Rng, UniformIsInOpenIntervalWithRightMoments) {
  const size_t n = 1 << 20;
  std::vector<float> u(n);
  RandomStream(7, {10}).uniform(u.data(), n);
  double sum = 0, sum2 = 0;
  for (float v : u) {
    ASSERT_GT(v, 0.0f);
    ASSERT_LT(v, 1.0f);
    sum += v;
    sum2 += static_cast<double>(v) * v;
  }
  double mean = sum / n, var = sum2 / n - mean * mean;
  EXPECT_NEAR(mean, 0.5, 5 * std::sqrt(1.0 / 12 / n));
  EXPECT_NEAR(var, 1.0 / 12, 5 * std::sqrt(1.0 / 180 / n));  // Var((U - 1/2)^2) = 1/180
}

}  // namespace
}  // namespace acim
