// Fused activations (Node::fused, set by the fuse-activations pass) applied in place to a float32
// buffer, so a producer (Conv, Gemm, the executor for others) can apply them while its output is
// still in cache. The formulas are those of src/ops/activation.cpp, elementwise and exact per
// element, so where they run does not change the result.
#pragma once

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "ops/op.hpp"

namespace acim::ops {

struct ActStep {
  enum Kind { clamp, leaky_relu, sigmoid, tanh, hard_sigmoid, hard_swish };
  Kind kind = clamp;
  float a = 0.0f, b = 0.0f;  // clamp: [a, b]; leaky_relu: alpha; hard_sigmoid: alpha, beta
};

struct FusedActs {
  std::vector<ActStep> steps;
  bool empty() const { return steps.empty(); }
  // True if the activations are one clamp (Relu, Clip): kernels do it in registers.
  bool single_clamp() const { return steps.size() == 1 && steps[0].kind == ActStep::clamp; }
};

// Turns node.fused into steps. False if any fused node is not one of Relu, LeakyRelu, Clip
// (bounds as float attributes "min"/"max"), Sigmoid, Tanh, HardSigmoid, HardSwish with one input;
// the caller then runs the activation ops themselves (run_fused_ops).
inline bool parse_fused(const Node& node, FusedActs& out) {
  out.steps.clear();
  for (const Node& f : node.fused) {
    if (f.inputs.size() > 1) return false;
    ActStep s;
    if (f.op_type == "Relu") {
      s.kind = ActStep::clamp;
      s.a = 0.0f;
      s.b = std::numeric_limits<float>::infinity();
    } else if (f.op_type == "Clip") {
      s.kind = ActStep::clamp;
      s.a = f.attr_float("min", std::numeric_limits<float>::lowest());
      s.b = f.attr_float("max", std::numeric_limits<float>::max());
    } else if (f.op_type == "LeakyRelu") {
      s.kind = ActStep::leaky_relu;
      s.a = f.attr_float("alpha", 0.01f);
    } else if (f.op_type == "Sigmoid") {
      s.kind = ActStep::sigmoid;
    } else if (f.op_type == "Tanh") {
      s.kind = ActStep::tanh;
    } else if (f.op_type == "HardSigmoid") {
      s.kind = ActStep::hard_sigmoid;
      s.a = f.attr_float("alpha", 0.2f);
      s.b = f.attr_float("beta", 0.5f);
    } else if (f.op_type == "HardSwish") {
      s.kind = ActStep::hard_swish;
    } else {
      return false;
    }
    out.steps.push_back(s);
  }
  return true;
}

// p[i] = min(max(p[i], lo), hi) for i < n, as np.clip: max then min, NaN stays NaN
// (activation.cpp; an AVX-512 clone where the CPU has it).
void clamp_floats(float* p, int64_t n, float lo, float hi);

// One step over p[0, n).
inline void apply_act_step(const ActStep& s, float* p, int64_t n) {
  switch (s.kind) {
    case ActStep::clamp:
      clamp_floats(p, n, s.a, s.b);
      return;
    case ActStep::leaky_relu:
      for (int64_t i = 0; i < n; ++i) p[i] = p[i] < 0.0f ? s.a * p[i] : p[i];
      return;
    case ActStep::sigmoid:
      for (int64_t i = 0; i < n; ++i) {
        const float v = p[i];
        if (v >= 0.0f) {
          p[i] = 1.0f / (1.0f + std::exp(-v));
        } else {
          const float e = std::exp(v);
          p[i] = e / (1.0f + e);
        }
      }
      return;
    case ActStep::tanh:
      for (int64_t i = 0; i < n; ++i) p[i] = std::tanh(p[i]);
      return;
    case ActStep::hard_sigmoid:
      for (int64_t i = 0; i < n; ++i)
        p[i] = std::min(1.0f, std::max(0.0f, s.a * p[i] + s.b));
      return;
    case ActStep::hard_swish:
      for (int64_t i = 0; i < n; ++i) {
        const float v = p[i];
        p[i] = v * std::min(1.0f, std::max(0.0f, v / 6.0f + 0.5f));
      }
      return;
  }
}

inline void apply_acts(const FusedActs& acts, float* p, int64_t n) {
  for (const ActStep& s : acts.steps) apply_act_step(s, p, n);
}

// The fallback: runs each fused activation's own op on `t` (any dtype, any activation).
inline void run_fused_ops(const Node& node, Tensor& t) {
  for (const Node& f : node.fused) {
    const OpDef* op = find_op(f.op_type);
    ACIM_ASSERT(op != nullptr, "fused op type without a kernel");
    RunContext fctx{f, {}, {&t}, std::vector<Tensor>(1)};
    op->run(fctx);
    t = std::move(fctx.outputs[0]);
  }
}

}  // namespace acim::ops
