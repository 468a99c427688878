// CrossbarArray: program once (static state per chip instance and time), read many (fresh
// per-MVM noise). See include/acim/crossbar.hpp for the lifecycle and DESIGN.md for the flow.
//
// One MVM, per "pass" (a group of parallel rows, times one input bit plane when bit-serial):
//   1. row voltages v = x_q / x_max * v_read (amplitude) or plane * v_read (bit-serial)
//   2. physical column currents I = v · G_eff (one sgemm; G_eff has the first-order IR drop),
//      or the exact nodal solve per input (IrDropModel::nodal)
//   3. per-cell read noise on the output side: I += sqrt(v^2 · sigma^2) * N(0,1) (one more
//      sgemm with squared operands; exact for independent Gaussian per-cell noise), SRAM
//      column noise, bitline saturation
//   4. signals = I(plus) - I(minus) per differential pair, converted by the column ADC
//   5. digital accumulation of the pass (weight x_max / v_read or plane weight / v_read)
// then digital recombination (slices, scales) and global drift compensation.
#include "acim/crossbar.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <memory>
#include <optional>

#include "device/adc.hpp"
#include "device/cell_models.hpp"
#include "device/dac.hpp"
#include "device/encoding.hpp"
#include "device/ir_drop.hpp"
#include "ops/kernels_blas.hpp"

namespace acim {

namespace {

constexpr const char* kWhere = "crossbar array";
// The exact nodal IR-drop solve is for small arrays (it validates the first-order model).
constexpr int64_t kMaxNodalCells = 128 * 128;

}  // namespace

struct CrossbarArray::State {
  Tensor weights;  // as given to program() [rows_used, cols_used]
  EncodedWeights enc;
  std::vector<float> g_prog;  // [rows_used, phys_cols] after programming error
  std::vector<float> g_t;     // at the current time
  std::vector<float> g_eff;   // g_t with first-order IR drop (or g_t)
  std::vector<float> g_sig;   // per signal: g_eff(plus) - g_eff(minus) [rows_used, signals]
  // Per-MVM read noise variance (µS^2) per signal: sigma^2(plus) + sigma^2(minus), or for a
  // shared minus column (offset encoding) sigma^2(plus) only, the shared column's variance in
  // sigma2_shared [rows_used]. Empty if none.
  std::vector<float> sigma2_sig;
  std::vector<float> sigma2_shared;
  bool shared_minus = false;  // every signal subtracts the same physical column
  double time_s = 0;
  std::optional<DacModel> dac;
  std::optional<AdcModel> adc;
  bool calibrated = false;
  std::vector<float> calibrated_fs;  // per signal, from calibrate()
  double drift_baseline = 0;
  double drift_alpha = 1.0;
  uint64_t mvm_count = 0;

  int rows() const { return enc.rows; }
  int phys() const { return enc.phys_cols; }
};

CrossbarArray::CrossbarArray(ArrayParams params, RandomStream stream)
    : params_(std::move(params)), stream_(stream) {
  params_.validate();
  state_ = new State();
}

CrossbarArray::~CrossbarArray() {
  delete state_;
}

CrossbarArray::CrossbarArray(CrossbarArray&& o) noexcept
    : params_(std::move(o.params_)), stream_(o.stream_), state_(o.state_) {
  o.state_ = nullptr;
}

CrossbarArray& CrossbarArray::operator=(CrossbarArray&& o) noexcept {
  if (this != &o) {
    delete state_;
    params_ = std::move(o.params_);
    stream_ = o.stream_;
    state_ = o.state_;
    o.state_ = nullptr;
  }
  return *this;
}

namespace {

bool ir_drop_on(const ArrayParams& p) {
  return p.effects.ir_drop && p.ir_drop.wire_r_ohm > 0;
}

int rows_per_group(const ArrayParams& p, int rows_used) {
  if (p.parallel_rows <= 0 || p.parallel_rows >= rows_used) return std::max(rows_used, 1);
  return p.parallel_rows;
}

bool bit_serial(const ArrayParams& p) {
  return p.dac.mode == DacMode::bit_serial && p.effects.dac;
}

// Summed |y| of the all-ones input through conductances g (ideal readout): the drift
// compensation reference (aihwkit-style global drift compensation).
double reference_readout(const EncodedWeights& e, const std::vector<float>& g) {
  const int rows = e.rows, phys = e.phys_cols;
  std::vector<double> cur(static_cast<size_t>(phys), 0.0);
  for (int i = 0; i < rows; ++i)
    for (int p = 0; p < phys; ++p) cur[p] += g[static_cast<size_t>(i) * phys + p];
  std::vector<float> curf(cur.begin(), cur.end());
  std::vector<float> sig(static_cast<size_t>(e.signals()));
  std::vector<float> y(static_cast<size_t>(e.cols));
  form_signals(e, curf.data(), 1, sig.data());
  decode_signals(e, sig.data(), 1, y.data());
  double s = 0;
  for (float v : y) s += std::fabs(v);
  return s;
}

void check_finite(const Tensor& t, const std::string& what) {
  for (float v : t.span<float>())
    if (!std::isfinite(v))
      throw Error(ErrorKind::invalid, kWhere, what + " contain NaN or infinity",
                  "pass finite values");
}

}  // namespace

void CrossbarArray::program(const Tensor& weights) {
  ACIM_ASSERT(state_ != nullptr, "use of a moved-from CrossbarArray");
  if (weights.dtype() != DType::f32 || weights.rank() != 2)
    throw Error(ErrorKind::shape, kWhere,
                "weights are " + dtype_name(weights.dtype()) + shape_str(weights.shape()) +
                    "; expected float32 [rows, cols]",
                "pass a 2-D float32 weight matrix");
  const int64_t r = weights.dim(0), c = weights.dim(1);
  if (r < 1 || c < 1 || r > params_.rows || c > params_.logical_cols())
    throw Error(ErrorKind::shape, kWhere,
                "weights " + shape_str(weights.shape()) + " do not fit an array of " +
                    std::to_string(params_.rows) + " rows x " +
                    std::to_string(params_.logical_cols()) + " weight columns",
                "split the matrix into array-sized tiles");
  check_finite(weights, "weights");
  State& s = *state_;
  s.weights = weights.clone();
  s.enc = encode_weights(weights.data<float>(), static_cast<int>(r), static_cast<int>(c), params_);
  s.g_prog = program_cells(params_, s.enc.g_us, s.enc.rows, s.enc.phys_cols, stream_);
  s.dac.emplace(params_.dac, params_.effects.dac);
  s.adc.emplace(params_.adc, s.enc.signals(), params_.effects.adc,
                device_stream(stream_, DeviceStream::adc));
  s.calibrated = false;
  s.mvm_count = 0;
  // Baseline of global drift compensation: the programmed state at t = 0 (no drift, no
  // accumulated 1/f noise, faults included).
  ArrayParams at0 = params_;
  at0.effects.read_noise = false;
  s.drift_baseline = reference_readout(
      s.enc, cells_at_time(at0, s.enc.g_us, s.g_prog, s.rows(), s.phys(), 0.0, stream_));
  set_time(params_.time_since_programming_s);
}

void CrossbarArray::set_time(double t) {
  ACIM_ASSERT(state_ != nullptr, "use of a moved-from CrossbarArray");
  if (!std::isfinite(t) || t < 0)
    throw Error(ErrorKind::invalid, "array parameter 'time_since_programming_s'",
                "is " + std::to_string(t) + "; allowed a finite number >= 0", "use seconds >= 0");
  State& s = *state_;
  if (s.weights.empty())
    throw Error(ErrorKind::invalid, kWhere, "set_time before program()", "program the array first");
  params_.time_since_programming_s = t;
  s.time_s = t;
  s.g_t = cells_at_time(params_, s.enc.g_us, s.g_prog, s.rows(), s.phys(), t, stream_);
  if (ir_drop_on(params_) && params_.ir_drop.model == IrDropModel::first_order) {
    s.g_eff.resize(s.g_t.size());
    ir_drop_effective_conductances(s.g_t.data(), s.rows(), s.phys(), params_.ir_drop.wire_r_ohm,
                                   s.g_eff.data());
  } else {
    s.g_eff = s.g_t;
  }
  if (ir_drop_on(params_) && params_.ir_drop.model == IrDropModel::nodal &&
      static_cast<int64_t>(s.rows()) * s.phys() > kMaxNodalCells)
    throw Error(ErrorKind::limit, "array parameter 'ir_drop.model'",
                "nodal IR drop on " + std::to_string(s.rows()) + " x " + std::to_string(s.phys()) +
                    " cells; allowed up to " + std::to_string(kMaxNodalCells) + " cells",
                "use ir_drop.model = first_order for large arrays");
  // Signal-level matrices: the analog product is linear, so I(plus) - I(minus) = v . g_sig.
  const int ns = s.enc.signals(), phys = s.phys();
  s.shared_minus = params_.encoding.scheme == Encoding::offset_column;
  s.g_sig.resize(static_cast<size_t>(s.rows()) * ns);
  for (int i = 0; i < s.rows(); ++i)
    for (int k = 0; k < ns; ++k) {
      const size_t b = static_cast<size_t>(i) * phys;
      s.g_sig[static_cast<size_t>(i) * ns + k] =
          s.g_eff[b + s.enc.plus_col[k]] - s.g_eff[b + s.enc.minus_col[k]];
    }
  std::vector<float> sigma = read_noise_sigma_us(params_, s.g_t);
  s.sigma2_sig.clear();
  s.sigma2_shared.clear();
  if (!sigma.empty()) {
    s.sigma2_sig.resize(static_cast<size_t>(s.rows()) * ns);
    if (s.shared_minus) s.sigma2_shared.resize(static_cast<size_t>(s.rows()));
    for (int i = 0; i < s.rows(); ++i) {
      const size_t b = static_cast<size_t>(i) * phys;
      for (int k = 0; k < ns; ++k) {
        const float sp = sigma[b + s.enc.plus_col[k]], sm = sigma[b + s.enc.minus_col[k]];
        s.sigma2_sig[static_cast<size_t>(i) * ns + k] = sp * sp + (s.shared_minus ? 0.0f : sm * sm);
      }
      if (s.shared_minus) {
        const float sm = sigma[b + s.enc.minus_col[0]];
        s.sigma2_shared[static_cast<size_t>(i)] = sm * sm;
      }
    }
  }
  s.drift_alpha = 1.0;
  if (params_.drift_compensation) {
    const double now = reference_readout(s.enc, s.g_t);
    if (now > 0 && s.drift_baseline > 0) s.drift_alpha = s.drift_baseline / now;
  }
  // Default ADC range: each signal's largest possible |current| over the row groups.
  std::vector<float> fs(static_cast<size_t>(s.enc.signals()));
  if (params_.adc.range == AdcRange::fixed) {
    std::fill(fs.begin(), fs.end(), static_cast<float>(params_.adc.full_scale_ua));
  } else if (s.calibrated) {
    fs = s.calibrated_fs;
  } else {
    const int group = rows_per_group(params_, s.rows());
    for (int sig = 0; sig < s.enc.signals(); ++sig) {
      const int pc = s.enc.plus_col[sig], mc = s.enc.minus_col[sig];
      double best = 0;
      for (int r0 = 0; r0 < s.rows(); r0 += group) {
        double sum = 0;
        for (int i = r0; i < std::min(r0 + group, s.rows()); ++i) {
          const size_t base = static_cast<size_t>(i) * s.phys();
          sum += std::fabs(static_cast<double>(s.g_t[base + pc]) - s.g_t[base + mc]);
        }
        best = std::max(best, sum);
      }
      if (best <= 0) best = params_.cell.g_max_us;
      fs[sig] = static_cast<float>(best * params_.dac.v_read);
    }
  }
  s.adc->set_full_scale(fs);
}

namespace {

struct Pass {
  int row0 = 0, nrows = 0;
  int plane = -1;       // bit plane, or -1 for an amplitude pass
  double weight = 1.0;  // digital weight of the pass's signals (input units per volt)
};

}  // namespace

// The analog passes of one MVM (or, with `ideal_readout`, the noise-free and ADC-free currents
// used for calibration). Accumulates signals * pass weight into acc [batch, signals].
void CrossbarArray::run_passes(const float* xq, int batch, bool ideal_readout,
                               const RandomStream& mvm_stream, float* acc,
                               std::vector<float>* max_abs_signal) {
  const ArrayParams& p = params_;
  State& s = *state_;
  const int rows = s.rows(), phys = s.phys(), ns = s.enc.signals();
  const int group = rows_per_group(p, rows);
  const double v_read = p.dac.v_read;
  std::vector<Pass> passes;
  for (int r0 = 0; r0 < rows; r0 += group) {
    const int nr = std::min(group, rows - r0);
    if (bit_serial(p)) {
      for (int k = 0; k < s.dac->cycles(); ++k)
        passes.push_back({r0, nr, k, s.dac->plane_weight(k) / v_read});
    } else {
      passes.push_back({r0, nr, -1, s.dac->input_range() / v_read});
    }
  }
  const size_t bsz = static_cast<size_t>(batch);
  std::vector<float> v(bsz * rows), cur, var, var_shared, sig(bsz * ns);
  const bool nodal = ir_drop_on(p) && p.ir_drop.model == IrDropModel::nodal;
  for (size_t pi = 0; pi < passes.size(); ++pi) {
    const Pass& ps = passes[pi];
    const RandomStream noise = mvm_stream.child(pi);
    // 1. Row voltages of the pass's rows.
    for (int b = 0; b < batch; ++b) {
      const float* x = xq + static_cast<size_t>(b) * rows + ps.row0;
      float* vb = v.data() + static_cast<size_t>(b) * ps.nrows;
      if (ps.plane >= 0) {
        s.dac->bit_plane(x, static_cast<size_t>(ps.nrows), ps.plane, vb);
        for (int i = 0; i < ps.nrows; ++i) vb[i] *= static_cast<float>(v_read);
      } else {
        const float k = static_cast<float>(v_read / s.dac->input_range());
        for (int i = 0; i < ps.nrows; ++i) vb[i] = x[i] * k;
      }
    }
    // 2. Signal currents: one sgemm against g_sig, or physical column currents (nodal IR drop,
    //    or a bitline that saturates per column) turned into signals.
    const double sat = ideal_readout ? INFINITY : column_saturation_ua(p, ps.nrows);
    if (nodal || std::isfinite(sat)) {
      cur.resize(bsz * phys);
      if (nodal) {
#pragma omp parallel for schedule(static)
        for (int b = 0; b < batch; ++b) {
          std::vector<float> vfull(static_cast<size_t>(rows), 0.0f);
          std::copy_n(v.data() + static_cast<size_t>(b) * ps.nrows, ps.nrows,
                      vfull.data() + ps.row0);
          std::vector<double> c =
              ir_drop_nodal_currents(s.g_t.data(), rows, phys, p.ir_drop.wire_r_ohm, vfull.data());
          for (int j = 0; j < phys; ++j)
            cur[static_cast<size_t>(b) * phys + j] = static_cast<float>(c[j]);
        }
      } else {
        ops::sgemm_blocked(false, false, batch, phys, ps.nrows, 1.0f, v.data(), ps.nrows,
                           s.g_eff.data() + static_cast<size_t>(ps.row0) * phys, phys, 0.0f,
                           cur.data(), phys, kWhere);
      }
      if (std::isfinite(sat)) {
        const float hi = static_cast<float>(sat);
        for (float& c : cur) c = std::clamp(c, -hi, hi);
      }
      form_signals(s.enc, cur.data(), batch, sig.data());
    } else {
      ops::sgemm_blocked(false, false, batch, ns, ps.nrows, 1.0f, v.data(), ps.nrows,
                         s.g_sig.data() + static_cast<size_t>(ps.row0) * ns, ns, 0.0f, sig.data(),
                         ns, kWhere);
    }
    if (!ideal_readout) {
      // 3. Per-MVM noise on the output side. Independent Gaussian noise on every cell makes
      //    each physical column current Gaussian with variance sum_i v_i^2 sigma_ij^2, so a
      //    signal gets the sum over its two columns (one sgemm of squared operands); a shared
      //    reference column's noise is one draw per input, common to all signals. Column
      //    (SRAM thermal) noise adds col_sigma^2 per physical column.
      const bool cell_noise = !s.sigma2_sig.empty();
      const double col_sigma = column_noise_sigma_ua(p, ps.nrows);
      const float col_var = static_cast<float>(col_sigma * col_sigma);
      if (cell_noise || col_sigma > 0) {
        std::vector<float> v2(v.size());
        for (size_t k = 0; k < v.size(); ++k) v2[k] = v[k] * v[k];
        var.assign(bsz * ns, 0.0f);
        var_shared.assign(bsz, 0.0f);
        if (cell_noise) {
          ops::sgemm_blocked(false, false, batch, ns, ps.nrows, 1.0f, v2.data(), ps.nrows,
                             s.sigma2_sig.data() + static_cast<size_t>(ps.row0) * ns, ns, 0.0f,
                             var.data(), ns, kWhere);
          if (s.shared_minus)
            for (int b = 0; b < batch; ++b) {
              double acc_v = 0;
              for (int i = 0; i < ps.nrows; ++i)
                acc_v += static_cast<double>(v2[static_cast<size_t>(b) * ps.nrows + i]) *
                         s.sigma2_shared[static_cast<size_t>(ps.row0 + i)];
              var_shared[static_cast<size_t>(b)] = static_cast<float>(acc_v);
            }
        }
        const float per_signal_col_var = s.shared_minus ? col_var : 2.0f * col_var;
        const RandomStream sig_stream = noise.child(0), shared_stream = noise.child(1);
#pragma omp parallel for schedule(static)
        for (int b = 0; b < batch; ++b) {
          float* o = sig.data() + static_cast<size_t>(b) * ns;
          const float* vr = var.data() + static_cast<size_t>(b) * ns;
          std::vector<float> z(static_cast<size_t>(ns));
          sig_stream.normal(z.data(), z.size(), static_cast<uint64_t>(b) * ns);
          for (int k = 0; k < ns; ++k)
            o[k] += std::sqrt(std::max(vr[k], 0.0f) + per_signal_col_var) * z[k];
          if (s.shared_minus) {
            const float zs = static_cast<float>(shared_stream.normal_at(static_cast<uint64_t>(b)));
            const float d =
                std::sqrt(std::max(var_shared[static_cast<size_t>(b)], 0.0f) + col_var) * zs;
            for (int k = 0; k < ns; ++k) o[k] -= d;
          }
        }
      }
    }
    // 4. The ADC.
    if (max_abs_signal != nullptr)
      for (size_t k = 0; k < sig.size(); ++k) {
        float& m = (*max_abs_signal)[k % static_cast<size_t>(ns)];
        m = std::max(m, std::fabs(sig[k]));
      }
    if (!ideal_readout) s.adc->convert(sig.data(), batch, noise.child(2));
    // 5. Digital accumulation.
    const float w = static_cast<float>(ps.weight);
    for (size_t k = 0; k < sig.size(); ++k) acc[k] += w * sig[k];
  }
}

namespace {

void check_inputs(const Tensor& x, int rows_used) {
  if (x.dtype() != DType::f32 || x.rank() != 2 || x.dim(1) != rows_used)
    throw Error(ErrorKind::shape, kWhere,
                "inputs are " + dtype_name(x.dtype()) + shape_str(x.shape()) +
                    "; expected float32 [batch, " + std::to_string(rows_used) + "]",
                "pass one row of inputs per batch element");
  check_finite(x, "inputs");
}

}  // namespace

void CrossbarArray::calibrate(const Tensor& sample_inputs) {
  ACIM_ASSERT(state_ != nullptr, "use of a moved-from CrossbarArray");
  State& s = *state_;
  if (s.weights.empty())
    throw Error(ErrorKind::invalid, kWhere, "calibrate before program()",
                "program the array first");
  check_inputs(sample_inputs, s.rows());
  float x_max = 0;
  for (float v : sample_inputs.span<float>()) x_max = std::max(x_max, std::fabs(v));
  s.dac->set_input_range(x_max > 0 ? x_max : 1.0f);
  if (params_.adc.range != AdcRange::calibrated || sample_inputs.dim(0) == 0) return;
  const int batch = static_cast<int>(sample_inputs.dim(0));
  std::vector<float> xq(sample_inputs.span<float>().begin(), sample_inputs.span<float>().end());
  s.dac->quantize(xq.data(), xq.size());
  std::vector<float> acc(static_cast<size_t>(batch) * s.enc.signals(), 0.0f);
  std::vector<float> max_abs(static_cast<size_t>(s.enc.signals()), 0.0f);
  run_passes(xq.data(), batch, true, stream_, acc.data(), &max_abs);
  const std::vector<float> fallback = s.adc->full_scale_ua();
  for (size_t k = 0; k < max_abs.size(); ++k)
    if (!(max_abs[k] > 0)) max_abs[k] = fallback[k];
  s.calibrated_fs = max_abs;
  s.calibrated = true;
  s.adc->set_full_scale(max_abs);
}

Tensor CrossbarArray::mvm(const Tensor& inputs) {
  ACIM_ASSERT(state_ != nullptr, "use of a moved-from CrossbarArray");
  State& s = *state_;
  if (s.weights.empty())
    throw Error(ErrorKind::invalid, kWhere, "mvm before program()", "program the array first");
  check_inputs(inputs, s.rows());
  const int batch = static_cast<int>(inputs.dim(0));
  Tensor y(DType::f32, {batch, s.enc.cols});
  const RandomStream mvm_stream = device_stream(stream_, DeviceStream::mvm).child(s.mvm_count++);
  if (batch == 0) return y;
  std::vector<float> xq(inputs.span<float>().begin(), inputs.span<float>().end());
  s.dac->quantize(xq.data(), xq.size());
  std::vector<float> acc(static_cast<size_t>(batch) * s.enc.signals(), 0.0f);
  run_passes(xq.data(), batch, false, mvm_stream, acc.data(), nullptr);
  float* out = y.data<float>();
  decode_signals(s.enc, acc.data(), batch, out);
  if (s.drift_alpha != 1.0) {
    const float a = static_cast<float>(s.drift_alpha);
    for (int64_t k = 0; k < y.numel(); ++k) out[k] *= a;
  }
  return y;
}

Tensor CrossbarArray::mvm_reference(const Tensor& inputs) const {
  ACIM_ASSERT(state_ != nullptr, "use of a moved-from CrossbarArray");
  const State& s = *state_;
  if (s.weights.empty())
    throw Error(ErrorKind::invalid, kWhere, "mvm_reference before program()",
                "program the array first");
  check_inputs(inputs, s.rows());
  const int batch = static_cast<int>(inputs.dim(0));
  Tensor y(DType::f32, {batch, s.enc.cols});
  ops::sgemm_blocked(false, false, batch, s.enc.cols, s.rows(), 1.0f, inputs.data<float>(),
                     s.rows(), s.weights.data<float>(), s.enc.cols, 0.0f, y.data<float>(),
                     s.enc.cols, kWhere);
  return y;
}

Tensor CrossbarArray::conductances_us() const {
  ACIM_ASSERT(state_ != nullptr, "use of a moved-from CrossbarArray");
  return Tensor::from_vector<float>({state_->rows(), state_->phys()}, state_->g_t);
}

Tensor CrossbarArray::target_conductances_us() const {
  ACIM_ASSERT(state_ != nullptr, "use of a moved-from CrossbarArray");
  return Tensor::from_vector<float>({state_->rows(), state_->phys()}, state_->enc.g_us);
}

int CrossbarArray::rows_used() const {
  return state_ ? state_->enc.rows : 0;
}
int CrossbarArray::cols_used() const {
  return state_ ? state_->enc.cols : 0;
}
uint64_t CrossbarArray::mvm_count() const {
  return state_ ? state_->mvm_count : 0;
}

}  // namespace acim
