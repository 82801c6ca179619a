// Key equality across two tables (the join engine's comparison): dictionary strings of two
// different dictionaries and dictionary-with-plain compare by value, the same dictionary by code,
// nulls never match; and within one column null equals null (group-by). Also join_key_type.

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "shardflow/common/error.hpp"
#include "shardflow/ops/join.hpp"
#include "shardflow/ops/key_equality.hpp"

using namespace shardflow;
using table::Column;
using table::DataType;
using table::Table;

namespace {

Column dict_column(const std::vector<std::string>& dictionary, const std::vector<int>& codes,
                   const std::vector<std::uint8_t>& valid = {}) {
  Column c(DataType::kString);
  c.set_dictionary(std::make_shared<const table::Dictionary>(dictionary));
  for (int code : codes)
    c.codes().push_back(code);
  c.validity() = valid;
  return c;
}

Column plain_column(const std::vector<std::string>& values) {
  Column c = Column::plain_strings();
  for (const auto& v : values)
    c.plain().push_back(v);
  return c;
}

Column int_column(const std::vector<std::int64_t>& values, const std::vector<std::uint8_t>& valid) {
  Column c(DataType::kInt64);
  for (auto v : values)
    c.values<std::int64_t>().push_back(v);
  c.validity() = valid;
  return c;
}

}  // namespace

TEST(KeyEquality, StringsCompareByValueAcrossDictionaries) {
  Table l, r, q;
  // Left: "b", "c", null; right (another dictionary): "c", "b", "a"; q: plain "c", "x", "b".
  l.add_column("s", dict_column({"a", "b", "c"}, {1, 2, 0}, {1, 1, 0}));
  l.add_column("i", int_column({1, 2, 3}, {}));
  r.add_column("s", dict_column({"b", "c", "zz"}, {1, 0, 0}));
  r.add_column("i", int_column({2, 1, 1}, {1, 1, 0}));
  q.add_column("s", plain_column({"c", "x", "b"}));
  const ops::KeyEquality lr(l, {0}, r, {0});
  EXPECT_FALSE(lr.equal(0, 0));  // b vs c (codes 1 and 1 would say equal)
  EXPECT_TRUE(lr.equal(0, 1));   // b vs b (codes 1 and 0)
  EXPECT_TRUE(lr.equal(1, 0));   // c vs c
  EXPECT_FALSE(lr.equal(2, 2));  // null matches nothing
  EXPECT_TRUE(lr.left_null(2));
  EXPECT_FALSE(lr.right_null(2));
  const ops::KeyEquality lq(l, {0}, q, {0});  // dictionary with plain
  EXPECT_TRUE(lq.equal(1, 0));
  EXPECT_TRUE(lq.equal(0, 2));
  EXPECT_FALSE(lq.equal(0, 1));
  // Two key columns: string and int64 with a null on the right.
  const ops::KeyEquality two(l, {0, 1}, r, {0, 1});
  EXPECT_TRUE(two.equal(1, 0));   // (c, 2) vs (c, 2)
  EXPECT_TRUE(two.equal(0, 1));   // (b, 1) vs (b, 1)
  EXPECT_FALSE(two.equal(0, 2));  // (b, 1) vs (b, null)
  EXPECT_TRUE(two.right_null(2));
  // The same dictionary object: codes are compared.
  Table same = l;
  const ops::KeyEquality ll(l, {0}, same, {0});
  EXPECT_TRUE(ll.equal(0, 0));
  EXPECT_FALSE(ll.equal(0, 1));
  // Different types are refused: the join normalizes them first.
  EXPECT_THROW(ops::KeyEquality(l, {1}, l, {0}), RuntimeError);
}

TEST(KeyEquality, WithinOneColumnNullEqualsNull) {
  const Column c = int_column({5, 5, 0, 0}, {1, 1, 0, 0});
  EXPECT_TRUE(ops::key_equal(c, 0, 1));
  EXPECT_TRUE(ops::key_equal(c, 2, 3));
  EXPECT_FALSE(ops::key_equal(c, 0, 2));
}

TEST(KeyEquality, JoinKeyTypes) {
  EXPECT_EQ(ops::join_key_type(DataType::kInt32, DataType::kInt64), DataType::kInt64);
  EXPECT_EQ(ops::join_key_type(DataType::kFloat64, DataType::kFloat32), DataType::kFloat64);
  EXPECT_EQ(ops::join_key_type(DataType::kString, DataType::kString), DataType::kString);
  EXPECT_FALSE(ops::join_key_type(DataType::kString, DataType::kInt64));
  EXPECT_FALSE(ops::join_key_type(DataType::kTimestamp, DataType::kInt64));
  EXPECT_FALSE(ops::join_key_type(DataType::kInt64, DataType::kFloat64));
  EXPECT_FALSE(ops::join_key_type(DataType::kBool, DataType::kInt32));
}
