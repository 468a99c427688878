// The graph IR: what the ONNX frontend produces and every later stage consumes.
// A Graph is a list of Nodes in topological order over named values. Values are graph inputs,
// constant initializers or node outputs; each has a ValueInfo (dtype + shape) once shape
// inference has run.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "acim/tensor.hpp"

namespace acim {

struct Attribute {
  using Value = std::variant<int64_t, float, std::string, Tensor, std::vector<int64_t>,
                             std::vector<float>, std::vector<std::string>>;
  Value value;
};

struct Node {
  std::string name;     // unique within the graph (the importer names unnamed nodes)
  std::string op_type;  // ONNX op type ("Conv", "Gemm", ...)
  std::vector<std::string> inputs;   // "" marks an omitted optional input
  std::vector<std::string> outputs;  // "" marks an omitted optional output
  std::map<std::string, Attribute> attrs;
  // Elementwise activations fused into this node's output by the fuse-activations pass, applied
  // in order (each is a single-input node such as Relu or Clip with its constant inputs folded
  // into attributes).
  std::vector<Node> fused;

  bool has_attr(const std::string& key) const { return attrs.count(key) != 0; }
  // Typed attribute access. A missing attribute returns the default; a present one of the
  // wrong type is an Error naming this node and the key.
  int64_t attr_int(const std::string& key, int64_t dflt) const;
  float attr_float(const std::string& key, float dflt) const;
  std::string attr_string(const std::string& key, const std::string& dflt) const;
  std::vector<int64_t> attr_ints(const std::string& key, std::vector<int64_t> dflt = {}) const;
  std::vector<float> attr_floats(const std::string& key, std::vector<float> dflt = {}) const;
  const Tensor* attr_tensor(const std::string& key) const;  // nullptr if absent

  // Number of inputs actually given (trailing "" omitted), and whether input i is present.
  size_t num_inputs() const;
  bool has_input(size_t i) const { return i < inputs.size() && !inputs[i].empty(); }

  // "node 'conv1' (Conv)" — how errors name a node.
  std::string label() const;
};

struct ValueInfo {
  std::string name;
  DType dtype = DType::f32;
  Shape shape;  // may contain kUnknownDim
  bool shape_known = false;  // false: even the rank is unknown
};

class Graph {
 public:
  std::string name;
  std::string source;    // file the graph came from (for error messages); may be empty
  int64_t opset = 0;     // default-domain opset version
  std::vector<ValueInfo> inputs;   // runtime inputs (initializers are not listed here)
  std::vector<ValueInfo> outputs;
  std::map<std::string, Tensor> initializers;  // constants by value name
  std::vector<Node> nodes;                     // topological order
  std::map<std::string, ValueInfo> values;     // inferred info for every value

  const Tensor* initializer(const std::string& value) const;
  bool is_initializer(const std::string& value) const { return initializers.count(value) != 0; }
  const ValueInfo* value_info(const std::string& value) const;  // nullptr if unknown
  Node* find_node(const std::string& node_name);
  // Index of the node producing `value`, or -1 (graph input, initializer, unknown).
  int producer(const std::string& value) const;
  // Number of node inputs and graph outputs that read `value`.
  int use_count(const std::string& value) const;
  // A value name not yet used in the graph, starting with `base`.
  std::string fresh_name(const std::string& base) const;
  // "model.onnx: " prefix for errors (or "" when the graph has no source file).
  std::string where(const Node& node) const;
};

// Checks that every node input is defined before use (topological order) and that names are
// unique. Throws Error naming the offending node.
void validate_graph(const Graph& graph);

// Text dump: one line per node with inferred shapes (what --dump-after prints).
std::string graph_to_text(const Graph& graph);
// Graphviz dot.
std::string graph_to_dot(const Graph& graph);

}  // namespace acim
