#include "shardflow/ops/key_packing.hpp"

#include <algorithm>
#include <climits>

#include "shardflow/mpi/allreduce.hpp"

namespace shardflow::ops {

using table::Column;
using table::DataType;
using table::PlainStrings;
using table::Table;

// Collective: decides (identically on all ranks) whether the keys pack into 62 bits.
KeyPacking plan_packing(const mpi::Comm& comm, const Table& t, const std::vector<int>& key_idx,
                        const std::vector<std::optional<KnownKeyRange>>& known) {
  const size_t k = key_idx.size();
  std::vector<std::int64_t> mins(k, INT64_MAX);
  std::vector<std::int64_t> maxs(2 * k, INT64_MIN);  // [max..., has_nulls...]
  bool candidate = true;
  // Whether every key's range and nulls are known (then nothing is reduced: they are global).
  bool all_known = true;
  for (size_t j = 0; j < k; ++j) {
    const Column& c = t.column(key_idx[j]);
    const bool integral = c.type() == DataType::kInt32 || c.type() == DataType::kInt64 ||
                          c.type() == DataType::kTimestamp || c.type() == DataType::kBool;
    if (integral && j < known.size() && known[j]) {
      // The profile taken at load time: a column of millions of rows is not read again
      // (db-benchmark q4's min/max scan of id4 was a tenth of its step).
      mins[j] = known[j]->min;
      maxs[j] = known[j]->max;
      maxs[k + j] = known[j]->has_nulls ? 1 : 0;
      continue;
    }
    all_known = false;
    maxs[k + j] = c.has_nulls() ? 1 : 0;
    const auto& valid = c.validity();
    auto scan = [&](const auto& v) {
      std::int64_t lo = INT64_MAX, hi = INT64_MIN;
      const size_t n = v.size();
      size_t i = 0;
      if (valid.empty()) {
        // Four independent (min, max) chains: the loop runs at the throughput of the compare
        // instead of its latency (a sixth of db-benchmark q4's time went here).
        std::int64_t l[4] = {INT64_MAX, INT64_MAX, INT64_MAX, INT64_MAX};
        std::int64_t h[4] = {INT64_MIN, INT64_MIN, INT64_MIN, INT64_MIN};
        for (; i + 4 <= n; i += 4) {
          for (size_t k = 0; k < 4; ++k) {
            const auto x = static_cast<std::int64_t>(v[i + k]);
            l[k] = x < l[k] ? x : l[k];
            h[k] = x > h[k] ? x : h[k];
          }
        }
        lo = std::min(std::min(l[0], l[1]), std::min(l[2], l[3]));
        hi = std::max(std::max(h[0], h[1]), std::max(h[2], h[3]));
      }
      for (; i < n; ++i) {
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
  maxs.push_back(candidate ? 0 : 1);
  if (!all_known) {
    mpi::allreduce_inplace(comm, std::span<std::int64_t>(mins), mpi::Reduce::kMin);
    mpi::allreduce_inplace(comm, std::span<std::int64_t>(maxs), mpi::Reduce::kMax);
  }
  KeyPacking p;
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
    if (slots > limit || domain * slots > limit) return KeyPacking{};
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

std::vector<std::optional<KnownKeyRange>> known_key_ranges(const TableProfile* profile,
                                                           const Table& t,
                                                           const std::vector<int>& key_idx) {
  std::vector<std::optional<KnownKeyRange>> known(key_idx.size());
  if (profile == nullptr || profile->columns.size() != static_cast<size_t>(t.num_columns())) {
    return known;
  }
  for (size_t j = 0; j < key_idx.size(); ++j) {
    const ColumnProfile& c = profile->columns[static_cast<size_t>(key_idx[j])];
    const auto& field = t.schema().field(key_idx[j]);
    if (c.name != field.name || c.type != field.type || !c.has_range) continue;
    known[j] = KnownKeyRange{c.int_min, c.int_max, c.nulls > 0};
  }
  return known;
}

void pack_keys_into(const Table& t, const KeyPacking& p, idx_t begin, idx_t end,
                    std::uint64_t* key) {
  const auto first_row = static_cast<size_t>(begin);
  const size_t n = static_cast<size_t>(end - begin);
  // Not zeroed: the first column's fold assigns (a memset of 8 bytes per row saved).
  if (p.columns.empty()) std::fill(key, key + n, 0);
  bool first = true;
  for (const auto& pc : p.columns) {
    const Column& c = t.column(pc.column);
    const std::uint8_t* valid = c.validity().empty() ? nullptr : c.validity().data() + first_row;
    const std::uint64_t mult = pc.mult;
    const std::uint64_t shift = pc.nullable ? 1 : 0;
    auto fold = [&](const auto* v, std::int64_t base) {
      auto fold_into = [&](auto assign) {
        auto put = [&](size_t i, std::uint64_t code) {
          if constexpr (decltype(assign)::value)
            key[i] = code * mult;
          else
            key[i] += code * mult;
        };
        if (valid == nullptr && mult == 1 && shift == 0) {
          // The common single-key case (and a key's first column when it has the place value
          // 1): no 64-bit multiply, which the baseline ISA has no vector form of, so this loop
          // vectorizes (db-benchmark q4 at 1e7, 2 ranks, perf: the packing of id4 148 -> 87
          // samples over 12 steps, about 6 -> 3.5 ms of a 30 ms step).
          for (size_t i = 0; i < n; ++i) {
            const auto code = static_cast<std::uint64_t>(static_cast<std::int64_t>(v[i]) - base);
            if constexpr (decltype(assign)::value)
              key[i] = code;
            else
              key[i] += code;
          }
        } else if (valid == nullptr) {
          for (size_t i = 0; i < n; ++i)
            put(i, static_cast<std::uint64_t>(static_cast<std::int64_t>(v[i]) - base) + shift);
        } else {
          for (size_t i = 0; i < n; ++i)
            put(i, valid[i]
                       ? static_cast<std::uint64_t>(static_cast<std::int64_t>(v[i]) - base) + shift
                       : 0);
        }
      };
      if (first)
        fold_into(std::true_type{});
      else
        fold_into(std::false_type{});
    };
    switch (c.type()) {
      case DataType::kInt32:
        fold(c.values<std::int32_t>().data() + first_row, pc.min);
        break;
      case DataType::kInt64:
      case DataType::kTimestamp:
        fold(c.values<std::int64_t>().data() + first_row, pc.min);
        break;
      case DataType::kBool:
        fold(c.values<std::uint8_t>().data() + first_row, 0);
        break;
      case DataType::kString:
        fold(c.codes().data() + first_row, 0);
        break;
      default:
        if (first) std::fill(key, key + n, 0);
        break;
    }
    first = false;
  }
}

table::Buffer<std::uint64_t> pack_keys(const Table& t, const KeyPacking& p) {
  table::Buffer<std::uint64_t> key(static_cast<size_t>(t.num_rows()));
  pack_keys_into(t, p, 0, t.num_rows(), key.data());
  return key;
}

// Local: the key columns of packed keys `keys`.
std::vector<Column> unpack_keys(const std::vector<std::uint64_t>& keys, const KeyPacking& p) {
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

}  // namespace shardflow::ops
