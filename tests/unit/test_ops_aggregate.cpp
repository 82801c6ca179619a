// Aggregate kernels: names and types, double-double sums independent of the order of additions,
// and update-then-merge of partial states equal to one update over all rows, for every kind.

#include <gtest/gtest.h>

#include <limits>
#include <optional>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <random>

#include "shardflow/common/hash.hpp"
#include "shardflow/ops/aggregate.hpp"
#include "shardflow/ops/shuffle.hpp"

using namespace shardflow;
using ops::AggKind;
using ops::AggregateState;
using table::Column;
using table::DataType;

TEST(Aggregate, NamesAndTypes) {
  EXPECT_EQ(ops::parse_agg_kind("sum"), AggKind::kSum);
  EXPECT_EQ(ops::parse_agg_kind("avg"), AggKind::kMean);
  EXPECT_EQ(ops::parse_agg_kind("mean"), AggKind::kMean);
  EXPECT_EQ(ops::parse_agg_kind("Sum"), std::nullopt);
  EXPECT_EQ(ops::output_name({AggKind::kSum, "v1", ""}), "v1_sum");
  EXPECT_EQ(ops::output_name({AggKind::kCount, "", ""}), "count");
  EXPECT_EQ(ops::output_name({AggKind::kMax, "v", "top"}), "top");
  EXPECT_EQ(ops::aggregate_output_type(AggKind::kSum, DataType::kInt32, "a"), DataType::kInt64);
  EXPECT_EQ(ops::aggregate_output_type(AggKind::kSum, DataType::kBool, "a"), DataType::kInt64);
  EXPECT_EQ(ops::aggregate_output_type(AggKind::kSum, DataType::kFloat32, "a"), DataType::kFloat64);
  EXPECT_EQ(ops::aggregate_output_type(AggKind::kMean, DataType::kInt64, "a"), DataType::kFloat64);
  EXPECT_EQ(ops::aggregate_output_type(AggKind::kMin, DataType::kString, "a"), DataType::kString);
  EXPECT_EQ(ops::aggregate_output_type(AggKind::kCount, DataType::kString, "a"), DataType::kInt64);
  EXPECT_THROW(ops::aggregate_output_type(AggKind::kMean, DataType::kString, "a"), ConfigError);
}

TEST(Aggregate, DoubleDoubleSumIsOrderIndependent) {
  std::mt19937_64 rng(7);
  for (int trial = 0; trial < 50; ++trial) {
    std::vector<double> v(500);
    for (auto& x : v)
      x = std::ldexp(
          static_cast<double>(static_cast<std::int64_t>(rng() >> 11)) * (rng() % 2 ? 1 : -1),
          static_cast<int>(rng() % 60) - 40);
    double first = 0;
    for (int perm = 0; perm < 5; ++perm) {
      std::shuffle(v.begin(), v.end(), rng);
      // Sum in two partial states of random split, then merge.
      const size_t cut = rng() % v.size();
      double h1 = 0, l1 = 0, h2 = 0, l2 = 0;
      for (size_t k = 0; k < cut; ++k)
        ops::dd_add(h1, l1, v[k]);
      for (size_t k = cut; k < v.size(); ++k)
        ops::dd_add(h2, l2, v[k]);
      ops::dd_merge(h1, l1, h2, l2);
      const double s = ops::dd_value(h1, l1);
      if (perm == 0) first = s;
      EXPECT_EQ(std::memcmp(&s, &first, sizeof s), 0) << "trial " << trial;
    }
  }
  double h = 0, l = 0;
  ops::dd_add(h, l, INFINITY);
  ops::dd_add(h, l, 1.0);
  EXPECT_EQ(ops::dd_value(h, l), INFINITY);
}

namespace {

// A column of `type` with random values (some null) and group ids in [0, groups) where the last
// group only sees null values.
Column random_column(DataType type, bool plain, std::mt19937_64& rng, size_t n) {
  Column c = plain ? Column::plain_strings() : Column(type);
  if (type == DataType::kString && !plain)
    c.set_dictionary(
        std::make_shared<const table::Dictionary>(std::vector<std::string>{"a", "b", "c", "d"}));
  for (size_t i = 0; i < n; ++i) {
    c.visit([&](auto& v) {
      using V = std::decay_t<decltype(v)>;
      if constexpr (std::is_same_v<V, table::PlainStrings>) {
        v.push_back(std::string(1 + rng() % 3, static_cast<char>('a' + rng() % 5)));
      } else {
        using T = typename V::value_type;
        if (type == DataType::kString)
          v.push_back(static_cast<T>(rng() % 4));
        else if (type == DataType::kBool)
          v.push_back(static_cast<T>(rng() % 2));
        else
          v.push_back(static_cast<T>(static_cast<double>(rng() % 2001) - 1000.0) /
                      static_cast<T>(type == DataType::kFloat64 ? 8 : 1));
      }
    });
  }
  c.ensure_validity();
  for (size_t i = 0; i < n; ++i)
    c.validity()[i] = rng() % 5 != 0;
  return c;
}

std::string render(const Column& c) {
  std::string s;
  for (idx_t i = 0; i < c.size(); ++i)
    s += (c.is_valid(i) ? c.to_string_at(i) : "<null>") + ",";
  return s;
}

}  // namespace

TEST(Aggregate, MergeOfPartialStatesEqualsOneUpdate) {
  std::mt19937_64 rng(99);
  const size_t n = 3000;
  const idx_t groups = 7;
  std::vector<std::int32_t> gid(n);
  for (auto& g : gid)
    g = static_cast<std::int32_t>(rng() % (groups - 1));
  for (DataType type : {DataType::kInt32, DataType::kInt64, DataType::kFloat64, DataType::kBool,
                        DataType::kString}) {
    for (bool plain : {false, true}) {
      if (plain && type != DataType::kString) continue;
      Column col = random_column(type, plain, rng, n);
      for (AggKind kind :
           {AggKind::kSum, AggKind::kCount, AggKind::kMean, AggKind::kMin, AggKind::kMax}) {
        if (type == DataType::kString && (kind == AggKind::kSum || kind == AggKind::kMean))
          continue;
        SCOPED_TRACE(std::string(table::to_string(type)) + (plain ? " plain " : " ") +
                     std::string(ops::to_string(kind)));
        AggregateState whole(kind, type, plain, col.dictionary(), false);
        whole.resize(groups);
        whole.update(&col, gid);
        // Partial states over three slices, merged in reverse order.
        std::vector<std::vector<Column>> parts;
        for (int part = 0; part < 3; ++part) {
          const size_t lo = n * static_cast<size_t>(part) / 3,
                       hi = n * static_cast<size_t>(part + 1) / 3;
          std::vector<idx_t> rows;
          for (size_t i = lo; i < hi; ++i)
            rows.push_back(static_cast<idx_t>(i));
          const Column slice = col.take(rows);
          AggregateState st(kind, type, plain, col.dictionary(), false);
          st.resize(groups);
          st.update(&slice, std::span<const std::int32_t>(gid.data() + lo, hi - lo));
          parts.push_back(st.state_columns());
          ASSERT_EQ(static_cast<int>(parts.back().size()), st.num_state_columns());
        }
        AggregateState merged(kind, type, plain, col.dictionary(), false);
        merged.resize(groups);
        std::vector<std::int32_t> identity(static_cast<size_t>(groups));
        for (idx_t g = 0; g < groups; ++g)
          identity[static_cast<size_t>(g)] = static_cast<std::int32_t>(g);
        for (int part = 2; part >= 0; --part)
          merged.merge(parts[static_cast<size_t>(part)], identity);
        const Column a = whole.finalize(), b = merged.finalize();
        EXPECT_EQ(render(a), render(b));
        // The group without rows: count 0, everything else null.
        EXPECT_EQ(a.is_valid(groups - 1), kind == AggKind::kCount);
      }
    }
  }
  // count(*) counts rows including nulls.
  AggregateState star(AggKind::kCount, DataType::kInt64, false, nullptr, true);
  star.resize(groups);
  star.update(nullptr, gid);
  const Column c = star.finalize();
  idx_t total = 0;
  for (auto v : c.values<std::int64_t>())
    total += v;
  EXPECT_EQ(total, static_cast<idx_t>(n));
  EXPECT_THROW(AggregateState(AggKind::kSum, DataType::kInt64, false, nullptr, true), ConfigError);
}

TEST(RankOfHash, InRangeMasksPowersOfTwoAndSpreadsEvenly) {
  for (int ranks : {1, 2, 3, 4, 5, 7, 8, 12, 48, 96, 1000}) {
    std::vector<int> counts(static_cast<size_t>(ranks));
    constexpr int kSamples = 200000;
    for (std::uint64_t i = 0; i < kSamples; ++i) {
      const std::uint64_t h = shardflow::hash_u64(i);
      const int r = ops::rank_of_hash(h, ranks);
      ASSERT_GE(r, 0);
      ASSERT_LT(r, ranks);
      if ((ranks & (ranks - 1)) == 0) {
        ASSERT_EQ(r, static_cast<int>(h & static_cast<std::uint64_t>(ranks - 1)));
      }
      ++counts[static_cast<size_t>(r)];
    }
    // A well-mixed hash lands within 10% of the even share on every rank.
    const double share = static_cast<double>(kSamples) / ranks;
    for (int c : counts)
      EXPECT_NEAR(c, share, 0.1 * share + 5 * std::sqrt(share)) << ranks;
  }
}

// Integer sums are exact in 128 bits: a partial sum past int64 that comes back into range is
// right, and a final sum outside int64 is reported, never wrapped (INT64_MAX + 1 once summed to
// INT64_MIN, two INT64_MAX to -2).
TEST(Aggregate, IntegerSumsAreExactAndOverflowIsReported) {
  constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();
  constexpr std::int64_t kMin = std::numeric_limits<std::int64_t>::min();
  struct Case {
    std::vector<std::int64_t> values;
    std::optional<std::int64_t> sum;  // nullopt: overflow
  };
  const std::vector<Case> cases = {
      {{kMax, 1}, std::nullopt}, {{kMax, kMax}, std::nullopt},       {{kMin, -1}, std::nullopt},
      {{kMax, 1, -1}, kMax},     {{kMax, kMax, -kMax, -kMax, 5}, 5}, {{kMin, kMax, 1}, 0},
  };
  for (const auto& c : cases) {
    // One update over all values, and one partial state per value merged.
    Column col(DataType::kInt64);
    for (auto v : c.values)
      col.values<std::int64_t>().push_back(v);
    const std::vector<std::int32_t> zeros(c.values.size(), 0);
    AggregateState whole(AggKind::kSum, DataType::kInt64, false, nullptr, false);
    whole.resize(1);
    whole.update(&col, zeros);
    AggregateState merged(AggKind::kSum, DataType::kInt64, false, nullptr, false);
    merged.resize(1);
    for (size_t i = 0; i < c.values.size(); ++i) {
      const Column one = col.take(std::vector<idx_t>{static_cast<idx_t>(i)});
      AggregateState part(AggKind::kSum, DataType::kInt64, false, nullptr, false);
      part.resize(1);
      part.update(&one, std::span<const std::int32_t>(zeros.data(), 1));
      merged.merge(part.state_columns(), std::span<const std::int32_t>(zeros.data(), 1));
    }
    for (const AggregateState* st : {&whole, &merged}) {
      std::string overflow;
      const Column out = st->finalize(&overflow);
      if (c.sum) {
        EXPECT_EQ(overflow, "");
        EXPECT_EQ(out.values<std::int64_t>()[0], *c.sum);
      } else {
        EXPECT_NE(overflow.find("does not fit int64"), std::string::npos) << overflow;
      }
    }
  }
  std::string overflow;
  Column col(DataType::kInt64);
  col.values<std::int64_t>() = {kMax, kMax};
  AggregateState st(AggKind::kSum, DataType::kInt64, false, nullptr, false);
  st.resize(1);
  st.update(&col, std::vector<std::int32_t>{0, 0});
  st.finalize(&overflow);
  EXPECT_EQ(overflow,
            "a group's exact sum is 18446744073709551614, which does not fit int64 "
            "(-9223372036854775808 to 9223372036854775807)");
}
