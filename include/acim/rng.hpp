// Seeded random streams. Every random draw in acim comes from a RandomStream keyed by a path of
// integers (seed, chip instance, layer, array, purpose, ...). Draw number i of a stream is a
// pure function of (key, i) — a counter-based generator, Philox4x32-10 (Salmon, Moraes, Dror,
// Shaw: "Parallel random numbers: as easy as 1, 2, 3", SC 2011) — so results are identical run
// to run and for any number of threads, however the draws are split among them.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <initializer_list>

namespace acim {

// One Philox4x32-10 block: four 32-bit outputs for a 128-bit counter and a 64-bit key.
std::array<uint32_t, 4> philox4x32(std::array<uint32_t, 4> counter, std::array<uint32_t, 2> key);

class RandomStream {
 public:
  // A stream for `seed` and a path of keys; different paths give independent streams.
  explicit RandomStream(uint64_t seed, std::initializer_list<uint64_t> path = {});

  // The stream of one more key below this one (e.g. the stream of MVM number k).
  RandomStream child(uint64_t key) const;

  // out[i] = draw (offset + i) of this stream.
  void normal(float* out, size_t n, uint64_t offset = 0) const;   // N(0, 1)
  void uniform(float* out, size_t n, uint64_t offset = 0) const;  // U(0, 1), never 0 or 1
  double normal_at(uint64_t index) const;
  double uniform_at(uint64_t index) const;
  uint32_t bits_at(uint64_t index) const;  // 32 random bits

  uint64_t key() const { return key_; }

 private:
  explicit RandomStream(uint64_t key_value, int) : key_(key_value) {}
  uint64_t key_ = 0;
};

namespace detail {
// The normal draws of whole Philox blocks first_block .. first_block + blocks - 1 of the stream
// with key `key` (4 per block, in stream order), by the portable scalar path and by the SIMD
// path (AVX-512, chosen at run time). The two give the same bits; normal() uses the SIMD path
// where it can. normal_blocks_simd returns false (writing nothing) when the CPU lacks AVX-512
// or blocks is not a multiple of 16. Exposed for tests and benchmarks.
void normal_blocks_scalar(uint64_t key, uint64_t first_block, size_t blocks, float* out);
bool normal_blocks_simd(uint64_t key, uint64_t first_block, size_t blocks, float* out);
// Draws offset .. offset + n - 1 of that stream's normals by the SIMD path alone (whole groups of
// 16 blocks, cut to the range); false (writing nothing) when the CPU lacks AVX-512. normal()
// uses it for all but the shortest ranges.
bool normal_range_simd(uint64_t key, uint64_t offset, size_t n, float* out);
}  // namespace detail

}  // namespace acim
