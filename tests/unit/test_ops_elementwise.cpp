// Elementwise, unary math and activation ops against explicit scalar references and
// hand-computed values.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "acim/threads.hpp"
#include "ops/op.hpp"

namespace acim {
namespace {

using Attrs = std::map<std::string, Attribute>;

Attribute attr(float v) {
  return Attribute{Attribute::Value{v}};
}
Attribute attr(int64_t v) {
  return Attribute{Attribute::Value{v}};
}
Attribute attr(const char* v) {
  return Attribute{Attribute::Value{std::string(v)}};
}

Node make_node(const std::string& op, size_t n_in, Attrs attrs) {
  Node n;
  n.name = "n0";
  n.op_type = op;
  for (size_t i = 0; i < n_in; ++i) n.inputs.push_back("in" + std::to_string(i));
  n.outputs = {"out"};
  n.attrs = std::move(attrs);
  return n;
}

// Runs one op directly through the registry. A null tensor pointer is an omitted input.
Tensor run_op(const std::string& op, const std::vector<const Tensor*>& inputs, Attrs attrs = {}) {
  const ops::OpDef* def = ops::find_op(op);
  EXPECT_NE(def, nullptr) << op;
  Node node = make_node(op, inputs.size(), std::move(attrs));
  ops::RunContext ctx{node, "test: node 'n0' (" + op + ")", inputs, std::vector<Tensor>(1)};
  def->run(ctx);
  return ctx.outputs[0];
}

Tensor run_op(const std::string& op, const std::vector<Tensor>& inputs, Attrs attrs = {}) {
  std::vector<const Tensor*> ptrs;
  for (const auto& t : inputs) ptrs.push_back(&t);
  return run_op(op, ptrs, std::move(attrs));
}

// Runs shape inference of one op on inputs of the given dtypes and shapes.
ValueInfo infer_op(const std::string& op, const std::vector<ValueInfo>& inputs, Attrs attrs = {}) {
  const ops::OpDef* def = ops::find_op(op);
  EXPECT_NE(def, nullptr) << op;
  Node node = make_node(op, inputs.size(), std::move(attrs));
  ops::InferContext ctx{
      node, "test: node 'n0' (" + op + ")", {}, {ValueInfo{"out", DType::f32, {}, false}}};
  for (const auto& vi : inputs) ctx.inputs.push_back(ops::InferInput{&vi, nullptr});
  def->infer(ctx);
  return ctx.outputs[0];
}

ValueInfo vi(DType dt, Shape s) {
  return ValueInfo{"v", dt, std::move(s), true};
}

// Deterministic pseudo-random floats in [-4, 4).
std::vector<float> values(int64_t n, uint32_t seed) {
  std::vector<float> v(static_cast<size_t>(n));
  uint32_t s = seed * 2654435761u + 1;
  for (auto& x : v) {
    s = s * 1664525u + 1013904223u;
    x = static_cast<float>(s >> 8) / static_cast<float>(1 << 24) * 8.0f - 4.0f;
  }
  return v;
}

Tensor random_tensor(Shape shape, uint32_t seed) {
  return Tensor::from_vector<float>(shape, values(shape_numel(shape), seed));
}

// Explicit scalar reference for a broadcasting binary op: walks every output multi-index.
template <class F>
std::vector<float> reference_broadcast(const Tensor& a, const Tensor& b, const Shape& out, F f) {
  const size_t rank = out.size();
  auto aligned = [&](const Shape& s) {
    Shape r(rank, 1);
    for (size_t i = 0; i < s.size(); ++i) r[rank - s.size() + i] = s[i];
    return r;
  };
  const Shape sa = aligned(a.shape()), sb = aligned(b.shape());
  std::vector<float> r(static_cast<size_t>(shape_numel(out)));
  std::vector<int64_t> idx(rank, 0);
  for (size_t flat = 0; flat < r.size(); ++flat) {
    int64_t rem = static_cast<int64_t>(flat);
    for (size_t d = rank; d-- > 0;) {
      idx[d] = rem % out[d];
      rem /= out[d];
    }
    int64_t ia = 0, ib = 0;
    for (size_t d = 0; d < rank; ++d) {
      ia = ia * sa[d] + (sa[d] == 1 ? 0 : idx[d]);
      ib = ib * sb[d] + (sb[d] == 1 ? 0 : idx[d]);
    }
    r[flat] = f(a.data<float>()[ia], b.data<float>()[ib]);
  }
  return r;
}

template <class T>
std::vector<T> as_vector(const Tensor& t) {
  auto s = t.span<T>();
  return std::vector<T>(s.begin(), s.end());
}

// ---------------------------------------------------------------------------------------------
// Broadcasting.

struct BroadcastCase {
  Shape a, b, out;
};

TEST(Elementwise, BinaryBroadcastMatchesScalarReference) {
  const std::vector<BroadcastCase> cases = {
      {{2, 3}, {2, 3}, {2, 3}},                       // same shape
      {{}, {2, 3}, {2, 3}},                           // scalar left
      {{2, 3}, {}, {2, 3}},                           // scalar right
      {{2, 3, 4}, {4}, {2, 3, 4}},                    // rank mismatch, row
      {{2, 1, 4}, {3, 1}, {2, 3, 4}},                 // both sides broadcast
      {{2, 3, 4, 5}, {3, 1, 1}, {2, 3, 4, 5}},        // per-channel bias
      {{1}, {2, 3}, {2, 3}},                          // [1] vs matrix
      {{3, 1}, {1, 3}, {3, 3}},                       // outer product
      {{1, 1, 1}, {}, {1, 1, 1}},                     // all ones
      {{4, 1, 6}, {4, 5, 1}, {4, 5, 6}},              // alternating
      {{0, 3}, {3}, {0, 3}},                          // zero-size
      {{2, 0}, {1}, {2, 0}},                          // zero-size inner
      {{64, 3, 33, 33}, {3, 1, 1}, {64, 3, 33, 33}},  // large: parallel path
      {{70000}, {70000}, {70000}},                    // large flat
      {{5, 20000}, {5, 1}, {5, 20000}},               // long rows split in blocks
  };
  struct Named {
    const char* op;
    float (*f)(float, float);
  };
  const std::vector<Named> named = {
      {"Add", [](float x, float y) { return x + y; }},
      {"Sub", [](float x, float y) { return x - y; }},
      {"Mul", [](float x, float y) { return x * y; }},
      {"Div", [](float x, float y) { return x / y; }},
      {"Max", [](float x, float y) { return x > y ? x : y; }},
      {"Min", [](float x, float y) { return x < y ? x : y; }},
  };
  uint32_t seed = 1;
  for (const auto& c : cases) {
    Tensor a = random_tensor(c.a, seed++);
    Tensor b = random_tensor(c.b, seed++);
    for (const auto& n : named) {
      Tensor out = run_op(n.op, {a, b});
      ASSERT_EQ(out.shape(), c.out) << n.op << " " << shape_str(c.a) << " " << shape_str(c.b);
      ASSERT_EQ(out.dtype(), DType::f32);
      std::vector<float> want = reference_broadcast(a, b, c.out, n.f);
      std::vector<float> got = as_vector<float>(out);
      ASSERT_EQ(got.size(), want.size());
      for (size_t i = 0; i < got.size(); ++i)
        ASSERT_EQ(got[i], want[i])
            << n.op << " " << shape_str(c.a) << " " << shape_str(c.b) << " at " << i;
    }
  }
}

TEST(Elementwise, ResultsDoNotDependOnThreadCount) {
  Tensor a = random_tensor({8, 16, 40, 40}, 11);
  Tensor b = random_tensor({16, 1, 40}, 12);
  const int saved = num_threads();
  set_num_threads(1);
  Tensor one = run_op("Add", {a, b});
  Tensor sig1 = run_op("Sigmoid", {a});
  set_num_threads(4);
  Tensor four = run_op("Add", {a, b});
  Tensor sig4 = run_op("Sigmoid", {a});
  set_num_threads(saved);
  EXPECT_EQ(as_vector<float>(one), as_vector<float>(four));
  EXPECT_EQ(as_vector<float>(sig1), as_vector<float>(sig4));
}

TEST(Elementwise, IncompatibleShapesNameBothShapes) {
  Tensor a(DType::f32, {2, 3});
  Tensor b(DType::f32, {4});
  try {
    run_op("Add", {a, b});
    FAIL() << "expected a shape error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::shape);
    const std::string msg = e.what();
    EXPECT_NE(msg.find("[2,3]"), std::string::npos) << msg;
    EXPECT_NE(msg.find("[4]"), std::string::npos) << msg;
    EXPECT_NE(msg.find("n0"), std::string::npos) << msg;
  }
  try {
    infer_op("Mul", {vi(DType::f32, {5, 2}), vi(DType::f32, {3, 1, 3})});
    FAIL() << "expected a shape error from inference";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::shape);
    const std::string msg = e.what();
    EXPECT_NE(msg.find("[5,2]"), std::string::npos) << msg;
    EXPECT_NE(msg.find("[3,1,3]"), std::string::npos) << msg;
  }
}

TEST(Elementwise, MixedDtypesAreRefusedNamingBoth) {
  Tensor a(DType::f32, {2});
  Tensor b(DType::i64, {2});
  for (const char* op : {"Add", "Less", "Max"}) {
    try {
      run_op(op, {a, b});
      FAIL() << op << ": expected a dtype error";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::shape);
      const std::string msg = e.what();
      EXPECT_NE(msg.find("float32"), std::string::npos) << msg;
      EXPECT_NE(msg.find("int64"), std::string::npos) << msg;
    }
  }
  EXPECT_THROW(infer_op("Sub", {vi(DType::i32, {2}), vi(DType::i64, {2})}), Error);
}

TEST(Elementwise, InferBroadcastAndOutputDtype) {
  ValueInfo o = infer_op("Add", {vi(DType::f32, {2, 1, 4}), vi(DType::f32, {3, 1})});
  EXPECT_EQ(o.dtype, DType::f32);
  EXPECT_EQ(o.shape, (Shape{2, 3, 4}));
  o = infer_op("Less", {vi(DType::i64, {3}), vi(DType::i64, {})});
  EXPECT_EQ(o.dtype, DType::boolean);
  EXPECT_EQ(o.shape, (Shape{3}));
  o = infer_op("Equal", {vi(DType::f32, {kUnknownDim, 4}), vi(DType::f32, {4})});
  EXPECT_EQ(o.dtype, DType::boolean);
  EXPECT_EQ(o.shape, (Shape{kUnknownDim, 4}));
  o = infer_op("Where", {vi(DType::boolean, {2, 1}), vi(DType::i32, {1, 3}), vi(DType::i32, {})});
  EXPECT_EQ(o.dtype, DType::i32);
  EXPECT_EQ(o.shape, (Shape{2, 3}));
  o = infer_op("Sum", {vi(DType::f32, {3}), vi(DType::f32, {2, 1}), vi(DType::f32, {1, 1, 1})});
  EXPECT_EQ(o.shape, (Shape{1, 2, 3}));
  o = infer_op("Pow", {vi(DType::i32, {2}), vi(DType::f32, {})});
  EXPECT_EQ(o.dtype, DType::i32);
  o = infer_op("IsNaN", {vi(DType::f64, {4})});
  EXPECT_EQ(o.dtype, DType::boolean);
  o = infer_op("Relu", {ValueInfo{"x", DType::f32, {}, false}});
  EXPECT_FALSE(o.shape_known);
  EXPECT_THROW(infer_op("Where", {vi(DType::f32, {2}), vi(DType::f32, {2}), vi(DType::f32, {2})}),
               Error);
  EXPECT_THROW(infer_op("And", {vi(DType::f32, {2}), vi(DType::f32, {2})}), Error);
  EXPECT_THROW(infer_op("Sqrt", {vi(DType::i32, {2})}), Error);
}

// ---------------------------------------------------------------------------------------------
// Dtypes and integer semantics.

template <class T>
void check_add_mul_sub(T a, T b) {
  Tensor ta = Tensor::from_vector<T>({2}, {a, b});
  Tensor tb = Tensor::from_vector<T>({}, {b});
  EXPECT_EQ(run_op("Add", {ta, tb}).dtype(), dtype_of<T>());
  EXPECT_EQ(as_vector<T>(run_op("Add", {ta, tb})),
            (std::vector<T>{static_cast<T>(a + b), static_cast<T>(b + b)}));
  EXPECT_EQ(as_vector<T>(run_op("Sub", {ta, tb})),
            (std::vector<T>{static_cast<T>(a - b), static_cast<T>(0)}));
  EXPECT_EQ(as_vector<T>(run_op("Mul", {ta, tb})),
            (std::vector<T>{static_cast<T>(a * b), static_cast<T>(b * b)}));
}

TEST(Elementwise, AllNumericDtypes) {
  check_add_mul_sub<float>(1.5f, -2.0f);
  check_add_mul_sub<double>(1.5, -2.0);
  check_add_mul_sub<int8_t>(5, -3);
  check_add_mul_sub<uint8_t>(7, 3);
  check_add_mul_sub<int16_t>(-300, 7);
  check_add_mul_sub<uint16_t>(300, 7);
  check_add_mul_sub<int32_t>(-70000, 9);
  check_add_mul_sub<uint32_t>(70000, 9);
  check_add_mul_sub<int64_t>(int64_t{1} << 40, -3);
  check_add_mul_sub<uint64_t>(uint64_t{1} << 40, 3);
}

TEST(Elementwise, IntegerArithmeticWrapsWithoutUndefinedBehaviour) {
  Tensor a8 = Tensor::from_vector<int8_t>({1}, {127});
  Tensor b8 = Tensor::from_vector<int8_t>({1}, {1});
  EXPECT_EQ(as_vector<int8_t>(run_op("Add", {a8, b8}))[0], -128);
  Tensor u8a = Tensor::from_vector<uint8_t>({1}, {200});
  Tensor u8b = Tensor::from_vector<uint8_t>({1}, {100});
  EXPECT_EQ(as_vector<uint8_t>(run_op("Add", {u8a, u8b}))[0], 44);
  EXPECT_EQ(as_vector<uint8_t>(run_op("Sub", {u8b, u8a}))[0], 156);
  Tensor u16 = Tensor::from_vector<uint16_t>({1}, {65535});
  EXPECT_EQ(as_vector<uint16_t>(run_op("Mul", {u16, u16}))[0], 1);
  Tensor i64 = Tensor::from_vector<int64_t>({1}, {std::numeric_limits<int64_t>::max()});
  Tensor one = Tensor::from_vector<int64_t>({1}, {1});
  EXPECT_EQ(as_vector<int64_t>(run_op("Add", {i64, one}))[0], std::numeric_limits<int64_t>::min());
}

TEST(Elementwise, IntegerDivTruncatesTowardZero) {
  Tensor a =
      Tensor::from_vector<int32_t>({6}, {7, -7, 7, -7, 5, std::numeric_limits<int32_t>::min()});
  Tensor b = Tensor::from_vector<int32_t>({6}, {2, 2, -2, -2, 0, -1});
  // x / 0 is undefined in ONNX; acim gives 0. INT_MIN / -1 wraps to INT_MIN.
  EXPECT_EQ(as_vector<int32_t>(run_op("Div", {a, b})),
            (std::vector<int32_t>{3, -3, -3, 3, 0, std::numeric_limits<int32_t>::min()}));
  Tensor ua = Tensor::from_vector<uint8_t>({3}, {250, 7, 9});
  Tensor ub = Tensor::from_vector<uint8_t>({3}, {7, 250, 0});
  EXPECT_EQ(as_vector<uint8_t>(run_op("Div", {ua, ub})), (std::vector<uint8_t>{35, 0, 0}));
  Tensor fa = Tensor::from_vector<float>({2}, {7.0f, -1.0f});
  Tensor fb = Tensor::from_vector<float>({2}, {2.0f, 4.0f});
  EXPECT_EQ(as_vector<float>(run_op("Div", {fa, fb})), (std::vector<float>{3.5f, -0.25f}));
}

TEST(Elementwise, ModFollowsDivisorSignUnlessFmod) {
  Tensor a = Tensor::from_vector<int32_t>({7}, {-4, 7, 5, 4, -7, 8, 3});
  Tensor b = Tensor::from_vector<int32_t>({7}, {2, -3, 8, -2, 3, 5, 0});
  EXPECT_EQ(as_vector<int32_t>(run_op("Mod", {a, b})),
            (std::vector<int32_t>{0, -2, 5, 0, 2, 3, 0}));
  EXPECT_EQ(as_vector<int32_t>(run_op("Mod", {a, b}, {{"fmod", attr(int64_t{1})}})),
            (std::vector<int32_t>{0, 1, 5, 0, -1, 3, 0}));
  Tensor i8a = Tensor::from_vector<int8_t>({2}, {-128, -7});
  Tensor i8b = Tensor::from_vector<int8_t>({2}, {-1, 127});
  EXPECT_EQ(as_vector<int8_t>(run_op("Mod", {i8a, i8b})), (std::vector<int8_t>{0, 120}));
  Tensor fa = Tensor::from_vector<float>({3}, {5.5f, -5.5f, 5.0f});
  Tensor fb = Tensor::from_vector<float>({3}, {-2.0f, 2.0f, 2.5f});
  EXPECT_EQ(as_vector<float>(run_op("Mod", {fa, fb}, {{"fmod", attr(int64_t{1})}})),
            (std::vector<float>{1.5f, -1.5f, 0.0f}));
  Tensor u = Tensor::from_vector<uint32_t>({2}, {10, 4000000000u});
  Tensor v = Tensor::from_vector<uint32_t>({2}, {3, 7});
  EXPECT_EQ(as_vector<uint32_t>(run_op("Mod", {u, v})),
            (std::vector<uint32_t>{1, 4000000000u % 7}));
}

TEST(Elementwise, PowMixedDtypes) {
  Tensor fb = Tensor::from_vector<float>({3}, {2.0f, -3.0f, 0.5f});
  Tensor ie = Tensor::from_vector<int64_t>({3}, {3, 2, -1});
  Tensor r = run_op("Pow", {fb, ie});
  EXPECT_EQ(r.dtype(), DType::f32);
  EXPECT_EQ(as_vector<float>(r), (std::vector<float>{8.0f, 9.0f, 2.0f}));
  Tensor ib = Tensor::from_vector<int32_t>({3}, {2, 3, -2});
  Tensor fe = Tensor::from_vector<float>({3}, {0.5f, 2.0f, 3.0f});
  r = run_op("Pow", {ib, fe});
  EXPECT_EQ(r.dtype(), DType::i32);
  EXPECT_EQ(as_vector<int32_t>(r), (std::vector<int32_t>{1, 9, -8}));  // sqrt(2) truncates to 1
  Tensor b64 = Tensor::from_vector<int64_t>({4}, {3, -1, 2, 1});
  Tensor e64 = Tensor::from_vector<int64_t>({4}, {20, 3, -1, -5});
  EXPECT_EQ(as_vector<int64_t>(run_op("Pow", {b64, e64})),
            (std::vector<int64_t>{3486784401LL, -1, 0, 1}));
  Tensor fx = Tensor::from_vector<float>({2, 2}, {1.0f, 2.0f, 3.0f, 4.0f});
  Tensor fs = Tensor::from_vector<float>({}, {2.0f});
  EXPECT_EQ(as_vector<float>(run_op("Pow", {fx, fs})), (std::vector<float>{1, 4, 9, 16}));
}

TEST(Elementwise, ComparisonsGiveBool) {
  Tensor a = Tensor::from_vector<int64_t>({2, 2}, {1, 2, 3, 4});
  Tensor b = Tensor::from_vector<int64_t>({2}, {2, 2});
  auto bools = [](const Tensor& t) {
    EXPECT_EQ(t.dtype(), DType::boolean);
    return as_vector<bool>(t);
  };
  EXPECT_EQ(bools(run_op("Equal", {a, b})), (std::vector<bool>{0, 1, 0, 0}));
  EXPECT_EQ(bools(run_op("Less", {a, b})), (std::vector<bool>{1, 0, 0, 0}));
  EXPECT_EQ(bools(run_op("Greater", {a, b})), (std::vector<bool>{0, 0, 1, 1}));
  EXPECT_EQ(bools(run_op("LessOrEqual", {a, b})), (std::vector<bool>{1, 1, 0, 0}));
  EXPECT_EQ(bools(run_op("GreaterOrEqual", {a, b})), (std::vector<bool>{0, 1, 1, 1}));
  const float nan = std::numeric_limits<float>::quiet_NaN();
  Tensor f = Tensor::from_vector<float>({2}, {nan, 1.0f});
  EXPECT_EQ(bools(run_op("Equal", {f, f})), (std::vector<bool>{0, 1}));
  Tensor p = Tensor::from_vector<bool>({4}, {false, false, true, true});
  Tensor q = Tensor::from_vector<bool>({4}, {false, true, false, true});
  EXPECT_EQ(bools(run_op("And", {p, q})), (std::vector<bool>{0, 0, 0, 1}));
  EXPECT_EQ(bools(run_op("Or", {p, q})), (std::vector<bool>{0, 1, 1, 1}));
  EXPECT_EQ(bools(run_op("Xor", {p, q})), (std::vector<bool>{0, 1, 1, 0}));
  EXPECT_EQ(bools(run_op("Equal", {p, q})), (std::vector<bool>{1, 0, 0, 1}));
  EXPECT_EQ(bools(run_op("Not", {p})), (std::vector<bool>{1, 1, 0, 0}));
  EXPECT_THROW(run_op("And", {a, a}), Error);
  EXPECT_THROW(run_op("Less", {p, q}), Error);
}

TEST(Elementwise, WhereBroadcastsThreeWays) {
  Tensor c = Tensor::from_vector<bool>({2, 1}, {true, false});
  Tensor x = Tensor::from_vector<int32_t>({1, 3}, {1, 2, 3});
  Tensor y = Tensor::from_vector<int32_t>({}, {-9});
  Tensor r = run_op("Where", {c, x, y});
  EXPECT_EQ(r.shape(), (Shape{2, 3}));
  EXPECT_EQ(as_vector<int32_t>(r), (std::vector<int32_t>{1, 2, 3, -9, -9, -9}));
  Tensor c2 = Tensor::from_vector<bool>({3}, {false, true, false});
  Tensor x2 = Tensor::from_vector<float>({2, 3}, {1, 2, 3, 4, 5, 6});
  Tensor y2 = Tensor::from_vector<float>({2, 1}, {10, 20});
  EXPECT_EQ(as_vector<float>(run_op("Where", {c2, x2, y2})),
            (std::vector<float>{10, 2, 10, 20, 5, 20}));
  Tensor c0(DType::boolean, {0, 1, 3});
  EXPECT_EQ(run_op("Where", {c0, x2, y2}).shape(), (Shape{0, 2, 3}));
  Tensor c3(DType::boolean, {3, 3});
  EXPECT_THROW(run_op("Where", {c3, x2, y2}), Error);
}

TEST(Elementwise, VariadicOpsFoldAllInputs) {
  Tensor a = Tensor::from_vector<float>({3}, {1, 5, -2});
  Tensor b = Tensor::from_vector<float>({2, 1}, {0, 10});
  Tensor c = Tensor::from_vector<float>({}, {3});
  Tensor s = run_op("Sum", {a, b, c});
  EXPECT_EQ(s.shape(), (Shape{2, 3}));
  EXPECT_EQ(as_vector<float>(s), (std::vector<float>{4, 8, 1, 14, 18, 11}));
  EXPECT_EQ(as_vector<float>(run_op("Mean", {a, b, c})),
            (std::vector<float>{4.0f / 3, 8.0f / 3, 1.0f / 3, 14.0f / 3, 6.0f, 11.0f / 3}));
  EXPECT_EQ(as_vector<float>(run_op("Max", {a, b, c})), (std::vector<float>{3, 5, 3, 10, 10, 10}));
  EXPECT_EQ(as_vector<float>(run_op("Min", {a, b, c})), (std::vector<float>{0, 0, -2, 1, 3, -2}));
  // One input: a copy, never the input's buffer.
  Tensor one = run_op("Max", {a});
  EXPECT_EQ(as_vector<float>(one), as_vector<float>(a));
  EXPECT_NE(one.raw(), a.raw());
  // NaN propagates through Max and Min like np.maximum / np.minimum.
  const float nan = std::numeric_limits<float>::quiet_NaN();
  Tensor n = Tensor::from_vector<float>({2}, {nan, 1});
  Tensor m = Tensor::from_vector<float>({2}, {0, nan});
  for (const char* op : {"Max", "Min"}) {
    Tensor r = run_op(op, {n, m});
    EXPECT_TRUE(std::isnan(r.data<float>()[0])) << op;
    EXPECT_TRUE(std::isnan(r.data<float>()[1])) << op;
  }
  Tensor u = Tensor::from_vector<uint16_t>({3}, {1, 60000, 7});
  Tensor v = Tensor::from_vector<uint16_t>({3}, {2, 3, 7});
  EXPECT_EQ(as_vector<uint16_t>(run_op("Max", {u, v})), (std::vector<uint16_t>{2, 60000, 7}));
}

TEST(Elementwise, BitShift) {
  Tensor a = Tensor::from_vector<uint8_t>({4}, {16, 4, 1, 255});
  Tensor s = Tensor::from_vector<uint8_t>({4}, {1, 2, 8, 7});
  EXPECT_EQ(as_vector<uint8_t>(run_op("BitShift", {a, s}, {{"direction", attr("LEFT")}})),
            (std::vector<uint8_t>{32, 16, 0, 128}));
  EXPECT_EQ(as_vector<uint8_t>(run_op("BitShift", {a, s}, {{"direction", attr("RIGHT")}})),
            (std::vector<uint8_t>{8, 1, 0, 1}));
  EXPECT_THROW(run_op("BitShift", {a, s}, {{"direction", attr("UP")}}), Error);
}

// ---------------------------------------------------------------------------------------------
// Unary math.

TEST(Elementwise, RoundIsHalfToEven) {
  Tensor x = Tensor::from_vector<float>(
      {11}, {0.5f, 1.5f, 2.5f, -0.5f, -1.5f, -2.5f, 2.4f, 2.6f, -2.6f, 0.0f, 1e9f + 0.0f});
  EXPECT_EQ(as_vector<float>(run_op("Round", {x})),
            (std::vector<float>{0, 2, 2, -0.0f, -2, -2, 2, 3, -3, 0, 1e9f}));
  Tensor d = Tensor::from_vector<double>({3}, {3.5, 4.5, -3.5});
  EXPECT_EQ(as_vector<double>(run_op("Round", {d})), (std::vector<double>{4, 4, -4}));
}

TEST(Elementwise, FloatUnaryMatchesStd) {
  struct Case {
    const char* op;
    double (*f)(double);
    double lo, hi;  // input range
  };
  const std::vector<Case> cases = {
      {"Exp", [](double v) { return std::exp(v); }, -5, 5},
      {"Log", [](double v) { return std::log(v); }, 0.01, 10},
      {"Sqrt", [](double v) { return std::sqrt(v); }, 0, 10},
      {"Reciprocal", [](double v) { return 1.0 / v; }, 0.1, 10},
      {"Floor", [](double v) { return std::floor(v); }, -5, 5},
      {"Ceil", [](double v) { return std::ceil(v); }, -5, 5},
      {"Erf", [](double v) { return std::erf(v); }, -3, 3},
      {"Sin", [](double v) { return std::sin(v); }, -5, 5},
      {"Cos", [](double v) { return std::cos(v); }, -5, 5},
      {"Tan", [](double v) { return std::tan(v); }, -1.4, 1.4},
      {"Asin", [](double v) { return std::asin(v); }, -1, 1},
      {"Acos", [](double v) { return std::acos(v); }, -1, 1},
      {"Atan", [](double v) { return std::atan(v); }, -5, 5},
      {"Sinh", [](double v) { return std::sinh(v); }, -5, 5},
      {"Cosh", [](double v) { return std::cosh(v); }, -5, 5},
      {"Asinh", [](double v) { return std::asinh(v); }, -5, 5},
      {"Acosh", [](double v) { return std::acosh(v); }, 1, 10},
      {"Atanh", [](double v) { return std::atanh(v); }, -0.99, 0.99},
      {"Abs", [](double v) { return std::fabs(v); }, -5, 5},
      {"Neg", [](double v) { return -v; }, -5, 5},
      {"Sign", [](double v) { return v > 0 ? 1.0 : (v < 0 ? -1.0 : 0.0); }, -5, 5},
  };
  const int n = 101;
  for (const auto& c : cases) {
    std::vector<float> xs(n);
    for (int i = 0; i < n; ++i)
      xs[static_cast<size_t>(i)] = static_cast<float>(c.lo + (c.hi - c.lo) * i / (n - 1));
    Tensor x = Tensor::from_vector<float>({n}, xs);
    Tensor y = run_op(c.op, {x});
    ASSERT_EQ(y.dtype(), DType::f32) << c.op;
    for (int i = 0; i < n; ++i) {
      const double want = c.f(static_cast<double>(xs[static_cast<size_t>(i)]));
      const double got = static_cast<double>(y.data<float>()[i]);
      EXPECT_NEAR(got, want, 1e-6 * std::max(1.0, std::fabs(want)))
          << c.op << "(" << xs[static_cast<size_t>(i)] << ")";
    }
    // float64 too, to tighter tolerance.
    std::vector<double> xd(xs.begin(), xs.end());
    Tensor yd = run_op(c.op, {Tensor::from_vector<double>({n}, xd)});
    ASSERT_EQ(yd.dtype(), DType::f64) << c.op;
    for (int i = 0; i < n; ++i)
      EXPECT_NEAR(yd.data<double>()[i], c.f(xd[static_cast<size_t>(i)]),
                  1e-12 * std::max(1.0, std::fabs(c.f(xd[static_cast<size_t>(i)]))))
          << c.op;
  }
}

TEST(Elementwise, IntegerUnary) {
  Tensor x = Tensor::from_vector<int8_t>({4}, {-128, -3, 0, 5});
  EXPECT_EQ(as_vector<int8_t>(run_op("Abs", {x})), (std::vector<int8_t>{-128, 3, 0, 5}));
  EXPECT_EQ(as_vector<int8_t>(run_op("Neg", {x})), (std::vector<int8_t>{-128, 3, 0, -5}));
  EXPECT_EQ(as_vector<int8_t>(run_op("Sign", {x})), (std::vector<int8_t>{-1, -1, 0, 1}));
  Tensor u = Tensor::from_vector<uint32_t>({2}, {0, 7});
  EXPECT_EQ(as_vector<uint32_t>(run_op("Abs", {u})), (std::vector<uint32_t>{0, 7}));
  EXPECT_EQ(as_vector<uint32_t>(run_op("Sign", {u})), (std::vector<uint32_t>{0, 1}));
  EXPECT_THROW(run_op("Neg", {u}), Error);
  EXPECT_THROW(run_op("Exp", {x}), Error);
}

TEST(Elementwise, IsNaNAndIsInf) {
  const float inf = std::numeric_limits<float>::infinity();
  const float nan = std::numeric_limits<float>::quiet_NaN();
  Tensor x = Tensor::from_vector<float>({4}, {-inf, 1.0f, inf, nan});
  EXPECT_EQ(as_vector<bool>(run_op("IsNaN", {x})), (std::vector<bool>{0, 0, 0, 1}));
  EXPECT_EQ(as_vector<bool>(run_op("IsInf", {x})), (std::vector<bool>{1, 0, 1, 0}));
  EXPECT_EQ(as_vector<bool>(run_op("IsInf", {x}, {{"detect_negative", attr(int64_t{0})}})),
            (std::vector<bool>{0, 0, 1, 0}));
  EXPECT_EQ(as_vector<bool>(run_op("IsInf", {x}, {{"detect_positive", attr(int64_t{0})}})),
            (std::vector<bool>{1, 0, 0, 0}));
}

// ---------------------------------------------------------------------------------------------
// Activations, each against its formula evaluated in double.

double sigmoid_ref(double v) {
  return 1.0 / (1.0 + std::exp(-v));
}
double softplus_ref(double v) {
  return std::log(1.0 + std::exp(v));
}

TEST(Activation, MatchFormulas) {
  struct Case {
    const char* op;
    Attrs attrs;
    std::function<double(double)> f;
  };
  const double selu_a = 1.67326319217681884765625, selu_g = 1.05070102214813232421875;
  const double pi = 3.14159265358979323846;
  const std::vector<Case> cases = {
      {"Relu", {}, [](double v) { return v > 0 ? v : 0; }},
      // Attributes are float32, so the defaults are the float32 values of 0.01 and 0.2.
      {"LeakyRelu", {}, [](double v) { return v > 0 ? v : double{0.01f} * v; }},
      {"LeakyRelu", {{"alpha", attr(0.25f)}}, [](double v) { return v > 0 ? v : 0.25 * v; }},
      {"Sigmoid", {}, sigmoid_ref},
      {"Tanh", {}, [](double v) { return std::tanh(v); }},
      {"HardSigmoid", {}, [](double v) { return std::clamp(double{0.2f} * v + 0.5, 0.0, 1.0); }},
      {"HardSigmoid",
       {{"alpha", attr(0.5f)}, {"beta", attr(0.25f)}},
       [](double v) { return std::clamp(0.5 * v + 0.25, 0.0, 1.0); }},
      {"HardSwish", {}, [](double v) { return v * std::clamp(v / 6 + 0.5, 0.0, 1.0); }},
      {"Gelu", {}, [](double v) { return 0.5 * v * (1 + std::erf(v / std::sqrt(2.0))); }},
      {"Gelu",
       {{"approximate", attr("tanh")}},
       [pi](double v) {
         return 0.5 * v * (1 + std::tanh(std::sqrt(2 / pi) * (v + 0.044715 * v * v * v)));
       }},
      {"Elu", {}, [](double v) { return v > 0 ? v : std::exp(v) - 1; }},
      {"Elu", {{"alpha", attr(2.0f)}}, [](double v) { return v > 0 ? v : 2 * (std::exp(v) - 1); }},
      {"Selu",
       {},
       [=](double v) { return v > 0 ? selu_g * v : selu_g * selu_a * (std::exp(v) - 1); }},
      {"Celu",
       {{"alpha", attr(2.0f)}},
       [](double v) { return std::max(0.0, v) + std::min(0.0, 2 * (std::exp(v / 2) - 1)); }},
      {"Softplus", {}, softplus_ref},
      {"Softsign", {}, [](double v) { return v / (1 + std::fabs(v)); }},
      {"ThresholdedRelu", {}, [](double v) { return v > 1 ? v : 0; }},
      {"ThresholdedRelu", {{"alpha", attr(-0.5f)}}, [](double v) { return v > -0.5 ? v : 0; }},
      {"Mish", {}, [](double v) { return v * std::tanh(softplus_ref(v)); }},
  };
  std::vector<float> xs = values(997, 5);
  xs.insert(xs.end(), {0.0f, -0.0f, 1.0f, -1.0f, 3.0f, -3.0f, 30.0f, -30.0f});
  const auto n = static_cast<int64_t>(xs.size());
  Tensor x = Tensor::from_vector<float>({n}, xs);
  for (const auto& c : cases) {
    Tensor y = run_op(c.op, {x}, c.attrs);
    ASSERT_EQ(y.dtype(), DType::f32) << c.op;
    ASSERT_EQ(y.shape(), x.shape()) << c.op;
    for (size_t i = 0; i < xs.size(); ++i) {
      const double want = c.f(static_cast<double>(xs[i]));
      EXPECT_NEAR(static_cast<double>(y.data<float>()[i]), want,
                  2e-6 * std::max(1.0, std::fabs(want)))
          << c.op << "(" << xs[i] << ")";
    }
    std::vector<double> xd(xs.begin(), xs.end());
    Tensor yd = run_op(c.op, {Tensor::from_vector<double>({n}, xd)}, c.attrs);
    ASSERT_EQ(yd.dtype(), DType::f64) << c.op;
    for (size_t i = 0; i < xd.size(); ++i) {
      const double want = c.f(xd[i]);
      EXPECT_NEAR(yd.data<double>()[i], want, 1e-12 * std::max(1.0, std::fabs(want))) << c.op;
    }
  }
}

TEST(Activation, ExtremeInputsStayFinite) {
  Tensor x = Tensor::from_vector<float>({2}, {-1000.0f, 1000.0f});
  EXPECT_EQ(as_vector<float>(run_op("Sigmoid", {x})), (std::vector<float>{0.0f, 1.0f}));
  EXPECT_EQ(as_vector<float>(run_op("Softplus", {x})), (std::vector<float>{0.0f, 1000.0f}));
  EXPECT_EQ(as_vector<float>(run_op("Mish", {x})), (std::vector<float>{-0.0f, 1000.0f}));
}

TEST(Activation, LargeTensorsUseTheSameFormula) {
  Tensor x = random_tensor({3, 50000}, 21);  // parallel path
  Tensor y = run_op("HardSwish", {x});
  for (int64_t i = 0; i < x.numel(); ++i) {
    const float v = x.data<float>()[i];
    const float want = v * std::min(1.0f, std::max(0.0f, v / 6.0f + 0.5f));
    ASSERT_EQ(y.data<float>()[i], want) << i;
  }
}

TEST(Activation, ReluOnSignedIntegers) {
  Tensor x = Tensor::from_vector<int32_t>({3}, {-5, 0, 7});
  EXPECT_EQ(as_vector<int32_t>(run_op("Relu", {x})), (std::vector<int32_t>{0, 0, 7}));
  EXPECT_THROW(run_op("Relu", {Tensor::from_vector<uint8_t>({1}, {1})}), Error);
  EXPECT_THROW(run_op("Sigmoid", {x}), Error);
}

TEST(Activation, GeluRejectsUnknownApproximation) {
  Tensor x = Tensor::from_vector<float>({1}, {1.0f});
  EXPECT_THROW(run_op("Gelu", {x}, {{"approximate", attr("fast")}}), Error);
}

TEST(Activation, ClipBoundsFromInputsAttributesOrNone) {
  Tensor x = Tensor::from_vector<float>({5}, {-3, -1, 0, 2, 9});
  Tensor lo = Tensor::scalar<float>(-1.5f);
  Tensor hi = Tensor::scalar<float>(4.0f);
  EXPECT_EQ(as_vector<float>(run_op("Clip", std::vector<const Tensor*>{&x, &lo, &hi})),
            (std::vector<float>{-1.5f, -1, 0, 2, 4}));
  // Omitted min (empty input name), max given.
  EXPECT_EQ(as_vector<float>(run_op("Clip", std::vector<const Tensor*>{&x, nullptr, &hi})),
            (std::vector<float>{-3, -1, 0, 2, 4}));
  // Min only.
  EXPECT_EQ(as_vector<float>(run_op("Clip", std::vector<const Tensor*>{&x, &lo})),
            (std::vector<float>{-1.5f, -1, 0, 2, 9}));
  // No bounds at all: identity.
  EXPECT_EQ(as_vector<float>(run_op("Clip", {x})), as_vector<float>(x));
  // The fused form: one input, bounds as float attributes (ReLU6).
  EXPECT_EQ(as_vector<float>(run_op("Clip", {x}, {{"min", attr(0.0f)}, {"max", attr(6.0f)}})),
            (std::vector<float>{0, 0, 0, 2, 6}));
  EXPECT_EQ(as_vector<float>(run_op("Clip", {x}, {{"max", attr(1.0f)}})),
            (std::vector<float>{-3, -1, 0, 1, 1}));
  // min > max: every element becomes max (np.clip).
  Tensor big = Tensor::scalar<float>(5.0f), small = Tensor::scalar<float>(1.0f);
  EXPECT_EQ(as_vector<float>(run_op("Clip", std::vector<const Tensor*>{&x, &big, &small})),
            (std::vector<float>(5, 1.0f)));
  // Integers.
  Tensor xi = Tensor::from_vector<int8_t>({4}, {-128, -5, 5, 127});
  Tensor loi = Tensor::scalar<int8_t>(-6), hii = Tensor::scalar<int8_t>(0);
  EXPECT_EQ(as_vector<int8_t>(run_op("Clip", std::vector<const Tensor*>{&xi, &loi, &hii})),
            (std::vector<int8_t>{-6, -5, 0, 0}));
  EXPECT_EQ(as_vector<int8_t>(run_op("Clip", std::vector<const Tensor*>{&xi, nullptr, &hii})),
            (std::vector<int8_t>{-128, -5, 0, 0}));
  // A bound of another dtype, or not a scalar, is refused.
  Tensor lod = Tensor::scalar<double>(0.0);
  EXPECT_THROW(run_op("Clip", std::vector<const Tensor*>{&x, &lod}), Error);
  Tensor lov = Tensor::from_vector<float>({2}, {0, 1});
  EXPECT_THROW(run_op("Clip", std::vector<const Tensor*>{&x, &lov}), Error);
}

TEST(Activation, PReluBroadcastsSlopeToX) {
  Tensor x = Tensor::from_vector<float>({2, 3, 1, 2}, {-1, 1, -2, 2, -3, 3, -4, 4, -5, 5, -6, 6});
  Tensor slope = Tensor::from_vector<float>({3, 1, 1}, {0.5f, 0.25f, 2.0f});
  Tensor y = run_op("PRelu", {x, slope});
  EXPECT_EQ(y.shape(), x.shape());
  EXPECT_EQ(as_vector<float>(y),
            (std::vector<float>{-0.5f, 1, -0.5f, 2, -6, 3, -2, 4, -1.25f, 5, -12, 6}));
  Tensor s1 = Tensor::from_vector<float>({1}, {0.1f});
  EXPECT_EQ(as_vector<float>(run_op("PRelu", {x, s1}))[0], -0.1f);
  // Slope must broadcast to X without growing it.
  Tensor bad = Tensor::from_vector<float>({4, 1, 1, 1}, {1, 2, 3, 4});
  EXPECT_THROW(run_op("PRelu", {x, bad}), Error);
  EXPECT_THROW(infer_op("PRelu", {vi(DType::f32, {2, 3}), vi(DType::f32, {2, 2, 3})}), Error);
  EXPECT_EQ(infer_op("PRelu", {vi(DType::f32, {2, 3, 4}), vi(DType::f32, {3, 1})}).shape,
            (Shape{2, 3, 4}));
}

}  // namespace
}  // namespace acim
