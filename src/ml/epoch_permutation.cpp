#include "shardflow/ml/epoch_permutation.hpp"

#include "shardflow/common/hash.hpp"

namespace shardflow::ml {

EpochPermutation::EpochPermutation(idx_t n, std::uint64_t seed, idx_t epoch) : n_(n) {
  if (n < 0) throw RuntimeError("EpochPermutation: negative size {}", n);
  // Smallest even bit count 2h with 4^h >= n (at least 2 bits so both halves are non-empty).
  int bits = 2;
  while (bits < 62 && (std::uint64_t{1} << bits) < static_cast<std::uint64_t>(n))
    bits += 2;
  half_bits_ = bits / 2;
  half_mask_ = (std::uint64_t{1} << half_bits_) - 1;
  // A distinct purpose constant keeps these keys unrelated to other seeded choices in shardflow.
  const std::uint64_t base = hash_combine(hash_u64(seed), 0x5347445f45504f43ULL /* "SGD_EPOC" */);
  const std::uint64_t epoch_key = hash_combine(base, static_cast<std::uint64_t>(epoch));
  for (int r = 0; r < 4; ++r)
    keys_[r] = hash_combine(epoch_key, static_cast<std::uint64_t>(r) + 1);
}

std::uint64_t EpochPermutation::feistel(std::uint64_t x) const {
  std::uint64_t left = x >> half_bits_;
  std::uint64_t right = x & half_mask_;
  for (const std::uint64_t key : keys_) {
    const std::uint64_t next = left ^ (hash_u64(right ^ key) & half_mask_);
    left = right;
    right = next;
  }
  return (left << half_bits_) | right;
}

idx_t EpochPermutation::operator()(idx_t i) const {
  std::uint64_t x = static_cast<std::uint64_t>(i);
  do {
    x = feistel(x);
  } while (x >= static_cast<std::uint64_t>(n_));
  return static_cast<idx_t>(x);
}

}  // namespace shardflow::ml
