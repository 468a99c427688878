// Accuracy of a compiled Program on a labelled data set: the float reference and K Monte-Carlo
// chip instances (each its own draw of programming errors, faults, ADC offsets...), at a chosen
// time after programming.
//
// A data set is a folder of .npy pairs: every STEM_x.npy (inputs, samples along dim 0) with its
// STEM_y.npy (integer class labels, one per sample: shape [N] or [N, 1]); shards are read in
// name order and concatenated. The model must have one input, whose dim 0 is the batch, and its
// first output's last dim holds the class scores (the prediction is the argmax).
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "acim/program.hpp"

namespace acim {

struct LabelledSet {
  Tensor inputs;                // [N, ...] float32
  std::vector<int64_t> labels;  // N
  std::vector<std::string> files;  // the STEM_x.npy files read, in order
  int64_t size() const { return static_cast<int64_t>(labels.size()); }
};

// Reads DIR/*_x.npy + *_y.npy. Errors (naming the file): no pairs, an _x without its _y (or the
// reverse), label count != sample count, non-integer labels, shards whose sample shapes differ,
// sample shape not matching the graph's input (where declared), labels outside the model's
// classes (num_classes > 0).
LabelledSet load_labelled_set(const std::filesystem::path& dir, const Graph& graph,
                              int64_t num_classes = 0);

struct EvalOptions {
  int instances = 1;
  uint64_t seed = 1;
  double time_since_programming_s = -1;  // < 0: the chip spec's
  bool ideal = false;                    // SimOptions::ideal
  int64_t batch = 64;                    // samples per run (when the model's batch dim is free)
  // The float reference's accuracy on this data when already known (a sweep's earlier point:
  // it depends on the model and the data, not the chip): its run is skipped.
  std::optional<double> float_accuracy;
  // Called after each batch: samples done and total over all runs (float, unless known, and
  // instances).
  std::function<void(int64_t done, int64_t total)> progress;
};

struct EvalResult {
  int64_t samples = 0;
  double float_accuracy = 0;           // the reference executor
  std::vector<double> chip_accuracy;   // per instance
  double mean = 0, std = 0;            // over instances (std: sample std, 0 for one instance)
  double time_s = 0;                   // wall time of the chip runs
};

EvalResult evaluate(const Program& program, const LabelledSet& data, const EvalOptions& options);

}  // namespace acim
