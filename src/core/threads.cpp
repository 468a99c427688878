#include "acim/threads.hpp"

#include <cblas.h>
#include <dlfcn.h>
#include <omp.h>

#include "core/blas.hpp"

namespace acim {

namespace detail {

// Debian's default OpenBLAS (the pthreads build) starts one worker per CPU when it is loaded,
// and an idle worker spins on sched_yield for about 0.1 s after each wake-up before it sleeps
// (OpenBLAS's THREAD_TIMEOUT). openblas_set_num_threads(1) does not stop them. On a 2-CPU machine
// that spinning took the other CPU (or the same core's other hyperthread) during the first
// inferences after start-up: the LSTM's first analog run at batch 256 took 28-32 ms against
// 20-21 ms with OPENBLAS_NUM_THREADS=1 (measured 2026-11-26, `acim --threads 1 run`, three runs
// each), 0.1 s of system time per process. acim never runs OpenBLAS threaded, so the pool is
// shut down. blas_thread_shutdown_ is OpenBLAS's own fork handler (exported by the pthreads and
// OpenMP builds; a later threaded call would start the pool again); it is looked up at run time
// because a serial OpenBLAS, or another CBLAS, does not have it.
void use_single_threaded_blas() {
  static const bool done = [] {
    openblas_set_num_threads(1);
    using Shutdown = int (*)();
    if (auto shutdown = reinterpret_cast<Shutdown>(dlsym(RTLD_DEFAULT, "blas_thread_shutdown_")))
      shutdown();
    return true;
  }();
  (void)done;
}

}  // namespace detail

// Parallelism comes from OpenMP in acim's own kernels, which split work into blocks whose size
// depends only on tensor shapes. OpenBLAS always runs single-threaded inside those blocks:
// its threaded sgemm gives different bits at different thread counts (measured with OpenBLAS
// 0.3.21), and its pthreads would oversubscribe the cores OpenMP already uses.
void set_num_threads(int n) {
  if (n <= 0) n = omp_get_num_procs();
  omp_set_num_threads(n);
  detail::use_single_threaded_blas();
}

int num_threads() { return omp_get_max_threads(); }

}  // namespace acim
