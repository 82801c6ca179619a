#include "shardflow/mpi/comm.hpp"
#include "shardflow/mpi/comm_time.hpp"

#include <spdlog/spdlog.h>

#include "shardflow/common/hash.hpp"
#include "shardflow/mpi/hosts.hpp"
#include "shardflow/mpi/shared_segments.hpp"

#include <algorithm>
#include <utility>
#include <vector>

namespace shardflow::mpi {

void check(int code, std::string_view what) {
  if (code == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  MPI_Error_string(code, text, &length);
  throw RuntimeError("{} failed: {}", what, std::string_view(text, static_cast<size_t>(length)));
}

Comm::Comm() : Comm(MPI_COMM_WORLD) {}

Comm::Comm(MPI_Comm base) {
  check(MPI_Comm_dup(base, &comm_), "MPI_Comm_dup");
  MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN);
  MPI_Comm_rank(comm_, &rank_);
  MPI_Comm_size(comm_, &size_);
}

Comm Comm::self() {
  return Comm(MPI_COMM_SELF);
}

Comm::~Comm() {
  staging_.reset();
  heaps_.reset();
  node_.reset();
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (comm_ != MPI_COMM_NULL && !finalized) MPI_Comm_free(&comm_);
}

Comm::Comm(Comm&& other) noexcept
    : comm_(std::exchange(other.comm_, MPI_COMM_NULL)),
      rank_(other.rank_),
      size_(other.size_),
      staging_state_(std::exchange(other.staging_state_, StagingState::kUntried)),
      staging_(std::move(other.staging_)),
      heaps_state_(std::exchange(other.heaps_state_, StagingState::kUntried)),
      heaps_(std::move(other.heaps_)),
      hosts_(std::move(other.hosts_)),
      node_(std::move(other.node_)) {}

Comm& Comm::operator=(Comm&& other) noexcept {
  if (this != &other) {
    staging_.reset();
    if (comm_ != MPI_COMM_NULL) MPI_Comm_free(&comm_);
    comm_ = std::exchange(other.comm_, MPI_COMM_NULL);
    rank_ = other.rank_;
    size_ = other.size_;
    staging_state_ = std::exchange(other.staging_state_, StagingState::kUntried);
    staging_ = std::move(other.staging_);
    heaps_.reset();
    heaps_state_ = std::exchange(other.heaps_state_, StagingState::kUntried);
    heaps_ = std::move(other.heaps_);
    hosts_ = std::move(other.hosts_);
    node_ = std::move(other.node_);
  }
  return *this;
}

SharedSegments* Comm::staging_segments(idx_t bytes) const {
  // Every rank holds the same state and sizes (all changes happen here, collectively, from
  // identical arguments), so the decisions below agree without communication.
  if (staging_state_ == StagingState::kUnavailable) return nullptr;
  if (staging_ != nullptr && staging_->bytes() >= bytes) return staging_.get();
  // Grow geometrically so that a sequence of slightly larger requests does not rebuild the
  // segments (and fault in fresh pages) every time.
  const idx_t want = staging_ == nullptr ? bytes : std::max(bytes, 2 * staging_->bytes());
  staging_.reset();
  std::string why;
  staging_ = SharedSegments::create(*this, want, &why);
  if (staging_ == nullptr) {
    staging_state_ = StagingState::kUnavailable;
    if (!why.empty() && rank_ == 0) {
      spdlog::warn(
          "on-node shared memory is unavailable ({}); shuffles use MPI's transport instead, which "
          "is slower. Allow ranks to open each other's /proc/<pid>/fd entries to enable it",
          why);
    }
    return nullptr;
  }
  staging_state_ = StagingState::kAvailable;
  return staging_.get();
}

const PeerHeaps* Comm::peer_heaps() const {
  // Every rank holds the same state (changed only here, collectively), so this agrees.
  if (heaps_state_ == StagingState::kAvailable) return heaps_.get();
  if (heaps_state_ == StagingState::kUnavailable) return nullptr;
  std::string why;
  heaps_ = PeerHeaps::create(*this, &why);
  heaps_state_ = heaps_ != nullptr ? StagingState::kAvailable : StagingState::kUnavailable;
  if (heaps_ == nullptr && !why.empty() && rank_ == 0) {
    spdlog::warn(
        "shared heaps for shuffle outputs are unavailable ({}); shuffles on this host copy rows "
        "through a staging area instead, which is slower",
        why);
  }
  return heaps_.get();
}

const std::vector<int>& Comm::hosts() const {
  if (hosts_.empty()) hosts_ = mpi::hosts(*this);
  return hosts_;
}

const Comm& Comm::node() const {
  if (node_ == nullptr) {
    MPI_Comm split = MPI_COMM_NULL;
    check(MPI_Comm_split_type(comm_, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &split),
          "MPI_Comm_split_type (node)");
    auto node = std::make_unique<Comm>(split);
    MPI_Comm_free(&split);
    node_ = std::move(node);
  }
  return *node_;
}

void Comm::barrier() const {
  const detail::CommTimer timer;
  check(MPI_Barrier(comm_), "MPI_Barrier");
}

void Comm::agree(const std::function<void()>& work) const {
  ErrorKind kind = ErrorKind::kRuntime;
  std::string message;
  bool failed = false;
  try {
    work();
  } catch (const Error& e) {
    kind = e.kind();
    message = e.what();
    failed = true;
  } catch (const std::exception& e) {
    message = e.what();
    failed = true;
  }
  agree_outcome(kind, message, failed);
}

void Comm::agree_outcome(ErrorKind kind, const std::string& error, bool failed) const {
  // One allgather of (failed, hash of the message) per rank tells everyone who failed and whether
  // they all failed the same way; a broadcast from the lowest failing rank then carries its kind
  // and message, so every rank throws the same sentence.
  const std::uint64_t mine[2] = {
      failed ? 1u : 0u, failed ? hash_string(error, static_cast<std::uint64_t>(kind)) : 0u};
  const detail::CommTimer timer;
  std::vector<std::uint64_t> all(2 * static_cast<size_t>(size_));
  check(MPI_Allgather(mine, 2, MPI_UINT64_T, all.data(), 2, MPI_UINT64_T, comm_),
        "MPI_Allgather (agree)");
  int root = -1;
  int failing = 0;
  bool identical = true;
  for (int r = 0; r < size_; ++r) {
    const size_t at = 2 * static_cast<size_t>(r);
    if (all[at] == 0) continue;
    if (root < 0) root = r;
    identical = identical && all[at + 1] == all[2 * static_cast<size_t>(root) + 1];
    ++failing;
  }
  if (root < 0) return;
  long long header[2] = {static_cast<long long>(kind), static_cast<long long>(error.size())};
  check(MPI_Bcast(header, 2, MPI_LONG_LONG, root, comm_), "MPI_Bcast (agree)");
  std::string text(static_cast<size_t>(header[1]), '\0');
  if (rank_ == root) text = error;
  if (header[1] > 0) {
    check(MPI_Bcast(text.data(), static_cast<int>(header[1]), MPI_CHAR, root, comm_),
          "MPI_Bcast (agree)");
  }
  // When every rank hit the very same error (a typo in the job file), naming a rank would only
  // suggest the problem is local to it.
  std::string full = text;
  if (size_ > 1 && !(identical && failing == size_)) {
    full = "rank " + std::to_string(root) + ": " + text;
    if (failing > 1) {
      full += " (and " + std::to_string(failing - 1) + " other rank" + (failing > 2 ? "s" : "") +
              " failed too)";
    }
  }
  throw_error(static_cast<ErrorKind>(header[0]), std::move(full), /*agreed=*/true);
}

void Comm::abort(int exit_code, std::string_view message) const {
  spdlog::critical("aborting the whole job: {}", message);
  spdlog::default_logger()->flush();
  MPI_Abort(comm_, exit_code);
  std::_Exit(exit_code);
}

}  // namespace shardflow::mpi
