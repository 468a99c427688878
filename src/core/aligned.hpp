// Storage on 64-byte boundaries for the packed matrices of the product kernels
// (src/device/crossbar.cpp, gemm_i16.cpp): a packed panel row is then whole cache lines, and no
// 64-byte vector load straddles two.
#pragma once

#include <cstddef>
#include <new>
#include <vector>

namespace acim {

template <class T>
struct CacheLineAllocator {
  using value_type = T;
  static constexpr std::align_val_t kAlign{64};
  CacheLineAllocator() = default;
  template <class U>
  CacheLineAllocator(const CacheLineAllocator<U>&) {}
  T* allocate(size_t n) { return static_cast<T*>(::operator new(n * sizeof(T), kAlign)); }
  void deallocate(T* p, size_t) { ::operator delete(p, kAlign); }
  template <class U>
  bool operator==(const CacheLineAllocator<U>&) const {
    return true;
  }
};

template <class T>
using AlignedVector = std::vector<T, CacheLineAllocator<T>>;

}  // namespace acim
