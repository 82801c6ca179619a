#pragma once
// Distributed sort (sample sort) and top-k on several keys.
//
// The order is total: the keys (ops/sort_keys.hpp: asc/desc, nulls first/last, floats with
// -0.0 == 0.0 and NaN greatest, strings by value) and then the global row index (rank offset +
// local index: rank 0's rows first, then rank 1's, ...), so the sort is stable and its result,
// read in global order, is identical at every rank count.
//
// Algorithm: every rank encodes its keys (sort_keys), a regular sample of about
// samples_per_rank * ranks rows (one per stratum of global positions, jittered by a hash of the
// stratum so periodic data cannot fool it) is gathered on every rank and sorted; ranks - 1
// splitters at even sample quantiles cut the order into ranges; every row goes to the rank of its
// range (shuffle_to) and each rank sorts what it received. Because splitters include the global
// row index, rows with equal keys (even all rows equal) are spread over the ranks like distinct
// ones. Afterwards rank r holds the r-th range: the table in global order, about equal parts.

#include <string>
#include <vector>

#include "shardflow/mpi/comm.hpp"
#include "shardflow/ops/shuffle.hpp"
#include "shardflow/ops/sort_keys.hpp"
#include "shardflow/table/table.hpp"

namespace shardflow::ops {

struct SortOptions {
  ShuffleOptions shuffle;
  /// Sample rows per rank for the splitters (more: better balance, a larger gather). With s
  /// samples per rank the largest range is about (1 + 2 / sqrt(s)) times the mean on random data.
  idx_t samples_per_rank = 256;
  /// Top-k: when the candidates (each rank's local top k) number at most this many over all
  /// ranks, they are selected on rank 0; otherwise they are sample-sorted and cut at k.
  idx_t gather_limit = idx_t{1} << 20;
};

/// Collective: the rows of `table` in the order of `keys` (then the global row index). keys,
/// options, schema, string encodings and dictionaries must be equal on all ranks. Rank r of the
/// result holds the r-th contiguous range of the order. An unknown key column throws ConfigError
/// (with a did-you-mean) on every rank (agreed: Error::agreed() is set).
table::Table sort(const mpi::Comm& comm, const table::Table& table,
                  const std::vector<SortKey>& keys, const SortOptions& options = {});

/// Collective: the first `limit` rows (limit >= 0) of sort(comm, table, keys), without sorting
/// the whole table: each rank keeps its local top `limit`, then those candidates are selected
/// (see SortOptions::gather_limit). The result is in global order; with the gather it lives on
/// rank 0 only. Same requirements as sort.
table::Table sort_limit(const mpi::Comm& comm, const table::Table& table,
                        const std::vector<SortKey>& keys, idx_t limit,
                        const SortOptions& options = {});

}  // namespace shardflow::ops
