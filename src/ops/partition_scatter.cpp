#include "shardflow/ops/partition_scatter.hpp"

#include <array>
#include <cstring>

#include "shardflow/common/error.hpp"
#include "shardflow/common/hash.hpp"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define SHARDFLOW_PARTITION_SCATTER_AVX2 1
#endif

namespace shardflow::ops {

#if defined(SHARDFLOW_PARTITION_SCATTER_AVX2)

namespace {

// Lane permutations (vpermd indices) that move the selected lanes of a vector to its front, in
// order. For 8-byte values a lane is two 32-bit halves; for 4-byte values, one. The tail lanes
// hold junk that the next store overwrites or the buffer never flushes.
struct PackTable64 {
  alignas(32) std::int32_t index[16][8];
  constexpr PackTable64() : index{} {
    for (int mask = 0; mask < 16; ++mask) {
      int out = 0;
      for (int lane = 0; lane < 4; ++lane) {
        if ((mask >> lane & 1) != 0) {
          index[mask][2 * out] = 2 * lane;
          index[mask][2 * out + 1] = 2 * lane + 1;
          ++out;
        }
      }
      for (; out < 4; ++out) {
        index[mask][2 * out] = 0;
        index[mask][2 * out + 1] = 1;
      }
    }
  }
};
struct PackTable32 {
  alignas(32) std::int32_t index[256][8];
  constexpr PackTable32() : index{} {
    for (int mask = 0; mask < 256; ++mask) {
      int out = 0;
      for (int lane = 0; lane < 8; ++lane)
        if ((mask >> lane & 1) != 0) index[mask][out++] = lane;
      for (; out < 8; ++out)
        index[mask][out] = 0;
    }
  }
};
constexpr PackTable64 kPack64{};
constexpr PackTable32 kPack32{};

#define SHARDFLOW_AVX2 __attribute__((target("avx2,popcnt")))

// The write-combining buffers: per destination, kFlush elements (four cache lines) that leave
// together, plus room for one vector's overflow. buffer[k][0] belongs at line[k], a 64-byte
// aligned address; the first flush skips the elements before the destination's cursor, which
// may belong to another region.
template <typename T, int P>
struct CombiningBuffers {
  static constexpr int kLine = 64 / static_cast<int>(sizeof(T));
  static constexpr int kFlush = 4 * kLine;
  // A row stride of whole cache lines keeps every buffer 64-byte aligned.
  static constexpr int kStride = kFlush + 2 * kLine;
  static constexpr int kLanes = 32 / static_cast<int>(sizeof(T));

  alignas(64) T buffer[P][kStride];
  int fill[P];  // elements in buffer[k], counting the skipped ones
  int skip[P];  // elements before the cursor in the first line (first flush only)
  T* line[P];   // where buffer[k][0] goes
  bool first[P];

  SHARDFLOW_AVX2 explicit CombiningBuffers(T* const* cursor) {
    for (int k = 0; k < P; ++k) {
      const auto address = reinterpret_cast<std::uintptr_t>(cursor[k]);
      const auto misalign = address & 63;
      line[k] = reinterpret_cast<T*>(address - misalign);
      fill[k] = skip[k] = static_cast<int>(misalign / sizeof(T));
      first[k] = true;
    }
  }

  template <bool kStream>
  SHARDFLOW_AVX2 void flush(int k) {
    T* const to = line[k];
    if (first[k]) {
      std::memcpy(to + skip[k], buffer[k] + skip[k],
                  sizeof(T) * static_cast<size_t>(kFlush - skip[k]));
      first[k] = false;
    } else {
      for (int b = 0; b < kFlush * static_cast<int>(sizeof(T)); b += 32) {
        const __m256i v = _mm256_load_si256(
            reinterpret_cast<const __m256i*>(reinterpret_cast<const char*>(buffer[k]) + b));
        auto* at = reinterpret_cast<__m256i*>(reinterpret_cast<char*>(to) + b);
        if constexpr (kStream)
          _mm256_stream_si256(at, v);
        else
          _mm256_store_si256(at, v);
      }
    }
    line[k] = to + kFlush;
    fill[k] -= kFlush;
    // The overflow of the last vector moves to the front.
    std::memcpy(buffer[k], buffer[k] + kFlush, sizeof(T) * kLanes);
  }

  SHARDFLOW_AVX2 void finish(T** cursor) {
    for (int k = 0; k < P; ++k) {
      const int from = first[k] ? skip[k] : 0;
      if (fill[k] > from)
        std::memcpy(line[k] + from, buffer[k] + from,
                    sizeof(T) * static_cast<size_t>(fill[k] - from));
      cursor[k] = line[k] + fill[k];
    }
  }
};

template <typename T, int P, bool kStream>
SHARDFLOW_AVX2 void scatter_avx2(const T* src, const std::uint8_t* dest, idx_t n, T** cursor) {
  static_assert(sizeof(T) == 8 || sizeof(T) == 4);
  CombiningBuffers<T, P> out(cursor);
  constexpr int kLanes = CombiningBuffers<T, P>::kLanes;
  constexpr int kFlush = CombiningBuffers<T, P>::kFlush;
  constexpr unsigned kLaneMask = (1u << kLanes) - 1;
  idx_t i = 0;
  for (; i + 32 <= n; i += 32) {
    // One bit per row and destination for the next 32 rows.
    const __m256i d = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(dest + i));
    std::uint32_t rows_for[P];
    for (int k = 0; k < P; ++k)
      rows_for[k] = static_cast<std::uint32_t>(
          _mm256_movemask_epi8(_mm256_cmpeq_epi8(d, _mm256_set1_epi8(static_cast<char>(k)))));
    for (int g = 0; g < 32 / kLanes; ++g) {
      const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + i + g * kLanes));
      for (int k = 0; k < P; ++k) {
        const unsigned mask = (rows_for[k] >> (g * kLanes)) & kLaneMask;
        const std::int32_t* index;
        if constexpr (sizeof(T) == 8)
          index = kPack64.index[mask];
        else
          index = kPack32.index[mask];
        const __m256i packed = _mm256_permutevar8x32_epi32(
            v, _mm256_load_si256(reinterpret_cast<const __m256i*>(index)));
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(out.buffer[k] + out.fill[k]), packed);
        out.fill[k] += __builtin_popcount(mask);
      }
      for (int k = 0; k < P; ++k)
        if (out.fill[k] >= kFlush) out.template flush<kStream>(k);
    }
  }
  for (; i < n; ++i) {
    const int k = dest[i];
    // memcpy: the values may be doubles or floats seen as integers of their width.
    std::memcpy(&out.buffer[k][out.fill[k]++], src + i, sizeof(T));
    if (out.fill[k] >= kFlush) out.template flush<kStream>(k);
  }
  out.finish(cursor);
  if constexpr (kStream) _mm_sfence();
}

// Low 64 bits of a * c in every lane (AVX2 has no 64-bit multiply): lo*lo + (hi*lo + lo*hi) << 32.
SHARDFLOW_AVX2 inline __m256i multiply_low64(__m256i a, __m256i c, __m256i c_high) {
  const __m256i low = _mm256_mul_epu32(a, c);
  const __m256i cross =
      _mm256_add_epi64(_mm256_mul_epu32(_mm256_srli_epi64(a, 32), c), _mm256_mul_epu32(a, c_high));
  return _mm256_add_epi64(low, _mm256_slli_epi64(cross, 32));
}

SHARDFLOW_AVX2 void hash_destinations_avx2(const std::int64_t* keys, idx_t n, std::uint64_t seed,
                                           int ranks, std::uint8_t* dest) {
  // hash_u64 (common/hash.hpp), four lanes at a time.
  constexpr std::uint64_t kMul1 = 0xff51afd7ed558ccdULL;
  constexpr std::uint64_t kMul2 = 0xc4ceb9fe1a85ec53ULL;
  const __m256i m1 = _mm256_set1_epi64x(static_cast<long long>(kMul1));
  const __m256i m1_high = _mm256_set1_epi64x(static_cast<long long>(kMul1 >> 32));
  const __m256i m2 = _mm256_set1_epi64x(static_cast<long long>(kMul2));
  const __m256i m2_high = _mm256_set1_epi64x(static_cast<long long>(kMul2 >> 32));
  const __m256i s = _mm256_set1_epi64x(static_cast<long long>(seed));
  const auto mask = static_cast<std::uint64_t>(ranks - 1);
  idx_t i = 0;
  for (; i + 4 <= n; i += 4) {
    __m256i x = _mm256_xor_si256(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(keys + i)), s);
    x = _mm256_xor_si256(x, _mm256_srli_epi64(x, 33));
    x = multiply_low64(x, m1, m1_high);
    x = _mm256_xor_si256(x, _mm256_srli_epi64(x, 33));
    x = multiply_low64(x, m2, m2_high);
    x = _mm256_xor_si256(x, _mm256_srli_epi64(x, 33));
    alignas(32) std::uint64_t h[4];
    _mm256_store_si256(reinterpret_cast<__m256i*>(h), x);
    for (int j = 0; j < 4; ++j)
      dest[i + j] = static_cast<std::uint8_t>(h[j] & mask);
  }
  for (; i < n; ++i)
    dest[i] =
        static_cast<std::uint8_t>(hash_u64(static_cast<std::uint64_t>(keys[i]) ^ seed) & mask);
}

template <typename T>
void scatter_dispatch(const T* src, const std::uint8_t* dest, idx_t n, T** cursor, int ranks,
                      bool streaming) {
  switch (ranks * 2 + (streaming ? 1 : 0)) {
    case 4:
      return scatter_avx2<T, 2, false>(src, dest, n, cursor);
    case 5:
      return scatter_avx2<T, 2, true>(src, dest, n, cursor);
    case 6:
      return scatter_avx2<T, 3, false>(src, dest, n, cursor);
    case 7:
      return scatter_avx2<T, 3, true>(src, dest, n, cursor);
    case 8:
      return scatter_avx2<T, 4, false>(src, dest, n, cursor);
    default:
      return scatter_avx2<T, 4, true>(src, dest, n, cursor);
  }
}

}  // namespace

bool partition_scatter_available() {
  static const bool available = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("popcnt");
  return available;
}

void partition_scatter(const std::uint64_t* src, const std::uint8_t* dest, idx_t n,
                       std::uint64_t** cursor, int ranks, bool streaming) {
  scatter_dispatch(src, dest, n, cursor, ranks, streaming);
}
void partition_scatter(const std::uint32_t* src, const std::uint8_t* dest, idx_t n,
                       std::uint32_t** cursor, int ranks, bool streaming) {
  scatter_dispatch(src, dest, n, cursor, ranks, streaming);
}

void hash_destinations_int64(const std::int64_t* keys, idx_t n, std::uint64_t seed, int ranks,
                             std::uint8_t* dest) {
  hash_destinations_avx2(keys, n, seed, ranks, dest);
}

#else  // not x86-64 with GCC/Clang: callers use their scalar scatter

bool partition_scatter_available() {
  return false;
}
void partition_scatter(const std::uint64_t*, const std::uint8_t*, idx_t, std::uint64_t**, int,
                       bool) {
  throw RuntimeError("partition_scatter: not built for this platform (no AVX2)");
}
void partition_scatter(const std::uint32_t*, const std::uint8_t*, idx_t, std::uint32_t**, int,
                       bool) {
  throw RuntimeError("partition_scatter: not built for this platform (no AVX2)");
}
void hash_destinations_int64(const std::int64_t*, idx_t, std::uint64_t, int, std::uint8_t*) {
  throw RuntimeError("hash_destinations_int64: not built for this platform (no AVX2)");
}

#endif

}  // namespace shardflow::ops
