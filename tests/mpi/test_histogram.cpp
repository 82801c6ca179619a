// The histogram aggregate (issue 9) at every rank count against a brute-force numpy.histogram
// (histogram_reference.hpp) over the whole distributed table, which every rank regenerates:
// both forms (equal width: holistic; explicit edges: partial counts merged), values with nulls,
// NaN, +-inf, -0.0 and 0.0, values on the bin edges, a group of only nulls, a group of equal
// values, empty ranks, one group, many groups, int / dictionary string / plain string /
// two-column / no keys, tiny shuffle rounds, count(*) and mean(i) repeating on the bin rows; and
// bit-identical to the same group-by on one rank.

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <random>

#include "histogram_reference.hpp"
#include "ops_test_support.hpp"
#include "shardflow/ops/group_by.hpp"

using namespace shardflow;
using namespace shardflow::ops_test;
using namespace shardflow::histogram_test;
using ops::AggSpec;

namespace {

struct Shape {
  int key_range = 6;  // g in [0, key_range); g == 3: only nulls, g == 4: one value (and NaN)
  bool one_group = false;
};

// Columns: g int64, s dictionary string, p plain string (keys); v float64 with nulls and special
// values; i int64 with nulls.
Table piece(std::uint64_t seed, int rank, idx_t rows, const Shape& shape) {
  std::mt19937_64 rng(seed * 7919 + static_cast<std::uint64_t>(rank));
  Column g(DataType::kInt64), s(DataType::kString), v(DataType::kFloat64), i(DataType::kInt64);
  Column p = Column::plain_strings();
  s.set_dictionary(test_dictionary());
  v.ensure_validity();
  i.ensure_validity();
  const double inf = std::numeric_limits<double>::infinity();
  for (idx_t r = 0; r < rows; ++r) {
    const std::int64_t key =
        shape.one_group ? 0
                        : static_cast<std::int64_t>(rng() % static_cast<unsigned>(shape.key_range));
    g.values<std::int64_t>().push_back(key);
    s.codes().push_back(shape.one_group ? 1 : static_cast<std::int32_t>(key % 6));
    p.plain().push_back(shape.one_group ? "same" : "p" + std::to_string(key % 5));
    p.validity().push_back(true);
    const unsigned kind = static_cast<unsigned>(rng() % 100);
    double x = 0;
    bool ok = true;
    if (kind < 10 || (key == 3 && !shape.one_group)) {
      ok = false;
    } else if (kind < 13) {
      x = std::nan("");
    } else if (kind < 15) {
      x = inf;
    } else if (kind < 17) {
      x = -inf;
    } else if (key == 4 && !shape.one_group) {
      x = 2.5;
    } else if (kind < 22) {
      x = -0.0;
    } else if (kind < 27) {
      x = 0.0;
    } else if (kind < 60) {
      x = static_cast<double>(static_cast<int>(rng() % 81) - 40) * 0.25;  // on many edges
    } else {
      x = (static_cast<double>(rng() % 1000000) / 1e6 - 0.3) * 37.0;
    }
    v.values<double>().push_back(x);
    v.validity().push_back(ok);
    i.values<std::int64_t>().push_back(static_cast<std::int64_t>(rng() % 2001) - 1000);
    i.validity().push_back(rng() % 8 != 0);
  }
  Table t;
  t.add_column("g", std::move(g));
  t.add_column("s", std::move(s));
  t.add_column("p", std::move(p));
  t.add_column("v", std::move(v));
  t.add_column("i", std::move(i));
  return t;
}

idx_t rows_on(int rank, bool empty_others) {
  if (empty_others) return rank == 0 ? 400 : 0;
  return 150 + 41 * rank;
}

Table whole(std::uint64_t seed, int ranks, bool empty_others, const Shape& shape) {
  Table all = piece(seed, 0, rows_on(0, empty_others), shape);
  for (int r = 1; r < ranks; ++r)
    all.append(piece(seed, r, rows_on(r, empty_others), shape));
  return all;
}

std::string hex(double x) {
  return fmt::format("{:a}", x);
}

// A row of the output: every cell, floats in hex (exact, -0 kept).
std::string exact_row(const Table& out, idx_t r) {
  std::string s;
  for (int j = 0; j < out.num_columns(); ++j) {
    const Column& c = out.column(j);
    s += c.type() == DataType::kFloat64 && c.is_valid(r)
             ? hex(c.values<double>()[static_cast<size_t>(r)])
             : cell(c, r);
    s += '|';
  }
  return s;
}

std::vector<std::string> gathered_rows(const mpi::Comm& comm, const Table& out) {
  std::vector<std::string> mine;
  for (idx_t r = 0; r < out.num_rows(); ++r)
    mine.push_back(exact_row(out, r));
  std::vector<std::string> all = allgather_strings(comm, mine);
  std::sort(all.begin(), all.end());
  return all;
}

}  // namespace

TEST(Histogram, MatchesABruteForceNumpyHistogramAtEveryRankCount) {
  mpi::Comm comm;
  mpi::Comm self(MPI_COMM_SELF);
  struct Scenario {
    const char* what;
    bool empty_others;
    Shape shape;
  };
  const Scenario scenarios[] = {{"plain", false, {}},
                                {"empty ranks", true, {}},
                                {"one group", false, {.key_range = 6, .one_group = true}},
                                {"many groups", false, {.key_range = 5000}}};
  const std::vector<double> edges = {-10, -2.5, 0, 0.25, 1, 7.5};
  struct Form {
    std::string column;
    int n;  // 0: the edges above
  };
  const Form forms[] = {{"v", 5}, {"v", 0}, {"i", 3}, {"v", 1}, {"i", 0}};
  const std::vector<std::vector<std::string>> key_sets = {{"g"}, {"s"}, {"p"}, {"g", "s"}, {}};
  for (const Scenario& sc : scenarios) {
    const Table local = piece(5, comm.rank(), rows_on(comm.rank(), sc.empty_others), sc.shape);
    const Table global = whole(5, comm.size(), sc.empty_others, sc.shape);
    for (const Form& form : forms) {
      AggSpec h{"histogram", form.column, "h"};
      if (form.n > 0) {
        h.args = {static_cast<double>(form.n)};
      } else {
        h.args = edges;
        h.list_args = true;
      }
      const std::vector<AggSpec> aggs = {{"count", "", "n"}, h, {"mean", "i", "m"}};
      for (const auto& keys : key_sets) {
        SCOPED_TRACE(fmt::format("{}, {}, keys [{}]", sc.what, ops::aggregate_call_text(h),
                                 fmt::join(keys, ",")));
        const Table out = ops::group_by(
            comm, local, keys, aggs,
            ops::GroupByOptions{
                .shuffle = {.round_bytes = 64}, .slice_above_groups = 3, .groups_per_slice = 3});
        std::vector<std::string> names = keys;
        for (const char* c : {"n", "h_lower", "h_upper", "h", "m"})
          names.push_back(c);
        ASSERT_EQ(out.schema().names(), names);
        EXPECT_EQ(out.schema().field(static_cast<int>(keys.size()) + 1).type, DataType::kFloat64);
        EXPECT_EQ(out.schema().field(static_cast<int>(keys.size()) + 3).type, DataType::kInt64);
        // A group's rows are consecutive, in bin order: each bin starts where the last ended.
        const auto& lower = out.column("h_lower").values<double>();
        const auto& upper = out.column("h_upper").values<double>();
        const int bins = form.n > 0 ? form.n : static_cast<int>(edges.size()) - 1;
        ASSERT_EQ(out.num_rows() % bins, 0);
        for (idx_t r = 0; r < out.num_rows(); ++r) {
          const auto u = static_cast<size_t>(r);
          if (r % bins != 0) {
            EXPECT_EQ(render(out, r, keys), render(out, r - 1, keys));
            EXPECT_EQ(hex(lower[u]), hex(upper[u - 1]));
          }
          EXPECT_LT(lower[u], upper[u]);
        }
        const std::vector<std::string> all = gathered_rows(comm, out);
        // Bit-identical to one rank over the whole table.
        ASSERT_EQ(all, gathered_rows(self, ops::group_by(self, global, keys, aggs)));
        // Against the brute force, group by group: key cells, n, the bins in order, m.
        std::map<std::string, std::vector<idx_t>> groups;
        for (idx_t r = 0; r < global.num_rows(); ++r) {
          std::string key;
          for (const auto& k : keys)
            key += cell(global.column(k), r) + '|';
          groups[key].push_back(r);
        }
        if (keys.empty() && groups.empty()) groups[""] = {};
        std::vector<std::string> expected;
        const Column& x = global.column(form.column);
        const Column& ic = global.column("i");
        for (const auto& [key, rows] : groups) {
          std::vector<double> values;
          long double isum = 0;
          idx_t icount = 0;
          for (idx_t r : rows) {
            if (x.is_valid(r)) values.push_back(x.numeric_at(r));
            if (ic.is_valid(r)) {
              isum += static_cast<long double>(ic.numeric_at(r));
              ++icount;
            }
          }
          const std::vector<Bin> bins =
              form.n > 0 ? equal_width_reference(values, form.n) : bins_over(values, edges);
          ASSERT_EQ(bins.size(), static_cast<size_t>(form.n > 0 ? form.n : 5));
          for (const Bin& b : bins) {
            // m: the rows of the group agree with one rank (above); here within a rounding.
            expected.push_back(fmt::format("{}{}|{}|{}|{}|", key, rows.size(), hex(b.lower),
                                           hex(b.upper), b.count));
          }
          const double m = icount == 0 ? std::nan("") : static_cast<double>(isum / icount);
          for (const std::string& row : all) {
            if (!row.starts_with(key)) continue;
            const std::string got_m = row.substr(row.rfind('|', row.size() - 2) + 1);
            if (icount == 0) {
              EXPECT_EQ(got_m, "<null>|") << key;
            } else {
              const double gm = std::strtod(got_m.c_str(), nullptr);
              EXPECT_NEAR(gm, m, 1e-12 * std::max(1.0, std::fabs(m))) << key;
            }
          }
        }
        std::vector<std::string> got;
        for (const std::string& row : all)  // without m
          got.push_back(row.substr(0, row.rfind('|', row.size() - 2) + 1));
        std::sort(expected.begin(), expected.end());
        ASSERT_EQ(got, expected);
      }
    }
  }
}

// Without keys, over no rows at all: one histogram of zero counts (numpy over an empty array:
// equal width over [0, 1]); over only nulls and NaN the same.
TEST(Histogram, KeylessOverNoValuesGivesEveryBinWithCountZero) {
  mpi::Comm comm;
  for (bool nulls : {false, true}) {
    Table t;
    Column v(DataType::kFloat64);
    if (nulls) {
      v.ensure_validity();
      v.values<double>().push_back(std::nan(""));
      v.validity().push_back(true);
      v.values<double>().push_back(1.0);
      v.validity().push_back(false);
    }
    t.add_column("v", std::move(v));
    AggSpec edges{"histogram", "v", "h", {1, 2, 4}};
    edges.list_args = true;
    for (const AggSpec& h : {AggSpec{"histogram", "v", "h", {4}}, edges}) {
      const Table out = ops::group_by(comm, t, {}, {h, {"count", "", "n"}});
      const std::vector<std::string> all = gathered_rows(comm, out);
      std::vector<std::string> want;
      const std::vector<Bin> bins =
          h.list_args ? bins_over({}, h.args) : equal_width_reference({}, 4);
      for (const Bin& b : bins)
        want.push_back(
            fmt::format("{}|{}|0|{}|", hex(b.lower), hex(b.upper), nulls ? 2 * comm.size() : 0));
      std::sort(want.begin(), want.end());
      EXPECT_EQ(all, want) << ops::aggregate_call_text(h) << (nulls ? " over nulls" : "");
    }
  }
}

TEST(Histogram, Errors) {
  mpi::Comm comm;
  const Table t = piece(1, comm.rank(), 20, {});
  auto run = [&](std::vector<AggSpec> aggs) { ops::group_by(comm, t, {"g"}, aggs); };
  AggSpec unsorted{"histogram", "v", "h", {0, 2, 1}};
  unsorted.list_args = true;
  AggSpec one_edge{"histogram", "v", "h", {0}};
  one_edge.list_args = true;
  EXPECT_THROW(run({unsorted}), ConfigError);
  EXPECT_THROW(run({one_edge}), ConfigError);
  EXPECT_THROW(run({{"histogram", "v", "h", {0}}}), ConfigError);
  EXPECT_THROW(run({{"histogram", "v", "h", {10001}}}), ConfigError);
  EXPECT_THROW(run({{"histogram", "v", "h", {2.5}}}), ConfigError);
  EXPECT_THROW(run({{"histogram", "s", "h", {3}}}), ConfigError);
  EXPECT_THROW(run({{"histogram", "v", "h", {3}}, {"top_k", "v", "t", {2}}}), ConfigError);
  EXPECT_THROW(run({{"histogram", "v", "h", {3}}, {"histogram", "i", "h2", {3}}}), ConfigError);
  EXPECT_THROW(run({{"histogram", "v", "h", {3}}, {"min", "v", "h_upper"}}), ConfigError);
  EXPECT_NO_THROW(run({{"histogram", "v", "h", {10000}}}));
}
