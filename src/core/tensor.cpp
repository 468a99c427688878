#include "acim/tensor.hpp"

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <new>

namespace acim {

size_t dtype_size(DType dt) {
  switch (dt) {
    case DType::f64: case DType::i64: case DType::u64: return 8;
    case DType::f32: case DType::i32: case DType::u32: return 4;
    case DType::f16: case DType::i16: case DType::u16: return 2;
    case DType::i8: case DType::u8: case DType::boolean: return 1;
  }
  return 1;
}

std::string dtype_name(DType dt) {
  switch (dt) {
    case DType::f32: return "float32";
    case DType::f64: return "float64";
    case DType::f16: return "float16";
    case DType::i8: return "int8";
    case DType::u8: return "uint8";
    case DType::i16: return "int16";
    case DType::u16: return "uint16";
    case DType::i32: return "int32";
    case DType::u32: return "uint32";
    case DType::i64: return "int64";
    case DType::u64: return "uint64";
    case DType::boolean: return "bool";
  }
  return "?";
}

bool dtype_is_float(DType dt) { return dt == DType::f32 || dt == DType::f64 || dt == DType::f16; }
bool dtype_is_integer(DType dt) { return !dtype_is_float(dt) && dt != DType::boolean; }

int64_t shape_numel(const Shape& shape) {
  // A zero dimension makes it 0 wherever it is: a hostile file's [huge, huge, 0] must not
  // overflow on the way (a fuzz_onnx finding, 2026-11-27).
  int64_t n = 1;
  bool overflow = false;
  for (int64_t d : shape) {
    if (d == 0) return 0;
    overflow = __builtin_mul_overflow(n, d, &n) || overflow;
  }
  if (overflow)
    throw Error(ErrorKind::limit, "",
                "shape " + shape_str(shape) + " has more elements than a 64-bit count holds",
                "check the model's shapes");
  return n;
}

bool shape_is_known(const Shape& shape) {
  for (int64_t d : shape)
    if (d < 0) return false;
  return true;
}

std::string shape_str(const Shape& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ",";
    s += shape[i] < 0 ? "?" : std::to_string(shape[i]);
  }
  return s + "]";
}

static std::atomic<size_t> g_max_tensor_bytes{size_t{8} << 30};
size_t max_tensor_bytes() { return g_max_tensor_bytes.load(); }
void set_max_tensor_bytes(size_t bytes) { g_max_tensor_bytes.store(bytes); }

namespace {
constexpr size_t kAlign = 64;
struct AlignedDelete {
  void operator()(std::byte* p) const { std::free(p); }
};
}  // namespace

Tensor::Tensor(DType dtype, Shape shape) : Tensor(dtype, std::move(shape), true) {}

Tensor Tensor::uninitialized(DType dtype, Shape shape) { return Tensor(dtype, std::move(shape), false); }

Tensor::Tensor(DType dtype, Shape shape, bool zero_fill) : dtype_(dtype), shape_(std::move(shape)) {
  // Overflow-safe size check before allocating anything.
  const size_t limit = max_tensor_bytes();
  size_t bytes = dtype_size(dtype);
  bool too_large = false;
  for (int64_t d : shape_) {
    if (d < 0)
      throw Error(ErrorKind::shape, "", "cannot allocate a tensor of shape " + shape_str(shape_),
                  "all dimensions must be known and non-negative");
    auto ud = static_cast<size_t>(d);
    if (ud != 0 && bytes > limit / ud) too_large = true;
    bytes *= ud;
  }
  for (int64_t d : shape_)
    if (d == 0) too_large = false;  // an empty tensor is never too large
  if (too_large || bytes > limit)
    throw Error(ErrorKind::limit, "",
                "a " + dtype_name(dtype) + " tensor of shape " + shape_str(shape_) +
                    " exceeds the tensor size limit of " +
                    std::to_string(max_tensor_bytes() >> 20) + " MiB",
                "check the model's shapes, or raise the limit with --max-tensor-mb");
  size_t n = bytes;
  size_t alloc = (n + kAlign - 1) / kAlign * kAlign;
  if (alloc == 0) alloc = kAlign;
  void* p = std::aligned_alloc(kAlign, alloc);
  if (!p)
    throw Error(ErrorKind::limit, "",
                "out of memory allocating " + std::to_string(n >> 20) + " MiB for a tensor of shape " +
                    shape_str(shape_));
  if (zero_fill) std::memset(p, 0, alloc);
  buf_ = std::shared_ptr<std::byte[]>(static_cast<std::byte*>(p), AlignedDelete{});
}

void Tensor::check_dtype(DType want) const {
  ACIM_ASSERT(dtype_ == want, ("tensor dtype is " + dtype_name(dtype_) + ", accessed as " +
                               dtype_name(want)).c_str());
}

template <class F>
static void visit_dtype(DType dt, F&& f) {
  switch (dt) {
    case DType::f32: f(float{}); break;
    case DType::f64: f(double{}); break;
    case DType::i8: f(int8_t{}); break;
    case DType::u8: f(uint8_t{}); break;
    case DType::i16: f(int16_t{}); break;
    case DType::u16: f(uint16_t{}); break;
    case DType::i32: f(int32_t{}); break;
    case DType::u32: f(uint32_t{}); break;
    case DType::i64: f(int64_t{}); break;
    case DType::u64: f(uint64_t{}); break;
    case DType::boolean: f(bool{}); break;
    case DType::f16:
      throw Error(ErrorKind::unsupported, "", "float16 arithmetic is not supported",
                  "export the model in float32");
  }
}

std::vector<double> Tensor::to_doubles() const {
  std::vector<double> out(static_cast<size_t>(numel()));
  visit_dtype(dtype_, [&](auto tag) {
    using T = decltype(tag);
    const T* d = reinterpret_cast<const T*>(buf_.get());
    for (size_t i = 0; i < out.size(); ++i) out[i] = static_cast<double>(d[i]);
  });
  return out;
}

std::vector<int64_t> Tensor::to_int64s() const {
  std::vector<int64_t> out(static_cast<size_t>(numel()));
  visit_dtype(dtype_, [&](auto tag) {
    using T = decltype(tag);
    const T* d = reinterpret_cast<const T*>(buf_.get());
    for (size_t i = 0; i < out.size(); ++i) out[i] = static_cast<int64_t>(d[i]);
  });
  return out;
}

Tensor Tensor::reshaped(Shape shape) const {
  ACIM_ASSERT(shape_numel(shape) == numel(), "reshaped: element count differs");
  Tensor t = *this;
  t.shape_ = std::move(shape);
  return t;
}

Tensor Tensor::rows(int64_t begin, int64_t end) const {
  ACIM_ASSERT(rank() >= 1 && 0 <= begin && begin <= end && end <= dim(0), "rows: out of range");
  Shape s = shape_;
  s[0] = end - begin;
  Tensor t = Tensor::uninitialized(dtype_, s);
  const size_t row_bytes = dim(0) > 0 ? nbytes() / static_cast<size_t>(dim(0)) : 0;
  if (t.nbytes())
    std::memcpy(t.raw(), static_cast<const char*>(raw()) + static_cast<size_t>(begin) * row_bytes,
                t.nbytes());
  return t;
}

Tensor Tensor::clone() const {
  Tensor t(dtype_, shape_);
  if (nbytes()) std::memcpy(t.raw(), raw(), nbytes());
  return t;
}

Tensor Tensor::cast(DType to) const {
  if (to == dtype_) return clone();
  Tensor t(to, shape_);
  size_t n = static_cast<size_t>(numel());
  visit_dtype(dtype_, [&](auto from_tag) {
    using From = decltype(from_tag);
    const From* src = reinterpret_cast<const From*>(buf_.get());
    visit_dtype(to, [&](auto to_tag) {
      using To = decltype(to_tag);
      To* dst = reinterpret_cast<To*>(t.raw());
      for (size_t i = 0; i < n; ++i) {
        if constexpr (std::is_same_v<To, bool>)
          dst[i] = src[i] != From{};
        else
          dst[i] = static_cast<To>(src[i]);
      }
    });
  });
  return t;
}

}  // namespace acim
