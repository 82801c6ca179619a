#pragma once
// `Buffer<T>`: the storage of a column's values. A std::vector whose growth does not zero the new
// elements: `resize(n)` and `Buffer<T>(n)` leave them default-initialized, which for the
// arithmetic types of a column means *uninitialized*, like make_unique_for_overwrite. Operators
// that write every element anyway (the shuffle's output, a gather, a decoder) skip a pass over
// memory that cost about a quarter of a shuffle. Wherever zeros (or any value) are meant, say so:
// `resize(n, T{})`, `assign(n, v)`.
//
// While a shared_heap::Scope is alive on the allocating thread, buffers come from this process's
// shared heap (common/shared_heap.hpp), which the other ranks on the host can write into: the
// shuffle's output columns. Freeing returns a block to wherever it came from. Other large blocks
// are advised onto transparent huge pages (common/memory.hpp use_huge_pages_for_buffers).

#include <memory>
#include <new>
#include <type_traits>
#include <utility>
#include <vector>

#include "shardflow/common/memory.hpp"
#include "shardflow/common/shared_heap.hpp"

namespace shardflow::table {

/// std::allocator, except that construct(p) without arguments default-initializes.
template <typename T>
class DefaultInitAllocator : public std::allocator<T> {
 public:
  template <typename U>
  struct rebind {
    using other = DefaultInitAllocator<U>;
  };
  DefaultInitAllocator() noexcept = default;
  template <typename U>
  DefaultInitAllocator(const DefaultInitAllocator<U>&) noexcept {}

  template <typename U>
  void construct(U* p) noexcept(std::is_nothrow_default_constructible_v<U>) {
    ::new (static_cast<void*>(p)) U;
  }
  template <typename U, typename... Args>
  void construct(U* p, Args&&... args) {
    ::new (static_cast<void*>(p)) U(std::forward<Args>(args)...);
  }

  T* allocate(std::size_t n) {
    if (shared_heap::scope_active()) [[unlikely]] {
      if (void* p = shared_heap::allocate(n * sizeof(T))) return static_cast<T*>(p);
    }
    T* p = std::allocator<T>::allocate(n);
    // Large blocks on transparent huge pages (memory.hpp use_huge_pages_for_buffers): their
    // first write, which every column pays once, faults in 2 MiB at a time, and random access
    // into them misses the TLB less.
    advise_huge_pages_for_buffer(p, n * sizeof(T));
    return p;
  }
  void deallocate(T* p, std::size_t n) noexcept {
    if (shared_heap::contains(p)) [[unlikely]] {
      shared_heap::deallocate(p);
      return;
    }
    std::allocator<T>::deallocate(p, n);
  }
};

template <typename T>
using Buffer = std::vector<T, DefaultInitAllocator<T>>;

}  // namespace shardflow::table
