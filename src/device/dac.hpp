// The row DAC: inputs scaled to the input range and quantised to 2^(bits-1) - 1 levels per sign
// (amplitude and pulse-width modes), or split into bit planes for bit-serial operation.
#pragma once

#include <cstddef>

#include "acim/device.hpp"

namespace acim {

class DacModel {
 public:
  DacModel(const DacParams& params, bool enabled);

  // Inputs of magnitude x_max map to the full-scale read voltage; beyond it they clip.
  void set_input_range(float x_max);
  float input_range() const { return x_max_; }

  // Quantises x in place to the DAC's levels (values stay in input units), clipping at
  // ±x_max. A disabled DAC (NonIdealities::dac off) leaves x untouched.
  void quantize(float* x, size_t n) const;

  // Bit-serial: the number of cycles (magnitude bits), and bit plane k of quantised inputs:
  // out[i] = sign(x[i]) * bit k of |level(x[i])|, so that
  //   x_q = x_max / (2^(bits-1) - 1) * sum_k 2^k * plane_k.
  int cycles() const;
  void bit_plane(const float* x_quantized, size_t n, int k, float* out) const;
  float plane_weight(int k) const;  // x_max / (2^(bits-1) - 1) * 2^k

 private:
  DacParams params_;
  bool enabled_;
  float x_max_ = 1.0f;
};

}  // namespace acim
