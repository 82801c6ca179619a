#pragma once
// `Comm`: an RAII communicator duplicated from another (by default MPI_COMM_WORLD), so library
// traffic never mixes with anyone else's. All typed collectives take a `const Comm&` (DESIGN.md
// rule 1): see allreduce.hpp, bcast.hpp, allgatherv.hpp, alltoallv.hpp.

#include <mpi.h>

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "shardflow/common/error.hpp"
#include "shardflow/common/types.hpp"

namespace shardflow::mpi {

class SharedSegments;
class PeerHeaps;

/// Throws RuntimeError naming `what` and the MPI error string if `code` is not MPI_SUCCESS.
void check(int code, std::string_view what);

class Comm {
 public:
  /// Collective over MPI_COMM_WORLD: duplicates the world communicator.
  Comm();
  /// Collective over `base`: duplicates it.
  explicit Comm(MPI_Comm base);
  /// Local: a communicator of this process alone (a duplicate of MPI_COMM_SELF), for a rank's
  /// own files written through collective APIs (e.g. io::write_table for one partition).
  static Comm self();
  ~Comm();
  Comm(Comm&& other) noexcept;
  Comm& operator=(Comm&& other) noexcept;
  Comm(const Comm&) = delete;
  Comm& operator=(const Comm&) = delete;

  int rank() const { return rank_; }
  int size() const { return size_; }
  bool is_root() const { return rank_ == 0; }
  MPI_Comm native() const { return comm_; }

  /// Collective: blocks until every rank arrives.
  void barrier() const;

  /// Collective: runs `work` on every rank, then combines the outcome with one small allreduce.
  /// If any rank threw a shardflow::Error (or std::exception), every rank throws the same error,
  /// marked agreed(): the kind and message of the lowest failing rank, prefixed with "rank R: "
  /// and followed by a count of other failing ranks — except when every rank failed with the
  /// identical message, which is reported as is. Never hangs as long as `work` itself is local.
  void agree(const std::function<void()>& work) const;

  /// Collective: like agree() for an error that has already been caught (or not, if `error` is
  /// empty). Lets callers that need custom try/catch still agree.
  void agree_outcome(ErrorKind kind, const std::string& error, bool failed) const;

  /// Logs `message` and aborts the whole job (MPI_Abort with `exit_code`). For failures in the
  /// middle of an exchange, where agreement is impossible.
  [[noreturn]] void abort(int exit_code, std::string_view message) const;

  /// Collective, with the same `bytes` on every rank: this communicator's on-node staging
  /// segments (shared_segments.hpp), at least `bytes` each, created on first use and kept (grown
  /// when a call needs more) for the life of the communicator. nullptr on every rank when the
  /// ranks span several hosts, or when setting them up failed, which is logged once as a warning
  /// and not retried. Valid until the next call.
  SharedSegments* staging_segments(idx_t bytes) const;

  /// Collective on first use, then cached: every rank's shared heap mapped here
  /// (shared_segments.hpp), for outputs that peers write into. nullptr on every rank when the
  /// ranks span several hosts, or when setting them up failed, which is logged once as a warning
  /// and not retried.
  const PeerHeaps* peer_heaps() const;

  /// Collective on first use, then cached: for every rank, the index of the host it runs on
  /// (mpi::hosts: 0 for rank 0's host, then in order of each host's lowest rank).
  const std::vector<int>& hosts() const;
  /// Collective on first use, then cached: the ranks of this communicator that run on this rank's
  /// host, as a communicator of their own, ranked in this communicator's order.
  const Comm& node() const;

 private:
  enum class StagingState { kUntried, kAvailable, kUnavailable };

  MPI_Comm comm_ = MPI_COMM_NULL;
  int rank_ = 0;
  int size_ = 1;
  mutable StagingState staging_state_ = StagingState::kUntried;
  mutable std::unique_ptr<SharedSegments> staging_;
  mutable StagingState heaps_state_ = StagingState::kUntried;
  mutable std::unique_ptr<PeerHeaps> heaps_;
  mutable std::vector<int> hosts_;
  mutable std::unique_ptr<Comm> node_;
};

}  // namespace shardflow::mpi
