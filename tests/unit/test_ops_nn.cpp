// The neural-network kernels (conv, gemm/matmul, pools, normalisations, softmax) against
// explicit naive scalar references computed in double, on seeded random inputs.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "acim/executor.hpp"
#include "acim/onnx.hpp"
#include "acim/passes.hpp"
#include "acim/threads.hpp"
#include "ops/op.hpp"



namespace acim {
namespace {

using Attrs = std::map<std::string, Attribute>;

Attribute ai(int64_t v) { return Attribute{v}; }
Attribute af(float v) { return Attribute{v}; }
Attribute as(const std::string& v) { return Attribute{v}; }
Attribute ais(std::vector<int64_t> v) { return Attribute{std::move(v)}; }

Node make_node(const std::string& op, const std::vector<const Tensor*>& inputs, const Attrs& attrs,
               size_t n_outputs) {
  Node node;
  node.name = "n";
  node.op_type = op;
  for (size_t i = 0; i < inputs.size(); ++i)
    node.inputs.push_back(inputs[i] ? "in" + std::to_string(i) : "");
  for (size_t i = 0; i < n_outputs; ++i) node.outputs.push_back("out" + std::to_string(i));
  node.attrs = attrs;
  return node;
}

// Runs shape inference and the kernel of one op; checks that both agree on the outputs.
std::vector<Tensor> run_op(const std::string& op, const std::vector<const Tensor*>& inputs,
                           const Attrs& attrs = {}, size_t n_outputs = 1) {
  const ops::OpDef* def = ops::find_op(op);
  EXPECT_NE(def, nullptr) << op;
  if (!def) return {};
  Node node = make_node(op, inputs, attrs, n_outputs);
  std::vector<ValueInfo> infos(inputs.size());
  ops::InferContext ictx{node, "test", {}, {}};
  for (size_t i = 0; i < inputs.size(); ++i) {
    ops::InferInput ii;
    if (inputs[i]) {
      infos[i] = ValueInfo{node.inputs[i], inputs[i]->dtype(), inputs[i]->shape(), true};
      ii.info = &infos[i];
    }
    ictx.inputs.push_back(ii);
  }
  for (const auto& o : node.outputs) ictx.outputs.push_back(ValueInfo{o, DType::f32, {}, false});
  def->infer(ictx);
  ops::RunContext rctx{node, "test", inputs, std::vector<Tensor>(n_outputs)};
  def->run(rctx);
  for (size_t i = 0; i < n_outputs; ++i) {
    if (rctx.outputs[i].empty()) continue;
    EXPECT_TRUE(ictx.outputs[i].shape_known) << op << " output " << i;
    EXPECT_EQ(ictx.outputs[i].shape, rctx.outputs[i].shape()) << op << " output " << i;
    EXPECT_EQ(ictx.outputs[i].dtype, rctx.outputs[i].dtype()) << op << " output " << i;
  }
  return rctx.outputs;
}

// Expects an acim::Error of `kind` from inference or running, with `text` in its message.
void expect_error(const std::string& op, const std::vector<const Tensor*>& inputs,
                  const Attrs& attrs, ErrorKind kind, const std::string& text,
                  size_t n_outputs = 1) {
  try {
    run_op(op, inputs, attrs, n_outputs);
    ADD_FAILURE() << "expected an error from " << op;
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), kind) << e.what();
    EXPECT_NE(std::string(e.what()).find(text), std::string::npos) << e.what();
  }
}

Tensor random_tensor(Shape shape, uint32_t seed, float lo = -1.0f, float hi = 1.0f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  Tensor t(DType::f32, std::move(shape));
  for (float& v : t.span<float>()) v = dist(rng);
  return t;
}

void expect_close(const Tensor& got, const Shape& shape, const std::vector<double>& want,
                  double rel_tol = 1e-4) {
  ASSERT_EQ(got.shape(), shape);
  ASSERT_EQ(static_cast<size_t>(got.numel()), want.size());
  const float* g = got.data<float>();
  int bad = 0;
  for (size_t i = 0; i < want.size() && bad < 5; ++i) {
    const double tol = rel_tol * std::max(1.0, std::fabs(want[i]));
    if (!(std::fabs(g[i] - want[i]) <= tol)) {
      ADD_FAILURE() << "element " << i << ": got " << g[i] << ", want " << want[i];
      ++bad;
    }
  }
}

// ---- naive references (spatial dims padded to 3 with leading 1s) ----

struct Geo {
  std::vector<int64_t> in, k, s, d, pb, pe;  // per spatial dim
  std::vector<int64_t> out() const {
    std::vector<int64_t> o;
    for (size_t i = 0; i < in.size(); ++i)
      o.push_back((in[i] + pb[i] + pe[i] - ((k[i] - 1) * d[i] + 1)) / s[i] + 1);
    return o;
  }
};

std::vector<int64_t> pad3(std::vector<int64_t> v, int64_t fill) {
  while (v.size() < 3) v.insert(v.begin(), fill);
  return v;
}

// Naive convolution: every output element sums over its input channels and kernel positions.
std::vector<double> conv_ref(const Tensor& x, const Tensor& w, const Tensor* b, int64_t group,
                             const Geo& g, std::vector<int64_t> out_sp) {
  const int64_t n = x.dim(0), c = x.dim(1), m = w.dim(0), cg = c / group, mg = m / group;
  auto in = pad3(g.in, 1), k = pad3(g.k, 1), s = pad3(g.s, 1), d = pad3(g.d, 1),
       pb = pad3(g.pb, 0), o = pad3(out_sp, 1);
  const float* xd = x.data<float>();
  const float* wd = w.data<float>();
  std::vector<double> y;
  for (int64_t ni = 0; ni < n; ++ni)
    for (int64_t mi = 0; mi < m; ++mi)
      for (int64_t o0 = 0; o0 < o[0]; ++o0)
        for (int64_t o1 = 0; o1 < o[1]; ++o1)
          for (int64_t o2 = 0; o2 < o[2]; ++o2) {
            double acc = b ? b->data<float>()[mi] : 0.0;
            const int64_t gi = mi / mg;
            for (int64_t ci = 0; ci < cg; ++ci)
              for (int64_t k0 = 0; k0 < k[0]; ++k0)
                for (int64_t k1 = 0; k1 < k[1]; ++k1)
                  for (int64_t k2 = 0; k2 < k[2]; ++k2) {
                    int64_t i0 = o0 * s[0] - pb[0] + k0 * d[0];
                    int64_t i1 = o1 * s[1] - pb[1] + k1 * d[1];
                    int64_t i2 = o2 * s[2] - pb[2] + k2 * d[2];
                    if (i0 < 0 || i0 >= in[0] || i1 < 0 || i1 >= in[1] || i2 < 0 || i2 >= in[2])
                      continue;
                    const int64_t xc = gi * cg + ci;
                    double xv = xd[(((ni * c + xc) * in[0] + i0) * in[1] + i1) * in[2] + i2];
                    double wv = wd[(((mi * cg + ci) * k[0] + k0) * k[1] + k1) * k[2] + k2];
                    acc += xv * wv;
                  }
            y.push_back(acc);
          }
  return y;
}

struct ConvCase {
  Shape x;  // N, C, spatial...
  int64_t m, group;
  std::vector<int64_t> k, s, d, pb, pe;
  bool bias;
};

// A case's random X, W and bias, its attributes, geometry and output shape.
struct ConvSetup {
  Tensor x, w, b;
  Attrs attrs;
  Geo g;
  Shape ys;
};

ConvSetup conv_setup(const ConvCase& cc, uint32_t seed) {
  Shape ws{cc.m, cc.x[1] / cc.group};
  ws.insert(ws.end(), cc.k.begin(), cc.k.end());
  std::vector<int64_t> pads = cc.pb;
  pads.insert(pads.end(), cc.pe.begin(), cc.pe.end());
  ConvSetup c{random_tensor(cc.x, seed),
              random_tensor(ws, seed + 1),
              random_tensor({cc.m}, seed + 2),
              {{"group", ai(cc.group)},
               {"strides", ais(cc.s)},
               {"dilations", ais(cc.d)},
               {"pads", ais(pads)},
               {"kernel_shape", ais(cc.k)}},
              Geo{Shape(cc.x.begin() + 2, cc.x.end()), cc.k, cc.s, cc.d, cc.pb, cc.pe},
              Shape{cc.x[0], cc.m}};
  for (int64_t o : c.g.out()) c.ys.push_back(o);
  return c;
}

void check_conv(const ConvCase& cc, uint32_t seed) {
  SCOPED_TRACE("conv X " + shape_str(cc.x) + " M " + std::to_string(cc.m) + " group " +
               std::to_string(cc.group));
  const ConvSetup c = conv_setup(cc, seed);
  const Tensor* b = cc.bias ? &c.b : nullptr;
  auto out = run_op("Conv", {&c.x, &c.w, b}, c.attrs);
  expect_close(out[0], c.ys, conv_ref(c.x, c.w, b, cc.group, c.g, c.g.out()));
}

TEST(OpsConv, MatchesNaiveReference2D) {
  const std::vector<ConvCase> cases = {
      // 3x3 pad 1 (ResNet-style), with and without bias.
      {{1, 3, 8, 8}, 4, 1, {3, 3}, {1, 1}, {1, 1}, {1, 1}, {1, 1}, true},
      {{2, 5, 7, 9}, 6, 1, {3, 3}, {1, 1}, {1, 1}, {1, 1}, {1, 1}, false},
      // 1x1 stride 1 (the sgemm fast path).
      {{2, 8, 5, 5}, 16, 1, {1, 1}, {1, 1}, {1, 1}, {0, 0}, {0, 0}, true},
      // 1x1 stride 2 (not the fast path).
      {{1, 8, 7, 7}, 4, 1, {1, 1}, {2, 2}, {1, 1}, {0, 0}, {0, 0}, true},
      // stride 2 along a wide row (im2col's two-load permute, several vectors per row).
      {{1, 2, 9, 70}, 3, 1, {3, 3}, {2, 2}, {1, 1}, {1, 1}, {1, 0}, true},
      {{1, 2, 5, 41}, 3, 1, {2, 4}, {1, 2}, {1, 2}, {0, 3}, {1, 2}, false},
      // strides, asymmetric pads, odd sizes.
      {{2, 3, 11, 13}, 5, 1, {3, 5}, {2, 3}, {1, 1}, {0, 2}, {1, 1}, true},
      // dilation.
      {{1, 4, 12, 10}, 3, 1, {3, 3}, {1, 1}, {2, 3}, {2, 1}, {2, 3}, true},
      // groups.
      {{2, 6, 9, 9}, 4, 2, {3, 3}, {1, 2}, {1, 1}, {1, 1}, {1, 0}, true},
      // depthwise (group == C == M), with stride 1 and 2 and dilation.
      {{2, 8, 10, 9}, 8, 8, {3, 3}, {1, 1}, {1, 1}, {1, 1}, {1, 1}, true},
      {{1, 5, 11, 12}, 5, 5, {3, 3}, {2, 2}, {1, 1}, {1, 0}, {0, 1}, true},
      {{1, 4, 9, 9}, 4, 4, {3, 2}, {1, 1}, {2, 2}, {2, 0}, {1, 3}, false},
      // DS-CNN first layer: 10x4 kernel stride 2 on 49x10.
      {{1, 1, 49, 10}, 8, 1, {10, 4}, {2, 2}, {1, 1}, {4, 1}, {5, 2}, true},
      // depthwise with a channel multiplier (general path).
      {{1, 3, 6, 6}, 6, 3, {3, 3}, {1, 1}, {1, 1}, {1, 1}, {1, 1}, true},
  };
  uint32_t seed = 1;
  for (const auto& c : cases) check_conv(c, seed += 10);
}

TEST(OpsConv, MatchesNaiveReference1DAnd3D) {
  const std::vector<ConvCase> cases = {
      {{2, 3, 17}, 4, 1, {5}, {2}, {1}, {2}, {1}, true},
      {{1, 6, 20}, 6, 6, {3}, {1}, {3}, {3}, {3}, true},  // depthwise 1-D, dilated
      {{1, 4, 13}, 2, 2, {1}, {1}, {1}, {0}, {0}, false},
      {{1, 2, 5, 6, 7}, 3, 1, {3, 2, 3}, {1, 2, 1}, {1, 1, 2}, {1, 0, 2}, {1, 1, 0}, true},
      {{2, 4, 4, 5, 5}, 4, 4, {2, 3, 3}, {1, 1, 2}, {1, 1, 1}, {0, 1, 1}, {1, 1, 1}, true},
  };
  uint32_t seed = 500;
  for (const auto& c : cases) check_conv(c, seed += 10);
}

TEST(OpsConv, AutoPadSameAndValid) {
  Tensor x = random_tensor({1, 2, 7, 8}, 3), w = random_tensor({3, 2, 3, 4}, 4);
  // SAME_UPPER, stride 2: out = ceil(in / 2) = [4, 4]; total pad = (4-1)*2 + k - in = [2, 2],
  // split begin = total/2 for UPPER, the larger half first for LOWER.
  struct Case {
    std::string mode;
    std::vector<int64_t> pb, pe;
  };
  for (const Case& c : {Case{"SAME_UPPER", {1, 1}, {1, 1}}, Case{"SAME_LOWER", {1, 1}, {1, 1}},
                        Case{"VALID", {0, 0}, {0, 0}}}) {
    SCOPED_TRACE(c.mode);
    auto out = run_op("Conv", {&x, &w}, {{"auto_pad", as(c.mode)}, {"strides", ais({2, 2})}});
    Geo g{{7, 8}, {3, 4}, {2, 2}, {1, 1}, c.pb, c.pe};
    expect_close(out[0], {1, 3, g.out()[0], g.out()[1]}, conv_ref(x, w, nullptr, 1, g, g.out()));
  }
  // Odd total padding: stride 1, kernel 4 on width 8: total 3 -> UPPER (1, 2), LOWER (2, 1).
  Tensor w4 = random_tensor({2, 2, 1, 4}, 5);
  for (const Case& c : {Case{"SAME_UPPER", {0, 1}, {0, 2}}, Case{"SAME_LOWER", {0, 2}, {0, 1}}}) {
    SCOPED_TRACE(c.mode);
    auto out = run_op("Conv", {&x, &w4}, {{"auto_pad", as(c.mode)}});
    Geo g{{7, 8}, {1, 4}, {1, 1}, {1, 1}, c.pb, c.pe};
    ASSERT_EQ(g.out(), (std::vector<int64_t>{7, 8}));
    expect_close(out[0], {1, 2, 7, 8}, conv_ref(x, w4, nullptr, 1, g, g.out()));
  }
}

TEST(OpsConv, ResultsDoNotDependOnThreadCount) {
  // The kernels split work into blocks that depend on the shape only and run each block with a
  // single-threaded BLAS call. OpenBLAS's own threading is not reproducible across thread
  // counts, so it is held at one thread here (acim::set_num_threads also sets it).
  Tensor x = random_tensor({3, 16, 20, 20}, 7), w = random_tensor({32, 16, 3, 3}, 8),
         dw = random_tensor({16, 1, 3, 3}, 9), a2 = random_tensor({64, 300}, 10),
         b2 = random_tensor({300, 200}, 11);
  Attrs attrs{{"pads", ais({1, 1, 1, 1})}};
  Attrs dattrs{{"pads", ais({1, 1, 1, 1})}, {"group", ai(16)}};
  const int saved = num_threads();
  std::vector<Tensor> r[2];
  for (int t = 0; t < 2; ++t) {
    set_num_threads(t + 1);
    r[t] = {run_op("Conv", {&x, &w}, attrs)[0], run_op("Conv", {&x, &dw}, dattrs)[0],
            run_op("Gemm", {&a2, &b2})[0]};
  }
  set_num_threads(saved);
  for (size_t k = 0; k < r[0].size(); ++k)
    for (int64_t i = 0; i < r[0][k].numel(); ++i)
      ASSERT_EQ(r[0][k].data<float>()[i], r[1][k].data<float>()[i]) << "result " << k;
}

TEST(OpsConv, NarrowStride1Planes) {
  // Stride-1 convs on small planes, where the padded-pitch grid would waste over a quarter of
  // the GEMM: rows of up to 16 floats go through the decimated-rows path, wider ones through
  // taps packed per 32 output positions or the grid (each path on its own:
  // test_conv_speed_paths.cpp). Dilation, 5x5, partial row tiles; each against the naive
  // reference at 1 and 2 threads, and the same bits at both.
  const std::vector<ConvCase> cases = {
      {{4, 12, 8, 8}, 20, 1, {3, 3}, {1, 1}, {1, 1}, {1, 1}, {1, 1}, true},
      {{4, 7, 10, 5}, 9, 1, {3, 3}, {1, 1}, {1, 1}, {1, 1}, {1, 1}, false},
      {{5, 6, 9, 6}, 16, 1, {3, 3}, {1, 1}, {2, 2}, {2, 2}, {2, 2}, true},
      {{4, 4, 8, 8}, 8, 2, {5, 5}, {1, 1}, {1, 1}, {2, 2}, {2, 2}, true},
      {{1, 12, 8, 8}, 20, 1, {3, 3}, {1, 1}, {1, 1}, {1, 1}, {1, 1}, true},
  };
  const int saved = num_threads();
  uint32_t seed = 1500;
  for (const auto& cc : cases) {
    seed += 10;
    SCOPED_TRACE("conv X " + shape_str(cc.x) + " kernel " + shape_str(cc.k));
    Shape ws{cc.m, cc.x[1] / cc.group};
    ws.insert(ws.end(), cc.k.begin(), cc.k.end());
    Tensor x = random_tensor(cc.x, seed), w = random_tensor(ws, seed + 1),
           b = random_tensor({cc.m}, seed + 2);
    std::vector<int64_t> pads = cc.pb;
    pads.insert(pads.end(), cc.pe.begin(), cc.pe.end());
    Attrs attrs{{"group", ai(cc.group)}, {"strides", ais(cc.s)}, {"dilations", ais(cc.d)},
                {"pads", ais(pads)}, {"kernel_shape", ais(cc.k)}};
    Geo g{Shape(cc.x.begin() + 2, cc.x.end()), cc.k, cc.s, cc.d, cc.pb, cc.pe};
    Shape ys{cc.x[0], cc.m};
    for (int64_t o : g.out()) ys.push_back(o);
    const std::vector<double> want = conv_ref(x, w, cc.bias ? &b : nullptr, cc.group, g, g.out());
    Tensor y[2];
    for (int t = 0; t < 2; ++t) {
      set_num_threads(t + 1);
      y[t] = run_op("Conv", {&x, &w, cc.bias ? &b : nullptr}, attrs)[0];
      expect_close(y[t], ys, want);
    }
    set_num_threads(saved);
    for (int64_t i = 0; i < y[0].numel(); ++i)
      ASSERT_EQ(y[0].data<float>()[i], y[1].data<float>()[i]) << "element " << i;
  }
}

TEST(OpsConv, ShapeErrorsNameTheShapes) {
  Tensor x = random_tensor({1, 3, 8, 8}, 1), w = random_tensor({4, 2, 3, 3}, 2);
  expect_error("Conv", {&x, &w}, {}, ErrorKind::shape, "[1,3,8,8]");
  Tensor w3 = random_tensor({4, 3, 3}, 2);
  expect_error("Conv", {&x, &w3}, {}, ErrorKind::shape, "rank");
  Tensor wok = random_tensor({4, 3, 3, 3}, 2), bad_b = random_tensor({5}, 3);
  expect_error("Conv", {&x, &wok, &bad_b}, {}, ErrorKind::shape, "B");
  Tensor big = random_tensor({4, 3, 9, 9}, 2);
  expect_error("Conv", {&x, &big}, {}, ErrorKind::shape, "kernel");
  Tensor xi(DType::i32, {1, 3, 8, 8});
  expect_error("Conv", {&xi, &wok}, {}, ErrorKind::unsupported, "int32");
  expect_error("Conv", {&x, &wok}, {{"auto_pad", as("SAME")}}, ErrorKind::invalid, "SAME");
}

TEST(OpsConv, MacsCountEveryMultiplyAccumulate) {
  const ops::OpDef* def = ops::find_op("Conv");
  ASSERT_NE(def, nullptr);
  Node node = make_node("Conv", {}, {{"group", ai(2)}}, 1);
  ValueInfo x{"x", DType::f32, {2, 8, 10, 10}, true}, w{"w", DType::f32, {6, 4, 3, 3}, true},
      y{"y", DType::f32, {2, 6, 8, 8}, true};
  ops::CostContext c{node, {&x, &w}, {&y}};
  EXPECT_EQ(def->macs(c), 2 * 6 * 8 * 8 * 4 * 3 * 3);
}

// ---- Gemm / MatMul ----

std::vector<double> matmul2d_ref(const float* a, const float* b, int64_t m, int64_t n, int64_t k,
                                 bool ta, bool tb) {
  std::vector<double> y(static_cast<size_t>(m * n), 0.0);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      double acc = 0.0;
      for (int64_t p = 0; p < k; ++p)
        acc += static_cast<double>(ta ? a[p * m + i] : a[i * k + p]) *
               (tb ? b[j * k + p] : b[p * n + j]);
      y[static_cast<size_t>(i * n + j)] = acc;
    }
  return y;
}

TEST(OpsGemm, MatchesNaiveReferenceWithTransposesAndBroadcastC) {
  struct Case {
    int64_t m, n, k;
    bool ta, tb;
    Shape c;  // empty: no C
    float alpha, beta;
  };
  const std::vector<Case> cases = {
      {3, 5, 7, false, false, {}, 1.0f, 1.0f},
      {4, 6, 5, true, false, {6}, 0.5f, 2.0f},
      {4, 6, 5, false, true, {4, 1}, 1.0f, -1.0f},
      {7, 3, 9, true, true, {7, 3}, 1.5f, 0.25f},
      {2, 9, 3, false, true, {1, 9}, 1.0f, 1.0f},
      {5, 4, 6, false, false, {1}, 1.0f, 3.0f},
      {1, 10, 64, false, true, {10}, 1.0f, 1.0f},  // an MLP layer at batch 1
      {6, 4, 3, false, false, {6, 4}, 1.0f, 0.0f},  // beta 0 ignores C
  };
  uint32_t seed = 100;
  for (const auto& c : cases) {
    SCOPED_TRACE("m " + std::to_string(c.m) + " n " + std::to_string(c.n));
    Tensor a = random_tensor(c.ta ? Shape{c.k, c.m} : Shape{c.m, c.k}, seed++);
    Tensor b = random_tensor(c.tb ? Shape{c.n, c.k} : Shape{c.k, c.n}, seed++);
    Tensor cc = random_tensor(c.c, seed++);
    Attrs attrs{{"transA", ai(c.ta)}, {"transB", ai(c.tb)}, {"alpha", af(c.alpha)},
                {"beta", af(c.beta)}};
    auto out = run_op("Gemm", {&a, &b, c.c.empty() ? nullptr : &cc}, attrs);
    std::vector<double> want =
        matmul2d_ref(a.data<float>(), b.data<float>(), c.m, c.n, c.k, c.ta, c.tb);
    for (int64_t i = 0; i < c.m; ++i)
      for (int64_t j = 0; j < c.n; ++j) {
        double& v = want[static_cast<size_t>(i * c.n + j)];
        v *= c.alpha;
        if (c.c.empty()) continue;
        int64_t ci = 0;
        if (c.c.size() == 2) ci = (c.c[0] == 1 ? 0 : i) * c.c[1] + (c.c[1] == 1 ? 0 : j);
        if (c.c.size() == 1) ci = c.c[0] == 1 ? 0 : j;
        v += static_cast<double>(c.beta) * cc.data<float>()[ci];
      }
    expect_close(out[0], {c.m, c.n}, want);
  }
}

TEST(OpsGemm, ShapeErrors) {
  Tensor a = random_tensor({3, 4}, 1), b = random_tensor({5, 6}, 2), c = random_tensor({2, 6}, 3);
  expect_error("Gemm", {&a, &b}, {}, ErrorKind::shape, "[5,6]");
  Tensor b2 = random_tensor({4, 6}, 2);
  expect_error("Gemm", {&a, &b2, &c}, {}, ErrorKind::shape, "broadcast");
  Tensor a3 = random_tensor({1, 3, 4}, 1);
  expect_error("Gemm", {&a3, &b2}, {}, ErrorKind::shape, "2-D");
}

TEST(OpsMatMul, BatchBroadcastAndOneDPromotion) {
  struct Case {
    Shape a, b, y;
  };
  const std::vector<Case> cases = {
      {{3, 4}, {4, 5}, {3, 5}},
      {{2, 3, 4}, {4, 5}, {2, 3, 5}},          // shared B (one big sgemm)
      {{4}, {4, 5}, {5}},                       // 1-D A
      {{3, 4}, {4}, {3}},                       // 1-D B
      {{4}, {4}, {}},                           // dot product
      {{2, 1, 3, 4}, {3, 4, 2}, {2, 3, 3, 2}},  // batch broadcast both ways
      {{5, 4}, {2, 4, 3}, {2, 5, 3}},           // shared A
      {{2, 3, 4}, {2, 4, 1}, {2, 3, 1}},
  };
  uint32_t seed = 200;
  for (const auto& c : cases) {
    SCOPED_TRACE(shape_str(c.a) + " x " + shape_str(c.b));
    Tensor a = random_tensor(c.a, seed++), b = random_tensor(c.b, seed++);
    auto out = run_op("MatMul", {&a, &b});
    // Reference: promote, broadcast batch dims explicitly, multiply per batch element.
    Shape a2 = c.a, b2 = c.b;
    if (a2.size() == 1) a2.insert(a2.begin(), 1);
    if (b2.size() == 1) b2.push_back(1);
    const int64_t m = a2[a2.size() - 2], k = a2.back(), n = b2.back();
    size_t nb = std::max(a2.size(), b2.size()) - 2;
    Shape ab(a2.begin(), a2.end() - 2), bb(b2.begin(), b2.end() - 2);
    while (ab.size() < nb) ab.insert(ab.begin(), 1);
    while (bb.size() < nb) bb.insert(bb.begin(), 1);
    Shape batch(nb);
    for (size_t i = 0; i < nb; ++i) batch[i] = std::max(ab[i], bb[i]);
    std::vector<double> want;
    for (int64_t bi = 0; bi < shape_numel(batch); ++bi) {
      int64_t rem = bi, aoff = 0, boff = 0, astr = 1, bstr = 1;
      for (size_t d = nb; d-- > 0;) {
        int64_t coord = rem % batch[d];
        rem /= batch[d];
        aoff += (ab[d] == 1 ? 0 : coord) * astr;
        boff += (bb[d] == 1 ? 0 : coord) * bstr;
        astr *= ab[d];
        bstr *= bb[d];
      }
      auto part = matmul2d_ref(a.data<float>() + aoff * m * k, b.data<float>() + boff * k * n, m,
                               n, k, false, false);
      want.insert(want.end(), part.begin(), part.end());
    }
    expect_close(out[0], c.y, want);
  }
}

TEST(OpsMatMul, Int64AndErrors) {
  Tensor a = Tensor::from_vector<int64_t>({2, 2}, {1, 2, 3, 4});
  Tensor b = Tensor::from_vector<int64_t>({2, 1}, {5, 6});
  auto out = run_op("MatMul", {&a, &b});
  EXPECT_EQ(out[0].to_int64s(), (std::vector<int64_t>{17, 39}));
  Tensor x = random_tensor({3, 4}, 1), y = random_tensor({5, 2}, 2);
  expect_error("MatMul", {&x, &y}, {}, ErrorKind::shape, "[5,2]");
  Tensor p = random_tensor({2, 3, 4}, 1), q = random_tensor({3, 4, 2}, 2);
  expect_error("MatMul", {&p, &q}, {}, ErrorKind::shape, "broadcast");
}

// ---- Pools ----

// Naive pooling over explicit windows; with count_include_pad every window position counts
// (padding and ceil-mode overhang alike), as in the ONNX backend tests.
std::vector<double> pool_ref(const Tensor& x, bool is_max, bool include_pad, const Geo& g,
                             std::vector<int64_t> out_sp, std::vector<int64_t>* indices = nullptr,
                             bool col_major = false) {
  const int64_t nc = x.dim(0) * x.dim(1);
  auto in = pad3(g.in, 1), k = pad3(g.k, 1), s = pad3(g.s, 1), d = pad3(g.d, 1),
       pb = pad3(g.pb, 0), o = pad3(out_sp, 1);
  const float* xd = x.data<float>();
  const int64_t isz = in[0] * in[1] * in[2];
  std::vector<double> y;
  for (int64_t p = 0; p < nc; ++p)
    for (int64_t o0 = 0; o0 < o[0]; ++o0)
      for (int64_t o1 = 0; o1 < o[1]; ++o1)
        for (int64_t o2 = 0; o2 < o[2]; ++o2) {
          double best = -INFINITY, sum = 0.0;
          int64_t count = 0, padded_count = 0, best_at = 0;
          for (int64_t k0 = 0; k0 < k[0]; ++k0)
            for (int64_t k1 = 0; k1 < k[1]; ++k1)
              for (int64_t k2 = 0; k2 < k[2]; ++k2) {
                int64_t i0 = o0 * s[0] - pb[0] + k0 * d[0];
                int64_t i1 = o1 * s[1] - pb[1] + k1 * d[1];
                int64_t i2 = o2 * s[2] - pb[2] + k2 * d[2];
                ++padded_count;
                if (i0 < 0 || i0 >= in[0] || i1 < 0 || i1 >= in[1] || i2 < 0 || i2 >= in[2])
                  continue;
                double v = xd[p * isz + (i0 * in[1] + i1) * in[2] + i2];
                if (v > best) {
                  best = v;
                  best_at = col_major ? i0 + i1 * in[0] + i2 * in[0] * in[1]
                                      : (i0 * in[1] + i1) * in[2] + i2;
                }
                sum += v;
                ++count;
              }
          if (indices) indices->push_back(p * isz + best_at);
          y.push_back(is_max ? best : sum / static_cast<double>(include_pad ? padded_count : count));
        }
  return y;
}

struct PoolCase {
  Shape x;
  std::vector<int64_t> k, s, d, pb, pe;
  bool ceil, include_pad;
  std::vector<int64_t> out;  // expected output spatial size, worked out by hand
};

TEST(OpsPool, MaxAndAverageMatchNaiveReference) {
  const std::vector<PoolCase> cases = {
      {{1, 2, 8, 8}, {2, 2}, {2, 2}, {1, 1}, {0, 0}, {0, 0}, false, false, {4, 4}},
      {{2, 3, 7, 9}, {3, 3}, {2, 2}, {1, 1}, {1, 1}, {1, 1}, false, false, {4, 5}},
      {{2, 3, 7, 9}, {3, 3}, {2, 2}, {1, 1}, {1, 1}, {1, 1}, false, true, {4, 5}},
      // ceil_mode: (7 - 2) / 2 + 1 = 3.5 -> 4 in H; (8 - 2) / 3 + 1 = 3 exact in W.
      {{1, 2, 7, 8}, {2, 2}, {2, 3}, {1, 1}, {0, 0}, {0, 0}, true, false, {4, 3}},
      {{1, 2, 7, 8}, {3, 2}, {2, 3}, {1, 1}, {1, 0}, {1, 0}, true, true, {4, 3}},
      // ceil_mode dropping a last window that would start in the end padding:
      // in 5, k 2, s 2, pads (1, 1): ceil((5 + 2 - 2) / 2) + 1 = 4, and 3 * 2 = 6 >= 5 + 1 -> 3.
      {{1, 1, 5, 5}, {2, 2}, {2, 2}, {1, 1}, {1, 1}, {1, 1}, true, true, {3, 3}},
      // dilations (MaxPool opset 10+, AveragePool opset 19).
      {{1, 2, 10, 11}, {3, 2}, {1, 2}, {2, 3}, {1, 0}, {2, 1}, false, false, {9, 5}},
      // 1-D and 3-D.
      {{2, 3, 15}, {4}, {3}, {1}, {1}, {2}, false, false, {5}},
      {{1, 2, 5, 6, 7}, {2, 3, 2}, {2, 1, 2}, {1, 1, 1}, {0, 1, 1}, {1, 1, 0}, false, true,
       {3, 6, 4}},
  };
  uint32_t seed = 300;
  for (const auto& c : cases) {
    SCOPED_TRACE("pool X " + shape_str(c.x) + " k " + shape_str(c.k));
    Tensor x = random_tensor(c.x, seed++);
    std::vector<int64_t> pads = c.pb;
    pads.insert(pads.end(), c.pe.begin(), c.pe.end());
    Attrs attrs{{"kernel_shape", ais(c.k)}, {"strides", ais(c.s)},      {"dilations", ais(c.d)},
                {"pads", ais(pads)},        {"ceil_mode", ai(c.ceil)}, {"count_include_pad",
                                                                        ai(c.include_pad)}};
    Geo g{Shape(c.x.begin() + 2, c.x.end()), c.k, c.s, c.d, c.pb, c.pe};
    Shape ys{c.x[0], c.x[1]};
    ys.insert(ys.end(), c.out.begin(), c.out.end());
    expect_close(run_op("MaxPool", {&x}, attrs)[0], ys, pool_ref(x, true, false, g, c.out));
    expect_close(run_op("AveragePool", {&x}, attrs)[0], ys,
                 pool_ref(x, false, c.include_pad, g, c.out));
  }
}

TEST(OpsPool, MaxPoolIndicesRowAndColumnMajor) {
  Tensor x = random_tensor({2, 3, 6, 5}, 9);
  for (int64_t order : {0, 1}) {
    Attrs attrs{{"kernel_shape", ais({2, 3})},
                {"strides", ais({2, 1})},
                {"pads", ais({0, 1, 1, 1})},
                {"storage_order", ai(order)}};
    auto out = run_op("MaxPool", {&x}, attrs, 2);
    std::vector<int64_t> idx;
    Geo g{{6, 5}, {2, 3}, {2, 1}, {1, 1}, {0, 1}, {1, 1}};
    auto want = pool_ref(x, true, false, g, g.out(), &idx, order == 1);
    expect_close(out[0], {2, 3, 3, 5}, want);
    EXPECT_EQ(out[1].to_int64s(), idx) << "storage_order " << order;
  }
}

TEST(OpsPool, AutoPadSame) {
  Tensor x = random_tensor({1, 2, 7, 6}, 11);
  // SAME_UPPER, k 3, s 2: out = [4, 3], total pad = [(4-1)*2+3-7, (3-1)*2+3-6] = [2, 1].
  auto out = run_op("MaxPool", {&x},
                    {{"kernel_shape", ais({3, 3})}, {"strides", ais({2, 2})},
                     {"auto_pad", as("SAME_UPPER")}});
  Geo g{{7, 6}, {3, 3}, {2, 2}, {1, 1}, {1, 0}, {1, 1}};
  expect_close(out[0], {1, 2, 4, 3}, pool_ref(x, true, false, g, {4, 3}));
  auto avg = run_op("AveragePool", {&x},
                    {{"kernel_shape", ais({3, 3})}, {"strides", ais({2, 2})},
                     {"auto_pad", as("SAME_LOWER")}});
  Geo gl{{7, 6}, {3, 3}, {2, 2}, {1, 1}, {1, 1}, {1, 0}};
  expect_close(avg[0], {1, 2, 4, 3}, pool_ref(x, false, false, gl, {4, 3}));
}

TEST(OpsPool, GlobalPools) {
  Tensor x = random_tensor({2, 3, 5, 7}, 12);
  std::vector<double> mean, mx;
  for (int64_t p = 0; p < 6; ++p) {
    double s = 0.0, m = -INFINITY;
    for (int64_t i = 0; i < 35; ++i) {
      s += x.data<float>()[p * 35 + i];
      m = std::max<double>(m, x.data<float>()[p * 35 + i]);
    }
    mean.push_back(s / 35.0);
    mx.push_back(m);
  }
  expect_close(run_op("GlobalAveragePool", {&x})[0], {2, 3, 1, 1}, mean);
  expect_close(run_op("GlobalMaxPool", {&x})[0], {2, 3, 1, 1}, mx);
  Tensor x1 = random_tensor({1, 2, 9}, 13);
  EXPECT_EQ(run_op("GlobalAveragePool", {&x1})[0].shape(), (Shape{1, 2, 1}));
}

TEST(OpsPool, GlobalPoolsManyPlanes) {
  // 21 planes: two groups of eight planes pooled side by side, then five alone; also with a
  // -inf plane (max) and equal values, at 1 and 2 threads.
  Tensor x = random_tensor({3, 7, 4, 5}, 14);
  for (int64_t i = 0; i < 20; ++i) x.data<float>()[9 * 20 + i] = -INFINITY;
  std::vector<double> mean, mx;
  for (int64_t p = 0; p < 21; ++p) {
    double s = 0.0, m = -INFINITY;
    for (int64_t i = 0; i < 20; ++i) {
      s += x.data<float>()[p * 20 + i];
      m = std::max<double>(m, x.data<float>()[p * 20 + i]);
    }
    mean.push_back(s / 20.0);
    mx.push_back(m);
  }
  const int saved = num_threads();
  for (int t = 1; t <= 2; ++t) {
    set_num_threads(t);
    Tensor avg = run_op("GlobalAveragePool", {&x})[0];
    Tensor mxt = run_op("GlobalMaxPool", {&x})[0];
    EXPECT_EQ(avg.data<float>()[9], -INFINITY);
    EXPECT_EQ(mxt.data<float>()[9], -INFINITY);
    std::vector<double> m2 = mean, x2 = mx;
    m2[9] = x2[9] = 0.0;  // compared above
    avg.data<float>()[9] = mxt.data<float>()[9] = 0.0f;
    expect_close(avg, {3, 7, 1, 1}, m2);
    expect_close(mxt, {3, 7, 1, 1}, x2);
  }
  set_num_threads(saved);
}

TEST(OpsPool, Errors) {
  Tensor x = random_tensor({1, 2, 4, 4}, 1);
  expect_error("MaxPool", {&x}, {}, ErrorKind::invalid, "kernel_shape");
  expect_error("MaxPool", {&x}, {{"kernel_shape", ais({5, 5})}}, ErrorKind::shape, "kernel");
  expect_error("AveragePool", {&x}, {{"kernel_shape", ais({2})}}, ErrorKind::invalid,
               "kernel_shape");
  Tensor x2 = random_tensor({4, 4}, 1);
  expect_error("GlobalAveragePool", {&x2}, {}, ErrorKind::shape, "[4,4]");
}

// ---- Normalisation ----

TEST(OpsNorm, BatchNormalizationInference) {
  for (const Shape& s : {Shape{2, 3, 4, 5}, Shape{3, 4}, Shape{1, 5, 7}}) {
    SCOPED_TRACE(shape_str(s));
    const int64_t c = s[1];
    Tensor x = random_tensor(s, 1), scale = random_tensor({c}, 2), bias = random_tensor({c}, 3),
           mean = random_tensor({c}, 4), var = random_tensor({c}, 5, 0.1f, 2.0f);
    const float eps = 1e-3f;
    auto out = run_op("BatchNormalization", {&x, &scale, &bias, &mean, &var},
                      {{"epsilon", af(eps)}});
    const int64_t inner = x.numel() / (s[0] * c);
    std::vector<double> want;
    for (int64_t i = 0; i < x.numel(); ++i) {
      const int64_t ch = (i / inner) % c;
      want.push_back((x.data<float>()[i] - mean.data<float>()[ch]) /
                         std::sqrt(static_cast<double>(var.data<float>()[ch]) + eps) *
                         scale.data<float>()[ch] +
                     bias.data<float>()[ch]);
    }
    expect_close(out[0], s, want);
  }
  Tensor x = random_tensor({1, 2, 3}, 1), p = random_tensor({2}, 2), bad = random_tensor({3}, 2);
  expect_error("BatchNormalization", {&x, &p, &p, &p, &p}, {{"training_mode", ai(1)}},
               ErrorKind::unsupported, "training_mode");
  expect_error("BatchNormalization", {&x, &p, &bad, &p, &p}, {}, ErrorKind::shape, "[3]");
}

std::vector<double> normalise_ref(const std::vector<double>& v) {
  double mean = 0.0, var = 0.0;
  for (double e : v) mean += e;
  mean /= static_cast<double>(v.size());
  for (double e : v) var += (e - mean) * (e - mean);
  var /= static_cast<double>(v.size());
  std::vector<double> r;
  for (double e : v) r.push_back((e - mean) / std::sqrt(var + 1e-5));
  return r;
}

TEST(OpsNorm, InstanceNormalization) {
  Tensor x = random_tensor({2, 3, 4, 5}, 1), scale = random_tensor({3}, 2),
         bias = random_tensor({3}, 3);
  auto out = run_op("InstanceNormalization", {&x, &scale, &bias});
  std::vector<double> want;
  for (int64_t p = 0; p < 6; ++p) {
    std::vector<double> v(x.data<float>() + p * 20, x.data<float>() + p * 20 + 20);
    for (double e : normalise_ref(v))
      want.push_back(e * scale.data<float>()[p % 3] + bias.data<float>()[p % 3]);
  }
  expect_close(out[0], {2, 3, 4, 5}, want);
}

TEST(OpsNorm, LayerNormalizationWithStatsOutputs) {
  struct Case {
    Shape x;
    int64_t axis;
    Shape scale;
    bool bias;
  };
  for (const Case& c : {Case{{2, 3, 8}, -1, {8}, true}, Case{{4, 6, 5}, 1, {6, 5}, false},
                        Case{{3, 4, 5}, 1, {1, 5}, true}, Case{{7, 33}, 1, {33}, true}}) {
    SCOPED_TRACE(shape_str(c.x));
    Tensor x = random_tensor(c.x, 1), scale = random_tensor(c.scale, 2);
    Shape norm(c.x.begin() + (c.axis < 0 ? c.axis + static_cast<int64_t>(c.x.size()) : c.axis),
               c.x.end());
    Tensor bias = random_tensor(norm, 3);
    auto out = run_op("LayerNormalization", {&x, &scale, c.bias ? &bias : nullptr},
                      {{"axis", ai(c.axis)}}, 3);
    const int64_t inner = shape_numel(norm), outer = x.numel() / inner;
    std::vector<double> want, means, invs;
    for (int64_t p = 0; p < outer; ++p) {
      std::vector<double> v(x.data<float>() + p * inner, x.data<float>() + p * inner + inner);
      double mean = 0.0, var = 0.0;
      for (double e : v) mean += e;
      mean /= static_cast<double>(inner);
      for (double e : v) var += (e - mean) * (e - mean);
      var /= static_cast<double>(inner);
      means.push_back(mean);
      invs.push_back(1.0 / std::sqrt(var + 1e-5));
      auto r = normalise_ref(v);
      for (int64_t i = 0; i < inner; ++i) {
        // Scale broadcast: its last dims line up with the normalised shape's.
        int64_t si = i % shape_numel(c.scale);
        want.push_back(r[i] * scale.data<float>()[si] + (c.bias ? bias.data<float>()[i] : 0.0));
      }
    }
    expect_close(out[0], c.x, want);
    Shape stat = c.x;
    for (size_t i = c.x.size() - norm.size(); i < stat.size(); ++i) stat[i] = 1;
    expect_close(out[1], stat, means);
    expect_close(out[2], stat, invs);
  }
  Tensor x = random_tensor({2, 4}, 1), s = random_tensor({3}, 2);
  expect_error("LayerNormalization", {&x, &s}, {}, ErrorKind::shape, "[3]");
}

std::vector<double> softmax_line(const std::vector<double>& v, bool log) {
  double mx = *std::max_element(v.begin(), v.end()), sum = 0.0;
  for (double e : v) sum += std::exp(e - mx);
  std::vector<double> r;
  for (double e : v) r.push_back(log ? e - mx - std::log(sum) : std::exp(e - mx) / sum);
  return r;
}

TEST(OpsNorm, SoftmaxAndLogSoftmaxAlongAxis) {
  Tensor x = random_tensor({2, 3, 4}, 1, -5.0f, 5.0f);
  const float* xd = x.data<float>();
  for (bool log : {false, true}) {
    const std::string op = log ? "LogSoftmax" : "Softmax";
    for (int64_t axis : {-1, 0, 1}) {
      SCOPED_TRACE(op + " axis " + std::to_string(axis));
      const int64_t a = axis < 0 ? 2 : axis;
      const Shape s{2, 3, 4};
      std::vector<double> want(24);
      int64_t strides[3] = {12, 4, 1};
      for (int64_t i = 0; i < 24; ++i) {
        // Only handle each line once, from its first element.
        if ((i / strides[a]) % s[a] != 0) continue;
        std::vector<double> v;
        for (int64_t j = 0; j < s[a]; ++j) v.push_back(xd[i + j * strides[a]]);
        auto r = softmax_line(v, log);
        for (int64_t j = 0; j < s[a]; ++j) want[i + j * strides[a]] = r[j];
      }
      expect_close(run_op(op, {&x}, {{"axis", ai(axis)}})[0], s, want);
    }
    // Legacy (opset < 13): coerce to 2-D at axis (default 1) and normalise each row.
    SCOPED_TRACE(op + " legacy");
    std::vector<double> want;
    for (int64_t r = 0; r < 2; ++r) {
      auto line = softmax_line(std::vector<double>(xd + r * 12, xd + r * 12 + 12), log);
      want.insert(want.end(), line.begin(), line.end());
    }
    expect_close(run_op(op, {&x}, {{"_acim_legacy_2d", ai(1)}})[0], {2, 3, 4}, want);
  }
  expect_error("Softmax", {&x}, {{"axis", ai(3)}}, ErrorKind::invalid, "axis");
}

// ---- fused activations in the Conv / Gemm epilogues (Node::fused) ----

Node act_node(const std::string& op, const Attrs& attrs = {}) {
  Node n;
  n.name = "act";
  n.op_type = op;
  n.inputs = {"x"};
  n.outputs = {"y"};
  n.attrs = attrs;
  return n;
}

// Runs an op whose node carries `fused` activations; the op must apply them itself.
Tensor run_with_fused(const std::string& op, const std::vector<const Tensor*>& inputs,
                      const Attrs& attrs, const std::vector<Node>& fused) {
  const ops::OpDef* def = ops::find_op(op);
  EXPECT_TRUE(def && def->handles_fused) << op;
  Node node = make_node(op, inputs, attrs, 1);
  node.fused = fused;
  ops::RunContext rctx{node, "test", inputs, std::vector<Tensor>(1)};
  def->run(rctx);
  return rctx.outputs[0];
}

double act_ref(const std::string& op, double v) {
  if (op == "Relu") return v < 0 ? 0 : v;
  if (op == "Clip") return std::min(0.3, std::max(-0.2, v));  // the bounds the tests use
  if (op == "LeakyRelu") return v < 0 ? 0.1 * v : v;
  if (op == "Sigmoid") return 1.0 / (1.0 + std::exp(-v));
  if (op == "Tanh") return std::tanh(v);
  if (op == "HardSigmoid") return std::min(1.0, std::max(0.0, 0.2 * v + 0.5));
  if (op == "HardSwish") return v * std::min(1.0, std::max(0.0, v / 6.0 + 0.5));
  if (op == "Gelu") return 0.5 * v * (1.0 + std::erf(v / std::sqrt(2.0)));
  ADD_FAILURE() << "no reference for " << op;
  return v;
}

Node act_for(const std::string& op) {
  if (op == "Clip") return act_node(op, {{"min", af(-0.2f)}, {"max", af(0.3f)}});
  if (op == "LeakyRelu") return act_node(op, {{"alpha", af(0.1f)}});
  return act_node(op);
}

TEST(OpsConv, FusedActivationsInEveryPath) {
  struct Case {
    ConvCase cc;
    std::vector<std::string> acts;
  };
  const std::vector<Case> cases = {
      // 3x3 stride 1 (padded-plane GEMM), 20 output channels (a partial 8-row tile), width 40
      // (a partial 32-column tile), batch 1 and 3.
      {{{1, 5, 9, 40}, 20, 1, {3, 3}, {1, 1}, {1, 1}, {1, 1}, {1, 1}, true}, {"Relu"}},
      {{{3, 4, 7, 6}, 9, 1, {3, 3}, {1, 1}, {2, 1}, {2, 0}, {1, 2}, true}, {"Clip"}},
      // stride 2 (im2col GEMM), two activations (not a single clamp).
      {{{2, 3, 11, 13}, 5, 1, {3, 5}, {2, 3}, {1, 1}, {0, 2}, {1, 1}, true},
       {"LeakyRelu", "Sigmoid"}},
      // pointwise, no bias.
      {{{2, 8, 5, 7}, 12, 1, {1, 1}, {1, 1}, {1, 1}, {0, 0}, {0, 0}, false}, {"HardSwish"}},
      // groups.
      {{{1, 6, 9, 9}, 4, 2, {3, 3}, {1, 1}, {1, 1}, {1, 1}, {1, 1}, true}, {"Tanh"}},
      // depthwise stride 1 and 2.
      {{{2, 8, 10, 9}, 8, 8, {3, 3}, {1, 1}, {1, 1}, {1, 1}, {1, 1}, true}, {"HardSigmoid"}},
      {{{1, 5, 11, 12}, 5, 5, {3, 3}, {2, 2}, {1, 1}, {1, 0}, {0, 1}, true}, {"Relu"}},
      // Gelu: not an epilogue activation, run as its own op.
      {{{1, 3, 8, 8}, 4, 1, {3, 3}, {1, 1}, {1, 1}, {1, 1}, {1, 1}, true}, {"Gelu"}},
  };
  uint32_t seed = 500;
  for (const auto& c : cases) {
    const ConvCase& cc = c.cc;
    SCOPED_TRACE("conv X " + shape_str(cc.x) + " act " + c.acts[0]);
    Shape ws{cc.m, cc.x[1] / cc.group};
    ws.insert(ws.end(), cc.k.begin(), cc.k.end());
    Tensor x = random_tensor(cc.x, seed += 10), w = random_tensor(ws, seed + 1),
           b = random_tensor({cc.m}, seed + 2);
    std::vector<int64_t> pads = cc.pb;
    pads.insert(pads.end(), cc.pe.begin(), cc.pe.end());
    Attrs attrs{{"group", ai(cc.group)}, {"strides", ais(cc.s)}, {"dilations", ais(cc.d)},
                {"pads", ais(pads)}, {"kernel_shape", ais(cc.k)}};
    std::vector<Node> fused;
    for (const auto& a : c.acts) fused.push_back(act_for(a));
    Tensor y = run_with_fused("Conv", {&x, &w, cc.bias ? &b : nullptr}, attrs, fused);
    Geo g{Shape(cc.x.begin() + 2, cc.x.end()), cc.k, cc.s, cc.d, cc.pb, cc.pe};
    Shape ys{cc.x[0], cc.m};
    for (int64_t o : g.out()) ys.push_back(o);
    std::vector<double> want = conv_ref(x, w, cc.bias ? &b : nullptr, cc.group, g, g.out());
    for (double& v : want)
      for (const auto& a : c.acts) v = act_ref(a, v);
    expect_close(y, ys, want);
  }
}

TEST(OpsGemm, FusedActivationsAndBatchOnePaths) {
  // M = 1 and 3 (dot products over a transposed B), 20 (packed panels); N = 45 (a partial
  // 32-column tile); 1-D and 2-D C; alpha and beta.
  uint32_t seed = 700;
  for (int64_t m : {1, 3, 20}) {
    for (bool tb : {true, false}) {
      for (bool c2d : {false, true}) {
        SCOPED_TRACE("M " + std::to_string(m) + " transB " + std::to_string(tb) + " C 2-D " +
                     std::to_string(c2d));
        const int64_t n = 45, k = 37;
        Tensor a = random_tensor({m, k}, seed += 10);
        Tensor b = tb ? random_tensor({n, k}, seed + 1) : random_tensor({k, n}, seed + 1);
        Tensor c = c2d ? random_tensor({m, n}, seed + 2) : random_tensor({n}, seed + 2);
        Attrs attrs{{"transB", ai(tb ? 1 : 0)}, {"alpha", af(0.75f)}, {"beta", af(1.5f)}};
        Tensor y = run_with_fused("Gemm", {&a, &b, &c}, attrs, {act_for("Clip")});
        std::vector<double> want =
            matmul2d_ref(a.data<float>(), b.data<float>(), m, n, k, false, tb);
        for (int64_t i = 0; i < m; ++i)
          for (int64_t j = 0; j < n; ++j) {
            double& v = want[static_cast<size_t>(i * n + j)];
            v = act_ref("Clip", 0.75 * v + 1.5 * c.data<float>()[c2d ? i * n + j : j]);
          }
        expect_close(y, {m, n}, want);
      }
    }
  }
}

TEST(OpsConv, BatchOneResultsDoNotDependOnThreadCount) {
  // Batch 1 splits one image's GEMM among the threads; every element must still be computed
  // the same way.
  Tensor x = random_tensor({1, 16, 32, 32}, 901), w = random_tensor({32, 16, 3, 3}, 902),
         b = random_tensor({32}, 903);
  Attrs attrs{{"pads", ais({1, 1, 1, 1})}, {"kernel_shape", ais({3, 3})}};
  const int saved = num_threads();
  set_num_threads(1);
  Tensor y1 = run_with_fused("Conv", {&x, &w, &b}, attrs, {act_for("Relu")});
  set_num_threads(2);
  Tensor y2 = run_with_fused("Conv", {&x, &w, &b}, attrs, {act_for("Relu")});
  set_num_threads(saved);
  ASSERT_EQ(y1.numel(), y2.numel());
  for (int64_t i = 0; i < y1.numel(); ++i)
    ASSERT_EQ(y1.data<float>()[i], y2.data<float>()[i]) << "element " << i;
}

// ---- round 2 kernels: direct depthwise, few-row GEMM, prepared weights ----

// One conv with fused activations against the naive reference, on 1 and 2 threads: the two
// runs must agree bit for bit.
struct ConvActsCase {
  ConvCase cc;
  std::vector<std::string> acts;
};

void check_conv_threads(const ConvActsCase& c, uint32_t seed) {
  const ConvCase& cc = c.cc;
  SCOPED_TRACE("conv X " + shape_str(cc.x) + " M " + std::to_string(cc.m) + " group " +
               std::to_string(cc.group) + " kernel " + shape_str(cc.k) + " strides " +
               shape_str(cc.s) + " pads " + shape_str(cc.pb) + shape_str(cc.pe));
  const ConvSetup s = conv_setup(cc, seed);
  const Tensor* b = cc.bias ? &s.b : nullptr;
  std::vector<Node> fused;
  for (const auto& a : c.acts) fused.push_back(act_for(a));
  std::vector<double> want = conv_ref(s.x, s.w, b, cc.group, s.g, s.g.out());
  for (double& v : want)
    for (const auto& a : c.acts) v = act_ref(a, v);
  const int saved = num_threads();
  Tensor y[2];
  for (int t = 0; t < 2; ++t) {
    set_num_threads(t + 1);
    y[t] = run_with_fused("Conv", {&s.x, &s.w, b}, s.attrs, fused);
  }
  set_num_threads(saved);
  expect_close(y[0], s.ys, want, 1e-5);
  ASSERT_EQ(y[0].numel(), y[1].numel());
  for (int64_t i = 0; i < y[0].numel(); ++i)
    ASSERT_EQ(y[0].data<float>()[i], y[1].data<float>()[i]) << "element " << i;
}

TEST(OpsConv, DepthwiseSameWidthDirectPath) {
  // Depthwise, strides 1, output as wide as the input, fewer than 16 channels or planes too
  // large to interleave: the direct kernel (shifted loads with padding masks). First and last
  // planes (loads past the tensor), planes of more than 128 points (several register blocks),
  // unpadded height, asymmetric and dilated width padding, planes smaller than the kernel's
  // reach, and every activation kind.
  const std::vector<ConvActsCase> cases = {
      {{{1, 3, 40, 33}, 3, 3, {3, 3}, {1, 1}, {1, 1}, {1, 1}, {1, 1}, true}, {}},
      {{{1, 16, 40, 33}, 16, 16, {3, 3}, {1, 1}, {1, 1}, {1, 1}, {1, 1}, true}, {"Relu"}},
      {{{2, 2, 10, 7}, 2, 2, {3, 3}, {1, 1}, {1, 1}, {0, 1}, {0, 1}, false}, {"Tanh"}},
      {{{1, 4, 6, 8}, 4, 4, {2, 4}, {1, 1}, {1, 1}, {1, 2}, {0, 1}, true}, {"Clip"}},
      {{{1, 4, 6, 8}, 4, 4, {2, 4}, {1, 1}, {1, 1}, {0, 1}, {1, 2}, true}, {}},
      {{{2, 3, 9, 11}, 3, 3, {3, 3}, {1, 1}, {2, 2}, {2, 3}, {2, 1}, true}, {"LeakyRelu"}},
      {{{3, 2, 1, 2}, 2, 2, {3, 3}, {1, 1}, {1, 1}, {1, 1}, {1, 1}, true}, {"Relu"}},
      {{{1, 5, 2, 1}, 5, 5, {5, 5}, {1, 1}, {1, 1}, {2, 2}, {2, 2}, true}, {}},
  };
  uint32_t seed = 1200;
  for (const auto& c : cases) {
    Geo g{Shape(c.cc.x.begin() + 2, c.cc.x.end()), c.cc.k, c.cc.s, c.cc.d, c.cc.pb, c.cc.pe};
    ASSERT_EQ(g.out()[1], c.cc.x[3]) << "not a same-width case";
    check_conv_threads(c, seed += 10);
  }
}

TEST(OpsConv, DepthwiseChannelInterleavedPath) {
  // Depthwise, strides 1, 16 channels or more on small planes: 16 channels per vector (a 16x16
  // transpose in and out per 16 pixels). DS-CNN's 25 x 5 planes with 64 channels at batch 8
  // (parallel), channel counts that leave a partial block (20, 33, 17), pixel counts that are
  // not a multiple of 16, output narrower than the input (asymmetric pads), a 5x3 dilated
  // kernel (not 3x3), one-row and one-column planes, a 1-D conv, with and without bias, a
  // single clamp and other activations.
  const std::vector<ConvActsCase> cases = {
      {{{8, 64, 25, 5}, 64, 64, {3, 3}, {1, 1}, {1, 1}, {1, 1}, {1, 1}, true}, {"Relu"}},
      {{{3, 20, 7, 5}, 20, 20, {3, 3}, {1, 1}, {1, 1}, {1, 1}, {1, 1}, true}, {"Clip"}},
      {{{1, 33, 9, 11}, 33, 33, {3, 3}, {1, 1}, {1, 1}, {0, 2}, {1, 0}, false}, {"Tanh"}},
      {{{2, 17, 6, 4}, 17, 17, {5, 3}, {1, 1}, {1, 2}, {2, 2}, {2, 2}, true}, {}},
      {{{1, 24, 1, 13}, 24, 24, {3, 3}, {1, 1}, {1, 1}, {1, 1}, {1, 1}, true}, {"LeakyRelu"}},
      {{{2, 18, 13, 1}, 18, 18, {3, 3}, {1, 1}, {1, 1}, {1, 1}, {1, 1}, true}, {"HardSwish"}},
      {{{2, 32, 20}, 32, 32, {3}, {1}, {1}, {1}, {1}, true}, {"Relu"}},
  };
  uint32_t seed = 1400;
  for (const auto& c : cases) check_conv_threads(c, seed += 10);
}

TEST(OpsConv, StridedNarrowDecimatedPath) {
  // Strided convs with outputs narrower than 16: the GEMM reads decimated input rows (input
  // rows of up to 16 floats permuted, wider ones gathered). DS-CNN's first layer at batch 8
  // (parallel), strides 2 and 3 with dilation and asymmetric pads, a stride only along the
  // height, a strided 1x1 (one row phase), rows entirely in the padding, groups, rows of 40
  // floats, and a strided 1-D conv.
  const std::vector<ConvActsCase> cases = {
      {{{8, 1, 49, 10}, 16, 1, {10, 4}, {2, 2}, {1, 1}, {4, 1}, {5, 1}, true}, {"Relu"}},
      {{{1, 3, 8, 40}, 5, 1, {3, 3}, {3, 3}, {1, 1}, {1, 1}, {1, 1}, true}, {}},
      {{{2, 3, 11, 13}, 5, 1, {3, 5}, {2, 3}, {1, 1}, {0, 2}, {1, 1}, true}, {"Clip"}},
      {{{1, 4, 17, 9}, 6, 1, {3, 3}, {3, 2}, {2, 1}, {2, 1}, {1, 0}, false}, {}},
      {{{2, 2, 9, 6}, 3, 1, {3, 3}, {2, 1}, {1, 1}, {1, 1}, {1, 1}, true}, {"Tanh"}},
      {{{3, 8, 7, 7}, 4, 1, {1, 1}, {2, 2}, {1, 1}, {0, 0}, {0, 0}, true}, {}},
      {{{1, 2, 4, 5}, 3, 1, {2, 2}, {2, 2}, {1, 1}, {3, 2}, {3, 2}, true}, {"Relu"}},
      {{{2, 6, 9, 9}, 4, 2, {3, 3}, {2, 2}, {1, 1}, {1, 1}, {1, 1}, true}, {"LeakyRelu"}},
      {{{2, 3, 17}, 4, 1, {5}, {2}, {1}, {2}, {1}, true}, {}},
  };
  uint32_t seed = 1600;
  for (const auto& c : cases) check_conv_threads(c, seed += 10);
}

TEST(OpsGemm, FewRowsWideAndNarrowOutputs) {
  // M = 1 and 2 with B not transposed take the one-row kernel (128 columns per pass); N = 300
  // is two full passes and a partial one, N = 7 one masked vector; M = 9 with N = 300 ends in
  // a partial 32-column panel (zero-padded copy) and a 1-row tile.
  uint32_t seed = 1300;
  for (int64_t m : {1, 2, 9}) {
    for (int64_t n : {7, 300}) {
      SCOPED_TRACE("M " + std::to_string(m) + " N " + std::to_string(n));
      const int64_t k = 70;
      Tensor a = random_tensor({m, k}, seed += 10), b = random_tensor({k, n}, seed + 1),
             c = random_tensor({n}, seed + 2);
      Tensor y = run_with_fused("Gemm", {&a, &b, &c}, {}, {act_for("Relu")});
      std::vector<double> want =
          matmul2d_ref(a.data<float>(), b.data<float>(), m, n, k, false, false);
      for (int64_t i = 0; i < m; ++i)
        for (int64_t j = 0; j < n; ++j) {
          double& v = want[static_cast<size_t>(i * n + j)];
          v = act_ref("Relu", v + c.data<float>()[j]);
        }
      expect_close(y, {m, n}, want, 1e-5);
    }
  }
}

// Runs the graph node by node through ops::run_node (no prepared weights), as a reference
// for the Executor, which prepares the weights of Gemm and LSTM once.
TensorMap run_unprepared(const Graph& g, const TensorMap& inputs) {
  std::map<std::string, Tensor> values = inputs;
  for (const auto& [name, t] : g.initializers) values[name] = t;
  for (const Node& node : g.nodes) {
    std::vector<const Tensor*> ins;
    for (const auto& in : node.inputs) ins.push_back(in.empty() ? nullptr : &values.at(in));
    const ops::OpDef* def = ops::find_op(node.op_type);
    EXPECT_NE(def, nullptr) << node.op_type;
    if (!def) return {};
    std::vector<Tensor> outs = ops::run_node(*def, node, "test", ins);
    for (size_t o = 0; o < node.outputs.size(); ++o)
      if (!node.outputs[o].empty()) values[node.outputs[o]] = outs[o];
  }
  TensorMap out;
  for (const auto& o : g.outputs) out[o.name] = values.at(o.name);
  return out;
}

TEST(Executor, PreparedWeightsAndRecycledBuffersMatchNodeByNodeRuns) {
  // The Executor prepares Gemm / LSTM weights once and recycles intermediate buffers within a
  // run (conv outputs reuse freed ones; Flatten views and the caller's input must never be
  // reused). Node-by-node runs do neither. Also: 1 and 2 threads bitwise, a second run equal to
  // the first, and the input left untouched. Recycled buffers are filled with NaN before reuse
  // (ACIM_POISON_RECYCLED), so a kernel that keeps a lane it never wrote fails here.
  struct PoisonGuard {
    PoisonGuard() { setenv("ACIM_POISON_RECYCLED", "1", 1); }
    ~PoisonGuard() { unsetenv("ACIM_POISON_RECYCLED"); }
  } poison;
  const std::string zoo = std::string(ACIM_SOURCE_DIR) + "/zoo/";
  for (const char* model : {"mlp/mlp_mnist.onnx", "lstm/lstm_kws.onnx", "kws/ds_cnn_s.onnx",
                            "resnet/resnet20_cifar.onnx"}) {
    for (int64_t batch : {1, 3, 20}) {
      if (batch == 20 && std::string(model).find("resnet") != std::string::npos) continue;
      SCOPED_TRACE(std::string(model) + " batch " + std::to_string(batch));
      Graph g = load_onnx(zoo + model);
      run_default_passes(g);
      Shape s = g.inputs[0].shape;
      s[0] = batch;
      TensorMap in{
          {g.inputs[0].name, random_tensor(s, static_cast<uint32_t>(batch), -2.0f, 2.0f)}};
      const Tensor input_copy = in.begin()->second.clone();
      TensorMap want = run_unprepared(g, in);
      const int saved = num_threads();
      TensorMap got[2];
      for (int t = 0; t < 2; ++t) {
        set_num_threads(t + 1);
        Executor ex(g);
        got[t] = ex.run(in);
        TensorMap again = ex.run(in);
        for (const auto& [name, y] : again)
          for (int64_t i = 0; i < y.numel(); ++i)
            ASSERT_EQ(y.data<float>()[i], got[t].at(name).data<float>()[i]) << "rerun " << name;
        // The executor keeps its recycled buffers for later runs: a run on other inputs must
        // leave the outputs handed out before as they were (checked against `want` below).
        TensorMap other{{in.begin()->first, random_tensor(s, 99, -2.0f, 2.0f)}};
        ex.run(other);
      }
      set_num_threads(saved);
      for (int64_t i = 0; i < input_copy.numel(); ++i)
        ASSERT_EQ(in.begin()->second.data<float>()[i], input_copy.data<float>()[i]) << "input";
      for (const auto& [name, w] : want) {
        const Tensor& y = got[0].at(name);
        ASSERT_EQ(y.shape(), w.shape()) << name;
        for (int64_t i = 0; i < y.numel(); ++i) {
          const double wv = w.data<float>()[i];
          ASSERT_NEAR(y.data<float>()[i], wv, 1e-5 * std::max(1.0, std::fabs(wv))) << name << i;
          ASSERT_EQ(y.data<float>()[i], got[1].at(name).data<float>()[i]) << name << i;
        }
      }
    }
  }
}

}  // namespace
}  // namespace acim
