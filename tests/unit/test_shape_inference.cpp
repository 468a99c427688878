#include <gtest/gtest.h>

#include "acim/executor.hpp"
#include "acim/shape_inference.hpp"

namespace acim {
namespace {

Node make_node(std::string name, std::string op, std::vector<std::string> in,
               std::vector<std::string> out) {
  Node n;
  n.name = std::move(name);
  n.op_type = std::move(op);
  n.inputs = std::move(in);
  n.outputs = std::move(out);
  return n;
}

// x[2,3,4] -> Shape -> Gather(0) -> Unsqueeze -> Concat with [-1] -> Reshape(x): the shape
// arithmetic on a graph input whose shape is known resolves at inference time to [2,12].
Graph flatten_by_shape_arithmetic(Shape x_shape) {
  Graph g;
  g.name = "shape_arith";
  g.opset = 17;
  g.inputs.push_back(ValueInfo{"x", DType::f32, x_shape, true});
  g.initializers["zero"] = Tensor::scalar<int64_t>(0);
  g.initializers["axes0"] = Tensor::from_vector<int64_t>({1}, {0});
  g.initializers["minus1"] = Tensor::from_vector<int64_t>({1}, {-1});
  g.nodes.push_back(make_node("shape", "Shape", {"x"}, {"s"}));
  g.nodes.push_back(make_node("gather", "Gather", {"s", "zero"}, {"n"}));
  g.nodes.push_back(make_node("unsq", "Unsqueeze", {"n", "axes0"}, {"n1"}));
  g.nodes.push_back(make_node("concat", "Concat", {"n1", "minus1"}, {"target"}));
  g.nodes.back().attrs["axis"] = Attribute{int64_t{0}};
  g.nodes.push_back(make_node("reshape", "Reshape", {"x", "target"}, {"y"}));
  g.outputs.push_back(ValueInfo{"y", DType::f32, {}, false});
  return g;
}

TEST(ShapeInference, ShapeOfAKnownInputPropagatesAsAConstant) {
  Graph g = flatten_by_shape_arithmetic({2, 3, 4});
  infer_shapes(g);
  const ValueInfo* y = g.value_info("y");
  ASSERT_NE(y, nullptr);
  ASSERT_TRUE(y->shape_known);
  EXPECT_EQ(y->shape, (Shape{2, 12}));
  EXPECT_EQ(g.outputs[0].shape, (Shape{2, 12}));
}

TEST(ShapeInference, UnknownBatchStaysUnknownAndStillRuns) {
  Graph g = flatten_by_shape_arithmetic({kUnknownDim, 3, 4});
  infer_shapes(g);
  const ValueInfo* y = g.value_info("y");
  ASSERT_NE(y, nullptr);
  // The target shape depends on the unknown batch, so the output's shape is not known here...
  EXPECT_FALSE(y->shape_known && shape_is_known(y->shape));
  // ...but the executor computes it from the actual input.
  Executor exec(g);
  TensorMap out = exec.run({{"x", Tensor(DType::f32, {5, 3, 4})}});
  EXPECT_EQ(out.at("y").shape(), (Shape{5, 12}));
}

TEST(ShapeInference, MismatchNamesTheNodeAndShapes) {
  Graph g;
  g.source = "m.onnx";
  g.opset = 17;
  g.inputs.push_back(ValueInfo{"a", DType::f32, {2, 3}, true});
  g.inputs.push_back(ValueInfo{"b", DType::f32, {4, 5}, true});
  g.nodes.push_back(make_node("add1", "Add", {"a", "b"}, {"c"}));
  g.outputs.push_back(ValueInfo{"c", DType::f32, {}, false});
  try {
    infer_shapes(g);
    FAIL() << "expected a shape error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::shape);
    std::string msg = e.what();
    for (const char* s : {"m.onnx", "add1", "[2,3]", "[4,5]"})
      EXPECT_NE(msg.find(s), std::string::npos) << s << " in " << msg;
  }
}

TEST(ShapeInference, WrongInputCountIsAnError) {
  Graph g;
  g.opset = 17;
  g.inputs.push_back(ValueInfo{"a", DType::f32, {2, 3}, true});
  g.nodes.push_back(make_node("relu", "Relu", {"a", "a"}, {"c"}));
  g.outputs.push_back(ValueInfo{"c", DType::f32, {}, false});
  EXPECT_THROW(infer_shapes(g), Error);
}

}  // namespace
}  // namespace acim
