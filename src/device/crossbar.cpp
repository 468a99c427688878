// CrossbarArray: program once (static state per chip instance and time), read many (fresh
// per-MVM noise). See include/acim/crossbar.hpp for the lifecycle and DESIGN.md for the flow.
//
// One MVM, per "pass" (a group of parallel rows, times one input bit plane when bit-serial):
//   1. row voltages v = x_q / x_max * v_read (amplitude) or plane * v_read (bit-serial)
//   2. physical column currents I = v · G_eff (one sgemm; G_eff has the first-order IR drop),
//      or the exact nodal solve per input (IrDropModel::nodal)
//   3. per-cell read noise on the output side: I += sqrt(v^2 · sigma^2) * N(0,1) (one more
//      sgemm with squared operands; exact for independent Gaussian per-cell noise), SRAM
//      column noise, bitline saturation
//   4. signals = I(plus) - I(minus) per differential pair, converted by the column ADC
//   5. digital accumulation of the pass (weight x_max / v_read or plane weight / v_read)
// then digital recombination (slices, scales) and global drift compensation.
#include "acim/crossbar.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <memory>
#include <new>
#include <optional>
#include <utility>

#include "core/aligned.hpp"
#include "core/parallel.hpp"
#include "core/scratch.hpp"
#include "core/simd.hpp"
#include "device/adc.hpp"
#include "device/cell_models.hpp"
#include "device/dac.hpp"
#include "device/encoding.hpp"
#include "device/gemm_i16.hpp"
#include "device/ir_drop.hpp"
#include "ops/kernels_blas.hpp"

namespace acim {

namespace {

constexpr const char* kWhere = "crossbar array";

#if ACIM_HAVE_AVX512
// Small batches (GEMV-like products) use a fused kernel that reads the signal matrix and the
// read-noise variance matrix in one sweep, instead of two BLAS calls that each do poorly at
// batch 1. Every output column is a sum over rows in row order, whatever the threads.
constexpr int kFusedMaxBatch = 4;
#endif

// Inputs whose read-noise draws are generated in one call (and one parallel work item).
constexpr int kNoiseChunk = 64;

// A matrix packed for the AVX-512 kernels (data empty without AVX-512): panel p holds columns
// 64p .. 64p + 63 as [rows][64] floats, zero beyond the last column, so a row range [r0, r0 + k)
// of the matrix is the k-range of every panel. With it, where some panel is sparse, the rows of
// each panel that hold any nonzero entry (nz[nz_begin[p] .. nz_begin[p + 1]), ascending; empty
// for a matrix of dense panels, which the kernels run on every row). Skipping the other rows leaves
// every sum bit for bit as it is: an exact zero term x * 0 adds nothing to a sum that starts at
// +0 (x is finite, and such a sum is never -0). Bit-sliced SRAM weights and block-diagonally
// packed groups leave most rows of a panel zero.
struct Packed {
  AlignedVector<float> data;
  std::vector<int32_t> nz;
  std::vector<size_t> nz_begin;
  bool sparse = false;  // some panel is worth running on its nonzero rows only
};

#if ACIM_HAVE_AVX512
constexpr int kPanel = 64;

// sig[b, j] = sum_i v[b, i] g[r0 + i, j] and, if s2, var[b, j] = sum_i (v[b, i] v[b, i])
// s2[r0 + i, j], summed in row order i = 0, 1, ... (g and s2 packed, b_rows rows in all).
__attribute__((target("avx512f"))) void fused_gemv_avx512(int batch, int nrows, int ns,
                                                          const float* v, const Packed& g,
                                                          const Packed* s2, int b_rows, int r0,
                                                          float* sig, float* var) {
  constexpr int kVecs = 4;  // 64 columns per block (one panel): 4 + 4 accumulators
  constexpr int kBlock = 16 * kVecs;
  static_assert(kBlock == kPanel, "a block of the fused kernel is one packed panel");
  const int blocks = (ns + kBlock - 1) / kBlock;
  const int64_t work = static_cast<int64_t>(batch) * nrows * ns * (s2 ? 2 : 1);
  const auto block = [&](int64_t blk_index) __attribute__((target("avx512f"))) {
    const int blk = static_cast<int>(blk_index);
    const int b = blk / blocks, pnl = blk % blocks, j0 = pnl * kBlock;
    __mmask16 mask[kVecs];
    for (int t = 0; t < kVecs; ++t) {
      const int left = ns - j0 - 16 * t;
      mask[t] = left >= 16 ? __mmask16(0xFFFF)
                           : (left <= 0 ? __mmask16(0) : __mmask16((1u << left) - 1u));
    }
    __m512 as[kVecs], av[kVecs];
    for (int t = 0; t < kVecs; ++t) as[t] = av[t] = _mm512_setzero_ps();
    const float* vb = v + static_cast<size_t>(b) * nrows;
    const size_t first = (static_cast<size_t>(pnl) * b_rows + r0) * kPanel;
    const float* gp = g.data.data() + first;
    const float* sp = s2 != nullptr ? s2->data.data() + first : nullptr;
    for (int i = 0; i < nrows; ++i) {
      const float vi = vb[i];
      const __m512 x = _mm512_set1_ps(vi);
      const float* gi = gp + static_cast<size_t>(i) * kPanel;
      for (int t = 0; t < kVecs; ++t)
        as[t] = _mm512_fmadd_ps(x, _mm512_maskz_loadu_ps(mask[t], gi + 16 * t), as[t]);
      if (sp != nullptr) {
        const __m512 x2 = _mm512_set1_ps(vi * vi);
        const float* si = sp + static_cast<size_t>(i) * kPanel;
        for (int t = 0; t < kVecs; ++t)
          av[t] = _mm512_fmadd_ps(x2, _mm512_maskz_loadu_ps(mask[t], si + 16 * t), av[t]);
      }
    }
    float* sb = sig + static_cast<size_t>(b) * ns + j0;
    for (int t = 0; t < kVecs; ++t) _mm512_mask_storeu_ps(sb + 16 * t, mask[t], as[t]);
    if (sp != nullptr) {
      float* rb = var + static_cast<size_t>(b) * ns + j0;
      for (int t = 0; t < kVecs; ++t) _mm512_mask_storeu_ps(rb + 16 * t, mask[t], av[t]);
    }
  };
  detail::parallel_for_static(int64_t{blocks} * batch, work > (int64_t{1} << 18), block);
}
#endif

#if ACIM_HAVE_AVX512
// A panel is run on its nonzero rows when they are at most this fraction of the rows summed.
constexpr double kSparseFraction = 0.75;

Packed pack_panels(const std::vector<float>& b, int rows, int cols) {
  const int panels = (cols + kPanel - 1) / kPanel;
  Packed out;
  out.data.assign(static_cast<size_t>(panels) * rows * kPanel, 0.0f);
  out.nz_begin.push_back(0);
  for (int pnl = 0; pnl < panels; ++pnl) {
    for (int i = 0; i < rows; ++i) {
      bool any = false;
      for (int t = 0; t < kPanel && pnl * kPanel + t < cols; ++t) {
        const float g = b[static_cast<size_t>(i) * cols + pnl * kPanel + t];
        out.data[(static_cast<size_t>(pnl) * rows + i) * kPanel + t] = g;
        any = any || g != 0.0f;
      }
      if (any) out.nz.push_back(i);
    }
    out.nz_begin.push_back(out.nz.size());
    out.sparse = out.sparse || static_cast<double>(out.nz_begin[static_cast<size_t>(pnl) + 1] -
                                                   out.nz_begin[static_cast<size_t>(pnl)]) <=
                                   kSparseFraction * rows;
  }
  if (!out.sparse) {  // only gemm_packed_avx512 of a sparse matrix reads the index
    out.nz = std::vector<int32_t>();
    out.nz_begin = std::vector<size_t>();
  }
  return out;
}

// C[MR rows, 16 NV cols] = sum over n < count of A[:, row_of(n) - a_col0] *
// Bpanel[row_of(n), 0 .. 16 NV], in order of n: a panel's first NV vectors (NV < 4 when its
// last columns are padding). Dense: row_of(n) = n over k rows; sparse: a panel's list of
// non-zero rows.
template <int MR, int NV, class RowOf>
__attribute__((target("avx512f"))) inline void gemm_tile(RowOf row_of, int count, int a_col0,
                                                         const float* a, int lda, const float* bp,
                                                         float* c, int ldc, int valid_cols) {
  __m512 acc[MR][NV];
  for (int r = 0; r < MR; ++r)
    for (int t = 0; t < NV; ++t) acc[r][t] = _mm512_setzero_ps();
  for (int n = 0; n < count; ++n) {
    const int i = row_of(n);
    const float* bi = bp + static_cast<size_t>(i) * kPanel;
    __m512 b[NV];
    for (int t = 0; t < NV; ++t) b[t] = _mm512_loadu_ps(bi + 16 * t);
    for (int r = 0; r < MR; ++r) {
      const __m512 x = _mm512_set1_ps(a[static_cast<size_t>(r) * lda + (i - a_col0)]);
      for (int t = 0; t < NV; ++t) acc[r][t] = _mm512_fmadd_ps(x, b[t], acc[r][t]);
    }
  }
  for (int t = 0; t < NV; ++t) {
    const int left = valid_cols - 16 * t;
    const __mmask16 m =
        left >= 16 ? __mmask16(0xFFFF) : (left <= 0 ? __mmask16(0) : __mmask16((1u << left) - 1u));
    for (int r = 0; r < MR; ++r)
      _mm512_mask_storeu_ps(c + static_cast<size_t>(r) * ldc + 16 * t, m, acc[r][t]);
  }
}

// gemm_tile for a tile of mr (1..6; 1..12 for NV = 1) rows and a panel of valid_cols (1..64)
// columns.
template <int NV, class RowOf>
__attribute__((target("avx512f"))) inline void gemm_tile_nv(int mr, RowOf row_of, int count,
                                                            int a_col0, const float* a, int lda,
                                                            const float* bp, float* c, int ldc,
                                                            int valid_cols) {
  if constexpr (NV == 1) {  // one vector of columns: tiles of up to 12 rows (see gemm_packed)
    if (mr == 12) return gemm_tile<12, 1>(row_of, count, a_col0, a, lda, bp, c, ldc, valid_cols);
    if (mr > 6) {
      gemm_tile<6, 1>(row_of, count, a_col0, a, lda, bp, c, ldc, valid_cols);
      return gemm_tile_nv<1>(mr - 6, row_of, count, a_col0, a + static_cast<size_t>(6) * lda, lda,
                             bp, c + static_cast<size_t>(6) * ldc, ldc, valid_cols);
    }
  }
  switch (mr) {
    case 6:
      return gemm_tile<6, NV>(row_of, count, a_col0, a, lda, bp, c, ldc, valid_cols);
    case 5:
      return gemm_tile<5, NV>(row_of, count, a_col0, a, lda, bp, c, ldc, valid_cols);
    case 4:
      return gemm_tile<4, NV>(row_of, count, a_col0, a, lda, bp, c, ldc, valid_cols);
    case 3:
      return gemm_tile<3, NV>(row_of, count, a_col0, a, lda, bp, c, ldc, valid_cols);
    case 2:
      return gemm_tile<2, NV>(row_of, count, a_col0, a, lda, bp, c, ldc, valid_cols);
    default:
      return gemm_tile<1, NV>(row_of, count, a_col0, a, lda, bp, c, ldc, valid_cols);
  }
}

template <class RowOf>
__attribute__((target("avx512f"))) inline void gemm_tile_mr(int mr, RowOf row_of, int count,
                                                            int a_col0, const float* a, int lda,
                                                            const float* bp, float* c, int ldc,
                                                            int valid_cols) {
  switch ((valid_cols + 15) / 16) {
    case 1:
      return gemm_tile_nv<1>(mr, row_of, count, a_col0, a, lda, bp, c, ldc, valid_cols);
    case 2:
      return gemm_tile_nv<2>(mr, row_of, count, a_col0, a, lda, bp, c, ldc, valid_cols);
    case 3:
      return gemm_tile_nv<3>(mr, row_of, count, a_col0, a, lda, bp, c, ldc, valid_cols);
    default:
      return gemm_tile_nv<4>(mr, row_of, count, a_col0, a, lda, bp, c, ldc, valid_cols);
  }
}

// C[m, n] = A[m, k] * B[r0 .. r0 + k, n] with B packed by pack_panels (b_rows rows in all).
// Tiles of 6 x 64 (or 12 x 16) outputs, each summed over k in row order by one thread: the
// result does not depend on the thread count. A panel whose nonzero rows in [r0, r0 + k) are few
// sums over those rows alone (gemm_tile_rows): the same bits, less work.
__attribute__((target("avx512f"))) void gemm_packed_avx512(int m, int n, int k, const float* a,
                                                           int lda, const Packed& b, int b_rows,
                                                           int r0, float* c, int ldc) {
  // Tiles of 6 rows x 4 vectors, or for at most 16 columns 12 rows x 1 vector (enough
  // independent sums to keep the FMA units busy).
  const int kMr = n <= 16 ? 12 : 6;
  const int row_tiles = (m + kMr - 1) / kMr, panels = (n + kPanel - 1) / kPanel;
  // Each panel's nonzero rows within the row range, when few enough to be worth skipping to.
  std::vector<std::pair<const int32_t*, int>> sparse_rows(static_cast<size_t>(panels),
                                                          {nullptr, 0});
  int64_t summed = b.sparse ? 0 : int64_t{panels} * k;  // rows summed: work per output row
  for (int pnl = 0; b.sparse && pnl < panels; ++pnl) {
    const int32_t* first = b.nz.data() + b.nz_begin[static_cast<size_t>(pnl)];
    const int32_t* last = b.nz.data() + b.nz_begin[static_cast<size_t>(pnl) + 1];
    const int32_t* lo = std::lower_bound(first, last, r0);
    const int32_t* hi = std::lower_bound(lo, last, r0 + k);
    const int count = static_cast<int>(hi - lo);
    if (count <= kSparseFraction * k) {
      sparse_rows[static_cast<size_t>(pnl)] = {lo, count};
      summed += count;
    } else {
      summed += k;
    }
  }
  const int64_t work = static_cast<int64_t>(m) * kPanel * summed;
  const auto run_tile = [&](int64_t tile_index) __attribute__((target("avx512f"))) {
    const int tile = static_cast<int>(tile_index);
    const int rt = tile / panels, pnl = tile % panels;
    const int i0 = rt * kMr, mr = std::min(kMr, m - i0);
    const float* at = a + static_cast<size_t>(i0) * lda;
    float* ct = c + static_cast<size_t>(i0) * ldc + pnl * kPanel;
    const int valid = std::min(kPanel, n - pnl * kPanel);
    const auto [nz_rows, count] = sparse_rows[static_cast<size_t>(pnl)];
    if (nz_rows != nullptr) {
      const float* bp = b.data.data() + static_cast<size_t>(pnl) * b_rows * kPanel;
      const int32_t* rows = nz_rows;  // Clang 14 cannot capture a structured binding
      gemm_tile_mr(
          mr, [rows](int j) { return rows[j]; }, count, r0, at, lda, bp, ct, ldc, valid);
    } else {
      const float* bp = b.data.data() + (static_cast<size_t>(pnl) * b_rows + r0) * kPanel;
      gemm_tile_mr(
          mr, [](int j) { return j; }, k, 0, at, lda, bp, ct, ldc, valid);
    }
  };
  detail::parallel_for_static(int64_t{row_tiles} * panels, work > (int64_t{1} << 20), run_tile);
}
#endif

// C[m, n] = A[m, k] * B[r0 .. r0 + k, :] by the packed AVX-512 kernel where the CPU has it and
// B was packed; false if the caller must use the BLAS.
bool gemm_packed(int m, int n, int k, const float* a, int lda, const Packed& bpacked, int b_rows,
                 int r0, float* c, int ldc) {
#if ACIM_HAVE_AVX512
  if (!bpacked.data.empty() && cpu_has_avx512()) {
    gemm_packed_avx512(m, n, k, a, lda, bpacked, b_rows, r0, c, ldc);
    return true;
  }
#endif
  (void)m, (void)n, (void)k, (void)a, (void)lda, (void)bpacked, (void)b_rows, (void)r0, (void)c,
      (void)ldc;
  return false;
}

// o[k] += sqrt(max(var[k], 0) + extra) * z[k] for k < n: the per-MVM noise of n signals.
// var == nullptr: every var[k] is 0, so the deviation is sqrt(extra) (0 + extra is exact).
#if ACIM_HAVE_AVX512
__attribute__((target("avx512f"))) void add_noise_avx512(float* o, const float* var, float extra,
                                                         const float* z, int n) {
  const __m512 e = _mm512_set1_ps(extra), zero = _mm512_setzero_ps();
  const __m512 sd_const = _mm512_sqrt_ps(e);
  for (int k = 0; k < n; k += 16) {
    const __mmask16 m = n - k >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << (n - k)) - 1u);
    const __m512 sd = var == nullptr
                          ? sd_const
                          : _mm512_sqrt_ps(_mm512_add_ps(
                                _mm512_max_ps(_mm512_maskz_loadu_ps(m, var + k), zero), e));
    const __m512 r =
        _mm512_fmadd_ps(sd, _mm512_maskz_loadu_ps(m, z + k), _mm512_maskz_loadu_ps(m, o + k));
    _mm512_mask_storeu_ps(o + k, m, r);
  }
}
#endif

void add_noise(float* o, const float* var, float extra, const float* z, int n) {
#if ACIM_HAVE_AVX512
  if (cpu_has_avx512()) {
    add_noise_avx512(o, var, extra, z, n);
    return;
  }
#endif
  if (var == nullptr) {
    const float sd = std::sqrt(extra);
    for (int k = 0; k < n; ++k) o[k] += sd * z[k];
    return;
  }
  for (int k = 0; k < n; ++k) o[k] += std::sqrt(std::max(var[k], 0.0f) + extra) * z[k];
}

#if ACIM_HAVE_AVX512
// out[i] = x[i] * k for i < n, 16 at a time (the float multiplies of the scalar loop).
__attribute__((target("avx512f"))) void scale_avx512(const float* x, size_t n, float k,
                                                     float* out) {
  const __m512 vk = _mm512_set1_ps(k);
  for (size_t i = 0; i < n; i += 16) {
    const __mmask16 m = n - i >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << (n - i)) - 1u);
    _mm512_mask_storeu_ps(out + i, m, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, x + i), vk));
  }
}

// acc[i] = (first ? 0 : acc[i]) + w * sig[i] for i < n, 16 at a time; the empty asm keeps the
// product a separate rounding (no fused multiply-add, as in the scalar loop).
__attribute__((target("avx512f"))) void accumulate_avx512(const float* sig, size_t n, float w,
                                                          bool first, float* acc) {
  const __m512 vw = _mm512_set1_ps(w);
  for (size_t i = 0; i < n; i += 16) {
    const __mmask16 m = n - i >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << (n - i)) - 1u);
    __m512 p = _mm512_mul_ps(vw, _mm512_maskz_loadu_ps(m, sig + i));
    __asm__("" : "+v"(p));
    const __m512 a = first ? _mm512_setzero_ps() : _mm512_maskz_loadu_ps(m, acc + i);
    _mm512_mask_storeu_ps(acc + i, m, _mm512_add_ps(a, p));
  }
}
#endif

void scale(const float* x, size_t n, float k, float* out) {
#if ACIM_HAVE_AVX512
  if (cpu_has_avx512()) {
    scale_avx512(x, n, k, out);
    return;
  }
#endif
  for (size_t i = 0; i < n; ++i) out[i] = x[i] * k;
}

// Step 5 of an MVM: acc = 0 + w * sig for the first pass (from +0.0, as a zeroed acc would), else
// acc += w * sig.
void accumulate(const float* sig, size_t n, float w, bool first, float* acc) {
#if ACIM_HAVE_AVX512
  if (cpu_has_avx512()) {
    accumulate_avx512(sig, n, w, first, acc);
    return;
  }
#endif
  if (first)
    for (size_t i = 0; i < n; ++i) acc[i] = 0.0f + w * sig[i];
  else
    for (size_t i = 0; i < n; ++i) acc[i] += w * sig[i];
}

// The fused small-batch product of rows r0 .. r0 + nrows - 1 of the packed g (and s2, if not
// null) where the CPU has it; false if the caller must use another kernel.
bool fused_gemv(int batch, int nrows, int ns, const float* v, const Packed& g, const Packed* s2,
                int b_rows, int r0, float* sig, float* var) {
#if ACIM_HAVE_AVX512
  if (batch <= kFusedMaxBatch && !g.data.empty() && cpu_has_avx512()) {
    fused_gemv_avx512(batch, nrows, ns, v, g, s2, b_rows, r0, sig, var);
    return true;
  }
#endif
  (void)batch, (void)nrows, (void)ns, (void)v, (void)g, (void)s2, (void)b_rows, (void)r0, (void)sig,
      (void)var;
  return false;
}

// The exact nodal IR-drop solve is for small arrays (it validates the first-order model).
constexpr int64_t kMaxNodalCells = 128 * 128;

// Scratch buffers of mvm(), one set per thread shared by every array that thread runs, so a
// stream of MVMs over many arrays and layers reuses the same memory instead of allocating (and
// page-faulting: the kernel zeroes every fresh page) on every call; per-array buffers were each
// touched once per layer, which made page faults the largest cost of a batched run. Sized on
// use; contents are never carried from one MVM to the next, so results do not depend on which
// thread ran what before.
// One conversion pass of an MVM: a group of rows, with a bit plane of the inputs or all of them.
struct Pass {
  int row0 = 0, nrows = 0;
  int plane = -1;       // bit plane, or -1 for an amplitude pass
  double weight = 1.0;  // digital weight of the pass's signals (input units per volt)
};

struct Workspace {
  std::vector<float> xq, acc, v, v2, cur, var, var_shared, sig, z;
  std::vector<int32_t> levels;  // bit-serial: the DAC level of every input, read plane by plane
  std::vector<int16_t> levels_i16;  // the integer product: the DAC level of every input
  std::vector<Pass> passes;
};

Workspace& thread_workspace() {
  static thread_local Workspace ws;
  return ws;
}

}  // namespace

// An array keeps what its MVMs read and re-derives the rest when asked: the float weights are the
// source, the targets are encode_weights of them (a pure function) and the programmed and drifted
// conductances are drawn again from the instance's keyed streams (program_cells, cells_at_time:
// draw k of a purpose is cell k's, whatever else was drawn), so they come out bit for bit as they
// did the first time. Per weight that leaves the weight, its signals (one per weight with
// differential encoding, one per slice when bit-sliced) and, with per-MVM cell read noise, their
// variances; physical-column conductances only where the product needs the columns themselves.
struct CrossbarArray::State {
  bool programmed = false;
  Tensor weights;                        // as given to program() [rows_used, cols_used], or
  WeightSource source;                   // what gives them again (then `weights` is empty)
  std::vector<float> column_full_scale;  // as given to program()
  EncodedWeights enc;                    // without g_us (the targets: encoded() again)
  // Per signal: g_eff(plus) - g_eff(minus) [rows_used, signals] at the current time, packed for
  // the AVX-512 kernels where the CPU has them (g_sig_packed), else row-major (g_sig): one of the
  // two, the one the products read.
  std::vector<float> g_sig;
  Packed g_sig_packed;
  // Instead of those, where the DAC gives integer levels to one amplitude pass per row group and
  // the product needs no physical columns: g_sig in 16-bit integers for the integer product
  // (device/gemm_i16.hpp; use_i16 says when).
  PackedI16 g_sig_i16;
  // Per-MVM read noise variance (µS^2) per signal, held like g_sig: sigma^2(plus) +
  // sigma^2(minus), or for a shared minus column (offset encoding) sigma^2(plus) only, the shared
  // column's variance in sigma2_shared [rows_used]. Empty if the cells have none (read_noise).
  bool read_noise = false;
  std::vector<float> sigma2_sig;
  Packed sigma2_packed;
  std::vector<float> sigma2_shared;
  // The physical columns [rows_used, phys_cols] where a product reads them: the conductances at
  // the current time for the exact nodal IR-drop solve, else the effective ones (first-order IR
  // drop) for a bitline that saturates per column; empty otherwise.
  std::vector<float> g_cols;
  bool shared_minus = false;  // every signal subtracts the same physical column
  double time_s = 0;
  std::optional<DacModel> dac;
  std::optional<AdcModel> adc;
  bool calibrated = false;  // the ADC holds the full scales calibrate() set
  double drift_baseline = 0;
  double drift_alpha = 1.0;
  uint64_t mvm_count = 0;

  int rows() const { return enc.rows; }
  int phys() const { return enc.phys_cols; }
  Tensor weights_now() const { return source ? source() : weights; }
  // The encoding of the weights, targets included.
  EncodedWeights encoded(const ArrayParams& p) const {
    const Tensor w = weights_now();
    return encode_weights(w.data<float>(), static_cast<int>(w.dim(0)), static_cast<int>(w.dim(1)),
                          p, column_full_scale.empty() ? nullptr : column_full_scale.data());
  }
};

CrossbarArray::CrossbarArray(ArrayParams params, RandomStream stream)
    : params_(std::move(params)), stream_(stream) {
  params_.validate();
  state_ = new State();
}

CrossbarArray::~CrossbarArray() {
  delete state_;
}

CrossbarArray::CrossbarArray(CrossbarArray&& o) noexcept
    : params_(std::move(o.params_)), stream_(o.stream_), state_(o.state_) {
  o.state_ = nullptr;
}

CrossbarArray& CrossbarArray::operator=(CrossbarArray&& o) noexcept {
  if (this != &o) {
    delete state_;
    params_ = std::move(o.params_);
    stream_ = o.stream_;
    state_ = o.state_;
    o.state_ = nullptr;
  }
  return *this;
}

namespace {

bool ir_drop_on(const ArrayParams& p) {
  return p.effects.ir_drop && p.ir_drop.wire_r_ohm > 0;
}

int rows_per_group(const ArrayParams& p, int rows_used) {
  if (p.parallel_rows <= 0 || p.parallel_rows >= rows_used) return std::max(rows_used, 1);
  return p.parallel_rows;
}

bool bit_serial(const ArrayParams& p) {
  return p.dac.mode == DacMode::bit_serial && p.effects.dac;
}

// Whether the signal product runs in integers (device/gemm_i16.hpp): the DAC is on and gives
// each row group one amplitude pass of integer levels, the product reads no physical columns
// (nodal IR drop, a saturating bitline), and g_sig keeps at least 12 bits in 16 (the overflow
// bound leaves 15 for 8-bit levels on up to 512 rows: error <= 2^-16 of a column's largest
// |g_sig|, a thousandth of PCM programming noise and far below an 8-bit ADC's step).
bool use_i16(const ArrayParams& p, int rows_used, int dac_levels) {
  constexpr int kMinLimit = 1 << 12;
  return p.effects.dac && !bit_serial(p) && dac_levels <= 32767 &&
         !(ir_drop_on(p) && p.ir_drop.model == IrDropModel::nodal) &&
         !std::isfinite(column_saturation_ua(p)) &&
         i16_limit(rows_per_group(p, rows_used), dac_levels) >= kMinLimit;
}

// Summed |y| of the all-ones input through conductances g (ideal readout): the drift
// compensation reference (aihwkit-style global drift compensation).
double reference_readout(const EncodedWeights& e, const std::vector<float>& g) {
  const int rows = e.rows, phys = e.phys_cols;
  std::vector<double> cur(static_cast<size_t>(phys), 0.0);
  for (int i = 0; i < rows; ++i)
    for (int p = 0; p < phys; ++p) cur[p] += g[static_cast<size_t>(i) * phys + p];
  std::vector<float> curf(cur.begin(), cur.end());
  std::vector<float> sig(static_cast<size_t>(e.signals()));
  std::vector<float> y(static_cast<size_t>(e.cols));
  form_signals(e, curf.data(), 1, sig.data());
  decode_signals(e, sig.data(), 1, y.data());
  double s = 0;
  for (float v : y) s += std::fabs(v);
  return s;
}

void check_finite(const Tensor& t, const std::string& what) {
  const float* d = t.data<float>();
  const int64_t n = t.numel();
  // NaN and infinity are the floats whose exponent bits are all ones (a vectorisable test).
  uint32_t all_ones = 0;
  for (int64_t k = 0; k < n; ++k) {
    const uint32_t e = std::bit_cast<uint32_t>(d[k]) & 0x7F800000u;
    all_ones |= static_cast<uint32_t>(e == 0x7F800000u);
  }
  if (all_ones != 0)
    throw Error(ErrorKind::invalid, kWhere, what + " contain NaN or infinity",
                "pass finite values");
}

}  // namespace

void CrossbarArray::program(const Tensor& weights, const std::vector<float>& column_full_scale) {
  program(weights, column_full_scale, WeightSource());
}

void CrossbarArray::program(const Tensor& weights, const std::vector<float>& column_full_scale,
                            WeightSource source) {
  ACIM_ASSERT(state_ != nullptr, "use of a moved-from CrossbarArray");
  if (weights.dtype() != DType::f32 || weights.rank() != 2)
    throw Error(ErrorKind::shape, kWhere,
                "weights are " + dtype_name(weights.dtype()) + shape_str(weights.shape()) +
                    "; expected float32 [rows, cols]",
                "pass a 2-D float32 weight matrix");
  const int64_t r = weights.dim(0), c = weights.dim(1);
  if (r < 1 || c < 1 || r > params_.rows || c > params_.logical_cols())
    throw Error(ErrorKind::shape, kWhere,
                "weights " + shape_str(weights.shape()) + " do not fit an array of " +
                    std::to_string(params_.rows) + " rows x " +
                    std::to_string(params_.logical_cols()) + " weight columns",
                "split the matrix into array-sized tiles");
  check_finite(weights, "weights");
  if (!column_full_scale.empty()) {
    bool ok = static_cast<int64_t>(column_full_scale.size()) == c;
    for (float f : column_full_scale) ok = ok && std::isfinite(f) && f >= 0;
    if (!ok)
      throw Error(ErrorKind::invalid, kWhere,
                  "column_full_scale has " + std::to_string(column_full_scale.size()) +
                      " entries for " + std::to_string(c) +
                      " columns, or an entry that is negative, NaN or infinite",
                  "give one finite |w| >= 0 per weight column (0 keeps the column's max |w|)");
  }
  State& s = *state_;
  s.programmed = false;  // until this succeeds
  s.weights = Tensor();
  s.source = nullptr;
  s.enc = encode_weights(weights.data<float>(), static_cast<int>(r), static_cast<int>(c), params_,
                         column_full_scale.empty() ? nullptr : column_full_scale.data());
  std::vector<float> g_target = std::exchange(s.enc.g_us, {});
  const std::vector<float> g_prog = program_cells(params_, g_target, s.rows(), s.phys(), stream_);
  s.dac.emplace(params_.dac, params_.effects.dac);
  s.adc.emplace(params_.adc, s.enc.signals(), params_.effects.adc,
                device_stream(stream_, DeviceStream::adc));
  s.calibrated = false;
  s.mvm_count = 0;
  // Baseline of global drift compensation: the programmed state at t = 0 (no drift, no
  // accumulated 1/f noise, faults included).
  ArrayParams at0 = params_;
  at0.effects.read_noise = false;
  s.drift_baseline = reference_readout(
      s.enc, cells_at_time(at0, g_target, g_prog, s.rows(), s.phys(), 0.0, stream_));
  settle(params_.time_since_programming_s, g_target, g_prog);
  // The source of every later re-derivation (State::encoded gives g_target again).
  if (source)
    s.source = std::move(source);
  else
    s.weights = weights.clone();
  s.column_full_scale = column_full_scale;
  s.programmed = true;
}

void CrossbarArray::set_time(double t) {
  ACIM_ASSERT(state_ != nullptr, "use of a moved-from CrossbarArray");
  if (!std::isfinite(t) || t < 0)
    throw Error(ErrorKind::invalid, "array parameter 'time_since_programming_s'",
                "is " + std::to_string(t) + "; allowed a finite number >= 0", "use seconds >= 0");
  const State& s = *state_;
  if (!s.programmed)
    throw Error(ErrorKind::invalid, kWhere, "set_time before program()", "program the array first");
  const std::vector<float> g_target = s.encoded(params_).g_us;
  settle(t, g_target, program_cells(params_, g_target, s.rows(), s.phys(), stream_));
}

void CrossbarArray::settle(double t, const std::vector<float>& g_target,
                           const std::vector<float>& g_prog) {
  State& s = *state_;
  params_.time_since_programming_s = t;
  s.time_s = t;
  const int rows = s.rows(), phys = s.phys(), ns = s.enc.signals();
  const bool first_order = ir_drop_on(params_) && params_.ir_drop.model == IrDropModel::first_order;
  const bool nodal = ir_drop_on(params_) && params_.ir_drop.model == IrDropModel::nodal;
  if (nodal && static_cast<int64_t>(rows) * phys > kMaxNodalCells)
    throw Error(ErrorKind::limit, "array parameter 'ir_drop.model'",
                "nodal IR drop on " + std::to_string(rows) + " x " + std::to_string(phys) +
                    " cells; allowed up to " + std::to_string(kMaxNodalCells) + " cells",
                "use ir_drop.model = first_order for large arrays");
  s.shared_minus = params_.encoding.scheme == Encoding::offset_column;
  // The matrices the products read are formed from the cells at time t (held only while this
  // runs) and kept in their final form last, so that an array's lasting buffers are not
  // allocated between its passing ones (which would leave holes in the heap behind each array).
  std::vector<float> g_sig(static_cast<size_t>(rows) * ns), sigma2_sig;
  {
    std::vector<float> g_t = cells_at_time(params_, g_target, g_prog, rows, phys, t, stream_);
    std::vector<float> g_eff_first_order;
    if (first_order) {
      g_eff_first_order.resize(g_t.size());
      ir_drop_effective_conductances(g_t.data(), rows, phys, params_.ir_drop.wire_r_ohm,
                                     g_eff_first_order.data());
    }
    const std::vector<float>& g_eff = first_order ? g_eff_first_order : g_t;
    // Signal-level matrices: the analog product is linear, so I(plus) - I(minus) = v . g_sig.
    for (int i = 0; i < rows; ++i)
      for (int k = 0; k < ns; ++k) {
        const size_t b = static_cast<size_t>(i) * phys;
        g_sig[static_cast<size_t>(i) * ns + k] =
            g_eff[b + s.enc.plus_col(k)] - g_eff[b + s.enc.minus_col(k)];
      }
    const std::vector<float> sigma = read_noise_sigma_us(params_, g_t);
    s.read_noise = !sigma.empty();
    s.sigma2_shared.clear();
    if (s.read_noise) {
      sigma2_sig.resize(static_cast<size_t>(rows) * ns);
      if (s.shared_minus) s.sigma2_shared.resize(static_cast<size_t>(rows));
      for (int i = 0; i < rows; ++i) {
        const size_t b = static_cast<size_t>(i) * phys;
        for (int k = 0; k < ns; ++k) {
          const float sp = sigma[b + s.enc.plus_col(k)], sm = sigma[b + s.enc.minus_col(k)];
          sigma2_sig[static_cast<size_t>(i) * ns + k] = sp * sp + (s.shared_minus ? 0.0f : sm * sm);
        }
        if (s.shared_minus) {
          const float sm = sigma[b + s.enc.minus_col(0)];
          s.sigma2_shared[static_cast<size_t>(i)] = sm * sm;
        }
      }
    }
    s.sigma2_shared.shrink_to_fit();
    s.drift_alpha = 1.0;
    if (params_.drift_compensation) {
      const double now = reference_readout(s.enc, g_t);
      if (now > 0 && s.drift_baseline > 0) s.drift_alpha = s.drift_baseline / now;
    }
    // Default ADC range: each signal's largest possible |current| over the row groups.
    std::vector<float> fs(static_cast<size_t>(ns));
    if (params_.adc.range == AdcRange::fixed) {
      std::fill(fs.begin(), fs.end(), static_cast<float>(params_.adc.full_scale_ua));
    } else if (s.calibrated) {
      fs = s.adc->full_scale_ua();
    } else {
      const int group = rows_per_group(params_, rows);
      for (int sig = 0; sig < ns; ++sig) {
        const int pc = s.enc.plus_col(sig), mc = s.enc.minus_col(sig);
        double best = 0;
        for (int r0 = 0; r0 < rows; r0 += group) {
          double sum = 0;
          for (int i = r0; i < std::min(r0 + group, rows); ++i) {
            const size_t base = static_cast<size_t>(i) * phys;
            sum += std::fabs(static_cast<double>(g_t[base + pc]) - g_t[base + mc]);
          }
          best = std::max(best, sum);
        }
        if (best <= 0) best = params_.cell.g_max_us;
        fs[sig] = static_cast<float>(best * params_.dac.v_read);
      }
    }
    s.adc->set_full_scale(std::move(fs));
    // The physical columns, where a product reads them (run_passes, step 2).
    s.g_cols = std::vector<float>();
    if (nodal)
      s.g_cols = std::move(g_t);
    else if (std::isfinite(column_saturation_ua(params_)))
      s.g_cols = first_order ? std::move(g_eff_first_order) : std::move(g_t);
  }
  s.g_sig_packed = Packed{};
  s.sigma2_packed = Packed{};
  s.g_sig_i16 = PackedI16{};
  if (use_i16(params_, rows, s.dac->levels())) {
    s.g_sig_i16 =
        pack_i16(g_sig.data(), rows, ns, ns, rows_per_group(params_, rows), s.dac->levels());
    g_sig = std::vector<float>();
  }
#if ACIM_HAVE_AVX512
  if (cpu_has_avx512()) {
    if (!g_sig.empty()) s.g_sig_packed = pack_panels(g_sig, rows, ns);
    if (s.read_noise) s.sigma2_packed = pack_panels(sigma2_sig, rows, ns);
    g_sig = std::vector<float>();  // (= {} would keep the capacity)
    sigma2_sig = std::vector<float>();
  }
#endif
  s.g_sig = std::move(g_sig);
  s.sigma2_sig = std::move(sigma2_sig);
}

// The analog passes of one MVM (or, with `ideal_readout`, the noise-free and ADC-free currents
// used for calibration). Sets acc [batch, signals] to the sum of signals * pass weight.
void CrossbarArray::run_passes(const float* x, const int16_t* levels, RowInputs form, int batch,
                               uint64_t first_row, bool ideal_readout,
                               const RandomStream& mvm_stream, float* acc, SignalStats* stats,
                               float* y) {
  const ArrayParams& p = params_;
  State& s = *state_;
  const int rows = s.rows(), phys = s.phys(), ns = s.enc.signals();
  const int group = rows_per_group(p, rows);
  const double v_read = p.dac.v_read;
  Workspace& ws = thread_workspace();
  std::vector<Pass>& passes = ws.passes;
  passes.clear();
  for (int r0 = 0; r0 < rows; r0 += group) {
    const int nr = std::min(group, rows - r0);
    if (bit_serial(p)) {
      for (int k = 0; k < s.dac->cycles(); ++k)
        passes.push_back({r0, nr, k, s.dac->plane_weight(k) / v_read});
    } else {
      passes.push_back({r0, nr, -1, s.dac->input_range() / v_read});
    }
  }
  const size_t bsz = static_cast<size_t>(batch);
  std::vector<float>& v = ws.v;
  std::vector<float>& cur = ws.cur;
  std::vector<float>& var = ws.var;
  std::vector<float>& var_shared = ws.var_shared;
  std::vector<float>& sig = ws.sig;
  const bool x_quantized = form != RowInputs::raw;
  const bool x_volts = form == RowInputs::row_voltages;  // x is v (one amplitude pass of all rows)
  // The integer signal product takes the DAC's levels; the float one, and the read-noise
  // variance product, the row voltages.
  const bool int_product = !s.g_sig_i16.empty();
  const bool need_v = !int_product || s.read_noise;
  ACIM_ASSERT(form != RowInputs::row_voltages || form == quantized_form(),
              "row voltages for an array that cannot take them");
  ACIM_ASSERT(form != RowInputs::levels || (form == quantized_form() && levels != nullptr),
              "integer levels for an array that cannot take them");
  if (need_v && !x_volts) grown(v, bsz * rows);
  const float* vp = x_volts ? x : v.data();  // the row voltages
  grown(sig, bsz * ns);
  const size_t nsig = bsz * static_cast<size_t>(ns);
  const bool nodal = ir_drop_on(p) && p.ir_drop.model == IrDropModel::nodal;
  const float amplitude_k = static_cast<float>(v_read / s.dac->input_range());
  // The DAC, which also reports whether any input is NaN or infinite (one pass over x): for one
  // amplitude pass of all rows straight to the row voltages (step 1), else to xq; for the
  // integer product, to the levels.
  const size_t n = bsz * static_cast<size_t>(rows);
  const bool dac_to_v = need_v && !x_quantized && !bit_serial(p) && group == rows;
  if (need_v && !x_quantized && !dac_to_v) grown(ws.xq, n);
  const float* xq = x_quantized ? x : (dac_to_v ? nullptr : ws.xq.data());  // DAC output
  if (need_v && !x_quantized &&
      !s.dac->quantize(x, n, dac_to_v ? v.data() : ws.xq.data(), dac_to_v ? amplitude_k : 1.0f))
    throw Error(ErrorKind::invalid, kWhere, "inputs contain NaN or infinity", "pass finite values");
  const int16_t* lv = levels;  // the integer product's levels
  if (int_product && form != RowInputs::levels) {
    if (!s.dac->levels_i16(x, n, grown(ws.levels_i16, n)) && !x_quantized)
      throw Error(ErrorKind::invalid, kWhere, "inputs contain NaN or infinity",
                  "pass finite values");
    lv = ws.levels_i16.data();
  }
  if (bit_serial(p)) {
    grown(ws.levels, bsz * rows);
    s.dac->signed_levels(xq, bsz * rows, ws.levels.data());
  }
  for (size_t pi = 0; pi < passes.size(); ++pi) {
    const Pass& ps = passes[pi];
    const RandomStream noise = mvm_stream.child(pi);
    bool var_done = false;  // var already holds the read-noise variances of this pass
    // 1. Row voltages of the pass's rows (an amplitude pass of all rows: v is xq scaled, in one
    //    sweep).
    const bool all_rows = ps.plane < 0 && ps.nrows == rows;
    if (need_v && all_rows && !dac_to_v && !x_volts) scale(xq, n, amplitude_k, v.data());
    for (int b = 0; b < batch && need_v && !all_rows; ++b) {
      const float* xb = xq + static_cast<size_t>(b) * rows + ps.row0;
      float* vb = v.data() + static_cast<size_t>(b) * ps.nrows;
      if (ps.plane >= 0) {
        // DacModel::bit_plane of the levels computed once for all planes, times v_read.
        const int32_t* q = ws.levels.data() + static_cast<size_t>(b) * rows + ps.row0;
        const float vr = static_cast<float>(v_read);
        for (int i = 0; i < ps.nrows; ++i) {
          const float bit = static_cast<float>(((q[i] < 0 ? -q[i] : q[i]) >> ps.plane) & 1);
          vb[i] = (q[i] < 0 ? -bit : bit) * vr;
        }
      } else {
        scale(xb, static_cast<size_t>(ps.nrows), amplitude_k, vb);
      }
    }
    // 2. Signal currents: one sgemm against g_sig, or physical column currents (nodal IR drop,
    //    or a bitline that saturates per column) turned into signals.
    const double sat = ideal_readout ? INFINITY : column_saturation_ua(p);
    if (nodal || std::isfinite(sat)) {
      grown(cur, bsz * phys);
      if (nodal) {
#pragma omp parallel for schedule(static)
        for (int b = 0; b < batch; ++b) {
          std::vector<float> vfull(static_cast<size_t>(rows), 0.0f);
          std::copy_n(vp + static_cast<size_t>(b) * ps.nrows, ps.nrows, vfull.data() + ps.row0);
          std::vector<double> c = ir_drop_nodal_currents(s.g_cols.data(), rows, phys,
                                                         p.ir_drop.wire_r_ohm, vfull.data());
          for (int j = 0; j < phys; ++j)
            cur[static_cast<size_t>(b) * phys + j] = static_cast<float>(c[j]);
        }
      } else {
        ops::sgemm_blocked(false, false, batch, phys, ps.nrows, 1.0f, vp, ps.nrows,
                           s.g_cols.data() + static_cast<size_t>(ps.row0) * phys, phys, 0.0f,
                           cur.data(), phys, kWhere);
      }
      if (std::isfinite(sat)) {
        const float hi = static_cast<float>(sat);
        for (size_t k = 0; k < bsz * static_cast<size_t>(phys); ++k)
          cur[k] = std::clamp(cur[k], -hi, hi);
      }
      form_signals(s.enc, cur.data(), batch, sig.data());
    } else if (int_product) {
      // The signal product in integers: levels times g_sig in 16 bits, each sum exact, times
      // one level's row voltage (the variance product, if any, is step 3's).
      gemm_i16(batch, lv + ps.row0, rows, s.g_sig_i16, ps.row0, ps.nrows,
               s.dac->step() * amplitude_k, sig.data(), ns);
    } else {
      // The signal product, fused with the read-noise variance product for small batches.
      const bool want_var = !ideal_readout && s.read_noise;
      if (want_var) grown(var, nsig);
      // (A sparse packed matrix is faster through gemm_packed, which skips its zero rows; both
      // kernels sum each output in row order, so the choice does not change a bit.)
      const bool sparse = s.g_sig_packed.sparse || (want_var && s.sigma2_packed.sparse);
      var_done = !sparse && fused_gemv(batch, ps.nrows, ns, vp, s.g_sig_packed,
                                       want_var ? &s.sigma2_packed : nullptr, rows, ps.row0,
                                       sig.data(), var.data());
      if (!var_done && !gemm_packed(batch, ns, ps.nrows, vp, ps.nrows, s.g_sig_packed, rows,
                                    ps.row0, sig.data(), ns))
        ops::sgemm_blocked(false, false, batch, ns, ps.nrows, 1.0f, vp, ps.nrows,
                           s.g_sig.data() + static_cast<size_t>(ps.row0) * ns, ns, 0.0f, sig.data(),
                           ns, kWhere);
      var_done = var_done && want_var;
    }
    AdcModel::AnalogNoise analog;  // the noise step 3 leaves to the ADC to draw
    if (!ideal_readout) {
      // 3. Per-MVM noise on the output side. Independent Gaussian noise on every cell makes
      //    each physical column current Gaussian with variance sum_i v_i^2 sigma_ij^2, so a
      //    signal gets the sum over its two columns (one sgemm of squared operands); a shared
      //    reference column's noise is one draw per input, common to all signals. Column
      //    (SRAM thermal) noise adds col_sigma^2 per physical column. With the ADC on, a
      //    signal's own noise is drawn by the ADC, together with its input-referred noise (one
      //    normal per conversion: AdcModel::AnalogNoise); without, here.
      const bool with_adc = s.adc->enabled();
      const bool cell_noise = s.read_noise;
      const double col_sigma = column_noise_sigma_ua(p);
      const float col_var = static_cast<float>(col_sigma * col_sigma);
      if (cell_noise || col_sigma > 0) {
        std::vector<float>& v2 = ws.v2;
        if (cell_noise && (!var_done || s.shared_minus)) {
          grown(v2, n);
          for (size_t k = 0; k < n; ++k) v2[k] = vp[k] * vp[k];
        }
        if (cell_noise && !var_done) grown(var, nsig);  // the product below sets it
        var_shared.assign(bsz, 0.0f);
        if (cell_noise && !var_done &&
            !gemm_packed(batch, ns, ps.nrows, v2.data(), ps.nrows, s.sigma2_packed, rows, ps.row0,
                         var.data(), ns)) {
          ops::sgemm_blocked(false, false, batch, ns, ps.nrows, 1.0f, v2.data(), ps.nrows,
                             s.sigma2_sig.data() + static_cast<size_t>(ps.row0) * ns, ns, 0.0f,
                             var.data(), ns, kWhere);
        }
        if (cell_noise && s.shared_minus) {
          for (int b = 0; b < batch; ++b) {
            double acc_v = 0;
            for (int i = 0; i < ps.nrows; ++i)
              acc_v += static_cast<double>(v2[static_cast<size_t>(b) * ps.nrows + i]) *
                       s.sigma2_shared[static_cast<size_t>(ps.row0 + i)];
            var_shared[static_cast<size_t>(b)] = static_cast<float>(acc_v);
          }
        }
        const float per_signal_col_var = s.shared_minus ? col_var : 2.0f * col_var;
        if (with_adc) {
          analog.var = cell_noise ? var.data() : nullptr;
          analog.extra = per_signal_col_var;
        } else {
          grown(ws.z, nsig);
        }
        const RandomStream sig_stream = noise.child(0), shared_stream = noise.child(1);
        // Without the ADC, draw (first_row + b) * ns + k is signal k of input b. The draws of a
        // chunk of inputs come in one call: a row of a few signals is too short for the
        // vectorised generator. The shared column's draws are input b's.
        const int chunks =
            with_adc && !s.shared_minus ? 0 : (batch + kNoiseChunk - 1) / kNoiseChunk;
        detail::parallel_for_static(chunks, chunks > 1, [&](int64_t c) {
          const int b0 = static_cast<int>(c) * kNoiseChunk, b1 = std::min(batch, b0 + kNoiseChunk);
          const size_t first = static_cast<size_t>(b0) * ns;
          if (!with_adc)
            sig_stream.normal(ws.z.data() + first, static_cast<size_t>(b1 - b0) * ns,
                              first_row * static_cast<uint64_t>(ns) + first);
          for (int b = b0; b < b1; ++b) {
            float* o = sig.data() + static_cast<size_t>(b) * ns;
            if (!with_adc)
              add_noise(o, cell_noise ? var.data() + static_cast<size_t>(b) * ns : nullptr,
                        per_signal_col_var, ws.z.data() + static_cast<size_t>(b) * ns, ns);
            if (s.shared_minus) {
              const float zs =
                  static_cast<float>(shared_stream.normal_at(first_row + static_cast<uint64_t>(b)));
              const float d =
                  std::sqrt(std::max(var_shared[static_cast<size_t>(b)], 0.0f) + col_var) * zs;
              for (int k = 0; k < ns; ++k) o[k] -= d;
            }
          }
        });
      }
    }
    // 4. The ADC.
    if (stats != nullptr) {
      for (size_t k = 0; k < nsig; ++k) {
        const size_t j = k % static_cast<size_t>(ns);
        const double sk = sig[k];
        stats->max_abs[j] = std::max(stats->max_abs[j], std::fabs(sk));
        stats->sum[j] += sk;
        stats->sum_sq[j] += sk * sk;
      }
      stats->count += batch;
    }
    if (!ideal_readout) s.adc->convert(sig.data(), batch, noise.child(2), first_row, &analog);
    // 5. Digital accumulation (from 0: the first pass adds to +0.0, as a zeroed acc would), the
    //    last pass's with the decode where the caller asks for it.
    if (y != nullptr && pi + 1 == passes.size())
      decode_accumulate_signals(s.enc, sig.data(), static_cast<float>(ps.weight),
                                pi == 0 ? nullptr : acc, batch, y,
                                static_cast<float>(s.drift_alpha));
    else
      accumulate(sig.data(), nsig, static_cast<float>(ps.weight), pi == 0, acc);
  }
}

namespace {

void check_input_shape(const Tensor& x, int rows_used) {
  if (x.dtype() != DType::f32 || x.rank() != 2 || x.dim(1) != rows_used)
    throw Error(ErrorKind::shape, kWhere,
                "inputs are " + dtype_name(x.dtype()) + shape_str(x.shape()) +
                    "; expected float32 [batch, " + std::to_string(rows_used) + "]",
                "pass one row of inputs per batch element");
}

void check_inputs(const Tensor& x, int rows_used) {
  check_input_shape(x, rows_used);
  check_finite(x, "inputs");
}

}  // namespace

void CrossbarArray::calibrate(const Tensor& sample_inputs, double input_range) {
  ACIM_ASSERT(state_ != nullptr, "use of a moved-from CrossbarArray");
  State& s = *state_;
  if (!s.programmed)
    throw Error(ErrorKind::invalid, kWhere, "calibrate before program()",
                "program the array first");
  check_inputs(sample_inputs, s.rows());
  if (!std::isfinite(input_range) || input_range < 0)
    throw Error(ErrorKind::invalid, kWhere,
                "input_range " + std::to_string(input_range) + " is negative, NaN or infinite",
                "give a finite range > 0, or 0 to take max |x| of the samples");
  float x_max = static_cast<float>(input_range);
  if (!(x_max > 0))
    for (float v : sample_inputs.span<float>()) x_max = std::max(x_max, std::fabs(v));
  s.dac->set_input_range(x_max > 0 ? x_max : 1.0f);
  if (params_.adc.range != AdcRange::calibrated || sample_inputs.dim(0) == 0) return;
  const int batch = static_cast<int>(sample_inputs.dim(0));
  std::vector<float> xq(sample_inputs.span<float>().begin(), sample_inputs.span<float>().end());
  s.dac->quantize(xq.data(), xq.size());
  std::vector<float> acc(static_cast<size_t>(batch) * s.enc.signals(), 0.0f);
  const size_t ns = static_cast<size_t>(s.enc.signals());
  SignalStats st{std::vector<double>(ns, 0.0), std::vector<double>(ns, 0.0),
                 std::vector<double>(ns, 0.0), 0};
  run_passes(xq.data(), nullptr, RowInputs::dac_levels, batch, 0, true, stream_, acc.data(), &st);
  // Each signal's full scale: its largest |value| over the calibration conversions, or
  // |mean| + calibration_sigmas * std of them if that is larger (see AdcParams).
  const std::vector<float> fallback = s.adc->full_scale_ua();
  const double z = params_.adc.calibration_sigmas;
  std::vector<float> fs_ua(ns);
  for (size_t k = 0; k < ns; ++k) {
    const double n = static_cast<double>(st.count), mean = st.sum[k] / n;
    const double sd = std::sqrt(std::max(st.sum_sq[k] / n - mean * mean, 0.0));
    const double fs = std::max(st.max_abs[k], std::fabs(mean) + z * sd);
    fs_ua[k] = fs > 0 ? static_cast<float>(fs) : fallback[k];
  }
  s.calibrated = true;
  s.adc->set_full_scale(std::move(fs_ua));
}

Tensor CrossbarArray::mvm(const Tensor& inputs) {
  ACIM_ASSERT(state_ != nullptr, "use of a moved-from CrossbarArray");
  if (!state_->programmed)
    throw Error(ErrorKind::invalid, kWhere, "mvm before program()", "program the array first");
  check_input_shape(inputs, state_->rows());  // mvm_rows checks that they are finite
  const int batch = static_cast<int>(inputs.dim(0));
  Tensor y = Tensor::uninitialized(DType::f32, {batch, state_->enc.cols});  // mvm_rows fills it
  mvm_rows(next_mvm(), inputs.data<float>(), batch, 0, y.data<float>());
  return y;
}

uint64_t CrossbarArray::next_mvm() {
  ACIM_ASSERT(state_ != nullptr, "use of a moved-from CrossbarArray");
  return state_->mvm_count++;
}

void CrossbarArray::mvm_rows(uint64_t call, const float* x, int batch, uint64_t first_row, float* y,
                             RowInputs form) {
  ACIM_ASSERT(form != RowInputs::levels, "integer levels through the float mvm_rows");
  mvm_rows(call, x, nullptr, form, batch, first_row, y);
}

void CrossbarArray::mvm_rows(uint64_t call, const int16_t* levels, int batch, uint64_t first_row,
                             float* y) {
  mvm_rows(call, nullptr, levels, RowInputs::levels, batch, first_row, y);
}

void CrossbarArray::mvm_rows(uint64_t call, const float* x, const int16_t* levels, RowInputs form,
                             int batch, uint64_t first_row, float* y) {
  ACIM_ASSERT(state_ != nullptr, "use of a moved-from CrossbarArray");
  State& s = *state_;
  if (!s.programmed)
    throw Error(ErrorKind::invalid, kWhere, "mvm before program()", "program the array first");
  if (batch <= 0) return;
  Workspace& ws = thread_workspace();
  const RandomStream mvm_stream = device_stream(stream_, DeviceStream::mvm).child(call);
  std::vector<float>& acc = ws.acc;
  grown(acc, static_cast<size_t>(batch) * s.enc.signals());  // run_passes sets it
  if (s.enc.slices == 1) {                                   // the last pass decodes into y
    run_passes(x, levels, form, batch, first_row, false, mvm_stream, acc.data(), nullptr, y);
    return;
  }
  run_passes(x, levels, form, batch, first_row, false, mvm_stream, acc.data(), nullptr);
  decode_signals(s.enc, acc.data(), batch, y, static_cast<float>(s.drift_alpha));
}

bool CrossbarArray::quantize_inputs(const float* x, size_t n, float* out, RowInputs form) const {
  ACIM_ASSERT(state_ != nullptr, "use of a moved-from CrossbarArray");
  ACIM_ASSERT(form == RowInputs::dac_levels || form == RowInputs::row_voltages,
              "quantize_inputs to raw inputs or integer levels");
  if (!state_->programmed)
    throw Error(ErrorKind::invalid, kWhere, "quantize_inputs before program()",
                "program the array first");
  const DacModel& dac = *state_->dac;
  ACIM_ASSERT(form != RowInputs::row_voltages || form == quantized_form(),
              "row voltages for an array that cannot take them");
  // Row voltages as run_passes makes them: the levels times v_read / input range, in one sweep.
  const float k = form == RowInputs::row_voltages
                      ? static_cast<float>(params_.dac.v_read / dac.input_range())
                      : 1.0f;
  return dac.quantize(x, n, out, k);
}

bool CrossbarArray::quantize_levels(const float* x, size_t n, int16_t* out) const {
  ACIM_ASSERT(state_ != nullptr, "use of a moved-from CrossbarArray");
  if (!state_->programmed)
    throw Error(ErrorKind::invalid, kWhere, "quantize_levels before program()",
                "program the array first");
  ACIM_ASSERT(quantized_form() == RowInputs::levels,
              "integer levels for an array that cannot take them");
  return state_->dac->levels_i16(x, n, out);
}

CrossbarArray::RowInputs CrossbarArray::quantized_form() const {
  ACIM_ASSERT(state_ != nullptr, "use of a moved-from CrossbarArray");
  if (!state_->g_sig_i16.empty() && !state_->read_noise) return RowInputs::levels;
  if (state_->g_sig_i16.empty() && !bit_serial(params_) &&
      rows_per_group(params_, rows_used()) == rows_used())
    return RowInputs::row_voltages;
  return RowInputs::dac_levels;
}

float CrossbarArray::dac_input_range() const {
  ACIM_ASSERT(state_ != nullptr, "use of a moved-from CrossbarArray");
  return state_->dac ? state_->dac->input_range() : 1.0f;
}

Tensor CrossbarArray::mvm_reference(const Tensor& inputs) const {
  ACIM_ASSERT(state_ != nullptr, "use of a moved-from CrossbarArray");
  const State& s = *state_;
  if (!s.programmed)
    throw Error(ErrorKind::invalid, kWhere, "mvm_reference before program()",
                "program the array first");
  check_inputs(inputs, s.rows());
  const int batch = static_cast<int>(inputs.dim(0));
  Tensor y(DType::f32, {batch, s.enc.cols});
  const Tensor w = s.weights_now();
  ops::sgemm_blocked(false, false, batch, s.enc.cols, s.rows(), 1.0f, inputs.data<float>(),
                     s.rows(), w.data<float>(), s.enc.cols, 0.0f, y.data<float>(), s.enc.cols,
                     kWhere);
  return y;
}

Tensor CrossbarArray::conductances_us() const {
  ACIM_ASSERT(state_ != nullptr, "use of a moved-from CrossbarArray");
  const State& s = *state_;
  if (!s.programmed) return Tensor::from_vector<float>({0, 0}, {});
  // Drawn again as program() and set_time() drew them (see State).
  const std::vector<float> g_target = s.encoded(params_).g_us;
  const std::vector<float> g_prog = program_cells(params_, g_target, s.rows(), s.phys(), stream_);
  return Tensor::from_vector<float>(
      {s.rows(), s.phys()},
      cells_at_time(params_, g_target, g_prog, s.rows(), s.phys(), s.time_s, stream_));
}

Tensor CrossbarArray::target_conductances_us() const {
  ACIM_ASSERT(state_ != nullptr, "use of a moved-from CrossbarArray");
  const State& s = *state_;
  if (!s.programmed) return Tensor::from_vector<float>({0, 0}, {});
  return Tensor::from_vector<float>({s.rows(), s.phys()}, s.encoded(params_).g_us);
}

int CrossbarArray::rows_used() const {
  return state_ ? state_->enc.rows : 0;
}
int CrossbarArray::cols_used() const {
  return state_ ? state_->enc.cols : 0;
}
uint64_t CrossbarArray::mvm_count() const {
  return state_ ? state_->mvm_count : 0;
}

}  // namespace acim
