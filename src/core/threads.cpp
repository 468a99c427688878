#include "acim/threads.hpp"

#include <cblas.h>
#include <omp.h>

namespace acim {

// Parallelism comes from OpenMP in acim's own kernels, which split work into blocks whose size
// depends only on tensor shapes. OpenBLAS always runs single-threaded inside those blocks:
// its threaded sgemm gives different bits at different thread counts (measured with OpenBLAS
// 0.3.21), and its pthreads would oversubscribe the cores OpenMP already uses.
void set_num_threads(int n) {
  if (n <= 0) n = omp_get_num_procs();
  omp_set_num_threads(n);
  openblas_set_num_threads(1);
}

int num_threads() { return omp_get_max_threads(); }

}  // namespace acim
