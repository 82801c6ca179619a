// Window features at every rank count against a brute-force reference computed from the
// definitions over the whole distributed table (which every rank regenerates from the seed): for
// each row, its partition (equal keys, null keys one partition), its position in (order value,
// nulls first, NaN last; global row index), and for aggregates the frame's rows collected one by
// one (range: order value in [t - d, t], peers included; rows: n before; exclude current) and
// aggregated with the registry's kernels as one group -- so the sliding count/sum/mean/min/max
// must equal group_by's kernels bit for bit. Nulls in keys, order and values, NaN and -0.0
// order values, ties on the order value, dictionary and plain string keys, multi-column keys,
// one partition, many partitions, empty ranks, tiny shuffle rounds and tiny generic batches.
// Buckets against a brute-force group-by by (keys, bucket start) and against one rank.

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <gtest/gtest.h>
#include <mpi.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "ops_test_support.hpp"
#include "shardflow/common/error.hpp"
#include "shardflow/ops/window.hpp"

using namespace shardflow;
using namespace shardflow::ops_test;
using ops::FrameKind;
using ops::WindowFeature;
using ops::WindowFunction;
using ops::WindowSpec;

namespace {

table::DictionaryPtr dict() {
  static const auto d = std::make_shared<const table::Dictionary>(
      std::vector<std::string>{"ant", "bee", "cat", "dog", "eel"});
  return d;
}
const char* kWords[] = {"ant", "bee", "cat", "dog", "eel"};

struct Shape {
  int key_range = 4;
  int time_range = 15;  // small: many ties on the order value
  double null_rate = 0.1;
  bool one_key = false;
};

/// Columns: k int32 key, s dictionary string key, p plain string key, ts timestamp, ti int64,
/// tf float64 (NaN, -0.0 and 0.0 sometimes) order columns; values v float64, iv int64, sv
/// dictionary string, pv plain string, b bool, w int64 near +-2^62 (never null).
Table piece(std::uint64_t seed, int rank, idx_t rows, const Shape& o) {
  std::mt19937_64 rng(seed * 7919 + static_cast<std::uint64_t>(rank));
  std::uniform_real_distribution<double> u(0.0, 1.0);
  auto null = [&] { return u(rng) < o.null_rate; };
  Column k(DataType::kInt32), s(DataType::kString), ts(DataType::kTimestamp), ti(DataType::kInt64),
      tf(DataType::kFloat64), v(DataType::kFloat64), iv(DataType::kInt64), sv(DataType::kString),
      b(DataType::kBool), w(DataType::kInt64);
  Column p = Column::plain_strings(), pv = Column::plain_strings();
  s.set_dictionary(dict());
  sv.set_dictionary(dict());
  for (Column* c : {&k, &s, &p, &ts, &ti, &tf, &v, &iv, &sv, &pv, &b})
    c->ensure_validity();
  auto key = [&] {
    return o.one_key ? 1 : static_cast<int>(rng() % static_cast<unsigned>(o.key_range));
  };
  for (idx_t r = 0; r < rows; ++r) {
    k.values<std::int32_t>().push_back(key());
    k.validity().push_back(o.one_key || !null());
    s.codes().push_back(key() % 5);
    s.validity().push_back(o.one_key || !null());
    p.plain().push_back(kWords[key() % 5]);
    p.validity().push_back(o.one_key || !null());
    const auto t = static_cast<std::int64_t>(rng() % static_cast<unsigned>(o.time_range));
    ts.values<std::int64_t>().push_back(1'700'000'000'000'000 + t * 1'000'000);
    ts.validity().push_back(!null());
    ti.values<std::int64_t>().push_back(t - 5);
    ti.validity().push_back(!null());
    double f = static_cast<double>(t) * 0.5 - 2;
    if (t == 4) f = (rng() % 2) ? -0.0 : 0.0;
    if (t == 7 && rng() % 2) f = std::nan("");
    tf.values<double>().push_back(f);
    tf.validity().push_back(!null());
    double x = (u(rng) - 0.5) * std::pow(10.0, static_cast<double>(rng() % 7) - 2);
    if (rng() % 40 == 0) x = -0.0;
    if (rng() % 60 == 0) x = 1e300;
    if (rng() % 90 == 0) x = std::numeric_limits<double>::infinity();
    v.values<double>().push_back(x);
    v.validity().push_back(!null());
    iv.values<std::int64_t>().push_back(static_cast<std::int64_t>(rng() % 2001) - 1000);
    iv.validity().push_back(!null());
    sv.codes().push_back(static_cast<std::int32_t>(rng() % 5));
    sv.validity().push_back(!null());
    pv.plain().push_back(kWords[rng() % 5]);
    pv.validity().push_back(!null());
    b.values<std::uint8_t>().push_back(static_cast<std::uint8_t>(rng() % 2));
    b.validity().push_back(!null());
    w.values<std::int64_t>().push_back(INT64_MAX / 2 - static_cast<std::int64_t>(rng() % 3));
  }
  Table out;
  for (auto* c : {&k, &s, &p, &ts, &ti, &tf, &v, &iv, &sv, &pv, &b})
    c->compact_validity();
  out.add_column("k", std::move(k));
  out.add_column("s", std::move(s));
  out.add_column("p", std::move(p));
  out.add_column("ts", std::move(ts));
  out.add_column("ti", std::move(ti));
  out.add_column("tf", std::move(tf));
  out.add_column("v", std::move(v));
  out.add_column("iv", std::move(iv));
  out.add_column("sv", std::move(sv));
  out.add_column("pv", std::move(pv));
  out.add_column("b", std::move(b));
  out.add_column("w", std::move(w));
  return out;
}

idx_t rows_for(int rank, idx_t base, bool only_first) {
  if (only_first) return rank == 0 ? base : 0;
  return base + 13 * rank;
}

Table global(std::uint64_t seed, int size, idx_t base, bool only_first, const Shape& o) {
  Table all = piece(seed, 0, rows_for(0, base, only_first), o);
  for (int r = 1; r < size; ++r)
    all.append(piece(seed, r, rows_for(r, base, only_first), o));
  return all;
}

// ---- parsing a feature for the tests (the step has the real parser) ---------------------------

WindowFeature agg(std::string out, std::string fn, std::string col,
                  FrameKind kind = FrameKind::kPartition, double offset = 0, bool exclude = false,
                  std::vector<double> args = {}, std::string col2 = {}) {
  WindowFeature f;
  f.output = std::move(out);
  f.function = WindowFunction::kAggregate;
  f.agg.function = std::move(fn);
  f.agg.column = std::move(col);
  f.agg.column2 = std::move(col2);
  f.agg.args = std::move(args);
  f.frame.kind = kind;
  if (kind == FrameKind::kRows) f.frame.rows = static_cast<std::int64_t>(offset);
  if (kind == FrameKind::kRange) f.frame.number = offset;
  f.frame.exclude_current = exclude;
  return f;
}

WindowFeature unbounded(WindowFeature f) {
  f.frame.unbounded = true;
  return f;
}

WindowFeature simple(std::string out, WindowFunction fn) {
  WindowFeature f;
  f.output = std::move(out);
  f.function = fn;
  return f;
}

WindowFeature shift(std::string out, WindowFunction fn, std::string col, std::int64_t n,
                    ops::WindowLiteral d = {}) {
  WindowFeature f;
  f.output = std::move(out);
  f.function = fn;
  f.column = std::move(col);
  f.offset = n;
  f.default_value = std::move(d);
  return f;
}

/// Range frames in the order column's units: timestamps take the offset as micros.
void set_range_units(WindowSpec& spec, const Table& t) {
  const bool timestamp =
      !spec.order_by.empty() && t.column(spec.order_by).type() == DataType::kTimestamp;
  for (auto& f : spec.features) {
    if (f.frame.kind == FrameKind::kRange && timestamp) {
      f.frame.duration = true;
      f.frame.micros = static_cast<std::int64_t>(f.frame.number) * 1'000'000;
    }
  }
}

std::vector<WindowFeature> all_features(bool ordered) {
  using K = ops::WindowLiteral::Kind;
  std::vector<WindowFeature> f = {
      simple("rn", WindowFunction::kRowNumber),
      shift("lag_v", WindowFunction::kLag, "v", 1),
      shift("lag_iv0", WindowFunction::kLag, "iv", 0),
      shift("lead_sv", WindowFunction::kLead, "sv", 2, {K::kString, "zzz"}),  // not in dictionary
      shift("lead_sv_d", WindowFunction::kLead, "sv", 1, {K::kString, "cat"}),
      shift("lag_pv", WindowFunction::kLag, "pv", 3, {K::kString, "x"}),
      shift("lag_iv", WindowFunction::kLag, "iv", 2, {K::kNumber, "-7"}),
      shift("lead_b", WindowFunction::kLead, "b", 1, {K::kBool, "true"}),
      shift("lead_far", WindowFunction::kLead, "iv", INT64_MAX),
      agg("p_sum", "sum", "v"),
      agg("p_n", "count", ""),
      agg("p_med", "median", "iv"),
      agg("p_loo_mean", "mean", "v", FrameKind::kPartition, 0, true),  // leave one out
      agg("p_loo_n", "count", "iv", FrameKind::kPartition, 0, true),
      agg("p_loo_max", "max", "sv", FrameKind::kPartition, 0, true),
      agg("r_n", "count", "", FrameKind::kRows, 3),
      agg("r_sum_v", "sum", "v", FrameKind::kRows, 2, true),
      agg("r_mean_iv", "mean", "iv", FrameKind::kRows, 4),
      agg("r_min_v", "min", "v", FrameKind::kRows, 3),
      agg("r_max_iv", "max", "iv", FrameKind::kRows, 2, true),
      agg("r_max_pv", "max", "pv", FrameKind::kRows, 2),
      agg("r_cd_sv", "count_distinct", "sv", FrameKind::kRows, 5, true),
      agg("r_q_iv", "quantile", "iv", FrameKind::kRows, 3, false, {0.25}),
      agg("r_any_b", "any", "b", FrameKind::kRows, 0),
      agg("r_sum_w", "sum", "v", FrameKind::kRows, 0, true),  // always empty: null
      unbounded(agg("u_sum_v", "sum", "v", FrameKind::kRows, 0, true)),
      unbounded(agg("u_max_iv", "max", "iv", FrameKind::kRows)),
      unbounded(agg("u_cd_pv", "count_distinct", "pv", FrameKind::kRows)),
  };
  if (ordered) {
    const std::vector<WindowFeature> more = {
        simple("rk", WindowFunction::kRank),
        simple("drk", WindowFunction::kDenseRank),
        agg("g_n", "count", "", FrameKind::kRange, 3),
        agg("g_nv", "count", "v", FrameKind::kRange, 2, true),
        agg("g_sum_v", "sum", "v", FrameKind::kRange, 3, true),
        agg("g_sum_v0", "sum", "v", FrameKind::kRange, 0),
        agg("g_mean_v", "mean", "v", FrameKind::kRange, 4),
        agg("g_sum_iv", "sum", "iv", FrameKind::kRange, 2, true),
        agg("g_mean_iv", "mean", "iv", FrameKind::kRange, 3),
        agg("g_min_v", "min", "v", FrameKind::kRange, 3),
        agg("g_max_v_x", "max", "v", FrameKind::kRange, 3, true),
        agg("g_min_sv", "min", "sv", FrameKind::kRange, 2),
        agg("g_med_v", "median", "v", FrameKind::kRange, 5, true),
        agg("g_var_v", "var_samp", "v", FrameKind::kRange, 6),
        agg("g_first", "first", "iv", FrameKind::kRange, 3, false, {}, "ti"),
        agg("g_all_b", "all", "b", FrameKind::kRange, 1, true),
        unbounded(agg("ug_n", "count", "", FrameKind::kRange, 0, true)),
        unbounded(agg("ug_mean_v", "mean", "v", FrameKind::kRange)),
        unbounded(agg("ug_min_iv", "min", "iv", FrameKind::kRange)),
    };
    f.insert(f.end(), more.begin(), more.end());
  }
  return f;
}

// ---- the reference ----------------------------------------------------------------------------

struct OrderValue {
  bool null = true;
  bool nan = false;
  bool floating = false;
  std::int64_t i = 0;
  double d = 0;
};

OrderValue order_of(const Table& t, const std::string& col, idx_t r) {
  OrderValue o;
  if (col.empty()) return o;  // every row "null": then the order is the row index
  const Column& c = t.column(col);
  o.null = !c.is_valid(r);
  if (c.type() == DataType::kFloat64) {
    o.floating = true;
    o.d = c.values<double>()[static_cast<size_t>(r)];
    o.nan = std::isnan(o.d);
  } else {
    o.i = c.values<std::int64_t>()[static_cast<size_t>(r)];
  }
  return o;
}

// -1, 0, 1 (nulls first, NaN last, -0.0 == 0.0).
int cmp(const OrderValue& a, const OrderValue& b) {
  if (a.null != b.null) return a.null ? -1 : 1;
  if (a.null) return 0;
  if (a.floating) {
    if (a.nan != b.nan) return a.nan ? 1 : -1;
    if (a.nan) return 0;
    return a.d < b.d ? -1 : (a.d > b.d ? 1 : 0);
  }
  return a.i < b.i ? -1 : (a.i > b.i ? 1 : 0);
}

bool in_range(const OrderValue& t, const OrderValue& o, const WindowFeature& f) {
  if (t.null || t.nan) return cmp(t, o) == 0;
  if (o.null || o.nan) return false;
  if (f.frame.unbounded) return t.floating ? o.d <= t.d : o.i <= t.i;
  if (t.floating) return o.d >= t.d - f.frame.number && o.d <= t.d;
  const std::int64_t d =
      f.frame.duration ? f.frame.micros : static_cast<std::int64_t>(f.frame.number);
  return static_cast<__int128>(o.i) >= static_cast<__int128>(t.i) - d && o.i <= t.i;
}

std::string aggregate_rows(const Table& g, const WindowFeature& f, const std::vector<idx_t>& rows) {
  ops::AggregateInput in;
  const Column* c = f.agg.column.empty() ? nullptr : &g.column(f.agg.column);
  if (c) {
    in.type = c->type();
    in.plain_strings = c->type() == DataType::kString && !c->is_dictionary_encoded();
    if (c->type() == DataType::kString && c->is_dictionary_encoded())
      in.dictionary = c->dictionary();
  } else {
    in.count_star = true;
  }
  in.args = f.agg.args;
  if (!f.agg.column2.empty()) in.type2 = g.column(f.agg.column2).type();
  auto state = ops::make_aggregate_state(f.agg, in);
  state->resize(1);
  std::vector<std::int32_t> gid(rows.size(), 0);
  if (!c) {
    state->update(nullptr, gid);
  } else {
    const Column x = c->take(rows);
    if (!f.agg.column2.empty()) {
      state->update_pair(x, g.column(f.agg.column2).take(rows), gid);
    } else {
      state->update(&x, gid);
    }
  }
  std::string overflow;
  const Column out = state->finalize(&overflow);
  if (!overflow.empty()) return "<overflow>";
  return cell(out, 0);
}

/// Per global row, the rendered features.
std::vector<std::string> reference(const Table& g, const WindowSpec& spec) {
  const idx_t n = g.num_rows();
  std::vector<std::string> out(static_cast<size_t>(n));
  // Partitions by rendered keys.
  std::map<std::string, std::vector<idx_t>> parts;
  for (idx_t r = 0; r < n; ++r)
    parts[render(g, r, spec.partition_by)].push_back(r);
  for (auto& [key, rows] : parts) {
    std::stable_sort(rows.begin(), rows.end(), [&](idx_t a, idx_t b) {
      return cmp(order_of(g, spec.order_by, a), order_of(g, spec.order_by, b)) < 0;
    });
    for (size_t pos = 0; pos < rows.size(); ++pos) {
      const idx_t r = rows[pos];
      const OrderValue t = order_of(g, spec.order_by, r);
      std::string line;
      for (const auto& f : spec.features) {
        std::string v;
        switch (f.function) {
          case WindowFunction::kRowNumber:
            v = std::to_string(pos + 1);
            break;
          case WindowFunction::kRank:
          case WindowFunction::kDenseRank: {
            std::vector<OrderValue> less;
            for (idx_t j : rows) {
              const OrderValue o = order_of(g, spec.order_by, j);
              if (cmp(o, t) < 0) {
                bool seen = false;
                for (const auto& l : less)
                  seen = seen || cmp(l, o) == 0;
                if (!seen || f.function == WindowFunction::kRank) less.push_back(o);
              }
            }
            v = std::to_string(less.size() + 1);
            break;
          }
          case WindowFunction::kLag:
          case WindowFunction::kLead: {
            const auto j = f.function == WindowFunction::kLag
                               ? static_cast<__int128>(pos) - f.offset
                               : static_cast<__int128>(pos) + f.offset;
            if (j >= 0 && j < static_cast<__int128>(rows.size()))
              v = cell(g.column(f.column), rows[static_cast<size_t>(j)]);
            else if (f.default_value.kind == ops::WindowLiteral::Kind::kNone)
              v = "<null>";
            else
              v = f.default_value.text;
            break;
          }
          case WindowFunction::kAggregate: {
            std::vector<idx_t> frame;
            for (size_t q = 0; q < rows.size(); ++q) {
              const idx_t j = rows[q];
              bool in = false;
              switch (f.frame.kind) {
                case FrameKind::kPartition:
                  in = true;
                  break;
                case FrameKind::kRows:
                  in = q <= pos &&
                       (f.frame.unbounded || pos - q <= static_cast<size_t>(f.frame.rows));
                  break;
                case FrameKind::kRange:
                  in = in_range(t, order_of(g, spec.order_by, j), f);
                  break;
              }
              if (f.frame.exclude_current && j == r) in = false;
              if (in) frame.push_back(j);
            }
            v = aggregate_rows(g, f, frame);
            break;
          }
        }
        line += v + '\x1f';
      }
      out[static_cast<size_t>(r)] = line;
    }
  }
  return out;
}

std::vector<std::string> feature_rows(const Table& t, const WindowSpec& spec) {
  std::vector<std::string> names;
  for (const auto& f : spec.features)
    names.push_back(f.output);
  std::vector<std::string> out;
  for (idx_t r = 0; r < t.num_rows(); ++r)
    out.push_back(render(t, r, names));
  return out;
}

void check(const mpi::Comm& comm, std::uint64_t seed, idx_t base, bool only_first,
           const Shape& shape, WindowSpec spec, const ops::WindowOptions& options = {}) {
  const Table local = piece(seed, comm.rank(), rows_for(comm.rank(), base, only_first), shape);
  set_range_units(spec, local);
  const Table out = ops::window(comm, local, spec, options);
  ASSERT_EQ(out.num_rows(), local.num_rows());
  ASSERT_EQ(out.num_columns(), local.num_columns() + static_cast<int>(spec.features.size()));
  for (idx_t r = 0; r < local.num_rows(); ++r)
    ASSERT_EQ(render_all(local, r), render(out, r, local.schema().names())) << "row " << r;
  const auto got = allgather_strings(comm, feature_rows(out, spec));
  const auto want = reference(global(seed, comm.size(), base, only_first, shape), spec);
  ASSERT_EQ(got.size(), want.size());
  std::vector<std::string> names;
  for (const auto& f : spec.features)
    names.push_back(f.output);
  for (size_t r = 0; r < got.size(); ++r) {
    if (got[r] == want[r]) continue;
    ADD_FAILURE() << fmt::format("seed {} row {}: features [{}]\n got  {}\n want {}", seed, r,
                                 fmt::join(names, ","), got[r], want[r]);
    return;
  }
}

WindowSpec make(std::vector<std::string> keys, std::string order) {
  WindowSpec spec;
  spec.partition_by = std::move(keys);
  spec.order_by = std::move(order);
  spec.features = all_features(!spec.order_by.empty());
  return spec;
}

TEST(Window, EveryFeatureKeyAndOrderType) {
  mpi::Comm comm;
  for (const std::string order : {"ts", "ti", "tf"}) {
    SCOPED_TRACE(order);
    check(comm, 1, 120, false, {}, make({"k"}, order));
    check(comm, 2, 100, false, {}, make({"s", "p"}, order));  // dictionary + plain keys
  }
  check(comm, 3, 40, false, {}, make({"p"}, ""));  // no order: the input's row order
}

TEST(Window, OnePartitionEmptyRanksTinyRounds) {
  mpi::Comm comm;
  ops::WindowOptions tiny;
  tiny.shuffle.round_bytes = 64;
  tiny.batch_rows = 5;
  Shape one;
  one.one_key = true;
  check(comm, 11, 70, true, one, make({"k"}, "ts"), tiny);  // all rows on rank 0, one key
  check(comm, 12, 45, false, {}, make({}, "tf"), tiny);     // no keys: one partition on rank 0
  check(comm, 13, 0, false, {}, make({"k"}, "ti"));         // nothing anywhere
  Shape many;
  many.key_range = 200;
  many.time_range = 1000;
  check(comm, 14, 80, false, many, make({"k", "p"}, "ti"), tiny);
  Shape no_nulls;
  no_nulls.null_rate = 0;
  check(comm, 15, 50, false, no_nulls, make({"s"}, "tf"));
}

TEST(Window, SameResultAsOneRank) {
  mpi::Comm comm;
  mpi::Comm self(MPI_COMM_SELF);
  WindowSpec spec = make({"k", "s"}, "ts");
  const Table local = piece(21, comm.rank(), 40 + 9 * comm.rank(), {});
  set_range_units(spec, local);
  auto rows = [](const Table& t) {
    std::vector<std::string> out;
    for (idx_t r = 0; r < t.num_rows(); ++r)
      out.push_back(render_all(t, r));
    return out;
  };
  const auto got = allgather_strings(comm, rows(ops::window(comm, local, spec)));
  Table all = piece(21, 0, 40, {});
  for (int r = 1; r < comm.size(); ++r)
    all.append(piece(21, r, 40 + 9 * r, {}));
  EXPECT_EQ(got, rows(ops::window(self, all, spec)));
}

// ---- buckets ----------------------------------------------------------------------------------

std::vector<std::string> bucket_reference(const Table& g, const WindowSpec& spec) {
  std::map<std::string, std::vector<idx_t>> groups;
  const Column& o = g.column(spec.order_by);
  const std::int64_t wdt = *spec.bucket;
  for (idx_t r = 0; r < g.num_rows(); ++r) {
    std::string b = "<null>";
    if (o.is_valid(r)) {
      const std::int64_t x = o.values<std::int64_t>()[static_cast<size_t>(r)];
      const std::int64_t q =
          static_cast<std::int64_t>(std::floor(static_cast<double>(x) / static_cast<double>(wdt)));
      Column one(o.type());
      one.values<std::int64_t>().push_back(q * wdt);
      b = cell(one, 0);
    }
    groups[render(g, r, spec.partition_by) + b + '\x1f'].push_back(r);
  }
  std::vector<std::string> out;
  for (const auto& [key, rows] : groups) {
    std::string line = key;
    for (const auto& f : spec.features)
      line += aggregate_rows(g, f, rows) + '\x1f';
    out.push_back(line);
  }
  std::sort(out.begin(), out.end());
  return out;
}

TEST(Window, Buckets) {
  mpi::Comm comm;
  mpi::Comm self(MPI_COMM_SELF);
  for (const std::string order : {"ts", "ti"}) {
    WindowSpec spec;
    spec.partition_by = {"k", "p"};
    spec.order_by = order;
    spec.bucket = order == "ts" ? 4'000'000 : 3;
    spec.bucket_duration = order == "ts";
    spec.features = {agg("n", "count", ""), agg("sum_v", "sum", "v"), agg("mean_iv", "mean", "iv"),
                     agg("med", "median", "v"), agg("mx", "max", "sv")};
    ops::WindowOptions tiny;
    tiny.shuffle.round_bytes = 64;
    const Table local = piece(31, comm.rank(), 50 + 7 * comm.rank(), {});
    const Table out = ops::window(comm, local, spec, tiny);
    std::vector<std::string> lines;
    for (idx_t r = 0; r < out.num_rows(); ++r)
      lines.push_back(render_all(out, r));
    const auto got = allgather_strings(comm, lines);
    Table all = piece(31, 0, 50, {});
    for (int r = 1; r < comm.size(); ++r)
      all.append(piece(31, r, 50 + 7 * r, {}));
    const Table one = ops::window(self, all, spec);
    std::vector<std::string> one_lines;
    for (idx_t r = 0; r < one.num_rows(); ++r)
      one_lines.push_back(render_all(one, r));
    EXPECT_EQ(got, one_lines) << order;  // same rows in the same order at every rank count
    auto sorted = got;
    std::sort(sorted.begin(), sorted.end());
    EXPECT_EQ(sorted, bucket_reference(all, spec)) << order;
    EXPECT_EQ(out.schema().field(2).name, order + "_bucket");
  }
}

// ---- errors -----------------------------------------------------------------------------------

TEST(Window, SchemaErrors) {
  const Table t = piece(1, 0, 0, {});
  auto expect_error = [&](WindowSpec spec, const std::string& part) {
    try {
      ops::window_output_schema(t.schema(), spec);
      ADD_FAILURE() << "no error; expected one containing: " << part;
    } catch (const ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
    }
  };
  auto one = [](std::vector<std::string> keys, std::string order, WindowFeature f) {
    WindowSpec s;
    s.partition_by = std::move(keys);
    s.order_by = std::move(order);
    s.features = {std::move(f)};
    return s;
  };
  expect_error(one({"kk"}, "ts", simple("r", WindowFunction::kRowNumber)), "did you mean");
  expect_error(one({"k"}, "tss", simple("r", WindowFunction::kRowNumber)), "order_by column");
  expect_error(one({"k"}, "", simple("r", WindowFunction::kRank)), "needs order_by");
  expect_error(one({"k"}, "", agg("a", "sum", "v", FrameKind::kRange, 3)), "needs order_by");
  expect_error(one({"k"}, "ts", agg("a", "sum", "sv", FrameKind::kRows, 3)), "sum");
  expect_error(one({"k"}, "ts", agg("a", "sum", "vv", FrameKind::kRows, 3)), "'vv'");
  expect_error(one({"k"}, "p", agg("a", "count", "", FrameKind::kRange, 3)),
               "a number or a timestamp");
  expect_error(one({"k"}, "ts", agg("a", "count", "", FrameKind::kRange, 3)), "duration");
  WindowFeature d = agg("a", "count", "", FrameKind::kRange, 0);
  d.frame.duration = true;
  d.frame.micros = 5;
  expect_error(one({"k"}, "ti", d), "is a duration");
  expect_error(one({"k"}, "ti", agg("a", "count", "", FrameKind::kRange, 1.5)), "whole number");
  expect_error(one({"k"}, "ts", shift("a", WindowFunction::kLag, "v", -1)), ">= 0");
  expect_error(
      one({"k"}, "ts",
          shift("a", WindowFunction::kLag, "iv", 1, {ops::WindowLiteral::Kind::kString, "x"})),
      "does not fit");
  expect_error(
      one({"k"}, "ts",
          shift("a", WindowFunction::kLag, "ts", 1, {ops::WindowLiteral::Kind::kString, "nope"})),
      "does not fit");
  expect_error(one({"k"}, "ts", agg("k", "count", "")), "name of a column");
  expect_error(one({"k"}, "ts", agg("a", "top_k", "v", FrameKind::kRows, 1, false, {2})),
               "several rows");
  WindowSpec b = one({"k"}, "ts", simple("r", WindowFunction::kRowNumber));
  b.bucket = 1000;
  b.bucket_duration = true;
  expect_error(b, "cannot be used with bucket");
  b.features = {agg("n", "count", "", FrameKind::kRows, 2)};
  expect_error(b, "drop the frame");
  b.features = {agg("n", "count", "")};
  b.order_by = "tf";
  b.bucket_duration = false;
  expect_error(b, "timestamp (bucket: 1h) or an integer");
  b.order_by = "ts";
  expect_error(b, "plain number");
}

TEST(Window, OverflowFailsOnEveryRank) {
  mpi::Comm comm;
  WindowSpec spec;
  spec.partition_by = {"k"};
  spec.order_by = "ti";
  spec.features = {agg("s", "sum", "w", FrameKind::kRows, 3)};
  // Rank 0 only: the error must reach every rank (agreed), not hang the others.
  const Table local = piece(5, comm.rank(), comm.rank() == 0 ? 30 : 0, {});
  EXPECT_THROW(ops::window(comm, local, spec), Error);
}

}  // namespace
