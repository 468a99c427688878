// Writing a file so that readers never see it half-written: write a temporary file beside the
// target, flush it, then rename it over the target.
#pragma once

#include <filesystem>
#include <string_view>

namespace acim {

// Throws Error(io) naming the path on failure; the target is then left as it was.
void write_file_atomically(const std::filesystem::path& path, std::string_view bytes);

}  // namespace acim
