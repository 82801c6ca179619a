#pragma once
// Hashing used for partitioning and hash tables. Byte strings go through xxHash (XXH3); fixed-width
// keys go through a cheap, well-mixed finalizer because they are hashed once per row on hot paths.
// Hash values are identical on every rank and every run: partitioning depends on them.

#include <cstdint>
#include <cstring>
#include <string_view>

namespace shardflow {

/// XXH3-64 of a byte range.
std::uint64_t hash_bytes(const void* data, std::size_t size, std::uint64_t seed = 0);
inline std::uint64_t hash_string(std::string_view s, std::uint64_t seed = 0) {
  return hash_bytes(s.data(), s.size(), seed);
}

/// Mixes a 64-bit value into a well-distributed hash (murmur3 fmix64 / splitmix finalizer).
constexpr std::uint64_t hash_u64(std::uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ULL;
  x ^= x >> 33;
  return x;
}

/// Combines a running hash with the hash of the next key column.
constexpr std::uint64_t hash_combine(std::uint64_t seed, std::uint64_t h) {
  return hash_u64(seed ^ (h + 0x9e3779b97f4a7c15ULL + (seed << 6) + (seed >> 2)));
}

/// Bit pattern of a double for hashing, with -0.0 folded onto 0.0 and every NaN onto one NaN so
/// that values equal under the key comparison hash equally.
inline std::uint64_t double_key_bits(double v) {
  if (v == 0.0) v = 0.0;
  if (v != v) return 0x7ff8000000000000ULL;
  std::uint64_t bits;
  std::memcpy(&bits, &v, sizeof bits);
  return bits;
}

}  // namespace shardflow
