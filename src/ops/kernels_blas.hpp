// Small helpers around the CBLAS calls of the float kernels (conv, gemm).
#pragma once

#include <cblas.h>

#include <algorithm>
#include <climits>
#include <cstdint>
#include <string>

#include "acim/error.hpp"

namespace acim::ops {

// A dimension as the BLAS's int; a dimension too large for it is a user-visible limit.
inline blasint blas_dim(int64_t v, const std::string& where) {
  if (v < 0 || v > static_cast<int64_t>(INT_MAX))
    throw Error(ErrorKind::limit, where,
                "a matrix dimension of " + std::to_string(v) + " is too large for the BLAS",
                "split the tensor into smaller ones");
  return static_cast<blasint>(v);
}

// C[m,n] = alpha * op(A) * op(B) + beta * C, row-major, with leading dimensions given.
inline void sgemm_rm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                     const float* a, int64_t lda, const float* b, int64_t ldb, float beta,
                     float* c, int64_t ldc, const std::string& where) {
  if (m == 0 || n == 0) return;
  if (k == 0) {  // op(A)*op(B) is all zeros; the BLAS refuses zero leading dimensions
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) c[i * ldc + j] = beta == 0.0f ? 0.0f : beta * c[i * ldc + j];
    return;
  }
  cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
              trans_b ? CblasTrans : CblasNoTrans, blas_dim(m, where), blas_dim(n, where),
              blas_dim(k, where), alpha, a, blas_dim(lda, where), b, blas_dim(ldb, where), beta,
              c, blas_dim(ldc, where));
}

// Rows / columns per block of sgemm_blocked, a function of the shape only (never of the thread
// count), so every output element is computed by the same BLAS call whatever the threads.
inline int64_t gemm_block(int64_t extent, int64_t min_block) {
  constexpr int64_t kTargetBlocks = 8;
  int64_t b = (extent + kTargetBlocks - 1) / kTargetBlocks;
  b = (b + 15) / 16 * 16;
  return std::max(b, min_block);
}

// sgemm_rm split into fixed row and column blocks run in parallel by OpenMP, one BLAS call per
// block. Small products are one call.
inline void sgemm_blocked(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k,
                          float alpha, const float* a, int64_t lda, const float* b, int64_t ldb,
                          float beta, float* c, int64_t ldc, const std::string& where) {
  if (m * n * k < (int64_t{1} << 18)) {
    sgemm_rm(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, where);
    return;
  }
  for (int64_t v : {m, n, k, lda, ldb, ldc}) blas_dim(v, where);  // throw before the threads
  const int64_t bm = m <= 64 ? m : gemm_block(m, 64);
  const int64_t bn = gemm_block(n, 64);
  const int64_t mb = (m + bm - 1) / bm, nb = (n + bn - 1) / bn;
#pragma omp parallel for schedule(static)
  for (int64_t blk = 0; blk < mb * nb; ++blk) {
    const int64_t i0 = (blk / nb) * bm, j0 = (blk % nb) * bn;
    const int64_t mi = std::min(bm, m - i0), nj = std::min(bn, n - j0);
    sgemm_rm(trans_a, trans_b, mi, nj, k, alpha, trans_a ? a + i0 : a + i0 * lda, lda,
             trans_b ? b + j0 * ldb : b + j0, ldb, beta, c + i0 * ldc + j0, ldc, where);
  }
}

}  // namespace acim::ops
