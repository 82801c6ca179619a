#pragma once
// Software prefetches that the compiler keeps.
//
// Why not __builtin_prefetch alone: GCC's dead-code elimination may delete a loop whose body is
// nothing but prefetches (the cache lines of one row). GCC 12 -O3 deleted ml::Dataset::
// prefetch_row's loop from the SGD trainer's row gather: sgd_trainer.cpp compiled to no prefetch
// instruction at all (with -fno-tree-dce, two). An asm statement is kept as written.

#include <cstddef>

namespace shardflow {

/// Starts loading the cache line holding `p` into all cache levels. Never faults.
inline void prefetch_line(const void* p) {
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
  asm volatile("prefetcht0 %0" : : "m"(*static_cast<const char*>(p)));
#else
  __builtin_prefetch(p);
#endif
}

/// Starts loading the cache lines of [p, p + bytes).
inline void prefetch_range(const void* p, std::size_t bytes) {
  const auto* c = static_cast<const char*>(p);
  for (std::size_t offset = 0; offset < bytes; offset += 64)
    prefetch_line(c + offset);
}

}  // namespace shardflow
