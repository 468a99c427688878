// The analog lowering of the layers the mapping puts on arrays, as the simulator runs them:
// each node's weights cut into its matrix views (the K x N matrices of include/acim/mapping.hpp,
// in LayerMapping::matrices order), and each node run as products on those views plus the
// digital rest (biases, alpha / beta, gate arithmetic), with the reference op's semantics.
#pragma once

#include <cstdint>
#include <vector>

#include "acim/executor.hpp"
#include "acim/graph.hpp"
#include "acim/mapping.hpp"
#include "sim/view_arrays.hpp"

namespace acim::sim {

// One matrix view's weights: `count` groups of K x N, row-major, one after another (with
// `transposed`, each group's N x K transpose: a Gemm's B with transB, read in place).
struct ViewWeights {
  int64_t rows = 0, cols = 0, count = 0;
  Tensor values;  // float32, count * rows * cols elements (a Gemm's or MatMul's B itself)
  bool transposed = false;
};

// The weights of `node` cut into the matrix views of its mapping, in `layer.matrices` order:
//   Conv            group g: W_g[k, n] = W[g * N + n, k] (k over C/group x kernel, W's order)
//   Gemm / MatMul   B, or Bᵀ with transB
//   LSTM/GRU/RNN    "W" per direction d: W_d[k, n] = W[d, n, k]; "R" likewise
// Throws Error(invalid) naming the node when the node's weights do not give the mapping's views
// (a Program that does not match its graph), Error(unsupported) for what the simulator cannot
// run (Gemm with transA).
std::vector<ViewWeights> layer_weights(const Graph& graph, const Node& node,
                                       const LayerMapping& layer);

// Runs `node` with its products on `views` (layer_weights order): outputs as
// RunHooks::replace (every output the node has), in buffers from `buffers`. `where` names the
// node in errors.
void run_analog_node(const Node& node, const std::string& where, std::vector<ViewArrays>& views,
                     const std::vector<const Tensor*>& inputs, std::vector<Tensor>& outputs,
                     const OutputBuffers& buffers, MvmMode mode);

}  // namespace acim::sim
