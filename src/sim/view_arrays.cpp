// ViewArrays: one matrix view on its crossbar arrays (see view_arrays.hpp for the cut).
#include "sim/view_arrays.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <exception>
#include <map>
#include <type_traits>
#include <utility>

#include "acim/error.hpp"
#include "acim/mapping.hpp"
#include "core/parallel.hpp"
#include "core/scratch.hpp"
#include "core/simd.hpp"
#include "ops/kernels_blas.hpp"

namespace acim::sim {

namespace {

// Rows one product keeps per array in capture mode (evenly spaced): enough for the final
// selection of calibrate() whatever the number of calibration samples, without holding every
// im2col row of a large layer.
constexpr int64_t kCaptureRowsPerCall = 256;

// Rows an array takes per part of one analog MVM call (CrossbarArray::mvm_rows): its inputs,
// DAC levels and signals stay in the core's caches. The numbers do not depend on it.
constexpr int64_t kRowsPerPart = 128;

// dst[k] = 0 + src[k] (set) or dst[k] += src[k], k < n. (Additions only: the same bits in
// every clone; the AVX-512 one is 4x the width of the x86-64 baseline's.)
#if ACIM_HAVE_AVX512
__attribute__((target_clones("avx512f", "default")))
#endif
void add_into(float* dst, const float* src, int64_t n, bool set) {
  if (set) {
#pragma omp simd
    for (int64_t k = 0; k < n; ++k) dst[k] = 0.0f + src[k];
  } else {
#pragma omp simd
    for (int64_t k = 0; k < n; ++k) dst[k] += src[k];
  }
}

}  // namespace

ViewArrays::ViewArrays(int64_t k, int64_t n, int64_t count, int64_t array_rows, int64_t array_cols,
                       int64_t replication)
    : k_(k), n_(n), count_(count), per_(1), replication_(std::max<int64_t>(1, replication)) {
  // The mapping's rule (mapping.cpp, add_matrix): several groups that each fit an array share
  // one block-diagonally. An empty matrix (a zero dimension) has no arrays.
  const int64_t per = count > 1 ? acim::groups_per_array(k, n, array_rows, array_cols) : 1;
  if (per > 1) {
    per_ = per;
    for (int64_t g = 0; g < count; g += per)
      blocks_.push_back({g, std::min(per, count - g), 0, k, 0, n});
  } else {
    for (int64_t g = 0; g < count; ++g)
      for (int64_t r = 0; r < k; r += array_rows)
        for (int64_t c = 0; c < n; c += array_cols)
          blocks_.push_back({g, 1, r, std::min(array_rows, k - r), c, std::min(array_cols, n - c)});
  }
  std::map<std::array<int64_t, 3>, int64_t> slices;  // (first group, groups, first row)
  for (const Block& bl : blocks_)
    input_of_.push_back(
        slices.try_emplace({bl.g0, bl.ng, bl.r0}, static_cast<int64_t>(slices.size()))
            .first->second);
  inputs_shared_ = slices.size() < blocks_.size();
}

Tensor ViewArrays::block_matrix(const Tensor& weights, bool transposed, int64_t k, int64_t n,
                                const Block& bl) {
  const int64_t wc = bl.ng * bl.nc;
  Tensor w(DType::f32, {bl.ng * bl.nr, wc});  // zero off the diagonal blocks
  float* wd = w.data<float>();
  for (int64_t j = 0; j < bl.ng; ++j) {
    const float* src = weights.data<float>() + (bl.g0 + j) * k * n;
    for (int64_t i = 0; i < bl.nr; ++i) {
      float* dst = wd + (j * bl.nr + i) * wc + j * bl.nc;
      if (transposed)
        for (int64_t c = 0; c < bl.nc; ++c) dst[c] = src[(bl.c0 + c) * k + bl.r0 + i];
      else
        std::copy_n(src + (bl.r0 + i) * n + bl.c0, bl.nc, dst);
    }
  }
  return w;
}

void ViewArrays::set_weights(const Tensor& weights, bool transposed) {
  ACIM_ASSERT(weights.dtype() == DType::f32 && weights.numel() == count_ * k_ * n_,
              "ViewArrays: weights size");
  weights_ = std::make_shared<const Tensor>(weights);
  transposed_ = transposed;
  const size_t slices =
      input_of_.empty()
          ? 0
          : static_cast<size_t>(*std::max_element(input_of_.begin(), input_of_.end()) + 1);
  captured_.assign(static_cast<size_t>(replication_), std::vector<Captured>(slices));
}

void ViewArrays::drop_weights() {
  weights_.reset();
}

void ViewArrays::program(const std::vector<float>& full_scale, const ArrayParams& params,
                         uint64_t seed, int64_t instance, int64_t layer, int64_t first_index,
                         int64_t copy_stride) {
  ACIM_ASSERT(weights_ != nullptr, "ViewArrays::program before set_weights");
  ACIM_ASSERT(full_scale.empty() || static_cast<int64_t>(full_scale.size()) == count_ * n_,
              "ViewArrays: full scale size");
  arrays_.clear();
  arrays_.resize(static_cast<size_t>(replication_));
  for (std::vector<CrossbarArray>& copy : arrays_) copy.reserve(blocks_.size());
  // Every copy holds the same weights: each block's matrix is built once, when it is programmed
  // (one block's at a time, not the whole layer's), and again whenever an array asks for it.
  const std::weak_ptr<const Tensor> source = weights_;
  for (size_t b = 0; b < blocks_.size(); ++b) {
    const Block& bl = blocks_[b];
    const Tensor w = block_matrix(*weights_, transposed_, k_, n_, bl);
    std::vector<float> fs;
    if (!full_scale.empty())
      for (int64_t j = 0; j < bl.ng; ++j) {
        const float* f = full_scale.data() + (bl.g0 + j) * n_ + bl.c0;
        fs.insert(fs.end(), f, f + bl.nc);
      }
    for (int64_t r = 0; r < replication_; ++r) {
      std::vector<CrossbarArray>& copy = arrays_[static_cast<size_t>(r)];
      const int64_t index = first_index + r * copy_stride + static_cast<int64_t>(b);
      copy.emplace_back(
          params, RandomStream(seed, {static_cast<uint64_t>(instance), static_cast<uint64_t>(layer),
                                      static_cast<uint64_t>(index)}));
      copy.back().program(w, fs, [source, transposed = transposed_, k = k_, n = n_, bl] {
        const std::shared_ptr<const Tensor> weights = source.lock();
        if (weights == nullptr)
          throw Error(ErrorKind::invalid, "chip instance",
                      "its weights were let go once its arrays were programmed, so its arrays "
                      "cannot be moved in time or their conductances drawn again",
                      "keep the weights (SimOptions::keep_weights) to move an instance in time");
        return block_matrix(*weights, transposed, k, n, bl);
      });
    }
  }
  check_shared_dac();
}

namespace {

// A row source reading matrix x with leading dimension x_ld.
template <class T>
ViewArrays::Rows<T> matrix_rows(const T* x, int64_t x_ld) {
  return [x, x_ld](int64_t m0, int64_t step, int64_t count, int64_t k0, int64_t n, T* dst,
                   int64_t dst_ld) {
    for (int64_t t = 0; t < count; ++t)
      std::copy_n(x + (m0 + t * step) * x_ld + k0, n, dst + t * dst_ld);
  };
}

}  // namespace

ViewArrays::Sink ViewArrays::into(float* y, int64_t y_ld) {
  return [y, y_ld](int64_t m0, int64_t step, int64_t count, int64_t col0, int64_t n,
                   const float* src, int64_t src_ld, bool first, bool) {
    for (int64_t t = 0; t < count; ++t)
      add_into(y + (m0 + t * step) * y_ld + col0, src + t * src_ld, n, first);
  };
}

void ViewArrays::mvm(const float* x, int64_t m_rows, int64_t x_ld, int64_t g0, int64_t ng,
                     int64_t p0, float* y, int64_t y_ld, int64_t c0, int64_t nc, MvmMode mode,
                     bool x_quantized) {
  ACIM_ASSERT(!x_quantized || (shared_dac_ && !levels_form() && mode == MvmMode::analog),
              "ViewArrays::mvm: quantised rows need a shared float DAC, in analog mode");
  const RowSource rows = matrix_rows(x, x_ld);
  const Sink sink = into(y, y_ld);
  run(Input<float>{rows, x, x_ld}, m_rows, g0, ng, p0, Output{sink, y, y_ld}, c0, nc, mode,
      x_quantized ? quantized_ : CrossbarArray::RowInputs::raw);
}

void ViewArrays::mvm_levels(const int16_t* x, int64_t m_rows, int64_t x_ld, int64_t g0, int64_t ng,
                            int64_t p0, float* y, int64_t y_ld, int64_t c0, int64_t nc) {
  ACIM_ASSERT(levels_form(), "ViewArrays::mvm_levels without shared integer levels");
  const LevelSource rows = matrix_rows(x, x_ld);
  const Sink sink = into(y, y_ld);
  run(Input<int16_t>{rows, x, x_ld}, m_rows, g0, ng, p0, Output{sink, y, y_ld}, c0, nc,
      MvmMode::analog, CrossbarArray::RowInputs::levels);
}

void ViewArrays::check_shared_dac() {
  // (The arrays of a view share their ArrayParams, so v_read too.)
  shared_dac_ = !arrays_.empty() && !arrays_[0].empty();
  if (!shared_dac_) return;
  quantized_ = arrays_[0][0].quantized_form();
  bool same_form = true;
  for (const std::vector<CrossbarArray>& copy : arrays_)
    for (const CrossbarArray& a : copy) {
      shared_dac_ = shared_dac_ && a.dac_input_range() == arrays_[0][0].dac_input_range();
      same_form = same_form && a.quantized_form() == quantized_;
    }
  if (!same_form) quantized_ = CrossbarArray::RowInputs::dac_levels;  // what every array takes
}

bool ViewArrays::quantize(const float* x, size_t n, float* xq) const {
  ACIM_ASSERT(shared_dac_ && !levels_form(), "ViewArrays::quantize without a shared float DAC");
  return arrays_[0][0].quantize_inputs(x, n, xq, quantized_);
}

bool ViewArrays::quantize_levels(const float* x, size_t n, int16_t* xq) const {
  ACIM_ASSERT(levels_form(), "ViewArrays::quantize_levels without shared integer levels");
  return arrays_[0][0].quantize_levels(x, n, xq);
}

void ViewArrays::mvm(const RowSource& x_rows, int64_t m_rows, int64_t g0, int64_t ng, int64_t p0,
                     const Sink& out, int64_t c0, int64_t nc, MvmMode mode, bool x_quantized) {
  ACIM_ASSERT(!x_quantized || (shared_dac_ && !levels_form() && mode == MvmMode::analog),
              "ViewArrays::mvm: quantised rows need a shared float DAC, in analog mode");
  run(Input<float>{x_rows}, m_rows, g0, ng, p0, Output{out}, c0, nc, mode,
      x_quantized ? quantized_ : CrossbarArray::RowInputs::raw);
}

void ViewArrays::mvm_levels(const LevelSource& x_rows, int64_t m_rows, int64_t g0, int64_t ng,
                            int64_t p0, const Sink& out, int64_t c0, int64_t nc) {
  ACIM_ASSERT(levels_form(), "ViewArrays::mvm_levels without shared integer levels");
  run(Input<int16_t>{x_rows}, m_rows, g0, ng, p0, Output{out}, c0, nc, MvmMode::analog,
      CrossbarArray::RowInputs::levels);
}

template <class T>
void ViewArrays::run(const Input<T>& x, int64_t m_rows, int64_t g0, int64_t ng, int64_t p0,
                     const Output& out, int64_t c0, int64_t nc, MvmMode mode,
                     CrossbarArray::RowInputs form) {
  ACIM_ASSERT(g0 >= 0 && ng >= 0 && g0 + ng <= count_ && c0 >= 0 && nc >= 0 && c0 + nc <= n_,
              "ViewArrays::mvm: groups or columns out of range");
  if (m_rows == 0) return;
  const bool analog = mode == MvmMode::analog;
  // The call's bookkeeping, in buffers the thread keeps (a recurrent layer makes an MVM call per
  // step: allocating them each time cost more than a small array's MVM).
  struct Item {  // tasks [task0, task1) on rows t0 .. t0 + nt - 1 of their copy
    size_t task0 = 0, task1 = 0;
    int64_t t0 = 0, nt = 0;
  };
  struct Scratch {
    std::vector<Job> jobs;
    std::vector<std::pair<int64_t, size_t>> keyed;  // (task key, job)
    std::vector<size_t> task_start;                 // task t: keyed[task_start[t] .. [t + 1])
    std::vector<Item> items;
    std::vector<std::exception_ptr> errors;
  };
  thread_local Scratch scratch;
  std::vector<Job>& jobs = scratch.jobs;
  // One job per (copy, array) that holds any requested group and column.
  jobs.clear();
  for (int64_t r = 0; r < replication_; ++r) {
    const int64_t first = ((r - p0) % replication_ + replication_) % replication_;
    if (first >= m_rows) continue;
    const int64_t rows = (m_rows - first + replication_ - 1) / replication_;
    for (size_t b = 0; b < blocks_.size(); ++b) {
      const Block& bl = blocks_[b];
      Job j{r,
            static_cast<int64_t>(b),
            first,
            rows,
            std::max(g0, bl.g0),
            std::min(g0 + ng, bl.g0 + bl.ng),
            std::max(c0, bl.c0),
            std::min(c0 + nc, bl.c0 + bl.nc)};
      if (j.ga >= j.gb || j.ca >= j.cb) continue;
      if (analog) j.call = arrays_[static_cast<size_t>(r)][b].next_mvm();
      jobs.push_back(j);
    }
  }
  // The arrays of one copy and input slice see the same rows: the first of them records them.
  if (mode == MvmMode::capture) {
    std::vector<std::vector<char>> recorded(captured_.size());
    for (size_t r = 0; r < captured_.size(); ++r) recorded[r].assign(captured_[r].size(), 0);
    for (Job& j : jobs) {
      char& done = recorded[static_cast<size_t>(j.copy)]
                           [static_cast<size_t>(input_of_[static_cast<size_t>(j.block)])];
      j.record = done == 0;
      done = 1;
    }
  }
  // Tasks: the jobs that add into the same outputs (one copy's row blocks of the same groups and
  // columns: key (copy, first group, first column)), in row-block order (job order), run one
  // after another on each row; different tasks write different outputs. So each output is the
  // sum of its row blocks in row-block order (0 + block 0 + block 1 ...), whatever the threads.
  // The tasks' first row blocks cover every requested output (every row m, through one copy):
  // they set y, the others add to it. Sorted by key, a copy's tasks are contiguous.
  std::vector<std::pair<int64_t, size_t>>& keyed = scratch.keyed;
  keyed.clear();
  for (size_t ji = 0; ji < jobs.size(); ++ji) {
    const Block& bl = blocks_[static_cast<size_t>(jobs[ji].block)];
    keyed.emplace_back((jobs[ji].copy * count_ + bl.g0) * n_ + bl.c0, ji);
  }
  std::sort(keyed.begin(), keyed.end());
  std::vector<size_t>& task_start = scratch.task_start;
  task_start.clear();
  for (size_t i = 0; i < keyed.size(); ++i)
    if (i == 0 || keyed[i].first != keyed[i - 1].first) task_start.push_back(i);
  const size_t tasks = task_start.size();
  task_start.push_back(keyed.size());
  const auto job_of = [&](size_t t) -> const Job& { return jobs[keyed[task_start[t]].second]; };
  // Work items. In analog mode the rows go through the arrays a part (kRowsPerPart rows) at a
  // time: with parts enough for the threads, an item is one part of a copy's rows through all
  // its tasks, so the part's inputs (an im2col row source's image) and outputs stay in the
  // core's cache from one array to the next; with few parts, one part of one task. Capture mode
  // takes a task's rows at once. An array's draws are numbered by row within its call, so the
  // items give the same numbers however they are cut or scheduled.
  std::vector<Item>& items = scratch.items;
  items.clear();
  int64_t parts = 0;
  for (size_t t = 0; t < tasks; ++t)
    if (t == 0 || job_of(t).copy != job_of(t - 1).copy)
      parts += (job_of(t).rows + kRowsPerPart - 1) / kRowsPerPart;
  const bool by_part = analog && parts >= 2 * static_cast<int64_t>(omp_get_max_threads());
  for (size_t t = 0; t < tasks;) {
    size_t t1 = t + 1;
    if (by_part)
      while (t1 < tasks && job_of(t1).copy == job_of(t).copy) ++t1;
    const int64_t rows = job_of(t).rows, chunk = analog ? kRowsPerPart : rows;
    for (int64_t t0 = 0; t0 < rows; t0 += chunk)
      items.push_back({t, t1, t0, std::min(chunk, rows - t0)});
    t = t1;
  }
  std::vector<std::exception_ptr>& errors = scratch.errors;
  errors.assign(items.size(), nullptr);
  const auto run_item = [&](int64_t i) {
    const Item& it = items[static_cast<size_t>(i)];
    try {
      for (size_t t = it.task0; t < it.task1; ++t)
        for (size_t k = task_start[t]; k < task_start[t + 1]; ++k)
          run_part(x, jobs[keyed[k].second], it.t0, it.nt, g0, out, c0, nc, mode,
                   k == task_start[t], k + 1 == task_start[t + 1], form);
    } catch (...) {
      errors[static_cast<size_t>(i)] = std::current_exception();
    }
  };
  detail::parallel_for_dynamic(static_cast<int64_t>(items.size()), items.size() > 1, run_item);
  for (std::exception_ptr& e : errors)
    if (e) {
      const std::exception_ptr first = std::move(e);
      errors.clear();
      std::rethrow_exception(first);
    }
}

template <class T>
void ViewArrays::run_part(const Input<T>& x, const Job& j, int64_t t0, int64_t nt, int64_t g0,
                          const Output& out, int64_t c0, int64_t nc, MvmMode mode, bool first,
                          bool last, CrossbarArray::RowInputs form) {
  const Block& bl = blocks_[static_cast<size_t>(j.block)];
  const int64_t width = bl.ng * bl.nr, ow = bl.ng * bl.nc;
  const int64_t ga = j.ga, gb = j.gb, ca = j.ca, cb = j.cb;
  const bool analog = mode == MvmMode::analog;
  CrossbarArray* array = analog
                             ? &arrays_[static_cast<size_t>(j.copy)][static_cast<size_t>(j.block)]
                             : nullptr;  // capture mode reads the weights, not the arrays
  // In analog mode the part's rows go through the array in buffers each thread reuses: a
  // layer's im2col input is never held whole, and no memory is allocated per call once the
  // buffers have grown. Capture mode (calibration) takes all rows at once, in buffers of its own
  // (one job per input slice keeps an evenly spaced selection).
  thread_local std::vector<T> part_in;
  thread_local std::vector<float> part_out;
  std::vector<T> capture_in;
  std::vector<T>& in_buf = analog ? part_in : capture_in;
  // Where the job's rows are whole rows of the output matrix, one after another, the only row
  // block of its outputs decodes into them in place (decoded outputs are never -0: they are
  // already 0 + themselves).
  float* direct = nullptr;
  const bool all_columns = ga == g0 && ga == bl.g0 && gb - ga == bl.ng && ca == c0 && ca == bl.c0 &&
                           cb - ca == bl.nc && nc == bl.nc;
  if (analog && out.matrix != nullptr && first && last && replication_ == 1 && all_columns &&
      ow == out.ld)
    direct = out.matrix + (j.first + t0) * out.ld;
  if (analog && direct == nullptr) grown(part_out, static_cast<size_t>(nt * ow));
  // Every column of each requested group: the groups' outputs are one contiguous run.
  const bool run = ca == c0 && cb == c0 + nc && bl.c0 == c0 && bl.nc == nc;
  // A block of whole groups (every packed block) takes its requested groups as one run.
  const bool whole = bl.nr == k_;
  // The array's input rows: each requested group's slice of K; zeros for the others. Where they
  // are whole rows of the input matrix, one after another, the array reads them in place.
  const bool partial_groups = ga > bl.g0 || gb < bl.g0 + bl.ng;
  const int64_t m0 = j.first + t0 * replication_;
  const T* id = nullptr;
  if (x.matrix != nullptr && replication_ == 1 && whole && !partial_groups && ga == g0 &&
      width == x.ld) {
    id = x.matrix + m0 * x.ld;
  } else {
    T* in = grown(in_buf, static_cast<size_t>(nt * width));
    if (partial_groups) std::fill_n(in, nt * width, T(0));
    if (whole)
      x.rows(m0, replication_, nt, (ga - g0) * k_, (gb - ga) * k_, in + (ga - bl.g0) * k_, width);
    else
      for (int64_t g = ga; g < gb; ++g)
        x.rows(m0, replication_, nt, (g - g0) * k_ + bl.r0, bl.nr, in + (g - bl.g0) * bl.nr, width);
    id = in;
  }
  float* const od_buf = direct != nullptr ? direct : part_out.data();
  const float* od = od_buf;
  Tensor ref;
  if constexpr (std::is_same_v<T, int16_t>) {
    array->mvm_rows(j.call, id, static_cast<int>(nt), static_cast<uint64_t>(t0), od_buf);
  } else if (analog) {
    array->mvm_rows(j.call, id, static_cast<int>(nt), static_cast<uint64_t>(t0), od_buf, form);
  } else {
    // The exact product of the block's weights, as CrossbarArray::mvm_reference computes it: the
    // arrays need not be programmed.
    if (weights_ == nullptr)
      throw Error(ErrorKind::invalid, "chip instance", "a capture pass after its weights went",
                  "keep the weights (SimOptions::keep_weights)");
    for (int64_t i = 0; i < nt * width; ++i)
      if (!std::isfinite(id[i]))
        throw Error(ErrorKind::invalid, "crossbar array", "inputs contain NaN or infinity",
                    "pass finite values");
    const Tensor w = block_matrix(*weights_, transposed_, k_, n_, bl);
    ref = Tensor(DType::f32, {nt, ow});
    ops::sgemm_blocked(false, false, nt, ow, width, 1.0f, id, width, w.data<float>(), ow, 0.0f,
                       ref.data<float>(), ow, "ViewArrays capture");
    od = ref.data<float>();
  }
  if constexpr (std::is_same_v<T, float>) {
    if (j.record) {
      Captured& cap = captured_[static_cast<size_t>(j.copy)]
                               [static_cast<size_t>(input_of_[static_cast<size_t>(j.block)])];
      for (int64_t i = 0; i < nt * width; ++i)
        cap.max_abs = std::max(cap.max_abs, std::fabs(id[i]));
      const int64_t keep = std::min(nt, kCaptureRowsPerCall);
      for (int64_t s = 0; s < keep; ++s) {
        const float* row = id + (s * nt / keep) * width;
        cap.rows.insert(cap.rows.end(), row, row + width);
      }
      cap.count += keep;
    }
  }
  // The partial sums of this row block: one run, or a group's columns at a time.
  if (direct != nullptr) return;
  for (int64_t g = ga; g < (run ? ga + 1 : gb); ++g)
    out.sink(m0, replication_, nt, (g - g0) * nc + (ca - c0), run ? (gb - ga) * nc : cb - ca,
             od + (g - bl.g0) * bl.nc + (ca - bl.c0), ow, first, last);
}

void ViewArrays::calibrate(double input_range, int64_t max_rows) {
  for (size_t r = 0; r < arrays_.size(); ++r) {
    for (size_t b = 0; b < arrays_[r].size(); ++b) {
      const Captured& cap = captured_[r][static_cast<size_t>(input_of_[b])];
      const Block& bl = blocks_[b];
      const int64_t width = bl.ng * bl.nr;
      const int64_t sel = std::min(cap.count, max_rows);
      Tensor samples(DType::f32, {sel, width});
      for (int64_t s = 0; s < sel; ++s)
        std::copy_n(cap.rows.data() + (s * cap.count / sel) * width, width,
                    samples.data<float>() + s * width);
      const double range = input_range > 0 ? input_range : static_cast<double>(cap.max_abs);
      arrays_[r][b].calibrate(samples, range);
    }
    captured_[r].assign(captured_[r].size(), Captured{});
  }
  check_shared_dac();
}

void ViewArrays::set_time(double seconds) {
  for (std::vector<CrossbarArray>& copy : arrays_)
    for (CrossbarArray& a : copy) a.set_time(seconds);
}

}  // namespace acim::sim
