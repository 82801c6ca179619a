#include <gtest/gtest.h>

#include <random>

#include "shardflow/common/suggest.hpp"
#include "shardflow/table/dictionary_encoding.hpp"
#include "shardflow/table/table.hpp"

using namespace shardflow;
using namespace shardflow::table;

TEST(Column, TakeKeepsValuesAndNulls) {
  Column c(DataType::kInt64);
  c.values<std::int64_t>() = {10, 20, 30, 40};
  c.validity() = {1, 0, 1, 1};
  std::vector<idx_t> rows = {3, 1, 0};
  Column t = c.take(rows);
  EXPECT_EQ(t.values<std::int64_t>(), (table::Buffer<std::int64_t>{40, 20, 10}));
  EXPECT_EQ(t.validity(), (std::vector<std::uint8_t>{1, 0, 1}));
  EXPECT_EQ(t.to_string_at(1), "");
}

// The plain-string gather copies short strings as 16-byte blocks when both buffers have room:
// lengths 0, 1, 15, 16, 17 and long ones, taken in random order with repeats, strings ending at
// the very end of the source bytes (no room for a block), nulls, and an empty selection.
TEST(Column, TakePlainStringsOfEveryLengthAgreesWithAReference) {
  std::mt19937_64 rng(7);
  for (int trial = 0; trial < 50; ++trial) {
    Column c = Column::plain_strings();
    std::vector<std::string> values;
    const int n = 1 + static_cast<int>(rng() % 40);
    for (int i = 0; i < n; ++i) {
      static const int lengths[] = {0, 1, 15, 16, 17, 31, 100};
      std::string v(static_cast<size_t>(lengths[rng() % 7]), ' ');
      for (auto& ch : v)
        ch = static_cast<char>('a' + rng() % 26);
      values.push_back(v);
      c.plain().push_back(v);
    }
    const bool with_nulls = trial % 3 == 0;
    if (with_nulls) {
      c.ensure_validity();
      for (int i = 0; i < n; i += 4)
        c.validity()[static_cast<size_t>(i)] = 0;
    }
    std::vector<idx_t> rows(rng() % 60);
    for (auto& r : rows)
      r = static_cast<idx_t>(rng() % static_cast<std::uint64_t>(n));
    if (trial == 1) rows.clear();
    const Column t = c.take(rows);
    ASSERT_EQ(t.size(), static_cast<idx_t>(rows.size()));
    for (size_t k = 0; k < rows.size(); ++k) {
      const auto r = static_cast<size_t>(rows[k]);
      EXPECT_EQ(t.plain().at(static_cast<idx_t>(k)), values[r]) << "trial " << trial;
      EXPECT_EQ(t.is_valid(static_cast<idx_t>(k)), c.is_valid(rows[k]));
    }
    std::string expected_bytes;
    for (idx_t r : rows)
      expected_bytes += values[static_cast<size_t>(r)];
    EXPECT_EQ(std::string(t.plain().chars.begin(), t.plain().chars.end()),
              expected_bytes);  // no slack left behind
  }
}

TEST(Column, WrongTypeAccessThrows) {
  Column c(DataType::kFloat64);
  EXPECT_THROW(c.values<std::int64_t>(), RuntimeError);
}

TEST(Column, PlainStringsAppend) {
  Column a = Column::plain_strings();
  a.plain().push_back("x");
  Column b = Column::plain_strings();
  b.plain().push_back("yz");
  a.append(b);
  ASSERT_EQ(a.size(), 2);
  EXPECT_EQ(a.string_at(1), "yz");
}

TEST(Dictionary, LocalDictionaryIsSortedAndCodesRemapped) {
  Column c = dictionary_column_from_local({"b", "a", "c"}, {0, 1, 2, 0}, {});
  EXPECT_EQ(c.dictionary()->values(), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(c.codes(), (table::Buffer<std::int32_t>{1, 0, 2, 1}));
  EXPECT_EQ(c.string_at(0), "b");
}

TEST(Schema, UnknownColumnSuggests) {
  Schema s({{"amount", DataType::kFloat64}, {"user_id", DataType::kInt64}});
  try {
    s.index_of("amout", "step 'filter'");
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()),
              "unknown column 'amout' in step 'filter'; did you mean 'amount'? (columns: amount, "
              "user_id)");
  }
}

TEST(Suggest, ClosestMatch) {
  EXPECT_EQ(closest_match("epcohs", {"epochs", "lr", "batch_size"}).value(), "epochs");
  EXPECT_FALSE(closest_match("zzzzzz", {"epochs", "lr"}).has_value());
  EXPECT_EQ(closest_match("rnu", {"run", "validate", "inspect", "gen"}).value(), "run");
  EXPECT_EQ(edit_distance("ab", "ba"), 1u);
  EXPECT_EQ(edit_distance("kitten", "sitting"), 3u);
}
