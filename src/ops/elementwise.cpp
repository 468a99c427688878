// Elementwise ops: binary arithmetic and comparisons with numpy multidirectional broadcasting
// (Add, Sub, Mul, Div, Pow, Mod, Max, Min, Sum, Mean, Equal, Less, ..., And, Or, Xor, Where,
// BitShift) and unary math (Abs, Neg, Exp, ..., IsNaN, IsInf).
//
// Broadcasting runs through one iteration plan: the output's dimensions with size-1 dims dropped
// and adjacent dims merged wherever every input is contiguous (or broadcast) across both. Same
// shapes become one flat loop, a bias [C,1,1] added to [N,C,H,W] becomes rows of H*W with one
// scalar each. The innermost run of each input then has stride 1 or 0, and the kernels below
// specialise those cases so the compiler vectorises them.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>

#include "ops/kernels_act.hpp"
#include "ops/op.hpp"
#include "ops/util.hpp"

namespace acim::ops {

namespace {

constexpr int64_t kBlock = int64_t{1} << 14;        // elements per parallel task
constexpr int64_t kParallelMin = int64_t{1} << 15;  // smaller outputs run on one thread
constexpr size_t kMaxPlanInputs = 3;                // Where has three

// ---------------------------------------------------------------------------------------------
// Dtype classes: which dtypes an op accepts.

constexpr unsigned kFloat = 1, kSigned = 2, kUnsigned = 4, kBool = 8;
constexpr unsigned kInt = kSigned | kUnsigned;
constexpr unsigned kNumeric = kFloat | kInt;
constexpr unsigned kAll = kNumeric | kBool;

template <class T>
constexpr unsigned type_class() {
  if constexpr (std::is_same_v<T, bool>)
    return kBool;
  else if constexpr (std::is_floating_point_v<T>)
    return kFloat;
  else if constexpr (std::is_signed_v<T>)
    return kSigned;
  else
    return kUnsigned;
}

unsigned dtype_class(DType dt) {
  if (dt == DType::boolean) return kBool;
  if (dtype_is_float(dt)) return kFloat;
  switch (dt) {
    case DType::i8:
    case DType::i16:
    case DType::i32:
    case DType::i64:
      return kSigned;
    default:
      return kUnsigned;
  }
}

std::string class_names(unsigned types) {
  std::string s;
  auto add = [&](unsigned bit, const char* name) {
    if (!(types & bit)) return;
    if (!s.empty()) s += ", ";
    s += name;
  };
  add(kFloat, "float");
  add(kSigned, "signed integer");
  add(kUnsigned, "unsigned integer");
  add(kBool, "bool");
  return s;
}

template <class Ctx>
void require_class(const Ctx& ctx, size_t input, DType dt, unsigned types) {
  if (dt == DType::f16)
    ctx.fail(ErrorKind::unsupported, "input " + std::to_string(input) + " is float16",
             "export the model with float32 tensors");
  if (!(dtype_class(dt) & types))
    ctx.fail(ErrorKind::unsupported, "input " + std::to_string(input) + " is " + dtype_name(dt) +
                                         "; " + ctx.node.op_type + " takes " + class_names(types) +
                                         " tensors");
}

template <class Ctx>
void require_same_dtype(const Ctx& ctx, size_t i, DType a, size_t j, DType b) {
  if (a != b)
    ctx.fail(ErrorKind::shape,
             "input " + std::to_string(i) + " is " + dtype_name(a) + " but input " +
                 std::to_string(j) + " is " + dtype_name(b) + "; both must have the same dtype",
             "insert a Cast so the inputs agree");
}

// ---------------------------------------------------------------------------------------------
// Integer helpers that never overflow into undefined behaviour (wrap like two's complement) and
// never trap (division by zero gives 0, INT_MIN / -1 wraps).

template <class T>
using Wide = std::conditional_t<(sizeof(T) < 4), uint32_t, std::make_unsigned_t<T>>;

template <class T>
T wrap_add(T a, T b) {
  return static_cast<T>(static_cast<Wide<T>>(static_cast<Wide<T>>(a) + static_cast<Wide<T>>(b)));
}
template <class T>
T wrap_sub(T a, T b) {
  return static_cast<T>(static_cast<Wide<T>>(static_cast<Wide<T>>(a) - static_cast<Wide<T>>(b)));
}
template <class T>
T wrap_mul(T a, T b) {
  return static_cast<T>(static_cast<Wide<T>>(static_cast<Wide<T>>(a) * static_cast<Wide<T>>(b)));
}
template <class T>
T wrap_neg(T a) {
  return wrap_sub(T{0}, a);
}

// C-style truncating integer division; x / 0 = 0.
template <class T>
T int_div(T a, T b) {
  if (b == 0) return 0;
  if constexpr (std::is_signed_v<T>)
    if (b == -1) return wrap_neg(a);
  return static_cast<T>(a / b);
}

// Remainder with the sign of the dividend (C %, np.fmod); x % 0 = 0.
template <class T>
T int_fmod(T a, T b) {
  if (b == 0) return 0;
  if constexpr (std::is_signed_v<T>)
    if (b == -1) return 0;
  return static_cast<T>(a % b);
}

// Remainder with the sign of the divisor (Python %, np.mod); x % 0 = 0.
template <class T>
T int_mod(T a, T b) {
  T r = int_fmod(a, b);
  if constexpr (std::is_signed_v<T>)
    if (r != 0 && ((r < 0) != (b < 0))) r = static_cast<T>(r + b);
  return r;
}

// Float to T, saturating for integers (NaN becomes 0) so no conversion is undefined.
template <class T>
T saturate(double v) {
  if constexpr (std::is_floating_point_v<T>) {
    return static_cast<T>(v);
  } else if constexpr (std::is_same_v<T, bool>) {
    return v != 0.0;
  } else {
    if (std::isnan(v)) return 0;
    if (v <= static_cast<double>(std::numeric_limits<T>::min()))
      return std::numeric_limits<T>::min();
    if (v >= static_cast<double>(std::numeric_limits<T>::max()))
      return std::numeric_limits<T>::max();
    return static_cast<T>(v);
  }
}

// Integer power by squaring, wrapping on overflow. Negative exponents give 1/base^e truncated:
// 1 for base 1, +-1 for base -1, else 0.
template <class T, class E>
T int_pow(T base, E e) {
  if constexpr (std::is_signed_v<E>) {
    if (e < 0) {
      if (base == 1) return 1;
      if constexpr (std::is_signed_v<T>)
        if (base == -1) return (e % 2 == 0) ? T{1} : T{-1};
      return 0;
    }
  }
  Wide<T> result = 1;
  Wide<T> b = static_cast<Wide<T>>(base);
  auto n = static_cast<uint64_t>(e);
  while (n) {
    if (n & 1) result = static_cast<Wide<T>>(result * b);
    b = static_cast<Wide<T>>(b * b);
    n >>= 1;
  }
  return static_cast<T>(result);
}

template <class T>
T round_half_even(T x) {
  T r = std::round(x);  // halves away from zero
  if (std::abs(x - std::trunc(x)) == T(0.5)) r = T(2) * std::round(x / T(2));
  return r;
}

// ---------------------------------------------------------------------------------------------
// Broadcast iteration plan.

struct Plan {
  Shape out;                                  // output shape
  int64_t numel = 0;                          // elements of the output
  std::vector<int64_t> dims;                  // coalesced dims, outermost first (at least one)
  std::vector<std::vector<int64_t>> strides;  // [input][dim] in elements, 0 where broadcast
};

std::string shapes_str(const std::vector<Shape>& shapes) {
  std::string s;
  for (size_t i = 0; i < shapes.size(); ++i) s += (i ? " and " : "") + shape_str(shapes[i]);
  return s;
}

// Builds the plan for inputs of the given shapes; false if they do not broadcast.
bool make_plan(const std::vector<Shape>& shapes, Plan& p) {
  ACIM_ASSERT(!shapes.empty() && shapes.size() <= kMaxPlanInputs, "make_plan: bad input count");
  p.out = shapes[0];
  for (size_t k = 1; k < shapes.size(); ++k) {
    Shape o;
    if (!broadcast_shapes(p.out, shapes[k], o)) return false;
    p.out = o;
  }
  p.numel = shape_numel(p.out);
  const size_t rank = p.out.size();
  const size_t nin = shapes.size();
  // Full-rank strides per input, then drop output dims of size 1.
  std::vector<std::vector<int64_t>> full(nin, std::vector<int64_t>(rank, 0));
  for (size_t k = 0; k < nin; ++k) {
    const Shape& s = shapes[k];
    int64_t stride = 1;
    for (size_t i = rank; i-- > 0;) {
      size_t lead = rank - s.size();
      if (i < lead) break;
      int64_t d = s[i - lead];
      full[k][i] = d == 1 ? 0 : stride;
      stride *= d;
    }
  }
  p.dims.clear();
  p.strides.assign(nin, {});
  for (size_t i = 0; i < rank; ++i) {
    if (p.out[i] == 1) continue;
    bool merge = !p.dims.empty();
    for (size_t k = 0; merge && k < nin; ++k) merge = p.strides[k].back() == full[k][i] * p.out[i];
    if (merge) {
      p.dims.back() *= p.out[i];
      for (size_t k = 0; k < nin; ++k) p.strides[k].back() = full[k][i];
    } else {
      p.dims.push_back(p.out[i]);
      for (size_t k = 0; k < nin; ++k) p.strides[k].push_back(full[k][i]);
    }
  }
  if (p.dims.empty()) {
    p.dims.push_back(1);
    for (size_t k = 0; k < nin; ++k) p.strides[k].push_back(0);
  }
  return true;
}

// Calls f(out_offset, in_offsets, len) for runs of the innermost coalesced dim, in parallel for
// large outputs. Every element is computed by exactly one call, so results do not depend on the
// thread count.
template <class F>
void run_plan(const Plan& p, F&& f) {
  if (p.numel == 0) return;
  const size_t nd = p.dims.size();
  const size_t nin = p.strides.size();
  const int64_t inner = p.dims.back();
  const int64_t rows = p.numel / inner;
  const int64_t blocks = (inner + kBlock - 1) / kBlock;
  const int64_t tasks = rows * blocks;
#pragma omp parallel for schedule(static) if (p.numel >= kParallelMin && tasks > 1)
  for (int64_t t = 0; t < tasks; ++t) {
    const int64_t row = t / blocks;
    const int64_t begin = (t % blocks) * kBlock;
    const int64_t len = std::min(kBlock, inner - begin);
    std::array<int64_t, kMaxPlanInputs> off{};
    int64_t rem = row;
    for (size_t d = nd - 1; d-- > 0;) {
      const int64_t i = rem % p.dims[d];
      rem /= p.dims[d];
      for (size_t k = 0; k < nin; ++k) off[k] += i * p.strides[k][d];
    }
    for (size_t k = 0; k < nin; ++k) off[k] += begin * p.strides[k][nd - 1];
    f(row * inner + begin, off.data(), len);
  }
}

template <class Ctx>
Plan plan_or_fail(const Ctx& ctx, const std::vector<Shape>& shapes) {
  Plan p;
  if (!make_plan(shapes, p))
    ctx.fail(ErrorKind::shape, "input shapes " + shapes_str(shapes) + " do not broadcast",
             "each pair of trailing dimensions must be equal or one of them 1");
  return p;
}

// out[i] = op(a[i], b[i]) under broadcasting, with the stride-1 / stride-0 inner cases
// specialised; then, for float32 with `acts`, the fused activations on each run while it is in
// the cache.
template <class TA, class TB, class TO, class Op>
void binary_kernel(const Plan& p, const TA* a, const TB* b, TO* o, Op op,
                   const FusedActs* acts = nullptr) {
  const int64_t sa = p.strides[0].back();
  const int64_t sb = p.strides[1].back();
  run_plan(p, [&](int64_t oo, const int64_t* off, int64_t n) {
    const TA* pa = a + off[0];
    const TB* pb = b + off[1];
    TO* po = o + oo;
    if (sa != 0 && sb != 0) {
      for (int64_t i = 0; i < n; ++i) po[i] = op(pa[i], pb[i]);
    } else if (sa != 0) {
      const TB vb = pb[0];
      for (int64_t i = 0; i < n; ++i) po[i] = op(pa[i], vb);
    } else if (sb != 0) {
      const TA va = pa[0];
      for (int64_t i = 0; i < n; ++i) po[i] = op(va, pb[i]);
    } else {
      const TO v = op(pa[0], pb[0]);
      for (int64_t i = 0; i < n; ++i) po[i] = v;
    }
    if constexpr (std::is_same_v<TO, float>)
      if (acts != nullptr) apply_acts(*acts, po, n);
  });
}

// Applies op to two tensors of the same dtype T, output dtype TO (T, or bool for comparisons).
template <class T, class TO, class Op>
Tensor binary_tensors(const RunContext& ctx, const Tensor& a, const Tensor& b, Op op,
                      const FusedActs* acts = nullptr) {
  Plan p = plan_or_fail(ctx, {a.shape(), b.shape()});
  // A recycled buffer where the executor has one (binary_kernel writes every element).
  Tensor out = ctx.new_output(dtype_of<TO>(), p.out);
  binary_kernel(p, a.data<T>(), b.data<T>(), out.data<TO>(), op, acts);
  return out;
}

// ---------------------------------------------------------------------------------------------
// The binary operations, each a functor with a templated call for every dtype it accepts.

struct AddOp {
  template <class T>
  T operator()(T a, T b) const {
    if constexpr (std::is_integral_v<T>)
      return wrap_add(a, b);
    else
      return a + b;
  }
};
struct SubOp {
  template <class T>
  T operator()(T a, T b) const {
    if constexpr (std::is_integral_v<T>)
      return wrap_sub(a, b);
    else
      return a - b;
  }
};
struct MulOp {
  template <class T>
  T operator()(T a, T b) const {
    if constexpr (std::is_integral_v<T>)
      return wrap_mul(a, b);
    else
      return a * b;
  }
};
struct DivOp {
  template <class T>
  T operator()(T a, T b) const {
    if constexpr (std::is_integral_v<T>)
      return int_div(a, b);
    else
      return a / b;
  }
};
struct MaxOp {  // NaN propagates, as in np.maximum
  template <class T>
  T operator()(T a, T b) const {
    if constexpr (std::is_floating_point_v<T>) {
      if (std::isnan(a)) return a;
      if (std::isnan(b)) return b;
    }
    return a < b ? b : a;
  }
};
struct MinOp {
  template <class T>
  T operator()(T a, T b) const {
    if constexpr (std::is_floating_point_v<T>) {
      if (std::isnan(a)) return a;
      if (std::isnan(b)) return b;
    }
    return b < a ? b : a;
  }
};
struct EqualOp {
  template <class T>
  bool operator()(T a, T b) const {
    return a == b;
  }
};
struct LessOp {
  template <class T>
  bool operator()(T a, T b) const {
    return a < b;
  }
};
struct GreaterOp {
  template <class T>
  bool operator()(T a, T b) const {
    return a > b;
  }
};
struct LessOrEqualOp {
  template <class T>
  bool operator()(T a, T b) const {
    return a <= b;
  }
};
struct GreaterOrEqualOp {
  template <class T>
  bool operator()(T a, T b) const {
    return a >= b;
  }
};
struct AndOp {
  bool operator()(bool a, bool b) const { return a && b; }
};
struct OrOp {
  bool operator()(bool a, bool b) const { return a || b; }
};
struct XorOp {
  bool operator()(bool a, bool b) const { return a != b; }
};

// ---------------------------------------------------------------------------------------------
// Shape inference shared by the broadcasting ops.

// Broadcasts the shapes of inputs [first, n) (all present ones) into output 0 with `dtype`.
void infer_broadcast_output(InferContext& ctx, size_t first, DType dtype) {
  std::vector<Shape> shapes;
  for (size_t i = first; i < ctx.inputs.size(); ++i) {
    if (!ctx.has(i)) continue;
    const ValueInfo& vi = ctx.in(i);
    if (!vi.shape_known) {
      ctx.set_output_unknown_shape(0, dtype);
      return;
    }
    shapes.push_back(vi.shape);
  }
  Shape out = shapes.at(0);
  for (size_t k = 1; k < shapes.size(); ++k) {
    Shape o;
    if (!broadcast_shapes(out, shapes[k], o))
      ctx.fail(ErrorKind::shape, "input shapes " + shapes_str(shapes) + " do not broadcast",
               "each pair of trailing dimensions must be equal or one of them 1");
    out = o;
  }
  ctx.set_output(0, dtype, out);
}

// All inputs of one dtype from class `types`; output that dtype (or bool when `to_bool`).
template <unsigned Types, bool ToBool>
void infer_same_dtype_broadcast(InferContext& ctx) {
  const DType dt = ctx.in(0).dtype;
  require_class(ctx, 0, dt, Types);
  for (size_t i = 1; i < ctx.inputs.size(); ++i)
    if (ctx.has(i)) require_same_dtype(ctx, 0, dt, i, ctx.in(i).dtype);
  infer_broadcast_output(ctx, 0, ToBool ? DType::boolean : dt);
}

// ---------------------------------------------------------------------------------------------
// Run functions.

// With Fuses (Add: a residual block's Add -> Relu), the activations fused after the op are
// applied to each run of the float32 output as it is made (one pass instead of two), else by
// their own ops after it; the op is then registered with handles_fused.
template <class Op, unsigned Types, bool ToBool, bool Fuses = false>
void run_binary(RunContext& ctx) {
  const Tensor& a = ctx.in(0);
  const Tensor& b = ctx.in(1);
  require_class(ctx, 0, a.dtype(), Types);
  require_same_dtype(ctx, 0, a.dtype(), 1, b.dtype());
  FusedActs acts;
  const bool in_kernel = Fuses && a.dtype() == DType::f32 && parse_fused(ctx.node, acts);
  visit_dtype(a.dtype(), ctx.where, [&](auto tag) {
    using T = decltype(tag);
    if constexpr ((type_class<T>() & Types) != 0) {
      using TO = std::conditional_t<ToBool, bool, T>;
      ctx.outputs[0] = binary_tensors<T, TO>(ctx, a, b, Op{}, in_kernel ? &acts : nullptr);
    }
  });
  if (Fuses && !in_kernel && !ctx.node.fused.empty())
    run_fused_nodes(ctx.node, ctx.where, ctx.outputs[0]);
}

// Variadic Sum / Max / Min (and Mean = Sum / n): a left fold in input order.
template <class Op, unsigned Types, bool IsMean>
void run_variadic(RunContext& ctx) {
  const Tensor& first = ctx.in(0);
  require_class(ctx, 0, first.dtype(), Types);
  for (size_t i = 1; i < ctx.inputs.size(); ++i)
    require_same_dtype(ctx, 0, first.dtype(), i, ctx.in(i).dtype());
  visit_dtype(first.dtype(), ctx.where, [&](auto tag) {
    using T = decltype(tag);
    if constexpr ((type_class<T>() & Types) != 0) {
      Tensor acc = first;
      for (size_t i = 1; i < ctx.inputs.size(); ++i)
        acc = binary_tensors<T, T>(ctx, acc, ctx.in(i), Op{});
      if (acc.raw() == first.raw()) acc = first.clone();  // never alias an input
      if constexpr (IsMean) {
        const T n = static_cast<T>(ctx.inputs.size());
        for (T& v : acc.span<T>()) v = DivOp{}(v, n);
      }
      ctx.outputs[0] = acc;
    }
  });
}

// Pow: base of any numeric dtype, exponent of any numeric dtype; output has the base's dtype.
void infer_pow(InferContext& ctx) {
  require_class(ctx, 0, ctx.in(0).dtype, kNumeric);
  require_class(ctx, 1, ctx.in(1).dtype, kNumeric);
  infer_broadcast_output(ctx, 0, ctx.in(0).dtype);
}

template <class T, class E>
T pow_one(T a, E e) {
  if constexpr (std::is_floating_point_v<T>) {
    if constexpr (std::is_same_v<T, float> && std::is_same_v<E, float>)
      return std::pow(a, e);
    else
      return static_cast<T>(std::pow(static_cast<double>(a), static_cast<double>(e)));
  } else if constexpr (std::is_integral_v<E>) {
    return int_pow(a, e);
  } else {
    return saturate<T>(std::pow(static_cast<double>(a), static_cast<double>(e)));
  }
}

void run_pow(RunContext& ctx) {
  const Tensor& a = ctx.in(0);
  const Tensor& b = ctx.in(1);
  require_class(ctx, 0, a.dtype(), kNumeric);
  require_class(ctx, 1, b.dtype(), kNumeric);
  Plan p = plan_or_fail(ctx, {a.shape(), b.shape()});
  visit_dtype(a.dtype(), ctx.where, [&](auto ta) {
    using T = decltype(ta);
    if constexpr ((type_class<T>() & kNumeric) != 0) {
      visit_dtype(b.dtype(), ctx.where, [&](auto tb) {
        using E = decltype(tb);
        if constexpr ((type_class<E>() & kNumeric) != 0) {
          Tensor out(dtype_of<T>(), p.out);
          binary_kernel(p, a.data<T>(), b.data<E>(), out.data<T>(),
                        [](T x, E y) { return pow_one(x, y); });
          ctx.outputs[0] = out;
        }
      });
    }
  });
}

// Mod: fmod=0 gives the sign of the divisor (integers), fmod=1 the sign of the dividend. Float
// inputs always use fmod semantics (as the ONNX reference does); with fmod=0 a NaN result
// (x mod 0) becomes 0.
void run_mod(RunContext& ctx) {
  const Tensor& a = ctx.in(0);
  const Tensor& b = ctx.in(1);
  require_class(ctx, 0, a.dtype(), kNumeric);
  require_same_dtype(ctx, 0, a.dtype(), 1, b.dtype());
  const int64_t fmod = ctx.node.attr_int("fmod", 0);
  if (fmod != 0 && fmod != 1)
    ctx.fail(ErrorKind::invalid,
             "attribute fmod is " + std::to_string(fmod) + "; it must be 0 or 1");
  visit_dtype(a.dtype(), ctx.where, [&](auto tag) {
    using T = decltype(tag);
    if constexpr ((type_class<T>() & kNumeric) != 0) {
      if constexpr (std::is_floating_point_v<T>) {
        if (fmod == 1)
          ctx.outputs[0] =
              binary_tensors<T, T>(ctx, a, b, [](T x, T y) { return std::fmod(x, y); });
        else
          ctx.outputs[0] = binary_tensors<T, T>(ctx, a, b, [](T x, T y) {
            T r = std::fmod(x, y);
            return std::isnan(r) ? T{0} : r;
          });
      } else {
        if (fmod == 1)
          ctx.outputs[0] = binary_tensors<T, T>(ctx, a, b, [](T x, T y) { return int_fmod(x, y); });
        else
          ctx.outputs[0] = binary_tensors<T, T>(ctx, a, b, [](T x, T y) { return int_mod(x, y); });
      }
    }
  });
}

// BitShift on unsigned integers; shifting by the bit width or more gives 0.
void run_bitshift(RunContext& ctx) {
  const Tensor& a = ctx.in(0);
  const Tensor& b = ctx.in(1);
  require_class(ctx, 0, a.dtype(), kUnsigned);
  require_same_dtype(ctx, 0, a.dtype(), 1, b.dtype());
  const std::string dir = ctx.node.attr_string("direction", "");
  if (dir != "LEFT" && dir != "RIGHT")
    ctx.fail(ErrorKind::invalid, "attribute direction is '" + dir + "'; it must be LEFT or RIGHT");
  const bool left = dir == "LEFT";
  visit_dtype(a.dtype(), ctx.where, [&](auto tag) {
    using T = decltype(tag);
    if constexpr (type_class<T>() == kUnsigned) {
      ctx.outputs[0] = binary_tensors<T, T>(ctx, a, b, [left](T x, T s) {
        if (s >= sizeof(T) * 8) return T{0};
        return left ? static_cast<T>(static_cast<Wide<T>>(x) << s) : static_cast<T>(x >> s);
      });
    }
  });
}

void infer_bitshift(InferContext& ctx) {
  infer_same_dtype_broadcast<kUnsigned, false>(ctx);
}

// Where(cond, X, Y): three-way broadcast.
void infer_where(InferContext& ctx) {
  if (ctx.in(0).dtype != DType::boolean)
    ctx.fail(ErrorKind::shape,
             "condition (input 0) is " + dtype_name(ctx.in(0).dtype) + "; it must be bool",
             "insert a Cast to bool");
  require_class(ctx, 1, ctx.in(1).dtype, kAll);
  require_same_dtype(ctx, 1, ctx.in(1).dtype, 2, ctx.in(2).dtype);
  infer_broadcast_output(ctx, 0, ctx.in(1).dtype);
}

void run_where(RunContext& ctx) {
  const Tensor& c = ctx.in(0);
  const Tensor& x = ctx.in(1);
  const Tensor& y = ctx.in(2);
  if (c.dtype() != DType::boolean)
    ctx.fail(ErrorKind::shape,
             "condition (input 0) is " + dtype_name(c.dtype()) + "; it must be bool",
             "insert a Cast to bool");
  require_class(ctx, 1, x.dtype(), kAll);
  require_same_dtype(ctx, 1, x.dtype(), 2, y.dtype());
  Plan p = plan_or_fail(ctx, {c.shape(), x.shape(), y.shape()});
  visit_dtype(x.dtype(), ctx.where, [&](auto tag) {
    using T = decltype(tag);
    Tensor out(dtype_of<T>(), p.out);
    const bool* pc = c.data<bool>();
    const T* px = x.data<T>();
    const T* py = y.data<T>();
    T* po = out.data<T>();
    const int64_t sc = p.strides[0].back(), sx = p.strides[1].back(), sy = p.strides[2].back();
    run_plan(p, [&](int64_t oo, const int64_t* off, int64_t n) {
      for (int64_t i = 0; i < n; ++i)
        po[oo + i] = pc[off[0] + i * sc] ? px[off[1] + i * sx] : py[off[2] + i * sy];
    });
    ctx.outputs[0] = out;
  });
}

// ---------------------------------------------------------------------------------------------
// Unary ops.

// Calls f(begin, end) over [0, n) in blocks, in parallel for large n.
template <class F>
void for_blocks(int64_t n, F&& f) {
  const int64_t nb = (n + kBlock - 1) / kBlock;
  if (n < kParallelMin) {
    if (n > 0) f(int64_t{0}, n);
    return;
  }
#pragma omp parallel for schedule(static)
  for (int64_t b = 0; b < nb; ++b) f(b * kBlock, std::min(n, (b + 1) * kBlock));
}

template <class TI, class TO, class F>
void unary_map(const TI* x, TO* y, int64_t n, F f) {
  for_blocks(n, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) y[i] = f(x[i]);
  });
}

template <unsigned Types, bool ToBool>
void infer_unary(InferContext& ctx) {
  const ValueInfo& x = ctx.in(0);
  require_class(ctx, 0, x.dtype, Types);
  const DType out = ToBool ? DType::boolean : x.dtype;
  if (x.shape_known)
    ctx.set_output(0, out, x.shape);
  else
    ctx.set_output_unknown_shape(0, out);
}

template <class Op, unsigned Types, bool ToBool>
void run_unary(RunContext& ctx) {
  const Tensor& x = ctx.in(0);
  require_class(ctx, 0, x.dtype(), Types);
  visit_dtype(x.dtype(), ctx.where, [&](auto tag) {
    using T = decltype(tag);
    if constexpr ((type_class<T>() & Types) != 0) {
      using TO = std::conditional_t<ToBool, bool, T>;
      Tensor out(dtype_of<TO>(), x.shape());
      unary_map(x.data<T>(), out.data<TO>(), x.numel(), [](T v) { return Op{}(v); });
      ctx.outputs[0] = out;
    }
  });
}

struct AbsOp {
  template <class T>
  T operator()(T v) const {
    if constexpr (std::is_unsigned_v<T>)
      return v;
    else if constexpr (std::is_integral_v<T>)
      return v < 0 ? wrap_neg(v) : v;
    else
      return std::abs(v);
  }
};
struct NegOp {
  template <class T>
  T operator()(T v) const {
    if constexpr (std::is_integral_v<T>)
      return wrap_neg(v);
    else
      return -v;
  }
};
struct SignOp {
  template <class T>
  T operator()(T v) const {
    if constexpr (std::is_unsigned_v<T>) {
      return v > 0 ? T{1} : T{0};
    } else {
      if constexpr (std::is_floating_point_v<T>)
        if (std::isnan(v)) return v;
      return v > T{0} ? T{1} : (v < T{0} ? T{-1} : T{0});
    }
  }
};
struct NotOp {
  bool operator()(bool v) const { return !v; }
};
struct IsNaNOp {
  template <class T>
  bool operator()(T v) const {
    return std::isnan(v);
  }
};

// Float-only math; one line each.
#define ACIM_FLOAT_UNARY(Name, expr) \
  struct Name {                      \
    template <class T>               \
    T operator()(T v) const {        \
      return expr;                   \
    }                                \
  };
ACIM_FLOAT_UNARY(ExpOp, std::exp(v))
ACIM_FLOAT_UNARY(LogOp, std::log(v))
ACIM_FLOAT_UNARY(SqrtOp, std::sqrt(v))
ACIM_FLOAT_UNARY(ReciprocalOp, T(1) / v)
ACIM_FLOAT_UNARY(FloorOp, std::floor(v))
ACIM_FLOAT_UNARY(CeilOp, std::ceil(v))
ACIM_FLOAT_UNARY(RoundOp, round_half_even(v))
ACIM_FLOAT_UNARY(ErfOp, std::erf(v))
ACIM_FLOAT_UNARY(SinOp, std::sin(v))
ACIM_FLOAT_UNARY(CosOp, std::cos(v))
ACIM_FLOAT_UNARY(TanOp, std::tan(v))
ACIM_FLOAT_UNARY(AsinOp, std::asin(v))
ACIM_FLOAT_UNARY(AcosOp, std::acos(v))
ACIM_FLOAT_UNARY(AtanOp, std::atan(v))
ACIM_FLOAT_UNARY(SinhOp, std::sinh(v))
ACIM_FLOAT_UNARY(CoshOp, std::cosh(v))
ACIM_FLOAT_UNARY(AsinhOp, std::asinh(v))
ACIM_FLOAT_UNARY(AcoshOp, std::acosh(v))
ACIM_FLOAT_UNARY(AtanhOp, std::atanh(v))
#undef ACIM_FLOAT_UNARY

// IsInf with detect_negative / detect_positive (both default 1).
void run_isinf(RunContext& ctx) {
  const Tensor& x = ctx.in(0);
  require_class(ctx, 0, x.dtype(), kFloat);
  const bool neg = ctx.node.attr_int("detect_negative", 1) != 0;
  const bool pos = ctx.node.attr_int("detect_positive", 1) != 0;
  visit_dtype(x.dtype(), ctx.where, [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_floating_point_v<T>) {
      Tensor out(DType::boolean, x.shape());
      unary_map(x.data<T>(), out.data<bool>(), x.numel(),
                [neg, pos](T v) { return std::isinf(v) && ((v > 0 && pos) || (v < 0 && neg)); });
      ctx.outputs[0] = out;
    }
  });
}

constexpr unsigned kSignedNumeric = kFloat | kSigned;

// PRelu(X, slope): slope broadcasts unidirectionally to X's shape. An activation, but it lives
// here because it uses the broadcast plan.
void infer_prelu(InferContext& ctx) {
  const ValueInfo& x = ctx.in(0);
  const ValueInfo& slope = ctx.in(1);
  require_class(ctx, 0, x.dtype, kSignedNumeric);
  require_same_dtype(ctx, 0, x.dtype, 1, slope.dtype);
  if (x.shape_known && slope.shape_known) {
    Shape o;
    if (!broadcast_shapes(x.shape, slope.shape, o) || o.size() != x.shape.size())
      ctx.fail(ErrorKind::shape,
               "slope shape " + shape_str(slope.shape) + " does not broadcast to X shape " +
                   shape_str(x.shape),
               "give slope a shape that broadcasts to X, e.g. [C,1,1] for NCHW");
    for (size_t i = 0; i < o.size(); ++i)
      if (x.shape[i] >= 0 && o[i] != x.shape[i])
        ctx.fail(ErrorKind::shape,
                 "slope shape " + shape_str(slope.shape) + " does not broadcast to X shape " +
                     shape_str(x.shape),
                 "give slope a shape that broadcasts to X, e.g. [C,1,1] for NCHW");
  }
  if (x.shape_known)
    ctx.set_output(0, x.dtype, x.shape);
  else
    ctx.set_output_unknown_shape(0, x.dtype);
}

void run_prelu(RunContext& ctx) {
  const Tensor& x = ctx.in(0);
  const Tensor& slope = ctx.in(1);
  require_class(ctx, 0, x.dtype(), kSignedNumeric);
  require_same_dtype(ctx, 0, x.dtype(), 1, slope.dtype());
  Plan p;
  if (!make_plan({x.shape(), slope.shape()}, p) || p.out != x.shape())
    ctx.fail(ErrorKind::shape,
             "slope shape " + shape_str(slope.shape()) + " does not broadcast to X shape " +
                 shape_str(x.shape()),
             "give slope a shape that broadcasts to X, e.g. [C,1,1] for NCHW");
  visit_dtype(x.dtype(), ctx.where, [&](auto tag) {
    using T = decltype(tag);
    if constexpr ((type_class<T>() & kSignedNumeric) != 0) {
      Tensor out(dtype_of<T>(), p.out);
      binary_kernel(p, x.data<T>(), slope.data<T>(), out.data<T>(), [](T v, T s) {
        if constexpr (std::is_integral_v<T>)
          return v < 0 ? wrap_mul(v, s) : v;
        else
          return v < T{0} ? v * s : v;
      });
      ctx.outputs[0] = out;
    }
  });
}

}  // namespace

void register_elementwise(std::vector<OpDef>& ops) {
  // Binary arithmetic.
  ops.push_back({"Add", 2, 2, infer_same_dtype_broadcast<kNumeric, false>,
                 run_binary<AddOp, kNumeric, false, true>, nullptr, /*handles_fused=*/true});
  ops.push_back({"Sub", 2, 2, infer_same_dtype_broadcast<kNumeric, false>,
                 run_binary<SubOp, kNumeric, false>, nullptr});
  ops.push_back({"Mul", 2, 2, infer_same_dtype_broadcast<kNumeric, false>,
                 run_binary<MulOp, kNumeric, false>, nullptr});
  ops.push_back({"Div", 2, 2, infer_same_dtype_broadcast<kNumeric, false>,
                 run_binary<DivOp, kNumeric, false>, nullptr});
  ops.push_back({"Pow", 2, 2, infer_pow, run_pow, nullptr});
  ops.push_back({"Mod", 2, 2, infer_same_dtype_broadcast<kNumeric, false>, run_mod, nullptr});
  ops.push_back({"BitShift", 2, 2, infer_bitshift, run_bitshift, nullptr});
  // Variadic.
  ops.push_back({"Max", 1, -1, infer_same_dtype_broadcast<kNumeric, false>,
                 run_variadic<MaxOp, kNumeric, false>, nullptr});
  ops.push_back({"Min", 1, -1, infer_same_dtype_broadcast<kNumeric, false>,
                 run_variadic<MinOp, kNumeric, false>, nullptr});
  ops.push_back({"Sum", 1, -1, infer_same_dtype_broadcast<kNumeric, false>,
                 run_variadic<AddOp, kNumeric, false>, nullptr});
  ops.push_back({"Mean", 1, -1, infer_same_dtype_broadcast<kNumeric, false>,
                 run_variadic<AddOp, kNumeric, true>, nullptr});
  // Comparisons and logic (bool output).
  ops.push_back({"Equal", 2, 2, infer_same_dtype_broadcast<kAll, true>,
                 run_binary<EqualOp, kAll, true>, nullptr});
  ops.push_back({"Less", 2, 2, infer_same_dtype_broadcast<kNumeric, true>,
                 run_binary<LessOp, kNumeric, true>, nullptr});
  ops.push_back({"Greater", 2, 2, infer_same_dtype_broadcast<kNumeric, true>,
                 run_binary<GreaterOp, kNumeric, true>, nullptr});
  ops.push_back({"LessOrEqual", 2, 2, infer_same_dtype_broadcast<kNumeric, true>,
                 run_binary<LessOrEqualOp, kNumeric, true>, nullptr});
  ops.push_back({"GreaterOrEqual", 2, 2, infer_same_dtype_broadcast<kNumeric, true>,
                 run_binary<GreaterOrEqualOp, kNumeric, true>, nullptr});
  ops.push_back({"And", 2, 2, infer_same_dtype_broadcast<kBool, true>,
                 run_binary<AndOp, kBool, true>, nullptr});
  ops.push_back({"Or", 2, 2, infer_same_dtype_broadcast<kBool, true>, run_binary<OrOp, kBool, true>,
                 nullptr});
  ops.push_back({"Xor", 2, 2, infer_same_dtype_broadcast<kBool, true>,
                 run_binary<XorOp, kBool, true>, nullptr});
  ops.push_back({"Not", 1, 1, infer_unary<kBool, true>, run_unary<NotOp, kBool, true>, nullptr});
  ops.push_back({"Where", 3, 3, infer_where, run_where, nullptr});
  ops.push_back({"PRelu", 2, 2, infer_prelu, run_prelu, nullptr});
  // Unary math.
  ops.push_back(
      {"Abs", 1, 1, infer_unary<kNumeric, false>, run_unary<AbsOp, kNumeric, false>, nullptr});
  ops.push_back({"Neg", 1, 1, infer_unary<kSignedNumeric, false>,
                 run_unary<NegOp, kSignedNumeric, false>, nullptr});
  ops.push_back(
      {"Sign", 1, 1, infer_unary<kNumeric, false>, run_unary<SignOp, kNumeric, false>, nullptr});
  ops.push_back(
      {"IsNaN", 1, 1, infer_unary<kFloat, true>, run_unary<IsNaNOp, kFloat, true>, nullptr});
  ops.push_back({"IsInf", 1, 1, infer_unary<kFloat, true>, run_isinf, nullptr});
#define ACIM_REGISTER_FLOAT_UNARY(Name, OpT) \
  ops.push_back({Name, 1, 1, infer_unary<kFloat, false>, run_unary<OpT, kFloat, false>, nullptr});
  ACIM_REGISTER_FLOAT_UNARY("Exp", ExpOp)
  ACIM_REGISTER_FLOAT_UNARY("Log", LogOp)
  ACIM_REGISTER_FLOAT_UNARY("Sqrt", SqrtOp)
  ACIM_REGISTER_FLOAT_UNARY("Reciprocal", ReciprocalOp)
  ACIM_REGISTER_FLOAT_UNARY("Floor", FloorOp)
  ACIM_REGISTER_FLOAT_UNARY("Ceil", CeilOp)
  ACIM_REGISTER_FLOAT_UNARY("Round", RoundOp)
  ACIM_REGISTER_FLOAT_UNARY("Erf", ErfOp)
  ACIM_REGISTER_FLOAT_UNARY("Sin", SinOp)
  ACIM_REGISTER_FLOAT_UNARY("Cos", CosOp)
  ACIM_REGISTER_FLOAT_UNARY("Tan", TanOp)
  ACIM_REGISTER_FLOAT_UNARY("Asin", AsinOp)
  ACIM_REGISTER_FLOAT_UNARY("Acos", AcosOp)
  ACIM_REGISTER_FLOAT_UNARY("Atan", AtanOp)
  ACIM_REGISTER_FLOAT_UNARY("Sinh", SinhOp)
  ACIM_REGISTER_FLOAT_UNARY("Cosh", CoshOp)
  ACIM_REGISTER_FLOAT_UNARY("Asinh", AsinhOp)
  ACIM_REGISTER_FLOAT_UNARY("Acosh", AcoshOp)
  ACIM_REGISTER_FLOAT_UNARY("Atanh", AtanhOp)
#undef ACIM_REGISTER_FLOAT_UNARY
}

}  // namespace acim::ops
