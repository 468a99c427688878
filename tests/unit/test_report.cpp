// The report model (include/acim/report.hpp): its numbers are the cost model's (the same
// activity, price and baselines computed here independently), the per-layer rows add up to the
// total, the floorplan holds every placed array of every layer, the baseline verdict reads in
// the ratio's direction, the JSON carries the same numbers, and the HTML escapes hostile node
// names and is well formed (every tag closed in order).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "acim/chip.hpp"
#include "acim/cost.hpp"
#include "acim/error.hpp"
#include "acim/onnx.hpp"
#include "acim/program.hpp"
#include "acim/report.hpp"

namespace acim {
namespace {

// DS-CNN on edge-voice with two random calibration inputs (kept in the Program).
const Program& ds_cnn_program() {
  static const Program p = [] {
    CompileOptions o;
    o.random_calibration = 2;
    o.keep_calibration = 2;
    o.seed = 3;
    Program q = compile_program(load_onnx(std::string(ACIM_SOURCE_DIR) + "/zoo/kws/ds_cnn_s.onnx"),
                                chip_preset("edge-voice"), o);
    q.model = "zoo/kws/ds_cnn_s.onnx";
    return q;
  }();
  return p;
}

const Report& ds_cnn_report() {
  static const Report r = make_report(ds_cnn_program(), ds_cnn_program().calibration_set, {});
  return r;
}

// x -> Gemm 16x8 -> Softmax (a digital node), with node names a page must not execute or
// mis-parse.
Program hostile_program() {
  Graph g;
  g.name = "hostile";
  g.opset = 17;
  g.inputs.push_back(ValueInfo{"x", DType::f32, {1, 16}, true});
  Tensor w(DType::f32, {16, 8});
  for (int64_t i = 0; i < w.numel(); ++i) w.data<float>()[i] = 0.01f * static_cast<float>(i % 7);
  g.initializers["W"] = w;
  Node fc;
  fc.name = "<script>alert('x')</script>";
  fc.op_type = "Gemm";
  fc.inputs = {"x", "W"};
  fc.outputs = {"h"};
  Node softmax;
  softmax.name = "a\"b&c<d>";
  softmax.op_type = "Softmax";
  softmax.inputs = {"h"};
  softmax.outputs = {"y"};
  g.nodes = {fc, softmax};
  g.outputs.push_back(ValueInfo{"y", DType::f32, {}, false});
  CompileOptions o;
  o.random_calibration = 1;
  o.keep_calibration = 1;
  Program p = compile_program(std::move(g), chip_preset("edge-voice"), o);
  p.model = "models/<evil>.onnx";
  return p;
}

// Checks that every element of an HTML/SVG text is closed, in order (void elements of HTML
// excepted, "<x/>" self-closed); returns "" or what is wrong.
std::string tag_balance_error(const std::string& text) {
  static const std::vector<std::string> kVoid = {"meta", "br", "hr", "img", "input", "link"};
  std::vector<std::string> open;
  size_t i = 0;
  while ((i = text.find('<', i)) != std::string::npos) {
    const size_t end = text.find('>', i);
    if (end == std::string::npos) return "unterminated tag at " + std::to_string(i);
    std::string tag = text.substr(i + 1, end - i - 1);
    i = end + 1;
    if (tag.empty()) return "empty tag";
    if (tag[0] == '!') continue;  // <!DOCTYPE html>
    const bool closing = tag[0] == '/';
    const bool self_closing = tag.back() == '/';
    std::string name = tag.substr(closing ? 1 : 0);
    name = name.substr(0, name.find_first_of(" \t\n/"));
    if (closing) {
      if (open.empty() || open.back() != name)
        return "</" + name + "> closes <" + (open.empty() ? "nothing" : open.back()) + ">";
      open.pop_back();
    } else if (!self_closing && std::find(kVoid.begin(), kVoid.end(), name) == kVoid.end()) {
      open.push_back(name);
    }
  }
  return open.empty() ? "" : "<" + open.back() + "> never closed";
}

size_t count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t i = text.find(what); i != std::string::npos; i = text.find(what, i + 1)) ++n;
  return n;
}

TEST(ReportModel, NumbersAreTheCostModels) {
  const Program& p = ds_cnn_program();
  const Report& r = ds_cnn_report();
  // The same pricing done here.
  const std::vector<LayerActivity> act =
      measure_activity(p.graph, p.mapping, p.quant, p.chip, p.calibration_set);
  const CostReport c = price(p.graph, p.mapping, p.chip, act);
  EXPECT_EQ(r.cost.energy_pj(), c.energy_pj());
  for (int i = 0; i < kCostComponents; ++i)
    EXPECT_EQ(r.cost.energy.pj[static_cast<size_t>(i)], c.energy.pj[static_cast<size_t>(i)]) << i;
  EXPECT_EQ(r.cost.latency_ns, c.latency_ns);
  EXPECT_EQ(r.cost.inferences_per_s, c.inferences_per_s);
  EXPECT_EQ(r.cost.tops_per_w, c.tops_per_w);
  EXPECT_EQ(r.cost.area.total_um2(), c.area.total_um2());
  EXPECT_EQ(r.average_power_uw, c.average_power_uw(50));
  EXPECT_EQ(r.activity_samples, 2);
  EXPECT_EQ(r.arrays_used, p.mapping.arrays_used);
  EXPECT_EQ(r.arrays_available, p.mapping.arrays_available);

  // Baselines at the chip's node (22 nm) and at 5 nm, and their ratios.
  ASSERT_EQ(r.baselines.size(), 2u);
  const int nodes[] = {22, 5};
  for (size_t k = 0; k < 2; ++k) {
    const DigitalBaseline d =
        price_digital_baseline(p.graph, p.chip, baseline_at(p.chip, nodes[k]), 1);
    EXPECT_EQ(r.baselines[k].digital.technology_nm, nodes[k]);
    EXPECT_EQ(r.baselines[k].digital.energy_pj(), d.energy_pj());
    EXPECT_EQ(r.baselines[k].ratio, c.energy_pj() / d.energy_pj());
    EXPECT_EQ(r.baselines[k].verdict, baseline_verdict(r.baselines[k].ratio, nodes[k]));
  }
}

TEST(ReportModel, LayerRowsAddUpAndRankByEnergy) {
  const Report& r = ds_cnn_report();
  ASSERT_EQ(r.layers.size(), r.cost.layers.size() + r.cost.digital.size());
  // Every joule is in a layer row except the network's, the chip links' and leakage.
  double rows = 0;
  for (const ReportLayer& l : r.layers) {
    EXPECT_NEAR(l.energy.total_pj(), l.energy_pj, 1e-9 * l.energy_pj) << l.node;
    rows += l.energy_pj;
  }
  const EnergyBreakdown& e = r.cost.energy;
  EXPECT_NEAR(
      rows + e[CostComponent::noc] + e[CostComponent::chip_link] + e[CostComponent::leakage],
      r.cost.energy_pj(), 1e-9 * r.cost.energy_pj());
  // Graph order: the first convolution first, the classifier's Gemm after every conv.
  EXPECT_EQ(r.layers.front().node, r.cost.layers.front().node);
  ASSERT_EQ(r.by_energy.size(), r.layers.size());
  for (size_t k = 1; k < r.by_energy.size(); ++k)
    EXPECT_GE(r.layers[static_cast<size_t>(r.by_energy[k - 1])].energy_pj,
              r.layers[static_cast<size_t>(r.by_energy[k])].energy_pj);
}

TEST(ReportModel, FloorplanHoldsEveryArrayOnItsCore) {
  const Program& p = ds_cnn_program();
  const Floorplan& f = ds_cnn_report().floorplan;
  EXPECT_EQ(f.cores, p.chip.cores);
  EXPECT_EQ(f.arrays_per_core(), p.chip.arrays_per_core());
  ASSERT_EQ(static_cast<int64_t>(f.array_layer.size()), p.chip.total_arrays() * f.chips);
  ASSERT_TRUE(f.placed) << "the mapping left LayerMapping::array_cores empty";
  std::map<int, int64_t> per_layer;
  for (size_t slot = 0; slot < f.array_layer.size(); ++slot) {
    const int l = f.array_layer[slot];
    if (l < 0) continue;
    ++per_layer[l];
    // The slot's core is one the mapping put this layer's arrays on.
    const int64_t core = static_cast<int64_t>(slot) / f.arrays_per_core();
    const std::vector<int64_t>& cores = p.mapping.layers[static_cast<size_t>(l)].array_cores;
    EXPECT_NE(std::find(cores.begin(), cores.end(), core), cores.end()) << slot;
  }
  for (size_t i = 0; i < p.mapping.layers.size(); ++i)
    EXPECT_EQ(per_layer[static_cast<int>(i)], p.mapping.layers[i].arrays())
        << p.mapping.layers[i].node;
}

TEST(ReportModel, RateAndAdcModelOptions) {
  const Program& p = ds_cnn_program();
  ReportOptions o;
  o.rate = 0;
  const Report idle = make_report(p, {}, o);
  EXPECT_EQ(idle.average_power_uw, idle.cost.leakage_uw);  // nothing but leakage when idle
  EXPECT_EQ(idle.activity_samples, 0);
  o.rate = 1e12;
  try {
    make_report(p, {}, o);
    FAIL() << "a rate beyond the throughput was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("--rate"), std::string::npos) << e.what();
  }
  o.rate = 50;
  o.adc_model = "walden";
  const Report walden = make_report(p, {}, o);
  EXPECT_EQ(walden.cost.adc.model, "walden");
  EXPECT_DOUBLE_EQ(walden.cost.adc.energy_pj,
                   walden_adc_energy_pj(p.chip.array.adc.bits, p.chip.cost.walden_fom_fj));
  o.adc_model = "no-such-model";
  EXPECT_THROW(make_report(p, {}, o), Error);
}

TEST(ReportModel, VerdictReadsInTheRatiosDirection) {
  EXPECT_EQ(baseline_verdict(3.26, 22),
            "analog uses 3.26x more energy per inference than a digital NPU at 22 nm");
  EXPECT_EQ(baseline_verdict(0.25, 5),
            "analog uses 4x less energy per inference than a digital NPU at 5 nm");
  EXPECT_EQ(baseline_verdict(1.005, 22),
            "analog uses about the same energy per inference as a digital NPU at 22 nm");
  EXPECT_NE(baseline_verdict(0, 22).find("no comparison"), std::string::npos);
}

TEST(ReportJson, CarriesTheSameNumbers) {
  const Report& r = ds_cnn_report();
  const nlohmann::json j = nlohmann::json::parse(report_json(r));
  EXPECT_EQ(j["cost"]["energy_pj"].get<double>(), r.cost.energy_pj());
  EXPECT_EQ(j["cost"]["energy_breakdown_pj"]["adc"].get<double>(),
            r.cost.energy[CostComponent::adc]);
  EXPECT_EQ(j["average_power_uw"].get<double>(), r.average_power_uw);
  ASSERT_EQ(j["cost"]["layers"].size(), r.cost.layers.size());
  EXPECT_EQ(j["cost"]["layers"][0]["events"]["adc_conversions"].get<int64_t>(),
            r.cost.events.layers[0].adc_conversions);
  EXPECT_EQ(j["cost"]["digital"].size(), r.cost.digital.size());
  ASSERT_EQ(j["baselines"].size(), 2u);
  EXPECT_EQ(j["baselines"][1]["technology_nm"], 5);
  EXPECT_EQ(j["baselines"][1]["analog_over_digital"].get<double>(), r.baselines[1].ratio);
  EXPECT_EQ(j["floorplan"]["array_layer"].size(), r.floorplan.array_layer.size());
}

TEST(ReportHtml, EscapeCoversTheFiveCharacters) {
  EXPECT_EQ(html_escape("<a href=\"x\">&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;");
  EXPECT_EQ(html_escape("ds1.dw µ"), "ds1.dw µ");
}

TEST(ReportHtml, HostileNodeNamesAreEscaped) {
  const Program p = hostile_program();
  const std::string html = report_html(make_report(p, p.calibration_set, {}));
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_EQ(html.find("<evil>"), std::string::npos);
  EXPECT_NE(html.find("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"), std::string::npos);
  EXPECT_NE(html.find("&lt;evil&gt;"), std::string::npos);
  EXPECT_EQ(html.find("a\"b&c"), std::string::npos);
  EXPECT_NE(html.find("a&quot;b&amp;c&lt;d&gt;"), std::string::npos);
  EXPECT_EQ(tag_balance_error(html), "");
}

TEST(ReportHtml, SelfContainedAndWellFormed) {
  const std::string html = report_html(ds_cnn_report());
  EXPECT_EQ(tag_balance_error(html), "");
  EXPECT_EQ(html.rfind("<!DOCTYPE html>", 0), 0u);
  // Charts: components, per layer (energy, time, schedule), floorplan, utilisation, area,
  // baseline.
  EXPECT_EQ(count(html, "<svg "), 8u);
  EXPECT_EQ(count(html, "<svg "), count(html, "</svg>"));
  // Nothing fetched: no script, no external resource (the only URL is the SVG namespace).
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_EQ(html.find("url("), std::string::npos);
  EXPECT_EQ(html.find("@import"), std::string::npos);
  EXPECT_EQ(count(html, "http"), count(html, "xmlns=\"http://www.w3.org/2000/svg\""));
  // Every layer is in the floorplan's legend and the table, the verdicts on the page.
  for (const LayerCost& l : ds_cnn_report().cost.layers)
    EXPECT_GE(count(html, ">" + l.node + " ("), 1u) << l.node;
  for (const BaselineComparison& b : ds_cnn_report().baselines)
    EXPECT_NE(html.find(html_escape(b.verdict)), std::string::npos);
  // The tag checker catches what it should.
  EXPECT_NE(tag_balance_error("<svg><g></svg></g>"), "");
  EXPECT_NE(tag_balance_error("<svg><rect>"), "");
}

}  // namespace
}  // namespace acim
