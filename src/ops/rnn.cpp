// Recurrent layers: RNN, GRU and LSTM with the full ONNX inference semantics (directions,
// optional bias, sequence_lens, initial states, peepholes, layout, activations, clip,
// input_forget, linear_before_reset).
//
// For each direction the input projection of the whole sequence, X·Wᵀ + biases, is one GEMM;
// each time step then does one GEMM of the previous hidden state with Rᵀ (two for GRU without
// linear_before_reset) and an elementwise pass over the gates. With AVX-512 these are acim's
// GEMM (kernels_gemm.hpp) on Wᵀ and Rᵀ laid out once per Executor (prepare_rnn), LSTM gates
// with sigmoid / tanh use the vectorised functions of kernels_vmath.hpp, and blocks of batch
// rows run the whole sequence on separate threads (rows never mix); without it, cblas_sgemm
// and scalar gates. Gate order in W, R and B is the ONNX one: RNN i; GRU z, r, h; LSTM i, o,
// f, c (peepholes P: i, o, f).
//
// The analog simulator (src/sim) runs the same recurrence with the two matrix products on
// crossbar arrays: run_rnn_with (ops/rnn.hpp) takes them from an RnnMatmuls instead.
#include "ops/rnn.hpp"

#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <limits>
#include <memory>

#include "core/scratch.hpp"
#include "ops/kernels_gemm.hpp"
#include "ops/kernels_vmath.hpp"
#include "ops/util.hpp"

namespace acim::ops {

namespace {

enum class RnnKind { rnn, gru, lstm };

RnnKind rnn_kind(const std::string& op_type) {
  if (op_type == "LSTM") return RnnKind::lstm;
  if (op_type == "GRU") return RnnKind::gru;
  ACIM_ASSERT(op_type == "RNN", "rnn_kind: unknown op");
  return RnnKind::rnn;
}

int64_t num_gates(RnnKind k) {
  return k == RnnKind::lstm ? 4 : k == RnnKind::gru ? 3 : 1;
}
size_t num_activations(RnnKind k) {
  return k == RnnKind::lstm ? 3 : k == RnnKind::gru ? 2 : 1;
}

enum class ActFn {
  relu,
  tanh,
  sigmoid,
  affine,
  leaky_relu,
  thresholded_relu,
  scaled_tanh,
  hard_sigmoid,
  elu,
  softsign,
  softplus
};

struct Activation {
  ActFn fn = ActFn::sigmoid;
  float alpha = 0.0f;
  float beta = 0.0f;
};

inline float activate(const Activation& a, float x) {
  switch (a.fn) {
    case ActFn::relu:
      return x > 0.0f ? x : 0.0f;
    case ActFn::tanh:
      return std::tanh(x);
    case ActFn::sigmoid:
      return 1.0f / (1.0f + std::exp(-x));
    case ActFn::affine:
      return a.alpha * x + a.beta;
    case ActFn::leaky_relu:
      return x >= 0.0f ? x : a.alpha * x;
    case ActFn::thresholded_relu:
      return x > a.alpha ? x : 0.0f;
    case ActFn::scaled_tanh:
      return a.alpha * std::tanh(a.beta * x);
    case ActFn::hard_sigmoid:
      return std::max(0.0f, std::min(1.0f, a.alpha * x + a.beta));
    case ActFn::elu:
      return x >= 0.0f ? x : a.alpha * (std::exp(x) - 1.0f);
    case ActFn::softsign:
      return x / (1.0f + std::fabs(x));
    case ActFn::softplus:
      return std::log1p(std::exp(x));
  }
  return x;
}

struct RnnAttrs {
  RnnKind kind = RnnKind::lstm;
  int64_t num_dir = 1;
  bool reverse = false;      // single direction, processed last to first
  int64_t hidden = -1;       // hidden_size attribute, -1 when absent
  bool batch_first = false;  // layout = 1
  bool has_clip = false;
  float clip = 0.0f;
  bool input_forget = false;
  bool linear_before_reset = false;
  std::vector<Activation> acts;  // num_activations(kind) per direction
};

RnnAttrs parse_attrs(const Node& node, const std::string& where) {
  RnnAttrs a;
  a.kind = rnn_kind(node.op_type);
  std::string dir = node.attr_string("direction", "forward");
  if (dir == "bidirectional")
    a.num_dir = 2;
  else if (dir == "reverse")
    a.reverse = true;
  else if (dir != "forward")
    throw Error(ErrorKind::invalid, where, "direction '" + dir + "' is not valid",
                "use forward, reverse or bidirectional");
  a.hidden = node.attr_int("hidden_size", -1);
  int64_t layout = node.attr_int("layout", 0);
  if (layout != 0 && layout != 1)
    throw Error(ErrorKind::invalid, where, "layout " + std::to_string(layout) + " is not valid",
                "use layout 0 (sequence first) or 1 (batch first)");
  a.batch_first = layout == 1;
  if (node.has_attr("clip")) {
    a.has_clip = true;
    a.clip = node.attr_float("clip", 0.0f);
    if (!(a.clip > 0.0f))
      throw Error(ErrorKind::invalid, where, "clip " + std::to_string(a.clip) + " is not positive");
  }
  a.input_forget = a.kind == RnnKind::lstm && node.attr_int("input_forget", 0) != 0;
  a.linear_before_reset = a.kind == RnnKind::gru && node.attr_int("linear_before_reset", 0) != 0;

  const size_t per_dir = num_activations(a.kind);
  std::vector<std::string> names;
  auto it = node.attrs.find("activations");
  if (it != node.attrs.end()) {
    if (const auto* v = std::get_if<std::vector<std::string>>(&it->second.value))
      names = *v;
    else if (const auto* s = std::get_if<std::string>(&it->second.value))
      names = {*s};
    else
      throw Error(ErrorKind::invalid, where, "attribute 'activations' is not a list of strings");
  }
  if (names.empty()) {
    if (a.kind == RnnKind::rnn)
      names = {"Tanh"};
    else if (a.kind == RnnKind::gru)
      names = {"Sigmoid", "Tanh"};
    else
      names = {"Sigmoid", "Tanh", "Tanh"};
  }
  if (names.size() == per_dir && a.num_dir == 2) {
    std::vector<std::string> twice = names;
    twice.insert(twice.end(), names.begin(), names.end());
    names = twice;
  }
  if (names.size() != per_dir * static_cast<size_t>(a.num_dir))
    throw Error(ErrorKind::invalid, where,
                "has " + std::to_string(names.size()) + " activations; expected " +
                    std::to_string(per_dir * static_cast<size_t>(a.num_dir)),
                "give " + std::to_string(per_dir) + " activations per direction");
  std::vector<float> alphas = node.attr_floats("activation_alpha");
  std::vector<float> betas = node.attr_floats("activation_beta");
  size_t ai = 0, bi = 0;
  // Name (lower case), function, and default alpha / beta (NaN: the function takes none).
  struct ActSpec {
    const char* name;
    ActFn fn;
    float alpha, beta;
  };
  constexpr float kNone = std::numeric_limits<float>::quiet_NaN();
  static const ActSpec kSpecs[] = {
      {"relu", ActFn::relu, kNone, kNone},
      {"tanh", ActFn::tanh, kNone, kNone},
      {"sigmoid", ActFn::sigmoid, kNone, kNone},
      {"affine", ActFn::affine, 1.0f, 0.0f},
      {"leakyrelu", ActFn::leaky_relu, 0.01f, kNone},
      {"thresholdedrelu", ActFn::thresholded_relu, 1.0f, kNone},
      {"scaledtanh", ActFn::scaled_tanh, 1.0f, 1.0f},
      {"hardsigmoid", ActFn::hard_sigmoid, 0.2f, 0.5f},
      {"elu", ActFn::elu, 1.0f, kNone},
      {"softsign", ActFn::softsign, kNone, kNone},
      {"softplus", ActFn::softplus, kNone, kNone},
  };
  for (const auto& name : names) {
    std::string n;
    for (char ch : name) n += static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    const ActSpec* spec = nullptr;
    for (const auto& sp : kSpecs)
      if (n == sp.name) spec = &sp;
    if (!spec)
      throw Error(ErrorKind::unsupported, where, "activation '" + name + "' is not supported",
                  "use Sigmoid, Tanh, Relu, HardSigmoid, Affine, LeakyRelu, ThresholdedRelu, "
                  "ScaledTanh, Elu, Softsign or Softplus");
    // Functions with parameters take the next activation_alpha / activation_beta in order.
    Activation act;
    act.fn = spec->fn;
    bool uses_alpha = !std::isnan(spec->alpha), uses_beta = !std::isnan(spec->beta);
    float da = uses_alpha ? spec->alpha : 0.0f, db = uses_beta ? spec->beta : 0.0f;
    act.alpha = uses_alpha && ai < alphas.size() ? alphas[ai++] : da;
    act.beta = uses_beta && bi < betas.size() ? betas[bi++] : db;
    a.acts.push_back(act);
  }
  return a;
}

// Throws Error(shape) unless `got` has the rank of `want` and equal dims where both are known.
void expect_shape(const std::string& where, const std::string& what, const Shape& got,
                  const Shape& want) {
  bool ok = got.size() == want.size();
  for (size_t i = 0; ok && i < got.size(); ++i) ok = got[i] < 0 || want[i] < 0 || got[i] == want[i];
  if (!ok)
    throw Error(ErrorKind::shape, where,
                what + " has shape " + shape_str(got) + "; expected " + shape_str(want));
}

// Sizes of one node, from its inputs' shapes (unknown dims as kUnknownDim).
struct RnnDims {
  int64_t seq = kUnknownDim, batch = kUnknownDim, input = kUnknownDim, hidden = kUnknownDim;
};

// Checks every present input's shape; `shapes[i]` is nullptr for omitted inputs.
RnnDims check_inputs(const RnnAttrs& a, const std::string& where,
                     const std::vector<const Shape*>& shapes) {
  const Shape& x = *shapes[0];
  const Shape& w = *shapes[1];
  const Shape& r = *shapes[2];
  if (x.size() != 3)
    throw Error(ErrorKind::shape, where,
                "X has shape " + shape_str(x) + "; expected rank 3 " +
                    (a.batch_first ? "[batch, seq, input]" : "[seq, batch, input]"));
  if (w.size() != 3)
    throw Error(ErrorKind::shape, where, "W has shape " + shape_str(w) + "; expected rank 3");
  if (r.size() != 3)
    throw Error(ErrorKind::shape, where, "R has shape " + shape_str(r) + "; expected rank 3");
  const int64_t g = num_gates(a.kind);
  RnnDims d;
  d.seq = a.batch_first ? x[1] : x[0];
  d.batch = a.batch_first ? x[0] : x[1];
  d.input = x[2];
  d.hidden = a.hidden >= 0 ? a.hidden : r[2] >= 0 ? r[2] : w[1] >= 0 ? w[1] / g : kUnknownDim;
  if (a.hidden == 0 || a.hidden < -1 || d.hidden == 0)
    throw Error(ErrorKind::invalid, where,
                "hidden_size " + std::to_string(d.hidden) + " is not positive");
  const int64_t gh = d.hidden >= 0 ? g * d.hidden : kUnknownDim;
  expect_shape(where, "W", w, {a.num_dir, gh, d.input});
  expect_shape(where, "R", r, {a.num_dir, gh, d.hidden});
  if (shapes.size() > 3 && shapes[3])
    expect_shape(where, "B", *shapes[3], {a.num_dir, gh >= 0 ? 2 * gh : kUnknownDim});
  if (shapes.size() > 4 && shapes[4]) expect_shape(where, "sequence_lens", *shapes[4], {d.batch});
  Shape state =
      a.batch_first ? Shape{d.batch, a.num_dir, d.hidden} : Shape{a.num_dir, d.batch, d.hidden};
  if (shapes.size() > 5 && shapes[5]) expect_shape(where, "initial_h", *shapes[5], state);
  if (shapes.size() > 6 && shapes[6]) expect_shape(where, "initial_c", *shapes[6], state);
  if (shapes.size() > 7 && shapes[7])
    expect_shape(where, "P", *shapes[7], {a.num_dir, d.hidden >= 0 ? 3 * d.hidden : kUnknownDim});
  return d;
}

void infer_rnn(InferContext& ctx) {
  RnnAttrs a = parse_attrs(ctx.node, ctx.where);
  for (size_t i = 0; i < 3; ++i) {
    const ValueInfo& v = ctx.in(i);
    require_f32(ctx, i, v.dtype);
  }
  for (size_t i = 3; i < ctx.inputs.size(); ++i) {
    if (!ctx.has(i)) continue;
    if (i == 4) {
      if (!dtype_is_integer(ctx.in(i).dtype))
        ctx.fail(ErrorKind::shape,
                 "sequence_lens is " + dtype_name(ctx.in(i).dtype) + "; expected int32");
    } else {
      require_f32(ctx, i, ctx.in(i).dtype);
    }
  }
  const size_t max_out = a.kind == RnnKind::lstm ? 3 : 2;
  if (ctx.outputs.size() > max_out)
    ctx.fail(ErrorKind::invalid, "has " + std::to_string(ctx.outputs.size()) + " outputs; " +
                                     ctx.node.op_type + " has at most " + std::to_string(max_out));
  if (!ctx.in(0).shape_known || !ctx.in(1).shape_known || !ctx.in(2).shape_known) {
    for (size_t o = 0; o < ctx.outputs.size(); ++o) ctx.set_output_unknown_shape(o, DType::f32);
    return;
  }
  // Optional inputs of unknown shape are not checked here; the kernel checks them.
  std::vector<const Shape*> shapes;
  for (size_t i = 0; i < ctx.inputs.size(); ++i)
    shapes.push_back(ctx.has(i) && ctx.in(i).shape_known ? &ctx.in(i).shape : nullptr);
  RnnDims d = check_inputs(a, ctx.where, shapes);
  Shape y = a.batch_first ? Shape{d.batch, d.seq, a.num_dir, d.hidden}
                          : Shape{d.seq, a.num_dir, d.batch, d.hidden};
  Shape state =
      a.batch_first ? Shape{d.batch, a.num_dir, d.hidden} : Shape{a.num_dir, d.batch, d.hidden};
  for (size_t o = 0; o < ctx.outputs.size(); ++o) ctx.set_output(o, DType::f32, o == 0 ? y : state);
}

int64_t rnn_macs(const CostContext& ctx) {
  if (ctx.inputs.size() < 3 || !ctx.inputs[0] || !ctx.inputs[1] || !ctx.inputs[2]) return 0;
  const Shape& x = ctx.inputs[0]->shape;
  const Shape& w = ctx.inputs[1]->shape;
  const Shape& r = ctx.inputs[2]->shape;
  if (x.size() != 3 || w.size() != 3 || r.size() != 3) return 0;
  if (!shape_is_known(x) || !shape_is_known(w) || !shape_is_known(r)) return 0;
  // Per time step, batch element and direction: the gates' input and recurrent matmuls.
  int64_t per_step = w[1] * w[2] + r[1] * r[2];
  return x[0] * x[1] * w[0] * per_step;
}

// Clipped activation of a gate's pre-activation.
inline float gate(const Activation& act, float v, const RnnAttrs& a) {
  if (a.has_clip) v = std::max(-a.clip, std::min(a.clip, v));
  return activate(act, v);
}

// True if the activation has a vectorised array form (kernels_vmath.hpp).
inline bool vector_act(const Activation& f) {
  return f.fn == ActFn::sigmoid || f.fn == ActFn::tanh;
}

// p[i] = f(clip(p[i])) for a sigmoid or tanh f.
inline void act_array(const Activation& f, float* p, int64_t n, const RnnAttrs& a) {
  if (a.has_clip)
    for (int64_t i = 0; i < n; ++i) p[i] = std::max(-a.clip, std::min(a.clip, p[i]));
  if (f.fn == ActFn::sigmoid)
    sigmoid_array(p, n);
  else
    tanh_array(p, n);
}

// One LSTM cell for one batch row with sigmoid / tanh activations, as passes over arrays:
// gates (i, o, f, c) = xg + rec (+ peepholes), then C and H in place. `tmp` holds 2 * 4 * hid.
void lstm_cell(const float* xg, const float* rec, const float* peep, const RnnAttrs& a,
               const Activation* act, int64_t hid, float* tmp, float* cst, float* hst) {
  float* gi = tmp;
  float* go = tmp + hid;
  float* gf = tmp + 2 * hid;
  float* gc = tmp + 3 * hid;
  float* ct = tmp + 4 * hid;
  for (int64_t j = 0; j < 4 * hid; ++j) tmp[j] = xg[j] + rec[j];
  if (peep)
    for (int64_t j = 0; j < hid; ++j) {
      gi[j] += peep[j] * cst[j];
      gf[j] += peep[2 * hid + j] * cst[j];
    }
  act_array(act[0], gi, hid, a);
  if (a.input_forget)
    for (int64_t j = 0; j < hid; ++j) gf[j] = 1.0f - gi[j];
  else
    act_array(act[0], gf, hid, a);
  act_array(act[1], gc, hid, a);
  for (int64_t j = 0; j < hid; ++j) {
    cst[j] = gf[j] * cst[j] + gi[j] * gc[j];
    ct[j] = cst[j];
  }
  if (peep)
    for (int64_t j = 0; j < hid; ++j) go[j] += peep[hid + j] * cst[j];
  act_array(act[0], go, hid, a);
  if (act[2].fn == ActFn::sigmoid)
    sigmoid_array(ct, hid);
  else
    tanh_array(ct, hid);
  for (int64_t j = 0; j < hid; ++j) hst[j] = go[j] * ct[j];
}

// The weights re-laid out for acim's GEMM once per Executor: per direction Wᵀ [input, gates]
// and Rᵀ [hidden, gates], so the input projection and every recurrent step read B row-major.
struct RnnPrepared {
  int64_t nd = 0, gh = 0, hid = 0, in = 0;
  std::vector<float> wt, rt;
};

std::shared_ptr<const void> prepare_rnn(const Node&, const std::vector<const Tensor*>& inputs) {
  if (!fast_gemm_available() || inputs.size() < 3 || !inputs[1] || !inputs[2]) return nullptr;
  const Tensor& w = *inputs[1];
  const Tensor& r = *inputs[2];
  if (w.dtype() != DType::f32 || r.dtype() != DType::f32 || w.rank() != 3 || r.rank() != 3)
    return nullptr;  // the kernel reports it
  auto p = std::make_shared<RnnPrepared>();
  p->nd = w.shape()[0];
  p->gh = w.shape()[1];
  p->in = w.shape()[2];
  p->hid = r.shape()[2];
  if (r.shape()[0] != p->nd || r.shape()[1] != p->gh) return nullptr;
  p->wt.resize(static_cast<size_t>(p->nd * p->gh * p->in));
  p->rt.resize(static_cast<size_t>(p->nd * p->gh * p->hid));
  const float* wd = w.data<float>();
  const float* rd = r.data<float>();
  for (int64_t d = 0; d < p->nd; ++d)
    for (int64_t j = 0; j < p->gh; ++j) {
      for (int64_t q = 0; q < p->in; ++q)
        p->wt[static_cast<size_t>((d * p->in + q) * p->gh + j)] = wd[(d * p->gh + j) * p->in + q];
      for (int64_t q = 0; q < p->hid; ++q)
        p->rt[static_cast<size_t>((d * p->hid + q) * p->gh + j)] =
            rd[(d * p->gh + j) * p->hid + q];
    }
  return p;
}

// The op, with the products X·Wᵀ and H·Rᵀ from `mm` when it is set (then on the calling thread
// only, in step order), else from the GEMM kernels.
// Per-thread scratch of run_rnn_impl (core/scratch.hpp).
struct RnnScratch {
  std::vector<float> xproj, rec, cell, rh;
};

RnnScratch& rnn_scratch() {
  static thread_local RnnScratch scratch;
  return scratch;
}

void run_rnn_impl(RunContext& ctx, RnnMatmuls* mm) {
  RnnAttrs a = parse_attrs(ctx.node, ctx.where);
  for (size_t i = 0; i < 3; ++i) ctx.in(i);  // required; throws naming the node when absent
  const size_t max_in = a.kind == RnnKind::lstm ? 8 : 6;
  std::vector<const Shape*> shapes;
  for (size_t i = 0; i < std::min(ctx.inputs.size(), max_in); ++i) {
    if (!ctx.has(i)) {
      shapes.push_back(nullptr);
      continue;
    }
    DType expected = i == 4 ? ctx.inputs[i]->dtype() : DType::f32;
    if (i == 4 && !dtype_is_integer(expected))
      ctx.fail(ErrorKind::shape, "sequence_lens is " + dtype_name(expected) + "; expected int32");
    if (ctx.inputs[i]->dtype() != expected)
      ctx.fail(ErrorKind::unsupported, "input " + std::to_string(i) + " is " +
                                           dtype_name(ctx.inputs[i]->dtype()) +
                                           "; this op runs in float32 only");
    shapes.push_back(&ctx.inputs[i]->shape());
  }
  RnnDims d = check_inputs(a, ctx.where, shapes);
  const int64_t seq = d.seq, batch = d.batch, in_size = d.input, hid = d.hidden;
  const int64_t g = num_gates(a.kind), gh = g * hid, nd = a.num_dir;
  const size_t nacts = num_activations(a.kind);

  std::vector<int64_t> lens(static_cast<size_t>(batch), seq);
  if (shapes.size() > 4 && shapes[4]) {
    lens = ctx.inputs[4]->to_int64s();
    for (int64_t l : lens)
      if (l < 0 || l > seq)
        ctx.fail(ErrorKind::invalid, "sequence_lens contains " + std::to_string(l) +
                                         "; each length must be in [0, " + std::to_string(seq) +
                                         "]");
  }
  auto opt = [&](size_t i) -> const float* {
    return i < shapes.size() && shapes[i] ? ctx.inputs[i]->data<float>() : nullptr;
  };
  const float* x = ctx.inputs[0]->data<float>();
  const float* w = ctx.inputs[1]->data<float>();
  const float* r = ctx.inputs[2]->data<float>();
  const float* bias = opt(3);
  const float* init_h = opt(5);
  const float* init_c = a.kind == RnnKind::lstm ? opt(6) : nullptr;
  const float* peep = a.kind == RnnKind::lstm ? opt(7) : nullptr;

  auto want = [&](size_t o) { return o < ctx.node.outputs.size() && !ctx.node.outputs[o].empty(); };
  Shape y_shape = a.batch_first ? Shape{batch, seq, nd, hid} : Shape{seq, nd, batch, hid};
  Shape s_shape = a.batch_first ? Shape{batch, nd, hid} : Shape{nd, batch, hid};
  Tensor y = want(0) ? Tensor(DType::f32, y_shape) : Tensor();
  Tensor y_h(DType::f32, s_shape);
  Tensor y_c = a.kind == RnnKind::lstm ? Tensor(DType::f32, s_shape) : Tensor();
  float* yp = want(0) ? y.data<float>() : nullptr;

  // Offsets into X rows, Y and the [num_dir, batch, hidden] states for either layout.
  auto x_row = [&](int64_t t, int64_t b) { return a.batch_first ? b * seq + t : t * batch + b; };
  auto y_off = [&](int64_t t, int64_t dir, int64_t b) {
    return (a.batch_first ? ((b * seq + t) * nd + dir) : ((t * nd + dir) * batch + b)) * hid;
  };
  auto s_off = [&](int64_t dir, int64_t b) {
    return (a.batch_first ? (b * nd + dir) : (dir * batch + b)) * hid;
  };

  const size_t rows = static_cast<size_t>(seq * batch);
  const bool fast = fast_gemm_available();
  // The large scratch buffers are the thread's, kept between calls (every element is written
  // before it is read): allocated per call, the input projection (13 MB for the benchmark's LSTM
  // at batch 256) came back from the OS as fresh pages, 3,300 page faults and 5 ms a call until
  // glibc's mmap threshold had adapted (2026-11-27).
  RnnScratch& scratch = rnn_scratch();
  float* const xproj = grown(scratch.xproj, rows * static_cast<size_t>(gh));
  float* const rec = grown(scratch.rec, static_cast<size_t>(batch * gh));
  float* const cell = grown(scratch.cell, static_cast<size_t>(batch * 2 * gh));  // LSTM
  float* const rh = grown(scratch.rh, static_cast<size_t>(batch * hid));  // GRU: r ⊙ H(t-1)
  std::vector<float> h(static_cast<size_t>(batch * hid)), c(static_cast<size_t>(batch * hid));
  std::vector<float> bx(static_cast<size_t>(gh)), rbh(static_cast<size_t>(hid));
  std::vector<float> zeros(static_cast<size_t>(gh), 0.0f);
  std::vector<float> rt(fast ? static_cast<size_t>(gh * hid) : 0);  // Rᵀ: [hid, gh]
  std::vector<int64_t> t_of(static_cast<size_t>(batch));
  std::vector<const float*> xg_of(static_cast<size_t>(batch));
  const bool lstm_vec = a.kind == RnnKind::lstm;
  const auto* prep = static_cast<const RnnPrepared*>(ctx.prepared);
  if (prep &&
      (!fast || prep->nd != nd || prep->gh != gh || prep->hid != hid || prep->in != in_size))
    prep = nullptr;
  if (prep) rt.clear();

  for (int64_t dir = 0; dir < nd; ++dir) {
    const bool backward = a.reverse || dir == 1;
    const Activation* act_d = &a.acts[static_cast<size_t>(dir) * nacts];
    const float* w_d = w + dir * gh * in_size;
    const float* r_d = r + dir * gh * hid;
    const float* p_d = peep ? peep + dir * 3 * hid : nullptr;
    const bool lstm_vec_d = lstm_vec && vector_act(act_d[0]) && vector_act(act_d[1]) &&
                            vector_act(act_d[2]);

    // Biases: Wb + Rb folded into the input projection, except GRU's Rbh with
    // linear_before_reset, which sits inside the reset gate's product.
    std::fill(bx.begin(), bx.end(), 0.0f);
    std::fill(rbh.begin(), rbh.end(), 0.0f);
    if (bias) {
      const float* wb = bias + dir * 2 * gh;
      const float* rb = wb + gh;
      for (int64_t j = 0; j < gh; ++j) {
        bool separate = a.linear_before_reset && j >= 2 * hid;
        bx[static_cast<size_t>(j)] = wb[j] + (separate ? 0.0f : rb[j]);
        if (separate) rbh[static_cast<size_t>(j - 2 * hid)] = rb[j];
      }
    }
    // xproj = X·Wᵀ + bias, every row of the sequence at once.
    if (rows > 0 && in_size > 0 && mm != nullptr) {
      mm->input(dir, x, static_cast<int64_t>(rows), xproj);
      for (size_t i = 0; i < rows; ++i)
        for (int64_t j = 0; j < gh; ++j)
          xproj[i * static_cast<size_t>(gh) + static_cast<size_t>(j)] += bx[static_cast<size_t>(j)];
    } else if (rows > 0 && in_size > 0 && fast) {
      GemmEpilogue e;
      e.col_bias = bx.data();
      if (prep)
        fast_gemm_parallel(static_cast<int64_t>(rows), gh, in_size, x, in_size,
                           prep->wt.data() + dir * in_size * gh, gh, false, xproj, gh, e);
      else
        fast_gemm_parallel(static_cast<int64_t>(rows), gh, in_size, x, in_size, w_d, in_size, true,
                           xproj, gh, e);
    } else if (rows > 0 && in_size > 0) {
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(rows),
                  static_cast<int>(gh), static_cast<int>(in_size), 1.0f, x,
                  static_cast<int>(in_size), w_d, static_cast<int>(in_size), 0.0f, xproj,
                  static_cast<int>(gh));
      for (size_t i = 0; i < rows; ++i)
        for (int64_t j = 0; j < gh; ++j)
          xproj[i * static_cast<size_t>(gh) + static_cast<size_t>(j)] += bx[static_cast<size_t>(j)];
    } else {
      for (size_t i = 0; i < rows; ++i)
        std::copy(bx.begin(), bx.end(), xproj + i * static_cast<size_t>(gh));
    }
    if (fast && !prep && mm == nullptr)
      for (int64_t j = 0; j < gh; ++j)
        for (int64_t p = 0; p < hid; ++p) rt[static_cast<size_t>(p * gh + j)] = r_d[j * hid + p];
    const float* rt_d = prep ? prep->rt.data() + dir * hid * gh : rt.data();
    // out[m, 0..n) = A[m, 0..hid) · (rows col0.. col0+n of R)ᵀ, for batch rows b0 .. b0 + m at
    // step s.
    auto recurrent = [&](int64_t s, int64_t b0, int64_t m, int64_t n, const float* am, int64_t col0,
                         float* out) {
      if (mm != nullptr) {
        mm->recurrent(dir, s, b0, m, am, col0, n, out, gh);
      } else if (fast) {
        fast_gemm(m, n, hid, am, hid, rt_d + col0, gh, false, out, gh, GemmEpilogue{});
      } else {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(m),
                    static_cast<int>(n), static_cast<int>(hid), 1.0f, am, static_cast<int>(hid),
                    r_d + col0 * hid, static_cast<int>(hid), 0.0f, out, static_cast<int>(gh));
      }
    };

    for (int64_t b = 0; b < batch; ++b) {
      for (int64_t j = 0; j < hid; ++j) {
        size_t k = static_cast<size_t>(b * hid + j);
        h[k] = init_h ? init_h[s_off(dir, b) + j] : 0.0f;
        c[k] = init_c ? init_c[s_off(dir, b) + j] : 0.0f;
      }
    }

    // Batch rows are independent through the whole sequence (row b's state feeds only row b),
    // so blocks of rows run all the steps on their own, on separate threads when there are
    // several. Each element is computed the same way in any block (kernels_gemm.hpp).
    auto run_rows = [&](int64_t b0, int64_t b1) {
      const int64_t nb = b1 - b0;
      for (int64_t s = 0; s < seq; ++s) {
        bool any = false;
        for (int64_t b = b0; b < b1; ++b) {
          int64_t len = lens[static_cast<size_t>(b)];
          int64_t t = s < len ? (backward ? len - 1 - s : s) : -1;
          t_of[static_cast<size_t>(b)] = t;
          any |= t >= 0;
          xg_of[static_cast<size_t>(b)] = t < 0 ? zeros.data() : xproj + x_row(t, b) * gh;
        }
        if (!any) break;
        // Recurrent part. GRU without linear_before_reset multiplies by Rh after the reset gate.
        const int64_t n_first = a.kind == RnnKind::gru && !a.linear_before_reset ? 2 * hid : gh;
        recurrent(s, b0, nb, n_first, h.data() + b0 * hid, 0, rec + b0 * gh);

        if (a.kind == RnnKind::gru && !a.linear_before_reset) {
          for (int64_t b = b0; b < b1; ++b)
            for (int64_t j = 0; j < hid; ++j) {
              size_t k = static_cast<size_t>(b * gh + hid + j);
              float rg = gate(act_d[0], xg_of[static_cast<size_t>(b)][hid + j] + rec[k], a);
              rh[static_cast<size_t>(b * hid + j)] = rg * h[static_cast<size_t>(b * hid + j)];
            }
          recurrent(s, b0, nb, hid, rh + b0 * hid, 2 * hid, rec + b0 * gh + 2 * hid);
        }

        for (int64_t b = b0; b < b1; ++b) {
          const int64_t t = t_of[static_cast<size_t>(b)];
          if (t < 0) continue;
          const float* xgb = xg_of[static_cast<size_t>(b)];
          const float* rb = rec + b * gh;
          float* hb = h.data() + b * hid;
          float* cb = c.data() + b * hid;
          if (lstm_vec_d) {
            lstm_cell(xgb, rb, p_d, a, act_d, hid, cell + b * 2 * gh, cb, hb);
          } else {
            for (int64_t j = 0; j < hid; ++j) {
              float hn = 0.0f;
              if (a.kind == RnnKind::rnn) {
                hn = gate(act_d[0], xgb[j] + rb[j], a);
              } else if (a.kind == RnnKind::gru) {
                float z = gate(act_d[0], xgb[j] + rb[j], a);
                float hh;
                if (a.linear_before_reset) {
                  float rg = gate(act_d[0], xgb[hid + j] + rb[hid + j], a);
                  hh = gate(act_d[1],
                            xgb[2 * hid + j] + rg * (rb[2 * hid + j] + rbh[static_cast<size_t>(j)]),
                            a);
                } else {
                  hh = gate(act_d[1], xgb[2 * hid + j] + rb[2 * hid + j], a);
                }
                hn = (1.0f - z) * hh + z * hb[j];
              } else {
                const float c_prev = cb[j];
                float pi = p_d ? p_d[j] * c_prev : 0.0f;
                float pf = p_d ? p_d[2 * hid + j] * c_prev : 0.0f;
                float ig = gate(act_d[0], xgb[j] + rb[j] + pi, a);
                float fg = a.input_forget
                               ? 1.0f - ig
                               : gate(act_d[0], xgb[2 * hid + j] + rb[2 * hid + j] + pf, a);
                float cg = gate(act_d[1], xgb[3 * hid + j] + rb[3 * hid + j], a);
                float cn = fg * c_prev + ig * cg;
                float po = p_d ? p_d[hid + j] * cn : 0.0f;
                float og = gate(act_d[0], xgb[hid + j] + rb[hid + j] + po, a);
                hn = og * activate(act_d[2], cn);
                cb[j] = cn;
              }
              hb[j] = hn;
            }
          }
          if (yp) std::copy(hb, hb + hid, yp + y_off(t, dir, b));
        }
      }
    };
    const int64_t threads = omp_get_max_threads();
    const bool split = mm == nullptr && fast && batch > 1 && threads > 1 &&
                       seq * batch * gh * hid > kParallelMinMacs;
    const int64_t blocks = split ? std::min(threads, batch) : 1;
    if (blocks == 1) {
      run_rows(0, batch);
    } else {
#pragma omp parallel for schedule(static)
      for (int64_t i = 0; i < blocks; ++i) run_rows(i * batch / blocks, (i + 1) * batch / blocks);
    }

    float* yhp = y_h.data<float>();
    for (int64_t b = 0; b < batch; ++b) {
      std::copy(h.data() + b * hid, h.data() + (b + 1) * hid, yhp + s_off(dir, b));
      if (a.kind == RnnKind::lstm)
        std::copy(c.data() + b * hid, c.data() + (b + 1) * hid, y_c.data<float>() + s_off(dir, b));
    }
  }

  if (want(0)) ctx.outputs[0] = y;
  if (ctx.outputs.size() > 1) ctx.outputs[1] = y_h;
  if (ctx.outputs.size() > 2 && a.kind == RnnKind::lstm) ctx.outputs[2] = y_c;
}

void run_rnn(RunContext& ctx) {
  run_rnn_impl(ctx, nullptr);
}

}  // namespace

void run_rnn_with(RunContext& ctx, RnnMatmuls& mm) {
  run_rnn_impl(ctx, &mm);
}

void register_rnn(std::vector<OpDef>& ops) {
  ops.push_back(OpDef{"RNN", 3, 6, infer_rnn, run_rnn, rnn_macs, false, prepare_rnn});
  ops.push_back(OpDef{"GRU", 3, 6, infer_rnn, run_rnn, rnn_macs, false, prepare_rnn});
  ops.push_back(OpDef{"LSTM", 3, 8, infer_rnn, run_rnn, rnn_macs, false, prepare_rnn});
}

}  // namespace acim::ops
