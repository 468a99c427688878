// SweepRunner: one point = compile (or reuse) -> evaluate on K chip instances -> price.
#include <cstring>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <optional>

#include "acim/cost.hpp"
#include "acim/error.hpp"
#include "acim/eval.hpp"
#include "acim/npy.hpp"
#include "acim/onnx.hpp"
#include "acim/program.hpp"
#include "acim/sim.hpp"
#include "acim/sweep.hpp"

namespace acim {

namespace {

// The chip spec with every key the compiler (passes, mapping, quantisation) does not read set to
// the defaults: two chips with the same key compile to the same mapping and quantisation. The
// cost model reads the keys cleared here, so a reused Program gets the point's full chip.
std::string compile_key(ChipSpec chip) {
  const ChipSpec d;
  chip.name = d.name;
  chip.description = d.description;
  chip.technology_nm = d.technology_nm;
  chip.clock_mhz = d.clock_mhz;
  chip.supply_v = d.supply_v;
  chip.leakage_uw = d.leakage_uw;
  chip.chip_link = d.chip_link;
  chip.noc.link_width_bits = d.noc.link_width_bits;
  chip.noc.hop_energy_pj_per_bit = d.noc.hop_energy_pj_per_bit;
  chip.noc.hop_latency_ns = d.noc.hop_latency_ns;
  chip.energy = d.energy;
  chip.time = d.time;
  chip.area = d.area;
  chip.cost = d.cost;
  return to_toml(chip);
}

// The calibration file's samples: [N, ...] is N samples when the model's input has a batch
// dimension (declared 1 or unknown), else one sample.
std::vector<TensorMap> read_calibration(const Graph& g, const std::string& file) {
  if (file.empty()) return {};
  if (g.inputs.size() != 1)
    throw Error(ErrorKind::unsupported, file,
                "sweep calibration takes one .npy file; the model has " +
                    std::to_string(g.inputs.size()) + " inputs",
                "leave sweep.calibrate out (random calibration inputs)");
  const ValueInfo& in = g.inputs[0];
  const Tensor t = load_npy(file);
  const bool batch = in.shape_known && !in.shape.empty() &&
                     (in.shape[0] == 1 || in.shape[0] == kUnknownDim) && t.rank() >= 1 &&
                     t.dim(0) > 1;
  if (!batch) return {TensorMap{{in.name, t}}};
  std::vector<TensorMap> out;
  for (int64_t i = 0; i < t.dim(0); ++i) out.push_back(TensorMap{{in.name, t.rows(i, i + 1)}});
  return out;
}

// Samples the output error is measured on: a few are enough for a relative RMS error, and keep
// the extra chip runs small next to the accuracy's.
constexpr int64_t kOutputErrorSamples = 16;

// Relative RMS error of `y` against the reference `ref`: ||y - ref|| / ||ref||.
double relative_rms_error(const Tensor& y, const Tensor& ref) {
  ACIM_ASSERT(y.numel() == ref.numel() && y.dtype() == DType::f32 && ref.dtype() == DType::f32,
              "output error: chip and float outputs differ in shape");
  double num = 0, den = 0;
  for (int64_t i = 0; i < y.numel(); ++i) {
    const double d = static_cast<double>(y.data<float>()[i]) - ref.data<float>()[i];
    num += d * d;
    den += static_cast<double>(ref.data<float>()[i]) * ref.data<float>()[i];
  }
  return den > 0 ? std::sqrt(num / den) : 0.0;
}

}  // namespace

struct SweepRunner::State {
  SweepSpec spec;
  Graph imported;
  LabelledSet data;
  std::vector<TensorMap> calibration;
  // The float model's outputs on the first samples (for output_error) and its accuracy on
  // `data`: chip-independent, computed once.
  TensorMap error_inputs;
  Tensor error_reference;
  std::optional<double> float_accuracy;
  Program program;  // the last compiled one
  std::string program_key;
  bool have_program = false;
  int64_t compiles = 0;
};

SweepRunner::SweepRunner(const SweepSpec& spec) : state_(std::make_unique<State>()) {
  State& s = *state_;
  s.spec = spec;
  s.imported = load_onnx(spec.model);
  // The classes: the first output's last dim, as `acim eval` takes them.
  int64_t classes = 0;
  if (!s.imported.outputs.empty()) {
    const ValueInfo& out = s.imported.outputs[0];
    if (out.shape_known && !out.shape.empty() && out.shape.back() > 0) classes = out.shape.back();
  }
  s.data = load_labelled_set(spec.data, s.imported, classes);
  if (spec.samples > 0 && spec.samples < s.data.size()) {
    // Evenly spaced samples (i * size / samples), not the first ones: data sets are often
    // written class by class, and a prefix would hold only the first classes.
    const int64_t n = s.data.size(), per = s.data.inputs.numel() / n;
    const size_t bytes = static_cast<size_t>(per) * dtype_size(s.data.inputs.dtype());
    Shape shape = s.data.inputs.shape();
    shape[0] = spec.samples;
    Tensor picked(s.data.inputs.dtype(), shape);
    std::vector<int64_t> labels;
    for (int64_t i = 0; i < spec.samples; ++i) {
      const int64_t k = i * n / spec.samples;
      std::memcpy(static_cast<char*>(picked.raw()) + static_cast<size_t>(i) * bytes,
                  static_cast<const char*>(s.data.inputs.raw()) + static_cast<size_t>(k) * bytes,
                  bytes);
      labels.push_back(s.data.labels[static_cast<size_t>(k)]);
    }
    s.data.inputs = picked;
    s.data.labels = labels;
  }
  s.calibration = read_calibration(s.imported, spec.calibrate);
}

SweepRunner::~SweepRunner() = default;

int64_t SweepRunner::compiles() const {
  return state_->compiles;
}

PointResult SweepRunner::run(int64_t index) {
  State& s = *state_;
  const auto t0 = std::chrono::steady_clock::now();
  PointResult r;
  r.point = index;
  const ChipSpec chip = point_chip(s.spec, index);
  try {
    const std::string key = compile_key(chip);
    if (!s.have_program || key != s.program_key) {
      s.have_program = false;
      CompileOptions co;
      co.mapping.model = s.spec.model;
      if (s.spec.chips == "auto")
        co.mapping.chips_auto = true;
      else if (!s.spec.chips.empty())
        co.mapping.chips = std::stoi(s.spec.chips);
      co.calibration_inputs = s.calibration;
      co.seed = s.spec.seed;
      s.program = compile_program(s.imported, chip, co);
      s.program_key = key;
      s.have_program = true;
      ++s.compiles;
    }
    Program& p = s.program;
    p.chip = chip;
    p.mapping.chip_name = chip.name;

    const auto wants = [&](const char* m) {
      return std::find(s.spec.metrics.begin(), s.spec.metrics.end(), m) != s.spec.metrics.end();
    };
    const auto add = [&](const char* m, double v, int instance = -1) {
      if (wants(m) && std::isfinite(v)) r.metrics.push_back({instance, m, v});
    };
    if (wants("accuracy") || wants("float_accuracy")) {
      EvalOptions eo;
      eo.instances = s.spec.instances;
      eo.seed = s.spec.seed;
      eo.time_since_programming_s = s.spec.drift_time_s;
      eo.float_accuracy = s.float_accuracy;
      const EvalResult e = evaluate(p, s.data, eo);
      s.float_accuracy = e.float_accuracy;
      for (size_t i = 0; i < e.chip_accuracy.size(); ++i)
        add("accuracy", e.chip_accuracy[i], static_cast<int>(i));
      add("float_accuracy", e.float_accuracy);
    }
    if (wants("output_error")) {
      const std::string out = p.graph.outputs.at(0).name;
      if (s.error_inputs.empty()) {
        const ValueInfo& in = p.graph.inputs.at(0);
        const bool fixed = in.shape_known && !in.shape.empty() && in.shape[0] > 0;
        const int64_t n = std::min(s.data.size(), fixed ? in.shape[0] : kOutputErrorSamples);
        s.error_inputs = {{in.name, s.data.inputs.rows(0, n)}};
        s.error_reference = Executor(p.graph).run(s.error_inputs).at(out);
      }
      for (int i = 0; i < s.spec.instances; ++i) {
        SimOptions so;
        so.seed = s.spec.seed;
        so.instance = i;
        so.time_since_programming_s = s.spec.drift_time_s;
        ChipInstance instance(p, so);
        add("output_error",
            relative_rms_error(instance.run(s.error_inputs).at(out), s.error_reference), i);
      }
    }
    const CostReport c = price(p, measure_activity(p, p.calibration_set));
    add("energy_pj", c.energy_pj());
    add("latency_ns", c.latency_ns);
    add("interval_ns", c.interval_ns);
    add("area_mm2", c.area.total_um2() * 1e-6);
    const double rate = s.spec.rate > 0 ? s.spec.rate : c.inferences_per_s;
    if (rate <= c.inferences_per_s) add("power_uw", c.average_power_uw(rate));
    if (wants("npu_power_uw")) {
      // The 8-bit digital NPU at the chip's node, holding the same weights, at the same rate.
      const DigitalBaseline npu = price_digital_baseline(
          p.graph, p.chip, baseline_at(p.chip, p.chip.technology_nm), p.mapping.chips);
      add("npu_power_uw", npu.average_power_uw(rate));
    }
    add("tops_per_w", c.tops_per_w);
    add("arrays_used", static_cast<double>(p.mapping.arrays_used));
    add("chips", static_cast<double>(p.mapping.chips));
  } catch (const Error& e) {
    s.have_program = false;
    r.ok = false;
    r.error = e.what();
    r.metrics.clear();
  }
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

}  // namespace acim
