#include "device/encoding.hpp"

#include <algorithm>
#include <cmath>

#include "acim/error.hpp"

#include "core/simd.hpp"

namespace acim {

namespace {

#if ACIM_HAVE_AVX512
// decode_signals' one-signal-per-column rows (every signal weight is 1), 16 columns at a time in
// float with the bits of the scalar loop's double arithmetic, double(1) * double(s) + 0.0, times
// double(scale), to float, times gain: 1 * s is s, 0.0 + s is s but for -0.0 (+0.0), as 0.0f + s
// is in float; and the double product of two floats is exact (24 x 24 bits), so rounding it to
// float rounds the exact product once, as the float multiply does.
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
      __asm__("" : "+v"(r));  // r rounded before the + 0 (no fused multiply-add to -0)
      _mm512_mask_storeu_ps(o + j, m, _mm512_add_ps(r, zero));
    }
  }
}

// decode_accumulate_signals 16 columns at a time: a = (acc or +0) + w * sig, the product a
// separate rounding (the empty asm: no fused multiply-add), then decode_unit_weights_avx512's
// operations on a.
__attribute__((target("avx512f"))) void decode_accumulate_avx512(const float* sig, float w,
                                                                 const float* acc, int batch,
                                                                 int cols, const float* scale,
                                                                 float gain, float* y) {
  const __m512 zero = _mm512_setzero_ps(), g = _mm512_set1_ps(gain), vw = _mm512_set1_ps(w);
  for (int b = 0; b < batch; ++b) {
    const size_t row = static_cast<size_t>(b) * cols;
    for (int j = 0; j < cols; j += 16) {
      const int left = cols - j;
      const __mmask16 m = left >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << left) - 1u);
      __m512 p = _mm512_mul_ps(vw, _mm512_maskz_loadu_ps(m, sig + row + j));
      __asm__("" : "+v"(p));
      const __m512 a =
          _mm512_add_ps(acc != nullptr ? _mm512_maskz_loadu_ps(m, acc + row + j) : zero, p);
      __m512 r = _mm512_mul_ps(_mm512_add_ps(zero, a), _mm512_maskz_loadu_ps(m, scale + j));
      if (gain != 1.0f) r = _mm512_mul_ps(r, g);
      __asm__("" : "+v"(r));  // r rounded before the + 0 (no fused multiply-add to -0)
      _mm512_mask_storeu_ps(y + row + j, m, _mm512_add_ps(r, zero));
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
  e.scheme = p.encoding.scheme;
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
      e.bits_per_cell = k;
      e.slices = s;
      e.g_us.assign(static_cast<size_t>(rows) * e.phys_cols, static_cast<float>(g_min));
      for (int j = 0; j < cols; ++j) {
        e.scale[j] = static_cast<float>(wmax[j] / static_cast<double>(qmax) * vmax / range);
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

float EncodedWeights::signal_weight(int s) const {
  return scheme == Encoding::bit_sliced
             ? static_cast<float>(std::ldexp(1.0, bits_per_cell * (s % slices)))
             : 1.0f;
}

void decode_accumulate_signals(const EncodedWeights& e, const float* sig, float w, const float* acc,
                               int batch, float* y, float gain) {
  ACIM_ASSERT(e.slices == 1, "decode_accumulate_signals: more than one signal per column");
#if ACIM_HAVE_AVX512
  if (cpu_has_avx512()) {
    decode_accumulate_avx512(sig, w, acc, batch, e.cols, e.scale.data(), gain, y);
    return;
  }
#endif
  for (int b = 0; b < batch; ++b) {
    const size_t row = static_cast<size_t>(b) * e.cols;
    for (int j = 0; j < e.cols; ++j) {
      const float a = (acc != nullptr ? acc[row + j] : 0.0f) + w * sig[row + j];  // accumulate()
      y[row + j] = static_cast<float>((0.0 + static_cast<double>(a)) * e.scale[j]);
    }
    if (gain != 1.0f)
      for (int j = 0; j < e.cols; ++j) y[row + j] *= gain;
    for (int j = 0; j < e.cols; ++j) y[row + j] += 0.0f;  // never -0 (see decode_signals)
  }
}

void form_signals(const EncodedWeights& e, const float* cur, int batch, float* sig) {
  const int ns = e.signals();
  for (int b = 0; b < batch; ++b) {
    const float* c = cur + static_cast<size_t>(b) * e.phys_cols;
    float* o = sig + static_cast<size_t>(b) * ns;
    for (int s = 0; s < ns; ++s) o[s] = c[e.plus_col(s)] - c[e.minus_col(s)];
  }
}

void decode_signals(const EncodedWeights& e, const float* sig, int batch, float* y, float gain) {
  const int ns = e.signals();
  // One signal per column (differential and offset encodings, one slice): its weight is 1 and
  // the sum has one term, so acc = 0.0 + 1.0 * signal exactly as below (the + 0.0 keeps the same
  // signed zero), in a loop the compiler vectorises.
  if (e.slices == 1) {
#if ACIM_HAVE_AVX512
    if (cpu_has_avx512()) {
      decode_unit_weights_avx512(sig, batch, e.cols, e.scale.data(), gain, y);
      return;
    }
#endif
    for (int b = 0; b < batch; ++b) {
      const float* in = sig + static_cast<size_t>(b) * ns;
      float* o = y + static_cast<size_t>(b) * e.cols;
      for (int j = 0; j < e.cols; ++j)
        o[j] = static_cast<float>((0.0 + static_cast<double>(in[j])) * e.scale[j]);
      if (gain != 1.0f)
        for (int j = 0; j < e.cols; ++j) o[j] *= gain;
      for (int j = 0; j < e.cols; ++j) o[j] += 0.0f;  // never -0
    }
    return;
  }
  std::vector<double> weight(static_cast<size_t>(e.slices));
  for (int d = 0; d < e.slices; ++d) weight[static_cast<size_t>(d)] = e.signal_weight(d);
  std::vector<double> acc(static_cast<size_t>(e.cols));
  for (int b = 0; b < batch; ++b) {
    const float* in = sig + static_cast<size_t>(b) * ns;
    float* o = y + static_cast<size_t>(b) * e.cols;
    std::fill(acc.begin(), acc.end(), 0.0);
    for (int s = 0; s < ns; ++s)
      acc[static_cast<size_t>(e.signal_col(s))] +=
          weight[static_cast<size_t>(s % e.slices)] * in[s];
    for (int j = 0; j < e.cols; ++j) o[j] = static_cast<float>(acc[j] * e.scale[j]);
    if (gain != 1.0f)
      for (int j = 0; j < e.cols; ++j) o[j] *= gain;
    for (int j = 0; j < e.cols; ++j) o[j] += 0.0f;  // never -0
  }
}

}  // namespace acim
