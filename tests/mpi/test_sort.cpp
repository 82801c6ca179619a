// Distributed sort and top-k at every rank count against a brute-force order of the whole table
// (typed comparisons, ties by global row index): several keys of every type (dictionary and
// plain strings, NaN, -0.0, +-inf, nulls first/last, asc/desc), all rows equal, empty ranks, tiny
// shuffle rounds, limits 0, 1, k and more than the rows. The result read in global order equals
// a one-rank sort of the same table at every rank count, and ranges are balanced.

#include <gtest/gtest.h>

#include <algorithm>
#include <random>

#include "shardflow/mpi/allreduce.hpp"
#include "shardflow/ops/sort.hpp"
#include "sort_test_support.hpp"

using namespace shardflow;
using namespace shardflow::ops_test;
using ops::NullOrder;
using ops::SortKey;

namespace {

struct RadixMinRows {
  explicit RadixMinRows(idx_t rows) { ops::detail::set_radix_min_rows(rows); }
  ~RadixMinRows() { ops::detail::set_radix_min_rows(2048); }
};

const std::vector<std::vector<SortKey>>& key_sets() {
  static const std::vector<std::vector<SortKey>> sets = {
      {{"k", false, NullOrder::kLast}},
      {{"s", true, NullOrder::kFirst}, {"w", false, NullOrder::kLast}},
      {{"p", false, NullOrder::kFirst}, {"nf", true, NullOrder::kLast}},
      {{"nf", false, NullOrder::kLast}, {"b", true, NullOrder::kFirst}, {"t", false}},
      {{"fk", true, NullOrder::kLast}, {"p", true, NullOrder::kLast}, {"i", false}},
      {{"f32", true, NullOrder::kFirst}},
      {{"nf", true, NullOrder::kFirst}, {"i", true, NullOrder::kFirst}},
      {{"b", false, NullOrder::kFirst},
       {"s", false, NullOrder::kLast},
       {"k", true, NullOrder::kFirst},
       {"x", false, NullOrder::kFirst}},
  };
  return sets;
}

std::string describe(const std::vector<SortKey>& keys) {
  std::string s;
  for (const auto& k : keys)
    s += k.column + (k.descending ? " desc" : " asc") + " nulls " +
         std::string(ops::to_string(k.nulls)) + ", ";
  return s;
}

// The expected rows, in order: the reference order of `global`, the first `limit` (-1: all).
std::vector<std::string> expected_rows(const Table& global, const std::vector<SortKey>& keys,
                                       idx_t limit = -1) {
  std::vector<idx_t> order = ref_order(global, keys);
  if (limit >= 0 && limit < static_cast<idx_t>(order.size()))
    order.resize(static_cast<size_t>(limit));
  std::vector<std::string> rows;
  for (idx_t r : order)
    rows.push_back(render_all(global, r));
  return rows;
}

void check_sort(const mpi::Comm& comm, const Table& local, const Table& global,
                const std::vector<SortKey>& keys, const ops::SortOptions& options = {}) {
  SCOPED_TRACE(describe(keys));
  const Table out = ops::sort(comm, local, keys, options);
  ASSERT_EQ(out.schema(), local.schema());
  EXPECT_EQ(allgather_strings(comm, render_rows(out)), expected_rows(global, keys));
}

TEST(Sort, EveryKeyTypeAndDirectionMatchesReference) {
  mpi::Comm comm;
  for (bool empty_others : {false, true}) {
    // Tables this small are sorted by comparisons unless the radix sort is forced.
    const RadixMinRows radix(empty_others ? 0 : 1 << 20);
    const idx_t base = 300;
    const Table local =
        special_piece(11, comm.rank(), rows_of(comm.rank(), comm.size(), base, empty_others));
    const Table global = special_global(11, comm.size(), base, empty_others);
    for (const auto& keys : key_sets())
      check_sort(comm, local, global, keys);
  }
}

TEST(Sort, TinyShuffleRoundsAndFewSamples) {
  mpi::Comm comm;
  const Table local = special_piece(12, comm.rank(), rows_of(comm.rank(), comm.size(), 200, false));
  const Table global = special_global(12, comm.size(), 200, false);
  ops::SortOptions options;
  options.shuffle.round_bytes = 256;  // a few rows per round
  options.samples_per_rank = 1;
  for (idx_t radix_min_rows : {idx_t{0}, idx_t{1} << 20}) {
    const RadixMinRows radix(radix_min_rows);
    for (const auto& keys : key_sets())
      check_sort(comm, local, global, keys, options);
  }
}

TEST(Sort, AllRowsEqualAreSpreadEvenly) {
  mpi::Comm comm;
  PieceOptions skew;
  skew.skew = true;
  const idx_t base = 2000;
  const Table local =
      special_piece(13, comm.rank(), rows_of(comm.rank(), comm.size(), base, true), skew);
  const Table global = special_global(13, comm.size(), base, true, skew);
  const std::vector<SortKey> keys = {{"k"}, {"fk"}, {"s", true}, {"p"}, {"b"}, {"nf"}};
  const Table out = ops::sort(comm, local, keys);
  EXPECT_EQ(allgather_strings(comm, render_rows(out)), expected_rows(global, keys));
  // Every row had the same key on rank 0; the global row index in the splitters spreads them.
  const double mean = static_cast<double>(global.num_rows()) / comm.size();
  EXPECT_LE(static_cast<double>(out.num_rows()), 1.3 * mean + 1) << "rank " << comm.rank();
}

TEST(Sort, RandomKeysAreBalanced) {
  mpi::Comm comm;
  const idx_t base = 3000;
  const Table local = special_piece(14, comm.rank(), rows_of(comm.rank(), comm.size(), base, true));
  const idx_t total = mpi::allreduce_sum(comm, local.num_rows());
  for (const auto& keys : {std::vector<SortKey>{{"x"}}, std::vector<SortKey>{{"s"}, {"p"}},
                           std::vector<SortKey>{{"b"}}}) {
    SCOPED_TRACE(describe(keys));
    const Table out = ops::sort(comm, local, keys);
    const double mean = static_cast<double>(total) / comm.size();
    EXPECT_LE(static_cast<double>(out.num_rows()), 1.5 * mean + 1) << "rank " << comm.rank();
  }
}

TEST(Sort, EmptyTableEverywhere) {
  mpi::Comm comm;
  const Table local = special_piece(15, comm.rank(), 0);
  for (const auto& keys : key_sets()) {
    EXPECT_EQ(ops::sort(comm, local, keys).num_rows(), 0);
    EXPECT_EQ(ops::sort_limit(comm, local, keys, 5).num_rows(), 0);
  }
}

// The same global table split over the ranks in any way (here: contiguous ranges, and all rows on
// the last rank) sorts to what one rank alone (MPI_COMM_SELF) gives.
TEST(Sort, SameResultAsOneRankWhateverTheSplit) {
  mpi::Comm comm;
  mpi::Comm self(MPI_COMM_SELF);
  const Table global = special_piece(16, 0, 700);
  const idx_t n = global.num_rows();
  const int p = comm.size();
  const int r = comm.rank();
  for (int split = 0; split < 2; ++split) {
    const Table local = split == 0 ? slice(global, n * r / p, n * (r + 1) / p - n * r / p)
                                   : slice(global, 0, r == p - 1 ? n : 0);
    const RadixMinRows radix(split == 0 ? 0 : 1 << 20);
    for (const auto& keys : key_sets()) {
      SCOPED_TRACE(describe(keys) + " split " + std::to_string(split));
      const Table alone = ops::sort(self, global, keys);
      const Table out = ops::sort(comm, local, keys);
      EXPECT_EQ(allgather_strings(comm, render_rows(out)), render_rows(alone));
      const Table top = ops::sort_limit(comm, local, keys, 25);
      EXPECT_EQ(allgather_strings(comm, render_rows(top)), render_rows(slice(alone, 0, 25)));
    }
  }
}

TEST(Sort, LimitMatchesSortThenHead) {
  mpi::Comm comm;
  for (bool empty_others : {false, true}) {
    const idx_t base = 120;
    const Table local =
        special_piece(17, comm.rank(), rows_of(comm.rank(), comm.size(), base, empty_others));
    const Table global = special_global(17, comm.size(), base, empty_others);
    const idx_t rows = global.num_rows();
    for (const auto& keys : key_sets()) {
      const std::vector<std::string> all = expected_rows(global, keys);
      for (idx_t limit : {idx_t{0}, idx_t{1}, idx_t{7}, rows + 50}) {
        for (idx_t gather_limit : {idx_t{1} << 20, idx_t{0}}) {
          SCOPED_TRACE(describe(keys) + " limit " + std::to_string(limit) + " gather limit " +
                       std::to_string(gather_limit));
          ops::SortOptions options;
          options.gather_limit = gather_limit;  // 0: candidates are sample-sorted and cut
          if (gather_limit == 0) options.shuffle.round_bytes = 128;
          const Table out = ops::sort_limit(comm, local, keys, limit, options);
          ASSERT_EQ(out.schema(), local.schema());
          const std::vector<std::string> head(
              all.begin(), all.begin() + std::min<idx_t>(std::max<idx_t>(limit, 0), rows));
          EXPECT_EQ(allgather_strings(comm, render_rows(out)), head);
        }
      }
    }
  }
}

TEST(Sort, UnknownKeyIsAConfigErrorOnEveryRank) {
  mpi::Comm comm;
  const Table local = special_piece(18, comm.rank(), 10);
  try {
    ops::sort(comm, local, {{"k"}, {"amount"}});
    FAIL() << "no error";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("unknown column 'amount'"), std::string::npos) << e.what();
    EXPECT_TRUE(e.agreed()) << "reported once, not by every rank";
  }
  try {
    ops::sort_limit(comm, local, {{"k"}}, -1);
    FAIL() << "no error";
  } catch (const ConfigError& e) {
    EXPECT_TRUE(e.agreed());
  }
}

// The radix sort (recursive MSD buckets, comparisons for small buckets; with and without the
// global index as a key word) gives the comparison sort's permutation. The 70000-row table has
// buckets of 2^16 rows and more (12-bit windows); the smaller ones narrower windows.
TEST(SortKeys, RadixSortEqualsComparisonSort) {
  PieceOptions skew;
  skew.skew = true;
  std::mt19937_64 rng(5);
  for (const Table& t : {special_piece(19, 0, 6000), special_piece(20, 0, 3000, skew),
                         special_piece(21, 0, 70000)}) {
    for (const auto& keys : key_sets()) {
      for (int index_order = 0; index_order < 3; ++index_order) {
        SCOPED_TRACE(describe(keys) + " index order " + std::to_string(index_order));
        std::vector<std::int64_t> g(static_cast<size_t>(t.num_rows()));
        for (size_t i = 0; i < g.size(); ++i)
          g[i] = index_order == 1 ? -static_cast<std::int64_t>(i) : static_cast<std::int64_t>(i);
        if (index_order == 2) std::shuffle(g.begin(), g.end(), rng);
        std::vector<bool> nullable;
        for (const auto& k : keys)
          nullable.push_back(t.column(k.column).has_nulls());
        const ops::SortKeyLayout layout(t, keys, nullable);
        const ops::EncodedKeys encoded = ops::encode_sort_keys(layout, t, g);
        std::vector<idx_t> radix;
        {
          const RadixMinRows on(0);
          radix = ops::sort_permutation(encoded);
        }
        std::vector<idx_t> comparison;
        {
          const RadixMinRows off(idx_t{1} << 40);
          comparison = ops::sort_permutation(encoded);
        }
        EXPECT_EQ(radix, comparison);
        // And both are the reference order (ties by g).
        for (size_t i = 1; i < comparison.size(); ++i) {
          const int c = ref_compare(t, keys, comparison[i - 1], comparison[i]);
          ASSERT_TRUE(c < 0 || (c == 0 && g[static_cast<size_t>(comparison[i - 1])] <
                                              g[static_cast<size_t>(comparison[i])]))
              << "at " << i;
        }
      }
    }
  }
}

TEST(SortKeys, DoubleOrderBits) {
  const double values[] = {-std::numeric_limits<double>::infinity(),
                           -1e300,
                           -1.0,
                           -std::numeric_limits<double>::denorm_min(),
                           0.0,
                           std::numeric_limits<double>::denorm_min(),
                           2.5,
                           std::numeric_limits<double>::infinity(),
                           std::numeric_limits<double>::quiet_NaN()};
  for (size_t i = 0; i + 1 < std::size(values); ++i)
    EXPECT_LT(ops::double_order_bits(values[i]), ops::double_order_bits(values[i + 1])) << i;
  EXPECT_EQ(ops::double_order_bits(-0.0), ops::double_order_bits(0.0));
  EXPECT_EQ(ops::double_order_bits(std::numeric_limits<double>::quiet_NaN()),
            ops::double_order_bits(-std::numeric_limits<double>::quiet_NaN()));
}

}  // namespace
