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
  Encoding scheme = Encoding::differential;
  int bits_per_cell = 0;             // bit_sliced: bits per slice
  int slices = 1;                    // signals per logical column (bit_sliced: slices, else 1)
  std::vector<float> g_us;           // target conductances [rows, phys_cols], µS
  std::vector<float> scale;          // per logical column: weight units per µS of signal
  // Signal s belongs to logical column s / slices (slice s % slices) and is the difference of
  // physical columns plus_col(s) - minus_col(s): the pair 2s, 2s + 1 (differential, bit-sliced),
  // or column s minus the shared reference column `cols` (offset column). Derived from the
  // scheme rather than stored per signal.
  int signals() const { return cols * slices; }
  int plus_col(int s) const { return scheme == Encoding::offset_column ? s : 2 * s; }
  int minus_col(int s) const { return scheme == Encoding::offset_column ? cols : 2 * s + 1; }
  int signal_col(int s) const { return s / slices; }
  // Shift-add weight of signal s: 2^(bits_per_cell * slice) when bit-sliced, else 1.
  float signal_weight(int s) const;
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
// compensation; not applied when it is 1), and + 0 in float: an output is never -0 (so that a
// caller may take y as 0 + y, the first of several partial sums, without another pass).
void decode_signals(const EncodedWeights& enc, const float* sig, int batch, float* y,
                    float gain = 1.0f);

// decode_signals of the signals' sum after one more pass, acc + w * sig (or 0 + w * sig where acc
// is null: the first pass), in one sweep, with the bits of accumulating (a float multiply, then
// a float add) and then decoding. Only for one signal per column (slices == 1).
void decode_accumulate_signals(const EncodedWeights& enc, const float* sig, float w,
                               const float* acc, int batch, float* y, float gain = 1.0f);

// Forms the signals from physical column currents cur [batch, phys_cols] -> sig [batch, signals].
void form_signals(const EncodedWeights& enc, const float* cur, int batch, float* sig);

}  // namespace acim
