#pragma once
// Typed allreduce with 64-bit counts, with a built-in reduction (`Reduce`) or a user-defined one
// (`Op<T>`, op.hpp).

#include <algorithm>
#include <span>
#include <vector>

#include "shardflow/mpi/comm.hpp"
#include "shardflow/mpi/comm_time.hpp"
#include "shardflow/mpi/datatype.hpp"
#include "shardflow/mpi/limits.hpp"
#include "shardflow/mpi/op.hpp"

namespace shardflow::mpi {

namespace detail {
// In-place allreduce of `total` elements of `type` (each `element_bytes` long) in messages of at
// most max_message_elements().
inline void allreduce_chunks(const Comm& comm, void* data, idx_t total, std::size_t element_bytes,
                             MPI_Datatype type, MPI_Op op) {
  const CommTimer timer;
  const idx_t chunk = max_message_elements();
  auto* bytes = static_cast<unsigned char*>(data);
  for (idx_t offset = 0; offset < total; offset += chunk) {
    const idx_t n = std::min(chunk, total - offset);
    check(MPI_Allreduce(MPI_IN_PLACE, bytes + static_cast<std::size_t>(offset) * element_bytes,
                        checked_int(n, "allreduce count"), type, op, comm.native()),
          "MPI_Allreduce");
  }
}
}  // namespace detail

/// Collective: element-wise reduction of `data` in place with `reduce`. `data.size()` and `reduce`
/// must be equal on all ranks. Splits messages above max_message_elements().
template <typename T>
void allreduce_inplace(const Comm& comm, std::span<T> data, Reduce reduce) {
  detail::allreduce_chunks(comm, data.data(), static_cast<idx_t>(data.size()), sizeof(T),
                           datatype<T>(), detail::native_op(reduce));
}

/// Collective: element-wise reduction of `data` in place with the user-defined `op`.
/// `data.size()` must be equal on all ranks, and `op` the same reduction. Splits messages above
/// max_message_elements().
template <typename T>
void allreduce_inplace(const Comm& comm, std::span<T> data, const Op<T>& op) {
  detail::allreduce_chunks(comm, data.data(), static_cast<idx_t>(data.size()), sizeof(T),
                           op.handles().type(), op.handles().op());
}

/// Collective: reduction of one value with `reduce`.
template <typename T>
T allreduce(const Comm& comm, T value, Reduce reduce) {
  allreduce_inplace(comm, std::span<T>(&value, 1), reduce);
  return value;
}

/// Collective: reduction of one value with the user-defined `op`.
template <typename T>
T allreduce(const Comm& comm, T value, const Op<T>& op) {
  allreduce_inplace(comm, std::span<T>(&value, 1), op);
  return value;
}

template <typename T>
T allreduce_sum(const Comm& comm, T value) {
  return allreduce(comm, value, Reduce::kSum);
}
template <typename T>
T allreduce_max(const Comm& comm, T value) {
  return allreduce(comm, value, Reduce::kMax);
}
template <typename T>
T allreduce_min(const Comm& comm, T value) {
  return allreduce(comm, value, Reduce::kMin);
}

/// Collective: exclusive prefix sum of `value` over ranks (rank 0 gets 0).
inline idx_t exscan_sum(const Comm& comm, idx_t value) {
  const detail::CommTimer timer;
  idx_t result = 0;
  check(MPI_Exscan(&value, &result, 1, MPI_INT64_T, MPI_SUM, comm.native()), "MPI_Exscan");
  return comm.rank() == 0 ? 0 : result;
}

}  // namespace shardflow::mpi
