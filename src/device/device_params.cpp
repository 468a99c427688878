// ArrayParams: validation (one clear error per bad field), the geometry of an encoding, and the
// published defaults of each cell technology.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>

#include "acim/device.hpp"
#include "acim/error.hpp"

namespace acim {

namespace {

[[noreturn]] void bad(const std::string& name, const std::string& what, const std::string& fix) {
  throw Error(ErrorKind::invalid, "array parameter '" + name + "'", what, fix);
}

std::string num(double v) {
  if (std::isnan(v)) return "NaN";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

// A real number that must be finite and >= 0 (a noise sigma, a probability, a time...).
void check_nonneg(const std::string& name, double v) {
  if (!std::isfinite(v))
    bad(name, "is " + num(v) + "; allowed a finite number >= 0", "set a finite value");
  if (v < 0) bad(name, "is " + num(v) + "; allowed >= 0", "use a non-negative value");
}

void check_finite(const std::string& name, double v) {
  if (!std::isfinite(v))
    bad(name, "is " + num(v) + "; allowed a finite number", "set a finite value");
}

void check_positive(const std::string& name, double v) {
  if (!std::isfinite(v) || v <= 0)
    bad(name, "is " + num(v) + "; allowed > 0", "use a positive value");
}

void check_int_range(const std::string& name, int v, int lo, int hi) {
  if (v < lo || v > hi)
    bad(name,
        "is " + std::to_string(v) + "; allowed " + std::to_string(lo) + ".." + std::to_string(hi),
        "choose a value in range");
}

void check_probability(const std::string& name, double v) {
  if (!std::isfinite(v) || v < 0 || v > 1)
    bad(name, "is " + num(v) + "; allowed 0..1", "use a probability between 0 and 1");
}

}  // namespace

void ArrayParams::validate() const {
  check_int_range("rows", rows, 1, 1 << 16);
  check_int_range("cols", cols, 1, 1 << 16);
  check_int_range("parallel_rows", parallel_rows, 0, rows);

  // Cell.
  check_nonneg("cell.g_min_us", cell.g_min_us);
  check_positive("cell.g_max_us", cell.g_max_us);
  if (cell.g_max_us <= cell.g_min_us)
    bad("cell.g_max_us",
        "is " + num(cell.g_max_us) + " µS; allowed > cell.g_min_us (" + num(cell.g_min_us) + " µS)",
        "make the conductance range non-empty");
  if (cell.levels == 1 || cell.levels < 0 || cell.levels > (1 << 16))
    bad("cell.levels", "is " + std::to_string(cell.levels) + "; allowed 0 (continuous) or 2..65536",
        "use 0 for an analog cell or the number of programmable levels");
  const PcmParams& p = cell.pcm;
  check_finite("cell.pcm.prog_c0_us", p.prog_c0_us);
  check_finite("cell.pcm.prog_c1_us", p.prog_c1_us);
  check_finite("cell.pcm.prog_c2_us", p.prog_c2_us);
  check_positive("cell.pcm.drift_t0_s", p.drift_t0_s);
  check_positive("cell.pcm.read_t_read_s", p.read_t_read_s);
  check_nonneg("cell.pcm.read_q_max", p.read_q_max);
  const RramParams& r = cell.rram;
  check_nonneg("cell.rram.prog_sigma_us", r.prog_sigma_us);
  check_nonneg("cell.rram.relax_sigma_us", r.relax_sigma_us);
  check_positive("cell.rram.relax_time_s", r.relax_time_s);
  check_nonneg("cell.rram.read_noise_rel", r.read_noise_rel);
  check_probability("cell.rram.p_stuck_on", r.p_stuck_on);
  check_probability("cell.rram.p_stuck_off", r.p_stuck_off);
  if (r.p_stuck_on + r.p_stuck_off > 1)
    bad("cell.rram.p_stuck_on",
        "plus p_stuck_off is " + num(r.p_stuck_on + r.p_stuck_off) + "; allowed <= 1",
        "lower the fault probabilities");
  const SramParams& s = cell.sram;
  check_nonneg("cell.sram.mismatch_sigma_rel", s.mismatch_sigma_rel);
  check_nonneg("cell.sram.thermal_noise_sigma_rel", s.thermal_noise_sigma_rel);
  if (!std::isfinite(s.bitline_swing_fraction) || s.bitline_swing_fraction <= 0 ||
      s.bitline_swing_fraction > 1)
    bad("cell.sram.bitline_swing_fraction",
        "is " + num(s.bitline_swing_fraction) + "; allowed (0, 1]",
        "use the usable fraction of the bitline swing");
  const FlashParams& f = cell.flash;
  check_nonneg("cell.flash.prog_sigma_rel", f.prog_sigma_rel);
  check_finite("cell.flash.temp_coeff_per_k", f.temp_coeff_per_k);
  check_positive("cell.flash.temperature_k", f.temperature_k);
  check_nonneg("cell.flash.drift_rel_per_decade", f.drift_rel_per_decade);

  // Encoding.
  if (encoding.scheme == Encoding::bit_sliced) {
    check_int_range("encoding.bits_per_cell", encoding.bits_per_cell, 1, 16);
    check_int_range("encoding.slices", encoding.slices, 1, 16);
    if (encoding.bits_per_cell * encoding.slices > 16)
      bad("encoding.bits_per_cell",
          "times encoding.slices is " + std::to_string(encoding.bits_per_cell * encoding.slices) +
              "; allowed 1..16",
          "use fewer bits per cell or fewer slices");
    if (cell.levels != 0 && cell.levels < (1 << encoding.bits_per_cell))
      bad("encoding.bits_per_cell",
          "is " + std::to_string(encoding.bits_per_cell) + " but the cell has " +
              std::to_string(cell.levels) + " levels; allowed 2^bits <= levels",
          "lower bits_per_cell or use a cell with more levels");
  }
  if (cells_per_weight() > cols)
    bad("cols",
        "is " + std::to_string(cols) + "; the encoding needs at least " +
            std::to_string(cells_per_weight() + (encoding.scheme == Encoding::offset_column)) +
            " columns",
        "use a wider array or another encoding");
  if (encoding.scheme == Encoding::offset_column && cell.levels == 2)
    bad("cell.levels", "is 2; offset-column encoding needs 0 (continuous) or >= 3 levels",
        "use differential or bit-sliced encoding for binary cells");
  if (encoding.scheme == Encoding::offset_column && cols < 2)
    bad("cols",
        "is " + std::to_string(cols) + "; offset-column encoding needs >= 2 (one reference)",
        "use a wider array");

  // Periphery.
  check_int_range("dac.bits", dac.bits, 2, 16);  // sign + at least one magnitude bit
  check_positive("dac.v_read", dac.v_read);
  check_int_range("adc.bits", adc.bits, 2, 16);  // a signed ADC: sign + magnitude
  check_positive("adc.full_scale_ua", adc.full_scale_ua);
  check_nonneg("adc.offset_sigma_lsb", adc.offset_sigma_lsb);
  check_nonneg("adc.gain_sigma_rel", adc.gain_sigma_rel);
  check_nonneg("adc.inl_lsb", adc.inl_lsb);
  check_nonneg("adc.noise_sigma_lsb", adc.noise_sigma_lsb);
  check_nonneg("adc.calibration_sigmas", adc.calibration_sigmas);
  check_nonneg("ir_drop.wire_r_ohm", ir_drop.wire_r_ohm);
  check_nonneg("time_since_programming_s", time_since_programming_s);
}

int ArrayParams::cells_per_weight() const {
  switch (encoding.scheme) {
    case Encoding::differential:
      return 2;
    case Encoding::offset_column:
      return 1;
    case Encoding::bit_sliced:
      return 2 * std::max(encoding.slices, 1);
  }
  return 2;
}

int ArrayParams::logical_cols() const {
  if (encoding.scheme == Encoding::offset_column) return std::max(cols - 1, 0);
  return cols / cells_per_weight();
}

ArrayParams default_array_params(CellType type) {
  ArrayParams p;
  p.cell.type = type;
  switch (type) {
    case CellType::ideal:
      p.cell.g_min_us = 0.0;
      p.cell.g_max_us = 25.0;
      p.cell.levels = 0;
      break;
    case CellType::pcm:
      // IBM aihwkit PCMLikeNoiseModel (Nandakumar et al., ICECS 2019): g_max = 25 µS, analog
      // (continuous) programming with write-verify; weights as differential pairs (FACTS.md).
      p.cell.g_min_us = 0.0;
      p.cell.g_max_us = 25.0;
      p.cell.levels = 0;
      p.encoding.scheme = Encoding::differential;
      break;
    case CellType::rram:
      // NeuRRAM (Wan et al., Nature 608, 2022): 1T1R HfOx cells written by iterative
      // write-verify into a window of a few to ~40 µS, differential pairs, multi-level weights
      // (up to 4 bits per cell). Values here are rounded approximations of that window.
      p.cell.g_min_us = 1.0;
      p.cell.g_max_us = 40.0;
      p.cell.levels = 16;
      p.encoding.scheme = Encoding::differential;
      break;
    case CellType::sram_charge:
    case CellType::sram_current:
      // SRAM CIM stores exact binary weights (one bit per 6T/8T cell); multi-bit weights are
      // bit-sliced across columns and shift-added (e.g. Jia et al., ISSCC 2021; Sinangil et
      // al., JSSC 2021). The "conductance" is the normalised unit cell strength.
      p.cell.g_min_us = 0.0;
      p.cell.g_max_us = 1.0;
      p.cell.levels = 2;
      p.encoding.scheme = Encoding::bit_sliced;
      p.encoding.bits_per_cell = 1;
      p.encoding.slices = 7;  // 7 magnitude bits + sign by the differential pair = 8-bit weights
      if (type == CellType::sram_charge) {
        // Metal-fringe capacitors match far better than transistor currents (Valavi et al.,
        // JSSC 2019): charge domain gets the smaller mismatch.
        p.cell.sram.mismatch_sigma_rel = 0.002;
      } else {
        p.cell.sram.mismatch_sigma_rel = 0.01;
      }
      break;
    case CellType::flash:
      // Mythic analog matrix processor: multi-level NOR flash holding 8-bit weights per cell
      // (Mythic M1076 product brief); the conductance window is an assumed round value.
      p.cell.g_min_us = 0.0;
      p.cell.g_max_us = 10.0;
      p.cell.levels = 256;
      p.encoding.scheme = Encoding::differential;
      break;
  }
  return p;
}

std::string cell_type_name(CellType type) {
  switch (type) {
    case CellType::ideal:
      return "ideal";
    case CellType::pcm:
      return "pcm";
    case CellType::rram:
      return "rram";
    case CellType::sram_charge:
      return "sram_charge";
    case CellType::sram_current:
      return "sram_current";
    case CellType::flash:
      return "flash";
  }
  return "?";
}

CellType parse_cell_type(const std::string& name) {
  for (CellType t : {CellType::ideal, CellType::pcm, CellType::rram, CellType::sram_charge,
                     CellType::sram_current, CellType::flash})
    if (cell_type_name(t) == name) return t;
  throw Error(ErrorKind::invalid, "cell type '" + name + "'", "is not a known cell technology",
              "use one of: ideal, pcm, rram, sram_charge, sram_current, flash");
}

}  // namespace acim
