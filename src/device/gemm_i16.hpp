// The signal product of an analog MVM in integers: a conductance matrix G [rows, cols] stored as
// 16-bit integers with a scale per column, G[i, j] ~ scale[j] * q[i, j], times rows of DAC levels
// (integers), each output summed exactly in 32-bit integers.
//
// Why: an amplitude DAC puts integer levels on the rows, so the signal product is integer inputs
// times conductances. Rounded to 16 bits of its column's largest |G| (error <= 2^-16 of it, far
// below programming noise and the ADC's step), the conductances make the product one of small
// integers, which AVX-512 VNNI (vpdpwssd: 32 int16 products a cycle per port) computes at twice
// the float32 FMA rate, from half the bytes. The integer sum is exact, so the result is the same
// for any blocking, batch split, thread count and CPU (the scalar path gives the same bits).
//
// Overflow: |sum_i level_i q_ij| <= rows * max_level * q_limit < 2^31 (i16_limit).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/aligned.hpp"

namespace acim {

// The largest |q| for products of `rows` rows with levels of at most `max_level` in magnitude
// whose sums stay below 2^31 (at most 32767). 0 if even q = 1 could overflow.
int i16_limit(int rows, int max_level);

// G packed for gemm_i16. Rows are cut into groups of `group_rows` (the last may be shorter): a
// product covers one group (an MVM's conversion pass) or, with group_rows = rows, all rows.
struct PackedI16 {
  int rows = 0, cols = 0, group_rows = 0;
  std::vector<float> scale;  // per column: G[i, j] ~ scale[j] * q[i, j]
  // Implementation-defined layout (src/device/gemm_i16.cpp): per group, row pairs interleaved
  // per column as vpdpwssd reads them, padded with a zero row where a group's rows are odd.
  AlignedVector<int16_t> data;
  std::vector<size_t> group_offset;  // start of each group in data
  bool empty() const { return rows == 0 || cols == 0; }
};

// Packs G [rows, cols] (row i at g + i * ldg). q[i, j] = round-half-even(G[i, j] / scale[j]) with
// scale[j] = max_i |G[i, j]| / q_limit (a column of zeros: scale 0, q 0), q_limit =
// i16_limit(group_rows, max_level). Every G finite; q_limit > 0 (the caller checks i16_limit).
PackedI16 pack_i16(const float* g, int rows, int cols, int ldg, int group_rows, int max_level);

// out[b * ldo + j] = float(sum_{i < nrows} a[b * lda + i] * q[row0 + i, j]) * (alpha * scale[j])
// for b < batch, j < cols (the int32 sum converted to float, times the float product of alpha
// and the column's scale), with row0 a group's first row and nrows its rows. Every |a| <=
// max_level given to pack_i16. AVX-512 VNNI where the CPU has it, else scalar: the same bits.
void gemm_i16(int batch, const int16_t* a, int lda, const PackedI16& p, int row0, int nrows,
              float alpha, float* out, int ldo);

// gemm_i16's two paths, for the tests that compare them: the scalar loop, and the VNNI kernel
// (false, nothing written, where it is not compiled or the CPU lacks AVX-512 VNNI).
namespace detail {
void gemm_i16_scalar(int batch, const int16_t* a, int lda, const PackedI16& p, int row0, int nrows,
                     float alpha, float* out, int ldo);
bool gemm_i16_simd(int batch, const int16_t* a, int lda, const PackedI16& p, int row0, int nrows,
                   float alpha, float* out, int ldo);
}  // namespace detail

}  // namespace acim
