// SKELETON (being written): see include/acim/onnx.hpp.
#include "acim/error.hpp"
#include "acim/onnx.hpp"

namespace acim {

std::string save_onnx_to_bytes(const Graph& graph) {
  throw Error(ErrorKind::unsupported, graph.name, "not written yet");
}

}  // namespace acim
