// Normalisation (ONNX opset 11+): BatchNormalization (inference), LayerNormalization,
// InstanceNormalization, Softmax, LogSoftmax; float32. Statistics accumulate in double.
//
// Softmax/LogSoftmax follow opset 13 (normalise along `axis`, default -1). The older semantics
// (opset < 13: flatten to 2-D at `axis`, default 1, and normalise each row) apply when the node
// carries the int attribute "_acim_legacy_2d" = 1, which the importer sets for old opsets.
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "ops/util.hpp"

namespace acim::ops {

namespace {

// Mean and (population) variance of x[0, n), two passes in double; 0 and 0 for n == 0.
void mean_and_variance(const float* x, int64_t n, double& mean, double& var) {
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) sum += x[i];
  mean = n > 0 ? sum / static_cast<double>(n) : 0.0;
  double sq = 0.0;
  for (int64_t i = 0; i < n; ++i) sq += (x[i] - mean) * (x[i] - mean);
  var = n > 0 ? sq / static_cast<double>(n) : 0.0;
}

bool output_wanted(const Node& node, size_t i) {
  return i < node.outputs.size() && !node.outputs[i].empty();
}

// ---- BatchNormalization (inference mode) ----

// Checks X [N,C,...] and the four per-channel vectors; returns C.
int64_t bn_check(const Node& node, const std::string& where, const Shape& x,
                 const std::vector<const Shape*>& params) {
  if (node.attr_int("training_mode", 0) != 0)
    throw Error(ErrorKind::unsupported, where, "training_mode=1 is not supported",
                "export the model in inference mode (model.eval())");
  for (size_t i = 1; i < node.outputs.size(); ++i)
    if (!node.outputs[i].empty())
      throw Error(ErrorKind::unsupported, where,
                  "the running mean/variance outputs (training mode) are not supported",
                  "export the model in inference mode (model.eval())");
  if (x.size() < 2)
    throw Error(ErrorKind::shape, where, "X " + shape_str(x) + " must have rank 2 or more");
  const int64_t c = x[1];
  static const char* kNames[] = {"scale", "B", "mean", "var"};
  for (size_t i = 0; i < params.size(); ++i) {
    if (!params[i]) continue;
    const Shape& s = *params[i];
    if (s.size() != 1 || (s[0] >= 0 && c >= 0 && s[0] != c))
      throw Error(ErrorKind::shape, where,
                  std::string(kNames[i]) + " " + shape_str(s) + " must be [C] for X " +
                      shape_str(x));
  }
  return c;
}

void bn_infer(InferContext& ctx) {
  const ValueInfo& x = ctx.in(0);
  for (size_t i = 0; i < 5; ++i) require_f32(ctx, i, ctx.in(i).dtype);
  if (!x.shape_known) {
    ctx.set_output_unknown_shape(0, DType::f32);
    return;
  }
  std::vector<const Shape*> params;
  for (size_t i = 1; i < 5; ++i) params.push_back(ctx.in(i).shape_known ? &ctx.in(i).shape : nullptr);
  bn_check(ctx.node, ctx.where, x.shape, params);
  ctx.set_output(0, DType::f32, x.shape);
}

void bn_run(RunContext& ctx) {
  for (size_t i = 0; i < 5; ++i) require_f32_run(ctx, i);
  const Tensor& x = ctx.in(0);
  std::vector<const Shape*> params;
  for (size_t i = 1; i < 5; ++i) params.push_back(&ctx.in(i).shape());
  const int64_t c = bn_check(ctx.node, ctx.where, x.shape(), params);
  const double eps = ctx.node.attr_float("epsilon", 1e-5f);
  const float* scale = ctx.in(1).data<float>();
  const float* bias = ctx.in(2).data<float>();
  const float* mean = ctx.in(3).data<float>();
  const float* var = ctx.in(4).data<float>();
  // y = x * a + b per channel.
  std::vector<float> a(static_cast<size_t>(c)), b(static_cast<size_t>(c));
  for (int64_t i = 0; i < c; ++i) {
    const double s = scale[i] / std::sqrt(static_cast<double>(var[i]) + eps);
    a[i] = static_cast<float>(s);
    b[i] = static_cast<float>(bias[i] - mean[i] * s);
  }
  Tensor y(DType::f32, x.shape());
  const int64_t n = x.dim(0);
  const int64_t inner = n * c == 0 ? 0 : x.numel() / (n * c);
  const float* xd = x.data<float>();
  float* yd = y.data<float>();
#pragma omp parallel for schedule(static) if (x.numel() > (1 << 15))
  for (int64_t p = 0; p < n * c; ++p) {
    const float av = a[p % c], bv = b[p % c];
    const float* xp = xd + p * inner;
    float* yp = yd + p * inner;
    for (int64_t i = 0; i < inner; ++i) yp[i] = xp[i] * av + bv;
  }
  ctx.outputs[0] = y;
}

// ---- InstanceNormalization ----

void instnorm_check(const std::string& where, const Shape& x, const Shape* scale,
                    const Shape* bias) {
  if (x.size() < 3)
    throw Error(ErrorKind::shape, where,
                "X " + shape_str(x) + " must have rank 3 or more (N, C, spatial...)");
  for (const Shape* s : {scale, bias})
    if (s && (s->size() != 1 || ((*s)[0] >= 0 && x[1] >= 0 && (*s)[0] != x[1])))
      throw Error(ErrorKind::shape, where,
                  "scale and B " + shape_str(*s) + " must be [C] for X " + shape_str(x));
}

void instnorm_infer(InferContext& ctx) {
  const ValueInfo& x = ctx.in(0);
  for (size_t i = 0; i < 3; ++i) require_f32(ctx, i, ctx.in(i).dtype);
  if (!x.shape_known) {
    ctx.set_output_unknown_shape(0, DType::f32);
    return;
  }
  instnorm_check(ctx.where, x.shape, ctx.in(1).shape_known ? &ctx.in(1).shape : nullptr,
                 ctx.in(2).shape_known ? &ctx.in(2).shape : nullptr);
  ctx.set_output(0, DType::f32, x.shape);
}

void instnorm_run(RunContext& ctx) {
  for (size_t i = 0; i < 3; ++i) require_f32_run(ctx, i);
  const Tensor& x = ctx.in(0);
  instnorm_check(ctx.where, x.shape(), &ctx.in(1).shape(), &ctx.in(2).shape());
  const double eps = ctx.node.attr_float("epsilon", 1e-5f);
  const float* scale = ctx.in(1).data<float>();
  const float* bias = ctx.in(2).data<float>();
  Tensor y(DType::f32, x.shape());
  const int64_t c = x.dim(1), nc = x.dim(0) * c;
  const int64_t inner = nc == 0 ? 0 : x.numel() / nc;
  const float* xd = x.data<float>();
  float* yd = y.data<float>();
#pragma omp parallel for schedule(static) if (x.numel() > (1 << 15))
  for (int64_t p = 0; p < nc; ++p) {
    const float* xp = xd + p * inner;
    float* yp = yd + p * inner;
    double mean = 0.0, var = 0.0;
    mean_and_variance(xp, inner, mean, var);
    const double s = scale[p % c] / std::sqrt(var + eps);
    const float av = static_cast<float>(s);
    const float bv = static_cast<float>(bias[p % c] - mean * s);
    for (int64_t i = 0; i < inner; ++i) yp[i] = xp[i] * av + bv;
  }
  ctx.outputs[0] = y;
}

// ---- LayerNormalization (opset 17) ----

// Normalised extent: X.shape[axis:]. Scale and B broadcast unidirectionally to it.
int64_t layernorm_axis(const Node& node, const std::string& where, const Shape& x) {
  if (x.empty()) throw Error(ErrorKind::shape, where, "X must have rank 1 or more");
  return normalize_axis(node.attr_int("axis", -1), static_cast<int64_t>(x.size()), where);
}

void layernorm_check_param(const std::string& where, const Shape& x, int64_t axis,
                           const Shape& p, const char* name) {
  Shape norm(x.begin() + axis, x.end());
  Shape out;
  if (p.size() > norm.size() || !broadcast_shapes(norm, p, out) || out != norm)
    throw Error(ErrorKind::shape, where,
                std::string(name) + " " + shape_str(p) + " does not broadcast to the normalised " +
                    "shape " + shape_str(norm) + " of X " + shape_str(x));
}

Shape layernorm_stat_shape(const Shape& x, int64_t axis) {
  Shape s = x;
  for (size_t i = static_cast<size_t>(axis); i < s.size(); ++i) s[i] = 1;
  return s;
}

void layernorm_infer(InferContext& ctx) {
  const ValueInfo& x = ctx.in(0);
  require_f32(ctx, 0, x.dtype);
  require_f32(ctx, 1, ctx.in(1).dtype);
  if (ctx.has(2)) require_f32(ctx, 2, ctx.in(2).dtype);
  if (!x.shape_known) {
    for (size_t i = 0; i < ctx.outputs.size(); ++i) ctx.set_output_unknown_shape(i, DType::f32);
    return;
  }
  const int64_t axis = layernorm_axis(ctx.node, ctx.where, x.shape);
  if (ctx.in(1).shape_known)
    layernorm_check_param(ctx.where, x.shape, axis, ctx.in(1).shape, "Scale");
  if (ctx.has(2) && ctx.in(2).shape_known)
    layernorm_check_param(ctx.where, x.shape, axis, ctx.in(2).shape, "B");
  ctx.set_output(0, DType::f32, x.shape);
  for (size_t i = 1; i < ctx.outputs.size() && i < 3; ++i)
    ctx.set_output(i, DType::f32, layernorm_stat_shape(x.shape, axis));
}

// A parameter broadcast to the normalised shape, as a flat vector of `inner` values.
std::vector<float> expand_param(const Tensor& p, const Shape& norm) {
  const int64_t inner = shape_numel(norm);
  std::vector<float> out(static_cast<size_t>(inner));
  const float* pd = p.data<float>();
  const Shape& ps = p.shape();
  const size_t lead = norm.size() - ps.size();
  for (int64_t i = 0; i < inner; ++i) {
    int64_t rem = i, off = 0, stride = 1;
    for (size_t d = norm.size(); d-- > 0;) {
      const int64_t coord = rem % norm[d];
      rem /= norm[d];
      if (d >= lead) {
        const int64_t pd_size = ps[d - lead];
        if (pd_size != 1) off += coord * stride;
        stride *= pd_size;
      }
    }
    out[static_cast<size_t>(i)] = pd[off];
  }
  return out;
}

void layernorm_run(RunContext& ctx) {
  for (size_t i = 0; i < 3; ++i) require_f32_run(ctx, i);
  const Tensor& x = ctx.in(0);
  const int64_t axis = layernorm_axis(ctx.node, ctx.where, x.shape());
  layernorm_check_param(ctx.where, x.shape(), axis, ctx.in(1).shape(), "Scale");
  if (ctx.has(2)) layernorm_check_param(ctx.where, x.shape(), axis, ctx.in(2).shape(), "B");
  const Shape norm(x.shape().begin() + axis, x.shape().end());
  const int64_t inner = shape_numel(norm);
  const int64_t outer = inner == 0 ? 0 : x.numel() / inner;
  std::vector<float> scale = expand_param(ctx.in(1), norm);
  std::vector<float> bias =
      ctx.has(2) ? expand_param(ctx.in(2), norm) : std::vector<float>(scale.size(), 0.0f);
  const double eps = ctx.node.attr_float("epsilon", 1e-5f);
  Tensor y(DType::f32, x.shape());
  const Shape stat_shape = layernorm_stat_shape(x.shape(), axis);
  Tensor mean_t(DType::f32, stat_shape), inv_t(DType::f32, stat_shape);
  const float* xd = x.data<float>();
  float* yd = y.data<float>();
  float* md = mean_t.data<float>();
  float* id = inv_t.data<float>();
#pragma omp parallel for schedule(static) if (x.numel() > (1 << 15))
  for (int64_t p = 0; p < outer; ++p) {
    const float* xp = xd + p * inner;
    float* yp = yd + p * inner;
    double mean = 0.0, var = 0.0;
    mean_and_variance(xp, inner, mean, var);
    const double inv = 1.0 / std::sqrt(var + eps);
    const float mf = static_cast<float>(mean), invf = static_cast<float>(inv);
    for (int64_t i = 0; i < inner; ++i) yp[i] = (xp[i] - mf) * invf * scale[i] + bias[i];
    md[p] = mf;
    id[p] = invf;
  }
  ctx.outputs[0] = y;
  if (output_wanted(ctx.node, 1)) ctx.outputs[1] = mean_t;
  if (output_wanted(ctx.node, 2)) ctx.outputs[2] = inv_t;
}

// ---- Softmax / LogSoftmax ----

struct SoftmaxDims {
  int64_t outer = 1, n = 1, inner = 1;  // normalise over n, elements inner apart
};

SoftmaxDims softmax_dims(const Node& node, const std::string& where, const Shape& x) {
  const bool legacy = node.attr_int("_acim_legacy_2d", 0) != 0;
  const int64_t rank = static_cast<int64_t>(x.size());
  SoftmaxDims d;
  if (rank == 0) return d;
  const int64_t axis = normalize_axis(node.attr_int("axis", legacy ? 1 : -1), rank, where);
  for (int64_t i = 0; i < rank; ++i) {
    if (i < axis)
      d.outer *= x[i];
    else if (i == axis || legacy)
      d.n *= x[i];
    else
      d.inner *= x[i];
  }
  return d;
}

void softmax_infer(InferContext& ctx) {
  const ValueInfo& x = ctx.in(0);
  require_f32(ctx, 0, x.dtype);
  if (!x.shape_known) {
    ctx.set_output_unknown_shape(0, DType::f32);
    return;
  }
  softmax_dims(ctx.node, ctx.where, x.shape);  // checks the axis
  ctx.set_output(0, DType::f32, x.shape);
}

template <bool kLog>
void softmax_run(RunContext& ctx) {
  require_f32_run(ctx, 0);
  const Tensor& x = ctx.in(0);
  const SoftmaxDims d = softmax_dims(ctx.node, ctx.where, x.shape());
  Tensor y(DType::f32, x.shape());
  const float* xd = x.data<float>();
  float* yd = y.data<float>();
  const int64_t lines = d.outer * d.inner;
#pragma omp parallel for schedule(static) if (x.numel() > (1 << 15))
  for (int64_t l = 0; l < lines; ++l) {
    const int64_t o = l / d.inner, in = l % d.inner;
    const float* xp = xd + o * d.n * d.inner + in;
    float* yp = yd + o * d.n * d.inner + in;
    const int64_t s = d.inner;
    float mx = -std::numeric_limits<float>::infinity();
    for (int64_t i = 0; i < d.n; ++i) mx = std::max(mx, xp[i * s]);
    double sum = 0.0;
    if (kLog) {
      for (int64_t i = 0; i < d.n; ++i) sum += std::exp(static_cast<double>(xp[i * s] - mx));
      const float lse = static_cast<float>(std::log(sum));
      for (int64_t i = 0; i < d.n; ++i) yp[i * s] = xp[i * s] - mx - lse;
    } else {
      for (int64_t i = 0; i < d.n; ++i) {
        const float e = std::exp(xp[i * s] - mx);
        yp[i * s] = e;
        sum += e;
      }
      const float inv = static_cast<float>(1.0 / sum);
      for (int64_t i = 0; i < d.n; ++i) yp[i * s] *= inv;
    }
  }
  ctx.outputs[0] = y;
}

}  // namespace

void register_norm(std::vector<OpDef>& ops) {
  ops.push_back({"BatchNormalization", 5, 5, bn_infer, bn_run, nullptr});
  ops.push_back({"InstanceNormalization", 3, 3, instnorm_infer, instnorm_run, nullptr});
  ops.push_back({"LayerNormalization", 2, 3, layernorm_infer, layernorm_run, nullptr});
  ops.push_back({"Softmax", 1, 1, softmax_infer, softmax_run<false>, nullptr});
  ops.push_back({"LogSoftmax", 1, 1, softmax_infer, softmax_run<true>, nullptr});
}

}  // namespace acim::ops
