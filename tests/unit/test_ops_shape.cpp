// Shape and data-movement ops (src/ops/shape_ops.cpp, transpose.cpp, slice.cpp, gather.cpp)
// against hand-computed values and explicit index-loop references. All comparisons are exact
// (these ops move bytes) except Range on floats.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "acim/executor.hpp"
#include "acim/shape_inference.hpp"
#include "ops/op.hpp"

namespace acim {
namespace {

using Attrs = std::map<std::string, Attribute>;

Attribute attr(int64_t v) {
  return Attribute{Attribute::Value{v}};
}
Attribute attr(float v) {
  return Attribute{Attribute::Value{v}};
}
Attribute attr(const char* v) {
  return Attribute{Attribute::Value{std::string(v)}};
}
Attribute attr(std::vector<int64_t> v) {
  return Attribute{Attribute::Value{std::move(v)}};
}
Attribute attr(const Tensor& t) {
  return Attribute{Attribute::Value{t}};
}

Node make_node(const std::string& op, const std::vector<bool>& present, size_t n_out, Attrs attrs) {
  Node n;
  n.name = "n0";
  n.op_type = op;
  for (size_t i = 0; i < present.size(); ++i)
    n.inputs.push_back(present[i] ? "in" + std::to_string(i) : "");
  for (size_t i = 0; i < n_out; ++i) n.outputs.push_back("out" + std::to_string(i));
  n.attrs = std::move(attrs);
  return n;
}

// Runs one op through the registry; a null pointer is an omitted input.
std::vector<Tensor> run_multi(const std::string& op, const std::vector<const Tensor*>& inputs,
                              Attrs attrs = {}, size_t n_out = 1) {
  const ops::OpDef* def = ops::find_op(op);
  EXPECT_NE(def, nullptr) << op;
  std::vector<bool> present;
  for (const Tensor* t : inputs) present.push_back(t != nullptr);
  Node node = make_node(op, present, n_out, std::move(attrs));
  ops::RunContext ctx{node, "test: node 'n0' (" + op + ")", inputs, std::vector<Tensor>(n_out)};
  def->run(ctx);
  return ctx.outputs;
}

Tensor run_op(const std::string& op, const std::vector<const Tensor*>& inputs, Attrs attrs = {}) {
  return run_multi(op, inputs, std::move(attrs), 1)[0];
}

// Shape inference of one op. Each input: its info and (optionally) a constant value.
struct In {
  ValueInfo info;
  const Tensor* constant = nullptr;
  bool present = true;
};

In known(DType dt, Shape s, const Tensor* c = nullptr) {
  return {{"", dt, std::move(s), true}, c};
}
In of(const Tensor& t) {
  return {{"", t.dtype(), t.shape(), true}, &t};
}  // a constant
In runtime(const Tensor& t) {
  return {{"", t.dtype(), t.shape(), true}, nullptr};
}
In unranked(DType dt) {
  return {{"", dt, {}, false}, nullptr};
}
In absent() {
  return {{}, nullptr, false};
}

std::vector<ValueInfo> infer_multi(const std::string& op, const std::vector<In>& inputs,
                                   Attrs attrs = {}, size_t n_out = 1) {
  const ops::OpDef* def = ops::find_op(op);
  EXPECT_NE(def, nullptr) << op;
  std::vector<bool> present;
  for (const In& i : inputs) present.push_back(i.present);
  Node node = make_node(op, present, n_out, std::move(attrs));
  ops::InferContext ctx{node, "test: node 'n0' (" + op + ")", {}, {}};
  for (const In& i : inputs)
    ctx.inputs.push_back(ops::InferInput{i.present ? &i.info : nullptr, i.constant});
  for (size_t o = 0; o < n_out; ++o)
    ctx.outputs.push_back(ValueInfo{node.outputs[o], DType::f32, {}, false});
  def->infer(ctx);
  return ctx.outputs;
}

ValueInfo infer_op(const std::string& op, const std::vector<In>& inputs, Attrs attrs = {}) {
  return infer_multi(op, inputs, std::move(attrs), 1)[0];
}

Tensor i64(Shape s, std::vector<int64_t> v) {
  return Tensor::from_vector<int64_t>(std::move(s), v);
}
Tensor i64v(std::vector<int64_t> v) {
  Shape s{static_cast<int64_t>(v.size())};
  return Tensor::from_vector<int64_t>(s, v);
}
Tensor f32(Shape s, std::vector<float> v) {
  return Tensor::from_vector<float>(std::move(s), v);
}
// 0, 1, 2, ... as float32 of shape s.
Tensor iota_f32(Shape s) {
  Tensor t(DType::f32, std::move(s));
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = static_cast<float>(i);
  return t;
}
std::vector<float> values(const Tensor& t) {
  auto s = t.span<float>();
  return {s.begin(), s.end()};
}

// Expects `f` to throw acim::Error of `kind` whose message contains `needle`.
template <class F>
void expect_error(F&& f, ErrorKind kind, const std::string& needle) {
  try {
    f();
    ADD_FAILURE() << "expected an acim::Error containing '" << needle << "'";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), kind) << e.what();
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

// ---- Reshape, Flatten, Squeeze, Unsqueeze ------------------------------------------------------

TEST(OpsShape, ReshapeKeepsOrderAndHandlesZeroAndMinusOne) {
  Tensor x = iota_f32({2, 3, 4});
  Tensor s = i64v({0, -1, 2});
  Tensor y = run_op("Reshape", {&x, &s});
  EXPECT_EQ(y.shape(), (Shape{2, 6, 2}));
  EXPECT_EQ(values(y), values(x));
  EXPECT_EQ(infer_op("Reshape", {known(DType::f32, {2, 3, 4}), of(s)}).shape, (Shape{2, 6, 2}));
}

TEST(OpsShape, ReshapeAllowZeroMakesEmptyDim) {
  Tensor x(DType::f32, {0, 3});
  Tensor s = i64v({3, 0});
  Tensor y = run_op("Reshape", {&x, &s}, {{"allowzero", attr(int64_t{1})}});
  EXPECT_EQ(y.shape(), (Shape{3, 0}));
  // Without allowzero the 0 copies the input's dim 1 (3): [3, 3] has 9 elements, not 0.
  expect_error([&] { run_op("Reshape", {&x, &s}); }, ErrorKind::shape, "cannot reshape [0,3]");
  Tensor bad = i64v({0, -1});
  expect_error(
      [&] {
        run_op("Reshape", {&x, &bad}, {{"allowzero", attr(int64_t{1})}});
      },
      ErrorKind::invalid, "both 0 and -1");
}

TEST(OpsShape, ReshapeErrorsNameTheShapes) {
  Tensor x = iota_f32({2, 3});
  Tensor s = i64v({4, 2});
  expect_error(
      [&] {
        run_op("Reshape", {&x, &s});
      },
      ErrorKind::shape, "cannot reshape [2,3] (6 elements) to [4,2] (8 elements)");
  expect_error(
      [&] {
        infer_op("Reshape", {runtime(x), of(s)});
      },
      ErrorKind::shape, "cannot reshape [2,3] (6 elements) to [4,2] (8 elements)");
  Tensor two = i64v({-1, -1});
  expect_error([&] { run_op("Reshape", {&x, &two}); }, ErrorKind::invalid, "more than one -1");
  Tensor odd = i64v({4, -1});
  expect_error([&] { run_op("Reshape", {&x, &odd}); }, ErrorKind::shape, "cannot reshape [2,3]");
  Tensor fs = f32({2}, {3, 2});
  expect_error([&] { run_op("Reshape", {&x, &fs}); }, ErrorKind::shape, "integer");
}

TEST(OpsShape, ReshapeInferPropagatesUnknownDims) {
  Tensor s = i64v({0, -1});
  EXPECT_EQ(infer_op("Reshape", {known(DType::f32, {kUnknownDim, 3, 4}), of(s)}).shape,
            (Shape{kUnknownDim, kUnknownDim}));
  Tensor s2 = i64v({0, 12});
  EXPECT_EQ(infer_op("Reshape", {known(DType::f32, {kUnknownDim, 3, 4}), of(s2)}).shape,
            (Shape{kUnknownDim, 12}));
  // Shape input not constant: only the rank is known.
  ValueInfo vi = infer_op("Reshape", {known(DType::f32, {2, 3}), known(DType::i64, {3})});
  EXPECT_TRUE(vi.shape_known);
  EXPECT_EQ(vi.shape, (Shape{kUnknownDim, kUnknownDim, kUnknownDim}));
}

TEST(OpsShape, FlattenAxes) {
  Tensor x = iota_f32({2, 3, 4});
  EXPECT_EQ(run_op("Flatten", {&x}).shape(), (Shape{2, 12}));
  EXPECT_EQ(run_op("Flatten", {&x}, {{"axis", attr(int64_t{0})}}).shape(), (Shape{1, 24}));
  EXPECT_EQ(run_op("Flatten", {&x}, {{"axis", attr(int64_t{-1})}}).shape(), (Shape{6, 4}));
  EXPECT_EQ(run_op("Flatten", {&x}, {{"axis", attr(int64_t{3})}}).shape(), (Shape{24, 1}));
  EXPECT_EQ(values(run_op("Flatten", {&x})), values(x));
  EXPECT_EQ(infer_op("Flatten", {known(DType::f32, {kUnknownDim, 3, 4})}).shape,
            (Shape{kUnknownDim, 12}));
  expect_error(
      [&] {
        run_op("Flatten", {&x}, {{"axis", attr(int64_t{4})}});
      },
      ErrorKind::invalid, "axis 4 is out of range");
}

TEST(OpsShape, SqueezeAttributeInputAndAll) {
  Tensor x = iota_f32({1, 3, 1, 2});
  EXPECT_EQ(run_op("Squeeze", {&x}).shape(), (Shape{3, 2}));
  EXPECT_EQ(run_op("Squeeze", {&x}, {{"axes", attr(std::vector<int64_t>{-2})}}).shape(),
            (Shape{1, 3, 2}));
  Tensor axes = i64v({0});
  EXPECT_EQ(run_op("Squeeze", {&x, &axes}).shape(), (Shape{3, 1, 2}));
  EXPECT_EQ(infer_op("Squeeze", {runtime(x), of(axes)}).shape, (Shape{3, 1, 2}));
  EXPECT_FALSE(infer_op("Squeeze", {runtime(x), known(DType::i64, {1})}).shape_known);
  Tensor bad = i64v({1});
  expect_error(
      [&] {
        run_op("Squeeze", {&x, &bad});
      },
      ErrorKind::shape, "cannot squeeze axis 1 of [1,3,1,2]");
}

TEST(OpsShape, UnsqueezeAttributeAndInput) {
  Tensor x = f32({3}, {1, 2, 3});
  Tensor y = run_op("Unsqueeze", {&x}, {{"axes", attr(std::vector<int64_t>{0, -1})}});
  EXPECT_EQ(y.shape(), (Shape{1, 3, 1}));
  EXPECT_EQ(values(y), (std::vector<float>{1, 2, 3}));
  Tensor axes = i64v({1});
  EXPECT_EQ(run_op("Unsqueeze", {&x, &axes}).shape(), (Shape{3, 1}));
  EXPECT_EQ(infer_op("Unsqueeze", {known(DType::f32, {kUnknownDim, 4}), of(axes)}).shape,
            (Shape{kUnknownDim, 1, 4}));
  Tensor s = Tensor::scalar<int64_t>(5);
  Tensor axes0 = i64v({0});
  EXPECT_EQ(run_op("Unsqueeze", {&s, &axes0}).shape(), (Shape{1}));
  Tensor dup = i64v({0, 0});
  expect_error([&] { run_op("Unsqueeze", {&x, &dup}); }, ErrorKind::invalid, "listed twice");
}

// ---- Identity, Dropout, Shape, Size, ConstantOfShape
// ---------------------------------------------

TEST(OpsShape, IdentityAndDropoutPassThrough) {
  Tensor x = f32({2}, {1.5f, -2});
  EXPECT_EQ(values(run_op("Identity", {&x})), values(x));
  auto outs = run_multi("Dropout", {&x}, {}, 2);
  EXPECT_EQ(values(outs[0]), values(x));
  EXPECT_EQ(outs[1].dtype(), DType::boolean);
  EXPECT_EQ(outs[1].to_int64s(), (std::vector<int64_t>{1, 1}));
  Tensor ratio = Tensor::scalar<float>(0.3f);
  Tensor off = Tensor::scalar<bool>(false);
  EXPECT_EQ(values(run_op("Dropout", {&x, &ratio, &off})), values(x));
  Tensor on = Tensor::scalar<bool>(true);
  expect_error(
      [&] {
        run_op("Dropout", {&x, &ratio, &on});
      },
      ErrorKind::unsupported, "training_mode");
  Tensor zero = Tensor::scalar<float>(0.0f);
  EXPECT_EQ(values(run_op("Dropout", {&x, &zero, &on})), values(x));
  auto infos = infer_multi("Dropout", {runtime(x)}, {}, 2);
  EXPECT_EQ(infos[1].dtype, DType::boolean);
  EXPECT_EQ(infos[1].shape, (Shape{2}));
}

TEST(OpsShape, ShapeWithStartEndAndSize) {
  Tensor x(DType::f32, {2, 3, 4, 5});
  EXPECT_EQ(run_op("Shape", {&x}).to_int64s(), (std::vector<int64_t>{2, 3, 4, 5}));
  Tensor y = run_op("Shape", {&x}, {{"start", attr(int64_t{1})}, {"end", attr(int64_t{-1})}});
  EXPECT_EQ(y.to_int64s(), (std::vector<int64_t>{3, 4}));
  EXPECT_EQ(
      run_op("Shape", {&x}, {{"start", attr(int64_t{-10})}, {"end", attr(int64_t{1})}}).to_int64s(),
      (std::vector<int64_t>{2}));
  EXPECT_EQ(run_op("Shape", {&x}, {{"start", attr(int64_t{3})}, {"end", attr(int64_t{1})}}).numel(),
            0);
  EXPECT_EQ(infer_op("Shape", {runtime(x)}, {{"start", attr(int64_t{-2})}}).shape, (Shape{2}));
  Tensor sz = run_op("Size", {&x});
  EXPECT_EQ(sz.dtype(), DType::i64);
  EXPECT_EQ(sz.rank(), 0);
  EXPECT_EQ(sz.to_int64s()[0], 120);
}

TEST(OpsShape, ConstantOfShapeFillsValue) {
  Tensor s = i64v({2, 3});
  Tensor y = run_op("ConstantOfShape", {&s});
  EXPECT_EQ(y.dtype(), DType::f32);
  EXPECT_EQ(values(y), std::vector<float>(6, 0.0f));
  Tensor v = i64({1}, {7});
  Tensor z = run_op("ConstantOfShape", {&s}, {{"value", attr(v)}});
  EXPECT_EQ(z.dtype(), DType::i64);
  EXPECT_EQ(z.to_int64s(), std::vector<int64_t>(6, 7));
  Tensor empty = i64({0}, {});
  EXPECT_EQ(run_op("ConstantOfShape", {&empty}).rank(), 0);
  EXPECT_EQ(infer_op("ConstantOfShape", {of(s)}, {{"value", attr(v)}}).shape, (Shape{2, 3}));
  Tensor neg = i64v({2, -1});
  expect_error([&] { run_op("ConstantOfShape", {&neg}); }, ErrorKind::invalid, "negative");
}

// ---- Cast
// ----------------------------------------------------------------------------------------

TEST(OpsShape, CastBetweenFloatIntBool) {
  Tensor x = f32({5}, {1.7f, -2.7f, 0.0f, 3e9f, std::nanf("")});
  Tensor i = run_op("Cast", {&x}, {{"to", attr(int64_t{6})}});  // INT32
  ASSERT_EQ(i.dtype(), DType::i32);
  EXPECT_EQ(i.to_int64s(),
            (std::vector<int64_t>{1, -2, 0, std::numeric_limits<int32_t>::max(), 0}));
  Tensor b = run_op("Cast", {&x}, {{"to", attr(int64_t{9})}});  // BOOL
  EXPECT_EQ(b.to_int64s(), (std::vector<int64_t>{1, 1, 0, 1, 1}));
  Tensor bb = Tensor::from_vector<bool>({2}, {true, false});
  EXPECT_EQ(values(run_op("Cast", {&bb}, {{"to", attr(int64_t{1})}})), (std::vector<float>{1, 0}));
  Tensor big = i64v({int64_t{1} << 40, -3});
  Tensor d = run_op("Cast", {&big}, {{"to", attr(int64_t{11})}});  // DOUBLE
  EXPECT_EQ(d.to_doubles(), (std::vector<double>{1099511627776.0, -3.0}));
  expect_error(
      [&] {
        run_op("Cast", {&x}, {{"to", attr(int64_t{8})}});
      },
      ErrorKind::unsupported, "data type string");
  EXPECT_EQ(infer_op("Cast", {runtime(x)}, {{"to", attr(int64_t{7})}}).dtype, DType::i64);
}

TEST(OpsShape, CastFloat16RoundTrip) {
  // 1, -2, 65504 (max half), 1e5 (overflows to inf), 2^-24 (smallest subnormal), 1 + 2^-11
  // (a tie: rounds to even, i.e. 1), 1 + 3 * 2^-11 (a tie: rounds up to 1 + 2^-9).
  Tensor x = f32({7}, {1.0f, -2.0f, 65504.0f, 1e5f, std::ldexp(1.0f, -24),
                       1.0f + std::ldexp(1.0f, -11), 1.0f + 3 * std::ldexp(1.0f, -11)});
  Tensor h = run_op("Cast", {&x}, {{"to", attr(int64_t{10})}});
  ASSERT_EQ(h.dtype(), DType::f16);
  std::vector<uint16_t> bits(7);
  std::memcpy(bits.data(), h.raw(), 14);
  EXPECT_EQ(bits, (std::vector<uint16_t>{0x3C00, 0xC000, 0x7BFF, 0x7C00, 0x0001, 0x3C00, 0x3C02}));
  Tensor back = run_op("Cast", {&h}, {{"to", attr(int64_t{1})}});
  std::vector<float> want = {1.0f,
                             -2.0f,
                             65504.0f,
                             std::numeric_limits<float>::infinity(),
                             std::ldexp(1.0f, -24),
                             1.0f,
                             1.0f + std::ldexp(1.0f, -9)};
  EXPECT_EQ(values(back), want);
}

TEST(OpsShape, CastLikeTakesTheDtypeOfInputOne) {
  Tensor x = f32({2}, {2.9f, -0.5f});
  Tensor like = i64v({0});
  Tensor y = run_op("CastLike", {&x, &like});
  EXPECT_EQ(y.dtype(), DType::i64);
  EXPECT_EQ(y.to_int64s(), (std::vector<int64_t>{2, 0}));
}

// ---- Transpose, DepthToSpace, SpaceToDepth
// -------------------------------------------------------

// out[j...] = in[perm-indexed...] by explicit index arithmetic.
Tensor transpose_reference(const Tensor& x, const std::vector<int64_t>& perm) {
  const Shape& s = x.shape();
  size_t r = s.size();
  Shape os(r);
  for (size_t j = 0; j < r; ++j) os[j] = s[static_cast<size_t>(perm[j])];
  Tensor out(DType::f32, os);
  std::vector<int64_t> in_stride(r, 1);
  for (size_t k = r; k-- > 1;) in_stride[k - 1] = in_stride[k] * s[k];
  std::vector<int64_t> idx(r, 0);
  for (int64_t e = 0; e < out.numel(); ++e) {
    int64_t rem = e;
    for (size_t j = r; j-- > 0;) {
      idx[j] = rem % os[j];
      rem /= os[j];
    }
    int64_t src = 0;
    for (size_t j = 0; j < r; ++j) src += idx[j] * in_stride[static_cast<size_t>(perm[j])];
    out.data<float>()[e] = x.data<float>()[src];
  }
  return out;
}

TEST(OpsShape, TransposeMatchesIndexReference) {
  struct Case {
    Shape shape;
    std::vector<int64_t> perm;
  };
  std::vector<Case> cases = {
      {{3, 5}, {1, 0}},
      {{70, 45}, {1, 0}},             // several 32x32 blocks, ragged edges
      {{2, 7, 9, 11}, {0, 2, 3, 1}},  // NCHW -> NHWC
      {{2, 9, 11, 7}, {0, 3, 1, 2}},  // NHWC -> NCHW
      {{4, 5, 6}, {2, 0, 1}},
      {{2, 3, 4, 5}, {1, 0, 2, 3}},  // inner rows stay contiguous
      {{2, 3, 4, 5}, {3, 1, 2, 0}},  // general
      {{1, 6, 1, 4}, {3, 2, 1, 0}},  // size-1 axes dropped
      {{3, 1, 4}, {0, 2, 1}},        // only a size-1 axis moves: a plain copy
      {{64, 3, 128}, {2, 1, 0}},     // large enough to run in parallel
  };
  for (const auto& c : cases) {
    Tensor x = iota_f32(c.shape);
    Tensor y = run_op("Transpose", {&x}, {{"perm", attr(c.perm)}});
    Tensor want = transpose_reference(x, c.perm);
    EXPECT_EQ(y.shape(), want.shape()) << shape_str(c.shape);
    EXPECT_EQ(values(y), values(want)) << shape_str(c.shape) << " perm " << shape_str(c.perm);
  }
  Tensor x = iota_f32({2, 3, 4});
  EXPECT_EQ(values(run_op("Transpose", {&x})), values(transpose_reference(x, {2, 1, 0})));
}

TEST(OpsShape, TransposeOtherDtypesAndEmpty) {
  Tensor x = Tensor::from_vector<int64_t>({2, 3}, {1, 2, 3, 4, 5, 6});
  EXPECT_EQ(run_op("Transpose", {&x}).to_int64s(), (std::vector<int64_t>{1, 4, 2, 5, 3, 6}));
  Tensor b = Tensor::from_vector<bool>({2, 2}, {true, false, false, false});
  EXPECT_EQ(run_op("Transpose", {&b}).to_int64s(), (std::vector<int64_t>{1, 0, 0, 0}));
  Tensor e(DType::f32, {0, 3});
  EXPECT_EQ(run_op("Transpose", {&e}).shape(), (Shape{3, 0}));
  EXPECT_EQ(infer_op("Transpose", {known(DType::f32, {kUnknownDim, 3, 4})},
                     {{"perm", attr(std::vector<int64_t>{2, 0, 1})}})
                .shape,
            (Shape{4, kUnknownDim, 3}));
  expect_error(
      [&] {
        run_op("Transpose", {&x}, {{"perm", attr(std::vector<int64_t>{0, 0})}});
      },
      ErrorKind::invalid, "not a permutation");
}

TEST(OpsShape, DepthToSpaceAndSpaceToDepthMatchSpecFormulas) {
  const int64_t n = 2, c = 8, h = 3, w = 2, b = 2, co = c / (b * b);
  Tensor x = iota_f32({n, c, h, w});
  Tensor dcr = run_op("DepthToSpace", {&x}, {{"blocksize", attr(b)}});
  Tensor crd = run_op("DepthToSpace", {&x}, {{"blocksize", attr(b)}, {"mode", attr("CRD")}});
  ASSERT_EQ(dcr.shape(), (Shape{n, co, h * b, w * b}));
  auto at = [&](int64_t in, int64_t ic, int64_t ih, int64_t iw) {
    return x.data<float>()[((in * c + ic) * h + ih) * w + iw];
  };
  for (int64_t in = 0; in < n; ++in)
    for (int64_t oc = 0; oc < co; ++oc)
      for (int64_t oh = 0; oh < h * b; ++oh)
        for (int64_t ow = 0; ow < w * b; ++ow) {
          int64_t i = oh % b, j = ow % b;
          int64_t e = ((in * co + oc) * h * b + oh) * w * b + ow;
          EXPECT_EQ(dcr.data<float>()[e], at(in, (i * b + j) * co + oc, oh / b, ow / b));
          EXPECT_EQ(crd.data<float>()[e], at(in, oc * b * b + i * b + j, oh / b, ow / b));
        }
  Tensor back = run_op("SpaceToDepth", {&dcr}, {{"blocksize", attr(b)}});
  EXPECT_EQ(back.shape(), x.shape());
  EXPECT_EQ(values(back), values(x));  // SpaceToDepth inverts DCR DepthToSpace
  Tensor odd = iota_f32({1, 1, 3, 4});
  expect_error(
      [&] {
        run_op("SpaceToDepth", {&odd}, {{"blocksize", attr(b)}});
      },
      ErrorKind::shape, "not divisible");
}

// ---- Concat, Split
// -------------------------------------------------------------------------------

TEST(OpsShape, ConcatNegativeAxisAndEmptyInput) {
  Tensor a = f32({2, 2}, {1, 2, 3, 4});
  Tensor b = f32({2, 1}, {5, 6});
  Tensor e(DType::f32, {2, 0});
  Tensor y = run_op("Concat", {&a, &e, &b}, {{"axis", attr(int64_t{-1})}});
  EXPECT_EQ(y.shape(), (Shape{2, 3}));
  EXPECT_EQ(values(y), (std::vector<float>{1, 2, 5, 3, 4, 6}));
  Tensor y0 = run_op("Concat", {&a, &a}, {{"axis", attr(int64_t{0})}});
  EXPECT_EQ(values(y0), (std::vector<float>{1, 2, 3, 4, 1, 2, 3, 4}));
  EXPECT_EQ(infer_op("Concat", {known(DType::f32, {kUnknownDim, 2}), runtime(b)},
                     {{"axis", attr(int64_t{1})}})
                .shape,
            (Shape{2, 3}));
  EXPECT_EQ(infer_op("Concat", {runtime(a), known(DType::f32, {kUnknownDim, 2})},
                     {{"axis", attr(int64_t{0})}})
                .shape,
            (Shape{kUnknownDim, 2}));
  expect_error(
      [&] {
        run_op("Concat", {&a, &b}, {{"axis", attr(int64_t{0})}});
      },
      ErrorKind::shape, "cannot be concatenated");
}

TEST(OpsShape, SplitBySizesEqualAndNumOutputs) {
  Tensor x = f32({5}, {1, 2, 3, 4, 5});
  auto ys = run_multi("Split", {&x}, {{"split", attr(std::vector<int64_t>{2, 3})}}, 2);
  EXPECT_EQ(values(ys[0]), (std::vector<float>{1, 2}));
  EXPECT_EQ(values(ys[1]), (std::vector<float>{3, 4, 5}));
  Tensor sizes = i64v({4, 0, 1});
  ys = run_multi("Split", {&x, &sizes}, {}, 3);
  EXPECT_EQ(values(ys[0]), (std::vector<float>{1, 2, 3, 4}));
  EXPECT_EQ(ys[1].numel(), 0);
  EXPECT_EQ(values(ys[2]), (std::vector<float>{5}));
  ys = run_multi("Split", {&x}, {{"num_outputs", attr(int64_t{3})}}, 3);
  EXPECT_EQ(values(ys[0]), (std::vector<float>{1, 2}));
  EXPECT_EQ(values(ys[1]), (std::vector<float>{3, 4}));
  EXPECT_EQ(values(ys[2]), (std::vector<float>{5}));
  Tensor m = iota_f32({2, 4});
  ys = run_multi("Split", {&m}, {{"axis", attr(int64_t{-1})}}, 2);
  EXPECT_EQ(values(ys[0]), (std::vector<float>{0, 1, 4, 5}));
  EXPECT_EQ(values(ys[1]), (std::vector<float>{2, 3, 6, 7}));
  auto infos = infer_multi("Split", {runtime(m)}, {{"axis", attr(int64_t{1})}}, 2);
  EXPECT_EQ(infos[1].shape, (Shape{2, 2}));
  expect_error([&] { run_multi("Split", {&x}, {}, 2); }, ErrorKind::shape, "2 equal parts");
  Tensor bad = i64v({2, 2});
  expect_error([&] { run_multi("Split", {&x, &bad}, {}, 2); }, ErrorKind::shape, "sums to 4");
}

// ---- Slice
// ---------------------------------------------------------------------------------------

TEST(OpsShape, SliceStartsEndsStepsAndClamping) {
  Tensor x = iota_f32({10});
  auto slice = [&](std::vector<int64_t> s, std::vector<int64_t> e, std::vector<int64_t> st) {
    Tensor ts = i64v(s), te = i64v(e), ta = i64v({0}), tst = i64v(st);
    return values(run_op("Slice", {&x, &ts, &te, &ta, &tst}));
  };
  const int64_t kMax = std::numeric_limits<int64_t>::max();
  const int64_t kMin = std::numeric_limits<int64_t>::min();
  EXPECT_EQ(slice({2}, {5}, {1}), (std::vector<float>{2, 3, 4}));
  EXPECT_EQ(slice({-3}, {kMax}, {1}), (std::vector<float>{7, 8, 9}));
  EXPECT_EQ(slice({1}, {9}, {3}), (std::vector<float>{1, 4, 7}));
  EXPECT_EQ(slice({-1}, {kMin}, {-1}), (std::vector<float>{9, 8, 7, 6, 5, 4, 3, 2, 1, 0}));
  EXPECT_EQ(slice({kMax}, {2}, {-3}), (std::vector<float>{9, 6, 3}));
  EXPECT_EQ(slice({20}, {-20}, {-4}), (std::vector<float>{9, 5, 1}));
  EXPECT_EQ(slice({5}, {2}, {1}), (std::vector<float>{}));
  EXPECT_EQ(slice({-100}, {100}, {4}), (std::vector<float>{0, 4, 8}));
}

TEST(OpsShape, SliceMultiAxisNegativeAxesAndInfer) {
  Tensor x = iota_f32({3, 4});
  Tensor s = i64v({0, 1}), e = i64v({-1, 3}), a = i64v({-1, 0});
  // axes [-1, 0]: axis 1 from 0 to -1 (exclusive: 0..2), axis 0 from 1 to 3.
  Tensor y = run_op("Slice", {&x, &s, &e, &a});
  EXPECT_EQ(y.shape(), (Shape{2, 3}));
  EXPECT_EQ(values(y), (std::vector<float>{4, 5, 6, 8, 9, 10}));
  EXPECT_EQ(infer_op("Slice", {known(DType::f32, {kUnknownDim, 4}), of(s), of(e), of(a)}).shape,
            (Shape{kUnknownDim, 3}));
  EXPECT_EQ(infer_op("Slice", {runtime(x), runtime(s), of(e), of(a)}).shape,
            (Shape{kUnknownDim, kUnknownDim}));
  // Opset 1: attributes.
  Tensor z =
      run_op("Slice", {&x},
             {{"starts", attr(std::vector<int64_t>{1})}, {"ends", attr(std::vector<int64_t>{2})}});
  EXPECT_EQ(values(z), (std::vector<float>{4, 5, 6, 7}));
  Tensor zero_step = i64v({0});
  Tensor a0 = i64v({0});
  expect_error(
      [&] {
        run_op("Slice", {&x, &a0, &a0, &a0, &zero_step});
      },
      ErrorKind::invalid, "is 0");
}

// ---- Pad
// -----------------------------------------------------------------------------------------

TEST(OpsShape, PadModes1D) {
  Tensor x = f32({4}, {1, 2, 3, 4});
  Tensor pads = i64v({2, 3});
  auto pad = [&](const char* mode) {
    return values(run_op("Pad", {&x, &pads}, {{"mode", attr(mode)}}));
  };
  EXPECT_EQ(pad("constant"), (std::vector<float>{0, 0, 1, 2, 3, 4, 0, 0, 0}));
  EXPECT_EQ(pad("reflect"), (std::vector<float>{3, 2, 1, 2, 3, 4, 3, 2, 1}));
  EXPECT_EQ(pad("edge"), (std::vector<float>{1, 1, 1, 2, 3, 4, 4, 4, 4}));
  EXPECT_EQ(pad("wrap"), (std::vector<float>{3, 4, 1, 2, 3, 4, 1, 2, 3}));
  Tensor cv = Tensor::scalar<float>(-1.5f);
  EXPECT_EQ(values(run_op("Pad", {&x, &pads, &cv})),
            (std::vector<float>{-1.5f, -1.5f, 1, 2, 3, 4, -1.5f, -1.5f, -1.5f}));
  Tensor crop = i64v({-1, 1});
  EXPECT_EQ(values(run_op("Pad", {&x, &crop})), (std::vector<float>{2, 3, 4, 0}));
  expect_error(
      [&] {
        run_op("Pad", {&x, &pads}, {{"mode", attr("mirror")}});
      },
      ErrorKind::unsupported, "mirror");
}

TEST(OpsShape, PadReflect2DAndAxes) {
  Tensor x = f32({3, 2}, {1, 2, 3, 4, 5, 6});
  Tensor pads = i64v({0, 2, 0, 0});  // two columns before, on axis 1
  Tensor y = run_op("Pad", {&x, &pads}, {{"mode", attr("reflect")}});
  EXPECT_EQ(y.shape(), (Shape{3, 4}));
  // Reflecting [a, b] two to the left: [a, b, a, b].
  EXPECT_EQ(values(y), (std::vector<float>{1, 2, 1, 2, 3, 4, 3, 4, 5, 6, 5, 6}));
  Tensor rows = i64v({1, 1});
  Tensor axes = i64v({-2});
  Tensor z = run_op("Pad", {&x, &rows, nullptr, &axes}, {{"mode", attr("reflect")}});
  EXPECT_EQ(values(z), (std::vector<float>{3, 4, 1, 2, 3, 4, 5, 6, 3, 4}));
  Tensor cv = Tensor::scalar<int64_t>(9);
  Tensor xi = i64({1, 2}, {1, 2});
  Tensor p1 = i64v({1, 0, 0, 1});
  EXPECT_EQ(run_op("Pad", {&xi, &p1, &cv}).to_int64s(), (std::vector<int64_t>{9, 9, 9, 1, 2, 9}));
  EXPECT_EQ(infer_op("Pad", {known(DType::f32, {kUnknownDim, 2}), of(pads)}).shape,
            (Shape{kUnknownDim, 4}));
  Tensor e(DType::f32, {0});
  Tensor p2 = i64v({1, 1});
  expect_error(
      [&] {
        run_op("Pad", {&e, &p2}, {{"mode", attr("edge")}});
      },
      ErrorKind::shape, "empty axis");
  EXPECT_EQ(values(run_op("Pad", {&e, &p2})), (std::vector<float>{0, 0}));
}

// ---- Gather, GatherElements ------------------------------------------------------------------

TEST(OpsShape, GatherAxesAndNegativeIndices) {
  Tensor x = iota_f32({3, 4});
  Tensor idx = i64({2, 2}, {0, -1, 2, 1});
  Tensor y = run_op("Gather", {&x, &idx});
  EXPECT_EQ(y.shape(), (Shape{2, 2, 4}));
  EXPECT_EQ(values(y), (std::vector<float>{0, 1, 2, 3, 8, 9, 10, 11, 8, 9, 10, 11, 4, 5, 6, 7}));
  Tensor idx1 = Tensor::from_vector<int32_t>({2}, {-4, 3});
  Tensor z = run_op("Gather", {&x, &idx1}, {{"axis", attr(int64_t{-1})}});
  EXPECT_EQ(z.shape(), (Shape{3, 2}));
  EXPECT_EQ(values(z), (std::vector<float>{0, 3, 4, 7, 8, 11}));
  Tensor scalar = Tensor::scalar<int64_t>(1);
  Tensor s = run_op("Gather", {&x, &scalar});
  EXPECT_EQ(s.shape(), (Shape{4}));
  EXPECT_EQ(values(s), (std::vector<float>{4, 5, 6, 7}));
  Tensor none = i64({0}, {});
  EXPECT_EQ(run_op("Gather", {&x, &none}).shape(), (Shape{0, 4}));
  EXPECT_EQ(infer_op("Gather", {known(DType::f32, {kUnknownDim, 4}), runtime(idx)},
                     {{"axis", attr(int64_t{1})}})
                .shape,
            (Shape{kUnknownDim, 2, 2}));
  Tensor bad = i64v({3});
  expect_error(
      [&] {
        run_op("Gather", {&x, &bad});
      },
      ErrorKind::invalid, "index 3 is out of range");
  Tensor bad2 = i64v({-4});
  expect_error([&] { run_op("Gather", {&x, &bad2}); }, ErrorKind::invalid, "index -4");
}

TEST(OpsShape, GatherElementsSpecExamples) {
  Tensor d = f32({2, 2}, {1, 2, 3, 4});
  Tensor i = i64({2, 2}, {0, 0, 1, 0});
  EXPECT_EQ(values(run_op("GatherElements", {&d, &i}, {{"axis", attr(int64_t{1})}})),
            (std::vector<float>{1, 1, 4, 3}));
  Tensor d3 = f32({3, 3}, {1, 2, 3, 4, 5, 6, 7, 8, 9});
  Tensor i3 = i64({2, 3}, {1, 2, 0, 2, 0, 0});
  Tensor y = run_op("GatherElements", {&d3, &i3});
  EXPECT_EQ(y.shape(), (Shape{2, 3}));
  EXPECT_EQ(values(y), (std::vector<float>{4, 8, 3, 7, 2, 3}));
  Tensor ineg = i64({2, 3}, {-1, -2, 0, -2, 0, 0});
  EXPECT_EQ(values(run_op("GatherElements", {&d3, &ineg})), (std::vector<float>{7, 5, 3, 4, 2, 3}));
  Tensor oob = i64({1, 1}, {3});
  expect_error([&] { run_op("GatherElements", {&d3, &oob}); }, ErrorKind::invalid, "out of range");
}

// ---- Expand, Tile, Range, Trilu, OneHot
// ----------------------------------------------------------

TEST(OpsShape, ExpandBroadcastsBothWays) {
  Tensor x = f32({3, 1}, {1, 2, 3});
  Tensor s = i64v({2, 1, 2});
  Tensor y = run_op("Expand", {&x, &s});
  EXPECT_EQ(y.shape(), (Shape{2, 3, 2}));
  EXPECT_EQ(values(y), (std::vector<float>{1, 1, 2, 2, 3, 3, 1, 1, 2, 2, 3, 3}));
  EXPECT_EQ(infer_op("Expand", {runtime(x), of(s)}).shape, (Shape{2, 3, 2}));
  Tensor bad = i64v({2, 2});
  expect_error(
      [&] {
        run_op("Expand", {&x, &bad});
      },
      ErrorKind::shape, "cannot expand [3,1] to [2,2]");
}

TEST(OpsShape, TileRepeatsEachAxis) {
  Tensor x = f32({2, 2}, {1, 2, 3, 4});
  Tensor r = i64v({2, 3});
  Tensor y = run_op("Tile", {&x, &r});
  EXPECT_EQ(y.shape(), (Shape{4, 6}));
  EXPECT_EQ(values(y), (std::vector<float>{1, 2, 1, 2, 1, 2, 3, 4, 3, 4, 3, 4,
                                           1, 2, 1, 2, 1, 2, 3, 4, 3, 4, 3, 4}));
  Tensor r0 = i64v({0, 1});
  EXPECT_EQ(run_op("Tile", {&x, &r0}).shape(), (Shape{0, 2}));
  EXPECT_EQ(infer_op("Tile", {known(DType::f32, {kUnknownDim, 2}), of(r)}).shape,
            (Shape{kUnknownDim, 6}));
  Tensor r1 = i64v({2});
  expect_error([&] { run_op("Tile", {&x, &r1}); }, ErrorKind::shape, "rank 2");
}

TEST(OpsShape, RangeIntAndFloat) {
  Tensor s = Tensor::scalar<int64_t>(10), l = Tensor::scalar<int64_t>(1),
         d = Tensor::scalar<int64_t>(-3);
  Tensor y = run_op("Range", {&s, &l, &d});
  EXPECT_EQ(y.to_int64s(), (std::vector<int64_t>{10, 7, 4}));
  EXPECT_EQ(infer_op("Range", {of(s), of(l), of(d)}).shape, (Shape{3}));
  EXPECT_EQ(infer_op("Range", {runtime(s), of(l), of(d)}).shape, (Shape{kUnknownDim}));
  Tensor fs = Tensor::scalar<float>(0.5f), fl = Tensor::scalar<float>(2.0f),
         fd = Tensor::scalar<float>(0.5f);
  Tensor f = run_op("Range", {&fs, &fl, &fd});
  ASSERT_EQ(f.numel(), 3);
  const float tol = 1e-6f;
  EXPECT_NEAR(f.data<float>()[0], 0.5f, tol);
  EXPECT_NEAR(f.data<float>()[1], 1.0f, tol);
  EXPECT_NEAR(f.data<float>()[2], 1.5f, tol);
  Tensor back = Tensor::scalar<int64_t>(5);
  EXPECT_EQ(run_op("Range", {&l, &s, &back}).to_int64s(), (std::vector<int64_t>{1, 6}));
  EXPECT_EQ(run_op("Range", {&s, &l, &back}).numel(), 0);
  Tensor zero = Tensor::scalar<int64_t>(0);
  expect_error([&] { run_op("Range", {&s, &l, &zero}); }, ErrorKind::invalid, "nonzero");
}

TEST(OpsShape, TriluUpperLowerWithK) {
  Tensor x = f32({3, 4}, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12});
  EXPECT_EQ(values(run_op("Trilu", {&x})),
            (std::vector<float>{1, 2, 3, 4, 0, 6, 7, 8, 0, 0, 11, 12}));
  Tensor k = Tensor::scalar<int64_t>(1);
  EXPECT_EQ(values(run_op("Trilu", {&x, &k})),
            (std::vector<float>{0, 2, 3, 4, 0, 0, 7, 8, 0, 0, 0, 12}));
  Tensor km = Tensor::scalar<int64_t>(-1);
  EXPECT_EQ(values(run_op("Trilu", {&x, &km}, {{"upper", attr(int64_t{0})}})),
            (std::vector<float>{0, 0, 0, 0, 5, 0, 0, 0, 9, 10, 0, 0}));
  Tensor big = Tensor::scalar<int64_t>(std::numeric_limits<int64_t>::max());
  EXPECT_EQ(values(run_op("Trilu", {&x, &big})), std::vector<float>(12, 0.0f));
}

TEST(OpsShape, OneHotOutOfRangeIsAllOff) {
  Tensor idx = i64v({1, -1, 5});
  Tensor depth = Tensor::scalar<int64_t>(3);
  Tensor vals = f32({2}, {-1, 2});
  Tensor y = run_op("OneHot", {&idx, &depth, &vals});
  EXPECT_EQ(y.shape(), (Shape{3, 3}));
  EXPECT_EQ(values(y), (std::vector<float>{-1, 2, -1, -1, -1, 2, -1, -1, -1}));
  Tensor y0 = run_op("OneHot", {&idx, &depth, &vals}, {{"axis", attr(int64_t{0})}});
  EXPECT_EQ(values(y0), (std::vector<float>{-1, -1, -1, 2, -1, -1, -1, 2, -1}));
  EXPECT_EQ(infer_op("OneHot", {runtime(idx), of(depth), runtime(vals)}).shape, (Shape{3, 3}));
}

// ---- Hostile values: errors, never crashes or huge allocations
// -----------------------------------

TEST(OpsShape, HostileValuesAreErrors) {
  const int64_t kHuge = int64_t{1} << 62;
  Tensor x = iota_f32({2, 2});
  Tensor huge2 = i64v({kHuge, kHuge});
  expect_error([&] { run_op("Reshape", {&x, &huge2}); }, ErrorKind::limit, "too many elements");
  expect_error([&] { run_op("Tile", {&x, &huge2}); }, ErrorKind::limit, "too large");
  expect_error([&] { run_op("Expand", {&x, &huge2}); }, ErrorKind::shape, "cannot expand");
  Tensor one = i64v({1});
  Tensor big = i64v({int64_t{1} << 40, int64_t{1} << 40});
  expect_error([&] { run_op("ConstantOfShape", {&big}); }, ErrorKind::limit, "size limit");
  Tensor r0 = Tensor::scalar<int64_t>(0), r1 = Tensor::scalar<int64_t>(kHuge),
         rd = Tensor::scalar<int64_t>(1);
  expect_error([&] { run_op("Range", {&r0, &r1, &rd}); }, ErrorKind::limit, "too many");
  Tensor pads = i64v({0, kHuge, 0, 0});
  expect_error([&] { run_op("Pad", {&x, &pads}); }, ErrorKind::limit, "out of range");
  Tensor imin = i64v({std::numeric_limits<int64_t>::min()});
  expect_error([&] { run_op("Gather", {&x, &imin}); }, ErrorKind::invalid, "out of range");
  Tensor depth = Tensor::scalar<double>(1e300);
  Tensor vals = f32({2}, {0, 1});
  expect_error([&] { run_op("OneHot", {&one, &depth, &vals}); }, ErrorKind::invalid, "depth");
}

// ---- Through the graph: constant propagation and the executor
// ------------------------------------

TEST(OpsShape, ShapeArithmeticFoldsDuringInference) {
  // Reshape X [4, 6] to [-1, W.shape[1]] where W is an initializer [2, 3, 4]: [8, 3].
  Graph g;
  g.opset = 17;
  g.inputs.push_back(ValueInfo{"X", DType::f32, {4, 6}, true});
  g.initializers["W"] = Tensor(DType::f32, {2, 3, 4});
  g.initializers["one"] = Tensor::scalar<int64_t>(1);
  g.initializers["ax"] = i64v({0});
  g.initializers["minus1"] = i64v({-1});
  auto node = [&](const std::string& op, std::vector<std::string> in, std::string out) {
    Node n;
    n.name = out + "_node";
    n.op_type = op;
    n.inputs = std::move(in);
    n.outputs = {std::move(out)};
    g.nodes.push_back(n);
  };
  node("Shape", {"W"}, "ws");
  node("Gather", {"ws", "one"}, "w1");
  node("Unsqueeze", {"w1", "ax"}, "w1u");
  node("Concat", {"minus1", "w1u"}, "shape");
  g.nodes.back().attrs["axis"] = attr(int64_t{0});
  node("Reshape", {"X", "shape"}, "Y");
  g.outputs.push_back(ValueInfo{"Y", DType::f32, {}, false});
  infer_shapes(g);
  EXPECT_EQ(g.value_info("Y")->shape, (Shape{8, 3}));
  Executor ex(g);
  Tensor x = iota_f32({4, 6});
  TensorMap out = ex.run({{"X", x}});
  EXPECT_EQ(out.at("Y").shape(), (Shape{8, 3}));
  EXPECT_EQ(values(out.at("Y")), values(x));
}

}  // namespace
}  // namespace acim
