#pragma once
// `Buffer<T>`: the storage of a column's values. A std::vector whose growth does not zero the new
// elements: `resize(n)` and `Buffer<T>(n)` leave them default-initialized, which for the
// arithmetic types of a column means *uninitialized*, like make_unique_for_overwrite. Operators
// that write every element anyway (the shuffle's output, a gather, a decoder) skip a pass over
// memory that cost about a quarter of a shuffle. Wherever zeros (or any value) are meant, say so:
// `resize(n, T{})`, `assign(n, v)`.

#include <memory>
#include <new>
#include <type_traits>
#include <utility>
#include <vector>

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
};

template <typename T>
using Buffer = std::vector<T, DefaultInitAllocator<T>>;

}  // namespace shardflow::table
