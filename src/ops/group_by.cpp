#include "shardflow/ops/group_by.hpp"

#include <sys/mman.h>

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <set>

#include "shardflow/common/hash.hpp"
#include "shardflow/common/suggest.hpp"
#include "shardflow/mpi/allreduce.hpp"

namespace shardflow::ops {

using table::Column;
using table::DataType;
using table::PlainStrings;
using table::Schema;
using table::Table;

table::Schema group_by_output_schema(const Schema& input, const std::vector<std::string>& keys,
                                     const std::vector<AggSpec>& aggs) {
  std::vector<table::Field> fields;
  std::set<std::string> names;
  auto add = [&](std::string name, DataType type) {
    if (!names.insert(name).second) {
      throw ConfigError(
          "group-by output column '{}' appears twice; give the aggregates distinct output names",
          name);
    }
    fields.push_back({std::move(name), type});
  };
  for (const auto& k : keys)
    add(k, input.field(input.index_of(k, "group-by keys")).type);
  for (const auto& a : aggs) {
    if (a.column.empty()) {
      if (a.kind != AggKind::kCount) {
        throw ConfigError("aggregate {} needs a column; only count may be used without one",
                          to_string(a.kind));
      }
      add(output_name(a), DataType::kInt64);
      continue;
    }
    const DataType in = input.field(input.index_of(a.column, "group-by aggregates")).type;
    add(output_name(a), aggregate_output_type(a.kind, in, a.column));
  }
  return Schema(std::move(fields));
}

namespace {

// =============================================================================================
// Packed keys
// =============================================================================================

// One key column's share of the packed key: code in [0, slots), null -> 0 when nullable.
struct PackedColumn {
  int column = -1;
  DataType type = DataType::kInt64;
  bool dictionary = false;
  bool nullable = false;
  std::int64_t min = 0;     // integers: smallest value over all ranks
  std::uint64_t slots = 1;  // number of codes
  std::uint64_t mult = 1;   // place value in the packed key
  int shift = 0;            // bit-packed keys: code = (key >> shift) & mask
  std::uint64_t mask = 0;
  table::DictionaryPtr dict;
};

struct Packing {
  bool packable = false;
  bool bit_packed = false;   // place values are powers of two (decoding by shifts)
  std::uint64_t domain = 1;  // keys are in [0, domain)
  std::vector<PackedColumn> columns;
};

// Collective: decides (identically on all ranks) whether the keys pack into 62 bits.
Packing plan_packing(const mpi::Comm& comm, const Table& t, const std::vector<int>& key_idx) {
  const size_t k = key_idx.size();
  std::vector<std::int64_t> mins(k, INT64_MAX);
  std::vector<std::int64_t> maxs(2 * k, INT64_MIN);  // [max..., has_nulls...]
  bool candidate = true;
  for (size_t j = 0; j < k; ++j) {
    const Column& c = t.column(key_idx[j]);
    maxs[k + j] = c.has_nulls() ? 1 : 0;
    const auto& valid = c.validity();
    auto scan = [&](const auto& v) {
      std::int64_t lo = INT64_MAX, hi = INT64_MIN;
      for (size_t i = 0; i < v.size(); ++i) {
        if (!valid.empty() && !valid[i]) continue;
        const auto x = static_cast<std::int64_t>(v[i]);
        lo = std::min(lo, x);
        hi = std::max(hi, x);
      }
      mins[j] = lo;
      maxs[j] = hi;
    };
    switch (c.type()) {
      case DataType::kInt32:
        scan(c.values<std::int32_t>());
        break;
      case DataType::kInt64:
      case DataType::kTimestamp:
        scan(c.values<std::int64_t>());
        break;
      case DataType::kBool:
        break;
      case DataType::kString:
        if (!c.is_dictionary_encoded()) candidate = false;
        break;
      case DataType::kFloat32:
      case DataType::kFloat64:
        candidate = false;
        break;
    }
  }
  // Every rank has the same schema, so `candidate` is equal everywhere except for string
  // encodings; it is reduced with the ranges.
  mins.push_back(candidate ? 0 : 1);
  mpi::allreduce_inplace(comm, std::span<std::int64_t>(mins), mpi::Reduce::kMin);
  maxs.push_back(candidate ? 0 : 1);
  mpi::allreduce_inplace(comm, std::span<std::int64_t>(maxs), mpi::Reduce::kMax);
  Packing p;
  if (mins.back() != 0 || maxs.back() != 0) return p;  // some rank has a plain string key
  unsigned __int128 domain = 1;
  const unsigned __int128 limit = static_cast<unsigned __int128>(1) << 62;
  for (size_t j = 0; j < k; ++j) {
    const Column& c = t.column(key_idx[j]);
    PackedColumn pc;
    pc.column = key_idx[j];
    pc.type = c.type();
    pc.nullable = maxs[k + j] != 0;
    unsigned __int128 values = 0;
    if (c.type() == DataType::kString) {
      pc.dictionary = true;
      pc.dict = c.dictionary();
      values = static_cast<unsigned __int128>(c.dictionary()->size());
    } else if (c.type() == DataType::kBool) {
      values = 2;
    } else if (mins[j] <= maxs[j]) {
      pc.min = mins[j];
      values = static_cast<unsigned __int128>(static_cast<__int128>(maxs[j]) - mins[j] + 1);
    }
    unsigned __int128 slots = values + (pc.nullable ? 1 : 0);
    if (slots == 0) slots = 1;
    if (slots > limit || domain * slots > limit) return Packing{};
    pc.slots = static_cast<std::uint64_t>(slots);
    pc.mult = static_cast<std::uint64_t>(domain);
    domain *= slots;
    p.columns.push_back(pc);
  }
  p.packable = true;
  p.domain = static_cast<std::uint64_t>(domain);
  // Prefer power-of-two place values when they fit: decoding the keys of millions of groups is
  // then shifts and masks instead of two 64-bit divisions per column.
  auto bits_for = [](std::uint64_t slots) {
    return slots <= 1 ? 0 : 64 - __builtin_clzll(slots - 1);
  };
  int total_bits = 0;
  for (const auto& pc : p.columns)
    total_bits += bits_for(pc.slots);
  if (total_bits <= 62) {
    int shift = 0;
    for (auto& pc : p.columns) {
      const int b = bits_for(pc.slots);
      pc.shift = shift;
      pc.mult = std::uint64_t{1} << shift;
      pc.mask = (std::uint64_t{1} << b) - 1;
      shift += b;
    }
    p.bit_packed = true;
    p.domain = std::uint64_t{1} << total_bits;
  }
  return p;
}

// Local: packed key of every row.
std::vector<std::uint64_t> pack_keys(const Table& t, const Packing& p) {
  const size_t n = static_cast<size_t>(t.num_rows());
  std::vector<std::uint64_t> key(n, 0);
  for (const auto& pc : p.columns) {
    const Column& c = t.column(pc.column);
    const auto& valid = c.validity();
    const std::uint64_t mult = pc.mult;
    const std::uint64_t shift = pc.nullable ? 1 : 0;
    auto fold = [&](const auto& v, std::int64_t base) {
      if (valid.empty()) {
        for (size_t i = 0; i < n; ++i)
          key[i] +=
              (static_cast<std::uint64_t>(static_cast<std::int64_t>(v[i]) - base) + shift) * mult;
      } else {
        for (size_t i = 0; i < n; ++i) {
          const std::uint64_t code =
              valid[i] ? static_cast<std::uint64_t>(static_cast<std::int64_t>(v[i]) - base) + shift
                       : 0;
          key[i] += code * mult;
        }
      }
    };
    switch (c.type()) {
      case DataType::kInt32:
        fold(c.values<std::int32_t>(), pc.min);
        break;
      case DataType::kInt64:
      case DataType::kTimestamp:
        fold(c.values<std::int64_t>(), pc.min);
        break;
      case DataType::kBool:
        fold(c.values<std::uint8_t>(), 0);
        break;
      case DataType::kString:
        fold(c.codes(), 0);
        break;
      default:
        break;
    }
  }
  return key;
}

// Local: the key columns of packed keys `keys`.
std::vector<Column> unpack_keys(const std::vector<std::uint64_t>& keys, const Packing& p) {
  std::vector<Column> out;
  const size_t g = keys.size();
  for (const auto& pc : p.columns) {
    Column c(pc.type);
    if (pc.dictionary) c.set_dictionary(pc.dict);
    std::vector<std::uint8_t> valid;
    if (pc.nullable) valid.assign(g, 1);
    const std::uint64_t shift = pc.nullable ? 1 : 0;
    c.visit([&](auto& v) {
      using V = std::decay_t<decltype(v)>;
      if constexpr (!std::is_same_v<V, PlainStrings>) {
        using T = typename V::value_type;
        v.resize(g);
        const std::int64_t base =
            (pc.type == DataType::kString || pc.type == DataType::kBool) ? 0 : pc.min;
        for (size_t i = 0; i < g; ++i) {
          const std::uint64_t code =
              p.bit_packed ? (keys[i] >> pc.shift) & pc.mask : (keys[i] / pc.mult) % pc.slots;
          if (pc.nullable && code == 0) {
            valid[i] = 0;
            v[i] = T{};
          } else {
            v[i] = static_cast<T>(base + static_cast<std::int64_t>(code - shift));
          }
        }
      }
    });
    if (pc.nullable) {
      c.validity() = std::move(valid);
      c.compact_validity();
    }
    out.push_back(std::move(c));
  }
  return out;
}

// =============================================================================================
// Grouping: group id per row, plus one representative (packed key or row) per group
// =============================================================================================

// A zero-filled array of trivially copyable T on 2 MiB-aligned memory advised to use transparent
// huge pages: a hash table of hundreds of MB probed at random otherwise pays a TLB miss (and, when
// fresh, a page fault per 4 KiB) on nearly every probe.
template <typename T>
class HugeArray {
 public:
  HugeArray() = default;
  explicit HugeArray(size_t n) : size_(n) {
    constexpr size_t kHuge = size_t{2} << 20;
    const size_t bytes = std::max(kHuge, (n * sizeof(T) + kHuge - 1) / kHuge * kHuge);
    void* p = std::aligned_alloc(kHuge, bytes);
    if (p == nullptr) {
      throw RuntimeError("group-by: cannot allocate {} MiB for a hash table; use more ranks",
                         bytes >> 20);
    }
    (void)madvise(p, bytes, MADV_HUGEPAGE);  // advice only: without THP it is plain memory
    std::memset(p, 0, bytes);
    data_.reset(static_cast<T*>(p));
  }
  T& operator[](size_t i) { return data_.get()[i]; }
  const T& operator[](size_t i) const { return data_.get()[i]; }
  size_t size() const { return size_; }

 private:
  struct Free {
    void operator()(T* p) const { std::free(p); }
  };
  std::unique_ptr<T, Free> data_;
  size_t size_ = 0;
};

// Open addressing with linear probing on 64-bit keys; slots store key + 1 so that 0 marks an
// empty slot (packed keys are below 2^62). Probes are issued in batches with prefetches so that
// the cache misses of a large table overlap.
class PackedKeyTable {
 public:
  explicit PackedKeyTable(idx_t expected_groups) {
    std::uint64_t cap = 1024;
    while (cap * 7 < static_cast<std::uint64_t>(expected_groups) * 10)
      cap <<= 1;
    slots_ = HugeArray<Slot>(cap);
    mask_ = cap - 1;
  }

  void assign(const std::uint64_t* keys, size_t n, std::int32_t* gid,
              std::vector<std::uint64_t>& group_keys) {
    constexpr size_t kBatch = 64;
    std::uint64_t h[kBatch];
    for (size_t base = 0; base < n; base += kBatch) {
      const size_t m = std::min(kBatch, n - base);
      if ((size_ + m) * 10 > slots_.size() * 7) grow();
      for (size_t j = 0; j < m; ++j) {
        h[j] = hash_u64(keys[base + j]) & mask_;
        __builtin_prefetch(&slots_[h[j]]);
      }
      for (size_t j = 0; j < m; ++j) {
        const std::uint64_t k1 = keys[base + j] + 1;
        std::uint64_t idx = h[j];
        while (true) {
          Slot& s = slots_[idx];
          if (s.key1 == k1) {
            gid[base + j] = s.gid;
            break;
          }
          if (s.key1 == 0) {
            s.key1 = k1;
            s.gid = static_cast<std::int32_t>(group_keys.size());
            gid[base + j] = s.gid;
            group_keys.push_back(k1 - 1);
            ++size_;
            break;
          }
          idx = (idx + 1) & mask_;
        }
      }
    }
  }

 private:
  struct Slot {
    std::uint64_t key1;
    std::int32_t gid;
    std::int32_t pad;
  };
  void grow() {
    HugeArray<Slot> bigger(slots_.size() * 2);
    const std::uint64_t mask = bigger.size() - 1;
    for (size_t i = 0; i < slots_.size(); ++i) {
      const Slot& s = slots_[i];
      if (s.key1 == 0) continue;
      std::uint64_t idx = hash_u64(s.key1 - 1) & mask;
      while (bigger[idx].key1 != 0)
        idx = (idx + 1) & mask;
      bigger[idx] = s;
    }
    slots_ = std::move(bigger);
    mask_ = mask;
  }
  HugeArray<Slot> slots_;
  std::uint64_t mask_ = 0;
  size_t size_ = 0;
};

struct PackedGroups {
  std::vector<std::int32_t> gid;
  std::vector<std::uint64_t> keys;  // packed key of each group, in group-id order
};

PackedGroups group_packed(const std::vector<std::uint64_t>& keys, std::uint64_t domain,
                          idx_t expected_groups) {
  PackedGroups g;
  const size_t n = keys.size();
  g.gid.resize(n);
  const std::uint64_t direct_limit = std::max<std::uint64_t>(std::uint64_t{1} << 20, 2 * n);
  if (domain <= direct_limit && domain <= (std::uint64_t{1} << 28)) {
    // Small key domain: the packed key indexes the group directly.
    std::vector<std::int32_t> slot(domain, -1);
    for (size_t i = 0; i < n; ++i) {
      std::int32_t& s = slot[keys[i]];
      if (s < 0) {
        s = static_cast<std::int32_t>(g.keys.size());
        g.keys.push_back(keys[i]);
      }
      g.gid[i] = s;
    }
    return g;
  }
  PackedKeyTable table(expected_groups);
  g.keys.reserve(static_cast<size_t>(expected_groups));
  table.assign(keys.data(), n, g.gid.data(), g.keys);
  return g;
}

// General keys: hash of the row, equality column by column.
bool key_equal(const Column& c, idx_t a, idx_t b) {
  const bool va = c.is_valid(a), vb = c.is_valid(b);
  if (!va || !vb) return va == vb;
  const auto ia = static_cast<size_t>(a), ib = static_cast<size_t>(b);
  switch (c.type()) {
    case DataType::kInt32:
      return c.values<std::int32_t>()[ia] == c.values<std::int32_t>()[ib];
    case DataType::kInt64:
    case DataType::kTimestamp:
      return c.values<std::int64_t>()[ia] == c.values<std::int64_t>()[ib];
    case DataType::kBool:
      return c.values<std::uint8_t>()[ia] == c.values<std::uint8_t>()[ib];
    case DataType::kFloat32:
      return double_key_bits(c.values<float>()[ia]) == double_key_bits(c.values<float>()[ib]);
    case DataType::kFloat64:
      return double_key_bits(c.values<double>()[ia]) == double_key_bits(c.values<double>()[ib]);
    case DataType::kString:
      if (c.is_dictionary_encoded()) return c.codes()[ia] == c.codes()[ib];
      return c.plain().at(a) == c.plain().at(b);
  }
  return false;
}

struct RowGroups {
  std::vector<std::int32_t> gid;
  std::vector<idx_t> first_row;  // representative row of each group
};

RowGroups group_rows(const Table& t, const std::vector<int>& key_idx) {
  RowGroups g;
  const size_t n = static_cast<size_t>(t.num_rows());
  g.gid.resize(n);
  const std::vector<std::uint64_t> h = hash_rows(t, key_idx);
  struct Slot {
    std::uint64_t hash;
    std::int32_t gid;  // -1 = empty
  };
  std::uint64_t cap = 1024;
  std::vector<Slot> slots(cap, Slot{0, -1});
  auto insert_slot = [&](std::vector<Slot>& s, std::uint64_t mask, std::uint64_t hash,
                         std::int32_t id) {
    std::uint64_t idx = hash & mask;
    while (s[idx].gid >= 0)
      idx = (idx + 1) & mask;
    s[idx] = Slot{hash, id};
  };
  for (size_t i = 0; i < n; ++i) {
    if ((g.first_row.size() + 1) * 10 > cap * 7) {
      std::vector<Slot> bigger(cap * 2, Slot{0, -1});
      for (const Slot& s : slots)
        if (s.gid >= 0) insert_slot(bigger, cap * 2 - 1, s.hash, s.gid);
      slots.swap(bigger);
      cap *= 2;
    }
    const std::uint64_t mask = cap - 1;
    std::uint64_t idx = h[i] & mask;
    while (true) {
      Slot& s = slots[idx];
      if (s.gid < 0) {
        s = Slot{h[i], static_cast<std::int32_t>(g.first_row.size())};
        g.first_row.push_back(static_cast<idx_t>(i));
        g.gid[i] = s.gid;
        break;
      }
      if (s.hash == h[i]) {
        const idx_t r = g.first_row[static_cast<size_t>(s.gid)];
        bool eq = true;
        for (int k : key_idx)
          if (!key_equal(t.column(k), static_cast<idx_t>(i), r)) {
            eq = false;
            break;
          }
        if (eq) {
          g.gid[i] = s.gid;
          break;
        }
      }
      idx = (idx + 1) & mask;
    }
  }
  return g;
}

// =============================================================================================
// Aggregate states
// =============================================================================================

std::vector<AggregateState> make_states(const Table& t, const std::vector<AggSpec>& aggs) {
  std::vector<AggregateState> states;
  states.reserve(aggs.size());
  for (const auto& a : aggs) {
    if (a.column.empty()) {
      states.emplace_back(a.kind, DataType::kInt64, false, nullptr, true);
      continue;
    }
    const Column& c = t.column(a.column);
    const bool plain = c.type() == DataType::kString && !c.is_dictionary_encoded();
    states.emplace_back(a.kind, c.type(), plain, c.dictionary(), false);
  }
  return states;
}

void update_states(std::vector<AggregateState>& states, const Table& t,
                   const std::vector<AggSpec>& aggs, const std::vector<std::int32_t>& gid,
                   idx_t groups) {
  for (size_t j = 0; j < aggs.size(); ++j) {
    states[j].resize(groups);
    const Column* input = aggs[j].column.empty() ? nullptr : &t.column(aggs[j].column);
    states[j].update(input, gid);
  }
}

std::vector<std::string> value_columns(const std::vector<AggSpec>& aggs) {
  std::vector<std::string> names;
  for (const auto& a : aggs)
    if (!a.column.empty() && std::find(names.begin(), names.end(), a.column) == names.end())
      names.push_back(a.column);
  return names;
}

// Fraction of distinct packed keys in a strided sample, over all ranks (collective).
struct DistinctEstimate {
  double fraction = 1.0;
  idx_t local_distinct = 0;
};
DistinctEstimate estimate_distinct(const mpi::Comm& comm, const std::vector<std::uint64_t>& keys) {
  constexpr size_t kSample = 1 << 16;
  const size_t n = keys.size();
  const size_t step = std::max<size_t>(1, n / kSample);
  std::vector<std::uint64_t> sample;
  sample.reserve(std::min(n, kSample + 1));
  for (size_t i = 0; i < n; i += step)
    sample.push_back(keys[i]);
  std::sort(sample.begin(), sample.end());
  const auto distinct =
      static_cast<idx_t>(std::unique(sample.begin(), sample.end()) - sample.begin());
  std::vector<idx_t> sums = {static_cast<idx_t>(sample.size()), distinct};
  mpi::allreduce_inplace(comm, std::span<idx_t>(sums), mpi::Reduce::kSum);
  DistinctEstimate e;
  e.fraction = sums[0] > 0 ? static_cast<double>(sums[1]) / static_cast<double>(sums[0]) : 1.0;
  e.local_distinct = distinct;
  return e;
}

idx_t expected_groups(const DistinctEstimate& e, idx_t rows) {
  if (e.fraction > 0.5) return rows;
  return std::min<idx_t>(rows, std::max<idx_t>(1024, 4 * e.local_distinct));
}

std::vector<int> destinations_of(const std::vector<std::uint64_t>& keys, int ranks) {
  std::vector<int> dest(keys.size());
  for (size_t i = 0; i < keys.size(); ++i)
    dest[i] = rank_of_hash(hash_u64(keys[i]), ranks);
  return dest;
}

Column keys_as_column(const std::vector<std::uint64_t>& keys) {
  Column c(DataType::kInt64);
  auto& v = c.values<std::int64_t>();
  v.resize(keys.size());
  for (size_t i = 0; i < keys.size(); ++i)
    v[i] = static_cast<std::int64_t>(keys[i]);
  return c;
}
std::vector<std::uint64_t> keys_from_column(const Column& c) {
  const auto& v = c.values<std::int64_t>();
  std::vector<std::uint64_t> keys(v.size());
  for (size_t i = 0; i < v.size(); ++i)
    keys[i] = static_cast<std::uint64_t>(v[i]);
  return keys;
}

// The output table. An integer sum that does not fit int64 is described in `overflow` (rank
// local: the caller agrees on it) instead of being wrapped.
Table assemble(const std::vector<std::string>& keys, std::vector<Column> key_columns,
               const std::vector<AggSpec>& aggs, const std::vector<AggregateState>& states,
               std::string& overflow) {
  Table out;
  for (size_t j = 0; j < keys.size(); ++j)
    out.add_column(keys[j], std::move(key_columns[j]));
  for (size_t j = 0; j < aggs.size(); ++j) {
    std::string problem;
    out.add_column(output_name(aggs[j]), states[j].finalize(&problem));
    if (!problem.empty() && overflow.empty()) {
      overflow = fmt::format("sum of column '{}' overflows int64: {}; sum a float64 column instead",
                             aggs[j].column, problem);
    }
  }
  return out;
}

constexpr const char* kKeyColumn = "__packed_key";

Table group_by_unchecked(const mpi::Comm& comm, const Table& table,
                         const std::vector<std::string>& keys, const std::vector<AggSpec>& aggs,
                         const GroupByOptions& options, std::string& overflow) {
  // Schema, keys and aggregates are equal on all ranks, so these checks fail identically.
  group_by_output_schema(table.schema(), keys, aggs);
  comm.agree([&] {
    if (table.num_rows() >= INT32_MAX) {
      throw RuntimeError(
          "group-by: {} rows on this rank exceed the per-rank limit of {} rows; run with more "
          "ranks",
          table.num_rows(), INT32_MAX - 1);
    }
  });
  std::vector<int> key_idx;
  for (const auto& k : keys)
    key_idx.push_back(table.schema().index_of(k, "group-by keys"));
  const int ranks = comm.size();
  const Packing packing = plan_packing(comm, table, key_idx);

  if (packing.packable) {
    std::vector<std::uint64_t> packed = pack_keys(table, packing);
    const DistinctEstimate est = estimate_distinct(comm, packed);
    if (ranks == 1) {
      const PackedGroups g =
          group_packed(packed, packing.domain, expected_groups(est, table.num_rows()));
      packed = {};
      auto states = make_states(table, aggs);
      update_states(states, table, aggs, g.gid, static_cast<idx_t>(g.keys.size()));
      return assemble(keys, unpack_keys(g.keys, packing), aggs, states, overflow);
    }
    if (est.fraction > 0.9) {
      // Nearly every key is distinct: pre-aggregation would not shrink the data, so the raw
      // (packed key, value columns) rows are shuffled and aggregated once.
      Table raw;
      raw.add_column(kKeyColumn, keys_as_column(packed));
      for (const auto& name : value_columns(aggs))
        raw.add_column(name, table.column(name));
      const std::vector<int> dest = destinations_of(packed, ranks);
      packed = {};
      const Table moved = shuffle_to(comm, raw, dest, options.shuffle);
      raw = Table();
      const std::vector<std::uint64_t> mk = keys_from_column(moved.column(0));
      const PackedGroups g = group_packed(mk, packing.domain, moved.num_rows());
      auto states = make_states(moved, aggs);
      update_states(states, moved, aggs, g.gid, static_cast<idx_t>(g.keys.size()));
      return assemble(keys, unpack_keys(g.keys, packing), aggs, states, overflow);
    }
    // Keys repeat: aggregate locally, shuffle the partial states, merge.
    PackedGroups local =
        group_packed(packed, packing.domain, expected_groups(est, table.num_rows()));
    packed = {};
    auto states = make_states(table, aggs);
    update_states(states, table, aggs, local.gid, static_cast<idx_t>(local.keys.size()));
    local.gid = {};
    // Exact float sums whose values spread beyond the fast tier carry an extra (string) column;
    // every rank must send the same columns, so the ranks agree on it. Aggregates and schema are
    // equal on all ranks, so either all ranks take this allreduce or none.
    bool with_wide = false;
    const bool float_sums = std::any_of(aggs.begin(), aggs.end(), [&](const AggSpec& a) {
      return (a.kind == AggKind::kSum || a.kind == AggKind::kMean) && !a.column.empty() &&
             is_floating(table.column(a.column).type());
    });
    if (float_sums) {
      const bool local_wide =
          std::any_of(states.begin(), states.end(),
                      [](const AggregateState& st) { return st.needs_wide_state(); });
      with_wide = mpi::allreduce_max<std::int64_t>(comm, local_wide ? 1 : 0) != 0;
    }
    Table partial;
    partial.add_column(kKeyColumn, keys_as_column(local.keys));
    for (size_t j = 0; j < states.size(); ++j) {
      auto cols = states[j].state_columns(with_wide);
      for (size_t c = 0; c < cols.size(); ++c)
        partial.add_column("__state" + std::to_string(j) + "_" + std::to_string(c),
                           std::move(cols[c]));
    }
    const Table moved =
        shuffle_to(comm, partial, destinations_of(local.keys, ranks), options.shuffle);
    partial = Table();
    const std::vector<std::uint64_t> mk = keys_from_column(moved.column(0));
    const PackedGroups g = group_packed(mk, packing.domain, moved.num_rows());
    auto merged = make_states(table, aggs);
    int col = 1;
    for (auto& st : merged) {
      st.resize(static_cast<idx_t>(g.keys.size()));
      const int w = st.num_state_columns(with_wide);
      st.merge(std::span<const Column>(moved.columns().data() + col, static_cast<size_t>(w)),
               g.gid);
      col += w;
    }
    return assemble(keys, unpack_keys(g.keys, packing), aggs, merged, overflow);
  }

  // General keys (floats, plain strings, wide integer ranges): shuffle the needed columns by key
  // hash, then aggregate once.
  auto aggregate_rows = [&](const Table& t) {
    std::vector<int> idx;
    for (const auto& k : keys)
      idx.push_back(t.schema().index_of(k, "group-by keys"));
    const RowGroups g = group_rows(t, idx);
    auto states = make_states(t, aggs);
    update_states(states, t, aggs, g.gid, static_cast<idx_t>(g.first_row.size()));
    std::vector<Column> key_cols;
    for (int k : idx)
      key_cols.push_back(t.column(k).take(g.first_row));
    return assemble(keys, std::move(key_cols), aggs, states, overflow);
  };
  if (ranks == 1) return aggregate_rows(table);
  std::vector<std::string> needed = keys;
  for (const auto& name : value_columns(aggs))
    if (std::find(needed.begin(), needed.end(), name) == needed.end()) needed.push_back(name);
  const Table moved = hash_shuffle(comm, table.select(needed), keys, options.shuffle);
  return aggregate_rows(moved);
}

}  // namespace

Table group_by(const mpi::Comm& comm, const Table& table, const std::vector<std::string>& keys,
               const std::vector<AggSpec>& aggs, const GroupByOptions& options) {
  std::string overflow;
  Table out = group_by_unchecked(comm, table, keys, aggs, options, overflow);
  // Groups are finalized on the rank that owns them: agree, so every rank fails alike.
  comm.agree_outcome(ErrorKind::kInputData, overflow, !overflow.empty());
  return out;
}

}  // namespace shardflow::ops
