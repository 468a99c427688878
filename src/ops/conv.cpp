// Conv and ConvTranspose (ONNX opset 11+), float32, 1 to 3 spatial dims.
//
// Conv: depthwise (one input and one output channel per group) runs direct loops parallel over
// (image, channel) (AVX-512, strides 1, 1-D / 2-D: 16 channels per vector on small planes with
// 16 channels or more, else masked shifted loads straight from the input when the output is
// as wide as the input); with AVX-512 the others run acim's GEMM (kernels_gemm.hpp): a 1x1
// stride-1 unpadded conv on the input itself, 1-D / 2-D convs with narrow output rows or short
// input rows (decimation_fits) on decimated input rows as row pointers, the other stride-1
// 1-D / 2-D convs on zero-padded planes given to the GEMM as row pointers (conv_fast_s1), the
// rest on an im2col buffer. Without AVX-512: im2col and one sgemm per image and group.
#include <omp.h>

#include <algorithm>
#include <array>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <vector>

#include "core/parallel.hpp"
#include "core/simd.hpp"
#if ACIM_HAVE_AVX512
// A vector argument passed from code compiled without AVX-512 to an AVX-512 function goes in
// memory on one side and in registers on the other: garbage operands in the builds that do not
// inline the caller (the ASan preset). Make it a compile error everywhere it is detected.
#pragma GCC diagnostic error "-Wpsabi"
#endif

#include "ops/kernels_act.hpp"
#include "ops/kernels_blas.hpp"
#include "ops/kernels_gemm.hpp"
#include "ops/kernels_window.hpp"
#include "ops/util.hpp"

namespace acim::ops {

namespace {

struct ConvGeom {
  int64_t n = 0, c = 0, m = 0, group = 1;  // batch, input channels, output channels, groups
  Window w;
};

std::vector<int64_t> spatial_of(const Shape& s) { return Shape(s.begin() + 2, s.end()); }

// Checks X [N,C,spatial...], W [M,C/group,kernel...], B [M] and computes the window. Unknown
// dims (kUnknownDim) are allowed where they do not decide anything.
ConvGeom conv_geometry(const Node& node, const std::string& where, const Shape& x,
                       const Shape& wt, const Shape* b) {
  auto fail = [&](const std::string& what) {
    throw Error(ErrorKind::shape, where,
                what + " (X " + shape_str(x) + ", W " + shape_str(wt) +
                    (b ? ", B " + shape_str(*b) : std::string()) + ")");
  };
  if (x.size() < 3) fail("X must have rank 3 or more (N, C, spatial...)");
  if (wt.size() != x.size()) fail("W must have the rank of X");
  ConvGeom g;
  g.group = node.attr_int("group", 1);
  if (g.group < 1)
    throw Error(ErrorKind::invalid, where, "group " + std::to_string(g.group) + " must be >= 1");
  g.n = x[0];
  g.c = x[1];
  g.m = wt[0];
  if (g.m >= 0 && g.m % g.group != 0)
    fail("output channels " + std::to_string(g.m) + " are not divisible by group " +
         std::to_string(g.group));
  if (g.c >= 0 && wt[1] >= 0 && g.c != wt[1] * g.group)
    fail("X has " + std::to_string(g.c) + " channels but W expects " + std::to_string(wt[1]) +
         " per group x group " + std::to_string(g.group));
  if (b && (b->size() != 1 || ((*b)[0] >= 0 && g.m >= 0 && (*b)[0] != g.m)))
    fail("B must be 1-D with one value per output channel");
  std::vector<int64_t> kernel = spatial_of(wt);
  if (node.has_attr("kernel_shape")) {
    std::vector<int64_t> ks = node.attr_ints("kernel_shape");
    for (size_t i = 0; i < ks.size() && i < kernel.size(); ++i)
      if (kernel[i] >= 0 && ks[i] != kernel[i])
        fail("kernel_shape " + ints_str(ks) + " does not match W");
    if (ks.size() == kernel.size()) kernel = ks;
  }
  bool kernel_known = true;
  for (int64_t k : kernel) kernel_known &= k >= 0;
  std::vector<int64_t> in = spatial_of(x);
  if (!kernel_known) std::fill(in.begin(), in.end(), kUnknownDim);  // output sizes unknown
  std::vector<int64_t> kk = kernel;
  for (auto& k : kk) k = std::max<int64_t>(k, 1);
  g.w = make_window(node, where, in, kk, /*ceil_mode=*/false, /*allow_dilations=*/true);
  return g;
}

void conv_infer(InferContext& ctx) {
  const ValueInfo& x = ctx.in(0);
  const ValueInfo& w = ctx.in(1);
  require_f32(ctx, 0, x.dtype);
  require_f32(ctx, 1, w.dtype);
  if (ctx.has(2)) require_f32(ctx, 2, ctx.in(2).dtype);
  if (!x.shape_known || !w.shape_known) {
    ctx.set_output_unknown_shape(0, DType::f32);
    return;
  }
  const Shape* b = ctx.has(2) && ctx.in(2).shape_known ? &ctx.in(2).shape : nullptr;
  ConvGeom g = conv_geometry(ctx.node, ctx.where, x.shape, w.shape, b);
  Shape out{g.n, g.m};
  for (int64_t d : g.w.out_spatial()) out.push_back(d);
  ctx.set_output(0, DType::f32, out);
}

// First and one-past-last output index o in [0, out) whose input index o*stride + off lies in
// [0, len).
inline void valid_range(int64_t off, int64_t stride, int64_t len, int64_t out, int64_t& lo,
                        int64_t& hi) {
  lo = off >= 0 ? 0 : (-off + stride - 1) / stride;
  hi = len - off <= 0 ? 0 : (len - 1 - off) / stride + 1;
  lo = std::min(lo, out);
  hi = std::clamp(hi, lo, out);
}

// run(t, first, last) on items [0, n): split statically over the threads (t: the thread's
// index) when detail::open_team(worth), else run(0, 0, n) on this thread without an OpenMP
// region (ResNet-20's 1x1 stride-2 convs at batch 1, 2.2 us of work, took 3.3 us on 2 threads
// in a team of one).
template <class Run>
void split_items(int64_t n, bool worth, const Run& run) {
  if (detail::open_team(worth)) {
#pragma omp parallel
    {
      const int64_t nt = omp_get_num_threads(), t = omp_get_thread_num();
      const int64_t per = (n + nt - 1) / nt;
      run(t, std::min(n, t * per), std::min(n, (t + 1) * per));
    }
  } else {
    run(int64_t{0}, int64_t{0}, n);
  }
}

// Columns [c0, c1) of one group's im2col matrix for one image: col[(c, kd, kh, kw)][j - c0] for
// output positions j (flattened (od, oh, ow)) in [c0, c1). Out-of-range taps are zeros.
void im2col(const float* x, int64_t channels, const Window& w, int64_t c0, int64_t c1,
            float* col) {
  const int64_t kd_n = w.k[0], kh_n = w.k[1], kw_n = w.k[2];
  const int64_t rows = channels * w.k_size(), cols = c1 - c0;
  const int64_t isz = w.in_size(), ow_n = w.out[2], hw_out = w.out[1] * w.out[2];
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t kw = r % kw_n, kh = (r / kw_n) % kh_n, kd = (r / (kw_n * kh_n)) % kd_n;
    const float* xc = x + (r / w.k_size()) * isz;
    float* dst = col + r * cols - c0;  // indexed by output position j
    int64_t lo = 0, hi = 0;
    const int64_t off_w = kw * w.dil[2] - w.pad_b[2];
    valid_range(off_w, w.stride[2], w.in[2], ow_n, lo, hi);
    int64_t j = c0;
    while (j < c1) {
      const int64_t od = j / hw_out, oh = (j / ow_n) % w.out[1], ow0 = j % ow_n;
      const int64_t ow1 = std::min(ow_n, ow0 + (c1 - j));  // this output row's part in range
      float* d = dst + (j - ow0);                          // d[ow] is position (od, oh, ow)
      const int64_t id = od * w.stride[0] + kd * w.dil[0] - w.pad_b[0];
      const int64_t ih = oh * w.stride[1] + kh * w.dil[1] - w.pad_b[1];
      if (id < 0 || id >= w.in[0] || ih < 0 || ih >= w.in[1]) {
        std::fill(d + ow0, d + ow1, 0.0f);
      } else {
        const float* src = xc + (id * w.in[1] + ih) * w.in[2];
        const int64_t a = std::clamp(lo, ow0, ow1), b = std::clamp(hi, a, ow1);
        std::fill(d + ow0, d + a, 0.0f);
        if (w.stride[2] == 1) {
          std::copy(src + a + off_w, src + b + off_w, d + a);
        } else {
          for (int64_t ow = a; ow < b; ++ow) d[ow] = src[ow * w.stride[2] + off_w];
        }
        std::fill(d + b, d + ow1, 0.0f);
      }
      j += ow1 - ow0;
    }
  }
}

#if ACIM_HAVE_AVX512
inline __mmask16 tail_mask16(int64_t left) {
  return left >= 16 ? __mmask16(0xFFFF) : left > 0 ? __mmask16((1u << left) - 1u) : __mmask16(0);
}

// im2col (same layout as above) for the AVX-512 path: the stride-1 runs are masked 16-float
// moves, so a row segment of any width is a few instructions and no library call.
__attribute__((target("avx512f"))) void im2col_avx512(const float* x, int64_t channels,
                                                      const Window& w, int64_t c0, int64_t c1,
                                                      float* col) {
  const int64_t kd_n = w.k[0], kh_n = w.k[1], kw_n = w.k[2];
  const int64_t rows = channels * w.k_size(), cols = c1 - c0;
  const int64_t isz = w.in_size(), ow_n = w.out[2], hw_out = w.out[1] * w.out[2];
  const int64_t s_w = w.stride[2];
  const int64_t od_start = c0 / hw_out, oh_start = (c0 / ow_n) % w.out[1], ow_start = c0 % ow_n;
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t kw = r % kw_n, kh = (r / kw_n) % kh_n, kd = (r / (kw_n * kh_n)) % kd_n;
    const float* xc = x + (r / w.k_size()) * isz;
    float* dst = col + r * cols - c0;  // indexed by output position j
    int64_t lo = 0, hi = 0;
    const int64_t off_w = kw * w.dil[2] - w.pad_b[2];
    valid_range(off_w, s_w, w.in[2], ow_n, lo, hi);
    int64_t j = c0, od = od_start, oh = oh_start, ow0 = ow_start;
    while (j < c1) {
      const int64_t ow1 = std::min(ow_n, ow0 + (c1 - j));
      float* d = dst + (j - ow0);  // d[ow] is position (od, oh, ow)
      const int64_t id = od * w.stride[0] + kd * w.dil[0] - w.pad_b[0];
      const int64_t ih = oh * w.stride[1] + kh * w.dil[1] - w.pad_b[1];
      const bool row_ok = id >= 0 && id < w.in[0] && ih >= 0 && ih < w.in[1];
      const float* src = xc + (row_ok ? (id * w.in[1] + ih) * w.in[2] : 0);
      const int64_t a = row_ok ? lo : 0, b = row_ok ? hi : 0;  // valid outputs [a, b)
      if (s_w == 1) {
        for (int64_t ow = ow0; ow < ow1; ow += 16) {
          const int64_t n = std::min<int64_t>(16, ow1 - ow);
          const int64_t va = std::clamp<int64_t>(a - ow, 0, n), vb = std::clamp<int64_t>(b - ow, va, n);
          const unsigned load = ((1u << vb) - 1u) & ~((1u << va) - 1u);
          const __m512 v = _mm512_maskz_loadu_ps(static_cast<__mmask16>(load),
                                                 src + (ow + off_w));
          _mm512_mask_storeu_ps(d + ow, static_cast<__mmask16>((1u << n) - 1u), v);
        }
      } else if (s_w == 2) {
        // 16 outputs read 32 consecutive inputs: two masked loads (the lanes outside the valid
        // outputs' inputs are zeros) and the even lanes picked out.
        const __m512i even = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6,
                                              4, 2, 0);
        for (int64_t ow = ow0; ow < ow1; ow += 16) {
          const int64_t n = std::min<int64_t>(16, ow1 - ow);
          const int64_t va = std::clamp<int64_t>(a - ow, 0, n);
          const int64_t vb = std::clamp<int64_t>(b - ow, va, n);
          // Input lanes 2*va .. 2*vb - 2 (even) are the valid outputs' taps.
          const uint64_t in_bits = vb > va ? ((uint64_t{1} << (2 * vb - 1)) - 1u) &
                                                 ~((uint64_t{1} << (2 * va)) - 1u)
                                           : 0u;
          const float* s0 = src + (ow * 2 + off_w);
          const __m512 v0 = _mm512_maskz_loadu_ps(static_cast<__mmask16>(in_bits & 0xFFFFu), s0);
          const __m512 v1 =
              _mm512_maskz_loadu_ps(static_cast<__mmask16>((in_bits >> 16) & 0xFFFFu), s0 + 16);
          const __m512 v = _mm512_permutex2var_ps(v0, even, v1);
          _mm512_mask_storeu_ps(d + ow, static_cast<__mmask16>((1u << n) - 1u), v);
        }
      } else {
        for (int64_t ow = ow0; ow < ow1; ++ow)
          d[ow] = ow >= a && ow < b ? src[ow * s_w + off_w] : 0.0f;
      }
      j += ow1 - ow0;
      ow0 = 0;
      if (++oh == w.out[1]) {
        oh = 0;
        ++od;
      }
    }
  }
}

#endif

// Strided 2-D convs with narrow output rows, without im2col: output (oh, ow) of tap (kh, kw)
// reads input row oh*sh + a (a = kh*dil_h - pad_h) at column ow*sw + kw*dil_w - pad_w. With
// a = q*sh + r (0 <= r < sh), that is row i = oh + q of the input rows of phase r (rows
// i*sh + r), so once every input row is decimated per kernel column into its wo outputs'
// inputs (D[c][kw][r][i][ow], zeros in the padding), the im2col row of (c, kh, kw) is the
// contiguous run of D[c][kw][r] from row q on: the GEMM reads it through row pointers. D holds
// about kw*sh/(kh*kw) of im2col's floats (DS-CNN's first layer, 10x4 stride 2: a fifth).
struct Decimation {
  int64_t sh = 1, rows = 0, qmin = 0, wo = 0, kw_n = 0, size = 0;  // size: floats of D
  std::vector<char> phase_used;                                    // per phase r: read by some kh
  std::vector<int32_t> col;      // per kw and 16-lane block of ow: input column, or -1
  std::vector<int64_t> row_off;  // per (c, kh, kw): offset of its im2col row in D
};

inline int64_t floor_div(int64_t a, int64_t b) {
  return a >= 0 ? a / b : -((-a + b - 1) / b);
}

// Whether conv_fast_gemm reads a 2-D conv's taps from decimated rows: when its output rows are
// narrower than a vector (im2col's rows would be short runs), or its input rows fit in one
// vector (each decimated row is one load and a permute), or in two for a strided conv (two
// loads and a permute; D holds about kw*sh/(kh*kw) of im2col's floats: ResNet-20's stride-2
// convs from 32 x 32 took twice the time of those from 16 x 16 on im2col). Stride-1 convs on
// planes of up to 16 columns (ResNet-20's 16 x 16 and 8 x 8) take this path rather than
// conv_fast_s1: no dropped grid columns, no copy of the output, and each tap row holds whole
// output rows; wider ones stay there (D copies each input float kw times, the padded planes
// once).
bool decimation_fits(const Window& w) {
  if (w.in[0] != 1 || w.out[0] != 1 || w.k[0] != 1 || w.in[2] >= (int64_t{1} << 30)) return false;
  return w.out[2] < 16 || w.in[2] <= 16 || (w.in[2] <= 32 && w.stride[2] > 1);
}

Decimation decimation_plan(const Window& w, int64_t channels) {
  Decimation d;
  const int64_t kh_n = w.k[1], kw_n = w.k[2], ho = w.out[1];
  d.sh = w.stride[1];
  d.wo = w.out[2];
  d.kw_n = kw_n;
  d.qmin = floor_div(-w.pad_b[1], d.sh);
  const int64_t qmax = floor_div((kh_n - 1) * w.dil[1] - w.pad_b[1], d.sh);
  d.rows = ho + qmax - d.qmin;
  d.size = channels * kw_n * d.sh * d.rows * d.wo;
  d.phase_used.assign(static_cast<size_t>(d.sh), 0);
  const int64_t wvec = (d.wo + 15) / 16 * 16;
  d.col.assign(static_cast<size_t>(kw_n * wvec), -1);
  for (int64_t kw = 0; kw < kw_n; ++kw)
    for (int64_t ow = 0; ow < d.wo; ++ow) {
      const int64_t iw = ow * w.stride[2] + kw * w.dil[2] - w.pad_b[2];
      if (iw >= 0 && iw < w.in[2])
        d.col[static_cast<size_t>(kw * wvec + ow)] = static_cast<int32_t>(iw);
    }
  for (int64_t c = 0; c < channels; ++c)
    for (int64_t kh = 0; kh < kh_n; ++kh) {
      const int64_t a = kh * w.dil[1] - w.pad_b[1], q = floor_div(a, d.sh), r = a - q * d.sh;
      d.phase_used[static_cast<size_t>(r)] = 1;
      for (int64_t kw = 0; kw < kw_n; ++kw)
        d.row_off.push_back((((c * kw_n + kw) * d.sh + r) * d.rows + (q - d.qmin)) * d.wo);
    }
  return d;
}

#if ACIM_HAVE_AVX512
// Rows [i0, i1) of D (see Decimation) for one image's group of `channels` planes at x; only
// the phases read.
__attribute__((target("avx512f"))) void decimate(const float* x, int64_t channels, const Window& w,
                                                 const Decimation& d, int64_t i0, int64_t i1,
                                                 float* dst) {
  const int64_t wo = d.wo, wvec = (wo + 15) / 16 * 16, in_h = w.in[1], in_w = w.in[2];
  const __m512 zero = _mm512_setzero_ps();
  const __m512i none = _mm512_set1_epi32(-1);
  const __mmask16 row_mask = tail_mask16(in_w), row_mask_hi = tail_mask16(in_w - 16);
  for (int64_t c = 0; c < channels; ++c)
    for (int64_t kw = 0; kw < d.kw_n; ++kw)
      for (int64_t r = 0; r < d.sh; ++r) {
        if (!d.phase_used[static_cast<size_t>(r)]) continue;
        float* out = dst + (((c * d.kw_n + kw) * d.sh + r) * d.rows + i0) * wo;
        for (int64_t i = i0; i < i1; ++i, out += wo) {
          const int64_t ih = (d.qmin + i) * d.sh + r;
          const bool row_ok = ih >= 0 && ih < in_h;
          const float* src = x + (c * in_h + (row_ok ? ih : 0)) * in_w;
          for (int64_t o = 0; o < wo; o += 16) {
            const __m512i idx = _mm512_loadu_si512(d.col.data() + kw * wvec + o);
            const __mmask16 ok = row_ok ? _mm512_cmpneq_epi32_mask(idx, none) : __mmask16(0);
            // A row of at most 16 floats is one load and a permute, of at most 32 two loads and
            // a two-table permute, else a gather.
            __m512 v;
            if (in_w <= 16) {
              v = _mm512_maskz_permutexvar_ps(ok, idx, _mm512_maskz_loadu_ps(row_mask, src));
            } else if (in_w <= 32) {
              v = _mm512_maskz_permutex2var_ps(ok, _mm512_maskz_loadu_ps(row_mask, src), idx,
                                               _mm512_maskz_loadu_ps(row_mask_hi, src + 16));
            } else {
              v = _mm512_mask_i32gather_ps(zero, ok, idx, src, 4);
            }
            _mm512_mask_storeu_ps(out + o, tail_mask16(wo - o), v);
          }
        }
      }
}
#endif

// Conv as acim's GEMM (kernels_gemm.hpp): per (image, group, block of output positions, block
// of output channels) an im2col of the block (or the input itself for a pointwise conv) times
// the weights, with bias and activations in the GEMM epilogue. The blocking only decides which
// thread computes an element, never how, so results do not depend on the thread count.
void conv_fast_gemm(const float* xd, const float* wd, const float* bd, float* yd,
                    const ConvGeom& g, bool pointwise, const FusedActs* acts) {
  const Window& w = g.w;
  const int64_t osz = w.out_size(), isz = w.in_size(), ksz = w.k_size();
  const int64_t cg = g.c / g.group, mg = g.m / g.group, kdim = cg * ksz;
  const int64_t threads = omp_get_max_threads();
  // Output positions per block: an im2col block of ~128 KiB, at least 32 columns, and enough
  // blocks to keep every thread busy.
  int64_t nb = std::max<int64_t>(32, (int64_t{32768} / std::max<int64_t>(kdim, 1)) / 32 * 32);
  nb = std::min(nb, (osz + 31) / 32 * 32);
  const int64_t ng = g.n * g.group;
  if (threads > 1 && ng * ((osz + nb - 1) / nb) < 4 * threads) {
    const int64_t want = (4 * threads + ng - 1) / ng;
    nb = std::min(nb, std::max<int64_t>(32, (osz / want + 31) / 32 * 32));
  }
  const int64_t nblk = (osz + nb - 1) / nb;
  // Output channels per block: all, unless there are still too few blocks for the threads.
  int64_t mb = mg;
  if (threads > 1 && ng * nblk < 2 * threads)
    mb = std::max<int64_t>(8, ((mg * ng * nblk + 2 * threads - 1) / (2 * threads) + 7) / 8 * 8);
  const int64_t mblk = (mg + mb - 1) / mb;
  const int64_t items = ng * nblk * mblk;
#if ACIM_HAVE_AVX512
  // Decimated input rows instead of im2col where they fit (decimation_fits).
  const bool decimated = !pointwise && decimation_fits(w);
#else
  const bool decimated = false;
#endif
  // Per thread: the im2col block, or D and the GEMM's row pointers into it. The latter are
  // kept per calling thread for the next call with this geometry (no allocation per call).
  struct DecimationCache {
    std::array<int64_t, 14> key{};
    Decimation plan;
    std::vector<float> buf;
    std::vector<const float*> rows;
  };
  thread_local DecimationCache dc;
  if (decimated) {
    const std::array<int64_t, 14> key{w.in[1],    w.in[2],     w.out[1],    w.out[2], w.k[1],
                                      w.k[2],     w.stride[1], w.stride[2], w.dil[1], w.dil[2],
                                      w.pad_b[1], w.pad_b[2],  cg,          threads};
    if (dc.key != key || dc.rows.empty()) {
      dc.plan = decimation_plan(w, cg);
      dc.buf.resize(static_cast<size_t>(threads * dc.plan.size));
      dc.rows.resize(static_cast<size_t>(threads * kdim));
      for (int64_t t = 0; t < threads; ++t)
        for (int64_t p = 0; p < kdim; ++p)
          dc.rows[static_cast<size_t>(t * kdim + p)] =
              dc.buf.data() + t * dc.plan.size + dc.plan.row_off[static_cast<size_t>(p)];
      dc.key = key;
    }
  }
  // The calling thread's cache, named before the parallel region (where `dc` is each thread's).
  const Decimation& plan = dc.plan;
  float* const dbuf = dc.buf.data();
  const float* const* const drows = dc.rows.data();
  std::unique_ptr<float[]> scratch;
  if (!pointwise && !decimated) scratch.reset(new float[static_cast<size_t>(threads * kdim * nb)]);
  auto run = [&](int64_t t, int64_t first, int64_t last) {
    float* col = pointwise   ? nullptr
                 : decimated ? dbuf + t * plan.size
                             : scratch.get() + t * kdim * nb;
    const float* const* rows = decimated ? drows + t * kdim : nullptr;
    [[maybe_unused]] int64_t held = -1;  // the (image, group) whose D is in col
    for (int64_t it = first; it < last; ++it) {
      const int64_t mi = it % mblk, bi = (it / mblk) % nblk, ngi = it / (mblk * nblk);
      const int64_t n = ngi / g.group, gi = ngi % g.group;
      const int64_t c0 = bi * nb, c1 = std::min(osz, c0 + nb);
      const int64_t m0 = mi * mb, m1 = std::min(mg, m0 + mb);
      const float* xg = xd + (n * g.c + gi * cg) * isz;
      GemmEpilogue e;
      e.row_bias = bd ? bd + gi * mg + m0 : nullptr;
      e.acts = acts;
      float* yg = yd + (n * g.m + gi * mg + m0) * osz + c0;
      const float* wg = wd + (gi * mg + m0) * kdim;
      if (pointwise) {
        fast_gemm(m1 - m0, c1 - c0, kdim, wg, kdim, xg + c0, osz, false, yg, osz, e);
      } else if (decimated) {
#if ACIM_HAVE_AVX512
        if (held != ngi) {
          // Only the rows of D that this thread's items of the image read: with few images,
          // each thread builds about its share of D rather than all of it. The items go along
          // the output in order, so they cover output rows [oh0, oh1) from this item's first
          // to the image's last item here, and read rows [oh0, oh1 + rows - ho) of D.
          const int64_t bl = ((std::min(last, (ngi + 1) * mblk * nblk) - 1) / mblk) % nblk;
          const int64_t oh0 = c0 / w.out[2];
          const int64_t oh1 = (std::min(osz, (bl + 1) * nb) - 1) / w.out[2] + 1;
          decimate(xg, cg, w, plan, oh0, oh1 + plan.rows - w.out[1], col);
          held = ngi;
        }
#endif
        fast_gemm_rows(m1 - m0, c1 - c0, kdim, wg, kdim, rows, c0, yg, osz, e);
      } else {
#if ACIM_HAVE_AVX512
        im2col_avx512(xg, cg, w, c0, c1, col);
#else
        im2col(xg, cg, w, c0, c1, col);
#endif
        fast_gemm(m1 - m0, c1 - c0, kdim, wg, kdim, col, c1 - c0, false, yg, osz, e);
      }
    }
  };
  split_items(items, items > 1 && g.n * g.m * osz * kdim > kParallelMinMacs, run);
}

#if ACIM_HAVE_AVX512
// dst[0, n) = src[0, n) in masked 16-float moves (the rows copied here are short: a libc
// call per row costs more than the copy).
__attribute__((target("avx512f"), always_inline)) inline void copy_floats_avx512(
    const float* src, int64_t n, float* dst) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) _mm512_storeu_ps(dst + i, _mm512_loadu_ps(src + i));
  if (i < n) {
    const __mmask16 m = tail_mask16(n - i);
    _mm512_mask_storeu_ps(dst + i, m, _mm512_maskz_loadu_ps(m, src + i));
  }
}
#endif

// `rows` runs of n floats: dst[r * dst_pitch + i] = src[r * src_pitch + i]. For the AVX-512
// paths only (conv_fast_s1).
#if ACIM_HAVE_AVX512
__attribute__((target("avx512f")))
#endif
void copy_runs(const float* src, int64_t src_pitch, int64_t rows, int64_t n, float* dst,
               int64_t dst_pitch) {
  for (int64_t r = 0; r < rows; ++r)
#if ACIM_HAVE_AVX512
    copy_floats_avx512(src + r * src_pitch, n, dst + r * dst_pitch);
#else
    std::copy(src + r * src_pitch, src + r * src_pitch + n, dst + r * dst_pitch);
#endif
}

// panel[p][jj] = rows[p][grid position of output j0 + jj] for jj < nc (output j is (j / wo,
// j % wo), at grid column (j / wo) * wp + j % wo): output rows are copied as runs.
#if ACIM_HAVE_AVX512
__attribute__((target("avx512f")))
#endif
void pack_grid_panel(const float* const* rows, int64_t kdim, int64_t j0, int64_t nc, int64_t wo,
                     int64_t wp, float* panel) {
  int64_t dst[32], src[32], len[32];  // runs: at most one per output row, nc <= 32
  int64_t runs = 0;
  for (int64_t j = j0; j < j0 + nc;) {
    const int64_t oh = j / wo, ow = j % wo, l = std::min(wo - ow, j0 + nc - j);
    dst[runs] = j - j0;
    src[runs] = oh * wp + ow;
    len[runs++] = l;
    j += l;
  }
  for (int64_t p = 0; p < kdim; ++p) {
    const float* r = rows[p];
    float* out = panel + p * 32;
    for (int64_t i = 0; i < runs; ++i) {
#if ACIM_HAVE_AVX512
      copy_floats_avx512(r + src[i], len[i], out + dst[i]);
#else
      std::copy(r + src[i], r + src[i] + len[i], out + dst[i]);
#endif
    }
  }
}

// Stride-1 2-D conv without im2col: each image's channels are copied into zero-padded planes of
// pitch Wp, and the output is computed on a grid of the same pitch (the columns past the output
// width are computed and dropped), so row (c, kh, kw) of the GEMM's B is the padded plane of c
// shifted by kh*Wp + kw: B is given as row pointers, nothing is copied per tap. Output rows a
// whole number of 32-column panels wide (ResNet's 32 x 32 planes) are computed row by row
// straight into the output instead: no dropped columns, no copy of the grid.
void conv_fast_s1(const float* xd, const float* wd, const float* bd, float* yd, const ConvGeom& g,
                  const FusedActs* acts) {
  const Window& w = g.w;
  const int64_t h = w.in[1], wi = w.in[2];
  const int64_t hp = h + w.pad_b[1] + w.pad_e[1], wp = wi + w.pad_b[2] + w.pad_e[2];
  const int64_t ho = w.out[1], wo = w.out[2], osz = ho * wo, isz = h * wi;
  const int64_t cg = g.c / g.group, mg = g.m / g.group, khw = w.k[1] * w.k[2], kdim = cg * khw;
  const int64_t plane = hp * wp, xpad_size = cg * plane + 64;
  const int64_t ngrid = (ho - 1) * wp + wo;  // grid columns up to the last output
  const int64_t threads = omp_get_max_threads(), ng = g.n * g.group;
  const bool per_item = threads == 1 || ng >= 2 * threads;
  // Where the grid is much wider than the output (a 3x15 kernel on 17 columns: a pitch of 31),
  // it would waste much of the GEMM: there each 32 output positions' taps are packed from the
  // padded plane into a [kdim, 32] panel and the GEMM writes the output directly.
  const int64_t grid_cols = (ngrid + 31) / 32 * 32, out_cols = (osz + 31) / 32 * 32;
  const bool rowwise = wo % 32 == 0;
  const bool packed = !rowwise && grid_cols * 4 > out_cols * 5;
  const int64_t row_panels = wo / 32;  // when rowwise
  const int64_t ygrid_size = rowwise ? 0 : packed ? kdim * 32 : mg * ngrid;
  // The padded planes' borders (and the slack past them) are zeroed once (setup); pad() writes
  // input rows [ih0, ih1) of every channel of the image group at xg into the interiors.
  auto pad = [&](const float* xg, float* xpad, int64_t ih0, int64_t ih1) {
    for (int64_t c = 0; c < cg; ++c) {
      float* pc = xpad + c * plane + (w.pad_b[1] + ih0) * wp + w.pad_b[2];
      copy_runs(xg + c * isz + ih0 * wi, wi, ih1 - ih0, wi, pc, wp);
    }
  };
  auto rows_for = [&](const float* xpad, const float** rows) {
    int64_t r = 0;
    for (int64_t c = 0; c < cg; ++c)
      for (int64_t kh = 0; kh < w.k[1]; ++kh)
        for (int64_t kw = 0; kw < w.k[2]; ++kw)
          rows[r++] = xpad + c * plane + kh * w.dil[1] * wp + kw * w.dil[2];
  };
  auto copy_out = [&](const float* ygrid, float* yg, int64_t m) {
    copy_runs(ygrid + m * ngrid, wp, ho, wo, yg + m * osz, wo);
  };
  const int64_t bufs = threads;
  // The scratch (per thread: padded planes, then the output grid or panel) and the row pointers
  // are kept per calling thread for the next call: the convs of a network that share this
  // geometry reuse them with their zero borders as they are (no allocation, no page faults, no
  // zeroing); another geometry sets them up again. Each thread's buffer is set up by that
  // thread, on its first item (ready).
  struct Scratch {
    std::array<int64_t, 14> key{};
    std::unique_ptr<float[]> buf;
    size_t size = 0;
    std::vector<const float*> rows;
    std::vector<char> ready;
  };
  thread_local Scratch cache;
  const std::array<int64_t, 14> key{hp, wp, h, wi, w.pad_b[1], w.pad_b[2], cg, w.k[1], w.k[2],
                                    w.dil[1], w.dil[2], xpad_size, ygrid_size, bufs};
  if (!cache.buf || cache.key != key) {
    const size_t size = static_cast<size_t>(bufs * (xpad_size + ygrid_size));
    if (cache.size < size) {
      cache.buf.reset(new float[size]);
      cache.size = size;
    }
    cache.rows.assign(static_cast<size_t>(bufs * kdim), nullptr);
    cache.ready.assign(static_cast<size_t>(bufs), 0);
    cache.key = key;
  }
  float* const scratch = cache.buf.get();
  const float** const rows_all = cache.rows.data();
  char* const ready = cache.ready.data();
  auto setup = [&](int64_t t) {
    if (ready[t]) return;
    float* xpad = scratch + t * (xpad_size + ygrid_size);
    std::fill(xpad, xpad + xpad_size, 0.0f);
    rows_for(xpad, rows_all + t * kdim);
    ready[t] = 1;
  };
  if (per_item) {
    auto run = [&](int64_t t, int64_t first, int64_t last) {
      for (int64_t it = first; it < last; ++it) {
        setup(t);
        float* xpad = scratch + t * (xpad_size + ygrid_size);
        float* ygrid = xpad + xpad_size;
        const float** rows = rows_all + t * kdim;
        const int64_t n = it / g.group, gi = it % g.group;
        const float* xg = xd + (n * g.c + gi * cg) * isz;
        pad(xg, xpad, 0, h);
        GemmEpilogue e;
        e.row_bias = bd ? bd + gi * mg : nullptr;
        e.acts = acts;
        float* yg = yd + (n * g.m + gi * mg) * osz;
        if (rowwise) {
          for (int64_t oh = 0; oh < ho; ++oh)
            fast_gemm_rows(mg, wo, kdim, wd + gi * mg * kdim, kdim, rows, oh * wp, yg + oh * wo,
                           osz, e);
          continue;
        }
        if (packed) {
          for (int64_t j0 = 0; j0 < osz; j0 += 32) {
            const int64_t nc = std::min<int64_t>(32, osz - j0);
            pack_grid_panel(rows, kdim, j0, nc, wo, wp, ygrid);
            fast_gemm(mg, nc, kdim, wd + gi * mg * kdim, kdim, ygrid, 32, false, yg + j0, osz, e);
          }
          continue;
        }
        fast_gemm_rows(mg, ngrid, kdim, wd + gi * mg * kdim, kdim, rows, 0, ygrid, ngrid, e);
        for (int64_t m = 0; m < mg; ++m) copy_out(ygrid, yg, m);
      }
    };
    split_items(ng, ng > 1, run);
    return;
  }
  // Few images: the GEMM of each split into blocks of one 32-column panel (of the grid, or of
  // the outputs when packed or rowwise) and all rows, or half the rows when there are too few
  // panels to share out evenly. All blocks of all images run in one parallel loop without
  // barriers: each thread pads the input rows its blocks of an image read into its own buffer
  // (the rest of the buffer's interior is stale and read only for the grid's dropped columns)
  // and writes its blocks' outputs itself.
  const int64_t panels = rowwise ? ho * row_panels : (packed ? osz + 31 : ngrid + 31) / 32;
  const int64_t mb =
      panels >= 8 * threads ? mg : std::max<int64_t>(8, (mg / 2 + 7) / 8 * 8);
  const int64_t mblk = (mg + mb - 1) / mb, per_img = panels * mblk;
  auto run = [&](int64_t t, int64_t first, int64_t last) {
    setup(t);
    float* xpad = scratch + t * (xpad_size + ygrid_size);
    float* ygrid = xpad + xpad_size;  // the packed panel when packed
    const float** rows = rows_all + t * kdim;
    int64_t padded = -1;  // the image and group now in xpad
    for (int64_t b = first; b < last; ++b) {
      const int64_t it = b / per_img, bb = b % per_img;
      const int64_t n = it / g.group, gi = it % g.group;
      const int64_t j0 = (bb / mblk) * 32, m0 = (bb % mblk) * mb;
      if (padded != it) {
        // The blocks go along the output in order: this thread's blocks of the image, from
        // this one to the image's last one here, cover output rows [y0, y1) and read input
        // rows [y0, y1 + reach) - pad_b, copied at once.
        const int64_t jl = ((std::min(last, (it + 1) * per_img) - 1) % per_img / mblk) * 32;
        const int64_t y0 = rowwise ? j0 / 32 / row_panels : packed ? j0 / wo : j0 / wp;
        const int64_t y1 = rowwise  ? jl / 32 / row_panels + 1
                           : packed ? (std::min(osz, jl + 32) - 1) / wo + 1
                                    : (std::min(ngrid, jl + 32) - 1) / wp + 1;
        const int64_t lo = std::clamp<int64_t>(y0 - w.pad_b[1], 0, h);
        const int64_t hi = std::clamp<int64_t>(y1 + (w.k[1] - 1) * w.dil[1] - w.pad_b[1], lo, h);
        pad(xd + (n * g.c + gi * cg) * isz, xpad, lo, hi);
        padded = it;
      }
      const int64_t mi = std::min(mb, mg - m0);
      GemmEpilogue e;
      e.row_bias = bd ? bd + gi * mg + m0 : nullptr;
      e.acts = acts;
      float* yg = yd + (n * g.m + gi * mg) * osz;
      const float* wg = wd + (gi * mg + m0) * kdim;
      if (rowwise) {  // panel j0 / 32: output row oh, columns [ow, ow + 32)
        const int64_t oh = j0 / 32 / row_panels, ow = j0 / 32 % row_panels * 32;
        fast_gemm_rows(mi, 32, kdim, wg, kdim, rows, oh * wp + ow, yg + m0 * osz + oh * wo + ow,
                       osz, e);
        continue;
      }
      if (packed) {
        const int64_t nc = std::min<int64_t>(32, osz - j0);
        pack_grid_panel(rows, kdim, j0, nc, wo, wp, ygrid);
        fast_gemm(mi, nc, kdim, wg, kdim, ygrid, 32, false, yg + m0 * osz + j0, osz, e);
        continue;
      }
      const int64_t nj = std::min<int64_t>(32, ngrid - j0);
      fast_gemm_rows(mi, nj, kdim, wg, kdim, rows, j0, ygrid + m0 * ngrid + j0, ngrid, e);
      // Grid columns [j0, j0 + nj) of output rows y: the parts of [y * wp, y * wp + wo).
      for (int64_t y = j0 / wp; y <= (j0 + nj - 1) / wp && y < ho; ++y) {
        const int64_t a = std::max(j0, y * wp), z = std::min(j0 + nj, y * wp + wo);
        if (a < z)
          copy_runs(ygrid + m0 * ngrid + a, ngrid, mi, z - a,
                    yg + m0 * osz + y * wo + (a - y * wp), osz);
      }
    }
  };
  split_items(ng * per_img, true, run);
}

constexpr int64_t kDepthwiseSlack = 32;  // floats of depthwise scratch past the padded plane

// One (image, channel) plane of conv_depthwise_s1. Always inlined, so the AVX-512 copy below
// vectorises it 16 wide.
__attribute__((always_inline)) inline void depthwise_s1_plane(
    const float* xp, const float* wk, float b, float* yp, const Window& w, float* xpad,
    float* ygrid, const FusedActs* acts) {
  const int64_t osz = w.out_size();
  const int64_t hp = w.in[1] + w.pad_b[1] + w.pad_e[1], wp = w.in[2] + w.pad_b[2] + w.pad_e[2];
  const int64_t dp = w.in[0] + w.pad_b[0] + w.pad_e[0];
  const int64_t grid = (w.out[1] - 1) * wp + w.out[2];  // one output plane at pitch wp
  for (int64_t i = 0; i < dp * hp * wp; ++i) xpad[i] = 0.0f;
  for (int64_t d = 0; d < w.in[0]; ++d)
    for (int64_t h = 0; h < w.in[1]; ++h) {
      const float* src = xp + (d * w.in[1] + h) * w.in[2];
      float* dst = xpad + ((d + w.pad_b[0]) * hp + h + w.pad_b[1]) * wp + w.pad_b[2];
      for (int64_t i = 0; i < w.in[2]; ++i) dst[i] = src[i];
    }
  for (int64_t od = 0; od < w.out[0]; ++od) {
    for (int64_t i = 0; i < grid; ++i) ygrid[i] = b;
    for (int64_t kd = 0; kd < w.k[0]; ++kd) {
      const float* xplane = xpad + (od + kd * w.dil[0]) * hp * wp;
      for (int64_t kh = 0; kh < w.k[1]; ++kh)
        for (int64_t kw = 0; kw < w.k[2]; ++kw) {
          const float wv = wk[(kd * w.k[1] + kh) * w.k[2] + kw];
          const float* xs = xplane + kh * w.dil[1] * wp + kw * w.dil[2];
          for (int64_t i = 0; i < grid; ++i) ygrid[i] += wv * xs[i];
        }
    }
    for (int64_t oh = 0; oh < w.out[1]; ++oh) {
      float* dst = yp + (od * w.out[1] + oh) * w.out[2];
      for (int64_t i = 0; i < w.out[2]; ++i) dst[i] = ygrid[oh * wp + i];
    }
  }
  if (acts) apply_acts(*acts, yp, osz);
}

#if ACIM_HAVE_AVX512
// depthwise_s1_plane with the output grid held in registers: blocks of 128 grid points (8
// vectors) take every tap in turn as one multiply-add from the padded plane, so the grid is
// stored once instead of once per tap. Each point is the bias plus the taps in the same order
// as above, as fused multiply-adds.
constexpr int64_t kMaxRegTaps = 64;

inline __mmask16 tail_mask(int64_t left) {
  return left >= 16 ? __mmask16(0xFFFF) : left > 0 ? __mmask16((1u << left) - 1u) : __mmask16(0);
}

// NV vectors of grid points (the last one stored masked by `last`): bias, then every tap. The
// loads are whole vectors (masked loads make GCC 12 keep the accumulators on the stack): the
// last one may read up to 15 floats past the padded plane, into the rest of the scratch, and
// those lanes are dropped.
template <int NV>
__attribute__((target("avx512f"))) inline void depthwise_block(
    const float* xs, const int64_t* off, const float* wk, int64_t ntap, float b, __mmask16 last,
    float* out, bool clamp, float lo, float hi) {
  const __m512 vlo = _mm512_set1_ps(lo), vhi = _mm512_set1_ps(hi);
  __m512 acc[NV];
#pragma GCC unroll 8
  for (int v = 0; v < NV; ++v) acc[v] = _mm512_set1_ps(b);
  for (int64_t t = 0; t < ntap; ++t) {
    const __m512 wv = _mm512_set1_ps(wk[t]);
    const float* src = xs + off[t];
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v)
      acc[v] = _mm512_fmadd_ps(wv, _mm512_loadu_ps(src + 16 * v), acc[v]);
  }
  const __mmask16 all = 0xFFFF;  // maskz forms: GCC 12 warns on the plain min/max
#pragma GCC unroll 8
  for (int v = 0; v < NV; ++v) {
    __m512 r = acc[v];
    if (clamp) r = _mm512_maskz_min_ps(all, vhi, _mm512_maskz_max_ps(all, vlo, r));  // np.clip
    _mm512_mask_storeu_ps(out + 16 * v, v == NV - 1 ? last : all, r);
  }
}

// The clamp bounds are passed as floats, never as __m512: a caller compiled without AVX-512 (a
// lambda inside a target("avx512f") function does not inherit the target, and is not always
// inlined) passes __m512 arguments in memory while these callees read them from zmm registers.
using DepthwiseBlockFn = void (*)(const float*, const int64_t*, const float*, int64_t, float,
                                  __mmask16, float*, bool, float, float);
constexpr DepthwiseBlockFn kDepthwiseBlocks[9] = {
    nullptr,            depthwise_block<1>, depthwise_block<2>, depthwise_block<3>,
    depthwise_block<4>, depthwise_block<5>, depthwise_block<6>, depthwise_block<7>,
    depthwise_block<8>};

__attribute__((target("avx512f"))) void depthwise_s1_plane_avx512(
    const float* xp, const float* wk, float b, float* yp, const Window& w, float* xpad,
    float* ygrid, const FusedActs* acts) {
  if (w.k_size() > kMaxRegTaps) {
    depthwise_s1_plane(xp, wk, b, yp, w, xpad, ygrid, acts);
    return;
  }
  const int64_t in_d = w.in[0], in_h = w.in[1], in_w = w.in[2];
  const int64_t out_d = w.out[0], out_h = w.out[1], out_w = w.out[2];
  const int64_t hp = in_h + w.pad_b[1] + w.pad_e[1], wp = in_w + w.pad_b[2] + w.pad_e[2];
  const int64_t dp = in_d + w.pad_b[0] + w.pad_e[0], plane = hp * wp;
  const int64_t grid = (out_h - 1) * wp + out_w;  // one output plane at pitch wp
  // The zero-padded input. The scratch has kDepthwiseSlack floats past the padded plane, so
  // stores are whole vectors: each input row is stored with zeros after it, which fall on the
  // padding or on the next row's values, written after it.
  const int64_t total = dp * plane;
  for (int64_t i = 0; i < total; i += 16) _mm512_storeu_ps(xpad + i, _mm512_setzero_ps());
  float* base = xpad + w.pad_b[0] * plane + w.pad_b[1] * wp + w.pad_b[2];
  const __mmask16 row_tail = tail_mask(in_w % 16 == 0 ? 16 : in_w % 16);
  for (int64_t d = 0; d < in_d; ++d)
    for (int64_t h = 0; h < in_h; ++h) {
      const float* src = xp + (d * in_h + h) * in_w;
      float* dst = base + d * plane + h * wp;
      int64_t i = 0;
      for (; i + 16 < in_w; i += 16) _mm512_storeu_ps(dst + i, _mm512_loadu_ps(src + i));
      _mm512_storeu_ps(dst + i, _mm512_maskz_loadu_ps(row_tail, src + i));
    }
  int64_t off[kMaxRegTaps];
  int64_t ntap = 0;
  for (int64_t kd = 0; kd < w.k[0]; ++kd)
    for (int64_t kh = 0; kh < w.k[1]; ++kh)
      for (int64_t kw = 0; kw < w.k[2]; ++kw)
        off[ntap++] = kd * w.dil[0] * plane + kh * w.dil[1] * wp + kw * w.dil[2];
  const bool clamp = acts && acts->single_clamp();
  const float vlo = clamp ? acts->steps[0].a : 0.0f, vhi = clamp ? acts->steps[0].b : 0.0f;
  for (int64_t od = 0; od < out_d; ++od) {
    const float* xs0 = xpad + od * plane;
    for (int64_t g0 = 0; g0 < grid; g0 += 128) {
      const int64_t left = std::min<int64_t>(128, grid - g0);
      const int64_t nv = (left + 15) / 16;
      kDepthwiseBlocks[nv](xs0 + g0, off, wk, ntap, b, tail_mask(left - 16 * (nv - 1)),
                           ygrid + g0, clamp, vlo, vhi);
    }
    for (int64_t oh = 0; oh < out_h; ++oh) {
      float* dst = yp + (od * out_h + oh) * out_w;
      const float* src = ygrid + oh * wp;
      for (int64_t i = 0; i < out_w; i += 16) {
        const __mmask16 m = tail_mask(out_w - i);
        _mm512_mask_storeu_ps(dst + i, m, _mm512_maskz_loadu_ps(m, src + i));
      }
    }
  }
  if (acts && !clamp) apply_acts(*acts, yp, w.out_size());
}
#endif

#if ACIM_HAVE_AVX512
// Depthwise 2-D, strides 1, output as wide as the input (a "same" width padding): output point
// f = oh*W + ow reads, for tap (kh, kw), the input at f + shift(kh, kw) in the unpadded plane,
// so every tap is one shifted whole-vector load per 16 outputs with the lanes that fall in the
// padding masked off (masks[t * nvec + v], computed once per call). No padded copy, no output
// grid. Each output is the bias plus its in-range taps in order, as fused multiply-adds.
struct DepthwiseDirect {
  int64_t osz = 0, nvec = 0, ntap = 0;
  std::vector<int64_t> shift;     // per tap
  std::vector<__mmask16> masks;   // per tap and vector of 16 outputs
  int64_t before = 0;  // the most floats read before a plane's start
  int64_t end = 0;     // one past the furthest float read, from a plane's start
};

DepthwiseDirect depthwise_direct_plan(const Window& w) {
  DepthwiseDirect d;
  const int64_t in_h = w.in[1], in_w = w.in[2], out_h = w.out[1], out_w = w.out[2];
  d.osz = out_h * out_w;
  d.nvec = (d.osz + 15) / 16;
  d.ntap = w.k[1] * w.k[2];
  d.masks.assign(static_cast<size_t>(d.ntap * d.nvec), 0);
  for (int64_t kh = 0; kh < w.k[1]; ++kh)
    for (int64_t kw = 0; kw < w.k[2]; ++kw) {
      const int64_t t = kh * w.k[2] + kw;
      const int64_t dh = kh * w.dil[1] - w.pad_b[1], dw = kw * w.dil[2] - w.pad_b[2];
      d.shift.push_back(dh * in_w + dw);
      d.before = std::max(d.before, -(dh * in_w + dw));
      d.end = std::max(d.end, dh * in_w + dw + 16 * d.nvec);
      // Bit f % 16 of mask f / 16: output point f = (oh, ow) reads inside the plane.
      uint32_t bits = 0;
      int64_t oh = 0, ow = 0;
      for (int64_t f = 0; f < 16 * d.nvec; ++f) {
        const bool in = f < d.osz && oh + dh >= 0 && oh + dh < in_h && ow + dw >= 0 &&
                        ow + dw < in_w;
        bits |= static_cast<uint32_t>(in) << (f % 16);
        if (f % 16 == 15) {
          d.masks[static_cast<size_t>(t * d.nvec + f / 16)] = static_cast<__mmask16>(bits);
          bits = 0;
        }
        if (++ow == out_w) {
          ow = 0;
          ++oh;
        }
      }
    }
  return d;
}

template <int NV>
__attribute__((target("avx512f"))) inline void depthwise_direct_block(
    const float* xs, const DepthwiseDirect& d, int64_t v0, const float* wk, float b,
    __mmask16 last, float* out, bool clamp, float lo, float hi) {
  const __m512 vlo = _mm512_set1_ps(lo), vhi = _mm512_set1_ps(hi);
  __m512 acc[NV];
#pragma GCC unroll 8
  for (int v = 0; v < NV; ++v) acc[v] = _mm512_set1_ps(b);
  for (int64_t t = 0; t < d.ntap; ++t) {
    const __m512 wv = _mm512_set1_ps(wk[t]);
    const float* src = xs + d.shift[static_cast<size_t>(t)];
    const __mmask16* mk = d.masks.data() + t * d.nvec + v0;
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v)  // whole loads (see depthwise_block); padding lanes keep acc
      acc[v] = _mm512_mask3_fmadd_ps(wv, _mm512_loadu_ps(src + 16 * v), acc[v], mk[v]);
  }
  const __mmask16 all = 0xFFFF;
#pragma GCC unroll 8
  for (int v = 0; v < NV; ++v) {
    __m512 r = acc[v];
    if (clamp) r = _mm512_maskz_min_ps(all, vhi, _mm512_maskz_max_ps(all, vlo, r));  // np.clip
    _mm512_mask_storeu_ps(out + 16 * v, v == NV - 1 ? last : all, r);
  }
}

using DirectBlockFn = void (*)(const float*, const DepthwiseDirect&, int64_t, const float*, float,
                               __mmask16, float*, bool, float, float);
constexpr DirectBlockFn kDirectBlocks[9] = {
    nullptr,
    depthwise_direct_block<1>,
    depthwise_direct_block<2>,
    depthwise_direct_block<3>,
    depthwise_direct_block<4>,
    depthwise_direct_block<5>,
    depthwise_direct_block<6>,
    depthwise_direct_block<7>,
    depthwise_direct_block<8>};

// depthwise_direct_block for two planes at once (x1 - x0 floats apart, the same distance
// between their outputs' planes is y1 - y0): each tap's masks are loaded once for both. Every
// output is the same chain of multiply-adds as in depthwise_direct_block.
template <int NV>
__attribute__((target("avx512f"))) inline void depthwise_direct_block2(
    const float* x0, int64_t xstep, const DepthwiseDirect& d, int64_t v0, const float* wk0,
    const float* wk1, float b0, float b1, __mmask16 last, float* y0, int64_t ystep, bool clamp,
    float lo, float hi) {
  const __m512 vlo = _mm512_set1_ps(lo), vhi = _mm512_set1_ps(hi);
  __m512 acc0[NV], acc1[NV];
#pragma GCC unroll 8
  for (int v = 0; v < NV; ++v) {
    acc0[v] = _mm512_set1_ps(b0);
    acc1[v] = _mm512_set1_ps(b1);
  }
  for (int64_t t = 0; t < d.ntap; ++t) {
    const __m512 w0 = _mm512_set1_ps(wk0[t]), w1 = _mm512_set1_ps(wk1[t]);
    const float* src = x0 + d.shift[static_cast<size_t>(t)];
    const __mmask16* mk = d.masks.data() + t * d.nvec + v0;
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) {
      const __mmask16 m = mk[v];
      acc0[v] = _mm512_mask3_fmadd_ps(w0, _mm512_loadu_ps(src + 16 * v), acc0[v], m);
      acc1[v] = _mm512_mask3_fmadd_ps(w1, _mm512_loadu_ps(src + xstep + 16 * v), acc1[v], m);
    }
  }
  const __mmask16 all = 0xFFFF;
#pragma GCC unroll 8
  for (int v = 0; v < NV; ++v) {
    __m512 r0 = acc0[v], r1 = acc1[v];
    if (clamp) {
      r0 = _mm512_maskz_min_ps(all, vhi, _mm512_maskz_max_ps(all, vlo, r0));
      r1 = _mm512_maskz_min_ps(all, vhi, _mm512_maskz_max_ps(all, vlo, r1));
    }
    _mm512_mask_storeu_ps(y0 + 16 * v, v == NV - 1 ? last : all, r0);
    _mm512_mask_storeu_ps(y0 + ystep + 16 * v, v == NV - 1 ? last : all, r1);
  }
}

using DirectBlock2Fn = void (*)(const float*, int64_t, const DepthwiseDirect&, int64_t,
                                const float*, const float*, float, float, __mmask16, float*,
                                int64_t, bool, float, float);
constexpr DirectBlock2Fn kDirectBlocks2[9] = {
    nullptr,
    depthwise_direct_block2<1>,
    depthwise_direct_block2<2>,
    depthwise_direct_block2<3>,
    depthwise_direct_block2<4>,
    depthwise_direct_block2<5>,
    depthwise_direct_block2<6>,
    depthwise_direct_block2<7>,
    depthwise_direct_block2<8>};

// All n*c planes. The loads reach from d.before floats before a plane's start to d.end after
// it: a plane for which that leaves the tensor (the first and last) is first copied into
// `edge` (per thread, d.before + max(d.end, plane size) floats).
__attribute__((target("avx512f"))) void conv_depthwise_direct(
    const float* x, const float* wt, const float* bias, float* y, int64_t n, int64_t c,
    const Window& w, const DepthwiseDirect& d, float* edge, int64_t edge_per_thread,
    const FusedActs* acts) {
  const int64_t osz = d.osz, ksz = d.ntap, isz = w.in_size(), total = n * c * isz;
  const bool clamp = acts && acts->single_clamp();
  const float vlo = clamp ? acts->steps[0].a : 0.0f, vhi = clamp ? acts->steps[0].b : 0.0f;
#pragma omp parallel if (n * c > 1 && n * c * osz * ksz > kParallelMinMacs / 4 && \
                            omp_get_max_threads() > 1)
  {
    float* ebuf = edge + omp_get_thread_num() * edge_per_thread;
    auto edge_plane = [&](int64_t nc) { return nc * isz < d.before || nc * isz + d.end > total; };
    auto one_plane = [&](int64_t nc) {
      const float* xp = x + nc * isz;
      if (edge_plane(nc)) {
        std::fill(ebuf, ebuf + edge_per_thread, 0.0f);
        std::copy(xp, xp + isz, ebuf + d.before);
        xp = ebuf + d.before;
      }
      const float* wk = wt + (nc % c) * ksz;
      const float b = bias ? bias[nc % c] : 0.0f;
      float* yp = y + nc * osz;
      for (int64_t v0 = 0; v0 < d.nvec; v0 += 8) {
        const int64_t nv = std::min<int64_t>(8, d.nvec - v0);
        const int64_t left = osz - 16 * (v0 + nv - 1);
        kDirectBlocks[nv](xp + 16 * v0, d, v0, wk, b, tail_mask(left), yp + 16 * v0, clamp,
                          vlo, vhi);
      }
      if (acts && !clamp) apply_acts(*acts, yp, osz);
    };
    // Planes in pairs (2i, 2i + 1), which share the masks' loads; an edge plane and an odd last
    // plane run alone.
    const int64_t planes = n * c, pairs = (planes + 1) / 2;
#pragma omp for schedule(static)
    for (int64_t pi = 0; pi < pairs; ++pi) {
      const int64_t p0 = 2 * pi, p1 = p0 + 1;
      if (p1 >= planes || edge_plane(p0) || edge_plane(p1)) {
        one_plane(p0);
        if (p1 < planes) one_plane(p1);
        continue;
      }
      const float* wk0 = wt + (p0 % c) * ksz;
      const float* wk1 = wt + (p1 % c) * ksz;
      const float b0 = bias ? bias[p0 % c] : 0.0f, b1 = bias ? bias[p1 % c] : 0.0f;
      const float* xp = x + p0 * isz;
      float* yp = y + p0 * osz;
      for (int64_t v0 = 0; v0 < d.nvec; v0 += 8) {
        const int64_t nv = std::min<int64_t>(8, d.nvec - v0);
        const int64_t left = osz - 16 * (v0 + nv - 1);
        kDirectBlocks2[nv](xp + 16 * v0, isz, d, v0, wk0, wk1, b0, b1, tail_mask(left),
                           yp + 16 * v0, osz, clamp, vlo, vhi);
      }
      if (acts && !clamp) {
        apply_acts(*acts, yp, osz);
        apply_acts(*acts, yp + osz, osz);
      }
    }
  }
}
#endif

// The depthwise weights W [c, 1, kh, kw] (ntap = kh*kw) and bias (nullptr: zeros) laid out
// for conv_depthwise_interleaved: per block of 16 channels and tap the 16 channels' weights,
// then per block the 16 biases (zeros past channel c).
void interleave_depthwise_weights(const float* wt, const float* bias, int64_t c, int64_t ntap,
                                  std::vector<float>& out) {
  const int64_t nblk = (c + 15) / 16;
  out.assign(static_cast<size_t>(nblk * (ntap + 1) * 16), 0.0f);
  float* const bv = out.data() + nblk * ntap * 16;
  for (int64_t ch = 0; ch < c; ++ch) {
    for (int64_t t = 0; t < ntap; ++t)
      out[static_cast<size_t>(((ch / 16) * ntap + t) * 16 + ch % 16)] = wt[ch * ntap + t];
    if (bias) bv[ch] = bias[ch];
  }
}

#if ACIM_HAVE_AVX512
// Depthwise 2-D, strides 1, on small planes with 16 channels or more: the channels are
// interleaved 16 at a time (a zero-padded [Hp][Wp][16] plane block per thread, one 16x16
// transpose per 16 pixels), so one vector holds 16 channels of one pixel and every tap of every
// output is one aligned load and one multiply-add, with no masks and no lanes wasted on narrow
// rows (DS-CNN's 25 x 5 planes fill a third of a vector per row). The outputs of 16 pixels are
// transposed back and stored to their 16 planes. Each output is the bias plus all its taps in
// order as fused multiply-adds (a tap in the padding adds w * 0).
constexpr int64_t kInterleavedMaxPlane = 1024;  // padded pixels: a 64 KiB block

// In place: r[i] lane j becomes r[j] lane i.
__attribute__((target("avx512f"), always_inline)) inline void transpose16x16(__m512* r) {
  __m512 t[16];
  for (int i = 0; i < 16; i += 2) {
    t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
  }
  for (int i = 0; i < 16; i += 4) {
    r[i] = _mm512_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(1, 0, 1, 0));
    r[i + 1] = _mm512_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(3, 2, 3, 2));
    r[i + 2] = _mm512_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(1, 0, 1, 0));
    r[i + 3] = _mm512_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(3, 2, 3, 2));
  }
  for (int i : {0, 1, 2, 3, 8, 9, 10, 11}) {
    t[i] = _mm512_shuffle_f32x4(r[i], r[i + 4], 0x88);
    t[i + 4] = _mm512_shuffle_f32x4(r[i], r[i + 4], 0xdd);
  }
  for (int i = 0; i < 8; ++i) {
    r[i] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0x88);
    r[i + 8] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0xdd);
  }
}

// 16 output pixels (padded-plane offsets pix[j], in floats) of one 16-channel block: bias, then
// every tap (offsets toff, weights wv[t] per channel lane). NT > 0: NT taps, weights held in
// registers; 0: ntap taps.
template <int NT>
__attribute__((target("avx512f"), always_inline)) inline void interleaved_pixels(
    const float* pad, const int32_t* pix, const int64_t* toff, const float* wv, int64_t ntap,
    __m512 bias, __m512* acc) {
  if constexpr (NT > 0) {
    __m512 w[NT];
    for (int t = 0; t < NT; ++t) w[t] = _mm512_loadu_ps(wv + 16 * t);
#pragma GCC unroll 16
    for (int j = 0; j < 16; ++j) {
      const float* p = pad + pix[j];
      __m512 a = bias;
#pragma GCC unroll 16
      for (int t = 0; t < NT; ++t) a = _mm512_fmadd_ps(w[t], _mm512_load_ps(p + toff[t]), a);
      acc[j] = a;
    }
  } else {
    for (int j = 0; j < 16; ++j) {
      const float* p = pad + pix[j];
      __m512 a = bias;
      for (int64_t t = 0; t < ntap; ++t)
        a = _mm512_fmadd_ps(_mm512_loadu_ps(wv + 16 * t), _mm512_load_ps(p + toff[t]), a);
      acc[j] = a;
    }
  }
}

// All n images' channels, in work items of (image, 16-channel block).
// `packed`: the weights and biases laid out by interleave_depthwise_weights.
template <int NT>
__attribute__((target("avx512f"))) void conv_depthwise_interleaved(const float* x,
                                                                   const float* packed, float* y,
                                                                   int64_t n, int64_t c,
                                                                   const Window& w,
                                                                   const FusedActs* acts) {
  const int64_t in_h = w.in[1], in_w = w.in[2], out_h = w.out[1], out_w = w.out[2];
  const int64_t wp = in_w + w.pad_b[2] + w.pad_e[2], hp = in_h + w.pad_b[1] + w.pad_e[1];
  const int64_t isz = in_h * in_w, osz = out_h * out_w, ntap = w.k[1] * w.k[2];
  const int64_t nblk = (c + 15) / 16, items = n * nblk, threads = omp_get_max_threads();
  const bool clamp = acts && acts->single_clamp();
  const float vlo = clamp ? acts->steps[0].a : 0.0f, vhi = clamp ? acts->steps[0].b : 0.0f;
  // Kept per calling thread for the next call with this geometry (a network's depthwise layers
  // often share it): the padded plane blocks with their zero borders, set up by each thread
  // on its first item (ready), and the padded-plane offsets (floats) of every input pixel,
  // output pixel and tap.
  struct Scratch {
    std::array<int64_t, 11> key{};
    std::unique_ptr<float[]> buf;
    float* planes = nullptr;  // 64-byte aligned, hp * wp * 16 floats per thread
    std::vector<char> ready;
    std::vector<int32_t> in_pix, out_pix;
    std::vector<int64_t> toff;
  };
  thread_local Scratch cache;
  const std::array<int64_t, 11> key{in_h,     in_w,     out_h,  out_w,  w.pad_b[1], w.pad_b[2],
                                    w.dil[1], w.dil[2], w.k[1], w.k[2], threads};
  const int64_t plane = hp * wp * 16;
  if (!cache.buf || cache.key != key) {
    cache.buf.reset(new float[static_cast<size_t>(threads * plane + 16)]);
    float* p = cache.buf.get();
    cache.planes = p + (16 - reinterpret_cast<uintptr_t>(p) / sizeof(float) % 16) % 16;
    cache.ready.assign(static_cast<size_t>(threads), 0);
    cache.in_pix.resize(static_cast<size_t>(isz));
    for (int64_t q = 0; q < isz; ++q)
      cache.in_pix[static_cast<size_t>(q)] =
          static_cast<int32_t>(((q / in_w + w.pad_b[1]) * wp + q % in_w + w.pad_b[2]) * 16);
    // Past the last output: the last one again (computed and not stored).
    cache.out_pix.resize(static_cast<size_t>(osz + 15));
    for (int64_t f = 0; f < osz + 15; ++f) {
      const int64_t q = std::min(f, osz - 1);
      cache.out_pix[static_cast<size_t>(f)] =
          static_cast<int32_t>(((q / out_w) * wp + q % out_w) * 16);
    }
    cache.toff.clear();
    for (int64_t kh = 0; kh < w.k[1]; ++kh)
      for (int64_t kw = 0; kw < w.k[2]; ++kw)
        cache.toff.push_back((kh * w.dil[1] * wp + kw * w.dil[2]) * 16);
    cache.key = key;
  }
  const float* const wv = packed;
  const float* const bv = packed + nblk * ntap * 16;
  float* const planes = cache.planes;
  char* const ready = cache.ready.data();
  const int32_t* const in_pix = cache.in_pix.data();
  const int32_t* const out_pix = cache.out_pix.data();
  const int64_t* const toff = cache.toff.data();
#pragma omp parallel if (items > 1 && n * c * osz * ntap > kParallelMinMacs / 4 && threads > 1)
  {
    const int64_t t = omp_get_thread_num();
    float* pad = planes + t * plane;
    if (!ready[t]) {
      std::fill(pad, pad + plane, 0.0f);  // the borders stay zero
      ready[t] = 1;
    }
#pragma omp for schedule(static)
    for (int64_t it = 0; it < items; ++it) {
      const int64_t img = it / nblk, blk = it % nblk, ch0 = blk * 16;
      const int64_t nch = std::min<int64_t>(16, c - ch0);
      const float* xb = x + (img * c + ch0) * isz;
      float* yb = y + (img * c + ch0) * osz;
      __m512 r[16];
      for (int64_t p0 = 0; p0 < isz; p0 += 16) {
        const __mmask16 m = tail_mask(isz - p0);
        for (int j = 0; j < 16; ++j)
          r[j] = j < nch ? _mm512_maskz_loadu_ps(m, xb + j * isz + p0) : _mm512_setzero_ps();
        transpose16x16(r);
        const int64_t np = std::min<int64_t>(16, isz - p0);
        for (int64_t j = 0; j < np; ++j) _mm512_store_ps(pad + in_pix[p0 + j], r[j]);
      }
      const __m512 bvec = _mm512_loadu_ps(bv + 16 * blk);
      const float* wb = wv + blk * ntap * 16;
      for (int64_t f0 = 0; f0 < osz; f0 += 16) {
        interleaved_pixels<NT>(pad, out_pix + f0, toff, wb, ntap, bvec, r);
        if (clamp)
          for (int j = 0; j < 16; ++j)
            r[j] = _mm512_min_ps(_mm512_set1_ps(vhi), _mm512_max_ps(_mm512_set1_ps(vlo), r[j]));
        transpose16x16(r);
        const __mmask16 m = tail_mask(osz - f0);
        for (int64_t j = 0; j < nch; ++j) _mm512_mask_storeu_ps(yb + j * osz + f0, m, r[j]);
      }
      if (acts && !clamp)
        for (int64_t j = 0; j < nch; ++j) apply_acts(*acts, yb + j * osz, osz);
    }
  }
}
#endif

// Depthwise with all strides 1: each channel is copied into a zero-padded plane, and every tap
// is then one long contiguous multiply-add over an output grid with the padded row pitch (the
// columns past the output width are computed and dropped), which vectorises even for narrow
// images. `scratch` holds per thread a padded plane and an output grid.
void conv_depthwise_s1(const float* x, const float* wt, const float* bias, float* y, int64_t n,
                       int64_t c, const Window& w, float* scratch, int64_t scratch_per_thread,
                       const FusedActs* acts) {
  const int64_t isz = w.in_size(), osz = w.out_size(), ksz = w.k_size();
  const int64_t dp = w.in[0] + w.pad_b[0] + w.pad_e[0], hp = w.in[1] + w.pad_b[1] + w.pad_e[1],
                wp = w.in[2] + w.pad_b[2] + w.pad_e[2];
  const bool avx512 = fast_gemm_available();
#pragma omp parallel if (n * c * osz * ksz > kParallelMinMacs)
  {
    float* xpad = scratch + omp_get_thread_num() * scratch_per_thread;
    float* ygrid = xpad + dp * hp * wp;
#pragma omp for schedule(static)
    for (int64_t nc = 0; nc < n * c; ++nc) {
      const float* xp = x + nc * isz;
      const float* wk = wt + (nc % c) * ksz;
      const float b = bias ? bias[nc % c] : 0.0f;
      float* yp = y + nc * osz;
#if ACIM_HAVE_AVX512
      if (avx512) {
        depthwise_s1_plane_avx512(xp, wk, b, yp, w, xpad, ygrid, acts);
        continue;
      }
#endif
      (void)avx512;
      depthwise_s1_plane(xp, wk, b, yp, w, xpad, ygrid, acts);
    }
  }
}

// Depthwise: one input channel per output channel. y holds the bias (or zeros) on entry.
void conv_depthwise(const float* x, const float* wt, float* y, int64_t n, int64_t c,
                    const Window& w, const FusedActs* acts) {
  const int64_t isz = w.in_size(), osz = w.out_size(), ksz = w.k_size();
#pragma omp parallel for schedule(static)
  for (int64_t nc = 0; nc < n * c; ++nc) {
    const float* xp = x + nc * isz;
    const float* wp = wt + (nc % c) * ksz;
    float* yp = y + nc * osz;
    for (int64_t od = 0; od < w.out[0]; ++od) {
      for (int64_t oh = 0; oh < w.out[1]; ++oh) {
        float* yr = yp + (od * w.out[1] + oh) * w.out[2];
        for (int64_t kd = 0; kd < w.k[0]; ++kd) {
          const int64_t id = od * w.stride[0] + kd * w.dil[0] - w.pad_b[0];
          if (id < 0 || id >= w.in[0]) continue;
          for (int64_t kh = 0; kh < w.k[1]; ++kh) {
            const int64_t ih = oh * w.stride[1] + kh * w.dil[1] - w.pad_b[1];
            if (ih < 0 || ih >= w.in[1]) continue;
            const float* xr = xp + (id * w.in[1] + ih) * w.in[2];
            const float* wr = wp + (kd * w.k[1] + kh) * w.k[2];
            for (int64_t kw = 0; kw < w.k[2]; ++kw) {
              const float wv = wr[kw];
              const int64_t off = kw * w.dil[2] - w.pad_b[2];
              int64_t lo = 0, hi = 0;
              valid_range(off, w.stride[2], w.in[2], w.out[2], lo, hi);
              if (w.stride[2] == 1) {
                const float* xs = xr + off;
                for (int64_t ow = lo; ow < hi; ++ow) yr[ow] += wv * xs[ow];
              } else {
                const int64_t s = w.stride[2];
                for (int64_t ow = lo; ow < hi; ++ow) yr[ow] += wv * xr[ow * s + off];
              }
            }
          }
        }
      }
    }
    if (acts) apply_acts(*acts, yp, osz);
  }
}

// Per node in an Executor: the parsed fused activations, and the geometry of the last shapes
// seen (a network runs each layer on the same shapes every time; parsing the attributes again
// cost 7 % of a small model's batch-1 run). The cache is shared by concurrent runs: a mutex.
struct ConvPrepared {
  FusedActs acts;
  bool acts_ok = false;
  // A depthwise conv with constant weights (and bias, if any) of 16 channels or more: them laid
  // out for conv_depthwise_interleaved (dw_c channels, dw_ntap taps; dw_c == 0: not prepared).
  int64_t dw_c = 0, dw_ntap = 0;
  std::vector<float> dw_packed;
  mutable std::mutex mu;
  mutable bool cached = false, has_b = false;
  mutable Shape x, w, b;
  mutable ConvGeom geom;
};

std::shared_ptr<const void> conv_prepare(const Node& node,
                                         const std::vector<const Tensor*>& inputs) {
  auto p = std::make_shared<ConvPrepared>();
  p->acts_ok = parse_fused(node, p->acts);
  const Tensor* wt = inputs.size() > 1 ? inputs[1] : nullptr;
  const bool has_b = node.inputs.size() > 2 && !node.inputs[2].empty();
  const Tensor* b = has_b && inputs.size() > 2 ? inputs[2] : nullptr;
  if (fast_gemm_available() && wt && wt->dtype() == DType::f32 && wt->rank() >= 3 &&
      wt->shape()[0] >= 16 && wt->shape()[1] == 1 && node.attr_int("group", 1) == wt->shape()[0] &&
      (!has_b || (b && b->dtype() == DType::f32 && b->numel() == wt->shape()[0]))) {
    p->dw_c = wt->shape()[0];
    p->dw_ntap = wt->numel() / p->dw_c;
    interleave_depthwise_weights(wt->data<float>(), b ? b->data<float>() : nullptr, p->dw_c,
                                 p->dw_ntap, p->dw_packed);
  }
  return p;
}

ConvGeom cached_geometry(const RunContext& ctx, const Shape& x, const Shape& wt, const Shape* b) {
  const auto* prep = static_cast<const ConvPrepared*>(ctx.prepared);
  if (prep == nullptr) return conv_geometry(ctx.node, ctx.where, x, wt, b);
  std::lock_guard<std::mutex> lock(prep->mu);
  if (!prep->cached || prep->x != x || prep->w != wt || prep->has_b != (b != nullptr) ||
      (b && prep->b != *b)) {
    prep->geom = conv_geometry(ctx.node, ctx.where, x, wt, b);  // throws before caching
    prep->x = x;
    prep->w = wt;
    prep->has_b = b != nullptr;
    if (b) prep->b = *b;
    prep->cached = true;
  }
  return prep->geom;
}

void conv_run(RunContext& ctx) {
  const Tensor& x = ctx.in(0);
  const Tensor& wt = ctx.in(1);
  for (size_t i = 0; i < 3; ++i) require_f32_run(ctx, i);
  const Tensor* b = ctx.has(2) ? &ctx.in(2) : nullptr;
  const ConvGeom g = cached_geometry(ctx, x.shape(), wt.shape(), b ? &b->shape() : nullptr);
  const Window& w = g.w;
  Shape out_shape(static_cast<size_t>(2 + w.nsp));  // [N, M, the last nsp output sizes]
  out_shape[0] = g.n;
  out_shape[1] = g.m;
  std::copy(w.out.end() - w.nsp, w.out.end(), out_shape.begin() + 2);
  // Fused activations: in the epilogues where they parse, else their own ops at the end.
  FusedActs parsed;
  const FusedActs* acts = &parsed;
  bool acts_ok = false;
  if (const auto* prep = static_cast<const ConvPrepared*>(ctx.prepared)) {
    acts = &prep->acts;
    acts_ok = prep->acts_ok;
  } else {
    acts_ok = parse_fused(ctx.node, parsed);
  }
  const FusedActs* ap = acts_ok && !acts->empty() ? acts : nullptr;
  const int64_t osz = w.out_size(), isz = w.in_size(), ksz = w.k_size();
  const int64_t cg = g.c / g.group, mg = g.m / g.group, kdim = cg * ksz;
  const bool depthwise = cg == 1 && mg == 1;
  bool pointwise = ksz == 1;
  for (int i = 0; i < 3; ++i)
    pointwise = pointwise && w.stride[i] == 1 && w.pad_b[i] == 0 && w.pad_e[i] == 0;
  const bool fast = !depthwise && fast_gemm_available() && osz > 0 && g.n > 0 && g.m > 0;
  for (int64_t v : {mg, osz, kdim}) blas_dim(v, ctx.where);  // throw before the threads
  const float* xd = x.data<float>();
  const float* wd = wt.data<float>();
  if (fast) {
    Tensor y = ctx.new_output(DType::f32, out_shape);  // the GEMM writes every element
    const bool s1_2d = !pointwise && w.in[0] == 1 && w.k[0] == 1 && w.pad_b[0] == 0 &&
                       w.pad_e[0] == 0 && w.stride[1] == 1 && w.stride[2] == 1 &&
                       !decimation_fits(w);
    if (s1_2d)
      conv_fast_s1(xd, wd, b ? b->data<float>() : nullptr, y.data<float>(), g, ap);
    else
      conv_fast_gemm(xd, wd, b ? b->data<float>() : nullptr, y.data<float>(), g, pointwise, ap);
    if (!acts_ok) run_fused_ops(ctx.node, y);
    ctx.outputs[0] = y;
    return;
  }
#if ACIM_HAVE_AVX512
  // Depthwise 2-D, strides 1, small planes, 16 channels or more: channel-interleaved.
  const bool interleaved =
      depthwise && g.n > 0 && g.m > 0 && osz > 0 && fast_gemm_available() && g.c >= 16 &&
      w.stride[1] == 1 && w.stride[2] == 1 && w.in[0] == 1 && w.k[0] == 1 && w.pad_b[0] == 0 &&
      w.pad_e[0] == 0 &&
      (w.in[1] + w.pad_b[1] + w.pad_e[1]) * (w.in[2] + w.pad_b[2] + w.pad_e[2]) <=
          kInterleavedMaxPlane;
  if (interleaved) {
    // The weights as prepared by the Executor, else laid out here.
    const auto* prep = static_cast<const ConvPrepared*>(ctx.prepared);
    const float* packed = nullptr;
    if (prep && prep->dw_c == g.c && prep->dw_ntap == ksz) {
      packed = prep->dw_packed.data();
    } else {
      thread_local std::vector<float> pack;
      interleave_depthwise_weights(wd, b ? b->data<float>() : nullptr, g.c, ksz, pack);
      packed = pack.data();
    }
    Tensor y = ctx.new_output(DType::f32, out_shape);  // every element is written
    if (ksz == 9)
      conv_depthwise_interleaved<9>(xd, packed, y.data<float>(), g.n, g.c, w, ap);
    else
      conv_depthwise_interleaved<0>(xd, packed, y.data<float>(), g.n, g.c, w, ap);
    if (!acts_ok) run_fused_ops(ctx.node, y);
    ctx.outputs[0] = y;
    return;
  }
  // Depthwise 2-D, strides 1, as wide as the input, the rest (fewer than 16 channels, larger
  // planes): the direct AVX-512 kernel.
  const bool direct = depthwise && g.n > 0 && g.m > 0 && osz > 0 && fast_gemm_available() &&
                      w.stride[1] == 1 && w.stride[2] == 1 && w.in[0] == 1 && w.k[0] == 1 &&
                      w.pad_b[0] == 0 && w.pad_e[0] == 0 && w.out[2] == w.in[2];
  if (direct) {
    // The plan depends on the geometry only: kept per thread for the next call (the layers of
    // a network often share it).
    thread_local Window plan_w;
    thread_local DepthwiseDirect plan;
    if (plan.osz == 0 || plan_w.in != w.in || plan_w.k != w.k || plan_w.dil != w.dil ||
        plan_w.pad_b != w.pad_b || plan_w.out != w.out) {
      plan = depthwise_direct_plan(w);
      plan_w = w;
    }
    const DepthwiseDirect& d = plan;
    const int64_t per_thread = d.before + std::max(d.end, isz);
    Tensor y = ctx.new_output(DType::f32, out_shape);  // every element is written
    float* yd = y.data<float>();
    std::unique_ptr<float[]> edge(new float[omp_get_max_threads() * per_thread]);
    conv_depthwise_direct(xd, wd, b ? b->data<float>() : nullptr, yd, g.n, g.c, w, d,
                          edge.get(), per_thread, ap);
    if (!acts_ok) run_fused_ops(ctx.node, y);
    ctx.outputs[0] = y;
    return;
  }
#endif
  Tensor y(DType::f32, out_shape);
  float* yd = y.data<float>();
  if (b) {
    const float* bd = b->data<float>();
#pragma omp parallel for schedule(static) if (g.n * g.m * osz > (1 << 15))
    for (int64_t nm = 0; nm < g.n * g.m; ++nm) std::fill_n(yd + nm * osz, osz, bd[nm % g.m]);
  }
  if (osz == 0 || g.n == 0 || g.m == 0) {
    if (!acts_ok) run_fused_ops(ctx.node, y);
    ctx.outputs[0] = y;
    return;
  }

  if (depthwise) {
    if (w.stride[0] == 1 && w.stride[1] == 1 && w.stride[2] == 1) {
      const int64_t per_thread =
          (w.in[0] + w.pad_b[0] + w.pad_e[0]) * (w.in[1] + w.pad_b[1] + w.pad_e[1]) *
              (w.in[2] + w.pad_b[2] + w.pad_e[2]) +
          w.out[1] * (w.in[2] + w.pad_b[2] + w.pad_e[2]) + kDepthwiseSlack;
      std::unique_ptr<float[]> scratch(new float[omp_get_max_threads() * per_thread]);
      conv_depthwise_s1(xd, wd, b ? b->data<float>() : nullptr, yd, g.n, g.c, w, scratch.get(),
                        per_thread, ap);
    } else {
      conv_depthwise(xd, wd, yd, g.n, g.c, w, ap);
    }
    if (!acts_ok) run_fused_ops(ctx.node, y);
    ctx.outputs[0] = y;
    return;
  }
  // Work items: (image, group, block of output positions). The block size depends on the shape
  // only, so results do not depend on the thread count.
  int64_t blk = std::max<int64_t>(64, (int64_t{1} << 16) / std::max<int64_t>(kdim, 1) / 16 * 16);
  blk = std::min(blk, std::max<int64_t>(64, (osz / 4 + 15) / 16 * 16));
  blk = std::min(blk, osz);
  const int64_t nblk = (osz + blk - 1) / blk, items = g.n * g.group * nblk;
  const float beta = b ? 1.0f : 0.0f;
  std::unique_ptr<float[]> scratch;  // uninitialised: im2col writes every element it uses
  if (!pointwise) scratch.reset(new float[omp_get_max_threads() * kdim * blk]);
#pragma omp parallel
  {
    float* col = pointwise ? nullptr : scratch.get() + omp_get_thread_num() * kdim * blk;
#pragma omp for schedule(static)
    for (int64_t it = 0; it < items; ++it) {
      const int64_t n = it / (g.group * nblk), gi = (it / nblk) % g.group;
      const int64_t c0 = (it % nblk) * blk, c1 = std::min(osz, c0 + blk);
      const float* xg = xd + (n * g.c + gi * cg) * isz;
      float* yg = yd + (n * g.m + gi * mg) * osz + c0;
      const float* wg = wd + gi * mg * kdim;
      if (pointwise) {
        sgemm_rm(false, false, mg, c1 - c0, kdim, 1.0f, wg, kdim, xg + c0, osz, beta, yg, osz,
                 ctx.where);
      } else {
        im2col(xg, cg, w, c0, c1, col);
        sgemm_rm(false, false, mg, c1 - c0, kdim, 1.0f, wg, kdim, col, c1 - c0, beta, yg, osz,
                 ctx.where);
      }
      if (ap)
        for (int64_t m = 0; m < mg; ++m) apply_acts(*ap, yg + m * osz, c1 - c0);
    }
  }
  if (!acts_ok) run_fused_ops(ctx.node, y);
  ctx.outputs[0] = y;
}

int64_t conv_macs(const CostContext& c) {
  if (c.inputs.size() < 2 || !c.inputs[1] || c.outputs.empty() || !c.outputs[0]) return 0;
  const ValueInfo& w = *c.inputs[1];
  const ValueInfo& y = *c.outputs[0];
  if (!w.shape_known || !y.shape_known || !shape_is_known(w.shape) || !shape_is_known(y.shape) ||
      w.shape.size() < 2)
    return 0;
  // Every output element takes (C/group) * prod(kernel) multiply-accumulates.
  return shape_numel(y.shape) * shape_numel(Shape(w.shape.begin() + 1, w.shape.end()));
}

}  // namespace

void register_conv(std::vector<OpDef>& ops) {
  ops.push_back(
      {"Conv", 2, 3, conv_infer, conv_run, conv_macs, /*handles_fused=*/true, conv_prepare});
}

}  // namespace acim::ops
