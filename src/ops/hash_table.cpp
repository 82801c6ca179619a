#include "shardflow/ops/hash_table.hpp"

#include <cmath>

#include "shardflow/ops/key_equality.hpp"
#include "shardflow/ops/key_packing.hpp"
#include "shardflow/ops/shuffle.hpp"

namespace shardflow::ops {

using table::Table;

double estimated_distinct(idx_t population, idx_t sample, idx_t sample_distinct) {
  const auto n = static_cast<double>(population);
  const auto s = static_cast<double>(sample);
  const auto d = static_cast<double>(sample_distinct);
  if (sample <= 0 || sample_distinct <= 0) return 0;
  if (sample >= population) return d;
  if (sample_distinct >= sample) return n;  // every sampled key distinct: no evidence of repeats
  // Expected distinct keys in the sample for D groups; increasing in D.
  auto expected = [&](double groups) {
    return groups * -std::expm1(s * std::log1p(-1.0 / groups));
  };
  double lo = d, hi = n;
  if (expected(hi) <= d) return n;
  for (int i = 0; i < 100 && hi - lo > 0.5; ++i) {
    const double mid = 0.5 * (lo + hi);
    (expected(mid) < d ? lo : hi) = mid;
  }
  return std::min(n, 0.5 * (lo + hi));
}

PackedGroups group_packed(std::span<const std::uint64_t> keys, std::uint64_t domain,
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

GroupSliceOrder order_by_group_slice(std::span<const std::int32_t> gid, idx_t groups,
                                     idx_t groups_per_slice) {
  GroupSliceOrder out;
  if (groups <= groups_per_slice || groups <= 1) return out;
  if (gid.size() >= (std::uint64_t{1} << 32))
    throw RuntimeError("order_by_group_slice: {} rows exceed the limit of 2^32", gid.size());
  int shift = 0;
  while ((idx_t{1} << shift) < groups_per_slice ||
         ((groups - 1) >> shift) + 1 > kMaxGroupSlices)
    ++shift;
  const auto slices = static_cast<size_t>(((groups - 1) >> shift) + 1);
  out.slices = static_cast<idx_t>(slices);
  const size_t n = gid.size();
  std::vector<std::uint32_t> next(slices + 1, 0);
  for (size_t i = 0; i < n; ++i)
    ++next[(static_cast<std::uint32_t>(gid[i]) >> shift) + 1];
  for (size_t s = 1; s <= slices; ++s)
    next[s] += next[s - 1];
  out.dest.resize(n);
  out.gid.resize(n);
  for (size_t i = 0; i < n; ++i) {
    const std::int32_t g = gid[i];
    const std::uint32_t d = next[static_cast<std::uint32_t>(g) >> shift]++;
    out.dest[i] = d;
    out.gid[d] = g;
  }
  return out;
}

PackedGroups group_direct(const Table& t, const KeyPacking& p) {
  if (!p.packable || p.domain > kDirectGroupDomain) {
    throw RuntimeError("group_direct: the packed key domain {} is not direct-indexable (limit {})",
                       p.domain, kDirectGroupDomain);
  }
  PackedGroups g;
  const idx_t n = t.num_rows();
  g.gid.resize(static_cast<size_t>(n));
  std::vector<std::int32_t> slot(p.domain, -1);
  // Keys are packed a block at a time into a buffer that stays in L1, and grouped from there:
  // a whole-table key array (8 bytes per row written, then read back) cost as much as the
  // grouping itself (bench_group_by q4).
  constexpr idx_t kBlock = 2048;
  std::uint64_t key[kBlock];
  std::int32_t* gid = g.gid.data();
  for (idx_t begin = 0; begin < n; begin += kBlock) {
    const idx_t end = std::min(n, begin + kBlock);
    pack_keys_into(t, p, begin, end, key);
    const auto rows = static_cast<size_t>(end - begin);
    std::int32_t* out = gid + begin;
    for (size_t i = 0; i < rows; ++i) {
      std::int32_t& s = slot[key[i]];
      if (s < 0) [[unlikely]] {
        s = static_cast<std::int32_t>(g.keys.size());
        g.keys.push_back(key[i]);
      }
      out[i] = s;
    }
  }
  return g;
}

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

}  // namespace shardflow::ops
