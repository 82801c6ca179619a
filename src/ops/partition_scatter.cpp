#include "shardflow/ops/partition_scatter.hpp"

#include <algorithm>
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
// hold junk that the destination's next store overwrites (or that is never stored: see
// scatter_avx2).
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

// Packs the rows of each 4 (8-byte values) or 8 (4-byte values) that go to a destination to the
// front of a vector and stores the whole vector at that destination's cursor, which then advances
// by the number of rows: the lanes after them are junk that the destination's next store
// overwrites. A store may only do that while the whole vector lies inside the destination's
// region, whose end the caller's counts give; a destination with fewer than 32 rows of room left
// takes the exact store for the block instead, which writes only its rows.
//
// An earlier version collected each destination's vectors in a cache-resident buffer and wrote
// whole lines from it (software write-combining); storing straight into the destination was
// about 30% faster (4e6 8-byte rows to 2 destinations: 5.4-6.5 ms against 8-9 ms, a memcpy of the
// same bytes 4.5-6 ms): the buffer cost a store-to-load forwarding stall per flush (aligned loads
// of data just written by unaligned stores) and a copy of the overflow, and the destination lines
// are in the cache anyway when the next store lands in them.
template <typename T, int P>
SHARDFLOW_AVX2 void scatter_avx2(const T* src, const std::uint8_t* dest, idx_t n, T** cursor,
                                 const idx_t* count) {
  static_assert(sizeof(T) == 8 || sizeof(T) == 4);
  constexpr int kLanes = 32 / static_cast<int>(sizeof(T));
  constexpr unsigned kLaneMask = (1u << kLanes) - 1;
  // Room a destination needs for a block of whole-vector stores: the store of group g starts at
  // most g * kLanes rows past the block's first cursor and writes kLanes, so a block's stores end
  // at most 32 rows in (RunsEndingAtEveryOffsetOfABlock fails with 31).
  constexpr idx_t kBlockRoom = 32;
  T* at[P];
  T* end[P];
  for (int k = 0; k < P; ++k) {
    at[k] = cursor[k];
    end[k] = cursor[k] + count[k];
  }
  idx_t i = 0;
  for (; i + 32 <= n; i += 32) {
    // One bit per row and destination for the next 32 rows.
    const __m256i d = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(dest + i));
    std::uint32_t rows_for[P];
    bool roomy[P];
    for (int k = 0; k < P; ++k) {
      rows_for[k] = static_cast<std::uint32_t>(
          _mm256_movemask_epi8(_mm256_cmpeq_epi8(d, _mm256_set1_epi8(static_cast<char>(k)))));
      roomy[k] = end[k] - at[k] >= kBlockRoom;
    }
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
        const int rows = __builtin_popcount(mask);
        if (roomy[k]) [[likely]] {
          _mm256_storeu_si256(reinterpret_cast<__m256i*>(at[k]), packed);
        } else if (rows > 0) {  // (an empty region's cursor may be null)
          alignas(32) T lanes[kLanes];
          _mm256_store_si256(reinterpret_cast<__m256i*>(lanes), packed);
          std::memcpy(at[k], lanes, sizeof(T) * static_cast<size_t>(rows));
        }
        at[k] += rows;
      }
    }
  }
  for (; i < n; ++i) {
    const int k = dest[i];
    // memcpy: the values may be doubles or floats seen as integers of their width.
    std::memcpy(at[k]++, src + i, sizeof(T));
  }
  for (int k = 0; k < P; ++k)
    cursor[k] = at[k];
}

// Low 64 bits of a * c in every lane (AVX2 has no 64-bit multiply): lo*lo + (hi*lo + lo*hi) << 32.
SHARDFLOW_AVX2 inline __m256i multiply_low64(__m256i a, __m256i c, __m256i c_high) {
  const __m256i low = _mm256_mul_epu32(a, c);
  const __m256i cross =
      _mm256_add_epi64(_mm256_mul_epu32(_mm256_srli_epi64(a, 32), c), _mm256_mul_epu32(a, c_high));
  return _mm256_add_epi64(low, _mm256_slli_epi64(cross, 32));
}

// hash_u64 (common/hash.hpp) of four keys xor the seed.
SHARDFLOW_AVX2 inline __m256i hash4(__m256i keys, __m256i seed) {
  constexpr std::uint64_t kMul1 = 0xff51afd7ed558ccdULL;
  constexpr std::uint64_t kMul2 = 0xc4ceb9fe1a85ec53ULL;
  const __m256i m1 = _mm256_set1_epi64x(static_cast<long long>(kMul1));
  const __m256i m1_high = _mm256_set1_epi64x(static_cast<long long>(kMul1 >> 32));
  const __m256i m2 = _mm256_set1_epi64x(static_cast<long long>(kMul2));
  const __m256i m2_high = _mm256_set1_epi64x(static_cast<long long>(kMul2 >> 32));
  __m256i x = _mm256_xor_si256(keys, seed);
  x = _mm256_xor_si256(x, _mm256_srli_epi64(x, 33));
  x = multiply_low64(x, m1, m1_high);
  x = _mm256_xor_si256(x, _mm256_srli_epi64(x, 33));
  x = multiply_low64(x, m2, m2_high);
  return _mm256_xor_si256(x, _mm256_srli_epi64(x, 33));
}

// Byte 0 of qword 0 and of qword 1 of each 128-bit half to bytes 2j and 2j + 1 of that half; the
// other bytes zero (shuffle index 0x80).
SHARDFLOW_AVX2 inline __m256i low_bytes_to_word(int j) {
  alignas(32) std::int8_t index[32];
  for (int b = 0; b < 32; ++b)
    index[b] = static_cast<std::int8_t>(0x80);
  for (int half = 0; half < 2; ++half) {
    index[16 * half + 2 * j] = 0;
    index[16 * half + 2 * j + 1] = 8;
  }
  return _mm256_load_si256(reinterpret_cast<const __m256i*>(index));
}

SHARDFLOW_AVX2 void hash_destinations_avx2(const std::int64_t* keys, idx_t n, std::uint64_t seed,
                                           int ranks, std::uint8_t* dest) {
  const __m256i s = _mm256_set1_epi64x(static_cast<long long>(seed));
  const auto mask = static_cast<std::uint64_t>(ranks - 1);
  const __m128i byte_mask = _mm_set1_epi8(static_cast<char>(mask));
  const __m256i to_word0 = low_bytes_to_word(0), to_word1 = low_bytes_to_word(1),
                to_word2 = low_bytes_to_word(2), to_word3 = low_bytes_to_word(3);
  idx_t i = 0;
  // 16 keys per step: four independent hashes (the multiplies overlap), then the low byte of each
  // of the 16 hashes into one 16-byte store. Storing each vector's hashes and picking their bytes
  // one at a time took as long as the hashing.
  for (; i + 16 <= n; i += 16) {
    const auto* k = reinterpret_cast<const __m256i*>(keys + i);
    // The two lines 4 KiB ahead: the hardware prefetcher alone left the loop waiting on memory
    // (4e6 keys: 3.7-3.9 ms with these, 4.0-4.7 ms without; 3.1 ms from L2).
    // The addresses are formed as integers: near the end they lie past the array, where pointer
    // arithmetic would be undefined (a prefetch of any address is harmless).
    const auto ahead = reinterpret_cast<std::uintptr_t>(keys + i) + 4096;
    _mm_prefetch(reinterpret_cast<const char*>(ahead), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(ahead + 64), _MM_HINT_T0);
    const __m256i h0 = hash4(_mm256_loadu_si256(k), s);
    const __m256i h1 = hash4(_mm256_loadu_si256(k + 1), s);
    const __m256i h2 = hash4(_mm256_loadu_si256(k + 2), s);
    const __m256i h3 = hash4(_mm256_loadu_si256(k + 3), s);
    // Half 0 of `words` holds the low bytes of keys 0-1, 4-5, 8-9, 12-13 in word order; half 1
    // those of keys 2-3, 6-7, 10-11, 14-15. Interleaving the halves' words puts all 16 in order.
    const __m256i words = _mm256_or_si256(
        _mm256_or_si256(_mm256_shuffle_epi8(h0, to_word0), _mm256_shuffle_epi8(h1, to_word1)),
        _mm256_or_si256(_mm256_shuffle_epi8(h2, to_word2), _mm256_shuffle_epi8(h3, to_word3)));
    const __m128i ordered =
        _mm_unpacklo_epi16(_mm256_castsi256_si128(words), _mm256_extracti128_si256(words, 1));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dest + i), _mm_and_si128(ordered, byte_mask));
  }
  for (; i < n; ++i)
    dest[i] =
        static_cast<std::uint8_t>(hash_u64(static_cast<std::uint64_t>(keys[i]) ^ seed) & mask);
}

SHARDFLOW_AVX2 bool count_destinations_avx2(const std::uint8_t* dest, idx_t n, int ranks,
                                            idx_t* count) {
  // Per destination, a byte counter per lane (cmpeq gives -1 per match; subtracting counts up),
  // summed into 64-bit totals by sad before a byte can wrap.
  __m256i total[4], ones[4];
  const __m256i limit = _mm256_set1_epi8(static_cast<char>(ranks - 1));
  __m256i too_big = _mm256_setzero_si256();
  for (int k = 0; k < ranks; ++k)
    total[k] = _mm256_setzero_si256();
  idx_t i = 0;
  while (i + 32 <= n) {
    for (int k = 0; k < ranks; ++k)
      ones[k] = _mm256_setzero_si256();
    const idx_t stop = std::min(n - 31, i + 255 * 32);
    for (; i < stop; i += 32) {
      const __m256i d = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(dest + i));
      // Unsigned d > ranks - 1: max(d, ranks - 1) differs from ranks - 1.
      too_big = _mm256_or_si256(too_big, _mm256_xor_si256(_mm256_max_epu8(d, limit), limit));
      for (int k = 0; k < ranks; ++k)
        ones[k] =
            _mm256_sub_epi8(ones[k], _mm256_cmpeq_epi8(d, _mm256_set1_epi8(static_cast<char>(k))));
    }
    for (int k = 0; k < ranks; ++k)
      total[k] = _mm256_add_epi64(total[k], _mm256_sad_epu8(ones[k], _mm256_setzero_si256()));
  }
  if (!_mm256_testz_si256(too_big, too_big)) return false;
  for (int k = 0; k < ranks; ++k) {
    alignas(32) std::uint64_t lanes[4];
    _mm256_store_si256(reinterpret_cast<__m256i*>(lanes), total[k]);
    count[k] += static_cast<idx_t>(lanes[0] + lanes[1] + lanes[2] + lanes[3]);
  }
  for (; i < n; ++i) {
    if (dest[i] >= ranks) return false;
    ++count[dest[i]];
  }
  return true;
}

template <typename T>
void scatter_dispatch(const T* src, const std::uint8_t* dest, idx_t n, T** cursor,
                      const idx_t* count, int ranks) {
  switch (ranks) {
    case 2:
      return scatter_avx2<T, 2>(src, dest, n, cursor, count);
    case 3:
      return scatter_avx2<T, 3>(src, dest, n, cursor, count);
    default:
      return scatter_avx2<T, 4>(src, dest, n, cursor, count);
  }
}

}  // namespace

bool partition_scatter_available() {
  static const bool available = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("popcnt");
  return available;
}

void partition_scatter(const std::uint64_t* src, const std::uint8_t* dest, idx_t n,
                       std::uint64_t** cursor, const idx_t* count, int ranks) {
  scatter_dispatch(src, dest, n, cursor, count, ranks);
}
void partition_scatter(const std::uint32_t* src, const std::uint8_t* dest, idx_t n,
                       std::uint32_t** cursor, const idx_t* count, int ranks) {
  scatter_dispatch(src, dest, n, cursor, count, ranks);
}

void hash_destinations_int64(const std::int64_t* keys, idx_t n, std::uint64_t seed, int ranks,
                             std::uint8_t* dest) {
  hash_destinations_avx2(keys, n, seed, ranks, dest);
}

bool count_destinations_u8(const std::uint8_t* dest, idx_t n, int ranks, idx_t* count) {
  return count_destinations_avx2(dest, n, ranks, count);
}

#else  // not x86-64 with GCC/Clang: callers use their scalar scatter

bool partition_scatter_available() {
  return false;
}
void partition_scatter(const std::uint64_t*, const std::uint8_t*, idx_t, std::uint64_t**,
                       const idx_t*, int) {
  throw RuntimeError("partition_scatter: not built for this platform (no AVX2)");
}
void partition_scatter(const std::uint32_t*, const std::uint8_t*, idx_t, std::uint32_t**,
                       const idx_t*, int) {
  throw RuntimeError("partition_scatter: not built for this platform (no AVX2)");
}
void hash_destinations_int64(const std::int64_t*, idx_t, std::uint64_t, int, std::uint8_t*) {
  throw RuntimeError("hash_destinations_int64: not built for this platform (no AVX2)");
}
bool count_destinations_u8(const std::uint8_t*, idx_t, int, idx_t*) {
  throw RuntimeError("count_destinations_u8: not built for this platform (no AVX2)");
}

#endif

}  // namespace shardflow::ops
