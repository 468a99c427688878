// Small builders the unit tests share to write graphs by hand.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "acim/graph.hpp"

namespace acim::test {

inline Node make_node(const std::string& name, const std::string& op,
                      std::vector<std::string> inputs, std::vector<std::string> outputs,
                      std::map<std::string, Attribute> attrs = {}) {
  Node n;
  n.name = name;
  n.op_type = op;
  n.inputs = std::move(inputs);
  n.outputs = std::move(outputs);
  n.attrs = std::move(attrs);
  return n;
}

// A float32 tensor with every element `v`.
inline Tensor filled(const Shape& shape, float v = 0.5f) {
  Tensor t(DType::f32, shape);
  for (float& x : t.span<float>()) x = v;
  return t;
}

}  // namespace acim::test
