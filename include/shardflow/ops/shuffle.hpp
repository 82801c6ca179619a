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
  /// Per-rank send-buffer budget per round, in bytes. Tables of fixed-width columns (no plain
  /// strings) are sent one column at a time, so a round holds at most ceil(rows / rounds) values
  /// of the widest column: rounds = the largest ceil(rows * widest / round_bytes) over all ranks.
  /// Otherwise all columns of a round share one buffer: rounds = the largest
  /// ceil(local bytes / round_bytes). Must be positive.
  idx_t round_bytes = idx_t{64} << 20;
  /// Rows for other ranks on the same host go through on-node
  /// shared memory (mpi/exchange.hpp: the sender scatters into its staging segment, each
  /// receiver copies its rows out) instead of MPI, which is about twice as fast; rows for ranks
  /// on other hosts go through MPI at the same time. Falls back to MPI by itself where that is
  /// unavailable. false forces MPI; results are identical either way. Must be equal on all ranks.
  bool on_node_shared_memory = true;
};

/// Local: a 64-bit hash of the key values of every row. Equal keys give equal hashes on every rank
/// and at every rank count. A value's bits: ints, bools and timestamps their value (int32 sign-
/// extended), floats double_key_bits (so -0.0 == 0.0 and all NaNs are one key), dictionary strings
/// their code (dictionaries are identical on all ranks). The first key column gives
/// hash_u64(bits ^ seed) (plain strings: hash_string(s, seed)); every further column is folded in
/// with hash_combine(h, hash_u64(bits)) (plain strings: hash_string(s)); null is a fixed constant.
/// `key_columns` are column indexes into the table (must be valid).
std::vector<std::uint64_t> hash_rows(const table::Table& table,
                                     const std::vector<int>& key_columns);

/// Local: the rank that owns hash `h` among `ranks` ranks: the low bits for a power of two,
/// otherwise Lemire's multiply-shift range reduction ((h * ranks) >> 64), which is as uniform as
/// h % ranks for a well-mixed hash but needs no 64-bit division (about 30 cycles per row). Every
/// operator that partitions by hash uses this, so equal keys meet on one rank.
inline int rank_of_hash(std::uint64_t h, int ranks) {
  const auto p = static_cast<std::uint64_t>(ranks);
  if ((p & (p - 1)) == 0) return static_cast<int>(h & (p - 1));
  return static_cast<int>((static_cast<unsigned __int128>(h) * p) >> 64);
}

/// Collective: moves every row to rank `destination[row]` (destination.size() == num_rows, values
/// in [0, comm.size())). Schema, string encodings (dictionary vs plain) and dictionaries must be
/// equal on all ranks. The result holds the received rows grouped by source rank (rank order),
/// in their original order within a source. Data moves in rounds of about options.round_bytes
/// per rank; every column type including plain strings and validity is carried. Rows that stay on
/// this rank are copied straight into the result, not through MPI (the characters of plain
/// strings excepted: MPI copies them locally). A bad destination on any rank makes every rank
/// throw the same RuntimeError.
table::Table shuffle_to(const mpi::Comm& comm, const table::Table& table,
                        std::span<const int> destination, const ShuffleOptions& options = {});

/// Collective: shuffle_to with the destinations as bytes, which callers with at most 256 ranks
/// can write directly: no int array, and no narrowing pass. Same contract and errors.
table::Table shuffle_to(const mpi::Comm& comm, const table::Table& table,
                        std::span<const std::uint8_t> destination,
                        const ShuffleOptions& options = {});

/// Collective: hash_rows + shuffle_to with destination = rank_of_hash(hash, comm.size()).
/// Afterwards all rows with equal key values live on one rank. The result is ordered as
/// shuffle_to's. Key names and schema must be equal on all ranks; an unknown key throws ConfigError
/// (with a did-you-mean) on every rank.
table::Table hash_shuffle(const mpi::Comm& comm, const table::Table& table,
                          const std::vector<std::string>& keys, const ShuffleOptions& options = {});

namespace detail {
/// Up to this many ranks (default 4; values above 4 act as 4) the shuffle scatters rows with a
/// branch-free kernel specialized for the rank count, above it with a generic one. Results are
/// identical either way. For tests, to run the generic kernel at small rank counts.
void set_small_fanout_limit(int ranks);

/// With false, the shuffle hashes and scatters with its scalar kernels even where the vectorized
/// ones (partition_scatter.hpp) could run; results are identical. For tests and for
/// benchmarks/bench_shuffle.cpp, which keeps both side by side. Default true.
void set_vectorized_scatter(bool enabled);

/// With false, shuffles on one host go through the staging segments even where peers could write
/// straight into each other's outputs (kPeerOutputs); results are identical. For tests and
/// benchmarks/bench_shuffle.cpp. Default true.
void set_peer_outputs(bool enabled);

/// How the last shuffle on this process moved rows between ranks. For tests, to check that the
/// fast path is really taken.
enum class Transport {
  kNone,                  // one rank: nothing moved
  kSharedMemory,          // direct path through on-node staging segments
  kPeerOutputs,           // one host, no nulls: peers write into the outputs
  kHybrid,                // direct path: shared memory to ranks on this host, MPI to other hosts
  kMpiDirect,             // direct path through MPI_Alltoallv per column
  kMpiSegments,           // segment path (counts beyond an MPI message) through MPI
  kSegmentsSharedMemory,  // segment path through on-node shared memory
  kSegmentsHybrid,        // segment path: shared memory on this host, MPI to other hosts
};
Transport last_transport();

/// Payload bytes this process has sent to other ranks in all shuffles so far, by where they went
/// and how. Every shuffle also logs its share at debug level. For tests and for showing that a run
/// across hosts really moves rows between hosts.
struct TransportBytes {
  idx_t other_hosts_mpi = 0;          // to ranks on other hosts (always through MPI)
  idx_t this_host_mpi = 0;            // to ranks on this host through MPI
  idx_t this_host_shared_memory = 0;  // to ranks on this host through the staging segments
};
TransportBytes transport_bytes();
}  // namespace detail

}  // namespace shardflow::ops
