// Reductions: ReduceSum, ReduceMean, ReduceMax, ReduceMin, ReduceProd, ReduceL1, ReduceL2,
// ReduceSumSquare, ReduceLogSum, ReduceLogSumExp, and ArgMax / ArgMin.
//
// Axes come from the `axes` attribute (before opset 18; ReduceSum before opset 13) or else from
// the optional int64 input 1. An empty axes list reduces every axis unless
// noop_with_empty_axes=1, which makes the op an identity. Each output element is reduced over its
// input elements in row-major order, one thread per output element, so results do not depend on
// the thread count.
#include <cmath>
#include <limits>
#include <type_traits>

#include "ops/util.hpp"

namespace acim::ops {

namespace {

enum class ReduceKind { sum, mean, max, min, prod, l1, l2, sum_square, log_sum, log_sum_exp };

ReduceKind reduce_kind(const std::string& op_type) {
  if (op_type == "ReduceSum") return ReduceKind::sum;
  if (op_type == "ReduceMean") return ReduceKind::mean;
  if (op_type == "ReduceMax") return ReduceKind::max;
  if (op_type == "ReduceMin") return ReduceKind::min;
  if (op_type == "ReduceProd") return ReduceKind::prod;
  if (op_type == "ReduceL1") return ReduceKind::l1;
  if (op_type == "ReduceL2") return ReduceKind::l2;
  if (op_type == "ReduceSumSquare") return ReduceKind::sum_square;
  if (op_type == "ReduceLogSum") return ReduceKind::log_sum;
  ACIM_ASSERT(op_type == "ReduceLogSumExp", "reduce_kind: unknown op");
  return ReduceKind::log_sum_exp;
}

// Which axes a node reduces, resolved against the input rank.
struct ReducePlan {
  bool identity = false;      // noop_with_empty_axes with no axes
  std::vector<bool> reduced;  // per input axis
  bool keepdims = true;
};

// `axes_input` is input 1 as a tensor (nullptr when absent). The axes attribute wins when present.
ReducePlan make_plan(const Node& node, const std::string& where, int64_t rank,
                     const Tensor* axes_input) {
  ReducePlan plan;
  plan.keepdims = node.attr_int("keepdims", 1) != 0;
  std::vector<int64_t> axes;
  if (node.has_attr("axes")) {
    axes = node.attr_ints("axes");
  } else if (axes_input) {
    if (!dtype_is_integer(axes_input->dtype()) || axes_input->rank() > 1)
      throw Error(ErrorKind::shape, where,
                  "axes input must be a 1-D int64 tensor, got " + dtype_name(axes_input->dtype()) +
                      shape_str(axes_input->shape()));
    axes = axes_input->to_int64s();
  }
  plan.reduced.assign(static_cast<size_t>(rank), false);
  if (axes.empty()) {
    if (node.attr_int("noop_with_empty_axes", 0) != 0) {
      plan.identity = true;
      return plan;
    }
    plan.reduced.assign(static_cast<size_t>(rank), true);
    return plan;
  }
  for (int64_t a : axes) {
    int64_t n = normalize_axis(a, rank, where);
    if (plan.reduced[static_cast<size_t>(n)])
      throw Error(ErrorKind::invalid, where, "axis " + std::to_string(a) + " is listed twice",
                  "list each axis once");
    plan.reduced[static_cast<size_t>(n)] = true;
  }
  return plan;
}

Shape reduced_shape(const Shape& in, const ReducePlan& plan) {
  if (plan.identity) return in;
  Shape out;
  for (size_t i = 0; i < in.size(); ++i) {
    if (!plan.reduced[i])
      out.push_back(in[i]);
    else if (plan.keepdims)
      out.push_back(1);
  }
  return out;
}

void infer_reduce(InferContext& ctx) {
  const ValueInfo& x = ctx.in(0);
  ReduceKind kind = reduce_kind(ctx.node.op_type);
  if (x.dtype == DType::f16)
    ctx.fail(ErrorKind::unsupported, "dtype float16 is not supported",
             "export the model with float32 tensors");
  if (x.dtype == DType::boolean && kind != ReduceKind::max && kind != ReduceKind::min)
    ctx.fail(ErrorKind::unsupported, ctx.node.op_type + " of a bool tensor is not supported",
             "cast the input to a numeric type first");
  bool axes_known = ctx.node.has_attr("axes") || !ctx.has(1) || ctx.constant(1) != nullptr;
  if (!x.shape_known || !axes_known) {
    ctx.set_output_unknown_shape(0, x.dtype);
    return;
  }
  const Tensor* axes = ctx.node.has_attr("axes") ? nullptr : ctx.constant(1);
  ReducePlan plan = make_plan(ctx.node, ctx.where, static_cast<int64_t>(x.shape.size()), axes);
  ctx.set_output(0, x.dtype, reduced_shape(x.shape, plan));
}

// Offsets (in elements) of the reduced positions relative to the first one, in row-major order
// over the reduced axes, and the offset of each output element's first input element.
void reduce_offsets(const Shape& in, const ReducePlan& plan, std::vector<int64_t>& inner,
                    std::vector<int64_t>& outer) {
  size_t rank = in.size();
  std::vector<int64_t> stride(rank, 1);
  for (size_t i = rank; i-- > 1;) stride[i - 1] = stride[i] * in[i];
  auto enumerate = [&](bool want_reduced, std::vector<int64_t>& offsets) {
    offsets.assign(1, 0);
    for (size_t ax = 0; ax < rank; ++ax) {
      if (plan.reduced[ax] != want_reduced) continue;
      std::vector<int64_t> next;
      next.reserve(offsets.size() * static_cast<size_t>(in[ax]));
      for (int64_t base : offsets)
        for (int64_t k = 0; k < in[ax]; ++k) next.push_back(base + k * stride[ax]);
      offsets.swap(next);
    }
  };
  enumerate(true, inner);
  enumerate(false, outer);
}

template <class T>
T saturate_cast(double v) {
  if constexpr (std::is_floating_point_v<T>) {
    return static_cast<T>(v);
  } else {
    if (std::isnan(v)) return T{0};
    if (v <= static_cast<double>(std::numeric_limits<T>::lowest()))
      return std::numeric_limits<T>::lowest();
    if (v >= static_cast<double>(std::numeric_limits<T>::max()))
      return std::numeric_limits<T>::max();
    return static_cast<T>(v);
  }
}

template <class T>
T reduce_one(ReduceKind kind, const T* x, const std::vector<int64_t>& inner) {
  const size_t n = inner.size();
  constexpr bool is_float = std::is_floating_point_v<T>;
  switch (kind) {
    case ReduceKind::max:
    case ReduceKind::min: {
      bool is_max = kind == ReduceKind::max;
      if (n == 0) {
        if constexpr (is_float)
          return is_max ? -std::numeric_limits<T>::infinity() : std::numeric_limits<T>::infinity();
        else
          return is_max ? std::numeric_limits<T>::lowest() : std::numeric_limits<T>::max();
      }
      T m = x[inner[0]];
      for (size_t i = 1; i < n; ++i) {
        T v = x[inner[i]];
        if constexpr (is_float) {
          if (std::isnan(m)) break;
          if (std::isnan(v) || (is_max ? v > m : v < m)) m = v;
        } else {
          if (is_max ? v > m : v < m) m = v;
        }
      }
      return m;
    }
    case ReduceKind::sum:
    case ReduceKind::mean:
    case ReduceKind::l1:
    case ReduceKind::sum_square:
    case ReduceKind::prod: {
      // Floats accumulate in double; integers in int64 (wrapping like the C++ type would).
      using Acc = std::conditional_t<is_float, double, int64_t>;
      Acc acc = kind == ReduceKind::prod ? Acc{1} : Acc{0};
      for (size_t i = 0; i < n; ++i) {
        Acc v = static_cast<Acc>(x[inner[i]]);
        switch (kind) {
          case ReduceKind::l1:
            acc += v < 0 ? -v : v;
            break;
          case ReduceKind::sum_square:
            acc += v * v;
            break;
          case ReduceKind::prod:
            acc *= v;
            break;
          default:
            acc += v;
            break;
        }
      }
      if (kind == ReduceKind::mean) {
        if constexpr (is_float)
          return static_cast<T>(acc / static_cast<double>(n));
        else
          return n == 0 ? T{0} : static_cast<T>(acc / static_cast<int64_t>(n));
      }
      return static_cast<T>(acc);
    }
    case ReduceKind::l2:
    case ReduceKind::log_sum: {
      double acc = 0;
      for (size_t i = 0; i < n; ++i) {
        double v = static_cast<double>(x[inner[i]]);
        acc += kind == ReduceKind::l2 ? v * v : v;
      }
      return saturate_cast<T>(kind == ReduceKind::l2 ? std::sqrt(acc) : std::log(acc));
    }
    case ReduceKind::log_sum_exp: {
      if (n == 0) return saturate_cast<T>(-std::numeric_limits<double>::infinity());
      double m = static_cast<double>(x[inner[0]]);
      for (size_t i = 1; i < n; ++i) m = std::max(m, static_cast<double>(x[inner[i]]));
      if (std::isinf(m)) return saturate_cast<T>(m);
      double acc = 0;
      for (size_t i = 0; i < n; ++i) acc += std::exp(static_cast<double>(x[inner[i]]) - m);
      return saturate_cast<T>(m + std::log(acc));
    }
  }
  return T{0};
}

void run_reduce(RunContext& ctx) {
  const Tensor& x = ctx.in(0);
  ReduceKind kind = reduce_kind(ctx.node.op_type);
  const Tensor* axes = (!ctx.node.has_attr("axes") && ctx.has(1)) ? ctx.inputs[1] : nullptr;
  ReducePlan plan = make_plan(ctx.node, ctx.where, x.rank(), axes);
  if (plan.identity) {
    ctx.outputs[0] = x.clone();
    return;
  }
  Tensor y(x.dtype(), reduced_shape(x.shape(), plan));
  if (x.dtype() == DType::boolean) {
    if (kind != ReduceKind::max && kind != ReduceKind::min)
      ctx.fail(ErrorKind::unsupported, ctx.node.op_type + " of a bool tensor is not supported",
               "cast the input to a numeric type first");
    Tensor xi = x.cast(DType::u8);
    Tensor yi(DType::u8, y.shape());
    std::vector<int64_t> inner, outer;
    reduce_offsets(x.shape(), plan, inner, outer);
    const uint8_t* xp = xi.data<uint8_t>();
    uint8_t* yp = yi.data<uint8_t>();
    for (size_t o = 0; o < outer.size(); ++o)
      yp[o] = reduce_one<uint8_t>(kind, xp + outer[o], inner);
    ctx.outputs[0] = yi.cast(DType::boolean);
    return;
  }
  if (x.numel() == 0 && y.numel() == 0) {
    ctx.outputs[0] = y;
    return;
  }
  std::vector<int64_t> inner, outer;
  reduce_offsets(x.shape(), plan, inner, outer);
  if (x.numel() == 0) inner.clear();  // a zero-size reduced axis: every output is the identity
  visit_dtype(x.dtype(), ctx.where, [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_same_v<T, bool>) {
      ACIM_ASSERT(false, "bool handled above");
    } else {
      const T* xp = x.data<T>();
      T* yp = y.data<T>();
      const int64_t n_out = static_cast<int64_t>(outer.size());
#pragma omp parallel for schedule(static) if (n_out > 1 && x.numel() > 4096)
      for (int64_t o = 0; o < n_out; ++o)
        yp[o] =
            reduce_one<T>(kind, x.numel() == 0 ? xp : xp + outer[static_cast<size_t>(o)], inner);
    }
  });
  ctx.outputs[0] = y;
}

// ---- ArgMax / ArgMin ----------------------------------------------------------------------

void infer_arg(InferContext& ctx) {
  const ValueInfo& x = ctx.in(0);
  if (x.dtype == DType::f16 || x.dtype == DType::boolean)
    ctx.fail(ErrorKind::unsupported, "dtype " + dtype_name(x.dtype) + " is not supported",
             "cast the input to float32");
  if (!x.shape_known) {
    ctx.set_output_unknown_shape(0, DType::i64);
    return;
  }
  int64_t rank = static_cast<int64_t>(x.shape.size());
  if (rank == 0)
    ctx.fail(ErrorKind::shape, "input is a scalar; " + ctx.node.op_type + " needs rank >= 1");
  int64_t axis = normalize_axis(ctx.node.attr_int("axis", 0), rank, ctx.where);
  if (x.shape[static_cast<size_t>(axis)] == 0)
    ctx.fail(ErrorKind::shape, "axis " + std::to_string(axis) + " of input " + shape_str(x.shape) +
                                   " has size 0; there is no element to select");
  Shape out = x.shape;
  if (ctx.node.attr_int("keepdims", 1) != 0)
    out[static_cast<size_t>(axis)] = 1;
  else
    out.erase(out.begin() + axis);
  ctx.set_output(0, DType::i64, out);
}

void run_arg(RunContext& ctx) {
  const Tensor& x = ctx.in(0);
  if (x.rank() == 0)
    ctx.fail(ErrorKind::shape, "input is a scalar; " + ctx.node.op_type + " needs rank >= 1");
  const bool is_max = ctx.node.op_type == "ArgMax";
  const bool last = ctx.node.attr_int("select_last_index", 0) != 0;
  int64_t axis = normalize_axis(ctx.node.attr_int("axis", 0), x.rank(), ctx.where);
  int64_t n = x.dim(static_cast<int>(axis));
  if (n == 0)
    ctx.fail(ErrorKind::shape, "axis " + std::to_string(axis) + " of input " +
                                   shape_str(x.shape()) +
                                   " has size 0; there is no element to select");
  int64_t outer = 1, inner = 1;
  for (int i = 0; i < axis; ++i) outer *= x.dim(i);
  for (int i = static_cast<int>(axis) + 1; i < x.rank(); ++i) inner *= x.dim(i);
  Shape out = x.shape();
  if (ctx.node.attr_int("keepdims", 1) != 0)
    out[static_cast<size_t>(axis)] = 1;
  else
    out.erase(out.begin() + axis);
  Tensor y(DType::i64, out);
  int64_t* yp = y.data<int64_t>();
  visit_dtype(x.dtype(), ctx.where, [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_same_v<T, bool>) {
      ctx.fail(ErrorKind::unsupported, "dtype bool is not supported", "cast the input to float32");
    } else {
      const T* xp = x.data<T>();
      const int64_t total = outer * inner;
#pragma omp parallel for schedule(static) if (total > 1 && x.numel() > 4096)
      for (int64_t oi = 0; oi < total; ++oi) {
        int64_t o = oi / inner, i = oi % inner;
        const T* p = xp + o * n * inner + i;
        int64_t best = 0;
        T bv = p[0];
        for (int64_t k = 1; k < n; ++k) {
          T v = p[k * inner];
          bool better = is_max ? (last ? v >= bv : v > bv) : (last ? v <= bv : v < bv);
          if (better) {
            best = k;
            bv = v;
          }
        }
        yp[oi] = best;
      }
    }
  });
  ctx.outputs[0] = y;
}

}  // namespace

void register_reduce(std::vector<OpDef>& ops) {
  for (const char* name :
       {"ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2",
        "ReduceSumSquare", "ReduceLogSum", "ReduceLogSumExp"})
    ops.push_back(OpDef{name, 1, 2, infer_reduce, run_reduce, nullptr});
  ops.push_back(OpDef{"ArgMax", 1, 1, infer_arg, run_arg, nullptr});
  ops.push_back(OpDef{"ArgMin", 1, 1, infer_arg, run_arg, nullptr});
}

}  // namespace acim::ops
