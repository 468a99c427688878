// Activations: Relu, LeakyRelu, Clip, Sigmoid, Tanh, HardSigmoid, HardSwish, Gelu, Elu, Selu,
// Celu, Softplus, Softsign, ThresholdedRelu, Mish. (PRelu, which broadcasts its slope, lives in
// elementwise.cpp beside the broadcasting machinery.)
//
// Every activation runs with its data input alone plus attributes: the fuse-activations pass
// attaches them to a producer node and the executor runs them with one input. Clip therefore
// takes its bounds from inputs 1 and 2 when present, else from float attributes "min"/"max"
// (the opset < 11 form, and what the fuse pass writes), else unbounded.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numbers>
#include <string>
#include <type_traits>

#include "core/simd.hpp"
#include "ops/kernels_act.hpp"
#include "ops/op.hpp"
#include "ops/util.hpp"

namespace acim::ops {

// Comparisons and selects only: the same values in every clone.
#if ACIM_HAVE_AVX512
__attribute__((target_clones("avx512f", "default")))
#endif
void clamp_floats(float* p, int64_t n, float lo, float hi) {
  for (int64_t i = 0; i < n; ++i) {
    const float r = p[i] < lo ? lo : p[i];
    p[i] = r > hi ? hi : r;
  }
}

namespace {

constexpr int64_t kBlock = int64_t{1} << 14;        // elements per parallel task
constexpr int64_t kParallelMin = int64_t{1} << 15;  // smaller tensors run on one thread

// Calls f(begin, end) over [0, n) in blocks, in parallel for large n. Each element is computed
// by one call, so results do not depend on the thread count.
template <class F>
void for_blocks(int64_t n, F&& f) {
  if (n < kParallelMin) {
    if (n > 0) f(int64_t{0}, n);
    return;
  }
  const int64_t nb = (n + kBlock - 1) / kBlock;
#pragma omp parallel for schedule(static)
  for (int64_t b = 0; b < nb; ++b) f(b * kBlock, std::min(n, (b + 1) * kBlock));
}

template <class T, class F>
Tensor map_tensor(const Tensor& x, F f) {
  Tensor out(dtype_of<T>(), x.shape());
  const T* px = x.data<T>();
  T* py = out.data<T>();
  for_blocks(x.numel(), [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) py[i] = f(px[i]);
  });
  return out;
}

bool is_signed_int(DType dt) {
  return dt == DType::i8 || dt == DType::i16 || dt == DType::i32 || dt == DType::i64;
}

template <class Ctx>
void fail_dtype(const Ctx& ctx, DType dt, const char* allowed) {
  if (dt == DType::f16)
    ctx.fail(ErrorKind::unsupported, "input 0 is float16", "export the model with float32 tensors");
  ctx.fail(ErrorKind::unsupported, "input 0 is " + dtype_name(dt) + "; " + ctx.node.op_type +
                                       " takes " + allowed + " tensors");
}

// Output 0 = input 0's dtype and shape, after checking the dtype.
void set_same_as_input(InferContext& ctx) {
  const ValueInfo& x = ctx.in(0);
  if (x.shape_known)
    ctx.set_output(0, x.dtype, x.shape);
  else
    ctx.set_output_unknown_shape(0, x.dtype);
}

void infer_float(InferContext& ctx) {
  const DType dt = ctx.in(0).dtype;
  if (dt != DType::f32 && dt != DType::f64) fail_dtype(ctx, dt, "float32 or float64");
  set_same_as_input(ctx);
}

void infer_float_or_signed(InferContext& ctx) {
  const DType dt = ctx.in(0).dtype;
  if (dt != DType::f32 && dt != DType::f64 && !is_signed_int(dt))
    fail_dtype(ctx, dt, "float or signed integer");
  set_same_as_input(ctx);
}

// Runs f (a generic callable of one float or double) over input 0 into output 0.
template <class F>
void run_float(RunContext& ctx, F f) {
  const Tensor& x = ctx.in(0);
  if (x.dtype() == DType::f32)
    ctx.outputs[0] = map_tensor<float>(x, [&f](float v) { return f(v); });
  else if (x.dtype() == DType::f64)
    ctx.outputs[0] = map_tensor<double>(x, [&f](double v) { return f(v); });
  else
    fail_dtype(ctx, x.dtype(), "float32 or float64");
}

// ---------------------------------------------------------------------------------------------

void run_relu(RunContext& ctx) {
  const Tensor& x = ctx.in(0);
  if (!dtype_is_float(x.dtype()) && !is_signed_int(x.dtype()))
    fail_dtype(ctx, x.dtype(), "float or signed integer");
  visit_dtype(x.dtype(), ctx.where, [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_floating_point_v<T> || (std::is_signed_v<T> && std::is_integral_v<T>))
      ctx.outputs[0] = map_tensor<T>(x, [](T v) { return v < T{0} ? T{0} : v; });  // NaN stays
  });
}

void run_leaky_relu(RunContext& ctx) {
  const float alpha = ctx.node.attr_float("alpha", 0.01f);
  run_float(ctx, [alpha](auto v) {
    using T = decltype(v);
    return v < T{0} ? static_cast<T>(alpha) * v : v;
  });
}

void run_sigmoid(RunContext& ctx) {
  run_float(ctx, [](auto v) {
    using T = decltype(v);
    // Both branches are exact forms of 1 / (1 + e^-v) that never overflow.
    if (v >= T{0}) return T{1} / (T{1} + std::exp(-v));
    const T e = std::exp(v);
    return e / (T{1} + e);
  });
}

void run_tanh(RunContext& ctx) {
  run_float(ctx, [](auto v) { return std::tanh(v); });
}

void run_hard_sigmoid(RunContext& ctx) {
  const float alpha = ctx.node.attr_float("alpha", 0.2f);
  const float beta = ctx.node.attr_float("beta", 0.5f);
  run_float(ctx, [alpha, beta](auto v) {
    using T = decltype(v);
    const T y = static_cast<T>(alpha) * v + static_cast<T>(beta);
    return std::min(T{1}, std::max(T{0}, y));
  });
}

void run_hard_swish(RunContext& ctx) {
  run_float(ctx, [](auto v) {
    using T = decltype(v);
    const T y = v / T{6} + T{0.5};
    return v * std::min(T{1}, std::max(T{0}, y));
  });
}

void run_gelu(RunContext& ctx) {
  const std::string approx = ctx.node.attr_string("approximate", "none");
  if (approx == "none") {
    run_float(ctx, [](auto v) {
      using T = decltype(v);
      return T{0.5} * v * (T{1} + std::erf(v * static_cast<T>(1.0 / std::numbers::sqrt2)));
    });
  } else if (approx == "tanh") {
    run_float(ctx, [](auto v) {
      using T = decltype(v);
      const T k = static_cast<T>(std::numbers::sqrt2 * std::numbers::inv_sqrtpi);  // sqrt(2/pi)
      return T{0.5} * v * (T{1} + std::tanh(k * (v + static_cast<T>(0.044715) * v * v * v)));
    });
  } else {
    ctx.fail(ErrorKind::invalid, "attribute approximate is '" + approx + "'",
             "use 'none' or 'tanh'");
  }
}

void run_elu(RunContext& ctx) {
  const float alpha = ctx.node.attr_float("alpha", 1.0f);
  run_float(ctx, [alpha](auto v) {
    using T = decltype(v);
    return v < T{0} ? static_cast<T>(alpha) * std::expm1(v) : v;
  });
}

void run_selu(RunContext& ctx) {
  const float alpha = ctx.node.attr_float("alpha", 1.67326319217681884765625f);
  const float gamma = ctx.node.attr_float("gamma", 1.05070102214813232421875f);
  run_float(ctx, [alpha, gamma](auto v) {
    using T = decltype(v);
    const T g = static_cast<T>(gamma);
    return v > T{0} ? g * v : g * static_cast<T>(alpha) * std::expm1(v);
  });
}

void run_celu(RunContext& ctx) {
  const float alpha = ctx.node.attr_float("alpha", 1.0f);
  if (alpha == 0.0f) ctx.fail(ErrorKind::invalid, "attribute alpha is 0", "alpha must be nonzero");
  run_float(ctx, [alpha](auto v) {
    using T = decltype(v);
    const T a = static_cast<T>(alpha);
    return std::max(T{0}, v) + std::min(T{0}, a * std::expm1(v / a));
  });
}

// log(1 + e^v) without overflow for large v.
template <class T>
T softplus(T v) {
  return v > T{0} ? v + std::log1p(std::exp(-v)) : std::log1p(std::exp(v));
}

void run_softplus(RunContext& ctx) {
  run_float(ctx, [](auto v) { return softplus(v); });
}

void run_softsign(RunContext& ctx) {
  run_float(ctx, [](auto v) {
    using T = decltype(v);
    return v / (T{1} + std::abs(v));
  });
}

void run_thresholded_relu(RunContext& ctx) {
  const float alpha = ctx.node.attr_float("alpha", 1.0f);
  run_float(ctx, [alpha](auto v) {
    using T = decltype(v);
    return v > static_cast<T>(alpha) ? v : T{0};
  });
}

void run_mish(RunContext& ctx) {
  run_float(ctx, [](auto v) { return v * std::tanh(softplus(v)); });
}

// ---------------------------------------------------------------------------------------------
// Clip.

void infer_clip(InferContext& ctx) {
  const DType dt = ctx.in(0).dtype;
  if (dt == DType::boolean || dt == DType::f16) fail_dtype(ctx, dt, "float or integer");
  for (size_t i = 1; i < 3; ++i) {
    if (!ctx.has(i)) continue;
    const ValueInfo& b = ctx.in(i);
    if (b.dtype != dt)
      ctx.fail(ErrorKind::shape,
               "input 0 is " + dtype_name(dt) + " but input " + std::to_string(i) + " (" +
                   (i == 1 ? "min" : "max") + ") is " + dtype_name(b.dtype) +
                   "; both must have the same dtype",
               "insert a Cast so the inputs agree");
    if (b.shape_known && shape_is_known(b.shape) && shape_numel(b.shape) != 1)
      ctx.fail(ErrorKind::shape, std::string(i == 1 ? "min" : "max") + " has shape " +
                                     shape_str(b.shape) + "; it must be a scalar");
  }
  set_same_as_input(ctx);
}

template <class T>
T float_to(float v) {
  if constexpr (std::is_floating_point_v<T>) {
    return static_cast<T>(v);
  } else {
    if (std::isnan(v)) return 0;
    const double d = static_cast<double>(v);
    if (d <= static_cast<double>(std::numeric_limits<T>::min()))
      return std::numeric_limits<T>::min();
    if (d >= static_cast<double>(std::numeric_limits<T>::max()))
      return std::numeric_limits<T>::max();
    return static_cast<T>(v);
  }
}

// The bound from input `i` (a one-element tensor of dtype T), else attribute `key`, else dflt.
template <class T>
T clip_bound(const RunContext& ctx, size_t i, const char* key, T dflt) {
  if (ctx.has(i)) {
    const Tensor& b = ctx.in(i);
    if (b.dtype() != dtype_of<T>())
      ctx.fail(ErrorKind::shape,
               "input 0 is " + dtype_name(dtype_of<T>()) + " but " + key + " (input " +
                   std::to_string(i) + ") is " + dtype_name(b.dtype()) +
                   "; both must have the same dtype",
               "insert a Cast so the inputs agree");
    if (b.numel() != 1)
      ctx.fail(ErrorKind::shape,
               std::string(key) + " has shape " + shape_str(b.shape()) + "; it must be a scalar");
    return b.data<T>()[0];
  }
  if (ctx.node.has_attr(key)) return float_to<T>(ctx.node.attr_float(key, 0.0f));
  return dflt;
}

void run_clip(RunContext& ctx) {
  const Tensor& x = ctx.in(0);
  if (x.dtype() == DType::boolean || x.dtype() == DType::f16)
    fail_dtype(ctx, x.dtype(), "float or integer");
  visit_dtype(x.dtype(), ctx.where, [&](auto tag) {
    using T = decltype(tag);
    if constexpr (!std::is_same_v<T, bool>) {
      const T lo = clip_bound<T>(ctx, 1, "min", std::numeric_limits<T>::lowest());
      const T hi = clip_bound<T>(ctx, 2, "max", std::numeric_limits<T>::max());
      // np.clip: max(x, lo) then min(., hi), so hi wins when lo > hi; NaN stays NaN.
      ctx.outputs[0] = map_tensor<T>(x, [lo, hi](T v) {
        const T r = v < lo ? lo : v;
        return r > hi ? hi : r;
      });
    }
  });
}

}  // namespace

void register_activation(std::vector<OpDef>& ops) {
  ops.push_back({"Relu", 1, 1, infer_float_or_signed, run_relu, nullptr});
  ops.push_back({"LeakyRelu", 1, 1, infer_float, run_leaky_relu, nullptr});
  ops.push_back({"Clip", 1, 3, infer_clip, run_clip, nullptr});
  ops.push_back({"Sigmoid", 1, 1, infer_float, run_sigmoid, nullptr});
  ops.push_back({"Tanh", 1, 1, infer_float, run_tanh, nullptr});
  ops.push_back({"HardSigmoid", 1, 1, infer_float, run_hard_sigmoid, nullptr});
  ops.push_back({"HardSwish", 1, 1, infer_float, run_hard_swish, nullptr});
  ops.push_back({"Gelu", 1, 1, infer_float, run_gelu, nullptr});
  ops.push_back({"Elu", 1, 1, infer_float, run_elu, nullptr});
  ops.push_back({"Selu", 1, 1, infer_float, run_selu, nullptr});
  ops.push_back({"Celu", 1, 1, infer_float, run_celu, nullptr});
  ops.push_back({"Softplus", 1, 1, infer_float, run_softplus, nullptr});
  ops.push_back({"Softsign", 1, 1, infer_float, run_softsign, nullptr});
  ops.push_back({"ThresholdedRelu", 1, 1, infer_float, run_thresholded_relu, nullptr});
  ops.push_back({"Mish", 1, 1, infer_float, run_mish, nullptr});
}

}  // namespace acim::ops
