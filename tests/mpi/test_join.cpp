// Joins at every rank count against a brute-force nested-loop reference over the whole
// distributed tables (which every rank regenerates from the seeds): every `how`, every strategy,
// int32-with-int64, float, dictionary strings from two different dictionaries, plain strings,
// dictionary-with-plain and multi-column keys, null keys, skewed keys, empty ranks and tiny
// shuffle rounds; and the skew bound: one key holding half the rows leaves the busiest rank at
// most 1.5x the mean join work.

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <optional>
#include <random>

#include "ops_test_support.hpp"
#include "shardflow/mpi/allreduce.hpp"
#include "shardflow/ops/join.hpp"

using namespace shardflow;
using namespace shardflow::ops_test;
using ops::JoinHow;
using ops::JoinStrategy;

namespace {

table::DictionaryPtr left_dictionary() {
  static const auto d = std::make_shared<const table::Dictionary>(
      std::vector<std::string>{"apple", "banana", "cherry", "date", "fig"});
  return d;
}
table::DictionaryPtr right_dictionary() {
  static const auto d = std::make_shared<const table::Dictionary>(
      std::vector<std::string>{"", "banana", "cherry", "fig", "grape", "kiwi"});
  return d;
}
const std::vector<std::string> kWords = {"apple", "banana", "cherry", "date", "fig",
                                         "",      "grape",  "kiwi",   "lemon"};

struct Shape {
  int key_range = 12;
  double null_rate = 0.1;
  double heavy = 0.0;  // fraction of rows whose k is 7
};

// Left: k int32, s dictionary string, p plain string, f float64 key, v float64, id int64.
// Right: k int64, s dictionary string (another dictionary), p plain string, f float64, v int64,
// w string (dictionary).
Table piece(bool left, std::uint64_t seed, int rank, idx_t rows, const Shape& o) {
  std::mt19937_64 rng(seed * 7919 + static_cast<std::uint64_t>(rank) * 31 + (left ? 0 : 17));
  std::uniform_real_distribution<double> u(0.0, 1.0);
  auto null = [&] { return u(rng) < o.null_rate; };
  Column k(left ? DataType::kInt32 : DataType::kInt64), s(DataType::kString), f(DataType::kFloat64),
      v(left ? DataType::kFloat64 : DataType::kInt64), id(DataType::kInt64), w(DataType::kString);
  Column p = Column::plain_strings();
  const auto dict = left ? left_dictionary() : right_dictionary();
  s.set_dictionary(dict);
  w.set_dictionary(left_dictionary());
  const double fkeys[] = {0.5, 1.5, -2.25, 3.0};
  for (idx_t r = 0; r < rows; ++r) {
    const bool hv = u(rng) < o.heavy;
    const auto kv = hv ? 7 : static_cast<std::int64_t>(rng() % static_cast<unsigned>(o.key_range));
    if (left)
      k.values<std::int32_t>().push_back(static_cast<std::int32_t>(kv));
    else
      k.values<std::int64_t>().push_back(kv);
    k.validity().push_back(hv || !null());
    s.codes().push_back(
        static_cast<std::int32_t>(rng() % static_cast<std::uint64_t>(dict->size())));
    s.validity().push_back(!null());
    p.plain().push_back(kWords[rng() % kWords.size()]);
    p.validity().push_back(!null());
    f.values<double>().push_back(fkeys[rng() % 4]);
    f.validity().push_back(!null());
    if (left)
      v.values<double>().push_back(static_cast<double>(rng() % 1000) / 8.0);
    else
      v.values<std::int64_t>().push_back(static_cast<std::int64_t>(rng() % 1000));
    id.values<std::int64_t>().push_back(static_cast<std::int64_t>(rank) * 1000000 + r);
    w.codes().push_back(static_cast<std::int32_t>(rng() % 5));
  }
  for (Column* c : {&k, &s, &p, &f})
    c->compact_validity();
  Table t;
  t.add_column("k", std::move(k));
  t.add_column("s", std::move(s));
  t.add_column("p", std::move(p));
  t.add_column("f", std::move(f));
  t.add_column("v", std::move(v));
  t.add_column(left ? "id" : "rid", std::move(id));
  if (!left) t.add_column("w", std::move(w));
  return t;
}

idx_t piece_rows(bool left, int rank, idx_t base, int layout) {
  switch (layout) {
    case 1:  // everything on rank 0
      return rank == 0 ? base : 0;
    case 2:  // the right side is empty
      return left ? base + 11 * rank : 0;
    default:
      return base + (left ? 13 : 7) * rank;
  }
}

Table global(bool left, std::uint64_t seed, int size, idx_t base, int layout, const Shape& o) {
  Table all = piece(left, seed, 0, piece_rows(left, 0, base, layout), o);
  for (int r = 1; r < size; ++r)
    all.append(piece(left, seed, r, piece_rows(left, r, base, layout), o));
  return all;
}

// Brute force: nested loops over the global tables, rows rendered as text (nulls distinct).
std::vector<std::string> reference(const Table& l, const Table& r, const ops::JoinSpec& spec) {
  const auto& lk = spec.left_keys;
  const auto& rk = spec.right_keys;
  // Each row's key tuple as text, or nothing when a key is null (a null key matches nothing).
  auto key_texts = [](const Table& t, const std::vector<std::string>& keys) {
    std::vector<std::optional<std::string>> out(static_cast<size_t>(t.num_rows()));
    for (idx_t i = 0; i < t.num_rows(); ++i) {
      std::string s;
      bool null = false;
      for (const auto& k : keys) {
        null |= !t.column(k).is_valid(i);
        s += t.column(k).to_string_at(i) + '\x1f';
      }
      if (!null) out[static_cast<size_t>(i)] = std::move(s);
    }
    return out;
  };
  const auto lt = key_texts(l, lk);
  const auto rt = key_texts(r, rk);
  auto matches = [&](idx_t i, idx_t j) {
    const auto& a = lt[static_cast<size_t>(i)];
    const auto& b = rt[static_cast<size_t>(j)];
    return a && b && *a == *b;
  };
  std::vector<std::string> right_rest;
  for (const auto& name : r.schema().names())
    if (std::find(rk.begin(), rk.end(), name) == rk.end()) right_rest.push_back(name);
  auto left_cells = [&](idx_t i) { return render_all(l, i); };
  auto right_cells = [&](idx_t j) { return render(r, j, right_rest); };
  auto null_right = [&] {
    std::string s;
    for (size_t c = 0; c < right_rest.size(); ++c)
      s += std::string("<null>") + '\x1f';
    return s;
  };
  auto left_from_right = [&](idx_t j) {  // a right row's keys in the left key columns
    std::string s;
    for (const auto& name : l.schema().names()) {
      const auto it = std::find(lk.begin(), lk.end(), name);
      s += it == lk.end() ? std::string("<null>")
                          : cell(r.column(rk[static_cast<size_t>(it - lk.begin())]), j);
      s += '\x1f';
    }
    return s;
  };
  std::vector<std::string> out;
  std::vector<bool> right_matched(static_cast<size_t>(r.num_rows()), false);
  for (idx_t i = 0; i < l.num_rows(); ++i) {
    bool any = false;
    for (idx_t j = 0; j < r.num_rows(); ++j) {
      if (!matches(i, j)) continue;
      any = true;
      right_matched[static_cast<size_t>(j)] = true;
      if (spec.how != JoinHow::kSemi && spec.how != JoinHow::kAnti)
        out.push_back(left_cells(i) + right_cells(j));
    }
    if (spec.how == JoinHow::kSemi && any) out.push_back(left_cells(i));
    if (spec.how == JoinHow::kAnti && !any) out.push_back(left_cells(i));
    if ((spec.how == JoinHow::kLeft || spec.how == JoinHow::kFull) && !any)
      out.push_back(left_cells(i) + null_right());
  }
  if (spec.how == JoinHow::kRight || spec.how == JoinHow::kFull) {
    for (idx_t j = 0; j < r.num_rows(); ++j)
      if (!right_matched[static_cast<size_t>(j)])
        out.push_back(left_from_right(j) + right_cells(j));
  }
  std::sort(out.begin(), out.end());
  return out;
}

ops::JoinStats check_join(const mpi::Comm& comm, const Table& ll, const Table& lr, const Table& gl,
                          const Table& gr, const ops::JoinSpec& spec,
                          const ops::JoinOptions& options) {
  ops::JoinStats stats;
  const Table out = ops::join(comm, ll, lr, spec, options, &stats);
  EXPECT_EQ(out.schema(), ops::join_output_schema(ll.schema(), lr.schema(), spec));
  std::vector<std::string> rows;
  for (idx_t i = 0; i < out.num_rows(); ++i)
    rows.push_back(render_all(out, i));
  std::vector<std::string> got = allgather_strings(comm, rows);
  std::sort(got.begin(), got.end());
  if (!comm.is_root()) return stats;  // every rank holds all rows: one reference is enough
  const auto want = reference(gl, gr, spec);
  EXPECT_EQ(got.size(), want.size());
  EXPECT_TRUE(got == want);
  if (got != want) {
    for (size_t i = 0; i < std::min<size_t>(5, std::max(got.size(), want.size())); ++i)
      ADD_FAILURE() << "row " << i << ": got '" << (i < got.size() ? got[i] : "-") << "' want '"
                    << (i < want.size() ? want[i] : "-") << "'";
  }
  return stats;
}

const std::vector<JoinHow> kHows = {JoinHow::kInner, JoinHow::kLeft, JoinHow::kRight,
                                    JoinHow::kFull,  JoinHow::kSemi, JoinHow::kAnti};

void run_matrix(const mpi::Comm& comm, std::uint64_t seed, idx_t base, int layout,
                const Shape& shape, const std::vector<std::vector<std::string>>& left_keys,
                const std::vector<std::vector<std::string>>& right_keys, idx_t round_bytes) {
  const Table ll =
      piece(true, seed, comm.rank(), piece_rows(true, comm.rank(), base, layout), shape);
  const Table lr =
      piece(false, seed, comm.rank(), piece_rows(false, comm.rank(), base, layout), shape);
  const Table gl = global(true, seed, comm.size(), base, layout, shape);
  const Table gr = global(false, seed, comm.size(), base, layout, shape);
  for (size_t ks = 0; ks < left_keys.size(); ++ks) {
    for (JoinHow how : kHows) {
      for (JoinStrategy strategy :
           {JoinStrategy::kShuffle, JoinStrategy::kBroadcast, JoinStrategy::kAuto}) {
        ops::JoinSpec spec;
        spec.left_keys = left_keys[ks];
        spec.right_keys = right_keys[ks];
        spec.how = how;
        spec.strategy = strategy;
        ops::JoinOptions options;
        options.shuffle.round_bytes = round_bytes;
        SCOPED_TRACE(fmt::format("keys [{}]/[{}] how {} strategy {} layout {} seed {}",
                                 fmt::join(spec.left_keys, ","), fmt::join(spec.right_keys, ","),
                                 ops::to_string(how), ops::to_string(strategy), layout, seed));
        const auto stats = check_join(comm, ll, lr, gl, gr, spec, options);
        if (comm.size() > 1 && strategy != JoinStrategy::kAuto) {
          EXPECT_EQ(stats.strategy, strategy);
        }
      }
    }
  }
}

}  // namespace

TEST(Join, EveryHowStrategyAndKeyType) {
  mpi::Comm comm;
  // s with s: two different dictionaries; s with p: dictionary with plain; p with p: plain. The
  // left s twice, with the right s (the union of both dictionaries) and with w (s's own
  // dictionary): one left column in two normalized forms.
  const std::vector<std::vector<std::string>> lk = {{"k"}, {"s"},      {"p"},     {"s"},
                                                    {"f"}, {"k", "s"}, {"s", "s"}};
  const std::vector<std::vector<std::string>> rk = {{"k"}, {"s"},      {"p"},     {"p"},
                                                    {"f"}, {"k", "s"}, {"s", "w"}};
  run_matrix(comm, 3, 40, 0, Shape{}, lk, rk, idx_t{64} << 20);
}

TEST(Join, EmptyRanksTinyRoundsAndSkew) {
  mpi::Comm comm;
  const std::vector<std::vector<std::string>> k = {{"k"}};
  const std::vector<std::vector<std::string>> pk = {{"p", "k"}};
  run_matrix(comm, 5, 50, 1, Shape{}, pk, pk, 64);  // every row on rank 0
  run_matrix(comm, 5, 50, 2, Shape{}, k, k, 64);    // the right side empty
  // Half the rows under one key (heavy-key splitting with replication), and many null keys.
  run_matrix(comm, 9, 60, 0, Shape{.key_range = 20, .null_rate = 0.3, .heavy = 0.5}, pk, pk, 256);
}

TEST(Join, SuffixAndSchemaErrors) {
  mpi::Comm comm;
  const Table l = piece(true, 1, comm.rank(), 5, Shape{});
  const Table r = piece(false, 1, comm.rank(), 5, Shape{});
  ops::JoinSpec spec{{"k"}, {"k"}, JoinHow::kInner, "_r", JoinStrategy::kAuto};
  const auto schema = ops::join_output_schema(l.schema(), r.schema(), spec);
  EXPECT_EQ(fmt::format("{}", fmt::join(schema.names(), ",")),
            "k,s,p,f,v,id,s_r,p_r,f_r,v_r,rid,w");
  EXPECT_EQ(schema.field(0).type, DataType::kInt64);  // int32 with int64
  auto error = [&](ops::JoinSpec s) {
    try {
      ops::join_output_schema(l.schema(), r.schema(), s);
    } catch (const ConfigError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_EQ(error({{"k", "s"}, {"k"}, JoinHow::kInner, "_right", JoinStrategy::kAuto}),
            "the join has 2 left key(s) (k, s) but 1 right key(s) (k); give one right key per "
            "left key");
  EXPECT_EQ(error({{"k"}, {"s"}, JoinHow::kInner, "_right", JoinStrategy::kAuto}),
            "join key 'k' is int32 on the left but 's' is string on the right; these types cannot "
            "be compared (keys must have the same type, or be int32/int64 or float32/float64)");
  EXPECT_NE(error({{"kk"}, {"k"}, JoinHow::kInner, "_right", JoinStrategy::kAuto}).find("'k'"),
            std::string::npos);
  // "v" collides and "v_right"... is free; force a collision of the suffixed name.
  Table l2 = l;
  Column extra(DataType::kInt64);
  extra.values<std::int64_t>().assign(static_cast<size_t>(l2.num_rows()), 0);
  l2.add_column("v_right", std::move(extra));
  EXPECT_NE(error({{"k"}, {"k"}, JoinHow::kInner, "_right", JoinStrategy::kAuto}), "");
  try {
    ops::join_output_schema(l2.schema(), r.schema(),
                            {{"k"}, {"k"}, JoinHow::kInner, "_right", JoinStrategy::kAuto});
    ADD_FAILURE() << "no error for a taken suffixed name";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("choose another suffix"), std::string::npos);
  }
}

TEST(Join, AutoStrategyFollowsBroadcastLimit) {
  mpi::Comm comm;
  if (comm.size() == 1) GTEST_SKIP() << "one rank moves nothing";
  const Table l = piece(true, 2, comm.rank(), 200, Shape{});
  const Table r = piece(false, 2, comm.rank(), 20, Shape{});
  ops::JoinSpec spec{{"k"}, {"k"}, JoinHow::kInner, "_right", JoinStrategy::kAuto};
  ops::JoinStats stats;
  ops::join(comm, l, r, spec, {}, &stats);
  EXPECT_EQ(stats.strategy, JoinStrategy::kBroadcast);
  EXPECT_FALSE(stats.broadcast_left);  // the right side is smaller
  ops::JoinSpec swapped = spec;
  swapped.how = JoinHow::kRight;
  ops::join(comm, r, l, swapped, {}, &stats);
  EXPECT_EQ(stats.strategy, JoinStrategy::kBroadcast);
  EXPECT_TRUE(stats.broadcast_left);
  ops::JoinOptions small;
  small.broadcast_max_bytes = 16;
  ops::join(comm, l, r, spec, small, &stats);
  EXPECT_EQ(stats.strategy, JoinStrategy::kShuffle);
}

// One key holds half the rows of the left side, and they all start on rank 0 (the other ranks
// hold the other half): with heavy-key splitting the busiest rank joins at most 1.5x the mean
// number of rows; without it, the key's rank is overloaded (what the bound protects against). The
// inner join's row count is checked against key counts.
TEST(Join, HeavyKeyIsSpreadOverRanks) {
  mpi::Comm comm;
  const int p = comm.size();
  constexpr idx_t kHeavy = 6000;
  const Shape heavy{.key_range = 4000, .null_rate = 0.0, .heavy = 1.0};
  const Shape plain{.key_range = 4000, .null_rate = 0.0};
  auto left_piece = [&](int rank) {
    if (p == 1)
      return piece(true, 21, rank, 2 * kHeavy,
                   Shape{.key_range = 4000, .null_rate = 0.0, .heavy = 0.5});
    return rank == 0 ? piece(true, 21, rank, kHeavy, heavy)
                     : piece(true, 21, rank, kHeavy / (p - 1), plain);
  };
  const Table l = left_piece(comm.rank());
  const Table r = piece(false, 21, comm.rank(), 3000, plain);
  // Reference row count from key counts over the global tables.
  Table gl = left_piece(0), gr = piece(false, 21, 0, 3000, plain);
  for (int rank = 1; rank < p; ++rank) {
    gl.append(left_piece(rank));
    gr.append(piece(false, 21, rank, 3000, plain));
  }
  std::map<std::int64_t, idx_t> right_count;
  for (auto v : gr.column("k").values<std::int64_t>())
    ++right_count[v];
  idx_t expected = 0;
  for (auto v : gl.column("k").values<std::int32_t>())
    expected += right_count.count(v) ? right_count[v] : 0;

  ops::JoinSpec spec{{"k"}, {"k"}, JoinHow::kInner, "_right", JoinStrategy::kShuffle};
  auto imbalance = [&](bool split, ops::JoinStats& stats) {
    ops::JoinOptions options;
    options.split_heavy_keys = split;
    const Table out = ops::join(comm, l, r, spec, options, &stats);
    EXPECT_EQ(mpi::allreduce_sum(comm, out.num_rows()), expected);
    idx_t total = 0, most = 0;
    for (idx_t w : stats.work_per_rank) {
      total += w;
      most = std::max(most, w);
    }
    return static_cast<double>(most) / (static_cast<double>(total) / p);
  };
  ops::JoinStats stats;
  const double with = imbalance(true, stats);
  EXPECT_LE(with, 1.5) << fmt::format("work per rank [{}]", fmt::join(stats.work_per_rank, ", "));
  if (p > 1) {
    EXPECT_GE(stats.heavy_keys, 1);
  }
  if (p >= 3) {  // at 2 ranks the unsplit key leaves its rank at 4/3 of the mean
    const double without = imbalance(false, stats);
    EXPECT_GT(without, 1.5) << fmt::format("work per rank [{}]",
                                           fmt::join(stats.work_per_rank, ", "));
  }
}
