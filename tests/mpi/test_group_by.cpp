// Group-by at every rank count against a brute-force reference over the whole distributed table
// (which every rank regenerates from the seeds): every key type and path (packed direct array,
// packed hash table, general row hashing), nulls, skew, empty ranks, tiny shuffle rounds, every
// aggregate; and float sums that are bit-identical to the exactly rounded sum at any rank count.

#include <gtest/gtest.h>

#include <limits>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <map>
#include <random>
#include <set>

#include "histogram_reference.hpp"
#include "ops_test_support.hpp"
#include "shardflow/mpi/allreduce.hpp"
#include "shardflow/ops/exact_sum.hpp"
#include "shardflow/ops/group_by.hpp"
#include "shardflow/ops/table_profile.hpp"
#include "support/exact_reference.hpp"

using namespace shardflow;
using namespace shardflow::ops_test;
using ops::AggSpec;

namespace {

std::vector<AggSpec> all_aggs() {
  return {{"count", "", ""},   {"count", "i", ""}, {"sum", "i", ""},           {"sum", "x", ""},
          {"sum", "b", ""},    {"sum", "k", ""},   {"mean", "i", ""},          {"mean", "x", ""},
          {"mean", "f32", ""}, {"min", "i", ""},   {"max", "x", ""},           {"min", "s", ""},
          {"max", "s", ""},    {"min", "p", ""},   {"max", "p", ""},           {"min", "b", ""},
          {"max", "t", ""},    {"min", "f32", ""}, {"sum", "f32", "f32_total"}};
}

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  for (size_t i = 0; i < s.size(); ++i)
    if (s[i] == '\x1f') {
      out.push_back(s.substr(start, i - start));
      start = i + 1;
    }
  return out;
}

bool is_float_agg(const AggSpec& a, const Table& t) {
  if (a.function == "mean") return true;
  return a.function == "sum" &&
         table::is_floating(t.schema().field(t.schema().index_of(a.column)).type);
}

// Rendering of one output row: keys then aggregates; float aggregates with 17 digits.
std::string render_output(const Table& out, idx_t r, size_t nkeys, const std::vector<AggSpec>& aggs,
                          const Table& input) {
  std::string s;
  for (size_t k = 0; k < nkeys; ++k)
    s += cell(out.column(static_cast<int>(k)), r) + '\x1f';
  for (size_t j = 0; j < aggs.size(); ++j) {
    const Column& c = out.column(static_cast<int>(nkeys + j));
    if (!aggs[j].column.empty() && is_float_agg(aggs[j], input) && c.is_valid(r))
      s += fmt::format("{:.17g}", c.values<double>()[static_cast<size_t>(r)]);
    else
      s += cell(c, r);
    s += '\x1f';
  }
  return s;
}

struct RefState {
  std::int64_t rows = 0;
  std::vector<std::int64_t> cnt, isum;
  std::vector<long double> fsum, fabs_sum;
  std::vector<idx_t> win;
};

void check_group_by(const mpi::Comm& comm, const Table& local, const Table& global,
                    const std::vector<std::string>& keys, const std::vector<AggSpec>& aggs,
                    const ops::GroupByOptions& options = {}) {
  const Table out = ops::group_by(comm, local, keys, aggs, options);
  ASSERT_EQ(out.schema(), ops::group_by_output_schema(local.schema(), keys, aggs));

  // Brute force over the whole table.
  std::map<std::string, RefState> ref;
  const size_t na = aggs.size();
  for (idx_t r = 0; r < global.num_rows(); ++r) {
    auto& st = ref[render(global, r, keys)];
    if (st.cnt.empty()) {
      st.cnt.assign(na, 0);
      st.isum.assign(na, 0);
      st.fsum.assign(na, 0);
      st.fabs_sum.assign(na, 0);
      st.win.assign(na, -1);
    }
    ++st.rows;
    for (size_t j = 0; j < na; ++j) {
      if (aggs[j].column.empty()) continue;
      const Column& c = global.column(aggs[j].column);
      if (!c.is_valid(r)) continue;
      ++st.cnt[j];
      if (c.type() == table::DataType::kString) {
        const idx_t w = st.win[j];
        const bool better = w < 0 || (aggs[j].function == "min" ? c.string_at(r) < c.string_at(w)
                                                                : c.string_at(w) < c.string_at(r));
        if (better) st.win[j] = r;
        continue;
      }
      const double v = c.numeric_at(r);
      st.isum[j] += static_cast<std::int64_t>(v);
      st.fsum[j] += v;
      st.fabs_sum[j] += std::fabs(v);
      const idx_t w = st.win[j];
      const bool better =
          w < 0 || (aggs[j].function == "min" ? v < c.numeric_at(w) : c.numeric_at(w) < v);
      if (better) st.win[j] = r;
    }
  }

  std::vector<std::string> mine;
  for (idx_t r = 0; r < out.num_rows(); ++r)
    mine.push_back(render_output(out, r, keys.size(), aggs, local));
  const auto all = allgather_strings(comm, mine);
  ASSERT_EQ(all.size(), ref.size());
  std::set<std::string> seen;
  for (const auto& row : all) {
    const auto f = split(row);
    ASSERT_EQ(f.size(), keys.size() + na);
    std::string key;
    for (size_t k = 0; k < keys.size(); ++k)
      key += f[k] + '\x1f';
    ASSERT_TRUE(seen.insert(key).second) << "group " << key << " appears twice";
    auto it = ref.find(key);
    ASSERT_NE(it, ref.end()) << "unexpected group " << key;
    const RefState& st = it->second;
    for (size_t j = 0; j < na; ++j) {
      const std::string& got = f[keys.size() + j];
      const AggSpec& a = aggs[j];
      SCOPED_TRACE(ops::output_name(a) + " of group " + key);
      if (a.column.empty()) {
        EXPECT_EQ(got, std::to_string(st.rows));
        continue;
      }
      if (a.function == "count") {
        EXPECT_EQ(got, std::to_string(st.cnt[j]));
        continue;
      }
      if (st.cnt[j] == 0) {
        EXPECT_EQ(got, "<null>");
        continue;
      }
      if (a.function == "min" || a.function == "max") {
        EXPECT_EQ(got, cell(global.column(a.column), st.win[j]));
      } else if (is_float_agg(a, global)) {
        long double expected = st.fsum[j];
        if (a.function == "mean") expected /= static_cast<long double>(st.cnt[j]);
        const double tol = 1e-12 * static_cast<double>(st.fabs_sum[j] + 1);
        EXPECT_NEAR(std::stod(got), static_cast<double>(expected), tol);
      } else {
        EXPECT_EQ(got, std::to_string(st.isum[j]));
      }
    }
  }
}

}  // namespace

TEST(GroupBy, EveryKeyTypeAndAggregate) {
  mpi::Comm comm;
  const std::vector<std::vector<std::string>> key_sets = {
      {"k"}, {"s"}, {"b"},      {"s", "b", "k"}, {"t"}, {"fk"},
      {"p"}, {"w"}, {"k", "p"}, {"fk", "s"},     {}};
  for (bool empty_others : {false, true}) {
    const Table local =
        random_piece(7, comm.rank(), rows_of(comm.rank(), comm.size(), 600, empty_others));
    const Table global = global_table(7, comm.size(), 600, empty_others);
    for (const auto& keys : key_sets) {
      SCOPED_TRACE(fmt::format("keys [{}] empty_others={}", fmt::join(keys, ","), empty_others));
      check_group_by(comm, local, global, keys, all_aggs());
    }
  }
}

TEST(GroupBy, SkewTinyRoundsAndHighCardinality) {
  mpi::Comm comm;
  {
    const PieceOptions skew{.skew = true};
    const Table local =
        random_piece(9, comm.rank(), rows_of(comm.rank(), comm.size(), 500, false), skew);
    const Table global = global_table(9, comm.size(), 500, false, skew);
    for (const std::vector<std::string>& keys :
         std::vector<std::vector<std::string>>{{"k"}, {"p", "fk"}, {"s", "b"}})
      check_group_by(comm, local, global, keys, all_aggs());
  }
  // Nearly unique keys (raw shuffle path), packed into a large domain (hash table path), and
  // a few keys in a large domain (pre-aggregation with the hash table).
  for (int key_range : {5000000, 3}) {
    const PieceOptions wide{.key_range = key_range};
    const Table local =
        random_piece(13, comm.rank(), rows_of(comm.rank(), comm.size(), 3000, false), wide);
    const Table global = global_table(13, comm.size(), 3000, false, wide);
    SCOPED_TRACE(key_range);
    check_group_by(comm, local, global, {"k", "t"}, all_aggs(),
                   ops::GroupByOptions{{.round_bytes = 64}});
    check_group_by(
        comm, local, global, {"k"}, all_aggs(),
        ops::GroupByOptions{
            .shuffle = {.round_bytes = 256}, .slice_above_groups = 16, .groups_per_slice = 16});
  }
}

// GroupByOptions::input_consumed: the paths that shuffle raw rows (nearly unique keys packed,
// float keys that do not pack, a holistic aggregate) call it once on every rank after their
// shuffle and read the input no more: the hook overwrites every value of the input, and the
// answer still equals the brute force. The pipeline frees a step's input there when nothing
// later reads it. One rank shuffles nothing and the hook is not called.
TEST(GroupBy, InputIsNotReadAfterItIsConsumed) {
  mpi::Comm comm;
  const PieceOptions wide{.key_range = 5000000};
  const Table local =
      random_piece(13, comm.rank(), rows_of(comm.rank(), comm.size(), 3000, false), wide);
  const Table global = global_table(13, comm.size(), 3000, false, wide);
  const auto poison = [](Table& t) {
    for (int c = 0; c < t.num_columns(); ++c) {
      Column& col = t.column(c);
      switch (col.type()) {
        case table::DataType::kInt32:
          std::fill(col.values<std::int32_t>().begin(), col.values<std::int32_t>().end(), 77);
          break;
        case table::DataType::kInt64:
        case table::DataType::kTimestamp:
          std::fill(col.values<std::int64_t>().begin(), col.values<std::int64_t>().end(), 77);
          break;
        case table::DataType::kFloat32:
          std::fill(col.values<float>().begin(), col.values<float>().end(), 7.5f);
          break;
        case table::DataType::kFloat64:
          std::fill(col.values<double>().begin(), col.values<double>().end(), 7.5);
          break;
        case table::DataType::kBool:
          std::fill(col.values<std::uint8_t>().begin(), col.values<std::uint8_t>().end(), 1);
          break;
        case table::DataType::kString:
          if (col.is_dictionary_encoded()) std::fill(col.codes().begin(), col.codes().end(), 0);
          break;
      }
    }
  };
  struct Case {
    std::vector<std::string> keys;
    std::vector<AggSpec> aggs;
  };
  for (const Case& c :
       {Case{{"k", "t"}, all_aggs()}, Case{{"k"}, all_aggs()}, Case{{"fk"}, all_aggs()}}) {
    SCOPED_TRACE(fmt::format("keys [{}]", fmt::join(c.keys, ",")));
    Table victim = local;
    int calls = 0;
    ops::GroupByOptions options;
    options.input_consumed = [&] {
      ++calls;
      poison(victim);
    };
    check_group_by(comm, victim, global, c.keys, c.aggs, options);
    EXPECT_EQ(calls, comm.size() > 1 ? 1 : 0);
  }
}

// Small key domains under sum, mean and count take the one-pass path (blocks of 2048 rows
// grouped and aggregated while their group ids are in cache); the answer equals the brute force
// and, bit for bit, the two-pass path (fused_max_domain = 0), also across blocks, with nulls,
// dense and float32 values and empty ranks.
TEST(GroupBy, OnePassSmallDomainPathEqualsTheTwoPassPathAndABruteForce) {
  mpi::Comm comm;
  const std::vector<AggSpec> aggs = {{"count", "", ""}, {"count", "i", ""},  {"sum", "i", ""},
                                     {"sum", "x", ""},  {"mean", "x", ""},   {"mean", "xd", ""},
                                     {"sum", "xd", ""}, {"mean", "f32", ""}, {"sum", "b", ""},
                                     {"mean", "k", ""}};
  ops::GroupByOptions two_pass;
  two_pass.fused_max_domain = 0;
  for (bool empty_others : {false, true}) {
    Table local =
        random_piece(31, comm.rank(), rows_of(comm.rank(), comm.size(), 7000, empty_others));
    Table global = global_table(31, comm.size(), 7000, empty_others);
    for (Table* t : {&local, &global}) {  // "xd": x's values without its nulls
      Column xd(table::DataType::kFloat64);
      xd.values<double>() = t->column("x").values<double>();
      t->add_column("xd", std::move(xd));
    }
    for (const std::vector<std::string>& keys :
         std::vector<std::vector<std::string>>{{"k"}, {"s", "b"}, {"k", "s"}, {"b"}, {}}) {
      SCOPED_TRACE(fmt::format("keys [{}] empty_others={}", fmt::join(keys, ","), empty_others));
      check_group_by(comm, local, global, keys, aggs);
      check_group_by(comm, local, global, keys, aggs, two_pass);
      // Bit for bit: every output row, floats rendered with 17 digits.
      auto rows = [&](const ops::GroupByOptions& options) {
        const Table out = ops::group_by(comm, local, keys, aggs, options);
        std::vector<std::string> mine;
        for (idx_t r = 0; r < out.num_rows(); ++r)
          mine.push_back(render_output(out, r, keys.size(), aggs, local));
        auto all = allgather_strings(comm, mine);
        std::sort(all.begin(), all.end());
        return all;
      };
      EXPECT_EQ(rows({}), rows(two_pass));
      // Integer keys' ranges from the input's profile (a job's loaded input) instead of a scan:
      // the same rows; and from a profile whose ranges are wider than the values (still exact
      // for the contract: at least as wide), the same rows too.
      const ops::TableProfile profile = ops::profile_table(comm, local);
      ops::GroupByOptions profiled;
      profiled.input_profile = &profile;
      EXPECT_EQ(rows({}), rows(profiled));
      ops::TableProfile wider = profile;
      for (ops::ColumnProfile& c : wider.columns) {
        c.int_min -= 5;
        c.int_max += 9;
        c.nulls += 1;  // a null slot the values do not use
      }
      profiled.input_profile = &wider;
      EXPECT_EQ(rows({}), rows(profiled));
    }
  }
}

TEST(GroupBy, FloatSumsAreExactlyRoundedAtEveryRankCount) {
  mpi::Comm comm;
  // One fixed global table split into contiguous slices: the data do not depend on the rank count.
  constexpr idx_t kRows = 4000;
  std::mt19937_64 rng(12345);
  std::vector<std::int32_t> g(kRows);
  std::vector<double> v(kRows);
  for (idx_t r = 0; r < kRows; ++r) {
    g[static_cast<size_t>(r)] = static_cast<std::int32_t>(rng() % 5);
    const auto m = static_cast<std::int64_t>(rng() >> 11) * (rng() % 2 ? 1 : -1);  // 53 bits
    const int e = static_cast<int>(rng() % 48) - 40;  // |v| from 2^-40 to 2^60
    v[static_cast<size_t>(r)] = std::ldexp(static_cast<double>(m), e);
  }
  const idx_t lo = kRows * comm.rank() / comm.size(), hi = kRows * (comm.rank() + 1) / comm.size();
  Table local;
  Column gc(table::DataType::kInt32), vc(table::DataType::kFloat64);
  gc.values<std::int32_t>().assign(g.begin() + lo, g.begin() + hi);
  vc.values<double>().assign(v.begin() + lo, v.begin() + hi);
  local.add_column("g", std::move(gc));
  local.add_column("v", std::move(vc));
  const std::vector<AggSpec> aggs = {{"sum", "v", ""}, {"mean", "v", ""}};
  const Table out = ops::group_by(comm, local, {"g"}, aggs);

  // Exact reference: every value is an integer multiple of 2^-40 below 2^100 in fixed point.
  __int128 acc[5] = {0, 0, 0, 0, 0};
  std::int64_t cnt[5] = {0, 0, 0, 0, 0};
  for (idx_t r = 0; r < kRows; ++r) {
    const double scaled = std::ldexp(v[static_cast<size_t>(r)], 40);
    const double top = std::floor(std::ldexp(scaled, -64));
    const double bottom = scaled - std::ldexp(top, 64);
    const __int128 exact = (static_cast<__int128>(static_cast<std::int64_t>(top)) << 64) +
                           static_cast<__int128>(bottom);
    acc[g[static_cast<size_t>(r)]] += exact;
    ++cnt[g[static_cast<size_t>(r)]];
  }
  for (idx_t r = 0; r < out.num_rows(); ++r) {
    const int key = out.column(0).values<std::int32_t>()[static_cast<size_t>(r)];
    const double sum = out.column(1).values<double>()[static_cast<size_t>(r)];
    const double mean = out.column(2).values<double>()[static_cast<size_t>(r)];
    const double expected = std::ldexp(static_cast<double>(acc[key]), -40);
    EXPECT_EQ(std::memcmp(&sum, &expected, sizeof sum), 0)
        << "group " << key << ": got " << fmt::format("{:.17g}", sum) << " expected "
        << fmt::format("{:.17g}", expected);
    // The mean is the exact sum divided by the count, rounded once.
    test::ExactReference ref;
    ref.add_term(acc[key], -40);
    const double expected_mean = ref.value(static_cast<std::uint64_t>(cnt[key]));
    EXPECT_EQ(std::memcmp(&mean, &expected_mean, sizeof mean), 0) << "group " << key;
  }
  EXPECT_EQ(mpi::allreduce_sum<idx_t>(comm, out.num_rows()), 5);
  // A naive left-to-right double sum of these values is not exactly rounded for some group,
  // so the test does tell the difference.
  int naive_differs = 0;
  for (int key = 0; key < 5; ++key) {
    double naive = 0;
    for (idx_t r = 0; r < kRows; ++r)
      if (g[static_cast<size_t>(r)] == key) naive += v[static_cast<size_t>(r)];
    naive_differs += naive != std::ldexp(static_cast<double>(acc[key]), -40);
  }
  EXPECT_GT(naive_differs, 0);
}

// Variances and standard deviations at every rank count are the correctly rounded exact values
// (integer-valued data around a large offset, where the sum-of-squares formula in doubles fails),
// through the pre-aggregation path (int key: partial states shuffled in tiny rounds and merged)
// and the general path (float key: raw rows shuffled); any/all of a bool column alongside.
TEST(GroupBy, VariancesAreCorrectlyRoundedAtEveryRankCount) {
  mpi::Comm comm;
  constexpr idx_t kRows = 3000;
  constexpr int kGroups = 7;
  std::mt19937_64 rng(4711);
  std::vector<std::int32_t> g(kRows);
  std::vector<std::int64_t> x(kRows);
  std::vector<std::uint8_t> flag(kRows);
  for (idx_t r = 0; r < kRows; ++r) {
    const auto key = static_cast<std::int32_t>(rng() % kGroups);
    g[static_cast<size_t>(r)] = key;
    // Group 0 has one row only (var_samp null); group 1 sits at 2^45 with a spread of 10.
    if (key == 0 && r > 0) g[static_cast<size_t>(r)] = 1 + static_cast<std::int32_t>(rng() % 6);
    const std::int64_t offset = g[static_cast<size_t>(r)] == 1 ? (std::int64_t{1} << 45) : 0;
    x[static_cast<size_t>(r)] = offset + static_cast<std::int64_t>(rng() % 21) - 10;
    flag[static_cast<size_t>(r)] = static_cast<std::uint8_t>(rng() % 7 != 0);
  }
  // A second column for the covariance: 3x - 7 plus noise, as int64.
  std::vector<std::int64_t> w(kRows);
  for (idx_t r = 0; r < kRows; ++r)
    w[static_cast<size_t>(r)] =
        3 * x[static_cast<size_t>(r)] - 7 + static_cast<std::int64_t>(rng() % 5);
  g[0] = 0;
  const idx_t lo = kRows * comm.rank() / comm.size(), hi = kRows * (comm.rank() + 1) / comm.size();
  Table local;
  Column gc(table::DataType::kInt32), fk(table::DataType::kFloat64), vc(table::DataType::kFloat64),
      bc(table::DataType::kBool);
  for (idx_t r = lo; r < hi; ++r) {
    gc.values<std::int32_t>().push_back(g[static_cast<size_t>(r)]);
    fk.values<double>().push_back(0.5 + g[static_cast<size_t>(r)]);
    vc.values<double>().push_back(static_cast<double>(x[static_cast<size_t>(r)]));
    bc.values<std::uint8_t>().push_back(flag[static_cast<size_t>(r)]);
  }
  local.add_column("g", std::move(gc));
  local.add_column("fk", std::move(fk));
  local.add_column("v", std::move(vc));
  local.add_column("b", std::move(bc));
  Column wc(table::DataType::kInt64);
  wc.values<std::int64_t>().assign(w.begin() + lo, w.begin() + hi);
  local.add_column("w", std::move(wc));
  // Two small int64 columns (the integer fast path of the co-moments): x without its offset, and
  // w minus 3x.
  Column xs(table::DataType::kInt64), ws(table::DataType::kInt64);
  for (idx_t r = lo; r < hi; ++r) {
    const auto i = static_cast<size_t>(r);
    const std::int64_t offset = g[i] == 1 ? (std::int64_t{1} << 45) : 0;
    xs.values<std::int64_t>().push_back(x[i] - offset);
    ws.values<std::int64_t>().push_back(w[i] - 3 * x[i]);
  }
  local.add_column("xs", std::move(xs));
  local.add_column("ws", std::move(ws));
  const std::vector<AggSpec> aggs = {{"var_samp", "v", ""},
                                     {"var_pop", "v", ""},
                                     {"stddev_samp", "v", ""},
                                     {"stddev_pop", "v", ""},
                                     {"any", "b", ""},
                                     {"all", "b", ""},
                                     {"covar_samp", "v", "cov", {}, "w"},
                                     {"covar_pop", "xs", "cov_small", {}, "ws"}};
  // The exact reference per group.
  __int128 s1[kGroups] = {}, s2[kGroups] = {};
  std::int64_t n[kGroups] = {}, trues[kGroups] = {};
  __int128 sw[kGroups] = {}, sxw[kGroups] = {};
  __int128 ss[kGroups] = {}, st[kGroups] = {}, sst[kGroups] = {};
  for (idx_t r = 0; r < kRows; ++r) {
    const auto key = static_cast<size_t>(g[static_cast<size_t>(r)]);
    const __int128 v = x[static_cast<size_t>(r)];
    s1[key] += v;
    s2[key] += v * v;
    ++n[key];
    trues[key] += flag[static_cast<size_t>(r)];
    sw[key] += w[static_cast<size_t>(r)];
    sxw[key] += v * w[static_cast<size_t>(r)];
    const std::int64_t small = x[static_cast<size_t>(r)] - (key == 1 ? (std::int64_t{1} << 45) : 0);
    const std::int64_t t = w[static_cast<size_t>(r)] - 3 * x[static_cast<size_t>(r)];
    ss[key] += small;
    st[key] += t;
    sst[key] += static_cast<__int128>(small) * t;
  }
  for (const char* key : {"g", "fk"}) {
    SCOPED_TRACE(key);
    const Table out =
        ops::group_by(comm, local, {key}, aggs, ops::GroupByOptions{{.round_bytes = 512}});
    for (idx_t r = 0; r < out.num_rows(); ++r) {
      const auto k = static_cast<size_t>(out.column(0).numeric_at(r));
      const __int128 d = n[k] * s2[k] - s1[k] * s1[k];
      const double pop = ops::rounded_quotient(d, n[k] * n[k]);
      EXPECT_EQ(out.column(2).values<double>()[static_cast<size_t>(r)], pop) << "group " << k;
      EXPECT_EQ(out.column(4).values<double>()[static_cast<size_t>(r)], std::sqrt(pop));
      if (n[k] < 2) {
        EXPECT_FALSE(out.column(1).is_valid(r));
        EXPECT_FALSE(out.column(3).is_valid(r));
      } else {
        const double samp = ops::rounded_quotient(d, n[k] * (n[k] - 1));
        EXPECT_EQ(out.column(1).values<double>()[static_cast<size_t>(r)], samp) << "group " << k;
        EXPECT_EQ(out.column(3).values<double>()[static_cast<size_t>(r)], std::sqrt(samp));
      }
      if (n[k] >= 2) {
        const double cov = ops::rounded_quotient(n[k] * sxw[k] - s1[k] * sw[k], n[k] * (n[k] - 1));
        EXPECT_EQ(out.column(7).values<double>()[static_cast<size_t>(r)], cov) << "group " << k;
      } else {
        EXPECT_FALSE(out.column(7).is_valid(r));
      }
      EXPECT_EQ(out.column(8).values<double>()[static_cast<size_t>(r)],
                ops::rounded_quotient(n[k] * sst[k] - ss[k] * st[k], n[k] * n[k]))
          << "group " << k;
      EXPECT_EQ(out.column(5).values<std::uint8_t>()[static_cast<size_t>(r)], trues[k] > 0 ? 1 : 0);
      EXPECT_EQ(out.column(6).values<std::uint8_t>()[static_cast<size_t>(r)],
                trues[k] == n[k] ? 1 : 0);
    }
    EXPECT_EQ(mpi::allreduce_sum<idx_t>(comm, out.num_rows()), kGroups);
  }
  // The test tells the difference: the textbook formula in doubles is off for group 1.
  const double mean = static_cast<double>(s1[1]) / static_cast<double>(n[1]);
  const double naive = static_cast<double>(s2[1]) / static_cast<double>(n[1]) - mean * mean;
  EXPECT_NE(naive, ops::rounded_quotient(n[1] * s2[1] - s1[1] * s1[1], n[1] * n[1]));
}

// Holistic aggregates (median, quantile, count_distinct) at every rank count equal a brute-force
// reference on the whole table: through the packed-key path (which must shuffle raw rows for
// them even when keys repeat), the general path (plain string key), and without keys (one row;
// also over an empty table, where count is 0 and the others null). Tiny shuffle rounds.
TEST(GroupBy, HolisticAggregatesMatchABruteForceReferenceAtEveryRankCount) {
  mpi::Comm comm;
  constexpr idx_t kRows = 2500;
  constexpr int kGroups = 9;
  std::mt19937_64 rng(99);
  std::vector<std::int32_t> g(kRows);
  std::vector<std::int64_t> iv(kRows);
  std::vector<double> fv(kRows);
  std::vector<std::uint8_t> valid(kRows);
  std::vector<std::string> s(kRows);
  for (idx_t r = 0; r < kRows; ++r) {
    const auto u = static_cast<size_t>(r);
    g[u] = static_cast<std::int32_t>(rng() % kGroups);
    iv[u] = static_cast<std::int64_t>(rng() % 50) - 25 + (g[u] == 1 ? (std::int64_t{1} << 60) : 0);
    fv[u] = static_cast<double>(rng() % 1000) / 8.0 - 60.0;
    valid[u] = g[u] == 2 ? 0 : static_cast<std::uint8_t>(rng() % 6 != 0);  // group 2: all null
    s[u] = "s" + std::to_string(rng() % 30);
  }
  const idx_t lo = kRows * comm.rank() / comm.size(), hi = kRows * (comm.rank() + 1) / comm.size();
  Table local;
  Column gc(table::DataType::kInt32), ic(table::DataType::kInt64), fc(table::DataType::kFloat64);
  Column sc = Column::plain_strings(), key = Column::plain_strings();
  ic.ensure_validity();
  fc.ensure_validity();
  for (idx_t r = lo; r < hi; ++r) {
    const auto u = static_cast<size_t>(r);
    gc.values<std::int32_t>().push_back(g[u]);
    ic.values<std::int64_t>().push_back(iv[u]);
    ic.validity().push_back(valid[u]);
    fc.values<double>().push_back(fv[u]);
    fc.validity().push_back(valid[u]);
    sc.plain().push_back(s[u]);
    key.plain().push_back("k" + std::to_string(g[u]));
  }
  local.add_column("g", std::move(gc));
  local.add_column("key", std::move(key));
  local.add_column("i", std::move(ic));
  local.add_column("f", std::move(fc));
  local.add_column("s", std::move(sc));
  const std::vector<AggSpec> aggs = {{"median", "i", ""},
                                     {"median", "f", ""},
                                     {"quantile", "f", "f_q", {0.9}},
                                     {"quantile", "i", "i_q0", {0.0}},
                                     {"count_distinct", "s", ""},
                                     {"count_distinct", "f", ""},
                                     {"count", "", ""}};
  // The reference of one set of rows.
  auto expected_row = [&](const std::vector<idx_t>& rows) {
    std::vector<std::int64_t> is;
    std::vector<double> fs;
    std::set<std::string> ss;
    std::set<double> fset;
    for (idx_t r : rows) {
      const auto u = static_cast<size_t>(r);
      ss.insert(s[u]);
      if (!valid[u]) continue;
      is.push_back(iv[u]);
      fs.push_back(fv[u]);
      fset.insert(fv[u]);
    }
    std::vector<std::string> cells;
    auto num = [](std::optional<double> x) { return x ? fmt::format("{}", *x) : "null"; };
    cells.push_back(
        num(is.empty() ? std::nullopt : std::optional(test::quantile_reference(is, 0.5))));
    cells.push_back(
        num(fs.empty() ? std::nullopt : std::optional(test::quantile_reference(fs, 0.5))));
    cells.push_back(
        num(fs.empty() ? std::nullopt : std::optional(test::quantile_reference(fs, 0.9))));
    cells.push_back(
        num(is.empty() ? std::nullopt : std::optional(test::quantile_reference(is, 0.0))));
    cells.push_back(std::to_string(ss.size()));
    cells.push_back(std::to_string(fset.size()));
    cells.push_back(std::to_string(rows.size()));
    return fmt::format("{}", fmt::join(cells, " "));
  };
  auto rendered = [&](const Table& out, idx_t r, int first) {
    std::vector<std::string> cells;
    for (int c = first; c < out.num_columns(); ++c) {
      const Column& col = out.column(c);
      if (!col.is_valid(r)) {
        cells.push_back("null");
      } else if (col.type() == table::DataType::kFloat64) {
        cells.push_back(fmt::format("{}", col.values<double>()[static_cast<size_t>(r)]));
      } else {
        cells.push_back(std::to_string(col.values<std::int64_t>()[static_cast<size_t>(r)]));
      }
    }
    return fmt::format("{}", fmt::join(cells, " "));
  };
  for (const char* k : {"g", "key"}) {
    SCOPED_TRACE(k);
    const Table out =
        ops::group_by(comm, local, {k}, aggs, ops::GroupByOptions{{.round_bytes = 256}});
    for (idx_t r = 0; r < out.num_rows(); ++r) {
      const std::string name =
          std::string(k) == "g"
              ? std::to_string(out.column(0).values<std::int32_t>()[static_cast<size_t>(r)])
              : std::string(out.column(0).plain().at(r)).substr(1);
      const int group = std::stoi(name);
      std::vector<idx_t> rows;
      for (idx_t x = 0; x < kRows; ++x)
        if (g[static_cast<size_t>(x)] == group) rows.push_back(x);
      EXPECT_EQ(rendered(out, r, 1), expected_row(rows)) << "group " << group;
    }
    EXPECT_EQ(mpi::allreduce_sum<idx_t>(comm, out.num_rows()), kGroups);
  }
  // No keys: one row over everything; over an empty table, one row of count 0 and nulls.
  std::vector<idx_t> all(kRows);
  for (idx_t x = 0; x < kRows; ++x)
    all[static_cast<size_t>(x)] = x;
  const Table whole = ops::group_by(comm, local, {}, aggs);
  ASSERT_EQ(mpi::allreduce_sum<idx_t>(comm, whole.num_rows()), 1);
  if (whole.num_rows() == 1) {
    EXPECT_EQ(rendered(whole, 0, 0), expected_row(all));
  }
  const Table none = ops::group_by(comm, local.empty_like(), {}, aggs);
  ASSERT_EQ(none.num_rows(), comm.rank() == 0 ? 1 : 0);
  if (comm.rank() == 0) {
    EXPECT_EQ(rendered(none, 0, 0), "null null null null 0 0 0");
  }
}

// top_k gives up to k rows per group, greatest first, the group's other aggregates repeated on
// them, and no row for a group without values; the same rows at every rank count.
TEST(GroupBy, TopKGivesTheGreatestValuesOneRowEach) {
  mpi::Comm comm;
  constexpr idx_t kRows = 1200;
  std::mt19937_64 rng(5);
  std::vector<std::int64_t> g(kRows);
  std::vector<double> v(kRows);
  std::vector<std::uint8_t> ok(kRows);
  for (idx_t r = 0; r < kRows; ++r) {
    const auto u = static_cast<size_t>(r);
    g[u] = static_cast<std::int64_t>(rng() % 40);
    v[u] = static_cast<double>(rng() % 100);                            // ties
    ok[u] = g[u] == 7 ? 0 : static_cast<std::uint8_t>(rng() % 5 != 0);  // group 7: only nulls
  }
  g[0] = 41;  // a group of one row
  const idx_t lo = kRows * comm.rank() / comm.size(), hi = kRows * (comm.rank() + 1) / comm.size();
  Table local;
  Column gc(table::DataType::kInt64), vc(table::DataType::kFloat64);
  vc.ensure_validity();
  for (idx_t r = lo; r < hi; ++r) {
    gc.values<std::int64_t>().push_back(g[static_cast<size_t>(r)]);
    vc.values<double>().push_back(v[static_cast<size_t>(r)]);
    vc.validity().push_back(ok[static_cast<size_t>(r)]);
  }
  local.add_column("g", std::move(gc));
  local.add_column("v", std::move(vc));
  // k = 3 merges kept values; k = 20 (above 16) shuffles every value to the group's rank.
  for (const idx_t k : {3, 20}) {
    SCOPED_TRACE(k);
    const Table out = ops::group_by(
        comm, local, {"g"}, {{"top_k", "v", "top", {static_cast<double>(k)}}, {"count", "", ""}},
        ops::GroupByOptions{{.round_bytes = 128}});
    std::map<std::int64_t, std::vector<double>> got;
    std::map<std::int64_t, std::int64_t> counts;
    for (idx_t r = 0; r < out.num_rows(); ++r) {
      const auto key = out.column(0).values<std::int64_t>()[static_cast<size_t>(r)];
      got[key].push_back(out.column(1).values<double>()[static_cast<size_t>(r)]);
      counts[key] = out.column(2).values<std::int64_t>()[static_cast<size_t>(r)];
    }
    std::map<std::int64_t, std::vector<double>> values;
    std::map<std::int64_t, std::int64_t> rows;
    for (idx_t r = 0; r < kRows; ++r) {
      ++rows[g[static_cast<size_t>(r)]];
      if (ok[static_cast<size_t>(r)])
        values[g[static_cast<size_t>(r)]].push_back(v[static_cast<size_t>(r)]);
    }
    idx_t expected_rows = 0;
    for (auto& [key, vs] : values) {
      std::sort(vs.rbegin(), vs.rend());
      vs.resize(std::min<size_t>(vs.size(), static_cast<size_t>(k)));
      expected_rows += static_cast<idx_t>(vs.size());
      if (got.count(key) == 0) continue;  // on another rank
      EXPECT_EQ(got[key], vs) << "group " << key;
      EXPECT_EQ(counts[key], rows[key]) << "group " << key;
    }
    EXPECT_EQ(got.count(7), 0u);
    EXPECT_EQ(mpi::allreduce_sum<idx_t>(comm, out.num_rows()), expected_rows);
  }
  EXPECT_THROW(
      ops::group_by(comm, local, {"g"}, {{"top_k", "v", "a", {2}}, {"top_k", "v", "b", {2}}}),
      ConfigError);
}

// first/last by an order column, with many ties on the order (decided by the value), nulls in
// either column skipped, plain-string and integer values; the same answer at every rank count
// through partial states (int key) and raw rows (string key).
TEST(GroupBy, FirstAndLastByAnOrderColumnAreOneValueAtEveryRankCount) {
  mpi::Comm comm;
  constexpr idx_t kRows = 1500;
  std::mt19937_64 rng(8);
  std::vector<std::int64_t> g(kRows), v(kRows);
  std::vector<double> t(kRows);
  std::vector<std::string> sv(kRows);
  std::vector<std::uint8_t> ok(kRows);
  for (idx_t r = 0; r < kRows; ++r) {
    const auto u = static_cast<size_t>(r);
    g[u] = static_cast<std::int64_t>(rng() % 25);
    t[u] = static_cast<double>(rng() % 6);  // ties on the order
    v[u] = static_cast<std::int64_t>(rng() % 1000) - 500;
    sv[u] = "s" + std::to_string(rng() % 97);
    ok[u] = g[u] == 3 ? 0 : static_cast<std::uint8_t>(rng() % 6 != 0);
  }
  const idx_t lo = kRows * comm.rank() / comm.size(), hi = kRows * (comm.rank() + 1) / comm.size();
  Table local;
  Column gc(table::DataType::kInt64), key = Column::plain_strings(), vc(table::DataType::kInt64),
                                      sc = Column::plain_strings(), tc(table::DataType::kFloat64);
  tc.ensure_validity();
  for (idx_t r = lo; r < hi; ++r) {
    const auto u = static_cast<size_t>(r);
    gc.values<std::int64_t>().push_back(g[u]);
    key.plain().push_back("k" + std::to_string(g[u]));
    vc.values<std::int64_t>().push_back(v[u]);
    sc.plain().push_back(sv[u]);
    tc.values<double>().push_back(t[u]);
    tc.validity().push_back(ok[u]);
  }
  local.add_column("g", std::move(gc));
  local.add_column("key", std::move(key));
  local.add_column("v", std::move(vc));
  local.add_column("s", std::move(sc));
  local.add_column("t", std::move(tc));
  std::vector<AggSpec> aggs = {
      {"first", "v", "fv"}, {"last", "v", "lv"}, {"first", "s", "fs"}, {"last", "s", "ls"}};
  for (auto& a : aggs)
    a.column2 = "t";
  for (const char* k : {"g", "key"}) {
    SCOPED_TRACE(k);
    const Table out =
        ops::group_by(comm, local, {k}, aggs, ops::GroupByOptions{{.round_bytes = 200}});
    for (idx_t r = 0; r < out.num_rows(); ++r) {
      const std::int64_t group =
          std::string(k) == "g" ? out.column(0).values<std::int64_t>()[static_cast<size_t>(r)]
                                : std::stoll(std::string(out.column(0).plain().at(r)).substr(1));
      std::optional<std::pair<double, std::int64_t>> fv, lv;
      std::optional<std::pair<double, std::string>> fs, ls;
      for (idx_t x = 0; x < kRows; ++x) {
        const auto u = static_cast<size_t>(x);
        if (g[u] != group || !ok[u]) continue;
        const std::pair<double, std::int64_t> a{t[u], v[u]};
        const std::pair<double, std::string> b{t[u], sv[u]};
        if (!fv || a < *fv) fv = a;
        if (!lv || *lv < a) lv = a;
        if (!fs || b < *fs) fs = b;
        if (!ls || *ls < b) ls = b;
      }
      if (!fv) {
        for (int c = 1; c <= 4; ++c)
          EXPECT_FALSE(out.column(c).is_valid(r)) << "group " << group;
        continue;
      }
      EXPECT_EQ(out.column(1).values<std::int64_t>()[static_cast<size_t>(r)], fv->second);
      EXPECT_EQ(out.column(2).values<std::int64_t>()[static_cast<size_t>(r)], lv->second);
      EXPECT_EQ(std::string(out.column(3).plain().at(r)), fs->second) << "group " << group;
      EXPECT_EQ(std::string(out.column(4).plain().at(r)), ls->second) << "group " << group;
    }
    EXPECT_EQ(mpi::allreduce_sum<idx_t>(comm, out.num_rows()), 25);
  }
  std::vector<AggSpec> bad = {{"first", "v", "x"}};
  bad[0].column2 = "s";
  EXPECT_THROW(ops::group_by(comm, local, {"g"}, bad), ConfigError);
}

// The report: {1e-20, 1e30, 1, -1, -1e30} summed to 0.0 at 1, 2 and 4 ranks and to 1e-20
// at 3, and adversarial groups were wrong or differed between rank counts. Here groups that
// cancel (pairs x, -x of any magnitude plus small rests), groups over the whole exponent range
// with subnormals and signed zeros, each of whose rows lands on the ranks in an order that
// depends on the rank count, through the pre-aggregation path (packed int key, partial states
// shuffled and merged, tiny shuffle rounds) and the general path (float key, raw rows shuffled).
TEST(GroupBy, FloatSumsUnderCancellationAreCorrectlyRoundedAtEveryRankCountAndOrder) {
  mpi::Comm comm;
  std::mt19937_64 rng(777);
  auto any_double = [&] {
    return std::bit_cast<double>((rng() & 0x800fffffffffffffULL) |
                                 (static_cast<std::uint64_t>(rng() % 2047) << 52));
  };
  std::vector<std::vector<double>> groups = {{1e-20, 1e30, 1, -1, -1e30}, {-0.0, -0.0}};
  for (int g = 0; g < 50; ++g) {
    std::vector<double> v;
    for (int p = 0; p < 1 + static_cast<int>(rng() % 8); ++p) {
      const double x = any_double();
      v.push_back(x);
      v.push_back(g % 2 ? -x : -std::nextafter(x, 0.0));
    }
    for (int k = 0; k < static_cast<int>(rng() % 5); ++k)
      v.push_back(std::ldexp(
          static_cast<double>(static_cast<std::int64_t>(rng() >> 11)) * (rng() % 2 ? 1 : -1),
          static_cast<int>(rng() % 120) - 100));
    groups.push_back(v);
  }
  for (int g = 0; g < 30; ++g) {
    std::vector<double> v;
    for (int k = 0; k < 1 + static_cast<int>(rng() % 40); ++k)
      v.push_back(k % 7 == 3 ? (k % 2 ? -0.0 : 0.0) : any_double());
    groups.push_back(v);
  }
  struct Row {
    std::int32_t g;
    double v;
  };
  std::vector<Row> rows;
  for (size_t g = 0; g < groups.size(); ++g)
    for (double x : groups[g])
      rows.push_back({static_cast<std::int32_t>(g), x});
  // The order of the rows depends on the rank count; each rank takes a contiguous slice.
  std::mt19937_64 order(static_cast<std::uint64_t>(comm.size()));
  std::shuffle(rows.begin(), rows.end(), order);
  const size_t n = rows.size();
  const size_t lo = n * static_cast<size_t>(comm.rank()) / static_cast<size_t>(comm.size());
  const size_t hi = n * static_cast<size_t>(comm.rank() + 1) / static_cast<size_t>(comm.size());
  Table local;
  Column gc(table::DataType::kInt32), fc(table::DataType::kFloat64), vc(table::DataType::kFloat64);
  for (size_t i = lo; i < hi; ++i) {
    gc.values<std::int32_t>().push_back(rows[i].g);
    fc.values<double>().push_back(rows[i].g + 0.5);
    vc.values<double>().push_back(rows[i].v);
  }
  local.add_column("g", std::move(gc));
  local.add_column("fg", std::move(fc));
  local.add_column("v", std::move(vc));
  const std::vector<AggSpec> aggs = {{"sum", "v", ""}, {"mean", "v", ""}};
  for (const std::string key : {"g", "fg"}) {
    for (idx_t round_bytes : {idx_t{0}, idx_t{64}}) {
      SCOPED_TRACE(fmt::format("key {} round_bytes {}", key, round_bytes));
      ops::GroupByOptions options;
      if (round_bytes > 0) options.shuffle.round_bytes = round_bytes;
      const Table out = ops::group_by(comm, local, {key}, aggs, options);
      for (idx_t r = 0; r < out.num_rows(); ++r) {
        const auto i = static_cast<size_t>(r);
        const auto g = key == "g" ? static_cast<size_t>(out.column(0).values<std::int32_t>()[i])
                                  : static_cast<size_t>(out.column(0).values<double>()[i]);
        test::ExactReference ref;
        bool all_negative_zero = true;
        for (double x : groups[g]) {
          ref.add(x);
          all_negative_zero &= x == 0 && std::signbit(x);
        }
        const double zero = all_negative_zero ? -0.0 : 0.0;
        const double sum = ref.value(), mean = ref.value(groups[g].size());
        EXPECT_EQ(fmt::format("{:a}", out.column(1).values<double>()[i]),
                  fmt::format("{:a}", sum == 0 ? zero : sum))
            << "sum of group " << g << ": " << fmt::format("{}", fmt::join(groups[g], ", "));
        EXPECT_EQ(fmt::format("{:a}", out.column(2).values<double>()[i]),
                  fmt::format("{:a}", mean == 0 ? zero : mean))
            << "mean of group " << g;
      }
      EXPECT_EQ(mpi::allreduce_sum<idx_t>(comm, out.num_rows()), static_cast<idx_t>(groups.size()));
    }
  }
}

TEST(GroupBy, Errors) {
  mpi::Comm comm;
  const Table local = random_piece(1, comm.rank(), 20);
  auto message = [&](const std::vector<std::string>& keys, const std::vector<AggSpec>& aggs) {
    try {
      ops::group_by(comm, local, keys, aggs);
    } catch (const ConfigError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_EQ(
      message({"kk"}, {}),
      "unknown column 'kk' in group-by keys; did you mean 'k'? (columns: k, w, i, fk, x, f32, "
      "b, t, s, p)");
  EXPECT_NE(message({"k"}, {{"sum", "xx", ""}})
                .find("unknown column 'xx' in group-by aggregates; did you mean 'x'?"),
            std::string::npos);
  EXPECT_EQ(
      message({"k"}, {{"sum", "s", ""}}),
      "cannot compute sum of string column 's'; sum needs a numeric column (use count, min or "
      "max for strings)");
  EXPECT_EQ(message({"k"}, {{"mean", "p", ""}}).substr(0, 40),
            "cannot compute mean of string column 'p'");
  EXPECT_EQ(message({"k"}, {{"max", "", ""}}),
            "aggregate max needs a column; only count may be used without one");
  EXPECT_EQ(message({"k"}, {{"sum", "i", "k"}}),
            "group-by output column 'k' appears twice; give the aggregates distinct output names");
  EXPECT_EQ(ops::find_aggregate_function("avg")->name, "mean");
  EXPECT_EQ(ops::find_aggregate_function("median_of"), nullptr);
}

// An int64 sum past the int64 range fails on every rank alike (exit 3), naming the column,
// wherever the group's rows live; sums that only pass the range on the way are exact.
TEST(GroupBy, IntegerSumOverflowIsAnErrorOnEveryRank) {
  mpi::Comm comm;
  constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();
  auto piece = [&](const std::vector<std::int64_t>& global) {
    Table t;
    Column k(DataType::kInt64), v(DataType::kInt64);
    for (size_t i = 0; i < global.size(); ++i) {
      if (static_cast<int>(i) % comm.size() != comm.rank()) continue;
      k.values<std::int64_t>().push_back(7);
      v.values<std::int64_t>().push_back(global[i]);
    }
    t.add_column("k", std::move(k));
    t.add_column("v", std::move(v));
    return t;
  };
  const std::vector<AggSpec> sum = {{"sum", "v", ""}};
  try {
    ops::group_by(comm, piece({kMax, 1}), {"k"}, sum);
    ADD_FAILURE() << "INT64_MAX + 1 did not fail";
  } catch (const InputError& e) {
    EXPECT_TRUE(e.agreed());
    EXPECT_NE(std::string(e.what()).find("sum of column 'v' overflows int64: a group's exact sum "
                                         "is 9223372036854775808"),
              std::string::npos)
        << e.what();
  }
  const Table ok = ops::group_by(comm, piece({kMax, kMax, -kMax, 3, -kMax}), {"k"}, sum);
  const idx_t rows = mpi::allreduce_sum(comm, ok.num_rows());
  EXPECT_EQ(rows, 1);
  if (ok.num_rows() == 1) {
    EXPECT_EQ(ok.column("v_sum").values<std::int64_t>()[0], 3);
  }
}

TEST(GroupBy, HashTableGrowsWhenTheSampleUnderestimatesGroups) {
  // Every 4th row (exactly the rows the distinct-estimate sample looks at) has key 0; all other
  // keys are distinct and spread over a domain too large for a direct array, so the packed-key
  // hash table starts small and must grow many times.
  mpi::Comm comm;
  constexpr idx_t kRows = 262144;
  Table local;
  Column k(table::DataType::kInt64), v(table::DataType::kInt64);
  for (idx_t i = 0; i < kRows; ++i) {
    const idx_t id = comm.rank() * kRows + i;
    k.values<std::int64_t>().push_back(i % 4 == 0 ? 0 : id * 1000);
    v.values<std::int64_t>().push_back(i % 4 == 0 ? 1 : id);
  }
  local.add_column("k", std::move(k));
  local.add_column("v", std::move(v));
  const Table out = ops::group_by(comm, local, {"k"}, {{"sum", "v", ""}, {"count", "", ""}});
  EXPECT_EQ(mpi::allreduce_sum<idx_t>(comm, out.num_rows()), 1 + comm.size() * kRows * 3 / 4);
  const auto& keys = out.column("k").values<std::int64_t>();
  const auto& sums = out.column("v_sum").values<std::int64_t>();
  const auto& counts = out.column("count").values<std::int64_t>();
  for (size_t r = 0; r < keys.size(); ++r) {
    if (keys[r] == 0) {
      EXPECT_EQ(counts[r], comm.size() * kRows / 4);
      EXPECT_EQ(sums[r], comm.size() * kRows / 4);
    } else {
      ASSERT_EQ(counts[r], 1);
      ASSERT_EQ(sums[r] * 1000, keys[r]);
    }
  }
}

namespace {

// One aggregate of the registry-wide test and its brute-force reference.
struct RegistryCase {
  AggSpec spec;
  bool float_result;  // compared within a relative 1e-9 (exactness is tested function by function)
};

// Every registry function over the columns of random_piece, by name. A function missing here
// fails the test: a new function needs its brute-force reference below.
std::map<std::string, std::vector<AggSpec>> registry_cases() {
  auto one = [](const char* f, const char* c, std::vector<double> args = {}) {
    return AggSpec{f, c, "", std::move(args)};
  };
  auto two = [](const char* f, const char* c, const char* c2) { return AggSpec{f, c, "", {}, c2}; };
  return {
      {"count", {one("count", ""), one("count", "x"), one("count", "p")}},
      {"sum", {one("sum", "i"), one("sum", "x")}},
      {"mean", {one("mean", "i"), one("mean", "x")}},
      {"min", {one("min", "i"), one("min", "s"), one("min", "p")}},
      {"max", {one("max", "x"), one("max", "s")}},
      {"var_samp", {one("var_samp", "x"), one("var_samp", "i")}},
      {"var_pop", {one("var_pop", "x")}},
      {"stddev_samp", {one("stddev_samp", "i")}},
      {"stddev_pop", {one("stddev_pop", "x")}},
      {"any", {one("any", "b")}},
      {"all", {one("all", "b")}},
      {"count_distinct",
       {one("count_distinct", "s"), one("count_distinct", "i"), one("count_distinct", "p")}},
      {"median", {one("median", "x"), one("median", "i")}},
      {"quantile", {one("quantile", "x", {0.25}), one("quantile", "i", {0.9})}},
      {"covar_samp", {two("covar_samp", "i", "x")}},
      // (i, i): two small int64 columns, the integer fast path.
      {"covar_pop", {two("covar_pop", "x", "i"), two("covar_pop", "i", "i")}},
      {"corr", {two("corr", "i", "x"), two("corr", "i", "i")}},
      {"first", {two("first", "x", "t"), two("first", "s", "t")}},
      {"last", {two("last", "i", "t"), two("last", "p", "t")}},
      {"top_k", {one("top_k", "x", {2}), one("top_k", "i", {3})}},
      {"histogram",
       {one("histogram", "x", {4}),
        AggSpec{"histogram", "i", "", {-500, 0, 250.5, 1000}, "", true}}},
  };
}

// The reference value (rendered as cell() renders, floats with 17 digits) of `a` over the rows
// `rows` of `t`; several values for top_k.
std::vector<std::string> reference_values(const Table& t, const std::vector<idx_t>& rows,
                                          const AggSpec& a) {
  using LD = long double;
  const std::string f = a.function;
  auto num = [](LD v) { return fmt::format("{:.17g}", static_cast<double>(v)); };
  if (a.column.empty()) return {std::to_string(rows.size())};
  const Column& c = t.column(a.column);
  std::vector<idx_t> valid;
  for (idx_t r : rows)
    if (c.is_valid(r) && (a.column2.empty() || t.column(a.column2).is_valid(r))) valid.push_back(r);
  const size_t n = valid.size();
  if (f == "count") return {std::to_string(n)};
  if (f == "count_distinct") {
    std::set<std::string> distinct;
    for (idx_t r : valid)
      distinct.insert(cell(c, r));
    return {std::to_string(distinct.size())};
  }
  const bool text = c.type() == table::DataType::kString;
  // Order of min/max: strings by value, numbers by value (no NaN in these columns).
  auto less = [&](idx_t x, idx_t y) {
    return text ? c.string_at(x) < c.string_at(y) : c.numeric_at(x) < c.numeric_at(y);
  };
  if (f == "histogram") {  // one "lower\x1fupper\x1fcount" per bin, as render_row renders them
    std::vector<double> values;
    for (idx_t r : valid)
      values.push_back(c.numeric_at(r));
    const auto bins =
        a.list_args ? histogram_test::bins_over(values, a.args)
                    : histogram_test::equal_width_reference(values, static_cast<int>(a.args[0]));
    std::vector<std::string> out;
    for (const auto& b : bins)
      out.push_back(fmt::format("{:.17g}\x1f{:.17g}\x1f{}", b.lower, b.upper, b.count));
    return out;
  }
  if (f == "top_k") {
    std::vector<idx_t> sorted = valid;
    std::stable_sort(sorted.begin(), sorted.end(), [&](idx_t x, idx_t y) { return less(y, x); });
    std::vector<std::string> out;
    for (size_t j = 0; j < sorted.size() && j < static_cast<size_t>(a.args[0]); ++j)
      out.push_back(c.type() == table::DataType::kFloat64 ? num(c.numeric_at(sorted[j]))
                                                          : cell(c, sorted[j]));
    return out;
  }
  if (n == 0) return {"<null>"};
  if (f == "min" || f == "max") {
    idx_t best = valid[0];
    for (idx_t r : valid)
      if (f == "min" ? less(r, best) : less(best, r)) best = r;
    return {c.type() == table::DataType::kFloat64 ? num(c.numeric_at(best)) : cell(c, best)};
  }
  if (f == "first" || f == "last") {
    const Column& order = t.column(a.column2);
    idx_t best = valid[0];
    for (idx_t r : valid) {
      const double o = order.numeric_at(r), ob = order.numeric_at(best);
      const bool better = f == "first" ? (o < ob || (o == ob && less(r, best)))
                                       : (o > ob || (o == ob && less(best, r)));
      if (better) best = r;
    }
    return {c.type() == table::DataType::kFloat64 ? num(c.numeric_at(best)) : cell(c, best)};
  }
  if (f == "any" || f == "all") {
    size_t trues = 0;
    for (idx_t r : valid)
      trues += c.numeric_at(r) != 0 ? 1 : 0;
    return {(f == "any" ? trues > 0 : trues == n) ? "true" : "false"};
  }
  std::vector<LD> x;
  for (idx_t r : valid)
    x.push_back(static_cast<LD>(c.numeric_at(r)));
  if (f == "sum") {
    if (c.type() != table::DataType::kFloat64) {
      std::int64_t s = 0;
      for (idx_t r : valid)
        s += static_cast<std::int64_t>(c.numeric_at(r));
      return {std::to_string(s)};
    }
    LD s = 0;
    for (LD v : x)
      s += v;
    return {num(s)};
  }
  LD mean = 0;
  for (LD v : x)
    mean += v;
  mean /= static_cast<LD>(n);
  if (f == "mean") return {num(mean)};
  if (f == "median" || f == "quantile") {
    std::sort(x.begin(), x.end());
    const LD q = f == "median" ? 0.5L : static_cast<LD>(a.args[0]);
    const LD position = q * static_cast<LD>(n - 1);
    const auto lo = static_cast<size_t>(std::floor(position));
    const LD fraction = position - static_cast<LD>(lo);
    if (fraction == 0 || lo + 1 >= n) return {num(x[lo])};
    return {num(x[lo] + (x[lo + 1] - x[lo]) * fraction)};
  }
  if (f.starts_with("var") || f.starts_with("stddev")) {
    const bool sample = f.ends_with("samp");
    if (sample && n < 2) return {"<null>"};
    LD ss = 0;
    for (LD v : x)
      ss += (v - mean) * (v - mean);
    const LD var = ss / static_cast<LD>(sample ? n - 1 : n);
    return {num(f.starts_with("var") ? var : std::sqrt(var))};
  }
  // covar_samp, covar_pop, corr over the pairs.
  const Column& c2 = t.column(a.column2);
  std::vector<LD> y;
  LD mean2 = 0;
  for (idx_t r : valid) {
    y.push_back(static_cast<LD>(c2.numeric_at(r)));
    mean2 += y.back();
  }
  mean2 /= static_cast<LD>(n);
  if (f != "covar_pop" && n < 2) return {"<null>"};
  LD sxy = 0, sxx = 0, syy = 0;
  for (size_t j = 0; j < n; ++j) {
    sxy += (x[j] - mean) * (y[j] - mean2);
    sxx += (x[j] - mean) * (x[j] - mean);
    syy += (y[j] - mean2) * (y[j] - mean2);
  }
  if (f == "covar_samp") return {num(sxy / static_cast<LD>(n - 1))};
  if (f == "covar_pop") return {num(sxy / static_cast<LD>(n))};
  if (sxx == 0 || syy == 0) return {"nan"};
  return {num(sxy / std::sqrt(sxx * syy))};
}

bool close_enough(const std::string& got, const std::string& want) {
  if (got == want) return true;
  char* end = nullptr;
  const double g = std::strtod(got.c_str(), &end);
  if (end == got.c_str() || *end != '\0') return false;
  const double w = std::strtod(want.c_str(), &end);
  if (std::isnan(g) || std::isnan(w)) return std::isnan(g) && std::isnan(w);
  return std::fabs(g - w) <= 1e-9 * std::max(1.0, std::fabs(w));
}

// A group-by output row: keys, then aggregates, floats with 17 digits.
std::string render_row(const Table& out, idx_t r) {
  std::string s;
  for (int j = 0; j < out.num_columns(); ++j) {
    const Column& c = out.column(j);
    s += c.type() == table::DataType::kFloat64 && c.is_valid(r)
             ? fmt::format("{:.17g}", c.values<double>()[static_cast<size_t>(r)])
             : cell(c, r);
    s += '\x1f';
  }
  return s;
}

}  // namespace

// Every function of the aggregate registry (a function without a reference here fails) at every
// rank count, against a brute-force reference over the whole table, and bit-identical to the
// same group-by on one rank: nulls, empty ranks, one group (skew), many groups, int / dictionary
// string / bool / plain string / no keys, tiny shuffle rounds, states updated in slices of two
// groups (the one-rank run: in row order).
TEST(GroupBy, EveryRegistryFunctionMatchesABruteForceReferenceAndOneRank) {
  mpi::Comm comm;
  mpi::Comm self(MPI_COMM_SELF);
  const auto cases = registry_cases();
  for (const std::string& name : ops::aggregate_function_names())
    ASSERT_TRUE(cases.count(name) != 0) << "no brute-force reference for aggregate " << name;
  struct Scenario {
    const char* what;
    bool empty_others;
    ops_test::PieceOptions options;
  };
  const Scenario scenarios[] = {{"plain", false, {}},
                                {"empty ranks", true, {}},
                                {"one group", false, {.key_range = 10, .skew = true}},
                                {"many groups", false, {.key_range = 100000}}};
  const std::vector<std::vector<std::string>> key_sets = {{"k"}, {"s", "b"}, {"p"}, {}};
  for (const Scenario& sc : scenarios) {
    const Table local = random_piece(
        31, comm.rank(), rows_of(comm.rank(), comm.size(), 150, sc.empty_others), sc.options);
    const Table global = global_table(31, comm.size(), 150, sc.empty_others, sc.options);
    for (const auto& keys : key_sets) {
      // All functions but top_k in one group-by, top_k in one each (one row-expanding aggregate
      // per group-by).
      std::vector<std::vector<AggSpec>> runs(1);
      int numbered = 0;
      for (const auto& [name, specs] : cases)
        for (const AggSpec& spec : specs) {
          AggSpec a = spec;
          a.output = fmt::format("a{}", numbered++);
          if (ops::aggregate_function(name).expands_rows)
            runs.push_back({a});
          else
            runs.front().push_back(a);
        }
      for (const auto& aggs : runs) {
        SCOPED_TRACE(fmt::format("{}, keys [{}], {} ({} aggregates)", sc.what, fmt::join(keys, ","),
                                 aggs.front().function, aggs.size()));
        const Table out = ops::group_by(
            comm, local, keys, aggs,
            ops::GroupByOptions{
                .shuffle = {.round_bytes = 256}, .slice_above_groups = 2, .groups_per_slice = 2});
        std::vector<std::string> mine;
        for (idx_t r = 0; r < out.num_rows(); ++r)
          mine.push_back(render_row(out, r));
        std::vector<std::string> all = allgather_strings(comm, mine);
        std::sort(all.begin(), all.end());
        // Bit-identical to one rank over the whole table.
        const Table whole = ops::group_by(self, global, keys, aggs);
        std::vector<std::string> one;
        for (idx_t r = 0; r < whole.num_rows(); ++r)
          one.push_back(render_row(whole, r));
        std::sort(one.begin(), one.end());
        ASSERT_EQ(all, one);
        // Against the brute force: the expected rows of every group, keys and values.
        std::map<std::string, std::vector<idx_t>> groups;
        for (idx_t r = 0; r < global.num_rows(); ++r)
          groups[render(global, r, keys)].push_back(r);
        if (keys.empty() && groups.empty()) groups[""] = {};
        std::multiset<std::string> produced(all.begin(), all.end());
        // The output columns of each aggregate (histogram: its edges, then its count).
        std::vector<size_t> first_cell, width;
        size_t cells_per_row = keys.size();
        for (const AggSpec& a : aggs) {
          first_cell.push_back(cells_per_row);
          width.push_back(ops::output_names(a).size());
          cells_per_row += width.back();
        }
        auto cells_of = [&](const std::vector<std::string>& cells, size_t j) {
          std::string joined;
          for (size_t w = 0; w < width[j]; ++w)
            joined += (w > 0 ? "\x1f" : "") + cells[first_cell[j] + w];
          return joined;
        };
        size_t expected_rows = 0;
        for (const auto& [key, rows] : groups) {
          std::vector<std::vector<std::string>> values;
          size_t height = 1;
          for (const AggSpec& a : aggs) {
            values.push_back(reference_values(global, rows, a));
            if (ops::aggregate_function(a.function).expands_rows) height = values.back().size();
          }
          expected_rows += height;
          // The produced rows of this group (keys render the same way in both).
          std::vector<std::vector<std::string>> got;
          for (const std::string& row : produced)
            if (row.starts_with(key)) {
              std::vector<std::string> cells = split(row);
              if (cells.size() != cells_per_row) continue;
              std::string k;
              for (size_t j = 0; j < keys.size(); ++j)
                k += cells[j] + '\x1f';
              if (k == key) got.push_back(cells);
            }
          ASSERT_EQ(got.size(), height) << "rows of group " << key;
          for (size_t row = 0; row < height; ++row) {
            for (size_t j = 0; j < aggs.size(); ++j) {
              const auto& want =
                  values[j].size() == 1 && height > 1 ? values[j][0] : values[j][row];
              // top_k rows come in any order across the gathered output: match as a set.
              if (ops::aggregate_function(aggs[j].function).expands_rows) {
                const bool found = std::any_of(got.begin(), got.end(), [&](const auto& cells) {
                  return close_enough(cells_of(cells, j), want);
                });
                EXPECT_TRUE(found) << aggs[j].function << "(" << aggs[j].column << ") of group "
                                   << key << ": no row with " << want;
                continue;
              }
              EXPECT_TRUE(close_enough(cells_of(got[row], j), want))
                  << aggs[j].function << "(" << aggs[j].column
                  << (aggs[j].column2.empty() ? "" : ", " + aggs[j].column2) << ") of group " << key
                  << ": got " << cells_of(got[row], j) << ", want " << want;
            }
          }
        }
        EXPECT_EQ(all.size(), expected_rows);
      }
    }
  }
}
