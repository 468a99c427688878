// Tensor: a dense, row-major n-dimensional array with a dtype. Copies share the buffer
// (like a shared_ptr); clone() makes a deep copy. Element access is typed and checked.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "acim/error.hpp"

namespace acim {

enum class DType : uint8_t { f32, f64, f16, i8, u8, i16, u16, i32, u32, i64, u64, boolean };

size_t dtype_size(DType dt);
std::string dtype_name(DType dt);  // "float32", "int64", ...
bool dtype_is_float(DType dt);
bool dtype_is_integer(DType dt);  // signed or unsigned integers, not bool

template <class T> constexpr DType dtype_of();
template <> constexpr DType dtype_of<float>() { return DType::f32; }
template <> constexpr DType dtype_of<double>() { return DType::f64; }
template <> constexpr DType dtype_of<int8_t>() { return DType::i8; }
template <> constexpr DType dtype_of<uint8_t>() { return DType::u8; }
template <> constexpr DType dtype_of<int16_t>() { return DType::i16; }
template <> constexpr DType dtype_of<uint16_t>() { return DType::u16; }
template <> constexpr DType dtype_of<int32_t>() { return DType::i32; }
template <> constexpr DType dtype_of<uint32_t>() { return DType::u32; }
template <> constexpr DType dtype_of<int64_t>() { return DType::i64; }
template <> constexpr DType dtype_of<uint64_t>() { return DType::u64; }
template <> constexpr DType dtype_of<bool>() { return DType::boolean; }

// Shape of a tensor. In a graph's value infos a dimension may be unknown: kUnknownDim.
using Shape = std::vector<int64_t>;
inline constexpr int64_t kUnknownDim = -1;

// Product of dims; 1 for a scalar, 0 with any zero dim. Throws Error(limit) if it overflows.
int64_t shape_numel(const Shape& shape);
bool shape_is_known(const Shape& shape);  // no unknown dims
std::string shape_str(const Shape& shape);  // "[1,3,32,32]", unknown dims as "?"

// Largest tensor acim will allocate, in bytes (a guard against hostile files declaring huge
// tensors). Default 8 GiB; settable by the user.
size_t max_tensor_bytes();
void set_max_tensor_bytes(size_t bytes);

class Tensor {
 public:
  Tensor() = default;
  // A zero-filled tensor. Throws Error(limit) if it would exceed max_tensor_bytes().
  Tensor(DType dtype, Shape shape);
  // Same, but the contents are left undefined: for kernels that write every element.
  static Tensor uninitialized(DType dtype, Shape shape);

  template <class T>
  static Tensor from_vector(Shape shape, const std::vector<T>& values);
  template <class T>
  static Tensor scalar(T value) { return from_vector<T>({}, {value}); }

  bool empty() const { return !buf_; }
  // Whether no other Tensor shares this one's buffer (a view, a copy of the handle): then writing
  // it in place changes no one else's values.
  bool sole_owner() const { return buf_.use_count() == 1; }
  DType dtype() const { return dtype_; }
  const Shape& shape() const { return shape_; }
  int rank() const { return static_cast<int>(shape_.size()); }
  int64_t dim(int i) const { return shape_[static_cast<size_t>(i < 0 ? i + rank() : i)]; }
  int64_t numel() const { return shape_numel(shape_); }
  size_t nbytes() const { return static_cast<size_t>(numel()) * dtype_size(dtype_); }

  void* raw() { return buf_.get(); }
  const void* raw() const { return buf_.get(); }
  template <class T> T* data() {
    check_dtype(dtype_of<T>());
    return reinterpret_cast<T*>(buf_.get());
  }
  template <class T> const T* data() const {
    check_dtype(dtype_of<T>());
    return reinterpret_cast<const T*>(buf_.get());
  }
  template <class T> std::span<T> span() { return {data<T>(), static_cast<size_t>(numel())}; }
  template <class T> std::span<const T> span() const {
    return {data<T>(), static_cast<size_t>(numel())};
  }
  // Elements converted to double / int64, whatever the dtype (for small tensors: attributes,
  // shapes, scalars).
  std::vector<double> to_doubles() const;
  std::vector<int64_t> to_int64s() const;

  // Same buffer, another shape with the same number of elements.
  Tensor reshaped(Shape shape) const;
  Tensor clone() const;
  // A copy of rows [begin, end) along dim 0 (samples of a batch); rank >= 1.
  Tensor rows(int64_t begin, int64_t end) const;
  // Converted to another dtype (float→int truncates toward zero as static_cast does).
  Tensor cast(DType to) const;

 private:
  Tensor(DType dtype, Shape shape, bool zero_fill);
  void check_dtype(DType want) const;

  DType dtype_ = DType::f32;
  Shape shape_;
  std::shared_ptr<std::byte[]> buf_;
};

template <class T>
Tensor Tensor::from_vector(Shape shape, const std::vector<T>& values) {
  Tensor t(dtype_of<T>(), std::move(shape));
  ACIM_ASSERT(static_cast<int64_t>(values.size()) == t.numel(), "from_vector: size mismatch");
  T* d = t.data<T>();
  for (size_t i = 0; i < values.size(); ++i) d[i] = values[i];
  return t;
}

}  // namespace acim
