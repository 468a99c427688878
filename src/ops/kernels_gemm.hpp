// acim's own single-precision GEMM for the float kernels (Conv, Gemm, MatMul): AVX-512
// register-tile micro-kernels (8 rows x 32 columns) with the bias, scaling and fused activation
// applied in the epilogue while the tile is in registers. Defined in src/ops/gemm.cpp.
//
// Every output element is one sequential multiply-add chain over k = 0..K-1 from zero, followed
// by the epilogue, whatever the blocking, so callers may split M and N among threads freely and
// results do not depend on the thread count. On CPUs without AVX-512 fast_gemm_available() is
// false and callers use the BLAS (kernels_blas.hpp).
#pragma once

#include <cstdint>

#include "ops/kernels_act.hpp"

namespace acim::ops {

// Multiply-accumulates below which a kernel runs on the calling thread alone: waking the other
// threads costs more than they save (and far more on a loaded machine).
constexpr int64_t kParallelMinMacs = int64_t{1} << 18;

struct GemmEpilogue {
  float alpha = 1.0f;               // scales A*B
  bool accumulate = false;          // add C's current contents (after alpha)
  const float* row_bias = nullptr;  // [M], added to every row (conv bias)
  const float* col_bias = nullptr;  // [N], added to every column (Gemm's 1-D C)
  const FusedActs* acts = nullptr;  // activations after the bias (nullptr: none)
};

// True when the AVX-512 kernels can run on this CPU.
bool fast_gemm_available();

// C[m,n] = epilogue(A[m,k] * op(B)), row-major, on the calling thread. B is [k,n] with leading
// dimension ldb, or with trans_b [n,k] (then packed per 32 columns into a thread-local buffer).
// Requires fast_gemm_available().
void fast_gemm(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* b,
               int64_t ldb, bool trans_b, float* c, int64_t ldc, const GemmEpilogue& e);

// The same with B given by row pointers: B[p][j] = brows[p][boff + j] (the rows may overlap,
// as for a convolution read straight from a padded input plane).
void fast_gemm_rows(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda,
                    const float* const* brows, int64_t boff, float* c, int64_t ldc,
                    const GemmEpilogue& e);

// fast_gemm split into fixed blocks of rows and columns run in parallel by OpenMP (one thread
// for small products); results do not depend on the thread count.
void fast_gemm_parallel(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda,
                        const float* b, int64_t ldb, bool trans_b, float* c, int64_t ldc,
                        const GemmEpilogue& e);

}  // namespace acim::ops
