// libFuzzer harness: the sweep-file parser (TOML: lists, ranges, products of chip-spec keys; every
// point's chip checked against the spec's ranges before any work). acim::Error is the expected
// answer to a bad file; anything else is a finding. Seeds: examples/sweeps.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "acim/error.hpp"
#include "acim/sweep.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    (void)acim::parse_sweep(std::string_view(reinterpret_cast<const char*>(data), size),
                            "/nonexistent/fuzz_sweep.toml");
  } catch (const acim::Error&) {
  }
  return 0;
}
