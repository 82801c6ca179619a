// Dedup and union at every rank count against brute-force references over the whole table.
// Dedup: keys of every type (null keys equal, -0.0 == 0.0, NaN == NaN), keep first/last, with
// and without an order column (nulls never win, ties by global row index), all rows under one
// key, empty ranks, tiny shuffle rounds; the output is the input filtered, on the input's ranks.
// Union: global order (every row of input 1, then input 2, ...), balanced ranges, columns
// matched by name, dictionaries unified or converted to plain strings, schema errors.

#include <gtest/gtest.h>

#include <cmath>

#include "shardflow/mpi/allreduce.hpp"
#include "shardflow/ops/dedup.hpp"
#include "shardflow/ops/sort_keys.hpp"
#include "shardflow/ops/union_tables.hpp"
#include "shardflow/table/dictionary_encoding.hpp"
#include "sort_test_support.hpp"

using namespace shardflow;
using namespace shardflow::ops_test;
using ops::DedupKeep;

namespace {

// ---- dedup ---------------------------------------------------------------------------------

// Key of row r as SQL DISTINCT sees it: nulls equal, -0.0 == 0.0, every NaN one value.
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

// Global indexes of the rows dedup keeps, ascending.
std::vector<idx_t> ref_winners(const Table& t, const std::vector<std::string>& keys, DedupKeep keep,
                               const std::optional<std::string>& order_by) {
  std::map<std::string, idx_t> best;
  const bool last = keep == DedupKeep::kLast;
  for (idx_t r = 0; r < t.num_rows(); ++r) {
    auto [it, fresh] = best.emplace(ref_key(t, r, keys), r);
    if (fresh) continue;
    const idx_t b = it->second;
    bool better = last;  // without an order: the latest row for last, the earliest for first
    if (order_by) {
      const Column& c = t.column(*order_by);
      const bool vr = c.is_valid(r);
      const bool vb = c.is_valid(b);
      if (vr != vb) {
        better = vr;  // a known value beats a null
      } else if (vr) {
        const int cmp = ref_compare_values(c, r, b);
        better = cmp == 0 ? last : (last ? cmp > 0 : cmp < 0);
      }
    }
    if (better) it->second = r;
  }
  std::vector<idx_t> winners;
  for (const auto& [k, r] : best)
    winners.push_back(r);
  std::sort(winners.begin(), winners.end());
  return winners;
}

void check_dedup(const mpi::Comm& comm, const Table& local, const Table& global,
                 const std::vector<std::string>& keys, DedupKeep keep,
                 const std::optional<std::string>& order_by,
                 const ops::DedupOptions& options = {}) {
  std::string what;
  for (const auto& k : keys)
    what += k + " ";
  SCOPED_TRACE("keys " + what + (keep == DedupKeep::kFirst ? "keep first" : "keep last") +
               " order_by " + order_by.value_or("-"));
  const Table out = ops::dedup(comm, local, keys, keep, order_by, options);
  ASSERT_EQ(out.schema(), local.schema());
  const std::vector<idx_t> winners = ref_winners(global, keys, keep, order_by);
  std::vector<std::string> expected;
  for (idx_t r : winners)
    expected.push_back(render_all(global, r));
  EXPECT_EQ(allgather_strings(comm, render_rows(out)), expected);
  // Each rank keeps its own rows: the winners within its range of global rows.
  const idx_t offset = mpi::exscan_sum(comm, local.num_rows());
  std::vector<std::string> mine;
  for (idx_t r : winners)
    if (r >= offset && r < offset + local.num_rows()) mine.push_back(render_all(global, r));
  EXPECT_EQ(render_rows(out), mine) << "rank " << comm.rank();
}

const std::vector<std::vector<std::string>>& dedup_keys() {
  static const std::vector<std::vector<std::string>> sets = {{"k"},  {"s", "b"},  {"p"},
                                                             {"nf"}, {"fk", "p"}, {"w", "k"}};
  return sets;
}

const std::vector<std::optional<std::string>>& order_columns() {
  static const std::vector<std::optional<std::string>> cols = {std::nullopt, "x",  "t",
                                                               "p",          "nf", "b"};
  return cols;
}

TEST(Dedup, MatchesReference) {
  mpi::Comm comm;
  for (bool empty_others : {false, true}) {
    // Tables this small are sorted by comparisons unless the radix sort is forced.
    ops::detail::set_radix_min_rows(empty_others ? 0 : 2048);
    const idx_t base = 250;
    const Table local =
        special_piece(31, comm.rank(), rows_of(comm.rank(), comm.size(), base, empty_others));
    const Table global = special_global(31, comm.size(), base, empty_others);
    for (const auto& keys : dedup_keys())
      for (DedupKeep keep : {DedupKeep::kFirst, DedupKeep::kLast})
        for (const auto& order_by : order_columns())
          check_dedup(comm, local, global, keys, keep, order_by);
  }
  ops::detail::set_radix_min_rows(2048);
}

TEST(Dedup, AllRowsUnderOneKeyAndTinyRounds) {
  mpi::Comm comm;
  PieceOptions skew;
  skew.skew = true;
  const Table local =
      special_piece(32, comm.rank(), rows_of(comm.rank(), comm.size(), 150, false), skew);
  const Table global = special_global(32, comm.size(), 150, false, skew);
  ops::DedupOptions options;
  options.shuffle.round_bytes = 64;
  for (DedupKeep keep : {DedupKeep::kFirst, DedupKeep::kLast})
    for (const auto& order_by : order_columns()) {
      check_dedup(comm, local, global, {"k", "s", "p", "nf"}, keep, order_by, options);
      check_dedup(comm, local, global, {"k"}, keep, order_by, options);
    }
  // And random keys with tiny rounds.
  const Table rlocal =
      special_piece(33, comm.rank(), rows_of(comm.rank(), comm.size(), 150, false));
  const Table rglobal = special_global(33, comm.size(), 150, false);
  for (const auto& keys : dedup_keys())
    check_dedup(comm, rlocal, rglobal, keys, DedupKeep::kLast, "x", options);
}

TEST(Dedup, EmptyEverywhereAndUnknownColumns) {
  mpi::Comm comm;
  const Table local = special_piece(34, comm.rank(), 0);
  EXPECT_EQ(ops::dedup(comm, local, {"k"}, DedupKeep::kLast, "t").num_rows(), 0);
  const Table some = special_piece(34, comm.rank(), 5);
  try {
    ops::dedup(comm, some, {"nope"}, DedupKeep::kFirst, std::nullopt);
    ADD_FAILURE() << "no error";
  } catch (const ConfigError& e) {
    EXPECT_TRUE(e.agreed()) << e.what();
  }
  EXPECT_THROW(ops::dedup(comm, some, {"k"}, DedupKeep::kFirst, "nope"), ConfigError);
  EXPECT_THROW(ops::dedup(comm, some, {}, DedupKeep::kFirst, std::nullopt), ConfigError);
}

// ---- union ---------------------------------------------------------------------------------

// `t` with its columns reversed, column s moved onto another dictionary (same code order, other
// strings) and p dictionary-encoded (collective).
Table reshaped(const mpi::Comm& comm, const Table& t) {
  std::vector<std::string> names = t.schema().names();
  std::reverse(names.begin(), names.end());
  Table out = t.select(names);
  const int s = out.schema().index_of("s");
  Column moved = out.column(s);
  moved.set_dictionary(std::make_shared<const table::Dictionary>(
      std::vector<std::string>{"AT", "BB", "CH", "DD", "FR", "ZZ"}));
  out.replace_column(s, std::move(moved));
  const int p = out.schema().index_of("p");
  Column encoded = out.column(p);
  table::encode_strings(comm, encoded);
  out.replace_column(p, std::move(encoded));
  return out;
}

void check_union(const mpi::Comm& comm, const std::vector<const Table*>& locals,
                 const std::vector<const Table*>& globals, const ops::UnionOptions& options) {
  const Table out = ops::union_tables(comm, locals, options);
  const std::vector<std::string> names = locals[0]->schema().names();
  ASSERT_EQ(out.schema().names(), names);
  std::vector<std::string> expected;
  for (const Table* g : globals)
    for (idx_t r = 0; r < g->num_rows(); ++r)
      expected.push_back(render(*g, r, names));
  std::vector<std::string> got;
  for (idx_t r = 0; r < out.num_rows(); ++r)
    got.push_back(render(out, r, names));
  EXPECT_EQ(allgather_strings(comm, got), expected);
  const idx_t total = static_cast<idx_t>(expected.size());
  const idx_t p = comm.size();
  const idx_t r = comm.rank();
  EXPECT_EQ(out.num_rows(), total * (r + 1) / p - total * r / p) << "rank " << r;
}

TEST(Union, GlobalOrderByNameWithUnifiedDictionaries) {
  mpi::Comm comm;
  for (bool empty_others : {false, true}) {
    const Table a =
        special_piece(41, comm.rank(), rows_of(comm.rank(), comm.size(), 90, empty_others));
    const Table b0 =
        special_piece(42, comm.rank(), rows_of(comm.rank(), comm.size(), 40, !empty_others));
    const Table b = reshaped(comm, b0);
    const Table c = special_piece(43, comm.rank(), comm.rank() == 1 ? 30 : 0);
    const Table ga = special_global(41, comm.size(), 90, empty_others);
    Table gb = special_global(42, comm.size(), 40, !empty_others);
    {  // the reference sees b's strings as reshaped() relabels them
      const int s = gb.schema().index_of("s");
      Column moved = gb.column(s);
      moved.set_dictionary(std::make_shared<const table::Dictionary>(
          std::vector<std::string>{"AT", "BB", "CH", "DD", "FR", "ZZ"}));
      gb.replace_column(s, std::move(moved));
    }
    Table gc = special_piece(43, 0, 0);
    if (comm.size() > 1) gc = special_piece(43, 1, 30);
    ops::UnionOptions options;
    check_union(comm, {&a, &b, &c}, {&ga, &gb, &gc}, options);
    const Table out = ops::union_tables(comm, {&a, &b}, options);
    EXPECT_TRUE(out.column("s").is_dictionary_encoded());
    EXPECT_EQ(out.column("s").dictionary()->values(),
              (std::vector<std::string>{"AT", "BB", "BE", "CH", "DD", "DE", "FR", "XX", "ZZ"}));
    EXPECT_FALSE(out.column("p").is_dictionary_encoded());  // plain in a
    options.max_dictionary_size = 4;  // the merged dictionary is too large: plain strings
    options.shuffle.round_bytes = 64;
    check_union(comm, {&b, &a}, {&gb, &ga}, options);
    EXPECT_FALSE(ops::union_tables(comm, {&a, &b}, options).column("s").is_dictionary_encoded());
  }
}

TEST(Union, SchemaMismatchesAreConfigErrors) {
  mpi::Comm comm;
  const Table a = special_piece(44, comm.rank(), 5);
  const Table missing = a.select({"k", "w", "i"});
  auto message = [&](const std::vector<const Table*>& inputs) {
    try {
      ops::union_tables(comm, inputs);
    } catch (const ConfigError& e) {
      EXPECT_TRUE(e.agreed()) << "reported once, not by every rank";
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message({&a, &missing}).find("input 2 has no column 'fk'"), std::string::npos)
      << message({&a, &missing});
  EXPECT_NE(message({&missing, &a}).find("input 2 has column 'fk', which input 1 lacks"),
            std::string::npos)
      << message({&missing, &a});
  Table retyped = a.select({"k", "w", "i"});
  Column x(table::DataType::kFloat64);
  x.values<double>().assign(static_cast<size_t>(a.num_rows()), 1.0);
  retyped.replace_column(1, std::move(x));
  EXPECT_NE(message({&missing, &retyped}).find("column 'w' is int64 in input 1 but float64"),
            std::string::npos)
      << message({&missing, &retyped});
}

}  // namespace
