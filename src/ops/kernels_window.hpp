// Geometry of sliding-window ops (Conv, ConvTranspose, the pools) per the ONNX spec: kernel,
// strides, dilations, pads and auto_pad turned into begin/end pads and output sizes. Up to three
// spatial dims; fewer are stored right-aligned with leading dims of size 1, so the kernels loop
// over (depth, height, width) whatever the rank.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "acim/graph.hpp"

namespace acim::ops {

inline constexpr int kMaxSpatial = 3;

struct Window {
  int nsp = 0;  // spatial dims actually present (1..3)
  // Index 0 is depth, 1 height, 2 width; unused leading dims have size 1, no pad.
  std::array<int64_t, 3> in{1, 1, 1};
  std::array<int64_t, 3> k{1, 1, 1};
  std::array<int64_t, 3> stride{1, 1, 1};
  std::array<int64_t, 3> dil{1, 1, 1};
  std::array<int64_t, 3> pad_b{0, 0, 0};
  std::array<int64_t, 3> pad_e{0, 0, 0};
  std::array<int64_t, 3> out{1, 1, 1};  // kUnknownDim where the input size is unknown

  int64_t in_size() const { return in[0] * in[1] * in[2]; }
  int64_t out_size() const { return out[0] * out[1] * out[2]; }
  int64_t k_size() const { return k[0] * k[1] * k[2]; }
  // The last nsp output sizes, for a shape.
  std::vector<int64_t> out_spatial() const {
    return std::vector<int64_t>(out.begin() + (3 - nsp), out.end());
  }
};

inline std::string ints_str(const std::vector<int64_t>& v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) s += (i ? "," : "") + std::to_string(v[i]);
  return s + "]";
}

// Reads strides, dilations (if allow_dilations), pads and auto_pad from `node` for an input
// with the given spatial sizes (kUnknownDim allowed) and kernel. ceil_mode rounds the output
// size up (pools), dropping a last window that would start in the end padding.
inline Window make_window(const Node& node, const std::string& where,
                          const std::vector<int64_t>& in_spatial,
                          const std::vector<int64_t>& kernel, bool ceil_mode,
                          bool allow_dilations) {
  const size_t n = in_spatial.size();
  if (n < 1 || n > static_cast<size_t>(kMaxSpatial))
    throw Error(ErrorKind::unsupported, where,
                std::to_string(n) + " spatial dims; only 1 to 3 are supported",
                "use an input of rank 3 to 5 (N, C, spatial...)");
  auto attr = [&](const char* key, int64_t dflt, size_t count) {
    std::vector<int64_t> v = node.attr_ints(key, std::vector<int64_t>(count, dflt));
    if (v.size() != count)
      throw Error(ErrorKind::invalid, where,
                  std::string(key) + " " + ints_str(v) + " has " + std::to_string(v.size()) +
                      " values; expected " + std::to_string(count));
    return v;
  };
  if (kernel.size() != n)
    throw Error(ErrorKind::invalid, where,
                "kernel_shape " + ints_str(kernel) + " has " + std::to_string(kernel.size()) +
                    " values for " + std::to_string(n) + " spatial dims");
  std::vector<int64_t> strides = attr("strides", 1, n);
  std::vector<int64_t> dils = allow_dilations ? attr("dilations", 1, n) : std::vector<int64_t>(n, 1);
  std::vector<int64_t> pads = attr("pads", 0, 2 * n);
  std::string auto_pad = node.attr_string("auto_pad", "NOTSET");
  if (auto_pad != "NOTSET" && auto_pad != "SAME_UPPER" && auto_pad != "SAME_LOWER" &&
      auto_pad != "VALID")
    throw Error(ErrorKind::invalid, where, "auto_pad '" + auto_pad + "' is not valid",
                "use NOTSET, SAME_UPPER, SAME_LOWER or VALID");

  Window w;
  w.nsp = static_cast<int>(n);
  for (size_t i = 0; i < n; ++i) {
    size_t j = i + (3 - n);
    if (kernel[i] < 1 || strides[i] < 1 || dils[i] < 1)
      throw Error(ErrorKind::invalid, where,
                  "kernel " + ints_str(kernel) + ", strides " + ints_str(strides) +
                      " and dilations " + ints_str(dils) + " must all be positive");
    if (pads[i] < 0 || pads[i + n] < 0)
      throw Error(ErrorKind::invalid, where, "pads " + ints_str(pads) + " must not be negative");
    w.in[j] = in_spatial[i];
    w.k[j] = kernel[i];
    w.stride[j] = strides[i];
    w.dil[j] = dils[i];
    const int64_t span = (kernel[i] - 1) * dils[i] + 1;  // extent of one window
    const int64_t len = in_spatial[i];
    if (auto_pad == "NOTSET") {
      w.pad_b[j] = pads[i];
      w.pad_e[j] = pads[i + n];
    }
    if (len < 0) {
      w.out[j] = kUnknownDim;
      continue;
    }
    if (auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") {
      const int64_t out = (len + strides[i] - 1) / strides[i];
      const int64_t total = std::max<int64_t>(0, (out - 1) * strides[i] + span - len);
      const int64_t small = total / 2;
      w.pad_b[j] = auto_pad == "SAME_UPPER" ? small : total - small;
      w.pad_e[j] = total - w.pad_b[j];
      w.out[j] = out;
      continue;
    }
    const int64_t padded = len + w.pad_b[j] + w.pad_e[j];
    if (padded < span)
      throw Error(ErrorKind::shape, where,
                  "input spatial size " + ints_str(in_spatial) + " with pads " + ints_str(pads) +
                      " is smaller than the kernel extent " + std::to_string(span) +
                      " (kernel " + ints_str(kernel) + ", dilations " + ints_str(dils) + ")");
    int64_t out = (padded - span) / strides[i] + 1;
    if (ceil_mode && (padded - span) % strides[i] != 0) {
      ++out;
      // A last window starting beyond the input and its begin padding is dropped.
      if ((out - 1) * strides[i] >= len + w.pad_b[j]) --out;
    }
    w.out[j] = out;
  }
  return w;
}

}  // namespace acim::ops
