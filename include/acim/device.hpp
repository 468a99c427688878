// Parameters of one analog crossbar array and its periphery: the cell technology, how weights
// become conductances, the DAC on the rows, the ADC on the columns, wire resistance, and which
// non-idealities are on. Every field has its unit in its name or comment. validate() throws an
// acim::Error naming the parameter and its allowed range.
//
// Conventions. The array computes y[b][j] = sum_i x[b][i] * W[i][j]: inputs drive the rows
// (i < rows), outputs are read on the columns (j < cols). Conductances are in microsiemens (µS),
// read voltages in volts, currents in microamperes (µA), times in seconds.
#pragma once

#include <cstdint>
#include <string>

namespace acim {

enum class CellType {
  ideal,         // exact conductances, no device noise (for reference runs)
  pcm,           // phase-change memory (IBM aihwkit PCM statistical model)
  rram,          // resistive RAM (NeuRRAM-like multi-level cells)
  sram_charge,   // SRAM compute-in-memory, charge domain (capacitive accumulation)
  sram_current,  // SRAM compute-in-memory, current domain
  flash,         // NOR flash (Mythic-like multi-level cells)
};

// PCM: Nandakumar et al., ICECS 2019, as used by IBM aihwkit's PCMLikeNoiseModel
// (../shared/FACTS.md). Defaults are the published constants.
struct PcmParams {
  double prog_c0_us = 0.26348;  // programming noise sigma = (c0 + c1 g + c2 g^2) (g_max / 25 µS)
  double prog_c1_us = 1.9650;
  double prog_c2_us = -1.1731;
  double drift_t0_s = 20.0;       // drift reference time after programming
  double read_t_read_s = 250e-9;  // read duration for the accumulated 1/f noise
  double read_q_max = 0.2;        // cap on the 1/f noise coefficient Q_s
};

// RRAM (NeuRRAM-like; Wan et al., Nature 2022).
struct RramParams {
  double prog_sigma_us = 1.0;  // programming (write-verify) spread per cell
  // Extra spread from relaxation after programming, reached for t >> relax_time_s.
  double relax_sigma_us = 1.5;
  double relax_time_s = 3600.0;  // time constant of relaxation
  double read_noise_rel = 0.02;  // per-read noise, relative to the cell's conductance
  double p_stuck_on = 0.001;     // probability a cell is stuck at g_max
  double p_stuck_off = 0.001;    // probability a cell is stuck at g_min
};

// SRAM CIM: exact digital weights; analog errors in the accumulation.
struct SramParams {
  // Capacitor (charge domain) or transistor (current domain) mismatch per cell.
  double mismatch_sigma_rel = 0.005;
  // Per-conversion noise on a column (kT/C sampling plus comparator), relative to the physical
  // column's full scale: all its cells (parallel_rows if set, else rows) at g_max. A voltage on
  // the shared line, so the same for every column of the array however many rows a layer uses
  // or drives (charge sharing over every cell's capacitor; Valavi et al., JSSC 2019). The
  // default is the kT/C floor of such a column: sqrt(kT / (256 x 1 fF)) / 0.8 V = 1.6e-4 at
  // 300 K for 256 cells of ~1 fF (Valavi et al.'s metal-fringe capacitors) and a 0.8 V swing.
  // Comparator noise adds to it; a chip spec with a measured figure should set it.
  double thermal_noise_sigma_rel = 1.6e-4;
  // Usable fraction of the bitline swing (of the physical column's full scale); column sums
  // beyond it saturate (with effects.adc).
  double bitline_swing_fraction = 1.0;
};

// NOR flash (Mythic-like analog matrix processor).
struct FlashParams {
  double prog_sigma_rel = 0.01;      // programming error, relative to g_max
  double temp_coeff_per_k = -0.002;  // relative conductance change per kelvin from 300 K
  double temperature_k = 300.0;
  double drift_rel_per_decade = 0.005;  // relative conductance loss per decade of time after 1 s
};

struct CellParams {
  CellType type = CellType::ideal;
  double g_min_us = 0.0;   // lowest programmable conductance
  double g_max_us = 25.0;  // highest programmable conductance
  int levels = 0;          // programmable levels per cell; 0 = continuous (analog)
  PcmParams pcm;
  RramParams rram;
  SramParams sram;
  FlashParams flash;
};

enum class Encoding {
  differential,   // two cells per weight, G+ - G-; sign by which cell conducts
  offset_column,  // one cell per weight around a mid-level, minus a shared reference column
  bit_sliced,     // integer weight split into `slices` slices of `bits_per_cell` bits each,
                  // one differential pair per slice, recombined by digital shift-add
};

struct EncodingParams {
  Encoding scheme = Encoding::differential;
  int bits_per_cell = 4;         // bit_sliced only
  int slices = 2;                // bit_sliced only
  bool per_column_scale = true;  // scale each output column to the full conductance range
};

enum class DacMode {
  amplitude,    // one multi-level voltage per input (bits of resolution)
  bit_serial,   // one 1-bit pulse per input bit, outputs shift-added (bits cycles)
  pulse_width,  // pulse duration encodes the value (numerically like amplitude)
};

struct DacParams {
  DacMode mode = DacMode::amplitude;
  int bits = 8;         // input resolution including sign
  double v_read = 0.2;  // read voltage at full-scale input (V)
};

enum class AdcRange {
  calibrated,  // full scale set per column from calibration inputs (see CrossbarArray::calibrate)
  fixed,       // full scale = full_scale_ua
};

struct AdcParams {
  int bits = 8;
  AdcRange range = AdcRange::calibrated;
  double full_scale_ua = 10.0;    // fixed range: |current| mapped to the top code
  double offset_sigma_lsb = 0.0;  // per-column static offset (drawn per chip instance)
  double gain_sigma_rel = 0.0;    // per-column static gain error (drawn per chip instance)
  double inl_lsb = 0.0;           // peak integral non-linearity (a smooth bow over the range)
  double noise_sigma_lsb = 0.0;   // input-referred noise per conversion (fresh per MVM)
  // Calibrated range: full scale = max(largest |signal| seen, |mean| + calibration_sigmas * std)
  // over the calibration conversions of each column. The largest of a few samples understates
  // the tail of the column's distribution (the expected max of n Gaussian draws is only about
  // sqrt(2 ln n) sigma: 2.0 sigma for n = 8), so later inputs would clip; a statistical range
  // with headroom is what quantisation toolchains use for the same reason (percentile / k-sigma
  // calibration, Wu et al., "Integer quantization for deep learning inference", arXiv:2004.09602,
  // 2020), and IBM aihwkit sets its ADC bound (out_bound) well above typical outputs and re-runs
  // saturated reads (iterative bound management). 4 sigma: a Gaussian column clips in 6e-5 of
  // conversions, at the price of one bit of resolution against a 2-sigma max. 0 = the max only.
  double calibration_sigmas = 4.0;
};

enum class IrDropModel {
  first_order,  // fast: each cell sees its voltage reduced by the wire drop to its position
  nodal,        // exact: solve the resistive network (small arrays; validates first_order)
};

struct IrDropParams {
  double wire_r_ohm = 0.0;  // wire resistance per cell segment on rows and columns; 0 = off
  IrDropModel model = IrDropModel::first_order;
};

// Which non-idealities are on. Everything off + enough bits = the exact float product.
struct NonIdealities {
  bool programming = true;  // programming error, relaxation, mismatch (static per instance)
  bool drift = true;        // conductance drift with time since programming
  bool read_noise = true;   // read noise (accumulated 1/f state per time + per-MVM noise)
  bool faults = true;       // stuck-at cells
  bool dac = true;          // input quantisation
  bool adc = true;          // output quantisation, clipping, offset, gain, INL, noise
  bool ir_drop = true;      // wire resistance (if wire_r_ohm > 0)
  bool temperature = true;  // flash temperature dependence
};

struct ArrayParams {
  int rows = 256;
  int cols = 256;         // physical columns (a differential pair uses two)
  int parallel_rows = 0;  // rows driven at once; 0 = all. Fewer means several conversions
  CellParams cell;
  EncodingParams encoding;
  DacParams dac;
  AdcParams adc;
  IrDropParams ir_drop;
  NonIdealities effects;
  double time_since_programming_s = 1.0;  // when inference happens (drift, relaxation, 1/f)
  bool drift_compensation = true;         // global drift compensation (aihwkit-style)

  // Throws acim::Error(invalid) naming the parameter ("adc.bits") and its allowed range.
  void validate() const;
  // Output columns the array can hold for one logical weight column (2 for differential pairs,
  // 2 * slices for bit-sliced, 1 for offset-column plus one shared reference column).
  int cells_per_weight() const;
  // Largest logical weight matrix one array holds: rows x logical_cols().
  int logical_cols() const;
};

// Defaults for a cell technology, from the published sources cited in
// src/device/device_params.cpp.
ArrayParams default_array_params(CellType type);

std::string cell_type_name(CellType type);
// "pcm", "rram", ... -> CellType; throws Error(invalid) listing the names.
CellType parse_cell_type(const std::string& name);

}  // namespace acim
