#include <gtest/gtest.h>

#include "shardflow/mpi/comm.hpp"
#include "shardflow/table/dictionary_encoding.hpp"

using namespace shardflow;
using namespace shardflow::table;

TEST(DictionaryEncoding, GlobalDictionaryIsIdenticalAndCodesPreserveStrings) {
  mpi::Comm comm;
  // Rank r holds strings "k<r>" and "k<r+1>" and a shared "common".
  Column c = Column::plain_strings();
  std::vector<std::string> mine = {"k" + std::to_string(comm.rank()), "common",
                                   "k" + std::to_string(comm.rank() + 1)};
  for (auto& s : mine)
    c.plain().push_back(s);
  encode_strings(comm, c);
  ASSERT_TRUE(c.is_dictionary_encoded());
  EXPECT_EQ(c.dictionary()->size(), comm.size() + 2);
  for (size_t i = 0; i < mine.size(); ++i)
    EXPECT_EQ(c.string_at(static_cast<idx_t>(i)), mine[i]);
  // The same string has the same code on every rank.
  const auto common = c.dictionary()->find("common");
  ASSERT_TRUE(common.has_value());
  EXPECT_EQ(c.codes()[1], *common);
}

TEST(DictionaryEncoding, HighCardinalityStaysPlain) {
  mpi::Comm comm;
  Column c = Column::plain_strings();
  for (int i = 0; i < 50; ++i)
    c.plain().push_back(std::to_string(comm.rank() * 1000 + i));
  encode_strings(comm, c, /*max_size=*/40);
  EXPECT_FALSE(c.is_dictionary_encoded());
  Column d = Column::plain_strings();
  for (int i = 0; i < 30; ++i)
    d.plain().push_back(std::to_string(comm.rank() * 1000 + i));
  encode_strings(comm, d, /*max_size=*/40);
  // 30 distinct per rank: fits at one rank, not at two or more.
  EXPECT_EQ(d.is_dictionary_encoded(), comm.size() == 1);
}
