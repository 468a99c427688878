#include "device/encoding.hpp"

#include <algorithm>
#include <cmath>

#include "acim/error.hpp"

#include "core/simd.hpp"

namespace acim {

namespace {

#if ACIM_HAVE_AVX512
// decode_signals' one-signal-per-column rows, 8 columns at a time, with the scalar loop's
// operations in its order: double(w) * double(s), + 0.0, * double(scale), to float, * gain.
__attribute__((target("avx512f,avx512vl"))) void decode_one_to_one_avx512(const float* sig,
                                                                          int batch, int cols,
                                                                          const float* weight,
                                                                          const float* scale,
                                                                          float gain, float* y) {
  const __m512d zero = _mm512_setzero_pd();
  const __m256 g = _mm256_set1_ps(gain);
  for (int b = 0; b < batch; ++b) {
    const float* in = sig + static_cast<size_t>(b) * cols;
    float* o = y + static_cast<size_t>(b) * cols;
    for (int j = 0; j < cols; j += 8) {
      const int left = cols - j;
      const __mmask8 m = left >= 8 ? __mmask8(0xFF) : __mmask8((1u << left) - 1u);
      const __m512d w = _mm512_cvtps_pd(_mm256_maskz_loadu_ps(m, weight + j));
      const __m512d x = _mm512_cvtps_pd(_mm256_maskz_loadu_ps(m, in + j));
      const __m512d sc = _mm512_cvtps_pd(_mm256_maskz_loadu_ps(m, scale + j));
      __m256 r = _mm512_cvtpd_ps(_mm512_mul_pd(_mm512_add_pd(zero, _mm512_mul_pd(w, x)), sc));
      if (gain != 1.0f) r = _mm256_mul_ps(r, g);
      _mm256_mask_storeu_ps(o + j, m, r);
    }
  }
}

// decode_one_to_one_avx512 where every signal weight is 1, 16 columns at a time in float with
// the same bits: 1 * s is s, 0.0 + s is s but for -0.0 (+0.0), as 0.0f + s is in float; and the
// double product of two floats is exact (24 x 24 bits), so rounding it to float rounds the exact
// product once, as the float multiply does.
__attribute__((target("avx512f"))) void decode_unit_weights_avx512(const float* sig, int batch,
                                                                   int cols, const float* scale,
                                                                   float gain, float* y) {
  const __m512 zero = _mm512_setzero_ps(), g = _mm512_set1_ps(gain);
  for (int b = 0; b < batch; ++b) {
    const float* in = sig + static_cast<size_t>(b) * cols;
    float* o = y + static_cast<size_t>(b) * cols;
    for (int j = 0; j < cols; j += 16) {
      const int left = cols - j;
      const __mmask16 m = left >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << left) - 1u);
      const __m512 x = _mm512_add_ps(zero, _mm512_maskz_loadu_ps(m, in + j));
      __m512 r = _mm512_mul_ps(x, _mm512_maskz_loadu_ps(m, scale + j));
      if (gain != 1.0f) r = _mm512_mul_ps(r, g);
      _mm512_mask_storeu_ps(o + j, m, r);
    }
  }
}
#endif

}  // namespace


int encoding_magnitude_steps(const ArrayParams& p) {
  const int levels = p.cell.levels;
  switch (p.encoding.scheme) {
    case Encoding::differential:
      return levels == 0 ? 0 : levels - 1;
    case Encoding::offset_column:
      // Levels symmetric around the reference level g_ref = g_min + h * step.
      return levels == 0 ? 0 : (levels - 1) / 2;
    case Encoding::bit_sliced:
      return (1 << (p.encoding.bits_per_cell * p.encoding.slices)) - 1;
  }
  return 0;
}

namespace {

// Largest |w| per column (per_column) or of the whole tensor, never 0.
std::vector<float> column_max(const float* w, int rows, int cols, bool per_column) {
  std::vector<float> m(static_cast<size_t>(cols), 0.0f);
  for (int i = 0; i < rows; ++i)
    for (int j = 0; j < cols; ++j)
      m[j] = std::max(m[j], std::fabs(w[static_cast<size_t>(i) * cols + j]));
  if (!per_column) {
    float all = 0;
    for (float v : m) all = std::max(all, v);
    std::fill(m.begin(), m.end(), all);
  }
  for (float& v : m)
    if (v == 0.0f) v = 1.0f;  // an all-zero column: any scale reproduces it
  return m;
}

}  // namespace

EncodedWeights encode_weights(const float* w, int rows, int cols, const ArrayParams& p,
                              const float* full_scale) {
  ACIM_ASSERT(rows >= 0 && cols >= 0, "encode_weights: negative size");
  EncodedWeights e;
  e.rows = rows;
  e.cols = cols;
  const double g_min = p.cell.g_min_us, g_max = p.cell.g_max_us, range = g_max - g_min;
  const int steps = encoding_magnitude_steps(p);
  std::vector<float> wmax = column_max(w, rows, cols, p.encoding.per_column_scale);
  if (full_scale != nullptr)
    for (int j = 0; j < cols; ++j)
      if (full_scale[j] > 0) wmax[static_cast<size_t>(j)] = full_scale[j];
  e.scale.resize(static_cast<size_t>(cols));
  auto at = [&](int i, int j) { return static_cast<double>(w[static_cast<size_t>(i) * cols + j]); };

  switch (p.encoding.scheme) {
    case Encoding::differential: {
      // Column 2j holds positive weights, 2j+1 negative ones; the idle cell sits at g_min.
      e.phys_cols = 2 * cols;
      e.g_us.assign(static_cast<size_t>(rows) * e.phys_cols, static_cast<float>(g_min));
      for (int j = 0; j < cols; ++j) {
        e.scale[j] = static_cast<float>(wmax[j] / range);
        e.plus_col.push_back(2 * j);
        e.minus_col.push_back(2 * j + 1);
        e.signal_weight.push_back(1.0f);
        e.signal_col.push_back(j);
        for (int i = 0; i < rows; ++i) {
          double u = std::min(std::fabs(at(i, j)) / wmax[j], 1.0);  // 0..1, clipped
          if (steps > 0) u = std::round(u * steps) / steps;
          float g = static_cast<float>(g_min + u * range);
          size_t base = static_cast<size_t>(i) * e.phys_cols;
          e.g_us[base + 2 * j + (at(i, j) < 0 ? 1 : 0)] = g;
        }
      }
      break;
    }
    case Encoding::offset_column: {
      // One cell per weight around the reference level; the last used column is the reference.
      e.phys_cols = cols + 1;
      // With L levels of spacing range / (L - 1), the reference is level h = (L - 1) / 2 and
      // weights use the h levels on either side; continuous cells use the mid conductance.
      const double span = steps > 0 ? steps * range / (p.cell.levels - 1) : range / 2;
      const double g_ref = g_min + span;
      e.g_us.assign(static_cast<size_t>(rows) * e.phys_cols, static_cast<float>(g_ref));
      for (int j = 0; j < cols; ++j) {
        e.scale[j] = static_cast<float>(wmax[j] / span);
        e.plus_col.push_back(j);
        e.minus_col.push_back(cols);
        e.signal_weight.push_back(1.0f);
        e.signal_col.push_back(j);
        for (int i = 0; i < rows; ++i) {
          double u = std::clamp(at(i, j) / wmax[j], -1.0, 1.0);  // -1..1, clipped
          if (steps > 0) u = std::round(u * steps) / steps;
          e.g_us[static_cast<size_t>(i) * e.phys_cols + j] = static_cast<float>(g_ref + u * span);
        }
      }
      break;
    }
    case Encoding::bit_sliced: {
      // |q| = round(|w| / wmax * (2^(k s) - 1)), split into s slices of k bits, slice d on the
      // differential pair of columns 2(j s + d), 2(j s + d) + 1; slice value v -> g_min +
      // v / (2^k - 1) * range.
      const int k = p.encoding.bits_per_cell, s = p.encoding.slices;
      const int64_t qmax = (int64_t{1} << (k * s)) - 1;
      const int vmax = (1 << k) - 1;
      e.phys_cols = 2 * s * cols;
      e.g_us.assign(static_cast<size_t>(rows) * e.phys_cols, static_cast<float>(g_min));
      for (int j = 0; j < cols; ++j) {
        e.scale[j] = static_cast<float>(wmax[j] / static_cast<double>(qmax) * vmax / range);
        for (int d = 0; d < s; ++d) {
          int sig = j * s + d;
          e.plus_col.push_back(2 * sig);
          e.minus_col.push_back(2 * sig + 1);
          e.signal_weight.push_back(static_cast<float>(std::ldexp(1.0, k * d)));
          e.signal_col.push_back(j);
        }
        for (int i = 0; i < rows; ++i) {
          const double wv = at(i, j);
          int64_t q = static_cast<int64_t>(
              std::llround(std::fabs(wv) / wmax[j] * static_cast<double>(qmax)));
          q = std::min(q, qmax);
          size_t base = static_cast<size_t>(i) * e.phys_cols;
          for (int d = 0; d < s; ++d) {
            int v = static_cast<int>((q >> (k * d)) & vmax);
            int sig = j * s + d;
            e.g_us[base + 2 * sig + (wv < 0 ? 1 : 0)] =
                static_cast<float>(g_min + static_cast<double>(v) / vmax * range);
          }
        }
      }
      break;
    }
  }
  return e;
}

void form_signals(const EncodedWeights& e, const float* cur, int batch, float* sig) {
  const int ns = e.signals();
  for (int b = 0; b < batch; ++b) {
    const float* c = cur + static_cast<size_t>(b) * e.phys_cols;
    float* o = sig + static_cast<size_t>(b) * ns;
    for (int s = 0; s < ns; ++s) o[s] = c[e.plus_col[s]] - c[e.minus_col[s]];
  }
}

void decode_signals(const EncodedWeights& e, const float* sig, int batch, float* y, float gain) {
  const int ns = e.signals();
  // One signal per column, in column order (differential and offset encodings): the sum has one
  // term, so acc = 0.0 + w * signal exactly as below (the + 0.0 keeps the same signed zero),
  // in a loop the compiler vectorises.
  bool one_to_one = ns == e.cols;
  for (int s = 0; one_to_one && s < ns; ++s) one_to_one = e.signal_col[s] == s;
  if (one_to_one) {
#if ACIM_HAVE_AVX512
    if (cpu_has_avx512()) {
      if (std::all_of(e.signal_weight.begin(), e.signal_weight.end(),
                      [](float w) { return w == 1.0f; }))
        decode_unit_weights_avx512(sig, batch, e.cols, e.scale.data(), gain, y);
      else
        decode_one_to_one_avx512(sig, batch, e.cols, e.signal_weight.data(), e.scale.data(), gain,
                                 y);
      return;
    }
#endif
    for (int b = 0; b < batch; ++b) {
      const float* in = sig + static_cast<size_t>(b) * ns;
      float* o = y + static_cast<size_t>(b) * e.cols;
      for (int j = 0; j < e.cols; ++j)
        o[j] = static_cast<float>((0.0 + static_cast<double>(e.signal_weight[j]) * in[j]) *
                                  e.scale[j]);
      if (gain != 1.0f)
        for (int j = 0; j < e.cols; ++j) o[j] *= gain;
    }
    return;
  }
  std::vector<double> acc(static_cast<size_t>(e.cols));
  for (int b = 0; b < batch; ++b) {
    const float* in = sig + static_cast<size_t>(b) * ns;
    float* o = y + static_cast<size_t>(b) * e.cols;
    std::fill(acc.begin(), acc.end(), 0.0);
    for (int s = 0; s < ns; ++s)
      acc[e.signal_col[s]] += static_cast<double>(e.signal_weight[s]) * in[s];
    for (int j = 0; j < e.cols; ++j) o[j] = static_cast<float>(acc[j] * e.scale[j]);
    if (gain != 1.0f)
      for (int j = 0; j < e.cols; ++j) o[j] *= gain;
  }
}

}  // namespace acim
