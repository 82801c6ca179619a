// ops::profile_table against a brute-force profile of the whole distributed table (every rank
// rebuilds every piece): rows, nulls and ranges exact, distinct counts exact where promised and
// within the sketch's error elsewhere, the same on every rank, with uneven pieces and with every
// row on rank 0.

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <set>
#include <string>

#include "ops_test_support.hpp"
#include "shardflow/common/hash.hpp"
#include "shardflow/ops/table_profile.hpp"

using namespace shardflow;
using namespace shardflow::ops_test;

namespace {

void expect_matches_brute_force(const mpi::Comm& comm, bool empty_others) {
  const std::uint64_t seed = 11;
  const Table mine =
      random_piece(seed, comm.rank(), rows_of(comm.rank(), comm.size(), 700, empty_others));
  const Table all = global_table(seed, comm.size(), 700, empty_others);
  const ops::TableProfile profile = ops::profile_table(comm, mine);
  ASSERT_EQ(profile.rows, all.num_rows());
  ASSERT_EQ(profile.columns.size(), static_cast<size_t>(all.num_columns()));
  for (int j = 0; j < all.num_columns(); ++j) {
    const Column& c = all.column(j);
    const ops::ColumnProfile& p = profile.columns[static_cast<size_t>(j)];
    const std::string name = all.schema().field(j).name;
    EXPECT_EQ(p.name, name);
    EXPECT_EQ(p.type, c.type()) << name;
    idx_t nulls = 0;
    std::set<std::string> distinct;
    double lo = INFINITY, hi = -INFINITY;
    for (idx_t r = 0; r < c.size(); ++r) {
      if (!c.is_valid(r)) {
        ++nulls;
        continue;
      }
      distinct.insert(c.to_string_at(r));
      if (c.type() != DataType::kString) {
        lo = std::min(lo, c.numeric_at(r));
        hi = std::max(hi, c.numeric_at(r));
      }
    }
    EXPECT_EQ(p.nulls, nulls) << name;
    EXPECT_EQ(p.has_range, c.type() != DataType::kString && !distinct.empty()) << name;
    if (p.has_range) {
      EXPECT_EQ(p.min, lo) << name;
      EXPECT_EQ(p.max, hi) << name;
    }
    const auto n = static_cast<double>(distinct.size());
    if (c.type() == DataType::kBool || c.is_dictionary_encoded()) {
      EXPECT_TRUE(p.distinct_exact) << name;
      EXPECT_EQ(p.distinct, static_cast<idx_t>(distinct.size())) << name;
    } else if (!p.distinct_exact) {
      EXPECT_LE(std::abs(static_cast<double>(p.distinct) - n), 0.1 * n + 2) << name << " " << n;
    } else {
      EXPECT_EQ(p.distinct, static_cast<idx_t>(distinct.size())) << name;
    }
  }
  // Identical on every rank.
  std::uint64_t h = hash_u64(static_cast<std::uint64_t>(profile.rows));
  for (const auto& p : profile.columns)
    h = hash_combine(h, hash_combine(static_cast<std::uint64_t>(p.distinct),
                                     static_cast<std::uint64_t>(p.nulls)));
  for (const std::uint64_t other : mpi::allgather<std::uint64_t>(comm, h))
    EXPECT_EQ(other, h);
}

}  // namespace

TEST(TableProfile, MatchesBruteForce) {
  mpi::Comm comm;
  expect_matches_brute_force(comm, false);
}

TEST(TableProfile, AllRowsOnOneRank) {
  mpi::Comm comm;
  expect_matches_brute_force(comm, true);
}

TEST(TableProfile, EmptyTable) {
  mpi::Comm comm;
  const Table empty = random_piece(3, comm.rank(), 0);
  const ops::TableProfile profile = ops::profile_table(comm, empty);
  EXPECT_EQ(profile.rows, 0);
  for (const auto& p : profile.columns) {
    EXPECT_EQ(p.nulls, 0) << p.name;
    EXPECT_FALSE(p.has_range) << p.name;
    EXPECT_EQ(p.distinct, 0) << p.name;
  }
}
