#include "shardflow/ops/join.hpp"

#include "shardflow/common/timer.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <memory>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include "shardflow/common/error.hpp"
#include "shardflow/common/hash.hpp"
#include "shardflow/common/suggest.hpp"
#include "shardflow/mpi/allgatherv.hpp"
#include "shardflow/mpi/allreduce.hpp"
#include "shardflow/ops/hash_table.hpp"
#include "shardflow/ops/key_equality.hpp"

namespace shardflow::ops {

using table::Column;
using table::DataType;
using table::PlainStrings;
using table::Schema;
using table::Table;

// =============================================================================================
// Names
// =============================================================================================

const std::vector<std::string>& join_how_names() {
  static const std::vector<std::string> names = {"inner", "left", "right", "full", "semi", "anti"};
  return names;
}

std::string_view to_string(JoinHow how) {
  return join_how_names()[static_cast<size_t>(how)];
}

std::optional<JoinHow> parse_join_how(std::string_view name) {
  const auto& names = join_how_names();
  for (size_t i = 0; i < names.size(); ++i)
    if (names[i] == name) return static_cast<JoinHow>(i);
  return std::nullopt;
}

const std::vector<std::string>& join_strategy_names() {
  static const std::vector<std::string> names = {"auto", "shuffle", "broadcast"};
  return names;
}

std::string_view to_string(JoinStrategy strategy) {
  return join_strategy_names()[static_cast<size_t>(strategy)];
}

std::optional<JoinStrategy> parse_join_strategy(std::string_view name) {
  const auto& names = join_strategy_names();
  for (size_t i = 0; i < names.size(); ++i)
    if (names[i] == name) return static_cast<JoinStrategy>(i);
  return std::nullopt;
}

std::optional<DataType> join_key_type(DataType left, DataType right) {
  if (left == right) return left;
  auto either = [&](DataType a, DataType b) {
    return (left == a && right == b) || (left == b && right == a);
  };
  if (either(DataType::kInt32, DataType::kInt64)) return DataType::kInt64;
  if (either(DataType::kFloat32, DataType::kFloat64)) return DataType::kFloat64;
  return std::nullopt;
}

// =============================================================================================
// Output schema
// =============================================================================================

namespace {

struct KeyColumns {
  std::vector<int> left, right;
  std::vector<DataType> types;  // common type of each pair
};

KeyColumns resolve_keys(const Schema& left, const Schema& right, const JoinSpec& spec) {
  if (spec.left_keys.empty()) throw ConfigError("a join needs at least one key column");
  if (spec.left_keys.size() != spec.right_keys.size()) {
    throw ConfigError(
        "the join has {} left key(s) ({}) but {} right key(s) ({}); give one right key per left "
        "key",
        spec.left_keys.size(), fmt::join(spec.left_keys, ", "), spec.right_keys.size(),
        fmt::join(spec.right_keys, ", "));
  }
  KeyColumns k;
  for (size_t i = 0; i < spec.left_keys.size(); ++i) {
    const int l = left.index_of(spec.left_keys[i], "the left table");
    const int r = right.index_of(spec.right_keys[i], "the right table");
    const DataType lt = left.field(l).type, rt = right.field(r).type;
    const auto common = join_key_type(lt, rt);
    if (!common) {
      throw ConfigError(
          "join key '{}' is {} on the left but '{}' is {} on the right; these types cannot be "
          "compared (keys must have the same type, or be int32/int64 or float32/float64)",
          spec.left_keys[i], table::to_string(lt), spec.right_keys[i], table::to_string(rt));
    }
    k.left.push_back(l);
    k.right.push_back(r);
    k.types.push_back(*common);
  }
  return k;
}

bool keeps_right_columns(JoinHow how) {
  return how != JoinHow::kSemi && how != JoinHow::kAnti;
}

}  // namespace

Schema join_output_schema(const Schema& left, const Schema& right, const JoinSpec& spec) {
  const KeyColumns k = resolve_keys(left, right, spec);
  std::vector<table::Field> fields = left.fields();
  for (size_t i = 0; i < k.left.size(); ++i)
    fields[static_cast<size_t>(k.left[i])].type = k.types[i];
  if (!keeps_right_columns(spec.how)) return Schema(std::move(fields));
  std::set<std::string> names;
  for (const auto& f : fields)
    names.insert(f.name);
  for (int c = 0; c < right.num_fields(); ++c) {
    if (std::find(k.right.begin(), k.right.end(), c) != k.right.end()) continue;
    const table::Field& f = right.field(c);
    std::string name = f.name;
    if (names.count(name) != 0) {
      name += spec.suffix;
      if (names.count(name) != 0) {
        throw ConfigError(
            "right column '{}' collides with a left column, and '{}' (with the suffix '{}') is "
            "taken too; choose another suffix",
            f.name, name, spec.suffix);
      }
    }
    names.insert(name);
    fields.push_back({name, f.type});
  }
  return Schema(std::move(fields));
}

namespace {

// =============================================================================================
// Key normalization: both sides' key columns in the same type, encoding and dictionary, so that
// hash_rows gives equal hashes and equal codes mean equal strings.
// =============================================================================================

template <typename From, typename To>
Column cast_column(const Column& c, DataType to) {
  Column out(to);
  const auto& src = c.values<From>();
  auto& dst = out.values<To>();
  dst.resize(src.size());
  for (size_t i = 0; i < src.size(); ++i)
    dst[i] = static_cast<To>(src[i]);
  out.validity() = c.validity();
  return out;
}

Column to_plain(const Column& c) {
  Column out = Column::plain_strings();
  auto& p = out.plain();
  for (idx_t i = 0; i < c.size(); ++i)
    p.push_back(c.is_valid(i) ? c.string_at(i) : std::string_view());
  out.validity() = c.validity();
  return out;
}

// Codes of `c` remapped into `to` (which holds every string of c's dictionary).
Column remap_codes(const Column& c, const table::DictionaryPtr& to) {
  const auto& from = c.dictionary()->values();
  std::vector<std::int32_t> map(from.size());
  for (size_t i = 0; i < from.size(); ++i)
    map[i] = *to->find(from[i]);
  Column out(DataType::kString);
  out.set_dictionary(to);
  auto& dst = out.codes();
  const auto& src = c.codes();
  dst.resize(src.size());
  for (size_t i = 0; i < src.size(); ++i)
    dst[i] = c.is_valid(static_cast<idx_t>(i)) ? map[static_cast<size_t>(src[i])] : 0;
  out.validity() = c.validity();
  return out;
}

// How one key column is brought to the join's common key form, so that hash_rows gives equal
// hashes and equal codes mean equal strings on both sides. Applied to key columns only: copying a
// whole side to replace one key column cost q4 of the README's join benchmark (a 5e6-row side per
// rank, its keys in another dictionary than the other side's) 0.23 s of its 0.9 s.
struct KeyNorm {
  enum class Kind { kNone, kToInt64, kToFloat64, kRebind, kRemap, kToPlain };
  Kind kind = Kind::kNone;
  table::DictionaryPtr dictionary;  // kRebind, kRemap: the dictionary the codes refer to after
};

struct KeyNorms {
  std::vector<KeyNorm> left, right;  // one per key
  bool any_left = false, any_right = false;
};

// The normalization of each key of both sides. Every decision depends only on schemas, encodings
// and dictionaries, which are equal on all ranks, so all ranks normalize alike.
KeyNorms plan_key_norms(const Table& left, const Table& right, const KeyColumns& k) {
  using Kind = KeyNorm::Kind;
  KeyNorms n;
  n.left.resize(k.left.size());
  n.right.resize(k.right.size());
  for (size_t i = 0; i < k.left.size(); ++i) {
    const Column& ls = left.column(k.left[i]);
    const Column& rs = right.column(k.right[i]);
    const DataType t = k.types[i];
    for (const bool on_left : {true, false}) {
      const Column& c = on_left ? ls : rs;
      KeyNorm& norm = on_left ? n.left[i] : n.right[i];
      if (c.type() == t) continue;
      if (c.type() == DataType::kInt32) norm.kind = Kind::kToInt64;
      if (c.type() == DataType::kFloat32) norm.kind = Kind::kToFloat64;
    }
    if (t != DataType::kString) continue;
    if (ls.is_dictionary_encoded() && rs.is_dictionary_encoded()) {
      if (ls.dictionary() == rs.dictionary()) continue;
      if (ls.dictionary()->values() == rs.dictionary()->values()) {
        n.right[i] = {Kind::kRebind, ls.dictionary()};
        continue;
      }
      // Two dictionaries: both sides move to their sorted union (equal on every rank, because
      // each side's dictionary is).
      std::vector<std::string> merged;
      const auto& a = ls.dictionary()->values();
      const auto& b = rs.dictionary()->values();
      merged.reserve(a.size() + b.size());
      std::set_union(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(merged));
      auto dict = std::make_shared<const table::Dictionary>(std::move(merged));
      n.left[i] = {Kind::kRemap, dict};
      n.right[i] = {Kind::kRemap, dict};
    } else if (ls.is_dictionary_encoded()) {
      n.left[i].kind = Kind::kToPlain;
    } else if (rs.is_dictionary_encoded()) {
      n.right[i].kind = Kind::kToPlain;
    }
  }
  for (const auto& norm : n.left)
    n.any_left = n.any_left || norm.kind != Kind::kNone;
  for (const auto& norm : n.right)
    n.any_right = n.any_right || norm.kind != Kind::kNone;
  return n;
}

// `c` in normalized form. Row-wise, so it commutes with moving rows: a side may be shuffled first
// and normalized after.
Column normalize_key(const Column& c, const KeyNorm& norm) {
  using Kind = KeyNorm::Kind;
  switch (norm.kind) {
    case Kind::kNone:
      return c;
    case Kind::kToInt64:
      return cast_column<std::int32_t, std::int64_t>(c, DataType::kInt64);
    case Kind::kToFloat64:
      return cast_column<float, double>(c, DataType::kFloat64);
    case Kind::kRebind: {
      Column out = c;
      out.set_dictionary(norm.dictionary);
      return out;
    }
    case Kind::kRemap:
      return remap_codes(c, norm.dictionary);
    case Kind::kToPlain:
      return to_plain(c);
  }
  return c;
}

// The key columns of one side in normalized form, where matching and the output read them: the
// side's own table (key columns normalized in place when the side owns its rows), or a table of
// only its normalized key columns (in key order) beside a side that was not moved.
struct SideKeys {
  Table own;                        // the normalized key columns, when not in the side's table
  const Table* borrowed = nullptr;  // else the side's table, which holds them
  std::vector<int> columns;         // where each key is in table()
  const Table& table() const { return borrowed != nullptr ? *borrowed : own; }
  const Column& key(size_t i) const { return table().column(columns[i]); }
};

SideKeys normalized_keys(const Table& t, const std::vector<int>& keys,
                         const std::vector<KeyNorm>& norms, bool any) {
  SideKeys s;
  if (!any) {
    s.borrowed = &t;
    s.columns = keys;
    return s;
  }
  for (size_t i = 0; i < keys.size(); ++i) {
    s.own.add_column("k" + std::to_string(i), normalize_key(t.column(keys[i]), norms[i]));
    s.columns.push_back(static_cast<int>(i));
  }
  return s;
}

// =============================================================================================
// Local matching: a chained hash table on the smaller side, probed with the other.
// =============================================================================================

// Without pairs (semi/anti), right_matched may be incomplete.
struct Matches {
  std::vector<idx_t> left, right;  // matching pairs (only when pairs were asked for)
  std::vector<std::uint8_t> left_matched, right_matched;
};

Matches match_local(const Table& l, const std::vector<int>& lk, const Table& r,
                    const std::vector<int>& rk, bool want_pairs) {
  Matches m;
  const idx_t nl = l.num_rows(), nr = r.num_rows();
  m.left_matched.assign(static_cast<size_t>(nl), 0);
  m.right_matched.assign(static_cast<size_t>(nr), 0);
  if (nl == 0 || nr == 0) return m;
  const KeyEquality eq(l, lk, r, rk);
  const bool build_left = nl < nr;
  const Table& b = build_left ? l : r;
  const Table& p = build_left ? r : l;
  const std::vector<std::uint64_t> bh = hash_rows(b, build_left ? lk : rk);
  const std::vector<std::uint64_t> ph = hash_rows(p, build_left ? rk : lk);
  // One key column of fixed width (or dictionary strings sharing one dictionary, as
  // normalize_keys leaves them): its hash is hash_u64(bits ^ seed), a bijection of the key's bits,
  // so equal hashes are equal keys (nulls never reach the comparison) and the key columns need
  // not be read again for every candidate: a random memory access per probe saved.
  const Column& lkey = l.column(lk.front());
  const Column& rkey = r.column(rk.front());
  const bool plain = lkey.type() == DataType::kString &&
                     (!lkey.is_dictionary_encoded() || !rkey.is_dictionary_encoded() ||
                      lkey.dictionary() != rkey.dictionary());
  const bool hash_decides =
      lk.size() == 1 && rk.size() == 1 && lkey.type() == rkey.type() && !plain;
  auto build_null = [&](idx_t i) { return build_left ? eq.left_null(i) : eq.right_null(i); };
  auto probe_null = [&](idx_t i) { return build_left ? eq.right_null(i) : eq.left_null(i); };

  // One slot per distinct hash; the rows with that hash are chained through `next` in row order.
  // Slots are indexed by a remix of the hash: after a shuffle, the bits rank_of_hash used are
  // equal for every row on this rank. The slot array lives on huge pages (HugeArray, zero-filled:
  // head1 == 0 marks an empty slot) because a large build side is probed at random.
  // Both loops prefetch the slot kAhead rows ahead, so that many cache misses are in flight at
  // once instead of one per row, and a slot whose chain holds one row says so (kSingle in head1),
  // so that a probe does not read `next` (another random access) for it. Together they cut the
  // README's q5 (5e6 x 5e6 rows per rank) local match from 2.1 s to 0.7-0.8 s.
  struct Slot {
    std::uint64_t hash;
    idx_t head1;  // first row of the chain + 1, | kSingle when the chain is that row alone
  };
  constexpr idx_t kSingle = idx_t{1} << 62;
  constexpr idx_t kAhead = 16;
  const idx_t nb = b.num_rows();
  const idx_t np = p.num_rows();
  std::uint64_t cap = 16;
  while (cap * 7 < static_cast<std::uint64_t>(nb) * 10)  // load factor at most 0.7
    cap <<= 1;
  const std::uint64_t mask = cap - 1;
  HugeArray<Slot> slots(cap);
  std::vector<idx_t> next(static_cast<size_t>(nb), -1);
  for (idx_t i = nb - 1; i >= 0; --i) {
    if (i >= kAhead)
      __builtin_prefetch(&slots[hash_u64(bh[static_cast<size_t>(i - kAhead)]) & mask]);
    if (build_null(i)) continue;
    const std::uint64_t h = bh[static_cast<size_t>(i)];
    std::uint64_t s = hash_u64(h) & mask;
    while (slots[s].head1 != 0 && slots[s].hash != h)
      s = (s + 1) & mask;
    const idx_t head1 = slots[s].head1 & ~kSingle;
    next[static_cast<size_t>(i)] = head1 - 1;
    slots[s] = Slot{h, head1 == 0 ? (i + 1) | kSingle : i + 1};
  }
  std::vector<std::uint8_t>& build_matched = build_left ? m.left_matched : m.right_matched;
  std::vector<std::uint8_t>& probe_matched = build_left ? m.right_matched : m.left_matched;
  if (want_pairs) {
    // Most joins emit about one pair per probe row; growing by doubling copied them repeatedly.
    m.left.reserve(static_cast<size_t>(np));
    m.right.reserve(static_cast<size_t>(np));
  }
  for (idx_t j = 0; j < np; ++j) {
    if (j + kAhead < np)
      __builtin_prefetch(&slots[hash_u64(ph[static_cast<size_t>(j + kAhead)]) & mask]);
    if (probe_null(j)) continue;
    const std::uint64_t h = ph[static_cast<size_t>(j)];
    std::uint64_t s = hash_u64(h) & mask;
    while (slots[s].head1 != 0 && slots[s].hash != h)
      s = (s + 1) & mask;
    const idx_t head1 = slots[s].head1;
    if (head1 == 0) continue;
    const bool single = (head1 & kSingle) != 0;
    for (idx_t i = (head1 & ~kSingle) - 1; i >= 0; i = single ? -1 : next[static_cast<size_t>(i)]) {
      const bool equal = hash_decides || (build_left ? eq.equal(i, j) : eq.equal(j, i));
      if (!equal) continue;
      build_matched[static_cast<size_t>(i)] = 1;
      probe_matched[static_cast<size_t>(j)] = 1;
      if (want_pairs) {
        m.left.push_back(build_left ? i : j);
        m.right.push_back(build_left ? j : i);
      } else if (!build_left) {
        break;  // semi/anti: one match decides a probing left row; right flags are not used
      }
    }
  }
  return m;
}

// =============================================================================================
// Distribution
// =============================================================================================

// One side as joined on this rank: rows [0, own) were received by the shuffle (or never moved);
// rows [own, num_rows) are replicated, identical and in the same order on every rank.
struct Placed {
  Table storage;
  const Table* view = nullptr;  // the input itself when nothing moved
  idx_t own = 0;
  const Table& table() const { return view ? *view : storage; }
};

// The normalized key columns of a placed side: normalized in place when the side owns its rows
// and each key is a distinct column (a column could otherwise need two forms, one per pairing),
// else copied beside it.
SideKeys normalize_placed_keys(Placed& side, const std::vector<int>& keys,
                               const std::vector<KeyNorm>& norms, bool any) {
  const std::set<int> distinct(keys.begin(), keys.end());
  if (!any || side.view != nullptr || distinct.size() != keys.size())
    return normalized_keys(side.table(), keys, norms, any);
  for (size_t i = 0; i < keys.size(); ++i) {
    if (norms[i].kind == KeyNorm::Kind::kNone) continue;
    side.storage.replace_column(keys[i], normalize_key(side.storage.column(keys[i]), norms[i]));
  }
  SideKeys s;
  s.borrowed = &side.storage;
  s.columns = keys;
  return s;
}

// Collective: the rows `rows` of every rank, concatenated in rank order, on every rank.
Table replicate(const mpi::Comm& comm, const Table& t, const std::vector<idx_t>& rows,
                const ShuffleOptions& options) {
  const int p = comm.size();
  std::vector<idx_t> take;
  std::vector<int> dest;
  take.reserve(rows.size() * static_cast<size_t>(p));
  dest.reserve(rows.size() * static_cast<size_t>(p));
  for (int d = 0; d < p; ++d) {
    take.insert(take.end(), rows.begin(), rows.end());
    dest.insert(dest.end(), rows.size(), d);
  }
  return shuffle_to(comm, t.take(take), dest, options);
}

// Collective: moves rows to dest[row] (>= 0) or replicates them (dest[row] == kReplicate).
constexpr int kReplicate = -1;
Placed place(const mpi::Comm& comm, const Table& t, const std::vector<int>& dest,
             bool any_replicated, bool any_moved, const ShuffleOptions& options) {
  Placed out;
  std::vector<idx_t> kept, copied;
  if (any_replicated) {
    for (size_t i = 0; i < dest.size(); ++i)
      (dest[i] == kReplicate ? copied : kept).push_back(static_cast<idx_t>(i));
  }
  if (any_moved) {
    if (any_replicated) {
      std::vector<int> d;
      d.reserve(kept.size());
      for (idx_t i : kept)
        d.push_back(dest[static_cast<size_t>(i)]);
      out.storage = shuffle_to(comm, t.take(kept), d, options);
    } else {
      out.storage = shuffle_to(comm, t, dest, options);
    }
  } else if (any_replicated) {
    out.storage = t.take(kept);
  } else {
    out.view = &t;
  }
  out.own = out.table().num_rows();
  if (any_replicated) out.storage.append(replicate(comm, t, copied, options));
  return out;
}

bool has_null_key(const Table& t, const std::vector<int>& keys, idx_t row) {
  for (int k : keys)
    if (!t.column(k).is_valid(row)) return true;
  return false;
}

// Heavy keys (by key hash) found on strided samples of both sides, identical on every rank.
struct HeavyKeys {
  std::unordered_set<std::uint64_t> split_left;   // left rows spread, right rows replicated
  std::unordered_set<std::uint64_t> split_right;  // right rows spread, left rows replicated
};

HeavyKeys find_heavy_keys(const mpi::Comm& comm, const std::vector<std::uint64_t>& lh,
                          const std::vector<std::uint8_t>& lnull,
                          const std::vector<std::uint64_t>& rh,
                          const std::vector<std::uint8_t>& rnull, idx_t total_rows) {
  constexpr size_t kSample = 8192;
  const int p = comm.size();
  auto sample = [&](const std::vector<std::uint64_t>& h, const std::vector<std::uint8_t>& null,
                    double& weight) {
    idx_t valid = 0;
    for (auto n : null)
      valid += n ? 0 : 1;
    const size_t step = std::max<size_t>(1, static_cast<size_t>(valid) / kSample);
    std::vector<std::uint64_t> s;
    size_t seen = 0;
    for (size_t i = 0; i < h.size(); ++i) {
      if (null[i]) continue;
      if (seen++ % step == 0) s.push_back(h[i]);
    }
    weight = s.empty() ? 0.0 : static_cast<double>(valid) / static_cast<double>(s.size());
    return s;
  };
  double wl = 0, wr = 0;
  const auto ls = sample(lh, lnull, wl);
  const auto rs = sample(rh, rnull, wr);
  // Weights and sample sizes of every rank, then every rank's samples.
  const auto wls = mpi::allgather(comm, wl);
  const auto wrs = mpi::allgather(comm, wr);
  const auto nls = mpi::allgather(comm, static_cast<idx_t>(ls.size()));
  const auto nrs = mpi::allgather(comm, static_cast<idx_t>(rs.size()));
  const auto all_l = mpi::allgatherv<std::uint64_t>(comm, std::span<const std::uint64_t>(ls));
  const auto all_r = mpi::allgatherv<std::uint64_t>(comm, std::span<const std::uint64_t>(rs));
  auto estimate = [&](const std::vector<std::uint64_t>& all, const std::vector<idx_t>& counts,
                      const std::vector<double>& w) {
    std::unordered_map<std::uint64_t, double> est;
    size_t at = 0;
    for (int r = 0; r < p; ++r)
      for (idx_t i = 0; i < counts[static_cast<size_t>(r)]; ++i)
        est[all[at++]] += w[static_cast<size_t>(r)];
    return est;
  };
  const auto el = estimate(all_l, nls, wls);
  const auto er = estimate(all_r, nrs, wrs);
  const double threshold =
      std::max(2.0, static_cast<double>(total_rows) / (4.0 * static_cast<double>(p)));
  HeavyKeys heavy;
  for (const auto& [h, n] : el) {
    if (n < threshold) continue;
    const auto it = er.find(h);
    const double other = it == er.end() ? 0.0 : it->second;
    (n >= other ? heavy.split_left : heavy.split_right).insert(h);
  }
  for (const auto& [h, n] : er) {
    if (n < threshold || heavy.split_left.count(h) || heavy.split_right.count(h)) continue;
    heavy.split_right.insert(h);
  }
  return heavy;
}

// =============================================================================================
// Output
// =============================================================================================

// Column `c` at rows `rows`, where -1 gives a null.
Column take_or_null(const Column& c, const std::vector<idx_t>& rows) {
  bool any_missing = false;
  for (idx_t r : rows)
    any_missing |= r < 0;
  if (!any_missing) return c.take(rows);
  std::vector<idx_t> safe(rows.size());
  if (c.size() > 0) {
    for (size_t i = 0; i < rows.size(); ++i)
      safe[i] = rows[i] < 0 ? 0 : rows[i];
    Column out = c.take(safe);
    out.ensure_validity();
    for (size_t i = 0; i < rows.size(); ++i)
      if (rows[i] < 0) out.validity()[i] = 0;
    out.compact_validity();
    return out;
  }
  // No rows to borrow a value slot from: every row is null.
  Column out = c.take(std::vector<idx_t>{});
  out.visit([&](auto& v) {
    using V = std::decay_t<decltype(v)>;
    if constexpr (std::is_same_v<V, PlainStrings>) {
      for (size_t i = 0; i < rows.size(); ++i)
        v.push_back({});
    } else {
      v.resize(rows.size());
      std::fill(v.begin(), v.end(), typename V::value_type{});
    }
  });
  out.validity().assign(rows.size(), 0);
  return out;
}

struct Pairs {
  std::vector<idx_t> left, right;  // -1: no row on that side
};

// The output: `l` and `r` hold every column of each side as placed, `lkeys` and `rkeys` their
// normalized key columns (which give the output's key columns, in the schema's key types).
Table assemble(const Table& l, const SideKeys& lkeys, const Table& r, const SideKeys& rkeys,
               const KeyColumns& k, const JoinSpec& spec, const Schema& schema,
               const Pairs& pairs) {
  Table out;
  const bool coalesce = spec.how == JoinHow::kRight || spec.how == JoinHow::kFull;
  int field = 0;
  for (int c = 0; c < l.num_columns(); ++c, ++field) {
    const auto key = std::find(k.left.begin(), k.left.end(), c);
    if (key == k.left.end()) {
      out.add_column(schema.field(field).name, take_or_null(l.column(c), pairs.left));
      continue;
    }
    const auto i = static_cast<size_t>(key - k.left.begin());
    if (!coalesce) {
      out.add_column(schema.field(field).name, take_or_null(lkeys.key(i), pairs.left));
      continue;
    }
    // A key of a right or full join: the right row's value where there is no left row.
    Column both = lkeys.key(i);
    both.append(rkeys.key(i));
    std::vector<idx_t> rows(pairs.left.size());
    for (size_t i = 0; i < rows.size(); ++i)
      rows[i] = pairs.left[i] >= 0 ? pairs.left[i] : l.num_rows() + pairs.right[i];
    out.add_column(schema.field(field).name, both.take(rows));
  }
  if (!keeps_right_columns(spec.how)) return out;
  for (int c = 0; c < r.num_columns(); ++c) {
    if (std::find(k.right.begin(), k.right.end(), c) != k.right.end()) continue;
    out.add_column(schema.field(field++).name, take_or_null(r.column(c), pairs.right));
  }
  return out;
}

// Collective: OR of `flags` over all ranks.
void or_reduce(const mpi::Comm& comm, std::vector<std::uint8_t>& flags) {
  mpi::allreduce_inplace(comm, std::span<std::uint8_t>(flags), mpi::Reduce::kMax);
}

}  // namespace

// =============================================================================================
// join
// =============================================================================================

Table join(const mpi::Comm& comm, const Table& left, const Table& right, const JoinSpec& spec,
           const JoinOptions& options, JoinStats* stats) {
  // Schemas and spec are equal on all ranks, so these throw alike everywhere; agreed, so that a
  // type known only now (a CSV input without a schema) ends the job with one message, not an
  // abort on every rank.
  KeyColumns k;
  Schema schema;
  comm.agree([&] {
    k = resolve_keys(left.schema(), right.schema(), spec);
    schema = join_output_schema(left.schema(), right.schema(), spec);
  });
  KeyNorms norms;
  // Phase times for the debug log: where a slow join spends its time.
  Stopwatch phase;
  double normalize_s = 0, place_s = 0, match_s = 0, assemble_s = 0;
  comm.agree([&] { norms = plan_key_norms(left, right, k); });
  const int p = comm.size();
  const int me = comm.rank();
  const JoinHow how = spec.how;
  JoinStats st;

  Placed pl, pr;
  if (p == 1) {
    pl.view = &left;
    pr.view = &right;
    pl.own = left.num_rows();
    pr.own = right.num_rows();
  } else {
    std::vector<idx_t> sizes = {left.byte_size(), right.byte_size(), left.num_rows(),
                                right.num_rows()};
    mpi::allreduce_inplace(comm, std::span<idx_t>(sizes), mpi::Reduce::kSum);
    const bool left_smaller = sizes[0] < sizes[1];
    const idx_t smaller = std::min(sizes[0], sizes[1]);
    bool broadcast = spec.strategy == JoinStrategy::kBroadcast;
    if (spec.strategy == JoinStrategy::kAuto) broadcast = smaller <= options.broadcast_max_bytes;
    // Normalizing keeps every key's validity, so the inputs' own key columns tell the nulls.
    std::vector<std::uint8_t> lnull(static_cast<size_t>(left.num_rows()));
    std::vector<std::uint8_t> rnull(static_cast<size_t>(right.num_rows()));
    for (size_t i = 0; i < lnull.size(); ++i)
      lnull[i] = has_null_key(left, k.left, static_cast<idx_t>(i)) ? 1 : 0;
    for (size_t i = 0; i < rnull.size(); ++i)
      rnull[i] = has_null_key(right, k.right, static_cast<idx_t>(i)) ? 1 : 0;
    std::vector<int> ld(lnull.size(), me), rd(rnull.size(), me);
    if (broadcast) {
      // Rows with a null key match nothing: they stay put instead of being copied.
      st.strategy = JoinStrategy::kBroadcast;
      st.broadcast_left = left_smaller;
      auto& d = left_smaller ? ld : rd;
      const auto& null = left_smaller ? lnull : rnull;
      for (size_t i = 0; i < d.size(); ++i)
        if (!null[i]) d[i] = kReplicate;
      pl = place(comm, left, ld, left_smaller, false, options.shuffle);
      pr = place(comm, right, rd, !left_smaller, false, options.shuffle);
    } else {
      st.strategy = JoinStrategy::kShuffle;
      // Destinations from the normalized keys (equal keys, equal ranks); the rows move as they
      // are and are normalized where they land.
      std::vector<std::uint64_t> lh, rh;
      {
        const Stopwatch normalize;
        const SideKeys lkeys = normalized_keys(left, k.left, norms.left, norms.any_left);
        const SideKeys rkeys = normalized_keys(right, k.right, norms.right, norms.any_right);
        normalize_s += normalize.seconds();
        lh = hash_rows(lkeys.table(), lkeys.columns);
        rh = hash_rows(rkeys.table(), rkeys.columns);
      }
      HeavyKeys heavy;
      if (options.split_heavy_keys)
        heavy = find_heavy_keys(comm, lh, lnull, rh, rnull, sizes[2] + sizes[3]);
      st.heavy_keys = static_cast<idx_t>(heavy.split_left.size() + heavy.split_right.size());
      idx_t replicated = 0;
      auto route = [&](const std::vector<std::uint64_t>& h, const std::vector<std::uint8_t>& null,
                       const std::unordered_set<std::uint64_t>& split,
                       const std::unordered_set<std::uint64_t>& copy, std::vector<int>& d) {
        idx_t spread = 0;
        for (size_t i = 0; i < h.size(); ++i) {
          if (null[i]) continue;  // matches nothing: stays on this rank
          if (!split.empty() && split.count(h[i])) {
            d[i] = static_cast<int>((static_cast<idx_t>(me) + spread++) % p);
          } else if (!copy.empty() && copy.count(h[i])) {
            d[i] = kReplicate;
            ++replicated;
          } else {
            d[i] = rank_of_hash(h[i], p);
          }
        }
      };
      route(lh, lnull, heavy.split_left, heavy.split_right, ld);
      const idx_t left_replicated = replicated;
      route(rh, rnull, heavy.split_right, heavy.split_left, rd);
      const idx_t right_replicated = replicated - left_replicated;
      std::vector<idx_t> any = {left_replicated, right_replicated};
      mpi::allreduce_inplace(comm, std::span<idx_t>(any), mpi::Reduce::kSum);
      pl = place(comm, left, ld, any[0] > 0, true, options.shuffle);
      pr = place(comm, right, rd, any[1] > 0, true, options.shuffle);
    }
  }
  place_s = phase.seconds() - normalize_s;

  // ---- key normalization where the rows are ---------------------------------------------------
  const double before_normalize = phase.seconds();
  const SideKeys lkeys = normalize_placed_keys(pl, k.left, norms.left, norms.any_left);
  const SideKeys rkeys = normalize_placed_keys(pr, k.right, norms.right, norms.any_right);
  normalize_s += phase.seconds() - before_normalize;

  // ---- local join ---------------------------------------------------------------------------
  const double before_match = phase.seconds();
  const bool pairs_needed = keeps_right_columns(how);
  Matches m = match_local(lkeys.table(), lkeys.columns, rkeys.table(), rkeys.columns, pairs_needed);
  match_s = phase.seconds() - before_match;
  // Replicated rows that must appear when unmatched: their flags are OR-reduced, then replicated
  // row j is emitted by rank j % p only.
  const bool keep_left = how == JoinHow::kLeft || how == JoinHow::kFull || how == JoinHow::kSemi ||
                         how == JoinHow::kAnti;
  const bool keep_right = how == JoinHow::kRight || how == JoinHow::kFull;
  auto reduce_replicated = [&](const Placed& side, std::vector<std::uint8_t>& matched) {
    const idx_t n_rep = side.table().num_rows() - side.own;
    if (p == 1 || n_rep == 0) return;  // n_rep is equal on all ranks
    std::vector<std::uint8_t> rep(matched.begin() + side.own, matched.end());
    or_reduce(comm, rep);
    std::copy(rep.begin(), rep.end(), matched.begin() + side.own);
  };
  if (keep_left) reduce_replicated(pl, m.left_matched);
  if (keep_right) reduce_replicated(pr, m.right_matched);
  auto emits = [&](const Placed& side, idx_t row) {
    return row < side.own || (row - side.own) % p == me;
  };

  Pairs out;
  if (pairs_needed) {
    out.left = std::move(m.left);
    out.right = std::move(m.right);
  }
  const idx_t nl = pl.table().num_rows(), nr = pr.table().num_rows();
  if (how == JoinHow::kSemi || how == JoinHow::kAnti) {
    const std::uint8_t want = how == JoinHow::kSemi ? 1 : 0;
    for (idx_t i = 0; i < nl; ++i)
      if (m.left_matched[static_cast<size_t>(i)] == want && emits(pl, i)) out.left.push_back(i);
  }
  if (how == JoinHow::kLeft || how == JoinHow::kFull) {
    for (idx_t i = 0; i < nl; ++i)
      if (!m.left_matched[static_cast<size_t>(i)] && emits(pl, i)) {
        out.left.push_back(i);
        out.right.push_back(-1);
      }
  }
  if (keep_right) {
    for (idx_t j = 0; j < nr; ++j)
      if (!m.right_matched[static_cast<size_t>(j)] && emits(pr, j)) {
        out.left.push_back(-1);
        out.right.push_back(j);
      }
  }
  const double before_assemble = phase.seconds();
  Table result = assemble(pl.table(), lkeys, pr.table(), rkeys, k, spec, schema, out);
  assemble_s = phase.seconds() - before_assemble;
  spdlog::debug(
      "join phases on this rank: keys normalized in {:.3f} s, rows placed (shuffle or broadcast) "
      "in {:.3f} s, matched in {:.3f} s, output assembled in {:.3f} s",
      normalize_s, place_s, match_s, assemble_s);

  st.left_rows = nl;
  st.right_rows = nr;
  st.output_rows = result.num_rows();
  st.work_per_rank = mpi::allgather(comm, nl + nr);
  const auto outputs = mpi::allgather(comm, st.output_rows);
  spdlog::info("join ({}, {}{}): rows joined per rank [{}], output rows per rank [{}]",
               to_string(how),
               st.strategy == JoinStrategy::kBroadcast
                   ? (st.broadcast_left ? "left broadcast" : "right broadcast")
                   : "shuffle",
               st.heavy_keys > 0 ? fmt::format(", {} heavy key(s) split", st.heavy_keys) : "",
               fmt::join(st.work_per_rank, ", "), fmt::join(outputs, ", "));
  if (stats) *stats = std::move(st);
  return result;
}

}  // namespace shardflow::ops
