// The vectorised DAC quantisation and ADC conversion (AVX-512 where the CPU has it) give exactly
// the bits of the documented scalar transfer functions (src/device/dac.hpp, adc.hpp), written
// out here in double as the reference, on inputs that hit every branch: ties between levels,
// clipping, NaN, zero full scale, partial vectors.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "acim/rng.hpp"
#include "device/adc.hpp"
#include "device/dac.hpp"

namespace acim {
namespace {

bool same_bits(float a, float b) {
  return std::memcmp(&a, &b, sizeof a) == 0;
}

TEST(PeripherySimd, DacQuantizeIsBitExactAgainstTheFormula) {
  DacParams dp;
  dp.bits = 6;  // L = 31
  DacModel dac(dp, true);
  dac.set_input_range(1.7f);
  const double lv = 31, st = static_cast<double>(static_cast<float>(1.7 / 31));
  std::vector<float> x;
  RandomStream s(4);
  for (int k = 0; k < 1000; ++k) x.push_back(static_cast<float>(4 * s.uniform_at(k) - 2));
  for (int k = -40; k <= 40; ++k) x.push_back(static_cast<float>((k + 0.5) * 1.7 / 31));  // ties
  x.push_back(std::numeric_limits<float>::quiet_NaN());
  x.push_back(-0.0f);
  x.push_back(-1e-9f);
  x.push_back(1.7f);
  x.push_back(-1.7f);
  x.push_back(1e30f);
  std::vector<float> y = x;
  dac.quantize(y.data(), y.size() - 3);  // a partial vector at the end
  for (size_t i = 0; i + 3 < x.size(); ++i) {
    float ref = x[i];
    if (!std::isnan(x[i])) {
      double u = static_cast<double>(x[i]) / static_cast<double>(1.7f) * lv;
      u = std::min(std::max(u, -lv), lv);
      ref = static_cast<float>(static_cast<double>(std::lrint(u)) * st);
    }
    ASSERT_TRUE(same_bits(y[i], ref) || (std::isnan(ref) && std::isnan(y[i])))
        << i << ": x=" << x[i] << " got " << y[i] << " want " << ref;
  }
  for (size_t i = x.size() - 3; i < x.size(); ++i) ASSERT_TRUE(same_bits(y[i], x[i]));
}

// quantize with a factor (a crossbar's row voltages straight from the DAC) is quantize and then
// a float multiply, bit for bit, on the vectorised path, its per-lane fallback (ties), NaN and
// a partial vector, for an enabled and a disabled DAC.
TEST(PeripherySimd, DacQuantizeTimesAFactorIsQuantizeThenAMultiply) {
  DacParams dp;
  dp.bits = 8;
  std::vector<float> x;
  RandomStream s(12);
  for (int k = 0; k < 200; ++k) x.push_back(static_cast<float>(3 * s.uniform_at(k) - 1.5));
  for (int k = -20; k <= 20; ++k) x.push_back(static_cast<float>((k + 0.5) * 1.3 / 127));  // ties
  x.push_back(-0.0f);
  x.push_back(1e30f);
  const float k = static_cast<float>(0.2 / 1.3);
  for (bool enabled : {true, false}) {
    DacModel dac(dp, enabled);
    dac.set_input_range(1.3f);
    std::vector<float> q(x.size()), v(x.size());
    ASSERT_TRUE(dac.quantize(x.data(), x.size(), q.data()));
    ASSERT_TRUE(dac.quantize(x.data(), x.size(), v.data(), k));
    for (size_t i = 0; i < x.size(); ++i) {
      volatile float ref = q[i] * k;  // one float multiply
      ASSERT_TRUE(same_bits(v[i], ref)) << i << ": x=" << x[i] << " got " << v[i];
    }
    std::vector<float> bad = x;
    bad[7] = std::numeric_limits<float>::quiet_NaN();
    EXPECT_FALSE(dac.quantize(bad.data(), bad.size(), v.data(), k));
  }
}

// The ADC keeps each column's full scale as its lsb in double (fs / N) and gives the float full
// scale back exactly, for full scales over the whole float range, zero included.
TEST(PeripherySimd, AdcFullScaleReadsBackBitForBit) {
  AdcParams ap;
  ap.bits = 8;
  ap.range = AdcRange::calibrated;
  const int cols = 300;
  std::vector<float> fs(cols);
  RandomStream s(13);
  for (int j = 0; j < cols; ++j)
    fs[static_cast<size_t>(j)] =
        static_cast<float>(std::ldexp(1 + s.uniform_at(static_cast<uint64_t>(j)), j % 250 - 125));
  fs[0] = 0.0f;
  fs[1] = std::numeric_limits<float>::denorm_min();
  fs[2] = std::numeric_limits<float>::max();
  for (bool enabled : {true, false}) {
    AdcModel adc(ap, cols, enabled, RandomStream(14));
    adc.set_full_scale(fs);
    const std::vector<float> back = adc.full_scale_ua();
    ASSERT_EQ(back.size(), fs.size());
    for (int j = 0; j < cols; ++j) {
      const size_t u = static_cast<size_t>(j);
      ASSERT_TRUE(same_bits(back[u], fs[u])) << j << ": " << fs[u] << " read back " << back[u];
      ASSERT_EQ(adc.lsb_ua(j), static_cast<double>(fs[u]) / adc.max_code()) << j;
    }
  }
}

TEST(PeripherySimd, AdcConvertIsBitExactAgainstTheFormula) {
  AdcParams ap;
  ap.bits = 7;  // N = 63
  ap.offset_sigma_lsb = 0.7;
  ap.gain_sigma_rel = 0.03;
  ap.noise_sigma_lsb = 0.8;
  const int cols = 21, batch = 5;  // 21: two full vectors of 8 and a partial one
  AdcModel adc(ap, cols, true, RandomStream(9));
  std::vector<float> fs(cols);
  for (int j = 0; j < cols; ++j) fs[j] = j == 4 ? 0.0f : static_cast<float>(1 + 0.25 * j);
  adc.set_full_scale(fs);
  std::vector<float> x(static_cast<size_t>(batch) * cols);
  RandomStream s(10);
  for (size_t k = 0; k < x.size(); ++k) x[k] = static_cast<float>(6 * s.uniform_at(k) - 3);
  x[3] = std::numeric_limits<float>::quiet_NaN();
  x[cols + 2] = 1e30f;
  std::vector<float> y = x;
  const RandomStream noise(11);
  adc.convert(y.data(), batch, noise);
  const double n = 63;
  for (int b = 0; b < batch; ++b)
    for (int j = 0; j < cols; ++j) {
      const size_t k = static_cast<size_t>(b) * cols + j;
      float ref;
      if (fs[j] <= 0) {
        ref = 0.0f;
      } else {
        const double lsb = static_cast<double>(fs[j]) / n;
        double u = (adc.gain()[j] * static_cast<double>(x[k])) / lsb + adc.offset_lsb()[j];
        const double nz = 0.8 * static_cast<double>(static_cast<float>(noise.normal_at(k)));
        u += nz;
        if (std::isnan(u)) {
          ref = static_cast<float>(u);
        } else {
          u = std::min(std::max(u, -n), n);
          ref = static_cast<float>(std::nearbyint(u) * lsb);
        }
      }
      ASSERT_TRUE(same_bits(y[k], ref) || (std::isnan(ref) && std::isnan(y[k])))
          << "b=" << b << " j=" << j << " got " << y[k] << " want " << ref;
    }
}

// The ADC formula of adc.hpp in double, as the scalar code evaluates it (no INL).
float adc_reference(const AdcModel& adc, int j, float x, double noise_sigma, float z) {
  const double n = adc.max_code();
  const double fs = adc.full_scale_ua()[static_cast<size_t>(j)];
  if (fs <= 0) return 0.0f;
  const double lsb = fs / n;
  double u = (adc.gain()[static_cast<size_t>(j)] * static_cast<double>(x)) / lsb +
             adc.offset_lsb()[static_cast<size_t>(j)];
  if (noise_sigma > 0) u += noise_sigma * static_cast<double>(z);
  if (std::isnan(u)) return static_cast<float>(u);
  u = std::min(std::max(u, -n), n);
  return static_cast<float>(std::nearbyint(u) * lsb);
}

// Inputs placed on the decision points of the vectorised conversion's float estimate: exactly
// on, and a float step either side of, every half-integer code boundary, and around 0 (where
// the sign of a zero code matters), with and without noise, and a full scale so small that 1 / lsb
// is no float (the estimate is then not used at all).
TEST(PeripherySimd, AdcConvertIsBitExactAtCodeBoundaries) {
  for (const double noise_sigma : {0.0, 0.3}) {
    for (const float fs_scale : {1.0f, 1e-38f}) {
      AdcParams ap;
      ap.bits = 5;  // N = 15
      ap.offset_sigma_lsb = 0.4;
      ap.gain_sigma_rel = 0.05;
      ap.noise_sigma_lsb = noise_sigma;
      const int cols = 19;
      AdcModel adc(ap, cols, true, RandomStream(21));
      std::vector<float> fs(cols);
      for (int j = 0; j < cols; ++j) fs[j] = j == 7 ? 0.0f : fs_scale * (0.5f + 0.1f * j);
      adc.set_full_scale(fs);
      // Row r puts every column on target u = r / 2 - 16.5 (code boundaries at odd r), nudged by
      // (r % 3 - 1) float steps of x.
      const int batch = 3 * 68;
      std::vector<float> x(static_cast<size_t>(batch) * cols);
      for (int b = 0; b < batch; ++b)
        for (int j = 0; j < cols; ++j) {
          const double lsb = static_cast<double>(fs[j]) / adc.max_code();
          const double target = (b / 3) / 2.0 - 16.5;
          float v = static_cast<float>((target - adc.offset_lsb()[j]) * lsb / adc.gain()[j]);
          if (b % 3 == 0) v = std::nextafter(v, -INFINITY);
          if (b % 3 == 2) v = std::nextafter(v, INFINITY);
          x[static_cast<size_t>(b) * cols + j] = v;
        }
      std::vector<float> y = x;
      const RandomStream noise(22);
      adc.convert(y.data(), batch, noise, 5);
      for (int b = 0; b < batch; ++b)
        for (int j = 0; j < cols; ++j) {
          const size_t k = static_cast<size_t>(b) * cols + j;
          const float z = static_cast<float>(noise.normal_at(5 * cols + k));
          const float ref = adc_reference(adc, j, x[k], noise_sigma, z);
          ASSERT_TRUE(same_bits(y[k], ref))
              << "sigma=" << noise_sigma << " fs*" << fs_scale << " b=" << b << " j=" << j
              << " got " << y[k] << " want " << ref;
        }
    }
  }
}

}  // namespace
}  // namespace acim
