// Sweep files: parsing, the points of a sweep (product of parameters) and a point's chip spec.
// A point's chip is made by writing the swept values into the base chip's own TOML (what its file
// names) and parsing that with the chip spec's own parser, so every key, type and range check is
// the chip spec's, and a swept cell type gets its technology's defaults; the messages are
// re-labelled with the sweep file and key.
#include <toml++/toml.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <limits>
#include <sstream>

#include "acim/error.hpp"
#include "acim/sweep.hpp"

namespace acim {

namespace {

std::string hash_hex(std::string_view text) {
  uint64_t h = 0xcbf29ce484222325ULL;  // FNV-1a 64
  for (const char c : text) {
    h ^= static_cast<unsigned char>(c);
    h *= 0x100000001b3ULL;
  }
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

std::string where_of(const std::filesystem::path& file, const toml::node& n,
                     const std::string& key) {
  std::string s = file.empty() ? std::string("sweep") : file.string();
  if (n.source().begin.line > 0) s += ":" + std::to_string(n.source().begin.line);
  return s + ": key '" + key + "'";
}

std::vector<std::string> split_key(const std::string& key) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (true) {
    const size_t dot = key.find('.', start);
    parts.push_back(key.substr(start, dot - start));
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  return parts;
}

// The leaf of `table` at a dotted key path, or nullptr.
const toml::node* leaf_at(const toml::table& table, const std::string& key) {
  const toml::node* n = &table;
  for (const std::string& part : split_key(key)) {
    const toml::table* t = n->as_table();
    if (t == nullptr) return nullptr;
    n = t->get(part);
    if (n == nullptr) return nullptr;
  }
  return n->is_table() ? nullptr : n;
}

// Every leaf key of a table, dotted.
void leaf_keys(const toml::table& t, const std::string& prefix, std::vector<std::string>& out) {
  for (const auto& [k, v] : t) {
    const std::string key =
        prefix.empty() ? std::string(k.str()) : prefix + "." + std::string(k.str());
    if (const toml::table* sub = v.as_table())
      leaf_keys(*sub, key, out);
    else
      out.push_back(key);
  }
}

size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j)
      cur[j] =
          std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

std::string suggest(const std::string& key, const std::vector<std::string>& known) {
  for (const std::string& k : known)  // a key given without its table: "cores" for "chip.cores"
    if (k.size() > key.size() && k.compare(k.size() - key.size(), key.size(), key) == 0 &&
        k[k.size() - key.size() - 1] == '.')
      return "did you mean '" + k + "'?";
  std::string best;
  size_t best_d = std::max<size_t>(2, key.size() / 4) + 1;
  for (const std::string& k : known) {
    const size_t d = edit_distance(key, k);
    if (d < best_d) {
      best_d = d;
      best = k;
    }
  }
  return best.empty() ? "" : "did you mean '" + best + "'?";
}

SweepValue value_of(const toml::node& n, const std::filesystem::path& file,
                    const std::string& key) {
  SweepValue v;
  if (const auto* i = n.as_integer()) {
    v.kind = SweepValue::Kind::integer;
    v.i = i->get();
  } else if (const auto* d = n.as_floating_point()) {
    v.kind = SweepValue::Kind::real;
    v.d = d->get();
  } else if (const auto* b = n.as_boolean()) {
    v.kind = SweepValue::Kind::boolean;
    v.b = b->get();
  } else if (const auto* s = n.as_string()) {
    v.kind = SweepValue::Kind::text;
    v.s = s->get();
  } else {
    throw Error(ErrorKind::invalid, where_of(file, n, key),
                "holds a value that is not a number, a boolean or a string",
                "give a list of values, e.g. [4, 6, 8]");
  }
  return v;
}

double number_at(const toml::table& t, const char* name, const std::filesystem::path& file,
                 const std::string& key, bool* integer) {
  const toml::node* n = t.get(name);
  if (n == nullptr) {
    throw Error(ErrorKind::invalid, where_of(file, t, key),
                std::string("range has no '") + name + "'",
                "write { from = A, to = B, step = S } or { from = A, to = B, times = F }");
  }
  if (const auto* i = n->as_integer()) return static_cast<double>(i->get());
  if (const auto* d = n->as_floating_point()) {
    *integer = false;
    return d->get();
  }
  throw Error(ErrorKind::invalid, where_of(file, *n, key + "." + name), "is not a number", "");
}

std::string number_str(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

// { from, to, step } or { from, to, times }: values from `from` up to `to` inclusive.
std::vector<SweepValue> range_values(const toml::table& t, const std::filesystem::path& file,
                                     const std::string& key, int64_t limit) {
  for (const auto& [k, v] : t)
    if (k.str() != "from" && k.str() != "to" && k.str() != "step" && k.str() != "times")
      throw Error(ErrorKind::invalid, where_of(file, v, key + "." + std::string(k.str())),
                  "is not a range key",
                  "a range is { from = A, to = B, step = S } or { from = A, to = B, times = F }");
  const bool geometric = t.contains("times");
  if (geometric == t.contains("step"))
    throw Error(ErrorKind::invalid, where_of(file, t, key),
                "a range needs exactly one of 'step' and 'times'",
                "write { from = A, to = B, step = S } or { from = A, to = B, times = F }");
  bool integer = true;
  const double from = number_at(t, "from", file, key, &integer);
  const double to = number_at(t, "to", file, key, &integer);
  const double by = number_at(t, geometric ? "times" : "step", file, key, &integer);
  if (geometric ? !(by > 1) : !(by > 0))
    throw Error(ErrorKind::invalid, where_of(file, t, key),
                geometric ? "'times' must be greater than 1" : "'step' must be positive", "");
  if (geometric && !(from > 0))
    throw Error(ErrorKind::invalid, where_of(file, t, key), "a geometric range needs 'from' > 0",
                "");
  if (to < from)
    throw Error(ErrorKind::invalid, where_of(file, t, key),
                "is an empty range (to = " + number_str(to) + " < from = " + number_str(from) + ")",
                "give to >= from");
  std::vector<SweepValue> out;
  const double eps = 1e-9 * std::max(1.0, std::fabs(to));
  for (int64_t k = 0;; ++k) {
    const double x = geometric ? from * std::pow(by, static_cast<double>(k))
                               : from + by * static_cast<double>(k);
    if (x > to + eps) break;
    if (static_cast<int64_t>(out.size()) >= limit)
      throw Error(ErrorKind::limit, where_of(file, t, key),
                  "has more than " + std::to_string(limit) + " values (sweep.max_points)",
                  "use a coarser step, or raise sweep.max_points if you mean it");
    SweepValue v;
    if (integer) {
      v.kind = SweepValue::Kind::integer;
      v.i = static_cast<int64_t>(std::llround(x));
    } else {
      v.kind = SweepValue::Kind::real;
      v.d = x;
    }
    out.push_back(v);
  }
  return out;
}

// Writes v at `key` into `root` (the base chip's own TOML), making the tables on the way. `full` is
// the base chip's full form (to_toml), whose leaf says the key's type: an integer written to a
// real key becomes that real.
void set_leaf(toml::table& root, const toml::table& full, const std::string& key,
              const SweepValue& v) {
  const std::vector<std::string> parts = split_key(key);
  toml::table* t = &root;
  for (size_t i = 0; i + 1 < parts.size(); ++i) {
    if (t->get(parts[i]) == nullptr) t->insert(parts[i], toml::table{});
    t = t->get(parts[i])->as_table();
    ACIM_ASSERT(t != nullptr, "sweep: a chip-spec table path holds a value");
  }
  const std::string& leaf = parts.back();
  const toml::node* typed = leaf_at(full, key);
  const bool real_key = typed != nullptr && typed->is_floating_point();
  switch (v.kind) {
    case SweepValue::Kind::integer:
      if (real_key)
        t->insert_or_assign(leaf, static_cast<double>(v.i));
      else
        t->insert_or_assign(leaf, v.i);
      break;
    case SweepValue::Kind::real:
      t->insert_or_assign(leaf, v.d);
      break;
    case SweepValue::Kind::boolean:
      t->insert_or_assign(leaf, v.b);
      break;
    case SweepValue::Kind::text:
      t->insert_or_assign(leaf, v.s);
      break;
  }
}

// The base chip's own TOML (`base`: only what its file names, so that a swept cell type starts
// from that technology's defaults, as a chip file with that type would) with `values` written in,
// parsed by the chip-spec parser. `full`: the base chip's full form, for the keys' types.
ChipSpec apply(const toml::table& base, const toml::table& full,
               const std::vector<std::pair<std::string, SweepValue>>& values,
               const std::string& where) {
  toml::table root = base;
  for (const auto& [key, v] : values) set_leaf(root, full, key, v);
  std::ostringstream text;
  text << root;
  try {
    return parse_chip_spec(text.str(), "chip");
  } catch (const Error& e) {
    // The generated text's line numbers mean nothing to the user: keep what and fix only.
    throw Error(ErrorKind::invalid, where, e.what_only(), e.fix());
  }
}

std::filesystem::path resolve(const std::filesystem::path& file, const std::string& p) {
  if (p.empty() || std::filesystem::path(p).is_absolute() || file.empty()) return p;
  return file.parent_path() / p;
}

}  // namespace

std::string SweepValue::str() const {
  switch (kind) {
    case Kind::integer:
      return std::to_string(i);
    case Kind::real: {
      char buf[32];
      std::snprintf(buf, sizeof buf, "%.17g", d);
      return buf;
    }
    case Kind::boolean:
      return b ? "true" : "false";
    case Kind::text:
      return s;
  }
  return "";
}

double SweepValue::number() const {
  if (kind == Kind::integer) return static_cast<double>(i);
  if (kind == Kind::real) return d;
  return std::numeric_limits<double>::quiet_NaN();
}

const std::vector<std::string>& sweep_metric_names() {
  static const std::vector<std::string> names = {
      "accuracy", "float_accuracy", "output_error", "energy_pj",  "latency_ns",  "interval_ns",
      "area_mm2", "power_uw",       "npu_power_uw", "tops_per_w", "arrays_used", "chips"};
  return names;
}

int64_t SweepSpec::points() const {
  int64_t n = 1;
  for (const SweepParameter& p : parameters) {
    const auto k = static_cast<int64_t>(p.values.size());
    if (k != 0 && n > std::numeric_limits<int64_t>::max() / k)
      return std::numeric_limits<int64_t>::max();
    n *= k;
  }
  return n;
}

std::vector<SweepValue> SweepSpec::point(int64_t index) const {
  ACIM_ASSERT(index >= 0 && index < points(), "sweep point index out of range");
  std::vector<SweepValue> out(parameters.size());
  for (size_t k = parameters.size(); k-- > 0;) {
    const auto n = static_cast<int64_t>(parameters[k].values.size());
    out[k] = parameters[k].values[static_cast<size_t>(index % n)];
    index /= n;
  }
  return out;
}

std::string SweepSpec::point_label(int64_t index) const {
  const std::vector<SweepValue> v = point(index);
  std::string s;
  for (size_t k = 0; k < v.size(); ++k) s += (k ? " " : "") + parameters[k].key + "=" + v[k].str();
  return s;
}

namespace {

// The base chip as the points are made from it: its own TOML and its full form.
struct BaseChip {
  toml::table own, full;
  explicit BaseChip(const SweepSpec& spec)
      : own(toml::parse(spec.chip_toml, std::string_view(spec.chip))),
        full(toml::parse(to_toml(parse_chip_spec(spec.chip_toml, spec.chip)),
                         std::string_view("chip"))) {}
};

// The base chip's own text: the preset's file or the chip file.
std::string base_chip_text(const std::string& name_or_path) {
  const std::vector<std::string> presets = chip_preset_names();
  if (std::find(presets.begin(), presets.end(), name_or_path) != presets.end())
    return chip_preset_toml(name_or_path);
  std::ifstream in(name_or_path, std::ios::binary);
  if (!in) throw Error(ErrorKind::io, name_or_path, "cannot be read", "check the chip file's path");
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

ChipSpec point_chip(const SweepSpec& spec, const BaseChip& base, int64_t index) {
  const std::vector<SweepValue> v = spec.point(index);
  std::vector<std::pair<std::string, SweepValue>> values;
  for (size_t k = 0; k < v.size(); ++k) values.emplace_back(spec.parameters[k].key, v[k]);
  return apply(base.own, base.full, values,
               (spec.file.empty() ? std::string("sweep") : spec.file.string()) + ": point " +
                   std::to_string(index) + " (" + spec.point_label(index) + ")");
}

}  // namespace

ChipSpec point_chip(const SweepSpec& spec, int64_t index) {
  return point_chip(spec, BaseChip(spec), index);
}

SweepSpec parse_sweep(std::string_view text, const std::filesystem::path& file) {
  const std::string source = file.empty() ? std::string("sweep") : file.string();
  toml::table root;
  try {
    root = toml::parse(text, source);
  } catch (const toml::parse_error& e) {
    throw Error(ErrorKind::parse,
                source + ":" + std::to_string(e.source().begin.line) + ":" +
                    std::to_string(e.source().begin.column),
                std::string(e.description()), "fix the TOML syntax");
  }
  SweepSpec s;
  s.file = file;
  s.name = file.empty() ? "sweep" : file.stem().string();
  s.metrics = sweep_metric_names();

  for (const auto& [k, v] : root)
    if (k.str() != "sweep" && k.str() != "parameters")
      throw Error(ErrorKind::invalid, where_of(file, v, std::string(k.str())),
                  "is not a sweep file table",
                  "a sweep file has the tables [sweep] and [parameters]");
  const toml::table* sw = root["sweep"].as_table();
  if (sw == nullptr)
    throw Error(ErrorKind::invalid, source, "has no [sweep] table",
                "name the chip, model and data in [sweep] (docs/SWEEPS.md)");
  const std::vector<std::string> sweep_keys = {
      "name",         "chip", "model",   "data",       "calibrate", "instances", "seed",
      "drift_time_s", "rate", "samples", "max_points", "metrics",   "chips"};
  std::string chips_text;
  for (const auto& entry : *sw) {
    const toml::node& v = entry.second;  // not a structured binding: lambdas below capture it
    const std::string key = "sweep." + std::string(entry.first.str());
    const std::string leaf(entry.first.str());
    if (std::find(sweep_keys.begin(), sweep_keys.end(), leaf) == sweep_keys.end()) {
      std::vector<std::string> known;
      for (const std::string& x : sweep_keys) known.push_back("sweep." + x);
      throw Error(ErrorKind::invalid, where_of(file, v, key), "is not a known key",
                  suggest(key, known));
    }
    const auto text_of = [&]() -> std::string {
      if (!v.is_string())
        throw Error(ErrorKind::invalid, where_of(file, v, key), "must be a string", "");
      return v.as_string()->get();
    };
    const auto int_of = [&](int64_t lo, int64_t hi) -> int64_t {
      if (!v.is_integer() || v.as_integer()->get() < lo || v.as_integer()->get() > hi)
        throw Error(ErrorKind::invalid, where_of(file, v, key),
                    "must be an integer from " + std::to_string(lo) + " to " + std::to_string(hi),
                    "");
      return v.as_integer()->get();
    };
    const auto real_of = [&]() -> double {
      if (v.is_integer()) return static_cast<double>(v.as_integer()->get());
      if (!v.is_floating_point() || !(v.as_floating_point()->get() >= 0))
        throw Error(ErrorKind::invalid, where_of(file, v, key), "must be a number >= 0", "");
      return v.as_floating_point()->get();
    };
    if (leaf == "name") {
      // The name also names the default database (NAME.db in the current folder): a name with a
      // folder in it would let a downloaded sweep file write a database anywhere.
      s.name = text_of();
      const bool plain = !s.name.empty() && std::none_of(s.name.begin(), s.name.end(), [](char c) {
        return c == '/' || c == '\\' || static_cast<unsigned char>(c) < 0x20;
      });
      if (!plain)
        throw Error(ErrorKind::invalid, where_of(file, v, key),
                    "is not a plain name (it is empty or has a '/', a '\\' or a control "
                    "character), and it names the default database file NAME.db",
                    "name the sweep without a folder; choose where the database goes with --db");
    }
    if (leaf == "chip") s.chip = text_of();
    if (leaf == "model") s.model = resolve(file, text_of()).string();
    if (leaf == "data") s.data = resolve(file, text_of()).string();
    if (leaf == "calibrate") s.calibrate = resolve(file, text_of()).string();
    if (leaf == "chips") {
      if (!v.is_integer() && !(v.is_string() && v.as_string()->get() == "auto"))
        throw Error(ErrorKind::invalid, where_of(file, v, key), "must be \"auto\" or a chip count",
                    "chips = \"auto\" (the fewest chips that hold the model) or chips = N");
      chips_text = v.is_integer() ? std::to_string(int_of(1, 100000)) : "auto";
    }
    if (leaf == "instances") s.instances = static_cast<int>(int_of(1, 100000));
    if (leaf == "seed")
      s.seed = static_cast<uint64_t>(int_of(0, std::numeric_limits<int64_t>::max()));
    if (leaf == "samples") s.samples = int_of(0, std::numeric_limits<int64_t>::max());
    if (leaf == "max_points") s.max_points = int_of(1, std::numeric_limits<int64_t>::max());
    if (leaf == "drift_time_s") s.drift_time_s = real_of();
    if (leaf == "rate") s.rate = real_of();
    if (leaf == "metrics") {
      const toml::array* a = v.as_array();
      if (a == nullptr || a->empty())
        throw Error(ErrorKind::invalid, where_of(file, v, key),
                    "must be a non-empty list of metric names",
                    "e.g. metrics = [\"accuracy\", \"energy_pj\", \"area_mm2\"]");
      s.metrics.clear();
      for (const toml::node& m : *a) {
        const std::string name = m.is_string() ? m.as_string()->get() : "";
        const auto& all = sweep_metric_names();
        if (std::find(all.begin(), all.end(), name) == all.end()) {
          std::string list;
          for (const std::string& x : all) list += (list.empty() ? "" : ", ") + x;
          throw Error(ErrorKind::invalid, where_of(file, m, key), "'" + name + "' is not a metric",
                      "metrics: " + list);
        }
        s.metrics.push_back(name);
      }
    }
  }
  s.chips = chips_text;
  for (const char* required : {"chip", "model", "data"})
    if (!sw->contains(required))
      throw Error(ErrorKind::invalid, where_of(file, *sw, std::string("sweep.") + required),
                  "is missing",
                  "a sweep names its base chip (preset or .toml), model (.onnx) and data (labelled "
                  "set folder)");
  if (s.chip.find(".toml") != std::string::npos) s.chip = resolve(file, s.chip).string();
  (void)chip_spec_from_name_or_file(
      s.chip);  // a bad name or file is reported as `acim compile` does
  s.chip_toml = base_chip_text(s.chip);
  s.hash = hash_hex(std::string(text) + '\0' + s.chip_toml);
  const BaseChip base(s);

  // Parameters: each key must be a key of the chip spec (its full TOML form has every key).
  std::vector<std::string> known;
  leaf_keys(base.full, "", known);
  if (const toml::node* pn = root.get("parameters")) {
    const toml::table* params = pn->as_table();
    if (params == nullptr)
      throw Error(ErrorKind::invalid, where_of(file, *pn, "parameters"), "must be a table", "");
    // In the file's order (toml++ tables iterate sorted by key): the point numbering follows it.
    std::vector<std::pair<std::string, const toml::node*>> entries;
    for (const auto& [k, v] : *params) entries.emplace_back(std::string(k.str()), &v);
    std::stable_sort(entries.begin(), entries.end(), [](const auto& a, const auto& b) {
      const auto &x = a.second->source().begin, &y = b.second->source().begin;
      return x.line != y.line ? x.line < y.line : x.column < y.column;
    });
    for (const auto& [key, node] : entries) {
      const toml::node& v = *node;
      const std::string where_key = "parameters.\"" + key + "\"";
      if (leaf_at(base.full, key) == nullptr)
        throw Error(ErrorKind::invalid, where_of(file, v, where_key),
                    "'" + key + "' is not a chip-spec key",
                    suggest(key, known).empty()
                        ? "keys are those `acim chips show NAME` prints, e.g. array.adc.bits"
                        : suggest(key, known));
      SweepParameter p;
      p.key = key;
      if (const toml::array* a = v.as_array()) {
        for (const toml::node& x : *a) p.values.push_back(value_of(x, file, where_key));
      } else if (const toml::table* t = v.as_table()) {
        p.values = range_values(*t, file, where_key, s.max_points);
      } else {
        p.values.push_back(value_of(v, file, where_key));
      }
      if (p.values.empty())
        throw Error(ErrorKind::invalid, where_of(file, v, where_key), "is an empty list",
                    "give at least one value, or leave the key out");
      s.parameters.push_back(std::move(p));
    }
  }
  if (s.points() > s.max_points)
    throw Error(
        ErrorKind::limit, where_of(file, *sw, "sweep.max_points"),
        "the sweep has " +
            (s.points() == std::numeric_limits<int64_t>::max() ? std::string("over 9e18")
                                                               : std::to_string(s.points())) +
            " points, more than max_points = " + std::to_string(s.max_points),
        "sweep fewer values, or set sweep.max_points to the count if you mean it");
  // Each value alone, so a bad one is named by its key; then every point's combination
  // (cross-field checks).
  for (const SweepParameter& p : s.parameters)
    for (const SweepValue& x : p.values)
      (void)apply(base.own, base.full, {{p.key, x}},
                  where_of(file, *root["parameters"].as_table()->get(p.key),
                           "parameters.\"" + p.key + "\"") +
                      " = " + x.str());
  for (int64_t i = 0; i < s.points(); ++i) (void)point_chip(s, base, i);
  return s;
}

SweepSpec load_sweep(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in)
    throw Error(ErrorKind::io, file.string(), "cannot be read", "check the sweep file's path");
  std::ostringstream text;
  text << in.rdbuf();
  return parse_sweep(text.str(), file);
}

}  // namespace acim
