// ONNX import: a ModelProto (opsets 11–21 of the default domain) into an acim::Graph.
//
// Order of checks, so a user sees the most useful error first: the file opens and parses, the
// opset is supported, the graph is not empty or too large, every node is of the default domain
// and of a supported op type (all offenders listed at once), then tensors and attributes are
// converted, the graph is validated (topological order, unique names) and shapes are inferred
// (a mismatch is reported naming its node).
#include <onnx/onnx_pb.h>

#include <bit>
#include <climits>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>

#include "acim/executor.hpp"
#include "acim/onnx.hpp"
#include "acim/shape_inference.hpp"
#include "ops/util.hpp"

namespace acim {

namespace {

static_assert(std::endian::native == std::endian::little,
              "the ONNX importer copies raw_data as little-endian bytes");

constexpr int64_t kMinOpset = 11;
constexpr int64_t kMaxOpset = 21;

// Where the bytes came from: names errors and decides whether external data may be read.
struct Source {
  std::string name;           // the file as given, or the caller's name for the bytes
  std::filesystem::path dir;  // folder external data must stay inside
  bool allow_external = false;
};

std::string prefix(const Source& src) {
  return src.name.empty() ? "" : src.name + ": ";
}

std::string tensor_where(const Source& src, const std::string& tensor_name) {
  return prefix(src) + "tensor '" + tensor_name + "'";
}


// Allocates a tensor, renaming the size-limit error after the tensor it is for.
Tensor make_tensor(DType dtype, const Shape& shape, const std::string& where) {
  try {
    return Tensor(dtype, shape);
  } catch (const Error& e) {
    throw Error(e.kind(), where, e.what_only(), e.fix());
  }
}

// Bytes a tensor of this dtype and shape needs; Error(limit) above max_tensor_bytes(), checked
// before anything is allocated or read (a hostile file may declare any size).
size_t declared_bytes(DType dtype, const Shape& shape, const std::string& where) {
  for (int64_t d : shape)
    if (d == 0) return 0;
  const size_t limit = max_tensor_bytes();
  size_t bytes = dtype_size(dtype);
  bool too_large = false;
  for (int64_t d : shape) {
    const auto ud = static_cast<size_t>(d);
    if (bytes > limit / ud) {
      too_large = true;
      break;
    }
    bytes *= ud;
  }
  if (too_large || bytes > limit)
    throw Error(ErrorKind::limit, where,
                "declares a " + dtype_name(dtype) + " tensor of shape " + shape_str(shape) +
                    ", more than the tensor size limit of " + std::to_string(limit >> 20) + " MiB",
                "check the model, or raise the limit with --max-tensor-mb");
  return bytes;
}

bool has_dotdot(const std::filesystem::path& p) {
  for (const auto& part : p)
    if (part == "..") return true;
  return false;
}

struct ExternalRef {
  std::filesystem::path file;
  std::string location;  // as written in the model, for messages
  int64_t offset = 0;
};

// Checks a tensor's external data reference (data_location == EXTERNAL) before anything is
// read: the location must stay inside the model's folder and the file must hold `need` bytes.
ExternalRef resolve_external(const onnx::TensorProto& tp, const Source& src,
                             const std::string& where, size_t need_bytes) {
  if (!src.allow_external)
    throw Error(ErrorKind::unsupported, where,
                "uses external data, which cannot be read for a model loaded from memory",
                "load the model from its file, or save it with all tensors inside it");
  ExternalRef ref;
  int64_t length = -1;
  for (const auto& kv : tp.external_data()) {
    try {
      if (kv.key() == "location") ref.location = kv.value();
      if (kv.key() == "offset") ref.offset = std::stoll(kv.value());
      if (kv.key() == "length") length = std::stoll(kv.value());
    } catch (const std::exception&) {
      throw Error(
          ErrorKind::parse, where,
          "external data key '" + kv.key() + "' has a non-numeric value '" + kv.value() + "'");
    }
  }
  const std::string& location = ref.location;
  if (location.empty()) throw Error(ErrorKind::parse, where, "external data has no 'location'");
  if (ref.offset < 0 || length < -1)
    throw Error(ErrorKind::parse, where, "external data offset/length is negative");
  const std::filesystem::path rel(location);
  const std::string fix = "external data files must lie in the model's folder or below it";
  if (rel.is_absolute() || rel.has_root_name() || rel.has_root_directory() || has_dotdot(rel))
    throw Error(ErrorKind::invalid, where,
                "external data location '" + location + "' escapes the model's folder", fix);
  std::error_code ec;
  const std::filesystem::path dir = src.dir.empty() ? std::filesystem::path(".") : src.dir;
  const std::filesystem::path base = std::filesystem::weakly_canonical(dir, ec);
  if (!ec) ref.file = std::filesystem::weakly_canonical(dir / rel, ec);
  if (ec)
    throw Error(ErrorKind::io, where,
                "cannot resolve external data location '" + location + "': " + ec.message());
  // Prefix check on whole path components, after symlinks are resolved.
  auto f = ref.file.begin();
  for (auto b = base.begin(); b != base.end() && !b->empty(); ++b, ++f)
    if (f == ref.file.end() || *b != *f)
      throw Error(ErrorKind::invalid, where,
                  "external data location '" + location + "' resolves outside the model's folder",
                  fix);
  if (!std::filesystem::is_regular_file(ref.file, ec))
    throw Error(ErrorKind::io, where, "cannot open external data file '" + location + "'");
  const auto file_size = static_cast<int64_t>(std::filesystem::file_size(ref.file, ec));
  if (ec) throw Error(ErrorKind::io, where, "cannot read external data file '" + location + "'");
  const auto need = static_cast<int64_t>(need_bytes);
  if (length >= 0 && length != need)
    throw Error(ErrorKind::parse, where,
                "external data length " + std::to_string(length) + " does not match the " +
                    std::to_string(need) + " bytes the tensor's shape needs");
  if (ref.offset > file_size || file_size - ref.offset < need)
    throw Error(ErrorKind::parse, where,
                "external data file '" + location + "' is truncated: needs " +
                    std::to_string(need) + " bytes at offset " + std::to_string(ref.offset) +
                    ", has " + std::to_string(file_size));
  return ref;
}

void read_external(const ExternalRef& ref, const std::string& where, Tensor& t) {
  std::ifstream in(ref.file, std::ios::binary);
  if (!in)
    throw Error(ErrorKind::io, where, "cannot open external data file '" + ref.location + "'");
  in.seekg(ref.offset);
  if (t.nbytes() > 0)
    in.read(static_cast<char*>(t.raw()), static_cast<std::streamsize>(t.nbytes()));
  if (!in)
    throw Error(ErrorKind::io, where, "cannot read external data file '" + ref.location + "'");
}

// Number of values in the typed field that holds `dtype` (ONNX's storage rules), and its name.
std::pair<int64_t, const char*> typed_field_size(const onnx::TensorProto& tp, DType dtype) {
  switch (dtype) {
    case DType::f32:
      return {tp.float_data_size(), "float_data"};
    case DType::f64:
      return {tp.double_data_size(), "double_data"};
    case DType::i64:
      return {tp.int64_data_size(), "int64_data"};
    case DType::u32:
    case DType::u64:
      return {tp.uint64_data_size(), "uint64_data"};
    default:
      return {tp.int32_data_size(), "int32_data"};
  }
}

template <class Dst, class Field>
void copy_field(const Field& field, Tensor& t) {
  Dst* dst = static_cast<Dst*>(t.raw());
  const int n = field.size();
  for (int i = 0; i < n; ++i) {
    if constexpr (std::is_same_v<Dst, bool>)
      dst[i] = field.Get(i) != 0;
    else
      dst[i] = static_cast<Dst>(field.Get(i));
  }
}

Tensor tensor_from_proto(const onnx::TensorProto& tp, const Source& src, const std::string& where) {
  if (tp.has_segment())
    throw Error(ErrorKind::unsupported, where, "segmented tensors are not supported");
  const DType dtype = ops::dtype_from_onnx(tp.data_type(), where);
  Shape shape;
  for (int64_t d : tp.dims()) {
    if (d < 0)
      throw Error(ErrorKind::parse, where, "has a negative dimension " + std::to_string(d));
    shape.push_back(d);
  }
  const size_t need = declared_bytes(dtype, shape, where);
  const bool external = tp.data_location() == onnx::TensorProto::EXTERNAL;
  ExternalRef ref;
  if (external) {
    ref = resolve_external(tp, src, where, need);
  } else if (tp.has_raw_data()) {
    if (tp.raw_data().size() != need)
      throw Error(ErrorKind::parse, where,
                  "raw_data holds " + std::to_string(tp.raw_data().size()) + " bytes, shape " +
                      shape_str(shape) + " of " + dtype_name(dtype) + " needs " +
                      std::to_string(need),
                  "the file is truncated or corrupt");
  } else {
    const auto [count, field] = typed_field_size(tp, dtype);
    if (count != shape_numel(shape))
      throw Error(ErrorKind::parse, where,
                  std::string(field) + " holds " + std::to_string(count) + " values, shape " +
                      shape_str(shape) + " needs " + std::to_string(shape_numel(shape)));
  }

  Tensor t = make_tensor(dtype, shape, where);
  if (external) {
    read_external(ref, where, t);
    if (dtype == DType::boolean) {
      auto* b = static_cast<uint8_t*>(t.raw());
      for (size_t i = 0; i < need; ++i) b[i] = b[i] != 0;
    }
  } else if (tp.has_raw_data()) {
    if (need > 0) std::memcpy(t.raw(), tp.raw_data().data(), need);
    if (dtype == DType::boolean) {
      auto* b = static_cast<uint8_t*>(t.raw());
      for (size_t i = 0; i < need; ++i) b[i] = b[i] != 0;
    }
  } else {
    switch (dtype) {
      case DType::f32:
        copy_field<float>(tp.float_data(), t);
        break;
      case DType::f64:
        copy_field<double>(tp.double_data(), t);
        break;
      case DType::i64:
        copy_field<int64_t>(tp.int64_data(), t);
        break;
      case DType::u32:
        copy_field<uint32_t>(tp.uint64_data(), t);
        break;
      case DType::u64:
        copy_field<uint64_t>(tp.uint64_data(), t);
        break;
      case DType::i32:
        copy_field<int32_t>(tp.int32_data(), t);
        break;
      case DType::i16:
        copy_field<int16_t>(tp.int32_data(), t);
        break;
      case DType::u16:
        copy_field<uint16_t>(tp.int32_data(), t);
        break;
      case DType::f16:
        copy_field<uint16_t>(tp.int32_data(), t);
        break;
      case DType::i8:
        copy_field<int8_t>(tp.int32_data(), t);
        break;
      case DType::u8:
        copy_field<uint8_t>(tp.int32_data(), t);
        break;
      case DType::boolean:
        copy_field<bool>(tp.int32_data(), t);
        break;
    }
  }
  return t;
}

// ValueInfoProto (a graph input or output) -> ValueInfo.
ValueInfo value_from_proto(const onnx::ValueInfoProto& vp, const Source& src, const char* kind,
                           bool require_type) {
  const std::string where = prefix(src) + kind + " '" + vp.name() + "'";
  ValueInfo vi;
  vi.name = vp.name();
  if (!vp.has_type() || vp.type().value_case() == onnx::TypeProto::VALUE_NOT_SET) {
    if (require_type) throw Error(ErrorKind::invalid, where, "has no type");
    return vi;
  }
  if (!vp.type().has_tensor_type())
    throw Error(
        ErrorKind::unsupported, where,
        std::string(kind) +
            " is not a tensor (sequence, map, optional and sparse values are not supported)");
  const auto& tt = vp.type().tensor_type();
  if (tt.elem_type() != onnx::TensorProto::UNDEFINED || require_type)
    vi.dtype = ops::dtype_from_onnx(tt.elem_type(), where);
  if (tt.has_shape()) {
    vi.shape_known = true;
    for (const auto& d : tt.shape().dim())
      vi.shape.push_back(d.has_dim_value() && d.dim_value() >= 0 ? d.dim_value() : kUnknownDim);
  }
  return vi;
}

bool is_default_domain(const std::string& domain) {
  return domain.empty() || domain == "ai.onnx";
}

// AttributeProto -> Attribute. Old exporters leave `type` unset; then the set field decides.
Attribute attribute_from_proto(const onnx::AttributeProto& ap, const Source& src,
                               const std::string& node_where) {
  const std::string where = node_where + ": attribute '" + ap.name() + "'";
  auto type = ap.type();
  if (type == onnx::AttributeProto::UNDEFINED) {
    if (ap.has_f())
      type = onnx::AttributeProto::FLOAT;
    else if (ap.has_i())
      type = onnx::AttributeProto::INT;
    else if (ap.has_s())
      type = onnx::AttributeProto::STRING;
    else if (ap.has_t())
      type = onnx::AttributeProto::TENSOR;
    else if (ap.has_g())
      type = onnx::AttributeProto::GRAPH;
    else if (ap.floats_size())
      type = onnx::AttributeProto::FLOATS;
    else if (ap.ints_size())
      type = onnx::AttributeProto::INTS;
    else if (ap.strings_size())
      type = onnx::AttributeProto::STRINGS;
    else if (ap.graphs_size())
      type = onnx::AttributeProto::GRAPHS;
    else
      throw Error(ErrorKind::parse, where, "has no type and no value");
  }
  Attribute a;
  switch (type) {
    case onnx::AttributeProto::FLOAT:
      a.value = ap.f();
      break;
    case onnx::AttributeProto::INT:
      a.value = static_cast<int64_t>(ap.i());
      break;
    case onnx::AttributeProto::STRING:
      a.value = ap.s();
      break;
    case onnx::AttributeProto::TENSOR:
      a.value = tensor_from_proto(ap.t(), src, where);
      break;
    case onnx::AttributeProto::FLOATS:
      a.value = std::vector<float>(ap.floats().begin(), ap.floats().end());
      break;
    case onnx::AttributeProto::INTS:
      a.value = std::vector<int64_t>(ap.ints().begin(), ap.ints().end());
      break;
    case onnx::AttributeProto::STRINGS:
      a.value = std::vector<std::string>(ap.strings().begin(), ap.strings().end());
      break;
    case onnx::AttributeProto::GRAPH:
    case onnx::AttributeProto::GRAPHS:
      throw Error(ErrorKind::unsupported, where,
                  "graph attributes (control flow: If/Loop/Scan bodies) are not supported");
    default:
      throw Error(
          ErrorKind::unsupported, where,
          "attribute type " + onnx::AttributeProto::AttributeType_Name(type) + " is not supported");
  }
  return a;
}

// The tensor a Constant node produces (its single attribute).
Tensor constant_value(const onnx::NodeProto& np, const Source& src, const std::string& where) {
  if (np.attribute_size() != 1)
    throw Error(ErrorKind::invalid, where,
                "must have exactly one attribute, has " + std::to_string(np.attribute_size()));
  const auto& ap = np.attribute(0);
  const std::string& key = ap.name();
  if (key == "value") return tensor_from_proto(ap.t(), src, where + ": attribute 'value'");
  if (key == "value_float") return Tensor::scalar<float>(ap.f());
  if (key == "value_int") return Tensor::scalar<int64_t>(ap.i());
  if (key == "value_floats") {
    std::vector<float> v(ap.floats().begin(), ap.floats().end());
    return Tensor::from_vector<float>({static_cast<int64_t>(v.size())}, v);
  }
  if (key == "value_ints") {
    std::vector<int64_t> v(ap.ints().begin(), ap.ints().end());
    return Tensor::from_vector<int64_t>({static_cast<int64_t>(v.size())}, v);
  }
  if (key == "value_string" || key == "value_strings" || key == "sparse_value")
    throw Error(ErrorKind::unsupported, where,
                "Constant with attribute '" + key +
                    "' is not supported (string and sparse "
                    "constants)");
  throw Error(ErrorKind::invalid, where, "unknown Constant attribute '" + key + "'");
}

// Consumes the model's initializer bytes: each is freed once copied into its Tensor, so a large
// model's weights are held about once, not twice, while importing.
Graph import_model(onnx::ModelProto& model, const Source& src, const OnnxImportOptions& options) {
  const std::string where = src.name;
  // Opset of the default domain.
  int64_t opset = -1;
  for (const auto& imp : model.opset_import())
    if (is_default_domain(imp.domain())) opset = imp.version();
  if (opset < 0) {
    std::string domains;
    for (const auto& imp : model.opset_import())
      domains += (domains.empty() ? "" : ", ") + imp.domain();
    throw Error(ErrorKind::unsupported, where,
                "the model imports no default-domain opset, only " +
                    (domains.empty() ? std::string("nothing") : "domain " + domains),
                "acim runs standard ONNX ops, opsets 11 to 21");
  }
  if (opset < kMinOpset || opset > kMaxOpset)
    throw Error(ErrorKind::unsupported, where,
                "opset " + std::to_string(opset) + " is not supported (supported: " +
                    std::to_string(kMinOpset) + " to " + std::to_string(kMaxOpset) + ")",
                "convert the model with onnx.version_converter or re-export it with an opset in "
                "that range");
  if (!model.has_graph()) throw Error(ErrorKind::invalid, where, "the model has no graph");
  onnx::GraphProto& gp = *model.mutable_graph();
  if (gp.node_size() == 0)
    throw Error(ErrorKind::invalid, where, "the graph is empty (it has no nodes)");
  if (gp.node_size() > options.max_nodes)
    throw Error(ErrorKind::limit, where,
                "the graph has " + std::to_string(gp.node_size()) + " nodes, more than the limit " +
                    std::to_string(options.max_nodes));

  Graph g;
  g.name = gp.name();
  g.source = src.name;
  g.opset = opset;

  // Nodes: names and op types first, so every unsupported op is listed before anything else.
  std::set<std::string> used_names;
  for (const auto& np : gp.node())
    if (!np.name().empty()) used_names.insert(np.name());
  std::vector<std::string> names(static_cast<size_t>(gp.node_size()));
  std::string foreign;
  std::set<std::string> foreign_domains;
  Graph probe;  // op types only, for check_ops_supported
  probe.source = src.name;
  for (int i = 0; i < gp.node_size(); ++i) {
    const auto& np = gp.node(i);
    std::string name = np.name();
    if (name.empty()) {
      const std::string base = np.op_type() + "_" + std::to_string(i);
      name = base;
      for (int k = 1; used_names.count(name); ++k) name = base + "_" + std::to_string(k);
      used_names.insert(name);
    }
    names[static_cast<size_t>(i)] = name;
    if (!is_default_domain(np.domain())) {
      foreign +=
          (foreign.empty() ? "" : ", ") + std::string("node '") + name + "' (" + np.op_type() + ")";
      foreign_domains.insert(np.domain());
      continue;
    }
    if (np.op_type() == "Constant") continue;
    Node n;
    n.name = name;
    n.op_type = np.op_type();
    probe.nodes.push_back(std::move(n));
  }
  if (!foreign.empty()) {
    std::string domains;
    for (const auto& d : foreign_domains) domains += (domains.empty() ? "" : ", ") + d;
    throw Error(ErrorKind::unsupported, where,
                "ops of domain " + domains + " are not supported: " + foreign,
                "export the model with standard ONNX ops only");
  }
  check_ops_supported(probe);

  // Initializers (a sparse initializer is refused).
  if (gp.sparse_initializer_size() > 0)
    throw Error(ErrorKind::unsupported, where, "sparse initializers are not supported");
  for (auto& tp : *gp.mutable_initializer()) {
    if (tp.name().empty()) throw Error(ErrorKind::invalid, where, "an initializer has no name");
    g.initializers[tp.name()] = tensor_from_proto(tp, src, tensor_where(src, tp.name()));
    std::string().swap(*tp.mutable_raw_data());
  }

  for (int i = 0; i < gp.node_size(); ++i) {
    const auto& np = gp.node(i);
    Node n;
    n.name = names[static_cast<size_t>(i)];
    n.op_type = np.op_type();
    n.inputs.assign(np.input().begin(), np.input().end());
    n.outputs.assign(np.output().begin(), np.output().end());
    const std::string node_where = g.where(n);
    if (n.op_type == "Constant") {
      if (np.output_size() != 1 || np.output(0).empty())
        throw Error(ErrorKind::invalid, node_where, "must have exactly one output");
      if (g.initializers.count(np.output(0)))
        throw Error(ErrorKind::invalid, node_where,
                    "output '" + np.output(0) + "' is defined more than once");
      g.initializers[np.output(0)] = constant_value(np, src, node_where);
      continue;
    }
    for (const auto& ap : np.attribute()) {
      if (ap.name().empty())
        throw Error(ErrorKind::invalid, node_where, "an attribute has no name");
      if (ap.name().rfind("_acim_", 0) == 0)
        throw Error(ErrorKind::invalid, node_where,
                    "attribute '" + ap.name() + "' uses the reserved prefix _acim_");
      if (!ap.ref_attr_name().empty())
        throw Error(ErrorKind::invalid, node_where,
                    "attribute '" + ap.name() +
                        "' refers to a function attribute outside a "
                        "function");
      n.attrs[ap.name()] = attribute_from_proto(ap, src, node_where);
    }
    // Softmax/LogSoftmax/Hardmax before opset 13 flatten the input to 2-D around `axis`.
    if (opset < 13 &&
        (n.op_type == "Softmax" || n.op_type == "LogSoftmax" || n.op_type == "Hardmax"))
      n.attrs["_acim_legacy_2d"] = Attribute{int64_t{1}};
    g.nodes.push_back(std::move(n));
  }

  for (const auto& vp : gp.input()) {
    if (g.initializers.count(vp.name())) continue;
    g.inputs.push_back(value_from_proto(vp, src, "input", true));
  }
  for (const auto& vp : gp.output())
    g.outputs.push_back(value_from_proto(vp, src, "output", false));
  if (g.outputs.empty()) throw Error(ErrorKind::invalid, where, "the graph has no outputs");

  validate_graph(g);
  infer_shapes(g);
  return g;
}

// Opens a file for reading; errors name it (a folder, missing or unreadable).
std::ifstream open_file(const std::filesystem::path& path, const char* what) {
  std::error_code ec;
  const std::string name = path.string();
  if (std::filesystem::is_directory(path, ec))
    throw Error(ErrorKind::io, name, std::string("cannot open ") + what + ": it is a directory");
  std::ifstream in(path, std::ios::binary);
  if (!in)
    throw Error(ErrorKind::io, name, std::string("cannot open ") + what,
                "check that the file exists and is readable");
  return in;
}

void check_proto_size(uintmax_t size, const std::string& name) {
  if (size > static_cast<uintmax_t>(INT_MAX))
    throw Error(ErrorKind::limit, name, "is larger than protobuf's 2 GiB limit",
                "save the weights as external data beside the model");
}

[[noreturn]] void throw_not_proto(const std::string& name, const char* kind) {
  throw Error(ErrorKind::parse, name,
              std::string("is not an ONNX ") + kind + " (protobuf parse failed)",
              "the file is truncated, corrupt, of another format, or nested deeper than "
              "protobuf's limit of 100 levels");
}

template <class Proto>
void parse_proto(const std::string& bytes, const std::string& name, const char* kind,
                 Proto& proto) {
  check_proto_size(bytes.size(), name);
  if (bytes.empty() || !proto.ParseFromArray(bytes.data(), static_cast<int>(bytes.size())))
    throw_not_proto(name, kind);
}

// Parses a file straight from the stream (a regular file is never held as bytes beside the
// parsed message: for a 500 MB model that is 500 MB of peak memory saved); other files (pipes)
// are read whole first.
template <class Proto>
void parse_proto_file(const std::filesystem::path& path, const char* kind, Proto& proto) {
  std::ifstream in = open_file(path, kind);
  const std::string name = path.string();
  std::error_code ec;
  const std::uintmax_t size = std::filesystem::file_size(path, ec);
  if (!ec && std::filesystem::is_regular_file(path, ec)) {
    check_proto_size(size, name);
    if (size == 0 || !proto.ParseFromIstream(&in)) throw_not_proto(name, kind);
    return;
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) throw Error(ErrorKind::io, name, std::string("cannot read ") + kind);
  parse_proto(std::move(ss).str(), name, kind, proto);
}

// A parsed model to a Graph.
Graph import_parsed(onnx::ModelProto& model, const Source& src, const OnnxImportOptions& options) {
  // A protobuf parser accepts many byte strings as an empty message; a model has both.
  if (model.ir_version() == 0 && !model.has_graph())
    throw Error(ErrorKind::parse, src.name, "is not an ONNX model (protobuf parse failed)",
                "the file has no ir_version and no graph");
  return import_model(model, src, options);
}

}  // namespace

Graph load_onnx(const std::filesystem::path& path, const OnnxImportOptions& options) {
  onnx::ModelProto model;
  parse_proto_file(path, "model", model);
  return import_parsed(model, Source{path.string(), path.parent_path(), true}, options);
}

Graph load_onnx_from_bytes(std::string bytes, const std::string& source,
                           const OnnxImportOptions& options) {
  onnx::ModelProto model;
  parse_proto(bytes, source, "model", model);
  std::string().swap(bytes);  // the message holds them now
  return import_parsed(model, Source{source, {}, false}, options);
}

Tensor load_onnx_tensor(const std::filesystem::path& path) {
  onnx::TensorProto tp;
  parse_proto_file(path, "tensor", tp);
  Source src{path.string(), path.parent_path(), true};
  return tensor_from_proto(tp, src, tp.name().empty() ? src.name : tensor_where(src, tp.name()));
}

}  // namespace acim
