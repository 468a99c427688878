// Periphery of a crossbar array: the row DAC, the column ADC and IR drop along the wires.
// Statistical tests derive their tolerance from the sample count: 5 standard errors, with the
// standard error written out next to each check.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "acim/device.hpp"
#include "acim/error.hpp"
#include "acim/rng.hpp"
#include "acim/threads.hpp"
#include "device/adc.hpp"
#include "device/dac.hpp"
#include "device/ir_drop.hpp"

namespace acim {
namespace {

// Runs f, expects an acim::Error whose message contains `needle`.
template <typename F>
void expect_error(F f, const std::string& needle) {
  try {
    f();
    ADD_FAILURE() << "expected an acim::Error mentioning '" << needle << "'";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

struct Moments {
  double mean = 0, var = 0;  // sample mean and (unbiased) variance
};
Moments moments(const std::vector<double>& v) {
  Moments m;
  for (double x : v) m.mean += x;
  m.mean /= static_cast<double>(v.size());
  for (double x : v) m.var += (x - m.mean) * (x - m.mean);
  m.var /= static_cast<double>(v.size() - 1);
  return m;
}

// ---------------------------------------------------------------------------------------------
// DAC

TEST(Dac, QuantizesToLevelsWithRoundHalfEvenAndClipping) {
  DacParams p;
  p.bits = 3;  // L = 3 levels per sign
  DacModel dac(p, true);
  dac.set_input_range(3.0f);  // step = 1
  EXPECT_EQ(dac.levels(), 3);
  EXPECT_EQ(dac.step(), 1.0f);
  std::vector<float> x = {0.5f, 1.5f, 2.5f, -0.5f, -1.5f, -2.5f, 1.2f, -0.7f, 3.7f, -10.0f, 0.0f};
  std::vector<float> want = {0.0f, 2.0f, 2.0f, 0.0f, -2.0f, -2.0f, 1.0f, -1.0f, 3.0f, -3.0f, 0.0f};
  dac.quantize(x.data(), x.size());
  EXPECT_EQ(x, want);
}

TEST(Dac, QuantizationErrorIsAtMostHalfAStep) {
  DacParams p;
  p.bits = 8;
  DacModel dac(p, true);
  dac.set_input_range(0.7f);
  RandomStream s(7, {1});
  std::vector<float> x(10000);
  s.uniform(x.data(), x.size());
  for (float& v : x) v = 1.4f * v - 0.7f;
  std::vector<float> q = x;
  dac.quantize(q.data(), q.size());
  const double step = 0.7 / 127;
  for (size_t i = 0; i < x.size(); ++i) {
    EXPECT_LE(std::fabs(q[i] - x[i]), 0.5 * step * (1 + 1e-5)) << i;
    double lv = q[i] / step;
    EXPECT_NEAR(lv, std::round(lv), 1e-4) << "not on the level grid: " << q[i];
  }
}

TEST(Dac, PulseWidthQuantizesLikeAmplitude) {
  DacParams amp, pw;
  amp.bits = pw.bits = 5;
  pw.mode = DacMode::pulse_width;
  DacModel a(amp, true), b(pw, true);
  a.set_input_range(2.0f);
  b.set_input_range(2.0f);
  std::vector<float> x(500);
  RandomStream(4).normal(x.data(), x.size());
  std::vector<float> ya = x, yb = x;
  a.quantize(ya.data(), ya.size());
  b.quantize(yb.data(), yb.size());
  EXPECT_EQ(ya, yb);
  EXPECT_NE(ya, x);
}

TEST(Dac, DisabledIsIdentity) {
  DacParams p;
  p.bits = 2;
  DacModel dac(p, false);
  std::vector<float> x = {0.123f, -5.0f, 0.77f};
  std::vector<float> y = x;
  dac.quantize(y.data(), y.size());
  EXPECT_EQ(x, y);
}

TEST(Dac, BitPlanesRecombineExactly) {
  for (int bits : {2, 3, 5, 8, 12, 16}) {
    DacParams p;
    p.bits = bits;
    p.mode = DacMode::bit_serial;
    DacModel dac(p, true);
    dac.set_input_range(0.731f);
    EXPECT_EQ(dac.cycles(), bits - 1);
    RandomStream s(11, {static_cast<uint64_t>(bits)});
    std::vector<float> x(2000);
    s.uniform(x.data(), x.size());
    for (float& v : x) v = 2.0f * (2.0f * v - 1.0f);  // beyond the range too: clipping
    x[0] = 0.731f;
    x[1] = -0.731f;
    x[2] = 0.0f;
    std::vector<float> q = x;
    dac.quantize(q.data(), q.size());
    std::vector<double> sum(x.size(), 0.0);
    std::vector<float> plane(x.size()), plane_q(x.size());
    for (int k = 0; k < dac.cycles(); ++k) {
      dac.bit_plane(x.data(), x.size(), k, plane.data());
      dac.bit_plane(q.data(), q.size(), k, plane_q.data());
      ASSERT_EQ(plane, plane_q) << "planes of x and of quantised x differ, bits " << bits;
      for (size_t i = 0; i < x.size(); ++i) {
        ASSERT_TRUE(plane[i] == 0.0f || plane[i] == 1.0f || plane[i] == -1.0f);
        sum[i] += static_cast<double>(dac.plane_weight(k)) * plane[i];
      }
    }
    for (size_t i = 0; i < x.size(); ++i) {
      ASSERT_EQ(static_cast<float>(sum[i]), q[i]) << "bits " << bits << " x " << x[i];
    }
  }
}

TEST(Dac, BadParametersNameTheParameter) {
  for (int bits : {0, 1, 25}) {
    DacParams p;
    p.bits = bits;
    expect_error([&] { DacModel d(p, true); }, "dac.bits");
  }
  DacParams p;
  p.v_read = -0.1;
  expect_error([&] { DacModel d(p, true); }, "dac.v_read");
  DacModel d(DacParams{}, true);
  expect_error([&] { d.set_input_range(0.0f); }, "input range");
  expect_error([&] { d.set_input_range(std::nanf("")); }, "input range");
}

// ---------------------------------------------------------------------------------------------
// ADC

AdcParams ideal_adc(int bits, double full_scale) {
  AdcParams p;
  p.bits = bits;
  p.range = AdcRange::fixed;
  p.full_scale_ua = full_scale;
  return p;
}

TEST(Adc, DisabledIsIdentity) {
  AdcParams p = ideal_adc(4, 1.0);
  p.noise_sigma_lsb = 3;
  p.offset_sigma_lsb = 2;
  p.gain_sigma_rel = 0.1;
  AdcModel adc(p, 3, false, RandomStream(1));
  std::vector<float> x = {0.1234f, -7.0f, 0.5f, 1e3f, 0.0f, -0.3f};
  std::vector<float> y = x;
  adc.convert(y.data(), 2, RandomStream(2));
  EXPECT_EQ(x, y);
}

TEST(Adc, QuantizationErrorIsUniformWithVarianceLsbSquaredOver12) {
  const int cols = 50, batch = 4000;
  const double fs = 3.0;
  AdcModel adc(ideal_adc(8, fs), cols, true, RandomStream(1));
  const double lsb = fs / 127;
  EXPECT_DOUBLE_EQ(adc.lsb_ua(0), lsb);
  // Inputs uniform over exactly 201 code cells, [-100.5, 100.5] LSB: the error is uniform on
  // [-lsb/2, lsb/2].
  std::vector<float> x(static_cast<size_t>(cols * batch));
  RandomStream(3, {4}).uniform(x.data(), x.size());
  for (float& v : x) v = static_cast<float>((201.0 * v - 100.5) * lsb);
  std::vector<float> y = x;
  adc.convert(y.data(), batch, RandomStream(5));
  const double n = static_cast<double>(x.size());
  double sum = 0, sum2 = 0;
  for (size_t k = 0; k < x.size(); ++k) {
    double e = (static_cast<double>(y[k]) - x[k]) / lsb;  // in LSB
    ASSERT_LE(std::fabs(e), 0.5 + 1e-4) << k;
    double code = y[k] / lsb;
    ASSERT_NEAR(code, std::round(code), 1e-4);
    sum += e;
    sum2 += e * e;
  }
  // e ~ U(-1/2, 1/2) LSB: mean 0, E[e^2] = 1/12, Var(e) = 1/12, Var(e^2) = 1/80 - 1/144 = 1/180.
  const double se_mean = std::sqrt(1.0 / 12 / n);
  const double se_e2 = std::sqrt(1.0 / 180 / n);
  EXPECT_NEAR(sum / n, 0.0, 5 * se_mean);
  EXPECT_NEAR(sum2 / n, 1.0 / 12, 5 * se_e2);
}

TEST(Adc, ClipsAtFullScaleAndUsesSymmetricCodes) {
  AdcModel adc(ideal_adc(4, 2.0), 2, true, RandomStream(1));  // N = 7, lsb = 2/7
  EXPECT_EQ(adc.max_code(), 7);
  std::vector<float> x = {100.0f, -100.0f, 2.0f, -2.0f, 0.0f, static_cast<float>(2.0 / 7 * 3.4)};
  adc.convert(x.data(), 3, RandomStream(2));
  EXPECT_FLOAT_EQ(x[0], 2.0f);
  EXPECT_FLOAT_EQ(x[1], -2.0f);
  EXPECT_FLOAT_EQ(x[2], 2.0f);
  EXPECT_FLOAT_EQ(x[3], -2.0f);
  EXPECT_EQ(x[4], 0.0f);
  EXPECT_FLOAT_EQ(x[5], static_cast<float>(2.0 / 7 * 3));
}

TEST(Adc, PerColumnFullScaleAndZeroRange) {
  AdcModel adc(ideal_adc(8, 1.0), 3, true, RandomStream(1));
  adc.set_full_scale({1.0f, 10.0f, 0.0f});
  std::vector<float> x = {5.0f, 5.0f, 5.0f};
  adc.convert(x.data(), 1, RandomStream(2));
  EXPECT_FLOAT_EQ(x[0], 1.0f);               // clipped
  EXPECT_NEAR(x[1], 5.0, 0.5 * 10.0 / 127);  // in range
  EXPECT_EQ(x[2], 0.0f);                     // zero range
  expect_error([&] { adc.set_full_scale({1.0f}); }, "columns");
  expect_error([&] { adc.set_full_scale({1.0f, -1.0f, 1.0f}); }, "column 1");
}

TEST(Adc, StaticOffsetAndGainHaveTheConfiguredStatisticsAcrossInstances) {
  const int cols = 64, instances = 400;
  AdcParams p = ideal_adc(8, 1.0);
  p.offset_sigma_lsb = 0.8;
  p.gain_sigma_rel = 0.03;
  std::vector<double> offs, gains;
  for (int inst = 0; inst < instances; ++inst) {
    AdcModel adc(p, cols, true, RandomStream(9, {static_cast<uint64_t>(inst)}));
    for (int j = 0; j < cols; ++j) {
      offs.push_back(adc.offset_lsb()[j]);
      gains.push_back(adc.gain()[j]);
    }
  }
  const double n = static_cast<double>(offs.size());
  Moments mo = moments(offs), mg = moments(gains);
  // Mean: se = sigma / sqrt(n). Sample variance of normal data: se = sigma^2 sqrt(2 / (n - 1)).
  EXPECT_NEAR(mo.mean, 0.0, 5 * 0.8 / std::sqrt(n));
  EXPECT_NEAR(mo.var, 0.64, 5 * 0.64 * std::sqrt(2 / (n - 1)));
  EXPECT_NEAR(mg.mean, 1.0, 5 * 0.03 / std::sqrt(n));
  EXPECT_NEAR(mg.var, 0.0009, 5 * 0.0009 * std::sqrt(2 / (n - 1)));
  // Offset and gain are drawn independently: correlation ~ N(0, 1/n).
  double cov = 0;
  for (size_t k = 0; k < offs.size(); ++k) cov += (offs[k] - mo.mean) * (gains[k] - mg.mean);
  double corr = cov / (n - 1) / std::sqrt(mo.var * mg.var);
  EXPECT_NEAR(corr, 0.0, 5 / std::sqrt(n));
}

TEST(Adc, StaticErrorsAreFixedPerInstanceAndAppliedToEveryConversion) {
  AdcParams p = ideal_adc(16, 10.0);
  p.offset_sigma_lsb = 5.0;
  p.gain_sigma_rel = 0.05;
  const int cols = 8;
  AdcModel a(p, cols, true, RandomStream(3, {1}));
  AdcModel b(p, cols, true, RandomStream(3, {1}));
  AdcModel c(p, cols, true, RandomStream(3, {2}));
  EXPECT_EQ(a.offset_lsb(), b.offset_lsb());
  EXPECT_EQ(a.gain(), b.gain());
  EXPECT_NE(a.offset_lsb(), c.offset_lsb());
  // out = round(gain * I / lsb + offset) * lsb, checked to half an LSB for two batch rows.
  std::vector<float> x(2 * cols);
  for (int k = 0; k < 2 * cols; ++k) x[k] = static_cast<float>(0.7 * (k % 5) - 1.3);
  std::vector<float> y = x;
  a.convert(y.data(), 2, RandomStream(4));
  const double lsb = a.lsb_ua(0);
  for (int k = 0; k < 2 * cols; ++k) {
    int j = k % cols;
    double want = a.gain()[j] * x[k] + a.offset_lsb()[j] * lsb;
    EXPECT_NEAR(y[k], want, 0.5 * lsb + 1e-6) << k;
  }
}

TEST(Adc, NoiseHasTheConfiguredStdAndIsDrawBTimesColsPlusJ) {
  AdcParams p = ideal_adc(12, 1.0);
  p.noise_sigma_lsb = 3.0;
  const int cols = 64, batch = 1000;
  AdcModel adc(p, cols, true, RandomStream(1));
  const double lsb = adc.lsb_ua(0);
  std::vector<float> y(static_cast<size_t>(cols * batch), 0.0f);
  RandomStream noise(77, {5});
  adc.convert(y.data(), batch, noise);
  std::vector<double> codes;
  for (size_t k = 0; k < y.size(); ++k) {
    double code = y[k] / lsb;
    codes.push_back(code);
    // Draw number b * cols + j = k: the code is that normal times sigma, rounded.
    ASSERT_LE(std::fabs(code - 3.0 * noise.normal_at(k)), 0.5 + 1e-3) << k;
  }
  // Var(round(3 z)) = 9 + 1/12 (rounding error ~ U(-1/2, 1/2), independent of z for sigma >> 1
  // LSB). Sample variance se = var sqrt(2 / (n - 1)) (the data are very nearly normal).
  const double n = static_cast<double>(codes.size());
  const double var = 9 + 1.0 / 12;
  Moments m = moments(codes);
  EXPECT_NEAR(m.mean, 0.0, 5 * std::sqrt(var / n));
  EXPECT_NEAR(m.var, var, 5 * var * std::sqrt(2 / (n - 1)));
  // Fresh per conversion: another stream gives other noise, the same stream the same.
  std::vector<float> y2(y.size(), 0.0f), y3(y.size(), 0.0f);
  adc.convert(y2.data(), batch, noise);
  adc.convert(y3.data(), batch, RandomStream(77, {6}));
  EXPECT_EQ(y, y2);
  EXPECT_NE(y, y3);
}

TEST(Adc, ResultDoesNotDependOnTheThreadCount) {
  AdcParams p = ideal_adc(6, 2.0);
  p.noise_sigma_lsb = 0.7;
  p.offset_sigma_lsb = 0.3;
  p.gain_sigma_rel = 0.02;
  p.inl_lsb = 0.4;
  const int cols = 37, batch = 101;
  AdcModel adc(p, cols, true, RandomStream(5));
  std::vector<float> x(static_cast<size_t>(cols * batch));
  RandomStream(6).normal(x.data(), x.size());
  const int saved = num_threads();
  std::vector<float> y1 = x, y4 = x;
  set_num_threads(1);
  adc.convert(y1.data(), batch, RandomStream(8));
  set_num_threads(4);
  adc.convert(y4.data(), batch, RandomStream(8));
  set_num_threads(saved);
  EXPECT_EQ(y1, y4);
  EXPECT_NE(y1, x);
}

TEST(Adc, IntegralNonLinearityIsASmoothBowZeroAtTheEndsAndMiddle) {
  AdcParams p = ideal_adc(8, 127.0);  // lsb = 1 µA
  p.inl_lsb = 2.0;
  const int n_codes = 127;
  std::vector<float> x;
  for (int k = -n_codes; k <= n_codes; ++k) x.push_back(static_cast<float>(k));
  AdcModel adc(p, static_cast<int>(x.size()), true, RandomStream(1));
  std::vector<float> y = x;
  adc.convert(y.data(), 1, RandomStream(2));
  double max_dev = 0;
  for (size_t k = 0; k < x.size(); ++k) {
    double u = x[k];
    double want = std::nearbyint(u + 2.0 * std::sin(M_PI * u / n_codes));
    want = std::fmin(std::fmax(want, -n_codes), n_codes);
    EXPECT_EQ(y[k], static_cast<float>(want)) << "u " << u;
    max_dev = std::fmax(max_dev, std::fabs(y[k] - u));
  }
  EXPECT_EQ(y[static_cast<size_t>(n_codes)], 0.0f);  // middle
  EXPECT_EQ(y.front(), -127.0f);                     // ends
  EXPECT_EQ(y.back(), 127.0f);
  EXPECT_EQ(max_dev, 2.0);                                 // peak of the bow
  EXPECT_EQ(y[static_cast<size_t>(n_codes + 64)], 66.0f);  // u = 64 ~ N/2: +2 LSB
  EXPECT_EQ(y[static_cast<size_t>(n_codes - 64)], -66.0f);
}

TEST(Adc, BadParametersNameTheParameter) {
  for (int bits : {0, 1, 25}) {
    AdcParams p = ideal_adc(bits, 1.0);
    expect_error([&] { AdcModel a(p, 4, true, RandomStream(1)); }, "adc.bits");
  }
  AdcParams p = ideal_adc(8, 1.0);
  p.noise_sigma_lsb = -1;
  expect_error([&] { AdcModel a(p, 4, true, RandomStream(1)); }, "adc.noise_sigma_lsb");
  p = ideal_adc(8, 1.0);
  p.offset_sigma_lsb = std::nan("");
  expect_error([&] { AdcModel a(p, 4, true, RandomStream(1)); }, "adc.offset_sigma_lsb");
  p = ideal_adc(8, 1.0);
  p.gain_sigma_rel = -0.1;
  expect_error([&] { AdcModel a(p, 4, true, RandomStream(1)); }, "adc.gain_sigma_rel");
  p = ideal_adc(8, 0.0);
  expect_error([&] { AdcModel a(p, 4, true, RandomStream(1)); }, "adc.full_scale_ua");
}

// ---------------------------------------------------------------------------------------------
// IR drop

std::vector<float> random_conductances(int rows, int cols, uint64_t seed, float g_max) {
  std::vector<float> g(static_cast<size_t>(rows * cols));
  RandomStream(seed, {1}).uniform(g.data(), g.size());
  for (float& v : g) v *= g_max;
  return g;
}

TEST(IrDrop, ZeroResistanceIsTheExactProduct) {
  const int rows = 5, cols = 7;
  std::vector<float> g = random_conductances(rows, cols, 1, 25.0f);
  std::vector<float> v = {0.2f, -0.1f, 0.0f, 0.05f, 0.15f};
  std::vector<double> i_nodal = ir_drop_nodal_currents(g.data(), rows, cols, 0.0, v.data());
  std::vector<float> g_eff(g.size());
  ir_drop_effective_conductances(g.data(), rows, cols, 0.0, g_eff.data());
  EXPECT_EQ(g, g_eff);
  for (int j = 0; j < cols; ++j) {
    double want = 0;
    for (int i = 0; i < rows; ++i) want += static_cast<double>(v[i]) * g[i * cols + j];
    EXPECT_DOUBLE_EQ(i_nodal[j], want);
  }
}

TEST(IrDrop, OneCellIsASeriesCircuit) {
  // driver -R- cell g -R- sense: I = v / (2 r 1e-6 + 1 / g)   (MΩ and µS -> µA).
  const float g = 20.0f, v = 0.2f;
  const double r = 1000.0;
  std::vector<double> i = ir_drop_nodal_currents(&g, 1, 1, r, &v);
  double want = v / (2 * r * 1e-6 + 1.0 / g);
  EXPECT_NEAR(i[0], want, 1e-12 * want);
  std::vector<double> i_big = ir_drop_nodal_currents(&g, 1, 1, 0.0, &v);
  EXPECT_GT(i_big[0], i[0]);
}

TEST(IrDrop, OneRowTwoColumnsByHand) {
  // v -R- r0 -R- r1; g0: r0 -> c0 -R- sense; g1: r1 -> c1 -R- sense. rho = r * 1e-6 MΩ.
  // Each column branch is g_j in series with rho: h_j = 1 / (1 / g_j + rho). The branch from r0
  // through the second row segment: k1 = 1 / (rho + 1 / h1). Node r0: (v - V0) / rho =
  // V0 (h0 + k1), so V0 = v (1 / rho) / (1 / rho + h0 + k1); I0 = V0 h0, I1 = V0 k1.
  const float g[2] = {10.0f, 25.0f};
  const float v = 0.3f;
  const double r = 2000.0, rho = r * 1e-6;
  double h0 = 1 / (1 / static_cast<double>(g[0]) + rho);
  double h1 = 1 / (1 / static_cast<double>(g[1]) + rho);
  double k1 = 1 / (rho + 1 / h1);
  double v0 = v * (1 / rho) / (1 / rho + h0 + k1);
  IrDropSolution s = ir_drop_nodal_solve(g, 1, 2, r, &v);
  EXPECT_NEAR(s.col_current_ua[0], v0 * h0, 1e-11 * v0 * h0);
  EXPECT_NEAR(s.col_current_ua[1], v0 * k1, 1e-11 * v0 * k1);
  EXPECT_NEAR(s.row_current_ua[0], v0 * (h0 + k1), 1e-11 * v0 * (h0 + k1));
}

TEST(IrDrop, TwoRowsOneColumnByHand) {
  // Row i: v_i -R- r(i) -g_i- c(i), a source v_i behind s_i = 1 / (rho + 1 / g_i).
  // Column: c0 -R- c1 -R- sense. With w = 1 / rho, KCL:
  //   c0: (s0 + w) c0 - w c1 = s0 v0
  //   c1: -w c0 + (2 w + s1) c1 = s1 v1
  // I = w c1 (Cramer's rule below).
  const float g[2] = {15.0f, 5.0f};
  const float v[2] = {0.2f, -0.05f};
  const double r = 3000.0, rho = r * 1e-6, w = 1 / rho;
  double s0 = 1 / (rho + 1 / static_cast<double>(g[0]));
  double s1 = 1 / (rho + 1 / static_cast<double>(g[1]));
  double a11 = s0 + w, a12 = -w, a21 = -w, a22 = 2 * w + s1;
  double b1 = s0 * v[0], b2 = s1 * v[1];
  double c1 = (a11 * b2 - a21 * b1) / (a11 * a22 - a12 * a21);
  IrDropSolution s = ir_drop_nodal_solve(g, 2, 1, r, v);
  EXPECT_NEAR(s.col_current_ua[0], w * c1, 1e-11 * std::fabs(w * c1));
}

TEST(IrDrop, KirchhoffCurrentInEqualsCurrentOut) {
  const int rows = 16, cols = 16;
  std::vector<float> g = random_conductances(rows, cols, 2, 25.0f);
  std::vector<float> v(rows);
  RandomStream(3).uniform(v.data(), v.size());
  for (float& x : v) x = 0.4f * x - 0.2f;
  IrDropSolution s = ir_drop_nodal_solve(g.data(), rows, cols, 50.0, v.data());
  // The block-Jacobi preconditioner (exact row and column wire solves) converges in a handful
  // of iterations; plain Jacobi would need hundreds.
  EXPECT_LT(s.iterations, 30);
  double in = 0, out = 0, scale = 0;
  for (double x : s.row_current_ua) in += x, scale += std::fabs(x);
  for (double x : s.col_current_ua) out += x;
  EXPECT_NEAR(in, out, 1e-10 * scale);
  // Each row's current is the sum of its cells' currents g * (V_r - V_c).
  for (int i = 0; i < rows; ++i) {
    double sum = 0;
    for (int j = 0; j < cols; ++j) sum += g[i * cols + j] * s.cell_volts[i * cols + j];
    EXPECT_NEAR(s.row_current_ua[i], sum, 1e-10 * scale);
  }
}

// Column currents of the dense input (all rows at v) with the nodal solve and first-order g_eff.
void dense_currents(const std::vector<float>& g, int rows, int cols, double r, float v,
                    std::vector<double>* ideal, std::vector<double>* nodal,
                    std::vector<double>* first) {
  std::vector<float> vr(rows, v);
  *nodal = ir_drop_nodal_currents(g.data(), rows, cols, r, vr.data());
  std::vector<float> g_eff(g.size());
  ir_drop_effective_conductances(g.data(), rows, cols, r, g_eff.data());
  ideal->assign(cols, 0.0);
  first->assign(cols, 0.0);
  for (int i = 0; i < rows; ++i) {
    for (int j = 0; j < cols; ++j) {
      (*ideal)[j] += static_cast<double>(v) * g[i * cols + j];
      (*first)[j] += static_cast<double>(v) * g_eff[i * cols + j];
    }
  }
}

TEST(IrDrop, FirstOrderModelMatchesTheNodalSolveForSmallDrops) {
  // The first-order model evaluates the wire drops with the nominal cell currents, so its
  // error is second order: about (relative drop) x (drop). Check |first - nodal| <= 2 * d * drop
  // per column, d the largest relative drop, for 16x16 and 64x64 arrays at r * g_max (ohm * S)
  // of 1e-4 / 6.25e-6 (drops of about 1 %) and 10x smaller (about 0.1 %, where the bound is
  // 10x tighter).
  struct Case {
    int n;
    double r;
  } cases[] = {{16, 4.0}, {64, 0.25}, {16, 0.4}, {64, 0.025}};
  for (const Case& c : cases) {
    std::vector<float> g = random_conductances(c.n, c.n, 10 + c.n, 25.0f);
    std::vector<double> ideal, nodal, first;
    dense_currents(g, c.n, c.n, c.r, 0.2f, &ideal, &nodal, &first);
    double d = 0;
    for (int j = 0; j < c.n; ++j) d = std::fmax(d, (ideal[j] - nodal[j]) / ideal[j]);
    EXPECT_GT(d, 0.0005) << "the test must exercise a visible drop";
    EXPECT_LT(d, 0.05);
    for (int j = 0; j < c.n; ++j) {
      double drop = ideal[j] - nodal[j];
      ASSERT_GT(drop, 0) << "IR drop must reduce the current, column " << j;
      EXPECT_NEAR(first[j], nodal[j], 2 * d * drop) << "n " << c.n << " r " << c.r << " col " << j;
    }
  }
}

TEST(IrDrop, DropGrowsWithResistanceAndArraySize) {
  // Uniform conductances: to first order the relative drop is proportional to r and to n^2.
  auto rel_drop = [](int n, double r) {
    std::vector<float> g(static_cast<size_t>(n * n), 20.0f);
    std::vector<double> ideal, nodal, first;
    dense_currents(g, n, n, r, 0.2f, &ideal, &nodal, &first);
    double a = 0, b = 0;
    for (int j = 0; j < n; ++j) a += ideal[j], b += nodal[j];
    return (a - b) / a;
  };
  double d16_1 = rel_drop(16, 1.0), d16_2 = rel_drop(16, 2.0), d32_1 = rel_drop(32, 1.0);
  EXPECT_GT(d16_1, 0);
  EXPECT_NEAR(d16_2 / d16_1, 2.0, 0.1);  // linear in r (second-order terms ~ drop ~ 1 %)
  EXPECT_NEAR(d32_1 / d16_1, 4.0, 0.4);  // ~n^2 (exactly (n+1)(2n+1)/... for finite n)
  EXPECT_GT(rel_drop(64, 1.0), d32_1);
}

TEST(IrDrop, BadInputIsAnError) {
  std::vector<float> g = {1.0f, 2.0f};
  float v[1] = {0.1f};
  std::vector<float> out(2);
  expect_error([&] { ir_drop_nodal_currents(g.data(), 1, 2, -1.0, v); }, "ir_drop.wire_r_ohm");
  expect_error([&] { ir_drop_effective_conductances(g.data(), 1, 2, std::nan(""), out.data()); },
               "ir_drop.wire_r_ohm");
  g[1] = std::nanf("");
  expect_error([&] { ir_drop_nodal_currents(g.data(), 1, 2, 1.0, v); }, "conductance");
}

}  // namespace
}  // namespace acim
