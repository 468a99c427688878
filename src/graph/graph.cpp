#include "acim/graph.hpp"

#include <set>
#include <sstream>

namespace acim {

namespace {
template <class T>
const T* attr_as(const Node& node, const std::string& key, const char* type_name) {
  auto it = node.attrs.find(key);
  if (it == node.attrs.end()) return nullptr;
  const T* v = std::get_if<T>(&it->second.value);
  if (!v)
    throw Error(ErrorKind::invalid, node.label(),
                "attribute '" + key + "' is not of type " + type_name);
  return v;
}
}  // namespace

int64_t Node::attr_int(const std::string& key, int64_t dflt) const {
  const auto* v = attr_as<int64_t>(*this, key, "int");
  return v ? *v : dflt;
}
float Node::attr_float(const std::string& key, float dflt) const {
  const auto* v = attr_as<float>(*this, key, "float");
  return v ? *v : dflt;
}
std::string Node::attr_string(const std::string& key, const std::string& dflt) const {
  const auto* v = attr_as<std::string>(*this, key, "string");
  return v ? *v : dflt;
}
std::vector<int64_t> Node::attr_ints(const std::string& key, std::vector<int64_t> dflt) const {
  const auto* v = attr_as<std::vector<int64_t>>(*this, key, "ints");
  return v ? *v : dflt;
}
std::vector<float> Node::attr_floats(const std::string& key, std::vector<float> dflt) const {
  const auto* v = attr_as<std::vector<float>>(*this, key, "floats");
  return v ? *v : dflt;
}
const Tensor* Node::attr_tensor(const std::string& key) const {
  return attr_as<Tensor>(*this, key, "tensor");
}

size_t Node::num_inputs() const {
  size_t n = inputs.size();
  while (n > 0 && inputs[n - 1].empty()) --n;
  return n;
}

std::string Node::label() const { return "node '" + name + "' (" + op_type + ")"; }

const Tensor* Graph::initializer(const std::string& value) const {
  auto it = initializers.find(value);
  return it == initializers.end() ? nullptr : &it->second;
}

const ValueInfo* Graph::value_info(const std::string& value) const {
  auto it = values.find(value);
  return it == values.end() ? nullptr : &it->second;
}

Node* Graph::find_node(const std::string& node_name) {
  for (auto& n : nodes)
    if (n.name == node_name) return &n;
  return nullptr;
}

int Graph::producer(const std::string& value) const {
  if (value.empty()) return -1;
  for (size_t i = 0; i < nodes.size(); ++i)
    for (const auto& o : nodes[i].outputs)
      if (o == value) return static_cast<int>(i);
  return -1;
}

int Graph::use_count(const std::string& value) const {
  int n = 0;
  for (const auto& node : nodes)
    for (const auto& in : node.inputs)
      if (in == value) ++n;
  for (const auto& o : outputs)
    if (o.name == value) ++n;
  return n;
}

std::string Graph::fresh_name(const std::string& base) const {
  auto used = [&](const std::string& s) {
    if (initializers.count(s) || values.count(s)) return true;
    for (const auto& n : nodes) {
      if (n.name == s) return true;
      for (const auto& o : n.outputs)
        if (o == s) return true;
    }
    for (const auto& i : inputs)
      if (i.name == s) return true;
    return false;
  };
  if (!used(base)) return base;
  for (int k = 1;; ++k) {
    std::string s = base + "_" + std::to_string(k);
    if (!used(s)) return s;
  }
}

std::string Graph::where(const Node& node) const {
  return source.empty() ? node.label() : source + ": " + node.label();
}

void validate_graph(const Graph& graph) {
  std::set<std::string> defined;
  for (const auto& in : graph.inputs) defined.insert(in.name);
  for (const auto& [name, t] : graph.initializers) defined.insert(name);
  std::set<std::string> node_names;
  for (const auto& node : graph.nodes) {
    if (!node_names.insert(node.name).second)
      throw Error(ErrorKind::invalid, graph.where(node), "duplicate node name");
    for (const auto& in : node.inputs)
      if (!in.empty() && !defined.count(in))
        throw Error(ErrorKind::invalid, graph.where(node),
                    "input '" + in + "' is not produced by any earlier node, graph input or "
                    "initializer",
                    "the graph must be in topological order and acyclic");
    for (const auto& out : node.outputs) {
      if (out.empty()) continue;
      if (!defined.insert(out).second)
        throw Error(ErrorKind::invalid, graph.where(node),
                    "output '" + out + "' is defined more than once");
    }
  }
  for (const auto& out : graph.outputs)
    if (!defined.count(out.name))
      throw Error(ErrorKind::invalid, graph.source,
                  "graph output '" + out.name + "' is not produced by any node");
}

static std::string value_desc(const Graph& g, const std::string& v) {
  if (v.empty()) return "-";
  const ValueInfo* vi = g.value_info(v);
  std::string s = v;
  if (vi && vi->shape_known) s += ":" + dtype_name(vi->dtype) + shape_str(vi->shape);
  return s;
}

std::string graph_to_text(const Graph& g) {
  std::ostringstream os;
  os << "graph " << g.name << " (opset " << g.opset << ")\n";
  for (const auto& in : g.inputs)
    os << "  input  " << in.name << ":" << dtype_name(in.dtype) << shape_str(in.shape) << "\n";
  for (const auto& [name, t] : g.initializers)
    os << "  const  " << name << ":" << dtype_name(t.dtype()) << shape_str(t.shape()) << "\n";
  for (const auto& n : g.nodes) {
    os << "  " << n.name << " = " << n.op_type << "(";
    for (size_t i = 0; i < n.inputs.size(); ++i)
      os << (i ? ", " : "") << value_desc(g, n.inputs[i]);
    os << ") -> ";
    for (size_t i = 0; i < n.outputs.size(); ++i)
      os << (i ? ", " : "") << value_desc(g, n.outputs[i]);
    for (const auto& f : n.fused) os << " +" << f.op_type;
    os << "\n";
  }
  for (const auto& out : g.outputs) os << "  output " << out.name << "\n";
  return os.str();
}

static std::string dot_escape(const std::string& s) {
  std::string r;
  for (char c : s) {
    if (c == '"' || c == '\\') r += '\\';
    r += c;
  }
  return r;
}

std::string graph_to_dot(const Graph& g) {
  std::ostringstream os;
  os << "digraph \"" << dot_escape(g.name) << "\" {\n  rankdir=TB;\n  node [shape=box];\n";
  for (const auto& in : g.inputs)
    os << "  \"v:" << dot_escape(in.name) << "\" [shape=ellipse, label=\"" << dot_escape(in.name)
       << "\\n" << shape_str(in.shape) << "\"];\n";
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const Node& n = g.nodes[i];
    std::string label = n.op_type;
    for (const auto& f : n.fused) label += "+" + f.op_type;
    os << "  n" << i << " [label=\"" << dot_escape(label) << "\\n" << dot_escape(n.name) << "\"];\n";
  }
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    for (const auto& in : g.nodes[i].inputs) {
      if (in.empty() || g.is_initializer(in)) continue;
      int p = g.producer(in);
      std::string from = p >= 0 ? "n" + std::to_string(p) : "\"v:" + dot_escape(in) + "\"";
      const ValueInfo* vi = g.value_info(in);
      os << "  " << from << " -> n" << i;
      if (vi && vi->shape_known) os << " [label=\"" << shape_str(vi->shape) << "\"]";
      os << ";\n";
    }
  }
  for (const auto& out : g.outputs) {
    int p = g.producer(out.name);
    os << "  \"o:" << dot_escape(out.name) << "\" [shape=ellipse, label=\"" << dot_escape(out.name)
       << "\"];\n";
    if (p >= 0) os << "  n" << p << " -> \"o:" << dot_escape(out.name) << "\";\n";
  }
  os << "}\n";
  return os.str();
}

}  // namespace acim
