// libFuzzer harness: the ONNX importer, the pass pipeline and shape inference on arbitrary
// bytes. acim::Error is the expected answer to a bad model; anything else (a crash, a sanitizer
// report, another exception, a hang, runaway memory) is a finding. Run by scripts/fuzz.sh.
#include <cstddef>
#include <cstdint>
#include <string>

#include "acim/error.hpp"
#include "acim/onnx.hpp"
#include "acim/passes.hpp"
#include "acim/tensor.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  acim::set_max_tensor_bytes(size_t{16} << 20);  // a declared huge tensor is refused, not made
  acim::OnnxImportOptions options;
  options.max_nodes = 4096;
  try {
    acim::Graph g = acim::load_onnx_from_bytes(
        std::string(reinterpret_cast<const char*>(data), size), "fuzz.onnx", options);
    acim::run_default_passes(g);
  } catch (const acim::Error&) {
  }
  return 0;
}
