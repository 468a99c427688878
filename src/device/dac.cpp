#include "device/dac.hpp"

#include <cmath>
#include <string>

#include "acim/error.hpp"

namespace acim {

DacModel::DacModel(const DacParams& params, bool enabled) : params_(params), enabled_(enabled) {
  if (params.bits < 2 || params.bits > 24) {
    throw Error(ErrorKind::invalid, "dac.bits",
                "is " + std::to_string(params.bits) + ", allowed range is 2..24",
                "use at least 1 magnitude bit plus sign; 24 bits is the float32 limit");
  }
  if (!std::isfinite(params.v_read) || params.v_read <= 0) {
    throw Error(ErrorKind::invalid, "dac.v_read",
                "is " + std::to_string(params.v_read) + " V, must be finite and > 0",
                "a typical read voltage is 0.1..0.3 V");
  }
}

void DacModel::set_input_range(float x_max) {
  if (!std::isfinite(x_max) || x_max <= 0) {
    throw Error(ErrorKind::invalid, "dac input range",
                "is " + std::to_string(x_max) + ", must be finite and > 0",
                "calibrate with inputs that are not all zero");
  }
  x_max_ = x_max;
}

int DacModel::levels() const {
  return (1 << (params_.bits - 1)) - 1;
}

float DacModel::step() const {
  return static_cast<float>(static_cast<double>(x_max_) / levels());
}

long DacModel::level(float x) const {
  if (std::isnan(x)) return 0;
  const double lv = levels();
  // Scale in double so clipping at exactly ±x_max gives exactly ±L.
  double u = static_cast<double>(x) / static_cast<double>(x_max_) * lv;
  if (u > lv) u = lv;
  if (u < -lv) u = -lv;
  return std::lrint(u);  // round half to even (default FE_TONEAREST)
}

void DacModel::quantize(float* x, size_t n) const {
  if (!enabled_) return;
  // step in double as the float value that plane_weight() uses, so the bit-serial identity is
  // exact: x_q = q * step, with step = float(x_max / L).
  const double st = static_cast<double>(step());
  for (size_t i = 0; i < n; ++i) {
    if (std::isnan(x[i])) continue;
    x[i] = static_cast<float>(static_cast<double>(level(x[i])) * st);
  }
}

int DacModel::cycles() const {
  return params_.bits - 1;
}

void DacModel::bit_plane(const float* x, size_t n, int k, float* out) const {
  for (size_t i = 0; i < n; ++i) {
    long q = level(x[i]);
    long mag = q < 0 ? -q : q;
    float bit = static_cast<float>((mag >> k) & 1);
    out[i] = q < 0 ? -bit : bit;
  }
}

float DacModel::plane_weight(int k) const {
  return std::ldexp(step(), k);
}

}  // namespace acim
