#pragma once
// Building string dictionaries that are identical on every rank.

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "shardflow/mpi/comm.hpp"
#include "shardflow/table/column.hpp"
#include "shardflow/table/table.hpp"

namespace shardflow::table {

/// Default limit for dictionary encoding: columns with more distinct values than this stay plain.
inline constexpr idx_t kDefaultMaxDictionarySize = 1 << 20;

/// Builds a dictionary-encoded column from codes into `values_in_code_order` (any order, distinct
/// values). The result has a sorted *local* dictionary; call unify_dictionary before using it
/// across ranks. `validity` may be empty (no nulls).
Column dictionary_column_from_local(std::vector<std::string> values_in_code_order,
                                    Buffer<std::int32_t> codes, std::vector<std::uint8_t> validity);

/// Collective: replaces the (sorted, local) dictionary of a dictionary-encoded string column by the
/// union of all ranks' dictionaries, remapping codes. Afterwards every rank holds the same
/// Dictionary contents. Must be called by all ranks for the same column.
void unify_dictionary(const mpi::Comm& comm, Column& column);

/// Collective: the dictionary-encoded column for `codes` into this rank's distinct values
/// `values_in_code_order` (any order), with the dictionary already unified: the sorted union of
/// every rank's values, identical on all ranks. Same result as dictionary_column_from_local
/// followed by unify_dictionary, but with one sort (of the gathered values) and one pass over the
/// codes. `validity` may be empty (no nulls); null rows may hold any valid code (or 0). Every
/// rank must call it for the same column (the values and row counts may differ per rank).
Column unified_dictionary_column(const mpi::Comm& comm,
                                 std::span<const std::string_view> values_in_code_order,
                                 Buffer<std::int32_t> codes, std::vector<std::uint8_t> validity);

/// Collective: converts a plain string column to dictionary encoding if the number of distinct
/// values over all ranks is at most `max_size`; otherwise leaves it plain. A dictionary column is
/// unified. The outcome (encoded or not) is the same on every rank.
void encode_strings(const mpi::Comm& comm, Column& column,
                    idx_t max_size = kDefaultMaxDictionarySize);

/// Collective: encode_strings for every string column of `table`.
void encode_all_strings(const mpi::Comm& comm, Table& table,
                        idx_t max_size = kDefaultMaxDictionarySize);

}  // namespace shardflow::table
