// Grouping of packed keys: group_direct (block-wise packing into a direct-indexed table) gives the
// same groups, numbered in the same order, as packing the whole table and group_packed, for every
// kind of packable key column, with nulls, at lengths around the block size.

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "shardflow/common/error.hpp"
#include "shardflow/mpi/comm.hpp"
#include "shardflow/ops/hash_table.hpp"
#include "shardflow/ops/key_packing.hpp"
#include "shardflow/ops/table_profile.hpp"

using namespace shardflow;
using table::Column;
using table::DataType;
using table::Table;

namespace {

// A random key column of `type` with `values` distinct values (nulls when `nullable`).
Column random_key(DataType type, int values, bool nullable, size_t n, std::mt19937_64& rng) {
  Column c(type);
  if (type == DataType::kString) {
    std::vector<std::string> words;
    for (int i = 0; i < values; ++i)
      words.push_back(fmt::format("w{:04}", i));  // sorted, as a dictionary must be
    c.set_dictionary(std::make_shared<const table::Dictionary>(words));
  }
  const std::int64_t base = static_cast<std::int64_t>(rng() % 2000) - 1000;
  for (size_t i = 0; i < n; ++i) {
    const auto code = static_cast<std::int64_t>(rng() % static_cast<std::uint64_t>(values));
    switch (type) {
      case DataType::kInt32:
        c.values<std::int32_t>().push_back(static_cast<std::int32_t>(base + code));
        break;
      case DataType::kInt64:
      case DataType::kTimestamp:
        c.values<std::int64_t>().push_back(base * 1000000007LL + code);
        break;
      case DataType::kBool:
        c.values<std::uint8_t>().push_back(static_cast<std::uint8_t>(code % 2));
        break;
      case DataType::kString:
        c.codes().push_back(static_cast<std::int32_t>(code));
        break;
      default:
        break;
    }
  }
  if (nullable) {
    c.validity().resize(n);
    for (size_t i = 0; i < n; ++i)
      c.validity()[i] = rng() % 5 != 0;
  }
  return c;
}

}  // namespace

TEST(Grouping, GroupDirectEqualsPackingTheWholeTable) {
  const mpi::Comm self = mpi::Comm::self();
  std::mt19937_64 rng(2048);
  const DataType types[] = {DataType::kInt32, DataType::kInt64, DataType::kBool, DataType::kString,
                            DataType::kTimestamp};
  const size_t lengths[] = {0, 1, 7, 2047, 2048, 2049, 6000};
  int checked = 0;
  for (int trial = 0; trial < 120; ++trial) {
    const size_t n = lengths[static_cast<size_t>(trial) % std::size(lengths)];
    const int columns = 1 + trial % 3;
    Table t;
    std::vector<int> key_idx;
    for (int j = 0; j < columns; ++j) {
      const DataType type = types[rng() % std::size(types)];
      const int values = 1 + static_cast<int>(rng() % (j == 0 ? 300 : 12));
      t.add_column("k" + std::to_string(j), random_key(type, values, rng() % 2 == 0, n, rng));
      key_idx.push_back(j);
    }
    const ops::KeyPacking p = ops::plan_packing(self, t, key_idx);
    ASSERT_TRUE(p.packable);
    // The ranges known from the table's profile give the plan of scanning the keys, except that
    // a column with a validity vector but no null gets no null slot; its packed keys are equal
    // exactly where the scanned plan's are.
    const ops::TableProfile profile = ops::profile_table(self, t);
    const ops::KeyPacking known =
        ops::plan_packing(self, t, key_idx, ops::known_key_ranges(&profile, t, key_idx));
    ASSERT_TRUE(known.packable);
    ASSERT_EQ(known.columns.size(), p.columns.size());
    for (size_t j = 0; j < p.columns.size(); ++j) {
      // A string key is scanned as before (its nullable flag: whether it has a validity vector).
      const bool nulls = t.column(key_idx[j]).type() == DataType::kString
                             ? p.columns[j].nullable
                             : profile.columns[static_cast<size_t>(key_idx[j])].nulls > 0;
      EXPECT_EQ(known.columns[j].nullable, nulls) << "trial " << trial << " key " << j;
      EXPECT_EQ(known.columns[j].min, p.columns[j].min) << "trial " << trial << " key " << j;
      EXPECT_EQ(known.columns[j].slots, p.columns[j].slots - (p.columns[j].nullable && !nulls))
          << "trial " << trial << " key " << j;
    }
    {
      const table::Buffer<std::uint64_t> a = ops::pack_keys(t, p);
      const table::Buffer<std::uint64_t> b = ops::pack_keys(t, known);
      std::map<std::uint64_t, std::uint64_t> forward, backward;
      for (size_t i = 0; i < n; ++i) {
        ASSERT_LT(b[i], known.domain);
        ASSERT_EQ(forward.emplace(a[i], b[i]).first->second, b[i]) << "trial " << trial;
        ASSERT_EQ(backward.emplace(b[i], a[i]).first->second, a[i]) << "trial " << trial;
      }
    }
    if (p.domain > ops::kDirectGroupDomain) continue;
    const table::Buffer<std::uint64_t> packed = ops::pack_keys(t, p);
    const ops::PackedGroups want = ops::group_packed(packed, p.domain, 16);
    const ops::PackedGroups got = ops::group_direct(t, p);
    ASSERT_EQ(got.keys, want.keys) << "trial " << trial;
    ASSERT_EQ(std::vector<std::int32_t>(got.gid.begin(), got.gid.end()),
              std::vector<std::int32_t>(want.gid.begin(), want.gid.end()))
        << "trial " << trial;
    // And the packed keys of a middle range, as pack_keys_into writes them.
    if (n > 10) {
      std::vector<std::uint64_t> part(n - 6);
      ops::pack_keys_into(t, p, 3, static_cast<idx_t>(n) - 3, part.data());
      for (size_t i = 0; i < part.size(); ++i)
        ASSERT_EQ(part[i], packed[i + 3]) << "trial " << trial << " row " << i + 3;
    }
    ++checked;
  }
  EXPECT_GT(checked, 100);
}

TEST(Grouping, GroupDirectRefusesALargeDomain) {
  const mpi::Comm self = mpi::Comm::self();
  Table t;
  Column c(DataType::kInt64);
  c.values<std::int64_t>().push_back(0);
  c.values<std::int64_t>().push_back(std::int64_t{1} << 40);
  t.add_column("k", std::move(c));
  const ops::KeyPacking p = ops::plan_packing(self, t, {0});
  ASSERT_TRUE(p.packable);
  EXPECT_THROW(ops::group_direct(t, p), RuntimeError);
}

// order_by_group_slice: a stable partition by slice of group id (a power-of-two width of at least
// the asked number of groups, at most kMaxGroupSlices slices), checked against a brute-force stable
// sort; Column::scatter moves every row (values and nulls, every storage) to its destination.
TEST(Grouping, GroupSliceOrderIsAStablePartitionBySlice) {
  std::mt19937_64 rng(7);
  struct Case {
    idx_t groups, per_slice;
    size_t rows;
  };
  for (const Case c : {Case{1, 1, 10}, Case{5, 8, 100}, Case{9, 8, 1000}, Case{100, 3, 5000},
                       Case{100000, 16, 20000}, Case{3000, 1, 777}, Case{2, 1, 0}}) {
    SCOPED_TRACE(fmt::format("groups {} per slice {} rows {}", c.groups, c.per_slice, c.rows));
    std::vector<std::int32_t> gid(c.rows);
    for (auto& g : gid)
      g = static_cast<std::int32_t>(rng() % static_cast<std::uint64_t>(c.groups));
    const ops::GroupSliceOrder order = ops::order_by_group_slice(gid, c.groups, c.per_slice);
    if (c.groups <= c.per_slice) {
      EXPECT_TRUE(order.dest.empty());
      continue;
    }
    // The width the contract names: the smallest power of two >= per_slice giving at most
    // kMaxGroupSlices slices.
    idx_t width = 1;
    while (width < c.per_slice || (c.groups + width - 1) / width > ops::kMaxGroupSlices)
      width *= 2;
    EXPECT_EQ(order.slices, (c.groups + width - 1) / width);
    std::vector<size_t> expected(c.rows);
    for (size_t i = 0; i < c.rows; ++i)
      expected[i] = i;
    std::stable_sort(expected.begin(), expected.end(),
                     [&](size_t a, size_t b) { return gid[a] / width < gid[b] / width; });
    ASSERT_EQ(order.dest.size(), c.rows);
    ASSERT_EQ(order.gid.size(), c.rows);
    for (size_t k = 0; k < c.rows; ++k) {
      ASSERT_EQ(order.dest[expected[k]], k) << "row " << expected[k];
      ASSERT_EQ(order.gid[k], gid[expected[k]]);
    }
  }
}

TEST(Grouping, ColumnScatterMovesValuesAndNullsOfEveryStorage) {
  std::mt19937_64 rng(11);
  const size_t n = 1000;
  std::vector<std::uint32_t> dest(n);
  for (size_t i = 0; i < n; ++i)
    dest[i] = static_cast<std::uint32_t>(i);
  std::shuffle(dest.begin(), dest.end(), rng);
  std::vector<Column> columns;
  for (DataType t : {DataType::kInt32, DataType::kInt64, DataType::kBool, DataType::kString})
    columns.push_back(random_key(t, 50, true, n, rng));
  Column floats(DataType::kFloat64);
  for (size_t i = 0; i < n; ++i)
    floats.values<double>().push_back(static_cast<double>(rng() % 1000) / 8.0);
  columns.push_back(std::move(floats));  // no nulls
  Column plain = Column::plain_strings();
  for (size_t i = 0; i < n; ++i)
    plain.plain().push_back(fmt::format("row{}", i * 7));
  plain.validity().assign(n, 1);
  plain.validity()[3] = 0;
  columns.push_back(std::move(plain));
  for (const Column& c : columns) {
    SCOPED_TRACE(table::to_string(c.type()));
    const Column moved = c.scatter(dest);
    ASSERT_EQ(moved.size(), c.size());
    EXPECT_EQ(moved.dictionary(), c.dictionary());
    EXPECT_EQ(moved.has_nulls(), c.has_nulls());
    for (size_t i = 0; i < n; ++i)
      ASSERT_EQ(moved.to_string_at(dest[i]), c.to_string_at(static_cast<idx_t>(i))) << i;
    for (size_t i = 0; i < n; ++i)
      ASSERT_EQ(moved.is_valid(dest[i]), c.is_valid(static_cast<idx_t>(i))) << i;
  }
  EXPECT_THROW(columns.front().scatter(std::span<const std::uint32_t>(dest.data(), n - 1)),
               RuntimeError);
}

// group_rows over enough groups to be partitioned by hash (more than one partition's table):
// rows get the same group id exactly when their keys are equal (null equals null, -0.0 equals 0.0,
// NaN equals NaN), ids are dense, and first_row is each group's first row.
TEST(Grouping, GroupRowsPartitionedByHashMatchesABruteForceGrouping) {
  std::mt19937_64 rng(5);
  for (const size_t n : {size_t{300000}, size_t{5000}}) {
    SCOPED_TRACE(n);
    const auto range = static_cast<std::uint64_t>(n / 3);
    Table t;
    Column k(DataType::kInt64), f(DataType::kFloat64);
    Column s = Column::plain_strings();
    for (size_t i = 0; i < n; ++i) {
      const std::uint64_t r = rng() % range;
      k.values<std::int64_t>().push_back(static_cast<std::int64_t>(r / 4));
      const double special[] = {0.0, -0.0, std::nan(""), 1.5};
      f.values<double>().push_back(special[r % 4]);
      s.plain().push_back(fmt::format("s{}", rng() % 2));
    }
    k.validity().assign(n, 1);
    for (size_t i = 0; i < n; i += 97)
      k.validity()[i] = 0;
    t.add_column("k", std::move(k));
    t.add_column("f", std::move(f));
    t.add_column("s", std::move(s));
    const ops::RowGroups g = ops::group_rows(t, {0, 1, 2});
    ASSERT_EQ(g.gid.size(), n);
    std::map<std::string, std::int32_t> id_of;
    std::vector<idx_t> first(g.first_row.size(), -1);
    for (size_t i = 0; i < n; ++i) {
      const auto r = static_cast<idx_t>(i);
      const double fv = t.column(1).values<double>()[i];
      const std::string key =
          fmt::format("{}|{}|{}", t.column(0).to_string_at(r),
                      std::isnan(fv) ? std::string("nan") : fmt::format("{}", fv == 0.0 ? 0.0 : fv),
                      t.column(2).to_string_at(r));
      const std::int32_t gid = g.gid[i];
      ASSERT_GE(gid, 0);
      ASSERT_LT(static_cast<size_t>(gid), g.first_row.size());
      const auto [it, added] = id_of.emplace(key, gid);
      ASSERT_EQ(it->second, gid) << "row " << i << " key " << key;
      if (first[static_cast<size_t>(gid)] < 0) first[static_cast<size_t>(gid)] = r;
    }
    // Distinct keys have distinct ids, and every id is used.
    EXPECT_EQ(id_of.size(), g.first_row.size());
    for (size_t id = 0; id < first.size(); ++id)
      ASSERT_EQ(g.first_row[id], first[id]) << "group " << id;
  }
}
