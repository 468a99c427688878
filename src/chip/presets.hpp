// The chip presets' TOML text, generated at configure time from chips/*.toml (see the
// "Chip presets" block of CMakeLists.txt) and read by src/chip/chip_spec.cpp.
#pragma once

#include <cstddef>

namespace acim::chip_detail {

struct PresetText {
  const char* name;  // the file's stem: "edge-voice"
  const char* text;  // the file's contents
};

extern const PresetText kPresetTexts[];
extern const std::size_t kPresetCount;

}  // namespace acim::chip_detail
