#include "acim/rng.hpp"

#include <cmath>

namespace acim {

namespace {

// Philox4x32 round constants (Salmon et al., SC 2011).
constexpr uint32_t kMul0 = 0xD2511F53u;
constexpr uint32_t kMul1 = 0xCD9E8D57u;
constexpr uint32_t kWeyl0 = 0x9E3779B9u;
constexpr uint32_t kWeyl1 = 0xBB67AE85u;

inline void mulhilo(uint32_t a, uint32_t b, uint32_t& hi, uint32_t& lo) {
  uint64_t p = static_cast<uint64_t>(a) * b;
  hi = static_cast<uint32_t>(p >> 32);
  lo = static_cast<uint32_t>(p);
}

// SplitMix64 finaliser (Steele, Lea, Flood, OOPSLA 2014): mixes a key path into one key.
inline uint64_t mix64(uint64_t z) {
  z += 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

inline std::array<uint32_t, 4> block(uint64_t key, uint64_t index) {
  return philox4x32({static_cast<uint32_t>(index), static_cast<uint32_t>(index >> 32), 0u, 0u},
                    {static_cast<uint32_t>(key), static_cast<uint32_t>(key >> 32)});
}

// 32 random bits to a float in (0, 1): 24 bits of mantissa, offset by half a step.
inline float to_unit(uint32_t x) { return (static_cast<float>(x >> 8) + 0.5f) * (1.0f / 16777216.0f); }

// Box–Muller: two uniforms to two independent standard normals.
inline void box_muller(uint32_t a, uint32_t b, float& z0, float& z1) {
  const float r = std::sqrt(-2.0f * std::log(to_unit(a)));
  const float theta = 6.2831853071795864f * to_unit(b);
  z0 = r * std::cos(theta);
  z1 = r * std::sin(theta);
}

}  // namespace

std::array<uint32_t, 4> philox4x32(std::array<uint32_t, 4> c, std::array<uint32_t, 2> k) {
  for (int round = 0; round < 10; ++round) {
    uint32_t hi0, lo0, hi1, lo1;
    mulhilo(kMul0, c[0], hi0, lo0);
    mulhilo(kMul1, c[2], hi1, lo1);
    c = {hi1 ^ c[1] ^ k[0], lo1, hi0 ^ c[3] ^ k[1], lo0};
    k[0] += kWeyl0;
    k[1] += kWeyl1;
  }
  return c;
}

RandomStream::RandomStream(uint64_t seed, std::initializer_list<uint64_t> path) : key_(mix64(seed)) {
  for (uint64_t p : path) key_ = mix64(key_ ^ mix64(p + 0x632BE59BD9B4E019ull));
}

RandomStream RandomStream::child(uint64_t k) const {
  return RandomStream(mix64(key_ ^ mix64(k + 0x632BE59BD9B4E019ull)), 0);
}

// Draw i lives in lane i % 4 of block i / 4; normals come in Box–Muller pairs of lanes (0,1),
// (2,3). Whole blocks are generated at a time; partial blocks at the ends are cut.
void RandomStream::normal(float* out, size_t n, uint64_t offset) const {
  size_t i = 0;
  while (i < n) {
    uint64_t index = offset + i;
    uint64_t b = index / 4;
    unsigned lane = static_cast<unsigned>(index % 4);
    auto r = block(key_, b);
    float z[4];
    box_muller(r[0], r[1], z[0], z[1]);
    box_muller(r[2], r[3], z[2], z[3]);
    for (; lane < 4 && i < n; ++lane, ++i) out[i] = z[lane];
  }
}

void RandomStream::uniform(float* out, size_t n, uint64_t offset) const {
  size_t i = 0;
  while (i < n) {
    uint64_t index = offset + i;
    auto r = block(key_ ^ 0x5555555555555555ull, index / 4);
    for (unsigned lane = static_cast<unsigned>(index % 4); lane < 4 && i < n; ++lane, ++i)
      out[i] = to_unit(r[lane]);
  }
}

double RandomStream::normal_at(uint64_t index) const {
  float z;
  normal(&z, 1, index);
  return z;
}

double RandomStream::uniform_at(uint64_t index) const {
  float u;
  uniform(&u, 1, index);
  return u;
}

uint32_t RandomStream::bits_at(uint64_t index) const {
  return block(key_ ^ 0xAAAAAAAAAAAAAAAAull, index / 4)[index % 4];
}

}  // namespace acim
