// Indexing ops: Gather, GatherElements, OneHot, Trilu. Indices are checked before any copy, so a
// bad index is an Error naming the node, never an out-of-bounds read.
#include <algorithm>
#include <cmath>
#include <limits>

#include "ops/shape_ops.hpp"
#include "ops/util.hpp"

namespace acim::ops {

namespace {

constexpr int64_t kParallelBytes = 1 << 16;

// Indices normalized to [0, dim): negative ones count from the end; others are an Error.
std::vector<int64_t> checked_indices(const Tensor& indices, int64_t dim, const std::string& where) {
  std::vector<int64_t> idx = int_values(indices, where, "input 1 (indices)");
  for (int64_t& i : idx) {
    int64_t orig = i;
    if (i < 0) i += dim;
    if (i < 0 || i >= dim)
      throw Error(
          ErrorKind::invalid, where,
          "index " + std::to_string(orig) + " is out of range for an axis of size " +
              std::to_string(dim),
          "indices must lie in [" + std::to_string(-dim) + ", " + std::to_string(dim - 1) + "]");
  }
  return idx;
}

// ---- Gather --------------------------------------------------------------------------------

Shape gather_shape(const Shape& data, const Shape& indices, int64_t axis) {
  Shape out(data.begin(), data.begin() + axis);
  out.insert(out.end(), indices.begin(), indices.end());
  out.insert(out.end(), data.begin() + axis + 1, data.end());
  return out;
}

void gather_infer(InferContext& ctx) {
  const ValueInfo& x = ctx.in(0);
  const ValueInfo& ind = ctx.in(1);
  if (!dtype_is_integer(ind.dtype))
    ctx.fail(ErrorKind::shape,
             "indices are " + dtype_name(ind.dtype) + "; int32 or int64 required");
  if (!x.shape_known || !ind.shape_known) {
    ctx.set_output_unknown_shape(0, x.dtype);
    return;
  }
  if (x.shape.empty()) ctx.fail(ErrorKind::shape, "data must have rank >= 1, got a scalar");
  int64_t axis =
      normalize_axis(ctx.node.attr_int("axis", 0), static_cast<int64_t>(x.shape.size()), ctx.where);
  ctx.set_output(0, x.dtype, gather_shape(x.shape, ind.shape, axis));
}

void gather_run(RunContext& ctx) {
  const Tensor& x = ctx.in(0);
  const Tensor& ind = ctx.in(1);
  if (x.rank() == 0) ctx.fail(ErrorKind::shape, "data must have rank >= 1, got a scalar");
  int64_t axis = normalize_axis(ctx.node.attr_int("axis", 0), x.rank(), ctx.where);
  const int64_t dim = x.shape()[static_cast<size_t>(axis)];
  std::vector<int64_t> idx = checked_indices(ind, dim, ctx.where);
  Tensor out = Tensor::uninitialized(x.dtype(), gather_shape(x.shape(), ind.shape(), axis));
  const int64_t outer = shape_numel(Shape(x.shape().begin(), x.shape().begin() + axis));
  const size_t inner =
      static_cast<size_t>(shape_numel(Shape(x.shape().begin() + axis + 1, x.shape().end()))) *
      dtype_size(x.dtype());
  const auto n = static_cast<int64_t>(idx.size());
  const int64_t tasks = outer * n;
  const auto* src = static_cast<const std::byte*>(x.raw());
  auto* dst = static_cast<std::byte*>(out.raw());
  if (inner == 0 || tasks == 0) {
    ctx.outputs[0] = out;
    return;
  }
  const bool parallel = static_cast<int64_t>(out.nbytes()) >= kParallelBytes;
#pragma omp parallel for schedule(static) if (parallel)
  for (int64_t t = 0; t < tasks; ++t) {
    int64_t o = t / n;
    int64_t k = t % n;
    std::memcpy(dst + static_cast<size_t>(t) * inner,
                src + static_cast<size_t>(o * dim + idx[static_cast<size_t>(k)]) * inner, inner);
  }
  ctx.outputs[0] = out;
}

// ---- GatherElements ------------------------------------------------------------------------

void check_gather_elements(const Shape& data, const Shape& ind, int64_t axis,
                           const std::string& where) {
  if (data.size() != ind.size())
    throw Error(ErrorKind::shape, where,
                "indices " + shape_str(ind) + " must have the rank of data " + shape_str(data));
  for (size_t k = 0; k < data.size(); ++k)
    if (static_cast<int64_t>(k) != axis && data[k] >= 0 && ind[k] > data[k])
      throw Error(ErrorKind::shape, where,
                  "indices " + shape_str(ind) + " exceed data " + shape_str(data) + " on axis " +
                      std::to_string(k));
}

void gather_elements_infer(InferContext& ctx) {
  const ValueInfo& x = ctx.in(0);
  const ValueInfo& ind = ctx.in(1);
  if (!dtype_is_integer(ind.dtype))
    ctx.fail(ErrorKind::shape,
             "indices are " + dtype_name(ind.dtype) + "; int32 or int64 required");
  if (!ind.shape_known) {
    ctx.set_output_unknown_shape(0, x.dtype);
    return;
  }
  if (x.shape_known) {
    int64_t axis = normalize_axis(ctx.node.attr_int("axis", 0),
                                  static_cast<int64_t>(x.shape.size()), ctx.where);
    check_gather_elements(x.shape, ind.shape, axis, ctx.where);
  }
  ctx.set_output(0, x.dtype, ind.shape);
}

void gather_elements_run(RunContext& ctx) {
  const Tensor& x = ctx.in(0);
  const Tensor& ind = ctx.in(1);
  if (x.rank() == 0) ctx.fail(ErrorKind::shape, "data must have rank >= 1, got a scalar");
  const int64_t axis = normalize_axis(ctx.node.attr_int("axis", 0), x.rank(), ctx.where);
  check_gather_elements(x.shape(), ind.shape(), axis, ctx.where);
  std::vector<int64_t> idx = checked_indices(ind, x.shape()[static_cast<size_t>(axis)], ctx.where);
  Tensor out = Tensor::uninitialized(x.dtype(), ind.shape());
  if (out.numel() == 0) {
    ctx.outputs[0] = out;
    return;
  }
  const auto r = static_cast<size_t>(x.rank());
  const auto ax = static_cast<size_t>(axis);
  std::vector<int64_t> ds = row_major_strides(x.shape());
  const Shape& is = ind.shape();
  const int64_t inner = is[r - 1];
  const int64_t rows = out.numel() / inner;
  const int64_t last_stride = ax == r - 1 ? 0 : ds[r - 1];
  const bool parallel = static_cast<int64_t>(out.nbytes()) >= kParallelBytes;
  visit_elem_size(dtype_size(x.dtype()), [&](auto tag) {
    using U = decltype(tag);
    const U* s = static_cast<const U*>(x.raw());
    U* d = static_cast<U*>(out.raw());
#pragma omp parallel for schedule(static) if (parallel)
    for (int64_t row = 0; row < rows; ++row) {
      int64_t base = 0;
      int64_t rem = row;
      for (size_t k = r - 1; k-- > 0;) {
        int64_t i = rem % is[k];
        rem /= is[k];
        if (k != ax) base += i * ds[k];
      }
      for (int64_t j = 0; j < inner; ++j) {
        int64_t e = row * inner + j;
        d[e] = s[base + j * last_stride + idx[static_cast<size_t>(e)] * ds[ax]];
      }
    }
  });
  ctx.outputs[0] = out;
}

// ---- OneHot --------------------------------------------------------------------------------

int64_t one_hot_depth(const Tensor& depth, const std::string& where) {
  if (depth.numel() != 1)
    throw Error(ErrorKind::shape, where, "depth must be a scalar, got " + shape_str(depth.shape()));
  double d = depth.to_doubles()[0];
  if (!(d >= 1.0 && d <= 1e12))
    throw Error(ErrorKind::invalid, where, "depth " + std::to_string(d) + " is out of range");
  return static_cast<int64_t>(d);
}

void one_hot_infer(InferContext& ctx) {
  const ValueInfo& ind = ctx.in(0);
  ctx.in(1);
  const ValueInfo& values = ctx.in(2);
  if (!ind.shape_known) {
    ctx.set_output_unknown_shape(0, values.dtype);
    return;
  }
  const auto r = static_cast<int64_t>(ind.shape.size()) + 1;
  int64_t axis = normalize_axis(ctx.node.attr_int("axis", -1), r, ctx.where);
  Shape out = ind.shape;
  int64_t depth = ctx.constant(1) ? one_hot_depth(*ctx.constant(1), ctx.where) : kUnknownDim;
  out.insert(out.begin() + axis, depth);
  ctx.set_output(0, values.dtype, out);
}

void one_hot_run(RunContext& ctx) {
  const Tensor& ind = ctx.in(0);
  const Tensor& values = ctx.in(2);
  int64_t depth = one_hot_depth(ctx.in(1), ctx.where);
  if (values.numel() != 2)
    ctx.fail(ErrorKind::shape,
             "values must hold [off_value, on_value], got " + shape_str(values.shape()));
  if (ind.dtype() == DType::f16)
    ctx.fail(ErrorKind::unsupported, "float16 indices are not supported");
  const int64_t axis = normalize_axis(ctx.node.attr_int("axis", -1), ind.rank() + 1, ctx.where);
  Shape out_shape = ind.shape();
  out_shape.insert(out_shape.begin() + axis, depth);
  Tensor out = Tensor::uninitialized(values.dtype(), out_shape);
  const size_t es = dtype_size(values.dtype());
  const auto* vals = static_cast<const std::byte*>(values.raw());
  auto* dst = static_cast<std::byte*>(out.raw());
  for (int64_t e = 0; e < out.numel(); ++e)
    std::memcpy(dst + static_cast<size_t>(e) * es, vals, es);
  const int64_t inner = shape_numel(Shape(ind.shape().begin() + axis, ind.shape().end()));
  std::vector<double> idx = ind.to_doubles();
  for (size_t p = 0; p < idx.size(); ++p) {
    double v = idx[p];
    if (!std::isfinite(v)) continue;
    v = std::trunc(v);
    if (v < 0) v += static_cast<double>(depth);
    if (v < 0 || v >= static_cast<double>(depth)) continue;  // out of range: all off
    const auto i = static_cast<int64_t>(v);
    const int64_t o = static_cast<int64_t>(p) / inner;
    const int64_t in = static_cast<int64_t>(p) % inner;
    std::memcpy(dst + static_cast<size_t>((o * depth + i) * inner + in) * es, vals + es, es);
  }
  ctx.outputs[0] = out;
}

// ---- Trilu ---------------------------------------------------------------------------------

void trilu_infer(InferContext& ctx) {
  const ValueInfo& x = ctx.in(0);
  if (!x.shape_known) {
    ctx.set_output_unknown_shape(0, x.dtype);
    return;
  }
  if (x.shape.size() < 2)
    ctx.fail(ErrorKind::shape, "input " + shape_str(x.shape) + " must have rank >= 2");
  ctx.set_output(0, x.dtype, x.shape);
}

void trilu_run(RunContext& ctx) {
  const Tensor& x = ctx.in(0);
  if (x.rank() < 2)
    ctx.fail(ErrorKind::shape, "input " + shape_str(x.shape()) + " must have rank >= 2");
  int64_t k = 0;
  if (ctx.has(1)) {
    std::vector<int64_t> kv = int_values(ctx.in(1), ctx.where, "input 1 (k)");
    if (kv.size() != 1) ctx.fail(ErrorKind::shape, "k must be a scalar");
    k = kv[0];
  }
  const bool upper = ctx.node.attr_int("upper", 1) != 0;
  Tensor out = x.clone();
  const int64_t m = x.dim(-2);
  const int64_t n = x.dim(-1);
  if (out.numel() == 0) {
    ctx.outputs[0] = out;
    return;
  }
  k = std::clamp<int64_t>(k, -(m + n), m + n);
  const size_t es = dtype_size(x.dtype());
  const int64_t mats = out.numel() / (m * n);
  auto* d = static_cast<std::byte*>(out.raw());
  for (int64_t b = 0; b < mats; ++b)
    for (int64_t i = 0; i < m; ++i) {
      // Upper keeps j >= i + k (zero [0, i + k)); lower keeps j <= i + k (zero [i + k + 1, n)).
      int64_t z0 = upper ? 0 : std::clamp<int64_t>(i + k + 1, 0, n);
      int64_t z1 = upper ? std::clamp<int64_t>(i + k, 0, n) : n;
      if (z1 > z0)
        std::memset(d + static_cast<size_t>((b * m + i) * n + z0) * es, 0,
                    static_cast<size_t>(z1 - z0) * es);
    }
  ctx.outputs[0] = out;
}

}  // namespace

void register_gather_ops(std::vector<OpDef>& ops) {
  ops.push_back({"Gather", 2, 2, gather_infer, gather_run, nullptr});
  ops.push_back({"GatherElements", 2, 2, gather_elements_infer, gather_elements_run, nullptr});
  ops.push_back({"OneHot", 3, 3, one_hot_infer, one_hot_run, nullptr});
  ops.push_back({"Trilu", 1, 2, trilu_infer, trilu_run, nullptr});
}

}  // namespace acim::ops
