// acim's hand-written AVX-512 kernels: whether they are compiled, and whether this CPU runs them.
//
// They are compiled with GCC on x86-64, each function marked target("avx512f"), so one binary
// runs everywhere: callers check cpu_has_avx512() and otherwise take the portable path. Clang
// builds (the fuzzing and ThreadSanitizer presets) compile the portable paths only: Clang does
// not carry a function's target attribute into the OpenMP regions outlined from it.
//
// Include this before any other header in a kernel file: with AVX-512 it also silences GCC 12's
// -Wuninitialized false positives from the _mm512_undefined_*() its intrinsics start from, for
// the rest of that file.
#pragma once

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define ACIM_HAVE_AVX512 1
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#define ACIM_TARGET_AVX512 __attribute__((target("avx512f")))
#else
#define ACIM_HAVE_AVX512 0
#endif

namespace acim {

// True when the AVX-512 kernels are compiled and this CPU has AVX-512 F, VL and BW (the 256-bit
// forms and 16-bit lanes some kernels use; every AVX-512 CPU but the Xeon Phi has all three).
inline bool cpu_has_avx512() {
#if ACIM_HAVE_AVX512
  static const bool has = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
                          __builtin_cpu_supports("avx512bw");
  return has;
#else
  return false;
#endif
}

// True when, besides cpu_has_avx512(), this CPU has AVX-512 VNNI (vpdpwssd: the integer
// product kernel of src/device/gemm_i16.cpp; Cascade Lake, Ice Lake and Zen 4 on).
inline bool cpu_has_avx512_vnni() {
#if ACIM_HAVE_AVX512
  static const bool has = cpu_has_avx512() && __builtin_cpu_supports("avx512vnni");
  return has;
#else
  return false;
#endif
}

}  // namespace acim
