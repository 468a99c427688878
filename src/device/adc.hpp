// The column ADC: clipping to the full-scale range, quantisation to 2^bits codes, per-column
// static offset and gain error (drawn once per chip instance), a smooth INL bow, and
// input-referred noise (fresh per conversion).
#pragma once

#include <vector>

#include "acim/device.hpp"
#include "acim/rng.hpp"

namespace acim {

class AdcModel {
 public:
  // Draws the per-column static offset and gain errors from `instance` (if effects allow).
  AdcModel(const AdcParams& params, int cols, bool enabled, const RandomStream& instance);

  // Full-scale current per column (µA): inputs beyond ±full_scale clip to the end codes.
  void set_full_scale(std::vector<float> full_scale_ua);
  const std::vector<float>& full_scale_ua() const { return full_scale_; }
  double lsb_ua(int col) const;  // one code step of column `col` (µA)

  // Converts column currents in place, currents[b * cols + j] (µA) -> the current the code
  // represents (µA), for `batch` rows. `noise` supplies the fresh per-conversion noise: draw
  // number b * cols + j. A disabled ADC leaves currents untouched.
  void convert(float* currents, int batch, const RandomStream& noise) const;

 private:
  AdcParams params_;
  int cols_;
  bool enabled_;
  std::vector<float> full_scale_;
  std::vector<float> offset_lsb_;  // per column
  std::vector<float> gain_;        // per column, 1 + error
};

}  // namespace acim
