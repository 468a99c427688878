// The analog lowering of Conv, Gemm, MatMul and LSTM / GRU / RNN (see lowering.hpp): weights
// into matrix views at programming time, and at run time im2col / flattening, the products on
// the arrays, and the digital rest. Recurrent layers share the reference op's recurrence
// (ops/rnn.hpp), with only the products replaced.
#include "core/simd.hpp"  // first: see its header
#include "sim/lowering.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <map>
#include <type_traits>

#include "acim/error.hpp"
#include "core/scratch.hpp"
#include "ops/kernels_window.hpp"
#include "ops/rnn.hpp"

namespace acim::sim {

namespace {

const Tensor& weight_of(const Graph& graph, const Node& node, size_t input) {
  const Tensor* t = node.has_input(input) ? graph.initializer(node.inputs[input]) : nullptr;
  if (t == nullptr || t->dtype() != DType::f32)
    throw Error(ErrorKind::invalid, graph.where(node),
                "input " + std::to_string(input) +
                    " is not a float32 constant, but the mapping put the node on arrays",
                "recompile the program from the model");
  return *t;
}

bool is_recurrent(const std::string& op) {
  return op == "LSTM" || op == "GRU" || op == "RNN";
}

// W [d, N, K] -> per d the K x N matrix W_d[k, n] = W[d, n, k].
ViewWeights transposed_stack(const Tensor& w) {
  ViewWeights v;
  v.count = w.dim(0);
  v.cols = w.dim(1);
  v.rows = w.dim(2);
  v.values = Tensor::uninitialized(DType::f32, {v.count * v.rows * v.cols});
  float* dst = v.values.data<float>();
  const float* src = w.data<float>();
  for (int64_t d = 0; d < v.count; ++d)
    for (int64_t n = 0; n < v.cols; ++n)
      for (int64_t k = 0; k < v.rows; ++k)
        dst[(d * v.rows + k) * v.cols + n] = src[(d * v.cols + n) * v.rows + k];
  return v;
}

// ---- Conv ----

// How transpose_blocked stores an element s: dst = s, 0 + s, or dst + s.
enum class Store { copy, set, add };

#if ACIM_HAVE_AVX512
// r[0..15] (rows of a 16 x 16 block) become its columns: Intel's 4-stage unpack/shuffle network.
ACIM_TARGET_AVX512 __attribute__((always_inline)) inline void transpose16(__m512* r) {
  __m512 t[16], u[16];
  for (int i = 0; i < 8; ++i) {
    t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  for (int i = 0; i < 4; ++i) {
    u[4 * i] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], 0x44);
    u[4 * i + 1] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], 0xEE);
    u[4 * i + 2] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0x44);
    u[4 * i + 3] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0xEE);
  }
  for (int h = 0; h < 2; ++h)
    for (int i = 0; i < 4; ++i) {
      t[8 * h + i] = _mm512_shuffle_f32x4(u[8 * h + i], u[8 * h + i + 4], 0x88);
      t[8 * h + i + 4] = _mm512_shuffle_f32x4(u[8 * h + i], u[8 * h + i + 4], 0xDD);
    }
  for (int i = 0; i < 8; ++i) {
    r[i] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0x88);
    r[i + 8] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0xDD);
  }
}

inline __mmask16 first_lanes(int64_t n) {
  return n >= 16 ? __mmask16(0xFFFF) : static_cast<__mmask16>((1u << n) - 1u);
}

// transpose_blocked in 16 x 16 blocks transposed in registers (the same values; the same
// additions).
ACIM_TARGET_AVX512 void transpose_avx512(const float* src, int64_t rows, int64_t cols,
                                         int64_t src_ld, float* dst, int64_t dst_ld, Store op,
                                         const float* bias) {
  __m512 r[16];
  for (int64_t i0 = 0; i0 < rows; i0 += 16) {
    const int64_t ni = std::min<int64_t>(16, rows - i0);
    const __mmask16 mi = first_lanes(ni);
    for (int64_t j0 = 0; j0 < cols; j0 += 16) {
      const int64_t nj = std::min<int64_t>(16, cols - j0);
      const __mmask16 mj = first_lanes(nj);
      for (int64_t i = 0; i < 16; ++i)
        r[i] =
            i < ni ? _mm512_maskz_loadu_ps(mj, src + (i0 + i) * src_ld + j0) : _mm512_setzero_ps();
      transpose16(r);
      for (int64_t j = 0; j < nj; ++j) {
        float* d = dst + (j0 + j) * dst_ld + i0;
        __m512 v = r[j];
        if (op == Store::set) v = _mm512_add_ps(_mm512_setzero_ps(), v);
        if (op == Store::add) v = _mm512_add_ps(_mm512_maskz_loadu_ps(mi, d), v);
        if (bias != nullptr) v = _mm512_add_ps(v, _mm512_set1_ps(bias[j0 + j]));
        _mm512_mask_storeu_ps(d, mi, v);
      }
    }
  }
}

// The taps of an im2col row: tap t of channel c is base[offs[t] + c]. gather16_avx512: channels
// c .. c + nc - 1 (nc <= 16), dst[i * ksz + t] = base[offs[t] + c + i] for ksz <= 16 taps (taps
// as the rows of a 16 x 16 block, zero rows past ksz), each channel's taps stored with one masked
// store; int16 levels move as 32-bit lanes.
ACIM_TARGET_AVX512 void gather16_avx512(const float* base, const int64_t* offs, int64_t ksz,
                                        int64_t c, int64_t nc, float* dst) {
  __m512 r[16];
  const __mmask16 mc = first_lanes(nc);
  for (int64_t i = 0; i < 16; ++i)
    r[i] = i < ksz ? _mm512_maskz_loadu_ps(mc, base + offs[i] + c) : _mm512_setzero_ps();
  transpose16(r);
  const __mmask16 m = first_lanes(ksz);
  for (int64_t i = 0; i < nc; ++i) _mm512_mask_storeu_ps(dst + i * ksz, m, r[i]);
}

__attribute__((target("avx512f,avx512vl,avx512bw"))) void gather16_avx512(
    const int16_t* base, const int64_t* offs, int64_t ksz, int64_t c, int64_t nc, int16_t* dst) {
  __m512 r[16];
  const __mmask16 mc = first_lanes(nc);
  for (int64_t i = 0; i < 16; ++i)
    r[i] = i < ksz ? _mm512_castsi512_ps(
                         _mm512_cvtepi16_epi32(_mm256_maskz_loadu_epi16(mc, base + offs[i] + c)))
                   : _mm512_setzero_ps();
  transpose16(r);
  const __mmask16 m = first_lanes(ksz);
  for (int64_t i = 0; i < nc; ++i)
    _mm512_mask_cvtepi32_storeu_epi16(dst + i * ksz, m, _mm512_castps_si512(r[i]));
}

// The 3 x 3 case of the int16 gather, 16 channels: dst[i * 9 + t] = base[offs[t] + c + i], the 144
// levels as 4.5 vectors of 32, each put together by word permutes from the taps loaded two to a
// register (taps 0-3, 4-7, 8): the same values as the transpose, in a fifth of the operations.
struct Gather9Tables {
  int16_t idx_lo[5][32]{}, idx_hi[5][32]{}, idx_8[5][32]{};  // per output vector and lane
  uint32_t hi[5]{}, eight[5]{};                              // lanes of taps 4-7 and of tap 8
  constexpr Gather9Tables() {
    for (int v = 0; v < 5; ++v)
      for (int l = 0; l < 32; ++l) {
        const int e = 32 * v + l, i = e / 9, t = e % 9;
        if (e >= 144) continue;
        if (t < 4) idx_lo[v][l] = static_cast<int16_t>(t * 16 + i);
        if (t >= 4 && t < 8) {
          idx_hi[v][l] = static_cast<int16_t>((t - 4) * 16 + i);
          hi[v] |= 1u << l;
        }
        if (t == 8) {
          idx_8[v][l] = static_cast<int16_t>(i);
          eight[v] |= 1u << l;
        }
      }
  }
};
constexpr Gather9Tables kGather9;

__attribute__((target("avx512f,avx512vl,avx512bw"))) void gather16x9_avx512(const int16_t* base,
                                                                            const int64_t* offs,
                                                                            int64_t c,
                                                                            int16_t* dst) {
  __m512i s[5];  // taps 0-1, 2-3, 4-5, 6-7, 8
  for (int t = 0; t < 9; t += 2) {
    const __m256i a = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(base + offs[t] + c));
    s[t / 2] =
        t == 8
            ? _mm512_castsi256_si512(a)
            : _mm512_inserti64x4(
                  _mm512_castsi256_si512(a),
                  _mm256_loadu_si256(reinterpret_cast<const __m256i*>(base + offs[t + 1] + c)), 1);
  }
  const __m512i s01 = s[0], s23 = s[1], s45 = s[2], s67 = s[3], s8 = s[4];
  for (int v = 0; v < 5; ++v) {
    const __m512i lo = _mm512_permutex2var_epi16(s01, _mm512_loadu_si512(kGather9.idx_lo[v]), s23);
    const __m512i hi = _mm512_permutex2var_epi16(s45, _mm512_loadu_si512(kGather9.idx_hi[v]), s67);
    __m512i r = _mm512_mask_blend_epi16(kGather9.hi[v], lo, hi);
    r = _mm512_mask_permutexvar_epi16(r, kGather9.eight[v], _mm512_loadu_si512(kGather9.idx_8[v]),
                                      s8);
    if (v < 4)
      _mm512_storeu_si512(dst + 32 * v, r);
    else
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + 128), _mm512_castsi512_si256(r));
  }
}
#endif

// d = dst[j * dst_ld + i] and s = src[i * src_ld + j] for i < rows, j < cols: d = s, 0 + s or
// d + s (`op`), then d + bias[j] if bias is set; in blocks of 16 rows so that both sides stay in
// a few cache lines.
void transpose_blocked(const float* src, int64_t rows, int64_t cols, int64_t src_ld, float* dst,
                       int64_t dst_ld, Store op, const float* bias) {
#if ACIM_HAVE_AVX512
  if (cpu_has_avx512()) {
    transpose_avx512(src, rows, cols, src_ld, dst, dst_ld, op, bias);
    return;
  }
#endif
  constexpr int64_t kBlock = 16;
  for (int64_t i0 = 0; i0 < rows; i0 += kBlock) {
    const int64_t i1 = std::min(rows, i0 + kBlock);
    for (int64_t j = 0; j < cols; ++j) {
      float* d = dst + j * dst_ld;
      const float* s = src + j;
      for (int64_t i = i0; i < i1; ++i) {
        float v = s[i * src_ld];
        if (op == Store::set) v = 0.0f + v;
        if (op == Store::add) v = d[i] + v;
        if (bias != nullptr) v = v + bias[j];
        d[i] = v;
      }
    }
  }
}

// Inputs k0 .. k0 + n - 1 of one im2col row into dst: input k is channel c = k / ksz at kernel
// tap t = k % ksz, read from base[offs[t] + c]. KS > 0: ksz known when compiling (KS == ksz),
// so the tap pointers stay in registers over the channels. With AVX-512 and at most 16 taps,
// whole blocks of 16 channels are transposed in registers (the same values: only data moves).
template <int KS, class T>
void gather_row(const T* base, const int64_t* offs, int64_t ksz_arg, int64_t k0, int64_t n,
                T* dst) {
  const int64_t ksz = KS > 0 ? KS : ksz_arg;
  int64_t c = k0 / ksz, t = k0 % ksz, q = 0;
  for (; q < n && t != 0; ++q) {  // the rest of a channel begun before k0
    dst[q] = base[offs[t] + c];
    if (++t == ksz) {
      t = 0;
      ++c;
    }
  }
#if ACIM_HAVE_AVX512
  if (ksz <= 16 && cpu_has_avx512()) {
    if constexpr (KS == 9 && std::is_same_v<T, int16_t>) {
      for (; q + 16 * KS <= n; q += 16 * KS, c += 16) gather16x9_avx512(base, offs, c, dst + q);
    }
    for (; q + 16 * ksz <= n; q += 16 * ksz, c += 16)
      gather16_avx512(base, offs, ksz, c, 16, dst + q);
    if (const int64_t nc = (n - q) / ksz; nc > 0) {  // the last whole channels, fewer than 16
      gather16_avx512(base, offs, ksz, c, nc, dst + q);
      q += nc * ksz;
      c += nc;
    }
  }
#endif
  if constexpr (KS > 0) {
    const T* p[KS];
    for (int u = 0; u < KS; ++u) p[u] = base + offs[u];
    for (; q + KS <= n; q += KS, ++c)
      for (int u = 0; u < KS; ++u) dst[q + u] = p[u][c];
  } else {
    for (; q + ksz <= n; q += ksz, ++c)
      for (int64_t u = 0; u < ksz; ++u) dst[q + u] = base[offs[u] + c];
  }
  for (; q < n; ++q, ++t) dst[q] = base[offs[t] + c];
}

// Per (output position, kernel tap) of `win`: the offset of the tap's channels in a
// channel-last image of `channels` channels, p * channels for its position p in the plane, or
// that of position win.in_size() (one past the plane: zeros) for a tap in the padding (the same
// for every image). Kept per thread and geometry: a layer's table is made once, not on every run
// (at batch 1 making it took about a tenth of ResNet-20's analog time).
const std::vector<int64_t>& tap_offsets(const ops::Window& win, int64_t channels) {
  using Key = std::array<int64_t, 19>;
  thread_local std::map<Key, std::vector<int64_t>> tables;
  Key key{};
  for (int d = 0; d < 3; ++d) {
    key[static_cast<size_t>(d)] = win.in[static_cast<size_t>(d)];
    key[static_cast<size_t>(3 + d)] = win.k[static_cast<size_t>(d)];
    key[static_cast<size_t>(6 + d)] = win.stride[static_cast<size_t>(d)];
    key[static_cast<size_t>(9 + d)] = win.dil[static_cast<size_t>(d)];
    key[static_cast<size_t>(12 + d)] = win.pad_b[static_cast<size_t>(d)];
    key[static_cast<size_t>(15 + d)] = win.out[static_cast<size_t>(d)];
  }
  key[18] = channels;
  const auto [it, added] = tables.try_emplace(key);
  std::vector<int64_t>& tap_off = it->second;
  if (!added) return tap_off;
  const int64_t osz = win.out_size(), ksz = win.k_size();
  tap_off.resize(static_cast<size_t>(osz * ksz));
  for (int64_t pos = 0; pos < osz; ++pos) {
    const int64_t o2 = pos % win.out[2], o1 = (pos / win.out[2]) % win.out[1],
                  o0 = pos / (win.out[2] * win.out[1]);
    for (int64_t k0 = 0; k0 < win.k[0]; ++k0) {
      const int64_t i0 = o0 * win.stride[0] + k0 * win.dil[0] - win.pad_b[0];
      for (int64_t k1 = 0; k1 < win.k[1]; ++k1) {
        const int64_t i1 = o1 * win.stride[1] + k1 * win.dil[1] - win.pad_b[1];
        for (int64_t k2 = 0; k2 < win.k[2]; ++k2) {
          const int64_t i2 = o2 * win.stride[2] + k2 * win.dil[2] - win.pad_b[2];
          const int64_t tap = (k0 * win.k[1] + k1) * win.k[2] + k2;
          const bool inside =
              i0 >= 0 && i0 < win.in[0] && i1 >= 0 && i1 < win.in[1] && i2 >= 0 && i2 < win.in[2];
          tap_off[static_cast<size_t>(pos * ksz + tap)] =
              (inside ? (i0 * win.in[1] + i1) * win.in[2] + i2 : win.in_size()) * channels;
        }
      }
    }
  }
  return tap_off;
}

void run_conv(const Node& node, const std::string& where, ViewArrays& view,
              const std::vector<const Tensor*>& inputs, std::vector<Tensor>& outputs,
              const OutputBuffers& buffers, MvmMode mode) {
  const Tensor& x = *inputs[0];
  const Tensor& w = *inputs[1];
  const Tensor* bias = inputs.size() > 2 ? inputs[2] : nullptr;
  const int64_t groups = node.attr_int("group", 1);
  if (x.dtype() != DType::f32 || x.rank() != w.rank() || x.dim(1) != w.dim(1) * groups)
    throw Error(ErrorKind::shape, where,
                "X " + shape_str(x.shape()) + " does not fit W " + shape_str(w.shape()) +
                    " with group " + std::to_string(groups));
  const Shape in_spatial(x.shape().begin() + 2, x.shape().end());
  const Shape kernel(w.shape().begin() + 2, w.shape().end());
  const ops::Window win = ops::make_window(node, where, in_spatial, kernel, false, true);
  const int64_t batch = x.dim(0), channels = x.dim(1), out_ch = w.dim(0);
  const int64_t osz = win.out_size(), ksz = win.k_size(), isz = win.in_size();
  const int64_t mg = out_ch / groups;
  const int64_t rows = batch * osz;
  // im2col, row by row as the arrays take their inputs (ViewArrays::mvm with a row source, so
  // the whole matrix is never stored): one row per output position (image-major), each group's
  // K inputs in W's order (channel, then kernel taps), zeros for taps in the padding.
  const std::vector<int64_t>& tap_off = tap_offsets(win, channels);
  // An image of X channel-last, [position in the plane, channel], and one position of zeros
  // after the plane (where the taps in the padding read): an im2col row then reads, per
  // kernel tap, channels that lie side by side (a 1x1 convolution's row is one contiguous run)
  // instead of one element per channel plane. Each thread keeps the last images it made (rows of
  // an image come one after another, and a part of an MVM call goes through each of the layer's
  // arrays in turn), made from X when first needed: X is read once per thread that takes it,
  // and the copy stays in the core's cache.
  // Where every array of the view has the same DAC, the image is put on the DAC's levels once
  // (each pixel feeds up to k x k im2col rows, and each row an array's DAC): the same values as
  // the arrays' own DACs, a ninth of the work for 3 x 3 kernels; int16 integer levels where the
  // arrays' signal products run in integers (ViewArrays::levels_form), else floats in the
  // arrays' quantized_form. A tap in the padding stays 0, which every DAC maps to 0.
  const bool quantized = mode == MvmMode::analog && view.shared_dac();
  static std::atomic<uint64_t> calls{0};
  const uint64_t call = calls.fetch_add(1, std::memory_order_relaxed);
  const float* xd = x.data<float>();
  // Inputs k0 .. k0 + n - 1 of im2col rows r = r0 + t * step, t < count, to dst + t * dst_ld
  // (input k is channel k / ksz, tap k % ksz), from images of T (float, or int16 levels).
  auto im2col_rows = [&]<class T>(int64_t r0, int64_t step, int64_t count, int64_t k0, int64_t n,
                                  T* dst, int64_t dst_ld) {
    // The thread's last few images: a part of an MVM call can span two images (DS-CNN's 125
    // positions in a part of 128 rows), and each of the part's arrays reads both in turn.
    struct Image {
      uint64_t call = 0;
      int64_t img = -1;
      std::vector<T> data;
    };
    constexpr size_t kImages = 4;
    thread_local std::array<Image, kImages> images;
    thread_local size_t next_slot = 0;      // replaced in turn
    thread_local std::vector<float> plane;  // an image channel-last, before its DAC
    const Image* image = nullptr;
    // Row r = r0 + t * step is output position pos of image img.
    int64_t img = r0 / osz, pos = r0 % osz;
    for (int64_t t = 0; t < count; ++t, pos += step) {
      for (; pos >= osz; pos -= osz) ++img;
      if (image == nullptr || image->img != img) {
        image = nullptr;
        for (const Image& im : images)
          if (im.call == call && im.img == img) image = &im;
      }
      if (image == nullptr) {
        Image& im = images[next_slot];
        next_slot = (next_slot + 1) % kImages;
        im.img = -1;  // until it holds the new image
        const size_t size = static_cast<size_t>(isz * channels);
        im.data.resize(size + static_cast<size_t>(channels));
        std::fill_n(im.data.data() + size, channels, T(0));
        const float* src = xd + img * channels * isz;
        bool finite = true;
        if constexpr (std::is_same_v<T, int16_t>) {
          transpose_blocked(src, channels, isz, isz, grown(plane, size), channels, Store::copy,
                            nullptr);
          finite = view.quantize_levels(plane.data(), size, im.data.data());
        } else {
          transpose_blocked(src, channels, isz, isz, im.data.data(), channels, Store::copy,
                            nullptr);
          finite = !quantized || view.quantize(im.data.data(), size, im.data.data());
        }
        if (!finite)
          throw Error(ErrorKind::invalid, where, "inputs contain NaN or infinity",
                      "pass finite values");
        im.call = call;
        im.img = img;
        image = &im;
      }
      const int64_t* offs = tap_off.data() + pos * ksz;
      const T* base = image->data.data();
      T* row = dst + t * dst_ld;
      if (ksz == 1)
        std::copy_n(base + offs[0] + k0, n, row);
      else if (ksz == 9)  // 3 x 3 kernels
        gather_row<9>(base, offs, ksz, k0, n, row);
      else
        gather_row<0>(base, offs, ksz, k0, n, row);
    }
  };
  // The products of a part of the rows go straight into the output, [image, channel, position]
  // (output channel = column), while they are in the core's cache: a transpose of the rows of
  // each image, with the bias added once the last row block is in.
  Shape out_shape{batch, out_ch};
  for (int64_t d : win.out_spatial()) out_shape.push_back(d);
  Tensor out = buffers.new_output(DType::f32, out_shape);
  float* od = out.data<float>();
  const float* bd = bias != nullptr ? bias->data<float>() : nullptr;
  const auto to_out = [&](int64_t m0, int64_t step, int64_t count, int64_t col0, int64_t n,
                          const float* src, int64_t src_ld, bool first, bool last) {
    const Store op = first ? Store::set : Store::add;
    const float* b = last && bd != nullptr ? bd + col0 : nullptr;
    int64_t img = m0 / osz, pos = m0 % osz;
    for (int64_t t = 0; t < count;) {
      // Rows t .. t + run - 1 are positions pos .. of image img (one at a time when spaced).
      const int64_t run = step == 1 ? std::min(count - t, osz - pos) : 1;
      transpose_blocked(src + t * src_ld, run, n, src_ld, od + (img * out_ch + col0) * osz + pos,
                        osz, op, b);
      t += run;
      for (pos += run * step; pos >= osz; pos -= osz) ++img;
    }
  };
  if (quantized && view.levels_form())
    view.mvm_levels(ViewArrays::LevelSource(im2col_rows), rows, 0, groups, 0, to_out, 0, mg);
  else
    view.mvm(ViewArrays::RowSource(im2col_rows), rows, 0, groups, 0, to_out, 0, mg, mode,
             quantized);
  outputs[0] = std::move(out);
}

// ---- Gemm, MatMul ----

// y [rows, N] = a [rows, K] · the view's matrix.
void product(const std::string& where, ViewArrays& view, const Tensor& a, int64_t rows,
             MvmMode mode, float* y) {
  if (a.dtype() != DType::f32 || a.rank() < 1 || a.dim(-1) != view.rows())
    throw Error(ErrorKind::shape, where,
                "A is " + dtype_name(a.dtype()) + shape_str(a.shape()) +
                    "; the arrays expect float32 with a last dim of " +
                    std::to_string(view.rows()));
  // Where several arrays take the same inputs (a wide layer's column blocks: GPT-2's output
  // layer has 197), they are quantised once for all of them, as a convolution's image is.
  if (mode == MvmMode::analog && view.shared_dac() && view.inputs_shared()) {
    const size_t n = static_cast<size_t>(rows * view.rows());
    const auto bad = [&] {
      throw Error(ErrorKind::invalid, where, "inputs contain NaN or infinity",
                  "pass finite values");
    };
    if (view.levels_form()) {
      thread_local std::vector<int16_t> lv;
      if (!view.quantize_levels(a.data<float>(), n, grown(lv, n))) bad();
      view.mvm_levels(lv.data(), rows, view.rows(), 0, 1, 0, y, view.cols(), 0, view.cols());
    } else {
      thread_local std::vector<float> xq;
      if (!view.quantize(a.data<float>(), n, grown(xq, n))) bad();
      view.mvm(xq.data(), rows, view.rows(), 0, 1, 0, y, view.cols(), 0, view.cols(), mode, true);
    }
    return;
  }
  view.mvm(a.data<float>(), rows, view.rows(), 0, 1, 0, y, view.cols(), 0, view.cols(), mode);
}

void run_gemm(const Node& node, const std::string& where, ViewArrays& view,
              const std::vector<const Tensor*>& inputs, std::vector<Tensor>& outputs,
              const OutputBuffers& buffers, MvmMode mode) {
  const Tensor& a = *inputs[0];
  if (a.rank() != 2)
    throw Error(ErrorKind::shape, where, "A is " + shape_str(a.shape()) + "; Gemm takes 2-D A");
  const int64_t m = a.dim(0), n = view.cols();
  Tensor out = buffers.new_output(DType::f32, {m, n});
  float* od = out.data<float>();
  product(where, view, a, m, mode, od);
  const float alpha = node.attr_float("alpha", 1.0f), beta = node.attr_float("beta", 1.0f);
  const Tensor* c = inputs.size() > 2 ? inputs[2] : nullptr;
  // Strides of C's elements along M and N (0 where C broadcasts).
  int64_t sm = 0, sn = 0;
  if (c != nullptr) {
    const Shape& cs = c->shape();
    if (c->dtype() != DType::f32 || cs.size() > 2 ||
        (cs.size() == 2 && ((cs[0] != 1 && cs[0] != m) || (cs[1] != 1 && cs[1] != n))) ||
        (cs.size() == 1 && cs[0] != 1 && cs[0] != n))
      throw Error(ErrorKind::shape, where,
                  "C " + shape_str(cs) + " does not broadcast to [" + std::to_string(m) + "," +
                      std::to_string(n) + "]");
    if (cs.size() == 2) {
      sm = cs[0] == 1 ? 0 : cs[1];
      sn = cs[1] == 1 ? 0 : 1;
    } else if (cs.size() == 1) {
      sn = cs[0] == 1 ? 0 : 1;
    }
  }
  const float* cd = c != nullptr && beta != 0.0f ? c->data<float>() : nullptr;
  for (int64_t i = 0; i < m; ++i) {
    float* row = od + i * n;
    if (cd == nullptr) {
#pragma omp simd
      for (int64_t j = 0; j < n; ++j) row[j] = alpha * row[j];
    } else if (sn == 1) {  // C's row (a bias): contiguous, vectorised
      const float* crow = cd + i * sm;
#pragma omp simd
      for (int64_t j = 0; j < n; ++j) row[j] = alpha * row[j] + beta * crow[j];
    } else {
      for (int64_t j = 0; j < n; ++j) row[j] = alpha * row[j] + beta * cd[i * sm + j * sn];
    }
  }
  outputs[0] = std::move(out);
}

void run_matmul(const std::string& where, ViewArrays& view,
                const std::vector<const Tensor*>& inputs, std::vector<Tensor>& outputs,
                const OutputBuffers& buffers, MvmMode mode) {
  const Tensor& a = *inputs[0];
  const int64_t rows = a.rank() >= 1 && view.rows() > 0 ? a.numel() / view.rows() : 0;
  // [..., M, K] -> [..., M, N]; a 1-D A [K] -> [N].
  Shape out_shape = a.shape();
  if (!out_shape.empty()) out_shape.back() = view.cols();
  Tensor out = buffers.new_output(DType::f32, out_shape);
  product(where, view, a, rows, mode, out.data<float>());
  outputs[0] = std::move(out);
}

// ---- LSTM, GRU, RNN: the reference recurrence with its products on the arrays ----

class ArrayRnnMatmuls : public ops::RnnMatmuls {
 public:
  ArrayRnnMatmuls(ViewArrays& w, ViewArrays& r, int64_t batch, MvmMode mode)
      : w_(w), r_(r), batch_(batch), mode_(mode) {}
  void input(int64_t dir, const float* x, int64_t rows, float* out) override {
    w_.mvm(x, rows, w_.rows(), dir, 1, 0, out, w_.cols(), 0, w_.cols(), mode_);
  }
  void recurrent(int64_t dir, int64_t step, int64_t b0, int64_t m, const float* h, int64_t col0,
                 int64_t n, float* out, int64_t ld) override {
    r_.mvm(h, m, r_.rows(), dir, 1, step * batch_ + b0, out, ld, col0, n, mode_);
  }

 private:
  ViewArrays& w_;
  ViewArrays& r_;
  int64_t batch_;
  MvmMode mode_;
};

void run_recurrent(const Node& node, const std::string& where, std::vector<ViewArrays>& views,
                   const std::vector<const Tensor*>& inputs, std::vector<Tensor>& outputs,
                   const OutputBuffers& buffers, MvmMode mode) {
  const Tensor& x = *inputs[0];
  if (x.rank() != 3)
    throw Error(ErrorKind::shape, where, "X is " + shape_str(x.shape()) + "; expected rank 3");
  const int64_t batch = node.attr_int("layout", 0) == 1 ? x.dim(0) : x.dim(1);
  ArrayRnnMatmuls mm(views[0], views[1], batch, mode);
  ops::RunContext ctx{node, where, inputs, std::vector<Tensor>(outputs.size()), nullptr, buffers};
  ops::run_rnn_with(ctx, mm);
  for (size_t o = 0; o < outputs.size(); ++o) outputs[o] = std::move(ctx.outputs[o]);
}

}  // namespace

std::vector<ViewWeights> layer_weights(const Graph& graph, const Node& node,
                                       const LayerMapping& layer) {
  const std::string where = graph.where(node);
  std::vector<ViewWeights> views;
  if (node.op_type == "Conv") {
    const Tensor& w = weight_of(graph, node, 1);
    const int64_t groups = node.attr_int("group", 1);
    ViewWeights v;
    v.count = groups;
    v.cols = groups > 0 ? w.dim(0) / groups : 0;
    v.rows = w.numel() / std::max<int64_t>(w.dim(0), 1);
    v.values = Tensor::uninitialized(DType::f32, {w.numel()});
    float* dst = v.values.data<float>();
    const float* src = w.data<float>();
    for (int64_t g = 0; g < v.count; ++g)
      for (int64_t n = 0; n < v.cols; ++n)
        for (int64_t k = 0; k < v.rows; ++k)
          dst[(g * v.rows + k) * v.cols + n] = src[(g * v.cols + n) * v.rows + k];
    views.push_back(std::move(v));
  } else if (node.op_type == "Gemm" || node.op_type == "MatMul") {
    if (node.op_type == "Gemm" && node.attr_int("transA", 0) != 0)
      throw Error(ErrorKind::unsupported, where, "Gemm with transA is not mapped onto arrays",
                  "transpose A before the Gemm in the model");
    const Tensor& b = weight_of(graph, node, 1);
    if (b.rank() != 2)
      throw Error(ErrorKind::invalid, where, "B is " + shape_str(b.shape()) + "; expected 2-D",
                  "recompile the program from the model");
    const bool trans_b = node.op_type == "Gemm" && node.attr_int("transB", 0) != 0;
    ViewWeights v;
    v.count = 1;
    v.rows = trans_b ? b.dim(1) : b.dim(0);
    v.cols = trans_b ? b.dim(0) : b.dim(1);
    v.values = b;  // no copy: with transB the arrays read Bᵀ's blocks from B in place
    v.transposed = trans_b;
    views.push_back(std::move(v));
  } else if (is_recurrent(node.op_type)) {
    const Tensor& w = weight_of(graph, node, 1);
    const Tensor& r = weight_of(graph, node, 2);
    if (w.rank() != 3 || r.rank() != 3)
      throw Error(ErrorKind::invalid, where,
                  "W " + shape_str(w.shape()) + " / R " + shape_str(r.shape()) + " are not rank 3",
                  "recompile the program from the model");
    views.push_back(transposed_stack(w));
    views.push_back(transposed_stack(r));
  } else {
    throw Error(ErrorKind::unsupported, where,
                "op " + node.op_type + " is not one the simulator runs on arrays",
                "recompile the program (only Conv, Gemm, MatMul, LSTM, GRU and RNN are mapped)");
  }
  bool same = views.size() == layer.matrices.size();
  for (size_t v = 0; same && v < views.size(); ++v)
    same = views[v].rows == layer.matrices[v].rows && views[v].cols == layer.matrices[v].cols &&
           views[v].count == layer.matrices[v].count;
  if (!same)
    throw Error(ErrorKind::invalid, where,
                "the node's weights do not give the matrix views its mapping lists",
                "recompile the program from the model");
  return views;
}

void run_analog_node(const Node& node, const std::string& where, std::vector<ViewArrays>& views,
                     const std::vector<const Tensor*>& inputs, std::vector<Tensor>& outputs,
                     const OutputBuffers& buffers, MvmMode mode) {
  if (inputs.empty() || inputs[0] == nullptr)
    throw Error(ErrorKind::invalid, where, "has no input X");
  if (node.op_type == "Conv")
    run_conv(node, where, views[0], inputs, outputs, buffers, mode);
  else if (node.op_type == "Gemm")
    run_gemm(node, where, views[0], inputs, outputs, buffers, mode);
  else if (node.op_type == "MatMul")
    run_matmul(where, views[0], inputs, outputs, buffers, mode);
  else
    run_recurrent(node, where, views, inputs, outputs, buffers, mode);
}

}  // namespace acim::sim
