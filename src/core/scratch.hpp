// Scratch buffers kept between calls (per thread or per object): grown to the size a call needs
// and never shrunk, so that calls of different sizes one after another neither allocate nor
// zero-fill them again (std::vector::resize value-initialises what it adds, even within the
// capacity). The contents are undefined: a caller writes every element it reads.
#pragma once

#include <cstddef>
#include <vector>

namespace acim {

template <class T, class A>
T* grown(std::vector<T, A>& v, size_t n) {
  if (v.size() < n) v.resize(n);
  return v.data();
}

}  // namespace acim
