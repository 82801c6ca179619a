#pragma once
// Hash-table engines shared by group-by, join and dedup.
//
//  - HugeArray<T>: a zero-filled array on transparent huge pages, for tables probed at random.
//  - PackedKeyTable / group_packed: group ids for packed 64-bit keys (ops/key_packing.hpp).
//  - group_rows: group ids for arbitrary key columns, by row hash (hash_rows) with column-wise
//    equality (ops/key_equality.hpp).
// Group ids are dense, in order of first appearance (group_rows: within each hash partition).

#include <sys/mman.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <span>
#include <vector>

#include "shardflow/common/error.hpp"
#include "shardflow/common/hash.hpp"
#include "shardflow/common/types.hpp"
#include "shardflow/table/table.hpp"

namespace shardflow::ops {

struct KeyPacking;

/// A zero-filled array of trivially copyable T on 2 MiB-aligned memory advised to use transparent
/// huge pages: a hash table of hundreds of MB probed at random otherwise pays a TLB miss (and, when
/// fresh, a page fault per 4 KiB) on nearly every probe.
template <typename T>
class HugeArray {
 public:
  HugeArray() = default;
  explicit HugeArray(size_t n) : size_(n) {
    constexpr size_t kHuge = size_t{2} << 20;
    const size_t bytes = std::max(kHuge, (n * sizeof(T) + kHuge - 1) / kHuge * kHuge);
    void* p = std::aligned_alloc(kHuge, bytes);
    if (p == nullptr) {
      throw RuntimeError("cannot allocate {} MiB for a hash table; use more ranks", bytes >> 20);
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

/// Open addressing with linear probing on 64-bit keys; slots store key + 1 so that 0 marks an
/// empty slot (packed keys are below 2^62). Probes are issued in batches with prefetches so that
/// the cache misses of a large table overlap.
class PackedKeyTable {
 public:
  explicit PackedKeyTable(idx_t expected_groups) {
    std::uint64_t cap = 1024;
    while (cap * 7 < static_cast<std::uint64_t>(expected_groups) * 10)
      cap <<= 1;
    slots_ = HugeArray<Slot>(cap);
    mask_ = cap - 1;
  }

  /// Local: gid[i] = the group id of keys[i] for i < n; a key not seen before (in this or an
  /// earlier call) gets the next id and is appended to group_keys. Keys must be below 2^63 - 1.
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

/// Group ids of packed keys (keys in [0, domain)).
struct PackedGroups {
  table::Buffer<std::int32_t> gid;
  std::vector<std::uint64_t> keys;  // packed key of each group, in group-id order
};

/// Local: the number of distinct keys among `population` rows, estimated from a sample of
/// `sample` rows of them (drawn evenly) holding `sample_distinct` distinct keys, assuming groups of
/// similar size: the D for which a sample of that size is expected to hold that many distinct
/// keys, D * (1 - (1 - 1/D)^sample) = sample_distinct (solved by bisection), capped at
/// `population`. Exact when the sample is the whole population. Why not the sample's distinct
/// fraction: 64 Ki rows of a table with 1e6 groups of 50 rows are 97% distinct, which read as
/// "nearly every key distinct" sent db-benchmark q3/q5 at 1e8 rows down the raw-row path.
double estimated_distinct(idx_t population, idx_t sample, idx_t sample_distinct);

/// Local: groups packed keys: a direct-indexed array when the domain is small, a PackedKeyTable
/// (sized for `expected_groups`) otherwise. keys.size() must be below 2^31.
PackedGroups group_packed(std::span<const std::uint64_t> keys, std::uint64_t domain,
                          idx_t expected_groups);

/// Packed key domains up to this size are grouped by direct indexing (group_direct).
inline constexpr std::uint64_t kDirectGroupDomain = std::uint64_t{1} << 20;

/// Local: group_packed(pack_keys(t, p), p.domain, ...) for a packing whose domain is at most
/// kDirectGroupDomain (else RuntimeError), without the whole-table array of packed keys: groups
/// are numbered in order of first appearance, keys[g] is group g's packed key.
PackedGroups group_direct(const table::Table& t, const KeyPacking& p);

/// Local: group_direct a block of rows at a time, without the whole-table array of group ids:
/// for each block of consecutive rows [begin, begin + gid.size()) in order, calls
/// on_block(begin, gid) with the block's group ids, after appending the packed key of every
/// group first seen in the block to `keys` (empty on entry; groups numbered in order of first
/// appearance, as in group_direct). The ids stay in L1 while the callback runs.
void group_direct_blocks(const table::Table& t, const KeyPacking& p,
                         std::vector<std::uint64_t>& keys,
                         const std::function<void(idx_t, std::span<const std::int32_t>)>& on_block);

/// Rows reordered by slices of group ids (see order_by_group_slice).
struct GroupSliceOrder {
  std::vector<std::uint32_t> dest;  // row i moves to row dest[i]; empty: keep the row order
  table::Buffer<std::int32_t> gid;  // the rows' group ids in the new order
  idx_t slices = 1;
};

/// Local: a stable partition of the rows by slice of group id (gid / slice width, the width a
/// power of two of at least `groups_per_slice`, and at most kMaxGroupSlices slices), or the row
/// order (empty dest) when all `groups` fit in one slice. Why: an aggregate updates its state of
/// group gid[i] for row i; once the states of all groups outgrow the cache, every row misses it
/// (db-benchmark q3 at 1e8 rows: 1e6 groups). In slice order each run of rows updates a slice that
/// fits. Stable, so the rows of a group keep their relative order. gid values must be in
/// [0, groups) and gid.size() below 2^32.
GroupSliceOrder order_by_group_slice(std::span<const std::int32_t> gid, idx_t groups,
                                     idx_t groups_per_slice);
/// The most slices order_by_group_slice makes: more write streams than this thrash the TLB.
inline constexpr idx_t kMaxGroupSlices = 512;

/// Group ids of rows with arbitrary key columns.
struct RowGroups {
  std::vector<std::int32_t> gid;
  std::vector<idx_t> first_row;  // representative row of each group
};

/// Local: groups the rows of `t` by the key columns `key_idx` (null equals null; floats compare as
/// double_key_bits). t.num_rows() must be below 2^31. Group ids are dense; with many groups the
/// rows are partitioned by hash so that each partition's table fits in cache, and ids are given
/// partition by partition, in order of first appearance within each (deterministic for a table).
RowGroups group_rows(const table::Table& t, const std::vector<int>& key_idx);

}  // namespace shardflow::ops
