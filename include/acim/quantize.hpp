// Quantisation: the numbers a compiled Program fixes before it meets a chip — each analog
// layer's DAC input range (calibrated on sample inputs, or taken from QuantizeLinear /
// DequantizeLinear in a quantised ONNX model) and each weight column's full scale (the weight
// the encoding maps to its top level: max |w| of the column, or qmax * scale from a
// DequantizeLinear that fed the weight).
//
// Input ranges are symmetric: the DAC maps [-input_range, +input_range] onto its signed codes
// and clips beyond. Calibration records, per analog layer and per matrix view
// (LayerMapping::matrices), the inputs the arrays would see on the calibration samples:
//   minmax      input_range = max |x| seen;
//   percentile  input_range = the given percentile of |x| (clips rare outliers, so the
//               common values keep more DAC resolution).
// LSTM/GRU/RNN recurrent matrices (R) read the hidden state, bounded by the output activation
// (tanh, sigmoid...): their range is 1 (source "bounded"). With activations that do not bound it
// (an RNN with Relu) R's range is calibrated like an input, on the hidden states seen.
// Calibration memory is bounded per layer (src/compiler/quantize.cpp: exact up to 65536 values,
// and exact for a high percentile far beyond; a fixed-seed uniform sample otherwise).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "acim/chip.hpp"
#include "acim/executor.hpp"
#include "acim/graph.hpp"
#include "acim/mapping.hpp"

namespace acim {

enum class RangeMethod { minmax, percentile };

struct CalibrationOptions {
  RangeMethod method = RangeMethod::percentile;
  double percentile = 99.99;  // of |x|, in (0, 100]; percentile method only
};

// "minmax" / "percentile:99.9" (or "percentile", default 99.99; "percentile 99.9", the name
// below, reads back too) -> options; Error(invalid) naming the text and listing the choices
// otherwise, and for a percentile outside (0, 100].
CalibrationOptions parse_calibration_method(const std::string& text);
std::string calibration_method_name(const CalibrationOptions& options);  // "percentile 99.99"

// A weight that came out of DequantizeLinear(constant integer tensor, scale, zero point).
struct QdqWeight {
  std::vector<float> scale;  // one per channel along `axis`, or one for the tensor
  int64_t axis = 1;
  int bits = 8;              // of the integer type (int8/uint8: 8, int16: 16, ...)
  bool is_signed = true;
};

// DequantizeLinear nodes with a constant integer input, by their output value name. Call on the
// graph as imported, before run_default_passes folds them into float constants (the folded
// constant keeps the output's name). One with a non-zero zero point is left out (QdqWeight has
// none to hold it): its weights get the encoding's own full scale.
std::map<std::string, QdqWeight> find_qdq_weights(const Graph& imported);

struct LayerQuant {
  std::string node;
  // Per matrix view of the layer (LayerMapping::matrices order).
  std::vector<double> input_range;         // DAC full scale; 0 = not calibrated
  std::vector<double> input_min, input_max;  // seen on the calibration samples (R: hidden states)
  std::vector<std::string> input_source;   // "minmax", "percentile 99.99", "qdq", "bounded", "none"
  // Weights: per output column of each matrix view, view after view, `count` copies of a view
  // one after another (group / direction order): the |w| the encoding maps to its top level
  // (max |w| of the column, or of the copy's whole matrix without per_column_scale; qmax * scale
  // for QDQ weights; 1 for an all-zero column, as the encoding does).
  std::vector<float> weight_full_scale;
  int weight_bits = 0;  // the encoding's signed resolution (0 = continuous analog levels)
  std::string weight_source;  // "qdq" when every view's weights came from QDQ, else "encoding"
  double weight_sqnr_db = 0;  // signal-to-quantisation-noise of the layer's weights at weight_bits
                              // (no noise, i.e. continuous levels, reported as 0)
};

struct Quantisation {
  CalibrationOptions options;
  int64_t samples = 0;            // calibration samples run
  std::vector<LayerQuant> layers;  // one per Mapping::layers entry, same order
  // The quantisation of the analog layer of node `node`, or nullptr.
  const LayerQuant* layer(const std::string& node) const {
    for (const LayerQuant& q : layers)
      if (q.node == node) return &q;
    return nullptr;
  }
};

// Weight quantisation and activation calibration for every analog layer of `mapping`: runs the
// reference executor over `samples` (each a full set of graph inputs), watching each analog
// layer's inputs. `qdq` from find_qdq_weights; layers fed by a DequantizeLinear node (activation
// QDQ) take that node's range instead of calibration. With no samples, ranges stay 0 (source
// "none") unless QDQ gives them.
Quantisation quantise(const Graph& graph, const Mapping& mapping, const ChipSpec& chip,
                      const std::vector<TensorMap>& samples, const CalibrationOptions& options,
                      const std::map<std::string, QdqWeight>& qdq = {});

}  // namespace acim
