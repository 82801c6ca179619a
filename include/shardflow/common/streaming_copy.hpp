#pragma once
// memcpy with non-temporal stores for large copies. glibc switches to them only above a threshold
// of hundreds of MiB, but the exchange's copies of staging regions into output columns are far
// larger than the cache, so reading each destination line before overwriting it is wasted
// traffic. Measured in benchmarks/bench_shuffle.cpp.

#include <cstddef>
#include <cstdint>
#include <cstring>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "shardflow/common/types.hpp"

namespace shardflow {

/// Copies and stores at or above this size bypass the cache: such outputs do not fit in it
/// anyway, and a normal store first reads the line it writes (and, for staging memory a peer has
/// just read, takes it back from the peer's cache). Smaller ones stay cached for their reader.
inline constexpr idx_t kStreamingStoreMinBytes = idx_t{2} << 20;

/// Makes this thread's non-temporal stores visible before anything it stores later (in
/// particular before it tells a peer, through MPI, that the data is ready).
inline void stream_fence() {
#if defined(__x86_64__)
  _mm_sfence();
#endif
}

/// Local: memcpy(dst, src, bytes), with non-temporal stores (and a fence) from
/// kStreamingStoreMinBytes on. The ranges must not overlap.
inline void copy_streaming(void* dst, const void* src, size_t bytes) {
#if defined(__x86_64__)
  if (bytes >= static_cast<size_t>(kStreamingStoreMinBytes)) {
    auto* d = static_cast<char*>(dst);
    const auto* s = static_cast<const char*>(src);
    const size_t head = (16 - (reinterpret_cast<std::uintptr_t>(d) & 15)) & 15;
    std::memcpy(d, s, head);
    d += head;
    s += head;
    bytes -= head;
    const size_t blocks = bytes / 64;
    for (size_t b = 0; b < blocks; ++b, d += 64, s += 64) {
      const __m128i v0 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s));
      const __m128i v1 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s + 16));
      const __m128i v2 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s + 32));
      const __m128i v3 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s + 48));
      _mm_stream_si128(reinterpret_cast<__m128i*>(d), v0);
      _mm_stream_si128(reinterpret_cast<__m128i*>(d + 16), v1);
      _mm_stream_si128(reinterpret_cast<__m128i*>(d + 32), v2);
      _mm_stream_si128(reinterpret_cast<__m128i*>(d + 48), v3);
    }
    std::memcpy(d, s, bytes % 64);
    stream_fence();
    return;
  }
#endif
  std::memcpy(dst, src, bytes);
}

}  // namespace shardflow
