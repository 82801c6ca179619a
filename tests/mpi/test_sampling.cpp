// Sampling, random splits, class rebalancing and time splits against brute-force references
// computed on the whole table. The whole table is generated independently of the rank count and
// then cut into ranges that depend on it (uneven, all rows on one rank, an empty rank in the
// middle), so a result equal to the reference at 1, 2, 3 and 4 ranks is the same result at every
// rank count. Strata: none (one stratum), int32 with nulls, dictionary strings, plain strings,
// two columns, floats with NaN and -0.0, all rows in one stratum; tiny shuffle rounds.

#include <gtest/gtest.h>

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>

#include "shardflow/common/error.hpp"
#include "shardflow/mpi/allreduce.hpp"
#include "shardflow/ops/sampling.hpp"
#include "shardflow/ops/sort_keys.hpp"
#include "sort_test_support.hpp"

using namespace shardflow;
using namespace shardflow::ops_test;

namespace {

constexpr std::uint64_t kSeed = 20240601;

// ---- the table and its distribution --------------------------------------------------------

// How the whole table is cut into rank ranges.
enum class Cut { kUneven, kFirstRankOnly, kLastRankOnly, kMiddleEmpty };

// Rank r's range [first, first + count) of n rows.
std::pair<idx_t, idx_t> range_of(Cut cut, idx_t n, int rank, int size) {
  std::vector<idx_t> counts(static_cast<size_t>(size), 0);
  switch (cut) {
    case Cut::kUneven: {
      // Weights 1, 2, 3, ... so every rank count cuts differently.
      const idx_t total = static_cast<idx_t>(size) * (size + 1) / 2;
      idx_t given = 0;
      for (int r = 0; r < size; ++r) {
        counts[static_cast<size_t>(r)] = r + 1 == size ? n - given : n * (r + 1) / total;
        given += counts[static_cast<size_t>(r)];
      }
      break;
    }
    case Cut::kFirstRankOnly:
      counts[0] = n;
      break;
    case Cut::kLastRankOnly:
      counts[static_cast<size_t>(size - 1)] = n;
      break;
    case Cut::kMiddleEmpty: {
      // Rank size/2 gets nothing (at one rank: everything on rank 0).
      const int empty = size > 1 ? size / 2 : -1;
      const int holders = size > 1 ? size - 1 : 1;
      idx_t given = 0;
      int seen = 0;
      for (int r = 0; r < size; ++r) {
        if (r == empty) continue;
        ++seen;
        counts[static_cast<size_t>(r)] = seen == holders ? n - given : n / holders;
        given += counts[static_cast<size_t>(r)];
      }
      break;
    }
  }
  idx_t first = 0;
  for (int r = 0; r < rank; ++r)
    first += counts[static_cast<size_t>(r)];
  return {first, counts[static_cast<size_t>(rank)]};
}

struct Distributed {
  Table global;
  Table local;
  idx_t first = 0;  // the local rows' first global index
};

Distributed distribute(const mpi::Comm& comm, const Table& global, Cut cut) {
  const auto [first, count] = range_of(cut, global.num_rows(), comm.rank(), comm.size());
  return {global, slice(global, first, count), first};
}

// ---- brute-force references ----------------------------------------------------------------

// Stratum key of row r: nulls equal, -0.0 == 0.0, every NaN one value.
std::string ref_key(const Table& t, idx_t r, const std::vector<std::string>& keys) {
  std::string out;
  for (const auto& name : keys) {
    const Column& c = t.column(name);
    if (!c.is_valid(r)) {
      out += "<null>\x1f";
      continue;
    }
    if (table::is_floating(c.type())) {
      const double v = c.numeric_at(r);
      out += std::isnan(v) ? std::string("nan") : fmt::format("{}", v == 0.0 ? 0.0 : v);
    } else {
      out += c.to_string_at(r);
    }
    out += '\x1f';
  }
  return out;
}

// Position of every row of `t` in its stratum's draw order, and the stratum's size.
std::vector<ops::StratumPosition> ref_positions(const Table& t,
                                                const std::vector<std::string>& strata,
                                                std::uint64_t seed, std::string_view purpose) {
  std::map<std::string, std::vector<idx_t>> groups;
  for (idx_t r = 0; r < t.num_rows(); ++r)
    groups[ref_key(t, r, strata)].push_back(r);
  std::vector<ops::StratumPosition> out(static_cast<size_t>(t.num_rows()));
  for (auto& [key, rows] : groups) {
    std::sort(rows.begin(), rows.end(), [&](idx_t a, idx_t b) {
      const std::uint64_t da = ops::row_draw(seed, purpose, a);
      const std::uint64_t db = ops::row_draw(seed, purpose, b);
      return da != db ? da < db : a < b;
    });
    for (size_t i = 0; i < rows.size(); ++i)
      out[static_cast<size_t>(rows[i])] = {static_cast<idx_t>(i), static_cast<idx_t>(rows.size())};
  }
  return out;
}

// The rendered rows of `global` at `rows`, and those of them in [first, first + count).
std::pair<std::vector<std::string>, std::vector<std::string>> expected_rows(
    const Table& global, const std::vector<idx_t>& rows, idx_t first, idx_t count) {
  std::vector<std::string> all, mine;
  for (idx_t r : rows) {
    all.push_back(render_all(global, r));
    if (r >= first && r < first + count) mine.push_back(render_all(global, r));
  }
  return {all, mine};
}

// `out` (this rank's part) equals the reference rows: globally and on this rank.
void expect_rows(const mpi::Comm& comm, const Distributed& d, const Table& out,
                 const std::vector<idx_t>& rows, const std::string& what) {
  SCOPED_TRACE(what);
  ASSERT_EQ(out.schema(), d.local.schema());
  const auto [all, mine] = expected_rows(d.global, rows, d.first, d.local.num_rows());
  EXPECT_EQ(allgather_strings(comm, render_rows(out)), all);
  EXPECT_EQ(render_rows(out), mine) << "rank " << comm.rank();
}

std::string describe(const std::vector<std::string>& strata) {
  std::string s = "strata [";
  for (const auto& k : strata)
    s += k + " ";
  return s + "]";
}

const std::vector<std::vector<std::string>>& strata_sets() {
  static const std::vector<std::vector<std::string>> sets = {{},    {"k"},      {"s"},
                                                             {"p"}, {"s", "b"}, {"nf"}};
  return sets;
}

const std::vector<Cut>& cuts() {
  static const std::vector<Cut> all = {Cut::kUneven, Cut::kFirstRankOnly, Cut::kLastRankOnly,
                                       Cut::kMiddleEmpty};
  return all;
}

// ---- tests ---------------------------------------------------------------------------------

TEST(LargestRemainder, CountsAddUpAndRoundToNearest) {
  using V = std::vector<idx_t>;
  EXPECT_EQ(ops::largest_remainder_counts(10, {0.8, 0.2}), (V{8, 2}));
  EXPECT_EQ(ops::largest_remainder_counts(7, {1.0 / 3, 1.0 / 3, 1.0 / 3}), (V{3, 2, 2}));
  EXPECT_EQ(ops::largest_remainder_counts(5, {0.5}), (V{3}));  // halves up: 2.5 -> 3
  EXPECT_EQ(ops::largest_remainder_counts(5, {0.3}), (V{2}));  // 1.5 -> 2
  EXPECT_EQ(ops::largest_remainder_counts(5, {0.2}), (V{1}));
  // 4.5, 2.7 and the dropped 1.8: the two largest remainders (.8, .7) get the two rows left.
  EXPECT_EQ(ops::largest_remainder_counts(9, {0.5, 0.3}), (V{4, 3}));
  EXPECT_EQ(ops::largest_remainder_counts(0, {0.7, 0.2, 0.1}), (V{0, 0, 0}));
  EXPECT_EQ(ops::largest_remainder_counts(1, {0.7, 0.2, 0.1}), (V{1, 0, 0}));
  EXPECT_EQ(ops::largest_remainder_counts(3, {1.0}), (V{3}));
  // Properties on many sizes and fraction sets.
  const std::vector<std::vector<double>> sets = {{0.8, 0.2},         {0.7, 0.2, 0.1}, {0.1},
                                                 {0.25, 0.25, 0.25}, {0.001, 0.999},  {0.6, 0.3}};
  for (const auto& f : sets) {
    const double sum = std::accumulate(f.begin(), f.end(), 0.0);
    for (idx_t n = 0; n < 300; n += 7) {
      const V c = ops::largest_remainder_counts(n, f);
      ASSERT_EQ(c.size(), f.size());
      idx_t total = 0;
      for (size_t i = 0; i < f.size(); ++i) {
        const double exact = f[i] * static_cast<double>(n);
        EXPECT_LE(std::abs(static_cast<double>(c[i]) - exact), 1.0) << n;
        total += c[i];
      }
      EXPECT_LE(std::abs(static_cast<double>(total) - sum * static_cast<double>(n)), 1.0) << n;
      if (sum > 1 - 1e-9) {
        EXPECT_EQ(total, n);
      }
    }
  }
  EXPECT_THROW(ops::largest_remainder_counts(4, {0.8, 0.3}), ConfigError);
  EXPECT_THROW(ops::largest_remainder_counts(4, {-0.1}), ConfigError);
}

TEST(RowDraw, DependsOnSeedPurposeAndRow) {
  EXPECT_EQ(ops::row_draw(1, "split", 5), ops::row_draw(1, "split", 5));
  EXPECT_NE(ops::row_draw(1, "split", 5), ops::row_draw(2, "split", 5));
  EXPECT_NE(ops::row_draw(1, "split", 5), ops::row_draw(1, "sample", 5));
  EXPECT_NE(ops::row_draw(1, "split", 5), ops::row_draw(1, "split", 6));
}

TEST(StratumPositions, MatchReference) {
  mpi::Comm comm;
  const Table global = special_piece(71, 0, 700);
  for (Cut cut : cuts()) {
    // Tables this small are sorted by comparisons unless the radix sort is forced.
    ops::detail::set_radix_min_rows(cut == Cut::kUneven ? 0 : 2048);
    const Distributed d = distribute(comm, global, cut);
    for (const auto& strata : strata_sets()) {
      SCOPED_TRACE(describe(strata) + fmt::format(" cut {}", static_cast<int>(cut)));
      const auto got = ops::stratum_positions(comm, d.local, strata, kSeed, "split");
      const auto ref = ref_positions(global, strata, kSeed, "split");
      ASSERT_EQ(static_cast<idx_t>(got.size()), d.local.num_rows());
      for (size_t i = 0; i < got.size(); ++i) {
        const auto& want = ref[static_cast<size_t>(d.first) + i];
        EXPECT_EQ(got[i].position, want.position) << "row " << d.first + static_cast<idx_t>(i);
        EXPECT_EQ(got[i].size, want.size) << "row " << d.first + static_cast<idx_t>(i);
      }
    }
  }
  ops::detail::set_radix_min_rows(2048);
}

TEST(RandomSplit, ExactPerStratumAndSameAtEveryRankCount) {
  mpi::Comm comm;
  const Table global = special_piece(72, 0, 500);
  const std::vector<std::vector<double>> fraction_sets = {{0.8, 0.2}, {0.5, 0.3, 0.1}, {1.0}};
  for (Cut cut : {Cut::kUneven, Cut::kMiddleEmpty}) {
    const Distributed d = distribute(comm, global, cut);
    for (const auto& strata : strata_sets()) {
      const auto ref = ref_positions(global, strata, kSeed, "split");
      for (const auto& fractions : fraction_sets) {
        const auto out = ops::random_split(comm, d.local, fractions, strata, kSeed);
        ASSERT_EQ(out.size(), fractions.size());
        // Reference: output i takes positions [cum_{i-1}, cum_i) of each stratum.
        std::vector<std::vector<idx_t>> rows(fractions.size());
        std::map<std::string, std::vector<idx_t>> per_stratum;  // counts per output, then n
        for (idx_t r = 0; r < global.num_rows(); ++r) {
          const auto& at = ref[static_cast<size_t>(r)];
          const auto counts = ops::largest_remainder_counts(at.size, fractions);
          idx_t start = 0;
          for (size_t i = 0; i < counts.size(); ++i) {
            if (at.position >= start && at.position < start + counts[i]) rows[i].push_back(r);
            start += counts[i];
          }
          auto& c = per_stratum[ref_key(global, r, strata)];
          c.resize(fractions.size() + 1);
          ++c[fractions.size()];
        }
        for (size_t i = 0; i < fractions.size(); ++i) {
          expect_rows(comm, d, out[i], rows[i],
                      describe(strata) + fmt::format(" output {} of {} fractions cut {}", i,
                                                     fractions.size(), static_cast<int>(cut)));
          for (idx_t r : rows[i])
            ++per_stratum[ref_key(global, r, strata)][i];
        }
        // Exact counts per stratum: round(f * n) within one, summing to n when the fractions do.
        for (const auto& [key, c] : per_stratum) {
          const idx_t n = c[fractions.size()];
          idx_t total = 0;
          for (size_t i = 0; i < fractions.size(); ++i) {
            EXPECT_LE(std::abs(static_cast<double>(c[i]) - fractions[i] * static_cast<double>(n)),
                      1.0);
            total += c[i];
          }
          if (fractions.size() != 3) {
            EXPECT_EQ(total, n);
          }
        }
      }
    }
  }
}

TEST(Sample, ExactAndIndependentOfSplit) {
  mpi::Comm comm;
  const Table global = special_piece(73, 0, 400);
  for (Cut cut : {Cut::kUneven, Cut::kLastRankOnly}) {
    const Distributed d = distribute(comm, global, cut);
    for (const auto& strata : strata_sets()) {
      const auto ref = ref_positions(global, strata, kSeed, "sample");
      for (double f : {0.1, 0.5, 1.0}) {
        const Table out = ops::sample(comm, d.local, f, strata, kSeed);
        std::vector<idx_t> rows;
        for (idx_t r = 0; r < global.num_rows(); ++r) {
          const auto& at = ref[static_cast<size_t>(r)];
          // round(f * n), halves up.
          const auto keep = static_cast<idx_t>(std::floor(f * static_cast<double>(at.size) + 0.5));
          if (at.position < keep) rows.push_back(r);
        }
        expect_rows(comm, d, out, rows, describe(strata) + fmt::format(" fraction {}", f));
      }
    }
  }
  // Another seed gives another sample.
  const Distributed d = distribute(comm, global, Cut::kUneven);
  const Table a = ops::sample(comm, d.local, 0.5, {}, kSeed);
  const Table b = ops::sample(comm, d.local, 0.5, {}, kSeed + 1);
  EXPECT_NE(allgather_strings(comm, render_rows(a)), allgather_strings(comm, render_rows(b)));
}

TEST(RebalanceClasses, UnderAndOversampleMatchReference) {
  mpi::Comm comm;
  const Table global = special_piece(74, 0, 450);
  for (Cut cut : {Cut::kUneven, Cut::kFirstRankOnly, Cut::kMiddleEmpty}) {
    const Distributed d = distribute(comm, global, cut);
    for (const std::string label : {"k", "s", "p", "b", "nf"}) {
      const auto ref = ref_positions(global, {label}, kSeed, "rebalance_classes");
      idx_t smallest = global.num_rows(), largest = 0;
      for (const auto& at : ref) {
        smallest = std::min(smallest, at.size);
        largest = std::max(largest, at.size);
      }
      std::vector<idx_t> under, over;
      std::map<std::string, idx_t> under_count, over_count;
      for (idx_t r = 0; r < global.num_rows(); ++r) {
        const auto& at = ref[static_cast<size_t>(r)];
        const std::string key = ref_key(global, r, {label});
        if (at.position < smallest) {
          under.push_back(r);
          ++under_count[key];
        }
        const idx_t copies = largest / at.size + (at.position < largest % at.size ? 1 : 0);
        for (idx_t c = 0; c < copies; ++c) {
          over.push_back(r);
          ++over_count[key];
        }
      }
      for (const auto& [key, n] : under_count)
        EXPECT_EQ(n, smallest) << key;
      for (const auto& [key, n] : over_count)
        EXPECT_EQ(n, largest) << key;
      const std::string what = fmt::format("label {} cut {}", label, static_cast<int>(cut));
      expect_rows(
          comm, d,
          ops::rebalance_classes(comm, d.local, label, ops::RebalanceMethod::kUndersample, kSeed),
          under, what + " undersample");
      expect_rows(
          comm, d,
          ops::rebalance_classes(comm, d.local, label, ops::RebalanceMethod::kOversample, kSeed),
          over, what + " oversample");
    }
  }
}

TEST(Sampling, OneStratumEmptyTableAndTinyRounds) {
  mpi::Comm comm;
  PieceOptions skew;
  skew.skew = true;
  const Table global = special_piece(75, 0, 300, skew);
  ops::SamplingOptions tiny;
  tiny.shuffle.round_bytes = 64;
  for (Cut cut : cuts()) {
    const Distributed d = distribute(comm, global, cut);
    for (const auto& strata : std::vector<std::vector<std::string>>{{"k", "s", "p", "nf"}, {}}) {
      const auto ref = ref_positions(global, strata, kSeed, "split");
      ASSERT_EQ(ref.front().size, global.num_rows());  // one stratum
      const auto out = ops::random_split(comm, d.local, {0.7, 0.2}, strata, kSeed, tiny);
      std::vector<idx_t> first, second;
      for (idx_t r = 0; r < global.num_rows(); ++r) {
        const idx_t pos = ref[static_cast<size_t>(r)].position;
        if (pos < 210)
          first.push_back(r);
        else if (pos < 270)
          second.push_back(r);
      }
      expect_rows(comm, d, out[0], first, describe(strata) + " tiny rounds, output 0");
      expect_rows(comm, d, out[1], second, describe(strata) + " tiny rounds, output 1");
    }
  }
  // Nothing anywhere.
  const Table empty = special_piece(75, comm.rank(), 0);
  for (const auto& strata : strata_sets()) {
    for (const Table& t : ops::random_split(comm, empty, {0.5, 0.5}, strata, kSeed))
      EXPECT_EQ(t.num_rows(), 0);
    EXPECT_EQ(ops::sample(comm, empty, 0.5, strata, kSeed).num_rows(), 0);
  }
  EXPECT_EQ(
      ops::rebalance_classes(comm, empty, "k", ops::RebalanceMethod::kOversample, kSeed).num_rows(),
      0);
}

TEST(Sampling, Errors) {
  mpi::Comm comm;
  const Table t = special_piece(76, comm.rank(), 5);
  try {
    ops::random_split(comm, t, {0.5, 0.5}, {"lable"}, kSeed);
    ADD_FAILURE() << "no error";
  } catch (const ConfigError& e) {
    EXPECT_TRUE(e.agreed()) << e.what();
    EXPECT_NE(std::string(e.what()).find("lable"), std::string::npos) << e.what();
  }
  EXPECT_THROW(ops::random_split(comm, t, {0.8, 0.3}, {}, kSeed), ConfigError);
  EXPECT_THROW(ops::random_split(comm, t, {0.0, 0.3}, {}, kSeed), ConfigError);
  EXPECT_THROW(ops::random_split(comm, t, {}, {}, kSeed), ConfigError);
  EXPECT_THROW(ops::sample(comm, t, 1.5, {}, kSeed), ConfigError);
  EXPECT_THROW(ops::rebalance_classes(comm, t, "nope", ops::RebalanceMethod::kUndersample, kSeed),
               ConfigError);
  EXPECT_THROW(ops::split_by_time(comm, t, "s", {std::int64_t{1}}, true), ConfigError);
  EXPECT_THROW(ops::split_by_time(comm, t, "b", {std::int64_t{1}}, true), ConfigError);
  EXPECT_THROW(ops::split_by_time(comm, t, "tt", {std::int64_t{1}}, true), ConfigError);
  EXPECT_THROW(ops::split_by_time(comm, t, "t", {std::int64_t{5}, std::int64_t{5}}, true),
               ConfigError);
  EXPECT_THROW(ops::split_by_time(comm, t, "x", {2.0, 1.0}, true), ConfigError);
  EXPECT_THROW(ops::split_by_time(comm, t, "x", {}, true), ConfigError);
}

// ---- split by time -------------------------------------------------------------------------

// The output index of a value under `cutoffs` (value < c_0 -> 0, ...), cutoffs.size() for the
// rest; exact for integers (compared as long double, which holds every int64).
size_t ref_bucket(long double v, const std::vector<ops::TimeCutoff>& cutoffs) {
  size_t k = 0;
  while (k < cutoffs.size() &&
         !(v < std::visit([](auto c) { return static_cast<long double>(c); }, cutoffs[k])))
    ++k;
  return k;
}

TEST(SplitByTime, MatchesReference) {
  mpi::Comm comm;
  const Table global = special_piece(77, 0, 400);
  const std::int64_t t0 = 1700000000000000;
  struct Case {
    std::string column;
    std::vector<ops::TimeCutoff> cutoffs;
  };
  const std::vector<Case> cases = {
      {"t", {t0 + 300 * std::int64_t{1000000}, t0 + 700 * std::int64_t{1000000}}},
      {"t", {t0 + 500'000'000}},
      {"i", {std::int64_t{-200}, 0.5, 400.0}},  // integers against a fractional cutoff
      {"k", {std::int64_t{3}, std::int64_t{7}}},
      {"x", {-1.0, std::int64_t{0}, 10.0}},
      {"nf", {-1.0, 0.0, 2.0}},  // -0.0 and 0.0 are not below 0; NaN goes to the rest
      {"f32", {50.0}},
      {"w", {std::int64_t{0}, 1e300}},
  };
  for (Cut cut : {Cut::kUneven, Cut::kMiddleEmpty}) {
    const Distributed d = distribute(comm, global, cut);
    for (const auto& c : cases) {
      for (bool rest : {true, false}) {
        const auto out = ops::split_by_time(comm, d.local, c.column, c.cutoffs, rest);
        ASSERT_EQ(out.size(), c.cutoffs.size() + (rest ? 1 : 0));
        const Column& col = global.column(c.column);
        std::vector<std::vector<idx_t>> rows(c.cutoffs.size() + 1);
        for (idx_t r = 0; r < global.num_rows(); ++r) {
          if (!col.is_valid(r)) {
            rows.back().push_back(r);
            continue;
          }
          long double v = 0;
          if (col.type() == DataType::kInt32)
            v = col.values<std::int32_t>()[static_cast<size_t>(r)];
          else if (table::is_integer_like(col.type()))
            v = static_cast<long double>(col.values<std::int64_t>()[static_cast<size_t>(r)]);
          else
            v = col.numeric_at(r);
          rows[std::isnan(v) ? c.cutoffs.size() : ref_bucket(v, c.cutoffs)].push_back(r);
        }
        for (size_t k = 0; k < out.size(); ++k)
          expect_rows(comm, d, out[k], rows[k],
                      fmt::format("column {} output {} rest {}", c.column, k, rest));
      }
    }
  }
}

}  // namespace
