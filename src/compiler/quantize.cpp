// SKELETON (being written): see include/acim/quantize.hpp.
#include "acim/quantize.hpp"

#include "acim/error.hpp"

namespace acim {

CalibrationOptions parse_calibration_method(const std::string& text) {
  CalibrationOptions o;
  if (text == "minmax") o.method = RangeMethod::minmax;
  return o;
}

std::string calibration_method_name(const CalibrationOptions& options) {
  return options.method == RangeMethod::minmax ? "minmax" : "percentile";
}

std::map<std::string, QdqWeight> find_qdq_weights(const Graph&) {
  return {};
}

Quantisation quantise(const Graph&, const Mapping& mapping, const ChipSpec&,
                      const std::vector<TensorMap>& samples, const CalibrationOptions& options,
                      const std::map<std::string, QdqWeight>&) {
  Quantisation q;
  q.options = options;
  q.samples = static_cast<int64_t>(samples.size());
  for (const LayerMapping& l : mapping.layers) {
    LayerQuant lq;
    lq.node = l.node;
    q.layers.push_back(lq);
  }
  return q;
}

}  // namespace acim
