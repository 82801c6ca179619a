#include <gtest/gtest.h>

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
