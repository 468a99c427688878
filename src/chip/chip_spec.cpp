// ChipSpec <-> TOML. One table of fields (key, type, pointer, allowed range) drives parsing,
// range checks, unknown-key suggestions, printing and equality, so a new field is one line.
// The array section's numbers are checked by ArrayParams::validate (src/device), whose error is
// re-labelled with the file, line and full key.
#include <toml++/toml.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "acim/chip.hpp"
#include "acim/error.hpp"
#include "chip/presets.hpp"

namespace acim {

namespace {

enum class FieldKind { integer, real, boolean, text, choice };

// One key of the TOML form.
struct Field {
  std::string key;  // full path: "core.buffer.size_kib"
  FieldKind kind = FieldKind::real;
  int* i = nullptr;
  double* d = nullptr;
  bool* b = nullptr;
  std::string* s = nullptr;
  // choice: the names of the enum's values in order, and a proxy to read/write it.
  std::vector<std::string> names;
  std::function<int()> get;
  std::function<void(int)> set;
  // Range (integer, real). Array keys have none here: ArrayParams::validate checks them.
  bool ranged = false;
  double lo = 0, hi = 0;
  bool lo_open = false;  // lo itself not allowed (> lo)
};

constexpr double kInf = std::numeric_limits<double>::infinity();

Field int_field(std::string key, int* p, int lo, int hi) {
  Field f;
  f.key = std::move(key);
  f.kind = FieldKind::integer;
  f.i = p;
  f.ranged = true;
  f.lo = lo;
  f.hi = hi;
  return f;
}

Field int_free(std::string key, int* p) {
  Field f = int_field(std::move(key), p, 0, 0);
  f.ranged = false;
  return f;
}

Field real_field(std::string key, double* p, double lo, double hi, bool lo_open) {
  Field f;
  f.key = std::move(key);
  f.kind = FieldKind::real;
  f.d = p;
  f.ranged = true;
  f.lo = lo;
  f.hi = hi;
  f.lo_open = lo_open;
  return f;
}
Field nonneg(std::string key, double* p) {
  return real_field(std::move(key), p, 0, kInf, false);
}
Field positive(std::string key, double* p) {
  return real_field(std::move(key), p, 0, kInf, true);
}

Field real_free(std::string key, double* p) {
  Field f = real_field(std::move(key), p, 0, 0, false);
  f.ranged = false;
  return f;
}

Field bool_field(std::string key, bool* p) {
  Field f;
  f.key = std::move(key);
  f.kind = FieldKind::boolean;
  f.b = p;
  return f;
}

Field text_field(std::string key, std::string* p) {
  Field f;
  f.key = std::move(key);
  f.kind = FieldKind::text;
  f.s = p;
  return f;
}

// E's values must be 0..names.size()-1 in the order of names.
template <class E>
Field choice_field(std::string key, E* p, std::vector<std::string> names) {
  Field f;
  f.key = std::move(key);
  f.kind = FieldKind::choice;
  f.names = std::move(names);
  f.get = [p] { return static_cast<int>(*p); };
  f.set = [p](int v) { *p = static_cast<E>(v); };
  return f;
}

void add_buffer(std::vector<Field>& f, const std::string& t, BufferSpec& b) {
  f.push_back(real_field(t + ".size_kib", &b.size_kib, 0, 1 << 30, true));
  f.push_back(int_field(t + ".ports", &b.ports, 1, 64));
  f.push_back(int_field(t + ".width_bits", &b.width_bits, 1, 65536));
  f.push_back(nonneg(t + ".read_energy_pj_per_byte", &b.read_energy_pj_per_byte));
  f.push_back(nonneg(t + ".write_energy_pj_per_byte", &b.write_energy_pj_per_byte));
  f.push_back(nonneg(t + ".access_time_ns", &b.access_time_ns));
}

// Every key, in the order to_toml prints them.
std::vector<Field> chip_fields(ChipSpec& c) {
  std::vector<Field> f;
  f.push_back(text_field("chip.name", &c.name));
  f.push_back(text_field("chip.description", &c.description));
  f.push_back(int_field("chip.technology_nm", &c.technology_nm, 1, 1000));
  f.push_back(real_field("chip.clock_mhz", &c.clock_mhz, 0, 100000, true));
  f.push_back(real_field("chip.supply_v", &c.supply_v, 0, 5, true));
  f.push_back(int_field("chip.cores", &c.cores, 1, 65536));
  f.push_back(nonneg("chip.leakage_uw", &c.leakage_uw));

  f.push_back(int_field("core.tiles", &c.core.tiles, 1, 65536));
  DigitalUnitSpec& d = c.core.digital;
  f.push_back(int_field("core.digital.vector_lanes", &d.vector_lanes, 1, 65536));
  f.push_back(int_field("core.digital.vector_bits", &d.vector_bits, 1, 64));
  f.push_back(bool_field("core.digital.activation", &d.activation));
  f.push_back(bool_field("core.digital.pooling", &d.pooling));
  f.push_back(bool_field("core.digital.softmax", &d.softmax));
  f.push_back(bool_field("core.digital.normalization", &d.normalization));
  f.push_back(bool_field("core.digital.grouped_conv", &d.grouped_conv));
  f.push_back(int_field("core.digital.accumulator_bits", &d.accumulator_bits, 1, 64));
  f.push_back(nonneg("core.digital.op_energy_pj", &d.op_energy_pj));
  f.push_back(nonneg("core.digital.op_time_ns", &d.op_time_ns));
  add_buffer(f, "core.buffer", c.core.buffer);

  f.push_back(int_field("tile.arrays", &c.tile.arrays, 1, 65536));
  f.push_back(int_field("tile.shift_add_units", &c.tile.shift_add_units, 1, 65536));
  add_buffer(f, "tile.buffer", c.tile.buffer);

  ArrayParams& a = c.array;
  f.push_back(int_free("array.rows", &a.rows));
  f.push_back(int_free("array.cols", &a.cols));
  f.push_back(int_free("array.parallel_rows", &a.parallel_rows));
  f.push_back(int_field("array.columns_per_adc", &c.periphery.columns_per_adc, 1, 65536));
  f.push_back(real_free("array.time_since_programming_s", &a.time_since_programming_s));
  f.push_back(bool_field("array.drift_compensation", &a.drift_compensation));
  f.push_back(choice_field("array.cell.type", &a.cell.type,
                           {"ideal", "pcm", "rram", "sram_charge", "sram_current", "flash"}));
  f.push_back(real_free("array.cell.g_min_us", &a.cell.g_min_us));
  f.push_back(real_free("array.cell.g_max_us", &a.cell.g_max_us));
  f.push_back(int_free("array.cell.levels", &a.cell.levels));
  PcmParams& p = a.cell.pcm;
  f.push_back(real_free("array.cell.pcm.prog_c0_us", &p.prog_c0_us));
  f.push_back(real_free("array.cell.pcm.prog_c1_us", &p.prog_c1_us));
  f.push_back(real_free("array.cell.pcm.prog_c2_us", &p.prog_c2_us));
  f.push_back(real_free("array.cell.pcm.drift_t0_s", &p.drift_t0_s));
  f.push_back(real_free("array.cell.pcm.read_t_read_s", &p.read_t_read_s));
  f.push_back(real_free("array.cell.pcm.read_q_max", &p.read_q_max));
  RramParams& r = a.cell.rram;
  f.push_back(real_free("array.cell.rram.prog_sigma_us", &r.prog_sigma_us));
  f.push_back(real_free("array.cell.rram.relax_sigma_us", &r.relax_sigma_us));
  f.push_back(real_free("array.cell.rram.relax_time_s", &r.relax_time_s));
  f.push_back(real_free("array.cell.rram.read_noise_rel", &r.read_noise_rel));
  f.push_back(real_free("array.cell.rram.p_stuck_on", &r.p_stuck_on));
  f.push_back(real_free("array.cell.rram.p_stuck_off", &r.p_stuck_off));
  SramParams& s = a.cell.sram;
  f.push_back(real_free("array.cell.sram.mismatch_sigma_rel", &s.mismatch_sigma_rel));
  f.push_back(real_free("array.cell.sram.thermal_noise_sigma_rel", &s.thermal_noise_sigma_rel));
  f.push_back(real_free("array.cell.sram.bitline_swing_fraction", &s.bitline_swing_fraction));
  FlashParams& fl = a.cell.flash;
  f.push_back(real_free("array.cell.flash.prog_sigma_rel", &fl.prog_sigma_rel));
  f.push_back(real_free("array.cell.flash.temp_coeff_per_k", &fl.temp_coeff_per_k));
  f.push_back(real_free("array.cell.flash.temperature_k", &fl.temperature_k));
  f.push_back(real_free("array.cell.flash.drift_rel_per_decade", &fl.drift_rel_per_decade));
  f.push_back(choice_field("array.encoding.scheme", &a.encoding.scheme,
                           {"differential", "offset_column", "bit_sliced"}));
  f.push_back(int_free("array.encoding.bits_per_cell", &a.encoding.bits_per_cell));
  f.push_back(int_free("array.encoding.slices", &a.encoding.slices));
  f.push_back(bool_field("array.encoding.per_column_scale", &a.encoding.per_column_scale));
  f.push_back(
      choice_field("array.dac.mode", &a.dac.mode, {"amplitude", "bit_serial", "pulse_width"}));
  f.push_back(int_free("array.dac.bits", &a.dac.bits));
  f.push_back(real_free("array.dac.v_read", &a.dac.v_read));
  f.push_back(int_free("array.adc.bits", &a.adc.bits));
  f.push_back(choice_field("array.adc.range", &a.adc.range, {"calibrated", "fixed"}));
  f.push_back(real_free("array.adc.full_scale_ua", &a.adc.full_scale_ua));
  f.push_back(real_free("array.adc.offset_sigma_lsb", &a.adc.offset_sigma_lsb));
  f.push_back(real_free("array.adc.gain_sigma_rel", &a.adc.gain_sigma_rel));
  f.push_back(real_free("array.adc.inl_lsb", &a.adc.inl_lsb));
  f.push_back(real_free("array.adc.noise_sigma_lsb", &a.adc.noise_sigma_lsb));
  f.push_back(real_free("array.adc.calibration_sigmas", &a.adc.calibration_sigmas));
  f.push_back(real_free("array.ir_drop.wire_r_ohm", &a.ir_drop.wire_r_ohm));
  f.push_back(choice_field("array.ir_drop.model", &a.ir_drop.model, {"first_order", "nodal"}));
  NonIdealities& e = a.effects;
  f.push_back(bool_field("array.effects.programming", &e.programming));
  f.push_back(bool_field("array.effects.drift", &e.drift));
  f.push_back(bool_field("array.effects.read_noise", &e.read_noise));
  f.push_back(bool_field("array.effects.faults", &e.faults));
  f.push_back(bool_field("array.effects.dac", &e.dac));
  f.push_back(bool_field("array.effects.adc", &e.adc));
  f.push_back(bool_field("array.effects.ir_drop", &e.ir_drop));
  f.push_back(bool_field("array.effects.temperature", &e.temperature));

  f.push_back(choice_field("noc.topology", &c.noc.topology, {"mesh", "bus", "tree"}));
  f.push_back(int_field("noc.link_width_bits", &c.noc.link_width_bits, 1, 65536));
  f.push_back(nonneg("noc.hop_energy_pj_per_bit", &c.noc.hop_energy_pj_per_bit));
  f.push_back(nonneg("noc.hop_latency_ns", &c.noc.hop_latency_ns));

  f.push_back(positive("chip_link.bandwidth_gbit_s", &c.chip_link.bandwidth_gbit_s));
  f.push_back(nonneg("chip_link.energy_pj_per_bit", &c.chip_link.energy_pj_per_bit));
  f.push_back(nonneg("chip_link.latency_ns", &c.chip_link.latency_ns));

  f.push_back(nonneg("energy.dac_drive_pj", &c.energy.dac_drive_pj));
  f.push_back(nonneg("energy.array_activation_pj", &c.energy.array_activation_pj));
  f.push_back(nonneg("energy.adc_conversion_pj", &c.energy.adc_conversion_pj));
  f.push_back(nonneg("energy.shift_add_pj", &c.energy.shift_add_pj));
  f.push_back(nonneg("energy.accumulate_pj", &c.energy.accumulate_pj));

  f.push_back(positive("time.array_activation_ns", &c.time.array_activation_ns));
  f.push_back(nonneg("time.adc_conversion_ns", &c.time.adc_conversion_ns));
  f.push_back(nonneg("time.shift_add_ns", &c.time.shift_add_ns));
  f.push_back(nonneg("time.accumulate_ns", &c.time.accumulate_ns));

  f.push_back(nonneg("area.array_um2", &c.area.array_um2));
  f.push_back(nonneg("area.adc_um2", &c.area.adc_um2));
  f.push_back(nonneg("area.dac_um2", &c.area.dac_um2));
  f.push_back(nonneg("area.shift_add_um2", &c.area.shift_add_um2));
  f.push_back(nonneg("area.digital_unit_um2", &c.area.digital_unit_um2));
  f.push_back(nonneg("area.buffer_um2_per_kib", &c.area.buffer_um2_per_kib));
  f.push_back(nonneg("area.router_um2", &c.area.router_um2));

  f.push_back(text_field("cost.adc_model", &c.cost.adc_model));
  f.push_back(positive("cost.walden_fom_fj", &c.cost.walden_fom_fj));
  CostScaleSpec& k = c.cost.scale;
  f.push_back(nonneg("cost.scale.array", &k.array));
  f.push_back(nonneg("cost.scale.dac", &k.dac));
  f.push_back(nonneg("cost.scale.adc", &k.adc));
  f.push_back(nonneg("cost.scale.shift_add", &k.shift_add));
  f.push_back(nonneg("cost.scale.accumulate", &k.accumulate));
  f.push_back(nonneg("cost.scale.digital", &k.digital));
  f.push_back(nonneg("cost.scale.buffer", &k.buffer));
  f.push_back(nonneg("cost.scale.noc", &k.noc));
  f.push_back(nonneg("cost.scale.chip_link", &k.chip_link));
  f.push_back(nonneg("cost.scale.leakage", &k.leakage));
  return f;
}

std::string table_of(const std::string& key) {
  size_t dot = key.rfind('.');
  return dot == std::string::npos ? std::string() : key.substr(0, dot);
}

std::string leaf_of(const std::string& key) {
  size_t dot = key.rfind('.');
  return dot == std::string::npos ? key : key.substr(dot + 1);
}

std::string num(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof buf, v);
  std::string s(buf, res.ptr);
  if (s.find_first_of(".en") == std::string::npos) s += ".0";
  return s;
}

// A number as shown in messages (not TOML): 0.1, -1, 1e-05.
std::string shown(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

std::string range_text(const Field& f) {
  if (f.kind == FieldKind::integer)
    return std::to_string(static_cast<long long>(f.lo)) + ".." +
           std::to_string(static_cast<long long>(f.hi));
  std::string lo = (f.lo_open ? "> " : ">= ") + shown(f.lo);
  if (std::isinf(f.hi)) return lo + " (finite)";
  return f.lo_open ? "(" + shown(f.lo) + ", " + shown(f.hi) + "]"
                   : shown(f.lo) + ".." + shown(f.hi);
}

// Lines of the keys and tables seen in the file, for messages about values checked later.
using LineMap = std::map<std::string, int>;

std::string locate(const std::string& source, const std::string& key, const LineMap* lines) {
  std::string where = source;
  if (lines) {
    // The key's own line, else the line of the nearest enclosing table in the file.
    for (std::string k = key; !k.empty(); k = table_of(k)) {
      auto it = lines->find(k);
      if (it != lines->end()) {
        where += ":" + std::to_string(it->second);
        break;
      }
    }
  }
  return where + ": key '" + key + "'";
}

[[noreturn]] void bad_value(const std::string& source, const std::string& key, const LineMap* lines,
                            const std::string& what, const std::string& fix) {
  throw Error(ErrorKind::invalid, locate(source, key, lines), what, fix);
}

void check_range(const Field& f, double v, const std::string& shown, const std::string& source,
                 const LineMap* lines) {
  if (!f.ranged) return;
  bool ok = std::isfinite(v) && (f.lo_open ? v > f.lo : v >= f.lo) && v <= f.hi;
  if (!ok)
    bad_value(source, f.key, lines, "is " + shown + "; allowed " + range_text(f),
              "choose a value in range");
}

size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t sub = prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, sub});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

// "did you mean 'size_kib'?" for a misspelt key: a close name in the same table, else the same
// name in another table.
std::string suggest(const std::string& key, const std::vector<std::string>& known) {
  const std::string table = table_of(key);
  const std::string leaf = leaf_of(key);
  std::string best;
  size_t best_d = std::max<size_t>(2, leaf.size() / 3) + 1;
  for (const auto& k : known) {
    if (table_of(k) != table) continue;
    size_t d = edit_distance(leaf, leaf_of(k));
    if (d < best_d) {
      best_d = d;
      best = leaf_of(k);
    }
  }
  if (!best.empty()) return "did you mean '" + best + "'?";
  for (const auto& k : known)
    if (leaf_of(k) == leaf) return "did you mean '" + k + "'?";
  std::string in_table;
  for (const auto& k : known)
    if (table_of(k) == table) in_table += (in_table.empty() ? "" : ", ") + leaf_of(k);
  if (!in_table.empty() && in_table.size() < 300) return "known keys here: " + in_table;
  return "remove it or check the spelling";
}

// cost.adc_model: one of the model names, or "table:NAME" naming a published_adcs() entry whose
// resolution is the array's ADC resolution.
void check_adc_model(const ChipSpec& spec, const std::string& source, const LineMap* lines) {
  const std::string& m = spec.cost.adc_model;
  const std::string models = "spec, walden, murmann_bound, fitted, table:NAME";
  if (m == "spec" || m == "walden" || m == "murmann_bound" || m == "fitted") return;
  const std::string prefix = "table:";
  if (m.rfind(prefix, 0) != 0)
    bad_value(source, "cost.adc_model", lines, "is '" + m + "'; allowed one of: " + models,
              "use one of the model names");
  const std::string name = m.substr(prefix.size());
  std::string names;
  for (const PublishedAdc& a : published_adcs()) {
    if (a.name == name) {
      if (a.bits != spec.array.adc.bits)
        bad_value(source, "cost.adc_model", lines,
                  "names '" + name + "', a " + std::to_string(a.bits) +
                      "-bit ADC; array.adc.bits is " + std::to_string(spec.array.adc.bits),
                  "choose a published ADC of the array's resolution, or another adc_model");
      return;
    }
    names += (names.empty() ? "" : ", ") + a.name;
  }
  bad_value(source, "cost.adc_model", lines,
            "names '" + name + "', not a published ADC in acim's table",
            "use table:NAME with NAME one of: " + names);
}

const char* toml_type_name(const toml::node& n) {
  switch (n.type()) {
    case toml::node_type::table:
      return "a table";
    case toml::node_type::array:
      return "an array";
    case toml::node_type::string:
      return "a string";
    case toml::node_type::integer:
      return "an integer";
    case toml::node_type::floating_point:
      return "a floating-point number";
    case toml::node_type::boolean:
      return "a boolean";
    default:
      return "a date or time";
  }
}

const char* type_fix(FieldKind k) {
  switch (k) {
    case FieldKind::integer:
      return "write a whole number without quotes, e.g. 4";
    case FieldKind::real:
      return "write a number without quotes, e.g. 1.5";
    case FieldKind::boolean:
      return "write true or false without quotes";
    case FieldKind::text:
    case FieldKind::choice:
      return "write it as a quoted string";
  }
  return "";
}

const char* field_type_name(FieldKind k) {
  switch (k) {
    case FieldKind::integer:
      return "an integer";
    case FieldKind::real:
      return "a number";
    case FieldKind::boolean:
      return "true or false";
    case FieldKind::text:
      return "a string";
    case FieldKind::choice:
      return "a string";
  }
  return "?";
}

struct Reader {
  std::string source;
  std::map<std::string, Field*> by_key;
  std::set<std::string> tables;
  std::vector<std::string> known;  // keys and table paths, for suggestions
  LineMap lines;

  std::string where(const toml::node& n, const std::string& key) const {
    const auto& b = n.source().begin;
    std::string s = source;
    if (b.line > 0) s += ":" + std::to_string(b.line);
    return s + ": key '" + key + "'";
  }

  [[noreturn]] void fail(const toml::node& n, const std::string& key, const std::string& what,
                         const std::string& fix) const {
    throw Error(ErrorKind::invalid, where(n, key), what, fix);
  }

  void read_value(const toml::node& n, Field& f) {
    auto wrong_type = [&] {
      fail(n, f.key,
           std::string("is ") + toml_type_name(n) + "; expected " + field_type_name(f.kind),
           type_fix(f.kind));
    };
    switch (f.kind) {
      case FieldKind::integer: {
        auto v = n.value_exact<int64_t>();
        if (!n.is_integer() || !v) wrong_type();
        if (f.ranged) {
          if (*v < static_cast<int64_t>(f.lo) || *v > static_cast<int64_t>(f.hi))
            fail(n, f.key, "is " + std::to_string(*v) + "; allowed " + range_text(f),
                 "choose a value in range");
        } else if (*v < std::numeric_limits<int>::min() || *v > std::numeric_limits<int>::max()) {
          fail(n, f.key, "is " + std::to_string(*v) + "; too large for a 32-bit integer",
               "choose a smaller value");
        }
        *f.i = static_cast<int>(*v);
        break;
      }
      case FieldKind::real: {
        double v = 0;
        if (n.is_integer())
          v = static_cast<double>(*n.value_exact<int64_t>());
        else if (n.is_floating_point())
          v = *n.value_exact<double>();
        else
          wrong_type();
        if (f.ranged && !(std::isfinite(v) && (f.lo_open ? v > f.lo : v >= f.lo) && v <= f.hi))
          fail(n, f.key, "is " + shown(v) + "; allowed " + range_text(f),
               "choose a value in range");
        *f.d = v;
        break;
      }
      case FieldKind::boolean:
        if (!n.is_boolean()) wrong_type();
        *f.b = *n.value_exact<bool>();
        break;
      case FieldKind::text:
        if (!n.is_string()) wrong_type();
        *f.s = *n.value_exact<std::string>();
        break;
      case FieldKind::choice: {
        std::string names;
        for (const auto& nm : f.names) names += (names.empty() ? "" : ", ") + nm;
        if (!n.is_string())
          fail(n, f.key, std::string("is ") + toml_type_name(n) + "; expected one of: " + names,
               "write the name as a quoted string");
        std::string v = *n.value_exact<std::string>();
        auto it = std::find(f.names.begin(), f.names.end(), v);
        if (it == f.names.end())
          fail(n, f.key, "is '" + v + "'; allowed one of: " + names, "use one of the names");
        f.set(static_cast<int>(it - f.names.begin()));
        break;
      }
    }
  }

  void walk(const toml::table& t, const std::string& prefix) {
    for (const auto& [k, node] : t) {
      std::string key = prefix.empty() ? std::string(k.str()) : prefix + "." + std::string(k.str());
      const toml::node& n = node;
      if (n.source().begin.line > 0) lines[key] = static_cast<int>(n.source().begin.line);
      if (const toml::table* sub = n.as_table()) {
        if (tables.count(key)) {
          walk(*sub, key);
          continue;
        }
        if (by_key.count(key))
          fail(n, key, "is a table; expected " + std::string(field_type_name(by_key[key]->kind)),
               "write it as 'key = value' in its table");
        fail(n, key, "is not a known table", suggest(key, known));
      }
      auto it = by_key.find(key);
      if (it == by_key.end()) {
        if (tables.count(key))
          fail(n, key, std::string("is ") + toml_type_name(n) + "; expected a table",
               "write it as a [" + key + "] section");
        fail(n, key, "is not a known key", suggest(key, known));
      }
      read_value(n, *it->second);
    }
  }
};

void validate_impl(const ChipSpec& spec_in, const std::string& source, const LineMap* lines) {
  ChipSpec spec = spec_in;
  // Ranges of the chip's own keys (a parsed file was checked while reading; a spec built in
  // code is checked here).
  for (Field& f : chip_fields(spec)) {
    if (!f.ranged) continue;
    if (f.kind == FieldKind::integer)
      check_range(f, *f.i, std::to_string(*f.i), source, lines);
    else if (f.kind == FieldKind::real)
      check_range(f, *f.d, shown(*f.d), source, lines);
  }
  if (spec.name.empty()) bad_value(source, "chip.name", lines, "is empty", "give the chip a name");
  // The crossbar's own checks, re-labelled with the file, line and full key.
  try {
    spec.array.validate();
  } catch (const Error& e) {
    std::string w = e.where();
    size_t q0 = w.find('\'');
    size_t q1 = w.rfind('\'');
    std::string key = (q0 != std::string::npos && q1 > q0) ? w.substr(q0 + 1, q1 - q0 - 1) : w;
    throw Error(e.kind(), locate(source, "array." + key, lines), e.what_only(), e.fix());
  }
  check_adc_model(spec, source, lines);
  const ArrayParams& a = spec.array;
  if (spec.periphery.columns_per_adc > a.cols)
    bad_value(source, "array.columns_per_adc", lines,
              "is " + std::to_string(spec.periphery.columns_per_adc) + "; allowed 1..array.cols (" +
                  std::to_string(a.cols) + ")",
              "share an ADC among at most all the columns");
  const DigitalUnitSpec& d = spec.core.digital;
  if (d.accumulator_bits < a.adc.bits)
    bad_value(source, "core.digital.accumulator_bits", lines,
              "is " + std::to_string(d.accumulator_bits) + "; allowed >= array.adc.bits (" +
                  std::to_string(a.adc.bits) + ")",
              "widen the accumulators");
  if (spec.total_arrays() > (int64_t{1} << 24))
    bad_value(source, "chip.cores", lines,
              "gives " + std::to_string(spec.total_arrays()) +
                  " arrays (cores x tiles x arrays); allowed <= 16777216",
              "use fewer cores, tiles or arrays");
  // Buffers must hold at least one row of data: the core buffer one array's input vector and
  // its output vector at accumulator width; the tile buffer one input vector.
  const int64_t in_row_bytes = (int64_t{a.rows} * a.dac.bits + 7) / 8;
  const int64_t out_row_bytes = (int64_t{a.logical_cols()} * d.accumulator_bits + 7) / 8;
  const int64_t core_need = std::max(in_row_bytes, out_row_bytes);
  const double core_bytes = spec.core.buffer.size_kib * 1024.0;
  if (core_bytes < static_cast<double>(core_need))
    bad_value(source, "core.buffer.size_kib", lines,
              "is " + shown(spec.core.buffer.size_kib) + " KiB; allowed >= one row of data, " +
                  std::to_string(core_need) + " bytes (" + std::to_string(a.rows) + " rows x " +
                  std::to_string(a.dac.bits) + " input bits, " + std::to_string(a.logical_cols()) +
                  " outputs x " + std::to_string(d.accumulator_bits) + " bits)",
              "make the buffer larger or the array smaller");
  const double tile_bytes = spec.tile.buffer.size_kib * 1024.0;
  if (tile_bytes < static_cast<double>(in_row_bytes))
    bad_value(source, "tile.buffer.size_kib", lines,
              "is " + shown(spec.tile.buffer.size_kib) + " KiB; allowed >= one row of data, " +
                  std::to_string(in_row_bytes) + " bytes (" + std::to_string(a.rows) + " rows x " +
                  std::to_string(a.dac.bits) + " input bits)",
              "make the buffer larger or the array smaller");
}

std::string quote(const std::string& s) {
  std::string out = "\"";
  for (unsigned char ch : s) {
    switch (ch) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (ch < 0x20 || ch == 0x7f) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", ch);
          out += buf;
        } else {
          out += static_cast<char>(ch);
        }
    }
  }
  return out + "\"";
}

std::string value_text(const Field& f) {
  switch (f.kind) {
    case FieldKind::integer:
      return std::to_string(*f.i);
    case FieldKind::real:
      return num(*f.d);
    case FieldKind::boolean:
      return *f.b ? "true" : "false";
    case FieldKind::text:
      return quote(*f.s);
    case FieldKind::choice:
      return quote(f.names[static_cast<size_t>(f.get())]);
  }
  return "";
}

const chip_detail::PresetText* find_preset(const std::string& name) {
  for (size_t i = 0; i < chip_detail::kPresetCount; ++i)
    if (name == chip_detail::kPresetTexts[i].name) return &chip_detail::kPresetTexts[i];
  return nullptr;
}

}  // namespace

const std::vector<PublishedAdc>& published_adcs() {
  // ISAAC (Shafiee et al., ISCA 2016, 32 nm) used the 8-bit 1.28 GS/s SAR ADC of Kull et al.
  // (ISSCC 2013): 2 mW, 1200 um^2, ≈1.6 pJ per conversion. ISAAC's own scaling of that ADC to
  // other resolutions gives the 4-, 6- and 10-bit energies (FACTS.md); their areas were not
  // published (0: the cost model keeps area.adc_um2).
  static const std::vector<PublishedAdc> table = {
      {"isaac_sar_8b", 8, 1.6, 1200.0, 32,
       "ISAAC, ISCA 2016 (Kull et al. ISSCC 2013 SAR ADC): 8 b, 1.28 GS/s, 2 mW, 1200 um^2"},
      {"isaac_sar_4b", 4, 0.79, 0.0, 32, "ISAAC, ISCA 2016: its 8-b ADC scaled to 4 b"},
      {"isaac_sar_6b", 6, 1.20, 0.0, 32, "ISAAC, ISCA 2016: its 8-b ADC scaled to 6 b"},
      {"isaac_sar_10b", 10, 2.38, 0.0, 32, "ISAAC, ISCA 2016: its 8-b ADC scaled to 10 b"},
  };
  return table;
}

std::string noc_topology_name(NocTopology t) {
  switch (t) {
    case NocTopology::mesh:
      return "mesh";
    case NocTopology::bus:
      return "bus";
    case NocTopology::tree:
      return "tree";
  }
  return "?";
}

int64_t ChipSpec::weights_per_array() const {
  return int64_t{array.rows} * array.logical_cols();
}

int64_t ChipSpec::weight_capacity() const {
  return total_arrays() * weights_per_array();
}

int64_t ChipSpec::adcs_per_array() const {
  int per = std::max(periphery.columns_per_adc, 1);
  return (int64_t{array.cols} + per - 1) / per;
}

double ChipSpec::mvm_time_ns() const {
  const int input_steps =
      array.dac.mode == DacMode::bit_serial ? std::max(array.dac.bits - 1, 1) : 1;
  const int group = array.parallel_rows > 0 && array.parallel_rows < array.rows
                        ? array.parallel_rows
                        : array.rows;
  const int row_groups = (array.rows + group - 1) / group;
  const double per_activation =
      time.array_activation_ns + std::max(periphery.columns_per_adc, 1) * time.adc_conversion_ns;
  return static_cast<double>(input_steps) * row_groups * per_activation;
}

double ChipSpec::peak_macs_per_cycle() const {
  const double cycle_ns = 1000.0 / clock_mhz;
  const double cycles = std::max(1.0, mvm_time_ns() / cycle_ns);
  return static_cast<double>(weight_capacity()) / cycles;
}

double ChipSpec::peak_tops() const {
  const double mvm_s = mvm_time_ns() * 1e-9;
  if (mvm_s <= 0) return 0;
  return 2.0 * static_cast<double>(weight_capacity()) / mvm_s / 1e12;
}

bool operator==(const ChipSpec& a, const ChipSpec& b) {
  ChipSpec ca = a, cb = b;
  std::vector<Field> fa = chip_fields(ca), fb = chip_fields(cb);
  for (size_t i = 0; i < fa.size(); ++i) {
    const Field& x = fa[i];
    const Field& y = fb[i];
    switch (x.kind) {
      case FieldKind::integer:
        if (*x.i != *y.i) return false;
        break;
      case FieldKind::real:
        // Bitwise-equal or both NaN: a round trip must be exact.
        if (!(*x.d == *y.d || (std::isnan(*x.d) && std::isnan(*y.d)))) return false;
        break;
      case FieldKind::boolean:
        if (*x.b != *y.b) return false;
        break;
      case FieldKind::text:
        if (*x.s != *y.s) return false;
        break;
      case FieldKind::choice:
        if (x.get() != y.get()) return false;
        break;
    }
  }
  return true;
}

ChipSpec parse_chip_spec(std::string_view text, const std::string& source_name) {
  toml::table root;
  try {
    root = toml::parse(text, source_name);
  } catch (const toml::parse_error& e) {
    const auto& b = e.source().begin;
    std::string description(e.description());
    std::replace(description.begin(), description.end(), '\n', ' ');  // one line
    throw Error(ErrorKind::parse,
                source_name + ":" + std::to_string(b.line) + ":" + std::to_string(b.column),
                "malformed TOML: " + description,
                "fix the TOML syntax at that position");
  }
  ChipSpec spec;
  // The array starts from its cell technology's published defaults (src/device), so a file
  // names only what differs. A bad type name is reported by the walk below.
  if (auto type = root["array"]["cell"]["type"].value_exact<std::string>()) {
    const std::vector<std::string> cells = {"ideal",       "pcm",          "rram",
                                            "sram_charge", "sram_current", "flash"};
    auto it = std::find(cells.begin(), cells.end(), *type);
    if (it != cells.end())
      spec.array = default_array_params(static_cast<CellType>(it - cells.begin()));
  }
  std::vector<Field> fields = chip_fields(spec);
  Reader r;
  r.source = source_name;
  for (Field& f : fields) {
    r.by_key[f.key] = &f;
    r.known.push_back(f.key);
    for (std::string t = table_of(f.key); !t.empty(); t = table_of(t)) r.tables.insert(t);
  }
  for (const auto& t : r.tables) r.known.push_back(t);
  r.walk(root, "");
  validate_impl(spec, source_name, &r.lines);
  return spec;
}

ChipSpec load_chip_spec(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in || std::filesystem::is_directory(path))
    throw Error(ErrorKind::io, path.string(), "cannot open the chip spec file",
                "check the path, or use a preset name from `acim chips`");
  std::ostringstream ss;
  ss << in.rdbuf();
  std::string text = ss.str();
  if (text.size() > (size_t{16} << 20))
    throw Error(ErrorKind::limit, path.string(), "is larger than 16 MiB; not a chip spec",
                "check the path");
  return parse_chip_spec(text, path.string());
}

void validate_chip_spec(const ChipSpec& spec, const std::string& source_name) {
  validate_impl(spec, source_name, nullptr);
}

std::string to_toml(const ChipSpec& spec_in) {
  ChipSpec spec = spec_in;
  std::vector<Field> fields = chip_fields(spec);
  std::vector<std::string> order;
  for (const Field& f : fields) {
    std::string t = table_of(f.key);
    if (std::find(order.begin(), order.end(), t) == order.end()) order.push_back(t);
  }
  // The name as TOML writes it (escaped): a newline in it would end the comment.
  std::string out = "# acim chip spec " + quote(spec.name) + " (every key; units in the key names)\n";
  for (const std::string& t : order) {
    out += "\n[" + t + "]\n";
    for (const Field& f : fields)
      if (table_of(f.key) == t) out += leaf_of(f.key) + " = " + value_text(f) + "\n";
  }
  return out;
}

std::vector<std::string> chip_preset_names() {
  std::vector<std::string> names;
  for (size_t i = 0; i < chip_detail::kPresetCount; ++i)
    names.emplace_back(chip_detail::kPresetTexts[i].name);
  std::sort(names.begin(), names.end());
  return names;
}

std::string chip_preset_toml(const std::string& name) {
  const chip_detail::PresetText* p = find_preset(name);
  if (!p) {
    std::string list;
    for (const auto& n : chip_preset_names()) list += (list.empty() ? "" : ", ") + n;
    throw Error(ErrorKind::invalid, "chip preset '" + name + "'", "is not a known preset",
                "use one of: " + list + "; or a path to a .toml file");
  }
  return p->text;
}

ChipSpec chip_preset(const std::string& name) {
  std::string text = chip_preset_toml(name);
  return parse_chip_spec(text, "chips/" + name + ".toml");
}

ChipSpec chip_spec_from_name_or_file(const std::string& name_or_path) {
  if (find_preset(name_or_path)) return chip_preset(name_or_path);
  std::filesystem::path p(name_or_path);
  if (p.extension() == ".toml" || std::filesystem::exists(p)) return load_chip_spec(p);
  return chip_preset(name_or_path);  // throws, listing the presets
}

}  // namespace acim
