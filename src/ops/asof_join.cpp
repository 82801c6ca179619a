#include "shardflow/ops/asof_join.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <unordered_map>

#include "shardflow/common/error.hpp"
#include "shardflow/common/hash.hpp"
#include "shardflow/common/suggest.hpp"
#include "shardflow/common/timer.hpp"
#include "shardflow/mpi/allgatherv.hpp"
#include "shardflow/mpi/allreduce.hpp"
#include "shardflow/mpi/alltoallv.hpp"

namespace shardflow::ops {

using table::Column;
using table::DataType;
using table::Schema;
using table::Table;

std::string_view to_string(AsofDirection direction) {
  switch (direction) {
    case AsofDirection::kBackward:
      return "backward";
    case AsofDirection::kForward:
      return "forward";
    case AsofDirection::kNearest:
      return "nearest";
  }
  return "?";
}

std::optional<AsofDirection> parse_asof_direction(std::string_view name) {
  if (name == "backward") return AsofDirection::kBackward;
  if (name == "forward") return AsofDirection::kForward;
  if (name == "nearest") return AsofDirection::kNearest;
  return std::nullopt;
}

std::vector<std::string> asof_direction_names() {
  return {"backward", "forward", "nearest"};
}

namespace {

// ---- types ----------------------------------------------------------------------------------

/// Key columns of the two sides must compare by value: these classes compare with each other.
enum class KeyClass { kInteger, kFloat, kBool, kTimestamp, kString };

KeyClass key_class(DataType t) {
  switch (t) {
    case DataType::kInt32:
    case DataType::kInt64:
      return KeyClass::kInteger;
    case DataType::kFloat32:
    case DataType::kFloat64:
      return KeyClass::kFloat;
    case DataType::kBool:
      return KeyClass::kBool;
    case DataType::kTimestamp:
      return KeyClass::kTimestamp;
    case DataType::kString:
      return KeyClass::kString;
  }
  return KeyClass::kString;
}

bool is_time_type(DataType t) {
  return t == DataType::kTimestamp || t == DataType::kInt32 || t == DataType::kInt64 ||
         t == DataType::kFloat32 || t == DataType::kFloat64;
}

int column_index(const Schema& schema, const std::string& name, std::string_view side,
                 std::string_view role) {
  const auto i = schema.find(name);
  if (!i) {
    const auto names = schema.names();
    throw ConfigError("{} '{}' is not a column of the {} table{} (columns: {})", role, name, side,
                      did_you_mean(name, names), fmt::join(names, ", "));
  }
  return *i;
}

// ---- per-row views --------------------------------------------------------------------------

/// One key column of one side, compared and hashed by value.
class KeyColumn {
 public:
  explicit KeyColumn(const Column& column) : column_(&column) {
    if (column.type() == DataType::kString && column.is_dictionary_encoded() &&
        column.dictionary()) {
      const auto& values = column.dictionary()->values();
      dictionary_hashes_.reserve(values.size());
      for (const auto& v : values)
        dictionary_hashes_.push_back(hash_string(v));
    }
  }
  bool is_string() const { return column_->type() == DataType::kString; }
  bool is_valid(idx_t r) const { return column_->is_valid(r); }
  /// The value's bits (not for strings): integers sign-extended, floats double_key_bits.
  std::uint64_t bits(idx_t r) const {
    const auto i = static_cast<size_t>(r);
    switch (column_->type()) {
      case DataType::kInt32:
        return static_cast<std::uint64_t>(
            static_cast<std::int64_t>(column_->values<std::int32_t>()[i]));
      case DataType::kInt64:
      case DataType::kTimestamp:
        return static_cast<std::uint64_t>(column_->values<std::int64_t>()[i]);
      case DataType::kFloat32:
        return double_key_bits(static_cast<double>(column_->values<float>()[i]));
      case DataType::kFloat64:
        return double_key_bits(column_->values<double>()[i]);
      case DataType::kBool:
        return column_->values<std::uint8_t>()[i] != 0 ? 1 : 0;
      case DataType::kString:
        break;
    }
    return 0;
  }
  std::string_view str(idx_t r) const { return column_->string_at(r); }
  std::uint64_t hash(idx_t r) const {
    if (!is_string()) return hash_u64(bits(r));
    if (!dictionary_hashes_.empty()) {
      return dictionary_hashes_[static_cast<size_t>(column_->codes()[static_cast<size_t>(r)])];
    }
    return hash_string(column_->string_at(r));
  }
  bool equal(idx_t r, const KeyColumn& other, idx_t s) const {
    if (is_string()) return str(r) == other.str(s);
    return bits(r) == other.bits(s);
  }

 private:
  const Column* column_;
  std::vector<std::uint64_t> dictionary_hashes_;
};

/// The time column of one side: an order-preserving int64 key and the value as long double.
class TimeColumn {
 public:
  explicit TimeColumn(const Column& column) : column_(&column) {}
  /// Null and NaN times never match.
  bool is_valid(idx_t r) const {
    if (!column_->is_valid(r)) return false;
    if (column_->type() == DataType::kFloat64)
      return !std::isnan(column_->values<double>()[static_cast<size_t>(r)]);
    if (column_->type() == DataType::kFloat32)
      return !std::isnan(column_->values<float>()[static_cast<size_t>(r)]);
    return true;
  }
  /// Ordering key: integers their value; floats (with -0.0 as 0.0) mapped monotonically to int64.
  std::int64_t key(idx_t r) const {
    const auto i = static_cast<size_t>(r);
    switch (column_->type()) {
      case DataType::kInt32:
        return column_->values<std::int32_t>()[i];
      case DataType::kInt64:
      case DataType::kTimestamp:
        return column_->values<std::int64_t>()[i];
      case DataType::kFloat32:
        return float_key(static_cast<double>(column_->values<float>()[i]));
      case DataType::kFloat64:
        return float_key(column_->values<double>()[i]);
      default:
        return 0;
    }
  }
  bool is_floating() const { return table::is_floating(column_->type()); }
  double float_value(idx_t r) const {
    const auto i = static_cast<size_t>(r);
    return column_->type() == DataType::kFloat32 ? static_cast<double>(column_->values<float>()[i])
                                                 : column_->values<double>()[i];
  }

 private:
  static std::int64_t float_key(double v) {
    if (v == 0.0) v = 0.0;
    const auto bits = std::bit_cast<std::int64_t>(v);
    return bits < 0 ? bits ^ std::numeric_limits<std::int64_t>::max() : bits;
  }
  const Column* column_;
};

/// |a - b| of two times (a from one side, b from the other), as long double: integer times
/// exactly, float times as the difference of the two doubles.
long double distance(const TimeColumn& ta, idx_t a, const TimeColumn& tb, idx_t b) {
  if (ta.is_floating()) {
    const long double d =
        static_cast<long double>(ta.float_value(a)) - static_cast<long double>(tb.float_value(b));
    return d < 0 ? -d : d;
  }
  const auto d = static_cast<__int128>(ta.key(a)) - static_cast<__int128>(tb.key(b));
  return static_cast<long double>(d < 0 ? -d : d);
}

/// One side of the join as the algorithm sees it: key columns, time column, validity.
struct Side {
  std::vector<KeyColumn> keys;
  TimeColumn time;
  Side(const Table& t, const std::vector<int>& key_columns, int time_column)
      : time(t.column(time_column)) {
    keys.reserve(key_columns.size());
    for (int c : key_columns)
      keys.emplace_back(t.column(c));
  }
  bool is_valid(idx_t r) const {
    if (!time.is_valid(r)) return false;
    for (const auto& k : keys)
      if (!k.is_valid(r)) return false;
    return true;
  }
  std::uint64_t hash(idx_t r) const {
    std::uint64_t h = 0x2545f4914f6cdd1dULL;
    for (const auto& k : keys)
      h = hash_combine(h, k.hash(r));
    return h;
  }
  bool keys_equal(idx_t r, const Side& other, idx_t s) const {
    for (size_t c = 0; c < keys.size(); ++c)
      if (!keys[c].equal(r, other.keys[c], s)) return false;
    return true;
  }
};

struct Entry {
  std::int64_t id;  // key identity on this rank (equal keys, equal ids, on both sides)
  std::int64_t t;   // time ordering key
  std::int64_t g;   // global row index in the input table
  idx_t row;        // local row
  bool operator<(const Entry& o) const {
    if (id != o.id) return id < o.id;
    if (t != o.t) return t < o.t;
    return g < o.g;
  }
};

/// Assigns key identities to the valid rows of both sides (after the exchange) and returns their
/// sorted entries. A single integer-like or float key is its own identity; other keys go through a
/// hash table comparing values.
void build_entries(const Side& left, const Table& lt, std::span<const std::int64_t> lg,
                   const Side& right, const Table& rt, std::span<const std::int64_t> rg,
                   std::vector<Entry>& le, std::vector<Entry>& re) {
  const bool direct = left.keys.size() == 1 && !left.keys[0].is_string();
  struct Rep {
    int side;
    idx_t row;
    std::int64_t next;
  };
  std::vector<Rep> reps;
  std::unordered_map<std::uint64_t, std::int64_t> first;
  auto identity = [&](int side, idx_t r) -> std::int64_t {
    if (left.keys.empty()) return 0;
    const Side& s = side == 0 ? left : right;
    if (direct) return static_cast<std::int64_t>(s.keys[0].bits(r));
    const std::uint64_t h = s.hash(r);
    auto [it, inserted] = first.try_emplace(h, static_cast<std::int64_t>(reps.size()));
    if (inserted) {
      reps.push_back({side, r, -1});
      return it->second;
    }
    std::int64_t at = it->second;
    while (true) {
      const Rep& rep = reps[static_cast<size_t>(at)];
      const Side& rs = rep.side == 0 ? left : right;
      if (s.keys_equal(r, rs, rep.row)) return at;
      if (rep.next < 0) break;
      at = rep.next;
    }
    const auto id = static_cast<std::int64_t>(reps.size());
    reps[static_cast<size_t>(at)].next = id;
    reps.push_back({side, r, -1});
    return id;
  };
  for (int side = 0; side < 2; ++side) {
    const Side& s = side == 0 ? left : right;
    const Table& t = side == 0 ? lt : rt;
    const auto g = side == 0 ? lg : rg;
    auto& out = side == 0 ? le : re;
    out.clear();
    out.reserve(static_cast<size_t>(t.num_rows()));
    for (idx_t r = 0; r < t.num_rows(); ++r) {
      if (!s.is_valid(r)) continue;
      out.push_back({identity(side, r), s.time.key(r), g[static_cast<size_t>(r)], r});
    }
  }
  std::sort(le.begin(), le.end());
  std::sort(re.begin(), re.end());
}

/// For each left row (local index), the matching right row (local index) or -1.
std::vector<idx_t> merge(const std::vector<Entry>& le, const std::vector<Entry>& re,
                         const Side& left, const Side& right, idx_t left_rows,
                         AsofDirection direction, std::optional<double> tolerance) {
  std::vector<idx_t> match(static_cast<size_t>(left_rows), -1);
  const size_t nr = re.size();
  size_t back = 0;  // first right entry after (id, t) of the current left entry
  size_t fwd = 0;   // first right entry at or after (id, t) of the current left entry
  const auto tol = tolerance ? static_cast<long double>(*tolerance) : 0.0L;
  for (const Entry& l : le) {
    while (back < nr && (re[back].id < l.id || (re[back].id == l.id && re[back].t <= l.t)))
      ++back;
    while (fwd < nr && (re[fwd].id < l.id || (re[fwd].id == l.id && re[fwd].t < l.t)))
      ++fwd;
    idx_t b = -1, f = -1;
    if (direction != AsofDirection::kForward && back > 0 && re[back - 1].id == l.id)
      b = re[back - 1].row;
    if (direction != AsofDirection::kBackward && fwd < nr && re[fwd].id == l.id) f = re[fwd].row;
    long double db = 0, df = 0;
    if (b >= 0) db = distance(left.time, l.row, right.time, b);
    if (f >= 0) df = distance(left.time, l.row, right.time, f);
    if (tolerance) {
      if (b >= 0 && db > tol) b = -1;
      if (f >= 0 && df > tol) f = -1;
    }
    idx_t pick = b;
    if (b < 0 || (f >= 0 && df < db)) pick = f;
    match[static_cast<size_t>(l.row)] = pick;
  }
  return match;
}

/// Rows `match` of `column`, null where match is -1.
Column take_or_null(const Column& column, const std::vector<idx_t>& match) {
  const idx_t n = static_cast<idx_t>(match.size());
  bool any_null = false;
  std::vector<idx_t> rows(match.size());
  for (size_t i = 0; i < match.size(); ++i) {
    any_null |= match[i] < 0;
    rows[i] = match[i] < 0 ? 0 : match[i];
  }
  Column out;
  if (column.size() > 0) {
    out = column.take(rows);
  } else {
    out = column.take(std::span<const idx_t>());
    out.visit([&](auto& values) {
      using V = std::decay_t<decltype(values)>;
      if constexpr (std::is_same_v<V, table::PlainStrings>) {
        for (idx_t i = 0; i < n; ++i)
          values.push_back({});
      } else {
        values.assign(static_cast<size_t>(n), {});
      }
    });
  }
  if (any_null) {
    out.ensure_validity();
    for (size_t i = 0; i < match.size(); ++i)
      if (match[i] < 0) out.validity()[i] = 0;
    out.compact_validity();
  }
  return out;
}

Table gidx_table(std::vector<std::int64_t> values) {
  Column c(DataType::kInt64);
  c.values<std::int64_t>().assign(values.begin(), values.end());
  Table t;
  t.add_column("g", std::move(c));
  return t;
}

struct Bound {  // a right row's (time key, global index), or none
  std::int64_t has = 0, t = 0, g = 0;
};

}  // namespace

Schema asof_join_output_schema(const Schema& left, const Schema& right, const AsofJoinSpec& spec) {
  if (spec.left_by.size() != spec.right_by.size()) {
    throw ConfigError("the left and right by lists differ in length ({} and {} columns)",
                      spec.left_by.size(), spec.right_by.size());
  }
  for (size_t k = 0; k < spec.left_by.size(); ++k) {
    const DataType lt = left.field(column_index(left, spec.left_by[k], "left", "by column")).type;
    const DataType rt =
        right.field(column_index(right, spec.right_by[k], "right", "by column")).type;
    if (key_class(lt) != key_class(rt)) {
      throw ConfigError(
          "by column '{}' is {} on the left but '{}' is {} on the right; key types must match",
          spec.left_by[k], table::to_string(lt), spec.right_by[k], table::to_string(rt));
    }
  }
  const DataType ltt =
      left.field(column_index(left, spec.left_time, "left", "left_time column")).type;
  const DataType rtt =
      right.field(column_index(right, spec.right_time, "right", "right_time column")).type;
  for (const auto& [name, type] :
       {std::pair{spec.left_time, ltt}, std::pair{spec.right_time, rtt}}) {
    if (!is_time_type(type)) {
      throw ConfigError(
          "time column '{}' is {}; it must be a timestamp or a number (int32, int64, float32, "
          "float64)",
          name, table::to_string(type));
    }
  }
  if (ltt != rtt) {
    throw ConfigError("left_time '{}' is {} but right_time '{}' is {}; the types must be equal",
                      spec.left_time, table::to_string(ltt), spec.right_time,
                      table::to_string(rtt));
  }
  if (spec.tolerance && !(*spec.tolerance >= 0 && std::isfinite(*spec.tolerance))) {
    throw ConfigError("tolerance must be a finite number >= 0, got {}", *spec.tolerance);
  }
  std::vector<table::Field> fields = left.fields();
  for (const auto& f : right.fields()) {
    if (std::find(spec.right_by.begin(), spec.right_by.end(), f.name) != spec.right_by.end())
      continue;
    std::string name = f.name;
    if (left.find(name)) {
      name += spec.suffix;
      if (left.find(name) || right.find(name)) {
        throw ConfigError(
            "right column '{}' collides with a left column, and its renamed form '{}' exists too; "
            "choose another suffix",
            f.name, name);
      }
    }
    fields.push_back({name, f.type});
  }
  return Schema(std::move(fields));
}

Table asof_join(const mpi::Comm& comm, const Table& left, const Table& right,
                const AsofJoinSpec& spec, const AsofJoinOptions& options) {
  Schema out_schema;
  std::vector<int> lkeys, rkeys;
  int ltime = 0, rtime = 0;
  comm.agree([&] {
    out_schema = asof_join_output_schema(left.schema(), right.schema(), spec);
    for (const auto& k : spec.left_by)
      lkeys.push_back(*left.schema().find(k));
    for (const auto& k : spec.right_by)
      rkeys.push_back(*right.schema().find(k));
    ltime = *left.schema().find(spec.left_time);
    rtime = *right.schema().find(spec.right_time);
  });
  const int ranks = comm.size();
  const int me = comm.rank();
  const idx_t rbase = mpi::exscan_sum(comm, right.num_rows());

  const Side lside(left, lkeys, ltime);
  const Side rside(right, rkeys, rtime);
  // Phase times for the debug log: where a slow as-of join spends its time.
  Stopwatch phase;
  auto lap = [&phase] { return phase.lap(); };

  // ---- route rows ---------------------------------------------------------------------------
  std::vector<int> ldest(static_cast<size_t>(left.num_rows()), me);
  std::vector<idx_t> rrows;  // right rows to send (a row may be sent to several ranks)
  std::vector<int> rdest;
  if (!spec.left_by.empty()) {
    for (idx_t r = 0; r < left.num_rows(); ++r)
      if (lside.is_valid(r)) ldest[static_cast<size_t>(r)] = rank_of_hash(lside.hash(r), ranks);
    for (idx_t r = 0; r < right.num_rows(); ++r) {
      if (!rside.is_valid(r)) continue;
      rrows.push_back(r);
      rdest.push_back(rank_of_hash(rside.hash(r), ranks));
    }
  } else {
    // Range partition of the left rows by time on splitters from a weighted sample: every rank
    // contributes up to kSamples evenly spaced times of its sorted valid times, each standing for
    // (local rows / samples) rows. Equal times go to one rank.
    constexpr idx_t kSamples = 64;
    std::vector<std::int64_t> times;
    for (idx_t r = 0; r < left.num_rows(); ++r)
      if (lside.is_valid(r)) times.push_back(lside.time.key(r));
    std::sort(times.begin(), times.end());
    const auto n = static_cast<idx_t>(times.size());
    const idx_t k = std::min(n, kSamples);
    std::vector<std::int64_t> sample;  // pairs (time, weight numerator n) per sample
    for (idx_t i = 0; i < k; ++i) {
      sample.push_back(times[static_cast<size_t>((2 * i + 1) * n / (2 * k))]);
      sample.push_back(n / k + (i < n % k ? 1 : 0));
    }
    const auto all = mpi::allgatherv<std::int64_t>(comm, sample);
    std::vector<std::pair<std::int64_t, std::int64_t>> weighted;
    std::int64_t total = 0;
    for (size_t i = 0; i + 1 < all.size(); i += 2) {
      weighted.emplace_back(all[i], all[i + 1]);
      total += all[i + 1];
    }
    std::sort(weighted.begin(), weighted.end());
    std::vector<std::int64_t> splitters;
    std::int64_t seen = 0;
    size_t w = 0;
    for (int p = 1; p < ranks; ++p) {
      const auto target = static_cast<std::int64_t>(static_cast<__int128>(total) * p / ranks);
      while (w < weighted.size() && seen + weighted[w].second <= target)
        seen += weighted[w++].second;
      splitters.push_back(w < weighted.size() ? weighted[w].first
                                              : std::numeric_limits<std::int64_t>::max());
    }
    for (idx_t r = 0; r < left.num_rows(); ++r) {
      if (!lside.is_valid(r)) continue;
      const auto t = lside.time.key(r);
      ldest[static_cast<size_t>(r)] = static_cast<int>(
          std::lower_bound(splitters.begin(), splitters.end(), t) - splitters.begin());
    }
    // Each rank's time range after the exchange: [lo_p, hi_p] of the valid left times sent to p.
    std::vector<std::int64_t> range(static_cast<size_t>(3 * ranks), 0);  // has, lo, hi
    for (idx_t r = 0; r < left.num_rows(); ++r) {
      if (!lside.is_valid(r)) continue;
      const auto p = static_cast<size_t>(ldest[static_cast<size_t>(r)]);
      const auto t = lside.time.key(r);
      if (range[3 * p] == 0) {
        range[3 * p] = 1;
        range[3 * p + 1] = range[3 * p + 2] = t;
      } else {
        range[3 * p + 1] = std::min(range[3 * p + 1], t);
        range[3 * p + 2] = std::max(range[3 * p + 2], t);
      }
    }
    const auto gathered = mpi::allgather_blocks<std::int64_t>(comm, range);
    std::vector<Bound> lo(static_cast<size_t>(ranks)), hi(static_cast<size_t>(ranks));
    for (int q = 0; q < ranks; ++q) {
      for (int p = 0; p < ranks; ++p) {
        const size_t at =
            static_cast<size_t>(q) * 3 * static_cast<size_t>(ranks) + 3 * static_cast<size_t>(p);
        if (gathered[at] == 0) continue;
        auto& l = lo[static_cast<size_t>(p)];
        auto& h = hi[static_cast<size_t>(p)];
        if (l.has == 0) {
          l = {1, gathered[at + 1], 0};
          h = {1, gathered[at + 2], 0};
        } else {
          l.t = std::min(l.t, gathered[at + 1]);
          h.t = std::max(h.t, gathered[at + 2]);
        }
      }
    }
    // Right rows inside a rank's range go to that rank; the last right row before each range
    // (backward, nearest) and the first after it (forward, nearest) go there too.
    std::vector<std::pair<std::int64_t, idx_t>> rsorted;  // (time key, local row) of valid rows
    for (idx_t r = 0; r < right.num_rows(); ++r)
      if (rside.is_valid(r)) rsorted.emplace_back(rside.time.key(r), r);
    std::sort(rsorted.begin(), rsorted.end());  // equal times: by local row = by global index
    std::vector<int> owners;                    // ranks with a range, in rank order = time order
    for (int p = 0; p < ranks; ++p)
      if (lo[static_cast<size_t>(p)].has) owners.push_back(p);
    for (const auto& [t, r] : rsorted) {
      // The last owner whose lo <= t; ranges are disjoint and increasing with the rank.
      auto it = std::upper_bound(owners.begin(), owners.end(), t, [&](std::int64_t v, int p) {
        return v < lo[static_cast<size_t>(p)].t;
      });
      if (it == owners.begin()) continue;
      const int p = *(it - 1);
      if (t <= hi[static_cast<size_t>(p)].t) {
        rrows.push_back(r);
        rdest.push_back(p);
      }
    }
    // Local candidates for each rank's boundary rows, then the global best by (time, index).
    std::vector<std::int64_t> cand(static_cast<size_t>(6 * ranks), 0);  // before(has,t,g), after
    const bool want_before = spec.direction != AsofDirection::kForward;
    const bool want_after = spec.direction != AsofDirection::kBackward;
    for (int p : owners) {
      const auto P = static_cast<size_t>(p);
      auto first_ge = std::lower_bound(rsorted.begin(), rsorted.end(),
                                       std::pair{lo[P].t, std::numeric_limits<idx_t>::min()});
      if (want_before && first_ge != rsorted.begin()) {
        const auto& [t, r] = *(first_ge - 1);
        cand[6 * P] = 1;
        cand[6 * P + 1] = t;
        cand[6 * P + 2] = rbase + r;
      }
      auto first_gt = std::upper_bound(rsorted.begin(), rsorted.end(),
                                       std::pair{hi[P].t, std::numeric_limits<idx_t>::max()});
      if (want_after && first_gt != rsorted.end()) {
        const auto& [t, r] = *first_gt;
        cand[6 * P + 3] = 1;
        cand[6 * P + 4] = t;
        cand[6 * P + 5] = rbase + r;
      }
    }
    const auto allcand = mpi::allgather_blocks<std::int64_t>(comm, cand);
    for (int p : owners) {
      const auto P = static_cast<size_t>(p);
      for (int which = 0; which < 2; ++which) {
        int best = -1;
        std::pair<std::int64_t, std::int64_t> best_key{};
        for (int q = 0; q < ranks; ++q) {
          const size_t at = static_cast<size_t>(q) * 6 * static_cast<size_t>(ranks) + 6 * P +
                            3 * static_cast<size_t>(which);
          if (allcand[at] == 0) continue;
          const std::pair<std::int64_t, std::int64_t> key{allcand[at + 1], allcand[at + 2]};
          if (best < 0 || (which == 0 ? key > best_key : key < best_key)) {
            best = q;
            best_key = key;
          }
        }
        if (best == me) {
          rrows.push_back(static_cast<idx_t>(best_key.second - rbase));
          rdest.push_back(p);
        }
      }
    }
  }

  const double route_s = lap();
  // ---- exchange -----------------------------------------------------------------------------
  // shuffle_to keeps a source's rows in their order and puts the sources in rank order, so where
  // a source's rows are in ascending global index order, the received rows' positions order them
  // as their global indexes would, and the indexes need not travel. That holds for the left rows
  // always, and for the right rows with keys (sent in local row order); without keys they are
  // sent in time order, plus boundary rows, so their indexes are sent along.
  std::vector<idx_t> left_sent(static_cast<size_t>(ranks), 0);  // left rows to each rank
  for (int d : ldest)
    ++left_sent[static_cast<size_t>(d)];
  const std::vector<idx_t> left_received =
      mpi::alltoall_counts(comm, std::span<const idx_t>(left_sent));
  // Only the left keys and time travel (as columns "k0".., "t"): the left table's other columns
  // never leave home, where the matched right columns come back to meet them. Sending whole left
  // rows there and back cost about a third of the as-of join (README benchmark).
  std::vector<int> lkeys_sent;
  int ltime_sent = 0;
  Table lt;
  {
    Table probe;
    for (size_t k = 0; k < lkeys.size(); ++k) {
      probe.add_column("k" + std::to_string(k), left.column(lkeys[k]));
      lkeys_sent.push_back(static_cast<int>(k));
    }
    ltime_sent = static_cast<int>(lkeys.size());
    probe.add_column("t", left.column(ltime));
    lt = ranks == 1 ? std::move(probe) : shuffle_to(comm, probe, ldest, options.shuffle);
  }
  std::vector<std::int64_t> lgv(static_cast<size_t>(lt.num_rows()));
  for (size_t i = 0; i < lgv.size(); ++i)
    lgv[i] = static_cast<std::int64_t>(i);
  // With keys and no null key or time, every right row is sent once, in order: no copy needed.
  const bool all_right =
      static_cast<idx_t>(rrows.size()) == right.num_rows() && !spec.left_by.empty();
  Table taken;
  if (!all_right) taken = right.take(rrows);
  const Table& to_send = all_right ? right : taken;
  const Table rt = shuffle_to(comm, to_send, rdest, options.shuffle);
  std::vector<std::int64_t> rgv;
  if (spec.left_by.empty()) {
    std::vector<std::int64_t> rg(rrows.size());
    for (size_t i = 0; i < rg.size(); ++i)
      rg[i] = rbase + rrows[i];
    const Table rgt = shuffle_to(comm, gidx_table(std::move(rg)), rdest, options.shuffle);
    const auto& v = rgt.column(0).values<std::int64_t>();
    rgv.assign(v.begin(), v.end());
  } else {
    rgv.resize(static_cast<size_t>(rt.num_rows()));
    for (size_t i = 0; i < rgv.size(); ++i)
      rgv[i] = static_cast<std::int64_t>(i);
  }

  const double exchange_s = lap();
  // ---- local sort and merge -----------------------------------------------------------------
  const Side ls(lt, lkeys_sent, ltime_sent);
  const Side rs(rt, rkeys, rtime);
  std::vector<Entry> le, re;
  build_entries(ls, lt, std::span<const std::int64_t>(lgv.data(), lgv.size()), rs, rt,
                std::span<const std::int64_t>(rgv.data(), rgv.size()), le, re);
  const double sort_s = lap();
  const std::vector<idx_t> match =
      merge(le, re, ls, rs, lt.num_rows(), spec.direction, spec.tolerance);
  const double merge_s = lap();

  // ---- output -------------------------------------------------------------------------------
  // The matched right columns go back to where their left row came from, in its order, and join
  // the left columns there, so the output is distributed and ordered like the left table at
  // every rank count.
  Table matched;
  for (int c = 0; c < rt.num_columns(); ++c) {
    const auto& name = rt.schema().field(c).name;
    if (std::find(spec.right_by.begin(), spec.right_by.end(), name) != spec.right_by.end())
      continue;
    matched.add_column(name, take_or_null(rt.column(c), match));
  }
  const double assemble_s = lap();
  auto log_phases = [&](double home_s) {
    spdlog::debug(
        "as-of join phases on this rank: rows routed in {:.3f} s, exchanged in {:.3f} s, sorted "
        "in {:.3f} s, merged in {:.3f} s, right columns taken in {:.3f} s, sent home and joined "
        "in {:.3f} s",
        route_s, exchange_s, sort_s, merge_s, assemble_s, home_s);
  };
  // One rank: the exchange kept every row in place and in order, so `matched` is home already.
  if (ranks > 1) {
    // Matched row i answers the rank whose block of received left rows holds i.
    std::vector<int> back(lgv.size());
    {
      size_t at = 0;
      for (int q = 0; q < ranks; ++q)
        for (idx_t i = 0; i < left_received[static_cast<size_t>(q)]; ++i)
          back[at++] = q;
    }
    const Table home = shuffle_to(comm, matched, back, options.shuffle);
    // Home holds, per rank q in rank order, the answers for this rank's left rows that went to q,
    // in their order: left row r's is at q's block start plus the number of earlier rows that
    // went to q. The take below reads p ascending streams, not random rows.
    std::vector<idx_t> next(static_cast<size_t>(ranks), 0);
    for (int q = 1; q < ranks; ++q)
      next[static_cast<size_t>(q)] =
          next[static_cast<size_t>(q) - 1] + left_sent[static_cast<size_t>(q) - 1];
    std::vector<idx_t> order(ldest.size());
    for (size_t r = 0; r < ldest.size(); ++r)
      order[r] = next[static_cast<size_t>(ldest[r])]++;
    matched = home.take(order);
  }
  Table result;
  for (int c = 0; c < left.num_columns(); ++c)
    result.add_column(out_schema.field(c).name, left.column(c));
  for (int c = 0; c < matched.num_columns(); ++c)
    result.add_column(out_schema.field(left.num_columns() + c).name, std::move(matched.column(c)));
  log_phases(lap());
  return result;
}

}  // namespace shardflow::ops
