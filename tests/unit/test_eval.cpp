// Accuracy on a labelled set (include/acim/eval.hpp): reading NAME_x/NAME_y .npy pairs with every
// bad-folder case, and evaluate() — labels made from the float model's own predictions give 100 %
// float accuracy, the ideal chip reproduces it, and noisy instances are reproducible per seed.
#include <gtest/gtest.h>

#include <filesystem>

#include "acim/error.hpp"
#include "acim/eval.hpp"
#include "acim/npy.hpp"
#include "acim/rng.hpp"
#include "test_util.hpp"

namespace acim {
namespace {

namespace fs = std::filesystem;

Tensor normal(const Shape& shape, uint64_t key) {
  Tensor t(DType::f32, shape);
  RandomStream(42, {key}).normal(t.data<float>(), static_cast<size_t>(t.numel()));
  return t;
}

// x[?, 40] -> Gemm(W[40, 6]) + b -> logits[?, 6].
Graph classifier() {
  Graph g;
  g.name = "classifier";
  g.opset = 17;
  g.inputs.push_back(ValueInfo{"x", DType::f32, {kUnknownDim, 40}, true});
  g.outputs.push_back(ValueInfo{"logits", DType::f32, {}, false});
  g.initializers["W"] = normal({40, 6}, 1);
  g.initializers["b"] = normal({6}, 2);
  Node n;
  n.name = "fc";
  n.op_type = "Gemm";
  n.inputs = {"x", "W", "b"};
  n.outputs = {"logits"};
  g.nodes.push_back(n);
  return g;
}

class EvalTest : public ::testing::Test {
 protected:
  test::TempDir tmp_;
  const fs::path& dir_ = tmp_.path();
};

Program compiled(bool random_calibration = true) {
  CompileOptions o;
  o.random_calibration = random_calibration ? 8 : 0;
  return compile_program(classifier(), chip_preset("edge-voice"), o);
}

// Labels = the float model's argmax, so the float accuracy is exactly 1.
std::vector<int64_t> own_labels(const Program& p, const Tensor& x) {
  Tensor y = Executor(p.graph).run({{"x", x}}).at("logits");
  std::vector<int64_t> l;
  for (int64_t i = 0; i < y.dim(0); ++i) {
    const float* r = y.data<float>() + i * 6;
    l.push_back(std::max_element(r, r + 6) - r);
  }
  return l;
}

TEST_F(EvalTest, ShardsInNameOrderAndIdealChipMatchesFloat) {
  Program p = compiled();
  Tensor x1 = normal({50, 40}, 3), x2 = normal({30, 40}, 4);
  std::vector<int64_t> l1 = own_labels(p, x1), l2 = own_labels(p, x2);
  save_npy(dir_ / "b_x.npy", x2);
  save_npy(dir_ / "b_y.npy", Tensor::from_vector<int64_t>({30}, l2));
  save_npy(dir_ / "a_x.npy", x1);
  save_npy(dir_ / "a_y.npy", Tensor::from_vector<int64_t>({50, 1}, l1));
  LabelledSet set = load_labelled_set(dir_, p.graph, 6);
  ASSERT_EQ(set.size(), 80);
  EXPECT_EQ(set.labels[0], l1[0]);
  EXPECT_EQ(set.labels[50], l2[0]);
  EXPECT_EQ(set.inputs.data<float>()[50 * 40], x2.data<float>()[0]);

  EvalOptions o;
  o.ideal = true;
  o.batch = 32;  // 80 samples: batches of 32, 32, 16
  int64_t last_done = 0, calls = 0;
  o.progress = [&](int64_t done, int64_t total) {
    EXPECT_EQ(total, 160);
    EXPECT_GT(done, last_done);
    last_done = done;
    ++calls;
  };
  EvalResult r = evaluate(p, set, o);
  EXPECT_EQ(r.samples, 80);
  EXPECT_DOUBLE_EQ(r.float_accuracy, 1.0);
  ASSERT_EQ(r.chip_accuracy.size(), 1u);
  EXPECT_DOUBLE_EQ(r.chip_accuracy[0], 1.0);
  EXPECT_EQ(last_done, 160);
  EXPECT_EQ(calls, 6);

  // A known float accuracy (a sweep's earlier point) is taken as given and its run skipped: the
  // progress counts only the chip's 80 samples, in 3 batches.
  o.float_accuracy = 0.25;
  last_done = calls = 0;
  o.progress = [&](int64_t done, int64_t total) {
    EXPECT_EQ(total, 80);
    last_done = done;
    ++calls;
  };
  r = evaluate(p, set, o);
  EXPECT_DOUBLE_EQ(r.float_accuracy, 0.25);
  EXPECT_DOUBLE_EQ(r.chip_accuracy.at(0), 1.0);
  EXPECT_EQ(last_done, 80);
  EXPECT_EQ(calls, 3);
}

TEST_F(EvalTest, InstancesAreReproducibleAndDiffer) {
  Program p = compiled();
  Tensor x = normal({200, 40}, 5);
  save_npy(dir_ / "t_x.npy", x);
  save_npy(dir_ / "t_y.npy", Tensor::from_vector<int64_t>({200}, own_labels(p, x)));
  LabelledSet set = load_labelled_set(dir_, p.graph, 6);
  EvalOptions o;
  o.instances = 3;
  EvalResult a = evaluate(p, set, o), b = evaluate(p, set, o);
  EXPECT_EQ(a.chip_accuracy, b.chip_accuracy);
  EXPECT_DOUBLE_EQ(a.float_accuracy, 1.0);
  // edge-voice's 8-bit arrays keep most predictions of a 6-class linear model.
  EXPECT_GT(a.mean, 0.7);
  EXPECT_LE(a.mean, 1.0);
  double lo = *std::min_element(a.chip_accuracy.begin(), a.chip_accuracy.end());
  EXPECT_GE(a.mean, lo);
}

TEST_F(EvalTest, BadFoldersAreClearErrors) {
  Program p = compiled(false);
  auto expect = [&](ErrorKind kind, const std::string& needle) {
    try {
      load_labelled_set(dir_, p.graph, 6);
      ADD_FAILURE() << "no error for " << needle;
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), kind) << e.what();
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  expect(ErrorKind::invalid, "no NAME_x.npy");
  save_npy(dir_ / "a_x.npy", normal({4, 40}, 6));
  expect(ErrorKind::invalid, "a_y.npy");  // x without y
  save_npy(dir_ / "a_y.npy", Tensor::from_vector<int64_t>({3}, {0, 1, 2}));
  expect(ErrorKind::shape, "expected [4]");  // count mismatch
  save_npy(dir_ / "a_y.npy", Tensor::from_vector<float>({4}, {0, 1, 2, 3}));
  expect(ErrorKind::invalid, "integer");
  save_npy(dir_ / "a_y.npy", Tensor::from_vector<int64_t>({4}, {0, 1, 2, 6}));
  expect(ErrorKind::invalid, "outside the model's classes");
  save_npy(dir_ / "a_y.npy", Tensor::from_vector<int64_t>({4}, {0, 1, 2, 3}));
  save_npy(dir_ / "a_x.npy", normal({4, 41}, 6));
  expect(ErrorKind::shape, "a_x.npy");  // sample shape
  save_npy(dir_ / "a_x.npy", normal({4, 40}, 6));
  save_npy(dir_ / "c_y.npy", Tensor::from_vector<int64_t>({4}, {0, 1, 2, 3}));
  expect(ErrorKind::invalid, "c_y.npy");  // y without x
  fs::remove(dir_ / "c_y.npy");
  EXPECT_EQ(load_labelled_set(dir_, p.graph, 6).size(), 4);
  EXPECT_THROW(load_labelled_set(dir_ / "missing", p.graph), Error);
}

}  // namespace
}  // namespace acim
