// One matrix view of an analog layer (LayerMapping::matrices: `count` groups of K x N) cut onto
// crossbar arrays exactly as the mapping counts them (include/acim/mapping.hpp):
//   - groups packed block-diagonally, `per` to an array, when the mapping packs them
//     (count > 1 and groups_per_array(K, N) > 1): array q holds groups q*per .. q*per + per - 1;
//   - otherwise each group is split into ceil(K / rows) row blocks x ceil(N / cols) column
//     blocks, one array each, group-major, then row blocks, then column blocks;
//   - `replication` copies of all of that; MVM p of the layer goes to copy p mod replication.
// A product runs every array it needs with one batched mvm() call and adds the row blocks'
// partial sums digitally in float, in row-block order (so the result does not depend on thread
// count). In capture mode the arrays are not read (they need not be programmed yet): the exact
// float product of the weights (set_weights) is returned and the inputs the arrays would see are
// recorded (the ADC calibration samples), once for all the column blocks that see the same rows.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "acim/crossbar.hpp"

namespace acim::sim {

enum class MvmMode {
  analog,   // through the arrays (every enabled non-ideality)
  capture,  // exact float product; record each array's inputs for calibration
};

class ViewArrays {
 public:
  // The cut of `count` K x N matrices onto arrays of array_rows x array_cols (logical).
  ViewArrays(int64_t k, int64_t n, int64_t count, int64_t array_rows, int64_t array_cols,
             int64_t replication);

  int64_t rows() const { return k_; }
  int64_t cols() const { return n_; }
  int64_t count() const { return count_; }
  int64_t groups_per_array() const { return per_; }  // 1: no packing
  int64_t replication() const { return replication_; }
  int64_t arrays_per_copy() const { return static_cast<int64_t>(blocks_.size()); }

  // The view's weights: float32, count * K * N elements, group g's K x N matrix row-major at
  // g * K * N (with `transposed`: its N x K transpose, row-major, read in place). Shared, not
  // copied (a Tensor shares its storage). Enough for capture mode (the exact products); the
  // arrays are programmed from them by program().
  void set_weights(const Tensor& weights, bool transposed);

  // Programs every array from the weights. The arrays keep no copy of their weights: each
  // array's block is cut from the view's again when the array needs it
  // (CrossbarArray::WeightSource). full_scale: the |w| of each column mapped to the top level,
  // count * N entries (group after group), or empty. Array b of copy r draws from
  // RandomStream(seed, {instance, layer, first_index + r * copy_stride + b}).
  void program(const std::vector<float>& full_scale, const ArrayParams& params, uint64_t seed,
               int64_t instance, int64_t layer, int64_t first_index, int64_t copy_stride);

  // Lets the weights go (the arrays' MVMs do not read them). Afterwards capture mode and
  // whatever makes an array re-derive its state (CrossbarArray::set_time, conductance tables)
  // throw Error(invalid).
  void drop_weights();

  // y[m * y_ld + (g - g0) * nc + (c - c0)] = sum_k x[m * x_ld + (g - g0) * K + k] * W_g[k, c]
  // for m < m_rows, groups g0 <= g < g0 + ng, columns c0 <= c < c0 + nc. Row m is MVM p0 + m.
  void mvm(const float* x, int64_t m_rows, int64_t x_ld, int64_t g0, int64_t ng, int64_t p0,
           float* y, int64_t y_ld, int64_t c0, int64_t nc, MvmMode mode, bool x_quantized = false);

  // The same product with x given by a function instead of a matrix, and y taken by one: a
  // part of an MVM call at a time, from several threads at once. rows(m0, step, count, k0, n,
  // dst, dst_ld) writes x[m * x_ld + k0 .. k0 + n - 1] of rows m = m0 + t * step, t < count, to
  // dst + t * dst_ld: each array's inputs straight into the array's input rows (no full copy of
  // x, e.g. of a large im2col matrix, is made). out(m0, step, count, col0, n, src, src_ld, first,
  // last) takes y[m * y_ld + col0 .. col0 + n - 1] of those rows from src + t * src_ld: a row
  // block's partial sums, which set y (as 0 + src) when `first` and are added to it otherwise;
  // `last`: no row block adds to them after this one.
  // With `x_quantized` (analog mode, shared_dac() only), the rows are already what quantize()
  // makes of them, and the arrays do not quantise them again.
  template <class T>
  using Rows = std::function<void(int64_t m0, int64_t step, int64_t count, int64_t k0, int64_t n,
                                  T* dst, int64_t dst_ld)>;
  using RowSource = Rows<float>;
  using Sink = std::function<void(int64_t m0, int64_t step, int64_t count, int64_t col0, int64_t n,
                                  const float* src, int64_t src_ld, bool first, bool last)>;
  void mvm(const RowSource& rows, int64_t m_rows, int64_t g0, int64_t ng, int64_t p0,
           const Sink& out, int64_t c0, int64_t nc, MvmMode mode, bool x_quantized = false);
  // The sink of a matrix y with leading dimension y_ld.
  static Sink into(float* y, int64_t y_ld);

  // The analog product from inputs on the arrays' DAC levels (quantize_levels; levels_form()
  // only): a matrix, or rows given by a function as above.
  using LevelSource = Rows<int16_t>;
  void mvm_levels(const int16_t* x, int64_t m_rows, int64_t x_ld, int64_t g0, int64_t ng,
                  int64_t p0, float* y, int64_t y_ld, int64_t c0, int64_t nc);
  void mvm_levels(const LevelSource& rows, int64_t m_rows, int64_t g0, int64_t ng, int64_t p0,
                  const Sink& out, int64_t c0, int64_t nc);

  // Whether every array's DAC quantises alike (the same parameters and input range), so that
  // inputs can be quantised once for all of them, as each array's DAC would: where every array's
  // signal product runs in integers (levels_form()), to int16 levels by quantize_levels,
  // otherwise by quantize, in the arrays' CrossbarArray::quantized_form(); false if some x is
  // NaN or infinite.
  bool shared_dac() const { return shared_dac_; }
  bool levels_form() const { return shared_dac_ && quantized_ == CrossbarArray::RowInputs::levels; }
  // Whether several arrays of a copy read the same inputs (column blocks of one row block): then
  // quantising the inputs once saves each of them its DAC.
  bool inputs_shared() const { return inputs_shared_; }
  bool quantize(const float* x, size_t n, float* xq) const;
  bool quantize_levels(const float* x, size_t n, int16_t* xq) const;

  // Sets every array's DAC range (input_range > 0, else max |x| seen in capture mode) and ADC
  // ranges from the captured inputs (at most `max_rows` of them, evenly spaced), then drops them.
  void calibrate(double input_range, int64_t max_rows);

  void set_time(double seconds);

 private:
  struct Block {
    int64_t g0 = 0, ng = 1;  // groups (ng > 1: packed block-diagonally)
    int64_t r0 = 0, nr = 0;  // rows of each group's matrix
    int64_t c0 = 0, nc = 0;  // columns of each group's matrix
  };
  // The weight matrix of block `bl` [ng * nr, ng * nc] (zero off the diagonal blocks).
  static Tensor block_matrix(const Tensor& weights, bool transposed, int64_t k, int64_t n,
                             const Block& bl);
  // Inputs the arrays of one input slice (see input_of_) saw in capture mode: a bounded, evenly
  // spaced selection of rows.
  struct Captured {
    std::vector<float> rows;
    int64_t count = 0;
    float max_abs = 0;
  };
  // One (copy, array) of an mvm() call: rows m = first + t * replication, t < rows, of groups
  // [ga, gb) and columns [ca, cb); `call` is the array's MVM number for the call (analog mode);
  // with `record`, in capture mode, the array's input rows are recorded for its input slice.
  struct Job {
    int64_t copy = 0, block = 0;
    int64_t first = 0, rows = 0;
    int64_t ga = 0, gb = 0;
    int64_t ca = 0, cb = 0;
    uint64_t call = 0;
    bool record = false;
  };
  // What one mvm call reads: rows, and where they come from a matrix, the matrix (whose rows
  // an array may then read in place).
  template <class T>
  struct Input {
    const Rows<T>& rows;
    const T* matrix = nullptr;
    int64_t ld = 0;
  };
  // Where one mvm call writes: the sink, and where it is a matrix, the matrix (into whose rows
  // an array may then decode in place).
  struct Output {
    const Sink& sink;
    float* matrix = nullptr;
    int64_t ld = 0;
  };
  // Every kind of mvm (T: float inputs, or int16 levels); `form`: what the rows hold.
  template <class T>
  void run(const Input<T>& x, int64_t m_rows, int64_t g0, int64_t ng, int64_t p0, const Output& out,
           int64_t c0, int64_t nc, MvmMode mode, CrossbarArray::RowInputs form);
  // Rows t0 .. t0 + nt - 1 of job j through its array, into `out` (first, last: whether the
  // job is its task's first and last row block).
  template <class T>
  void run_part(const Input<T>& x, const Job& j, int64_t t0, int64_t nt, int64_t g0,
                const Output& out, int64_t c0, int64_t nc, MvmMode mode, bool first, bool last,
                CrossbarArray::RowInputs form);
  // Sets shared_dac_ and quantized_ from the arrays' DAC ranges and passes.
  void check_shared_dac();
  int64_t k_, n_, count_, per_, replication_;
  std::vector<Block> blocks_;  // one copy's arrays, in mapping order
  // Per block: its input slice, the blocks with the same groups and rows (the column blocks of
  // one row block see the same inputs); numbered in order of first appearance.
  std::vector<int64_t> input_of_;
  std::shared_ptr<const Tensor> weights_;  // set_weights(); null before or after drop_weights()
  bool transposed_ = false;
  std::vector<std::vector<CrossbarArray>> arrays_;  // [copy][block]
  std::vector<std::vector<Captured>> captured_;     // [copy][input slice]
  bool shared_dac_ = false;
  bool inputs_shared_ = false;
  CrossbarArray::RowInputs quantized_ = CrossbarArray::RowInputs::dac_levels;  // quantize()'s
};

}  // namespace acim::sim
