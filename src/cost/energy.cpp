// Pricing: event counts x per-event energy x activity x calibration scale, the pipeline's timing,
// the area of the chips and the figures of merit. The model is documented in
// include/acim/cost.hpp; every formula below is one line of it.
#include <algorithm>
#include <cmath>
#include <map>

#include "acim/cost.hpp"
#include "acim/error.hpp"

namespace acim {

namespace {

// Array activation energy relative to the spec's (taken at kReferenceColumnActivity).
double array_activity_factor(double column_activity) {
  const double s = kArrayStaticShare;
  const double c = std::clamp(column_activity, 0.0, 1.0);
  return (s + (1 - s) * c) / (s + (1 - s) * kReferenceColumnActivity);
}

// DAC energy relative to the spec's (taken at kReferenceInputActivity): all dynamic.
double dac_activity_factor(double input_activity) {
  return std::clamp(input_activity, 0.0, 1.0) / kReferenceInputActivity;
}

double scale_of(const CostScaleSpec& s, CostComponent c) {
  switch (c) {
    case CostComponent::array: return s.array;
    case CostComponent::dac: return s.dac;
    case CostComponent::adc: return s.adc;
    case CostComponent::shift_add: return s.shift_add;
    case CostComponent::accumulate: return s.accumulate;
    case CostComponent::digital: return s.digital;
    case CostComponent::buffer: return s.buffer;
    case CostComponent::noc: return s.noc;
    case CostComponent::chip_link: return s.chip_link;
    case CostComponent::leakage: return s.leakage;
  }
  return 1.0;
}

void apply_scales(EnergyBreakdown& e, const CostScaleSpec& s) {
  for (int i = 0; i < kCostComponents; ++i)
    e.pj[static_cast<size_t>(i)] *= scale_of(s, static_cast<CostComponent>(i));
}

double d(int64_t v) {
  return static_cast<double>(v);
}

}  // namespace

std::string cost_component_name(CostComponent c) {
  switch (c) {
    case CostComponent::array: return "array";
    case CostComponent::dac: return "dac";
    case CostComponent::adc: return "adc";
    case CostComponent::shift_add: return "shift_add";
    case CostComponent::accumulate: return "accumulate";
    case CostComponent::digital: return "digital";
    case CostComponent::buffer: return "buffer";
    case CostComponent::noc: return "noc";
    case CostComponent::chip_link: return "chip_link";
    case CostComponent::leakage: return "leakage";
  }
  return "?";
}

double EnergyBreakdown::total_pj() const {
  double t = 0;
  for (double v : pj) t += v;
  return t;
}

EnergyBreakdown& EnergyBreakdown::operator+=(const EnergyBreakdown& o) {
  for (size_t i = 0; i < pj.size(); ++i) pj[i] += o.pj[i];
  return *this;
}

double AreaBreakdown::total_um2() const {
  return arrays_um2 + adcs_um2 + dacs_um2 + shift_add_um2 + digital_um2 + buffers_um2 +
         routers_um2;
}

double CostReport::average_power_uw(double rate) const {
  if (!(rate >= 0) || !std::isfinite(rate) || rate > inferences_per_s * (1 + 1e-12))
    throw Error(ErrorKind::invalid, "chip '" + chip + "': inference rate",
                "is " + std::to_string(rate) + " per second; allowed 0.." +
                    std::to_string(inferences_per_s) + " (the pipeline's throughput)",
                "choose a rate the chip can sustain");
  // pJ per inference x inferences per second = 1e-12 W = 1e-6 uW.
  return leakage_uw + rate * dynamic_energy_pj() * 1e-6;
}

CostReport price(const Graph& graph, const Mapping& mapping, const ChipSpec& chip,
                 const std::vector<LayerActivity>& activity) {
  CostReport r;
  r.chip = chip.name;
  r.chips = std::max(mapping.chips, 1);
  r.events = count_events(graph, mapping, chip);
  r.adc = adc_cost(chip);
  r.mvm_time_ns = chip.mvm_time_ns();
  const CostScaleSpec& sc = chip.cost.scale;
  const EventEnergySpec& ee = chip.energy;
  const BufferSpec& cb = chip.core.buffer;
  const BufferSpec& tb = chip.tile.buffer;
  const DigitalUnitSpec& du = chip.core.digital;
  std::map<std::string, const LayerActivity*> act;
  for (const LayerActivity& a : activity) act[a.node] = &a;

  // Bytes the core buffer moves per ns through all its ports.
  const double core_bw = cb.width_bits / 8.0 * cb.ports / std::max(cb.access_time_ns, 1e-9);
  const double core_bytes = cb.size_kib * 1024.0;

  // Analog layers.
  double sequential_ns = 0, slowest_ns = 0;
  for (size_t i = 0; i < mapping.layers.size(); ++i) {
    const LayerMapping& l = mapping.layers[i];
    const LayerEvents& e = r.events.layers[i];
    LayerCost c;
    c.node = l.node;
    c.op = l.op;
    c.activity.node = l.node;
    auto a = act.find(l.node);
    if (a != act.end()) c.activity = *a->second;
    // Stall: input beyond the core buffers of the layer's cores is spilled and refilled once.
    const double cores = static_cast<double>(std::max<int64_t>(l.last_core - l.first_core + 1, 1));
    const double excess = std::max(0.0, d(e.input_bytes) - cores * core_bytes);
    c.stall_ns = 2 * excess / core_bw;
    EnergyBreakdown& en = c.energy;
    en[CostComponent::array] =
        d(e.array_reads) * ee.array_activation_pj * array_activity_factor(c.activity.column_activity);
    en[CostComponent::dac] =
        d(e.dac_drives) * ee.dac_drive_pj * dac_activity_factor(c.activity.input_activity);
    en[CostComponent::adc] = d(e.adc_conversions) * r.adc.energy_pj;
    en[CostComponent::shift_add] = d(e.shift_adds) * ee.shift_add_pj;
    en[CostComponent::accumulate] = d(e.partial_sum_adds) * ee.accumulate_pj;
    en[CostComponent::digital] = d(e.vector_lane_ops) * du.op_energy_pj;
    en[CostComponent::buffer] =
        (d(e.core_buffer_read_bytes) + excess) * cb.read_energy_pj_per_byte +
        (d(e.core_buffer_write_bytes) + excess) * cb.write_energy_pj_per_byte +
        d(e.tile_buffer_read_bytes) * tb.read_energy_pj_per_byte +
        d(e.tile_buffer_write_bytes) * tb.write_energy_pj_per_byte;
    apply_scales(en, sc);
    c.cycles = l.cycles();
    c.compute_ns = d(c.cycles) * r.mvm_time_ns;
    c.digital_ns = d(e.vector_ops) * du.op_time_ns;
    c.start_ns = d(l.start_cycle) * r.mvm_time_ns;
    c.finish_ns = d(l.finish_cycle) * r.mvm_time_ns + c.stall_ns;
    sequential_ns += c.compute_ns + c.stall_ns + c.digital_ns;
    slowest_ns = std::max({slowest_ns, c.compute_ns + c.stall_ns, c.digital_ns});
    r.energy += c.energy;
    r.macs += e.macs;
    r.layers.push_back(std::move(c));
  }

  // Digital nodes.
  double digital_ns = 0;
  int64_t host_nodes = 0;
  for (const DigitalEvents& e : r.events.digital) {
    DigitalCost c;
    c.node = e.node;
    c.op = e.op;
    c.unit = e.unit;
    c.energy_pj = (d(e.lane_ops) * du.op_energy_pj) * sc.digital +
                  d(e.buffer_bytes) *
                      (cb.read_energy_pj_per_byte + cb.write_energy_pj_per_byte) * sc.buffer;
    c.time_ns = d(e.vector_ops) * du.op_time_ns + d(e.buffer_bytes) / core_bw;
    r.energy[CostComponent::digital] += d(e.lane_ops) * du.op_energy_pj * sc.digital;
    r.energy[CostComponent::buffer] += d(e.buffer_bytes) *
                                       (cb.read_energy_pj_per_byte + cb.write_energy_pj_per_byte) *
                                       sc.buffer;
    digital_ns += c.time_ns;
    slowest_ns = std::max(slowest_ns, c.time_ns);
    r.macs += e.macs;
    host_nodes += e.unit == "host";
    r.digital.push_back(std::move(c));
  }
  if (host_nodes > 0)
    r.notes.push_back(std::to_string(host_nodes) +
                      " node(s) need a digital unit the chip lacks and run on the host: "
                      "their energy and time are not included");

  r.energy[CostComponent::noc] =
      r.events.noc_byte_hops * 8.0 * chip.noc.hop_energy_pj_per_bit * sc.noc;
  r.energy[CostComponent::chip_link] =
      d(r.events.chip_link_bits) * chip.chip_link.energy_pj_per_bit * sc.chip_link;

  // Timing. Chip links: each boundary's serialisation plus the link latency.
  double link_ns = 0, slowest_link_ns = 0;
  for (const StageBoundary& b : mapping.boundaries) {
    const double ser = d(b.bytes) * 8.0 / chip.chip_link.bandwidth_gbit_s;  // Gbit/s = bit/ns
    link_ns += ser + chip.chip_link.latency_ns;
    slowest_link_ns = std::max(slowest_link_ns, ser);
  }
  double stall_ns = 0;
  for (const LayerCost& c : r.layers) stall_ns += c.stall_ns;
  double fused_ns = 0;
  for (const LayerCost& c : r.layers) fused_ns += c.digital_ns;
  if (mapping.latency_cycles > 0) {
    r.latency_ns = d(mapping.latency_cycles) * r.mvm_time_ns + stall_ns + fused_ns + digital_ns +
                   link_ns;
  } else {
    r.latency_ns = sequential_ns + digital_ns + link_ns;
    if (!mapping.layers.empty())
      r.notes.push_back("the mapping records no pipeline schedule: layers priced one after "
                        "another");
  }
  double interval_ns = slowest_ns;
  if (mapping.interval_cycles > 0)
    interval_ns = std::max(interval_ns, d(mapping.interval_cycles) * r.mvm_time_ns);
  r.interval_ns = std::max({interval_ns, slowest_link_ns, 1e-9});
  r.inferences_per_s = 1e9 / r.interval_ns;

  r.leakage_uw = chip.leakage_uw * r.chips * sc.leakage;
  r.energy[CostComponent::leakage] = r.leakage_uw * r.latency_ns * 1e-3;  // uW x ns = 1e-3 pJ

  // Area of every chip used.
  const double chips = r.chips;
  const double arrays = d(chip.total_arrays()) * chips;
  const double cores = chip.cores * chips;
  const double tiles = cores * chip.core.tiles;
  r.area.arrays_um2 = arrays * chip.area.array_um2;
  r.area.adcs_um2 = arrays * d(chip.adcs_per_array()) * r.adc.area_um2;
  r.area.dacs_um2 = arrays * chip.array.rows * chip.area.dac_um2;
  r.area.shift_add_um2 = tiles * chip.tile.shift_add_units * chip.area.shift_add_um2;
  r.area.digital_um2 = cores * chip.area.digital_unit_um2;
  r.area.buffers_um2 =
      (cores * chip.core.buffer.size_kib + tiles * chip.tile.buffer.size_kib) *
      chip.area.buffer_um2_per_kib;
  r.area.routers_um2 = cores * chip.area.router_um2;

  // Figures of merit.
  r.peak_tops = chip.peak_tops() * chips;
  r.effective_tops = 2.0 * d(r.macs) * r.inferences_per_s / 1e12;
  const double e_pj = r.energy_pj();
  r.tops_per_w = e_pj > 0 ? 2.0 * d(r.macs) / e_pj : 0;  // ops per pJ = 1e12 ops / J
  const double mm2 = r.area.total_um2() * 1e-6;
  r.tops_per_mm2 = mm2 > 0 ? r.effective_tops / mm2 : 0;
  r.weight_utilisation = mapping.utilisation();
  r.array_utilisation =
      mapping.arrays_available > 0 ? d(mapping.arrays_used) / d(mapping.arrays_available) : 0;
  double array_cycles = 0;
  for (const LayerMapping& l : mapping.layers) array_cycles += d(l.tiles) * d(l.mvms);
  const double interval_cycles = r.interval_ns / r.mvm_time_ns;
  r.busy_fraction = mapping.arrays_available > 0 && interval_cycles > 0
                        ? std::min(1.0, array_cycles / (d(mapping.arrays_available) * interval_cycles))
                        : 0;
  return r;
}

CostReport price(const Program& program, const std::vector<LayerActivity>& activity) {
  return price(program.graph, program.mapping, program.chip, activity);
}

}  // namespace acim
