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
    throw Error(ErrorKind::invalid, "error breakdown 'batch'", "is " + std::to_string(batch) + "; allowed >= 1", "");
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
      {"programming", &NonIdealities::programming}, {"read noise", &NonIdealities::read_noise},
      {"drift", &NonIdealities::drift},             {"faults", &NonIdealities::faults},
      {"temperature", &NonIdealities::temperature}, {"dac", &NonIdealities::dac},
      {"adc", &NonIdealities::adc},                 {"ir drop", &NonIdealities::ir_drop},
  };
  std::vector<ErrorSource> out;
  for (int k = 0; k <= static_cast<int>(std::size(sources)); ++k) {
    ArrayParams p = params;
    ErrorSource src;
    if (k < static_cast<int>(std::size(sources))) {
      if (!(params.effects.*(sources[k].flag))) continue;  // switched off by the user
      p.effects = none;
      p.effects.*(sources[k].flag) = true;
      src.name = sources[k].name;
    } else {
      src.name = "all";
    }
    std::vector<double> errs;
    for (int inst = 0; inst < instances; ++inst) {
      Experiment e = make_experiment(p, batch, seed, inst);
      CrossbarArray a(p, RandomStream(seed, {kInstances, static_cast<uint64_t>(inst)}));
      a.program(e.w);
      a.calibrate(e.x);
      errs.push_back(relative_error(a.mvm(e.x), a.mvm_reference(e.x)));
    }
    mean_std(errs, src.rel_error, src.rel_error_std);
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
