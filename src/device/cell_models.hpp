// Cell models: what happens to target conductances when they are programmed into a chip
// instance and read some time later. Static effects (programming error, faults, drift and the
// accumulated 1/f state at a time, relaxation, temperature, mismatch) are drawn once per chip
// instance (and time) from that instance's stream; per-read noise is described by a per-cell
// sigma that the crossbar applies on the output side at each MVM.
//
// Conductances are row-major [rows, cols] in µS; the draw for cell (i, j) is number i*cols + j
// of the purpose's child stream, so the state does not depend on the thread count.
#pragma once

#include <cstdint>
#include <vector>

#include "acim/device.hpp"
#include "acim/rng.hpp"

namespace acim {

// Child keys of an instance stream, one per purpose.
enum class DeviceStream : uint64_t {
  programming = 1,
  faults = 2,
  drift_nu = 3,
  one_over_f = 4,  // then .child(time key)
  relaxation = 5,
  adc = 6,
  mvm = 7,  // then .child(mvm index)
};
RandomStream device_stream(const RandomStream& instance, DeviceStream purpose);

// PCM (FACTS.md; aihwkit PCMLikeNoiseModel, Nandakumar et al. ICECS 2019).
double pcm_prog_sigma_us(const CellParams& c, double g_target_us);
double pcm_drift_nu_mean(const CellParams& c, double g_target_us);
double pcm_drift_nu_std(const CellParams& c, double g_target_us);
double pcm_one_over_f_sigma_rel(const CellParams& c, double g_prog_us, double t_s);

// Programmed conductances of this instance: target + programming error (+ mismatch), before any
// time-dependent effect. Also draws nothing else.
std::vector<float> program_cells(const ArrayParams& p, const std::vector<float>& g_target, int rows,
                                 int cols, const RandomStream& instance);

// Conductances at time t after programming: drift, accumulated 1/f noise (PCM), relaxation
// (RRAM), temperature and drift (flash), then stuck-at faults (RRAM).
std::vector<float> cells_at_time(const ArrayParams& p, const std::vector<float>& g_target,
                                 const std::vector<float>& g_prog, int rows, int cols, double t_s,
                                 const RandomStream& instance);

// Per-read noise sigma per cell (µS), fresh at each MVM, for conductances g; empty when this cell
// type (with these effects) has no per-cell read noise.
std::vector<float> read_noise_sigma_us(const ArrayParams& p, const std::vector<float>& g);

// Cells on one column during a conversion: parallel_rows when it groups the rows, else rows
// (the physical column, not the rows a mapped matrix uses).
int column_rows(const ArrayParams& p);

// Per-read noise on each column's summed current (µA, SRAM thermal and sampling noise):
// thermal_noise_sigma_rel of the physical column's full scale, column_rows(p) * g_max * v_read,
// fresh at every conversion; 0 if none. Independent of the rows driven (see the .cpp).
double column_noise_sigma_ua(const ArrayParams& p);

// Largest column current before the bitline saturates (µA), or +inf (SRAM swing limit):
// bitline_swing_fraction of the physical column's full scale.
double column_saturation_ua(const ArrayParams& p);

}  // namespace acim
