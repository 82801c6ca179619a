// Grouping of packed keys: group_direct (block-wise packing into a direct-indexed table) gives the
// same groups, numbered in the same order, as packing the whole table and group_packed, for every
// kind of packable key column, with nulls, at lengths around the block size.

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <memory>
#include <random>
#include <string>
#include <vector>

#include "shardflow/common/error.hpp"
#include "shardflow/mpi/comm.hpp"
#include "shardflow/ops/hash_table.hpp"
#include "shardflow/ops/key_packing.hpp"

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
