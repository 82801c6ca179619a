#pragma once
// Typed allreduce with 64-bit counts.

#include <algorithm>
#include <span>
#include <vector>

#include "shardflow/mpi/comm.hpp"
#include "shardflow/mpi/datatype.hpp"
#include "shardflow/mpi/limits.hpp"

namespace shardflow::mpi {

/// Collective: element-wise reduction of `data` in place with `op` (MPI_SUM, MPI_MAX, ...).
/// `data.size()` and `op` must be equal on all ranks. Splits messages above max_message_elements().
template <typename T>
void allreduce_inplace(const Comm& comm, std::span<T> data, MPI_Op op) {
  const idx_t total = static_cast<idx_t>(data.size());
  const idx_t chunk = max_message_elements();
  for (idx_t offset = 0; offset < total; offset += chunk) {
    const idx_t n = std::min(chunk, total - offset);
    check(MPI_Allreduce(MPI_IN_PLACE, data.data() + offset, checked_int(n, "allreduce count"),
                        datatype<T>(), op, comm.native()),
          "MPI_Allreduce");
  }
}

/// Collective: reduction of one value with `op`.
template <typename T>
T allreduce(const Comm& comm, T value, MPI_Op op) {
  allreduce_inplace(comm, std::span<T>(&value, 1), op);
  return value;
}

template <typename T>
T allreduce_sum(const Comm& comm, T value) {
  return allreduce(comm, value, MPI_SUM);
}
template <typename T>
T allreduce_max(const Comm& comm, T value) {
  return allreduce(comm, value, MPI_MAX);
}
template <typename T>
T allreduce_min(const Comm& comm, T value) {
  return allreduce(comm, value, MPI_MIN);
}

/// Collective: exclusive prefix sum of `value` over ranks (rank 0 gets 0).
inline idx_t exscan_sum(const Comm& comm, idx_t value) {
  idx_t result = 0;
  check(MPI_Exscan(&value, &result, 1, MPI_INT64_T, MPI_SUM, comm.native()), "MPI_Exscan");
  return comm.rank() == 0 ? 0 : result;
}

}  // namespace shardflow::mpi
