#pragma once
// Hash shuffle: the exchange under every distributed operator that needs equal keys on one rank
// (group-by, joins, dedup). Rows move in bounded rounds so that peak memory stays near 2x the
// input.

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "shardflow/common/types.hpp"
#include "shardflow/mpi/comm.hpp"
#include "shardflow/table/table.hpp"

namespace shardflow::ops {

struct ShuffleOptions {
  /// Per-rank send-buffer budget per round, in bytes. The number of rounds is the largest
  /// ceil(local bytes / round_bytes) over all ranks.
  idx_t round_bytes = idx_t{64} << 20;
};

/// Local: a 64-bit hash of the key values of every row. Equal keys give equal hashes on every rank
/// and at every rank count: ints, bools and timestamps hash via hash_u64 of the value (int32 sign-
/// extended), floats via double_key_bits (so -0.0 == 0.0 and all NaNs are one key), dictionary
/// strings via their code (dictionaries are identical on all ranks), plain strings via hash_string,
/// and null via a fixed constant. Columns are combined left to right with hash_combine.
/// `key_columns` are column indexes into the table (must be valid).
std::vector<std::uint64_t> hash_rows(const table::Table& table,
                                     const std::vector<int>& key_columns);

/// Collective: moves every row to rank `destination[row]` (destination.size() == num_rows, values
/// in [0, comm.size())). Schema, string encodings (dictionary vs plain) and dictionaries must be
/// equal on all ranks. The result holds the received rows grouped by source rank (rank order),
/// in their original order within a source. Data moves in rounds of about options.round_bytes
/// per rank; every column type including plain strings and validity is carried. A bad
/// destination on any rank makes every rank throw the same RuntimeError.
table::Table shuffle_to(const mpi::Comm& comm, const table::Table& table,
                        std::span<const int> destination, const ShuffleOptions& options = {});

/// Collective: hash_rows + shuffle_to with destination = hash % comm.size(). Afterwards all rows
/// with equal key values live on one rank. Key names and schema must be equal on all ranks; an
/// unknown key throws ConfigError (with a did-you-mean) on every rank.
table::Table hash_shuffle(const mpi::Comm& comm, const table::Table& table,
                          const std::vector<std::string>& keys, const ShuffleOptions& options = {});

}  // namespace shardflow::ops
