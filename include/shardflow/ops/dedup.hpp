#pragma once
// Distributed dedup: one row per distinct key, the first or the last by an order column.
//
// Only the key columns, the order column and each row's global row index travel: they are hash
// shuffled so that equal keys meet on one rank, each rank picks its keys' winners with the
// sort-key engine (ops/sort_keys.hpp), and the winners' global indexes go back to the ranks that
// hold those rows, which keep them. The output is therefore the input with the losing rows
// removed, in the input's order and on the input's ranks (like a filter), at any rank count.

#include <optional>
#include <string>
#include <vector>

#include "shardflow/mpi/comm.hpp"
#include "shardflow/ops/shuffle.hpp"
#include "shardflow/table/table.hpp"

namespace shardflow::ops {

enum class DedupKeep : std::uint8_t { kFirst, kLast };

struct DedupOptions {
  ShuffleOptions shuffle;
};

/// Collective: keeps one row per distinct combination of `keys` (at least one key; nulls equal
/// nulls, floats -0.0 == 0.0 and NaN == NaN, as in SQL DISTINCT and group_by). Without
/// `order_by` the kept row is the first (kFirst) or last (kLast) of its key in global row order.
/// With `order_by` it is the row with the smallest (kFirst) or largest (kLast) order value, ties
/// broken by the global row index (kFirst: the earliest row, kLast: the latest); rows whose order
/// value is null are kept only when every row of the key has a null order value. Value order is
/// the sort order (ops/sort_keys.hpp: NaN above every number, strings by value). keys, order_by,
/// schema, string encodings and dictionaries must be equal on all ranks; an unknown column throws
/// ConfigError (with a did-you-mean) on every rank (agreed: Error::agreed() is set).
table::Table dedup(const mpi::Comm& comm, const table::Table& table,
                   const std::vector<std::string>& keys, DedupKeep keep,
                   const std::optional<std::string>& order_by, const DedupOptions& options = {});

}  // namespace shardflow::ops
