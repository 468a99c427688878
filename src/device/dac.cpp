#include "device/dac.hpp"

#include <algorithm>
#include <cmath>
#include <string>

#include "acim/error.hpp"

#if defined(__x86_64__) && defined(__GNUC__)
// GCC 12's AVX-512 headers trip -Wuninitialized (_mm512_undefined_*) when inlined into a
// target("avx512f") function: a known false positive.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#define ACIM_DAC_AVX512 1
#endif

namespace acim {

namespace {

#ifdef ACIM_DAC_AVX512
bool cpu_has_avx512() {
  static const bool has = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl");
  return has;
}

// quantize() for 8 values at a time, with the same IEEE double operations in the same order as
// the scalar code (divide, multiply, clamp, round half to even, multiply, round to float), so
// the same bits. Rounding gives -0.0 where lrint's integer gives +0.0: adding +0.0 makes it +0.0.
// NaN inputs are left as they are.
__attribute__((target("avx512f,avx512vl"))) void quantize_avx512(const float* x, size_t n,
                                                                 double x_max, double lv,
                                                                 double st, float* out) {
  const __m512d vmax = _mm512_set1_pd(x_max), vlv = _mm512_set1_pd(lv), vneg = _mm512_set1_pd(-lv);
  const __m512d vst = _mm512_set1_pd(st), zero = _mm512_setzero_pd();
  size_t i = 0;
  for (; i < n; i += 8) {
    const size_t left = n - i;
    const __mmask8 m = left >= 8 ? __mmask8(0xFF) : __mmask8((1u << left) - 1u);
    const __m256 xf = _mm256_maskz_loadu_ps(m, x + i);
    const __m512d xd = _mm512_cvtps_pd(xf);
    const __mmask8 ok = _mm512_cmp_pd_mask(xd, xd, _CMP_ORD_Q) & m;
    __m512d u = _mm512_mul_pd(_mm512_div_pd(xd, vmax), vlv);
    u = _mm512_min_pd(_mm512_max_pd(u, vneg), vlv);
    u = _mm512_add_pd(_mm512_roundscale_pd(u, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC), zero);
    const __m256 q = _mm512_cvtpd_ps(_mm512_mul_pd(u, vst));
    // NaN lanes keep their input: blended, not left unwritten, as out may not alias x.
    _mm256_mask_storeu_ps(out + i, m, _mm256_mask_blend_ps(ok, xf, q));
  }
}
#endif

}  // namespace

#ifdef ACIM_DAC_AVX512
#pragma GCC diagnostic pop
#endif

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

void DacModel::quantize(const float* x, size_t n, float* out) const {
  if (!enabled_) {
    if (out != x) std::copy_n(x, n, out);
    return;
  }
  // step in double as the float value that plane_weight() uses, so the bit-serial identity is
  // exact: x_q = q * step, with step = float(x_max / L).
  const double st = static_cast<double>(step());
#ifdef ACIM_DAC_AVX512
  if (cpu_has_avx512()) {
    quantize_avx512(x, n, static_cast<double>(x_max_), static_cast<double>(levels()), st, out);
    return;
  }
#endif
  for (size_t i = 0; i < n; ++i)
    out[i] = std::isnan(x[i]) ? x[i] : static_cast<float>(static_cast<double>(level(x[i])) * st);
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
  for (size_t i = 0; i < n; ++i) q[i] = static_cast<int32_t>(level(x[i]));  // |level| < 2^23
}

float DacModel::plane_weight(int k) const {
  return std::ldexp(step(), k);
}

}  // namespace acim
