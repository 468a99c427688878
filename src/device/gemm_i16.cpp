// The integer signal product (gemm_i16.hpp): packing of G to 16 bits, and the product in an
// AVX-512 VNNI microkernel or a scalar loop that gives the same bits.
//
// Layout of PackedI16::data. Per group (group_offset[g] on), the group's rows are taken in pairs
// (2p, 2p + 1), padded with a zero row where the group's row count is odd, and its columns cut
// into panels of 64 (the last one holds the rest, rounded up to 16 with zero columns). A panel is
// [pairs][width][2] int16: for pair p, column c the two values q[2p][c], q[2p + 1][c], so one
// 32-bit lane holds what vpdpwssd multiplies with a pair of levels, and the panel's row of a pair
// is `width / 16` whole vectors. Panel jp starts at 64 * jp * 2 * pairs (all panels before it
// are 64 wide).
//
// Blocking (the GotoBLAS / BLIS loop order, Goto and van de Geijn, ACM TOMS 34(3), 2008; Van
// Zee and van de Geijn, ACM TOMS 41(3), 2015): batch rows in blocks of kBatchBlock (their levels
// stay in L2), pairs in blocks of kPairBlock (a 64-column panel of one block is 32 KiB, read
// from L1 by every tile of the batch block), then panels, then tiles of up to 6 batch rows x 64
// columns: 24 vector accumulators of 16 int32 sums, one vpdpwssd per accumulator and pair. A
// sum over more than one pair block goes through an int32 buffer; the sums are exact, so the
// blocking never changes a bit. Tiles of one or two batch rows (the matrix-vector case) split
// the pairs between four or two sets of accumulators to keep enough independent sums in flight.
#include "device/gemm_i16.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "acim/error.hpp"
#include "core/scratch.hpp"
#include "core/simd.hpp"

namespace acim {

namespace {

constexpr int kPanelCols = 64;  // columns per packed panel: 4 vectors of 16 int32 lanes

int round16(int n) {
  return (n + 15) / 16 * 16;
}

// Width of panel jp (a multiple of 16).
int panel_width(int cols, int jp) {
  return std::min(kPanelCols, round16(cols - kPanelCols * jp));
}

// Where panel jp starts in its group, with `pairs` pairs in the group.
size_t panel_offset(int pairs, int jp) {
  return static_cast<size_t>(kPanelCols) * static_cast<size_t>(jp) * 2 * static_cast<size_t>(pairs);
}

int group_rows_of(const PackedI16& p, int g) {
  return std::min(p.group_rows, p.rows - g * p.group_rows);
}

// The arguments gemm_i16's two paths share, checked once.
struct Product {
  int batch;
  const int16_t* a;
  size_t lda;
  const int16_t* base;  // the group's packed data
  int pairs;            // pairs in the group (its panels' height)
  int nrows;            // rows summed (from the group's first)
  int cols;
  const float* cs;  // alpha * scale[j], one float product per column (the thread's buffer)
  float* out;
  size_t ldo;
};

Product make_product(int batch, const int16_t* a, int lda, const PackedI16& p, int row0, int nrows,
                     float alpha, float* out, int ldo) {
  ACIM_ASSERT(batch >= 0 && nrows >= 0 && lda >= nrows && ldo >= p.cols, "gemm_i16: bad shape");
  ACIM_ASSERT(p.group_rows > 0 && row0 >= 0 && row0 % p.group_rows == 0 &&
                  (row0 < p.rows || (row0 == p.rows && nrows == 0)),
              "gemm_i16: row0 is not a group's first row");
  const int g = row0 / p.group_rows;
  const int grows = row0 < p.rows ? group_rows_of(p, g) : 0;
  ACIM_ASSERT(nrows <= grows, "gemm_i16: rows beyond the group");
  Product q{batch,
            a,
            static_cast<size_t>(lda),
            grows > 0 ? p.data.data() + p.group_offset[g] : nullptr,
            (grows + 1) / 2,
            nrows,
            p.cols,
            nullptr,
            out,
            static_cast<size_t>(ldo)};
  thread_local std::vector<float> cs;  // kept: no allocation per product
  grown(cs, static_cast<size_t>(p.cols));
  for (int j = 0; j < p.cols; ++j) cs[static_cast<size_t>(j)] = alpha * p.scale[j];
  q.cs = cs.data();
  return q;
}

// acc[j] = the sum of levels ab times column j of the group (as uint32: the sums wrap as
// vpdpwssd's lanes do, which a sum within the i16_limit bound never does). Compiled also for
// AVX2 and AVX-512 BW (the integer work only; the same sums), for CPUs without VNNI.
#if ACIM_HAVE_AVX512
__attribute__((target_clones("arch=x86-64-v4", "avx2", "default")))
#endif
void row_sums(const Product& q, const int16_t* ab, uint32_t* acc) {
  const int panels = (q.cols + kPanelCols - 1) / kPanelCols;
  for (int jp = 0; jp < panels; ++jp) {
    const int width = panel_width(q.cols, jp);
    const int16_t* panel = q.base + panel_offset(q.pairs, jp);
    uint32_t* ac = acc + kPanelCols * jp;
    std::fill(ac, ac + width, 0u);
    for (int i = 0; i < q.nrows; i += 2) {
      const int x0 = ab[i], x1 = i + 1 < q.nrows ? ab[i + 1] : 0;
      const int16_t* row = panel + static_cast<size_t>(i / 2) * 2 * width;
      for (int c = 0; c < width; ++c)
        ac[c] += static_cast<uint32_t>(x0 * row[2 * c] + x1 * row[2 * c + 1]);
    }
  }
}

#if ACIM_HAVE_AVX512
#define ACIM_TARGET_VNNI __attribute__((target("avx512f,avx512bw,avx512vnni")))

constexpr int kPairBlock = 128;  // pairs (256 rows) per cache block
constexpr int kBatchBlock = 96;  // batch rows per cache block (16 tiles of 6, 8 of 12)
constexpr int kTileRows = 6;     // batch rows per microkernel tile
// A panel one vector wide (16 columns) reads a broadcast level pair per multiply-add: tiles of
// twice the rows there halve the panel loads per multiply-add and double the independent sums.
constexpr int kNarrowTileRows = 12;

// One tile: rows [0, MR) of `a` (pairs p0 .. p1 and, if tail, the single level 2 * p1) times
// panel `b` (bstride int16 per pair, NV vectors wide). The sums start at 0 (first) or at c, and
// end in c (int32, ldc) or, if last, in out as float(sum) * cs.
struct Tile {
  const int16_t* a;
  size_t lda;
  const int16_t* b;
  size_t bstride;
  int p0, p1;
  bool tail, first, last;
  int32_t* c;
  size_t ldc;
  const float* cs;
  float* out;
  size_t ldo;
  int ncols;  // columns of the panel that are real (the rest are zero padding)
};

ACIM_TARGET_VNNI inline __m512i level_pair(const int16_t* a) {
  int32_t v;
  std::memcpy(&v, a, sizeof v);
  return _mm512_set1_epi32(v);
}

template <int MR, int NV>
ACIM_TARGET_VNNI void tile_kernel(const Tile& t) {
  constexpr int KU = MR == 1 ? 4 : MR == 2 ? 2 : 1;  // sets of accumulators over the pairs
  __m512i acc[KU][MR][NV];
#pragma GCC unroll 4
  for (int u = 0; u < KU; ++u)
#pragma GCC unroll 12
    for (int r = 0; r < MR; ++r)
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) acc[u][r][v] = _mm512_setzero_si512();

  // An odd row count ends in a level without a partner: it is summed as a second segment of
  // one pair, from a copy of the tile's last levels each followed by a 0 (the level after it is
  // never read). One copy of the loop for both keeps GCC from spilling the accumulators.
  int16_t last_levels[2 * MR] = {};
  if (t.tail)
    for (int r = 0; r < MR; ++r) last_levels[2 * r] = t.a[r * t.lda + 2 * t.p1];
  for (int seg = 0; seg < (t.tail ? 2 : 1); ++seg) {
    const int16_t* a = seg == 0 ? t.a : last_levels;
    const size_t lda = seg == 0 ? t.lda : 2;
    const int16_t* b = t.b + (seg == 0 ? size_t{0} : static_cast<size_t>(t.p1) * t.bstride);
    const int p1 = seg == 0 ? t.p1 : 1;
    int p = seg == 0 ? t.p0 : 0;
    for (; p + KU <= p1; p += KU) {
#pragma GCC unroll 4
      for (int u = 0; u < KU; ++u) {
        const int16_t* bp = b + static_cast<size_t>(p + u) * t.bstride;
        __m512i bv[NV];
#pragma GCC unroll 4
        for (int v = 0; v < NV; ++v) bv[v] = _mm512_loadu_si512(bp + 32 * v);
#pragma GCC unroll 12
        for (int r = 0; r < MR; ++r) {
          const __m512i av = level_pair(a + r * lda + 2 * (p + u));
#pragma GCC unroll 4
          for (int v = 0; v < NV; ++v) acc[u][r][v] = _mm512_dpwssd_epi32(acc[u][r][v], av, bv[v]);
        }
      }
    }
    for (; KU > 1 && p < p1; ++p) {
      const int16_t* bp = b + static_cast<size_t>(p) * t.bstride;
      __m512i bv[NV];
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) bv[v] = _mm512_loadu_si512(bp + 32 * v);
#pragma GCC unroll 12
      for (int r = 0; r < MR; ++r) {
        const __m512i av = level_pair(a + r * lda + 2 * p);
#pragma GCC unroll 4
        for (int v = 0; v < NV; ++v) acc[0][r][v] = _mm512_dpwssd_epi32(acc[0][r][v], av, bv[v]);
      }
    }
  }

#pragma GCC unroll 12
  for (int r = 0; r < MR; ++r) {
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) {
      __m512i s = acc[0][r][v];
#pragma GCC unroll 4
      for (int u = 1; u < KU; ++u) s = _mm512_add_epi32(s, acc[u][r][v]);
      int32_t* c = t.c + r * t.ldc + 16 * v;
      if (!t.first) s = _mm512_add_epi32(s, _mm512_loadu_si512(c));
      if (!t.last) {
        _mm512_storeu_si512(c, s);
        continue;
      }
      const int lanes = std::clamp(t.ncols - 16 * v, 0, 16);
      const __mmask16 m = lanes == 16 ? __mmask16(0xFFFF) : __mmask16((1u << lanes) - 1u);
      const __m512 y =
          _mm512_mul_ps(_mm512_cvtepi32_ps(s), _mm512_maskz_loadu_ps(m, t.cs + 16 * v));
      _mm512_mask_storeu_ps(t.out + r * t.ldo + 16 * v, m, y);
    }
  }
}

using TileFn = void (*)(const Tile&);

template <int MR>
constexpr TileFn tile_fn(int nv) {
  return nv == 1   ? tile_kernel<MR, 1>
         : nv == 2 ? tile_kernel<MR, 2>
         : nv == 3 ? tile_kernel<MR, 3>
                   : tile_kernel<MR, 4>;
}

// tile_kernel<mr, nv>.
TileFn tile_fn(int mr, int nv) {
  switch (mr) {
    case 1:
      return tile_fn<1>(nv);
    case 2:
      return tile_fn<2>(nv);
    case 3:
      return tile_fn<3>(nv);
    case 4:
      return tile_fn<4>(nv);
    case 5:
      return tile_fn<5>(nv);
    default:
      return tile_fn<6>(nv);
  }
}

void gemm_simd(const Product& q) {
  const int full = q.nrows / 2;       // pairs of two levels
  const bool odd = q.nrows % 2 != 0;  // and the last level alone
  const int all = full + (odd ? 1 : 0);
  const int kblocks = std::max(1, (all + kPairBlock - 1) / kPairBlock);
  const int panels = (q.cols + kPanelCols - 1) / kPanelCols;
  const int ldc = round16(q.cols);
  thread_local std::vector<int32_t> cbuf;
  if (kblocks > 1) grown(cbuf, static_cast<size_t>(kBatchBlock) * ldc);
  for (int b0 = 0; b0 < q.batch; b0 += kBatchBlock) {
    const int mb = std::min(kBatchBlock, q.batch - b0);
    for (int kb = 0; kb < kblocks; ++kb) {
      const int pb = kb * kPairBlock, pe = std::min(all, pb + kPairBlock);
      const bool tail = odd && pe == all;
      for (int jp = 0; jp < panels; ++jp) {
        const int width = panel_width(q.cols, jp);
        Tile t{};
        t.lda = q.lda;
        t.b = q.base + panel_offset(q.pairs, jp);
        t.bstride = 2 * static_cast<size_t>(width);
        t.p0 = pb;
        t.p1 = tail ? pe - 1 : pe;
        t.tail = tail;
        t.first = kb == 0;
        t.last = kb == kblocks - 1;
        t.ldc = static_cast<size_t>(ldc);
        t.cs = q.cs + kPanelCols * jp;
        t.ldo = q.ldo;
        t.ncols = std::min(width, q.cols - kPanelCols * jp);
        const bool narrow = width == 16;
        for (int r = 0; r < mb;) {
          const bool tall = narrow && mb - r >= kNarrowTileRows;
          const int mr = tall ? kNarrowTileRows : std::min(kTileRows, mb - r);
          t.a = q.a + static_cast<size_t>(b0 + r) * q.lda;
          t.c =
              kblocks > 1 ? cbuf.data() + static_cast<size_t>(r) * ldc + kPanelCols * jp : nullptr;
          t.out = q.out + static_cast<size_t>(b0 + r) * q.ldo + kPanelCols * jp;
          (tall ? tile_kernel<kNarrowTileRows, 1> : tile_fn(mr, width / 16))(t);
          r += mr;
        }
      }
    }
  }
}
#endif

}  // namespace

int i16_limit(int rows, int max_level) {
  ACIM_ASSERT(rows >= 0 && max_level >= 0, "i16_limit: negative rows or level");
  const int64_t n = static_cast<int64_t>(rows) * max_level;
  if (n == 0) return std::numeric_limits<int16_t>::max();  // every sum is 0
  return static_cast<int>(std::min<int64_t>(std::numeric_limits<int16_t>::max(),
                                            std::numeric_limits<int32_t>::max() / n));
}

PackedI16 pack_i16(const float* g, int rows, int cols, int ldg, int group_rows, int max_level) {
  ACIM_ASSERT(rows >= 0 && cols >= 0 && ldg >= cols && group_rows > 0, "pack_i16: bad shape");
  const int q_limit = i16_limit(group_rows, max_level);
  ACIM_ASSERT(q_limit > 0, "pack_i16: levels too large for 32-bit sums");
  PackedI16 p;
  p.rows = rows;
  p.cols = cols;
  p.group_rows = group_rows;
  p.scale.assign(cols, 0.0f);
  for (int i = 0; i < rows; ++i)
    for (int j = 0; j < cols; ++j)
      p.scale[j] = std::max(p.scale[j], std::fabs(g[static_cast<size_t>(i) * ldg + j]));
  // A column whose largest |G| / q_limit underflows to 0 is stored as zeros, as an all-zero one.
  for (float& s : p.scale) s /= static_cast<float>(q_limit);

  const int groups = (rows + group_rows - 1) / group_rows;
  const size_t cols16 = static_cast<size_t>(round16(cols));
  p.group_offset.resize(groups);
  size_t size = 0;
  for (int gi = 0; gi < groups; ++gi) {
    p.group_offset[gi] = size;
    size += 2 * static_cast<size_t>((group_rows_of(p, gi) + 1) / 2) * cols16;
  }
  p.data.assign(size, 0);
  for (int gi = 0; gi < groups; ++gi) {
    const int grows = group_rows_of(p, gi), pairs = (grows + 1) / 2;
    for (int r = 0; r < grows; ++r) {
      const float* grow = g + static_cast<size_t>(gi * group_rows + r) * ldg;
      for (int j = 0; j < cols; ++j) {
        const int jp = j / kPanelCols;
        const size_t at = p.group_offset[gi] + panel_offset(pairs, jp) +
                          static_cast<size_t>(r / 2) * 2 * panel_width(cols, jp) +
                          2 * static_cast<size_t>(j % kPanelCols) + r % 2;
        if (p.scale[j] == 0.0f) continue;
        // The quotient in double: its rounding never moves it across a half (G and scale are
        // floats), so q is G / scale rounded half to even, |G - scale * q| <= scale / 2.
        const double x = std::nearbyint(static_cast<double>(grow[j]) / p.scale[j]);
        p.data[at] = static_cast<int16_t>(std::clamp<double>(x, -q_limit, q_limit));
      }
    }
  }
  return p;
}

namespace detail {

void gemm_i16_scalar(int batch, const int16_t* a, int lda, const PackedI16& p, int row0, int nrows,
                     float alpha, float* out, int ldo) {
  const Product q = make_product(batch, a, lda, p, row0, nrows, alpha, out, ldo);
  thread_local std::vector<uint32_t> acc;
  grown(acc, static_cast<size_t>(round16(q.cols)));
  for (int b = 0; b < q.batch; ++b) {
    row_sums(q, q.a + static_cast<size_t>(b) * q.lda, acc.data());
    float* ob = q.out + static_cast<size_t>(b) * q.ldo;
    for (int j = 0; j < q.cols; ++j)
      ob[j] = static_cast<float>(static_cast<int32_t>(acc[j])) * q.cs[j];
  }
}

bool gemm_i16_simd(int batch, const int16_t* a, int lda, const PackedI16& p, int row0, int nrows,
                   float alpha, float* out, int ldo) {
#if ACIM_HAVE_AVX512
  if (!cpu_has_avx512_vnni()) return false;
  gemm_simd(make_product(batch, a, lda, p, row0, nrows, alpha, out, ldo));
  return true;
#else
  (void)batch, (void)a, (void)lda, (void)p, (void)row0, (void)nrows, (void)alpha, (void)out,
      (void)ldo;
  return false;
#endif
}

}  // namespace detail

void gemm_i16(int batch, const int16_t* a, int lda, const PackedI16& p, int row0, int nrows,
              float alpha, float* out, int ldo) {
  if (!detail::gemm_i16_simd(batch, a, lda, p, row0, nrows, alpha, out, ldo))
    detail::gemm_i16_scalar(batch, a, lda, p, row0, nrows, alpha, out, ldo);
}

}  // namespace acim
