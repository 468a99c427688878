// Pooling (ONNX opset 11+): MaxPool (with the optional Indices output), AveragePool,
// GlobalAveragePool, GlobalMaxPool; float32, 1 to 3 spatial dims, parallel over (image, channel).
#include <algorithm>
#include <limits>
#include <vector>

#include "ops/kernels_window.hpp"
#include "ops/util.hpp"

namespace acim::ops {

namespace {

enum class PoolKind { max, avg };

Window pool_window(const Node& node, const std::string& where, const Shape& x, PoolKind kind) {
  if (x.size() < 3)
    throw Error(ErrorKind::shape, where,
                "X " + shape_str(x) + " must have rank 3 or more (N, C, spatial...)");
  if (!node.has_attr("kernel_shape"))
    throw Error(ErrorKind::invalid, where, "the required attribute kernel_shape is missing");
  std::vector<int64_t> kernel = node.attr_ints("kernel_shape");
  const bool ceil_mode = node.attr_int("ceil_mode", 0) != 0;
  (void)kind;  // both pools accept dilations (AveragePool since opset 19)
  return make_window(node, where, Shape(x.begin() + 2, x.end()), kernel, ceil_mode, true);
}

template <PoolKind kKind>
void pool_infer(InferContext& ctx) {
  const ValueInfo& x = ctx.in(0);
  require_f32(ctx, 0, x.dtype);
  if (!x.shape_known) {
    for (size_t i = 0; i < ctx.outputs.size(); ++i)
      ctx.set_output_unknown_shape(i, i == 0 ? DType::f32 : DType::i64);
    return;
  }
  Window w = pool_window(ctx.node, ctx.where, x.shape, kKind);
  Shape out{x.shape[0], x.shape[1]};
  for (int64_t d : w.out_spatial()) out.push_back(d);
  ctx.set_output(0, DType::f32, out);
  if (ctx.outputs.size() > 1) ctx.set_output(1, DType::i64, out);
}

// Kernel index range [lo, hi) whose positions start + i*dil fall in [0, len).
inline void kernel_range(int64_t start, int64_t dil, int64_t k, int64_t len, int64_t& lo,
                         int64_t& hi) {
  lo = start >= 0 ? 0 : (-start + dil - 1) / dil;
  hi = start >= len ? 0 : std::min(k, (len - 1 - start) / dil + 1);
  hi = std::max(hi, lo);
}

template <PoolKind kKind>
void pool_run(RunContext& ctx) {
  require_f32_run(ctx, 0);
  const Tensor& x = ctx.in(0);
  Window w = pool_window(ctx.node, ctx.where, x.shape(), kKind);
  Shape out_shape{x.dim(0), x.dim(1)};
  for (int64_t d : w.out_spatial()) out_shape.push_back(d);
  Tensor y(DType::f32, out_shape);
  const bool want_indices =
      kKind == PoolKind::max && ctx.node.outputs.size() > 1 && !ctx.node.outputs[1].empty();
  Tensor indices;
  if (want_indices) indices = Tensor(DType::i64, out_shape);
  const bool col_major = ctx.node.attr_int("storage_order", 0) != 0;
  const bool include_pad = ctx.node.attr_int("count_include_pad", 0) != 0;
  const int64_t nc = x.dim(0) * x.dim(1), isz = w.in_size(), osz = w.out_size();
  const float* xd = x.data<float>();
  float* yd = y.data<float>();
  int64_t* id_out = want_indices ? indices.data<int64_t>() : nullptr;

#pragma omp parallel for schedule(static)
  for (int64_t p = 0; p < nc; ++p) {
    const float* xp = xd + p * isz;
    float* yp = yd + p * osz;
    int64_t o = 0;
    for (int64_t od = 0; od < w.out[0]; ++od) {
      const int64_t sd = od * w.stride[0] - w.pad_b[0];
      int64_t d_lo = 0, d_hi = 0;
      kernel_range(sd, w.dil[0], w.k[0], w.in[0], d_lo, d_hi);
      for (int64_t oh = 0; oh < w.out[1]; ++oh) {
        const int64_t sh = oh * w.stride[1] - w.pad_b[1];
        int64_t h_lo = 0, h_hi = 0;
        kernel_range(sh, w.dil[1], w.k[1], w.in[1], h_lo, h_hi);
        for (int64_t ow = 0; ow < w.out[2]; ++ow, ++o) {
          const int64_t sw = ow * w.stride[2] - w.pad_b[2];
          int64_t w_lo = 0, w_hi = 0;
          kernel_range(sw, w.dil[2], w.k[2], w.in[2], w_lo, w_hi);
          if constexpr (kKind == PoolKind::max) {
            float best = -std::numeric_limits<float>::infinity();
            int64_t best_at = -1;
            for (int64_t a = d_lo; a < d_hi; ++a) {
              const int64_t id = sd + a * w.dil[0];
              for (int64_t b = h_lo; b < h_hi; ++b) {
                const int64_t ih = sh + b * w.dil[1];
                const float* xr = xp + (id * w.in[1] + ih) * w.in[2];
                for (int64_t c = w_lo; c < w_hi; ++c) {
                  const int64_t iw = sw + c * w.dil[2];
                  if (best_at < 0 || xr[iw] > best) {
                    best = xr[iw];
                    best_at = col_major ? id + (ih + iw * w.in[1]) * w.in[0]
                                        : (id * w.in[1] + ih) * w.in[2] + iw;
                  }
                }
              }
            }
            yp[o] = best;
            if (id_out) id_out[p * osz + o] = best_at < 0 ? 0 : p * isz + best_at;
          } else {
            float sum = 0.0f;
            for (int64_t a = d_lo; a < d_hi; ++a) {
              const int64_t id = sd + a * w.dil[0];
              for (int64_t b = h_lo; b < h_hi; ++b) {
                const int64_t ih = sh + b * w.dil[1];
                const float* xr = xp + (id * w.in[1] + ih) * w.in[2];
                for (int64_t c = w_lo; c < w_hi; ++c) sum += xr[sw + c * w.dil[2]];
              }
            }
            int64_t count = (d_hi - d_lo) * (h_hi - h_lo) * (w_hi - w_lo);
            // count_include_pad: every window position counts, padding and any ceil_mode
            // overhang past the end padding alike (as the ONNX backend tests expect).
            if (include_pad) count = w.k_size();
            yp[o] = count > 0 ? sum / static_cast<float>(count) : 0.0f;
          }
        }
      }
    }
  }
  ctx.outputs[0] = y;
  if (want_indices) ctx.outputs[1] = indices;
}

// ---- GlobalAveragePool / GlobalMaxPool ----

void global_pool_infer(InferContext& ctx) {
  const ValueInfo& x = ctx.in(0);
  require_f32(ctx, 0, x.dtype);
  if (!x.shape_known) {
    ctx.set_output_unknown_shape(0, DType::f32);
    return;
  }
  if (x.shape.size() < 3)
    ctx.fail(ErrorKind::shape,
             "X " + shape_str(x.shape) + " must have rank 3 or more (N, C, spatial...)");
  Shape out = x.shape;
  std::fill(out.begin() + 2, out.end(), 1);
  ctx.set_output(0, DType::f32, out);
}

template <PoolKind kKind>
void global_pool_run(RunContext& ctx) {
  require_f32_run(ctx, 0);
  const Tensor& x = ctx.in(0);
  if (x.rank() < 3)
    ctx.fail(ErrorKind::shape,
             "X " + shape_str(x.shape()) + " must have rank 3 or more (N, C, spatial...)");
  Shape out = x.shape();
  std::fill(out.begin() + 2, out.end(), 1);
  Tensor y(DType::f32, out);
  const int64_t nc = x.dim(0) * x.dim(1);
  const int64_t sz = nc == 0 ? 0 : x.numel() / nc;
  const float* xd = x.data<float>();
  float* yd = y.data<float>();
  // Each plane in 16 interleaved partial results (lane j takes elements j, j + 16, ...: the
  // compiler vectorises the lanes), then the lanes and the tail in order. The order depends on
  // the plane size only.
  constexpr int64_t kLanes = 16;
#pragma omp parallel for schedule(static) if (x.numel() > (1 << 15))
  for (int64_t p = 0; p < nc; ++p) {
    const float* xp = xd + p * sz;
    const int64_t whole = sz / kLanes * kLanes;
    float lane[kLanes];
    float r = kKind == PoolKind::max ? -std::numeric_limits<float>::infinity() : 0.0f;
    for (int64_t j = 0; j < kLanes; ++j) lane[j] = r;
    for (int64_t i = 0; i < whole; i += kLanes)
      for (int64_t j = 0; j < kLanes; ++j) {
        if constexpr (kKind == PoolKind::max)
          lane[j] = std::max(lane[j], xp[i + j]);
        else
          lane[j] += xp[i + j];
      }
    for (int64_t j = 0; j < kLanes; ++j)
      r = kKind == PoolKind::max ? std::max(r, lane[j]) : r + lane[j];
    for (int64_t i = whole; i < sz; ++i)
      r = kKind == PoolKind::max ? std::max(r, xp[i]) : r + xp[i];
    if constexpr (kKind == PoolKind::max)
      yd[p] = r;
    else
      yd[p] = sz > 0 ? r / static_cast<float>(sz) : 0.0f;
  }
  ctx.outputs[0] = y;
}

}  // namespace

void register_pool(std::vector<OpDef>& ops) {
  ops.push_back({"MaxPool", 1, 1, pool_infer<PoolKind::max>, pool_run<PoolKind::max>, nullptr});
  ops.push_back(
      {"AveragePool", 1, 1, pool_infer<PoolKind::avg>, pool_run<PoolKind::avg>, nullptr});
  ops.push_back({"GlobalAveragePool", 1, 1, global_pool_infer, global_pool_run<PoolKind::avg>,
                 nullptr});
  ops.push_back(
      {"GlobalMaxPool", 1, 1, global_pool_infer, global_pool_run<PoolKind::max>, nullptr});
}

}  // namespace acim::ops
