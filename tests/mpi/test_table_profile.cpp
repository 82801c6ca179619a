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

// An integer column's sketch is fed each distinct value once when its range is small (a bitmap of
// the values seen) and every row otherwise. Both must give the same registers, hence the same
// estimate: 1000 values 37 apart are hashed row by row when each appears once (range 36963 >= 4
// rows per value), through the bitmap when each appears 40 times; with nulls on the wide side.
TEST(TableProfile, SmallRangeSketchEqualsHashingEveryRow) {
  mpi::Comm comm;
  auto column_of = [&](int copies, bool with_nulls) {
    Column c(DataType::kInt64);
    for (int copy = 0; copy < copies; ++copy) {
      for (std::int64_t v = comm.rank(); v < 1000; v += comm.size()) {
        c.values<std::int64_t>().push_back(-5000 + 37 * v);
        if (with_nulls) c.validity().push_back(1);
      }
    }
    if (with_nulls) {
      c.values<std::int64_t>().push_back(1000000000);  // a null per rank, its value out of range
      c.validity().push_back(0);
    }
    Table t;
    t.add_column("v", std::move(c));
    return ops::profile_table(comm, t).columns.at(0);
  };
  const ops::ColumnProfile wide = column_of(1, true);
  const ops::ColumnProfile narrow = column_of(40, false);
  EXPECT_FALSE(wide.distinct_exact);
  EXPECT_EQ(narrow.distinct, wide.distinct);
  EXPECT_NEAR(static_cast<double>(narrow.distinct), 1000.0, 100.0);
  EXPECT_EQ(narrow.int_min, -5000);
  EXPECT_EQ(narrow.int_max, -5000 + 37 * 999);
  EXPECT_EQ(wide.int_min, narrow.int_min);
  EXPECT_EQ(wide.int_max, narrow.int_max);
  EXPECT_EQ(wide.nulls, comm.size());  // one per rank
}

// The same through each way of finding the distinct values of a narrow range
// (visit_distinct_offsets): a range under 64 values (one register word), under 2^20 (a byte per
// value) and wider (a bitmap), each against the same values once per row, hashed row by row.
TEST(TableProfile, EveryNarrowRangePathEqualsHashingEveryRow) {
  mpi::Comm comm;
  struct Case {
    std::int64_t count, stride, copies;
  };
  // Row by row needs a range of at least 4 rows per value on every rank: single rows of these.
  for (const Case& k : {Case{12, 5, 10}, Case{300, 333, 400}, Case{1000, 1100, 1200}}) {
    auto column_of = [&](std::int64_t copies) {
      Column c(DataType::kInt64);
      for (std::int64_t copy = 0; copy < copies; ++copy) {
        for (std::int64_t v = comm.rank(); v < k.count; v += comm.size())
          c.values<std::int64_t>().push_back(-70 + k.stride * v);
      }
      Table t;
      t.add_column("v", std::move(c));
      return ops::profile_table(comm, t).columns.at(0);
    };
    const ops::ColumnProfile every_row = column_of(1);
    const ops::ColumnProfile narrow = column_of(k.copies);
    EXPECT_EQ(narrow.distinct, every_row.distinct) << "stride " << k.stride;
    EXPECT_NEAR(static_cast<double>(narrow.distinct), static_cast<double>(k.count),
                0.1 * static_cast<double>(k.count))
        << "stride " << k.stride;
    EXPECT_EQ(narrow.int_min, -70);
    EXPECT_EQ(narrow.int_max, -70 + k.stride * (k.count - 1));
  }
}

// The same for a dictionary column too large for exact used-code flags (above
// kExactDistinctCodes entries): the codes seen are marked, then each is hashed once. The
// reference is an int64 column of the same numbers, whose range (5992) is too wide for the
// bitmap at 858 rows, so it is hashed row by row; the code and the number hash alike.
TEST(TableProfile, LargeDictionarySketchEqualsHashingEveryRow) {
  mpi::Comm comm;
  std::vector<std::string> words;
  for (int w = 0; w < 6000; ++w)
    words.push_back(fmt::format("w{:05d}", w));
  const auto dict = std::make_shared<const table::Dictionary>(words);
  ASSERT_GT(dict->size(), ops::kExactDistinctCodes);
  Column codes(DataType::kString), numbers(DataType::kInt64);
  codes.set_dictionary(dict);
  for (int copy = 0; copy < 12; ++copy) {
    for (std::int32_t code = 7 * comm.rank(); code < 6000; code += 7 * comm.size()) {
      codes.codes().push_back(code);
      if (copy == 0) numbers.values<std::int64_t>().push_back(code);
    }
  }
  Table with_codes, with_numbers;
  with_codes.add_column("s", std::move(codes));
  with_numbers.add_column("n", std::move(numbers));
  const ops::ColumnProfile marked = ops::profile_table(comm, with_codes).columns.at(0);
  const ops::ColumnProfile hashed = ops::profile_table(comm, with_numbers).columns.at(0);
  EXPECT_FALSE(marked.distinct_exact);
  EXPECT_FALSE(hashed.distinct_exact);
  EXPECT_EQ(marked.distinct, hashed.distinct);
  EXPECT_NEAR(static_cast<double>(marked.distinct), 858.0, 86.0);
}
