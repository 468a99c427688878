// The row DAC: inputs scaled to the input range and quantised to 2^(bits-1) - 1 levels per sign
// (amplitude and pulse-width modes), or split into bit planes for bit-serial operation.
//
// Levels. With L = 2^(bits-1) - 1 and step = x_max / L, an input x becomes the level
// q = round_half_even(clamp(x, -x_max, x_max) / step), an integer in [-L, L], and the quantised
// value x_q = q * step (computed in double, rounded once to float). Amplitude and pulse-width
// modes are numerically the same (pulse width only changes timing/energy, not the value).
//
// Bit-serial. The magnitude |q| is sent one bit per cycle (cycles() = bits - 1 cycles); plane k
// is sign(x) * bit k of |q| in {-1, 0, +1}, and the shift-add of the plane results recovers
// the value exactly:  x_q == float( sum_k double(plane_weight(k)) * plane_k )  (bit-exact: every
// term is step * 2^k times an integer, and the sum is exact in double for bits <= 24).
//
// Parameters: bits in [2, 24], v_read > 0 and finite (ArrayParams::validate checks these too;
// the constructor re-checks them so a DacModel can never divide by zero).
#pragma once

#include <cstddef>
#include <cstdint>

#include "acim/device.hpp"

namespace acim {

class DacModel {
 public:
  // Throws Error(invalid) naming "dac.bits" / "dac.v_read" when out of range.
  DacModel(const DacParams& params, bool enabled);

  // Inputs of magnitude x_max map to the full-scale read voltage; beyond it they clip.
  // x_max must be finite and > 0 (throws Error(invalid) naming "dac input range" otherwise;
  // a caller calibrating on all-zero inputs should keep the default 1.0).
  void set_input_range(float x_max);
  float input_range() const { return x_max_; }

  bool enabled() const { return enabled_; }
  int levels() const;  // L = 2^(bits-1) - 1, levels per sign
  float step() const;  // x_max / L, one level in input units

  // Quantises x in place to the DAC's levels (values stay in input units), clipping at
  // ±x_max. A disabled DAC (NonIdealities::dac off) leaves x untouched. NaN inputs stay NaN.
  void quantize(float* x, size_t n) const;
  // The same, from x into out (x is left as it is): one pass instead of a copy and a pass.
  // Returns false if some x[i] is NaN or infinite (the caller's input check, in the same pass).
  // `times`: out[i] = quantize(x[i]) * times (a float multiply; a crossbar's row voltages in the
  // same pass), the identity for 1.
  bool quantize(const float* x, size_t n, float* out, float times = 1.0f) const;

  // Bit-serial: the number of cycles (magnitude bits, bits - 1), and bit plane k of inputs:
  // out[i] = sign(x[i]) * bit k of |level(x[i])|, so that
  //   x_q = x_max / (2^(bits-1) - 1) * sum_k 2^k * plane_k   (exact, see above).
  // The level is computed from x[i] as in quantize() (whether or not the DAC is enabled), so
  // x need not be quantised first; passing quantised values gives the same planes.
  int cycles() const;
  void bit_plane(const float* x, size_t n, int k, float* out) const;
  float plane_weight(int k) const;  // x_max / (2^(bits-1) - 1) * 2^k
  // q[i] = the signed integer level of x[i] that bit_plane() reads its bits from (0 for NaN):
  // computed once, it gives every plane of the same inputs, bit k of |q[i]| with q[i]'s sign.
  void signed_levels(const float* x, size_t n, int32_t* q) const;
  // The same levels as int16 (at most 16 bits), for the integer signal product
  // (device/gemm_i16.hpp). Returns false if some x is NaN or infinite (their level is 0).
  bool levels_i16(const float* x, size_t n, int16_t* q) const;

  // Read voltage (V) of an input value: x / x_max * v_read (for IR-drop and energy models).
  double volts_per_unit() const { return params_.v_read / x_max_; }

 private:
  // The signed integer level of x (see the file comment); 0 for NaN.
  long level(float x) const;

  DacParams params_;
  bool enabled_;
  float x_max_ = 1.0f;
};

}  // namespace acim
