// Graph passes and the one linear compile pipeline that runs them (read it top to bottom in
// src/graph/passes.cpp). After any pass the graph can be dumped as text or Graphviz.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "acim/graph.hpp"

namespace acim {

// Each pass rewrites the graph in place and returns true if it changed anything.
bool eliminate_identity(Graph& graph);      // Identity and inference-mode Dropout removed
bool fold_constants(Graph& graph);          // nodes whose inputs are all constant -> initializers
bool fuse_gelu(Graph& graph);               // the erf pattern 0.5*x*(1+erf(x/sqrt 2)) -> Gelu
bool fold_batchnorm(Graph& graph);          // BatchNormalization folded into preceding Conv/Gemm
bool fuse_activations(Graph& graph);        // Relu/Clip/... after Conv/Gemm/MatMul/Add -> marker
bool eliminate_dead_code(Graph& graph);     // nodes and initializers no output depends on

struct PassOptions {
  // Names of passes after which to call `dump` (or "all").
  std::vector<std::string> dump_after;
  std::function<void(const std::string& pass, const Graph& graph)> dump;
};

// The names of the default pipeline's passes, in order: infer-shapes, eliminate-identity,
// fold-constants, fuse-gelu, fold-batchnorm, fuse-activations, eliminate-dead-code,
// final-infer-shapes.
std::vector<std::string> default_pass_names();

// Runs the default pipeline (validate_graph first, then the passes above, in order); after each
// pass named in options.dump_after (or after every pass for "all") calls options.dump. An
// unknown name in dump_after is an Error(invalid) listing the valid names.
void run_default_passes(Graph& graph, const PassOptions& options = {});

}  // namespace acim
