// OpenBLAS inside acim: always single-threaded (see src/core/threads.cpp for why).
#pragma once

namespace acim::detail {

// Sets OpenBLAS to one thread and ends the worker threads its pthreads build starts when it is
// loaded. Idempotent; called before any kernel runs and by set_num_threads.
void use_single_threaded_blas();

}  // namespace acim::detail
