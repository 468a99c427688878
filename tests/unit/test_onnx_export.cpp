// ONNX export: save_onnx_to_bytes then load_onnx_from_bytes reproduces the graph — nodes,
// every attribute type, initializers of every dtype bit for bit, inputs and outputs with their
// shapes — for the zoo models (whose outputs must also stay bit-identical) and for hand-built
// graphs; what ONNX cannot hold (fused activations, acim-internal attributes) is an Error.
#include <gtest/gtest.h>

#include <bit>
#include <cstring>
#include <filesystem>
#include <limits>

#include "acim/executor.hpp"
#include "acim/onnx.hpp"
#include "acim/rng.hpp"

namespace {

using namespace acim;

// Same dtype, shape and bytes (NaN payloads included).
void expect_same_tensor(const Tensor& a, const Tensor& b, const std::string& what) {
  EXPECT_EQ(a.dtype(), b.dtype()) << what;
  EXPECT_EQ(a.shape(), b.shape()) << what;
  if (a.dtype() != b.dtype() || a.shape() != b.shape()) return;
  EXPECT_TRUE(a.nbytes() == 0 || std::memcmp(a.raw(), b.raw(), a.nbytes()) == 0) << what;
}

void expect_same_attr(const Attribute& a, const Attribute& b, const std::string& what) {
  ASSERT_EQ(a.value.index(), b.value.index()) << what;
  if (const auto* t = std::get_if<Tensor>(&a.value)) {
    expect_same_tensor(*t, std::get<Tensor>(b.value), what);
  } else if (const auto* f = std::get_if<float>(&a.value)) {
    EXPECT_EQ(std::bit_cast<uint32_t>(*f), std::bit_cast<uint32_t>(std::get<float>(b.value)))
        << what;
  } else if (const auto* fs = std::get_if<std::vector<float>>(&a.value)) {
    const auto& gs = std::get<std::vector<float>>(b.value);
    ASSERT_EQ(fs->size(), gs.size()) << what;
    for (size_t i = 0; i < fs->size(); ++i)
      EXPECT_EQ(std::bit_cast<uint32_t>((*fs)[i]), std::bit_cast<uint32_t>(gs[i])) << what;
  } else if (const auto* i = std::get_if<int64_t>(&a.value)) {
    EXPECT_EQ(*i, std::get<int64_t>(b.value)) << what;
  } else if (const auto* s = std::get_if<std::string>(&a.value)) {
    EXPECT_EQ(*s, std::get<std::string>(b.value)) << what;
  } else if (const auto* is = std::get_if<std::vector<int64_t>>(&a.value)) {
    EXPECT_EQ(*is, std::get<std::vector<int64_t>>(b.value)) << what;
  } else {
    EXPECT_EQ(std::get<std::vector<std::string>>(a.value),
              std::get<std::vector<std::string>>(b.value))
        << what;
  }
}

void expect_same_node(const Node& a, const Node& b) {
  EXPECT_EQ(a.name, b.name);
  EXPECT_EQ(a.op_type, b.op_type) << a.name;
  EXPECT_EQ(a.inputs, b.inputs) << a.name;
  EXPECT_EQ(a.outputs, b.outputs) << a.name;
  ASSERT_EQ(a.attrs.size(), b.attrs.size()) << a.name;
  for (const auto& [key, attr] : a.attrs) {
    ASSERT_TRUE(b.attrs.count(key)) << a.name << "." << key;
    expect_same_attr(attr, b.attrs.at(key), a.name + "." + key);
  }
}

void expect_same_initializers(const Graph& a, const Graph& b) {
  ASSERT_EQ(a.initializers.size(), b.initializers.size());
  for (const auto& [name, t] : a.initializers) {
    ASSERT_TRUE(b.initializers.count(name)) << name;
    expect_same_tensor(t, b.initializers.at(name), name);
  }
}

void expect_same_values(const std::vector<ValueInfo>& a, const std::vector<ValueInfo>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].name, b[i].name);
    EXPECT_EQ(a[i].dtype, b[i].dtype) << a[i].name;
    EXPECT_EQ(a[i].shape, b[i].shape) << a[i].name;
    EXPECT_EQ(a[i].shape_known, b[i].shape_known) << a[i].name;
  }
}

void expect_same_graph(const Graph& a, const Graph& b) {
  EXPECT_EQ(a.name, b.name);
  EXPECT_EQ(a.opset, b.opset);
  ASSERT_EQ(a.nodes.size(), b.nodes.size());
  for (size_t i = 0; i < a.nodes.size(); ++i) expect_same_node(a.nodes[i], b.nodes[i]);
  expect_same_initializers(a, b);
  expect_same_values(a.inputs, b.inputs);
  expect_same_values(a.outputs, b.outputs);
}

Graph zoo(const std::string& rel) {
  return load_onnx(std::string(ACIM_SOURCE_DIR) + "/" + rel);
}

Graph round_trip(const Graph& g) {
  return load_onnx_from_bytes(save_onnx_to_bytes(g), "round trip");
}

// N(0, 1) inputs in the declared shapes (unknown dims 1), float32 inputs only.
TensorMap random_inputs(const Graph& g, uint64_t seed) {
  TensorMap m;
  for (size_t k = 0; k < g.inputs.size(); ++k) {
    Shape shape = g.inputs[k].shape;
    for (int64_t& d : shape) d = d > 0 ? d : 1;
    Tensor t(DType::f32, shape);
    RandomStream(seed, {k}).normal(t.data<float>(), static_cast<size_t>(t.numel()));
    m[g.inputs[k].name] = t;
  }
  return m;
}

class ZooRoundTrip : public ::testing::TestWithParam<const char*> {};

TEST_P(ZooRoundTrip, SameGraphAndSameOutputs) {
  const Graph g = zoo(GetParam());
  const Graph back = round_trip(g);
  expect_same_graph(g, back);
  // The re-imported model computes exactly what the original does.
  const TensorMap in = random_inputs(g, 7);
  const TensorMap a = Executor(g).run(in);
  const TensorMap b = Executor(back).run(in);
  ASSERT_EQ(a.size(), b.size());
  for (const auto& [name, t] : a) {
    ASSERT_TRUE(b.count(name)) << name;
    expect_same_tensor(t, b.at(name), name);
  }
  // And saving the re-imported graph gives the same bytes.
  EXPECT_EQ(save_onnx_to_bytes(g), save_onnx_to_bytes(back));
}

INSTANTIATE_TEST_SUITE_P(Zoo, ZooRoundTrip,
                         ::testing::Values("zoo/kws/ds_cnn_s.onnx", "zoo/lstm/lstm_kws.onnx",
                                           "zoo/mlp/mlp_mnist.onnx",
                                           "zoo/resnet/resnet20_cifar.onnx"));

// X[?, 3] -> Relu (carrying every attribute type) -> Y, with one initializer of every dtype.
Graph every_kind_graph() {
  Graph g;
  g.name = "every_kind";
  g.opset = 17;
  g.inputs.push_back(ValueInfo{"X", DType::f32, {kUnknownDim, 3}, true});
  g.outputs.push_back(ValueInfo{"Y", DType::f32, {}, false});
  Node n;
  n.name = "relu";
  n.op_type = "Relu";
  n.inputs = {"X"};
  n.outputs = {"Y"};
  n.attrs["an_int"] = Attribute{int64_t{-1234567890123}};
  n.attrs["a_float"] = Attribute{-0.0f};
  n.attrs["a_string"] = Attribute{std::string("text with \0 nul", 15)};
  n.attrs["a_tensor"] = Attribute{Tensor::from_vector<int8_t>({2, 2}, {-128, 0, 1, 127})};
  n.attrs["ints"] = Attribute{std::vector<int64_t>{1, -2, std::numeric_limits<int64_t>::max()}};
  n.attrs["floats"] = Attribute{std::vector<float>{1.5f, std::numeric_limits<float>::infinity(),
                                                   std::numeric_limits<float>::denorm_min()}};
  n.attrs["strings"] = Attribute{std::vector<std::string>{"a", "", "ccc"}};
  n.attrs["empty_ints"] = Attribute{std::vector<int64_t>{}};
  g.nodes.push_back(n);

  // NaN with a payload, -0 and a denormal: raw bytes must survive as they are.
  uint32_t nan_bits = 0x7fc01234u;
  float nan_payload = 0;
  std::memcpy(&nan_payload, &nan_bits, sizeof nan_payload);
  g.initializers["f32"] = Tensor::from_vector<float>({4}, {nan_payload, -0.0f, 1e-45f, 3.25f});
  g.initializers["f64"] = Tensor::from_vector<double>({2}, {1.0 / 3.0, -1e300});
  Tensor f16(DType::f16, {3});
  const uint16_t halves[3] = {0x3c00, 0x7e01, 0x8001};
  std::memcpy(f16.raw(), halves, sizeof halves);
  g.initializers["f16"] = f16;
  g.initializers["i8"] = Tensor::from_vector<int8_t>({2}, {-7, 7});
  g.initializers["u8"] = Tensor::from_vector<uint8_t>({2}, {0, 255});
  g.initializers["i16"] = Tensor::from_vector<int16_t>({2}, {-32768, 32767});
  g.initializers["u16"] = Tensor::from_vector<uint16_t>({2}, {0, 65535});
  g.initializers["i32"] = Tensor::from_vector<int32_t>({1, 2}, {-5, 1 << 30});
  g.initializers["u32"] = Tensor::from_vector<uint32_t>({2}, {0, 0xffffffffu});
  g.initializers["i64"] = Tensor::scalar<int64_t>(std::numeric_limits<int64_t>::min());
  g.initializers["u64"] = Tensor::from_vector<uint64_t>({1}, {~uint64_t{0}});
  g.initializers["bool"] = Tensor::from_vector<bool>({3}, {true, false, true});
  g.initializers["empty"] = Tensor(DType::f32, {0, 4});
  return g;
}

TEST(OnnxExport, EveryAttributeTypeAndDtypeRoundTrips) {
  const Graph g = every_kind_graph();
  const Graph back = round_trip(g);
  EXPECT_EQ(back.name, "every_kind");
  EXPECT_EQ(back.opset, 17);
  ASSERT_EQ(back.nodes.size(), 1u);
  expect_same_node(g.nodes[0], back.nodes[0]);
  expect_same_initializers(g, back);
  ASSERT_EQ(back.inputs.size(), 1u);
  EXPECT_EQ(back.inputs[0].shape, (Shape{kUnknownDim, 3}));
  EXPECT_TRUE(back.inputs[0].shape_known);
  // The output had no shape; the importer's shape inference gives it Relu's.
  ASSERT_EQ(back.outputs.size(), 1u);
  EXPECT_EQ(back.outputs[0].shape, (Shape{kUnknownDim, 3}));
}

TEST(OnnxExport, LegacySoftmaxMarkerIsImpliedByTheOpset) {
  // Opset 11 Softmax: the importer marks it _acim_legacy_2d; the export leaves the marker out
  // (ONNX files may not carry it) and the re-import adds it again.
  Graph g;
  g.name = "legacy";
  g.opset = 11;
  g.inputs.push_back(ValueInfo{"X", DType::f32, {2, 3, 4}, true});
  g.outputs.push_back(ValueInfo{"Y", DType::f32, {2, 3, 4}, true});
  Node n;
  n.name = "sm";
  n.op_type = "Softmax";
  n.inputs = {"X"};
  n.outputs = {"Y"};
  n.attrs["_acim_legacy_2d"] = Attribute{int64_t{1}};
  g.nodes.push_back(n);
  const Graph back = round_trip(g);
  ASSERT_EQ(back.nodes.size(), 1u);
  expect_same_node(g.nodes[0], back.nodes[0]);

  g.opset = 13;  // at opset 13 the marker means something ONNX cannot say
  try {
    save_onnx_to_bytes(g);
    FAIL() << "expected an Error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::invalid);
    EXPECT_NE(std::string(e.what()).find("_acim_legacy_2d"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("'sm'"), std::string::npos) << e.what();
  }
}

TEST(OnnxExport, FusedActivationsAreAnError) {
  Graph g = zoo("zoo/mlp/mlp_mnist.onnx");
  Node relu;
  relu.name = "fused_relu";
  relu.op_type = "Relu";
  g.nodes[0].fused.push_back(relu);
  try {
    save_onnx_to_bytes(g);
    FAIL() << "expected an Error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::invalid);
    const std::string msg = e.what();
    EXPECT_NE(msg.find("fused"), std::string::npos) << msg;
    EXPECT_NE(msg.find(g.nodes[0].name), std::string::npos) << msg;
    EXPECT_NE(msg.find("before run_default_passes"), std::string::npos) << msg;
  }
}

TEST(OnnxExport, GraphWithoutOpsetIsAnError) {
  Graph g = every_kind_graph();
  g.opset = 0;
  EXPECT_THROW(save_onnx_to_bytes(g), Error);
}

}  // namespace
