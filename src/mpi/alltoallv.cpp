#include "shardflow/mpi/alltoallv.hpp"
#include "shardflow/mpi/comm_time.hpp"

namespace shardflow::mpi {

std::vector<idx_t> alltoall_counts(const Comm& comm, std::span<const idx_t> send_counts) {
  if (static_cast<int>(send_counts.size()) != comm.size()) {
    throw RuntimeError("alltoall_counts: {} send counts given for {} ranks", send_counts.size(),
                       comm.size());
  }
  const detail::CommTimer timer;
  std::vector<idx_t> recv(send_counts.size());
  check(
      MPI_Alltoall(send_counts.data(), 1, MPI_INT64_T, recv.data(), 1, MPI_INT64_T, comm.native()),
      "MPI_Alltoall (counts)");
  return recv;
}

namespace detail {

bool needs_split(const Comm& comm, std::span<const idx_t> send_counts,
                 std::span<const idx_t> recv_counts) {
  const idx_t limit = max_message_elements();
  idx_t send_total = 0, recv_total = 0;
  for (idx_t c : send_counts)
    send_total += c;
  for (idx_t c : recv_counts)
    recv_total += c;
  // Displacements are bounded by the totals; if both fit, every count and displacement fits.
  const int local = (send_total > limit || recv_total > limit) ? 1 : 0;
  return allreduce_max(comm, local) != 0;
}

void alltoallv_p2p(const Comm& comm, const void* send, std::span<const idx_t> send_counts,
                   void* recv, std::span<const idx_t> recv_counts, MPI_Datatype type,
                   std::size_t element_size) {
  const CommTimer timer;
  // Messages between one pair with one tag are non-overtaking, so pieces arrive in order.
  const idx_t limit = max_message_elements();
  const auto* send_bytes = static_cast<const char*>(send);
  auto* recv_bytes = static_cast<char*>(recv);
  std::vector<MPI_Request> requests;
  idx_t offset = 0;
  for (int r = 0; r < comm.size(); ++r) {
    const idx_t n = recv_counts[static_cast<size_t>(r)];
    for (idx_t done = 0; done < n; done += limit) {
      const idx_t piece = std::min(limit, n - done);
      requests.emplace_back();
      check(MPI_Irecv(recv_bytes + static_cast<size_t>(offset + done) * element_size,
                      checked_int(piece, "alltoallv piece"), type, r, 0, comm.native(),
                      &requests.back()),
            "MPI_Irecv (alltoallv)");
    }
    offset += n;
  }
  offset = 0;
  for (int r = 0; r < comm.size(); ++r) {
    const idx_t n = send_counts[static_cast<size_t>(r)];
    for (idx_t done = 0; done < n; done += limit) {
      const idx_t piece = std::min(limit, n - done);
      requests.emplace_back();
      check(MPI_Isend(send_bytes + static_cast<size_t>(offset + done) * element_size,
                      checked_int(piece, "alltoallv piece"), type, r, 0, comm.native(),
                      &requests.back()),
            "MPI_Isend (alltoallv)");
    }
    offset += n;
  }
  check(MPI_Waitall(static_cast<int>(requests.size()), requests.data(), MPI_STATUSES_IGNORE),
        "MPI_Waitall (alltoallv)");
}

}  // namespace detail
}  // namespace shardflow::mpi
