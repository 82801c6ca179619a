#include "shardflow/io/synthetic_join.hpp"

#include <charconv>
#include <cmath>
#include <numeric>

#include "shardflow/common/error.hpp"
#include "shardflow/common/hash.hpp"
#include "shardflow/io/csv_writer.hpp"

namespace shardflow::io {

namespace {

// One key level: n keys per side, the first m shared by both sides.
struct Level {
  std::int64_t n = 1;
  std::int64_t m = 1;
  std::int64_t mult = 1;       // permutation i -> (mult * i + add) mod n
  std::int64_t add = 0;        // left side (x)
  std::int64_t add_right = 0;  // right sides: another rotation, so x and big are not row-aligned
};

Level make_level(std::int64_t n, std::uint64_t seed, std::uint64_t level) {
  Level l;
  l.n = std::max<std::int64_t>(1, n);
  l.m = std::max<std::int64_t>(1, std::llround(0.9 * static_cast<double>(l.n)));
  const std::uint64_t h = hash_u64(seed * 0x9e3779b97f4a7c15ULL + level);
  l.mult = 1 + static_cast<std::int64_t>(h % static_cast<std::uint64_t>(l.n));
  while (std::gcd(l.mult, l.n) != 1)  // ends at n + 1 at the latest
    ++l.mult;
  l.add = static_cast<std::int64_t>(hash_u64(h) % static_cast<std::uint64_t>(l.n));
  l.add_right = static_cast<std::int64_t>(hash_u64(h + 1) % static_cast<std::uint64_t>(l.n));
  return l;
}

// Key value of row i drawing `bits` (uniform) at level l, on the left (x) or right side.
std::int64_t key_of(const Level& l, bool left, idx_t i, std::uint64_t bits) {
  std::int64_t q;
  if (i < l.n) {
    q = static_cast<std::int64_t>(
        (static_cast<__int128>(l.mult) * i + (left ? l.add : l.add_right)) %
        static_cast<__int128>(l.n));
  } else {
    q = static_cast<std::int64_t>(
        (static_cast<unsigned __int128>(bits) * static_cast<unsigned __int128>(l.n)) >> 64);
  }
  if (left || q < l.m) return q + 1;
  return l.n + 1 + (q - l.m);
}

enum class Table { kX, kSmall, kMedium, kBig };

Table parse_table(const std::string& name) {
  if (name == "x") return Table::kX;
  if (name == "small") return Table::kSmall;
  if (name == "medium") return Table::kMedium;
  if (name == "big") return Table::kBig;
  throw ConfigError("unknown join table '{}' (tables: x, small, medium, big)", name);
}

void append_int(std::int64_t v, std::string& out) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, end);
}

void append_value(std::uint64_t bits, std::string& out) {
  char buf[64];
  const double v = static_cast<double>(bits >> 11) * 0x1p-53 * 100.0;
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::fixed, 6);
  out.append(buf, end);
}

}  // namespace

std::vector<std::string> join_table_names() {
  return {"x", "small", "medium", "big"};
}

idx_t join_table_rows(const std::string& table, idx_t rows) {
  switch (parse_table(table)) {
    case Table::kX:
    case Table::kBig:
      return rows;
    case Table::kSmall:
      return rows == 0 ? 0 : std::max<idx_t>(1, rows / 1000000);
    case Table::kMedium:
      return rows == 0 ? 0 : std::max<idx_t>(1, rows / 1000);
  }
  return 0;
}

std::string join_csv_header(const std::string& table) {
  switch (parse_table(table)) {
    case Table::kX:
      return "id1,id2,id3,id4,id5,id6,v1\n";
    case Table::kSmall:
      return "id1,id4,v2\n";
    case Table::kMedium:
      return "id1,id2,id4,id5,v2\n";
    case Table::kBig:
      return "id1,id2,id3,id4,id5,id6,v2\n";
  }
  return {};
}

void join_csv_block(const std::string& table, std::uint64_t seed, idx_t rows, idx_t first,
                    idx_t count, std::string& out) {
  const Table t = parse_table(table);
  const Level levels[3] = {make_level(rows / 1000000, seed, 1), make_level(rows / 1000, seed, 2),
                           make_level(rows, seed, 3)};
  const int width = t == Table::kSmall ? 1 : t == Table::kMedium ? 2 : 3;
  const bool left = t == Table::kX;
  const std::uint64_t base =
      hash_u64(seed ^ 0x5bd1e9955bd1e995ULL) ^ hash_u64(static_cast<std::uint64_t>(t) + 101);
  out.reserve(out.size() + static_cast<size_t>(count) * (16 * static_cast<size_t>(width) + 12));
  for (idx_t i = first; i < first + count; ++i) {
    const std::uint64_t row =
        hash_u64(base ^ (static_cast<std::uint64_t>(i) * 0xd1b54a32d192ed03ULL));
    auto draw = [&](std::uint64_t column) {
      return hash_u64(row + (column + 1) * 0x8cb92ba72f3d8dd7ULL);
    };
    std::int64_t keys[3];
    for (int j = 0; j < width; ++j)
      keys[j] = key_of(levels[j], left, i, draw(static_cast<std::uint64_t>(j)));
    for (int j = 0; j < width; ++j) {
      append_int(keys[j], out);
      out.push_back(',');
    }
    for (int j = 0; j < width; ++j) {
      out.append("id");
      append_int(keys[j], out);
      out.push_back(',');
    }
    append_value(draw(7), out);
    out.push_back('\n');
  }
}

void generate_join_csv(const mpi::Comm& comm, idx_t rows, std::uint64_t seed,
                       const std::string& dir) {
  if (rows < 0) throw ConfigError("synthetic data: --rows must be >= 0 (got {})", rows);
  const auto p = static_cast<__int128>(comm.size());
  for (const auto& table : join_table_names()) {
    const idx_t n = join_table_rows(table, rows);
    const auto first = static_cast<idx_t>(n * static_cast<__int128>(comm.rank()) / p);
    const auto last = static_cast<idx_t>(n * static_cast<__int128>(comm.rank() + 1) / p);
    std::string text;
    if (comm.is_root()) text = join_csv_header(table);
    join_csv_block(table, seed, rows, first, last - first, text);
    write_ordered_text(comm, text, dir + "/" + table + ".csv");
  }
}

}  // namespace shardflow::io
