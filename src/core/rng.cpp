#include "acim/rng.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/simd.hpp"

namespace acim {

namespace {

// Philox4x32 round constants (Salmon et al., SC 2011).
constexpr uint32_t kMul0 = 0xD2511F53u;
constexpr uint32_t kMul1 = 0xCD9E8D57u;
constexpr uint32_t kWeyl0 = 0x9E3779B9u;
constexpr uint32_t kWeyl1 = 0xBB67AE85u;

inline void mulhilo(uint32_t a, uint32_t b, uint32_t& hi, uint32_t& lo) {
  uint64_t p = static_cast<uint64_t>(a) * b;
  hi = static_cast<uint32_t>(p >> 32);
  lo = static_cast<uint32_t>(p);
}

// SplitMix64 finaliser (Steele, Lea, Flood, OOPSLA 2014): mixes a key path into one key.
inline uint64_t mix64(uint64_t z) {
  z += 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

inline std::array<uint32_t, 4> block(uint64_t key, uint64_t index) {
  return philox4x32({static_cast<uint32_t>(index), static_cast<uint32_t>(index >> 32), 0u, 0u},
                    {static_cast<uint32_t>(key), static_cast<uint32_t>(key >> 32)});
}

// 32 random bits to a float in (0, 1] for the normal transform: 24 bits, offset by half a step
// (k + 0.5 rounds to even in float for k >= 2^23, so the top value is 1.0: harmless there).
inline float to_unit(uint32_t x) {
  return (static_cast<float>(x >> 8) + 0.5f) * (1.0f / 16777216.0f);
}

// 32 random bits to a float in the open interval (0, 1): 23 bits plus half a step, exact in
// float, so the largest value is 1 - 2^-24 and the smallest 2^-24.
inline float to_open_unit(uint32_t x) {
  return (static_cast<float>(x >> 9) + 0.5f) * (1.0f / 8388608.0f);
}

// The normal transform: Box–Muller, z0 = r cos(theta), z1 = r sin(theta) with
// r = sqrt(-2 ln u1), theta = 2 pi u2, evaluated with polynomials so that the scalar code here
// and the SIMD code below give the SAME bits: every step is one correctly rounded IEEE operation
// (+, -, *, /, sqrt, or an explicit fused multiply-add), in the same order in both (where the
// SIMD code takes another route, it is exact: exponent and mantissa by getexp/getmant, and the
// uniform's offset and power-of-two scale in one fused multiply-add; see to_unit16).
//   ln u = e ln 2 + ln m,  u = m 2^e with m in [sqrt(1/2), sqrt(2)),
//   ln m = 2 atanh(s) = 2 s (1 + s^2/3 + s^4/5 + s^6/7 + s^8/9),  s = (m - 1) / (m + 1),
//     |s| <= 0.1716, truncation error < 1e-9 relative (the next term is s^10 / 11).
//   theta = q pi/2 + phi with q = round(4 u2), phi = (4 u2 - q) pi/2 in [-pi/4, pi/4];
//   sin phi and cos phi by their Taylor series to phi^9 / phi^8 (error < 3e-8), then rotated by
//   the quadrant q mod 4.
constexpr float kLn2 = 0.693147180559945309f;
constexpr float kHalfPi = 1.57079632679489662f;
constexpr float kInv3 = 1.0f / 3, kInv5 = 1.0f / 5, kInv7 = 1.0f / 7, kInv9 = 1.0f / 9;
constexpr float kS3 = -1.0f / 6, kS5 = 1.0f / 120, kS7 = -1.0f / 5040, kS9 = 1.0f / 362880;
constexpr float kC2 = -1.0f / 2, kC4 = 1.0f / 24, kC6 = -1.0f / 720, kC8 = 1.0f / 40320;

inline uint32_t float_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}
inline float bits_float(uint32_t u) {
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

inline void box_muller(uint32_t a, uint32_t b, float& z0, float& z1) {
  // r = sqrt(-2 ln u1)
  const uint32_t ub = float_bits(to_unit(a));
  int32_t e = static_cast<int32_t>(ub >> 23) - 127;
  float m = bits_float((ub & 0x007FFFFFu) | 0x3F800000u);  // [1, 2)
  if (m > 1.41421356237309505f) {
    m = m * 0.5f;
    e += 1;
  }
  const float s = (m - 1.0f) / (m + 1.0f);
  const float s2 = s * s;
  float p = std::fma(s2, kInv9, kInv7);
  p = std::fma(p, s2, kInv5);
  p = std::fma(p, s2, kInv3);
  p = std::fma(p, s2, 1.0f);
  const float ln_m = (s + s) * p;
  const float ln_u = std::fma(static_cast<float>(e), kLn2, ln_m);
  const float r = std::sqrt(-2.0f * ln_u);
  // theta = 2 pi u2
  const float t = 4.0f * to_unit(b);
  const float q = std::nearbyint(t);
  const float phi = (t - q) * kHalfPi;
  const float f2 = phi * phi;
  float sp = std::fma(f2, kS9, kS7);
  sp = std::fma(sp, f2, kS5);
  sp = std::fma(sp, f2, kS3);
  sp = std::fma(sp, f2, 1.0f);
  const float sin_phi = phi * sp;
  float cp = std::fma(f2, kC8, kC6);
  cp = std::fma(cp, f2, kC4);
  cp = std::fma(cp, f2, kC2);
  const float cos_phi = std::fma(cp, f2, 1.0f);
  const uint32_t quad = static_cast<uint32_t>(static_cast<int32_t>(q));
  const bool swap = (quad & 1u) != 0;
  const uint32_t neg_cos = ((quad + 1u) & 2u) << 30, neg_sin = (quad & 2u) << 30;
  const float c = bits_float(float_bits(swap ? sin_phi : cos_phi) ^ neg_cos);
  const float sn = bits_float(float_bits(swap ? cos_phi : sin_phi) ^ neg_sin);
  z0 = r * c;
  z1 = r * sn;
}

void normals_of_block(const std::array<uint32_t, 4>& r, float z[4]) {
  box_muller(r[0], r[1], z[0], z[1]);
  box_muller(r[2], r[3], z[2], z[3]);
}

#if ACIM_HAVE_AVX512

// to_unit of 16 words times `scale` (1 or 4; a power of two, so exact): ((x >> 8) + 0.5) 2^-24
// scale as one fused multiply-add, k scale 2^-24 + scale 2^-25, which rounds the same exact
// value, (k + 0.5) scale 2^-24, once.
ACIM_TARGET_AVX512 inline __m512 to_unit16(__m512i x, float scale) {
  const __m512 k = _mm512_cvtepi32_ps(_mm512_srli_epi32(x, 8));
  return _mm512_fmadd_ps(k, _mm512_set1_ps(scale / 16777216.0f),
                         _mm512_set1_ps(scale / 33554432.0f));
}

ACIM_TARGET_AVX512 inline void box_muller16(__m512i a, __m512i b, __m512& z0, __m512& z1) {
  // u = m 2^e, m in [1, 2), exactly as the scalar code splits it (u >= 2^-25 is a normal float).
  const __m512 u = to_unit16(a, 1.0f);
  __m512 e = _mm512_getexp_ps(u);
  __m512 m = _mm512_getmant_ps(u, _MM_MANT_NORM_1_2, _MM_MANT_SIGN_src);
  const __mmask16 big = _mm512_cmp_ps_mask(m, _mm512_set1_ps(1.41421356237309505f), _CMP_GT_OQ);
  m = _mm512_mask_mul_ps(m, big, m, _mm512_set1_ps(0.5f));
  e = _mm512_mask_add_ps(e, big, e, _mm512_set1_ps(1.0f));
  const __m512 one = _mm512_set1_ps(1.0f);
  const __m512 s = _mm512_div_ps(_mm512_sub_ps(m, one), _mm512_add_ps(m, one));
  const __m512 s2 = _mm512_mul_ps(s, s);
  __m512 p = _mm512_fmadd_ps(s2, _mm512_set1_ps(kInv9), _mm512_set1_ps(kInv7));
  p = _mm512_fmadd_ps(p, s2, _mm512_set1_ps(kInv5));
  p = _mm512_fmadd_ps(p, s2, _mm512_set1_ps(kInv3));
  p = _mm512_fmadd_ps(p, s2, one);
  const __m512 ln_m = _mm512_mul_ps(_mm512_add_ps(s, s), p);
  const __m512 ln_u = _mm512_fmadd_ps(e, _mm512_set1_ps(kLn2), ln_m);
  const __m512 r = _mm512_sqrt_ps(_mm512_mul_ps(_mm512_set1_ps(-2.0f), ln_u));
  const __m512 t = to_unit16(b, 4.0f);
  const __m512 q = _mm512_roundscale_ps(t, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  const __m512 phi = _mm512_mul_ps(_mm512_sub_ps(t, q), _mm512_set1_ps(kHalfPi));
  const __m512 f2 = _mm512_mul_ps(phi, phi);
  __m512 sp = _mm512_fmadd_ps(f2, _mm512_set1_ps(kS9), _mm512_set1_ps(kS7));
  sp = _mm512_fmadd_ps(sp, f2, _mm512_set1_ps(kS5));
  sp = _mm512_fmadd_ps(sp, f2, _mm512_set1_ps(kS3));
  sp = _mm512_fmadd_ps(sp, f2, one);
  const __m512 sin_phi = _mm512_mul_ps(phi, sp);
  __m512 cp = _mm512_fmadd_ps(f2, _mm512_set1_ps(kC8), _mm512_set1_ps(kC6));
  cp = _mm512_fmadd_ps(cp, f2, _mm512_set1_ps(kC4));
  cp = _mm512_fmadd_ps(cp, f2, _mm512_set1_ps(kC2));
  const __m512 cos_phi = _mm512_fmadd_ps(cp, f2, one);
  const __m512i quad = _mm512_cvtps_epi32(q);  // q is an integer already: exact
  const __mmask16 swap = _mm512_test_epi32_mask(quad, _mm512_set1_epi32(1));
  const __m512i two = _mm512_set1_epi32(2);
  const __m512i neg_cos =
      _mm512_slli_epi32(_mm512_and_si512(_mm512_add_epi32(quad, _mm512_set1_epi32(1)), two), 30);
  const __m512i neg_sin = _mm512_slli_epi32(_mm512_and_si512(quad, two), 30);
  const __m512 c = _mm512_mask_blend_ps(swap, cos_phi, sin_phi);
  const __m512 sn = _mm512_mask_blend_ps(swap, sin_phi, cos_phi);
  z0 = _mm512_mul_ps(r, _mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(c), neg_cos)));
  z1 = _mm512_mul_ps(r, _mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(sn), neg_sin)));
}

// The Philox round keys of `key`: {k0, k1} of round r at [2 r], [2 r + 1].
struct RoundKeys {
  uint32_t k[20];
  explicit RoundKeys(uint64_t key) {
    uint32_t k0 = static_cast<uint32_t>(key), k1 = static_cast<uint32_t>(key >> 32);
    for (int r = 0; r < 10; ++r, k0 += kWeyl0, k1 += kWeyl1) {
      k[2 * r] = k0;
      k[2 * r + 1] = k1;
    }
  }
};

// Philox4x32-10 of 8 blocks at once, word k of block l in the low half of 64-bit lane l of ck:
// vpmuludq multiplies those halves into the whole 64-bit product (lo in the low half, hi in the
// high half), and ignores what the high halves hold. The round keys are read from memory, as
// broadcast operands of the exclusive ors.
ACIM_TARGET_AVX512 inline void philox8(__m512i& c0, __m512i& c1, __m512i& c2, __m512i& c3,
                                       const RoundKeys& rk) {
  const __m512i m0 = _mm512_set1_epi64(kMul0), m1 = _mm512_set1_epi64(kMul1);
  for (int round = 0; round < 10; ++round) {
    const __m512i p0 = _mm512_mul_epu32(c0, m0), p1 = _mm512_mul_epu32(c2, m1);
    // c = {hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0}; 0x96: three-way exclusive or.
    c0 = _mm512_ternarylogic_epi32(_mm512_srli_epi64(p1, 32), c1,
                                   _mm512_set1_epi32(static_cast<int>(rk.k[2 * round])), 0x96);
    c2 = _mm512_ternarylogic_epi32(_mm512_srli_epi64(p0, 32), c3,
                                   _mm512_set1_epi32(static_cast<int>(rk.k[2 * round + 1])), 0x96);
    c1 = p1;
    c3 = p0;
  }
}

// Normals of the 16 blocks first_block .. first_block + 15 into out[0 .. 63], in stream order.
ACIM_TARGET_AVX512 void normals16(const RoundKeys& rk, uint64_t first_block, float* out) {
  // Counters {index, index >> 32, 0, 0} of blocks first_block + 0..7 (a) and + 8..15 (b).
  const __m512i lane = _mm512_setr_epi64(0, 1, 2, 3, 4, 5, 6, 7);
  const __m512i ia = _mm512_add_epi64(_mm512_set1_epi64(static_cast<int64_t>(first_block)), lane);
  const __m512i ib = _mm512_add_epi64(ia, _mm512_set1_epi64(8));
  __m512i a0 = ia, a1 = _mm512_srli_epi64(ia, 32), a2 = _mm512_setzero_si512(), a3 = a2;
  __m512i b0 = ib, b1 = _mm512_srli_epi64(ib, 32), b2 = a2, b3 = a2;
  philox8(a0, a1, a2, a3, rk);
  philox8(b0, b1, b2, b3, rk);
  // Word k of blocks 0..15 in 32-bit lanes 0..15: the low halves of a's lanes, then of b's.
  const __m512i low_halves =
      _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i c0 = _mm512_permutex2var_epi32(a0, low_halves, b0);
  const __m512i c1 = _mm512_permutex2var_epi32(a1, low_halves, b1);
  const __m512i c2 = _mm512_permutex2var_epi32(a2, low_halves, b2);
  const __m512i c3 = _mm512_permutex2var_epi32(a3, low_halves, b3);
  __m512 z0, z1, z2, z3;
  box_muller16(c0, c1, z0, z1);
  box_muller16(c2, c3, z2, z3);
  // Transpose: out[4 l + k] = zk[l].
  const __m512 t0 = _mm512_unpacklo_ps(z0, z1), t1 = _mm512_unpackhi_ps(z0, z1);
  const __m512 t2 = _mm512_unpacklo_ps(z2, z3), t3 = _mm512_unpackhi_ps(z2, z3);
  const __m512 u0 =
      _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(t0), _mm512_castps_pd(t2)));
  const __m512 u1 =
      _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(t0), _mm512_castps_pd(t2)));
  const __m512 u2 =
      _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(t1), _mm512_castps_pd(t3)));
  const __m512 u3 =
      _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(t1), _mm512_castps_pd(t3)));
  const __m512 a = _mm512_shuffle_f32x4(u0, u1, _MM_SHUFFLE(1, 0, 1, 0));
  const __m512 b = _mm512_shuffle_f32x4(u2, u3, _MM_SHUFFLE(1, 0, 1, 0));
  const __m512 c = _mm512_shuffle_f32x4(u0, u1, _MM_SHUFFLE(3, 2, 3, 2));
  const __m512 d = _mm512_shuffle_f32x4(u2, u3, _MM_SHUFFLE(3, 2, 3, 2));
  _mm512_storeu_ps(out, _mm512_shuffle_f32x4(a, b, _MM_SHUFFLE(2, 0, 2, 0)));
  _mm512_storeu_ps(out + 16, _mm512_shuffle_f32x4(a, b, _MM_SHUFFLE(3, 1, 3, 1)));
  _mm512_storeu_ps(out + 32, _mm512_shuffle_f32x4(c, d, _MM_SHUFFLE(2, 0, 2, 0)));
  _mm512_storeu_ps(out + 48, _mm512_shuffle_f32x4(c, d, _MM_SHUFFLE(3, 1, 3, 1)));
}

#endif  // ACIM_HAVE_AVX512

}  // namespace

std::array<uint32_t, 4> philox4x32(std::array<uint32_t, 4> c, std::array<uint32_t, 2> k) {
  for (int round = 0; round < 10; ++round) {
    uint32_t hi0, lo0, hi1, lo1;
    mulhilo(kMul0, c[0], hi0, lo0);
    mulhilo(kMul1, c[2], hi1, lo1);
    c = {hi1 ^ c[1] ^ k[0], lo1, hi0 ^ c[3] ^ k[1], lo0};
    k[0] += kWeyl0;
    k[1] += kWeyl1;
  }
  return c;
}

namespace detail {

// A clone with hardware FMA where the CPU has it (std::fma is otherwise done in software); the
// same bits either way, as every fused multiply-add is written out explicitly.
#if ACIM_HAVE_AVX512
__attribute__((target_clones("fma", "default")))
#endif
void normal_blocks_scalar(uint64_t key, uint64_t first_block, size_t blocks, float* out) {
  for (size_t k = 0; k < blocks; ++k) normals_of_block(block(key, first_block + k), out + 4 * k);
}

bool normal_blocks_simd(uint64_t key, uint64_t first_block, size_t blocks, float* out) {
#if ACIM_HAVE_AVX512
  if (!cpu_has_avx512() || blocks % 16 != 0) return false;
  const RoundKeys rk(key);
  for (size_t k = 0; k < blocks; k += 16) normals16(rk, first_block + k, out + 4 * k);
  return true;
#else
  (void)key, (void)first_block, (void)blocks, (void)out;
  return false;
#endif
}

bool normal_range_simd(uint64_t key, uint64_t offset, size_t n, float* out) {
#if ACIM_HAVE_AVX512
  if (!cpu_has_avx512()) return false;
  // Groups of 16 blocks from the block of draw `offset` on; a group that covers draws outside
  // [offset, offset + n) (at most the first and the last) goes through a buffer.
  const uint64_t end = offset + n;
  const RoundKeys rk(key);
  float group[64];
  for (uint64_t d = offset - offset % 4; d < end; d += 64) {
    if (d >= offset && d + 64 <= end) {
      normals16(rk, d / 4, out + (d - offset));
      continue;
    }
    normals16(rk, d / 4, group);
    const uint64_t lo = std::max(d, offset), hi = std::min(d + 64, end);
    std::memcpy(out + (lo - offset), group + (lo - d), (hi - lo) * sizeof(float));
  }
  return true;
#else
  (void)key, (void)offset, (void)n, (void)out;
  return false;
#endif
}

}  // namespace detail

RandomStream::RandomStream(uint64_t seed, std::initializer_list<uint64_t> path)
    : key_(mix64(seed)) {
  for (uint64_t p : path) key_ = mix64(key_ ^ mix64(p + 0x632BE59BD9B4E019ull));
}

RandomStream RandomStream::child(uint64_t k) const {
  return RandomStream(mix64(key_ ^ mix64(k + 0x632BE59BD9B4E019ull)), 0);
}

// Draw i lives in lane i % 4 of block i / 4; normals come in Box–Muller pairs of lanes (0,1),
// (2,3). Where the CPU has AVX-512, every draw of a range of at least kSimdMinBlocks blocks
// comes from the SIMD path, 16 blocks at a time, the ends cut from whole groups (same bits as
// the scalar path, see box_muller: generating a few draws more costs less than the scalar
// transform of a partial group). Otherwise a partial block at either end is generated whole and
// cut, and the whole blocks between by the scalar path.
void RandomStream::normal(float* out, size_t n, uint64_t offset) const {
  constexpr uint64_t kSimdMinBlocks = 2;
  if (n == 0) return;
  if ((offset + n + 3) / 4 - offset / 4 >= kSimdMinBlocks &&
      detail::normal_range_simd(key_, offset, n, out))
    return;
  size_t i = 0;
  // Head: up to the first block boundary.
  while (i < n && ((offset + i) % 4 != 0 || n - i < 4)) {
    const uint64_t index = offset + i;
    float z[4];
    normals_of_block(block(key_, index / 4), z);
    for (unsigned lane = static_cast<unsigned>(index % 4); lane < 4 && i < n; ++lane, ++i)
      out[i] = z[lane];
  }
  // Whole blocks.
  const size_t blocks = (n - i) / 4;
  detail::normal_blocks_scalar(key_, (offset + i) / 4, blocks, out + i);
  i += 4 * blocks;
  // Tail: a partial block.
  while (i < n) {
    const uint64_t index = offset + i;
    float z[4];
    normals_of_block(block(key_, index / 4), z);
    for (unsigned lane = static_cast<unsigned>(index % 4); lane < 4 && i < n; ++lane, ++i)
      out[i] = z[lane];
  }
}

void RandomStream::uniform(float* out, size_t n, uint64_t offset) const {
  size_t i = 0;
  while (i < n) {
    uint64_t index = offset + i;
    auto r = block(key_ ^ 0x5555555555555555ull, index / 4);
    for (unsigned lane = static_cast<unsigned>(index % 4); lane < 4 && i < n; ++lane, ++i)
      out[i] = to_open_unit(r[lane]);
  }
}

double RandomStream::normal_at(uint64_t index) const {
  float z;
  normal(&z, 1, index);
  return z;
}

double RandomStream::uniform_at(uint64_t index) const {
  float u;
  uniform(&u, 1, index);
  return u;
}

uint32_t RandomStream::bits_at(uint64_t index) const {
  return block(key_ ^ 0xAAAAAAAAAAAAAAAAull, index / 4)[index % 4];
}

}  // namespace acim
