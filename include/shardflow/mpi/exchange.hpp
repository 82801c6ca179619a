#pragma once
// The personalized all-to-all under every shuffle, join and sort, behind one interface with three
// transports, chosen once per communicator and exchange size:
//   - MPI: one MPI_Alltoallv (Open MPI's own on-node transport for peers on this host);
//   - shared memory: every rank of the communicator runs on one host; the sender lays its
//     regions out in its on-node staging segment (shared_segments.hpp) and each receiver copies
//     its region out of every peer's segment with a plain memcpy (about twice MPI's on-node
//     speed, benchmarks/bench_shuffle.cpp);
//   - hybrid: the ranks span hosts and some share one: peers on this host through the staging
//     segments of this host's ranks, the others through MPI, the two overlapped.
// The caller scatters its rows into send_area() (one region per destination) and calls
// exchange() once per column of fixed width; rows a rank keeps never go through it.

#include <cstddef>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "shardflow/common/types.hpp"
#include "shardflow/mpi/comm.hpp"

namespace shardflow::mpi {

enum class ExchangeTransport { kMpi, kSharedMemory, kHybrid };
std::string_view to_string(ExchangeTransport transport);

class Exchange {
 public:
  /// Collective, with equal arguments on every rank: a send area of at least `area_bytes`
  /// (64-byte aligned) on every rank and the transport. With `allow_shared_memory` false, or one
  /// rank per host, or staging segments unavailable (logged once by Comm::staging_segments), the
  /// transport is MPI. `comm` must outlive the Exchange; the send area stays valid until the next
  /// Exchange is created on `comm` or one of its node communicators.
  Exchange(const Comm& comm, idx_t area_bytes, bool allow_shared_memory);
  ~Exchange();
  Exchange(const Exchange&) = delete;
  Exchange& operator=(const Exchange&) = delete;

  ExchangeTransport transport() const { return transport_; }
  /// This rank's send area: at least area_bytes.
  std::byte* send_area() const { return send_area_; }
  /// True if exchange() needs `peer_displs` (some peers read this rank's regions straight from its
  /// send area, so each receiver must know where its region starts in the sender's area).
  bool reads_peer_areas() const { return transport_ != ExchangeTransport::kMpi; }
  /// True if rank `r` of the communicator shares this rank's host and its regions for this rank
  /// go through shared memory.
  bool through_shared_memory(int r) const;

  /// Collective: elements of `width` bytes (1, 2, 4 or 8). For every rank d != this rank,
  /// send_counts[d] elements starting at element send_displs[d] of send_area() go to rank d; the
  /// recv_counts[s] elements from rank s land at element recv_displs[s] of `recv`. Counts for
  /// this rank itself must be 0. `peer_displs[s]` is where rank s's region for this rank starts
  /// in s's send area, in elements (only read if reads_peer_areas(); may be empty otherwise).
  /// Every count and displacement must be at most max_message_elements(). On return every
  /// element has arrived and this rank's send area may be rewritten.
  void exchange(int width, std::span<const idx_t> send_counts, std::span<const idx_t> send_displs,
                void* recv, std::span<const idx_t> recv_counts, std::span<const idx_t> recv_displs,
                std::span<const idx_t> peer_displs) const;

 private:
  const Comm& comm_;
  ExchangeTransport transport_ = ExchangeTransport::kMpi;
  std::byte* send_area_ = nullptr;
  std::unique_ptr<std::uint64_t[]> own_area_;  // the MPI transport's send area
  const SharedSegments* segments_ = nullptr;   // this host's staging segments (by node rank)
  const Comm* node_ = nullptr;                 // this host's ranks
  std::vector<int> node_rank_;                 // node rank of every rank on this host, else -1
};

}  // namespace shardflow::mpi
