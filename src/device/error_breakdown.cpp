// error_breakdown and drift_error_table: "what costs me accuracy" on one array. Random weights
// (uniform in [-1, 1]) and inputs (uniform in [-1, 1]), drawn from the seed's stream; each
// instance is a fresh chip instance (its own static noise).
#include <cmath>

#include "acim/crossbar.hpp"

namespace acim {

namespace {

// Stream children of the experiment seed.
constexpr uint64_t kWeights = 1, kInputs = 2, kInstances = 3;

Tensor uniform_tensor(const RandomStream& s, int64_t rows, int64_t cols) {
  Tensor t(DType::f32, {rows, cols});
  float* d = t.data<float>();
  s.uniform(d, static_cast<size_t>(t.numel()));
  for (int64_t k = 0; k < t.numel(); ++k) d[k] = 2.0f * d[k] - 1.0f;
  return t;
}

struct Experiment {
  Tensor w, x;
};

Experiment make_experiment(const ArrayParams& p, int batch, uint64_t seed, int instance) {
  RandomStream root(seed, {0xE44});
  Experiment e;
  e.w = uniform_tensor(root.child(kWeights).child(static_cast<uint64_t>(instance)), p.rows,
                       p.logical_cols());
  e.x = uniform_tensor(root.child(kInputs).child(static_cast<uint64_t>(instance)), batch, p.rows);
  return e;
}

void mean_std(const std::vector<double>& v, double& mean, double& sd) {
  mean = 0;
  for (double a : v) mean += a;
  mean /= static_cast<double>(v.size());
  double ss = 0;
  for (double a : v) ss += (a - mean) * (a - mean);
  sd = v.size() > 1 ? std::sqrt(ss / static_cast<double>(v.size() - 1)) : 0.0;
}

void check_counts(int batch, int instances) {
  if (batch < 1)
    throw Error(ErrorKind::invalid, "error breakdown 'batch'",
                "is " + std::to_string(batch) + "; allowed >= 1", "");
  if (instances < 1)
    throw Error(ErrorKind::invalid, "error breakdown 'instances'",
                "is " + std::to_string(instances) + "; allowed >= 1", "");
}

}  // namespace

double relative_error(const Tensor& y, const Tensor& y_ref) {
  ACIM_ASSERT(y.numel() == y_ref.numel(), "relative_error: size mismatch");
  const float* a = y.data<float>();
  const float* b = y_ref.data<float>();
  double num = 0, den = 0;
  for (int64_t k = 0; k < y.numel(); ++k) {
    const double d = static_cast<double>(a[k]) - b[k];
    num += d * d;
    den += static_cast<double>(b[k]) * b[k];
  }
  if (den == 0) return num == 0 ? 0.0 : INFINITY;
  return std::sqrt(num / den);
}

namespace {

// Whether a non-ideality does anything for this cell type and these parameters.
bool applies(const ArrayParams& p, bool NonIdealities::*flag) {
  const CellType t = p.cell.type;
  const bool sram = t == CellType::sram_charge || t == CellType::sram_current;
  if (flag == &NonIdealities::programming) return t != CellType::ideal;
  if (flag == &NonIdealities::read_noise) return t == CellType::pcm || t == CellType::rram || sram;
  if (flag == &NonIdealities::drift) return t == CellType::pcm || t == CellType::flash;
  if (flag == &NonIdealities::faults) return t == CellType::rram;
  if (flag == &NonIdealities::temperature) return t == CellType::flash;
  if (flag == &NonIdealities::ir_drop) return p.ir_drop.wire_r_ohm > 0;
  return true;
}

}  // namespace

// Each source's error is its own contribution: ||y_source - y_none|| / ||y_ref||, with y_none the
// array with every effect off (which still has the weight quantisation to the cell's levels,
// reported as "weight levels"); "all" is ||y_all - y_ref|| / ||y_ref||.
std::vector<ErrorSource> error_breakdown(const ArrayParams& params, int batch, int instances,
                                         uint64_t seed) {
  params.validate();
  check_counts(batch, instances);
  NonIdealities none;
  none.programming = none.drift = none.read_noise = none.faults = false;
  none.dac = none.adc = none.ir_drop = none.temperature = false;
  struct Source {
    const char* name;
    bool NonIdealities::*flag;
  };
  const Source sources[] = {
      {"programming", &NonIdealities::programming},
      {"read noise", &NonIdealities::read_noise},
      {"drift", &NonIdealities::drift},
      {"faults", &NonIdealities::faults},
      {"temperature", &NonIdealities::temperature},
      {"dac", &NonIdealities::dac},
      {"adc", &NonIdealities::adc},
      {"ir drop", &NonIdealities::ir_drop},
  };
  const int n_src = static_cast<int>(std::size(sources));
  // Row k < n_src: source k; n_src: weight levels; n_src + 1: all.
  std::vector<std::vector<double>> errs(static_cast<size_t>(n_src) + 2);
  for (int inst = 0; inst < instances; ++inst) {
    Experiment e = make_experiment(params, batch, seed, inst);
    const RandomStream stream(seed, {kInstances, static_cast<uint64_t>(inst)});
    auto run = [&](const NonIdealities& fx, Tensor* ref) {
      ArrayParams p = params;
      p.effects = fx;
      CrossbarArray a(p, stream);
      a.program(e.w);
      a.calibrate(e.x);
      if (ref != nullptr) *ref = a.mvm_reference(e.x);
      return a.mvm(e.x);
    };
    Tensor ref;
    const Tensor y_none = run(none, &ref);
    errs[static_cast<size_t>(n_src)].push_back(relative_error(y_none, ref));
    for (int k = 0; k < n_src; ++k) {
      if (!(params.effects.*(sources[k].flag)) || !applies(params, sources[k].flag)) continue;
      NonIdealities fx = none;
      fx.*(sources[k].flag) = true;
      const Tensor y = run(fx, nullptr);
      // ||y - y_none|| / ||ref||: relative_error(y, y_none) * ||y_none|| / ||ref||.
      double num = 0, den = 0;
      for (int64_t i = 0; i < y.numel(); ++i) {
        const double d = static_cast<double>(y.data<float>()[i]) - y_none.data<float>()[i];
        num += d * d;
        den += static_cast<double>(ref.data<float>()[i]) * ref.data<float>()[i];
      }
      errs[static_cast<size_t>(k)].push_back(den > 0 ? std::sqrt(num / den) : 0.0);
    }
    errs[static_cast<size_t>(n_src) + 1].push_back(
        relative_error(run(params.effects, nullptr), ref));
  }
  std::vector<ErrorSource> out;
  for (int k = 0; k < n_src + 2; ++k) {
    if (errs[static_cast<size_t>(k)].empty()) continue;
    ErrorSource src;
    src.name = k < n_src ? sources[k].name : (k == n_src ? "weight levels" : "all");
    mean_std(errs[static_cast<size_t>(k)], src.rel_error, src.rel_error_std);
    out.push_back(src);
  }
  return out;
}

std::vector<DriftPoint> drift_error_table(const ArrayParams& params,
                                          const std::vector<double>& times_s, int batch,
                                          int instances, uint64_t seed) {
  params.validate();
  check_counts(batch, instances);
  std::vector<std::vector<double>> unc(times_s.size()), comp(times_s.size());
  for (int inst = 0; inst < instances; ++inst) {
    for (int c = 0; c < 2; ++c) {
      ArrayParams p = params;
      p.drift_compensation = c == 1;
      Experiment e = make_experiment(p, batch, seed, inst);
      // The same instance stream with and without compensation: identical devices.
      CrossbarArray a(p, RandomStream(seed, {kInstances, static_cast<uint64_t>(inst)}));
      a.program(e.w);
      const Tensor ref = a.mvm_reference(e.x);
      for (size_t t = 0; t < times_s.size(); ++t) {
        a.set_time(times_s[t]);
        a.calibrate(e.x);
        (c == 1 ? comp : unc)[t].push_back(relative_error(a.mvm(e.x), ref));
      }
    }
  }
  std::vector<DriftPoint> out(times_s.size());
  for (size_t t = 0; t < times_s.size(); ++t) {
    out[t].time_s = times_s[t];
    mean_std(unc[t], out[t].rel_error_uncompensated, out[t].rel_error_uncompensated_std);
    mean_std(comp[t], out[t].rel_error_compensated, out[t].rel_error_compensated_std);
  }
  return out;
}

}  // namespace acim
