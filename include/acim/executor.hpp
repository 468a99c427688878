// The reference executor: runs a Graph in float32 (and the integer dtypes shape arithmetic
// needs) on the CPU. It is the ideal digital twin every analog result is compared with.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "acim/graph.hpp"

namespace acim {

using TensorMap = std::map<std::string, Tensor>;

class Executor {
 public:
  // Takes its own copy of the graph; checks that it is valid and every op is supported
  // (listing all unsupported nodes at once).
  explicit Executor(Graph graph);

  const Graph& graph() const { return graph_; }

  // Runs the graph. `inputs` must hold every graph input by name, with the declared dtype and
  // a shape matching the declared one where that is known. Returns the graph outputs.
  TensorMap run(const TensorMap& inputs) const;

 private:
  Graph graph_;
  std::vector<std::vector<std::string>> release_after_;  // values dead after node i
};

// Throws one Error listing every node whose op type acim does not support (or nothing).
void check_ops_supported(const Graph& graph);

// Every op type the executor supports, sorted.
std::vector<std::string> supported_ops();

}  // namespace acim
