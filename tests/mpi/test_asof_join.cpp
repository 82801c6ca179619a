// As-of join at every rank count against a brute-force reference over the whole distributed
// tables (which every rank regenerates from the seeds): every direction, with and without a
// tolerance, ties on time, null keys and times, NaN times, integer / string (dictionary on one
// side, other dictionary or plain on the other) / mixed int32-int64 / multi-column keys, no keys,
// empty ranks, all rows under one key, tiny shuffle rounds; and the distributed result equal to
// the one-rank result on the same table (rank-count independence). Outputs are compared in
// order: the output is distributed and ordered like the left table.

#include <gtest/gtest.h>
#include <mpi.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "ops_test_support.hpp"
#include "shardflow/common/error.hpp"
#include "shardflow/ops/asof_join.hpp"

using namespace shardflow;
using namespace shardflow::ops_test;
using ops::AsofDirection;
using ops::AsofJoinSpec;

namespace {

table::DictionaryPtr dictionary(std::vector<std::string> values) {
  std::sort(values.begin(), values.end());
  return std::make_shared<const table::Dictionary>(std::move(values));
}

const char* kWords[] = {"ant", "bee", "cat", "dog", "eel"};

struct Shape {
  int key_range = 4;
  int time_range = 12;  // small: many ties on time
  double null_rate = 0.1;
  bool one_key = false;
};

/// Left (right = false) or right piece of rank `rank`. Left: lid (global-ish id), k int32, s
/// dictionary string, p plain string, ts timestamp, ti int64, tf float64 (NaN sometimes), lv.
/// Right: k int64, s dictionary string (another dictionary), p dictionary string, ts, ti, tf,
/// rv int64, lv float64 (collides with the left's lv).
Table piece(std::uint64_t seed, int rank, idx_t rows, bool right, const Shape& o) {
  std::mt19937_64 rng(seed * 7919 + static_cast<std::uint64_t>(rank) * 2 + (right ? 1 : 0));
  std::uniform_real_distribution<double> u(0.0, 1.0);
  auto null = [&] { return u(rng) < o.null_rate; };
  Column lid(DataType::kInt64), k(right ? DataType::kInt64 : DataType::kInt32),
      s(DataType::kString), ts(DataType::kTimestamp), ti(DataType::kInt64), tf(DataType::kFloat64),
      rv(DataType::kInt64), lv(DataType::kFloat64);
  Column p = right ? Column(DataType::kString) : Column::plain_strings();
  // Another dictionary on the right ("aaa" first), so equal words have different codes.
  s.set_dictionary(right ? dictionary({"aaa", "ant", "bee", "cat", "dog", "eel"})
                         : dictionary({"ant", "bee", "cat", "dog", "eel"}));
  const auto p_dict = dictionary({"ant", "bee", "cat", "dog", "eel"});
  if (right) p.set_dictionary(p_dict);
  Column t32(DataType::kInt32), f32(DataType::kFloat32);  // never null
  for (Column* c : {&k, &s, &p, &ts, &ti, &tf})
    c->ensure_validity();
  for (idx_t r = 0; r < rows; ++r) {
    const int key = o.one_key ? 1 : static_cast<int>(rng() % static_cast<unsigned>(o.key_range));
    lid.values<std::int64_t>().push_back(rank * 100000 + r);
    if (right)
      k.values<std::int64_t>().push_back(key);
    else
      k.values<std::int32_t>().push_back(key);
    k.validity().push_back(o.one_key || !null());
    const int w = o.one_key ? 2 : static_cast<int>(rng() % 5);
    s.codes().push_back(*s.dictionary()->find(kWords[w]));
    s.validity().push_back(o.one_key || !null());
    const int pw = o.one_key ? 3 : static_cast<int>(rng() % 5);
    if (right)
      p.codes().push_back(*p_dict->find(kWords[pw]));
    else
      p.plain().push_back(kWords[pw]);
    p.validity().push_back(o.one_key || !null());
    const auto t = static_cast<std::int64_t>(rng() % static_cast<unsigned>(o.time_range));
    ts.values<std::int64_t>().push_back(1'700'000'000'000'000 + t * 1'000'000);
    ts.validity().push_back(!null());
    ti.values<std::int64_t>().push_back(t - 5);
    ti.validity().push_back(!null());
    tf.values<double>().push_back(u(rng) < 0.05 ? std::nan("") : static_cast<double>(t) * 0.5 - 1);
    tf.validity().push_back(!null());
    t32.values<std::int32_t>().push_back(static_cast<std::int32_t>(t * 3 - 7));
    f32.values<float>().push_back(static_cast<float>(t) * 0.25f);
    rv.values<std::int64_t>().push_back(static_cast<std::int64_t>(rng() % 1000));
    lv.values<double>().push_back(static_cast<double>(rng() % 100) / 4);
  }
  for (Column* c : {&k, &s, &p, &ts, &ti, &tf})
    c->compact_validity();
  Table out;
  if (!right) out.add_column("lid", std::move(lid));
  out.add_column("k", std::move(k));
  out.add_column("s", std::move(s));
  out.add_column("p", std::move(p));
  out.add_column("ts", std::move(ts));
  out.add_column("ti", std::move(ti));
  out.add_column("tf", std::move(tf));
  out.add_column("t32", std::move(t32));
  out.add_column("f32", std::move(f32));
  if (right) out.add_column("rv", std::move(rv));
  out.add_column("lv", std::move(lv));
  return out;
}

/// Rows per rank: `layout` 0 = all ranks, 1 = only rank 0, 2 = only the last rank.
idx_t rows_for(int rank, int size, idx_t base, int layout) {
  if (layout == 1) return rank == 0 ? base : 0;
  if (layout == 2) return rank == size - 1 ? base : 0;
  return base + 13 * rank;
}

Table global_piece(std::uint64_t seed, int size, idx_t base, int layout, bool right,
                   const Shape& o) {
  Table all = piece(seed, 0, rows_for(0, size, base, layout), right, o);
  for (int r = 1; r < size; ++r)
    all.append(piece(seed, r, rows_for(r, size, base, layout), right, o));
  return all;
}

bool time_valid(const Column& c, idx_t r) {
  if (!c.is_valid(r)) return false;
  return c.type() != DataType::kFloat64 || !std::isnan(c.values<double>()[static_cast<size_t>(r)]);
}

long double time_value(const Column& c, idx_t r) {
  if (c.type() == DataType::kFloat64) return c.values<double>()[static_cast<size_t>(r)];
  if (c.type() == DataType::kFloat32) return c.values<float>()[static_cast<size_t>(r)];
  if (c.type() == DataType::kInt32) return c.values<std::int32_t>()[static_cast<size_t>(r)];
  return static_cast<long double>(c.values<std::int64_t>()[static_cast<size_t>(r)]);
}

/// The brute-force as-of join of the whole tables, one rendered row per left row, in left order.
std::vector<std::string> reference(const Table& L, const Table& R, const AsofJoinSpec& spec) {
  const Column& lt = L.column(spec.left_time);
  const Column& rt = R.column(spec.right_time);
  auto keys_valid = [&](const Table& t, const std::vector<std::string>& by, idx_t r) {
    for (const auto& name : by)
      if (!t.column(name).is_valid(r)) return false;
    return true;
  };
  auto keys_equal = [&](idx_t i, idx_t j) {
    for (size_t c = 0; c < spec.left_by.size(); ++c) {
      // By value: rendering compares ints across widths and strings across encodings.
      if (L.column(spec.left_by[c]).to_string_at(i) != R.column(spec.right_by[c]).to_string_at(j))
        return false;
    }
    return true;
  };
  std::vector<std::string> out;
  for (idx_t i = 0; i < L.num_rows(); ++i) {
    idx_t back = -1, fwd = -1;
    if (time_valid(lt, i) && keys_valid(L, spec.left_by, i)) {
      const long double t = time_value(lt, i);
      for (idx_t j = 0; j < R.num_rows(); ++j) {
        if (!time_valid(rt, j) || !keys_valid(R, spec.right_by, j) || !keys_equal(i, j)) continue;
        const long double v = time_value(rt, j);
        // Backward: largest time, then largest row index; forward: smallest time, smallest index.
        if (v <= t && (back < 0 || v >= time_value(rt, back))) back = j;
        if (v >= t && (fwd < 0 || v < time_value(rt, fwd))) fwd = j;
      }
      auto within = [&](idx_t j) {
        return j >= 0 && (!spec.tolerance || std::fabs(time_value(rt, j) - t) <=
                                                 static_cast<long double>(*spec.tolerance));
      };
      if (!within(back)) back = -1;
      if (!within(fwd)) fwd = -1;
    }
    idx_t pick = -1;
    switch (spec.direction) {
      case AsofDirection::kBackward:
        pick = back;
        break;
      case AsofDirection::kForward:
        pick = fwd;
        break;
      case AsofDirection::kNearest: {
        const long double t = time_value(lt, i);
        pick = back;
        if (back < 0 ||
            (fwd >= 0 && std::fabs(time_value(rt, fwd) - t) < std::fabs(t - time_value(rt, back))))
          pick = fwd;
        break;
      }
    }
    std::string row = render_all(L, i);
    for (const auto& name : R.schema().names()) {
      if (std::find(spec.right_by.begin(), spec.right_by.end(), name) != spec.right_by.end())
        continue;
      row += pick >= 0 ? cell(R.column(name), pick) : std::string("<null>");
      row += '\x1f';
    }
    out.push_back(row);
  }
  return out;
}

/// Every rank's output rows, rendered, in rank order (the global order).
std::vector<std::string> gathered_rows(const mpi::Comm& comm, const Table& out) {
  std::vector<std::string> local;
  for (idx_t r = 0; r < out.num_rows(); ++r)
    local.push_back(render_all(out, r));
  return allgather_strings(comm, local);
}

AsofJoinSpec make_spec(std::vector<std::string> by, const std::string& time, AsofDirection d,
                       std::optional<double> tolerance) {
  AsofJoinSpec spec;
  spec.left_by = by;
  spec.right_by = by;
  spec.left_time = spec.right_time = time;
  spec.direction = d;
  spec.tolerance = tolerance;
  return spec;
}

void check(const mpi::Comm& comm, std::uint64_t seed, idx_t base, int left_layout, int right_layout,
           const Shape& shape, const AsofJoinSpec& spec, const ops::AsofJoinOptions& options = {}) {
  const Table left =
      piece(seed, comm.rank(), rows_for(comm.rank(), comm.size(), base, left_layout), false, shape);
  const Table right =
      piece(seed, comm.rank(), rows_for(comm.rank(), comm.size(), base, right_layout), true, shape);
  const Table out = ops::asof_join(comm, left, right, spec, options);
  EXPECT_EQ(out.num_rows(), left.num_rows());  // distributed like the left table
  EXPECT_EQ(out.schema(), ops::asof_join_output_schema(left.schema(), right.schema(), spec));
  const auto got = gathered_rows(comm, out);
  const auto want =
      reference(global_piece(seed, comm.size(), base, left_layout, false, shape),
                global_piece(seed, comm.size(), base, right_layout, true, shape), spec);
  ASSERT_EQ(got.size(), want.size());
  idx_t matched = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(got[i], want[i]) << "row " << i;
    if (got[i] != want[i]) break;
  }
  for (const auto& row : want)
    matched += row.ends_with("<null>\x1f") ? 0 : 1;
  // Every case with data must exercise matches (misses come from null keys and times).
  if (!want.empty() && base > 20) {
    EXPECT_GT(matched, 0);
  }
}

const std::vector<std::vector<std::string>> kByLists = {{"k"}, {"s"}, {"p"}, {"k", "s"}, {}};

TEST(AsofJoin, EveryDirectionKeyAndTimeType) {
  mpi::Comm comm;
  // Each (time type, direction) runs with and without a tolerance, on alternating key lists.
  int parity = 0;
  for (const auto& by : kByLists) {
    ++parity;
    for (const std::string time : {"ts", "ti", "tf"}) {
      ++parity;
      for (auto d : {AsofDirection::kBackward, AsofDirection::kForward, AsofDirection::kNearest}) {
        for (bool tol : {++parity % 2 == 0}) {
          std::optional<double> tolerance;
          if (tol) tolerance = time == "ts" ? 2e6 : (time == "ti" ? 2.0 : 1.0);
          SCOPED_TRACE(fmt::format("by [{}] time {} direction {} tolerance {}", fmt::join(by, ","),
                                   time, ops::to_string(d), tol));
          check(comm, 11, 60, 0, 0, {}, make_spec(by, time, d, tolerance));
        }
      }
    }
  }
}

TEST(AsofJoin, Int32AndFloat32Times) {
  mpi::Comm comm;
  int parity = 0;
  for (const auto& by : std::vector<std::vector<std::string>>{{"s"}, {}}) {
    ++parity;
    for (const std::string time : {"t32", "f32"}) {
      ++parity;
      for (auto d : {AsofDirection::kBackward, AsofDirection::kForward, AsofDirection::kNearest}) {
        for (bool tol : {++parity % 2 == 0}) {
          std::optional<double> tolerance;
          if (tol) tolerance = time == "t32" ? 6.0 : 0.5;
          SCOPED_TRACE(fmt::format("by [{}] time {} direction {} tolerance {}", fmt::join(by, ","),
                                   time, ops::to_string(d), tol));
          check(comm, 12, 60, 0, 0, {}, make_spec(by, time, d, tolerance));
        }
      }
    }
  }
}

TEST(AsofJoin, EmptyRanksOneKeyTinyRounds) {
  mpi::Comm comm;
  ops::AsofJoinOptions tiny;
  tiny.shuffle.round_bytes = 64;
  Shape one_key;
  one_key.one_key = true;
  Shape wide;  // few ties, many keys
  wide.key_range = 8;
  wide.time_range = 1000;
  for (const auto& by : kByLists) {
    for (auto d : {AsofDirection::kBackward, AsofDirection::kForward, AsofDirection::kNearest}) {
      SCOPED_TRACE(fmt::format("by [{}] direction {}", fmt::join(by, ","), ops::to_string(d)));
      const auto spec = make_spec(by, "ti", d, std::nullopt);
      check(comm, 21, 50, 1, 2, {}, spec);        // left on rank 0, right on the last rank
      check(comm, 22, 50, 2, 1, {}, spec, tiny);  // and the other way round, tiny rounds
      check(comm, 23, 0, 0, 0, {}, spec);         // nothing anywhere
      check(comm, 24, 40, 0, 1, one_key, spec, tiny);
      check(comm, 25, 40, 0, 0, wide, make_spec(by, "ts", d, 2e8));
      Shape no_nulls;  // every right row is sent, none dropped
      no_nulls.null_rate = 0;
      check(comm, 27, 50, 0, 0, no_nulls, spec, tiny);
      // Right empty everywhere, left not: every right column null.
      {
        const Table left =
            piece(26, comm.rank(), rows_for(comm.rank(), comm.size(), 30, 0), false, {});
        const Table right = piece(26, comm.rank(), 0, true, {});
        const Table out = ops::asof_join(comm, left, right, spec);
        const auto got = gathered_rows(comm, out);
        const auto want = reference(global_piece(26, comm.size(), 30, 0, false, {}),
                                    piece(26, 0, 0, true, {}), spec);
        EXPECT_EQ(got, want);
      }
    }
  }
}

TEST(AsofJoin, DifferentKeyNamesAndSuffix) {
  mpi::Comm comm;
  AsofJoinSpec spec = make_spec({}, "ts", AsofDirection::kBackward, std::nullopt);
  spec.left_by = {"p", "k"};
  spec.right_by = {"s", "k"};  // plain strings on the left against dictionary strings
  spec.right_time = "ts";
  spec.suffix = "_r";
  check(comm, 31, 70, 0, 0, {}, spec);
  const Table l = piece(31, 0, 0, false, {});
  const Table r = piece(31, 0, 0, true, {});
  const auto schema = ops::asof_join_output_schema(l.schema(), r.schema(), spec);
  EXPECT_TRUE(schema.find("lv_r"));
  EXPECT_TRUE(schema.find("p_r"));  // right p is not a key here
  EXPECT_FALSE(schema.find("s_r"));
  EXPECT_TRUE(schema.find("rv"));
}

/// The distributed result equals the one computed by a single process on the whole table.
TEST(AsofJoin, SameResultAsOneRank) {
  mpi::Comm comm;
  mpi::Comm self(MPI_COMM_SELF);
  for (const auto& by : kByLists) {
    for (auto d : {AsofDirection::kBackward, AsofDirection::kForward, AsofDirection::kNearest}) {
      const auto spec = make_spec(by, "ts", d, 3e6);
      Shape shape;
      shape.time_range = 40;
      const Table left = piece(41, comm.rank(), 80 + 7 * comm.rank(), false, shape);
      const Table right = piece(41, comm.rank(), 90 - 11 * comm.rank(), true, shape);
      const auto got = gathered_rows(comm, ops::asof_join(comm, left, right, spec));
      Table all_left = piece(41, 0, 80, false, shape), all_right = piece(41, 0, 90, true, shape);
      for (int r = 1; r < comm.size(); ++r) {
        all_left.append(piece(41, r, 80 + 7 * r, false, shape));
        all_right.append(piece(41, r, 90 - 11 * r, true, shape));
      }
      const auto one = gathered_rows(self, ops::asof_join(self, all_left, all_right, spec));
      EXPECT_EQ(got, one) << fmt::format("by [{}] {}", fmt::join(by, ","), ops::to_string(d));
    }
  }
}

TEST(AsofJoin, SchemaErrors) {
  const Table l = piece(1, 0, 0, false, {});
  const Table r = piece(1, 0, 0, true, {});
  auto expect_error = [&](AsofJoinSpec spec, const std::string& needle) {
    try {
      ops::asof_join_output_schema(l.schema(), r.schema(), spec);
      ADD_FAILURE() << "no error for " << needle;
    } catch (const ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  auto spec = make_spec({"k"}, "ts", AsofDirection::kBackward, std::nullopt);
  auto s = spec;
  s.left_time = "tss";
  expect_error(s, "did you mean 'ts'");
  s = spec;
  s.left_by = {"kk"};
  expect_error(s, "'kk' is not a column of the left table");
  s = spec;
  s.right_by = {"s"};
  expect_error(s, "key types must match");
  s = spec;
  s.left_time = "ti";
  expect_error(s, "the types must be equal");
  s = spec;
  s.left_time = s.right_time = "s";
  expect_error(s, "must be a timestamp or a number");
  s = spec;
  s.tolerance = -1;
  expect_error(s, "tolerance must be");
  s = spec;
  s.suffix = "";  // lv + "" collides with lv
  expect_error(s, "choose another suffix");
}

/// A spec error is the same ConfigError on every rank, with no rank left waiting.
TEST(AsofJoin, ErrorOnEveryRank) {
  mpi::Comm comm;
  const Table l = piece(2, comm.rank(), 5, false, {});
  const Table r = piece(2, comm.rank(), 5, true, {});
  auto spec = make_spec({"nope"}, "ts", AsofDirection::kBackward, std::nullopt);
  EXPECT_THROW(ops::asof_join(comm, l, r, spec), ConfigError);
}

}  // namespace
