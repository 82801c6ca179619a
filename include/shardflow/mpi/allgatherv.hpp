#pragma once
// Typed allgatherv with 64-bit counts: every rank receives every rank's block, in rank order.

#include <algorithm>
#include <span>
#include <vector>

#include "shardflow/mpi/allreduce.hpp"
#include "shardflow/mpi/comm.hpp"
#include "shardflow/mpi/comm_time.hpp"
#include "shardflow/mpi/datatype.hpp"
#include "shardflow/mpi/limits.hpp"

namespace shardflow::mpi {

/// Collective: gathers one value from every rank, in rank order.
template <typename T>
std::vector<T> allgather(const Comm& comm, T value) {
  const detail::CommTimer timer;
  std::vector<T> out(static_cast<size_t>(comm.size()));
  check(MPI_Allgather(&value, 1, datatype<T>(), out.data(), 1, datatype<T>(), comm.native()),
        "MPI_Allgather");
  return out;
}

/// Collective: concatenation of every rank's `block` in rank order (comm.size() * block.size()
/// elements). `block.size()` must be equal on all ranks and at most max_message_elements().
template <typename T>
std::vector<T> allgather_blocks(const Comm& comm, std::span<const T> block) {
  const int count = checked_int(static_cast<idx_t>(block.size()), "allgather block");
  if (count > max_message_elements()) {
    throw RuntimeError("allgather_blocks: a block of {} elements exceeds the message limit of {}",
                       count, max_message_elements());
  }
  const detail::CommTimer timer;
  std::vector<T> out(block.size() * static_cast<size_t>(comm.size()));
  check(MPI_Allgather(block.data(), count, datatype<T>(), out.data(), count, datatype<T>(),
                      comm.native()),
        "MPI_Allgather");
  return out;
}

/// Collective: concatenation of every rank's `local` block in rank order. Block sizes may differ.
/// If `counts` is given it receives each rank's block size. Totals above max_message_elements()
/// are moved as chunked broadcasts from each rank.
template <typename T>
std::vector<T> allgatherv(const Comm& comm, std::span<const T> local,
                          std::vector<idx_t>* counts = nullptr) {
  const detail::CommTimer timer;
  const std::vector<idx_t> sizes = allgather<idx_t>(comm, static_cast<idx_t>(local.size()));
  idx_t total = 0;
  for (idx_t s : sizes)
    total += s;
  std::vector<T> out(static_cast<size_t>(total));
  const idx_t limit = max_message_elements();
  if (total <= limit) {
    std::vector<int> icounts(sizes.size());
    std::vector<int> idispls(sizes.size());
    idx_t offset = 0;
    for (size_t r = 0; r < sizes.size(); ++r) {
      icounts[r] = checked_int(sizes[r], "allgatherv count");
      idispls[r] = checked_int(offset, "allgatherv displacement");
      offset += sizes[r];
    }
    check(MPI_Allgatherv(local.data(),
                         checked_int(static_cast<idx_t>(local.size()), "allgatherv count"),
                         datatype<T>(), out.data(), icounts.data(), idispls.data(), datatype<T>(),
                         comm.native()),
          "MPI_Allgatherv");
  } else {
    // Too large for int displacements: each rank broadcasts its block in bounded pieces.
    idx_t offset = 0;
    for (int r = 0; r < comm.size(); ++r) {
      const idx_t n = sizes[static_cast<size_t>(r)];
      if (r == comm.rank()) std::copy(local.begin(), local.end(), out.begin() + offset);
      for (idx_t done = 0; done < n; done += limit) {
        const idx_t piece = std::min(limit, n - done);
        check(MPI_Bcast(out.data() + offset + done, checked_int(piece, "allgatherv piece"),
                        datatype<T>(), r, comm.native()),
              "MPI_Bcast (allgatherv)");
      }
      offset += n;
    }
  }
  if (counts != nullptr) *counts = sizes;
  return out;
}

}  // namespace shardflow::mpi
