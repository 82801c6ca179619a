#include "shardflow/ops/hash_table.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "shardflow/common/hash.hpp"
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
  while ((idx_t{1} << shift) < groups_per_slice || ((groups - 1) >> shift) + 1 > kMaxGroupSlices)
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

void group_direct_blocks(
    const Table& t, const KeyPacking& p, std::vector<std::uint64_t>& keys,
    const std::function<void(idx_t, std::span<const std::int32_t>)>& on_block) {
  if (!p.packable || p.domain > kDirectGroupDomain) {
    throw RuntimeError("group_direct: the packed key domain {} is not direct-indexable (limit {})",
                       p.domain, kDirectGroupDomain);
  }
  const idx_t n = t.num_rows();
  if (!keys.empty()) throw RuntimeError("group_direct_blocks: `keys` must start empty");
  std::vector<std::int32_t> slot(p.domain, -1);
  // Keys are packed a block at a time into a buffer that stays in L1, and grouped from there:
  // a whole-table key array (8 bytes per row written, then read back) cost as much as the
  // grouping itself (bench_group_by q4).
  constexpr idx_t kBlock = 2048;
  std::uint64_t key[kBlock];
  std::int32_t gid[kBlock];
  for (idx_t begin = 0; begin < n; begin += kBlock) {
    const idx_t end = std::min(n, begin + kBlock);
    pack_keys_into(t, p, begin, end, key);
    const auto rows = static_cast<size_t>(end - begin);
    for (size_t i = 0; i < rows; ++i) {
      std::int32_t& s = slot[key[i]];
      if (s < 0) [[unlikely]] {
        s = static_cast<std::int32_t>(keys.size());
        keys.push_back(key[i]);
      }
      gid[i] = s;
    }
    on_block(begin, std::span<const std::int32_t>(gid, rows));
  }
}

PackedGroups group_direct(const Table& t, const KeyPacking& p) {
  PackedGroups g;
  g.gid.resize(static_cast<size_t>(t.num_rows()));
  std::int32_t* out = g.gid.data();
  group_direct_blocks(t, p, g.keys, [&](idx_t begin, std::span<const std::int32_t> gid) {
    std::memcpy(out + begin, gid.data(), gid.size_bytes());
  });
  return g;
}

namespace {

// One open-addressing table of row hashes for group_rows, reused across partitions.
class RowHashTable {
 public:
  // Empties the table and sizes it for `groups` groups at most 70% full.
  void reset(idx_t groups) {
    std::uint64_t cap = 1024;
    while (static_cast<double>(cap) * 0.7 < static_cast<double>(groups))
      cap *= 2;
    if (slots_.size() < cap) slots_.resize(cap);
    std::fill(slots_.begin(), slots_.begin() + static_cast<std::ptrdiff_t>(cap), Slot{0, -1});
    cap_ = cap;
    size_ = 0;
  }
  // Brings the slot where `h` starts probing into the cache ahead of find_or_add (which may grow
  // the table in between: then the hint is merely wasted).
  void prefetch(std::uint64_t h) const { __builtin_prefetch(&slots_[h & (cap_ - 1)]); }
  // The group of the row with hash `h` whose keys `same(first row of a group)` says are equal,
  // or a new group `next` (then `fresh` is set).
  template <typename Same>
  std::int32_t find_or_add(std::uint64_t h, std::int32_t next, bool& fresh, Same&& same) {
    if ((size_ + 1) * 10 > cap_ * 7) grow();
    const std::uint64_t mask = cap_ - 1;
    std::uint64_t idx = h & mask;
    while (true) {
      Slot& s = slots_[idx];
      if (s.gid < 0) {
        s = Slot{h, next};
        ++size_;
        fresh = true;
        return next;
      }
      if (s.hash == h && same(s.gid)) {
        fresh = false;
        return s.gid;
      }
      idx = (idx + 1) & mask;
    }
  }

 private:
  struct Slot {
    std::uint64_t hash;
    std::int32_t gid;  // -1 = empty
  };
  void grow() {
    std::vector<Slot> old(slots_.begin(), slots_.begin() + static_cast<std::ptrdiff_t>(cap_));
    const std::uint64_t cap = cap_ * 2;
    if (slots_.size() < cap) slots_.resize(cap);
    std::fill(slots_.begin(), slots_.begin() + static_cast<std::ptrdiff_t>(cap), Slot{0, -1});
    for (const Slot& s : old) {
      if (s.gid < 0) continue;
      std::uint64_t idx = s.hash & (cap - 1);
      while (slots_[idx].gid >= 0)
        idx = (idx + 1) & (cap - 1);
      slots_[idx] = s;
    }
    cap_ = cap;
  }
  std::vector<Slot> slots_;
  std::uint64_t cap_ = 0;
  size_t size_ = 0;
};

// A partition's table is at most this many groups (16-byte slots at 70%: about 750 KiB, within
// the L2 and L3 of the machines we measure on).
constexpr idx_t kGroupsPerRowPartition = idx_t{1} << 15;
constexpr int kMaxRowPartitionBits = 9;

}  // namespace

RowGroups group_rows(const Table& t, const std::vector<int>& key_idx) {
  RowGroups g;
  const size_t n = static_cast<size_t>(t.num_rows());
  g.gid.resize(n);
  if (n == 0) return g;
  if (n >= (std::uint64_t{1} << 32))
    throw RuntimeError("group_rows: {} rows exceed the limit of 2^32", n);
  // The row hashes, mixed once more: after a hash shuffle, rank_of_hash fixed some of their bits
  // on this rank (the low bits at a power-of-two rank count), which would crowd the table's slots.
  std::vector<std::uint64_t> h = hash_rows(t, key_idx);
  for (auto& x : h)
    x = hash_u64(x);
  // Groups estimated from a strided sample, to size the tables and choose the partitions.
  constexpr size_t kSample = 1 << 16;
  const size_t step = std::max<size_t>(1, n / kSample);
  std::vector<std::uint64_t> sample;
  for (size_t i = 0; i < n; i += step)
    sample.push_back(h[i]);
  std::sort(sample.begin(), sample.end());
  const auto sample_distinct =
      static_cast<idx_t>(std::unique(sample.begin(), sample.end()) - sample.begin());
  const double estimate =
      estimated_distinct(static_cast<idx_t>(n), static_cast<idx_t>(sample.size()), sample_distinct);
  // Many groups: the rows are partitioned by the top bits of their hash, and each partition's
  // groups are found in a table that fits in cache (one table for all groups misses it on nearly
  // every row: db-benchmark q10 at 1e8 rows, 5e7 groups per rank). Groups are numbered partition
  // by partition, in order of first appearance within each.
  int bits = 0;
  while (bits < kMaxRowPartitionBits && estimate / static_cast<double>(idx_t{1} << bits) >
                                            static_cast<double>(kGroupsPerRowPartition))
    ++bits;
  const size_t parts = size_t{1} << bits;
  std::vector<std::uint32_t> begin(parts + 1, 0);
  std::vector<std::uint32_t> order;  // rows by partition (stable); empty: one partition
  std::vector<std::uint64_t> ordered_hash;
  if (bits > 0) {
    for (size_t i = 0; i < n; ++i)
      ++begin[(h[i] >> (64 - bits)) + 1];
    for (size_t p = 1; p <= parts; ++p)
      begin[p] += begin[p - 1];
    std::vector<std::uint32_t> next(begin.begin(), begin.end() - 1);
    order.resize(n);
    ordered_hash.resize(n);
    for (size_t i = 0; i < n; ++i) {
      const std::uint32_t k = next[h[i] >> (64 - bits)]++;
      order[k] = static_cast<std::uint32_t>(i);
      ordered_hash[k] = h[i];
    }
    h = {};
  } else {
    begin[1] = static_cast<std::uint32_t>(n);
  }
  // Group ids are written in partition order and moved to row order at the end: writing them at
  // their rows (a random store per row) made the probe loop about 1.5x slower.
  std::vector<std::int32_t> ordered_gid(order.empty() ? 0 : n);
  g.first_row.reserve(static_cast<size_t>(estimate * 1.05) + 16);
  RowHashTable table;
  const std::uint64_t* hashes = order.empty() ? h.data() : ordered_hash.data();
  // Rows this far ahead have their slot prefetched: a partition's table still outgrows the L2
  // when a rank has more than kMaxRowPartitionBits partitions' worth of groups.
  constexpr std::uint32_t kAhead = 16;
  for (size_t p = 0; p < parts; ++p) {
    table.reset(static_cast<idx_t>(estimate / static_cast<double>(parts) * 1.1) + 16);
    for (std::uint32_t k = begin[p]; k < begin[p + 1]; ++k) {
      if (k + kAhead < begin[p + 1]) table.prefetch(hashes[k + kAhead]);
      const size_t i = order.empty() ? k : order[k];
      const std::uint64_t hk = hashes[k];
      bool fresh = false;
      const std::int32_t id = table.find_or_add(
          hk, static_cast<std::int32_t>(g.first_row.size()), fresh, [&](std::int32_t other) {
            const idx_t r = g.first_row[static_cast<size_t>(other)];
            for (int c : key_idx)
              if (!key_equal(t.column(c), static_cast<idx_t>(i), r)) return false;
            return true;
          });
      if (fresh) g.first_row.push_back(static_cast<idx_t>(i));
      (order.empty() ? g.gid[i] : ordered_gid[k]) = id;
    }
  }
  for (size_t k = 0; k < ordered_gid.size(); ++k)
    g.gid[order[k]] = ordered_gid[k];
  return g;
}

}  // namespace shardflow::ops
