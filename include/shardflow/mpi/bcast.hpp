#pragma once
// Typed broadcast with 64-bit counts.

#include <algorithm>
#include <span>
#include <string>
#include <vector>

#include "shardflow/mpi/comm.hpp"
#include "shardflow/mpi/comm_time.hpp"
#include "shardflow/mpi/datatype.hpp"
#include "shardflow/mpi/limits.hpp"

namespace shardflow::mpi {

/// Collective: broadcasts `data` from `root`. `data.size()` and `root` must be equal on all ranks.
template <typename T>
void bcast(const Comm& comm, std::span<T> data, int root) {
  const detail::CommTimer timer;
  const idx_t total = static_cast<idx_t>(data.size());
  const idx_t chunk = max_message_elements();
  for (idx_t offset = 0; offset < total; offset += chunk) {
    const idx_t n = std::min(chunk, total - offset);
    check(MPI_Bcast(data.data() + offset, checked_int(n, "bcast count"), datatype<T>(), root,
                    comm.native()),
          "MPI_Bcast");
  }
}

/// Collective: broadcasts a vector from `root`; other ranks' vectors are resized to match.
/// Only `root` must be equal on all ranks.
template <typename T>
void bcast_vector(const Comm& comm, std::vector<T>& data, int root) {
  idx_t n = static_cast<idx_t>(data.size());
  bcast(comm, std::span<idx_t>(&n, 1), root);
  data.resize(static_cast<size_t>(n));
  bcast(comm, std::span<T>(data), root);
}

/// Collective: broadcasts a string from `root`.
void bcast_string(const Comm& comm, std::string& text, int root);

/// Collective: broadcasts one value from `root`.
template <typename T>
T bcast_value(const Comm& comm, T value, int root) {
  bcast(comm, std::span<T>(&value, 1), root);
  return value;
}

}  // namespace shardflow::mpi
