// Shape ops: Reshape, Flatten, Squeeze, Unsqueeze, Identity, Dropout (inference), Shape, Size,
// ConstantOfShape, Cast, CastLike, Range; plus the helpers the data-movement files share.
// Reshape-like ops return a tensor that shares the input's buffer (no copy): kernels never
// write into their inputs, and whoever wants to mutate a tensor in place must clone() it.
#include "ops/shape_ops.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>

#include "ops/util.hpp"

namespace acim::ops {

// ---- shared helpers ---------------------------------------------------------------------------

std::vector<int64_t> row_major_strides(const Shape& shape) {
  std::vector<int64_t> s(shape.size(), 1);
  for (size_t i = shape.size(); i-- > 1;) s[i - 1] = s[i] * shape[i];
  return s;
}

int64_t checked_numel(const Shape& shape, const std::string& where) {
  int64_t n = 1;
  bool zero = false;
  bool overflow = false;
  for (int64_t d : shape) {
    if (d == 0) zero = true;
    if (d > 0 && n > std::numeric_limits<int64_t>::max() / d) overflow = true;
    if (!overflow) n *= d;
  }
  if (zero) return 0;
  if (overflow)
    throw Error(ErrorKind::limit, where, "shape " + shape_str(shape) + " has too many elements",
                "check the model's shapes");
  return n;
}

std::vector<int64_t> int_values(const Tensor& t, const std::string& where,
                                const std::string& what) {
  if (!dtype_is_integer(t.dtype()))
    throw Error(ErrorKind::shape, where,
                what + " is " + dtype_name(t.dtype()) + "; an integer tensor is required",
                "export the model with int64 " + what);
  return t.to_int64s();
}


std::vector<int64_t> normalize_axes(const std::vector<int64_t>& axes, int64_t rank,
                                    const std::string& where) {
  std::vector<int64_t> out;
  std::vector<bool> seen(static_cast<size_t>(rank), false);
  for (int64_t a : axes) {
    int64_t n = normalize_axis(a, rank, where);
    if (seen[static_cast<size_t>(n)])
      throw Error(ErrorKind::invalid, where, "axis " + std::to_string(a) + " is listed twice");
    seen[static_cast<size_t>(n)] = true;
    out.push_back(n);
  }
  return out;
}

namespace {

// ---- Reshape, Flatten ----------------------------------------------------------------------

// Reshape's output shape for input `in` (may hold unknown dims) and shape input `spec`.
Shape reshape_shape(const Shape& in, const std::vector<int64_t>& spec, bool allowzero,
                    const std::string& where) {
  Shape out(spec.size());
  int64_t infer_at = -1;
  bool has_zero = false;
  for (size_t i = 0; i < spec.size(); ++i) {
    int64_t s = spec[i];
    if (s == -1) {
      if (infer_at >= 0)
        throw Error(ErrorKind::invalid, where,
                    "shape " + shape_str(spec) + " has more than one -1 entry",
                    "at most one dimension can be inferred");
      infer_at = static_cast<int64_t>(i);
      out[i] = 1;
    } else if (s == 0 && !allowzero) {
      if (i >= in.size())
        throw Error(ErrorKind::shape, where,
                    "shape entry " + std::to_string(i) +
                        " is 0 (copy the input's dim) but the input " + shape_str(in) +
                        " has only " + std::to_string(in.size()) + " dims");
      out[i] = in[i];
    } else if (s < 0) {
      throw Error(ErrorKind::invalid, where,
                  "shape entry " + std::to_string(i) + " is " + std::to_string(s) +
                      "; entries must be -1 (infer), 0 or positive");
    } else {
      has_zero |= s == 0;
      out[i] = s;
    }
  }
  if (allowzero && has_zero && infer_at >= 0)
    throw Error(ErrorKind::invalid, where,
                "shape " + shape_str(spec) + " has both 0 and -1 entries with allowzero=1",
                "with allowzero=1 a 0 means an empty dimension, so -1 cannot be inferred");
  bool in_known = shape_is_known(in);
  Shape others = out;
  if (infer_at >= 0) others[static_cast<size_t>(infer_at)] = 1;
  if (infer_at >= 0) {
    if (!in_known || !shape_is_known(others)) {
      out[static_cast<size_t>(infer_at)] = kUnknownDim;
      return out;
    }
    int64_t n = checked_numel(in, where);
    int64_t rest = checked_numel(others, where);
    if (rest == 0 || n % rest != 0)
      throw Error(
          ErrorKind::shape, where,
          "cannot reshape " + shape_str(in) + " (" + std::to_string(n) + " elements) to " + "[" +
              [&] {
                std::string s;
                for (size_t i = 0; i < spec.size(); ++i)
                  s += (i ? "," : "") + std::to_string(spec[i]);
                return s;
              }() +
              "]",
          rest == 0 ? "the -1 dimension is ambiguous when other dimensions are 0"
                    : "the element count must be a multiple of " + std::to_string(rest));
    out[static_cast<size_t>(infer_at)] = n / rest;
    return out;
  }
  if (in_known && shape_is_known(out)) {
    int64_t n = checked_numel(in, where);
    int64_t m = checked_numel(out, where);
    if (n != m)
      throw Error(ErrorKind::shape, where,
                  "cannot reshape " + shape_str(in) + " (" + std::to_string(n) + " elements) to " +
                      shape_str(out) + " (" + std::to_string(m) + " elements)");
  }
  return out;
}

void reshape_infer(InferContext& ctx) {
  const ValueInfo& x = ctx.in(0);
  const ValueInfo& s = ctx.in(1);
  bool allowzero = ctx.node.attr_int("allowzero", 0) != 0;
  if (const Tensor* c = ctx.constant(1)) {
    std::vector<int64_t> spec = int_values(*c, ctx.where, "input 1 (shape)");
    if (x.shape_known) {
      ctx.set_output(0, x.dtype, reshape_shape(x.shape, spec, allowzero, ctx.where));
    } else {
      Shape out(spec.size(), kUnknownDim);
      for (size_t i = 0; i < spec.size(); ++i)
        if (spec[i] > 0 || (spec[i] == 0 && allowzero)) out[i] = spec[i];
      ctx.set_output(0, x.dtype, out);
    }
    return;
  }
  if (s.shape_known && s.shape.size() == 1 && s.shape[0] >= 0)
    ctx.set_output(0, x.dtype, Shape(static_cast<size_t>(s.shape[0]), kUnknownDim));
  else
    ctx.set_output_unknown_shape(0, x.dtype);
}

void reshape_run(RunContext& ctx) {
  const Tensor& x = ctx.in(0);
  std::vector<int64_t> spec = int_values(ctx.in(1), ctx.where, "input 1 (shape)");
  bool allowzero = ctx.node.attr_int("allowzero", 0) != 0;
  ctx.outputs[0] = x.reshaped(reshape_shape(x.shape(), spec, allowzero, ctx.where));
}

Shape flatten_shape(const Shape& in, int64_t axis, const std::string& where) {
  int64_t r = static_cast<int64_t>(in.size());
  if (axis < -r || axis > r)
    throw Error(ErrorKind::invalid, where,
                "axis " + std::to_string(axis) + " is out of range [" + std::to_string(-r) + ", " +
                    std::to_string(r) + "] for input " + shape_str(in));
  if (axis < 0) axis += r;
  Shape a(in.begin(), in.begin() + axis);
  Shape b(in.begin() + axis, in.end());
  return {shape_is_known(a) ? checked_numel(a, where) : kUnknownDim,
          shape_is_known(b) ? checked_numel(b, where) : kUnknownDim};
}

void flatten_infer(InferContext& ctx) {
  const ValueInfo& x = ctx.in(0);
  if (!x.shape_known) {
    ctx.set_output(0, x.dtype, {kUnknownDim, kUnknownDim});
    return;
  }
  ctx.set_output(0, x.dtype, flatten_shape(x.shape, ctx.node.attr_int("axis", 1), ctx.where));
}

void flatten_run(RunContext& ctx) {
  const Tensor& x = ctx.in(0);
  ctx.outputs[0] = x.reshaped(flatten_shape(x.shape(), ctx.node.attr_int("axis", 1), ctx.where));
}

// ---- Squeeze, Unsqueeze --------------------------------------------------------------------

// Axes from the attribute (opsets < 13) or input 1 (opset 13+). Returns false if they come from
// an input whose value is not known (shape inference with a non-constant axes input).
bool axes_of(const Node& node, const Tensor* axes_input, bool input_given,
             std::vector<int64_t>& axes, const std::string& where) {
  if (node.has_attr("axes")) {
    axes = node.attr_ints("axes");
    return true;
  }
  if (!input_given) {
    axes.clear();
    return true;
  }
  if (!axes_input) return false;
  axes = int_values(*axes_input, where, "input 1 (axes)");
  return true;
}

Shape squeeze_shape(const Shape& in, const std::vector<int64_t>& axes, bool all,
                    const std::string& where) {
  std::vector<bool> drop(in.size(), false);
  if (all) {
    for (size_t i = 0; i < in.size(); ++i) drop[i] = in[i] == 1;
  } else {
    for (int64_t a : normalize_axes(axes, static_cast<int64_t>(in.size()), where)) {
      int64_t d = in[static_cast<size_t>(a)];
      if (d != 1 && d != kUnknownDim)
        throw Error(ErrorKind::shape, where,
                    "cannot squeeze axis " + std::to_string(a) + " of " + shape_str(in) +
                        ": its size is " + std::to_string(d) + ", not 1");
      drop[static_cast<size_t>(a)] = true;
    }
  }
  Shape out;
  for (size_t i = 0; i < in.size(); ++i)
    if (!drop[i]) out.push_back(in[i]);
  return out;
}

void squeeze_infer(InferContext& ctx) {
  const ValueInfo& x = ctx.in(0);
  std::vector<int64_t> axes;
  bool known = axes_of(ctx.node, ctx.constant(1), ctx.has(1), axes, ctx.where);
  bool all = known && !ctx.node.has_attr("axes") && !ctx.has(1);
  if (!known || !x.shape_known || (all && !shape_is_known(x.shape))) {
    ctx.set_output_unknown_shape(0, x.dtype);
    return;
  }
  ctx.set_output(0, x.dtype, squeeze_shape(x.shape, axes, all, ctx.where));
}

void squeeze_run(RunContext& ctx) {
  const Tensor& x = ctx.in(0);
  std::vector<int64_t> axes;
  axes_of(ctx.node, ctx.has(1) ? &ctx.in(1) : nullptr, ctx.has(1), axes, ctx.where);
  bool all = !ctx.node.has_attr("axes") && !ctx.has(1);
  ctx.outputs[0] = x.reshaped(squeeze_shape(x.shape(), axes, all, ctx.where));
}

Shape unsqueeze_shape(const Shape& in, const std::vector<int64_t>& axes, const std::string& where) {
  int64_t r = static_cast<int64_t>(in.size() + axes.size());
  std::vector<bool> inserted(static_cast<size_t>(r), false);
  for (int64_t a : normalize_axes(axes, r, where)) inserted[static_cast<size_t>(a)] = true;
  Shape out;
  size_t k = 0;
  for (size_t i = 0; i < static_cast<size_t>(r); ++i) out.push_back(inserted[i] ? 1 : in[k++]);
  return out;
}

void unsqueeze_infer(InferContext& ctx) {
  const ValueInfo& x = ctx.in(0);
  std::vector<int64_t> axes;
  bool known = axes_of(ctx.node, ctx.constant(1), ctx.has(1), axes, ctx.where);
  if (known && axes.empty())
    ctx.fail(ErrorKind::invalid, "no axes given", "set the axes attribute (opset < 13) or input");
  if (!known || !x.shape_known) {
    ctx.set_output_unknown_shape(0, x.dtype);
    return;
  }
  ctx.set_output(0, x.dtype, unsqueeze_shape(x.shape, axes, ctx.where));
}

void unsqueeze_run(RunContext& ctx) {
  const Tensor& x = ctx.in(0);
  std::vector<int64_t> axes;
  axes_of(ctx.node, ctx.has(1) ? &ctx.in(1) : nullptr, ctx.has(1), axes, ctx.where);
  ctx.outputs[0] = x.reshaped(unsqueeze_shape(x.shape(), axes, ctx.where));
}

// ---- Identity, Dropout ---------------------------------------------------------------------

void set_like_input(InferContext& ctx, size_t out, const ValueInfo& x, DType dt) {
  if (x.shape_known)
    ctx.set_output(out, dt, x.shape);
  else
    ctx.set_output_unknown_shape(out, dt);
}

void identity_infer(InferContext& ctx) {
  const ValueInfo& x = ctx.in(0);
  set_like_input(ctx, 0, x, x.dtype);
}

void identity_run(RunContext& ctx) {
  ctx.outputs[0] = ctx.in(0);
}

// Dropout in inference: output = input, mask = all true. Training mode (input 2 true) with a
// nonzero ratio would need random draws and is refused.
bool dropout_trains(const Tensor* ratio, const Tensor* training, const Node& node,
                    const std::string& where) {
  if (!training || training->numel() != 1) return false;
  if (training->to_doubles()[0] == 0.0) return false;
  double r = ratio && ratio->numel() == 1 ? ratio->to_doubles()[0] : node.attr_float("ratio", 0.5f);
  if (r == 0.0) return false;
  throw Error(ErrorKind::unsupported, where,
              "Dropout with training_mode=true is not supported (acim runs inference only)",
              "export the model in eval mode, or set training_mode to false");
}

void dropout_infer(InferContext& ctx) {
  const ValueInfo& x = ctx.in(0);
  dropout_trains(ctx.constant(1), ctx.constant(2), ctx.node, ctx.where);
  set_like_input(ctx, 0, x, x.dtype);
  if (ctx.outputs.size() > 1) set_like_input(ctx, 1, x, DType::boolean);
}

void dropout_run(RunContext& ctx) {
  const Tensor& x = ctx.in(0);
  dropout_trains(ctx.has(1) ? ctx.inputs[1] : nullptr, ctx.has(2) ? ctx.inputs[2] : nullptr,
                 ctx.node, ctx.where);
  ctx.outputs[0] = x;
  if (ctx.outputs.size() > 1) {
    Tensor mask = Tensor::uninitialized(DType::boolean, x.shape());
    if (mask.nbytes()) std::memset(mask.raw(), 1, mask.nbytes());
    ctx.outputs[1] = mask;
  }
}

// ---- Shape, Size, ConstantOfShape ----------------------------------------------------------

void shape_range(const Node& node, int64_t rank, int64_t& start, int64_t& end) {
  start = node.attr_int("start", 0);
  end = node.attr_int("end", rank);
  if (start < 0) start += rank;
  if (end < 0) end += rank;
  start = std::clamp<int64_t>(start, 0, rank);
  end = std::clamp<int64_t>(end, 0, rank);
  if (end < start) end = start;
}

void shape_infer(InferContext& ctx) {
  const ValueInfo& x = ctx.in(0);
  if (!x.shape_known) {
    ctx.set_output(0, DType::i64, {kUnknownDim});
    return;
  }
  int64_t start = 0;
  int64_t end = 0;
  shape_range(ctx.node, static_cast<int64_t>(x.shape.size()), start, end);
  ctx.set_output(0, DType::i64, {end - start});
  Shape dims(x.shape.begin() + start, x.shape.begin() + end);
  if (shape_is_known(dims)) {
    ctx.output_constants.resize(1);
    ctx.output_constants[0] = Tensor::from_vector<int64_t>({end - start}, dims);
  }
}

void shape_run(RunContext& ctx) {
  const Tensor& x = ctx.in(0);
  int64_t start = 0;
  int64_t end = 0;
  shape_range(ctx.node, x.rank(), start, end);
  std::vector<int64_t> dims(x.shape().begin() + start, x.shape().begin() + end);
  ctx.outputs[0] = Tensor::from_vector<int64_t>({end - start}, dims);
}

void size_infer(InferContext& ctx) {
  const ValueInfo& x = ctx.in(0);
  ctx.set_output(0, DType::i64, {});
  if (x.shape_known && shape_is_known(x.shape)) {
    ctx.output_constants.resize(1);
    ctx.output_constants[0] = Tensor::scalar<int64_t>(shape_numel(x.shape));
  }
}

void size_run(RunContext& ctx) {
  ctx.outputs[0] = Tensor::scalar<int64_t>(ctx.in(0).numel());
}

DType constant_of_shape_dtype(const Node& node, const std::string& where) {
  const Tensor* v = node.attr_tensor("value");
  if (!v) return DType::f32;
  if (v->numel() != 1)
    throw Error(ErrorKind::invalid, where,
                "attribute 'value' has " + std::to_string(v->numel()) +
                    " elements; it must hold exactly one");
  return v->dtype();
}

Shape constant_of_shape_dims(const Tensor& shape, const std::string& where) {
  Shape dims = int_values(shape, where, "input 0 (shape)");
  for (int64_t d : dims)
    if (d < 0)
      throw Error(ErrorKind::invalid, where,
                  "shape " + shape_str(dims) + " has a negative dimension " + std::to_string(d));
  return dims;
}

void constant_of_shape_infer(InferContext& ctx) {
  const ValueInfo& s = ctx.in(0);
  DType dt = constant_of_shape_dtype(ctx.node, ctx.where);
  if (const Tensor* c = ctx.constant(0))
    ctx.set_output(0, dt, constant_of_shape_dims(*c, ctx.where));
  else if (s.shape_known && s.shape.size() == 1 && s.shape[0] >= 0)
    ctx.set_output(0, dt, Shape(static_cast<size_t>(s.shape[0]), kUnknownDim));
  else
    ctx.set_output_unknown_shape(0, dt);
}

void constant_of_shape_run(RunContext& ctx) {
  DType dt = constant_of_shape_dtype(ctx.node, ctx.where);
  Tensor out(dt, constant_of_shape_dims(ctx.in(0), ctx.where));
  if (const Tensor* v = ctx.node.attr_tensor("value")) {
    size_t es = dtype_size(dt);
    auto* dst = static_cast<std::byte*>(out.raw());
    const auto* src = static_cast<const std::byte*>(v->raw());
    bool zero = true;
    for (size_t b = 0; b < es; ++b) zero &= src[b] == std::byte{0};
    if (!zero)
      for (int64_t i = 0; i < out.numel(); ++i)
        std::memcpy(dst + static_cast<size_t>(i) * es, src, es);
  }
  ctx.outputs[0] = out;
}

// ---- Cast, CastLike ------------------------------------------------------------------------

float half_to_float(uint16_t h) {
  uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t man = h & 0x3ffu;
  if (exp == 0) {
    float v = std::ldexp(static_cast<float>(man), -24);
    return sign ? -v : v;
  }
  uint32_t bits =
      exp == 31 ? (sign | 0x7f800000u | (man << 13)) : (sign | ((exp + 112u) << 23) | (man << 13));
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

// Round to nearest even; overflow to infinity; NaN stays NaN.
uint16_t float_to_half(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  auto sign = static_cast<uint16_t>((x >> 16) & 0x8000u);
  uint32_t exp = (x >> 23) & 0xffu;
  uint32_t man = x & 0x7fffffu;
  if (exp == 0xff)
    return static_cast<uint16_t>(sign | 0x7c00u | (man ? (0x200u | (man >> 13)) : 0u));
  int e = static_cast<int>(exp) - 127 + 15;
  if (e >= 31) return static_cast<uint16_t>(sign | 0x7c00u);
  if (e <= 0) {
    if (e < -10) return sign;
    uint32_t full = man | 0x800000u;
    auto shift = static_cast<uint32_t>(14 - e);
    uint32_t m = full >> shift;
    uint32_t rem = full & ((1u << shift) - 1u);
    uint32_t half = 1u << (shift - 1u);
    if (rem > half || (rem == half && (m & 1u))) ++m;
    return static_cast<uint16_t>(sign | m);
  }
  uint32_t h = (static_cast<uint32_t>(e) << 10) | (man >> 13);
  uint32_t rem = man & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (h & 1u))) ++h;
  return static_cast<uint16_t>(sign | h);
}

// One value to another type: float to integer saturates (NaN becomes 0) so no input is undefined
// behaviour; anything to bool is "nonzero".
template <class To, class From>
To convert_value(From v) {
  if constexpr (std::is_same_v<To, bool>) {
    return v != From{};
  } else if constexpr (std::is_floating_point_v<From> && std::is_integral_v<To>) {
    if (std::isnan(v)) return To{};
    if (v >= static_cast<From>(std::numeric_limits<To>::max()))
      return std::numeric_limits<To>::max();
    if (v <= static_cast<From>(std::numeric_limits<To>::lowest()))
      return std::numeric_limits<To>::lowest();
    return static_cast<To>(v);
  } else {
    return static_cast<To>(v);
  }
}

// Calls f(T{}) for every dtype, with float16 represented by a tag type.
struct HalfTag {};
template <class F>
void visit_cast_dtype(DType dt, F&& f) {
  if (dt == DType::f16)
    f(HalfTag{});
  else
    visit_dtype(dt, "", f);
}

Tensor cast_tensor(const Tensor& in, DType to) {
  if (in.dtype() == to) return in;
  Tensor out = Tensor::uninitialized(to, in.shape());
  auto n = static_cast<size_t>(in.numel());
  visit_cast_dtype(in.dtype(), [&](auto from_tag) {
    using From = decltype(from_tag);
    visit_cast_dtype(to, [&](auto to_tag) {
      using To = decltype(to_tag);
      const void* src = in.raw();
      void* dst = out.raw();
      if constexpr (std::is_same_v<From, HalfTag>) {
        const auto* s = static_cast<const uint16_t*>(src);
        if constexpr (std::is_same_v<To, HalfTag>) {
          ACIM_ASSERT(false, "cast to the same dtype");
        } else {
          To* d = static_cast<To*>(dst);
          for (size_t i = 0; i < n; ++i) d[i] = convert_value<To>(half_to_float(s[i]));
        }
      } else {
        const From* s = static_cast<const From*>(src);
        if constexpr (std::is_same_v<To, HalfTag>) {
          auto* d = static_cast<uint16_t*>(dst);
          for (size_t i = 0; i < n; ++i) d[i] = float_to_half(static_cast<float>(s[i]));
        } else {
          To* d = static_cast<To*>(dst);
          for (size_t i = 0; i < n; ++i) d[i] = convert_value<To>(s[i]);
        }
      }
    });
  });
  return out;
}

DType cast_target(const Node& node, const std::string& where) {
  if (!node.has_attr("to")) throw Error(ErrorKind::invalid, where, "attribute 'to' is missing");
  return dtype_from_onnx(node.attr_int("to", 1), where);
}

void cast_infer(InferContext& ctx) {
  set_like_input(ctx, 0, ctx.in(0), cast_target(ctx.node, ctx.where));
}

void cast_run(RunContext& ctx) {
  ctx.outputs[0] = cast_tensor(ctx.in(0), cast_target(ctx.node, ctx.where));
}

void cast_like_infer(InferContext& ctx) {
  set_like_input(ctx, 0, ctx.in(0), ctx.in(1).dtype);
}

void cast_like_run(RunContext& ctx) {
  ctx.outputs[0] = cast_tensor(ctx.in(0), ctx.in(1).dtype());
}

// ---- Range ---------------------------------------------------------------------------------

int64_t range_count(const Tensor& start, const Tensor& limit, const Tensor& delta,
                    const std::string& where) {
  if (start.numel() != 1 || limit.numel() != 1 || delta.numel() != 1)
    throw Error(ErrorKind::shape, where, "start, limit and delta must be scalars");
  DType dt = start.dtype();
  if (limit.dtype() != dt || delta.dtype() != dt)
    throw Error(ErrorKind::shape, where, "start, limit and delta must have the same dtype");
  if (dt == DType::boolean || dt == DType::f16)
    throw Error(ErrorKind::unsupported, where, "Range of " + dtype_name(dt) + " is not supported");
  const double kMaxCount = 1e15;
  if (dtype_is_float(dt)) {
    double s = start.to_doubles()[0];
    double l = limit.to_doubles()[0];
    double d = delta.to_doubles()[0];
    if (d == 0.0 || !std::isfinite(s) || !std::isfinite(l) || !std::isfinite(d))
      throw Error(ErrorKind::invalid, where, "delta must be nonzero and all values finite");
    double n = std::ceil((l - s) / d);
    if (!(n <= kMaxCount))
      throw Error(ErrorKind::limit, where, "Range would have too many elements");
    return n > 0 ? static_cast<int64_t>(n) : 0;
  }
  int64_t s = start.to_int64s()[0];
  int64_t l = limit.to_int64s()[0];
  int64_t d = delta.to_int64s()[0];
  if (d == 0) throw Error(ErrorKind::invalid, where, "delta must be nonzero");
  uint64_t diff = 0;
  uint64_t step = 0;
  if (d > 0 && l > s) {
    diff = static_cast<uint64_t>(l) - static_cast<uint64_t>(s);
    step = static_cast<uint64_t>(d);
  } else if (d < 0 && l < s) {
    diff = static_cast<uint64_t>(s) - static_cast<uint64_t>(l);
    step = 0 - static_cast<uint64_t>(d);
  } else {
    return 0;
  }
  uint64_t n = diff / step + (diff % step ? 1 : 0);
  if (static_cast<double>(n) > kMaxCount)
    throw Error(ErrorKind::limit, where, "Range would have too many elements");
  return static_cast<int64_t>(n);
}

void range_infer(InferContext& ctx) {
  DType dt = ctx.in(0).dtype;
  ctx.in(1);
  ctx.in(2);
  if (ctx.constant(0) && ctx.constant(1) && ctx.constant(2))
    ctx.set_output(0, dt,
                   {range_count(*ctx.constant(0), *ctx.constant(1), *ctx.constant(2), ctx.where)});
  else
    ctx.set_output(0, dt, {kUnknownDim});
}

void range_run(RunContext& ctx) {
  const Tensor& start = ctx.in(0);
  int64_t n = range_count(start, ctx.in(1), ctx.in(2), ctx.where);
  Tensor out = Tensor::uninitialized(start.dtype(), {n});
  visit_dtype(start.dtype(), ctx.where, [&](auto tag) {
    using T = decltype(tag);
    T* d = out.data<T>();
    if constexpr (std::is_floating_point_v<T>) {
      T s = start.data<T>()[0];
      T step = ctx.in(2).data<T>()[0];
      for (int64_t i = 0; i < n; ++i) d[i] = s + static_cast<T>(i) * step;
    } else {
      int64_t s = start.to_int64s()[0];
      int64_t step = ctx.in(2).to_int64s()[0];
      for (int64_t i = 0; i < n; ++i) d[i] = static_cast<T>(s + i * step);
    }
  });
  ctx.outputs[0] = out;
}

}  // namespace

void register_shape_ops(std::vector<OpDef>& ops) {
  ops.push_back({"Reshape", 2, 2, reshape_infer, reshape_run, nullptr});
  ops.push_back({"Flatten", 1, 1, flatten_infer, flatten_run, nullptr});
  ops.push_back({"Squeeze", 1, 2, squeeze_infer, squeeze_run, nullptr});
  ops.push_back({"Unsqueeze", 1, 2, unsqueeze_infer, unsqueeze_run, nullptr});
  ops.push_back({"Identity", 1, 1, identity_infer, identity_run, nullptr});
  ops.push_back({"Dropout", 1, 3, dropout_infer, dropout_run, nullptr});
  ops.push_back({"Shape", 1, 1, shape_infer, shape_run, nullptr});
  ops.push_back({"Size", 1, 1, size_infer, size_run, nullptr});
  ops.push_back({"ConstantOfShape", 1, 1, constant_of_shape_infer, constant_of_shape_run, nullptr});
  ops.push_back({"Cast", 1, 1, cast_infer, cast_run, nullptr});
  ops.push_back({"CastLike", 2, 2, cast_like_infer, cast_like_run, nullptr});
  ops.push_back({"Range", 3, 3, range_infer, range_run, nullptr});
  register_transpose_ops(ops);
  register_slice_ops(ops);
  register_gather_ops(ops);
}

}  // namespace acim::ops
