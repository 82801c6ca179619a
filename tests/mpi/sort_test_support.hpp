#pragma once
// Shared by the sort, dedup and union tests: random pieces with float specials (NaN, -0.0,
// +-inf) and a brute-force row order written independently of ops/sort_keys (typed value
// comparisons, no encoding).

#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "ops_test_support.hpp"
#include "shardflow/ops/sort_keys.hpp"

namespace shardflow::ops_test {

/// random_piece plus "nf": float64 from {NaN, -0.0, 0.0, 1.5, -2, +inf, -inf} with nulls.
inline Table special_piece(std::uint64_t seed, int rank, idx_t rows, const PieceOptions& o = {}) {
  Table t = random_piece(seed, rank, rows, o);
  std::mt19937_64 rng(seed * 7919 + static_cast<std::uint64_t>(rank) + 17);
  const double specials[] = {std::numeric_limits<double>::quiet_NaN(),
                             -0.0,
                             0.0,
                             1.5,
                             -2.0,
                             std::numeric_limits<double>::infinity(),
                             -std::numeric_limits<double>::infinity()};
  Column nf(DataType::kFloat64);
  for (idx_t r = 0; r < rows; ++r) {
    nf.values<double>().push_back(o.skew ? 1.5 : specials[rng() % 7]);
    nf.validity().push_back(o.skew || rng() % 8 != 0 ? 1 : 0);
  }
  nf.compact_validity();
  t.add_column("nf", std::move(nf));
  return t;
}

/// The whole distributed table of special pieces (rows_of as in ops_test_support).
inline Table special_global(std::uint64_t seed, int size, idx_t base, bool empty_others,
                            const PieceOptions& o = {}) {
  Table all = special_piece(seed, 0, rows_of(0, size, base, empty_others), o);
  for (int r = 1; r < size; ++r)
    all.append(special_piece(seed, r, rows_of(r, size, base, empty_others), o));
  return all;
}

/// Rows [first, first + count) of `t`.
inline Table slice(const Table& t, idx_t first, idx_t count) {
  std::vector<idx_t> rows(static_cast<size_t>(count));
  for (idx_t i = 0; i < count; ++i)
    rows[static_cast<size_t>(i)] = first + i;
  return t.take(rows);
}

/// Value order of two valid cells of one column: numbers numerically (NaN == NaN above all,
/// -0.0 == 0.0), strings by bytes.
inline int ref_compare_values(const Column& c, idx_t a, idx_t b) {
  auto cmp = [](auto x, auto y) { return x < y ? -1 : (y < x ? 1 : 0); };
  const auto ua = static_cast<size_t>(a);
  const auto ub = static_cast<size_t>(b);
  switch (c.type()) {
    case DataType::kInt32:
      return cmp(c.values<std::int32_t>()[ua], c.values<std::int32_t>()[ub]);
    case DataType::kInt64:
    case DataType::kTimestamp:
      return cmp(c.values<std::int64_t>()[ua], c.values<std::int64_t>()[ub]);
    case DataType::kBool:
      return cmp(c.values<std::uint8_t>()[ua] != 0, c.values<std::uint8_t>()[ub] != 0);
    case DataType::kFloat32:
    case DataType::kFloat64: {
      const double x =
          c.type() == DataType::kFloat32 ? c.values<float>()[ua] : c.values<double>()[ua];
      const double y =
          c.type() == DataType::kFloat32 ? c.values<float>()[ub] : c.values<double>()[ub];
      const bool nx = std::isnan(x);
      const bool ny = std::isnan(y);
      if (nx || ny) return nx == ny ? 0 : (nx ? 1 : -1);
      return cmp(x, y);
    }
    case DataType::kString:
      return cmp(c.string_at(a), c.string_at(b));
  }
  return 0;
}

/// Order of rows a and b of `t` under `keys` (nulls placed by each key, desc reversing values).
inline int ref_compare(const Table& t, const std::vector<ops::SortKey>& keys, idx_t a, idx_t b) {
  for (const auto& k : keys) {
    const Column& c = t.column(k.column);
    const bool va = c.is_valid(a);
    const bool vb = c.is_valid(b);
    if (va != vb) {
      const bool a_first = (k.nulls == ops::NullOrder::kFirst) ? !va : va;
      return a_first ? -1 : 1;
    }
    if (!va) continue;
    const int v = ref_compare_values(c, a, b);
    if (v != 0) return k.descending ? -v : v;
  }
  return 0;
}

/// The brute-force order of every row of `t` (ties by row index: stable).
inline std::vector<idx_t> ref_order(const Table& t, const std::vector<ops::SortKey>& keys) {
  std::vector<idx_t> order(static_cast<size_t>(t.num_rows()));
  for (size_t i = 0; i < order.size(); ++i)
    order[i] = static_cast<idx_t>(i);
  std::stable_sort(order.begin(), order.end(),
                   [&](idx_t a, idx_t b) { return ref_compare(t, keys, a, b) < 0; });
  return order;
}

inline std::vector<std::string> render_rows(const Table& t) {
  std::vector<std::string> rows;
  for (idx_t r = 0; r < t.num_rows(); ++r)
    rows.push_back(render_all(t, r));
  return rows;
}

}  // namespace shardflow::ops_test
