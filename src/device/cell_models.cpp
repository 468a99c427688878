#include "device/cell_models.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>

namespace acim {

RandomStream device_stream(const RandomStream& instance, DeviceStream purpose) {
  return instance.child(static_cast<uint64_t>(purpose));
}

namespace {

std::vector<float> normals(const RandomStream& s, size_t n) {
  std::vector<float> z(n);
  s.normal(z.data(), n);
  return z;
}

bool is_sram(CellType t) {
  return t == CellType::sram_charge || t == CellType::sram_current;
}

}  // namespace

// Programming noise sigma = (c0 + c1 g + c2 g^2) * (g_max / 25 µS), g = |G_target| / g_max
// (Nandakumar et al., ICECS 2019, as in aihwkit's PCMLikeNoiseModel; FACTS.md).
double pcm_prog_sigma_us(const CellParams& c, double g_target_us) {
  const double g = std::fabs(g_target_us) / c.g_max_us;
  const double s = c.pcm.prog_c0_us + c.pcm.prog_c1_us * g + c.pcm.prog_c2_us * g * g;
  return std::max(s, 0.0) * (c.g_max_us / 25.0);
}

// Drift exponent statistics (FACTS.md): mu = clamp(-0.0155 ln g + 0.0244, 0.049, 0.1),
// sigma = clamp(-0.0125 ln g - 0.0059, 0.008, 0.045), g = |G_target| / g_max clipped at 1e-7.
double pcm_drift_nu_mean(const CellParams& c, double g_target_us) {
  const double g = std::max(std::fabs(g_target_us) / c.g_max_us, 1e-7);
  return std::clamp(-0.0155 * std::log(g) + 0.0244, 0.049, 0.1);
}

double pcm_drift_nu_std(const CellParams& c, double g_target_us) {
  const double g = std::max(std::fabs(g_target_us) / c.g_max_us, 1e-7);
  return std::clamp(-0.0125 * std::log(g) - 0.0059, 0.008, 0.045);
}

// Accumulated 1/f read noise (FACTS.md): Q_s = min(0.0088 / max(g^0.65, 1e-3), q_max),
// sigma = Q_s sqrt(ln((t + t0 + t_read) / (2 t_read))), relative to |G(t)|.
double pcm_one_over_f_sigma_rel(const CellParams& c, double g_prog_us, double t_s) {
  const double g = std::max(g_prog_us / c.g_max_us, 0.0);
  const double q = std::min(0.0088 / std::max(std::pow(g, 0.65), 1e-3), c.pcm.read_q_max);
  const double tr = c.pcm.read_t_read_s;
  return q * std::sqrt(std::log((t_s + c.pcm.drift_t0_s + tr) / (2.0 * tr)));
}

std::vector<float> program_cells(const ArrayParams& p, const std::vector<float>& g_target, int rows,
                                 int cols, const RandomStream& instance) {
  const size_t n = static_cast<size_t>(rows) * cols;
  std::vector<float> g(g_target.begin(), g_target.begin() + static_cast<std::ptrdiff_t>(n));
  if (!p.effects.programming) return g;
  const CellParams& c = p.cell;
  const std::vector<float> z = normals(device_stream(instance, DeviceStream::programming), n);
  switch (c.type) {
    case CellType::ideal:
      break;
    case CellType::pcm:
      for (size_t k = 0; k < n; ++k)
        g[k] = std::max(0.0f, g[k] + static_cast<float>(pcm_prog_sigma_us(c, g[k])) * z[k]);
      break;
    case CellType::rram:
      // Write-verify leaves a spread of prog_sigma_us around the target.
      for (size_t k = 0; k < n; ++k)
        g[k] = std::max(0.0f, g[k] + static_cast<float>(c.rram.prog_sigma_us) * z[k]);
      break;
    case CellType::sram_charge:
    case CellType::sram_current:
      // Exact digital weights; each cell's unit capacitor / transistor deviates by mismatch.
      for (size_t k = 0; k < n; ++k)
        g[k] *= 1.0f + static_cast<float>(c.sram.mismatch_sigma_rel) * z[k];
      break;
    case CellType::flash:
      for (size_t k = 0; k < n; ++k)
        g[k] =
            std::max(0.0f, g[k] + static_cast<float>(c.flash.prog_sigma_rel * c.g_max_us) * z[k]);
      break;
  }
  return g;
}

std::vector<float> cells_at_time(const ArrayParams& p, const std::vector<float>& g_target,
                                 const std::vector<float>& g_prog, int rows, int cols, double t_s,
                                 const RandomStream& instance) {
  const size_t n = static_cast<size_t>(rows) * cols;
  std::vector<float> g = g_prog;
  const CellParams& c = p.cell;
  const NonIdealities& fx = p.effects;
  switch (c.type) {
    case CellType::pcm: {
      if (fx.drift) {
        // G(t) = G_prog ((t + t0) / t0)^-nu, nu = |mu + sigma N(0,1)| per device.
        const std::vector<float> z = normals(device_stream(instance, DeviceStream::drift_nu), n);
        const double ratio = (t_s + c.pcm.drift_t0_s) / c.pcm.drift_t0_s;
        const double log_ratio = std::log(ratio);
        for (size_t k = 0; k < n; ++k) {
          const double nu = std::fabs(pcm_drift_nu_mean(c, g_target[k]) +
                                      pcm_drift_nu_std(c, g_target[k]) * z[k]);
          g[k] = static_cast<float>(g[k] * std::exp(-nu * log_ratio));
        }
      }
      if (fx.read_noise) {
        // Accumulated 1/f noise, drawn once per (instance, time).
        const RandomStream s =
            device_stream(instance, DeviceStream::one_over_f).child(std::bit_cast<uint64_t>(t_s));
        const std::vector<float> z = normals(s, n);
        for (size_t k = 0; k < n; ++k) {
          const double sig = pcm_one_over_f_sigma_rel(c, g_prog[k], t_s);
          g[k] = std::max(0.0f, static_cast<float>(g[k] + std::fabs(g[k]) * sig * z[k]));
        }
      }
      break;
    }
    case CellType::rram: {
      if (fx.programming && c.rram.relax_sigma_us > 0) {
        // Relaxation: an extra spread that grows to relax_sigma_us with time constant
        // relax_time_s; each cell relaxes in its own fixed direction.
        const std::vector<float> z = normals(device_stream(instance, DeviceStream::relaxation), n);
        const double s =
            c.rram.relax_sigma_us * std::sqrt(1.0 - std::exp(-t_s / c.rram.relax_time_s));
        for (size_t k = 0; k < n; ++k) g[k] = std::max(0.0f, static_cast<float>(g[k] + s * z[k]));
      }
      if (fx.faults && (c.rram.p_stuck_on > 0 || c.rram.p_stuck_off > 0)) {
        const RandomStream s = device_stream(instance, DeviceStream::faults);
        std::vector<float> u(n);
        s.uniform(u.data(), n);
        const float on = static_cast<float>(c.rram.p_stuck_on);
        const float off = static_cast<float>(1.0 - c.rram.p_stuck_off);
        for (size_t k = 0; k < n; ++k) {
          if (u[k] < on)
            g[k] = static_cast<float>(c.g_max_us);
          else if (u[k] >= off)
            g[k] = static_cast<float>(c.g_min_us);
        }
      }
      break;
    }
    case CellType::flash: {
      double factor = 1.0;
      if (fx.temperature)
        factor *= 1.0 + c.flash.temp_coeff_per_k * (c.flash.temperature_k - 300.0);
      if (fx.drift) factor *= 1.0 - c.flash.drift_rel_per_decade * std::log10(std::max(t_s, 1.0));
      factor = std::max(factor, 0.0);
      for (size_t k = 0; k < n; ++k) g[k] = static_cast<float>(g[k] * factor);
      break;
    }
    case CellType::ideal:
    case CellType::sram_charge:
    case CellType::sram_current:
      break;
  }
  return g;
}

std::vector<float> read_noise_sigma_us(const ArrayParams& p, const std::vector<float>& g) {
  if (!p.effects.read_noise) return {};
  if (p.cell.type == CellType::rram && p.cell.rram.read_noise_rel > 0) {
    std::vector<float> s(g.size());
    const float rel = static_cast<float>(p.cell.rram.read_noise_rel);
    for (size_t k = 0; k < g.size(); ++k) s[k] = rel * std::fabs(g[k]);
    return s;
  }
  return {};
}

int column_rows(const ArrayParams& p) {
  return p.parallel_rows > 0 && p.parallel_rows < p.rows ? p.parallel_rows : p.rows;
}

// Charge-domain SRAM CIM (Valavi et al., JSSC 2019; Jia et al., JSSC 2020): every bit cell of a
// column couples its capacitor C_u to the shared compute line, and the accumulation is charge
// sharing over all of them, V = V_swing * (sum of products) / N with N the cells on the line —
// whether or not a row is driven or its weight bit is 1 (an idle cell's capacitor is held at
// ground and still shares charge). The sampled (kT/C on N C_u) and comparator noise is a
// voltage on that line: a fixed fraction of the swing, which in product units is
// thermal_noise_sigma_rel * N. A current-domain column's sense range is likewise sized for the
// rows it can drive at once. So the noise follows the physical column (the rows of one
// conversion group), not the rows a layer happens to use: a 9-weight depthwise column packed in
// a 256-row array is as noisy, in absolute terms, as a full one.
double column_noise_sigma_ua(const ArrayParams& p) {
  if (!p.effects.read_noise || !is_sram(p.cell.type)) return 0.0;
  return p.cell.sram.thermal_noise_sigma_rel * column_rows(p) * p.cell.g_max_us * p.dac.v_read;
}

// The bitline swing is a physical voltage range: a fraction of the full column (all its rows
// at g_max and v_read), whatever rows the mapped matrix uses.
double column_saturation_ua(const ArrayParams& p) {
  if (!p.effects.adc || !is_sram(p.cell.type) || p.cell.sram.bitline_swing_fraction >= 1.0)
    return std::numeric_limits<double>::infinity();
  return p.cell.sram.bitline_swing_fraction * column_rows(p) * p.cell.g_max_us * p.dac.v_read;
}

}  // namespace acim
