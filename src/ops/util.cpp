#include "ops/util.hpp"

#include <algorithm>
#include <iterator>

namespace acim::ops {

bool broadcast_shapes(const Shape& a, const Shape& b, Shape& out) {
  size_t n = std::max(a.size(), b.size());
  out.assign(n, 1);
  for (size_t i = 0; i < n; ++i) {
    int64_t da = i < n - a.size() ? 1 : a[i - (n - a.size())];
    int64_t db = i < n - b.size() ? 1 : b[i - (n - b.size())];
    if (da == db)
      out[i] = da;
    else if (da == 1)
      out[i] = db;
    else if (db == 1)
      out[i] = da;
    else if (da < 0 || db < 0)
      out[i] = std::max(da, db);  // the known one, if the unknown turns out to be 1
    else
      return false;
  }
  return true;
}

int64_t normalize_axis(int64_t axis, int64_t rank, const std::string& where) {
  if (axis < -rank || axis >= rank)
    throw Error(ErrorKind::invalid, where,
                "axis " + std::to_string(axis) + " is out of range for rank " + std::to_string(rank));
  return axis < 0 ? axis + rank : axis;
}

void require_f32(const InferContext& ctx, size_t input, DType dt) {
  if (dt != DType::f32)
    ctx.fail(ErrorKind::unsupported,
             "input " + std::to_string(input) + " is " + dtype_name(dt) +
                 "; this op runs in float32 only",
             "export the model with float32 tensors");
}

DType dtype_from_onnx(int64_t code, const std::string& where) {
  // TensorProto.DataType numbering (onnx.proto, as of ONNX 1.16).
  static const char* const kNames[] = {
      "undefined",      "float",      "uint8",      "int8",           "uint16",  "int16",
      "int32",          "int64",      "string",     "bool",           "float16", "double",
      "uint32",         "uint64",     "complex64",  "complex128",     "bfloat16", "float8e4m3fn",
      "float8e4m3fnuz", "float8e5m2", "float8e5m2fnuz", "uint4",    "int4"};
  switch (code) {
    case 1: return DType::f32;
    case 2: return DType::u8;
    case 3: return DType::i8;
    case 4: return DType::u16;
    case 5: return DType::i16;
    case 6: return DType::i32;
    case 7: return DType::i64;
    case 9: return DType::boolean;
    case 10: return DType::f16;
    case 11: return DType::f64;
    case 12: return DType::u32;
    case 13: return DType::u64;
    default: break;
  }
  std::string name = code >= 0 && code < static_cast<int64_t>(std::size(kNames))
                         ? std::string(kNames[code])
                         : "#" + std::to_string(code);
  throw Error(ErrorKind::unsupported, where, "data type " + name + " is not supported",
              "acim handles float32/float64/float16 and integer/bool tensors");
}

void require_f32_run(const RunContext& ctx, size_t i) {
  if (ctx.has(i) && ctx.in(i).dtype() != DType::f32)
    ctx.fail(ErrorKind::unsupported,
             "input " + std::to_string(i) + " is " + dtype_name(ctx.in(i).dtype()) +
                 "; this op runs in float32 only",
             "export the model with float32 tensors");
}

}  // namespace acim::ops
