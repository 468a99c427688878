#include "device/adc.hpp"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <string>
#include <utility>
#include <vector>

#include "acim/error.hpp"
#include "core/parallel.hpp"
#include "core/scratch.hpp"
#include "core/simd.hpp"

namespace acim {

namespace {

#if ACIM_HAVE_AVX512
// convert() of 8 columns (mask m) of one row without INL, with the same IEEE double operations
// in the same order as the scalar loop (so the same bits): u = (gain * I) / lsb + offset
// [+ sigma * z], NaN passes through, clamp to +-N, round half to even, clamp, code * lsb to
// float; a column with full scale <= 0 reads 0. The empty asm keeps sigma * z a separate
// rounding (no fused multiply-add, as in the scalar code).
__attribute__((target("avx512f,avx512vl"))) inline void convert8_exact(
    float* row, __mmask8 m, const double* lsb_d, const float* gain, const float* offset,
    double n_codes, double noise_sigma, const float* z) {
  const __m512d vn = _mm512_set1_pd(n_codes), vneg = _mm512_set1_pd(-n_codes);
  const __m512d zero = _mm512_setzero_pd();
  const __m512d lsb = _mm512_maskz_loadu_pd(m, lsb_d);
  const __m512d g = _mm512_cvtps_pd(_mm256_maskz_loadu_ps(m, gain));
  const __m512d x = _mm512_cvtps_pd(_mm256_maskz_loadu_ps(m, row));
  const __m512d off = _mm512_cvtps_pd(_mm256_maskz_loadu_ps(m, offset));
  __m512d u = _mm512_add_pd(_mm512_div_pd(_mm512_mul_pd(g, x), lsb), off);
  if (z != nullptr) {
    __m512d nz =
        _mm512_mul_pd(_mm512_set1_pd(noise_sigma), _mm512_cvtps_pd(_mm256_maskz_loadu_ps(m, z)));
    __asm__("" : "+v"(nz));
    u = _mm512_add_pd(u, nz);
  }
  const __mmask8 nan = _mm512_cmp_pd_mask(u, u, _CMP_UNORD_Q);
  __m512d c = _mm512_min_pd(_mm512_max_pd(u, vneg), vn);
  c = _mm512_roundscale_pd(c, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  c = _mm512_min_pd(_mm512_max_pd(c, vneg), vn);
  __m512d out = _mm512_mul_pd(c, lsb);
  out = _mm512_mask_blend_pd(nan, out, u);
  const __mmask8 dead = _mm512_cmp_pd_mask(lsb, zero, _CMP_LE_OQ);  // full scale <= 0
  out = _mm512_mask_blend_pd(dead, out, zero);
  _mm256_mask_storeu_ps(row, m, _mm512_cvtpd_ps(out));
}

// convert() of `rows` rows of `cols` columns without INL, 16 columns at a time, with
// convert8_exact's bits. u is first estimated in float, fmadd(sigma, z, fmadd(gain * I,
// 1 / lsb, offset)): within 2^-21 M of the exact value, M = |gain I / lsb| + |offset| +
// |sigma z|, and the double arithmetic of the scalar code within 2^-50 M. Both then give the
// same code, round(u) clamped to +-N (= round(clamp(u)), N being an integer), with the same sign
// of zero, unless u lies within that distance of a half-integer or of 0; beyond +-(N + 1) both
// clamp to the same end code. `tol` bounds 2^-19 M wherever |u| <= N + 1 (see
// update_kernel_constants). A vector with a lane within tol of a half-integer or of 0, or NaN or
// infinite, is computed by convert8_exact (rare: about 2 tol of the lanes). The code times lsb
// is then rounded as the scalar code rounds it: in double, to float.
__attribute__((target("avx512f,avx512vl"))) void convert_rows_avx512(
    float* currents, int rows, size_t cols, const double* lsb_d, const float* inv_lsb,
    const float* gain, const float* offset, double n_codes, double noise_sigma, float tol,
    const float* z) {
  const __m512 vn = _mm512_set1_ps(static_cast<float>(n_codes));
  const __m512 vneg = _mm512_set1_ps(static_cast<float>(-n_codes));
  const __m512 vsig = _mm512_set1_ps(static_cast<float>(noise_sigma));
  const __m512 vtol = _mm512_set1_ps(tol), near_half = _mm512_set1_ps(0.5f - tol);
  const __m512d zero = _mm512_setzero_pd();
  for (int r = 0; r < rows; ++r) {
    float* row = currents + static_cast<size_t>(r) * cols;
    const float* zr = z != nullptr ? z + static_cast<size_t>(r) * cols : nullptr;
    for (size_t j = 0; j < cols; j += 16) {
      const size_t left = cols - j;
      const __mmask16 m = left >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << left) - 1u);
      const __mmask8 m0 = static_cast<__mmask8>(m), m1 = static_cast<__mmask8>(m >> 8);
      const __m512 x = _mm512_maskz_loadu_ps(m, row + j);
      const __m512 gx = _mm512_mul_ps(_mm512_maskz_loadu_ps(m, gain + j), x);
      __m512 u = _mm512_fmadd_ps(gx, _mm512_maskz_loadu_ps(m, inv_lsb + j),
                                 _mm512_maskz_loadu_ps(m, offset + j));
      if (zr != nullptr) u = _mm512_fmadd_ps(vsig, _mm512_maskz_loadu_ps(m, zr + j), u);
      const __m512 code = _mm512_roundscale_ps(u, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
      const __mmask16 redo = _mm512_mask_cmp_ps_mask(m, _mm512_abs_ps(_mm512_sub_ps(u, code)),
                                                     near_half, _CMP_NLE_UQ) |
                             _mm512_mask_cmp_ps_mask(m, _mm512_abs_ps(u), vtol, _CMP_LE_OQ);
      if (redo != 0) {
        const float* zj = zr != nullptr ? zr + j : nullptr;
        convert8_exact(row + j, m0, lsb_d + j, gain + j, offset + j, n_codes, noise_sigma, zj);
        if (m1 != 0)
          convert8_exact(row + j + 8, m1, lsb_d + j + 8, gain + j + 8, offset + j + 8, n_codes,
                         noise_sigma, zj != nullptr ? zj + 8 : nullptr);
        continue;
      }
      const __m512 c = _mm512_min_ps(_mm512_max_ps(code, vneg), vn);
      const __m512d lsb0 = _mm512_maskz_loadu_pd(m0, lsb_d + j);
      const __m512d lsb1 = _mm512_maskz_loadu_pd(m1, lsb_d + j + 8);
      const __m512d c0 = _mm512_cvtps_pd(_mm512_castps512_ps256(c));
      const __m512d c1 =
          _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(c), 1)));
      // A column with full scale 0 (lsb 0) reads +0.
      const __m256 o0 = _mm512_maskz_cvtpd_ps(_mm512_cmp_pd_mask(lsb0, zero, _CMP_GT_OQ),
                                              _mm512_mul_pd(c0, lsb0));
      const __m256 o1 = _mm512_maskz_cvtpd_ps(_mm512_cmp_pd_mask(lsb1, zero, _CMP_GT_OQ),
                                              _mm512_mul_pd(c1, lsb1));
      _mm256_mask_storeu_ps(row + j, m0, o0);
      _mm256_mask_storeu_ps(row + j + 8, m1, o1);
    }
  }
}
#endif

#if ACIM_HAVE_AVX512
__attribute__((target("avx512f"))) float scale_noise_avx512(float* z, int rows, size_t cols,
                                                            const float* var, float extra,
                                                            const float* gain2, float sigma2) {
  const __m512 vextra = _mm512_set1_ps(extra), vs2 = _mm512_set1_ps(sigma2);
  const __m512 zero = _mm512_setzero_ps();
  __m512 vmax = zero;
  for (int r = 0; r < rows; ++r) {
    float* zr = z + static_cast<size_t>(r) * cols;
    const float* vr = var != nullptr ? var + static_cast<size_t>(r) * cols : nullptr;
    for (size_t j = 0; j < cols; j += 16) {
      const size_t left = cols - j;
      const __mmask16 m = left >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << left) - 1u);
      const __m512 v = vr != nullptr ? _mm512_max_ps(zero, _mm512_maskz_loadu_ps(m, vr + j)) : zero;
      __m512 t = _mm512_mul_ps(_mm512_maskz_loadu_ps(m, gain2 + j), _mm512_add_ps(v, vextra));
      __asm__("" : "+v"(t));  // two roundings, as in the scalar loop (no fused multiply-add)
      const __m512 sd = _mm512_sqrt_ps(_mm512_add_ps(t, vs2));
      const __m512 out = _mm512_mul_ps(sd, _mm512_maskz_loadu_ps(m, zr + j));
      _mm512_mask_storeu_ps(zr + j, m, out);
      vmax = _mm512_max_ps(_mm512_abs_ps(out), vmax);  // a NaN lane is skipped
    }
  }
  return _mm512_reduce_max_ps(vmax);
}
#endif

// z[r * cols + j] *= sqrt(sigma2 + gain2_j (max(var[r * cols + j], 0) + extra)) for `rows`
// rows (var may be null: 0): standard normals to the total noise of each conversion, in LSB.
// Returns the largest |result| (for the fast path's tolerance).
float scale_noise(float* z, int rows, size_t cols, const float* var, float extra,
                  const float* gain2, float sigma2) {
#if ACIM_HAVE_AVX512
  if (cpu_has_avx512()) return scale_noise_avx512(z, rows, cols, var, extra, gain2, sigma2);
#endif
  float max_abs = 0.0f;
  for (int r = 0; r < rows; ++r) {
    float* zr = z + static_cast<size_t>(r) * cols;
    const float* vr = var != nullptr ? var + static_cast<size_t>(r) * cols : nullptr;
    for (size_t j = 0; j < cols; ++j) {
      const float v = vr != nullptr ? std::max(vr[j], 0.0f) : 0.0f;
      const float t = gain2[j] * (v + extra);
      zr[j] *= std::sqrt(t + sigma2);
      max_abs = std::max(max_abs, std::fabs(zr[j]));
    }
  }
  return max_abs;
}

void check_finite_nonneg(double v, const char* name, const char* unit) {
  if (!std::isfinite(v) || v < 0) {
    throw Error(ErrorKind::invalid, name,
                "is " + std::to_string(v) + std::string(unit) + ", must be finite and >= 0",
                "use 0 to turn this effect off");
  }
}

}  // namespace


AdcModel::AdcModel(const AdcParams& params, int cols, bool enabled, const RandomStream& instance)
    : params_(params), cols_(cols), enabled_(enabled) {
  ACIM_ASSERT(cols >= 0, "negative column count");
  if (params.bits < 2 || params.bits > 24) {
    throw Error(ErrorKind::invalid, "adc.bits",
                "is " + std::to_string(params.bits) + ", allowed range is 2..24",
                "a signed ADC needs at least 2 bits; 24 bits is the float32 limit");
  }
  check_finite_nonneg(params.offset_sigma_lsb, "adc.offset_sigma_lsb", " LSB");
  check_finite_nonneg(params.gain_sigma_rel, "adc.gain_sigma_rel", "");
  check_finite_nonneg(params.noise_sigma_lsb, "adc.noise_sigma_lsb", " LSB");
  if (!std::isfinite(params.inl_lsb)) {
    throw Error(ErrorKind::invalid, "adc.inl_lsb", "is not finite", "use a finite value in LSB");
  }
  if (params.range == AdcRange::fixed &&
      (!std::isfinite(params.full_scale_ua) || params.full_scale_ua <= 0)) {
    throw Error(ErrorKind::invalid, "adc.full_scale_ua",
                "is " + std::to_string(params.full_scale_ua) + " µA, must be finite and > 0",
                "set the fixed ADC range to the largest column current expected");
  }
  float fs = std::isfinite(params.full_scale_ua) && params.full_scale_ua > 0
                 ? static_cast<float>(params.full_scale_ua)
                 : 1.0f;
  lsb_.assign(static_cast<size_t>(cols), static_cast<double>(fs) / max_code());
  offset_lsb_.assign(static_cast<size_t>(cols), 0.0f);
  gain_.assign(static_cast<size_t>(cols), 1.0f);
  if (!enabled) return;
  if (params.offset_sigma_lsb > 0) {
    RandomStream s = instance.child(1);
    s.normal(offset_lsb_.data(), offset_lsb_.size());
    for (float& o : offset_lsb_) o = static_cast<float>(params.offset_sigma_lsb * o);
  }
  if (params.gain_sigma_rel > 0) {
    RandomStream s = instance.child(2);
    s.normal(gain_.data(), gain_.size());
    for (float& g : gain_) g = static_cast<float>(1.0 + params.gain_sigma_rel * g);
  }
  update_kernel_constants();
}

void AdcModel::set_full_scale(const std::vector<float>& full_scale_ua) {
  if (full_scale_ua.size() != static_cast<size_t>(cols_)) {
    throw Error(ErrorKind::invalid, "adc full scale",
                "has " + std::to_string(full_scale_ua.size()) + " values for " +
                    std::to_string(cols_) + " columns",
                "give one full-scale current per column");
  }
  for (size_t j = 0; j < full_scale_ua.size(); ++j) {
    float v = full_scale_ua[j];
    if (!std::isfinite(v) || v < 0) {
      throw Error(ErrorKind::invalid, "adc full scale of column " + std::to_string(j),
                  "is " + std::to_string(v) + " µA, must be finite and >= 0",
                  "calibrate with finite inputs");
    }
  }
  const double n_codes = max_code();
  for (size_t j = 0; j < full_scale_ua.size(); ++j)
    lsb_[j] = static_cast<double>(full_scale_ua[j]) / n_codes;
  if (enabled_) update_kernel_constants();
}

// lsb = fs / N within half an ulp of the double; lsb * N is then fs within about 2^-52 fs,
// which rounds to the float fs exactly (the floats nearest fs are 2^-24 fs away).
std::vector<float> AdcModel::full_scale_ua() const {
  const double n_codes = max_code();
  std::vector<float> fs(lsb_.size());
  for (size_t j = 0; j < lsb_.size(); ++j) fs[j] = static_cast<float>(lsb_[j] * n_codes);
  return fs;
}

int AdcModel::max_code() const {
  return (1 << (params_.bits - 1)) - 1;
}

double AdcModel::lsb_ua(int col) const {
  ACIM_ASSERT(col >= 0 && col < cols_, "ADC column out of range");
  return lsb_[static_cast<size_t>(col)];
}

void AdcModel::update_kernel_constants() {
  const size_t cols = static_cast<size_t>(cols_);
  inv_lsb_.resize(cols);
  gain2_.resize(cols);
  // The float estimate of convert_rows_avx512 needs each 1 / lsb as a normal float.
  bool usable = true;
  double max_offset = 0;
  for (size_t j = 0; j < cols; ++j) {
    const double inv = lsb_[j] > 0 ? 1.0 / lsb_[j] : 0.0;
    inv_lsb_[j] = static_cast<float>(inv);
    gain2_[j] = static_cast<float>(gain_[j] * inv * gain_[j] * inv);
    usable = usable && (lsb_[j] <= 0 || std::isnormal(inv_lsb_[j]));
    max_offset = std::max(max_offset, std::fabs(static_cast<double>(offset_lsb_[j])));
  }
  // |z| < 5.9 (the largest Box–Muller radius, sqrt(-2 ln 2^-25), src/core/rng.cpp).
  max_offset_ = max_offset;
  fast_usable_ = usable;
  fast_tol_ = usable ? fast_tolerance(8 * params_.noise_sigma_lsb) : -1.0f;
}

// Where |u| <= N + 1: |gain I / lsb| <= N + 1 + |offset| + |noise|, so M <= N + 1 +
// 2 (|offset| + |noise|). One more LSB covers the rounding of these bounds.
float AdcModel::fast_tolerance(double max_noise_lsb) const {
  const double m_max = max_code() + 2 + 2 * (max_offset_ + max_noise_lsb);
  const double tol = std::ldexp(m_max, -19);
  return tol < 0.25 ? static_cast<float>(tol) : -1.0f;
}

void AdcModel::convert(float* currents, int batch, const RandomStream& noise, uint64_t first_row,
                       const AnalogNoise* analog) const {
  if (!enabled_ || cols_ == 0) return;
  if (analog != nullptr && analog->var == nullptr && !(analog->extra > 0)) analog = nullptr;
  const double n_codes = max_code();
  const double inl = params_.inl_lsb;
  // With analog noise, the draws are scaled per conversion to the total noise in LSB
  // (scale_noise) and enter the conversion with sigma 1.
  const double noise_sigma = analog != nullptr ? 1.0 : params_.noise_sigma_lsb;
  const float sigma2 = static_cast<float>(params_.noise_sigma_lsb * params_.noise_sigma_lsb);
  const size_t cols = static_cast<size_t>(cols_);
  const double pi = std::numbers::pi;
  // Draw (first_row + b) * cols + j is the noise of column j at input b. Chunks of inputs run in
  // parallel; within one, the noise of a few inputs at a time (about kDraws draws: long enough
  // for the vectorised generator, short enough to stay in the L1 cache until converted) is
  // drawn into a per-thread buffer.
  constexpr int kChunk = 64;
  constexpr size_t kDraws = 4096;
  const int chunks = (batch + kChunk - 1) / kChunk;
  const int rows_per_draw = static_cast<int>(std::clamp<size_t>(kDraws / cols, 1, kChunk));
#if ACIM_HAVE_AVX512
  const bool simd = inl == 0 && cpu_has_avx512();
#endif
  detail::parallel_for_static(chunks, chunks > 1, [&](int64_t c) {
    static thread_local std::vector<float> zbuf;
    const int b1 = std::min(batch, static_cast<int>(c + 1) * kChunk);
    for (int d0 = static_cast<int>(c) * kChunk; d0 < b1; d0 += rows_per_draw) {
      const int d1 = std::min(b1, d0 + rows_per_draw);
      const float* zc = nullptr;
      float tol = fast_tol_;
      if (noise_sigma > 0) {
        const size_t draws = static_cast<size_t>(d1 - d0) * cols;
        noise.normal(grown(zbuf, draws), draws, (first_row + static_cast<uint64_t>(d0)) * cols);
        zc = zbuf.data();
        if (analog != nullptr) {
          const float* var =
              analog->var != nullptr ? analog->var + static_cast<size_t>(d0) * cols : nullptr;
          const float max_noise =
              scale_noise(zbuf.data(), d1 - d0, cols, var, analog->extra, gain2_.data(), sigma2);
          tol = fast_usable_ ? fast_tolerance(max_noise) : -1.0f;
        }
      }
#if ACIM_HAVE_AVX512
      if (simd) {
        float* rows = currents + static_cast<size_t>(d0) * cols;
        if (tol >= 0) {
          convert_rows_avx512(rows, d1 - d0, cols, lsb_.data(), inv_lsb_.data(), gain_.data(),
                              offset_lsb_.data(), n_codes, noise_sigma, tol, zc);
        } else {
          for (int b = d0; b < d1; ++b) {
            float* row = currents + static_cast<size_t>(b) * cols;
            const float* z = zc != nullptr ? zc + static_cast<size_t>(b - d0) * cols : nullptr;
            for (size_t j = 0; j < cols; j += 8) {
              const size_t left = cols - j;
              const __mmask8 m = left >= 8 ? __mmask8(0xFF) : __mmask8((1u << left) - 1u);
              convert8_exact(row + j, m, lsb_.data() + j, gain_.data() + j, offset_lsb_.data() + j,
                             n_codes, noise_sigma, z != nullptr ? z + j : nullptr);
            }
          }
        }
        continue;
      }
#endif
      for (int b = d0; b < d1; ++b) {
        const float* z = zc != nullptr ? zc + static_cast<size_t>(b - d0) * cols : nullptr;
        float* row = currents + static_cast<size_t>(b) * cols;
        for (size_t j = 0; j < cols; ++j) {
          const double lsb = lsb_[j];  // full scale / N
          if (lsb <= 0) {
            row[j] = 0.0f;
            continue;
          }
          double u = (gain_[j] * static_cast<double>(row[j])) / lsb + offset_lsb_[j];
          if (noise_sigma > 0) u += noise_sigma * z[j];
          if (std::isnan(u)) {
            row[j] = static_cast<float>(u);  // NaN in, NaN out (the caller checks weights/inputs)
            continue;
          }
          if (u > n_codes) u = n_codes;
          if (u < -n_codes) u = -n_codes;
          if (inl != 0) u += inl * std::sin(pi * u / n_codes);
          double code = std::nearbyint(u);
          if (code > n_codes) code = n_codes;
          if (code < -n_codes) code = -n_codes;
          row[j] = static_cast<float>(code * lsb);
        }
      }
    }
  });
}

}  // namespace acim
