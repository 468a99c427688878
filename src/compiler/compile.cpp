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

// Rows of the constant table an integer input indexes (Gather(table, input) along `axis`): token
// ids of an embedding. 0 when the input is not such an index.
int64_t index_range(const Graph& g, const std::string& input) {
  int64_t range = 0;
  for (const Node& n : g.nodes) {
    if (n.op_type != "Gather" || n.inputs.size() < 2 || n.inputs[1] != input) continue;
    const Tensor* table = g.initializer(n.inputs[0]);
    if (table == nullptr || table->rank() < 1) return 0;
    int64_t axis = n.attr_int("axis", 0);
    if (axis < 0) axis += table->rank();
    if (axis < 0 || axis >= table->rank()) return 0;
    const int64_t rows = table->dim(static_cast<int>(axis));
    range = range == 0 ? rows : std::min(range, rows);
  }
  return range;
}

// Random inputs in the graph's declared shapes (unknown dims = 1), one set per sample: float
// inputs N(0, 1); integer inputs that index a constant table (token ids) uniform over its rows.
std::vector<TensorMap> random_inputs(const Graph& g, int samples, uint64_t seed) {
  std::vector<TensorMap> out;
  for (int s = 0; s < samples; ++s) {
    TensorMap m;
    for (size_t k = 0; k < g.inputs.size(); ++k) {
      const ValueInfo& in = g.inputs[k];
      Shape shape = in.shape;
      for (int64_t& d : shape) d = d > 0 ? d : 1;
      const RandomStream stream(seed, {0xCA11B, static_cast<uint64_t>(s), k});
      const int64_t range = in.dtype == DType::i64 || in.dtype == DType::i32 ? index_range(g, in.name) : 0;
      Tensor t(in.dtype, shape);
      if (in.dtype == DType::f32) {
        stream.normal(t.data<float>(), static_cast<size_t>(t.numel()));
      } else if (range > 0) {
        for (int64_t i = 0; i < t.numel(); ++i) {
          const auto v = static_cast<int64_t>(stream.uniform_at(static_cast<uint64_t>(i)) * static_cast<double>(range));
          if (in.dtype == DType::i64)
            t.data<int64_t>()[i] = std::min(v, range - 1);
          else
            t.data<int32_t>()[i] = static_cast<int32_t>(std::min(v, range - 1));
        }
      } else {
        throw Error(ErrorKind::unsupported, g.source.empty() ? g.name : g.source,
                    "input '" + in.name + "' is " + dtype_name(in.dtype) +
                        "; random calibration inputs are made for float32 inputs and for integer "
                        "indices into a constant table (token ids) only",
                    "give calibration inputs (acim compile --calibrate FILE.npy)");
      }
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
                         " random inputs; give real ones with --calibrate FILE.npy");
  }
  p.quant = quantise(p.graph, p.mapping, chip, samples, options.calibration, qdq);
  // Kept for the chip's ADC calibration: inputs evenly spaced over the set, not its first ones
  // (a set stored class by class would otherwise calibrate every ADC on one class).
  const size_t n = samples.size();
  const size_t keep = std::min(n, static_cast<size_t>(std::max(0, options.keep_calibration)));
  p.calibration_set.clear();
  for (size_t i = 0; i < keep; ++i) p.calibration_set.push_back(samples[i * n / keep]);
  return p;
}

}  // namespace acim
