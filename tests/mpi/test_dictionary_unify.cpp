// unified_dictionary_column (the one-sort, one-remap path used by the CSV reader) against the
// reference dictionary_column_from_local + unify_dictionary, on random inputs at every rank count.

#include <gtest/gtest.h>

#include <random>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "shardflow/mpi/comm.hpp"
#include "shardflow/table/dictionary_encoding.hpp"

using namespace shardflow;
using namespace shardflow::table;

namespace {

/// Strings chosen to stress the 16-byte prefix compare: shared prefixes, prefixes of each other
/// up to zero padding ("ab" < "ab\0" < "ab\0\0"), bytes >= 0x80, lengths around 8 and 16.
std::string random_string(std::mt19937_64& rng) {
  static const std::string kAlphabet(
      "ab\0\x7f\x80\xff"
      "z",
      7);
  const int shape = static_cast<int>(rng() % 4);
  size_t len = 0;
  if (shape == 0) len = rng() % 4;
  if (shape == 1) len = 6 + rng() % 5;    // 6..10
  if (shape == 2) len = 14 + rng() % 5;   // 14..18
  if (shape == 3) len = 17 + rng() % 24;  // 17..40
  std::string s = len >= 12 ? std::string(12, 'a') : std::string();
  while (s.size() < len)
    s.push_back(kAlphabet[rng() % kAlphabet.size()]);
  s.resize(len);
  return s;
}

void check_against_reference(const mpi::Comm& comm, std::uint64_t seed, int values_on_rank,
                             int rows, bool nulls) {
  std::mt19937_64 rng(seed * 1000 + static_cast<std::uint64_t>(comm.rank()));
  std::set<std::string> distinct;
  for (int i = 0; i < values_on_rank; ++i)
    distinct.insert(random_string(rng));
  std::vector<std::string> values(distinct.begin(), distinct.end());
  std::shuffle(values.begin(), values.end(), rng);  // code order is not sorted order
  table::Buffer<std::int32_t> codes;
  std::vector<std::uint8_t> validity;
  for (int r = 0; r < rows && !values.empty(); ++r) {
    codes.push_back(static_cast<std::int32_t>(rng() % values.size()));
    if (nulls) validity.push_back(rng() % 5 == 0 ? 0 : 1);
  }
  std::vector<std::string_view> views(values.begin(), values.end());

  Column got = unified_dictionary_column(comm, views, codes, validity);
  Column want = dictionary_column_from_local(values, codes, validity);
  unify_dictionary(comm, want);

  ASSERT_TRUE(got.is_dictionary_encoded());
  EXPECT_EQ(got.dictionary()->values(), want.dictionary()->values()) << "rank " << comm.rank();
  ASSERT_EQ(got.size(), want.size());
  for (idx_t i = 0; i < got.size(); ++i) {
    ASSERT_EQ(got.is_valid(i), want.is_valid(i)) << "row " << i;
    if (!got.is_valid(i)) continue;
    EXPECT_EQ(got.codes()[static_cast<size_t>(i)], want.codes()[static_cast<size_t>(i)])
        << "row " << i << " rank " << comm.rank();
    EXPECT_EQ(got.string_at(i), values[static_cast<size_t>(codes[static_cast<size_t>(i)])]);
  }
}

}  // namespace

TEST(UnifiedDictionaryColumn, MatchesReferenceOnRandomStrings) {
  mpi::Comm comm;
  for (std::uint64_t seed = 1; seed <= 5; ++seed)
    check_against_reference(comm, seed, 200, 1000, /*nulls=*/seed % 2 == 0);
}

TEST(UnifiedDictionaryColumn, EmptyRanksAndSkewedSizes) {
  mpi::Comm comm;
  // Rank r holds 50*r values: rank 0 has none (and no rows).
  check_against_reference(comm, 7, 50 * comm.rank(), comm.rank() == 0 ? 0 : 300, true);
}

TEST(UnifiedDictionaryColumn, PrefixesAndPaddingOrder) {
  mpi::Comm comm;
  // Every rank holds the same tricky set; the dictionary must be in std::string order.
  const std::vector<std::string> values = {std::string("ab\0", 3),
                                           "ab",
                                           std::string("ab\0\0", 4),
                                           "",
                                           "abcdefghijklmnop",
                                           "abcdefghijklmnopq",
                                           "abcdefghijklmnop\x80",
                                           "abcdefghijklmnoq",
                                           std::string("abcdefghijklmnop\0", 17),
                                           "\xff"};
  std::vector<std::string_view> views(values.begin(), values.end());
  table::Buffer<std::int32_t> codes;
  for (size_t i = 0; i < values.size(); ++i)
    codes.push_back(static_cast<std::int32_t>(i));
  Column c = unified_dictionary_column(comm, views, codes, {});
  std::set<std::string> sorted(values.begin(), values.end());
  EXPECT_EQ(c.dictionary()->values(), std::vector<std::string>(sorted.begin(), sorted.end()));
  for (size_t i = 0; i < values.size(); ++i)
    EXPECT_EQ(c.string_at(static_cast<idx_t>(i)), values[i]);
}
