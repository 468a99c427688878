// Command-line argument parsing shared by the subcommands (args.hpp).
#include "args.hpp"

#include <cmath>
#include <filesystem>

#include "acim/error.hpp"
#include "acim/npy.hpp"
#include "acim/program.hpp"

namespace acim::cli {

// "1s", "10m", "1h", "1d", "1y" or plain seconds.
double parse_duration(const std::string& option, const std::string& s) {
  if (s.empty())
    throw Error(ErrorKind::invalid, "option '" + option + "'", "is empty", "use e.g. 1s, 1h, 1d, 1y");
  double unit = 1;
  std::string num = s;
  switch (s.back()) {
    case 's':
      unit = 1;
      break;
    case 'm':
      unit = 60;
      break;
    case 'h':
      unit = 3600;
      break;
    case 'd':
      unit = 86400;
      break;
    case 'y':
      unit = 365.0 * 86400;
      break;
    default:
      unit = 0;
  }
  if (unit != 0)
    num = s.substr(0, s.size() - 1);
  else
    unit = 1;
  size_t used = 0;
  double v = 0;
  try {
    v = std::stod(num, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != num.size() || num.empty() || !std::isfinite(v) || v < 0)
    throw Error(ErrorKind::invalid, "option '" + option + "'", "'" + s + "' is not a time",
                "use a number with s, m, h, d or y (e.g. 1h)");
  return v * unit;
}

std::string expected_inputs(const Graph& g) {
  std::string s;
  for (const auto& in : g.inputs)
    s += (s.empty() ? "" : ", ") + in.name + ":" + dtype_name(in.dtype) + shape_str(in.shape);
  return s;
}

TensorMap read_inputs(const Graph& graph, const std::vector<std::string>& specs) {
  TensorMap inputs;
  for (const auto& spec : specs) {
    std::string name, file = spec;
    auto eq = spec.find('=');
    if (eq != std::string::npos) {
      std::string left = spec.substr(0, eq);
      for (const auto& in : graph.inputs)
        if (in.name == left) {
          name = left;
          file = spec.substr(eq + 1);
        }
    }
    if (name.empty()) {
      if (graph.inputs.size() != 1)
        throw Error(ErrorKind::invalid, "--input " + spec,
                    "the model has " + std::to_string(graph.inputs.size()) +
                        " inputs, so each --input must be NAME=FILE.npy",
                    "inputs: " + expected_inputs(graph));
      name = graph.inputs[0].name;
    }
    if (inputs.count(name))
      throw Error(ErrorKind::invalid, "--input " + spec, "input '" + name + "' given twice");
    inputs[name] = load_npy(file);
  }
  for (const auto& in : graph.inputs)
    if (!inputs.count(in.name))
      throw Error(ErrorKind::invalid, "--input",
                  "no file given for model input '" + in.name + "'",
                  "pass --input " + in.name + "=FILE.npy (inputs: " + expected_inputs(graph) + ")");
  return inputs;
}

bool names_program(const std::string& path) {
  return std::filesystem::path(path).extension() == ".acim" || is_program_file(path);
}

}  // namespace acim::cli
