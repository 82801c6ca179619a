#pragma once
// Union (SQL UNION ALL): the rows of several tables with the same columns, matched by name.

#include <string>
#include <vector>

#include "shardflow/mpi/comm.hpp"
#include "shardflow/ops/shuffle.hpp"
#include "shardflow/table/dictionary_encoding.hpp"
#include "shardflow/table/table.hpp"

namespace shardflow::ops {

struct UnionOptions {
  ShuffleOptions shuffle;
  /// A string column whose inputs are all dictionary-encoded keeps a dictionary (the sorted
  /// union of the inputs' dictionaries) when it has at most this many values; otherwise, or when
  /// any input holds it as plain strings, the output column is plain.
  idx_t max_dictionary_size = table::kDefaultMaxDictionarySize;
};

/// Local: throws ConfigError unless every input has the first input's column names (in any
/// order) with the same types; the message names the input (0-based index `i` as "input i+1")
/// and the column.
void check_union_schemas(const std::vector<const table::Table*>& inputs);

/// Collective: every row of inputs[0], then every row of inputs[1], ... (global order), with the
/// columns in the first input's order. The result is spread over the ranks in contiguous, nearly
/// equal ranges of that order (rank r holds rows [T*r/p, T*(r+1)/p) of the T rows), so it is the
/// same table, in the same order, at every rank count. The number of inputs, their schemas,
/// string encodings and dictionaries must be equal on all ranks (each input's own; they may
/// differ between inputs). Schema mismatches throw the same ConfigError on every rank (agreed)
/// (check_union_schemas).
table::Table union_tables(const mpi::Comm& comm, const std::vector<const table::Table*>& inputs,
                          const UnionOptions& options = {});

}  // namespace shardflow::ops
