#include "shardflow/ops/dedup.hpp"

#include <algorithm>

#include "shardflow/common/error.hpp"
#include "shardflow/mpi/allgatherv.hpp"
#include "shardflow/mpi/allreduce.hpp"
#include "shardflow/ops/sort_keys.hpp"

namespace shardflow::ops {

using table::Column;
using table::DataType;
using table::Table;

namespace {

Table index_table(const std::vector<std::int64_t>& g) {
  Column c(DataType::kInt64);
  c.values<std::int64_t>().assign(g.begin(), g.end());
  Table t;
  t.add_column("g", std::move(c));
  return t;
}

// Collective: the layout of `keys` on `t` with nullability agreed over all ranks.
SortKeyLayout agreed_layout(const mpi::Comm& comm, const Table& t,
                            const std::vector<SortKey>& keys) {
  std::vector<int> flags(keys.size(), 0);
  for (size_t k = 0; k < keys.size(); ++k)
    flags[k] = t.column(t.schema().index_of(keys[k].column)).has_nulls();
  if (!flags.empty()) mpi::allreduce_inplace(comm, std::span<int>(flags), mpi::Reduce::kMax);
  return SortKeyLayout(t, keys, std::vector<bool>(flags.begin(), flags.end()));
}

}  // namespace

Table dedup(const mpi::Comm& comm, const Table& table, const std::vector<std::string>& keys,
            DedupKeep keep, const std::optional<std::string>& order_by,
            const DedupOptions& options) {
  // Equal on all ranks, but agreed so that the error is reported once.
  comm.agree([&] {
    if (keys.empty()) throw ConfigError("dedup needs at least one key column");
    for (const auto& k : keys)
      table.schema().index_of(k, "dedup keys");
    if (order_by) table.schema().index_of(*order_by, "dedup order_by");
  });
  // The narrow table that travels: keys, then the order column (unless it is a key).
  std::vector<std::string> columns = keys;
  if (order_by && std::find(columns.begin(), columns.end(), *order_by) == columns.end())
    columns.push_back(*order_by);
  const idx_t n = table.num_rows();
  const idx_t offset = mpi::exscan_sum(comm, n);
  const int p = comm.size();
  const bool last = keep == DedupKeep::kLast;
  // The tie-break index: ascending global index for first, descending for last.
  std::vector<std::int64_t> tie(static_cast<size_t>(n));
  for (idx_t i = 0; i < n; ++i)
    tie[static_cast<size_t>(i)] = last ? -(offset + i) : offset + i;

  Table narrow = table.select(columns);
  if (p > 1) {
    std::vector<int> key_columns;
    for (size_t k = 0; k < keys.size(); ++k)
      key_columns.push_back(static_cast<int>(k));
    const std::vector<std::uint64_t> h = hash_rows(narrow, key_columns);
    std::vector<int> destination(h.size());
    for (size_t i = 0; i < h.size(); ++i)
      destination[i] = rank_of_hash(h[i], p);
    Table moved = shuffle_to(comm, narrow, destination, options.shuffle);
    Table moved_tie = shuffle_to(comm, index_table(tie), destination, options.shuffle);
    narrow = std::move(moved);
    const auto& v = moved_tie.column(0).values<std::int64_t>();
    tie.assign(v.begin(), v.end());
  }

  // Order: keys (any direction: only grouping matters), then the order column (nulls last in
  // either direction: a null order value never wins over a known one), then the tie index.
  std::vector<SortKey> key_order;
  for (const auto& k : keys)
    key_order.push_back({k, false, NullOrder::kLast});
  std::vector<SortKey> full_order = key_order;
  if (order_by) full_order.push_back({*order_by, last, NullOrder::kLast});
  const SortKeyLayout key_layout = agreed_layout(comm, narrow, key_order);
  const SortKeyLayout full_layout = agreed_layout(comm, narrow, full_order);
  const EncodedKeys group = encode_sort_keys(key_layout, narrow, tie);
  const EncodedKeys full = encode_sort_keys(full_layout, narrow, tie);
  const std::vector<idx_t> perm = sort_permutation(full);
  std::vector<std::int64_t> winners;  // global indexes
  for (size_t i = 0; i < perm.size(); ++i) {
    if (i > 0 && compare_keys(group, perm[i - 1], group, perm[i]) == 0) continue;
    const std::int64_t t = tie[static_cast<size_t>(perm[i])];
    winners.push_back(last ? -t : t);
  }

  std::vector<std::int64_t> mine;  // this rank's kept global indexes
  if (p > 1) {
    const std::vector<idx_t> offsets = mpi::allgather<idx_t>(comm, offset);
    std::vector<int> destination(winners.size());
    for (size_t i = 0; i < winners.size(); ++i) {
      const auto it = std::upper_bound(offsets.begin(), offsets.end(), winners[i]);
      destination[i] = static_cast<int>(it - offsets.begin()) - 1;
    }
    // Ranks with no rows share their offset with the next rank; upper_bound picks the last rank
    // with that offset, which is the one holding the row.
    Table back = shuffle_to(comm, index_table(winners), destination, options.shuffle);
    const auto& v = back.column(0).values<std::int64_t>();
    mine.assign(v.begin(), v.end());
  } else {
    mine = std::move(winners);
  }
  std::sort(mine.begin(), mine.end());
  std::vector<idx_t> rows(mine.size());
  for (size_t i = 0; i < mine.size(); ++i)
    rows[i] = mine[i] - offset;
  return table.take(rows);
}

}  // namespace shardflow::ops
