// Graph passes: the structure after each pass, and the executor's outputs before and after
// (which must agree to a normalised error of 1e-5: max|after - before| <= 1e-5 * max|before|).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "acim/executor.hpp"
#include "acim/passes.hpp"
#include "acim/shape_inference.hpp"
#include "test_util.hpp"

namespace acim {
namespace {

using test::make_node;

constexpr double kTol = 1e-5;

Tensor random_tensor(const Shape& shape, std::mt19937& rng, float lo = -1.0f, float hi = 1.0f) {
  std::uniform_real_distribution<float> dist(lo, hi);
  Tensor t(DType::f32, shape);
  for (float& v : t.span<float>()) v = dist(rng);
  return t;
}

void add_input(Graph& g, const std::string& name, Shape shape) {
  g.inputs.push_back(ValueInfo{name, DType::f32, std::move(shape), true});
}
void add_output(Graph& g, const std::string& name) {
  g.outputs.push_back(ValueInfo{name, DType::f32, {}, false});
}

// Adds BatchNormalization parameters for `c` channels (variance positive) and the node.
void add_bn(Graph& g, const std::string& name, const std::string& x, const std::string& y,
            int64_t c, std::mt19937& rng) {
  g.initializers[name + "_gamma"] = random_tensor({c}, rng, 0.5f, 2.0f);
  g.initializers[name + "_beta"] = random_tensor({c}, rng, -1.0f, 1.0f);
  g.initializers[name + "_mean"] = random_tensor({c}, rng, -0.5f, 0.5f);
  g.initializers[name + "_var"] = random_tensor({c}, rng, 0.1f, 2.0f);
  g.nodes.push_back(make_node(name, "BatchNormalization",
                              {x, name + "_gamma", name + "_beta", name + "_mean", name + "_var"},
                              {y}, {{"epsilon", Attribute{1e-3f}}}));
}

TensorMap random_inputs(const Graph& g, uint32_t seed) {
  std::mt19937 rng(seed);
  TensorMap m;
  for (const auto& in : g.inputs) m[in.name] = random_tensor(in.shape, rng, -2.0f, 2.0f);
  return m;
}

// Runs both graphs on the same seeded random inputs; outputs must agree (normalised error).
void expect_same_outputs(const Graph& before, const Graph& after, uint32_t seed = 7) {
  TensorMap inputs = random_inputs(before, seed);
  TensorMap want = Executor(before).run(inputs);
  TensorMap got = Executor(after).run(inputs);
  ASSERT_EQ(want.size(), got.size());
  for (const auto& [name, w] : want) {
    ASSERT_TRUE(got.count(name)) << "output " << name << " missing after the pass";
    const Tensor& t = got.at(name);
    ASSERT_EQ(t.shape(), w.shape()) << name;
    std::vector<double> a = t.to_doubles(), b = w.to_doubles();
    double max_ref = 0.0, max_err = 0.0;
    for (size_t i = 0; i < b.size(); ++i) {
      max_ref = std::max(max_ref, std::fabs(b[i]));
      max_err = std::max(max_err, std::fabs(a[i] - b[i]));
    }
    EXPECT_LE(max_err, kTol * std::max(max_ref, 1e-30)) << "output " << name;
  }
}

std::vector<std::string> op_types(const Graph& g) {
  std::vector<std::string> r;
  for (const auto& n : g.nodes) r.push_back(n.op_type);
  return r;
}

using Ops = std::vector<std::string>;

// ---- eliminate-identity --------------------------------------------------------------------

TEST(EliminateIdentity, RemovesIdentityAndRewiresConsumers) {
  Graph g;
  add_input(g, "x", {2, 3});
  g.nodes.push_back(make_node("relu", "Relu", {"x"}, {"r"}));
  g.nodes.push_back(make_node("id", "Identity", {"r"}, {"r2"}));
  g.nodes.push_back(make_node("sig", "Sigmoid", {"r2"}, {"y"}));
  add_output(g, "y");
  Graph before = g;
  EXPECT_TRUE(eliminate_identity(g));
  validate_graph(g);
  EXPECT_EQ(op_types(g), (Ops{"Relu", "Sigmoid"}));
  EXPECT_EQ(g.nodes[1].inputs[0], "r");
  expect_same_outputs(before, g);
}

TEST(EliminateIdentity, ChainEndingAtGraphOutputKeepsOutputName) {
  Graph g;
  add_input(g, "x", {4});
  g.nodes.push_back(make_node("relu", "Relu", {"x"}, {"r"}));
  g.nodes.push_back(make_node("id1", "Identity", {"r"}, {"a"}));
  g.nodes.push_back(make_node("sig", "Sigmoid", {"r"}, {"z"}));  // a second reader of r
  g.nodes.push_back(make_node("id2", "Identity", {"a"}, {"b"}));
  g.nodes.push_back(make_node("id3", "Identity", {"b"}, {"y"}));
  add_output(g, "y");
  add_output(g, "z");
  Graph before = g;
  EXPECT_TRUE(eliminate_identity(g));
  validate_graph(g);
  EXPECT_EQ(op_types(g), (Ops{"Relu", "Sigmoid"}));
  EXPECT_EQ(g.nodes[0].outputs[0], "y");  // the producer took over the output's name
  EXPECT_EQ(g.nodes[1].inputs[0], "y");
  ASSERT_EQ(g.outputs.size(), 2u);
  EXPECT_EQ(g.outputs[0].name, "y");
  EXPECT_EQ(g.outputs[1].name, "z");
  expect_same_outputs(before, g);
}

TEST(EliminateIdentity, KeepsIdentityBetweenGraphInputAndOutput) {
  Graph g;
  add_input(g, "x", {3});
  g.nodes.push_back(make_node("relu", "Relu", {"x"}, {"r"}));
  g.nodes.push_back(make_node("id1", "Identity", {"x"}, {"y"}));  // no producer to rename
  g.nodes.push_back(make_node("id2", "Identity", {"r"}, {"z"}));  // r is itself an output
  add_output(g, "y");
  add_output(g, "z");
  add_output(g, "r");
  Graph before = g;
  EXPECT_FALSE(eliminate_identity(g));
  EXPECT_EQ(op_types(g), (Ops{"Relu", "Identity", "Identity"}));
  expect_same_outputs(before, g);
}

TEST(EliminateIdentity, DropoutRemovedUnlessMaskOrTrainingRequested) {
  Graph g;
  add_input(g, "x", {2, 2});
  g.initializers["ratio"] = Tensor::scalar(0.5f);
  g.initializers["train"] = Tensor::scalar(true);
  g.initializers["no_train"] = Tensor::scalar(false);
  g.nodes.push_back(make_node("d1", "Dropout", {"x"}, {"a"}));
  g.nodes.push_back(make_node("d2", "Dropout", {"a", "ratio", "no_train"}, {"b", ""}));
  g.nodes.push_back(make_node("d3", "Dropout", {"b"}, {"c", "mask"}));
  g.nodes.push_back(make_node("d4", "Dropout", {"c", "ratio", "train"}, {"y"}));
  add_output(g, "y");
  add_output(g, "mask");
  EXPECT_TRUE(eliminate_identity(g));
  validate_graph(g);
  ASSERT_EQ(op_types(g), (Ops{"Dropout", "Dropout"}));
  EXPECT_EQ(g.nodes[0].name, "d3");
  EXPECT_EQ(g.nodes[0].inputs[0], "x");
  EXPECT_EQ(g.nodes[1].name, "d4");
}

// ---- fold-constants ------------------------------------------------------------------------

TEST(FoldConstants, ChainOfConstantNodesFoldsToOneInitializer) {
  Graph g;
  add_input(g, "x", {3});
  g.initializers["c1"] = Tensor::from_vector<float>({3}, {1.0f, 2.0f, 3.0f});
  g.initializers["c2"] = Tensor::from_vector<float>({3}, {0.5f, -1.0f, 4.0f});
  g.initializers["c3"] = Tensor::from_vector<float>({1}, {2.0f});
  g.nodes.push_back(make_node("add", "Add", {"c1", "c2"}, {"s"}));
  g.nodes.push_back(make_node("mul", "Mul", {"s", "c3"}, {"m"}));
  g.nodes.push_back(make_node("neg", "Neg", {"m"}, {"k"}));  // k is also a graph output
  g.nodes.push_back(make_node("out", "Add", {"x", "m"}, {"y"}));
  add_output(g, "y");
  add_output(g, "k");
  Graph before = g;
  EXPECT_TRUE(fold_constants(g));
  validate_graph(g);
  ASSERT_EQ(op_types(g), (Ops{"Add"}));
  EXPECT_EQ(g.nodes[0].name, "out");
  ASSERT_TRUE(g.is_initializer("m"));
  EXPECT_EQ(g.initializer("m")->to_doubles(), (std::vector<double>{3.0, 2.0, 14.0}));
  ASSERT_TRUE(g.is_initializer("k"));
  EXPECT_EQ(g.initializer("k")->to_doubles(), (std::vector<double>{-3.0, -2.0, -14.0}));
  EXPECT_EQ(g.initializer("c1")->to_doubles(), (std::vector<double>{1.0, 2.0, 3.0}));
  EXPECT_FALSE(fold_constants(g));  // nothing left to fold
  expect_same_outputs(before, g);
}

TEST(FoldConstants, LeavesRandomOpsAndRuntimeInputs) {
  Graph g;
  add_input(g, "x", {2});
  g.nodes.push_back(make_node("rnd", "RandomUniform", {}, {"r"},
                              {{"shape", Attribute{std::vector<int64_t>{2}}}}));
  g.nodes.push_back(make_node("add", "Add", {"x", "r"}, {"y"}));
  add_output(g, "y");
  EXPECT_FALSE(fold_constants(g));
  EXPECT_EQ(op_types(g), (Ops{"RandomUniform", "Add"}));
}

TEST(FoldConstants, BadConstantShapesAreAShapeErrorNamingTheNode) {
  Graph g;
  g.initializers["a"] = Tensor::from_vector<float>({2}, {1.0f, 2.0f});
  g.initializers["b"] = Tensor::from_vector<float>({3}, {1.0f, 2.0f, 3.0f});
  g.nodes.push_back(make_node("bad_add", "Add", {"a", "b"}, {"y"}));
  add_output(g, "y");
  try {
    fold_constants(g);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::shape);
    EXPECT_NE(std::string(e.what()).find("bad_add"), std::string::npos) << e.what();
  }
}

// ---- fold-batchnorm ------------------------------------------------------------------------

// x[1,3,6,6] -> Conv(W[4,3,3,3] (+B)) -> BN -> y
Graph conv_bn_graph(bool with_bias, std::mt19937& rng) {
  Graph g;
  add_input(g, "x", {1, 3, 6, 6});
  g.initializers["W"] = random_tensor({4, 3, 3, 3}, rng);
  std::vector<std::string> in = {"x", "W"};
  if (with_bias) {
    g.initializers["B"] = random_tensor({4}, rng);
    in.push_back("B");
  }
  g.nodes.push_back(make_node("conv", "Conv", in, {"c"},
                              {{"pads", Attribute{std::vector<int64_t>{1, 1, 1, 1}}}}));
  add_bn(g, "bn", "c", "y", 4, rng);
  add_output(g, "y");
  return g;
}

TEST(FoldBatchnorm, ConvWithAndWithoutBias) {
  for (bool with_bias : {true, false}) {
    SCOPED_TRACE(with_bias ? "with bias" : "without bias");
    std::mt19937 rng(1);
    Graph g = conv_bn_graph(with_bias, rng);
    Graph before = g;
    EXPECT_TRUE(fold_batchnorm(g));
    validate_graph(g);
    ASSERT_EQ(op_types(g), (Ops{"Conv"}));
    const Node& conv = g.nodes[0];
    EXPECT_EQ(conv.outputs[0], "y");
    ASSERT_EQ(conv.inputs.size(), 3u);
    EXPECT_NE(conv.inputs[1], "W");  // fresh initializers, originals untouched
    EXPECT_NE(conv.inputs[2], "B");
    ASSERT_TRUE(g.is_initializer(conv.inputs[1]));
    ASSERT_TRUE(g.is_initializer(conv.inputs[2]));
    EXPECT_EQ(g.initializer(conv.inputs[2])->shape(), (Shape{4}));

    // W' = W * s and b' = (b - mean) * s + beta, checked on a few elements by hand.
    const float* w = before.initializer("W")->data<float>();
    const float* w2 = g.initializer(conv.inputs[1])->data<float>();
    const float* b2 = g.initializer(conv.inputs[2])->data<float>();
    for (int m = 0; m < 4; ++m) {
      auto at = [&](const char* name) {
        return static_cast<double>(before.initializer(std::string("bn_") + name)->data<float>()[m]);
      };
      double s = at("gamma") / std::sqrt(at("var") + 1e-3);
      double b = with_bias ? before.initializer("B")->data<float>()[m] : 0.0;
      EXPECT_NEAR(w2[m * 27 + 5], w[m * 27 + 5] * s, 1e-6 * std::fabs(s) + 1e-7);
      EXPECT_NEAR(b2[m], (b - at("mean")) * s + at("beta"), 1e-5);
    }
    expect_same_outputs(before, g);
  }
}

TEST(FoldBatchnorm, DepthwiseConv) {
  std::mt19937 rng(2);
  Graph g;
  add_input(g, "x", {2, 4, 5, 5});
  g.initializers["W"] = random_tensor({4, 1, 3, 3}, rng);
  g.nodes.push_back(make_node("dw", "Conv", {"x", "W"}, {"c"}, {{"group", Attribute{int64_t{4}}}}));
  add_bn(g, "bn", "c", "y", 4, rng);
  add_output(g, "y");
  Graph before = g;
  EXPECT_TRUE(fold_batchnorm(g));
  EXPECT_EQ(op_types(g), (Ops{"Conv"}));
  expect_same_outputs(before, g);
}

TEST(FoldBatchnorm, SharedWeightIsNotMutated) {
  std::mt19937 rng(3);
  Graph g = conv_bn_graph(true, rng);
  g.nodes.push_back(make_node("conv2", "Conv", {"x", "W", "B"}, {"y2"},
                              {{"pads", Attribute{std::vector<int64_t>{1, 1, 1, 1}}}}));
  add_output(g, "y2");
  Graph before = g;
  Tensor w_copy = g.initializer("W")->clone();
  EXPECT_TRUE(fold_batchnorm(g));
  validate_graph(g);
  EXPECT_EQ(op_types(g), (Ops{"Conv", "Conv"}));
  EXPECT_EQ(g.nodes[1].inputs[1], "W");
  EXPECT_EQ(g.nodes[1].inputs[2], "B");
  std::vector<double> now = g.initializer("W")->to_doubles();
  EXPECT_EQ(now, w_copy.to_doubles());
  expect_same_outputs(before, g);
}

TEST(FoldBatchnorm, NotFoldedWhenConvOutputHasAnotherReaderOrWeightsAreInputs) {
  std::mt19937 rng(4);
  Graph g = conv_bn_graph(true, rng);
  add_output(g, "c");  // the conv's output is read by the BN and is a graph output
  EXPECT_FALSE(fold_batchnorm(g));
  EXPECT_EQ(op_types(g), (Ops{"Conv", "BatchNormalization"}));

  Graph h = conv_bn_graph(false, rng);
  h.initializers.erase("W");
  add_input(h, "W", {4, 3, 3, 3});  // weights given at run time
  EXPECT_FALSE(fold_batchnorm(h));
  EXPECT_EQ(op_types(h), (Ops{"Conv", "BatchNormalization"}));
}

TEST(FoldBatchnorm, GemmWithTransBAlphaBetaAndBias) {
  struct Case {
    bool trans_b;
    bool with_c;
    Shape c_shape;
  };
  const Case cases[] = {{false, true, {5}},
                        {true, true, {1, 5}},
                        {true, false, {}},
                        {false, true, {3, 5}},
                        {false, true, {1}}};
  for (const Case& cs : cases) {
    SCOPED_TRACE("transB=" + std::to_string(cs.trans_b) + " C" + shape_str(cs.c_shape));
    std::mt19937 rng(5);
    Graph g;
    add_input(g, "a", {3, 4});
    g.initializers["B"] = random_tensor(cs.trans_b ? Shape{5, 4} : Shape{4, 5}, rng);
    std::vector<std::string> in = {"a", "B"};
    if (cs.with_c) {
      g.initializers["C"] = random_tensor(cs.c_shape, rng);
      in.push_back("C");
    }
    g.nodes.push_back(make_node("fc", "Gemm", in, {"f"},
                                {{"transB", Attribute{int64_t{cs.trans_b}}},
                                 {"alpha", Attribute{0.5f}},
                                 {"beta", Attribute{2.0f}}}));
    add_bn(g, "bn", "f", "y", 5, rng);
    add_output(g, "y");
    Graph before = g;
    EXPECT_TRUE(fold_batchnorm(g));
    validate_graph(g);
    ASSERT_EQ(op_types(g), (Ops{"Gemm"}));
    EXPECT_EQ(g.nodes[0].outputs[0], "y");
    EXPECT_EQ(g.nodes[0].attr_float("beta", 0.0f), 1.0f);
    EXPECT_EQ(g.nodes[0].attr_float("alpha", 0.0f), 0.5f);
    EXPECT_EQ(g.initializer("B")->to_doubles(), before.initializer("B")->to_doubles());
    expect_same_outputs(before, g);
  }
}

TEST(FoldBatchnorm, MatMulWithAndWithoutAdd) {
  for (int variant = 0; variant < 3; ++variant) {
    SCOPED_TRACE("variant " + std::to_string(variant));
    std::mt19937 rng(6);
    Graph g;
    add_input(g, "a", {3, 4});
    g.initializers["W"] = random_tensor({4, 6}, rng);
    g.initializers["bias"] = random_tensor({6}, rng);
    g.nodes.push_back(make_node("mm", "MatMul", {"a", "W"}, {"t"}));
    std::string bn_in = "t";
    if (variant == 1) g.nodes.push_back(make_node("add", "Add", {"t", "bias"}, {bn_in = "s"}));
    if (variant == 2) g.nodes.push_back(make_node("add", "Add", {"bias", "t"}, {bn_in = "s"}));
    add_bn(g, "bn", bn_in, "y", 6, rng);
    add_output(g, "y");
    infer_shapes(g);  // the MatMul case needs the output rank
    Graph before = g;
    EXPECT_TRUE(fold_batchnorm(g));
    validate_graph(g);
    EXPECT_EQ(op_types(g), (Ops{"MatMul", "Add"}));
    EXPECT_EQ(g.nodes[1].outputs[0], "y");
    EXPECT_NE(g.nodes[0].inputs[1], "W");
    expect_same_outputs(before, g);
  }
}

TEST(FoldBatchnorm, MatMulWithRank3OutputIsNotFolded) {
  std::mt19937 rng(7);
  Graph g;
  add_input(g, "a", {2, 6, 4});
  g.initializers["W"] = random_tensor({4, 6}, rng);
  g.nodes.push_back(make_node("mm", "MatMul", {"a", "W"}, {"t"}));
  add_bn(g, "bn", "t", "y", 6, rng);  // BN's channel axis is 1 (size 6), not the last axis
  add_output(g, "y");
  infer_shapes(g);
  EXPECT_FALSE(fold_batchnorm(g));
  EXPECT_EQ(op_types(g), (Ops{"MatMul", "BatchNormalization"}));
}

// ---- fuse-activations ----------------------------------------------------------------------

TEST(FuseActivations, ConvReluBecomesOneNodeWithAFusedRelu) {
  std::mt19937 rng(8);
  Graph g;
  add_input(g, "x", {1, 2, 5, 5});
  g.initializers["W"] = random_tensor({3, 2, 3, 3}, rng);
  g.nodes.push_back(make_node("conv", "Conv", {"x", "W"}, {"c"}));
  g.nodes.push_back(make_node("relu", "Relu", {"c"}, {"y"}));
  add_output(g, "y");
  Graph before = g;
  EXPECT_TRUE(fuse_activations(g));
  validate_graph(g);
  ASSERT_EQ(op_types(g), (Ops{"Conv"}));
  EXPECT_EQ(g.nodes[0].outputs[0], "y");
  ASSERT_EQ(g.nodes[0].fused.size(), 1u);
  EXPECT_EQ(g.nodes[0].fused[0].op_type, "Relu");
  expect_same_outputs(before, g);
}

TEST(FuseActivations, ClipConstantBoundsBecomeAttributes) {
  std::mt19937 rng(9);
  Graph g;
  add_input(g, "a", {4, 3});
  g.initializers["B"] = random_tensor({3, 5}, rng);
  g.initializers["lo"] = Tensor::scalar(-0.25f);
  g.initializers["hi"] = Tensor::scalar(0.5f);
  g.nodes.push_back(make_node("fc", "Gemm", {"a", "B"}, {"f"}));
  g.nodes.push_back(make_node("clip", "Clip", {"f", "lo", "hi"}, {"y"}));
  add_output(g, "y");
  Graph before = g;
  EXPECT_TRUE(fuse_activations(g));
  ASSERT_EQ(op_types(g), (Ops{"Gemm"}));
  ASSERT_EQ(g.nodes[0].fused.size(), 1u);
  const Node& clip = g.nodes[0].fused[0];
  EXPECT_EQ(clip.inputs.size(), 1u);
  EXPECT_EQ(clip.attr_float("min", 0.0f), -0.25f);
  EXPECT_EQ(clip.attr_float("max", 0.0f), 0.5f);
  // The bounds matter on these inputs (so a dropped bound would show).
  TensorMap out = Executor(g).run(random_inputs(g, 7));
  auto v = out.at("y").to_doubles();
  EXPECT_DOUBLE_EQ(*std::max_element(v.begin(), v.end()), 0.5);
  EXPECT_DOUBLE_EQ(*std::min_element(v.begin(), v.end()), -0.25);
  expect_same_outputs(before, g);
}

TEST(FuseActivations, ChainOfActivationsFusesInOrder) {
  Graph g;
  add_input(g, "x", {2, 3});
  add_input(g, "z", {2, 3});
  g.initializers["slope"] = Tensor::scalar(0.1f);
  g.nodes.push_back(make_node("add", "Add", {"x", "z"}, {"s"}));
  g.nodes.push_back(make_node("lrelu", "LeakyRelu", {"s"}, {"l"}, {{"alpha", Attribute{0.2f}}}));
  g.nodes.push_back(make_node("tanh", "Tanh", {"l"}, {"y"}));
  add_output(g, "y");
  Graph before = g;
  EXPECT_TRUE(fuse_activations(g));
  ASSERT_EQ(op_types(g), (Ops{"Add"}));
  ASSERT_EQ(g.nodes[0].fused.size(), 2u);
  EXPECT_EQ(g.nodes[0].fused[0].op_type, "LeakyRelu");
  EXPECT_EQ(g.nodes[0].fused[0].attr_float("alpha", 0.0f), 0.2f);
  EXPECT_EQ(g.nodes[0].fused[1].op_type, "Tanh");
  EXPECT_EQ(g.nodes[0].outputs[0], "y");
  expect_same_outputs(before, g);
}

TEST(FuseActivations, NotFusedAfterMultiUseOrOtherProducersOrRuntimeBounds) {
  Graph g;
  add_input(g, "x", {2, 3});
  add_input(g, "hi", {});
  g.nodes.push_back(make_node("add", "Add", {"x", "x"}, {"s"}));
  g.nodes.push_back(make_node("relu", "Relu", {"s"}, {"r"}));  // s has two readers
  g.nodes.push_back(make_node("sig", "Sigmoid", {"s"}, {"q"}));
  g.nodes.push_back(make_node("mul", "Mul", {"r", "q"}, {"m"}));  // Mul is not a producer
  g.nodes.push_back(make_node("relu2", "Relu", {"m"}, {"n"}));
  g.nodes.push_back(make_node("add2", "Add", {"n", "x"}, {"t"}));
  g.nodes.push_back(make_node("clip", "Clip", {"t", "", "hi"}, {"y"}));  // max at run time
  add_output(g, "y");
  EXPECT_FALSE(fuse_activations(g));
  EXPECT_EQ(g.nodes.size(), 7u);
  for (const auto& n : g.nodes) EXPECT_TRUE(n.fused.empty()) << n.name;
}

// ---- eliminate-dead-code -------------------------------------------------------------------

TEST(EliminateDeadCode, RemovesDeadBranchesAndUnusedInitializers) {
  Graph g;
  add_input(g, "x", {3});
  add_input(g, "unused_input", {3});
  g.initializers["k"] = Tensor::from_vector<float>({3}, {1.0f, 2.0f, 3.0f});
  g.initializers["dead_k"] = Tensor::from_vector<float>({3}, {1.0f, 2.0f, 3.0f});
  g.initializers["orphan"] = Tensor::scalar(1.0f);
  g.nodes.push_back(make_node("add", "Add", {"x", "k"}, {"a"}));
  g.nodes.push_back(make_node("dead1", "Mul", {"a", "dead_k"}, {"d1"}));
  g.nodes.push_back(make_node("dead2", "Relu", {"d1"}, {"d2"}));
  g.nodes.push_back(make_node("relu", "Relu", {"a"}, {"y"}));
  add_output(g, "y");
  Graph before = g;
  EXPECT_TRUE(eliminate_dead_code(g));
  validate_graph(g);
  EXPECT_EQ(op_types(g), (Ops{"Add", "Relu"}));
  EXPECT_EQ(g.initializers.size(), 1u);
  EXPECT_TRUE(g.is_initializer("k"));
  EXPECT_EQ(g.inputs.size(), 2u);  // graph inputs are the interface: kept
  EXPECT_FALSE(eliminate_dead_code(g));
  expect_same_outputs(before, g);
}

// ---- the pipeline --------------------------------------------------------------------------

// x -> Identity -> Conv(W, B) -> BN -> Relu -> Identity -> y, with the BN's gamma computed by
// a constant chain and a dead branch.
Graph small_cnn(std::mt19937& rng) {
  Graph g;
  g.name = "small_cnn";
  add_input(g, "x", {1, 3, 8, 8});
  g.initializers["W"] = random_tensor({4, 3, 3, 3}, rng);
  g.initializers["B"] = random_tensor({4}, rng);
  g.nodes.push_back(make_node("id_in", "Identity", {"x"}, {"x1"}));
  g.nodes.push_back(make_node("conv", "Conv", {"x1", "W", "B"}, {"c"},
                              {{"pads", Attribute{std::vector<int64_t>{1, 1, 1, 1}}}}));
  add_bn(g, "bn", "c", "b", 4, rng);
  // gamma = gamma_half * 2, folded before the BN is.
  g.initializers["two"] = Tensor::scalar(2.0f);
  g.nodes.insert(g.nodes.begin(),
                 make_node("gamma_mul", "Mul", {"bn_gamma_half", "two"}, {"bn_gamma2"}));
  g.initializers["bn_gamma_half"] = random_tensor({4}, rng, 0.25f, 1.0f);
  g.nodes.back().inputs[1] = "bn_gamma2";
  g.nodes.push_back(make_node("relu", "Relu", {"b"}, {"r"}));
  g.nodes.push_back(make_node("dead", "Sigmoid", {"x1"}, {"unused"}));
  g.nodes.push_back(make_node("id_out", "Identity", {"r"}, {"y"}));
  add_output(g, "y");
  return g;
}

TEST(DefaultPasses, SmallCnnCompilesToOneConvWithFusedRelu) {
  std::mt19937 rng(10);
  Graph g = small_cnn(rng);
  Graph before = g;
  run_default_passes(g);
  validate_graph(g);
  ASSERT_EQ(op_types(g), (Ops{"Conv"})) << graph_to_text(g);
  const Node& conv = g.nodes[0];
  EXPECT_EQ(conv.inputs[0], "x");
  EXPECT_EQ(conv.outputs[0], "y");
  ASSERT_EQ(conv.fused.size(), 1u);
  EXPECT_EQ(conv.fused[0].op_type, "Relu");
  EXPECT_EQ(g.initializers.size(), 2u);  // the folded W and B only
  ASSERT_NE(g.value_info("y"), nullptr);
  EXPECT_EQ(g.value_info("y")->shape, (Shape{1, 4, 8, 8}));
  EXPECT_EQ(g.outputs[0].shape, (Shape{1, 4, 8, 8}));
  expect_same_outputs(before, g);
}

TEST(DefaultPasses, DumpAfterNamedPassesAndAll) {
  std::mt19937 rng(11);
  Graph g = small_cnn(rng);
  std::vector<std::string> seen;
  std::vector<size_t> node_counts;
  PassOptions opt;
  opt.dump_after = {"fold-batchnorm", "eliminate-identity"};
  opt.dump = [&](const std::string& pass, const Graph& graph) {
    seen.push_back(pass);
    node_counts.push_back(graph.nodes.size());
  };
  Graph g1 = g;
  run_default_passes(g1, opt);
  EXPECT_EQ(seen, (std::vector<std::string>{"eliminate-identity", "fold-batchnorm"}));
  // after eliminate-identity: Mul, Conv, BN, Relu, Sigmoid; after fold-batchnorm: Conv, Relu,
  // Sigmoid.
  EXPECT_EQ(node_counts, (std::vector<size_t>{5, 3}));

  seen.clear();
  opt.dump_after = {"all"};
  Graph g2 = g;
  run_default_passes(g2, opt);
  EXPECT_EQ(seen, default_pass_names());
}

TEST(DefaultPasses, NamesAreInPipelineOrder) {
  EXPECT_EQ(default_pass_names(),
            (std::vector<std::string>{"infer-shapes", "eliminate-identity", "fold-constants",
                                      "fuse-gelu", "fold-batchnorm", "fuse-activations",
                                      "eliminate-dead-code", "final-infer-shapes"}));
}

TEST(DefaultPasses, UnknownDumpNameIsAnErrorListingValidNames) {
  std::mt19937 rng(12);
  Graph g = small_cnn(rng);
  PassOptions opt;
  opt.dump_after = {"fold-bn"};
  opt.dump = [](const std::string&, const Graph&) {};
  try {
    run_default_passes(g, opt);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::invalid);
    std::string msg = e.what();
    EXPECT_NE(msg.find("fold-bn"), std::string::npos) << msg;
    EXPECT_NE(msg.find("fold-batchnorm"), std::string::npos) << msg;
    EXPECT_NE(msg.find("eliminate-dead-code"), std::string::npos) << msg;
  }
  EXPECT_EQ(g.nodes.size(), small_cnn(rng).nodes.size());  // untouched
}

}  // namespace
}  // namespace acim

namespace acim {
namespace {

// x -> Gemm -> [GELU written out with Erf] -> y, in the two orders exporters use.
Graph gelu_pattern_graph(bool half_first, float half = 0.5f, bool mul_by_inv_sqrt2 = false) {
  std::mt19937 rng(3);
  Graph g;
  g.name = "gelu";
  g.opset = 17;
  add_input(g, "x", {4, 8});
  g.initializers["w"] = random_tensor({8, 6}, rng);
  g.initializers["c_scale"] =
      Tensor::scalar<float>(mul_by_inv_sqrt2 ? 0.70710678f : 1.41421356f);
  g.initializers["c_one"] = Tensor::scalar<float>(1.0f);
  g.initializers["c_half"] = Tensor::scalar<float>(half);
  g.nodes.push_back(make_node("mm", "MatMul", {"x", "w"}, {"h"}));
  g.nodes.push_back(make_node("scale", mul_by_inv_sqrt2 ? "Mul" : "Div", {"h", "c_scale"}, {"d"}));
  g.nodes.push_back(make_node("erf", "Erf", {"d"}, {"e"}));
  g.nodes.push_back(make_node("add", "Add", {"c_one", "e"}, {"a"}));
  if (half_first) {
    g.nodes.push_back(make_node("half", "Mul", {"h", "c_half"}, {"hh"}));
    g.nodes.push_back(make_node("mul", "Mul", {"a", "hh"}, {"y"}));
  } else {
    g.nodes.push_back(make_node("mul", "Mul", {"h", "a"}, {"m"}));
    g.nodes.push_back(make_node("half", "Mul", {"m", "c_half"}, {"y"}));
  }
  add_output(g, "y");
  return g;
}

int count_op(const Graph& g, const std::string& op) {
  int n = 0;
  for (const auto& node : g.nodes) {
    n += node.op_type == op;
    for (const auto& f : node.fused) n += f.op_type == op;
  }
  return n;
}

TEST(Passes, FuseGeluReplacesTheErfPatternInBothOrders) {
  for (bool half_first : {false, true}) {
    for (bool inv : {false, true}) {
      Graph before = gelu_pattern_graph(half_first, 0.5f, inv);
      infer_shapes(before);
      Graph after = before;
      EXPECT_TRUE(fuse_gelu(after));
      EXPECT_EQ(after.nodes.size(), 2u);
      EXPECT_EQ(count_op(after, "Gelu"), 1);
      EXPECT_EQ(count_op(after, "Erf"), 0);
      EXPECT_EQ(after.nodes.back().outputs[0], "y");
      expect_same_outputs(before, after);
      // The whole pipeline then fuses the Gelu into the MatMul as an activation marker.
      Graph full = before;
      run_default_passes(full);
      ASSERT_EQ(full.nodes.size(), 1u);
      EXPECT_EQ(full.nodes[0].op_type, "MatMul");
      ASSERT_EQ(full.nodes[0].fused.size(), 1u);
      EXPECT_EQ(full.nodes[0].fused[0].op_type, "Gelu");
      expect_same_outputs(before, full);
    }
  }
}

TEST(Passes, FuseGeluLeavesNearMissesAlone) {
  Graph g = gelu_pattern_graph(false, 0.6f);  // 0.6 is not GELU's 0.5
  infer_shapes(g);
  EXPECT_FALSE(fuse_gelu(g));
  EXPECT_EQ(count_op(g, "Erf"), 1);
  // An intermediate read elsewhere (here: also a graph output) blocks the fusion.
  Graph g2 = gelu_pattern_graph(false);
  add_output(g2, "e");
  infer_shapes(g2);
  EXPECT_FALSE(fuse_gelu(g2));
}

}  // namespace
}  // namespace acim
