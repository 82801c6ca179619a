#pragma once
// The order in which an epoch visits the training rows: a pseudo-random bijection of [0, N) that
// depends only on (seed, epoch), so every rank can place its own rows into mini-batches without
// moving data and without knowing how rows are split across ranks.
//
// Construction: a 4-round balanced Feistel network on the smallest domain [0, 4^h) containing N,
// keyed by (seed, epoch, round), with cycle walking (re-apply until the value is below N). A
// Feistel network is a bijection on its domain, and cycle walking restricts a bijection to a
// bijection of [0, N); the domain is at most 4N, so the expected number of walks is below 4.

#include <cstdint>

#include "shardflow/common/types.hpp"

namespace shardflow::ml {

class EpochPermutation {
 public:
  /// Permutation of [0, n) for `epoch` under `seed`. n >= 0.
  EpochPermutation(idx_t n, std::uint64_t seed, idx_t epoch);

  /// Position of global row `i` (0 <= i < n) in the epoch's visiting order.
  idx_t operator()(idx_t i) const;
  idx_t size() const { return n_; }

 private:
  std::uint64_t feistel(std::uint64_t x) const;

  idx_t n_;
  int half_bits_ = 1;
  std::uint64_t half_mask_ = 1;
  std::uint64_t keys_[4] = {};
};

}  // namespace shardflow::ml
