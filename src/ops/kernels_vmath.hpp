// Vectorised logistic sigmoid and tanh over float arrays, for the recurrent layers' gates.
//
// With AVX-512 (fast_gemm_available()) exp is evaluated as 2^n * p(r), x = n*ln2 + r with
// |r| <= ln2/2 and p the degree-7 Taylor polynomial of e^r (relative error a few ulp); sigmoid is
// 1 / (1 + e^-x) and tanh is its odd Taylor polynomial for |x| < 0.25 (no cancellation near 0)
// and sign(x) * (1 - 2 / (e^(2|x|) + 1)) above. Without AVX-512 the scalar loops use libm.
// Every element is computed on its own, so results do not depend on how arrays are split.
#pragma once

#include <cmath>
#include <cstdint>

#include "core/simd.hpp"
#include "ops/kernels_gemm.hpp"

namespace acim::ops {

inline float sigmoid_scalar(float x) { return 1.0f / (1.0f + std::exp(-x)); }

#if ACIM_HAVE_AVX512
// e^x for x in [-87.3, 88.7] (clamped outside: 0 and +inf are never produced from finite x).
__attribute__((target("avx512f"), always_inline)) inline __m512 exp_avx512(__m512 x) {
  const __mmask16 all = 0xFFFF;  // maskz forms (GCC 12 warns on the plain min/max)
  x = _mm512_maskz_min_ps(all, _mm512_set1_ps(88.7f),
                          _mm512_maskz_max_ps(all, _mm512_set1_ps(-87.3f), x));
  const __m512 n =
      _mm512_maskz_roundscale_ps(all, _mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                 _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  // r = x - n*ln2 with ln2 split in a short high part (exact products) and the rest.
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
  __m512 p = _mm512_set1_ps(1.0f / 5040.0f);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 720.0f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 120.0f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 24.0f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 6.0f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
  return _mm512_maskz_scalef_ps(all, p, n);
}

__attribute__((target("avx512f"), always_inline)) inline __m512 sigmoid_avx512(__m512 x) {
  const __m512 one = _mm512_set1_ps(1.0f);
  const __m512 e = exp_avx512(_mm512_sub_ps(_mm512_setzero_ps(), x));
  return _mm512_div_ps(one, _mm512_add_ps(one, e));
}

__attribute__((target("avx512f"), always_inline)) inline __m512 tanh_avx512(__m512 x) {
  const __mmask16 all = 0xFFFF;  // maskz forms (GCC 12 warns on the plain ones)
  const __m512i sign = _mm512_set1_epi32(static_cast<int>(0x80000000u));
  const __m512 ax =
      _mm512_castsi512_ps(_mm512_maskz_andnot_epi32(all, sign, _mm512_castps_si512(x)));
  // Large |x|: 1 - 2 / (e^(2|x|) + 1), with x's sign.
  const __m512 one = _mm512_set1_ps(1.0f);
  const __m512 e = exp_avx512(_mm512_add_ps(ax, ax));
  __m512 big = _mm512_sub_ps(one, _mm512_div_ps(_mm512_set1_ps(2.0f), _mm512_add_ps(e, one)));
  big = _mm512_castsi512_ps(
      _mm512_maskz_or_epi32(all, _mm512_castps_si512(big),
                            _mm512_maskz_and_epi32(all, _mm512_castps_si512(x), sign)));
  // Small |x|: x + x^3 * (-1/3 + x^2 * (2/15 + x^2 * (-17/315 + x^2 * 62/2835))).
  const __m512 x2 = _mm512_mul_ps(x, x);
  __m512 q = _mm512_set1_ps(62.0f / 2835.0f);
  q = _mm512_fmadd_ps(q, x2, _mm512_set1_ps(-17.0f / 315.0f));
  q = _mm512_fmadd_ps(q, x2, _mm512_set1_ps(2.0f / 15.0f));
  q = _mm512_fmadd_ps(q, x2, _mm512_set1_ps(-1.0f / 3.0f));
  const __m512 small = _mm512_fmadd_ps(_mm512_mul_ps(q, x2), x, x);
  const __mmask16 is_small = _mm512_cmp_ps_mask(ax, _mm512_set1_ps(0.25f), _CMP_LT_OQ);
  return _mm512_mask_blend_ps(is_small, big, small);
}

__attribute__((target("avx512f"))) inline void sigmoid_array_avx512(float* p, int64_t n) {
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = n - i >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << (n - i)) - 1u);
    _mm512_mask_storeu_ps(p + i, m, sigmoid_avx512(_mm512_maskz_loadu_ps(m, p + i)));
  }
}

__attribute__((target("avx512f"))) inline void tanh_array_avx512(float* p, int64_t n) {
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = n - i >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << (n - i)) - 1u);
    _mm512_mask_storeu_ps(p + i, m, tanh_avx512(_mm512_maskz_loadu_ps(m, p + i)));
  }
}
#endif

// p[i] = sigmoid(p[i]) for i in [0, n).
inline void sigmoid_array(float* p, int64_t n) {
#if ACIM_HAVE_AVX512
  if (fast_gemm_available()) {
    sigmoid_array_avx512(p, n);
    return;
  }
#endif
  for (int64_t i = 0; i < n; ++i) p[i] = sigmoid_scalar(p[i]);
}

// p[i] = tanh(p[i]) for i in [0, n).
inline void tanh_array(float* p, int64_t n) {
#if ACIM_HAVE_AVX512
  if (fast_gemm_available()) {
    tanh_array_avx512(p, n);
    return;
  }
#endif
  for (int64_t i = 0; i < n; ++i) p[i] = std::tanh(p[i]);
}

}  // namespace acim::ops
