#pragma once
// Point-to-point messages between two ranks of a communicator: a receive, and a send that runs
// in the background until it is waited for. For short messages along a chain of ranks (the
// full-batch objective passes a block's running sum to the next rank); bulk data goes through
// alltoallv.hpp or exchange.hpp. Both sides must agree on the tag, the element type and the
// count. Time inside them counts as communication (comm_time.hpp).

#include <mpi.h>

#include <span>
#include <utility>

#include "shardflow/mpi/comm.hpp"
#include "shardflow/mpi/comm_time.hpp"
#include "shardflow/mpi/datatype.hpp"

namespace shardflow::mpi {

/// A send started by PendingSend::start; wait() (or the destructor) completes it. The buffer
/// must stay alive and unchanged until then.
class PendingSend {
 public:
  PendingSend() = default;
  ~PendingSend() {
    if (request_ != MPI_REQUEST_NULL) MPI_Wait(&request_, MPI_STATUS_IGNORE);
  }
  PendingSend(PendingSend&& other) noexcept
      : request_(std::exchange(other.request_, MPI_REQUEST_NULL)) {}
  PendingSend& operator=(PendingSend&& other) noexcept {
    std::swap(request_, other.request_);
    return *this;
  }
  PendingSend(const PendingSend&) = delete;
  PendingSend& operator=(const PendingSend&) = delete;

  /// Starts sending `values` to rank `dest` of `comm` with `tag`.
  template <typename T>
  static PendingSend start(const Comm& comm, std::span<const T> values, int dest, int tag) {
    const detail::CommTimer timer;
    PendingSend send;
    check(MPI_Isend(values.data(), static_cast<int>(values.size()), datatype<T>(), dest, tag,
                    comm.native(), &send.request_),
          "MPI_Isend");
    return send;
  }

  /// Blocks until the send is complete (at once if none was started).
  void wait() {
    const detail::CommTimer timer;
    check(MPI_Wait(&request_, MPI_STATUS_IGNORE), "MPI_Wait");
  }

 private:
  MPI_Request request_ = MPI_REQUEST_NULL;
};

/// Blocks until the message with `tag` from rank `source` of `comm` has arrived in `values`
/// (exactly values.size() elements).
template <typename T>
void receive(const Comm& comm, std::span<T> values, int source, int tag) {
  const detail::CommTimer timer;
  check(MPI_Recv(values.data(), static_cast<int>(values.size()), datatype<T>(), source, tag,
                 comm.native(), MPI_STATUS_IGNORE),
        "MPI_Recv");
}

}  // namespace shardflow::mpi
