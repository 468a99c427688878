// Small helpers shared by the op families.
#pragma once

#include <cstdint>
#include <string>
#include <type_traits>

#include "ops/op.hpp"

namespace acim::ops {

// Numpy-style multidirectional broadcast of two shapes (unknown dims propagate as unknown).
// Returns false if they cannot broadcast.
bool broadcast_shapes(const Shape& a, const Shape& b, Shape& out);

// Axis in [-rank, rank) to [0, rank); throws Error(invalid) via `where` otherwise.
int64_t normalize_axis(int64_t axis, int64_t rank, const std::string& where);

// Calls f(T{}) with T the C++ type of dtype `dt`, for the dtypes the executor computes in.
// Throws Error(unsupported) naming `where` for others (float16).
template <class F>
void visit_dtype(DType dt, const std::string& where, F&& f) {
  switch (dt) {
    case DType::f32: f(float{}); return;
    case DType::f64: f(double{}); return;
    case DType::i8: f(int8_t{}); return;
    case DType::u8: f(uint8_t{}); return;
    case DType::i16: f(int16_t{}); return;
    case DType::u16: f(uint16_t{}); return;
    case DType::i32: f(int32_t{}); return;
    case DType::u32: f(uint32_t{}); return;
    case DType::i64: f(int64_t{}); return;
    case DType::u64: f(uint64_t{}); return;
    case DType::boolean: f(bool{}); return;
    case DType::f16: break;
  }
  throw Error(ErrorKind::unsupported, where, "dtype " + dtype_name(dt) + " is not supported",
              "export the model with float32 tensors");
}

// An ONNX TensorProto.DataType code (1 = FLOAT, 7 = INT64, ...) as a DType; Error(unsupported)
// naming `where` and the ONNX type for codes acim has no dtype for.
DType dtype_from_onnx(int64_t code, const std::string& where);

// Throws Error(shape) unless `dt` is float32 (the dtype of the float kernels).
void require_f32(const InferContext& ctx, size_t input, DType dt);
// The same check at run time: input i, if present, must be float32.
void require_f32_run(const RunContext& ctx, size_t i);

}  // namespace acim::ops
