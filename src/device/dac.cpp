#include "device/dac.hpp"

#include <algorithm>
#include <cmath>
#include <string>

#include "acim/error.hpp"

#include "core/simd.hpp"

namespace acim {

namespace {

#if ACIM_HAVE_AVX512
// quantize() for 8 values at a time, with the IEEE double operations of the scalar code in the
// same order (divide, multiply, clamp, round half to even, multiply, round to float), so the
// same bits. Rounding gives -0.0 where lrint's integer gives +0.0: adding +0.0 makes it +0.0.
// NaN lanes keep their input. The result times `times` (float). Returns false if some x is NaN
// or infinite.
__attribute__((target("avx512f,avx512vl"))) bool quantize8_avx512(const float* x, size_t n,
                                                                  double x_max, double lv,
                                                                  double st, float times,
                                                                  float* out) {
  const __m512d vmax = _mm512_set1_pd(x_max), vlv = _mm512_set1_pd(lv), vneg = _mm512_set1_pd(-lv);
  const __m512d vst = _mm512_set1_pd(st), zero = _mm512_setzero_pd();
  const __m512d inf = _mm512_set1_pd(INFINITY);
  const __m256 vt = _mm256_set1_ps(times);
  __mmask8 bad = 0;
  for (size_t i = 0; i < n; i += 8) {
    const size_t left = n - i;
    const __mmask8 m = left >= 8 ? __mmask8(0xFF) : __mmask8((1u << left) - 1u);
    const __m256 xf = _mm256_maskz_loadu_ps(m, x + i);
    const __m512d xd = _mm512_cvtps_pd(xf);
    const __mmask8 ok = _mm512_cmp_pd_mask(xd, xd, _CMP_ORD_Q) & m;
    const __mmask8 nonfinite = _mm512_cmp_pd_mask(_mm512_abs_pd(xd), inf, _CMP_NLT_UQ) & m;
    bad = static_cast<__mmask8>(bad | nonfinite);  // NaN or ±inf
    __m512d u = _mm512_mul_pd(_mm512_div_pd(xd, vmax), vlv);
    u = _mm512_min_pd(_mm512_max_pd(u, vneg), vlv);
    u = _mm512_add_pd(_mm512_roundscale_pd(u, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC), zero);
    const __m256 q = _mm512_cvtpd_ps(_mm512_mul_pd(u, vst));
    // NaN lanes keep their input: blended, not left unwritten, as out may not alias x.
    _mm256_mask_storeu_ps(out + i, m, _mm256_mul_ps(_mm256_mask_blend_ps(ok, xf, q), vt));
  }
  return bad == 0;
}

// The levels of 16 inputs in float: round_half_even(clamp(u, -L, L)) with u = x * (L / x_max)
// (scale), as integer-valued floats. u is within 2^-22 |u| of the exact x L / x_max, and the
// scalar code's double value within 2^-51 |u|: both round to the same level unless u lies
// within that of a half-integer. Lanes within 2^-20 |u| of one (rare), and NaN or infinite
// lanes, are flagged in *redo for the caller to compute the scalar way.
__attribute__((target("avx512f,avx512vl"))) inline __m512 levels16(__m512 xf, __mmask16 m,
                                                                   __m512 scale, float lv,
                                                                   __mmask16* redo) {
  const __m512i exp_mask = _mm512_set1_epi32(0x7F800000);
  const __mmask16 nonfinite = _mm512_mask_cmpeq_epi32_mask(
      m, _mm512_and_si512(_mm512_castps_si512(xf), exp_mask), exp_mask);
  const __m512 u = _mm512_mul_ps(xf, scale);
  const __m512 frac =
      _mm512_sub_ps(u, _mm512_roundscale_ps(u, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC));
  const __m512 off_half = _mm512_abs_ps(_mm512_sub_ps(frac, _mm512_set1_ps(0.5f)));
  const __m512 tol = _mm512_mul_ps(_mm512_abs_ps(u), _mm512_set1_ps(std::ldexp(1.0f, -20)));
  *redo = static_cast<__mmask16>(nonfinite | _mm512_mask_cmp_ps_mask(m, off_half, tol, _CMP_LE_OQ));
  const __m512 c = _mm512_min_ps(_mm512_max_ps(u, _mm512_set1_ps(-lv)), _mm512_set1_ps(lv));
  // + 0.0 makes a rounded -0.0 the +0.0 of the scalar code's integer.
  return _mm512_add_ps(_mm512_roundscale_ps(c, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC),
                       _mm512_setzero_ps());
}

// quantize() for 16 values at a time in float (levels16), with quantize8_avx512's bits: the
// level times the step is exact in double (24 x 24 bits) and rounded once to float, so it is
// the float product level * step, which rounds the same exact value. A vector with a lane
// levels16 flags is redone by quantize8_avx512, and so is everything when L / x_max is not a
// normal float.
__attribute__((target("avx512f,avx512vl"))) bool quantize_avx512(const float* x, size_t n,
                                                                 double x_max, double lv, double st,
                                                                 float times, float* out) {
  const float scale_f = static_cast<float>(lv / x_max);
  if (!std::isnormal(scale_f)) return quantize8_avx512(x, n, x_max, lv, st, times, out);
  const __m512 scale = _mm512_set1_ps(scale_f), vst = _mm512_set1_ps(static_cast<float>(st));
  const __m512 vt = _mm512_set1_ps(times);
  bool finite = true;
  for (size_t i = 0; i < n; i += 16) {
    const size_t left = n - i;
    const __mmask16 m = left >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << left) - 1u);
    __mmask16 redo = 0;
    const __m512 c =
        levels16(_mm512_maskz_loadu_ps(m, x + i), m, scale, static_cast<float>(lv), &redo);
    if (redo != 0) {
      finite = quantize8_avx512(x + i, std::min<size_t>(16, left), x_max, lv, st, times, out + i) &&
               finite;
      continue;
    }
    _mm512_mask_storeu_ps(out + i, m, _mm512_mul_ps(_mm512_mul_ps(c, vst), vt));
  }
  return finite;
}

// signed_levels() 16 at a time (levels16), as int32 or int16 (T); scalar_level(x) computes a
// flagged lane (NaN or infinite ones among them), and everything when L / x_max is not a normal
// float.
template <class T, class ScalarLevel>
__attribute__((target("avx512f,avx512vl,avx512bw"))) void signed_levels_avx512(
    const float* x, size_t n, double x_max, double lv, T* q, ScalarLevel scalar_level) {
  const float scale_f = static_cast<float>(lv / x_max);
  const __m512 scale = _mm512_set1_ps(scale_f);
  for (size_t i = 0; i < n; i += 16) {
    const size_t left = n - i;
    const __mmask16 m = left >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << left) - 1u);
    __mmask16 redo = 0;
    const __m512 c =
        levels16(_mm512_maskz_loadu_ps(m, x + i), m, scale, static_cast<float>(lv), &redo);
    if (redo != 0 || !std::isnormal(scale_f)) {
      for (size_t k = i; k < i + std::min<size_t>(16, left); ++k) q[k] = scalar_level(x[k]);
      continue;
    }
    if constexpr (sizeof(T) == 4)
      _mm512_mask_storeu_epi32(q + i, m, _mm512_cvtps_epi32(c));
    else
      _mm256_mask_storeu_epi16(q + i, m, _mm512_cvtsepi32_epi16(_mm512_cvtps_epi32(c)));
  }
}
#endif

}  // namespace


DacModel::DacModel(const DacParams& params, bool enabled) : params_(params), enabled_(enabled) {
  if (params.bits < 2 || params.bits > 24) {
    throw Error(ErrorKind::invalid, "dac.bits",
                "is " + std::to_string(params.bits) + ", allowed range is 2..24",
                "use at least 1 magnitude bit plus sign; 24 bits is the float32 limit");
  }
  if (!std::isfinite(params.v_read) || params.v_read <= 0) {
    throw Error(ErrorKind::invalid, "dac.v_read",
                "is " + std::to_string(params.v_read) + " V, must be finite and > 0",
                "a typical read voltage is 0.1..0.3 V");
  }
}

void DacModel::set_input_range(float x_max) {
  if (!std::isfinite(x_max) || x_max <= 0) {
    throw Error(ErrorKind::invalid, "dac input range",
                "is " + std::to_string(x_max) + ", must be finite and > 0",
                "calibrate with inputs that are not all zero");
  }
  x_max_ = x_max;
}

int DacModel::levels() const {
  return (1 << (params_.bits - 1)) - 1;
}

float DacModel::step() const {
  return static_cast<float>(static_cast<double>(x_max_) / levels());
}

long DacModel::level(float x) const {
  if (std::isnan(x)) return 0;
  const double lv = levels();
  // Scale in double so clipping at exactly ±x_max gives exactly ±L.
  double u = static_cast<double>(x) / static_cast<double>(x_max_) * lv;
  if (u > lv) u = lv;
  if (u < -lv) u = -lv;
  return std::lrint(u);  // round half to even (default FE_TONEAREST)
}

void DacModel::quantize(float* x, size_t n) const {
  quantize(x, n, x);
}

bool DacModel::quantize(const float* x, size_t n, float* out, float times) const {
  if (!enabled_) {
    bool finite = true;
    for (size_t i = 0; i < n; ++i) finite = finite && std::isfinite(x[i]);
    if (times != 1.0f)
      for (size_t i = 0; i < n; ++i) out[i] = x[i] * times;
    else if (out != x)
      std::copy_n(x, n, out);
    return finite;
  }
  // step in double as the float value that plane_weight() uses, so the bit-serial identity is
  // exact: x_q = q * step, with step = float(x_max / L).
  const double st = static_cast<double>(step());
#if ACIM_HAVE_AVX512
  if (cpu_has_avx512())
    return quantize_avx512(x, n, static_cast<double>(x_max_), static_cast<double>(levels()), st,
                           times, out);
#endif
  bool finite = true;
  for (size_t i = 0; i < n; ++i) {
    finite = finite && std::isfinite(x[i]);
    const float q =
        std::isnan(x[i]) ? x[i] : static_cast<float>(static_cast<double>(level(x[i])) * st);
    out[i] = q * times;
  }
  return finite;
}

int DacModel::cycles() const {
  return params_.bits - 1;
}

void DacModel::bit_plane(const float* x, size_t n, int k, float* out) const {
  for (size_t i = 0; i < n; ++i) {
    long q = level(x[i]);
    long mag = q < 0 ? -q : q;
    float bit = static_cast<float>((mag >> k) & 1);
    out[i] = q < 0 ? -bit : bit;
  }
}

void DacModel::signed_levels(const float* x, size_t n, int32_t* q) const {
  // |level| < 2^23
  auto scalar_level = [this](float v) { return static_cast<int32_t>(level(v)); };
#if ACIM_HAVE_AVX512
  if (cpu_has_avx512()) {
    signed_levels_avx512(x, n, static_cast<double>(x_max_), static_cast<double>(levels()), q,
                         scalar_level);
    return;
  }
#endif
  for (size_t i = 0; i < n; ++i) q[i] = scalar_level(x[i]);
}

bool DacModel::levels_i16(const float* x, size_t n, int16_t* q) const {
  ACIM_ASSERT(levels() <= 32767, "DacModel::levels_i16 with more than 16 bits");
  bool finite = true;
  auto scalar_level = [this, &finite](float v) {
    finite = finite && std::isfinite(v);
    return static_cast<int16_t>(level(v));
  };
#if ACIM_HAVE_AVX512
  if (cpu_has_avx512()) {
    signed_levels_avx512(x, n, static_cast<double>(x_max_), static_cast<double>(levels()), q,
                         scalar_level);
    return finite;
  }
#endif
  for (size_t i = 0; i < n; ++i) q[i] = scalar_level(x[i]);
  return finite;
}

float DacModel::plane_weight(int k) const {
  return std::ldexp(step(), k);
}

}  // namespace acim
