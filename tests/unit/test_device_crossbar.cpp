// CrossbarArray: exactness with every non-ideality off, determinism, and the statistics of each
// noise source against its analytic value (tolerances from the sample count).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include "acim/crossbar.hpp"
#include "acim/device.hpp"
#include "acim/rng.hpp"
#include "acim/threads.hpp"
#include "device/cell_models.hpp"
#include "device/encoding.hpp"

namespace acim {
namespace {

NonIdealities all_off() {
  NonIdealities n;
  n.programming = n.drift = n.read_noise = n.faults = false;
  n.dac = n.adc = n.ir_drop = n.temperature = false;
  return n;
}

Tensor uniform(uint64_t seed, int64_t r, int64_t c, int steps = 0) {
  Tensor t(DType::f32, {r, c});
  RandomStream s(seed, {77});
  float* d = t.data<float>();
  for (int64_t k = 0; k < t.numel(); ++k) {
    double u = s.uniform_at(static_cast<uint64_t>(k)) * 2 - 1;
    d[k] = steps == 0 ? static_cast<float>(u) : static_cast<float>(std::round(u * steps) / steps);
  }
  return t;
}

// Weights the encoding holds exactly; each column reaches +-1.
Tensor representable(const ArrayParams& p, int rows, int cols, uint64_t seed) {
  Tensor w = uniform(seed, rows, cols, encoding_magnitude_steps(p));
  for (int j = 0; j < cols; ++j) w.data<float>()[(j % rows) * cols + j] = j % 2 ? -1.0f : 1.0f;
  return w;
}

// Per output element: |y - y_ref| <= tol * sum_i |x_i| |w_ij| (the natural scale of a dot
// product's rounding error).
void expect_close(const Tensor& x, const Tensor& w, const Tensor& y, const Tensor& ref,
                  double tol) {
  const int64_t batch = x.dim(0), rows = x.dim(1), cols = w.dim(1);
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t j = 0; j < cols; ++j) {
      double mag = 0;
      for (int64_t i = 0; i < rows; ++i)
        mag += std::fabs(x.data<float>()[b * rows + i] * w.data<float>()[i * cols + j]);
      const double d = std::fabs(y.data<float>()[b * cols + j] - ref.data<float>()[b * cols + j]);
      ASSERT_LE(d, tol * mag + 1e-30) << "b=" << b << " j=" << j;
    }
}

// (a) With every non-ideality off the array computes the float product, for every cell type,
// encoding and DAC mode, with and without row groups.
TEST(Crossbar, EverythingOffEqualsTheFloatProduct) {
  for (CellType t : {CellType::ideal, CellType::pcm, CellType::rram, CellType::sram_charge,
                     CellType::sram_current, CellType::flash}) {
    for (Encoding enc : {Encoding::differential, Encoding::offset_column, Encoding::bit_sliced}) {
      for (int parallel : {0, 24}) {
        ArrayParams p = default_array_params(t);
        p.rows = 64;
        p.cols = 64;
        p.parallel_rows = parallel;
        p.effects = all_off();
        p.encoding.scheme = enc;
        if (enc == Encoding::offset_column && p.cell.levels == 2) continue;
        if (enc == Encoding::bit_sliced && p.cell.levels != 2) {
          p.encoding.bits_per_cell = 4;
          p.encoding.slices = 2;
        }
        SCOPED_TRACE(cell_type_name(t) + " enc " + std::to_string(static_cast<int>(enc)) +
                     " parallel " + std::to_string(parallel));
        const int rows = 50, cols = std::min(7, p.logical_cols());
        Tensor w = representable(p, rows, cols, 11);
        Tensor x = uniform(12, 9, rows);
        CrossbarArray a(p, RandomStream(5, {1}));
        a.program(w);
        a.calibrate(x);
        expect_close(x, w, a.mvm(x), a.mvm_reference(x), 1e-5);
      }
    }
  }
}

// With the DAC and ADC on at 16 bits (amplitude and bit-serial) the error stays within the
// quantisation bound: DAC half step on every input, ADC half LSB on every signal.
TEST(Crossbar, SixteenBitConvertersStayWithinTheirQuantisationBound) {
  for (DacMode mode : {DacMode::amplitude, DacMode::bit_serial}) {
    ArrayParams p = default_array_params(CellType::pcm);
    p.rows = 64;
    p.cols = 32;
    p.effects = all_off();
    p.effects.dac = p.effects.adc = true;
    p.dac.bits = 16;
    p.adc.bits = 16;
    p.dac.mode = mode;
    const int rows = 64, cols = 16;
    Tensor w = uniform(21, rows, cols);
    Tensor x = uniform(22, 8, rows);
    CrossbarArray a(p, RandomStream(5, {2}));
    a.program(w);
    a.calibrate(x);
    Tensor y = a.mvm(x), ref = a.mvm_reference(x);
    // DAC: |dx| <= x_max / (2 * 32767) per input -> sum_i |w_ij| of it. ADC: each conversion
    // errs by <= LSB / 2 = fs / (2 * 32767); fs <= sum_i |g+ - g-| v_read, recombined by
    // scale * x_max / v_read (amplitude, one conversion) or by plane weights summing to
    // (2^15 - 1) * x_max / 32767 (bit-serial, 15 conversions): both <= sum_i |w_ij| x_max / 32767.
    double x_max = 0;
    for (float v : x.span<float>()) x_max = std::max(x_max, static_cast<double>(std::fabs(v)));
    for (int b = 0; b < 8; ++b)
      for (int j = 0; j < cols; ++j) {
        double sw = 0;
        for (int i = 0; i < rows; ++i) sw += std::fabs(w.data<float>()[i * cols + j]);
        const double bound = sw * x_max / (2 * 32767.0) + sw * x_max / 32767.0 + 1e-5 * sw;
        EXPECT_LE(std::fabs(y.data<float>()[b * cols + j] - ref.data<float>()[b * cols + j]), bound)
            << "mode " << static_cast<int>(mode) << " b=" << b << " j=" << j;
      }
  }
}

// (e) Same seed -> bit-identical outputs at 1 and 2 threads; another instance -> other noise.
TEST(Crossbar, DeterministicForAnyThreadCountAndDifferentAcrossInstances) {
  ArrayParams p = default_array_params(CellType::rram);
  p.rows = 128;
  p.cols = 128;
  p.adc.noise_sigma_lsb = 0.5;
  Tensor w = uniform(31, 128, 64);
  Tensor x = uniform(32, 64, 128);
  auto run = [&](int threads, uint64_t instance) {
    set_num_threads(threads);
    CrossbarArray a(p, RandomStream(9, {instance}));
    a.program(w);
    a.calibrate(x);
    Tensor y1 = a.mvm(x);
    Tensor y2 = a.mvm(x);
    return std::vector<Tensor>{y1, y2};
  };
  auto r1 = run(1, 0), r2 = run(2, 0), r3 = run(1, 1);
  set_num_threads(0);
  for (int k = 0; k < 2; ++k)
    for (int64_t i = 0; i < r1[k].numel(); ++i)
      ASSERT_EQ(r1[k].data<float>()[i], r2[k].data<float>()[i]) << "k=" << k << " i=" << i;
  // per-MVM noise differs between calls, static noise between instances
  int same_calls = 0, same_inst = 0;
  for (int64_t i = 0; i < r1[0].numel(); ++i) {
    same_calls += r1[0].data<float>()[i] == r1[1].data<float>()[i];
    same_inst += r1[0].data<float>()[i] == r3[0].data<float>()[i];
  }
  // (the 8-bit ADC maps nearby values to one code, so some outputs coincide)
  EXPECT_LT(same_calls, r1[0].numel() / 2);
  EXPECT_LT(same_inst, r1[0].numel() / 2);
}

// ---- statistics -------------------------------------------------------------------------

struct Moments {
  double mean = 0, sd = 0;
  size_t n = 0;
};
Moments moments(const std::vector<double>& v) {
  Moments m;
  m.n = v.size();
  for (double a : v) m.mean += a;
  m.mean /= static_cast<double>(m.n);
  double ss = 0;
  for (double a : v) ss += (a - m.mean) * (a - m.mean);
  m.sd = std::sqrt(ss / static_cast<double>(m.n - 1));
  return m;
}

// Sample mean and std against analytic (mu, sigma), 5 standard errors each:
//   SE(mean) = sigma / sqrt(n);  SE(std) ~= sigma / sqrt(2 (n - 1)) (Gaussian samples).
void expect_moments(const std::vector<double>& v, double mu, double sigma,
                    const std::string& what) {
  Moments m = moments(v);
  const double se_mean = sigma / std::sqrt(static_cast<double>(m.n));
  const double se_sd = sigma / std::sqrt(2.0 * static_cast<double>(m.n - 1));
  EXPECT_NEAR(m.mean, mu, 5 * se_mean) << what << " mean";
  EXPECT_NEAR(m.sd, sigma, 5 * se_sd) << what << " std";
}

// Per-MVM RRAM read noise: over many MVM calls each output is N(y_ref, scale_j^2 sum_i x_i^2
// (s g+_ij)^2 + (s g-_ij)^2), s = read_noise_rel. With adc_noise_lsb > 0 the ADC is on (12 bits,
// a fixed range far above these signals, so nothing clips) with that much input-referred noise,
// drawn with the read noise as one normal per conversion (AdcModel::AnalogNoise): each output's
// variance then adds (scale_j x_max / v_read)^2 lsb^2 (adc_noise_lsb^2 + 1/12), the ADC's noise
// and its rounding (uniform on one LSB, independent of the signal: Sheppard's correction, exact
// to ~1e-8 of the variance for noise of 2 LSB).
void expect_rram_read_noise(double rel, double adc_noise_lsb) {
  ArrayParams p = default_array_params(CellType::rram);
  p.rows = 32;
  p.cols = 16;
  p.effects = all_off();
  p.effects.read_noise = true;
  p.cell.levels = 0;
  p.cell.rram.read_noise_rel = rel;
  double lsb = 0;
  if (adc_noise_lsb > 0) {
    p.effects.adc = true;
    p.adc.bits = 12;
    p.adc.range = AdcRange::fixed;
    p.adc.full_scale_ua = 100.0;
    p.adc.noise_sigma_lsb = adc_noise_lsb;
    lsb = p.adc.full_scale_ua / ((1 << (p.adc.bits - 1)) - 1);
  }
  const double adc_var = lsb * lsb * (adc_noise_lsb * adc_noise_lsb + 1.0 / 12);
  const int rows = 32, cols = 8, n = 20000;
  Tensor w = uniform(41, rows, cols);
  Tensor x = uniform(42, 1, rows);
  CrossbarArray a(p, RandomStream(3));
  a.program(w);
  a.calibrate(x);
  Tensor ref = a.mvm_reference(x);
  EncodedWeights e = encode_weights(w.data<float>(), rows, cols, p);
  float x_max = 0;
  for (float v : x.span<float>()) x_max = std::max(x_max, std::fabs(v));
  const double k = static_cast<double>(x_max) / p.dac.v_read;  // current to output units
  std::vector<std::vector<double>> ys(cols);
  for (int t = 0; t < n; ++t) {
    Tensor y = a.mvm(x);
    for (int j = 0; j < cols; ++j) ys[j].push_back(y.data<float>()[j]);
  }
  for (int j = 0; j < cols; ++j) {
    double var = 0;
    for (int i = 0; i < rows; ++i) {
      const double xi = x.data<float>()[i];
      const double gp = e.g_us[i * e.phys_cols + 2 * j], gm = e.g_us[i * e.phys_cols + 2 * j + 1];
      var += xi * xi * rel * rel * (gp * gp + gm * gm);
    }
    expect_moments(ys[j], ref.data<float>()[j], e.scale[j] * std::sqrt(var + k * k * adc_var),
                   "column " + std::to_string(j));
  }
}

TEST(CrossbarStats, RramReadNoiseHasTheAnalyticMeanAndStd) {
  expect_rram_read_noise(0.05, 0);
}

// The ADC's share of the variance (about a third here) is far beyond the test's 5-sigma band
// (2.5 % of the std at n = 20000), so a lost source fails it.
TEST(CrossbarStats, ReadNoiseAndAdcNoiseAddTheirVariances) {
  expect_rram_read_noise(0.01, 2.0);
}

// SRAM thermal noise on each physical column: sigma_c = rel * N * g_max * v_read per column and
// conversion, N the cells on the column in one conversion (parallel_rows, else the array's rows:
// the column's capacitance, not the rows the matrix uses); a signal (difference of two columns)
// has 2 sigma_c^2, slice d is weighted 2^d, each row group is its own conversion, and the output
// is scale_j * x_max / v_read times that. Bit-serial inputs: every bit plane k is a conversion of
// its own, recombined with its digital weight step * 2^k (step = x_max / (2^(bits-1) - 1)), so
// x_max^2 becomes sum_k (step 2^k)^2 (Jia et al., JSSC 2020: bit-parallel / bit-serial
// recombination weights each conversion's error by its bit position).
// With adc_noise_lsb > 0 the ADC is on (12 bits, fixed range, lsb = sqrt(2) sigma_c) with that
// much noise, drawn with the column noise as one normal per conversion: each conversion then
// adds lsb^2 (adc_noise_lsb^2 + 1/12) to its signal's 2 sigma_c^2 (the 1/12 its rounding, see
// ReadNoiseAndAdcNoiseAddTheirVariances).
void expect_sram_column_noise(int array_rows, int used_rows, int parallel_rows,
                              bool bit_serial = false, double adc_noise_lsb = 0) {
  ArrayParams p = default_array_params(CellType::sram_charge);
  p.rows = array_rows;
  p.cols = 2 * 7 * 2;
  p.parallel_rows = parallel_rows;
  p.effects = all_off();
  p.effects.read_noise = true;
  p.cell.sram.thermal_noise_sigma_rel = 0.01;
  if (bit_serial) {
    p.dac.mode = DacMode::bit_serial;
    p.dac.bits = 4;
    p.effects.dac = true;
  }
  const int column = parallel_rows > 0 ? parallel_rows : array_rows;
  const double sc = 0.01 * column * p.cell.g_max_us * p.dac.v_read;
  double adc_var = 0;  // per conversion (µA²)
  if (adc_noise_lsb > 0) {
    p.effects.adc = true;
    p.adc.bits = 12;
    p.adc.range = AdcRange::fixed;
    const double lsb = std::sqrt(2.0) * sc;
    p.adc.full_scale_ua = lsb * ((1 << (p.adc.bits - 1)) - 1);
    p.adc.noise_sigma_lsb = adc_noise_lsb;
    adc_var = lsb * lsb * (adc_noise_lsb * adc_noise_lsb + 1.0 / 12);
  }
  const int cols = 2, n = 3000;
  Tensor w = representable(p, used_rows, cols, 51);
  Tensor x = uniform(52, 1, used_rows);
  CrossbarArray a(p, RandomStream(4));
  a.program(w);
  a.calibrate(x);
  float x_max = 0;
  for (float v : x.span<float>()) x_max = std::max(x_max, std::fabs(v));
  // Input weight of a conversion's noise: x_max (amplitude) or the plane weights (bit-serial,
  // on inputs quantised to the DAC's levels, which the mean then follows).
  double input_weight2 = static_cast<double>(x_max) * x_max;
  Tensor xq = x.clone();
  if (bit_serial) {
    const int levels = (1 << (p.dac.bits - 1)) - 1;
    const double step = static_cast<double>(x_max) / levels;
    input_weight2 = 0;
    for (int k = 0; k < p.dac.bits - 1; ++k)
      input_weight2 += std::pow(step * std::ldexp(1.0, k), 2);
    for (float& v : xq.span<float>())
      v = static_cast<float>(std::nearbyint(static_cast<double>(v) / step) * step);
  }
  Tensor ref = a.mvm_reference(xq);
  EncodedWeights e = encode_weights(w.data<float>(), used_rows, cols, p);
  std::vector<std::vector<double>> ys(cols);
  for (int k = 0; k < n; ++k) {
    Tensor y = a.mvm(x);
    for (int j = 0; j < cols; ++j) ys[j].push_back(y.data<float>()[j]);
  }
  const int groups = (used_rows + column - 1) / column;
  double slice_sum = 0;
  for (int d = 0; d < 7; ++d) slice_sum += std::pow(4.0, d);
  for (int j = 0; j < cols; ++j) {
    const double sigma = e.scale[j] / p.dac.v_read *
                         std::sqrt(input_weight2 * (2 * sc * sc + adc_var) * slice_sum * groups);
    expect_moments(ys[j], ref.data<float>()[j], sigma,
                   "array rows " + std::to_string(array_rows) + ", used " +
                       std::to_string(used_rows) + ", parallel " + std::to_string(parallel_rows) +
                       ", column " + std::to_string(j));
  }
}

TEST(CrossbarStats, SramColumnNoiseHasTheAnalyticStd) {
  expect_sram_column_noise(16, 16, 0);
}

// A matrix that fills a quarter of the column (a packed depthwise kernel, a small layer) sees the
// whole column's noise: 16 rows' worth, not 4. With row groups, the group is the column.
TEST(CrossbarStats, SramColumnNoiseFollowsThePhysicalColumnNotTheRowsUsed) {
  expect_sram_column_noise(16, 4, 0);
  expect_sram_column_noise(16, 4, 8);
  expect_sram_column_noise(16, 16, 8);
}

TEST(CrossbarStats, SramColumnNoiseOfBitPlanesIsWeightedByTheirPosition) {
  expect_sram_column_noise(16, 4, 0, true);
}

TEST(CrossbarStats, SramColumnNoiseAndAdcNoiseAddTheirVariances) {
  expect_sram_column_noise(16, 16, 0, false, 1.0);
  expect_sram_column_noise(16, 4, 8, false, 1.0);
  expect_sram_column_noise(16, 4, 0, true, 1.0);
}

// PCM programming noise over chip instances: a positive weight's + cell is N(g, sigma_prog(g)^2);
// its - cell (target 0) is max(0, sigma0 N(0,1)): mean sigma0 / sqrt(2 pi), variance
// sigma0^2 (1/2 - 1/(2 pi)). Outputs over instances follow from the sum.
TEST(CrossbarStats, PcmProgrammingNoiseOverInstancesMatchesTheModel) {
  ArrayParams p = default_array_params(CellType::pcm);
  p.rows = 16;
  p.cols = 4;
  p.effects = all_off();
  p.effects.programming = true;
  const int rows = 16, cols = 2, n = 2000;
  Tensor w(DType::f32, {rows, cols});
  for (int i = 0; i < rows; ++i) {
    w.data<float>()[i * cols] = 0.25f + 0.05f * static_cast<float>(i % 5);     // positive
    w.data<float>()[i * cols + 1] = -0.5f - 0.1f * static_cast<float>(i % 5);  // negative
  }
  w.data<float>()[0] = 1.0f;
  w.data<float>()[1] = -1.0f;
  Tensor x = uniform(62, 1, rows);
  EncodedWeights e = encode_weights(w.data<float>(), rows, cols, p);
  std::vector<std::vector<double>> ys(cols);
  for (int k = 0; k < n; ++k) {
    CrossbarArray a(p, RandomStream(8, {static_cast<uint64_t>(k)}));
    a.program(w);
    Tensor y = a.mvm(x);
    for (int j = 0; j < cols; ++j) ys[j].push_back(y.data<float>()[j]);
  }
  const double pi = 3.14159265358979;
  const double s0 = pcm_prog_sigma_us(p.cell, 0.0);
  for (int j = 0; j < cols; ++j) {
    double mean = 0, var = 0;
    for (int i = 0; i < rows; ++i) {
      const double xi = x.data<float>()[i];
      const double gp = e.g_us[i * e.phys_cols + 2 * j], gm = e.g_us[i * e.phys_cols + 2 * j + 1];
      const double g_on = std::max(gp, gm), sign = gp > gm ? 1 : -1;
      const double s_on = pcm_prog_sigma_us(p.cell, g_on);
      mean += xi * sign * (g_on - s0 / std::sqrt(2 * pi));
      var += xi * xi * (s_on * s_on + s0 * s0 * (0.5 - 1 / (2 * pi)));
    }
    // The sum of 32 terms, one of each kind per row, is close to Gaussian (CLT); the std's SE
    // formula assumes that.
    expect_moments(ys[j], e.scale[j] * mean, e.scale[j] * std::sqrt(var),
                   "column " + std::to_string(j));
  }
}

// Static cell effects, measured on the cells of one large instance (n cells share a target).
TEST(CrossbarStats, StaticCellEffectsHaveTheirPublishedStatistics) {
  const int rows = 100, cols = 40;  // 100 x 40 weights -> 4000 active cells
  auto cells = [&](ArrayParams p, double t_s, std::vector<double>& on, std::vector<double>& tgt) {
    p.rows = rows;
    p.cols = 2 * cols;
    p.time_since_programming_s = t_s;
    Tensor w(DType::f32, {rows, cols});
    for (int64_t k = 0; k < w.numel(); ++k) w.data<float>()[k] = 0.5f;
    CrossbarArray a(p, RandomStream(12));
    a.program(w);
    Tensor g = a.conductances_us(), g0 = a.target_conductances_us();
    on.clear();
    tgt.clear();
    for (int i = 0; i < rows; ++i)
      for (int j = 0; j < cols; ++j) {
        on.push_back(g.data<float>()[i * 2 * cols + 2 * j]);
        tgt.push_back(g0.data<float>()[i * 2 * cols + 2 * j]);
      }
  };
  std::vector<double> on, tgt;
  // All active targets are g_max (per-column scale maps 0.5 to the top level).
  // PCM programming: N(g, sigma_prog(g)).
  {
    ArrayParams p = default_array_params(CellType::pcm);
    p.effects = all_off();
    p.effects.programming = true;
    cells(p, 1.0, on, tgt);
    expect_moments(on, tgt[0], pcm_prog_sigma_us(p.cell, tgt[0]), "pcm programming");
  }
  // PCM drift alone: log(G(t)/G0) / -log((t + t0)/t0) = nu ~ |N(mu, sd)|, here mu >> sd.
  {
    ArrayParams p = default_array_params(CellType::pcm);
    p.effects = all_off();
    p.effects.drift = true;
    const double t = 86400;
    cells(p, t, on, tgt);
    std::vector<double> nu;
    for (size_t k = 0; k < on.size(); ++k)
      nu.push_back(-std::log(on[k] / tgt[k]) / std::log((t + 20.0) / 20.0));
    expect_moments(nu, pcm_drift_nu_mean(p.cell, tgt[0]), pcm_drift_nu_std(p.cell, tgt[0]),
                   "pcm drift nu");
  }
  // PCM accumulated 1/f noise alone at 1 h: relative deviation ~ N(0, sigma_1/f(g, t)).
  {
    ArrayParams p = default_array_params(CellType::pcm);
    p.effects = all_off();
    p.effects.read_noise = true;
    cells(p, 3600, on, tgt);
    std::vector<double> rel;
    for (size_t k = 0; k < on.size(); ++k) rel.push_back(on[k] / tgt[k] - 1);
    expect_moments(rel, 0.0, pcm_one_over_f_sigma_rel(p.cell, tgt[0], 3600), "pcm 1/f");
  }
  // RRAM programming + relaxation at t: sigma^2 = prog^2 + relax^2 (1 - exp(-t / tau)).
  {
    ArrayParams p = default_array_params(CellType::rram);
    p.cell.levels = 0;
    p.effects = all_off();
    p.effects.programming = true;
    const double t = 3600;
    cells(p, t, on, tgt);
    const double s = std::hypot(p.cell.rram.prog_sigma_us,
                                p.cell.rram.relax_sigma_us * std::sqrt(1 - std::exp(-t / 3600.0)));
    expect_moments(on, tgt[0], s, "rram programming + relaxation");
  }
  // RRAM stuck-at faults: the fraction of cells at g_max / g_min is binomial; with p = 0.05,
  // n = 4000: SE = sqrt(p (1 - p) / n); 5 SE.
  {
    ArrayParams p = default_array_params(CellType::rram);
    p.effects = all_off();
    p.effects.faults = true;
    p.cell.rram.p_stuck_on = 0.05;
    p.cell.rram.p_stuck_off = 0.05;
    // One weight of 1 with per-tensor scaling puts the other active cells mid-range.
    Tensor w(DType::f32, {rows, cols});
    for (int64_t k = 0; k < w.numel(); ++k) w.data<float>()[k] = 0.5f;
    w.data<float>()[0] = 1.0f;
    p.encoding.per_column_scale = false;
    p.rows = rows;
    p.cols = 2 * cols;
    CrossbarArray a(p, RandomStream(13));
    a.program(w);
    Tensor g = a.conductances_us(), g0 = a.target_conductances_us();
    int n_on = 0, n_off = 0;
    const int64_t n = g.numel();
    for (int64_t k = 0; k < n; ++k) {
      if (g.data<float>()[k] == static_cast<float>(p.cell.g_max_us)) ++n_on;
      if (g.data<float>()[k] == static_cast<float>(p.cell.g_min_us)) ++n_off;
    }
    // targets: half the cells at g_min (idle) and half at 0.5 * range above g_min, so cells
    // stuck at g_min that were idle are invisible: count faults among the active cells only.
    int act = 0, act_on = 0, act_off = 0;
    for (int64_t k = 0; k < n; ++k) {
      if (g0.data<float>()[k] == static_cast<float>(p.cell.g_min_us)) continue;
      ++act;
      act_on += g.data<float>()[k] == static_cast<float>(p.cell.g_max_us);
      act_off += g.data<float>()[k] == static_cast<float>(p.cell.g_min_us);
    }
    const double se = std::sqrt(0.05 * 0.95 / act);
    EXPECT_NEAR(static_cast<double>(act_on) / act, 0.05, 5 * se);
    EXPECT_NEAR(static_cast<double>(act_off) / act, 0.05, 5 * se);
    EXPECT_GT(n_on, 0);
    EXPECT_GT(n_off, 0);
  }
  // Flash programming: N(g, (rel * g_max)^2); SRAM mismatch: N(g, (rel * g)^2).
  {
    ArrayParams p = default_array_params(CellType::flash);
    p.cell.levels = 0;
    p.effects = all_off();
    p.effects.programming = true;
    cells(p, 1.0, on, tgt);
    expect_moments(on, tgt[0], p.cell.flash.prog_sigma_rel * p.cell.g_max_us, "flash programming");
    p.effects = all_off();
    p.effects.temperature = true;
    p.effects.drift = true;
    p.cell.flash.temperature_k = 350;
    cells(p, 1e4, on, tgt);
    const double f =
        (1 + p.cell.flash.temp_coeff_per_k * 50) * (1 - p.cell.flash.drift_rel_per_decade * 4);
    EXPECT_NEAR(on[0], tgt[0] * f, 1e-5 * tgt[0]);
  }
}

// (c) Output-side read noise vs explicit per-weight sampling, two-sample Kolmogorov-Smirnov.
// Explicit: y_j = scale_j * sum_i x_i ((g+ + s g+ z1) - (g- + s g- z2)) with z from a separate
// stream. Critical value at alpha = 0.001 for sample sizes n, m:
//   D_crit = sqrt(-ln(alpha / 2) / 2) * sqrt((n + m) / (n m)).
TEST(CrossbarStats, OutputSideReadNoiseMatchesPerWeightSamplingInDistribution) {
  ArrayParams p = default_array_params(CellType::rram);
  p.rows = 24;
  p.cols = 8;
  p.effects = all_off();
  p.effects.read_noise = true;
  p.cell.levels = 0;
  p.cell.rram.read_noise_rel = 0.1;
  const int rows = 24, cols = 4, n = 10000;
  Tensor w = uniform(71, rows, cols);
  Tensor x = uniform(72, 1, rows);
  CrossbarArray a(p, RandomStream(6));
  a.program(w);
  a.calibrate(x);
  EncodedWeights e = encode_weights(w.data<float>(), rows, cols, p);
  std::vector<std::vector<double>> fast(cols), slow(cols);
  for (int k = 0; k < n; ++k) {
    Tensor y = a.mvm(x);
    for (int j = 0; j < cols; ++j) fast[j].push_back(y.data<float>()[j]);
  }
  RandomStream explicit_stream(1234, {5});
  for (int k = 0; k < n; ++k) {
    std::vector<float> z(static_cast<size_t>(rows) * e.phys_cols);
    explicit_stream.normal(z.data(), z.size(), static_cast<uint64_t>(k) * z.size());
    for (int j = 0; j < cols; ++j) {
      double acc = 0;
      for (int i = 0; i < rows; ++i) {
        const size_t b = static_cast<size_t>(i) * e.phys_cols;
        const double gp = e.g_us[b + 2 * j] * (1 + 0.1 * z[b + 2 * j]);
        const double gm = e.g_us[b + 2 * j + 1] * (1 + 0.1 * z[b + 2 * j + 1]);
        acc += x.data<float>()[i] * (gp - gm);
      }
      slow[j].push_back(e.scale[j] * acc);
    }
  }
  const double d_crit = std::sqrt(-std::log(0.001 / 2) / 2) * std::sqrt(2.0 * n / (1.0 * n * n));
  for (int j = 0; j < cols; ++j) {
    std::vector<double> f = fast[j], s = slow[j];
    std::sort(f.begin(), f.end());
    std::sort(s.begin(), s.end());
    double d = 0;
    size_t i1 = 0, i2 = 0;
    while (i1 < f.size() && i2 < s.size()) {
      const double v = std::min(f[i1], s[i2]);
      while (i1 < f.size() && f[i1] <= v) ++i1;
      while (i2 < s.size() && s[i2] <= v) ++i2;
      d = std::max(
          d, std::fabs(static_cast<double>(i1) / f.size() - static_cast<double>(i2) / s.size()));
    }
    EXPECT_LT(d, d_crit) << "column " << j;
  }
}

}  // namespace
}  // namespace acim

namespace acim {
namespace {

// Offset-column encoding: every output subtracts the same reference column, so its read noise
// is common to all outputs. Per output: var_j = scale_j^2 sum_i x_i^2 s^2 (g_ij^2 + g_ref^2);
// between outputs: cov_jk = scale_j scale_k sum_i x_i^2 s^2 g_ref^2. The sample correlation's
// standard error is about (1 - rho^2) / sqrt(n); 5 SE.
TEST(CrossbarStats, OffsetColumnReferenceNoiseIsSharedBetweenOutputs) {
  ArrayParams p = default_array_params(CellType::rram);
  p.rows = 16;
  p.cols = 8;
  p.effects = all_off();
  p.effects.read_noise = true;
  p.cell.levels = 0;
  p.cell.rram.read_noise_rel = 0.05;
  p.encoding.scheme = Encoding::offset_column;
  const int rows = 16, cols = 3, n = 20000;
  Tensor w = uniform(81, rows, cols);
  Tensor x = uniform(82, 1, rows);
  CrossbarArray a(p, RandomStream(7));
  a.program(w);
  Tensor ref = a.mvm_reference(x);
  EncodedWeights e = encode_weights(w.data<float>(), rows, cols, p);
  std::vector<std::vector<double>> ys(cols);
  for (int k = 0; k < n; ++k) {
    Tensor y = a.mvm(x);
    for (int j = 0; j < cols; ++j) ys[j].push_back(y.data<float>()[j]);
  }
  auto gx = [&](int i, int col) { return static_cast<double>(e.g_us[i * e.phys_cols + col]); };
  double shared = 0;
  for (int i = 0; i < rows; ++i) {
    const double xi = x.data<float>()[i];
    shared += xi * xi * 0.0025 * gx(i, cols) * gx(i, cols);
  }
  std::vector<double> var(cols, shared);
  for (int j = 0; j < cols; ++j) {
    for (int i = 0; i < rows; ++i) {
      const double xi = x.data<float>()[i];
      var[j] += xi * xi * 0.0025 * gx(i, j) * gx(i, j);
    }
    expect_moments(ys[j], ref.data<float>()[j], e.scale[j] * std::sqrt(var[j]),
                   "column " + std::to_string(j));
  }
  const double rho = shared / std::sqrt(var[0] * var[1]);
  Moments m0 = moments(ys[0]), m1 = moments(ys[1]);
  double c = 0;
  for (int k = 0; k < n; ++k) c += (ys[0][k] - m0.mean) * (ys[1][k] - m1.mean);
  const double r = c / (n - 1) / (m0.sd * m1.sd);
  EXPECT_GT(rho, 0.1);
  EXPECT_NEAR(r, rho, 5 * (1 - rho * rho) / std::sqrt(static_cast<double>(n)));
}

// IR drop: the first-order model captures most of the exact nodal solution's effect on a small
// array with small wires, and both shrink the outputs' magnitude.
TEST(Crossbar, FirstOrderIrDropAgreesWithTheNodalSolveOnASmallArray) {
  ArrayParams p = default_array_params(CellType::pcm);
  p.rows = 16;
  p.cols = 32;
  p.effects = all_off();
  p.effects.ir_drop = true;
  p.ir_drop.wire_r_ohm = 2.0;
  const int rows = 16, cols = 16;
  Tensor w = uniform(91, rows, cols);
  Tensor x = uniform(92, 4, rows);
  auto run = [&](IrDropModel m) {
    ArrayParams q = p;
    q.ir_drop.model = m;
    CrossbarArray a(q, RandomStream(1));
    a.program(w);
    a.calibrate(x);
    return a.mvm(x);
  };
  Tensor fo = run(IrDropModel::first_order), nodal = run(IrDropModel::nodal);
  CrossbarArray ideal(p, RandomStream(1));
  ideal.program(w);
  Tensor ref = ideal.mvm_reference(x);
  const double effect = relative_error(nodal, ref);
  const double model_error = relative_error(fo, nodal);
  std::printf("IR drop 16x32, 2 ohm: nodal effect %.3g, first-order vs nodal %.3g\n", effect,
              model_error);
  EXPECT_GT(effect, 1e-3);
  EXPECT_LT(model_error, 0.1 * effect);
}

// An 8-row SRAM (current-domain) array with a bitline swing of 1/4 of the full scale, one
// weight column of `used_rows` ones (every bit of every slice set) read with all-one inputs:
// the analog result and the float reference.
std::pair<float, float> sram_swing_read(int used_rows) {
  ArrayParams p = default_array_params(CellType::sram_current);
  p.rows = 8;
  p.cols = 14;
  p.effects = all_off();
  p.effects.adc = true;
  p.adc.bits = 16;
  p.cell.sram.bitline_swing_fraction = 0.25;
  Tensor w(DType::f32, {used_rows, 1});
  for (int i = 0; i < used_rows; ++i) w.data<float>()[i] = 1.0f;
  Tensor x(DType::f32, {1, used_rows});
  for (int i = 0; i < used_rows; ++i) x.data<float>()[i] = 1.0f;
  CrossbarArray a(p, RandomStream(2));
  a.program(w);
  return {a.mvm(x).data<float>()[0], a.mvm_reference(x).data<float>()[0]};
}

// SRAM bitline swing: every + column current beyond swing * full scale saturates there.
TEST(Crossbar, SramBitlineSwingClipsColumnCurrents) {
  const auto [y, ref] = sram_swing_read(8);
  // Each + column would carry 8 g_max v_read = the full scale; it clips at 1/4 of it.
  EXPECT_NEAR(y, 0.25 * ref, 1e-3 * ref);
}

// The swing is a fraction of the physical column's full scale: 4 used rows of an 8-row array
// carry 4 g_max v_read per + column, which clips at 0.25 * 8 = 2 (half of it), not at 0.25 * 4.
TEST(Crossbar, SramBitlineSwingIsAFractionOfThePhysicalColumn) {
  const auto [y, ref] = sram_swing_read(4);
  EXPECT_NEAR(y, 0.5 * ref, 1e-3 * ref);
}

// Calibrated ADC range: max(largest |signal|, |mean| + calibration_sigmas * std) over the
// calibration conversions. One row, weight 1, ideal cells, a 16-bit ADC: samples +-1 give signals
// of mean 0 and std = max = the +1 signal, so 4 sigma passes an input of 3 that the max alone
// clips at 1; samples that do not vary (all 1) leave the max (no spread, no headroom).
TEST(Crossbar, CalibratedAdcRangeHasStatisticalHeadroom) {
  ArrayParams p = default_array_params(CellType::ideal);
  p.rows = 1;
  p.cols = 2;
  p.effects = all_off();
  p.effects.adc = true;
  p.adc.bits = 16;
  Tensor w(DType::f32, {1, 1});
  w.data<float>()[0] = 1.0f;
  Tensor alternating(DType::f32, {8, 1}), constant(DType::f32, {8, 1});
  for (int b = 0; b < 8; ++b) {
    alternating.data<float>()[b] = b % 2 ? -1.0f : 1.0f;
    constant.data<float>()[b] = 1.0f;
  }
  Tensor three(DType::f32, {1, 1});
  three.data<float>()[0] = 3.0f;
  auto read = [&](double sigmas, const Tensor& samples) {
    ArrayParams q = p;
    q.adc.calibration_sigmas = sigmas;
    CrossbarArray a(q, RandomStream(5));
    a.program(w);
    a.calibrate(samples);
    return static_cast<double>(a.mvm(three).data<float>()[0]);
  };
  EXPECT_NEAR(read(4.0, alternating), 3.0, 1e-3);
  EXPECT_NEAR(read(0.0, alternating), 1.0, 1e-3);
  EXPECT_NEAR(read(2.0, alternating), 2.0, 1e-3);
  EXPECT_NEAR(read(4.0, constant), 1.0, 1e-3);
}

}  // namespace
}  // namespace acim
