#pragma once
// Typed personalized all-to-all with 64-bit counts: the transport under every shuffle.

#include <algorithm>
#include <span>
#include <vector>

#include "shardflow/mpi/allreduce.hpp"
#include "shardflow/mpi/comm.hpp"
#include "shardflow/mpi/comm_time.hpp"
#include "shardflow/mpi/datatype.hpp"
#include "shardflow/mpi/limits.hpp"

namespace shardflow::mpi {

/// Collective: every rank tells every other rank how many elements it will send it.
/// `send_counts.size()` must equal comm.size(). Returns the counts this rank will receive.
std::vector<idx_t> alltoall_counts(const Comm& comm, std::span<const idx_t> send_counts);

namespace detail {
/// Exchange by nonblocking point-to-point messages of at most max_message_elements() each. Used
/// when a count or displacement does not fit in `int`; every rank must take this path together.
void alltoallv_p2p(const Comm& comm, const void* send, std::span<const idx_t> send_counts,
                   void* recv, std::span<const idx_t> recv_counts, MPI_Datatype type,
                   std::size_t element_size);
/// True on every rank iff some rank's counts or displacements exceed max_message_elements().
bool needs_split(const Comm& comm, std::span<const idx_t> send_counts,
                 std::span<const idx_t> recv_counts);
}  // namespace detail

/// Collective: `send` holds elements grouped by destination rank (send_counts[r] for rank r, in
/// rank order); `recv` receives elements grouped by source rank, sized to the sum of recv_counts.
template <typename T>
void alltoallv(const Comm& comm, const T* send, std::span<const idx_t> send_counts, T* recv,
               std::span<const idx_t> recv_counts) {
  const detail::CommTimer timer;
  if (detail::needs_split(comm, send_counts, recv_counts)) {
    detail::alltoallv_p2p(comm, send, send_counts, recv, recv_counts, datatype<T>(), sizeof(T));
    return;
  }
  const size_t p = static_cast<size_t>(comm.size());
  std::vector<int> sc(p), sd(p), rc(p), rd(p);
  idx_t so = 0, ro = 0;
  for (size_t r = 0; r < p; ++r) {
    sc[r] = static_cast<int>(send_counts[r]);
    sd[r] = static_cast<int>(so);
    rc[r] = static_cast<int>(recv_counts[r]);
    rd[r] = static_cast<int>(ro);
    so += send_counts[r];
    ro += recv_counts[r];
  }
  check(MPI_Alltoallv(send, sc.data(), sd.data(), datatype<T>(), recv, rc.data(), rd.data(),
                      datatype<T>(), comm.native()),
        "MPI_Alltoallv");
}

/// Collective: personalized all-to-all with a layout the caller computed. The `send_counts[r]`
/// elements for rank r start at `send + send_displs[r]`; the `recv_counts[r]` elements from rank r
/// land at `recv + recv_displs[r]`. Regions may be in any order and have gaps. Every span has
/// comm.size() entries; recv_counts[r] must equal what rank r sends here. Nothing is split:
/// every count and displacement must be at most max_message_elements() (a layout that is not is
/// a bug of the caller, which should use the overload above; this rank then throws RuntimeError).
template <typename T>
void alltoallv_displaced(const Comm& comm, const T* send, std::span<const idx_t> send_counts,
                         std::span<const idx_t> send_displs, T* recv,
                         std::span<const idx_t> recv_counts, std::span<const idx_t> recv_displs) {
  const size_t p = static_cast<size_t>(comm.size());
  if (send_counts.size() != p || send_displs.size() != p || recv_counts.size() != p ||
      recv_displs.size() != p) {
    throw RuntimeError("alltoallv_displaced: layouts for {} ranks given, the communicator has {}",
                       send_counts.size(), p);
  }
  const idx_t limit = max_message_elements();
  std::vector<int> layout(4 * p);  // send counts, send displs, recv counts, recv displs
  const std::span<const idx_t> parts[4] = {send_counts, send_displs, recv_counts, recv_displs};
  for (size_t k = 0; k < 4; ++k) {
    for (size_t r = 0; r < p; ++r) {
      const idx_t v = parts[k][r];
      if (v > limit) {
        throw RuntimeError(
            "alltoallv_displaced: count or displacement {} exceeds the message limit of {}; this "
            "is a shardflow bug",
            v, limit);
      }
      layout[k * p + r] = checked_int(v, "alltoallv count or displacement");
    }
  }
  const detail::CommTimer timer;
  check(MPI_Alltoallv(send, layout.data(), layout.data() + p, datatype<T>(), recv,
                      layout.data() + 2 * p, layout.data() + 3 * p, datatype<T>(), comm.native()),
        "MPI_Alltoallv");
}

/// Collective: as above, exchanging the counts first. Returns the received elements; if
/// `recv_counts_out` is given it receives the per-source counts.
template <typename T>
std::vector<T> alltoallv(const Comm& comm, std::span<const T> send,
                         std::span<const idx_t> send_counts,
                         std::vector<idx_t>* recv_counts_out = nullptr) {
  std::vector<idx_t> recv_counts = alltoall_counts(comm, send_counts);
  idx_t total = 0;
  for (idx_t c : recv_counts)
    total += c;
  std::vector<T> out(static_cast<size_t>(total));
  alltoallv(comm, send.data(), send_counts, out.data(), std::span<const idx_t>(recv_counts));
  if (recv_counts_out != nullptr) *recv_counts_out = std::move(recv_counts);
  return out;
}

}  // namespace shardflow::mpi
