// Thread count for the CPU kernels (OpenMP and the BLAS). Results do not depend on it.
#pragma once

namespace acim {

// n <= 0 means "all hardware threads".
void set_num_threads(int n);
int num_threads();

}  // namespace acim
