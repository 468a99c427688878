// Shared pieces of the shape and data-movement ops (shape_ops.cpp, transpose.cpp, slice.cpp,
// gather.cpp). These ops move bytes: they copy elements by dtype_size, so they work on every
// dtype (float16 included) without per-type code.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "ops/op.hpp"

namespace acim::ops {

// Sub-families, registered by register_shape_ops.
void register_transpose_ops(std::vector<OpDef>& ops);  // transpose.cpp
void register_slice_ops(std::vector<OpDef>& ops);      // slice.cpp
void register_gather_ops(std::vector<OpDef>& ops);     // gather.cpp

// Calls f(U{}) with U an unsigned integer type of `esize` bytes (1, 2, 4 or 8): the type used
// to move one element of any dtype.
template <class F>
void visit_elem_size(size_t esize, F&& f) {
  switch (esize) {
    case 1:
      f(uint8_t{});
      return;
    case 2:
      f(uint16_t{});
      return;
    case 4:
      f(uint32_t{});
      return;
    case 8:
      f(uint64_t{});
      return;
    default:
      break;
  }
  ACIM_ASSERT(false, "unexpected element size");
}

// Row-major strides (in elements) of a shape.
std::vector<int64_t> row_major_strides(const Shape& shape);

// Product of known, non-negative dims, throwing Error(limit) naming `where` on int64 overflow.
int64_t checked_numel(const Shape& shape, const std::string& where);

// Values of a small integer tensor (shape, axes, indices, repeats inputs). Throws Error(shape)
// naming `where` and `what` (e.g. "input 1 (shape)") if the tensor is not of an integer dtype.
std::vector<int64_t> int_values(const Tensor& t, const std::string& where, const std::string& what);

// The acim dtype of an ONNX TensorProto data type code; Error(unsupported) for the others.
DType dtype_from_onnx(int64_t code, const std::string& where);

// Gathers a strided view into a dense row-major tensor: output element (i_0..i_{n-1}) of
// `shape` is read from src + elem_size * (offset + sum_k i_k * strides[k]); strides in elements,
// possibly zero (broadcast) or negative (reversed). `dst` must hold numel(shape) elements.
void copy_strided(const std::byte* src, int64_t offset, const std::vector<int64_t>& strides,
                  const Shape& shape, size_t elem_size, std::byte* dst);

// A dense copy of `in` with its axes permuted (output axis j is input axis perm[j]). `perm` must
// be a valid permutation (checked by the caller).
Tensor transpose_tensor(const Tensor& in, const std::vector<int64_t>& perm);

// Normalizes a list of axes against `rank` and checks that none repeats; errors name `where`.
std::vector<int64_t> normalize_axes(const std::vector<int64_t>& axes, int64_t rank,
                                    const std::string& where);

}  // namespace acim::ops
