// The vectorised DAC quantisation and ADC conversion (AVX-512 where the CPU has it) give exactly
// the bits of the documented scalar transfer functions (src/device/dac.hpp, adc.hpp), written
// out here in double as the reference, on inputs that hit every branch: ties between levels,
// clipping, NaN, zero full scale, partial vectors.
#include <gtest/gtest.h>

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

}  // namespace
}  // namespace acim
