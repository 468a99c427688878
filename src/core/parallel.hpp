// Parallel loops that cost nothing when they run on one thread.
#pragma once

#include <omp.h>

#include <cstdint>

namespace acim::detail {

// Whether a loop worth splitting (`worth`) should open an OpenMP team here: only with more than
// one thread and outside any team. An `#pragma omp parallel` whose `if` clause is false still
// starts a team of one, and inside another team (an array's product inside a layer's parallel
// jobs) that team is built anew each time: an allocation and futex calls, about 1 µs. The LSTM's
// batch-1 analog inference made 128 of them per sample (strace: 256 futex calls; 15 % of its
// time in perf, 2026-11-26).
inline bool open_team(bool worth) {
  return worth && omp_get_max_threads() > 1 && !omp_in_parallel();
}

// body(i) for i in [0, n): split statically over the threads when open_team(worth), else in
// order on this thread. Each i runs exactly once either way; the caller makes the results
// independent of the split.
template <class Body>
void parallel_for_static(int64_t n, bool worth, const Body& body) {
  if (open_team(worth)) {
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; ++i) body(i);
  } else {
    for (int64_t i = 0; i < n; ++i) body(i);
  }
}

// The same with dynamic scheduling (items of uneven cost).
template <class Body>
void parallel_for_dynamic(int64_t n, bool worth, const Body& body) {
  if (open_team(worth)) {
#pragma omp parallel for schedule(dynamic)
    for (int64_t i = 0; i < n; ++i) body(i);
  } else {
    for (int64_t i = 0; i < n; ++i) body(i);
  }
}

}  // namespace acim::detail
