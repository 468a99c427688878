// Transpose, DepthToSpace, SpaceToDepth, and the strided copy the data-movement ops share.
// Transpose first drops size-1 axes and merges axes that stay adjacent, so NCHW<->NHWC becomes a
// batched 2-D transpose (done in cache blocks); other permutations use the strided copy.
#include <algorithm>
#include <numeric>

#include "ops/shape_ops.hpp"
#include "ops/util.hpp"

namespace acim::ops {

namespace {
constexpr int64_t kRowsPerChunk = 256;       // rows of the strided copy handled per task
constexpr int64_t kParallelBytes = 1 << 16;  // smaller copies run on one thread
}  // namespace

void copy_strided(const std::byte* src, int64_t offset, const std::vector<int64_t>& strides,
                  const Shape& shape, size_t elem_size, std::byte* dst) {
  ACIM_ASSERT(strides.size() == shape.size(), "copy_strided: rank mismatch");
  int64_t n = shape_numel(shape);
  if (n == 0) return;
  // Drop size-1 axes and merge axes whose strides make them one run.
  Shape dims;
  std::vector<int64_t> st;
  for (size_t k = 0; k < shape.size(); ++k) {
    if (shape[k] == 1) continue;
    if (!dims.empty() && st.back() == strides[k] * shape[k]) {
      dims.back() *= shape[k];
      st.back() = strides[k];
    } else {
      dims.push_back(shape[k]);
      st.push_back(strides[k]);
    }
  }
  if (dims.empty()) {
    dims.push_back(1);
    st.push_back(1);
  }
  const size_t r = dims.size();
  const int64_t inner = dims[r - 1];
  const int64_t inner_stride = st[r - 1];
  const int64_t rows = n / inner;
  const int64_t chunks = (rows + kRowsPerChunk - 1) / kRowsPerChunk;
  const bool parallel = n * static_cast<int64_t>(elem_size) >= kParallelBytes;
  visit_elem_size(elem_size, [&](auto tag) {
    using U = decltype(tag);
    const U* s = reinterpret_cast<const U*>(src) + offset;
    U* d = reinterpret_cast<U*>(dst);
#pragma omp parallel for schedule(static) if (parallel)
    for (int64_t c = 0; c < chunks; ++c) {
      int64_t row0 = c * kRowsPerChunk;
      int64_t row1 = std::min(rows, row0 + kRowsPerChunk);
      // Index of row0 over the outer axes, then an odometer.
      std::vector<int64_t> idx(r, 0);
      int64_t off = 0;
      int64_t rem = row0;
      for (size_t k = r - 1; k-- > 0;) {
        idx[k] = rem % dims[k];
        rem /= dims[k];
        off += idx[k] * st[k];
      }
      for (int64_t row = row0; row < row1; ++row) {
        U* drow = d + row * inner;
        const U* srow = s + off;
        if (inner_stride == 1) {
          std::memcpy(drow, srow, static_cast<size_t>(inner) * sizeof(U));
        } else {
          for (int64_t j = 0; j < inner; ++j) drow[j] = srow[j * inner_stride];
        }
        for (size_t k = r - 1; k-- > 0;) {
          off += st[k];
          if (++idx[k] < dims[k]) break;
          off -= idx[k] * st[k];
          idx[k] = 0;
        }
      }
    }
  });
}

namespace {

// dst[b][j][i] = src[b][i][j] for src of shape [B, M, N], in 32x32 blocks.
template <class U>
void transpose_batched_2d(const U* src, U* dst, int64_t batch, int64_t m, int64_t n) {
  constexpr int64_t kBlock = 32;
  const int64_t mb = (m + kBlock - 1) / kBlock;
  const int64_t nb = (n + kBlock - 1) / kBlock;
  const int64_t tasks = batch * mb * nb;
  const bool parallel = batch * m * n * static_cast<int64_t>(sizeof(U)) >= kParallelBytes;
#pragma omp parallel for schedule(static) if (parallel)
  for (int64_t t = 0; t < tasks; ++t) {
    int64_t b = t / (mb * nb);
    int64_t i0 = (t / nb) % mb * kBlock;
    int64_t j0 = t % nb * kBlock;
    int64_t i1 = std::min(m, i0 + kBlock);
    int64_t j1 = std::min(n, j0 + kBlock);
    const U* s = src + b * m * n;
    U* d = dst + b * m * n;
    // Contiguous writes along i; each source line is reused across the block's j.
    for (int64_t j = j0; j < j1; ++j) {
      U* drow = d + j * m;
      const U* scol = s + j;
      for (int64_t i = i0; i < i1; ++i) drow[i] = scol[i * n];
    }
  }
}

}  // namespace

Tensor transpose_tensor(const Tensor& in, const std::vector<int64_t>& perm) {
  const Shape& s = in.shape();
  const size_t r = s.size();
  ACIM_ASSERT(perm.size() == r, "transpose_tensor: perm size");
  Shape out_shape(r);
  for (size_t j = 0; j < r; ++j) out_shape[j] = s[static_cast<size_t>(perm[j])];
  Tensor out = Tensor::uninitialized(in.dtype(), out_shape);
  if (out.numel() == 0) return out;

  // Drop size-1 axes, then merge runs of output axes that are consecutive input axes.
  std::vector<int64_t> kept_index(r, -1);
  Shape kept;
  for (size_t a = 0; a < r; ++a)
    if (s[a] != 1) {
      kept_index[a] = static_cast<int64_t>(kept.size());
      kept.push_back(s[a]);
    }
  std::vector<std::vector<int64_t>> groups;  // per output axis group: its input axes, in order
  for (size_t j = 0; j < r; ++j) {
    int64_t a = kept_index[static_cast<size_t>(perm[j])];
    if (a < 0) continue;
    if (!groups.empty() && groups.back().back() + 1 == a)
      groups.back().push_back(a);
    else
      groups.push_back({a});
  }
  const size_t g = groups.size();
  std::vector<size_t> order(g);  // order[k]: the group at input position k
  std::iota(order.begin(), order.end(), size_t{0});
  std::sort(order.begin(), order.end(),
            [&](size_t x, size_t y) { return groups[x].front() < groups[y].front(); });
  std::vector<int64_t> pos(g);  // input position of group i
  for (size_t k = 0; k < g; ++k) pos[order[k]] = static_cast<int64_t>(k);
  Shape gshape(g);  // coalesced input shape
  for (size_t i = 0; i < g; ++i) {
    int64_t p = 1;
    for (int64_t a : groups[i]) p *= kept[static_cast<size_t>(a)];
    gshape[static_cast<size_t>(pos[i])] = p;
  }

  const size_t es = dtype_size(in.dtype());
  const auto* src = static_cast<const std::byte*>(in.raw());
  auto* dst = static_cast<std::byte*>(out.raw());
  if (g <= 1) {
    std::memcpy(dst, src, in.nbytes());
  } else if (g == 2 || (g == 3 && pos[0] == 0 && pos[1] == 2 && pos[2] == 1)) {
    // [M, N] -> [N, M] (g == 2 can only be the swap) or [B, M, N] -> [B, N, M].
    int64_t batch = g == 3 ? gshape[0] : 1;
    int64_t m = gshape[g - 2];
    int64_t n = gshape[g - 1];
    visit_elem_size(es, [&](auto tag) {
      using U = decltype(tag);
      transpose_batched_2d(reinterpret_cast<const U*>(src), reinterpret_cast<U*>(dst), batch, m, n);
    });
  } else {
    std::vector<int64_t> in_strides = row_major_strides(gshape);
    std::vector<int64_t> strides(g);
    Shape oshape(g);
    for (size_t i = 0; i < g; ++i) {
      strides[i] = in_strides[static_cast<size_t>(pos[i])];
      oshape[i] = gshape[static_cast<size_t>(pos[i])];
    }
    copy_strided(src, 0, strides, oshape, es, dst);
  }
  return out;
}

namespace {

std::vector<int64_t> transpose_perm(const Node& node, int64_t rank, const std::string& where) {
  std::vector<int64_t> perm;
  if (node.has_attr("perm")) {
    perm = node.attr_ints("perm");
  } else {
    for (int64_t i = rank - 1; i >= 0; --i) perm.push_back(i);
  }
  bool ok = static_cast<int64_t>(perm.size()) == rank;
  std::vector<bool> seen(static_cast<size_t>(rank), false);
  for (int64_t& p : perm) {
    if (!ok) break;
    if (p < 0) p += rank;  // accepted like other acim axes
    ok = p >= 0 && p < rank && !seen[static_cast<size_t>(p)];
    if (ok) seen[static_cast<size_t>(p)] = true;
  }
  if (!ok)
    throw Error(ErrorKind::invalid, where,
                "perm " + shape_str(node.attr_ints("perm")) + " is not a permutation of the " +
                    std::to_string(rank) + " axes",
                "list each axis 0.." + std::to_string(rank - 1) + " exactly once");
  return perm;
}

void transpose_infer(InferContext& ctx) {
  const ValueInfo& x = ctx.in(0);
  if (!x.shape_known) {
    ctx.set_output_unknown_shape(0, x.dtype);
    return;
  }
  auto r = static_cast<int64_t>(x.shape.size());
  std::vector<int64_t> perm = transpose_perm(ctx.node, r, ctx.where);
  Shape out(x.shape.size());
  for (size_t j = 0; j < out.size(); ++j) out[j] = x.shape[static_cast<size_t>(perm[j])];
  ctx.set_output(0, x.dtype, out);
}

void transpose_run(RunContext& ctx) {
  const Tensor& x = ctx.in(0);
  ctx.outputs[0] = transpose_tensor(x, transpose_perm(ctx.node, x.rank(), ctx.where));
}

// ---- DepthToSpace, SpaceToDepth ------------------------------------------------------------

int64_t block_size(const Node& node, const std::string& where) {
  if (!node.has_attr("blocksize"))
    throw Error(ErrorKind::invalid, where, "attribute 'blocksize' is missing");
  int64_t b = node.attr_int("blocksize", 1);
  if (b <= 0 || b > (int64_t{1} << 20))
    throw Error(ErrorKind::invalid, where, "blocksize " + std::to_string(b) + " is out of range");
  return b;
}

bool dcr_mode(const Node& node, const std::string& where) {
  std::string mode = node.attr_string("mode", "DCR");
  if (mode != "DCR" && mode != "CRD")
    throw Error(ErrorKind::invalid, where, "mode '" + mode + "' is not DCR or CRD");
  return mode == "DCR";
}

// Output shape of DepthToSpace (to_space) or SpaceToDepth; unknown dims stay unknown.
Shape space_depth_shape(const Shape& in, int64_t b, bool to_space, const std::string& where) {
  if (in.size() != 4)
    throw Error(ErrorKind::shape, where,
                "input " + shape_str(in) + " has rank " + std::to_string(in.size()) +
                    "; a 4-D [N,C,H,W] tensor is required");
  auto mul = [](int64_t d, int64_t f) { return d < 0 ? kUnknownDim : d * f; };
  auto div = [&](int64_t d, int64_t f, const char* name) {
    if (d < 0) return kUnknownDim;
    if (d % f != 0)
      throw Error(ErrorKind::shape, where,
                  std::string(name) + " of input " + shape_str(in) + " is not divisible by " +
                      std::to_string(f));
    return d / f;
  };
  if (to_space) return {in[0], div(in[1], b * b, "channels"), mul(in[2], b), mul(in[3], b)};
  return {in[0], mul(in[1], b * b), div(in[2], b, "height"), div(in[3], b, "width")};
}

void space_depth_infer(InferContext& ctx, bool to_space) {
  const ValueInfo& x = ctx.in(0);
  int64_t b = block_size(ctx.node, ctx.where);
  if (to_space) dcr_mode(ctx.node, ctx.where);
  if (!x.shape_known) {
    ctx.set_output(0, x.dtype, Shape(4, kUnknownDim));
    return;
  }
  ctx.set_output(0, x.dtype, space_depth_shape(x.shape, b, to_space, ctx.where));
}

void depth_to_space_infer(InferContext& ctx) {
  space_depth_infer(ctx, true);
}
void space_to_depth_infer(InferContext& ctx) {
  space_depth_infer(ctx, false);
}

void depth_to_space_run(RunContext& ctx) {
  const Tensor& x = ctx.in(0);
  int64_t b = block_size(ctx.node, ctx.where);
  Shape out = space_depth_shape(x.shape(), b, true, ctx.where);
  int64_t n = x.dim(0), c = out[1], h = x.dim(2), w = x.dim(3);
  Tensor t;
  if (dcr_mode(ctx.node, ctx.where))
    t = transpose_tensor(x.reshaped({n, b, b, c, h, w}), {0, 3, 4, 1, 5, 2});
  else
    t = transpose_tensor(x.reshaped({n, c, b, b, h, w}), {0, 1, 4, 2, 5, 3});
  ctx.outputs[0] = t.reshaped(out);
}

void space_to_depth_run(RunContext& ctx) {
  const Tensor& x = ctx.in(0);
  int64_t b = block_size(ctx.node, ctx.where);
  Shape out = space_depth_shape(x.shape(), b, false, ctx.where);
  int64_t n = x.dim(0), c = x.dim(1), h = out[2], w = out[3];
  Tensor t = transpose_tensor(x.reshaped({n, c, h, b, w, b}), {0, 3, 5, 1, 2, 4});
  ctx.outputs[0] = t.reshaped(out);
}

}  // namespace

void register_transpose_ops(std::vector<OpDef>& ops) {
  ops.push_back({"Transpose", 1, 1, transpose_infer, transpose_run, nullptr});
  ops.push_back({"DepthToSpace", 1, 1, depth_to_space_infer, depth_to_space_run, nullptr});
  ops.push_back({"SpaceToDepth", 1, 1, space_to_depth_infer, space_to_depth_run, nullptr});
}

}  // namespace acim::ops
