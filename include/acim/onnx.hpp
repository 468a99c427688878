// ONNX import: a .onnx file (opsets 11–21 of the default domain) into a Graph.
#pragma once

#include <filesystem>

#include "acim/graph.hpp"

namespace acim {

struct OnnxImportOptions {
  // Refuse graphs with more nodes than this (a guard against hostile files).
  int64_t max_nodes = 1'000'000;
};

// Loads and checks a model: the file must parse as an ONNX ModelProto, use a supported opset,
// and contain only supported ops (every unsupported node is listed in one error). Constant
// nodes become initializers; unnamed nodes get unique names. External tensor data is read only
// from files beside the model (a location escaping that folder is refused).
// Throws acim::Error naming the file (and node) on any problem.
Graph load_onnx(const std::filesystem::path& path, const OnnxImportOptions& options = {});

// Same, from bytes in memory (`source` names them in errors; external data is refused). The
// bytes are taken (move them in): they are freed once parsed, before the tensors are made, so a
// large model's bytes, parsed message and tensors are never all held at once.
Graph load_onnx_from_bytes(std::string bytes, const std::string& source,
                           const OnnxImportOptions& options = {});

// The graph as an ONNX ModelProto (bytes): nodes with their attributes, initializers (raw data),
// inputs and outputs with dtypes and shapes, the graph's opset. Exact for graphs as load_onnx
// returns them (before passes; fused activations are not representable and are an error):
// load_onnx_from_bytes(save_onnx_to_bytes(g)) reproduces g.
std::string save_onnx_to_bytes(const Graph& graph);

// Reads one serialized onnx.TensorProto (the .pb files of ONNX's test data) into a Tensor.
Tensor load_onnx_tensor(const std::filesystem::path& path);

}  // namespace acim
