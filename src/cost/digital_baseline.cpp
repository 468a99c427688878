// The same graph on a digital NPU: MACs, SRAM traffic with operand reuse, DRAM for weights that do
// not fit on chip, with Horowitz's 45 nm energies (ISSCC 2014; FACTS.md) scaled to the node by
// Stillmaker & Baas (2017). See include/acim/cost.hpp.
#include <algorithm>
#include <array>
#include <cmath>

#include "acim/cost.hpp"
#include "acim/error.hpp"
#include "acim/model_info.hpp"

namespace acim {

namespace {

// Horowitz, ISSCC 2014, 45 nm, 0.9 V (pJ).
constexpr double kMult8Pj = 0.2;   // 8-bit integer multiply
constexpr double kAdd32Pj = 0.1;   // 32-bit integer add (the accumulator)
constexpr double kHorowitzNm = 45, kHorowitzV = 0.9;
// SRAM, per 64-bit read, by capacity: 8 KB 10 pJ, 32 KB 20 pJ, 1 MB 100 pJ.
constexpr std::array<std::pair<double, double>, 3> kSramKibPj = {{{8, 10}, {32, 20}, {1024, 100}}};
// DRAM: 1.3-2.6 nJ per 64-bit access; the low end, so the analog advantage is not overstated.
// Off-chip interface energy: not scaled with the logic node.
constexpr double kDramPjPer64Bit = 1300;
// Writes are priced as reads (Horowitz gives reads only).

// Stillmaker & Baas 2017, energy ~ a V^2 + b V + c per node (their fitted coefficients, as
// tabulated for 130 ... 7 nm).
struct NodeFit {
  double nm, a, b, c;
};
constexpr std::array<NodeFit, 10> kFits = {{
    {130, 7.171, -6.709, 2.904},
    {90, 4.762, -4.781, 2.092},
    {65, 3.755, -4.398, 1.975},
    {45, 1.103, -0.362, 0.2767},
    {32, 0.9559, -0.7823, 0.471},
    {20, 0.373, -0.1582, 0.04104},
    {16, 0.2958, -0.1241, 0.03024},
    {14, 0.2363, -0.09675, 0.02239},
    {10, 0.2068, -0.09311, 0.02375},
    {7, 0.1776, -0.09097, 0.02447},
}};

double fit_at(const NodeFit& f, double v) {
  return f.a * v * v + f.b * v + f.c;
}

// log-log interpolation of y between (x0, y0) and (x1, y1), extrapolating beyond them.
double loglog(double x, double x0, double y0, double x1, double y1) {
  const double t = std::log(x / x0) / std::log(x1 / x0);
  return std::exp(std::log(y0) + t * (std::log(y1) - std::log(y0)));
}

// Relative energy of a node at supply v (the polynomial of the bracketing nodes).
double node_energy(double nm, double v) {
  size_t hi = 1;  // kFits[hi - 1].nm >= nm >= kFits[hi].nm, or the end pair to extrapolate
  while (hi + 1 < kFits.size() && kFits[hi].nm > nm) ++hi;
  const NodeFit& f0 = kFits[hi - 1];
  const NodeFit& f1 = kFits[hi];
  return loglog(nm, f0.nm, fit_at(f0, v), f1.nm, fit_at(f1, v));
}

// SRAM energy per byte of a `kib` KiB array at 45 nm (log-log in capacity, extrapolated with the
// nearest pair's slope).
double sram_pj_per_byte_45nm(double kib) {
  const auto& t = kSramKibPj;
  const size_t i = kib <= t[1].first ? 0 : 1;
  return loglog(std::max(kib, 1e-3), t[i].first, t[i].second, t[i + 1].first, t[i + 1].second) /
         8.0;
}

}  // namespace

double energy_scale_from_45nm(double technology_nm, double supply_v) {
  if (!(technology_nm > 0) || !(supply_v > 0))
    throw Error(ErrorKind::invalid, "digital baseline",
                "technology " + std::to_string(technology_nm) + " nm at " +
                    std::to_string(supply_v) + " V",
                "give a positive node and supply");
  const double ref = node_energy(kHorowitzNm, kHorowitzV);
  const double e = node_energy(technology_nm, supply_v);
  if (!(e > 0))
    throw Error(ErrorKind::invalid, "digital baseline",
                "the Stillmaker-Baas energy fit is not positive at " +
                    std::to_string(technology_nm) + " nm, " + std::to_string(supply_v) + " V",
                "use a supply near the node's nominal one");
  return e / ref;
}

DigitalBaselineOptions baseline_at(const ChipSpec& chip, int technology_nm) {
  DigitalBaselineOptions o;
  o.technology_nm = technology_nm;
  o.supply_v = technology_nm < 10 && technology_nm != chip.technology_nm ? 0.7 : chip.supply_v;
  return o;
}

DigitalBaseline price_digital_baseline(const Graph& graph, const ChipSpec& chip,
                                       const DigitalBaselineOptions& options, int chips) {
  if (options.reuse < 1)
    throw Error(ErrorKind::invalid, "digital baseline: reuse",
                "is " + std::to_string(options.reuse) + "; allowed >= 1", "use 1 for no reuse");
  if (!(options.sram_leakage_nw_per_kib >= 0))
    throw Error(ErrorKind::invalid, "digital baseline: sram_leakage_nw_per_kib",
                "is " + std::to_string(options.sram_leakage_nw_per_kib) + "; allowed >= 0",
                "use 0 for no leakage");
  DigitalBaseline b;
  b.technology_nm = options.technology_nm;
  b.supply_v = options.supply_v;
  b.scale = energy_scale_from_45nm(options.technology_nm, options.supply_v);
  const ModelInfo info = describe(graph);
  b.macs = info.total_macs;
  b.weight_bytes = info.total_params;
  int64_t outputs = 0;
  for (const LayerInfo& l : info.layers)
    for (const Shape& s : l.output_shapes) {
      int64_t n = 1;
      for (int64_t dim : s) n *= dim > 0 ? dim : 1;
      outputs += n;
    }
  const double kib = options.sram_kib > 0
                         ? options.sram_kib
                         : static_cast<double>(chip.weight_capacity()) * std::max(chips, 1) / 1024.0;
  b.sram_bytes = static_cast<int64_t>(kib * 1024.0);
  // Operands: a weight and an input byte per MAC, each SRAM read feeding `reuse` MACs; every
  // layer output written once. Weights beyond the SRAM stream from DRAM once per inference.
  b.sram_read_bytes = (2 * b.macs + options.reuse - 1) / options.reuse;
  b.sram_write_bytes = outputs;
  b.dram_read_bytes = std::max<int64_t>(0, b.weight_bytes - b.sram_bytes);
  b.mac_pj = (kMult8Pj + kAdd32Pj) * b.scale;
  b.sram_pj_per_byte = sram_pj_per_byte_45nm(kib) * b.scale;
  b.dram_pj_per_byte = kDramPjPer64Bit / 8.0;
  b.mac_energy_pj = static_cast<double>(b.macs) * b.mac_pj;
  b.sram_energy_pj =
      static_cast<double>(b.sram_read_bytes + b.sram_write_bytes) * b.sram_pj_per_byte;
  b.dram_energy_pj = static_cast<double>(b.dram_read_bytes) * b.dram_pj_per_byte;
  b.leakage_uw = kib * options.sram_leakage_nw_per_kib * 1e-3;
  return b;
}

}  // namespace acim
