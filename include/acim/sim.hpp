// Functional simulation of a compiled Program on one chip instance: every analog layer runs
// through the crossbar arrays the mapping gave it — the same split into row blocks (partial sums
// added digitally), column blocks, block-diagonal packs of groups, and replicas (MVM p goes to
// copy p mod replication) — with the chip's non-idealities; everything else runs on the
// reference executor (the digital units, exact in float32).
//
//   ChipInstance chip(program, {.seed = 7, .instance = 0});  // programs and calibrates
//   TensorMap y = chip.run({{"input", x}});
//
// Random streams: array a of layer l in instance i draws from RandomStream(seed, {i, l, a}), so
// results do not depend on thread count or on which other layers exist. a counts the layer's
// arrays copy-major in the mapping's order (LayerMapping::array_cores).
//
// Calibration at construction: each matrix view's DAC range is program.quant's input_range (0 or
// absent: the largest |x| its arrays saw), each column's weight full scale program.quant's
// weight_full_scale (absent: the column's max |w|), and each array's ADC ranges come from up to
// 256 of the inputs it saw while program.calibration_set ran through the graph.
// Recurrent layers share the reference op's gate arithmetic (src/ops/rnn.hpp): every ONNX
// attribute it supports works here too; only X·Wᵀ and H·Rᵀ run on the arrays.
#pragma once

#include <cstdint>
#include <memory>

#include "acim/executor.hpp"
#include "acim/program.hpp"

namespace acim {

struct SimOptions {
  uint64_t seed = 0;
  int64_t instance = 0;
  // Every non-ideality off, exact continuous cells, no DAC/ADC quantisation: what is left is the
  // mapping itself (im2col, tiling, partial sums, packing, replicas), which must reproduce the
  // reference executor to float rounding. The cut keeps the chip's tile sizes (the ideal array,
  // differential, is made wide enough for them); program.quant's weight full scales are not
  // applied (no clipping).
  bool ideal = false;
  double time_since_programming_s = -1;  // < 0: the chip spec's array.time_since_programming_s
  // Hold every node's float results in the digital units' fixed-point words
  // (core.digital.vector_bits; see src/sim/chip_instance.cpp). Off: float32, so the arrays'
  // error can be seen alone. Ideal runs never round.
  bool digital_precision = true;
  // Keep the analog layers' weights (one copy, shared with the Program's graph): set_time()
  // draws the arrays' programmed state from them again. Off, each layer's weights go once its
  // arrays are programmed and calibrated, and set_time() throws: for an instance used at one
  // time (`acim run`), whose arrays and weights are then never all in memory together.
  bool keep_weights = true;
};

class ChipInstance {
 public:
  // Programs every array of every analog layer (all replicas) and calibrates the DAC ranges from
  // program.quant and the ADC ranges from program.calibration_set. Error(invalid) naming the node
  // when the program's mapping or quantisation does not match its graph (the cut of a layer into
  // arrays must give LayerMapping::tiles). The arrays keep no copy of the weights: they read the
  // Program's (shared; a copied Program shares its tensors with the caller's). A Program moved
  // in with keep_weights off has each weight that only the arrays read freed once its arrays are
  // programmed.
  ChipInstance(Program program, const SimOptions& options);
  ~ChipInstance();
  ChipInstance(ChipInstance&&) noexcept;
  ChipInstance& operator=(ChipInstance&&) noexcept;

  // Runs the graph on this instance. Inputs as Executor::run.
  TensorMap run(const TensorMap& inputs);

  // Moves every array to another time after programming (drift). Error(invalid) for an
  // instance made with keep_weights off.
  void set_time(double seconds_since_programming);

  int64_t arrays() const;  // crossbar arrays programmed (replicas included)

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace acim
