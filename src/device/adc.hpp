// The column ADC: clipping to the full-scale range, quantisation to 2^bits codes, per-column
// static offset and gain error (drawn once per chip instance), a smooth INL bow, and
// input-referred noise (fresh per conversion).
//
// Transfer function of column j (signed, symmetric mid-tread; N = 2^(bits-1) - 1 codes per sign,
// codes -N..N, lsb_j = full_scale_j / N):
//   u    = (gain_j * I + (offset_j + noise_sigma_lsb * z) * lsb_j) / lsb_j     (in LSB)
//   code = clamp(round_half_even(u + inl(u)), -N, N)
//   out  = code * lsb_j                                                       (µA)
// where z ~ N(0, 1) fresh per conversion and the INL bow is
//   inl(u) = inl_lsb * sin(pi * clamp(u, -N, N) / N),
// zero at both ends (u = ±N) and at the middle (u = 0), peaking at ±inl_lsb LSB at u = ±N/2
// (odd-symmetric, like the bow of a differential SAR/ramp converter with a smooth mismatch).
// The output is what the digital side believes the code means: gain and offset errors are not
// corrected. A column with full scale 0 always reads 0.
//
// Random draws. Static errors come from the `instance` stream given to the constructor:
// offset_j = offset_sigma_lsb * instance.child(1).normal_at(j),
// gain_j   = 1 + gain_sigma_rel * instance.child(2).normal_at(j)
// (pass a stream dedicated to this ADC, e.g. array_stream.child(kAdcPurpose)). The noise of
// conversion (b, j) is draw b * cols + j of the stream passed to convert() — pass a fresh stream
// per MVM (e.g. mvm_stream.child(kAdcNoisePurpose)), and, for several conversions per MVM
// (parallel_rows < rows), a different child per conversion group.
//
// Parameters: bits in [2, 24]; offset_sigma_lsb, gain_sigma_rel, noise_sigma_lsb >= 0 and finite;
// inl_lsb finite; full_scale_ua > 0 in fixed range. The constructor throws Error(invalid)
// naming the parameter ("adc.bits", ...). ArrayParams::validate should check the same ranges.
#pragma once

#include <cstdint>
#include <vector>

#include "acim/device.hpp"
#include "acim/rng.hpp"

namespace acim {

class AdcModel {
 public:
  // Draws the per-column static offset and gain errors from `instance` (if `enabled`; a
  // disabled ADC is the identity). The initial full scale of every column is
  // params.full_scale_ua (call set_full_scale after calibration in AdcRange::calibrated).
  AdcModel(const AdcParams& params, int cols, bool enabled, const RandomStream& instance);

  // Full-scale current per column (µA): inputs beyond ±full_scale clip to the end codes.
  // Size must be cols; every value finite and >= 0 (throws Error(invalid) otherwise).
  void set_full_scale(const std::vector<float>& full_scale_ua);
  std::vector<float> full_scale_ua() const;
  double lsb_ua(int col) const;  // one code step of column `col` (µA)
  int max_code() const;          // N = 2^(bits-1) - 1
  bool enabled() const { return enabled_; }
  int cols() const { return cols_; }

  // The static errors drawn for this instance (for tests and reports).
  const std::vector<float>& offset_lsb() const { return offset_lsb_; }
  const std::vector<float>& gain() const { return gain_; }

  // Converts column currents in place, currents[b * cols + j] (µA) -> the current the code
  // represents (µA), for `batch` rows. `noise` supplies the fresh per-conversion noise: draw
  // number (first_row + b) * cols + j, so the rows of one conversion group may be converted in
  // parts (rows first_row .. first_row + batch - 1 of it) with the same numbers. A disabled ADC
  // leaves currents untouched. Multi-threaded over b; the result does not depend on the thread
  // count.
  //
  // `analog`, where given, is Gaussian noise already on the currents before the ADC samples them
  // (read noise of the cells, column noise), not yet drawn: variance analog->var[b * cols + j]
  // (or 0 where var is null; a negative value counts as 0) plus analog->extra, in µA². It and the
  // ADC's own noise are then drawn as one normal per conversion, the same draw number:
  //   u = (gain_j * I) / lsb_j + offset_j + sqrt(noise_sigma_lsb² + (gain_j / lsb_j)² var) z,
  // which has the distribution of drawing the two apart (a sum of independent Gaussians is
  // Gaussian with the summed variance) at half the normals.
  struct AnalogNoise {
    const float* var = nullptr;
    float extra = 0.0f;
  };
  void convert(float* currents, int batch, const RandomStream& noise, uint64_t first_row = 0,
               const AnalogNoise* analog = nullptr) const;

 private:
  // Recomputes the per-column constants of the vectorised conversion (below) from lsb_, gain_
  // and offset_lsb_.
  void update_kernel_constants();

  AdcParams params_;
  int cols_;
  bool enabled_;
  std::vector<float> offset_lsb_;  // per column
  std::vector<float> gain_;        // per column, 1 + error
  // Per column: lsb in double, full scale / N (0 for a column with full scale 0; the full scale
  // is float(lsb * N), exactly: see full_scale_ua), and, where enabled, for the vectorised
  // conversion in float 1 / lsb (0 for such a column) for its fast estimate of u;
  // fast_tol: how far (LSB) that estimate may be from a half-integer before the column's exact
  // double arithmetic decides the code, or a negative value where the estimate is not usable
  // (src/device/adc.cpp, convert_rows_avx512).
  std::vector<double> lsb_;
  std::vector<float> inv_lsb_;
  std::vector<float> gain2_;  // (gain_j / lsb_j)², 0 for a column with full scale 0: µA² -> LSB²
  float fast_tol_ = -1.0f;
  bool fast_usable_ = false;
  double max_offset_ = 0;  // max_j |offset_j| (LSB)
  // fast_tol for noise of at most max_noise_lsb in magnitude (negative: use the exact path).
  float fast_tolerance(double max_noise_lsb) const;
};

}  // namespace acim
