// The recurrent layers (RNN, GRU, LSTM) with their two matrix products supplied by the caller:
// the analog simulator runs X·Wᵀ and H·Rᵀ on crossbar arrays and everything else — biases, gate
// arithmetic, directions, sequence_lens, clip, activations, layouts — exactly as the reference op
// (src/ops/rnn.cpp), so the two share one implementation of the ONNX semantics.
#pragma once

#include <cstdint>

#include "ops/op.hpp"

namespace acim::ops {

class RnnMatmuls {
 public:
  virtual ~RnnMatmuls() = default;
  // out[r, 0 .. G) = x[r, 0 .. I) · W[dir]ᵀ for the rows r < rows of X as stored (either
  // layout), G = gates * hidden, I = input size; no bias.
  virtual void input(int64_t dir, const float* x, int64_t rows, float* out) = 0;
  // out[b * ld + j] = sum_q h[b * hidden + q] * R[dir][col0 + j, q] for b < m, j < n: the
  // recurrent product of step `step` (0, 1, ... in processing order) for batch rows b0 .. b0 + m.
  virtual void recurrent(int64_t dir, int64_t step, int64_t b0, int64_t m, const float* h,
                         int64_t col0, int64_t n, float* out, int64_t ld) = 0;
};

// Runs ctx.node (RNN, GRU or LSTM) as the op does, with the matrix products from `mm`, called on
// this thread only, direction by direction and step by step.
void run_rnn_with(RunContext& ctx, RnnMatmuls& mm);

}  // namespace acim::ops
