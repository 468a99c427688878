// The report model: the Program priced once (activity, cost, baselines), the per-layer rows in
// graph order, the floorplan from the mapping's array placement; its JSON rendering; and the
// atomic file write the renderings share. See include/acim/report.hpp.
#include "acim/report.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>

#include "acim/error.hpp"
#include "core/atomic_file.hpp"

namespace acim {

namespace {

// Per-layer rows in graph order: analog layers and digital nodes interleaved as the graph runs
// them (a node missing from the graph, which the mapping never makes, goes last).
std::vector<ReportLayer> layer_rows(const Graph& graph, const Mapping& mapping,
                                    const ChipSpec& chip, const CostReport& cost) {
  std::map<std::string, size_t> order;
  for (size_t i = 0; i < graph.nodes.size(); ++i) order.emplace(graph.nodes[i].name, i);
  const auto position = [&](const std::string& node) {
    auto it = order.find(node);
    return it == order.end() ? graph.nodes.size() : it->second;
  };
  std::vector<std::pair<size_t, ReportLayer>> rows;
  for (size_t i = 0; i < cost.layers.size(); ++i) {
    const LayerCost& c = cost.layers[i];
    ReportLayer r;
    r.node = c.node;
    r.op = c.op;
    r.analog = true;
    r.index = static_cast<int>(i);
    r.energy = c.energy;
    r.energy_pj = c.energy.total_pj();
    r.compute_ns = c.compute_ns;
    r.stall_ns = c.stall_ns;
    r.vector_ns = c.digital_ns;
    r.busy_ns = std::max(c.compute_ns + c.stall_ns, c.digital_ns);
    r.start_ns = c.start_ns;
    r.finish_ns = c.finish_ns;
    r.arrays = i < mapping.layers.size() ? mapping.layers[i].arrays() : 0;
    rows.emplace_back(position(c.node), std::move(r));
  }
  for (size_t i = 0; i < cost.digital.size(); ++i) {
    const DigitalCost& c = cost.digital[i];
    const DigitalEvents& e = cost.events.digital[i];
    ReportLayer r;
    r.node = c.node;
    r.op = c.op;
    r.analog = false;
    r.index = static_cast<int>(i);
    // DigitalCost keeps one total: its lane-ops are priced as price() prices them, the rest is
    // the node's buffer traffic.
    const double lane_pj =
        static_cast<double>(e.lane_ops) * chip.core.digital.op_energy_pj * chip.cost.scale.digital;
    r.energy[CostComponent::digital] = std::min(lane_pj, c.energy_pj);
    r.energy[CostComponent::buffer] = c.energy_pj - r.energy[CostComponent::digital];
    r.energy_pj = c.energy_pj;
    r.vector_ns = c.time_ns;
    r.busy_ns = c.time_ns;
    rows.emplace_back(position(c.node), std::move(r));
  }
  std::stable_sort(rows.begin(), rows.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<ReportLayer> out;
  for (auto& [pos, r] : rows) out.push_back(std::move(r));
  return out;
}

Floorplan make_floorplan(const ChipSpec& chip, const Mapping& mapping,
                         std::vector<std::string>& notes) {
  Floorplan f;
  f.chips = std::max(mapping.chips, 1);
  f.cores = std::max(chip.cores, 1);
  f.mesh_rows = std::max(mapping.mesh_rows, 1);
  f.mesh_cols = std::max(mapping.mesh_cols, 1);
  f.tiles_per_core = std::max(chip.core.tiles, 1);
  f.arrays_per_tile = std::max(chip.tile.arrays, 1);
  const int64_t per_core = f.arrays_per_core();
  const int64_t total_cores = int64_t{f.chips} * f.cores;
  f.array_layer.assign(static_cast<size_t>(total_cores * per_core), -1);
  std::vector<int64_t> filled(static_cast<size_t>(total_cores), 0);
  int64_t unplaced = 0, overfull = 0;
  for (size_t i = 0; i < mapping.layers.size(); ++i) {
    const LayerMapping& l = mapping.layers[i];
    if (static_cast<int64_t>(l.array_cores.size()) != l.arrays()) {
      unplaced += l.arrays();
      continue;
    }
    for (int64_t core : l.array_cores) {
      if (core < 0 || core >= total_cores || filled[static_cast<size_t>(core)] >= per_core) {
        ++overfull;
        continue;
      }
      const int64_t slot = core * per_core + filled[static_cast<size_t>(core)]++;
      f.array_layer[static_cast<size_t>(slot)] = static_cast<int>(i);
    }
  }
  f.placed = unplaced == 0 && overfull == 0;
  if (unplaced > 0)
    notes.push_back("the mapping records no core for " + std::to_string(unplaced) +
                    " array(s): the floorplan leaves them out");
  if (overfull > 0)
    notes.push_back(std::to_string(overfull) +
                    " array(s) are placed on a core that does not exist or is already full: "
                    "the floorplan leaves them out");
  return f;
}

nlohmann::json breakdown_json(const EnergyBreakdown& e) {
  nlohmann::json j = nlohmann::json::object();
  for (int c = 0; c < kCostComponents; ++c)
    j[cost_component_name(static_cast<CostComponent>(c))] = e.pj[static_cast<size_t>(c)];
  return j;
}

nlohmann::json activity_json(const LayerActivity& a) {
  return {{"input_activity", a.input_activity},
          {"weight_fill", a.weight_fill},
          {"column_activity", a.column_activity},
          {"samples", a.samples}};
}

nlohmann::json layer_events_json(const LayerEvents& e) {
  return {{"node", e.node},
          {"op", e.op},
          {"mvms", e.mvms},
          {"tile_activations", e.tile_activations},
          {"array_reads", e.array_reads},
          {"dac_drives", e.dac_drives},
          {"adc_conversions", e.adc_conversions},
          {"shift_adds", e.shift_adds},
          {"partial_sum_adds", e.partial_sum_adds},
          {"core_buffer_read_bytes", e.core_buffer_read_bytes},
          {"core_buffer_write_bytes", e.core_buffer_write_bytes},
          {"tile_buffer_read_bytes", e.tile_buffer_read_bytes},
          {"tile_buffer_write_bytes", e.tile_buffer_write_bytes},
          {"vector_lane_ops", e.vector_lane_ops},
          {"vector_ops", e.vector_ops},
          {"macs", e.macs},
          {"input_bytes", e.input_bytes}};
}

nlohmann::json baseline_json(const BaselineComparison& b, double rate) {
  const DigitalBaseline& d = b.digital;
  return {{"technology_nm", d.technology_nm},
          {"supply_v", d.supply_v},
          {"scale", d.scale},
          {"macs", d.macs},
          {"weight_bytes", d.weight_bytes},
          {"sram_bytes", d.sram_bytes},
          {"sram_read_bytes", d.sram_read_bytes},
          {"sram_write_bytes", d.sram_write_bytes},
          {"dram_read_bytes", d.dram_read_bytes},
          {"mac_pj", d.mac_pj},
          {"sram_pj_per_byte", d.sram_pj_per_byte},
          {"dram_pj_per_byte", d.dram_pj_per_byte},
          {"mac_energy_pj", d.mac_energy_pj},
          {"sram_energy_pj", d.sram_energy_pj},
          {"dram_energy_pj", d.dram_energy_pj},
          {"energy_pj", d.energy_pj()},
          {"leakage_uw", d.leakage_uw},
          {"average_power_uw", d.average_power_uw(rate)},
          {"analog_energy_pj", b.analog_pj},
          {"analog_over_digital", b.ratio},
          {"verdict", b.verdict}};
}

}  // namespace

std::string baseline_verdict(double ratio, int technology_nm) {
  const std::string at = "a digital NPU at " + std::to_string(technology_nm) + " nm";
  if (!(ratio > 0) || !std::isfinite(ratio))
    return "no comparison with " + at + ": one of the two energies is zero";
  char buf[32];
  if (std::fabs(ratio - 1) <= 0.01)
    return "analog uses about the same energy per inference as " + at;
  std::snprintf(buf, sizeof buf, "%.3gx", ratio > 1 ? ratio : 1 / ratio);
  return std::string("analog uses ") + buf + (ratio > 1 ? " more" : " less") +
         " energy per inference than " + at;
}

Report make_report(const Program& program, const std::vector<TensorMap>& inputs,
                   const ReportOptions& options) {
  ChipSpec chip = program.chip;
  if (!options.adc_model.empty()) chip.cost.adc_model = options.adc_model;
  Report r;
  r.model = program.model;
  r.chip = chip.name;
  r.chip_description = chip.description;
  r.technology_nm = chip.technology_nm;
  r.chips = std::max(program.mapping.chips, 1);
  r.arrays_used = program.mapping.arrays_used;
  r.arrays_available = program.mapping.arrays_available;
  r.arrays_per_chip = program.mapping.arrays_per_chip;
  r.weights = program.mapping.weights;
  r.activity_source = options.activity_source;
  r.activity_samples = static_cast<int64_t>(inputs.size());

  const std::vector<LayerActivity> activity =
      measure_activity(program.graph, program.mapping, program.quant, chip, inputs);
  r.cost = price(program.graph, program.mapping, chip, activity);
  r.notes = r.cost.notes;
  if (inputs.empty())
    r.notes.push_back(
        "no activity inputs: every layer priced at the reference activities "
        "(input bits 50% ones, column current 25% of full scale)");

  r.rate = options.rate;
  if (!(options.rate >= 0) || !std::isfinite(options.rate) ||
      options.rate > r.cost.inferences_per_s)
    throw Error(ErrorKind::invalid, "report rate (--rate)",
                "is " + std::to_string(options.rate) + " inferences/s; chip '" + chip.name +
                    "' sustains at most " + std::to_string(r.cost.inferences_per_s) +
                    " with this mapping",
                "choose a rate from 0 to the pipeline's throughput");
  r.average_power_uw = r.cost.average_power_uw(options.rate);

  r.layers = layer_rows(program.graph, program.mapping, chip, r.cost);
  r.by_energy.resize(r.layers.size());
  for (size_t i = 0; i < r.layers.size(); ++i) r.by_energy[i] = static_cast<int>(i);
  std::stable_sort(r.by_energy.begin(), r.by_energy.end(), [&](int a, int b) {
    return r.layers[static_cast<size_t>(a)].energy_pj > r.layers[static_cast<size_t>(b)].energy_pj;
  });

  for (int nm : {chip.technology_nm, 5}) {
    if (nm == 5 && chip.technology_nm == 5) break;  // one baseline is enough at 5 nm
    BaselineComparison b;
    b.digital = price_digital_baseline(program.graph, chip, baseline_at(chip, nm), r.chips);
    b.analog_pj = r.cost.energy_pj();
    const double d_pj = b.digital.energy_pj();
    b.ratio = d_pj > 0 ? b.analog_pj / d_pj : 0;
    b.verdict = baseline_verdict(b.ratio, nm);
    r.baselines.push_back(std::move(b));
  }
  r.notes.push_back(
      "the digital baseline's energy per inference counts MACs, SRAM and DRAM traffic only "
      "(no activation functions, no leakage: it has no latency model; its SRAM's retention "
      "leakage is in always-on power); the analog energy includes leakage over the "
      "inference's latency");

  r.floorplan = make_floorplan(chip, program.mapping, r.notes);
  return r;
}

std::string report_json(const Report& r) {
  const CostReport& c = r.cost;
  nlohmann::json j;
  j["model"] = r.model;
  j["chip"] = r.chip;
  j["chip_description"] = r.chip_description;
  j["technology_nm"] = r.technology_nm;
  j["chips"] = r.chips;
  j["arrays_used"] = r.arrays_used;
  j["arrays_available"] = r.arrays_available;
  j["arrays_per_chip"] = r.arrays_per_chip;
  j["weights"] = r.weights;
  j["activity"] = {{"source", r.activity_source}, {"samples", r.activity_samples}};
  j["rate_per_s"] = r.rate;
  j["average_power_uw"] = r.average_power_uw;

  nlohmann::json& jc = j["cost"];
  jc["chip"] = c.chip;
  jc["chips"] = c.chips;
  jc["energy_pj"] = c.energy_pj();
  jc["dynamic_energy_pj"] = c.dynamic_energy_pj();
  jc["energy_breakdown_pj"] = breakdown_json(c.energy);
  jc["latency_ns"] = c.latency_ns;
  jc["interval_ns"] = c.interval_ns;
  jc["inferences_per_s"] = c.inferences_per_s;
  jc["mvm_time_ns"] = c.mvm_time_ns;
  jc["macs"] = c.macs;
  jc["peak_tops"] = c.peak_tops;
  jc["effective_tops"] = c.effective_tops;
  jc["tops_per_w"] = c.tops_per_w;
  jc["tops_per_mm2"] = c.tops_per_mm2;
  jc["area_um2"] = {{"arrays", c.area.arrays_um2},   {"adcs", c.area.adcs_um2},
                    {"dacs", c.area.dacs_um2},       {"shift_add", c.area.shift_add_um2},
                    {"digital", c.area.digital_um2}, {"buffers", c.area.buffers_um2},
                    {"routers", c.area.routers_um2}, {"total", c.area.total_um2()}};
  jc["weight_utilisation"] = c.weight_utilisation;
  jc["array_utilisation"] = c.array_utilisation;
  jc["busy_fraction"] = c.busy_fraction;
  jc["adc"] = {{"model", c.adc.model},
               {"energy_pj", c.adc.energy_pj},
               {"area_um2", c.adc.area_um2},
               {"source", c.adc.source}};
  jc["leakage_uw"] = c.leakage_uw;
  jc["notes"] = c.notes;
  jc["layers"] = nlohmann::json::array();
  for (size_t i = 0; i < c.layers.size(); ++i) {
    const LayerCost& l = c.layers[i];
    nlohmann::json jl = {{"node", l.node},
                         {"op", l.op},
                         {"energy_pj", l.energy.total_pj()},
                         {"energy_breakdown_pj", breakdown_json(l.energy)},
                         {"cycles", l.cycles},
                         {"compute_ns", l.compute_ns},
                         {"digital_ns", l.digital_ns},
                         {"stall_ns", l.stall_ns},
                         {"start_ns", l.start_ns},
                         {"finish_ns", l.finish_ns},
                         {"activity", activity_json(l.activity)}};
    if (i < c.events.layers.size()) jl["events"] = layer_events_json(c.events.layers[i]);
    jc["layers"].push_back(std::move(jl));
  }
  jc["digital"] = nlohmann::json::array();
  for (size_t i = 0; i < c.digital.size(); ++i) {
    const DigitalCost& d = c.digital[i];
    nlohmann::json jd = {{"node", d.node},
                         {"op", d.op},
                         {"unit", d.unit},
                         {"energy_pj", d.energy_pj},
                         {"time_ns", d.time_ns}};
    if (i < c.events.digital.size()) {
      const DigitalEvents& e = c.events.digital[i];
      jd["events"] = {{"lane_ops", e.lane_ops},
                      {"vector_ops", e.vector_ops},
                      {"buffer_bytes", e.buffer_bytes},
                      {"host_elements", e.host_elements},
                      {"macs", e.macs}};
    }
    jc["digital"].push_back(std::move(jd));
  }
  jc["events"] = {{"total", layer_events_json(c.events.total())},
                  {"noc_byte_hops", c.events.noc_byte_hops},
                  {"chip_link_bits", c.events.chip_link_bits},
                  {"chips", c.events.chips},
                  {"digital_lane_ops", c.events.digital_lane_ops()},
                  {"host_elements", c.events.host_elements()}};

  j["baselines"] = nlohmann::json::array();
  for (const BaselineComparison& b : r.baselines)
    j["baselines"].push_back(baseline_json(b, r.rate));

  j["layers_by_energy"] = nlohmann::json::array();
  for (int i : r.by_energy) {
    const ReportLayer& l = r.layers[static_cast<size_t>(i)];
    j["layers_by_energy"].push_back({{"node", l.node},
                                     {"op", l.op},
                                     {"analog", l.analog},
                                     {"energy_pj", l.energy_pj},
                                     {"busy_ns", l.busy_ns},
                                     {"arrays", l.arrays}});
  }
  const Floorplan& f = r.floorplan;
  j["floorplan"] = {{"chips", f.chips},
                    {"cores_per_chip", f.cores},
                    {"mesh_rows", f.mesh_rows},
                    {"mesh_cols", f.mesh_cols},
                    {"tiles_per_core", f.tiles_per_core},
                    {"arrays_per_tile", f.arrays_per_tile},
                    {"placed", f.placed},
                    {"array_layer", f.array_layer}};
  j["notes"] = r.notes;
  return j.dump(2) + "\n";
}

void write_report_file(const std::filesystem::path& path, std::string_view text) {
  write_file_atomically(path, text);
}

}  // namespace acim
