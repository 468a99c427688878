// compile_program: the compiler's driver — passes, mapping, quantisation, and the calibration
// inputs the Program keeps. Each step lives in its own file (passes in src/graph, mapping.cpp,
// quantize.cpp); this only strings them together.
#include <algorithm>

#include "acim/error.hpp"
#include "acim/passes.hpp"
#include "acim/program.hpp"
#include "acim/rng.hpp"

namespace acim {

namespace {

// N(0, 1) inputs in the graph's declared shapes (unknown dims = 1), one set per sample.
std::vector<TensorMap> random_inputs(const Graph& g, int samples, uint64_t seed) {
  std::vector<TensorMap> out;
  for (int s = 0; s < samples; ++s) {
    TensorMap m;
    for (size_t k = 0; k < g.inputs.size(); ++k) {
      const ValueInfo& in = g.inputs[k];
      if (in.dtype != DType::f32)
        throw Error(ErrorKind::unsupported, g.source.empty() ? g.name : g.source,
                    "input '" + in.name + "' is " + dtype_name(in.dtype) +
                        "; random calibration inputs are float32 only",
                    "give calibration inputs (acim compile --calibrate FILE.npy)");
      Shape shape = in.shape;
      for (int64_t& d : shape) d = d > 0 ? d : 1;
      Tensor t(DType::f32, shape);
      RandomStream(seed, {0xCA11B, static_cast<uint64_t>(s), k}).normal(t.data<float>(),
                                                                        static_cast<size_t>(t.numel()));
      m[in.name] = std::move(t);
    }
    out.push_back(std::move(m));
  }
  return out;
}

}  // namespace

Program compile_program(Graph imported, const ChipSpec& chip, const CompileOptions& options) {
  validate_chip_spec(chip, chip.name);
  Program p;
  p.model = options.mapping.model.empty() ? (imported.source.empty() ? imported.name : imported.source)
                                          : options.mapping.model;
  p.chip = chip;
  p.options = options.mapping;
  p.options.model = p.model;
  const std::map<std::string, QdqWeight> qdq = find_qdq_weights(imported);
  p.source = std::move(imported);
  p.graph = p.source;
  run_default_passes(p.graph);
  p.mapping = map_graph(p.graph, chip, p.options);

  std::vector<TensorMap> samples = options.calibration_inputs;
  if (samples.empty() && options.random_calibration > 0) {
    samples = random_inputs(p.graph, options.random_calibration, options.seed);
    p.warnings.push_back("no calibration inputs: activation ranges come from " +
                         std::to_string(options.random_calibration) +
                         " random N(0, 1) inputs; give real ones with --calibrate FILE.npy");
  }
  p.quant = quantise(p.graph, p.mapping, chip, samples, options.calibration, qdq);
  const size_t keep = std::min(samples.size(), static_cast<size_t>(std::max(0, options.keep_calibration)));
  p.calibration_set.assign(samples.begin(), samples.begin() + static_cast<std::ptrdiff_t>(keep));
  return p;
}

}  // namespace acim
