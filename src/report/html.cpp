// The report as one self-contained HTML page: inline CSS, inline SVG charts drawn here, no script
// and nothing fetched, so the file opens anywhere (mail attachment, CI artefact, offline).
// Every text taken from the model or the chip spec (node names, ops, descriptions) goes through
// html_escape. See include/acim/report.hpp.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "acim/report.hpp"

namespace acim {

namespace {

// Colours of the energy components (CostComponent order; the Tableau 10 palette, chosen to be
// told apart by most colour-blind readers) and of the digital baseline's parts.
const char* const kComponentColours[kCostComponents] = {"#4e79a7", "#f28e2b", "#e15759", "#76b7b2",
                                                        "#59a14f", "#edc948", "#b07aa1", "#ff9da7",
                                                        "#9c755f", "#bab0ac"};
const char* const kMacColour = "#3b6e8f";
const char* const kSramColour = "#8cb8d9";
const char* const kDramColour = "#d4a24c";
const char* const kUnusedColour = "#eceff3";

// Layer i's colour: hues a golden angle apart stay distinct for neighbouring layers however many
// there are; two lightnesses alternate so that hues that come round again still differ.
std::string layer_colour(int i) {
  const double hue = std::fmod(i * 137.508, 360.0);
  char buf[48];
  std::snprintf(buf, sizeof buf, "hsl(%.0f,62%%,%d%%)", hue, i % 2 ? 42 : 58);
  return buf;
}

// `sig` significant digits without an exponent for everyday magnitudes.
std::string num(double v, int sig = 3) {
  if (v == 0 || !std::isfinite(v)) return v == 0 ? "0" : "-";
  const double a = std::fabs(v);
  char buf[48];
  if (a >= 1e7 || a < 1e-3) {
    std::snprintf(buf, sizeof buf, "%.*g", sig, v);
    return buf;
  }
  const int decimals = std::max(0, sig - 1 - static_cast<int>(std::floor(std::log10(a))));
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  std::string out = buf;
  if (out.find('.') != std::string::npos) {  // 50.0 -> 50, 0.250 -> 0.25
    out.erase(out.find_last_not_of('0') + 1);
    if (out.back() == '.') out.pop_back();
  }
  return out;
}

std::string energy_str(double pj) {
  const double a = std::fabs(pj);
  if (a >= 1e9) return num(pj * 1e-9) + " mJ";
  if (a >= 1e6) return num(pj * 1e-6) + " µJ";
  if (a >= 1e3) return num(pj * 1e-3) + " nJ";
  return num(pj) + " pJ";
}

std::string time_str(double ns) {
  const double a = std::fabs(ns);
  if (a >= 1e9) return num(ns * 1e-9) + " s";
  if (a >= 1e6) return num(ns * 1e-6) + " ms";
  if (a >= 1e3) return num(ns * 1e-3) + " µs";
  return num(ns) + " ns";
}

std::string power_str(double uw) {
  if (std::fabs(uw) >= 1e6) return num(uw * 1e-6) + " W";
  if (std::fabs(uw) >= 1e3) return num(uw * 1e-3) + " mW";
  return num(uw) + " µW";
}

std::string percent(double fraction) {
  return num(100 * fraction, fraction >= 0.1 ? 3 : 2) + "%";
}

// At most `max` bytes of a name for a chart label, cut on a UTF-8 character boundary.
std::string shorten(const std::string& s, size_t max = 24) {
  if (s.size() <= max) return s;
  size_t cut = max - 1;
  while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;
  return s.substr(0, cut) + "…";
}

std::string px(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", v);
  return buf;
}

// ---------------------------------------------------------------------------------------------
// Horizontal bar charts: one row per bar, segments stacked left to right from `offset`.

struct Segment {
  double value = 0;
  std::string colour;
  std::string title;  // tooltip (unescaped)
};

struct Bar {
  std::string label;  // unescaped; shortened on the chart, whole in its tooltip
  std::vector<Segment> segments;
  std::string value_label;
  double offset = 0;  // where the first segment starts (a schedule's start time)
  // A thin second bar under the first, from `offset` (work done alongside, e.g. the vector
  // unit's while the arrays compute); 0: none.
  double under = 0;
  std::string under_title;
};

Bar bar(std::string label, std::vector<Segment> segments, std::string value_label,
        double offset = 0) {
  Bar b;
  b.label = std::move(label);
  b.segments = std::move(segments);
  b.value_label = std::move(value_label);
  b.offset = offset;
  return b;
}

struct ChartOptions {
  double width = 1000;
  double label_width = 190;
  double value_width = 150;
  double max = 0;         // the scale's full width; 0: the longest bar
  std::string axis_unit;  // a 0 ... max axis under the bars when not empty
  std::string (*axis_format)(double) = nullptr;
};

std::string hbar_svg(const std::string& title, const std::vector<Bar>& bars,
                     const ChartOptions& o) {
  const double row = 22, bar_h = 15, top = 6;
  double max = o.max;
  if (max <= 0)
    for (const Bar& b : bars) {
      double end = b.offset;
      for (const Segment& s : b.segments) end += std::max(0.0, s.value);
      max = std::max(max, end);
    }
  if (max <= 0) max = 1;
  const double plot_w = o.width - o.label_width - o.value_width;
  const double axis_h = o.axis_unit.empty() ? 0 : 24;
  const double height = top + row * static_cast<double>(bars.size()) + axis_h + 4;
  std::string s = "<svg class=\"chart\" xmlns=\"http://www.w3.org/2000/svg\" width=\"" +
                  px(o.width) + "\" height=\"" + px(height) + "\" viewBox=\"0 0 " + px(o.width) +
                  " " + px(height) + "\" role=\"img\"><title>" + html_escape(title) + "</title>";
  for (size_t i = 0; i < bars.size(); ++i) {
    const Bar& b = bars[i];
    const double y = top + row * static_cast<double>(i);
    s += "<g><title>" + html_escape(b.label + ": " + b.value_label) + "</title>";
    s += "<text x=\"" + px(o.label_width - 8) + "\" y=\"" + px(y + bar_h - 3) +
         "\" text-anchor=\"end\" class=\"lbl\">" + html_escape(shorten(b.label)) + "</text>";
    const double x0 = o.label_width + plot_w * b.offset / max;
    const double h = b.under > 0 ? bar_h - 5 : bar_h;
    double x = x0;
    for (const Segment& seg : b.segments) {
      const double w = plot_w * std::max(0.0, seg.value) / max;
      if (w <= 0) continue;
      s += "<rect x=\"" + px(x) + "\" y=\"" + px(y) + "\" width=\"" + px(std::max(w, 0.6)) +
           "\" height=\"" + px(h) + "\" fill=\"" + seg.colour + "\"><title>" +
           html_escape(seg.title) + "</title></rect>";
      x += w;
    }
    if (b.under > 0) {
      const double w = plot_w * b.under / max;
      s += "<rect x=\"" + px(x0) + "\" y=\"" + px(y + bar_h - 3) + "\" width=\"" +
           px(std::max(w, 0.6)) + "\" height=\"3\" class=\"under\"><title>" +
           html_escape(b.under_title) + "</title></rect>";
      x = std::max(x, x0 + w);
    }
    s += "<text x=\"" + px(x + 6) + "\" y=\"" + px(y + bar_h - 3) + "\" class=\"val\">" +
         html_escape(b.value_label) + "</text></g>";
  }
  if (!o.axis_unit.empty()) {
    const double y = top + row * static_cast<double>(bars.size()) + 2;
    s += "<line x1=\"" + px(o.label_width) + "\" y1=\"" + px(y) + "\" x2=\"" +
         px(o.label_width + plot_w) + "\" y2=\"" + px(y) + "\" class=\"axis\"></line>";
    for (int k = 0; k <= 4; ++k) {
      const double x = o.label_width + plot_w * k / 4.0;
      const double v = max * k / 4.0;
      s += "<line x1=\"" + px(x) + "\" y1=\"" + px(y) + "\" x2=\"" + px(x) + "\" y2=\"" +
           px(y + 4) + "\" class=\"axis\"></line>";
      s += "<text x=\"" + px(x) + "\" y=\"" + px(y + 16) +
           "\" text-anchor=\"middle\" class=\"tick\">" +
           html_escape(o.axis_format ? o.axis_format(v) : num(v)) + "</text>";
    }
  }
  return s + "</svg>";
}

// ---------------------------------------------------------------------------------------------
// Floorplan: chips one under the other, each its mesh of cores; a core its tiles, a tile its
// arrays, every array coloured by the layer it holds.

std::string floorplan_svg(const Report& r, int max_chips) {
  const Floorplan& f = r.floorplan;
  const int tile_cols =
      static_cast<int>(std::ceil(std::sqrt(static_cast<double>(f.tiles_per_core))));
  const int tile_rows = (f.tiles_per_core + tile_cols - 1) / tile_cols;
  const int arr_cols =
      static_cast<int>(std::ceil(std::sqrt(static_cast<double>(f.arrays_per_tile))));
  const int arr_rows = (f.arrays_per_tile + arr_cols - 1) / arr_cols;
  const double gap = 2, tile_pad = 3, tile_gap = 5, core_pad = 6, core_gap = 18, chip_label = 22;
  const double max_width = 1100;
  // Array squares of 30 px on a small chip, smaller as the chip grows (a 512-array chip about
  // 18 px), and then as small as it takes to fit the mesh into max_width.
  double cell = std::floor(std::clamp(
      400.0 / std::sqrt(static_cast<double>(int64_t{f.cores} * f.arrays_per_core())), 8.0, 30.0));
  const auto tile_w = [&](double c) { return arr_cols * c + (arr_cols - 1) * gap + 2 * tile_pad; };
  const auto tile_h = [&](double c) { return arr_rows * c + (arr_rows - 1) * gap + 2 * tile_pad; };
  const auto core_w = [&](double c) {
    return tile_cols * tile_w(c) + (tile_cols - 1) * tile_gap + 2 * core_pad;
  };
  const auto core_h = [&](double c) {
    return tile_rows * tile_h(c) + (tile_rows - 1) * tile_gap + 2 * core_pad;
  };
  while (cell > 3 && f.mesh_cols * core_w(cell) + (f.mesh_cols - 1) * core_gap > max_width)
    cell -= 1;
  const double cw = core_w(cell), ch = core_h(cell);
  const double chip_w = f.mesh_cols * cw + (f.mesh_cols - 1) * core_gap;
  const double chip_h = f.mesh_rows * ch + (f.mesh_rows - 1) * core_gap;
  const int chips = std::min(f.chips, max_chips);
  const double width = chip_w + 2, height = chips * (chip_h + chip_label + 12);
  std::string s = "<svg class=\"floorplan\" xmlns=\"http://www.w3.org/2000/svg\" width=\"" +
                  px(width) + "\" height=\"" + px(height) + "\" viewBox=\"0 0 " + px(width) + " " +
                  px(height) +
                  "\" role=\"img\"><title>Floorplan: which layer occupies which "
                  "array</title>";
  const int64_t per_core = f.arrays_per_core();
  for (int chip = 0; chip < chips; ++chip) {
    const double y0 = chip * (chip_h + chip_label + 12);
    s += "<text x=\"1\" y=\"" + px(y0 + 15) + "\" class=\"chiplbl\">" +
         html_escape(f.chips > 1 ? "chip " + std::to_string(chip) : r.chip) + " — " +
         std::to_string(f.cores) + (f.cores == 1 ? " core" : " cores") + "</text>";
    const double gy = y0 + chip_label;
    // Network links between neighbouring cores of the mesh (drawn under the cores).
    for (int c = 0; c < f.cores; ++c) {
      const int row = c / f.mesh_cols, col = c % f.mesh_cols;
      const double cx = 1 + col * (cw + core_gap) + cw / 2,
                   cy = gy + row * (ch + core_gap) + ch / 2;
      if (col + 1 < f.mesh_cols && c + 1 < f.cores)
        s += "<line x1=\"" + px(cx) + "\" y1=\"" + px(cy) + "\" x2=\"" + px(cx + cw + core_gap) +
             "\" y2=\"" + px(cy) + "\" class=\"link\"></line>";
      if (c + f.mesh_cols < f.cores)
        s += "<line x1=\"" + px(cx) + "\" y1=\"" + px(cy) + "\" x2=\"" + px(cx) + "\" y2=\"" +
             px(cy + ch + core_gap) + "\" class=\"link\"></line>";
    }
    for (int c = 0; c < f.cores; ++c) {
      const int row = c / f.mesh_cols, col = c % f.mesh_cols;
      const double cx = 1 + col * (cw + core_gap), cy = gy + row * (ch + core_gap);
      s += "<g><title>core " + std::to_string(c) + "</title><rect x=\"" + px(cx) + "\" y=\"" +
           px(cy) + "\" width=\"" + px(cw) + "\" height=\"" + px(ch) +
           "\" rx=\"4\" class=\"core\"></rect></g>";
      for (int t = 0; t < f.tiles_per_core; ++t) {
        const double tx = cx + core_pad + (t % tile_cols) * (tile_w(cell) + tile_gap);
        const double ty = cy + core_pad + (t / tile_cols) * (tile_h(cell) + tile_gap);
        s += "<rect x=\"" + px(tx) + "\" y=\"" + px(ty) + "\" width=\"" + px(tile_w(cell)) +
             "\" height=\"" + px(tile_h(cell)) + "\" rx=\"2\" class=\"tile\"></rect>";
        for (int a = 0; a < f.arrays_per_tile; ++a) {
          const int64_t slot =
              (int64_t{chip} * f.cores + c) * per_core + int64_t{t} * f.arrays_per_tile + a;
          const int layer = f.array_layer[static_cast<size_t>(slot)];
          const double ax = tx + tile_pad + (a % arr_cols) * (cell + gap);
          const double ay = ty + tile_pad + (a / arr_cols) * (cell + gap);
          std::string tip = "core " + std::to_string(c) + ", tile " + std::to_string(t) +
                            ", array " + std::to_string(a) + ": ";
          if (layer >= 0) {
            const LayerCost& l = r.cost.layers[static_cast<size_t>(layer)];
            tip += l.node + " (" + l.op + ")";
          } else {
            tip += "unused";
          }
          s += "<rect x=\"" + px(ax) + "\" y=\"" + px(ay) + "\" width=\"" + px(cell) +
               "\" height=\"" + px(cell) + "\" fill=\"" +
               (layer >= 0 ? layer_colour(layer) : std::string(kUnusedColour)) +
               "\" class=\"arr\"><title>" + html_escape(tip) + "</title></rect>";
        }
      }
    }
  }
  return s + "</svg>";
}

// ---------------------------------------------------------------------------------------------
// Page pieces.

std::string card(const std::string& label, const std::string& value, const std::string& sub) {
  return "<div class=\"card\"><div class=\"clbl\">" + html_escape(label) +
         "</div><div class=\"cval\">" + html_escape(value) + "</div><div class=\"csub\">" +
         html_escape(sub) + "</div></div>";
}

std::string section(const std::string& title, const std::string& body) {
  return "<section><h2>" + html_escape(title) + "</h2>" + body + "</section>";
}

std::string para(const std::string& text, const char* cls = "note") {
  return std::string("<p class=\"") + cls + "\">" + html_escape(text) + "</p>";
}

std::string swatch(const std::string& colour) {
  return "<span class=\"sw\" style=\"background:" + colour + "\"></span>";
}

const char* const kCss = R"css(
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;margin:0;
  background:#f6f7f9;color:#1d2329}
header{background:#1f3a5a;color:#fff;padding:18px 28px}
header h1{margin:0;font-size:22px;font-weight:600}
header p{margin:4px 0 0;color:#c9d6e6;font-size:14px}
main{padding:10px 28px 30px;max-width:1160px}
section{background:#fff;border:1px solid #dde2e8;border-radius:8px;padding:12px 18px;
  margin:14px 0}
h2{font-size:16px;margin:2px 0 10px;color:#1f3a5a}
.cards{display:flex;flex-wrap:wrap;gap:10px;margin:14px 0}
.card{background:#fff;border:1px solid #dde2e8;border-radius:8px;padding:10px 14px;
  min-width:150px;flex:1 1 150px}
.clbl{font-size:12px;color:#5a6775;text-transform:uppercase;letter-spacing:.04em}
.cval{font-size:20px;font-weight:600;margin:3px 0}
.csub{font-size:12px;color:#5a6775}
svg.chart,svg.floorplan{max-width:100%;height:auto}
svg text{font-size:12px;fill:#1d2329}
svg .tick{fill:#5a6775;font-size:11px}
svg .val{fill:#37424d}
svg .axis{stroke:#9aa5b1;stroke-width:1}
svg .core{fill:#f3f5f8;stroke:#7d8b99;stroke-width:1.2}
svg .tile{fill:#fff;stroke:#c4ccd5;stroke-width:.8}
svg .arr{stroke:#55606b;stroke-width:.4}
svg .link{stroke:#9aa5b1;stroke-width:3}
svg .under{fill:#37424d}
svg .chiplbl{font-weight:600;font-size:13px}
.legend{display:flex;flex-wrap:wrap;gap:4px 14px;font-size:12px;margin:8px 0 2px}
.legend span.item{white-space:nowrap}
.sw{display:inline-block;width:11px;height:11px;border-radius:2px;margin-right:5px;
  vertical-align:-1px;border:1px solid rgba(0,0,0,.25)}
table{border-collapse:collapse;font-size:13px;margin:4px 0}
th,td{padding:3px 10px;border-bottom:1px solid #e6eaee;text-align:right}
th{color:#5a6775;font-weight:600}
td.l,th.l{text-align:left}
.verdict{font-size:15px;font-weight:600;margin:8px 0 2px}
.note{font-size:12px;color:#5a6775;margin:4px 0}
)css";

}  // namespace

std::string html_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string report_html(const Report& r) {
  const CostReport& c = r.cost;
  const double total_pj = c.energy_pj();
  std::string h = "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>" +
                  html_escape("acim report: " + r.model + " on " + r.chip) + "</title><style>" +
                  kCss + "</style></head><body>";
  h += "<header><h1>" + html_escape(r.model) + " on " + html_escape(r.chip) + "</h1><p>" +
       html_escape(r.chip_description + (r.chip_description.empty() ? "" : " · ") +
                   std::to_string(r.technology_nm) + " nm · " + std::to_string(r.chips) +
                   (r.chips == 1 ? " chip" : " chips") + " · activity from " + r.activity_source +
                   " (" + std::to_string(r.activity_samples) + " samples)") +
       "</p></header><main>";

  // Summary cards.
  h += "<div class=\"cards\">";
  h += card("energy / inference", energy_str(total_pj),
            energy_str(c.dynamic_energy_pj()) + " dynamic");
  h += card("average power", power_str(r.average_power_uw),
            "at " + num(r.rate) + " inferences/s (" + power_str(c.leakage_uw) + " leakage)");
  h += card("latency", time_str(c.latency_ns), num(c.inferences_per_s) + " inferences/s");
  h += card("efficiency", num(c.tops_per_w) + " TOPS/W",
            num(c.effective_tops) + " effective TOPS of " + num(c.peak_tops) + " peak");
  h += card("arrays", std::to_string(r.arrays_used) + " / " + std::to_string(r.arrays_available),
            percent(c.array_utilisation) + " used; cells " + percent(c.weight_utilisation));
  h += card("area", num(c.area.total_um2() * 1e-6) + " mm²", num(c.tops_per_mm2) + " TOPS/mm²");
  h += "</div>";

  // Energy breakdown by component.
  {
    std::vector<int> order;
    for (int i = 0; i < kCostComponents; ++i)
      if (c.energy.pj[static_cast<size_t>(i)] > 0) order.push_back(i);
    std::stable_sort(order.begin(), order.end(), [&](int a, int b) {
      return c.energy.pj[static_cast<size_t>(a)] > c.energy.pj[static_cast<size_t>(b)];
    });
    std::vector<Bar> bars;
    for (int i : order) {
      const double v = c.energy.pj[static_cast<size_t>(i)];
      const std::string name = cost_component_name(static_cast<CostComponent>(i));
      const std::string label = energy_str(v) + " (" + percent(v / total_pj) + ")";
      bars.push_back(bar(name, {{v, kComponentColours[i], name + ": " + label}}, label));
    }
    ChartOptions o;
    h += section("Energy per inference by component (" + energy_str(total_pj) + ")",
                 hbar_svg("Energy per inference by component", bars, o));
  }

  // Per-layer energy, stacked by component, with the legend of the components.
  {
    std::vector<Bar> bars;
    for (const ReportLayer& l : r.layers) {
      Bar b;
      b.label = l.node;
      for (int i = 0; i < kCostComponents; ++i) {
        const double v = l.energy.pj[static_cast<size_t>(i)];
        if (v > 0)
          b.segments.push_back(
              {v, kComponentColours[i],
               cost_component_name(static_cast<CostComponent>(i)) + ": " + energy_str(v)});
      }
      b.value_label = energy_str(l.energy_pj) + " (" + percent(l.energy_pj / total_pj) + ")";
      bars.push_back(std::move(b));
    }
    std::string legend = "<div class=\"legend\">";
    for (int i = 0; i < kCostComponents; ++i)
      legend += "<span class=\"item\">" + swatch(kComponentColours[i]) +
                html_escape(cost_component_name(static_cast<CostComponent>(i))) + "</span>";
    legend += "</div>";
    ChartOptions o;
    o.axis_unit = "energy";
    o.axis_format = energy_str;
    h += section("Energy per layer", legend + hbar_svg("Energy per layer", bars, o) +
                                         para("Network traffic, chip links and leakage belong to "
                                              "no one layer and are not in these bars."));
  }

  // Per-layer time: busy time, and the pipeline schedule of the analog layers.
  {
    std::vector<Bar> busy, schedule;
    bool scheduled = false;
    double fused_ns = 0, digital_ns = 0;
    for (const LayerCost& l : c.layers) fused_ns += l.digital_ns;
    for (const DigitalCost& d : c.digital) digital_ns += d.time_ns;
    for (const ReportLayer& l : r.layers) {
      const std::string colour = l.analog ? layer_colour(l.index) : std::string("#9aa5b1");
      Bar b;
      b.label = l.node;
      b.value_label = time_str(l.busy_ns);
      if (l.analog) {
        b.segments = {{l.compute_ns, colour, "arrays: " + time_str(l.compute_ns)},
                      {l.stall_ns, "#e15759", "buffer stalls: " + time_str(l.stall_ns)}};
        b.under = l.vector_ns;
        b.under_title = "vector unit, alongside: " + time_str(l.vector_ns);
      } else {
        b.segments = {
            {l.vector_ns, colour, l.op + " on the vector unit: " + time_str(l.vector_ns)}};
      }
      busy.push_back(std::move(b));
      if (l.analog) {
        scheduled = scheduled || l.finish_ns > 0;
        schedule.push_back(bar(l.node,
                               {{l.finish_ns - l.start_ns, colour,
                                 time_str(l.start_ns) + " to " + time_str(l.finish_ns)}},
                               time_str(l.start_ns) + " – " + time_str(l.finish_ns), l.start_ns));
      }
    }
    ChartOptions o;
    o.axis_unit = "time";
    o.axis_format = time_str;
    std::string body = hbar_svg("Busy time per layer", busy, o) +
                       para(
                           "Analog layers: the arrays' compute (colour) and buffer stalls (red), "
                           "with the vector unit's fused work (bias, activation) done alongside "
                           "(thin dark bar); a layer's stage takes the longer of the two. "
                           "Digital nodes (grey): their vector-unit time.");
    if (scheduled) {
      ChartOptions so = o;
      so.max = std::max(c.latency_ns, 1e-9);
      body += "<h2>Pipeline schedule of one inference</h2>" +
              hbar_svg("Pipeline schedule", schedule, so) +
              para("Latency " + time_str(c.latency_ns) +
                   ": the arrays' schedule above, then "
                   "the layers' fused vector work (" +
                   time_str(fused_ns) +
                   " in all), the "
                   "digital nodes (" +
                   time_str(digital_ns) +
                   ") and any chip links, as the "
                   "cost model adds them; a new inference every " +
                   time_str(c.interval_ns) + " in steady state.");
    }
    h += section("Time per layer", body);
  }

  // Floorplan and utilisation.
  {
    const int max_chips = 8;
    std::string body = floorplan_svg(r, max_chips);
    if (r.floorplan.chips > max_chips)
      body += para("The first " + std::to_string(max_chips) + " of " +
                   std::to_string(r.floorplan.chips) + " chips are drawn.");
    std::vector<int64_t> arrays(r.cost.layers.size(), 0);
    for (int l : r.floorplan.array_layer)
      if (l >= 0) ++arrays[static_cast<size_t>(l)];
    body += "<div class=\"legend\">";
    for (size_t i = 0; i < r.cost.layers.size(); ++i)
      body += "<span class=\"item\">" + swatch(layer_colour(static_cast<int>(i))) +
              html_escape(r.cost.layers[i].node) + " (" + std::to_string(arrays[i]) + ")</span>";
    body += "<span class=\"item\">" + swatch(kUnusedColour) + "unused</span></div>";
    body += para(
        "Each square is one array, coloured by the layer whose weights it holds "
        "(arrays per layer in brackets); lines join neighbouring cores. The "
        "mapping places arrays on cores; their order inside a core is drawing order.");
    const std::vector<Bar> util = {
        bar("arrays used", {{c.array_utilisation, "#4e79a7", "arrays used"}},
            percent(c.array_utilisation) + " (" + std::to_string(r.arrays_used) + " of " +
                std::to_string(r.arrays_available) + ")"),
        bar("cells holding weights",
            {{c.weight_utilisation, "#59a14f", "cells of the used arrays"}},
            percent(c.weight_utilisation) + " of the used arrays"),
        bar("arrays busy", {{c.busy_fraction, "#f28e2b", "steady-state busy fraction"}},
            percent(c.busy_fraction) + " of array-cycles")};
    ChartOptions o;
    o.max = 1;
    body += "<h2>Utilisation</h2>" + hbar_svg("Utilisation", util, o);
    h += section("Floorplan: which layer occupies which array", body);
  }

  // Area.
  {
    const AreaBreakdown& a = c.area;
    const std::vector<std::pair<std::string, double>> parts = {{"arrays", a.arrays_um2},
                                                               {"ADCs", a.adcs_um2},
                                                               {"DACs", a.dacs_um2},
                                                               {"shift-add", a.shift_add_um2},
                                                               {"digital units", a.digital_um2},
                                                               {"buffers", a.buffers_um2},
                                                               {"routers", a.routers_um2}};
    std::vector<Bar> bars;
    for (size_t i = 0; i < parts.size(); ++i) {
      const double mm2 = parts[i].second * 1e-6;
      const std::string label =
          num(mm2) + " mm² (" + percent(parts[i].second / a.total_um2()) + ")";
      bars.push_back(bar(parts[i].first, {{mm2, kComponentColours[i], label}}, label));
    }
    h += section("Area of " + std::string(r.chips == 1 ? "the chip" : "the chips") + " (" +
                     num(a.total_um2() * 1e-6) + " mm²)",
                 hbar_svg("Area breakdown", bars, ChartOptions{}));
  }

  // Analog vs digital baseline.
  {
    std::vector<Bar> bars;
    Bar analog;
    analog.label = "analog (" + r.chip + ")";
    for (int i = 0; i < kCostComponents; ++i)
      if (c.energy.pj[static_cast<size_t>(i)] > 0)
        analog.segments.push_back({c.energy.pj[static_cast<size_t>(i)], kComponentColours[i],
                                   cost_component_name(static_cast<CostComponent>(i)) + ": " +
                                       energy_str(c.energy.pj[static_cast<size_t>(i)])});
    analog.value_label = energy_str(total_pj);
    bars.push_back(analog);
    std::string verdicts;
    for (const BaselineComparison& b : r.baselines) {
      const DigitalBaseline& d = b.digital;
      bars.push_back(bar("digital NPU, " + std::to_string(d.technology_nm) + " nm",
                         {{d.mac_energy_pj, kMacColour, "MACs: " + energy_str(d.mac_energy_pj)},
                          {d.sram_energy_pj, kSramColour, "SRAM: " + energy_str(d.sram_energy_pj)},
                          {d.dram_energy_pj, kDramColour, "DRAM: " + energy_str(d.dram_energy_pj)}},
                         energy_str(d.energy_pj())));
      verdicts +=
          para(b.verdict + " (" + energy_str(b.analog_pj) + " vs " + energy_str(d.energy_pj()) +
                   "; always-on at " + num(r.rate) + " inferences/s " +
                   power_str(r.average_power_uw) + " vs " + power_str(d.average_power_uw(r.rate)) +
                   ", the NPU's SRAM leakage " + power_str(d.leakage_uw) + " included).",
               "verdict");
    }
    const std::string legend = "<div class=\"legend\"><span class=\"item\">" + swatch(kMacColour) +
                               "digital MACs</span><span class=\"item\">" + swatch(kSramColour) +
                               "SRAM</span><span class=\"item\">" + swatch(kDramColour) +
                               "DRAM</span><span class=\"item\">analog: colours of the energy "
                               "components</span></div>";
    h += section("Analog vs digital baseline (energy per inference)",
                 verdicts + legend + hbar_svg("Analog vs digital baseline", bars, ChartOptions{}) +
                     para("Digital baseline: an 8-bit NPU with the same weights on chip; Horowitz "
                          "(ISSCC 2014) energies scaled by Stillmaker and Baas (2017)."));
  }

  // Per-layer table.
  {
    std::string t =
        "<table><tr><th class=\"l\">layer</th><th class=\"l\">op</th><th>arrays used</th>"
        "<th>energy</th><th>share</th><th>array time</th><th>stalls</th><th>vector unit</th>"
        "<th>stage time</th></tr>";
    for (const ReportLayer& l : r.layers)
      t += "<tr><td class=\"l\">" + html_escape(l.node) + "</td><td class=\"l\">" +
           html_escape(l.op) + "</td><td>" + (l.analog ? std::to_string(l.arrays) : "-") +
           "</td><td>" + html_escape(energy_str(l.energy_pj)) + "</td><td>" +
           html_escape(percent(l.energy_pj / total_pj)) + "</td><td>" +
           (l.analog ? html_escape(time_str(l.compute_ns)) : "-") + "</td><td>" +
           (l.analog ? html_escape(time_str(l.stall_ns)) : "-") + "</td><td>" +
           html_escape(time_str(l.vector_ns)) + "</td><td>" + html_escape(time_str(l.busy_ns)) +
           "</td></tr>";
    t += "</table>";
    h += section("Layers", t);
  }

  if (!r.notes.empty()) {
    std::string body;
    for (const std::string& n : r.notes) body += para(n);
    body += para("ADC model: " + c.adc.model + " (" + energy_str(c.adc.energy_pj) +
                 " per conversion; " + c.adc.source + ").");
    h += section("Notes", body);
  }
  h += "</main></body></html>\n";
  return h;
}

}  // namespace acim
