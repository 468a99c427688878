// Command-line argument parsing shared by the subcommands: durations and model inputs.
#pragma once

#include <string>
#include <vector>

#include "acim/executor.hpp"
#include "acim/graph.hpp"

namespace acim::cli {

// "1s", "10m", "1h", "1d", "1y" or plain seconds; `option` names the flag in errors.
double parse_duration(const std::string& option, const std::string& text);

// The graph's inputs from "--input" specs: NAME=FILE.npy, or FILE.npy for a one-input model.
// Every graph input must be given exactly once; errors name the spec and list the inputs.
TensorMap read_inputs(const Graph& graph, const std::vector<std::string>& specs);

// True for a compiled program: a file that starts with the Program magic, or any path ending in
// .acim (so a missing or damaged program is reported as such by load_program).
bool names_program(const std::string& path);

// "input:float32[1,49,10], ..." — the graph's inputs for messages.
std::string expected_inputs(const Graph& graph);

}  // namespace acim::cli
