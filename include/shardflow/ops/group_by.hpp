#pragma once
// Distributed group-by with aggregates.
//
// Keys that pack into 63 bits (dictionary strings, bools, and integers/timestamps whose global
// range is small enough; null is one extra slot per column) are grouped on the packed integer:
// a direct-indexed array when the key domain is small, an open-addressing hash table otherwise.
// Other keys (floats, plain strings, wide integer ranges) use a hash table on row hashes with
// column-wise equality. (Packing, both tables and the equality are the engines in
// ops/key_packing.hpp, ops/hash_table.hpp and ops/key_equality.hpp.) Aggregates are columnar
// init/update/merge/finalize kernels (ops/aggregate.hpp).
//
// Distribution: with more than one rank, the rows are either pre-aggregated locally and the
// partial states shuffled and merged (when keys repeat), or shuffled raw and aggregated once (when
// almost every key is distinct, decided on a sample with one small allreduce). The output is
// distributed by a hash of the key; it is not necessarily co-partitioned with hash_shuffle.

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "shardflow/mpi/comm.hpp"
#include "shardflow/ops/aggregate.hpp"
#include "shardflow/ops/shuffle.hpp"
#include "shardflow/ops/table_profile.hpp"
#include "shardflow/table/schema.hpp"
#include "shardflow/table/table.hpp"

namespace shardflow::ops {

struct GroupByOptions {
  ShuffleOptions shuffle;
  /// With more than `slice_above_groups` groups on a rank, aggregate states are updated in
  /// slices of `groups_per_slice` groups (order_by_group_slice). An aggregate's state takes up to
  /// 32 bytes per group: 128 Ki groups (4 MiB) still update fast enough in row order, and a
  /// slice of 8 Ki groups is 256 KiB, half an L2. Tests set both small to take the sliced path.
  idx_t slice_above_groups = idx_t{1} << 17;
  idx_t groups_per_slice = idx_t{1} << 13;
  /// Keys packing into a domain of at most this many values, under aggregates that all update
  /// blocks of rows (AggregateState::updates_row_ranges), are grouped and aggregated a block of
  /// rows at a time in one pass over the keys (the group ids stay in L1; the states of so few
  /// groups stay in L2). 0 turns the fused pass off (tests compare both).
  std::uint64_t fused_max_domain = std::uint64_t{1} << 14;
  /// Called (at most once, on every rank alike) when the group-by will not read its input table
  /// again: once it has copied the rows it shuffles raw (nearly unique keys, holistic aggregates,
  /// keys that do not pack), before the shuffle. The caller may free the input there, so that
  /// the input, the shuffle's buffers and the output are not all whole at once (db-benchmark q10).
  /// Not called with one rank (nothing is shuffled) nor without keys. Empty: not called.
  std::function<void()> input_consumed = nullptr;
  /// The profile of the input table's current values over all ranks (a job's input as loaded,
  /// ops/table_profile.hpp), or null: integer key columns it covers are not scanned for their
  /// range (see plan_packing's `known`). Must be equal on all ranks.
  const TableProfile* input_profile = nullptr;
};

/// Local: output schema of a group-by: the key columns (input types) then one column per
/// aggregate (see aggregate_output_type; names from output_name). Throws ConfigError for an
/// unknown key or aggregate column (with a did-you-mean), sum/mean of a string column, an
/// aggregate other than count without a column, or duplicate output names.
table::Schema group_by_output_schema(const table::Schema& input,
                                     const std::vector<std::string>& keys,
                                     const std::vector<AggSpec>& aggs);

/// Collective: one output row per distinct combination of key values over all ranks (null keys
/// form their own group; float keys compare -0.0 == 0.0 and NaN == NaN), holding the aggregates
/// of that group's rows. keys, aggs, schema, string encodings and dictionaries must be equal on
/// all ranks. Aggregates ignore nulls; a group without non-null inputs gives null for sum, mean,
/// min and max and 0 for count. Float sums and means are correctly rounded from the exact
/// sum, hence bit-identical at every rank count and row order (see aggregate.hpp). Output rows
/// within a rank are in no particular order. With no keys the result is one row (on one rank)
/// holding the aggregates of all rows, also when the table is empty on every rank (SQL: count 0,
/// the other aggregates null). Holistic aggregates (median, quantile, count_distinct, top_k above
/// k = 16, histogram with a bin count; ops::is_holistic) bring every row of a group to one rank;
/// the others merge partial states where keys repeat.
table::Table group_by(const mpi::Comm& comm, const table::Table& table,
                      const std::vector<std::string>& keys, const std::vector<AggSpec>& aggs,
                      const GroupByOptions& options = {});

}  // namespace shardflow::ops
