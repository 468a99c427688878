// The Pareto front of a sweep and its exports: CSV (one row per point) and a self-contained HTML
// page (inline CSS and SVG, nothing fetched), in the style of the report (src/report/html.cpp).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <set>

#include "acim/report.hpp"
#include "acim/sweep.hpp"

namespace acim {

namespace {

bool finite(const ParetoObjectives& p) {
  return std::isfinite(p.accuracy) && std::isfinite(p.energy) && std::isfinite(p.area);
}

// a is at least as good as b in every objective and better in one.
bool dominates(const ParetoObjectives& a, const ParetoObjectives& b) {
  const bool no_worse = a.accuracy >= b.accuracy && a.energy <= b.energy && a.area <= b.area;
  const bool better = a.accuracy > b.accuracy || a.energy < b.energy || a.area < b.area;
  return no_worse && better;
}

std::string g17(double v) {
  if (!std::isfinite(v)) return "";
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

std::string num(double v, int sig = 3) {
  if (!std::isfinite(v)) return "-";
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.*g", sig, v);
  return buf;
}

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string q = "\"";
  for (const char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
  return q + "\"";
}

// Parameter keys and metric names over all points, in first-seen / fixed order.
std::vector<std::string> parameter_keys(const std::vector<StoredPoint>& points) {
  std::vector<std::string> keys;
  for (const StoredPoint& p : points)
    for (const auto& [k, v] : p.parameters)
      if (std::find(keys.begin(), keys.end(), k) == keys.end()) keys.push_back(k);
  return keys;
}

std::vector<std::string> metric_names(const std::vector<StoredPoint>& points) {
  std::set<std::string> seen;
  for (const StoredPoint& p : points)
    for (const SweepMetric& m : p.metrics) seen.insert(m.metric);
  std::vector<std::string> out;
  for (const std::string& m : sweep_metric_names())
    if (seen.count(m)) out.push_back(m);
  return out;
}

bool per_instance(const std::vector<StoredPoint>& points, const std::string& metric) {
  for (const StoredPoint& p : points)
    for (const SweepMetric& m : p.metrics)
      if (m.metric == metric && m.instance >= 0) return true;
  return false;
}

std::string param_of(const StoredPoint& p, const std::string& key) {
  for (const auto& [k, v] : p.parameters)
    if (k == key) return v;
  return "";
}

std::string label_of(const StoredPoint& p) {
  std::string s;
  for (const auto& [k, v] : p.parameters) s += (s.empty() ? "" : " ") + k + "=" + v;
  return s.empty() ? "base chip" : s;
}

// The Pareto front of each sweep (points of different sweeps are not compared), as indices into
// `points`, one list per sweep in order of first appearance.
std::vector<std::vector<size_t>> fronts_by_sweep(const std::vector<StoredPoint>& points) {
  std::vector<std::string> names;
  for (const StoredPoint& p : points)
    if (std::find(names.begin(), names.end(), p.sweep) == names.end()) names.push_back(p.sweep);
  const std::vector<ParetoObjectives> obj = pareto_objectives(points);
  std::vector<std::vector<size_t>> fronts;
  for (const std::string& name : names) {
    std::vector<size_t> index;
    std::vector<ParetoObjectives> sub;
    for (size_t i = 0; i < points.size(); ++i)
      if (points[i].sweep == name) {
        index.push_back(i);
        sub.push_back(obj[i]);
      }
    std::vector<size_t> front;
    for (size_t k : pareto_front(sub)) front.push_back(index[k]);
    fronts.push_back(std::move(front));
  }
  return fronts;
}

std::set<size_t> on_any_front(const std::vector<std::vector<size_t>>& fronts) {
  std::set<size_t> on;
  for (const auto& f : fronts) on.insert(f.begin(), f.end());
  return on;
}

const char* const kCss = R"css(
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;margin:0;
  background:#f6f7f9;color:#1d2329}
header{background:#1f3a5a;color:#fff;padding:18px 28px}
header h1{margin:0;font-size:20px}header p{margin:4px 0 0;opacity:.8;font-size:13px}
main{padding:20px 28px;max-width:1100px}
section{background:#fff;border:1px solid #dde2e8;border-radius:6px;padding:16px 18px;margin:0 0 18px;
  overflow-x:auto}
h2{font-size:15px;margin:0 0 10px}
table{border-collapse:collapse;font-size:12.5px}
th,td{padding:3px 10px;border-bottom:1px solid #eceff3;text-align:right}
th:first-child,td:first-child{text-align:left}
tr.front td{font-weight:600}
.axis{stroke:#8a96a3;stroke-width:1}.tick{font-size:11px;fill:#55616d}
.lbl{font-size:12px;fill:#1d2329}.front-line{fill:none;stroke:#e15759;stroke-width:1.5}
.note{font-size:12.5px;color:#55616d}
)css";

std::string esc(const std::string& s) {
  return html_escape(s);
}

// Energy (x, log scale when it spans over 10x) vs accuracy (y); every point grey, the front's
// points red and joined; marker area in proportion to the chip area.
std::string pareto_svg(const std::vector<StoredPoint>& points,
                       const std::vector<ParetoObjectives>& obj,
                       const std::vector<std::vector<size_t>>& fronts) {
  const double w = 720, h = 380, left = 70, right = 20, top = 14, bottom = 46;
  double xmin = std::numeric_limits<double>::infinity(), xmax = -xmin, ymin = xmin, ymax = -xmin,
         amax = 0;
  for (const ParetoObjectives& o : obj)
    if (finite(o)) {
      xmin = std::min(xmin, o.energy);
      xmax = std::max(xmax, o.energy);
      ymin = std::min(ymin, o.accuracy);
      ymax = std::max(ymax, o.accuracy);
      amax = std::max(amax, o.area);
    }
  std::string s = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + num(w, 6) +
                  "\" height=\"" + num(h, 6) + "\" viewBox=\"0 0 " + num(w, 6) + " " + num(h, 6) +
                  "\" role=\"img\"><title>Pareto front: accuracy vs energy per inference</title>";
  if (!std::isfinite(xmin))
    return s + "<text x=\"20\" y=\"30\" class=\"lbl\">no completed points</text></svg>";
  const bool logx = xmin > 0 && xmax / xmin > 10;
  const auto fx = [&](double e) {
    const double a = logx ? std::log10(xmin) : xmin, b = logx ? std::log10(xmax) : xmax;
    const double v = logx ? std::log10(e) : e;
    return left + (b > a ? (v - a) / (b - a) : 0.5) * (w - left - right);
  };
  const double ypad = std::max(1e-3, (ymax - ymin) * 0.08);
  const double y0 = std::max(0.0, ymin - ypad),
               y1 = std::min(1.0, ymax + ypad) > y0 ? std::min(1.0, ymax + ypad) : y0 + 1e-3;
  const auto fy = [&](double a) { return top + (1 - (a - y0) / (y1 - y0)) * (h - top - bottom); };
  const auto radius = [&](double area) { return amax > 0 ? 3 + 9 * std::sqrt(area / amax) : 5.0; };
  s += "<line x1=\"" + num(left, 6) + "\" y1=\"" + num(h - bottom, 6) + "\" x2=\"" +
       num(w - right, 6) + "\" y2=\"" + num(h - bottom, 6) + "\" class=\"axis\"></line>";
  s += "<line x1=\"" + num(left, 6) + "\" y1=\"" + num(top, 6) + "\" x2=\"" + num(left, 6) +
       "\" y2=\"" + num(h - bottom, 6) + "\" class=\"axis\"></line>";
  for (int k = 0; k <= 4; ++k) {
    const double e =
        logx ? std::pow(10.0, std::log10(xmin) + (std::log10(xmax) - std::log10(xmin)) * k / 4)
             : xmin + (xmax - xmin) * k / 4;
    s += "<text x=\"" + num(fx(e), 6) + "\" y=\"" + num(h - bottom + 16, 6) +
         "\" text-anchor=\"middle\" class=\"tick\">" + num(e * 1e-3) + " nJ</text>";
    const double a = y0 + (y1 - y0) * k / 4;
    s += "<text x=\"" + num(left - 6, 6) + "\" y=\"" + num(fy(a) + 4, 6) +
         "\" text-anchor=\"end\" class=\"tick\">" + num(100 * a) + "%</text>";
  }
  s += "<text x=\"" + num((left + w - right) / 2, 6) + "\" y=\"" + num(h - 8, 6) +
       "\" text-anchor=\"middle\" class=\"lbl\">energy per inference" +
       std::string(logx ? " (log scale)" : "") + "</text>";
  s += "<text x=\"14\" y=\"" + num((top + h - bottom) / 2, 6) + "\" transform=\"rotate(-90 14 " +
       num((top + h - bottom) / 2, 6) +
       ")\" text-anchor=\"middle\" class=\"lbl\">accuracy (mean over instances)</text>";
  for (const std::vector<size_t>& front : fronts) {
    std::string line;
    for (size_t i : front)
      line +=
          (line.empty() ? "" : " ") + num(fx(obj[i].energy), 6) + "," + num(fy(obj[i].accuracy), 6);
    if (front.size() > 1) s += "<polyline points=\"" + line + "\" class=\"front-line\"></polyline>";
  }
  const std::set<size_t> on_front = on_any_front(fronts);
  for (int pass = 0; pass < 2; ++pass)  // the front drawn last, on top
    for (size_t i = 0; i < obj.size(); ++i) {
      if (!finite(obj[i]) || (on_front.count(i) > 0) != (pass == 1)) continue;
      s += "<circle cx=\"" + num(fx(obj[i].energy), 6) + "\" cy=\"" + num(fy(obj[i].accuracy), 6) +
           "\" r=\"" + num(radius(obj[i].area), 4) + "\" fill=\"" + (pass ? "#e15759" : "#8a96a3") +
           "\" fill-opacity=\"" + (pass ? "0.85" : "0.45") + "\"><title>" +
           esc(label_of(points[i]) + ": " + num(100 * obj[i].accuracy) + "%, " +
               num(obj[i].energy * 1e-3) + " nJ, " + num(obj[i].area) + " mm²") +
           "</title></circle>";
    }
  return s + "</svg>";
}

}  // namespace

std::vector<size_t> pareto_front(const std::vector<ParetoObjectives>& points) {
  std::vector<size_t> front;
  for (size_t i = 0; i < points.size(); ++i) {
    if (!finite(points[i])) continue;
    bool dominated = false;
    for (size_t j = 0; j < points.size() && !dominated; ++j)
      dominated = j != i && finite(points[j]) && dominates(points[j], points[i]);
    if (!dominated) front.push_back(i);
  }
  std::stable_sort(front.begin(), front.end(), [&](size_t a, size_t b) {
    const ParetoObjectives &x = points[a], &y = points[b];
    if (x.energy != y.energy) return x.energy < y.energy;
    if (x.area != y.area) return x.area < y.area;
    return x.accuracy > y.accuracy;
  });
  return front;
}

std::vector<ParetoObjectives> pareto_objectives(const std::vector<StoredPoint>& points) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  std::vector<ParetoObjectives> out;
  for (const StoredPoint& p : points) {
    if (!p.ok)
      out.push_back({nan, nan, nan});
    else
      out.push_back({p.mean("accuracy"), p.mean("energy_pj"), p.mean("area_mm2")});
  }
  return out;
}

std::string sweep_csv(const std::vector<StoredPoint>& points) {
  const std::vector<std::string> keys = parameter_keys(points);
  const std::vector<std::string> metrics = metric_names(points);
  std::vector<bool> instance_metric;
  for (const std::string& m : metrics) instance_metric.push_back(per_instance(points, m));
  const std::set<size_t> on_front = on_any_front(fronts_by_sweep(points));
  std::string s = "sweep,point,status";
  for (const std::string& k : keys) s += "," + csv_field(k);
  for (size_t i = 0; i < metrics.size(); ++i)
    s += "," + metrics[i] + (instance_metric[i] ? "," + metrics[i] + "_std" : "");
  s += ",pareto,error\n";
  for (size_t r = 0; r < points.size(); ++r) {
    const StoredPoint& p = points[r];
    s += csv_field(p.sweep) + "," + std::to_string(p.point) + "," + (p.ok ? "done" : "failed");
    for (const std::string& k : keys) s += "," + csv_field(param_of(p, k));
    for (size_t i = 0; i < metrics.size(); ++i) {
      s += "," + g17(p.mean(metrics[i]));
      if (instance_metric[i])
        s += "," + (std::isfinite(p.mean(metrics[i])) ? g17(p.std(metrics[i])) : "");
    }
    s += std::string(",") + (on_front.count(r) ? "1" : "0") + "," + csv_field(p.error) + "\n";
  }
  return s;
}

std::string sweep_html(const std::vector<StoredPoint>& points, const std::string& title) {
  const std::vector<ParetoObjectives> obj = pareto_objectives(points);
  const std::vector<std::vector<size_t>> fronts = fronts_by_sweep(points);
  const std::set<size_t> on_front = on_any_front(fronts);
  const std::vector<std::string> keys = parameter_keys(points);
  const std::vector<std::string> metrics = metric_names(points);
  size_t failed = 0;
  for (const StoredPoint& p : points) failed += p.ok ? 0 : 1;
  std::string h = "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>" +
                  esc(title) + "</title><style>" + kCss + "</style></head><body><header><h1>" +
                  esc(title) + "</h1><p>" + std::to_string(points.size()) + " points, " +
                  std::to_string(failed) + " failed, " + std::to_string(on_front.size()) +
                  " on the Pareto front (accuracy vs energy/inference vs area)</p>"
                  "</header><main>";
  h += "<section><h2>Pareto front</h2>" + pareto_svg(points, obj, fronts) +
       "<p class=\"note\">Red: the front (no other point is as accurate at no more energy and "
       "area, and better in one). "
       "Marker area in proportion to chip area.</p></section>";
  h += "<section><h2>Points</h2><table><tr><th>sweep</th><th>point</th>";
  for (const std::string& k : keys) h += "<th>" + esc(k) + "</th>";
  for (const std::string& m : metrics) h += "<th>" + esc(m) + "</th>";
  h += "<th>status</th></tr>";
  for (size_t r = 0; r < points.size(); ++r) {
    const StoredPoint& p = points[r];
    h += std::string("<tr") + (on_front.count(r) ? " class=\"front\"" : "") + "><td>" +
         esc(p.sweep) + "</td><td>" + std::to_string(p.point) + "</td>";
    for (const std::string& k : keys) h += "<td>" + esc(param_of(p, k)) + "</td>";
    for (const std::string& m : metrics) {
      const double v = p.mean(m);
      const bool frac = m == "accuracy" || m == "float_accuracy";
      h += "<td>" + (frac && std::isfinite(v) ? num(100 * v, 4) + "%" : num(v, 4)) + "</td>";
    }
    h += "<td>" + esc(p.ok ? (on_front.count(r) ? "front" : "done") : "failed: " + p.error) +
         "</td></tr>";
  }
  return h + "</table></section></main></body></html>\n";
}

}  // namespace acim
