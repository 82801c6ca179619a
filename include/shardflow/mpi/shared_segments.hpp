#pragma once
// On-node shared memory: one segment per rank of a communicator whose ranks all run on one host,
// writable by its owner and readable by every other rank. The shuffle uses it as a staging area:
// a rank scatters the rows bound for its peers into its own segment, and each peer copies its
// rows straight out of it with a plain memcpy, instead of going through MPI's shared-memory
// transport (a kernel-assisted copy that pins pages, and half the speed on the machines measured;
// benchmarks/bench_shuffle.cpp keeps both transports side by side).
//
// A segment is a memfd (not /dev/shm, which containers often limit to 64 MiB) that peers map
// through /proc/<pid>/fd/<fd>. Each starts with a random token that every peer checks after
// mapping, so a rank never reads memory it did not mean to (a reused pid in another pid
// namespace, say). Synchronization is the caller's: write, then a barrier, then peers read, then a
// barrier before the owner writes again.

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "shardflow/common/types.hpp"
#include "shardflow/mpi/comm.hpp"

namespace shardflow::mpi {

class SharedSegments {
 public:
  /// Collective over `comm`: creates a segment of `bytes` (> 0, identical on all ranks) per rank
  /// and maps every peer's. Returns nullptr on every rank if the ranks span more than one host or
  /// any rank could not set up or map a segment; `why` (if given) then says why, on every rank
  /// (empty when the ranks simply span several hosts). Never throws for those cases, so callers
  /// can fall back to MPI.
  static std::unique_ptr<SharedSegments> create(const Comm& comm, idx_t bytes,
                                                std::string* why = nullptr);

  ~SharedSegments();
  SharedSegments(const SharedSegments&) = delete;
  SharedSegments& operator=(const SharedSegments&) = delete;

  /// Usable bytes of every segment (at least the requested size).
  idx_t bytes() const { return bytes_; }
  /// This rank's segment, 64-byte aligned and writable.
  std::byte* mine() const { return segment_[static_cast<size_t>(rank_)]; }
  /// Rank `rank`'s segment (this rank's own for rank == comm.rank()), 64-byte aligned; read only
  /// for peers.
  const std::byte* of(int rank) const { return segment_[static_cast<size_t>(rank)]; }

 private:
  SharedSegments() = default;

  int rank_ = 0;
  idx_t bytes_ = 0;
  int fd_ = -1;                        // this rank's memfd
  std::vector<void*> mapping_;         // per rank: start of the mapping (header included)
  std::vector<size_t> mapping_bytes_;  // per rank: its length
  std::vector<std::byte*> segment_;    // per rank: first usable byte
};

/// The shared heaps (common/shared_heap.hpp) of every rank of a communicator whose ranks all run
/// on one host, each mapped writable into this process: the shuffle's receivers allocate their
/// output columns in their own heap and every peer writes its rows straight into them.
class PeerHeaps {
 public:
  /// Collective over `comm`: maps every peer's heap (creating this rank's own if needed).
  /// nullptr on every rank if the ranks span more than one host or any rank could not create or
  /// map a heap; `why` (if given) then says why, on every rank (empty when the ranks simply span
  /// several hosts).
  static std::unique_ptr<PeerHeaps> create(const Comm& comm, std::string* why = nullptr);

  ~PeerHeaps();
  PeerHeaps(const PeerHeaps&) = delete;
  PeerHeaps& operator=(const PeerHeaps&) = delete;

  /// Where rank `rank`'s heap starts in this process (this rank's own heap for its own rank):
  /// a block at offset o of that rank's heap is at base(rank) + o here.
  std::byte* base(int rank) const { return base_[static_cast<size_t>(rank)]; }

 private:
  PeerHeaps() = default;

  int rank_ = 0;
  std::vector<std::byte*> base_;
  std::vector<size_t> bytes_;  // per peer: length of its mapping (0 for this rank's own)
};

}  // namespace shardflow::mpi
