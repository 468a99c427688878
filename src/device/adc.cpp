#include "device/adc.hpp"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <string>
#include <utility>
#include <vector>

#include "acim/error.hpp"

#include "core/simd.hpp"

namespace acim {

namespace {

#if ACIM_HAVE_AVX512
// One row of convert() without INL, 8 columns at a time, with the same IEEE double operations in
// the same order as the scalar loop (so the same bits): u = (gain * I) / lsb + offset
// [+ sigma * z], NaN passes through, clamp to +-N, round half to even, clamp, code * lsb to
// float; a column with full scale <= 0 reads 0. The empty asm keeps sigma * z a separate
// rounding (no fused multiply-add, as in the scalar code). lsb, gain and offset: each column's
// full scale / N, gain and offset as doubles (computed once per convert()).
__attribute__((target("avx512f,avx512vl"))) void convert_row_avx512(
    float* row, size_t cols, const double* lsb_d, const double* gain, const double* offset,
    double n_codes, double noise_sigma, const float* z) {
  const __m512d vn = _mm512_set1_pd(n_codes), vneg = _mm512_set1_pd(-n_codes);
  const __m512d vsig = _mm512_set1_pd(noise_sigma), zero = _mm512_setzero_pd();
  for (size_t j = 0; j < cols; j += 8) {
    const size_t left = cols - j;
    const __mmask8 m = left >= 8 ? __mmask8(0xFF) : __mmask8((1u << left) - 1u);
    const __m512d lsb = _mm512_maskz_loadu_pd(m, lsb_d + j);
    const __m512d g = _mm512_maskz_loadu_pd(m, gain + j);
    const __m512d x = _mm512_cvtps_pd(_mm256_maskz_loadu_ps(m, row + j));
    const __m512d off = _mm512_maskz_loadu_pd(m, offset + j);
    __m512d u = _mm512_add_pd(_mm512_div_pd(_mm512_mul_pd(g, x), lsb), off);
    if (z != nullptr) {
      __m512d nz = _mm512_mul_pd(vsig, _mm512_cvtps_pd(_mm256_maskz_loadu_ps(m, z + j)));
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
    _mm256_mask_storeu_ps(row + j, m, _mm512_cvtpd_ps(out));
  }
}
#endif

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
  full_scale_.assign(static_cast<size_t>(cols), fs);
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
}

void AdcModel::set_full_scale(std::vector<float> full_scale_ua) {
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
  full_scale_ = std::move(full_scale_ua);
}

int AdcModel::max_code() const {
  return (1 << (params_.bits - 1)) - 1;
}

double AdcModel::lsb_ua(int col) const {
  ACIM_ASSERT(col >= 0 && col < cols_, "ADC column out of range");
  return static_cast<double>(full_scale_[static_cast<size_t>(col)]) / max_code();
}

void AdcModel::convert(float* currents, int batch, const RandomStream& noise,
                       uint64_t first_row) const {
  if (!enabled_ || cols_ == 0) return;
  const double n_codes = max_code();
  const double inl = params_.inl_lsb;
  const double noise_sigma = params_.noise_sigma_lsb;
  const size_t cols = static_cast<size_t>(cols_);
  const double pi = std::numbers::pi;
  // Draw (first_row + b) * cols + j is the noise of column j at input b. A chunk of inputs
  // draws its noise in one call: one row of a few columns is too short for the vectorised
  // generator.
  constexpr int kChunk = 64;
  const int chunks = (batch + kChunk - 1) / kChunk;
#if ACIM_HAVE_AVX512
  // Per-column constants of the vectorised rows, in double as the scalar loop computes them.
  std::vector<double> col_lsb(cols), col_gain(cols), col_offset(cols);
  for (size_t j = 0; j < cols; ++j) {
    col_lsb[j] = static_cast<double>(full_scale_[j]) / n_codes;
    col_gain[j] = gain_[j];
    col_offset[j] = offset_lsb_[j];
  }
#endif
#pragma omp parallel for schedule(static) if (chunks > 1)
  for (int c = 0; c < chunks; ++c) {
    const int b0 = c * kChunk, b1 = std::min(batch, b0 + kChunk);
    std::vector<float> zc;
    if (noise_sigma > 0) {
      zc.resize(static_cast<size_t>(b1 - b0) * cols);
      noise.normal(zc.data(), zc.size(), (first_row + static_cast<uint64_t>(b0)) * cols);
    }
    for (int b = b0; b < b1; ++b) {
      const float* z = noise_sigma > 0 ? zc.data() + static_cast<size_t>(b - b0) * cols : nullptr;
      float* row = currents + static_cast<size_t>(b) * cols;
#if ACIM_HAVE_AVX512
      if (inl == 0 && cpu_has_avx512()) {
        convert_row_avx512(row, cols, col_lsb.data(), col_gain.data(), col_offset.data(), n_codes,
                           noise_sigma, z);
        continue;
      }
#endif
      for (size_t j = 0; j < cols; ++j) {
        const double fs = full_scale_[j];
        if (fs <= 0) {
          row[j] = 0.0f;
          continue;
        }
        const double lsb = fs / n_codes;
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
}

}  // namespace acim
