// partition_scatter (the shuffle's vectorized scatter) against a plain one-store-per-row scatter,
// on random destinations, sizes around its block and buffer boundaries, and regions that start
// at every alignment and sit next to each other with no gap: it must write each row to its place
// and nothing outside its regions.

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <vector>

#include "shardflow/common/hash.hpp"
#include "shardflow/ops/partition_scatter.hpp"

namespace shardflow::ops {
namespace {

template <typename T>
void check_scatter(int ranks, idx_t n, int misalign, bool streaming, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<T> src(static_cast<size_t>(n));
  std::vector<std::uint8_t> dest(static_cast<size_t>(n));
  std::vector<idx_t> count(static_cast<size_t>(ranks), 0);
  // Skewed destinations in some runs: long stretches for one rank fill its buffer while another
  // stays empty.
  const bool skewed = seed % 3 == 0;
  for (idx_t i = 0; i < n; ++i) {
    src[static_cast<size_t>(i)] = static_cast<T>(rng());
    const auto r = rng();
    const int d = skewed && (r & 7) != 0 ? 0 : static_cast<int>(r % static_cast<unsigned>(ranks));
    dest[static_cast<size_t>(i)] = static_cast<std::uint8_t>(d);
    ++count[static_cast<size_t>(d)];
  }
  // Regions back to back in one array, after `misalign` elements and with guards at both ends.
  const T guard = static_cast<T>(0x5a5a5a5a5a5a5a5aULL);
  const idx_t front = 16 + misalign;
  std::vector<T> out(static_cast<size_t>(front + n + 16), guard);
  std::vector<T> expected = out;
  std::vector<T*> cursor(static_cast<size_t>(ranks));
  std::vector<idx_t> at(static_cast<size_t>(ranks));
  idx_t offset = front;
  for (int k = 0; k < ranks; ++k) {
    at[static_cast<size_t>(k)] = offset;
    cursor[static_cast<size_t>(k)] = out.data() + offset;
    offset += count[static_cast<size_t>(k)];
  }
  for (idx_t i = 0; i < n; ++i)
    expected[static_cast<size_t>(at[dest[static_cast<size_t>(i)]]++)] = src[static_cast<size_t>(i)];

  partition_scatter(src.data(), dest.data(), n, cursor.data(), ranks, streaming);

  offset = front;
  for (int k = 0; k < ranks; ++k) {
    offset += count[static_cast<size_t>(k)];
    EXPECT_EQ(cursor[static_cast<size_t>(k)], out.data() + offset)
        << "cursor of rank " << k << " did not advance past exactly its rows";
  }
  for (size_t i = 0; i < out.size(); ++i) {
    ASSERT_EQ(out[i], expected[i])
        << "element " << i << " (regions start at " << front << "), ranks " << ranks << ", n " << n
        << ", streaming " << streaming << ", seed " << seed;
  }
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
        for (bool streaming : {false, true}) {
          check_scatter<std::uint64_t>(ranks, n, misalign, streaming, seed++);
          check_scatter<std::uint32_t>(ranks, n, misalign, streaming, seed++);
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
      check_scatter<std::uint64_t>(ranks, n, static_cast<int>(seed % 16), trial % 2 == 0, seed);
      ++seed;
      check_scatter<std::uint32_t>(ranks, n, static_cast<int>(seed % 16), trial % 2 == 0, seed);
      ++seed;
    }
  }
}

TEST_F(PartitionScatter, AllRowsToOneRank) {
  // One destination gets everything: the others' buffers never flush and their cursors stay put.
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
      partition_scatter(src.data(), dest.data(), n, cursor.data(), ranks, true);
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
