// ViewArrays: one matrix view on its crossbar arrays (see view_arrays.hpp for the cut).
#include "sim/view_arrays.hpp"

#include <algorithm>
#include <cmath>
#include <exception>

#include "acim/error.hpp"
#include "acim/mapping.hpp"

namespace acim::sim {

namespace {

// Rows one product keeps per array in capture mode (evenly spaced): enough for the final
// selection of calibrate() whatever the number of calibration samples, without holding every
// im2col row of a large layer.
constexpr int64_t kCaptureRowsPerCall = 256;

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
}

void ViewArrays::program(const std::function<const float*(int64_t)>& group_weights,
                         const std::vector<float>& full_scale, const ArrayParams& params,
                         uint64_t seed, int64_t instance, int64_t layer, int64_t first_index,
                         int64_t copy_stride) {
  ACIM_ASSERT(full_scale.empty() || static_cast<int64_t>(full_scale.size()) == count_ * n_,
              "ViewArrays: full scale size");
  arrays_.clear();
  arrays_.resize(static_cast<size_t>(replication_));
  captured_.assign(static_cast<size_t>(replication_), std::vector<Captured>(blocks_.size()));
  // Every copy holds the same weights: build each block's matrix once.
  std::vector<Tensor> weights;
  std::vector<std::vector<float>> scales;
  for (const Block& b : blocks_) {
    const int64_t wr = b.ng * b.nr, wc = b.ng * b.nc;
    Tensor w(DType::f32, {wr, wc});  // zero off the diagonal blocks
    float* wd = w.data<float>();
    std::vector<float> fs;
    for (int64_t j = 0; j < b.ng; ++j) {
      const float* src = group_weights(b.g0 + j);
      for (int64_t i = 0; i < b.nr; ++i)
        std::copy_n(src + (b.r0 + i) * n_ + b.c0, b.nc, wd + (j * b.nr + i) * wc + j * b.nc);
      if (!full_scale.empty()) {
        const float* f = full_scale.data() + (b.g0 + j) * n_ + b.c0;
        fs.insert(fs.end(), f, f + b.nc);
      }
    }
    weights.push_back(std::move(w));
    scales.push_back(std::move(fs));
  }
  for (int64_t r = 0; r < replication_; ++r) {
    std::vector<CrossbarArray>& copy = arrays_[static_cast<size_t>(r)];
    copy.reserve(blocks_.size());
    for (size_t b = 0; b < blocks_.size(); ++b) {
      const int64_t index = first_index + r * copy_stride + static_cast<int64_t>(b);
      copy.emplace_back(
          params, RandomStream(seed, {static_cast<uint64_t>(instance), static_cast<uint64_t>(layer),
                                      static_cast<uint64_t>(index)}));
      copy.back().program(weights[b], scales[b]);
    }
  }
}

void ViewArrays::mvm(const float* x, int64_t m_rows, int64_t x_ld, int64_t g0, int64_t ng,
                     int64_t p0, float* y, int64_t y_ld, int64_t c0, int64_t nc, MvmMode mode) {
  mvm([x, x_ld](int64_t m, int64_t k0, int64_t n,
                float* dst) { std::copy_n(x + m * x_ld + k0, n, dst); },
      m_rows, g0, ng, p0, y, y_ld, c0, nc, mode);
}

void ViewArrays::mvm(const RowSource& x_rows, int64_t m_rows, int64_t g0, int64_t ng, int64_t p0,
                     float* y, int64_t y_ld, int64_t c0, int64_t nc, MvmMode mode) {
  ACIM_ASSERT(g0 >= 0 && ng >= 0 && g0 + ng <= count_ && c0 >= 0 && nc >= 0 && c0 + nc <= n_,
              "ViewArrays::mvm: groups or columns out of range");
  for (int64_t m = 0; m < m_rows; ++m) std::fill_n(y + m * y_ld, ng * nc, 0.0f);
  if (m_rows == 0) return;
  // One job per (copy, array) that holds any requested group and column.
  struct Job {
    int64_t copy = 0, block = 0;
    int64_t first = 0, rows = 0;  // rows m = first + t * replication, t < rows
    int64_t ga = 0, gb = 0;       // requested groups the array holds
    int64_t ca = 0, cb = 0;       // requested columns the array holds
    Tensor out;
  };
  std::vector<Job> jobs;
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
            std::min(c0 + nc, bl.c0 + bl.nc),
            {}};
      if (j.ga < j.gb && j.ca < j.cb) jobs.push_back(std::move(j));
    }
  }
  std::vector<std::exception_ptr> errors(jobs.size());
#pragma omp parallel for schedule(dynamic) if (jobs.size() > 1)
  for (size_t ji = 0; ji < jobs.size(); ++ji) {
    try {
      Job& j = jobs[ji];
      const Block& bl = blocks_[static_cast<size_t>(j.block)];
      const int64_t width = bl.ng * bl.nr;
      // The array's input rows: each requested group's slice of K; zeros for the others (the
      // fill is needed only when some group of the array is not requested).
      Tensor in = Tensor::uninitialized(DType::f32, {j.rows, width});
      float* id = in.data<float>();
      if (j.ga > bl.g0 || j.gb < bl.g0 + bl.ng) std::fill_n(id, j.rows * width, 0.0f);
      // A block of whole groups (every packed block) takes its requested groups as one run.
      const bool whole = bl.nr == k_;
      for (int64_t t = 0; t < j.rows; ++t) {
        const int64_t m = j.first + t * replication_;
        if (whole) {
          x_rows(m, (j.ga - g0) * k_, (j.gb - j.ga) * k_, id + t * width + (j.ga - bl.g0) * k_);
          continue;
        }
        for (int64_t g = j.ga; g < j.gb; ++g)
          x_rows(m, (g - g0) * k_ + bl.r0, bl.nr, id + t * width + (g - bl.g0) * bl.nr);
      }
      CrossbarArray& array = arrays_[static_cast<size_t>(j.copy)][static_cast<size_t>(j.block)];
      if (mode == MvmMode::analog) {
        j.out = array.mvm(in);
      } else {
        j.out = array.mvm_reference(in);
        Captured& cap = captured_[static_cast<size_t>(j.copy)][static_cast<size_t>(j.block)];
        for (float v : in.span<float>()) cap.max_abs = std::max(cap.max_abs, std::fabs(v));
        const int64_t keep = std::min(j.rows, kCaptureRowsPerCall);
        for (int64_t s = 0; s < keep; ++s) {
          const float* row = id + (s * j.rows / keep) * width;
          cap.rows.insert(cap.rows.end(), row, row + width);
        }
        cap.count += keep;
      }
    } catch (...) {
      errors[ji] = std::current_exception();
    }
  }
  for (const std::exception_ptr& e : errors)
    if (e) std::rethrow_exception(e);
  // Partial sums, job by job: for each output, its row blocks in order.
  for (const Job& j : jobs) {
    const Block& bl = blocks_[static_cast<size_t>(j.block)];
    const int64_t ow = bl.ng * bl.nc;
    const float* od = j.out.data<float>();
    // Every column of each requested group: the groups' outputs are one contiguous run.
    const bool run = j.ca == c0 && j.cb == c0 + nc && bl.c0 == c0 && bl.nc == nc;
    for (int64_t t = 0; t < j.rows; ++t) {
      float* yr = y + (j.first + t * replication_) * y_ld;
      if (run) {
        const float* src = od + t * ow + (j.ga - bl.g0) * nc;
        float* dst = yr + (j.ga - g0) * nc;
        for (int64_t k = 0; k < (j.gb - j.ga) * nc; ++k) dst[k] += src[k];
        continue;
      }
      for (int64_t g = j.ga; g < j.gb; ++g) {
        const float* src = od + t * ow + (g - bl.g0) * bl.nc;
        float* dst = yr + (g - g0) * nc;
        for (int64_t c = j.ca; c < j.cb; ++c) dst[c - c0] += src[c - bl.c0];
      }
    }
  }
}

void ViewArrays::calibrate(double input_range, int64_t max_rows) {
  for (size_t r = 0; r < arrays_.size(); ++r)
    for (size_t b = 0; b < arrays_[r].size(); ++b) {
      Captured& cap = captured_[r][b];
      const Block& bl = blocks_[b];
      const int64_t width = bl.ng * bl.nr;
      const int64_t sel = std::min(cap.count, max_rows);
      Tensor samples(DType::f32, {sel, width});
      for (int64_t s = 0; s < sel; ++s)
        std::copy_n(cap.rows.data() + (s * cap.count / sel) * width, width,
                    samples.data<float>() + s * width);
      const double range = input_range > 0 ? input_range : static_cast<double>(cap.max_abs);
      arrays_[r][b].calibrate(samples, range);
      cap = Captured{};
    }
}

void ViewArrays::set_time(double seconds) {
  for (std::vector<CrossbarArray>& copy : arrays_)
    for (CrossbarArray& a : copy) a.set_time(seconds);
}

}  // namespace acim::sim
