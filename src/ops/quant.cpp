// QuantizeLinear and DequantizeLinear (opsets 10-21), per tensor or per axis.
//
//   QuantizeLinear:   y = saturate(round_half_even(x / scale) + zero_point)
//   DequantizeLinear: y = (x - zero_point) * scale
//
// The quantized type is the zero point's dtype (uint8 when it is absent, or QuantizeLinear's
// opset-21 output_dtype attribute): int8, uint8, int16, uint16; DequantizeLinear also takes
// int32 (with a zero zero point). Blocked quantization (opset 21 block_size) is not supported.
// DynamicQuantizeLinear derives a uint8 scale and zero point from the range of x.
#include <cmath>
#include <limits>
#include <type_traits>

#include "ops/util.hpp"

namespace acim::ops {

namespace {

bool is_quant_type(DType dt) {
  return dt == DType::i8 || dt == DType::u8 || dt == DType::i16 || dt == DType::u16;
}

// QuantizeLinear's output_dtype attribute: an ONNX data type code of an 8- or 16-bit integer.
DType quant_type_from_onnx(int64_t code, const std::string& where) {
  DType dt = dtype_from_onnx(code, where);
  if (!is_quant_type(dt))
    throw Error(ErrorKind::unsupported, where,
                "output_dtype " + dtype_name(dt) + " is not supported",
                "quantize to int8, uint8, int16 or uint16");
  return dt;
}

void check_block_size(const Node& node, const std::string& where) {
  if (node.attr_int("block_size", 0) != 0)
    throw Error(ErrorKind::unsupported, where,
                "blocked quantization (block_size != 0) is not supported",
                "quantize per tensor or per axis");
}

// Checks the scale (and zero point) against x and returns the quantization axis, or -1 for per
// tensor. Works on partially known shapes (unknown dims are not checked).
int64_t check_params(const Node& node, const std::string& where, const Shape& x, bool x_known,
                     const Shape& scale, const Shape* zero_point) {
  int64_t axis = -1;
  bool per_tensor = scale.empty() || (scale.size() == 1 && scale[0] == 1);
  if (!per_tensor) {
    if (scale.size() != 1)
      throw Error(ErrorKind::shape, where,
                  "scale has shape " + shape_str(scale) +
                      "; expected a scalar (per tensor) or a 1-D tensor (per axis)");
    if (x_known) {
      int64_t rank = static_cast<int64_t>(x.size());
      if (rank == 0)
        throw Error(
            ErrorKind::shape, where,
            "scale has shape " + shape_str(scale) + " but x is a scalar; expected a scalar scale");
      axis = normalize_axis(node.attr_int("axis", 1), rank, where);
      int64_t d = x[static_cast<size_t>(axis)];
      if (d >= 0 && scale[0] >= 0 && d != scale[0])
        throw Error(ErrorKind::shape, where,
                    "scale has shape " + shape_str(scale) + " but axis " + std::to_string(axis) +
                        " of x " + shape_str(x) + " has size " + std::to_string(d),
                    "give one scale per channel along `axis`");
    }
  }
  if (zero_point) {
    bool zp_scalar = zero_point->empty() || (zero_point->size() == 1 && (*zero_point)[0] == 1);
    bool same = *zero_point == scale || (zp_scalar && per_tensor);
    if (!same)
      throw Error(ErrorKind::shape, where,
                  "zero point has shape " + shape_str(*zero_point) + " but scale has shape " +
                      shape_str(scale),
                  "give the zero point the shape of the scale");
  }
  return axis;
}

DType quantize_output_dtype(const InferContext& ctx) {
  DType out = DType::u8;
  int64_t code = ctx.node.attr_int("output_dtype", 0);
  if (code != 0) out = quant_type_from_onnx(code, ctx.where);
  if (ctx.has(2)) {
    DType zp = ctx.in(2).dtype;
    if (!is_quant_type(zp))
      ctx.fail(ErrorKind::unsupported, "zero point dtype " + dtype_name(zp) + " is not supported",
               "quantize to int8, uint8, int16 or uint16");
    if (code != 0 && zp != out)
      ctx.fail(ErrorKind::shape, "output_dtype " + dtype_name(out) +
                                     " differs from the zero point's dtype " + dtype_name(zp));
    out = zp;
  }
  return out;
}

void infer_quantize(InferContext& ctx) {
  check_block_size(ctx.node, ctx.where);
  const ValueInfo& x = ctx.in(0);
  const ValueInfo& scale = ctx.in(1);
  if (x.dtype != DType::f32 && x.dtype != DType::f64 && x.dtype != DType::i32)
    ctx.fail(ErrorKind::unsupported, "x is " + dtype_name(x.dtype) + "; expected float32 or int32");
  if (scale.dtype != DType::f32 && scale.dtype != DType::f64)
    ctx.fail(ErrorKind::unsupported, "scale is " + dtype_name(scale.dtype) + "; expected float32");
  DType out = quantize_output_dtype(ctx);
  if (scale.shape_known && (!ctx.has(2) || ctx.in(2).shape_known))
    check_params(ctx.node, ctx.where, x.shape, x.shape_known, scale.shape,
                 ctx.has(2) ? &ctx.in(2).shape : nullptr);
  if (x.shape_known)
    ctx.set_output(0, out, x.shape);
  else
    ctx.set_output_unknown_shape(0, out);
}

void infer_dequantize(InferContext& ctx) {
  check_block_size(ctx.node, ctx.where);
  const ValueInfo& x = ctx.in(0);
  const ValueInfo& scale = ctx.in(1);
  if (!is_quant_type(x.dtype) && x.dtype != DType::i32)
    ctx.fail(ErrorKind::unsupported,
             "x is " + dtype_name(x.dtype) + "; expected int8, uint8, int16, uint16 or int32");
  if (scale.dtype != DType::f32)
    ctx.fail(ErrorKind::unsupported, "scale is " + dtype_name(scale.dtype) + "; expected float32");
  if (ctx.has(2) && ctx.in(2).dtype != x.dtype)
    ctx.fail(ErrorKind::shape, "zero point is " + dtype_name(ctx.in(2).dtype) + " but x is " +
                                   dtype_name(x.dtype) + "; they must match");
  if (scale.shape_known && (!ctx.has(2) || ctx.in(2).shape_known))
    check_params(ctx.node, ctx.where, x.shape, x.shape_known, scale.shape,
                 ctx.has(2) ? &ctx.in(2).shape : nullptr);
  if (x.shape_known)
    ctx.set_output(0, DType::f32, x.shape);
  else
    ctx.set_output_unknown_shape(0, DType::f32);
}

// Number of elements between consecutive indices of `axis` and the axis size, for per-axis
// parameters: element i uses parameter (i / inner) % n.
void axis_layout(const Tensor& x, int64_t axis, int64_t& inner, int64_t& n) {
  inner = 1;
  n = 1;
  if (axis < 0) return;
  n = x.dim(static_cast<int>(axis));
  for (int i = static_cast<int>(axis) + 1; i < x.rank(); ++i) inner *= x.dim(i);
}

template <class Q>
void quantize_kernel(const Tensor& x, const std::vector<double>& scale,
                     const std::vector<int64_t>& zp, int64_t inner, int64_t n, Tensor& y) {
  Q* yp = y.data<Q>();
  const int64_t total = x.numel();
  const double lo = static_cast<double>(std::numeric_limits<Q>::lowest());
  const double hi = static_cast<double>(std::numeric_limits<Q>::max());
  const bool f32 = x.dtype() == DType::f32;
  const std::vector<double> xd = f32 ? std::vector<double>{} : x.to_doubles();
  const float* xf = f32 ? x.data<float>() : nullptr;
#pragma omp parallel for schedule(static) if (total > 65536)
  for (int64_t i = 0; i < total; ++i) {
    size_t c = static_cast<size_t>((i / inner) % n);
    double q;
    if (f32) {
      // Divide in float32 as the ONNX reference does, so ties round the same way.
      q = std::nearbyint(static_cast<double>(xf[i] / static_cast<float>(scale[c])));
    } else {
      q = std::nearbyint(xd[static_cast<size_t>(i)] / scale[c]);
    }
    q += static_cast<double>(zp[c]);
    if (std::isnan(q)) q = 0;
    q = std::min(std::max(q, lo), hi);
    yp[i] = static_cast<Q>(q);
  }
}

void run_quantize(RunContext& ctx) {
  check_block_size(ctx.node, ctx.where);
  const Tensor& x = ctx.in(0);
  const Tensor& scale = ctx.in(1);
  const Tensor* zpt = ctx.has(2) ? ctx.inputs[2] : nullptr;
  Shape zp_shape = zpt ? zpt->shape() : Shape{};
  int64_t axis =
      check_params(ctx.node, ctx.where, x.shape(), true, scale.shape(), zpt ? &zp_shape : nullptr);
  DType out = DType::u8;
  int64_t code = ctx.node.attr_int("output_dtype", 0);
  if (code != 0) out = quant_type_from_onnx(code, ctx.where);
  if (zpt) out = zpt->dtype();
  if (!is_quant_type(out))
    ctx.fail(ErrorKind::unsupported, "zero point dtype " + dtype_name(out) + " is not supported",
             "quantize to int8, uint8, int16 or uint16");
  if (x.dtype() != DType::f32 && x.dtype() != DType::f64 && x.dtype() != DType::i32)
    ctx.fail(ErrorKind::unsupported,
             "x is " + dtype_name(x.dtype()) + "; expected float32 or int32");
  std::vector<double> s = scale.to_doubles();
  std::vector<int64_t> zp = zpt ? zpt->to_int64s() : std::vector<int64_t>(s.size(), 0);
  for (double v : s)
    if (!(v > 0) && !(v < 0))
      ctx.fail(ErrorKind::invalid,
               "scale contains " + std::to_string(v) + "; scales must be non-zero");
  int64_t inner = 1, n = 1;
  axis_layout(x, axis, inner, n);
  Tensor y(out, x.shape());
  switch (out) {
    case DType::i8:
      quantize_kernel<int8_t>(x, s, zp, inner, n, y);
      break;
    case DType::u8:
      quantize_kernel<uint8_t>(x, s, zp, inner, n, y);
      break;
    case DType::i16:
      quantize_kernel<int16_t>(x, s, zp, inner, n, y);
      break;
    case DType::u16:
      quantize_kernel<uint16_t>(x, s, zp, inner, n, y);
      break;
    default:
      ACIM_ASSERT(false, "quantize: unexpected output dtype");
  }
  ctx.outputs[0] = y;
}

template <class Q>
void dequantize_kernel(const Tensor& x, const std::vector<float>& scale,
                       const std::vector<int64_t>& zp, int64_t inner, int64_t n, Tensor& y) {
  const Q* xp = x.data<Q>();
  float* yp = y.data<float>();
  const int64_t total = x.numel();
#pragma omp parallel for schedule(static) if (total > 65536)
  for (int64_t i = 0; i < total; ++i) {
    size_t c = static_cast<size_t>((i / inner) % n);
    yp[i] = static_cast<float>(static_cast<int64_t>(xp[i]) - zp[c]) * scale[c];
  }
}

void run_dequantize(RunContext& ctx) {
  check_block_size(ctx.node, ctx.where);
  const Tensor& x = ctx.in(0);
  const Tensor& scale = ctx.in(1);
  const Tensor* zpt = ctx.has(2) ? ctx.inputs[2] : nullptr;
  Shape zp_shape = zpt ? zpt->shape() : Shape{};
  int64_t axis =
      check_params(ctx.node, ctx.where, x.shape(), true, scale.shape(), zpt ? &zp_shape : nullptr);
  if (scale.dtype() != DType::f32)
    ctx.fail(ErrorKind::unsupported,
             "scale is " + dtype_name(scale.dtype()) + "; expected float32");
  if (zpt && zpt->dtype() != x.dtype())
    ctx.fail(ErrorKind::shape, "zero point is " + dtype_name(zpt->dtype()) + " but x is " +
                                   dtype_name(x.dtype()) + "; they must match");
  std::vector<float> s(scale.data<float>(), scale.data<float>() + scale.numel());
  std::vector<int64_t> zp = zpt ? zpt->to_int64s() : std::vector<int64_t>(s.size(), 0);
  int64_t inner = 1, n = 1;
  axis_layout(x, axis, inner, n);
  Tensor y(DType::f32, x.shape());
  switch (x.dtype()) {
    case DType::i8:
      dequantize_kernel<int8_t>(x, s, zp, inner, n, y);
      break;
    case DType::u8:
      dequantize_kernel<uint8_t>(x, s, zp, inner, n, y);
      break;
    case DType::i16:
      dequantize_kernel<int16_t>(x, s, zp, inner, n, y);
      break;
    case DType::u16:
      dequantize_kernel<uint16_t>(x, s, zp, inner, n, y);
      break;
    case DType::i32:
      for (int64_t v : zp)
        if (v != 0)
          ctx.fail(ErrorKind::invalid,
                   "int32 input needs a zero zero point, got " + std::to_string(v));
      dequantize_kernel<int32_t>(x, s, zp, inner, n, y);
      break;
    default:
      ctx.fail(ErrorKind::unsupported,
               "x is " + dtype_name(x.dtype()) + "; expected int8, uint8, int16, uint16 or int32");
  }
  ctx.outputs[0] = y;
}

// DynamicQuantizeLinear: uint8 quantization with the scale and zero point taken from the range of
// x (widened to include 0), computed in float32.
void infer_dynamic_quantize(InferContext& ctx) {
  const ValueInfo& x = ctx.in(0);
  require_f32(ctx, 0, x.dtype);
  if (x.shape_known)
    ctx.set_output(0, DType::u8, x.shape);
  else
    ctx.set_output_unknown_shape(0, DType::u8);
  if (ctx.outputs.size() > 1) ctx.set_output(1, DType::f32, {});
  if (ctx.outputs.size() > 2) ctx.set_output(2, DType::u8, {});
}

void run_dynamic_quantize(RunContext& ctx) {
  const Tensor& x = ctx.in(0);
  if (x.dtype() != DType::f32)
    ctx.fail(ErrorKind::unsupported, "x is " + dtype_name(x.dtype()) + "; expected float32");
  const float* xp = x.data<float>();
  float lo = 0.0f, hi = 0.0f;
  for (int64_t i = 0; i < x.numel(); ++i) {
    if (std::isnan(xp[i])) ctx.fail(ErrorKind::invalid, "x contains NaN; its range is undefined");
    lo = std::min(lo, xp[i]);
    hi = std::max(hi, xp[i]);
  }
  const float scale = (hi == lo ? 1.0f : hi - lo) / 255.0f;
  const float zp = std::nearbyint(std::min(255.0f, std::max(0.0f, 0.0f - lo / scale)));
  Tensor y(DType::u8, x.shape());
  uint8_t* yp = y.data<uint8_t>();
  const int64_t total = x.numel();
#pragma omp parallel for schedule(static) if (total > 65536)
  for (int64_t i = 0; i < total; ++i) {
    float q = std::nearbyint(xp[i] / scale) + zp;
    yp[i] = static_cast<uint8_t>(std::min(255.0f, std::max(0.0f, q)));
  }
  ctx.outputs[0] = y;
  if (ctx.outputs.size() > 1) ctx.outputs[1] = Tensor::scalar<float>(scale);
  if (ctx.outputs.size() > 2) ctx.outputs[2] = Tensor::scalar<uint8_t>(static_cast<uint8_t>(zp));
}

}  // namespace

void register_quant(std::vector<OpDef>& ops) {
  ops.push_back(OpDef{"QuantizeLinear", 2, 3, infer_quantize, run_quantize, nullptr});
  ops.push_back(OpDef{"DequantizeLinear", 2, 3, infer_dequantize, run_dequantize, nullptr});
  ops.push_back(
      OpDef{"DynamicQuantizeLinear", 1, 1, infer_dynamic_quantize, run_dynamic_quantize, nullptr});
}

}  // namespace acim::ops
