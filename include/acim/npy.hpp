// NumPy .npy files (format versions 1.0–3.0, little-endian, C order): how tensors enter and
// leave the command line.
#pragma once

#include <filesystem>

#include "acim/tensor.hpp"

namespace acim {

// Throws Error(io/parse/unsupported) naming the file on a missing, truncated or unsupported file.
Tensor load_npy(const std::filesystem::path& path);

// Writes atomically (a temporary file beside the target, then rename).
void save_npy(const std::filesystem::path& path, const Tensor& tensor);

}  // namespace acim
