// Per-layer summary of a graph: op, shapes, parameters, multiply-accumulates (what `acim info`
// prints).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "acim/graph.hpp"

namespace acim {

struct LayerInfo {
  std::string name;
  std::string op;                   // op type, with fused activations as "Conv+Relu"
  std::vector<Shape> input_shapes;  // runtime (non-constant) inputs
  std::vector<Shape> output_shapes;
  int64_t params = 0;  // elements of constant inputs (weights, biases)
  int64_t macs = 0;    // multiply-accumulates for one run at the graph's input shapes
};

struct ModelInfo {
  std::string name;
  int64_t opset = 0;
  std::vector<ValueInfo> inputs;
  std::vector<ValueInfo> outputs;
  std::vector<LayerInfo> layers;
  int64_t total_params = 0;
  int64_t total_macs = 0;
};

// Runs shape inference on a copy of the graph if needed. Unknown dims count as 1 for MACs.
ModelInfo describe(const Graph& graph);

}  // namespace acim
