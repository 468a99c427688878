// ONNX export: an acim::Graph (as load_onnx returns it, before passes) back into a ModelProto.
//
// What the Program file stores as its model, so it is the inverse of onnx_import.cpp on
// everything the importer keeps: node names, op types, inputs and outputs (with "" for omitted
// optional ones), attributes of every Attribute variant, initializers as raw little-endian
// bytes, graph inputs and outputs with their element types and shapes (unknown dims as a
// dimension with neither value nor parameter, which the importer reads back as kUnknownDim).
// The importer's own marker attribute `_acim_legacy_2d` (Softmax-family nodes of opsets < 13)
// is left out: importing the file at the same opset adds it again.
// Not representable, hence an Error: nodes with fused activations (a pass's product, not an
// import's), other `_acim_` attributes, and graphs without an opset.
#include <onnx/onnx_pb.h>

#include <bit>
#include <climits>
#include <type_traits>

#include "acim/error.hpp"
#include "acim/onnx.hpp"

namespace acim {

namespace {

static_assert(std::endian::native == std::endian::little,
              "the ONNX exporter writes raw_data as the tensor's in-memory (little-endian) bytes");

// ONNX IR version 8 (ONNX 1.10) covers opsets up to 16; 10 (ONNX 1.16) covers 21, the newest
// opset the importer reads. The IR version must be at least the one the opset came with
// (onnx/helper.py, VERSION_TABLE).
int64_t ir_version_for(int64_t opset) {
  if (opset <= 15) return 8;
  if (opset <= 18) return 9;
  return 10;
}

onnx::TensorProto::DataType onnx_dtype(DType dt) {
  switch (dt) {
    case DType::f32:
      return onnx::TensorProto::FLOAT;
    case DType::f64:
      return onnx::TensorProto::DOUBLE;
    case DType::f16:
      return onnx::TensorProto::FLOAT16;
    case DType::i8:
      return onnx::TensorProto::INT8;
    case DType::u8:
      return onnx::TensorProto::UINT8;
    case DType::i16:
      return onnx::TensorProto::INT16;
    case DType::u16:
      return onnx::TensorProto::UINT16;
    case DType::i32:
      return onnx::TensorProto::INT32;
    case DType::u32:
      return onnx::TensorProto::UINT32;
    case DType::i64:
      return onnx::TensorProto::INT64;
    case DType::u64:
      return onnx::TensorProto::UINT64;
    case DType::boolean:
      return onnx::TensorProto::BOOL;
  }
  return onnx::TensorProto::UNDEFINED;
}

void tensor_to_proto(const Tensor& t, const std::string& name, const std::string& where,
                     onnx::TensorProto& tp) {
  if (t.empty() && t.numel() != 0)
    throw Error(ErrorKind::invalid, where, "has no data (an empty Tensor)",
                "give the tensor a dtype and shape");
  tp.set_name(name);
  tp.set_data_type(onnx_dtype(t.dtype()));
  for (int64_t d : t.shape()) tp.add_dims(d);
  // raw_data even when empty: the importer reads the bytes from it whenever it is present.
  if (t.nbytes() > 0)
    tp.set_raw_data(static_cast<const char*>(t.raw()), t.nbytes());
  else
    tp.set_raw_data(std::string());
}

void attribute_to_proto(const std::string& key, const Attribute& a, const std::string& where,
                        onnx::AttributeProto& ap) {
  ap.set_name(key);
  std::visit(
      [&](const auto& v) {
        using V = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<V, int64_t>) {
          ap.set_type(onnx::AttributeProto::INT);
          ap.set_i(v);
        } else if constexpr (std::is_same_v<V, float>) {
          ap.set_type(onnx::AttributeProto::FLOAT);
          ap.set_f(v);
        } else if constexpr (std::is_same_v<V, std::string>) {
          ap.set_type(onnx::AttributeProto::STRING);
          ap.set_s(v);
        } else if constexpr (std::is_same_v<V, Tensor>) {
          ap.set_type(onnx::AttributeProto::TENSOR);
          tensor_to_proto(v, "", where + ": attribute '" + key + "'", *ap.mutable_t());
        } else if constexpr (std::is_same_v<V, std::vector<int64_t>>) {
          ap.set_type(onnx::AttributeProto::INTS);
          for (int64_t x : v) ap.add_ints(x);
        } else if constexpr (std::is_same_v<V, std::vector<float>>) {
          ap.set_type(onnx::AttributeProto::FLOATS);
          for (float x : v) ap.add_floats(x);
        } else {
          static_assert(std::is_same_v<V, std::vector<std::string>>, "unhandled Attribute type");
          ap.set_type(onnx::AttributeProto::STRINGS);
          for (const std::string& x : v) ap.add_strings(x);
        }
      },
      a.value);
}

void value_to_proto(const ValueInfo& vi, onnx::ValueInfoProto& vp) {
  vp.set_name(vi.name);
  auto* tt = vp.mutable_type()->mutable_tensor_type();
  tt->set_elem_type(onnx_dtype(vi.dtype));
  if (!vi.shape_known) return;  // no shape at all: even the rank is unknown
  auto* shape = tt->mutable_shape();
  for (int64_t d : vi.shape) {
    auto* dim = shape->add_dim();
    if (d != kUnknownDim) dim->set_dim_value(d);
  }
}

}  // namespace

std::string save_onnx_to_bytes(const Graph& graph) {
  const std::string where = graph.source.empty() ? graph.name : graph.source;
  if (graph.opset <= 0)
    throw Error(ErrorKind::invalid, where, "the graph has no opset, so it cannot be saved as ONNX",
                "set Graph::opset (load_onnx does)");
  onnx::ModelProto model;
  model.set_ir_version(ir_version_for(graph.opset));
  model.set_producer_name("acim");
  auto* imp = model.add_opset_import();
  imp->set_domain("");
  imp->set_version(graph.opset);

  onnx::GraphProto* gp = model.mutable_graph();
  gp->set_name(graph.name);
  for (const Node& n : graph.nodes) {
    const std::string node_where = graph.where(n);
    if (!n.fused.empty())
      throw Error(ErrorKind::invalid, node_where,
                  "has fused activations, which ONNX cannot represent",
                  "save the graph as imported, before run_default_passes");
    onnx::NodeProto* np = gp->add_node();
    np->set_name(n.name);
    np->set_op_type(n.op_type);
    for (const std::string& in : n.inputs) np->add_input(in);
    for (const std::string& out : n.outputs) np->add_output(out);
    for (const auto& [key, attr] : n.attrs) {
      if (key.rfind("_acim_", 0) == 0) {
        // The importer's marker for opset < 13 Softmax semantics: implied by the opset.
        if (key == "_acim_legacy_2d" && graph.opset < 13) continue;
        throw Error(ErrorKind::invalid, node_where,
                    "attribute '" + key + "' is acim-internal and cannot be saved as ONNX",
                    "save the graph as imported, before run_default_passes");
      }
      attribute_to_proto(key, attr, node_where, *np->add_attribute());
    }
  }
  for (const auto& [name, t] : graph.initializers)
    tensor_to_proto(t, name, where + ": tensor '" + name + "'", *gp->add_initializer());
  for (const ValueInfo& vi : graph.inputs) value_to_proto(vi, *gp->add_input());
  for (const ValueInfo& vi : graph.outputs) value_to_proto(vi, *gp->add_output());

  const size_t size = model.ByteSizeLong();
  if (size > static_cast<size_t>(INT_MAX))
    throw Error(ErrorKind::limit, where,
                "is larger than protobuf's 2 GiB limit (" + std::to_string(size >> 20) + " MiB)",
                "use a smaller model");
  std::string bytes;
  const bool serialised = model.SerializeToString(&bytes);
  ACIM_ASSERT(serialised, "save_onnx_to_bytes: protobuf could not serialise the model");
  return bytes;
}

}  // namespace acim
