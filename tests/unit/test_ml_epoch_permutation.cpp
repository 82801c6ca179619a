// EpochPermutation: a bijection of [0, n) for every n (including 0, 1 and powers of two), a pure
// function of (n, seed, epoch), different across epochs and seeds, and well mixed.

#include <gtest/gtest.h>

#include <vector>

#include "shardflow/ml/epoch_permutation.hpp"

using namespace shardflow;

TEST(EpochPermutation, IsABijectionForManySizes) {
  for (idx_t n : {0, 1, 2, 3, 4, 5, 15, 16, 17, 100, 255, 256, 257, 1000, 4097}) {
    for (std::uint64_t seed : {0ULL, 42ULL}) {
      const ml::EpochPermutation perm(n, seed, 3);
      std::vector<int> hits(static_cast<size_t>(n), 0);
      for (idx_t i = 0; i < n; ++i) {
        const idx_t p = perm(i);
        ASSERT_GE(p, 0);
        ASSERT_LT(p, n);
        ++hits[static_cast<size_t>(p)];
      }
      for (idx_t p = 0; p < n; ++p)
        ASSERT_EQ(hits[static_cast<size_t>(p)], 1) << "n " << n << " position " << p;
    }
  }
}

TEST(EpochPermutation, DeterministicAndDifferentPerEpochAndSeed) {
  const idx_t n = 1000;
  auto order = [&](std::uint64_t seed, idx_t epoch) {
    const ml::EpochPermutation perm(n, seed, epoch);
    std::vector<idx_t> out;
    for (idx_t i = 0; i < n; ++i)
      out.push_back(perm(i));
    return out;
  };
  EXPECT_EQ(order(7, 0), order(7, 0));
  EXPECT_NE(order(7, 0), order(7, 1));
  EXPECT_NE(order(7, 0), order(8, 0));
  // Well mixed: few fixed points and consecutive rows rarely stay adjacent.
  const auto o = order(7, 2);
  int fixed = 0, adjacent = 0;
  for (idx_t i = 0; i < n; ++i) {
    fixed += o[static_cast<size_t>(i)] == i;
    if (i + 1 < n) {
      const idx_t d = o[static_cast<size_t>(i) + 1] - o[static_cast<size_t>(i)];
      adjacent += d == 1 || d == -1;
    }
  }
  EXPECT_LT(fixed, 10);
  EXPECT_LT(adjacent, 10);
}

TEST(EpochPermutation, BatchesOfAnEpochCoverEveryRowOnce) {
  // The trainer's view: step k takes the rows whose position is in [k*B, (k+1)*B).
  const idx_t n = 601, batch = 32;
  const ml::EpochPermutation perm(n, 11, 0);
  std::vector<idx_t> per_step(static_cast<size_t>((n + batch - 1) / batch), 0);
  for (idx_t i = 0; i < n; ++i)
    ++per_step[static_cast<size_t>(perm(i) / batch)];
  for (size_t k = 0; k + 1 < per_step.size(); ++k)
    EXPECT_EQ(per_step[k], batch);
  EXPECT_EQ(per_step.back(), n - batch * (static_cast<idx_t>(per_step.size()) - 1));
}

TEST(EpochPermutation, RejectsNegativeSize) {
  EXPECT_THROW(ml::EpochPermutation(-1, 0, 0), RuntimeError);
}
