// libFuzzer harness: the chip-spec TOML loader. A spec that loads must also survive the round
// trip to TOML and back unchanged (to_toml is what `acim compile` stores in a Program file).
// acim::Error is the expected answer to a bad file; anything else is a finding.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "acim/chip.hpp"
#include "acim/error.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  acim::ChipSpec spec;
  try {
    spec = acim::parse_chip_spec(text, "fuzz.toml");
  } catch (const acim::Error&) {
    return 0;
  }
  // Accepted: writing it out and reading it back must give the same spec.
  const acim::ChipSpec again = acim::parse_chip_spec(acim::to_toml(spec), "round trip");
  if (!(again == spec)) std::abort();
  return 0;
}
