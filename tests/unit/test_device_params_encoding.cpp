// ArrayParams validation (one error per bad field, naming it) and the weight encodings'
// exact round trip.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "acim/crossbar.hpp"
#include "acim/device.hpp"
#include "acim/rng.hpp"
#include "device/encoding.hpp"

namespace acim {
namespace {

void expect_bad(const std::function<void(ArrayParams&)>& edit, const std::string& name) {
  ArrayParams p = default_array_params(CellType::pcm);
  edit(p);
  try {
    p.validate();
    ADD_FAILURE() << "no error for " << name;
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::invalid);
    EXPECT_NE(std::string(e.what()).find("'" + name + "'"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("allowed"), std::string::npos) << e.what();
  }
}

TEST(DeviceParams, DefaultsOfEveryTechnologyAreValid) {
  for (CellType t : {CellType::ideal, CellType::pcm, CellType::rram, CellType::sram_charge,
                     CellType::sram_current, CellType::flash}) {
    ArrayParams p = default_array_params(t);
    EXPECT_NO_THROW(p.validate()) << cell_type_name(t);
    EXPECT_EQ(parse_cell_type(cell_type_name(t)), t);
    EXPECT_GT(p.logical_cols(), 0);
  }
  EXPECT_THROW(parse_cell_type("dram"), Error);
}

TEST(DeviceParams, EachBadFieldNamesItselfAndTheAllowedRange) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  expect_bad([](ArrayParams& p) { p.adc.bits = 0; }, "adc.bits");
  expect_bad([](ArrayParams& p) { p.adc.bits = 17; }, "adc.bits");
  expect_bad([](ArrayParams& p) { p.adc.calibration_sigmas = -1; }, "adc.calibration_sigmas");
  expect_bad([](ArrayParams& p) { p.dac.bits = 0; }, "dac.bits");
  expect_bad(
      [](ArrayParams& p) {
        p.cell.g_max_us = 0.5;
        p.cell.g_min_us = 1.0;
      },
      "cell.g_max_us");
  expect_bad([](ArrayParams& p) { p.cell.g_min_us = -1; }, "cell.g_min_us");
  expect_bad([](ArrayParams& p) { p.rows = 0; }, "rows");
  expect_bad([](ArrayParams& p) { p.cols = 0; }, "cols");
  expect_bad([](ArrayParams& p) { p.parallel_rows = 300; }, "parallel_rows");
  expect_bad([](ArrayParams& p) { p.parallel_rows = -1; }, "parallel_rows");
  expect_bad([](ArrayParams& p) { p.cell.levels = 1; }, "cell.levels");
  expect_bad([](ArrayParams& p) { p.cell.levels = -4; }, "cell.levels");
  expect_bad(
      [](ArrayParams& p) {
        p.encoding.scheme = Encoding::bit_sliced;
        p.encoding.bits_per_cell = 5;
        p.encoding.slices = 4;
      },
      "encoding.bits_per_cell");
  expect_bad([](ArrayParams& p) { p.cell.rram.read_noise_rel = -0.1; }, "cell.rram.read_noise_rel");
  expect_bad([](ArrayParams& p) { p.cell.rram.prog_sigma_us = -1; }, "cell.rram.prog_sigma_us");
  expect_bad([](ArrayParams& p) { p.cell.sram.thermal_noise_sigma_rel = -1; },
             "cell.sram.thermal_noise_sigma_rel");
  expect_bad([](ArrayParams& p) { p.cell.flash.prog_sigma_rel = -0.01; },
             "cell.flash.prog_sigma_rel");
  expect_bad([](ArrayParams& p) { p.adc.noise_sigma_lsb = -1; }, "adc.noise_sigma_lsb");
  expect_bad([nan](ArrayParams& p) { p.cell.pcm.prog_c1_us = nan; }, "cell.pcm.prog_c1_us");
  expect_bad([nan](ArrayParams& p) { p.adc.gain_sigma_rel = nan; }, "adc.gain_sigma_rel");
  expect_bad([nan](ArrayParams& p) { p.cell.g_max_us = nan; }, "cell.g_max_us");
  expect_bad([](ArrayParams& p) { p.cell.rram.p_stuck_on = 1.5; }, "cell.rram.p_stuck_on");
  expect_bad([](ArrayParams& p) { p.ir_drop.wire_r_ohm = -2; }, "ir_drop.wire_r_ohm");
}

TEST(DeviceParams, NanWeightsAreRejectedAtProgramming) {
  ArrayParams p = default_array_params(CellType::pcm);
  p.rows = 4;
  p.cols = 8;
  CrossbarArray a(p, RandomStream(1));
  Tensor w = Tensor::from_vector<float>({2, 2}, {1.0f, std::nanf(""), 0.5f, 0.25f});
  try {
    a.program(w);
    ADD_FAILURE() << "NaN weights accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("NaN"), std::string::npos) << e.what();
  }
  EXPECT_THROW(a.program(Tensor(DType::f32, {5, 2})), Error);  // more rows than the array
  EXPECT_THROW(a.program(Tensor(DType::f32, {4, 5})), Error);  // more columns than pairs
}

// W[i][j] = scale[j] * sum_s signal_weight[s] * (G[i][plus] - G[i][minus]) for representable
// weights; a float reference recombination in double checks it element by element.
void expect_round_trip(const ArrayParams& p, const std::vector<float>& w, int rows, int cols) {
  EncodedWeights e = encode_weights(w.data(), rows, cols, p);
  ASSERT_EQ(e.rows, rows);
  ASSERT_EQ(e.cols, cols);
  for (float g : e.g_us) {
    EXPECT_GE(g, p.cell.g_min_us - 1e-6);
    EXPECT_LE(g, p.cell.g_max_us + 1e-6);
  }
  for (int i = 0; i < rows; ++i) {
    std::vector<float> cur(e.g_us.begin() + static_cast<long>(i) * e.phys_cols,
                           e.g_us.begin() + static_cast<long>(i + 1) * e.phys_cols);
    std::vector<float> sig(static_cast<size_t>(e.signals())), y(static_cast<size_t>(cols));
    form_signals(e, cur.data(), 1, sig.data());
    decode_signals(e, sig.data(), 1, y.data());
    for (int j = 0; j < cols; ++j) {
      const float ref = w[static_cast<size_t>(i) * cols + j];
      // float32 round trip of one product and one difference: a few ulps of the column max.
      EXPECT_NEAR(y[j], ref, 4e-6 * 1.0) << "i=" << i << " j=" << j;
    }
  }
}

// Weights exactly representable by the encoding: integer multiples of max/steps, with every
// column reaching +-max (so per-column scaling hits the top level).
std::vector<float> representable_weights(int steps, int rows, int cols, uint64_t seed) {
  RandomStream s(seed);
  std::vector<float> w(static_cast<size_t>(rows) * cols);
  for (size_t k = 0; k < w.size(); ++k) {
    double u = s.uniform_at(k) * 2 - 1;
    w[k] = steps == 0 ? static_cast<float>(u) : static_cast<float>(std::round(u * steps) / steps);
  }
  for (int j = 0; j < cols; ++j) w[static_cast<size_t>(j % rows) * cols + j] = j % 2 ? -1.0f : 1.0f;
  return w;
}

TEST(Encoding, EveryEncodingRoundTripsExactlyForRepresentableWeights) {
  for (CellType t : {CellType::pcm, CellType::rram, CellType::sram_charge, CellType::flash}) {
    for (Encoding enc : {Encoding::differential, Encoding::offset_column, Encoding::bit_sliced}) {
      ArrayParams p = default_array_params(t);
      p.encoding.scheme = enc;
      if (enc == Encoding::offset_column && p.cell.levels == 2) continue;
      if (enc == Encoding::bit_sliced && t != CellType::sram_charge) {
        p.encoding.bits_per_cell = 4;
        p.encoding.slices = 2;
      }
      SCOPED_TRACE(cell_type_name(t) + " encoding " + std::to_string(static_cast<int>(enc)));
      p.validate();
      const int rows = 16, cols = 5;
      std::vector<float> w = representable_weights(encoding_magnitude_steps(p), rows, cols, 7);
      expect_round_trip(p, w, rows, cols);
      p.encoding.per_column_scale = false;
      expect_round_trip(p, w, rows, cols);
    }
  }
}

// decode_accumulate_signals (a crossbar's last pass accumulated and decoded in one sweep) gives
// the bits of accumulating, acc + w * sig as two float operations, then decode_signals: with and
// without earlier passes, with a drift gain, signed zeros and a partial vector of columns.
TEST(Encoding, DecodeWithTheLastPassIsAccumulateThenDecode) {
  for (Encoding enc : {Encoding::differential, Encoding::offset_column}) {
    ArrayParams p = default_array_params(CellType::pcm);
    p.encoding.scheme = enc;
    const int rows = 3, cols = 37, batch = 3;
    std::vector<float> w = representable_weights(0, rows, cols, 5);
    const EncodedWeights e = encode_weights(w.data(), rows, cols, p);
    ASSERT_EQ(e.signals(), cols);
    RandomStream s(6);
    std::vector<float> sig(static_cast<size_t>(batch) * cols), acc(sig.size());
    s.normal(sig.data(), sig.size());
    s.child(1).normal(acc.data(), acc.size());
    sig[0] = -0.0f;
    acc[1] = -0.0f;
    sig[1] = -0.0f;
    const float wt = 1.37f;
    for (bool first : {true, false})
      for (float gain : {1.0f, 0.93f}) {
        std::vector<float> sum(sig.size()), ref(sig.size()), got(sig.size());
        for (size_t k = 0; k < sig.size(); ++k) {
          volatile float prod = wt * sig[k];  // two roundings, as the crossbar accumulates
          sum[k] = (first ? 0.0f : acc[k]) + prod;
        }
        decode_signals(e, sum.data(), batch, ref.data(), gain);
        decode_accumulate_signals(e, sig.data(), wt, first ? nullptr : acc.data(), batch,
                                  got.data(), gain);
        for (size_t k = 0; k < sig.size(); ++k)
          ASSERT_EQ(std::memcmp(&got[k], &ref[k], sizeof(float)), 0)
              << "first=" << first << " gain=" << gain << " k=" << k << ": " << got[k] << " vs "
              << ref[k];
      }
  }
}

// A decoded output is never -0, also where the product underflows from below (a caller takes y
// as 0 + y, the first of several partial sums, without another pass).
TEST(Encoding, DecodedOutputsAreNeverNegativeZero) {
  ArrayParams p = default_array_params(CellType::pcm);
  const int rows = 3, cols = 5;
  std::vector<float> w = representable_weights(0, rows, cols, 5);
  const EncodedWeights e = encode_weights(w.data(), rows, cols, p);
  for (int j = 0; j < cols; ++j) ASSERT_LT(e.scale[static_cast<size_t>(j)], 0.5f);
  // -denorm_min times a scale below 1/2 rounds to -0; so does -0 itself times any scale.
  std::vector<float> sig(static_cast<size_t>(cols), -std::numeric_limits<float>::denorm_min());
  sig[1] = -0.0f;
  for (float gain : {1.0f, 0.93f}) {
    std::vector<float> y(sig.size(), 1.0f), ya(sig.size(), 1.0f);
    decode_signals(e, sig.data(), 1, y.data(), gain);
    decode_accumulate_signals(e, sig.data(), 1.0f, nullptr, 1, ya.data(), gain);
    for (size_t k = 0; k < sig.size(); ++k) {
      EXPECT_EQ(y[k], 0.0f);
      EXPECT_FALSE(std::signbit(y[k])) << "decode_signals, column " << k << ", gain " << gain;
      EXPECT_FALSE(std::signbit(ya[k])) << "decode_accumulate, column " << k << ", gain " << gain;
    }
  }
}

TEST(Encoding, QuantisationToLevelsErrsByAtMostHalfAStep) {
  ArrayParams p = default_array_params(CellType::rram);  // 16 levels, differential
  const int rows = 32, cols = 4;
  std::vector<float> w = representable_weights(0, rows, cols, 3);  // continuous weights
  EncodedWeights e = encode_weights(w.data(), rows, cols, p);
  const double step = (p.cell.g_max_us - p.cell.g_min_us) / (p.cell.levels - 1);
  for (int i = 0; i < rows; ++i)
    for (int j = 0; j < cols; ++j) {
      const size_t base = static_cast<size_t>(i) * e.phys_cols;
      const double g = std::fabs(e.g_us[base + 2 * j] - e.g_us[base + 2 * j + 1]);
      // per-column max is 1: exact |w| maps to |w| * range.
      EXPECT_LE(std::fabs(g * e.scale[j] - std::fabs(w[static_cast<size_t>(i) * cols + j])),
                0.5 * step * e.scale[j] + 1e-6);
      // on a level
      const double lv = (g) / step;
      EXPECT_NEAR(lv, std::round(lv), 1e-4);
    }
}

}  // namespace
}  // namespace acim
