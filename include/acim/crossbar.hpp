// One analog crossbar array doing matrix-vector products the way the silicon does.
//
// Lifecycle (program once, read many):
//   CrossbarArray array(params, RandomStream(seed, {instance, layer, index}));
//   array.program(W);            // W: float32 [rows_used, cols_used], rows_used <= rows,
//                                //    cols_used <= logical_cols(). Draws the static state of
//                                //    this chip instance: programming error, faults, ADC
//                                //    offsets/gains, and the drift / 1/f state at
//                                //    params.time_since_programming_s.
//   array.calibrate(X);          // optional: ADC ranges (calibrated mode) and input range
//   Tensor y = array.mvm(X);     // X: float32 [batch, rows_used] -> [batch, cols_used];
//                                //    per-MVM read noise and ADC noise are fresh each call.
//
// A matrix larger than one array is split by the compiler, not here.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "acim/device.hpp"
#include "acim/rng.hpp"
#include "acim/tensor.hpp"

namespace acim {

class CrossbarArray {
 public:
  // Validates params (throws Error naming the parameter).
  CrossbarArray(ArrayParams params, RandomStream stream);
  ~CrossbarArray();
  CrossbarArray(CrossbarArray&&) noexcept;
  CrossbarArray& operator=(CrossbarArray&&) noexcept;

  const ArrayParams& params() const { return params_; }

  // Maps W to conductances and draws this instance's static state. Throws Error(invalid) on
  // NaN/inf weights or a W that does not fit. `column_full_scale` (optional, one per column of
  // W): the |w| each column maps to its top level, as the compiler's quantisation fixed it
  // (LayerQuant::weight_full_scale), instead of the column's own max |w|; weights beyond it clip.
  // An entry of 0 keeps the column's max |w|.
  void program(const Tensor& weights, const std::vector<float>& column_full_scale = {});

  // The same, keeping no copy of W: `source` gives W again (the same values) whenever the array
  // needs it later (set_time, mvm_reference, the conductance tables). For a caller that holds
  // the weights anyway (a simulated layer cut onto many arrays), so that they are held once.
  using WeightSource = std::function<Tensor()>;
  void program(const Tensor& weights, const std::vector<float>& column_full_scale,
               WeightSource source);

  // Moves the array to another time after programming (redraws the drift and 1/f state for
  // that time, from the same instance stream, and recomputes drift compensation). The array
  // keeps its weights but no conductances beyond what its MVMs read: the programmed state is
  // drawn again from the instance stream, bit for bit as program() drew it.
  void set_time(double seconds_since_programming);

  // Sets the DAC input range from sample inputs (max |x|) and, with AdcRange::calibrated, each
  // column's ADC full scale from the column currents those inputs cause: the largest of them, or
  // |mean| + adc.calibration_sigmas * std over them if larger (headroom for inputs the few
  // samples did not show; see AdcParams). Without calibration
  // the input range is 1.0 and the calibrated ADC range is the column's largest possible current.
  // input_range > 0 sets the DAC range instead of max |x| (the compiler's calibrated range,
  // LayerQuant::input_range); the ADC ranges still come from the samples, quantised to it.
  void calibrate(const Tensor& sample_inputs, double input_range = 0);

  // The analog MVM with every enabled non-ideality. Deterministic for a given stream, call
  // order and input, for any thread count.
  Tensor mvm(const Tensor& inputs);

  // What the x of mvm_rows holds: the inputs (run through the DAC there), or what
  // quantize_inputs made of them: the DAC's output (input units), or the row voltages of an MVM
  // that is one amplitude pass over all rows (only where quantized_form() says). `levels`: the
  // DAC's integer levels, int16 (quantize_levels), for an array whose signal product runs in
  // integers (where quantized_form() says); they take mvm_rows' int16 overload.
  enum class RowInputs { raw, dac_levels, row_voltages, levels };

  // The same MVM in parts, without allocating: next_mvm() takes the next call (the one mvm()
  // would run: its random streams), and mvm_rows() runs `batch` of its input rows, rows
  // first_row .. first_row + batch - 1, from x (float32 [batch, rows_used], row-major) into
  // y (float32 [batch, cols_used]). Every row draws its noise by its row number in the call,
  // so a call run in parts, in any order, gives the numbers mvm() gives for all its rows at
  // once. Throws Error(invalid) on NaN or infinite raw inputs. Quantised inputs (`form`) come
  // from quantize_inputs of this array, or of one with the same DAC (the same ArrayParams and
  // dac_input_range()), checked finite there, and the DAC is not run again.
  uint64_t next_mvm();
  void mvm_rows(uint64_t call, const float* x, int batch, uint64_t first_row, float* y,
                RowInputs form = RowInputs::raw);
  // The same from the DAC's integer levels (quantize_levels; quantized_form() == levels).
  void mvm_rows(uint64_t call, const int16_t* levels, int batch, uint64_t first_row, float* y);

  // The row DAC alone: out = x on the DAC's levels (clipped to the input range; x itself where
  // the DAC effect is off) in `form`. False if some x is NaN or infinite. For a caller that
  // feeds the same input values to several arrays (a convolution's im2col rows repeat every
  // pixel k x k times).
  // `form` is dac_levels or row_voltages.
  bool quantize_inputs(const float* x, size_t n, float* out, RowInputs form) const;
  // The DAC's integer levels of x (quantized_form() == levels); false if some x is NaN or
  // infinite.
  bool quantize_levels(const float* x, size_t n, int16_t* out) const;
  // The form of quantised inputs this array runs fastest from: levels, row voltages, or else
  // the DAC's output (dac_levels, which every array takes).
  RowInputs quantized_form() const;
  float dac_input_range() const;

  // The float product x · W with the weights as given to program() (the ideal reference).
  // With a WeightSource, it calls the source.
  Tensor mvm_reference(const Tensor& inputs) const;

  // The programmed conductances, [rows, cols] in µS, at the current time (after programming
  // error, faults, drift and accumulated 1/f noise) and their targets. Re-derived on each call
  // (from the weights and the instance stream; see set_time).
  Tensor conductances_us() const;
  Tensor target_conductances_us() const;

  int rows_used() const;
  int cols_used() const;
  uint64_t mvm_count() const;

 private:
  struct State;
  // Per signal, over the conversions of calibration: largest |value|, sum and sum of squares;
  // count = conversions per signal.
  struct SignalStats {
    std::vector<double> max_abs, sum, sum_sq;
    int64_t count = 0;
  };
  // The analog passes of one MVM on inputs x [batch, rows_used] (in `form`; raw ones are run
  // through the DAC here; the levels form reads `levels` instead of x) (Error(invalid) if some x is
  // NaN or infinite); sets acc [batch, signals] to the sum of the digitally weighted signals of the
  // passes. ideal_readout: no noise, no ADC (calibration); stats: if set, gathers the statistics of
  // every signal's conversions. first_row: the call's row number of x's first row (the noise draws
  // are by row number). y: if set (an encoding of one signal per column), the last pass's
  // accumulation and the decode run in one sweep into y [batch, cols_used]
  // (decode_accumulate_signals); acc then holds the earlier passes' sum.
  void run_passes(const float* x, const int16_t* levels, RowInputs form, int batch,
                  uint64_t first_row, bool ideal_readout, const RandomStream& mvm_stream,
                  float* acc, SignalStats* stats, float* y = nullptr);
  // mvm_rows of either kind of input.
  void mvm_rows(uint64_t call, const float* x, const int16_t* levels, RowInputs form, int batch,
                uint64_t first_row, float* y);
  // Sets the state the MVMs read (and the drift compensation and default ADC ranges) for time t
  // from the cells' targets and programmed conductances.
  void settle(double t, const std::vector<float>& g_target, const std::vector<float>& g_prog);
  ArrayParams params_;
  RandomStream stream_;
  State* state_ = nullptr;
};

// "What costs me accuracy": the relative error of a random MVM (weights and inputs uniform in
// [-1, 1]) with each non-ideality alone and all together, over a batch and several chip
// instances. A source's error is its own contribution ||y_source - y_none|| / ||y_ref||, where
// y_none is the array with every effect off; "weight levels" is ||y_none - y_ref|| / ||y_ref||
// (quantisation to the cell's levels) and "all" is ||y_all - y_ref|| / ||y_ref||. Sources that
// are switched off in params.effects or do nothing for this cell type are left out.
struct ErrorSource {
  std::string name;      // "programming", "read noise", "drift", "faults", "temperature", "dac",
                         // "adc", "ir drop", "weight levels", "all"
  double rel_error = 0;  // mean over instances
  double rel_error_std = 0;
};
std::vector<ErrorSource> error_breakdown(const ArrayParams& params, int batch, int instances,
                                         uint64_t seed);

// PCM-style drift over time: mean (over instances) relative MVM error at each time after
// programming, with and without global drift compensation. Each instance is programmed once and
// moved through the times with set_time (params.drift_compensation is overridden).
struct DriftPoint {
  double time_s = 0;
  double rel_error_uncompensated = 0, rel_error_uncompensated_std = 0;
  double rel_error_compensated = 0, rel_error_compensated_std = 0;
};
std::vector<DriftPoint> drift_error_table(const ArrayParams& params,
                                          const std::vector<double>& times_s, int batch,
                                          int instances, uint64_t seed);

// ||y - y_ref||_F / ||y_ref||_F (0 when both are zero).
double relative_error(const Tensor& y, const Tensor& y_ref);

}  // namespace acim
