// Slice, Concat, Split, Pad, Tile, Expand: ops that copy regions of a tensor. Each is planned on
// shapes (shared by infer and run), then executed as strided copies of whole elements.
#include <algorithm>
#include <limits>

#include "ops/shape_ops.hpp"
#include "ops/util.hpp"

namespace acim::ops {

namespace {

constexpr int64_t kParallelBytes = 1 << 16;

// ---- Slice ---------------------------------------------------------------------------------

struct SliceArgs {
  std::vector<int64_t> starts, ends, axes, steps;
  bool has_axes = false;
  bool has_steps = false;
};

// Reads Slice's starts/ends/axes/steps from inputs 1-4 (opset 10+) or the attributes (opset 1).
// `value(i)` returns input i or nullptr when it is absent or not known; `given(i)` says whether
// input i is present. Returns false when a given input is not known.
template <class Value, class Given>
bool slice_args(const Node& node, Value value, Given given, const std::string& where,
                SliceArgs& a) {
  if (!given(1) && node.has_attr("starts")) {
    a.starts = node.attr_ints("starts");
    a.ends = node.attr_ints("ends");
    a.has_axes = node.has_attr("axes");
    a.axes = node.attr_ints("axes");
    return true;
  }
  const char* names[] = {"", "input 1 (starts)", "input 2 (ends)", "input 3 (axes)",
                         "input 4 (steps)"};
  std::vector<int64_t>* dst[] = {nullptr, &a.starts, &a.ends, &a.axes, &a.steps};
  bool known = true;
  for (size_t i = 1; i <= 4; ++i) {
    if (!given(i)) {
      if (i <= 2) throw Error(ErrorKind::invalid, where, std::string(names[i]) + " is missing");
      continue;
    }
    if (i == 3) a.has_axes = true;
    if (i == 4) a.has_steps = true;
    const Tensor* t = value(i);
    if (!t) {
      known = false;
      continue;
    }
    *dst[i] = int_values(*t, where, names[i]);
  }
  return known;
}

// Output shape, and per input axis the first index and step, of Slice on `in`. Unknown input
// dims on sliced axes give unknown output dims.
Shape slice_plan(const Shape& in, const SliceArgs& a, const std::string& where,
                 std::vector<int64_t>& first, std::vector<int64_t>& step) {
  const auto r = static_cast<int64_t>(in.size());
  const size_t n = a.starts.size();
  std::vector<int64_t> axes = a.axes;
  if (!a.has_axes)
    for (size_t i = 0; i < n; ++i) axes.push_back(static_cast<int64_t>(i));
  std::vector<int64_t> steps = a.steps;
  if (!a.has_steps) steps.assign(n, 1);
  if (a.ends.size() != n || axes.size() != n || steps.size() != n)
    throw Error(ErrorKind::invalid, where,
                "starts, ends, axes and steps have different lengths (" + std::to_string(n) + ", " +
                    std::to_string(a.ends.size()) + ", " + std::to_string(axes.size()) + ", " +
                    std::to_string(steps.size()) + ")");
  axes = normalize_axes(axes, r, where);
  Shape out = in;
  first.assign(in.size(), 0);
  step.assign(in.size(), 1);
  for (size_t i = 0; i < n; ++i) {
    auto ax = static_cast<size_t>(axes[i]);
    int64_t d = in[ax];
    int64_t st = steps[i];
    if (st == 0) throw Error(ErrorKind::invalid, where, "step " + std::to_string(i) + " is 0");
    step[ax] = st;
    if (d < 0) {
      out[ax] = kUnknownDim;
      continue;
    }
    int64_t s = a.starts[i];
    int64_t e = a.ends[i];
    if (s < 0) s += d;
    if (e < 0) e += d;
    int64_t len = 0;
    if (st > 0) {
      s = std::clamp<int64_t>(s, 0, d);
      e = std::clamp<int64_t>(e, 0, d);
      len = e > s ? (e - s - 1) / st + 1 : 0;
    } else if (d > 0) {
      s = std::clamp<int64_t>(s, 0, d - 1);
      e = std::clamp<int64_t>(e, -1, d - 1);
      int64_t mag =
          st == std::numeric_limits<int64_t>::min() ? std::numeric_limits<int64_t>::max() : -st;
      len = s > e ? (s - e - 1) / mag + 1 : 0;
    }
    first[ax] = len > 0 ? s : 0;
    out[ax] = len;
  }
  return out;
}

void slice_infer(InferContext& ctx) {
  const ValueInfo& x = ctx.in(0);
  SliceArgs a;
  bool known = slice_args(
      ctx.node, [&](size_t i) { return ctx.constant(i); }, [&](size_t i) { return ctx.has(i); },
      ctx.where, a);
  if (!x.shape_known) {
    ctx.set_output_unknown_shape(0, x.dtype);
    return;
  }
  std::vector<int64_t> first, step;
  if (known) {
    ctx.set_output(0, x.dtype, slice_plan(x.shape, a, ctx.where, first, step));
    return;
  }
  Shape out = x.shape;
  bool axes_known = a.has_axes ? ctx.constant(3) != nullptr || ctx.node.has_attr("axes") : false;
  if (axes_known) {
    for (int64_t ax : normalize_axes(a.axes, static_cast<int64_t>(out.size()), ctx.where))
      out[static_cast<size_t>(ax)] = kUnknownDim;
  } else {
    std::fill(out.begin(), out.end(), kUnknownDim);
  }
  ctx.set_output(0, x.dtype, out);
}

void slice_run(RunContext& ctx) {
  const Tensor& x = ctx.in(0);
  SliceArgs a;
  slice_args(
      ctx.node, [&](size_t i) { return ctx.has(i) ? ctx.inputs[i] : nullptr; },
      [&](size_t i) { return ctx.has(i); }, ctx.where, a);
  std::vector<int64_t> first, step;
  Shape out_shape = slice_plan(x.shape(), a, ctx.where, first, step);
  Tensor out = Tensor::uninitialized(x.dtype(), out_shape);
  std::vector<int64_t> in_strides = row_major_strides(x.shape());
  std::vector<int64_t> strides(in_strides.size());
  int64_t offset = 0;
  for (size_t k = 0; k < strides.size(); ++k) {
    strides[k] = in_strides[k] * step[k];
    offset += first[k] * in_strides[k];
  }
  copy_strided(static_cast<const std::byte*>(x.raw()), offset, strides, out_shape,
               dtype_size(x.dtype()), static_cast<std::byte*>(out.raw()));
  ctx.outputs[0] = out;
}

// ---- Concat --------------------------------------------------------------------------------

void concat_infer(InferContext& ctx) {
  const ValueInfo& x0 = ctx.in(0);
  const Shape* ref = nullptr;
  bool all_known = true;
  for (size_t i = 0; i < ctx.inputs.size(); ++i) {
    const ValueInfo& xi = ctx.in(i);
    if (xi.dtype != x0.dtype)
      ctx.fail(ErrorKind::shape, "input " + std::to_string(i) + " is " + dtype_name(xi.dtype) +
                                     " but input 0 is " + dtype_name(x0.dtype));
    if (!xi.shape_known)
      all_known = false;
    else if (!ref)
      ref = &xi.shape;
  }
  if (!ref) {
    ctx.set_output_unknown_shape(0, x0.dtype);
    return;
  }
  const auto r = static_cast<int64_t>(ref->size());
  const int64_t axis = normalize_axis(ctx.node.attr_int("axis", 0), r, ctx.where);
  Shape out(ref->size(), kUnknownDim);
  int64_t total = 0;
  for (size_t i = 0; i < ctx.inputs.size(); ++i) {
    const ValueInfo& xi = ctx.in(i);
    if (!xi.shape_known) continue;
    if (static_cast<int64_t>(xi.shape.size()) != r)
      ctx.fail(ErrorKind::shape, "input " + std::to_string(i) + " " + shape_str(xi.shape) +
                                     " has a different rank than " + shape_str(*ref));
    for (size_t k = 0; k < out.size(); ++k) {
      int64_t d = xi.shape[k];
      if (static_cast<int64_t>(k) == axis) {
        if (d < 0 || total < 0)
          total = kUnknownDim;
        else
          total += d;
        continue;
      }
      if (d < 0) continue;
      if (out[k] >= 0 && out[k] != d)
        ctx.fail(ErrorKind::shape, "input " + std::to_string(i) + " " + shape_str(xi.shape) +
                                       " does not match " + shape_str(*ref) + " outside axis " +
                                       std::to_string(axis));
      out[k] = d;
    }
  }
  out[static_cast<size_t>(axis)] = all_known ? total : kUnknownDim;
  ctx.set_output(0, x0.dtype, out);
}

void concat_run(RunContext& ctx) {
  const Tensor& x0 = ctx.in(0);
  const int64_t r = x0.rank();
  const int64_t axis = normalize_axis(ctx.node.attr_int("axis", 0), r, ctx.where);
  const auto ax = static_cast<size_t>(axis);
  Shape out_shape = x0.shape();
  out_shape[ax] = 0;
  for (size_t i = 0; i < ctx.inputs.size(); ++i) {
    const Tensor& xi = ctx.in(i);
    bool ok = xi.dtype() == x0.dtype() && xi.rank() == r;
    for (size_t k = 0; ok && k < out_shape.size(); ++k)
      ok = k == ax || xi.shape()[k] == x0.shape()[k];
    if (!ok)
      ctx.fail(ErrorKind::shape, "input " + std::to_string(i) + " " + dtype_name(xi.dtype()) +
                                     shape_str(xi.shape()) + " cannot be concatenated with " +
                                     dtype_name(x0.dtype()) + shape_str(x0.shape()) + " on axis " +
                                     std::to_string(axis));
    out_shape[ax] += xi.shape()[ax];
  }
  Tensor out = Tensor::uninitialized(x0.dtype(), out_shape);
  const size_t es = dtype_size(x0.dtype());
  const int64_t outer = shape_numel(Shape(out_shape.begin(), out_shape.begin() + axis));
  std::vector<size_t> chunk(ctx.inputs.size());  // bytes per outer index, per input
  size_t row = 0;
  for (size_t i = 0; i < chunk.size(); ++i) {
    chunk[i] = static_cast<size_t>(ctx.in(i).numel() / std::max<int64_t>(outer, 1)) * es;
    row += chunk[i];
  }
  if (outer == 0 || row == 0) {
    ctx.outputs[0] = out;
    return;
  }
  auto* dst = static_cast<std::byte*>(out.raw());
  const bool parallel = static_cast<int64_t>(out.nbytes()) >= kParallelBytes && outer > 1;
#pragma omp parallel for schedule(static) if (parallel)
  for (int64_t o = 0; o < outer; ++o) {
    std::byte* d = dst + static_cast<size_t>(o) * row;
    for (size_t i = 0; i < chunk.size(); ++i) {
      if (chunk[i] == 0) continue;
      const auto* s = static_cast<const std::byte*>(ctx.inputs[i]->raw());
      std::memcpy(d, s + static_cast<size_t>(o) * chunk[i], chunk[i]);
      d += chunk[i];
    }
  }
  ctx.outputs[0] = out;
}

// ---- Split ---------------------------------------------------------------------------------

// Sizes of Split's outputs along the axis of size `dim` (may be unknown). Returns false when
// they are not known (a non-constant split input, or an unknown dim without explicit sizes).
bool split_sizes(const Node& node, const Tensor* split_input, bool split_given, int64_t dim,
                 size_t n_out, const std::string& where, std::vector<int64_t>& sizes) {
  if (split_given || node.has_attr("split")) {
    if (split_given && !split_input) return false;
    sizes =
        split_given ? int_values(*split_input, where, "input 1 (split)") : node.attr_ints("split");
    if (sizes.size() != n_out)
      throw Error(ErrorKind::invalid, where,
                  "split " + shape_str(sizes) + " has " + std::to_string(sizes.size()) +
                      " entries for " + std::to_string(n_out) + " outputs");
    int64_t sum = 0;
    for (int64_t s : sizes) {
      if (s < 0)
        throw Error(ErrorKind::invalid, where,
                    "split " + shape_str(sizes) + " has a negative size");
      sum += s;
    }
    if (dim >= 0 && sum != dim)
      throw Error(ErrorKind::shape, where,
                  "split " + shape_str(sizes) + " sums to " + std::to_string(sum) +
                      " but the axis has size " + std::to_string(dim));
    return true;
  }
  if (n_out == 0) throw Error(ErrorKind::invalid, where, "Split has no outputs");
  const auto n = static_cast<int64_t>(n_out);
  if (node.has_attr("num_outputs") && node.attr_int("num_outputs", 0) != n)
    throw Error(ErrorKind::invalid, where,
                "num_outputs is " + std::to_string(node.attr_int("num_outputs", 0)) +
                    " but the node has " + std::to_string(n) + " outputs");
  if (dim < 0) return false;
  sizes.assign(n_out, dim / n);
  if (dim % n != 0) {
    if (!node.has_attr("num_outputs"))
      throw Error(ErrorKind::shape, where,
                  "axis of size " + std::to_string(dim) + " cannot be split into " +
                      std::to_string(n) + " equal parts",
                  "give the split sizes");
    // Opset 18: chunks of ceil(dim / n), the last one smaller.
    int64_t chunk = (dim + n - 1) / n;
    int64_t last = dim - chunk * (n - 1);
    if (last < 0)
      throw Error(ErrorKind::shape, where,
                  "axis of size " + std::to_string(dim) + " cannot be split into " +
                      std::to_string(n) + " chunks of " + std::to_string(chunk));
    sizes.assign(n_out, chunk);
    sizes.back() = last;
  }
  return true;
}

void split_infer(InferContext& ctx) {
  const ValueInfo& x = ctx.in(0);
  if (!x.shape_known) {
    for (size_t i = 0; i < ctx.outputs.size(); ++i) ctx.set_output_unknown_shape(i, x.dtype);
    return;
  }
  const auto axis = static_cast<size_t>(normalize_axis(
      ctx.node.attr_int("axis", 0), static_cast<int64_t>(x.shape.size()), ctx.where));
  std::vector<int64_t> sizes;
  bool known = split_sizes(ctx.node, ctx.constant(1), ctx.has(1), x.shape[axis], ctx.outputs.size(),
                           ctx.where, sizes);
  for (size_t i = 0; i < ctx.outputs.size(); ++i) {
    Shape s = x.shape;
    s[axis] = known ? sizes[i] : kUnknownDim;
    ctx.set_output(i, x.dtype, s);
  }
}

void split_run(RunContext& ctx) {
  const Tensor& x = ctx.in(0);
  const auto axis =
      static_cast<size_t>(normalize_axis(ctx.node.attr_int("axis", 0), x.rank(), ctx.where));
  std::vector<int64_t> sizes;
  split_sizes(ctx.node, ctx.has(1) ? ctx.inputs[1] : nullptr, ctx.has(1), x.shape()[axis],
              ctx.outputs.size(), ctx.where, sizes);
  std::vector<int64_t> strides = row_major_strides(x.shape());
  int64_t at = 0;
  for (size_t i = 0; i < ctx.outputs.size(); ++i) {
    Shape s = x.shape();
    s[axis] = sizes[i];
    Tensor out = Tensor::uninitialized(x.dtype(), s);
    copy_strided(static_cast<const std::byte*>(x.raw()), at * strides[axis], strides, s,
                 dtype_size(x.dtype()), static_cast<std::byte*>(out.raw()));
    at += sizes[i];
    ctx.outputs[i] = out;
  }
}

// ---- Pad -----------------------------------------------------------------------------------

enum class PadMode { constant, reflect, edge, wrap };

PadMode pad_mode(const Node& node, const std::string& where) {
  std::string m = node.attr_string("mode", "constant");
  if (m == "constant") return PadMode::constant;
  if (m == "reflect") return PadMode::reflect;
  if (m == "edge") return PadMode::edge;
  if (m == "wrap") return PadMode::wrap;
  throw Error(ErrorKind::unsupported, where, "pad mode '" + m + "' is not supported",
              "use constant, reflect, edge or wrap");
}

// Pads before and after each axis of a rank-r input, from `pads` (2 * naxes values) and `axes`
// (empty: all axes).
void pad_amounts(int64_t r, const std::vector<int64_t>& pads, const std::vector<int64_t>* axes_in,
                 const std::string& where, std::vector<int64_t>& before,
                 std::vector<int64_t>& after) {
  std::vector<int64_t> axes;
  if (axes_in)
    axes = normalize_axes(*axes_in, r, where);
  else
    for (int64_t i = 0; i < r; ++i) axes.push_back(i);
  if (pads.size() != 2 * axes.size())
    throw Error(ErrorKind::invalid, where,
                "pads has " + std::to_string(pads.size()) + " values; " +
                    std::to_string(2 * axes.size()) + " (begin and end for each of " +
                    std::to_string(axes.size()) + " axes) are required");
  before.assign(static_cast<size_t>(r), 0);
  after.assign(static_cast<size_t>(r), 0);
  for (size_t i = 0; i < axes.size(); ++i) {
    before[static_cast<size_t>(axes[i])] = pads[i];
    after[static_cast<size_t>(axes[i])] = pads[i + axes.size()];
  }
}

Shape pad_shape(const Shape& in, const std::vector<int64_t>& before,
                const std::vector<int64_t>& after, PadMode mode, const std::string& where) {
  Shape out(in.size());
  const int64_t kMax = int64_t{1} << 48;
  for (size_t k = 0; k < in.size(); ++k) {
    if (before[k] > kMax || before[k] < -kMax || after[k] > kMax || after[k] < -kMax)
      throw Error(ErrorKind::limit, where, "pad amount out of range");
    if (in[k] < 0) {
      out[k] = kUnknownDim;
      continue;
    }
    out[k] = in[k] + before[k] + after[k];
    if (out[k] < 0)
      throw Error(ErrorKind::shape, where,
                  "pads on axis " + std::to_string(k) + " of " + shape_str(in) +
                      " remove more than the axis holds");
    if (mode != PadMode::constant && in[k] == 0 && out[k] > 0)
      throw Error(ErrorKind::shape, where,
                  "cannot pad the empty axis " + std::to_string(k) + " of " + shape_str(in) +
                      " in a non-constant mode");
  }
  return out;
}

// For output index j on an axis of input size d with `b` padded before: the input index, or -1
// for the constant.
int64_t pad_source(int64_t j, int64_t d, int64_t b, PadMode mode) {
  int64_t i = j - b;
  if (i >= 0 && i < d) return i;
  switch (mode) {
    case PadMode::constant:
      return -1;
    case PadMode::edge:
      return i < 0 ? 0 : d - 1;
    case PadMode::wrap:
      return ((i % d) + d) % d;
    case PadMode::reflect: {
      if (d == 1) return 0;
      int64_t period = 2 * (d - 1);
      int64_t m = ((i % period) + period) % period;
      return m < d ? m : period - m;
    }
  }
  return -1;
}

struct PadInputs {
  std::vector<int64_t> pads;
  std::vector<int64_t> axes;
  bool has_axes = false;
};

// Pads and axes from inputs 1 and 3 (opset 11+) or the 'pads' attribute (opset 2). Returns false
// when a given input is not known.
template <class Value, class Given>
bool pad_inputs(const Node& node, Value value, Given given, const std::string& where,
                PadInputs& p) {
  if (!given(1)) {
    if (!node.has_attr("pads")) throw Error(ErrorKind::invalid, where, "input 1 (pads) is missing");
    p.pads = node.attr_ints("pads");
    return true;
  }
  bool known = true;
  if (const Tensor* t = value(1))
    p.pads = int_values(*t, where, "input 1 (pads)");
  else
    known = false;
  if (given(3)) {
    p.has_axes = true;
    if (const Tensor* t = value(3))
      p.axes = int_values(*t, where, "input 3 (axes)");
    else
      known = false;
  }
  return known;
}

void pad_infer(InferContext& ctx) {
  const ValueInfo& x = ctx.in(0);
  PadMode mode = pad_mode(ctx.node, ctx.where);
  PadInputs p;
  bool known = pad_inputs(
      ctx.node, [&](size_t i) { return ctx.constant(i); }, [&](size_t i) { return ctx.has(i); },
      ctx.where, p);
  if (ctx.has(2) && ctx.in(2).dtype != x.dtype)
    ctx.fail(ErrorKind::shape, "constant_value is " + dtype_name(ctx.in(2).dtype) +
                                   " but the data is " + dtype_name(x.dtype));
  if (!x.shape_known) {
    ctx.set_output_unknown_shape(0, x.dtype);
    return;
  }
  if (!known) {
    ctx.set_output(0, x.dtype, Shape(x.shape.size(), kUnknownDim));
    return;
  }
  std::vector<int64_t> before, after;
  pad_amounts(static_cast<int64_t>(x.shape.size()), p.pads, p.has_axes ? &p.axes : nullptr,
              ctx.where, before, after);
  ctx.set_output(0, x.dtype, pad_shape(x.shape, before, after, mode, ctx.where));
}

void pad_run(RunContext& ctx) {
  const Tensor& x = ctx.in(0);
  PadMode mode = pad_mode(ctx.node, ctx.where);
  PadInputs p;
  pad_inputs(
      ctx.node, [&](size_t i) { return ctx.has(i) ? ctx.inputs[i] : nullptr; },
      [&](size_t i) { return ctx.has(i); }, ctx.where, p);
  std::vector<int64_t> before, after;
  pad_amounts(x.rank(), p.pads, p.has_axes ? &p.axes : nullptr, ctx.where, before, after);
  Shape out_shape = pad_shape(x.shape(), before, after, mode, ctx.where);
  Tensor out = Tensor::uninitialized(x.dtype(), out_shape);
  const size_t es = dtype_size(x.dtype());

  // The constant, as the bytes of one element.
  Tensor cval(x.dtype(), {});
  if (ctx.has(2) && ctx.in(2).numel() > 0) {
    if (ctx.in(2).dtype() != x.dtype())
      ctx.fail(ErrorKind::shape, "constant_value is " + dtype_name(ctx.in(2).dtype()) +
                                     " but the data is " + dtype_name(x.dtype()));
    std::memcpy(cval.raw(), ctx.in(2).raw(), es);
  } else if (!ctx.has(2) && ctx.node.has_attr("value")) {
    cval = Tensor::scalar<float>(ctx.node.attr_float("value", 0.0f)).cast(x.dtype());
  }

  const auto r = static_cast<size_t>(x.rank());
  if (out.numel() == 0) {
    ctx.outputs[0] = out;
    return;
  }
  if (r == 0) {
    std::memcpy(out.raw(), x.raw(), es);
    ctx.outputs[0] = out;
    return;
  }
  // Source index for each output index, per axis (-1: the constant).
  std::vector<std::vector<int64_t>> src_of(r);
  for (size_t k = 0; k < r; ++k) {
    src_of[k].resize(static_cast<size_t>(out_shape[k]));
    for (int64_t j = 0; j < out_shape[k]; ++j)
      src_of[k][static_cast<size_t>(j)] = pad_source(j, x.shape()[k], before[k], mode);
  }
  std::vector<int64_t> in_strides = row_major_strides(x.shape());
  const int64_t inner = out_shape[r - 1];
  const int64_t rows = out.numel() / inner;
  const bool parallel = static_cast<int64_t>(out.nbytes()) >= kParallelBytes;
  visit_elem_size(es, [&](auto tag) {
    using U = decltype(tag);
    const U* s = static_cast<const U*>(x.raw());
    U* d = static_cast<U*>(out.raw());
    const U c = *static_cast<const U*>(cval.raw());
    const std::vector<int64_t>& last = src_of[r - 1];
#pragma omp parallel for schedule(static) if (parallel)
    for (int64_t row = 0; row < rows; ++row) {
      int64_t off = 0;
      bool constant_row = false;
      int64_t rem = row;
      for (size_t k = r - 1; k-- > 0;) {
        int64_t j = rem % out_shape[k];
        rem /= out_shape[k];
        int64_t src = src_of[k][static_cast<size_t>(j)];
        if (src < 0) constant_row = true;
        off += src * in_strides[k];
      }
      U* drow = d + row * inner;
      if (constant_row) {
        std::fill(drow, drow + inner, c);
        continue;
      }
      const U* srow = s + off;
      for (int64_t j = 0; j < inner; ++j) {
        int64_t src = last[static_cast<size_t>(j)];
        drow[j] = src < 0 ? c : srow[src];
      }
    }
  });
  ctx.outputs[0] = out;
}

// ---- Tile ----------------------------------------------------------------------------------

Shape tile_shape(const Shape& in, const std::vector<int64_t>& reps, const std::string& where) {
  if (reps.size() != in.size())
    throw Error(ErrorKind::shape, where,
                "repeats " + shape_str(reps) + " has " + std::to_string(reps.size()) +
                    " values for an input of rank " + std::to_string(in.size()) + " " +
                    shape_str(in));
  Shape out(in.size());
  for (size_t k = 0; k < in.size(); ++k) {
    if (reps[k] < 0)
      throw Error(ErrorKind::invalid, where,
                  "repeats " + shape_str(reps) + " has a negative value");
    if (reps[k] == 0) {
      out[k] = 0;
    } else if (in[k] < 0) {
      out[k] = kUnknownDim;
    } else {
      if (in[k] > 0 && reps[k] > std::numeric_limits<int64_t>::max() / in[k])
        throw Error(ErrorKind::limit, where, "tiled shape is too large");
      out[k] = in[k] * reps[k];
    }
  }
  return out;
}

void tile_infer(InferContext& ctx) {
  const ValueInfo& x = ctx.in(0);
  ctx.in(1);
  const Tensor* reps = ctx.constant(1);
  if (!x.shape_known) {
    ctx.set_output_unknown_shape(0, x.dtype);
    return;
  }
  if (!reps) {
    ctx.set_output(0, x.dtype, Shape(x.shape.size(), kUnknownDim));
    return;
  }
  ctx.set_output(0, x.dtype,
                 tile_shape(x.shape, int_values(*reps, ctx.where, "input 1 (repeats)"), ctx.where));
}

void tile_run(RunContext& ctx) {
  const Tensor& x = ctx.in(0);
  std::vector<int64_t> reps = int_values(ctx.in(1), ctx.where, "input 1 (repeats)");
  Shape out_shape = tile_shape(x.shape(), reps, ctx.where);
  Tensor out = Tensor::uninitialized(x.dtype(), out_shape);
  // Output axis k of size reps*d is the row-major pair (rep, i): a view of shape
  // [r0, d0, r1, d1, ...] with strides [0, s0, 0, s1, ...].
  std::vector<int64_t> in_strides = row_major_strides(x.shape());
  Shape view;
  std::vector<int64_t> strides;
  for (size_t k = 0; k < reps.size(); ++k) {
    view.push_back(reps[k]);
    strides.push_back(0);
    view.push_back(x.shape()[k]);
    strides.push_back(in_strides[k]);
  }
  copy_strided(static_cast<const std::byte*>(x.raw()), 0, strides, view, dtype_size(x.dtype()),
               static_cast<std::byte*>(out.raw()));
  ctx.outputs[0] = out;
}

// ---- Expand --------------------------------------------------------------------------------

Shape expand_shape(const Shape& in, const std::vector<int64_t>& spec, const std::string& where) {
  for (int64_t d : spec)
    if (d < 0)
      throw Error(ErrorKind::invalid, where,
                  "shape " + shape_str(spec) + " has a negative dimension");
  Shape out;
  if (!broadcast_shapes(in, spec, out))
    throw Error(ErrorKind::shape, where,
                "cannot expand " + shape_str(in) + " to " + shape_str(spec),
                "each dimension must be equal, or 1 in one of them");
  return out;
}

void expand_infer(InferContext& ctx) {
  const ValueInfo& x = ctx.in(0);
  const ValueInfo& s = ctx.in(1);
  const Tensor* spec = ctx.constant(1);
  if (!x.shape_known) {
    ctx.set_output_unknown_shape(0, x.dtype);
    return;
  }
  if (!spec) {
    if (s.shape_known && s.shape.size() == 1 && s.shape[0] >= 0)
      ctx.set_output(
          0, x.dtype,
          Shape(std::max<size_t>(x.shape.size(), static_cast<size_t>(s.shape[0])), kUnknownDim));
    else
      ctx.set_output_unknown_shape(0, x.dtype);
    return;
  }
  ctx.set_output(0, x.dtype,
                 expand_shape(x.shape, int_values(*spec, ctx.where, "input 1 (shape)"), ctx.where));
}

void expand_run(RunContext& ctx) {
  const Tensor& x = ctx.in(0);
  Shape out_shape =
      expand_shape(x.shape(), int_values(ctx.in(1), ctx.where, "input 1 (shape)"), ctx.where);
  Tensor out = Tensor::uninitialized(x.dtype(), out_shape);
  std::vector<int64_t> in_strides = row_major_strides(x.shape());
  const size_t lead = out_shape.size() - x.shape().size();
  std::vector<int64_t> strides(out_shape.size(), 0);
  for (size_t k = 0; k < x.shape().size(); ++k)
    strides[lead + k] = x.shape()[k] == 1 ? 0 : in_strides[k];
  copy_strided(static_cast<const std::byte*>(x.raw()), 0, strides, out_shape, dtype_size(x.dtype()),
               static_cast<std::byte*>(out.raw()));
  ctx.outputs[0] = out;
}

}  // namespace

void register_slice_ops(std::vector<OpDef>& ops) {
  ops.push_back({"Slice", 1, 5, slice_infer, slice_run, nullptr});
  ops.push_back({"Concat", 1, -1, concat_infer, concat_run, nullptr});
  ops.push_back({"Split", 1, 2, split_infer, split_run, nullptr});
  ops.push_back({"Pad", 1, 4, pad_infer, pad_run, nullptr});
  ops.push_back({"Tile", 2, 2, tile_infer, tile_run, nullptr});
  ops.push_back({"Expand", 2, 2, expand_infer, expand_run, nullptr});
}

}  // namespace acim::ops
