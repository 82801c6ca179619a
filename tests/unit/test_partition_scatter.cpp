// partition_scatter (the shuffle's vectorized scatter) against a plain one-store-per-row scatter,
// on random destinations, sizes around its block boundaries, and regions that start at every
// alignment and sit next to each other with no gap: it must write each row to its place and
// nothing outside its regions (its whole-vector stores must stop short of a region's end).

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "shardflow/common/hash.hpp"
#include "shardflow/ops/partition_scatter.hpp"

namespace shardflow::ops {
namespace {

// Scatters `src` by `dest` into regions that lie back to back in one array, in the order
// `region_order` (a permutation of the ranks), after `misalign` elements and with guards at both
// ends; checks every element of the array and every cursor.
template <typename T>
void check_scatter_into(int ranks, const std::vector<T>& src, const std::vector<std::uint8_t>& dest,
                        int misalign, const std::vector<int>& region_order,
                        const std::string& what) {
  const auto n = static_cast<idx_t>(src.size());
  std::vector<idx_t> count(static_cast<size_t>(ranks), 0);
  for (auto d : dest)
    ++count[d];
  const T guard = static_cast<T>(0x5a5a5a5a5a5a5a5aULL);
  const idx_t front = 16 + misalign;
  std::vector<T> out(static_cast<size_t>(front + n + 16), guard);
  std::vector<T> expected = out;
  std::vector<T*> cursor(static_cast<size_t>(ranks));
  std::vector<idx_t> at(static_cast<size_t>(ranks));
  std::vector<idx_t> region_end(static_cast<size_t>(ranks));
  idx_t offset = front;
  for (int k : region_order) {
    at[static_cast<size_t>(k)] = offset;
    cursor[static_cast<size_t>(k)] = out.data() + offset;
    offset += count[static_cast<size_t>(k)];
    region_end[static_cast<size_t>(k)] = offset;
  }
  for (idx_t i = 0; i < n; ++i)
    expected[static_cast<size_t>(at[dest[static_cast<size_t>(i)]]++)] = src[static_cast<size_t>(i)];

  partition_scatter(src.data(), dest.data(), n, cursor.data(), count.data(), ranks);

  for (int k = 0; k < ranks; ++k) {
    EXPECT_EQ(cursor[static_cast<size_t>(k)], out.data() + region_end[static_cast<size_t>(k)])
        << "cursor of rank " << k << " did not advance past exactly its rows; " << what;
  }
  for (size_t i = 0; i < out.size(); ++i) {
    ASSERT_EQ(out[i], expected[i]) << "element " << i << " (regions start at " << front
                                   << "), ranks " << ranks << ", n " << n << ", " << what;
  }
}

template <typename T>
void check_scatter(int ranks, idx_t n, int misalign, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<T> src(static_cast<size_t>(n));
  std::vector<std::uint8_t> dest(static_cast<size_t>(n));
  // Skewed destinations in some runs: one rank gets most rows, the others' regions are a few
  // rows long (every store to them is near their region's end).
  const bool skewed = seed % 3 == 0;
  for (idx_t i = 0; i < n; ++i) {
    src[static_cast<size_t>(i)] = static_cast<T>(rng());
    const auto r = rng();
    const int d = skewed && (r & 7) != 0 ? 0 : static_cast<int>(r % static_cast<unsigned>(ranks));
    dest[static_cast<size_t>(i)] = static_cast<std::uint8_t>(d);
  }
  std::vector<int> order(static_cast<size_t>(ranks));
  for (int k = 0; k < ranks; ++k)
    order[static_cast<size_t>(k)] = k;
  check_scatter_into(ranks, src, dest, misalign, order, "seed " + std::to_string(seed));
}

class PartitionScatter : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!partition_scatter_available()) GTEST_SKIP() << "no AVX2 on this CPU";
  }
};

TEST_F(PartitionScatter, MatchesPlainScatterAtEveryAlignmentAndSize) {
  std::uint64_t seed = 1;
  for (int ranks = 2; ranks <= 4; ++ranks) {
    for (idx_t n : {0, 1, 7, 31, 32, 33, 63, 64, 65, 127, 129, 255, 257, 1000, 4099}) {
      for (int misalign = 0; misalign < 16; misalign += 3) {
        for (int trial = 0; trial < 3; ++trial) {  // seed % 3 == 0: skewed
          check_scatter<std::uint64_t>(ranks, n, misalign, seed++);
          check_scatter<std::uint32_t>(ranks, n, misalign, seed++);
        }
      }
    }
  }
}

TEST_F(PartitionScatter, LargeRandomScatters) {
  std::uint64_t seed = 1000;
  for (int ranks = 2; ranks <= 4; ++ranks) {
    for (int trial = 0; trial < 4; ++trial) {
      const idx_t n = 100000 + static_cast<idx_t>(seed % 5000);
      check_scatter<std::uint64_t>(ranks, n, static_cast<int>(seed % 16), seed);
      ++seed;
      check_scatter<std::uint32_t>(ranks, n, static_cast<int>(seed % 16), seed);
      ++seed;
    }
  }
}

TEST_F(PartitionScatter, RunsEndingAtEveryOffsetOfABlock) {
  // A run of L rows for rank 1 after `pad` rows for rank 0, then rank 0 again, with rank 1's
  // region right before rank 0's in memory: a whole-vector store too close to the end of rank 1's
  // region lands on rank 0's first rows, which earlier stores have already written. Every L and
  // every offset in a 32-row block, so the room check is tested at its exact bound.
  for (idx_t pad = 0; pad < 40; ++pad) {
    for (idx_t run = 0; run <= 72; ++run) {
      std::vector<std::uint8_t> dest(static_cast<size_t>(pad), 0);
      dest.insert(dest.end(), static_cast<size_t>(run), 1);
      dest.insert(dest.end(), 70, 0);
      const std::string what = "pad " + std::to_string(pad) + ", run " + std::to_string(run);
      std::vector<std::uint64_t> wide(dest.size());
      std::vector<std::uint32_t> narrow(dest.size());
      for (size_t i = 0; i < dest.size(); ++i) {
        wide[i] = 1000 + i;
        narrow[i] = static_cast<std::uint32_t>(2000 + i);
      }
      check_scatter_into(2, wide, dest, 0, {1, 0}, what);
      check_scatter_into(2, narrow, dest, 0, {1, 0}, what);
    }
  }
}

TEST_F(PartitionScatter, CountsDestinationsAndRejectsOutOfRange) {
  std::mt19937_64 rng(5);
  // Sizes around the 32-byte step and the 255-step flush of the byte counters (8160 rows), and
  // runs of one destination longer than a flush (a byte counter that wrapped would show).
  for (idx_t n : {0, 1, 31, 32, 33, 8159, 8160, 8161, 8192, 20000, 100003}) {
    for (int ranks = 1; ranks <= 4; ++ranks) {
      for (bool runs : {false, true}) {
        std::vector<std::uint8_t> dest(static_cast<size_t>(n));
        for (idx_t i = 0; i < n; ++i)
          dest[static_cast<size_t>(i)] = static_cast<std::uint8_t>(
              (runs ? static_cast<std::uint64_t>(i) / 9000 : rng()) % static_cast<unsigned>(ranks));
        std::vector<idx_t> expected(static_cast<size_t>(ranks), 0);
        for (auto d : dest)
          ++expected[d];
        std::vector<idx_t> count(static_cast<size_t>(ranks), 3);  // adds to what is there
        ASSERT_TRUE(count_destinations_u8(dest.data(), n, ranks, count.data()));
        for (int k = 0; k < ranks; ++k)
          EXPECT_EQ(count[static_cast<size_t>(k)], expected[static_cast<size_t>(k)] + 3)
              << "n " << n << ", ranks " << ranks << ", destination " << k;
        // One destination out of range, in the vector part or the tail, is seen.
        for (idx_t at : {idx_t{0}, n / 2, n - 1}) {
          if (n == 0) continue;
          for (int bad : {ranks, 255}) {
            const std::uint8_t was = dest[static_cast<size_t>(at)];
            dest[static_cast<size_t>(at)] = static_cast<std::uint8_t>(bad);
            EXPECT_FALSE(count_destinations_u8(dest.data(), n, ranks, count.data()))
                << "destination " << bad << " at row " << at << " of " << n << ", ranks " << ranks;
            dest[static_cast<size_t>(at)] = was;
          }
        }
      }
    }
  }
}

TEST_F(PartitionScatter, AllRowsToOneRank) {
  // One destination gets everything: the others' regions are empty (no room for any store) and
  // their cursors stay put.
  for (int ranks = 2; ranks <= 4; ++ranks) {
    for (int only = 0; only < ranks; ++only) {
      const idx_t n = 5000;
      std::vector<std::uint64_t> src(n), out(n + 8, 0);
      std::vector<std::uint8_t> dest(n, static_cast<std::uint8_t>(only));
      for (idx_t i = 0; i < n; ++i)
        src[static_cast<size_t>(i)] = static_cast<std::uint64_t>(i) * 7 + 1;
      std::vector<std::uint64_t*> cursor(static_cast<size_t>(ranks));
      for (int k = 0; k < ranks; ++k)
        cursor[static_cast<size_t>(k)] = out.data() + (k <= only ? 1 : 1 + n);
      std::vector<idx_t> count(static_cast<size_t>(ranks), 0);
      count[static_cast<size_t>(only)] = n;
      partition_scatter(src.data(), dest.data(), n, cursor.data(), count.data(), ranks);
      for (idx_t i = 0; i < n; ++i)
        ASSERT_EQ(out[static_cast<size_t>(i + 1)], src[static_cast<size_t>(i)]);
      EXPECT_EQ(out[0], 0u);
      EXPECT_EQ(cursor[static_cast<size_t>(only)], out.data() + 1 + n);
    }
  }
}

TEST_F(PartitionScatter, HashDestinationsAreTheScalarHashBits) {
  std::mt19937_64 rng(77);
  const std::uint64_t seed = 0x2545f4914f6cdd1dULL;
  for (idx_t n : {0, 1, 3, 4, 5, 1000, 4099}) {
    std::vector<std::int64_t> keys(static_cast<size_t>(n));
    for (auto& k : keys) {
      const auto r = rng();
      k = r % 5 == 0 ? INT64_MIN + static_cast<std::int64_t>(r % 3)
                     : (r % 5 == 1 ? INT64_MAX - static_cast<std::int64_t>(r % 3)
                                   : static_cast<std::int64_t>(r));
    }
    for (int ranks : {2, 4, 8, 256}) {
      std::vector<std::uint8_t> dest(static_cast<size_t>(n), 0xee);
      hash_destinations_int64(keys.data(), n, seed, ranks, dest.data());
      for (idx_t i = 0; i < n; ++i) {
        const std::uint64_t h =
            hash_u64(static_cast<std::uint64_t>(keys[static_cast<size_t>(i)]) ^ seed);
        ASSERT_EQ(dest[static_cast<size_t>(i)],
                  static_cast<std::uint8_t>(h & static_cast<std::uint64_t>(ranks - 1)))
            << "key " << keys[static_cast<size_t>(i)] << " ranks " << ranks;
      }
    }
  }
}

}  // namespace
}  // namespace shardflow::ops
