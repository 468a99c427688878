// Recurrent (RNN, GRU, LSTM), quantisation (QuantizeLinear, DequantizeLinear) and reduction
// (Reduce*, ArgMax, ArgMin) ops against explicit scalar references and hand-computed values.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <random>

#include "acim/threads.hpp"
#include "ops/kernels_vmath.hpp"
#include "ops/op.hpp"

namespace acim::ops {
namespace {

// ---- helpers ------------------------------------------------------------------------------

Node make_node(const std::string& op, size_t n_in, size_t n_out) {
  Node n;
  n.name = "n0";
  n.op_type = op;
  for (size_t i = 0; i < n_in; ++i) n.inputs.push_back("in" + std::to_string(i));
  for (size_t i = 0; i < n_out; ++i) n.outputs.push_back("out" + std::to_string(i));
  return n;
}

// Runs the op's kernel; nullptr inputs are omitted optional inputs.
std::vector<Tensor> run_op(Node node, const std::vector<const Tensor*>& inputs) {
  for (size_t i = 0; i < inputs.size() && i < node.inputs.size(); ++i)
    if (!inputs[i]) node.inputs[i].clear();
  const OpDef* def = find_op(node.op_type);
  EXPECT_NE(def, nullptr) << node.op_type;
  RunContext ctx{node, node.label(), inputs, std::vector<Tensor>(node.outputs.size())};
  def->run(ctx);
  return ctx.outputs;
}

// Runs the op's shape inference with the given input infos (nullptr: omitted) and constants.
std::vector<ValueInfo> infer_op(Node node, const std::vector<const ValueInfo*>& infos,
                                const std::vector<const Tensor*>& constants = {}) {
  for (size_t i = 0; i < infos.size() && i < node.inputs.size(); ++i)
    if (!infos[i]) node.inputs[i].clear();
  const OpDef* def = find_op(node.op_type);
  EXPECT_NE(def, nullptr) << node.op_type;
  InferContext ctx{node, node.label(), {}, {}};
  for (size_t i = 0; i < infos.size(); ++i)
    ctx.inputs.push_back(InferInput{infos[i], i < constants.size() ? constants[i] : nullptr});
  for (const auto& o : node.outputs) ctx.outputs.push_back(ValueInfo{o, DType::f32, {}, false});
  def->infer(ctx);
  return ctx.outputs;
}

ValueInfo info(DType dt, Shape s) {
  return ValueInfo{"v", dt, std::move(s), true};
}

std::vector<float> random_floats(size_t n, std::mt19937& rng, float lo = -1.0f, float hi = 1.0f) {
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

void expect_close(const Tensor& got, const std::vector<double>& want, double rel = 1e-4,
                  const std::string& what = "") {
  ASSERT_EQ(got.numel(), static_cast<int64_t>(want.size())) << what;
  std::vector<double> g = got.to_doubles();
  for (size_t i = 0; i < want.size(); ++i) {
    if (std::isinf(want[i])) {
      EXPECT_EQ(g[i], want[i]) << what << " at " << i;
      continue;
    }
    EXPECT_NEAR(g[i], want[i], rel * std::max(1.0, std::fabs(want[i]))) << what << " at " << i;
  }
}

template <class F>
ErrorKind error_kind_of(F&& f, std::string* message = nullptr) {
  try {
    f();
  } catch (const Error& e) {
    if (message) *message = e.what();
    return e.kind();
  }
  ADD_FAILURE() << "expected an acim::Error";
  return ErrorKind::io;
}

// ---- reductions ---------------------------------------------------------------------------

// Reference: walk every input element once, map it to its output element, and fold it in.
std::vector<double> reduce_reference(const std::string& op, const Shape& shape,
                                     const std::vector<double>& x, std::vector<bool> reduced) {
  size_t rank = shape.size();
  std::vector<int64_t> out_dims;
  for (size_t i = 0; i < rank; ++i) out_dims.push_back(reduced[i] ? 1 : shape[i]);
  int64_t n_out = 1, count = 1;
  for (size_t i = 0; i < rank; ++i) {
    n_out *= out_dims[i];
    if (reduced[i]) count *= shape[i];
  }
  bool is_max = op == "ReduceMax", is_min = op == "ReduceMin", is_prod = op == "ReduceProd";
  double init = is_max ? -INFINITY : is_min ? INFINITY : is_prod ? 1.0 : 0.0;
  std::vector<double> acc(static_cast<size_t>(n_out), init);
  std::vector<double> mx(static_cast<size_t>(n_out), -INFINITY);
  std::vector<int64_t> idx(rank, 0);
  for (size_t e = 0; e < x.size(); ++e) {
    int64_t o = 0;
    for (size_t i = 0; i < rank; ++i) o = o * out_dims[i] + (reduced[i] ? 0 : idx[i]);
    double v = x[e];
    double& a = acc[static_cast<size_t>(o)];
    if (is_max)
      a = std::max(a, v);
    else if (is_min)
      a = std::min(a, v);
    else if (is_prod)
      a *= v;
    else if (op == "ReduceL1")
      a += std::fabs(v);
    else if (op == "ReduceL2" || op == "ReduceSumSquare")
      a += v * v;
    else if (op == "ReduceLogSumExp")
      mx[static_cast<size_t>(o)] = std::max(mx[static_cast<size_t>(o)], v);
    else
      a += v;
    for (size_t i = rank; i-- > 0;) {
      if (++idx[i] < shape[i]) break;
      idx[i] = 0;
    }
  }
  if (op == "ReduceLogSumExp") {  // second pass: sum of exp(x - max)
    std::fill(idx.begin(), idx.end(), 0);
    for (size_t e = 0; e < x.size(); ++e) {
      int64_t o = 0;
      for (size_t i = 0; i < rank; ++i) o = o * out_dims[i] + (reduced[i] ? 0 : idx[i]);
      acc[static_cast<size_t>(o)] += std::exp(x[e] - mx[static_cast<size_t>(o)]);
      for (size_t i = rank; i-- > 0;) {
        if (++idx[i] < shape[i]) break;
        idx[i] = 0;
      }
    }
    for (size_t o = 0; o < acc.size(); ++o) acc[o] = mx[o] + std::log(acc[o]);
  }
  for (auto& a : acc) {
    if (op == "ReduceMean") a /= static_cast<double>(count);
    if (op == "ReduceL2") a = std::sqrt(a);
    if (op == "ReduceLogSum") a = std::log(a);
  }
  return acc;
}

const char* kReduceOps[] = {"ReduceSum",    "ReduceMean",     "ReduceMax", "ReduceMin",
                            "ReduceProd",   "ReduceL1",       "ReduceL2",  "ReduceSumSquare",
                            "ReduceLogSum", "ReduceLogSumExp"};

TEST(Reduce, AllOpsMatchScalarReferenceOverAxesKeepdimsAndAxesSource) {
  std::mt19937 rng(1234);
  const Shape shape = {3, 4, 5};
  std::vector<std::vector<int64_t>> axes_sets = {{0}, {1}, {-1}, {0, 2}, {2, 0, 1}, {}};
  for (const char* op : kReduceOps) {
    // Positive values keep ReduceLogSum defined; ReduceProd stays near 1.
    std::string ops = op;
    float lo = (ops == "ReduceLogSum" || ops == "ReduceProd") ? 0.5f : -2.0f;
    float hi = ops == "ReduceProd" ? 1.5f : 2.0f;
    std::vector<float> xv = random_floats(60, rng, lo, hi);
    Tensor x = Tensor::from_vector<float>(shape, xv);
    std::vector<double> xd(xv.begin(), xv.end());
    for (const auto& axes : axes_sets) {
      for (int keep = 0; keep <= 1; ++keep) {
        for (int as_input = 0; as_input <= 1; ++as_input) {
          std::vector<bool> reduced(3, axes.empty());
          for (int64_t a : axes) reduced[static_cast<size_t>(a < 0 ? a + 3 : a)] = true;
          Shape want_shape;
          for (size_t i = 0; i < 3; ++i)
            if (!reduced[i])
              want_shape.push_back(shape[i]);
            else if (keep)
              want_shape.push_back(1);
          Node node = make_node(op, as_input ? 2 : 1, 1);
          node.attrs["keepdims"].value = int64_t{keep};
          Tensor axes_t = Tensor::from_vector<int64_t>({static_cast<int64_t>(axes.size())}, axes);
          std::vector<const Tensor*> ins = {&x};
          if (as_input)
            ins.push_back(&axes_t);
          else if (!axes.empty())
            node.attrs["axes"].value = axes;
          std::string what = ops + " axes size " + std::to_string(axes.size()) + " keep " +
                             std::to_string(keep) + " input " + std::to_string(as_input);
          auto out = run_op(node, ins);
          EXPECT_EQ(out[0].shape(), want_shape) << what;
          expect_close(out[0], reduce_reference(ops, shape, xd, reduced), 1e-4, what);
          // Shape inference agrees with the kernel, with axes as a constant input.
          ValueInfo xi = info(DType::f32, shape), ai = info(DType::i64, axes_t.shape());
          auto inf = infer_op(node, {&xi, as_input ? &ai : nullptr}, {nullptr, &axes_t});
          EXPECT_TRUE(inf[0].shape_known) << what;
          EXPECT_EQ(inf[0].shape, want_shape) << what;
        }
      }
    }
  }
}

TEST(Reduce, LargeSumIsDeterministicAndAccurate) {
  std::mt19937 rng(7);
  std::vector<float> xv = random_floats(64 * 1000, rng);
  Tensor x = Tensor::from_vector<float>({64, 1000}, xv);
  Node node = make_node("ReduceSum", 1, 1);
  node.attrs["axes"].value = std::vector<int64_t>{1};
  node.attrs["keepdims"].value = int64_t{0};
  auto a = run_op(node, {&x});
  auto b = run_op(node, {&x});
  std::vector<double> xd(xv.begin(), xv.end());
  expect_close(a[0], reduce_reference("ReduceSum", {64, 1000}, xd, {false, true}), 1e-5);
  for (int64_t i = 0; i < 64; ++i) EXPECT_EQ(a[0].data<float>()[i], b[0].data<float>()[i]);
}

TEST(Reduce, IntegerAndDoubleInputsKeepTheirDtype) {
  Tensor xi = Tensor::from_vector<int32_t>({2, 3}, {1, -2, 3, 4, 5, -6});
  Node sum = make_node("ReduceSum", 1, 1);
  sum.attrs["axes"].value = std::vector<int64_t>{1};
  auto s = run_op(sum, {&xi});
  EXPECT_EQ(s[0].dtype(), DType::i32);
  EXPECT_EQ(s[0].shape(), (Shape{2, 1}));
  EXPECT_EQ(s[0].to_int64s(), (std::vector<int64_t>{2, 3}));
  Tensor xl = Tensor::from_vector<int64_t>({3}, {7, -9, 4});
  Node mx = make_node("ReduceMax", 1, 1);
  mx.attrs["keepdims"].value = int64_t{0};
  auto m = run_op(mx, {&xl});
  EXPECT_EQ(m[0].shape(), Shape{});
  EXPECT_EQ(m[0].to_int64s(), (std::vector<int64_t>{7}));
  Tensor xd = Tensor::from_vector<double>({2, 2}, {1.0, 2.0, 3.0, 4.0});
  Node mean = make_node("ReduceMean", 1, 1);
  mean.attrs["axes"].value = std::vector<int64_t>{0};
  auto mm = run_op(mean, {&xd});
  EXPECT_EQ(mm[0].dtype(), DType::f64);
  expect_close(mm[0], {2.0, 3.0}, 1e-12);
}

TEST(Reduce, NoopWithEmptyAxesIsIdentityAndEmptySetGivesIdentityValues) {
  Tensor x = Tensor::from_vector<float>({2, 2}, {1, 2, 3, 4});
  Node noop = make_node("ReduceSum", 2, 1);
  noop.attrs["noop_with_empty_axes"].value = int64_t{1};
  Tensor empty_axes(DType::i64, {0});
  auto r = run_op(noop, {&x, &empty_axes});
  EXPECT_EQ(r[0].shape(), (Shape{2, 2}));
  expect_close(r[0], {1, 2, 3, 4}, 0);

  // A zero-size reduced axis: every output is the op's identity.
  Tensor z(DType::f32, {2, 0, 4});
  Tensor ax = Tensor::from_vector<int64_t>({1}, {1});
  std::vector<std::pair<std::string, double>> ident = {
      {"ReduceSum", 0.0},          {"ReduceProd", 1.0},
      {"ReduceMin", INFINITY},     {"ReduceL1", 0.0},
      {"ReduceL2", 0.0},           {"ReduceSumSquare", 0.0},
      {"ReduceLogSum", -INFINITY}, {"ReduceLogSumExp", -INFINITY}};
  for (const auto& [op, v] : ident) {
    auto o = run_op(make_node(op, 2, 1), {&z, &ax});
    EXPECT_EQ(o[0].shape(), (Shape{2, 1, 4})) << op;
    expect_close(o[0], std::vector<double>(8, v), 0, op);
  }
}

TEST(Reduce, BoolMaxMinAndErrors) {
  Tensor b = Tensor::from_vector<bool>({2, 2}, {true, false, false, false});
  Node mx = make_node("ReduceMax", 1, 1);
  mx.attrs["axes"].value = std::vector<int64_t>{1};
  auto o = run_op(mx, {&b});
  EXPECT_EQ(o[0].dtype(), DType::boolean);
  EXPECT_EQ(o[0].to_int64s(), (std::vector<int64_t>{1, 0}));

  Tensor x(DType::f32, {2, 3});
  Node dup = make_node("ReduceSum", 1, 1);
  dup.attrs["axes"].value = std::vector<int64_t>{1, -1};
  EXPECT_EQ(error_kind_of([&] { run_op(dup, {&x}); }), ErrorKind::invalid);
  Node out_of_range = make_node("ReduceMean", 1, 1);
  out_of_range.attrs["axes"].value = std::vector<int64_t>{2};
  std::string msg;
  EXPECT_EQ(error_kind_of([&] { run_op(out_of_range, {&x}); }, &msg), ErrorKind::invalid);
  EXPECT_NE(msg.find("n0"), std::string::npos) << msg;
  Node bsum = make_node("ReduceSum", 1, 1);
  EXPECT_EQ(error_kind_of([&] { run_op(bsum, {&b}); }), ErrorKind::unsupported);
}

TEST(Reduce, AxesFromNonConstantInputGiveUnknownShape) {
  ValueInfo xi = info(DType::f32, {2, 3}), ai = info(DType::i64, {1});
  auto inf = infer_op(make_node("ReduceSum", 2, 1), {&xi, &ai});
  EXPECT_FALSE(inf[0].shape_known);
  EXPECT_EQ(inf[0].dtype, DType::f32);
}

TEST(ArgMaxMin, MatchHandValuesWithTiesAndSelectLastIndex) {
  // Rows: [1, 3, 3, 0], [2, 2, 1, 1] ; columns pairs.
  Tensor x = Tensor::from_vector<float>({2, 4}, {1, 3, 3, 0, 2, 2, 1, 1});
  struct Case {
    std::string op;
    int64_t axis, keep, last;
    Shape shape;
    std::vector<int64_t> want;
  };
  std::vector<Case> cases = {
      {"ArgMax", 1, 1, 0, {2, 1}, {1, 0}},       {"ArgMax", 1, 0, 1, {2}, {2, 1}},
      {"ArgMin", -1, 0, 0, {2}, {3, 2}},         {"ArgMin", 1, 0, 1, {2}, {3, 3}},
      {"ArgMax", 0, 1, 0, {1, 4}, {1, 0, 0, 1}}, {"ArgMin", 0, 0, 1, {4}, {0, 1, 1, 0}},
  };
  for (const auto& c : cases) {
    Node n = make_node(c.op, 1, 1);
    n.attrs["axis"].value = c.axis;
    n.attrs["keepdims"].value = c.keep;
    n.attrs["select_last_index"].value = c.last;
    auto o = run_op(n, {&x});
    EXPECT_EQ(o[0].dtype(), DType::i64);
    EXPECT_EQ(o[0].shape(), c.shape) << c.op << " axis " << c.axis;
    EXPECT_EQ(o[0].to_int64s(), c.want) << c.op << " axis " << c.axis << " last " << c.last;
    ValueInfo xi = info(DType::f32, {2, 4});
    EXPECT_EQ(infer_op(n, {&xi})[0].shape, c.shape);
  }
}

TEST(ArgMaxMin, RandomInt32AgainstScalarReference) {
  std::mt19937 rng(99);
  std::uniform_int_distribution<int32_t> dist(-5, 5);
  std::vector<int32_t> xv(3 * 7 * 4);
  for (auto& v : xv) v = dist(rng);
  Tensor x = Tensor::from_vector<int32_t>({3, 7, 4}, xv);
  Node n = make_node("ArgMax", 1, 1);
  n.attrs["axis"].value = int64_t{1};
  auto o = run_op(n, {&x});
  std::vector<int64_t> want;
  for (int a = 0; a < 3; ++a)
    for (int c = 0; c < 4; ++c) {
      int64_t best = 0;
      for (int b = 1; b < 7; ++b)
        if (xv[static_cast<size_t>((a * 7 + b) * 4 + c)] >
            xv[static_cast<size_t>((a * 7 + best) * 4 + c)])
          best = b;
      want.push_back(best);
    }
  EXPECT_EQ(o[0].shape(), (Shape{3, 1, 4}));
  EXPECT_EQ(o[0].to_int64s(), want);
}

// ---- quantisation -------------------------------------------------------------------------

TEST(Quantize, PerTensorRoundsHalfToEvenAndSaturates) {
  Tensor x =
      Tensor::from_vector<float>({8}, {0.5f, 1.5f, 2.5f, -0.5f, -1.5f, 300.0f, -300.0f, 3.2f});
  Tensor s = Tensor::scalar<float>(1.0f);
  auto u = run_op(make_node("QuantizeLinear", 2, 1), {&x, &s, nullptr});
  EXPECT_EQ(u[0].dtype(), DType::u8);
  EXPECT_EQ(u[0].to_int64s(), (std::vector<int64_t>{0, 2, 2, 0, 0, 255, 0, 3}));
  Tensor zp = Tensor::scalar<int8_t>(int8_t{-3});
  auto i = run_op(make_node("QuantizeLinear", 3, 1), {&x, &s, &zp});
  EXPECT_EQ(i[0].dtype(), DType::i8);
  EXPECT_EQ(i[0].to_int64s(), (std::vector<int64_t>{-3, -1, -1, -3, -5, 127, -128, 0}));
  Tensor s2 = Tensor::scalar<float>(0.5f);  // x / 0.5: 1, 3, 5, -1, -3, ...
  Tensor zpu = Tensor::scalar<uint8_t>(uint8_t{128});
  auto q = run_op(make_node("QuantizeLinear", 3, 1), {&x, &s2, &zpu});
  EXPECT_EQ(q[0].to_int64s(), (std::vector<int64_t>{129, 131, 133, 127, 125, 255, 0, 134}));
}

TEST(Quantize, PerAxisMatchesScalarReferenceAndDequantizeInvertsIt) {
  std::mt19937 rng(5);
  const Shape shape = {2, 3, 4};
  std::vector<float> xv = random_floats(24, rng, -3.0f, 3.0f);
  Tensor x = Tensor::from_vector<float>(shape, xv);
  std::vector<float> sv = {0.02f, 0.05f, 0.1f};
  std::vector<int8_t> zv = {0, -10, 7};
  Tensor s = Tensor::from_vector<float>({3}, sv);
  Tensor zp = Tensor::from_vector<int8_t>({3}, zv);
  Node q = make_node("QuantizeLinear", 3, 1);  // axis defaults to 1
  auto y = run_op(q, {&x, &s, &zp});
  std::vector<int64_t> want;
  std::vector<double> deq;
  for (size_t i = 0; i < 24; ++i) {
    size_t c = (i / 4) % 3;
    double v = std::nearbyint(static_cast<double>(xv[i] / sv[c])) + zv[c];
    v = std::min(127.0, std::max(-128.0, v));
    want.push_back(static_cast<int64_t>(v));
    deq.push_back((v - zv[c]) * sv[c]);
  }
  EXPECT_EQ(y[0].to_int64s(), want);
  auto d = run_op(make_node("DequantizeLinear", 3, 1), {&y[0], &s, &zp});
  EXPECT_EQ(d[0].dtype(), DType::f32);
  expect_close(d[0], deq, 1e-6);
  // Per axis on the last axis (negative axis attribute).
  Node q2 = make_node("QuantizeLinear", 2, 1);
  q2.attrs["axis"].value = int64_t{-1};
  Tensor s4 = Tensor::from_vector<float>({4}, {0.1f, 0.2f, 0.3f, 0.4f});
  auto y2 = run_op(q2, {&x, &s4});
  EXPECT_EQ(y2[0].dtype(), DType::u8);
  for (size_t i = 0; i < 24; ++i) {
    double v = std::nearbyint(static_cast<double>(xv[i] / s4.data<float>()[i % 4]));
    EXPECT_EQ(y2[0].to_int64s()[i], static_cast<int64_t>(std::min(255.0, std::max(0.0, v)))) << i;
  }
}

TEST(Dequantize, Int32AndUint8HandValues) {
  Tensor x = Tensor::from_vector<int32_t>({3}, {-1000, 0, 123456});
  Tensor s = Tensor::scalar<float>(0.5f);
  auto y = run_op(make_node("DequantizeLinear", 2, 1), {&x, &s});
  expect_close(y[0], {-500.0, 0.0, 61728.0}, 0);
  Tensor xu = Tensor::from_vector<uint8_t>({4}, {0, 3, 128, 255});
  Tensor zp = Tensor::scalar<uint8_t>(uint8_t{128});
  auto yu = run_op(make_node("DequantizeLinear", 3, 1), {&xu, &s, &zp});
  expect_close(yu[0], {-64.0, -62.5, 0.0, 63.5}, 0);
}

TEST(Quantize, ShapeInferenceAndErrors) {
  ValueInfo xi = info(DType::f32, {2, 3, 4}), si = info(DType::f32, {3}), zi = info(DType::i8, {3});
  auto inf = infer_op(make_node("QuantizeLinear", 3, 1), {&xi, &si, &zi});
  EXPECT_EQ(inf[0].dtype, DType::i8);
  EXPECT_EQ(inf[0].shape, (Shape{2, 3, 4}));
  ValueInfo s0 = info(DType::f32, {});
  EXPECT_EQ(infer_op(make_node("QuantizeLinear", 2, 1), {&xi, &s0})[0].dtype, DType::u8);
  ValueInfo qi = info(DType::u8, {2, 3, 4});
  EXPECT_EQ(infer_op(make_node("DequantizeLinear", 2, 1), {&qi, &s0})[0].dtype, DType::f32);

  std::string msg;
  ValueInfo bad = info(DType::f32, {5});
  EXPECT_EQ(error_kind_of(
                [&] {
                  infer_op(make_node("QuantizeLinear", 2, 1), {&xi, &bad});
                },
                &msg),
            ErrorKind::shape);
  EXPECT_NE(msg.find("[5]"), std::string::npos) << msg;
  EXPECT_NE(msg.find("[2,3,4]"), std::string::npos) << msg;
  Node blocked = make_node("DequantizeLinear", 2, 1);
  blocked.attrs["block_size"].value = int64_t{2};
  EXPECT_EQ(error_kind_of([&] { infer_op(blocked, {&qi, &s0}); }), ErrorKind::unsupported);
  Tensor x(DType::f32, {2, 3, 4});
  Tensor s = Tensor::scalar<float>(1.0f);
  Node qblocked = make_node("QuantizeLinear", 2, 1);
  qblocked.attrs["block_size"].value = int64_t{4};
  EXPECT_EQ(error_kind_of([&] { run_op(qblocked, {&x, &s}); }), ErrorKind::unsupported);
  Tensor zero_scale = Tensor::scalar<float>(0.0f);
  EXPECT_EQ(error_kind_of([&] {
              run_op(make_node("QuantizeLinear", 2, 1), {&x, &zero_scale});
            }),
            ErrorKind::invalid);
}

TEST(DynamicQuantize, ScaleZeroPointAndValuesFromTheRange) {
  // Range [-1, 3]: scale 4/255, zero point rint(1 / scale) = rint(63.75) = 64.
  Tensor x = Tensor::from_vector<float>({4}, {-1.0f, 0.0f, 1.5f, 3.0f});
  auto o = run_op(make_node("DynamicQuantizeLinear", 1, 3), {&x});
  EXPECT_EQ(o[0].dtype(), DType::u8);
  EXPECT_EQ(o[0].to_int64s(), (std::vector<int64_t>{0, 64, 160, 255}));
  EXPECT_NEAR(o[1].to_doubles()[0], 4.0 / 255.0, 1e-7);
  EXPECT_EQ(o[2].to_int64s(), (std::vector<int64_t>{64}));
  // All positive: the range is widened to include 0, so the zero point is 0.
  Tensor p = Tensor::from_vector<float>({2}, {2.0f, 5.1f});
  auto q = run_op(make_node("DynamicQuantizeLinear", 1, 3), {&p});
  EXPECT_EQ(q[2].to_int64s(), (std::vector<int64_t>{0}));
  EXPECT_EQ(q[0].to_int64s(), (std::vector<int64_t>{100, 255}));
}

// ---- recurrent layers ---------------------------------------------------------------------

using Fn = std::function<double(double)>;
const Fn kSigmoid = [](double v) { return 1.0 / (1.0 + std::exp(-v)); };
const Fn kTanh = [](double v) { return std::tanh(v); };
const Fn kRelu = [](double v) { return v > 0 ? v : 0.0; };

struct RnnCase {
  std::string op;
  int dirs = 1;
  bool reverse = false;
  int seq = 4, batch = 3, input = 5, hidden = 6;
  bool bias = true, lens = false, init = false, peep = false;
  bool lbr = false, input_forget = false;
  double clip = 0;       // 0: none
  std::vector<Fn> acts;  // per direction, all directions
};

struct RnnData {
  std::vector<float> x, w, r, b, h0, c0, p;
  std::vector<int32_t> lens;
};

struct RnnRef {
  std::vector<double> y, yh, yc;  // layout 0
};

int gates_of(const std::string& op) {
  return op == "LSTM" ? 4 : op == "GRU" ? 3 : 1;
}

// Straightforward per-batch, per-step evaluation of the ONNX equations in double.
RnnRef rnn_reference(const RnnCase& c, const RnnData& d) {
  const int S = c.seq, B = c.batch, I = c.input, H = c.hidden, G = gates_of(c.op);
  const size_t nacts = c.acts.size() / static_cast<size_t>(c.dirs);
  RnnRef ref;
  ref.y.assign(static_cast<size_t>(S * c.dirs * B * H), 0.0);
  ref.yh.assign(static_cast<size_t>(c.dirs * B * H), 0.0);
  ref.yc.assign(static_cast<size_t>(c.dirs * B * H), 0.0);
  auto clipv = [&](double v) { return c.clip > 0 ? std::max(-c.clip, std::min(c.clip, v)) : v; };
  for (int dir = 0; dir < c.dirs; ++dir) {
    const Fn& f = c.acts[static_cast<size_t>(dir) * nacts];
    const Fn& g = c.acts[static_cast<size_t>(dir) * nacts + (nacts > 1 ? 1 : 0)];
    const Fn& hf = c.acts[static_cast<size_t>(dir) * nacts + (nacts > 2 ? 2 : 0)];
    bool backward = c.reverse || dir == 1;
    auto W = [&](int row, int i) {
      return double(d.w[static_cast<size_t>((dir * G * H + row) * I + i)]);
    };
    auto R = [&](int row, int m) {
      return double(d.r[static_cast<size_t>((dir * G * H + row) * H + m)]);
    };
    auto Wb = [&](int row) {
      return c.bias ? double(d.b[static_cast<size_t>(dir * 2 * G * H + row)]) : 0.0;
    };
    auto Rb = [&](int row) {
      return c.bias ? double(d.b[static_cast<size_t>(dir * 2 * G * H + G * H + row)]) : 0.0;
    };
    for (int b = 0; b < B; ++b) {
      int len = c.lens ? d.lens[static_cast<size_t>(b)] : S;
      std::vector<double> h(static_cast<size_t>(H), 0.0), cs(static_cast<size_t>(H), 0.0);
      if (c.init)
        for (int j = 0; j < H; ++j) {
          h[static_cast<size_t>(j)] = d.h0[static_cast<size_t>((dir * B + b) * H + j)];
          if (c.op == "LSTM")
            cs[static_cast<size_t>(j)] = d.c0[static_cast<size_t>((dir * B + b) * H + j)];
        }
      for (int s = 0; s < len; ++s) {
        int t = backward ? len - 1 - s : s;
        auto xw = [&](int row) {
          double acc = Wb(row);
          for (int i = 0; i < I; ++i)
            acc += double(d.x[static_cast<size_t>((t * B + b) * I + i)]) * W(row, i);
          return acc;
        };
        auto hr = [&](int row, const std::vector<double>& hv) {
          double acc = 0;
          for (int m = 0; m < H; ++m) acc += hv[static_cast<size_t>(m)] * R(row, m);
          return acc;
        };
        std::vector<double> hn(static_cast<size_t>(H)), cn(static_cast<size_t>(H));
        if (c.op == "RNN") {
          for (int j = 0; j < H; ++j)
            hn[static_cast<size_t>(j)] = f(clipv(xw(j) + hr(j, h) + Rb(j)));
        } else if (c.op == "GRU") {
          std::vector<double> z(static_cast<size_t>(H)), r(static_cast<size_t>(H)),
              rh(static_cast<size_t>(H));
          for (int j = 0; j < H; ++j) {
            z[static_cast<size_t>(j)] = f(clipv(xw(j) + hr(j, h) + Rb(j)));
            r[static_cast<size_t>(j)] = f(clipv(xw(H + j) + hr(H + j, h) + Rb(H + j)));
            rh[static_cast<size_t>(j)] = r[static_cast<size_t>(j)] * h[static_cast<size_t>(j)];
          }
          for (int j = 0; j < H; ++j) {
            double pre = c.lbr ? xw(2 * H + j) +
                                     r[static_cast<size_t>(j)] * (hr(2 * H + j, h) + Rb(2 * H + j))
                               : xw(2 * H + j) + hr(2 * H + j, rh) + Rb(2 * H + j);
            double hh = g(clipv(pre));
            hn[static_cast<size_t>(j)] = (1 - z[static_cast<size_t>(j)]) * hh +
                                         z[static_cast<size_t>(j)] * h[static_cast<size_t>(j)];
          }
        } else {
          for (int j = 0; j < H; ++j) {
            double cp = cs[static_cast<size_t>(j)];
            auto P = [&](int k) {
              return c.peep ? double(d.p[static_cast<size_t>(dir * 3 * H + k * H + j)]) : 0.0;
            };
            double ig = f(clipv(xw(j) + hr(j, h) + Rb(j) + P(0) * cp));
            double fg =
                c.input_forget
                    ? 1 - ig
                    : f(clipv(xw(2 * H + j) + hr(2 * H + j, h) + Rb(2 * H + j) + P(2) * cp));
            double cg = g(clipv(xw(3 * H + j) + hr(3 * H + j, h) + Rb(3 * H + j)));
            double cnew = fg * cp + ig * cg;
            double og = f(clipv(xw(H + j) + hr(H + j, h) + Rb(H + j) + P(1) * cnew));
            cn[static_cast<size_t>(j)] = cnew;
            hn[static_cast<size_t>(j)] = og * hf(cnew);
          }
          cs = cn;
        }
        h = hn;
        for (int j = 0; j < H; ++j)
          ref.y[static_cast<size_t>(((t * c.dirs + dir) * B + b) * H + j)] =
              h[static_cast<size_t>(j)];
      }
      for (int j = 0; j < H; ++j) {
        ref.yh[static_cast<size_t>((dir * B + b) * H + j)] = h[static_cast<size_t>(j)];
        ref.yc[static_cast<size_t>((dir * B + b) * H + j)] = cs[static_cast<size_t>(j)];
      }
    }
  }
  return ref;
}

RnnData make_data(const RnnCase& c, std::mt19937& rng) {
  const int G = gates_of(c.op);
  RnnData d;
  d.x = random_floats(static_cast<size_t>(c.seq * c.batch * c.input), rng);
  d.w = random_floats(static_cast<size_t>(c.dirs * G * c.hidden * c.input), rng, -0.5f, 0.5f);
  d.r = random_floats(static_cast<size_t>(c.dirs * G * c.hidden * c.hidden), rng, -0.5f, 0.5f);
  d.b = random_floats(static_cast<size_t>(c.dirs * 2 * G * c.hidden), rng, -0.3f, 0.3f);
  d.h0 = random_floats(static_cast<size_t>(c.dirs * c.batch * c.hidden), rng);
  d.c0 = random_floats(static_cast<size_t>(c.dirs * c.batch * c.hidden), rng);
  d.p = random_floats(static_cast<size_t>(c.dirs * 3 * c.hidden), rng, -0.5f, 0.5f);
  std::uniform_int_distribution<int32_t> len(0, c.seq);
  for (int b = 0; b < c.batch; ++b) d.lens.push_back(b == 0 ? c.seq : len(rng));
  return d;
}

// Swaps the first two axes of a [A, B, rest] tensor given as a flat vector.
template <class T>
std::vector<T> swap01(const std::vector<T>& v, int64_t a, int64_t b, int64_t rest) {
  std::vector<T> o(v.size());
  for (int64_t i = 0; i < a; ++i)
    for (int64_t j = 0; j < b; ++j)
      for (int64_t k = 0; k < rest; ++k)
        o[static_cast<size_t>((j * a + i) * rest + k)] =
            v[static_cast<size_t>((i * b + j) * rest + k)];
  return o;
}

// Runs the op on the case (in the given layout) and compares all outputs to the reference.
void check_rnn(const RnnCase& c, Node node, uint32_t seed, bool batch_first = false) {
  std::mt19937 rng(seed);
  RnnData d = make_data(c, rng);
  RnnRef ref = rnn_reference(c, d);
  const int64_t S = c.seq, B = c.batch, I = c.input, H = c.hidden, D = c.dirs, G = gates_of(c.op);
  node.attrs["hidden_size"].value = H;
  if (c.dirs == 2) node.attrs["direction"].value = std::string("bidirectional");
  if (c.reverse) node.attrs["direction"].value = std::string("reverse");
  if (c.clip > 0) node.attrs["clip"].value = static_cast<float>(c.clip);
  if (batch_first) node.attrs["layout"].value = int64_t{1};
  Tensor x = batch_first ? Tensor::from_vector<float>({B, S, I}, swap01(d.x, S, B, I))
                         : Tensor::from_vector<float>({S, B, I}, d.x);
  Tensor w = Tensor::from_vector<float>({D, G * H, I}, d.w);
  Tensor r = Tensor::from_vector<float>({D, G * H, H}, d.r);
  Tensor b = Tensor::from_vector<float>({D, 2 * G * H}, d.b);
  Tensor lens = Tensor::from_vector<int32_t>({B}, d.lens);
  Shape st = batch_first ? Shape{B, D, H} : Shape{D, B, H};
  Tensor h0 = Tensor::from_vector<float>(st, batch_first ? swap01(d.h0, D, B, H) : d.h0);
  Tensor c0 = Tensor::from_vector<float>(st, batch_first ? swap01(d.c0, D, B, H) : d.c0);
  Tensor p = Tensor::from_vector<float>({D, 3 * H}, d.p);
  std::vector<const Tensor*> ins = {
      &x, &w, &r, c.bias ? &b : nullptr, c.lens ? &lens : nullptr, c.init ? &h0 : nullptr};
  if (c.op == "LSTM") {
    ins.push_back(c.init ? &c0 : nullptr);
    ins.push_back(c.peep ? &p : nullptr);
  }
  node.inputs.resize(ins.size());
  for (size_t i = 0; i < ins.size(); ++i) node.inputs[i] = "in" + std::to_string(i);
  size_t n_out = c.op == "LSTM" ? 3 : 2;
  node.outputs.clear();
  for (size_t i = 0; i < n_out; ++i) node.outputs.push_back("out" + std::to_string(i));
  auto out = run_op(node, ins);

  std::vector<double> y = ref.y, yh = ref.yh, yc = ref.yc;
  Shape y_shape = {S, D, B, H};
  if (batch_first) {  // [S, D, B, H] -> [B, S, D, H]
    std::vector<double> t(y.size());
    for (int64_t s = 0; s < S; ++s)
      for (int64_t dd = 0; dd < D; ++dd)
        for (int64_t bb = 0; bb < B; ++bb)
          for (int64_t j = 0; j < H; ++j)
            t[static_cast<size_t>(((bb * S + s) * D + dd) * H + j)] =
                y[static_cast<size_t>(((s * D + dd) * B + bb) * H + j)];
    y = t;
    yh = swap01(yh, D, B, H);
    yc = swap01(yc, D, B, H);
    y_shape = {B, S, D, H};
  }
  EXPECT_EQ(out[0].shape(), y_shape);
  EXPECT_EQ(out[1].shape(), st);
  expect_close(out[0], y, 1e-4, c.op + " Y");
  expect_close(out[1], yh, 1e-4, c.op + " Y_h");
  if (c.op == "LSTM") expect_close(out[2], yc, 1e-4, c.op + " Y_c");

  // Shape inference gives the same output shapes.
  std::vector<ValueInfo> infos;
  for (const Tensor* t : ins) infos.push_back(t ? info(t->dtype(), t->shape()) : ValueInfo{});
  std::vector<const ValueInfo*> iptr;
  for (size_t i = 0; i < ins.size(); ++i) iptr.push_back(ins[i] ? &infos[i] : nullptr);
  auto inf = infer_op(node, iptr);
  EXPECT_EQ(inf[0].shape, y_shape);
  EXPECT_EQ(inf[1].shape, st);
}

TEST(Lstm, DefaultsForwardMatchesReference) {
  RnnCase c{.op = "LSTM", .acts = {kSigmoid, kTanh, kTanh}};
  check_rnn(c, make_node("LSTM", 3, 3), 11);
}

TEST(Lstm, BidirectionalWithLensInitialStatesAndPeepholes) {
  RnnCase c{.op = "LSTM",
            .dirs = 2,
            .lens = true,
            .init = true,
            .peep = true,
            .acts = {kSigmoid, kTanh, kTanh, kSigmoid, kTanh, kTanh}};
  check_rnn(c, make_node("LSTM", 8, 3), 12);
}

TEST(Lstm, ReverseBatchFirstWithClipInputForgetAndCustomActivations) {
  const Fn hard_sigmoid = [](double v) { return std::max(0.0, std::min(1.0, 0.3 * v + 0.4)); };
  const Fn affine = [](double v) { return 0.7 * v - 0.1; };
  RnnCase c{.op = "LSTM",
            .reverse = true,
            .lens = true,
            .init = true,
            .input_forget = true,
            .clip = 0.8,
            .acts = {hard_sigmoid, kRelu, affine}};
  Node n = make_node("LSTM", 8, 3);
  n.attrs["activations"].value = std::vector<std::string>{"HardSigmoid", "Relu", "Affine"};
  n.attrs["activation_alpha"].value = std::vector<float>{0.3f, 0.7f};
  n.attrs["activation_beta"].value = std::vector<float>{0.4f, -0.1f};
  n.attrs["input_forget"].value = int64_t{1};
  check_rnn(c, n, 13, /*batch_first=*/true);
}

TEST(Lstm, VectorisedGatesWithClipPeepholesAndOddSizes) {
  // Sigmoid / tanh gates take the vectorised cell (kernels_vmath.hpp): hidden 37 (a partial
  // 16-lane vector) and 70 (a partial 128-column pass of the one-row GEMM), batch 1 and 5,
  // with clip, peepholes, lens and initial states, and bidirectional with input_forget.
  for (int batch : {1, 5}) {
    for (int hidden : {37, 70}) {
      SCOPED_TRACE("batch " + std::to_string(batch) + " hidden " + std::to_string(hidden));
      RnnCase c{.op = "LSTM",
                .seq = 7,
                .batch = batch,
                .input = 9,
                .hidden = hidden,
                .lens = true,
                .init = true,
                .peep = true,
                .clip = 1.5,
                .acts = {kSigmoid, kTanh, kTanh}};
      check_rnn(c, make_node("LSTM", 8, 3), static_cast<uint32_t>(40 + batch + hidden));
      RnnCase b{.op = "LSTM",
                .dirs = 2,
                .seq = 5,
                .batch = batch,
                .input = 4,
                .hidden = hidden,
                .input_forget = true,
                .acts = {kSigmoid, kTanh, kSigmoid, kTanh, kTanh, kTanh}};
      Node n = make_node("LSTM", 3, 3);
      n.attrs["activations"].value =
          std::vector<std::string>{"Sigmoid", "Tanh", "Sigmoid", "Tanh", "Tanh", "Tanh"};
      n.attrs["input_forget"].value = int64_t{1};
      check_rnn(b, n, static_cast<uint32_t>(60 + batch + hidden), /*batch_first=*/true);
    }
  }
}

TEST(Rnn, BatchRowBlocksOnThreadsMatchReferenceAndOneThread) {
  // Large enough that the batch rows are split among the threads (each block runs every
  // step): results match the reference and are bitwise those of one thread, with varying
  // sequence lengths, both directions and GRU's second product.
  const int saved = num_threads();
  for (const std::string op : {"LSTM", "GRU", "RNN"}) {
    SCOPED_TRACE(op);
    const int g = gates_of(op);
    RnnCase c{.op = op,
              .dirs = 2,
              .seq = 20,
              .batch = 7,
              .input = 5,
              .hidden = 70,
              .lens = true,
              .init = true};
    for (int d = 0; d < 2; ++d) {
      if (op == "LSTM") c.acts.insert(c.acts.end(), {kSigmoid, kTanh, kTanh});
      if (op == "GRU") c.acts.insert(c.acts.end(), {kSigmoid, kTanh});
      if (op == "RNN") c.acts.push_back(kTanh);
    }
    const size_t n_in = op == "LSTM" ? 7 : 6, n_out = op == "LSTM" ? 3 : 2;
    set_num_threads(2);
    check_rnn(c, make_node(op, n_in, n_out), 90);
    std::mt19937 rng(91);
    RnnData d = make_data(c, rng);
    const int64_t S = c.seq, B = c.batch, H = c.hidden;
    Tensor x = Tensor::from_vector<float>({S, B, c.input}, d.x);
    Tensor w = Tensor::from_vector<float>({2, g * H, c.input}, d.w);
    Tensor r = Tensor::from_vector<float>({2, g * H, H}, d.r);
    Tensor b = Tensor::from_vector<float>({2, 2 * g * H}, d.b);
    Tensor lens = Tensor::from_vector<int32_t>({B}, d.lens);
    Tensor h0 = Tensor::from_vector<float>({2, B, H}, d.h0);
    Node n = make_node(op, 6, n_out);
    n.attrs["hidden_size"].value = H;
    n.attrs["direction"].value = std::string("bidirectional");
    std::vector<Tensor> out[2];
    for (int t = 0; t < 2; ++t) {
      set_num_threads(t + 1);
      out[t] = run_op(n, {&x, &w, &r, &b, &lens, &h0});
    }
    for (size_t o = 0; o < out[0].size(); ++o)
      for (int64_t i = 0; i < out[0][o].numel(); ++i)
        ASSERT_EQ(out[0][o].data<float>()[i], out[1][o].data<float>()[i]) << "output " << o;
  }
  set_num_threads(saved);
}

TEST(VMath, SigmoidAndTanhArraysMatchLibmAcrossTheRange) {
  // Every float step of 1/1024 over [-100, 100] plus the extremes; absolute error at most
  // 3e-7 (tanh near 0 and sigmoid of large negatives are small: relative error 1e-6 there).
  std::vector<float> x;
  for (int i = -102400; i <= 102400; ++i) x.push_back(static_cast<float>(i) / 1024.0f);
  for (float v : {1e-30f, -1e-30f, 1e-7f, -3e-5f, 0.2499f, 0.25f, -0.25f, 88.0f, -88.0f, 1e30f,
                  -1e30f, std::numeric_limits<float>::max(), -std::numeric_limits<float>::max()})
    x.push_back(v);
  std::vector<float> s = x, t = x;
  ops::sigmoid_array(s.data(), static_cast<int64_t>(s.size()));
  ops::tanh_array(t.data(), static_cast<int64_t>(t.size()));
  for (size_t i = 0; i < x.size(); ++i) {
    const double v = x[i];
    const double ws = 1.0 / (1.0 + std::exp(-v)), wt = std::tanh(v);
    ASSERT_LE(std::fabs(s[i] - ws), std::max(3e-7 * 1.0, 1e-6 * ws)) << "sigmoid(" << v << ")";
    ASSERT_LE(std::fabs(t[i] - wt), std::min(3e-7, std::max(1e-6 * std::fabs(wt), 1e-38)))
        << "tanh(" << v << ")";
    ASSERT_GE(s[i], 0.0f);
    ASSERT_LE(s[i], 1.0f);
    ASSERT_LE(std::fabs(t[i]), 1.0f);
  }
  std::vector<float> nan{std::numeric_limits<float>::quiet_NaN()};
  ops::tanh_array(nan.data(), 1);
  EXPECT_TRUE(std::isnan(nan[0]));
}

TEST(Gru, DefaultsAndLinearBeforeReset) {
  RnnCase c{.op = "GRU", .acts = {kSigmoid, kTanh}};
  check_rnn(c, make_node("GRU", 3, 2), 21);
  c.lbr = true;
  Node n = make_node("GRU", 3, 2);
  n.attrs["linear_before_reset"].value = int64_t{1};
  check_rnn(c, n, 22);
}

TEST(Gru, BidirectionalBatchFirstWithLensAndInitialState) {
  RnnCase c{.op = "GRU",
            .dirs = 2,
            .lens = true,
            .init = true,
            .lbr = true,
            .acts = {kSigmoid, kTanh, kSigmoid, kTanh}};
  Node n = make_node("GRU", 6, 2);
  n.attrs["linear_before_reset"].value = int64_t{1};
  check_rnn(c, n, 23, true);
  c.lbr = false;
  c.bias = false;
  check_rnn(c, make_node("GRU", 6, 2), 24, false);
}

TEST(Rnn, ForwardReverseAndBidirectional) {
  RnnCase c{.op = "RNN", .acts = {kTanh}};
  check_rnn(c, make_node("RNN", 3, 2), 31);
  RnnCase rc{
      .op = "RNN", .reverse = true, .lens = true, .init = true, .clip = 0.5, .acts = {kRelu}};
  Node n = make_node("RNN", 6, 2);
  n.attrs["activations"].value = std::vector<std::string>{"Relu"};
  check_rnn(rc, n, 32);
  RnnCase bc{.op = "RNN", .dirs = 2, .init = true, .acts = {kTanh, kSigmoid}};
  Node bn = make_node("RNN", 6, 2);
  bn.attrs["activations"].value = std::vector<std::string>{"Tanh", "Sigmoid"};
  check_rnn(bc, bn, 33, true);
}

TEST(Rnn, OmittedOutputsAndMacs) {
  std::mt19937 rng(3);
  Tensor x = Tensor::from_vector<float>({2, 1, 3}, random_floats(6, rng));
  Tensor w = Tensor::from_vector<float>({1, 16, 3}, random_floats(48, rng));
  Tensor r = Tensor::from_vector<float>({1, 16, 4}, random_floats(64, rng));
  Node n = make_node("LSTM", 3, 2);
  n.outputs[0].clear();  // only Y_h
  auto out = run_op(n, {&x, &w, &r});
  EXPECT_TRUE(out[0].empty());
  EXPECT_EQ(out[1].shape(), (Shape{1, 1, 4}));
  ValueInfo xi = info(DType::f32, {2, 1, 3}), wi = info(DType::f32, {1, 16, 3}),
            ri = info(DType::f32, {1, 16, 4});
  CostContext cc{n, {&xi, &wi, &ri}, {}};
  // 2 steps x 1 batch x (16x3 + 16x4) multiply-accumulates.
  EXPECT_EQ(find_op("LSTM")->macs(cc), 2 * (48 + 64));
}

TEST(Rnn, BadShapesAndAttributesAreUserErrors) {
  ValueInfo xi = info(DType::f32, {2, 1, 3}), wi = info(DType::f32, {1, 12, 3}),
            ri = info(DType::f32, {1, 16, 4});
  std::string msg;
  EXPECT_EQ(error_kind_of(
                [&] {
                  infer_op(make_node("LSTM", 3, 3), {&xi, &wi, &ri});
                },
                &msg),
            ErrorKind::shape);
  EXPECT_NE(msg.find("[1,12,3]"), std::string::npos) << msg;
  Node bad_dir = make_node("GRU", 3, 2);
  bad_dir.attrs["direction"].value = std::string("sideways");
  ValueInfo wg = info(DType::f32, {1, 12, 3}), rg = info(DType::f32, {1, 12, 4});
  EXPECT_EQ(error_kind_of([&] { infer_op(bad_dir, {&xi, &wg, &rg}); }), ErrorKind::invalid);
  Node bad_act = make_node("RNN", 3, 2);
  bad_act.attrs["activations"].value = std::vector<std::string>{"Gelu"};
  ValueInfo wr = info(DType::f32, {1, 4, 3}), rr = info(DType::f32, {1, 4, 4});
  EXPECT_EQ(error_kind_of([&] { infer_op(bad_act, {&xi, &wr, &rr}); }), ErrorKind::unsupported);
  // sequence_lens beyond the sequence length.
  Tensor x(DType::f32, {2, 1, 3}), w(DType::f32, {1, 4, 3}), r(DType::f32, {1, 4, 4});
  Tensor lens = Tensor::from_vector<int32_t>({1}, {5});
  EXPECT_EQ(error_kind_of([&] {
              run_op(make_node("RNN", 5, 2), {&x, &w, &r, nullptr, &lens});
            }),
            ErrorKind::invalid);
}

}  // namespace
}  // namespace acim::ops
