// Gemm and MatMul (ONNX opset 11+). Float32 goes to acim's AVX-512 GEMM (below; a constant
// transposed B of Gemm is laid out once per Executor by gemm_prepare), or to cblas_sgemm on
// CPUs without AVX-512; MatMul on int32/int64 (shape arithmetic in some exporters) is a plain
// loop.
#include <omp.h>

#include <algorithm>
#include <limits>
#include <memory>
#include <vector>

#include "core/simd.hpp"
#include "ops/kernels_blas.hpp"
#include "ops/kernels_gemm.hpp"
#include "ops/util.hpp"

namespace acim::ops {

// ---- acim's GEMM (kernels_gemm.hpp) ----

#if ACIM_HAVE_AVX512
namespace {

constexpr int kMr = 8;   // rows per register tile
constexpr int kNr = 32;  // columns per register tile (two 16-float vectors)

// One tile of R rows x nc (<= 32) columns: C = epilogue(sum over p of A[r][p] * B[p][:]).
template <int R>
ACIM_TARGET_AVX512 void tile_kernel(int64_t k, const float* a, int64_t lda,
                                    const float* const* brows, int64_t boff, float* c,
                                    int64_t ldc, int nc,
                                    const GemmEpilogue& e, const float* rb, const float* cb,
                                    float lo, float hi, bool clamp) {
  __m512 acc0[R], acc1[R];
  // Every loop over the rows fully unrolled, so the accumulators stay in registers (else GCC
  // keeps the arrays in memory and zeroes them there per tile, a large cost at small k).
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) {
    acc0[r] = _mm512_setzero_ps();
    acc1[r] = _mm512_setzero_ps();
  }
  const __mmask16 m0 = nc >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << nc) - 1u);
  const __mmask16 m1 = nc >= 32   ? __mmask16(0xFFFF)
                       : nc > 16 ? __mmask16((1u << (nc - 16)) - 1u)
                                 : __mmask16(0);
  // B rows always hold 32 readable columns (fast_gemm_rows pads a narrower last panel), so
  // the loop has no masks; with masked loads GCC 12 keeps the accumulators on the stack.
  for (int64_t p = 0; p < k; ++p) {
    const float* b = brows[p] + boff;
    const __m512 b0 = _mm512_loadu_ps(b);
    const __m512 b1 = _mm512_loadu_ps(b + 16);
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const __m512 av = _mm512_set1_ps(a[r * lda + p]);
      acc0[r] = _mm512_fmadd_ps(av, b0, acc0[r]);
      acc1[r] = _mm512_fmadd_ps(av, b1, acc1[r]);
    }
  }
  const __m512 alpha = _mm512_set1_ps(e.alpha);
  const __m512 cb0 = cb ? _mm512_maskz_loadu_ps(m0, cb) : _mm512_setzero_ps();
  const __m512 cb1 = cb ? _mm512_maskz_loadu_ps(m1, cb + 16) : _mm512_setzero_ps();
  const __m512 vlo = _mm512_set1_ps(lo), vhi = _mm512_set1_ps(hi);
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) {
    __m512 v0 = acc0[r], v1 = acc1[r];
    float* cr = c + r * ldc;
    if (e.alpha != 1.0f) {
      v0 = _mm512_mul_ps(v0, alpha);
      v1 = _mm512_mul_ps(v1, alpha);
    }
    if (e.accumulate) {
      v0 = _mm512_add_ps(v0, _mm512_maskz_loadu_ps(m0, cr));
      v1 = _mm512_add_ps(v1, _mm512_maskz_loadu_ps(m1, cr + 16));
    }
    if (rb) {
      const __m512 bv = _mm512_set1_ps(rb[r]);
      v0 = _mm512_add_ps(v0, bv);
      v1 = _mm512_add_ps(v1, bv);
    }
    if (cb) {
      v0 = _mm512_add_ps(v0, cb0);
      v1 = _mm512_add_ps(v1, cb1);
    }
    if (clamp) {  // max(lo, v) then min(hi, .): as np.clip, NaN stays NaN
      const __mmask16 all = 0xFFFF;  // (the maskz forms: GCC 12 warns on the plain ones)
      v0 = _mm512_maskz_min_ps(all, vhi, _mm512_maskz_max_ps(all, vlo, v0));
      v1 = _mm512_maskz_min_ps(all, vhi, _mm512_maskz_max_ps(all, vlo, v1));
    }
    _mm512_mask_storeu_ps(cr, m0, v0);
    _mm512_mask_storeu_ps(cr + 16, m1, v1);
  }
  if (e.acts && !clamp && !e.acts->empty())
    for (int r = 0; r < R; ++r) apply_acts(*e.acts, c + r * ldc, nc);
}

// One row of A times up to 128 columns of B (8 vectors of 16), for products with very few rows
// (a recurrent step at batch 1), where the 8 x 32 tile would be one latency-bound chain of
// multiply-adds per 16 columns. Each element is the same sequential chain over k and the same
// epilogue as in tile_kernel, so results are identical to it.
ACIM_TARGET_AVX512 void row_kernel(int64_t k, const float* a, const float* const* brows,
                                   int64_t boff, float* c, int nc, const GemmEpilogue& e,
                                   const float* rb, const float* cb, float lo, float hi,
                                   bool clamp) {
  constexpr int kV = 8;
  __m512 acc[kV];
  __mmask16 mk[kV];
  int nv = 0;
  for (int v = 0; v < kV; ++v) {
    acc[v] = _mm512_setzero_ps();
    const int left = nc - 16 * v;
    mk[v] = left >= 16 ? __mmask16(0xFFFF) : left > 0 ? __mmask16((1u << left) - 1u) : __mmask16(0);
    if (left > 0) nv = v + 1;
  }
  if (nv == kV && nc == 16 * kV) {
    for (int64_t p = 0; p < k; ++p) {
      const float* b = brows[p] + boff;
      const __m512 av = _mm512_set1_ps(a[p]);
      for (int v = 0; v < kV; ++v)
        acc[v] = _mm512_fmadd_ps(av, _mm512_loadu_ps(b + 16 * v), acc[v]);
    }
  } else {
    for (int64_t p = 0; p < k; ++p) {
      const float* b = brows[p] + boff;
      const __m512 av = _mm512_set1_ps(a[p]);
      for (int v = 0; v < nv; ++v)
        acc[v] = _mm512_fmadd_ps(av, _mm512_maskz_loadu_ps(mk[v], b + 16 * v), acc[v]);
    }
  }
  const __m512 alpha = _mm512_set1_ps(e.alpha);
  const __m512 vlo = _mm512_set1_ps(lo), vhi = _mm512_set1_ps(hi);
  for (int v = 0; v < nv; ++v) {
    __m512 x = acc[v];
    float* cr = c + 16 * v;
    if (e.alpha != 1.0f) x = _mm512_mul_ps(x, alpha);
    if (e.accumulate) x = _mm512_add_ps(x, _mm512_maskz_loadu_ps(mk[v], cr));
    if (rb) x = _mm512_add_ps(x, _mm512_set1_ps(*rb));
    if (cb) x = _mm512_add_ps(x, _mm512_maskz_loadu_ps(mk[v], cb + 16 * v));
    if (clamp) {
      const __mmask16 all = 0xFFFF;
      x = _mm512_maskz_min_ps(all, vhi, _mm512_maskz_max_ps(all, vlo, x));
    }
    _mm512_mask_storeu_ps(cr, mk[v], x);
  }
  if (e.acts && !clamp && !e.acts->empty()) apply_acts(*e.acts, c, nc);
}

// Rows p of B's columns [boff, boff + nc) copied into out[p * 32 .. + 32), zero-padded, with
// row pointers to them.
ACIM_TARGET_AVX512 void pad_panel(int64_t k, const float* const* brows, int64_t boff, int nc,
                                  float* out, const float** out_rows) {
  const __mmask16 m0 = nc >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << nc) - 1u);
  const __mmask16 m1 = nc >= 32   ? __mmask16(0xFFFF)
                       : nc > 16 ? __mmask16((1u << (nc - 16)) - 1u)
                                 : __mmask16(0);
  for (int64_t p = 0; p < k; ++p) {
    const float* src = brows[p] + boff;
    float* t = out + p * kNr;
    _mm512_storeu_ps(t, _mm512_maskz_loadu_ps(m0, src));
    _mm512_storeu_ps(t + 16, _mm512_maskz_loadu_ps(m1, src + 16));
    out_rows[p] = t;
  }
}

using TileFn = void (*)(int64_t, const float*, int64_t, const float* const*, int64_t, float*,
                        int64_t, int, const GemmEpilogue&, const float*, const float*, float, float,
                        bool);
constexpr TileFn kTiles[kMr + 1] = {nullptr,        tile_kernel<1>, tile_kernel<2>,
                                    tile_kernel<3>, tile_kernel<4>, tile_kernel<5>,
                                    tile_kernel<6>, tile_kernel<7>, tile_kernel<8>};

// Few rows times a transposed B (Gemm at batch 1 with weights [N, K]): dot products of rows,
// four columns at a time, each a 16-lane sum over k reduced in a fixed order.
ACIM_TARGET_AVX512 void dot_rows(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda,
                                 const float* b, int64_t ldb, float* c, int64_t ldc,
                                 const GemmEpilogue& e) {
  constexpr int kJ = 4;
  for (int64_t i = 0; i < m; ++i) {
    const float* ar = a + i * lda;
    for (int64_t j0 = 0; j0 < n; j0 += kJ) {
      const int nj = static_cast<int>(std::min<int64_t>(kJ, n - j0));
      __m512 acc[kJ];
      for (int jj = 0; jj < kJ; ++jj) acc[jj] = _mm512_setzero_ps();
      for (int64_t p = 0; p < k; p += 16) {
        const __mmask16 mk = k - p >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << (k - p)) - 1u);
        const __m512 av = _mm512_maskz_loadu_ps(mk, ar + p);
        for (int jj = 0; jj < kJ; ++jj)
          if (jj < nj)
            acc[jj] = _mm512_fmadd_ps(av, _mm512_maskz_loadu_ps(mk, b + (j0 + jj) * ldb + p),
                                      acc[jj]);
      }
      float* cr = c + i * ldc + j0;
      for (int jj = 0; jj < nj; ++jj) {
        float lanes[16];
        _mm512_storeu_ps(lanes, acc[jj]);
        for (int h = 8; h >= 1; h /= 2)  // pairwise, in a fixed order
          for (int l = 0; l < h; ++l) lanes[l] += lanes[l + h];
        float v = lanes[0] * e.alpha;
        if (e.accumulate) v += cr[jj];
        if (e.row_bias) v += e.row_bias[i];
        if (e.col_bias) v += e.col_bias[j0 + jj];
        cr[jj] = v;
      }
      if (e.acts) apply_acts(*e.acts, cr, nj);
    }
  }
}

}  // namespace

bool fast_gemm_available() { return cpu_has_avx512(); }

void fast_gemm_rows(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda,
                    const float* const* brows, int64_t boff, float* c, int64_t ldc,
                    const GemmEpilogue& e) {
  ACIM_ASSERT(fast_gemm_available(), "fast_gemm without AVX-512");
  const bool clamp = e.acts && e.acts->single_clamp();
  const float lo = clamp ? e.acts->steps[0].a : 0.0f, hi = clamp ? e.acts->steps[0].b : 0.0f;
  if (m <= 2) {
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j0 = 0; j0 < n; j0 += 128) {
        const int nc = static_cast<int>(std::min<int64_t>(128, n - j0));
        row_kernel(k, a + i * lda, brows, boff + j0, c + i * ldc + j0, nc, e,
                   e.row_bias ? e.row_bias + i : nullptr, e.col_bias ? e.col_bias + j0 : nullptr,
                   lo, hi, clamp);
      }
    return;
  }
  thread_local std::vector<float> tail;  // a last panel narrower than 32, zero-padded
  thread_local std::vector<const float*> tail_rows;
  for (int64_t j0 = 0; j0 < n; j0 += kNr) {
    const int nc = static_cast<int>(std::min<int64_t>(kNr, n - j0));
    const float* const* br = brows;
    int64_t bo = boff + j0;
    if (nc < kNr) {
      if (tail.size() < static_cast<size_t>(k * kNr)) {
        tail.resize(static_cast<size_t>(k * kNr));
        tail_rows.resize(static_cast<size_t>(k));
      }
      pad_panel(k, brows, bo, nc, tail.data(), tail_rows.data());
      br = tail_rows.data();
      bo = 0;
    }
    for (int64_t i0 = 0; i0 < m; i0 += kMr) {
      const int rows = static_cast<int>(std::min<int64_t>(kMr, m - i0));
      kTiles[rows](k, a + i0 * lda, lda, br, bo, c + i0 * ldc + j0, ldc, nc, e,
                   e.row_bias ? e.row_bias + i0 : nullptr, e.col_bias ? e.col_bias + j0 : nullptr,
                   lo, hi, clamp);
    }
  }
}

void fast_gemm(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* b,
               int64_t ldb, bool trans_b, float* c, int64_t ldc, const GemmEpilogue& e) {
  thread_local std::vector<float> pack;
  thread_local std::vector<const float*> rows;
  if (rows.size() < static_cast<size_t>(k)) rows.resize(static_cast<size_t>(k));
  if (!trans_b) {
    for (int64_t p = 0; p < k; ++p) rows[static_cast<size_t>(p)] = b + p * ldb;
    fast_gemm_rows(m, n, k, a, lda, rows.data(), 0, c, ldc, e);
    return;
  }
  if (m <= 4) {
    dot_rows(m, n, k, a, lda, b, ldb, c, ldc, e);
    return;
  }
  if (pack.size() < static_cast<size_t>(k * kNr)) pack.resize(static_cast<size_t>(k * kNr));
  for (int64_t p = 0; p < k; ++p) rows[static_cast<size_t>(p)] = pack.data() + p * kNr;
  for (int64_t j0 = 0; j0 < n; j0 += kNr) {  // B^T rows j0.. as a [k, 32] panel
    const int nc = static_cast<int>(std::min<int64_t>(kNr, n - j0));
    float* pk = pack.data();
    for (int jj = 0; jj < nc; ++jj) {
      const float* br = b + (j0 + jj) * ldb;
      for (int64_t p = 0; p < k; ++p) pk[p * kNr + jj] = br[p];
    }
    GemmEpilogue eb = e;
    if (eb.col_bias) eb.col_bias += j0;
    fast_gemm_rows(m, nc, k, a, lda, rows.data(), 0, c + j0, ldc, eb);
  }
}
#else
bool fast_gemm_available() { return false; }
void fast_gemm(int64_t, int64_t, int64_t, const float*, int64_t, const float*, int64_t, bool,
               float*, int64_t, const GemmEpilogue&) {
  ACIM_ASSERT(false, "fast_gemm without AVX-512");
}
void fast_gemm_rows(int64_t, int64_t, int64_t, const float*, int64_t, const float* const*,
                    int64_t, float*, int64_t, const GemmEpilogue&) {
  ACIM_ASSERT(false, "fast_gemm without AVX-512");
}
#endif

// fast_gemm over fixed blocks of rows and columns run in parallel by OpenMP (small products on
// one thread). Every element is computed the same way whatever the blocking (see
// kernels_gemm.hpp), so results do not depend on the thread count.
void fast_gemm_parallel(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda,
                        const float* b, int64_t ldb, bool trans_b, float* c, int64_t ldc,
                        const GemmEpilogue& e) {
  const int64_t threads = omp_get_max_threads();
  const int64_t panels = (n + 31) / 32;
  const int64_t mb = m <= 128 ? m : 128;
  const int64_t mblk = (m + mb - 1) / mb;
  int64_t nb = 32 * std::max<int64_t>(1, panels * mblk / (2 * threads));
  nb = std::min(nb, std::max<int64_t>(32, 32 * (int64_t{8192} / std::max<int64_t>(k, 1))));
  const int64_t nblk = (n + nb - 1) / nb, items = mblk * nblk;
  if (threads == 1 || items == 1 || m * n * k <= kParallelMinMacs) {
    // No OpenMP region. Whole rows of blocks at once: splitting columns never changes an
    // element, splitting rows can (few-row products take other kernels), so rows keep mb.
    for (int64_t i0 = 0; i0 < m; i0 += mb) {
      GemmEpilogue eb = e;
      if (eb.row_bias) eb.row_bias += i0;
      fast_gemm(std::min(mb, m - i0), n, k, a + i0 * lda, lda, b, ldb, trans_b, c + i0 * ldc,
                ldc, eb);
    }
    return;
  }
#pragma omp parallel for schedule(static)
  for (int64_t it = 0; it < items; ++it) {
    const int64_t i0 = (it / nblk) * mb, j0 = (it % nblk) * nb;
    GemmEpilogue eb = e;
    if (eb.row_bias) eb.row_bias += i0;
    if (eb.col_bias) eb.col_bias += j0;
    fast_gemm(std::min(mb, m - i0), std::min(nb, n - j0), k, a + i0 * lda, lda,
              trans_b ? b + j0 * ldb : b + j0, ldb, trans_b, c + i0 * ldc + j0, ldc, eb);
  }
}

namespace {

// ---- Gemm: Y = alpha * op(A) * op(B) + beta * C ----

struct GemmDims {
  int64_t m = 0, n = 0, k = 0;
};

GemmDims gemm_dims(const Node& node, const std::string& where, const Shape& a, const Shape& b,
                   const Shape* c) {
  auto fail = [&](const std::string& what) {
    throw Error(ErrorKind::shape, where,
                what + " (A " + shape_str(a) + ", B " + shape_str(b) +
                    (c ? ", C " + shape_str(*c) : std::string()) + ")");
  };
  if (a.size() != 2 || b.size() != 2) fail("A and B must be 2-D");
  const bool ta = node.attr_int("transA", 0) != 0, tb = node.attr_int("transB", 0) != 0;
  GemmDims d;
  d.m = ta ? a[1] : a[0];
  d.k = ta ? a[0] : a[1];
  const int64_t kb = tb ? b[1] : b[0];
  d.n = tb ? b[0] : b[1];
  if (d.k >= 0 && kb >= 0 && d.k != kb)
    fail("inner dimensions differ: " + std::to_string(d.k) + " vs " + std::to_string(kb) +
         " (transA=" + std::to_string(ta) + ", transB=" + std::to_string(tb) + ")");
  if (d.k < 0) d.k = kb;
  if (c) {
    // C broadcasts unidirectionally to [M, N].
    if (c->size() > 2) fail("C must have rank 2 or less");
    const Shape mn{d.m, d.n};
    for (size_t i = 0; i < c->size(); ++i) {
      int64_t cd = (*c)[i], od = mn[2 - c->size() + i];
      if (cd >= 0 && od >= 0 && cd != 1 && cd != od) fail("C does not broadcast to [M, N]");
    }
  }
  return d;
}

void gemm_infer(InferContext& ctx) {
  const ValueInfo& a = ctx.in(0);
  const ValueInfo& b = ctx.in(1);
  require_f32(ctx, 0, a.dtype);
  require_f32(ctx, 1, b.dtype);
  if (ctx.has(2)) require_f32(ctx, 2, ctx.in(2).dtype);
  if (!a.shape_known || !b.shape_known) {
    ctx.set_output(0, DType::f32, {kUnknownDim, kUnknownDim});
    return;
  }
  const Shape* c = ctx.has(2) && ctx.in(2).shape_known ? &ctx.in(2).shape : nullptr;
  GemmDims d = gemm_dims(ctx.node, ctx.where, a.shape, b.shape, c);
  ctx.set_output(0, DType::f32, {d.m, d.n});
}

// Gemm with transB = 1 and a constant B [N, K]: Bᵀ [K, N] laid out once per Executor, so the
// GEMM reads B row-major instead of packing it on every run.
struct GemmPrepared {
  int64_t n = 0, k = 0;
  std::vector<float> bt;
};

std::shared_ptr<const void> gemm_prepare(const Node& node,
                                         const std::vector<const Tensor*>& inputs) {
  if (!fast_gemm_available() || inputs.size() < 2 || !inputs[1]) return nullptr;
  if (node.attr_int("transB", 0) == 0) return nullptr;
  const Tensor& b = *inputs[1];
  if (b.dtype() != DType::f32 || b.rank() != 2) return nullptr;  // the kernel reports it
  auto p = std::make_shared<GemmPrepared>();
  p->n = b.shape()[0];
  p->k = b.shape()[1];
  p->bt.resize(static_cast<size_t>(p->n * p->k));
  const float* bd = b.data<float>();
  for (int64_t j = 0; j < p->n; ++j)
    for (int64_t q = 0; q < p->k; ++q) p->bt[static_cast<size_t>(q * p->n + j)] = bd[j * p->k + q];
  return p;
}

void gemm_run(RunContext& ctx) {
  const Tensor& a = ctx.in(0);
  const Tensor& b = ctx.in(1);
  for (size_t i = 0; i < 3; ++i) require_f32_run(ctx, i);
  const Tensor* c = ctx.has(2) ? &ctx.in(2) : nullptr;
  GemmDims d = gemm_dims(ctx.node, ctx.where, a.shape(), b.shape(), c ? &c->shape() : nullptr);
  const bool ta = ctx.node.attr_int("transA", 0) != 0, tb = ctx.node.attr_int("transB", 0) != 0;
  const float alpha = ctx.node.attr_float("alpha", 1.0f);
  const float beta = ctx.node.attr_float("beta", 1.0f);
  FusedActs acts;
  const bool acts_ok = parse_fused(ctx.node, acts);
  const FusedActs* ap = acts_ok && !acts.empty() ? &acts : nullptr;
  if (!ta && fast_gemm_available() && d.m > 0 && d.n > 0) {
    for (int64_t v : {d.m, d.n, d.k}) blas_dim(v, ctx.where);
    Tensor y = ctx.new_output(DType::f32, {d.m, d.n});  // every element is written
    float* yd = y.data<float>();
    GemmEpilogue e;
    e.alpha = alpha;
    e.acts = ap;
    std::vector<float> cb;
    if (c && beta != 0.0f) {
      const float* cd = c->data<float>();
      const Shape& cs = c->shape();
      if (cs.size() < 2 || cs[0] == 1) {  // one row broadcast over M: a column bias
        const int64_t sn = cs.empty() || cs.back() == 1 ? 0 : 1;
        cb.resize(static_cast<size_t>(d.n));
        for (int64_t j = 0; j < d.n; ++j) cb[static_cast<size_t>(j)] = beta * cd[j * sn];
        e.col_bias = cb.data();
      } else {
        const int64_t sn = cs[1] == 1 ? 0 : 1;
        for (int64_t i = 0; i < d.m; ++i)
          for (int64_t j = 0; j < d.n; ++j) yd[i * d.n + j] = beta * cd[i * cs[1] + j * sn];
        e.accumulate = true;
      }
    }
    const auto* prep = static_cast<const GemmPrepared*>(ctx.prepared);
    if (prep && tb && prep->n == d.n && prep->k == d.k)
      fast_gemm_parallel(d.m, d.n, d.k, a.data<float>(), d.k, prep->bt.data(), d.n, false, yd,
                         d.n, e);
    else
      fast_gemm_parallel(d.m, d.n, d.k, a.data<float>(), d.k, b.data<float>(), tb ? d.k : d.n, tb,
                         yd, d.n, e);
    if (!acts_ok) run_fused_ops(ctx.node, y);
    ctx.outputs[0] = y;
    return;
  }
  Tensor y(DType::f32, {d.m, d.n});
  float* yd = y.data<float>();
  float gemm_beta = 0.0f;
  if (c && beta != 0.0f) {
    const float* cd = c->data<float>();
    const Shape& cs = c->shape();
    // Strides of C's elements along M and N (0 where C broadcasts).
    int64_t sm = 0, sn = 0;
    if (cs.size() == 2) {
      sm = cs[0] == 1 ? 0 : cs[1];
      sn = cs[1] == 1 ? 0 : 1;
    } else if (cs.size() == 1) {
      sn = cs[0] == 1 ? 0 : 1;
    }
    for (int64_t i = 0; i < d.m; ++i)
      for (int64_t j = 0; j < d.n; ++j) yd[i * d.n + j] = beta * cd[i * sm + j * sn];
    gemm_beta = 1.0f;
  }
  sgemm_blocked(ta, tb, d.m, d.n, d.k, alpha, a.data<float>(), ta ? d.m : d.k, b.data<float>(),
                tb ? d.k : d.n, gemm_beta, yd, d.n, ctx.where);
  if (ap) apply_acts(*ap, yd, y.numel());
  if (!acts_ok) run_fused_ops(ctx.node, y);
  ctx.outputs[0] = y;
}

int64_t gemm_macs(const CostContext& c) {
  if (c.inputs.empty() || !c.inputs[0] || c.outputs.empty() || !c.outputs[0]) return 0;
  const ValueInfo& a = *c.inputs[0];
  const ValueInfo& y = *c.outputs[0];
  if (!a.shape_known || !y.shape_known || a.shape.size() != 2 || !shape_is_known(a.shape) ||
      !shape_is_known(y.shape))
    return 0;
  const int64_t k = c.node.attr_int("transA", 0) != 0 ? a.shape[0] : a.shape[1];
  return shape_numel(y.shape) * k;
}

// ---- MatMul: numpy matmul with batch broadcasting and 1-D promotion ----

struct MatMulDims {
  Shape out;          // result shape
  Shape batch;        // broadcast batch shape
  Shape a_batch, b_batch;  // each operand's batch dims, left-padded with 1s to batch's rank
  int64_t m = 0, n = 0, k = 0;
};

MatMulDims matmul_dims(const std::string& where, const Shape& a, const Shape& b) {
  auto fail = [&](const std::string& what) {
    throw Error(ErrorKind::shape, where,
                what + " (A " + shape_str(a) + ", B " + shape_str(b) + ")");
  };
  if (a.empty() || b.empty()) fail("MatMul inputs must have rank 1 or more");
  Shape a2 = a, b2 = b;
  if (a2.size() == 1) a2.insert(a2.begin(), 1);
  if (b2.size() == 1) b2.push_back(1);
  MatMulDims d;
  d.m = a2[a2.size() - 2];
  d.k = a2[a2.size() - 1];
  const int64_t kb = b2[b2.size() - 2];
  d.n = b2[b2.size() - 1];
  if (d.k >= 0 && kb >= 0 && d.k != kb)
    fail("inner dimensions differ: " + std::to_string(d.k) + " vs " + std::to_string(kb));
  if (d.k < 0) d.k = kb;
  Shape ab(a2.begin(), a2.end() - 2), bb(b2.begin(), b2.end() - 2);
  if (!broadcast_shapes(ab, bb, d.batch)) fail("batch dimensions do not broadcast");
  d.a_batch = Shape(d.batch.size() - ab.size(), 1);
  d.a_batch.insert(d.a_batch.end(), ab.begin(), ab.end());
  d.b_batch = Shape(d.batch.size() - bb.size(), 1);
  d.b_batch.insert(d.b_batch.end(), bb.begin(), bb.end());
  d.out = d.batch;
  if (a.size() > 1) d.out.push_back(d.m);
  if (b.size() > 1) d.out.push_back(d.n);
  return d;
}

void matmul_infer(InferContext& ctx) {
  const ValueInfo& a = ctx.in(0);
  const ValueInfo& b = ctx.in(1);
  if (a.dtype != b.dtype)
    ctx.fail(ErrorKind::shape,
             "A is " + dtype_name(a.dtype) + " but B is " + dtype_name(b.dtype));
  if (a.dtype != DType::f32 && a.dtype != DType::i32 && a.dtype != DType::i64)
    ctx.fail(ErrorKind::unsupported, "MatMul on " + dtype_name(a.dtype) + " is not supported",
             "use float32 (or int32/int64) inputs");
  if (!a.shape_known || !b.shape_known) {
    ctx.set_output_unknown_shape(0, a.dtype);
    return;
  }
  ctx.set_output(0, a.dtype, matmul_dims(ctx.where, a.shape, b.shape).out);
}

// Offset of batch element `idx` (row-major over d.batch) in an operand with batch dims `ob`.
int64_t batch_offset(int64_t idx, const Shape& batch, const Shape& ob, int64_t mat_size) {
  int64_t off = 0, stride = mat_size;
  for (size_t i = batch.size(); i-- > 0;) {
    const int64_t coord = idx % batch[i];
    idx /= batch[i];
    if (ob[i] != 1) off += coord * stride;
    stride *= ob[i];
  }
  return off;
}

template <class T>
void matmul_loop(const T* a, const T* b, T* y, int64_t m, int64_t n, int64_t k) {
  for (int64_t i = 0; i < m; ++i) {
    T* yr = y + i * n;
    for (int64_t j = 0; j < n; ++j) yr[j] = T{0};
    for (int64_t p = 0; p < k; ++p) {
      const T av = a[i * k + p];
      const T* br = b + p * n;
      for (int64_t j = 0; j < n; ++j) yr[j] = static_cast<T>(yr[j] + av * br[j]);
    }
  }
}

void matmul_run(RunContext& ctx) {
  const Tensor& a = ctx.in(0);
  const Tensor& b = ctx.in(1);
  if (a.dtype() != b.dtype() ||
      (a.dtype() != DType::f32 && a.dtype() != DType::i32 && a.dtype() != DType::i64))
    ctx.fail(ErrorKind::unsupported,
             "MatMul on " + dtype_name(a.dtype()) + " x " + dtype_name(b.dtype()) +
                 " is not supported",
             "use float32 (or int32/int64) inputs");
  MatMulDims d = matmul_dims(ctx.where, a.shape(), b.shape());
  Tensor y(a.dtype(), d.out);
  const int64_t batch = shape_numel(d.batch);
  const int64_t a_mat = d.m * d.k, b_mat = d.k * d.n, y_mat = d.m * d.n;
  if (y.numel() == 0) {
    ctx.outputs[0] = y;
    return;
  }
  if (a.dtype() == DType::f32) {
    const float* ad = a.data<float>();
    const float* bd = b.data<float>();
    float* yd = y.data<float>();
    // B shared by every batch element and A contiguous: one sgemm over all rows of A.
    if (fast_gemm_available()) {
      for (int64_t v : {batch * d.m, d.n, d.k}) blas_dim(v, ctx.where);
      const GemmEpilogue e;
      if (shape_numel(d.b_batch) == 1 && shape_numel(d.a_batch) == batch) {
        fast_gemm_parallel(batch * d.m, d.n, d.k, ad, d.k, bd, d.n, false, yd, d.n, e);
      } else {
#pragma omp parallel for schedule(static) if (batch > 1 && batch * y_mat * d.k > (1 << 16))
        for (int64_t i = 0; i < batch; ++i)
          fast_gemm(d.m, d.n, d.k, ad + batch_offset(i, d.batch, d.a_batch, a_mat), d.k,
                    bd + batch_offset(i, d.batch, d.b_batch, b_mat), d.n, false, yd + i * y_mat,
                    d.n, e);
      }
    } else if (shape_numel(d.b_batch) == 1 && shape_numel(d.a_batch) == batch) {
      sgemm_blocked(false, false, batch * d.m, d.n, d.k, 1.0f, ad, d.k, bd, d.n, 0.0f, yd, d.n,
                    ctx.where);
    } else {
      for (int64_t v : {batch * d.m, d.n, d.k}) blas_dim(v, ctx.where);  // throw before threads
#pragma omp parallel for schedule(static) if (batch > 1 && batch * y_mat * d.k > (1 << 18))
      for (int64_t i = 0; i < batch; ++i)
        sgemm_rm(false, false, d.m, d.n, d.k, 1.0f,
                 ad + batch_offset(i, d.batch, d.a_batch, a_mat), d.k,
                 bd + batch_offset(i, d.batch, d.b_batch, b_mat), d.n, 0.0f, yd + i * y_mat,
                 d.n, ctx.where);
    }
  } else {
    auto loop = [&](auto zero) {
      using T = decltype(zero);
      for (int64_t i = 0; i < batch; ++i)
        matmul_loop<T>(a.data<T>() + batch_offset(i, d.batch, d.a_batch, a_mat),
                       b.data<T>() + batch_offset(i, d.batch, d.b_batch, b_mat),
                       y.data<T>() + i * y_mat, d.m, d.n, d.k);
    };
    if (a.dtype() == DType::i32)
      loop(int32_t{});
    else
      loop(int64_t{});
  }
  ctx.outputs[0] = y;
}

int64_t matmul_macs(const CostContext& c) {
  if (c.inputs.empty() || !c.inputs[0] || c.outputs.empty() || !c.outputs[0]) return 0;
  const ValueInfo& a = *c.inputs[0];
  const ValueInfo& y = *c.outputs[0];
  if (!a.shape_known || !y.shape_known || a.shape.empty() || !shape_is_known(a.shape) ||
      !shape_is_known(y.shape))
    return 0;
  return shape_numel(y.shape) * a.shape.back();  // batch * M * N * K
}

}  // namespace

void register_gemm(std::vector<OpDef>& ops) {
  ops.push_back({"Gemm", 2, 3, gemm_infer, gemm_run, gemm_macs, /*handles_fused=*/true,
                 gemm_prepare});
  ops.push_back({"MatMul", 2, 2, matmul_infer, matmul_run, matmul_macs});
}

}  // namespace acim::ops
