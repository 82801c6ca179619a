#pragma once
// Random distributed tables and row renderings shared by the ops tests (shuffle, group-by).
// Every rank can regenerate every other rank's piece from (seed, rank), so brute-force references
// see the whole distributed table without any communication.

#include <cmath>
#include <cstdint>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "shardflow/mpi/allgatherv.hpp"
#include "shardflow/mpi/comm.hpp"
#include "shardflow/table/table.hpp"

namespace shardflow::ops_test {

using table::Column;
using table::DataType;
using table::Table;

inline table::DictionaryPtr test_dictionary() {
  static const auto dict = std::make_shared<const table::Dictionary>(
      std::vector<std::string>{"AT", "BE", "CH", "DE", "FR", "XX"});
  return dict;
}

/// Shape of a random piece.
struct PieceOptions {
  int key_range = 10;      // k: int32 in [0, key_range)
  bool skew = false;       // every key column constant
  double null_rate = 0.1;  // for nullable columns
};

/// Columns: k int32 (nulls), w int64 spanning +-2^62, i int64 small (nulls), fk float64 key from a
/// small set (nulls), x float64 (nulls), f32 float32, b bool (nulls), t timestamp, s dictionary
/// string (nulls), p plain string (nulls).
inline Table random_piece(std::uint64_t seed, int rank, idx_t rows, const PieceOptions& o = {}) {
  std::mt19937_64 rng(seed * 1000003 + static_cast<std::uint64_t>(rank));
  std::uniform_real_distribution<double> u(0.0, 1.0);
  auto null = [&] { return u(rng) < o.null_rate; };
  Column k(DataType::kInt32), w(DataType::kInt64), i(DataType::kInt64), fk(DataType::kFloat64),
      x(DataType::kFloat64), f32(DataType::kFloat32), b(DataType::kBool), t(DataType::kTimestamp),
      s(DataType::kString);
  Column p = Column::plain_strings();
  s.set_dictionary(test_dictionary());
  const double fkeys[] = {0.5, 1.5, -2.25, 1e300, 3.0};
  const char* words[] = {"apple", "banana", "cherry", "", "date", "elder berry", "fig", "grape"};
  for (Column* c : {&k, &i, &fk, &x, &b, &s, &p})
    c->validity().reserve(static_cast<size_t>(rows));
  for (idx_t r = 0; r < rows; ++r) {
    const bool sk = o.skew;
    k.values<std::int32_t>().push_back(
        sk ? 7 : static_cast<std::int32_t>(rng() % static_cast<std::uint64_t>(o.key_range)));
    k.validity().push_back(sk || !null());
    w.values<std::int64_t>().push_back(
        sk ? 5
           : (rng() % 3 == 0 ? INT64_MAX / 2 - static_cast<std::int64_t>(rng() % 3)
                             : -(INT64_MAX / 2) + static_cast<std::int64_t>(rng() % 4)));
    i.values<std::int64_t>().push_back(static_cast<std::int64_t>(rng() % 2001) - 1000);
    i.validity().push_back(!null());
    fk.values<double>().push_back(sk ? 0.5 : fkeys[rng() % 5]);
    fk.validity().push_back(sk || !null());
    x.values<double>().push_back((u(rng) - 0.5) * std::pow(10.0, static_cast<double>(rng() % 7)));
    x.validity().push_back(!null());
    f32.values<float>().push_back(static_cast<float>(u(rng) * 100.0));
    b.values<std::uint8_t>().push_back(static_cast<std::uint8_t>(sk ? 1 : rng() % 2));
    b.validity().push_back(sk || !null());
    t.values<std::int64_t>().push_back(1700000000000000 +
                                       static_cast<std::int64_t>(rng() % 1000) * 1000000);
    s.codes().push_back(sk ? 2 : static_cast<std::int32_t>(rng() % 6));
    s.validity().push_back(sk || !null());
    const bool pv = sk || !null();
    p.plain().push_back(pv ? (sk ? std::string("same")
                                 : (rng() % 10 == 0 ? "u" + std::to_string(rng() % 100000)
                                                    : std::string(words[rng() % 8])))
                           : std::string());
    p.validity().push_back(pv);
  }
  Table out;
  for (auto* pr : {&k, &i, &fk, &x, &b, &s, &p})
    pr->compact_validity();
  out.add_column("k", std::move(k));
  out.add_column("w", std::move(w));
  out.add_column("i", std::move(i));
  out.add_column("fk", std::move(fk));
  out.add_column("x", std::move(x));
  out.add_column("f32", std::move(f32));
  out.add_column("b", std::move(b));
  out.add_column("t", std::move(t));
  out.add_column("s", std::move(s));
  out.add_column("p", std::move(p));
  return out;
}

/// Rows of rank r: a formula in (r, size) with optional empty ranks.
inline idx_t rows_of(int rank, int size, idx_t base, bool empty_others) {
  (void)size;
  if (empty_others) return rank == 0 ? base : 0;
  return base + 37 * rank;
}

/// The whole distributed table, as every rank can rebuild it.
inline Table global_table(std::uint64_t seed, int size, idx_t base, bool empty_others,
                          const PieceOptions& o = {}) {
  Table all = random_piece(seed, 0, rows_of(0, size, base, empty_others), o);
  for (int r = 1; r < size; ++r)
    all.append(random_piece(seed, r, rows_of(r, size, base, empty_others), o));
  return all;
}

/// Text rendering of a cell, with nulls distinguishable from empty strings.
inline std::string cell(const Column& c, idx_t row) {
  return c.is_valid(row) ? c.to_string_at(row) : std::string("<null>");
}
/// Text rendering of the given columns of a row.
inline std::string render(const Table& t, idx_t row, const std::vector<std::string>& cols) {
  std::string out;
  for (const auto& name : cols) {
    out += cell(t.column(name), row);
    out += '\x1f';
  }
  return out;
}
inline std::string render_all(const Table& t, idx_t row) {
  return render(t, row, t.schema().names());
}

/// Collective: every rank's strings, concatenated in rank order.
inline std::vector<std::string> allgather_strings(const mpi::Comm& comm,
                                                  const std::vector<std::string>& local) {
  std::string chars;
  std::vector<idx_t> lens;
  for (const auto& s : local) {
    chars += s;
    lens.push_back(static_cast<idx_t>(s.size()));
  }
  const auto all_chars =
      mpi::allgatherv<char>(comm, std::span<const char>(chars.data(), chars.size()));
  const auto all_lens = mpi::allgatherv<idx_t>(comm, std::span<const idx_t>(lens));
  std::vector<std::string> out;
  size_t at = 0;
  for (idx_t len : all_lens) {
    out.emplace_back(all_chars.data() + at, static_cast<size_t>(len));
    at += static_cast<size_t>(len);
  }
  return out;
}

}  // namespace shardflow::ops_test
