// The integer signal product (src/device/gemm_i16.hpp): packing to 16 bits, and gemm_i16's
// scalar and AVX-512 VNNI paths against a plain int64 reference of the documented formula.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>
#include <vector>

#include "core/simd.hpp"
#include "device/gemm_i16.hpp"

namespace acim {
namespace {

// The documented quantisation, written out: scale[j] = max_i |G[i, j]| / q_limit (float), q =
// round-half-even(G / scale) (0 where scale is 0).
struct Quantised {
  std::vector<float> scale;
  std::vector<int> q;  // [rows, cols]
};

Quantised quantise(const std::vector<float>& g, int rows, int cols, int q_limit) {
  Quantised r{std::vector<float>(cols, 0.0f), std::vector<int>(static_cast<size_t>(rows) * cols)};
  for (int i = 0; i < rows; ++i)
    for (int j = 0; j < cols; ++j) r.scale[j] = std::max(r.scale[j], std::fabs(g[i * cols + j]));
  for (float& s : r.scale) s /= static_cast<float>(q_limit);
  for (int i = 0; i < rows; ++i)
    for (int j = 0; j < cols; ++j)
      if (r.scale[j] != 0.0f)
        r.q[i * cols + j] = static_cast<int>(std::nearbyint(double{g[i * cols + j]} / r.scale[j]));
  return r;
}

// out[b, j] = float(sum_i a[b, i] q[row0 + i, j]) * (alpha * scale[j]), the sum in int64.
std::vector<float> reference(const std::vector<int16_t>& a, int batch, int lda, const Quantised& qz,
                             int cols, int row0, int nrows, float alpha) {
  std::vector<float> out(static_cast<size_t>(batch) * cols);
  for (int b = 0; b < batch; ++b)
    for (int j = 0; j < cols; ++j) {
      int64_t s = 0;
      for (int i = 0; i < nrows; ++i) s += int64_t{a[b * lda + i]} * qz.q[(row0 + i) * cols + j];
      out[b * cols + j] = static_cast<float>(s) * (alpha * qz.scale[j]);
    }
  return out;
}

std::vector<float> uniform(size_t n, float lo, float hi, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = u(rng);
  return v;
}

// Levels in [-max_level, max_level], rows of lda (the entries beyond nrows are junk that must
// not count), and nothing after the last row's nrows-th level (so a read past it is a bug ASan
// sees).
std::vector<int16_t> levels(int batch, int nrows, int lda, int max_level, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> u(-max_level, max_level);
  std::vector<int16_t> a(static_cast<size_t>(batch - 1) * lda + nrows, int16_t{12345});
  for (int b = 0; b < batch; ++b)
    for (int i = 0; i < nrows; ++i) a[b * lda + i] = static_cast<int16_t>(u(rng));
  return a;
}

bool same_bits(const std::vector<float>& x, const std::vector<float>& y) {
  return x.size() == y.size() && std::memcmp(x.data(), y.data(), x.size() * sizeof(float)) == 0;
}

TEST(GemmI16, LimitEdgeCases) {
  EXPECT_EQ(i16_limit(0, 127), 32767);
  EXPECT_EQ(i16_limit(5, 0), 32767);
  EXPECT_EQ(i16_limit(1, 1), 32767);
  EXPECT_EQ(i16_limit(512, 127), 32767);  // 2^31 / 65024 = 33026.4
  EXPECT_EQ(i16_limit(784, 127), 21568);  // floor(2147483647 / 99568)
  EXPECT_EQ(i16_limit(517, 127), 32706);  // floor(2147483647 / 65659)
  EXPECT_EQ(i16_limit(65538, 32767), 1);  // 2147483646 <= 2^31 - 1
  EXPECT_EQ(i16_limit(65539, 32767), 0);  // even q = 1 could overflow
  EXPECT_EQ(i16_limit(1 << 30, 32767), 0);
  EXPECT_EQ(i16_limit(2147483647, 1), 1);
}

// Random shapes: every group of each layout (odd and even groups, a short last group, a group
// longer than one pair block, one whose last level is alone in the last pair block, a product
// over the first rows of a group only), batches around the 6-row tiles (12-row ones where a
// panel is one vector wide: 25 = 12 + 12 + 1) and the 96-row blocks, columns around the 16-wide
// vectors and 64-wide panels; lda > nrows. Both paths equal the reference bit for bit.
TEST(GemmI16, MatchesInt64Reference) {
  struct Layout {
    int rows, group_rows, max_level;
    bool partial;  // also a product over the first rows of each group, an odd count
  };
  const Layout layouts[] = {{37, 16, 127, true},
                            {9, 9, 127, false},
                            {300, 300, 255, false},
                            {257, 257, 127, false},
                            {40, 20, 32767, true}};
  const int batches[] = {1, 3, 7, 25, 64, 300};
  const int colss[] = {1, 15, 16, 17, 100, 513};
  if (!cpu_has_avx512_vnni()) std::printf("no AVX-512 VNNI here: the scalar path only\n");
  unsigned seed = 1;
  for (const Layout& l : layouts)
    for (int cols : colss) {
      const bool big = l.rows >= 257;
      const std::vector<float> g =
          uniform(static_cast<size_t>(l.rows) * cols, -3e-5f, 5e-5f, ++seed);
      const PackedI16 p = pack_i16(g.data(), l.rows, cols, cols, l.group_rows, l.max_level);
      const Quantised qz = quantise(g, l.rows, cols, i16_limit(l.group_rows, l.max_level));
      ASSERT_TRUE(same_bits(p.scale, qz.scale));
      for (int batch : batches) {
        if (big && batch == 300 && cols > 100) continue;  // the slow corner: 300 x 513 x 300
        for (int row0 = 0; row0 < l.rows; row0 += l.group_rows) {
          const int grows = std::min(l.group_rows, l.rows - row0);
          for (int nrows : {grows, l.partial ? grows / 2 | 1 : grows}) {
            const int lda = nrows + 3;
            const float alpha = 0.37f;
            const std::vector<int16_t> a = levels(batch, nrows, lda, l.max_level, ++seed);
            const std::vector<float> want = reference(a, batch, lda, qz, cols, row0, nrows, alpha);
            SCOPED_TRACE(testing::Message()
                         << "rows " << l.rows << " group " << l.group_rows << " cols " << cols
                         << " batch " << batch << " row0 " << row0 << " nrows " << nrows);
            std::vector<float> got(want.size(), -1.0f);
            detail::gemm_i16_scalar(batch, a.data(), lda, p, row0, nrows, alpha, got.data(), cols);
            EXPECT_TRUE(same_bits(got, want));
            std::fill(got.begin(), got.end(), -1.0f);
            gemm_i16(batch, a.data(), lda, p, row0, nrows, alpha, got.data(), cols);
            EXPECT_TRUE(same_bits(got, want));
          }
        }
      }
    }
}

// Outputs written only where they belong: ldo > cols leaves the gap untouched, in both paths.
TEST(GemmI16, LeavesOutputGapAlone) {
  const int rows = 11, cols = 20, batch = 8, ldo = 37;
  const std::vector<float> g = uniform(rows * cols, -1.0f, 1.0f, 3);
  const PackedI16 p = pack_i16(g.data(), rows, cols, cols, rows, 127);
  const std::vector<int16_t> a = levels(batch, rows, rows, 127, 4);
  for (bool scalar : {true, false}) {
    std::vector<float> out(static_cast<size_t>(batch) * ldo, 7.0f);
    if (scalar)
      detail::gemm_i16_scalar(batch, a.data(), rows, p, 0, rows, 1.0f, out.data(), ldo);
    else
      gemm_i16(batch, a.data(), rows, p, 0, rows, 1.0f, out.data(), ldo);
    for (int b = 0; b < batch; ++b)
      for (int j = cols; j < ldo; ++j) EXPECT_EQ(out[b * ldo + j], 7.0f) << b << " " << j;
  }
}

// q recovered through the product itself (levels = the identity, alpha = 1: out = q * scale):
// |G - scale * q| <= scale / 2, |q| <= q_limit, each column's largest |G| at q_limit; an all-zero
// column has scale 0 and reads 0.
TEST(GemmI16, QuantisationErrorWithinHalfStep) {
  const int rows = 50, cols = 21, group_rows = 25, max_level = 127;
  std::vector<float> g = uniform(rows * cols, -2.0f, 1.0f, 5);
  for (int i = 0; i < rows; ++i) g[i * cols + 4] = 0.0f;
  const int q_limit = i16_limit(group_rows, max_level);
  const PackedI16 p = pack_i16(g.data(), rows, cols, cols, group_rows, max_level);
  EXPECT_EQ(p.scale[4], 0.0f);
  std::vector<int16_t> eye(static_cast<size_t>(group_rows) * group_rows, 0);
  for (int i = 0; i < group_rows; ++i) eye[i * group_rows + i] = 1;
  std::vector<double> amax(cols, 0.0);
  for (int i = 0; i < rows; ++i)
    for (int j = 0; j < cols; ++j) amax[j] = std::max(amax[j], double{std::fabs(g[i * cols + j])});
  std::vector<bool> hit(cols, false);
  for (int row0 = 0; row0 < rows; row0 += group_rows) {
    std::vector<float> out(static_cast<size_t>(group_rows) * cols);
    gemm_i16(group_rows, eye.data(), group_rows, p, row0, group_rows, 1.0f, out.data(), cols);
    for (int i = 0; i < group_rows; ++i)
      for (int j = 0; j < cols; ++j) {
        const double s = p.scale[j], x = g[(row0 + i) * cols + j];
        if (s == 0.0) {
          EXPECT_EQ(out[i * cols + j], 0.0f);
          continue;
        }
        // out = float(q) * s rounded to float: q is the nearest integer to out / s.
        const double q = std::nearbyint(out[i * cols + j] / s);
        EXPECT_LE(std::fabs(q), q_limit);
        EXPECT_LE(std::fabs(x - s * q), 0.5 * s) << i << " " << j;
        if (std::fabs(x) == amax[j]) {
          EXPECT_EQ(std::fabs(q), q_limit);
          hit[j] = true;
        }
      }
  }
  for (int j = 0; j < cols; ++j) EXPECT_EQ(hit[j], j != 4) << j;
}

// Halves round to even: with scale exactly 1 (the column's largest |G| is q_limit), G = 2.5
// packs as 2, 3.5 as 4, -2.5 as -2, -0.5 as 0.
TEST(GemmI16, RoundsHalfToEven) {
  const float g[] = {2.5f, 3.5f, -2.5f, -0.5f, 32767.0f};
  const PackedI16 p = pack_i16(g, 5, 1, 1, 1, 1);
  ASSERT_EQ(i16_limit(1, 1), 32767);
  ASSERT_EQ(p.scale[0], 1.0f);
  const int16_t one = 1;
  const float want[] = {2.0f, 4.0f, -2.0f, 0.0f, 32767.0f};
  for (int r = 0; r < 5; ++r) {
    float out = -9.0f;
    gemm_i16(1, &one, 1, p, r, 1, 1.0f, &out, 1);
    EXPECT_EQ(out, want[r]) << r;
  }
}

// At the overflow bound: every level max_level (or -max_level), every q = q_limit, 517 rows (odd:
// the last level alone), so |sum| = 517 * 127 * 32706 = 2147443254, just below 2^31. Exact in
// both paths.
TEST(GemmI16, SumAtOverflowLimitIsExact) {
  const int rows = 517, cols = 33, max_level = 127;
  const int q_limit = i16_limit(rows, max_level);
  ASSERT_EQ(q_limit, 32706);
  const std::vector<float> g(static_cast<size_t>(rows) * cols, 0.25f);
  const PackedI16 p = pack_i16(g.data(), rows, cols, cols, rows, max_level);
  std::vector<int16_t> a(2 * static_cast<size_t>(rows), max_level);
  for (int i = rows; i < 2 * rows; ++i) a[i] = -max_level;
  const int64_t sum = int64_t{rows} * max_level * q_limit;
  ASSERT_LT(sum, int64_t{1} << 31);
  ASSERT_GT(sum, (int64_t{1} << 31) - int64_t{rows} * max_level);  // q_limit + 1 would overflow
  for (bool scalar : {true, false}) {
    std::vector<float> out(2 * static_cast<size_t>(cols));
    if (scalar)
      detail::gemm_i16_scalar(2, a.data(), rows, p, 0, rows, 1.0f, out.data(), cols);
    else
      gemm_i16(2, a.data(), rows, p, 0, rows, 1.0f, out.data(), cols);
    for (int j = 0; j < cols; ++j) {
      EXPECT_EQ(out[j], static_cast<float>(sum) * p.scale[j]) << j;
      EXPECT_EQ(out[cols + j], static_cast<float>(-sum) * p.scale[j]) << j;
    }
  }
}

// Zero-sized products: no rows summed reads 0; no batch writes nothing.
TEST(GemmI16, EmptyProducts) {
  const std::vector<float> g = uniform(6 * 5, -1.0f, 1.0f, 9);
  const PackedI16 p = pack_i16(g.data(), 6, 5, 5, 3, 127);
  const int16_t a[1] = {0};
  std::vector<float> out(5, 3.0f);
  gemm_i16(1, a, 0, p, 3, 0, 1.0f, out.data(), 5);
  for (float v : out) EXPECT_EQ(v, 0.0f);
  gemm_i16(0, a, 6, p, 0, 3, 1.0f, nullptr, 5);
  EXPECT_TRUE(pack_i16(g.data(), 0, 5, 5, 3, 127).empty());
}

}  // namespace
}  // namespace acim
