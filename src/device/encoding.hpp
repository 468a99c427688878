// Weight encoding: a float weight matrix W [rows, cols] becomes target conductances on the
// physical columns of an array, plus what the digital side needs to turn column currents back
// into weight units.
//
// The ADC converts "signals": the difference of two physical column currents, I(plus) -
// I(minus) (a differential pair; for offset-column encoding, a weight column minus the shared
// reference column). The digital side recombines signals into logical outputs:
//   y[b][j] = scale[j] * sum over signals s of column j: signal_weight[s] * signal[b][s]
// With ideal cells and inputs the round trip is exact to float precision:
//   W[i][j] = scale[j] * sum_s signal_weight[s] * (G[i][plus[s]] - G[i][minus[s]]).
#pragma once

#include <vector>

#include "acim/device.hpp"

namespace acim {

struct EncodedWeights {
  int rows = 0;                      // logical rows (= physical rows used)
  int cols = 0;                      // logical columns
  int phys_cols = 0;                 // physical columns used
  std::vector<float> g_us;           // target conductances [rows, phys_cols], µS
  std::vector<float> scale;          // per logical column: weight units per µS of signal
  std::vector<int> plus_col;         // per signal: physical column with + sign
  std::vector<int> minus_col;        // per signal: physical column with - sign
  std::vector<float> signal_weight;  // per signal: shift-add weight (2^(bits*slice)) or 1
  std::vector<int> signal_col;       // per signal: logical column it belongs to
  int signals() const { return static_cast<int>(plus_col.size()); }
};

// Distinct weight magnitudes one column can hold (a weight w maps to round(w / max|w| * M)
// steps), or 0 when continuous (an analog cell with differential or offset encoding).
int encoding_magnitude_steps(const ArrayParams& params);

// Encodes W (row-major [rows, cols], finite) for `params` (validated). rows <= params.rows and
// cols <= params.logical_cols() are the caller's to check. `full_scale` (optional, `cols`
// entries, finite, >= 0): the |w| each column maps to its top level instead of the column max
// (or the tensor max without per_column_scale); weights beyond it clip to the top level. An entry
// of 0 keeps the default.
EncodedWeights encode_weights(const float* w, int rows, int cols, const ArrayParams& params,
                              const float* full_scale = nullptr);

// Recombines ADC signals sig [batch, signals] into outputs y [batch, cols] (weight units per
// signal unit, i.e. y = scale * sum weight * sig), then times `gain` in float (global drift
// compensation; not applied when it is 1).
void decode_signals(const EncodedWeights& enc, const float* sig, int batch, float* y,
                    float gain = 1.0f);

// Forms the signals from physical column currents cur [batch, phys_cols] -> sig [batch, signals].
void form_signals(const EncodedWeights& enc, const float* cur, int batch, float* sig);

}  // namespace acim
