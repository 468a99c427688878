// libFuzzer harness: the Program file loader (acim compile's output: sections with CRC-32s,
// JSON, TOML, an ONNX graph, .npy calibration data), then programming one chip instance from
// what loaded. acim::Error is the expected answer to a damaged file; anything else is a finding.
// Seeds: Programs compiled from the zoo (scripts/fuzz.sh makes them).
#include <cstddef>
#include <cstdint>
#include <string>

#include "acim/error.hpp"
#include "acim/program.hpp"
#include "acim/sim.hpp"
#include "acim/tensor.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  acim::set_max_tensor_bytes(size_t{16} << 20);
  try {
    const acim::Program p =
        acim::program_from_bytes(std::string(reinterpret_cast<const char*>(data), size),
                                 "fuzz.acim");
    acim::ChipInstance chip(p, acim::SimOptions{});
  } catch (const acim::Error&) {
  }
  return 0;
}
