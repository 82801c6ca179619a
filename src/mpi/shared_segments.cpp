#include "shardflow/mpi/shared_segments.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <random>

#include <fmt/format.h>

#include "shardflow/common/shared_heap.hpp"

namespace shardflow::mpi {

namespace {

// The segment header: a token every peer checks, then the usable size. The data starts one cache
// line in, so the owner's writes never share a line with the header.
constexpr size_t kHeaderBytes = 64;
struct Header {
  std::uint64_t token[2];
  std::uint64_t bytes;
};

std::string errno_text(const std::string& what) {
  return fmt::format("{}: {}", what, std::strerror(errno));
}

size_t round_to_pages(size_t bytes) {
  const auto page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  return (bytes + page - 1) / page * page;
}

// Collective: the message of the lowest rank whose `error` is not empty ("" if none), prefixed
// with "rank R: ".
std::string lowest_error(const Comm& comm, const std::string& error) {
  const int mine = error.empty() ? comm.size() : comm.rank();
  int lowest = comm.size();
  check(MPI_Allreduce(&mine, &lowest, 1, MPI_INT, MPI_MIN, comm.native()),
        "MPI_Allreduce (shared segments)");
  if (lowest == comm.size()) return {};
  long long length = static_cast<long long>(error.size());
  check(MPI_Bcast(&length, 1, MPI_LONG_LONG, lowest, comm.native()), "MPI_Bcast (shared segments)");
  std::string text = comm.rank() == lowest ? error : std::string(static_cast<size_t>(length), ' ');
  check(MPI_Bcast(text.data(), static_cast<int>(length), MPI_CHAR, lowest, comm.native()),
        "MPI_Bcast (shared segments)");
  return fmt::format("rank {}: {}", lowest, text);
}

// Collective: do all ranks of `comm` run on one host? If not, every rank sees a node smaller than
// the communicator, so the answer is the same everywhere without agreeing on it.
bool all_on_one_host(const Comm& comm) {
  MPI_Comm node = MPI_COMM_NULL;
  check(MPI_Comm_split_type(comm.native(), MPI_COMM_TYPE_SHARED, comm.rank(), MPI_INFO_NULL, &node),
        "MPI_Comm_split_type");
  int node_size = 0;
  MPI_Comm_size(node, &node_size);
  MPI_Comm_free(&node);
  return node_size == comm.size();
}

// Maps `bytes` of rank `rank`'s memfd at `path` (/proc/<pid>/fd/<fd>), read-only or writable;
// `what` names it in errors. MAP_FAILED (and `error` set) if it cannot be opened, is smaller, or
// cannot be mapped.
void* map_peer_memfd(const std::string& path, int rank, const char* what, size_t bytes,
                     bool writable, std::string& error) {
  const int fd = open(path.c_str(), (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC);
  if (fd < 0) {
    error = errno_text(fmt::format("open {} (rank {}'s {})", path, rank, what));
    return MAP_FAILED;
  }
  struct stat st {};
  void* m = MAP_FAILED;
  if (fstat(fd, &st) != 0) {
    error = errno_text(fmt::format("fstat {}", path));
  } else if (static_cast<size_t>(st.st_size) < bytes) {
    error = fmt::format("{} holds {} bytes, expected rank {}'s {} of {}", path, st.st_size, rank,
                        what, bytes);
  } else {
    m = writable ? mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, fd, 0)
                 : mmap(nullptr, bytes, PROT_READ, MAP_SHARED, fd, 0);
    if (m == MAP_FAILED) error = errno_text(fmt::format("mmap {}", path));
  }
  close(fd);
  return m;
}

}  // namespace

std::unique_ptr<SharedSegments> SharedSegments::create(const Comm& comm, idx_t bytes,
                                                       std::string* why) {
  if (why != nullptr) why->clear();
  if (bytes <= 0) throw RuntimeError("shared segments: size must be positive, got {}", bytes);
  const int p = comm.size();
  const auto up = static_cast<size_t>(p);

  if (!all_on_one_host(comm)) return nullptr;

  std::unique_ptr<SharedSegments> s(new SharedSegments());
  s->rank_ = comm.rank();
  s->bytes_ = bytes;
  s->mapping_.assign(up, nullptr);
  s->mapping_bytes_.assign(up, 0);
  s->segment_.assign(up, nullptr);
  const size_t total = round_to_pages(kHeaderBytes + static_cast<size_t>(bytes));

  // ---- this rank's segment ------------------------------------------------------------------
  std::string error;
  std::uint64_t token[2] = {0, 0};
  {
    std::random_device device;
    const auto now =
        static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
    token[0] = (static_cast<std::uint64_t>(device()) << 32 | device()) ^ now;
    token[1] = static_cast<std::uint64_t>(getpid()) << 32 | static_cast<std::uint64_t>(comm.rank());
  }
  s->fd_ = memfd_create("shardflow-staging", MFD_CLOEXEC);
  if (s->fd_ < 0) {
    error = errno_text("memfd_create");
  } else if (ftruncate(s->fd_, static_cast<off_t>(total)) != 0) {
    error = errno_text(fmt::format("ftruncate of the staging memfd to {} bytes", total));
  } else {
    void* m = mmap(nullptr, total, PROT_READ | PROT_WRITE, MAP_SHARED, s->fd_, 0);
    if (m == MAP_FAILED) {
      error = errno_text(fmt::format("mmap of the {}-byte staging memfd", total));
    } else {
      s->mapping_[static_cast<size_t>(s->rank_)] = m;
      s->mapping_bytes_[static_cast<size_t>(s->rank_)] = total;
      const Header header{{token[0], token[1]}, static_cast<std::uint64_t>(bytes)};
      std::memcpy(m, &header, sizeof header);
    }
  }

  // ---- everyone's pid, fd and token -----------------------------------------------------------
  const std::uint64_t mine[5] = {error.empty() ? 1u : 0u, static_cast<std::uint64_t>(getpid()),
                                 static_cast<std::uint64_t>(s->fd_), token[0], token[1]};
  std::vector<std::uint64_t> all(5 * up);
  check(MPI_Allgather(mine, 5, MPI_UINT64_T, all.data(), 5, MPI_UINT64_T, comm.native()),
        "MPI_Allgather (shared segments)");
  bool everyone_ok = true;
  for (int r = 0; r < p; ++r)
    everyone_ok = everyone_ok && all[5 * static_cast<size_t>(r)] == 1;

  // ---- map the peers' segments ----------------------------------------------------------------
  for (int r = 0; r < p && everyone_ok && error.empty(); ++r) {
    const auto ur = static_cast<size_t>(r);
    if (r == s->rank_) continue;
    const std::string path = fmt::format("/proc/{}/fd/{}", all[5 * ur + 1], all[5 * ur + 2]);
    void* m = map_peer_memfd(path, r, "staging memfd", total, /*writable=*/false, error);
    if (m == MAP_FAILED) break;
    s->mapping_[ur] = m;
    s->mapping_bytes_[ur] = total;
    Header header{};
    std::memcpy(&header, m, sizeof header);
    if (header.token[0] != all[5 * ur + 3] || header.token[1] != all[5 * ur + 4] ||
        header.bytes != static_cast<std::uint64_t>(bytes)) {
      error = fmt::format("{} is not rank {}'s staging memfd (its token does not match)", path, r);
      break;
    }
  }
  for (int r = 0; r < p; ++r) {
    const auto ur = static_cast<size_t>(r);
    if (s->mapping_[ur] != nullptr)
      s->segment_[ur] = static_cast<std::byte*>(s->mapping_[ur]) + kHeaderBytes;
  }

  // ---- agree ----------------------------------------------------------------------------------
  const std::string failure = lowest_error(comm, error);
  if (!failure.empty()) {
    if (why != nullptr) *why = failure;
    return nullptr;
  }
  return s;
}

SharedSegments::~SharedSegments() {
  for (size_t r = 0; r < mapping_.size(); ++r)
    if (mapping_[r] != nullptr) munmap(mapping_[r], mapping_bytes_[r]);
  if (fd_ >= 0) close(fd_);
}

std::unique_ptr<PeerHeaps> PeerHeaps::create(const Comm& comm, std::string* why) {
  if (why != nullptr) why->clear();
  const int p = comm.size();
  const auto up = static_cast<size_t>(p);
  if (!all_on_one_host(comm)) return nullptr;

  std::unique_ptr<PeerHeaps> h(new PeerHeaps());
  h->rank_ = comm.rank();
  h->base_.assign(up, nullptr);
  h->bytes_.assign(up, 0);
  const shared_heap::Identity me = shared_heap::identity();
  std::string error = me.ok ? std::string() : me.failure;
  const std::uint64_t mine[6] = {me.ok ? 1u : 0u,
                                 static_cast<std::uint64_t>(getpid()),
                                 static_cast<std::uint64_t>(me.fd),
                                 static_cast<std::uint64_t>(me.bytes),
                                 me.token[0],
                                 me.token[1]};
  std::vector<std::uint64_t> all(6 * up);
  check(MPI_Allgather(mine, 6, MPI_UINT64_T, all.data(), 6, MPI_UINT64_T, comm.native()),
        "MPI_Allgather (shared heaps)");
  bool everyone_ok = true;
  for (size_t r = 0; r < up; ++r)
    everyone_ok = everyone_ok && all[6 * r] == 1;
  if (me.ok) h->base_[static_cast<size_t>(h->rank_)] = shared_heap::base();
  for (int r = 0; r < p && everyone_ok && error.empty(); ++r) {
    const auto ur = static_cast<size_t>(r);
    if (r == h->rank_) continue;
    const std::string path = fmt::format("/proc/{}/fd/{}", all[6 * ur + 1], all[6 * ur + 2]);
    const auto bytes = static_cast<size_t>(all[6 * ur + 3]);
    void* m = map_peer_memfd(path, r, "shared heap", bytes, /*writable=*/true, error);
    if (m == MAP_FAILED) break;
    h->base_[ur] = static_cast<std::byte*>(m);
    h->bytes_[ur] = bytes;
    std::uint64_t token[2];
    std::memcpy(token, m, sizeof token);
    if (token[0] != all[6 * ur + 4] || token[1] != all[6 * ur + 5]) {
      error = fmt::format("{} is not rank {}'s shared heap (its token does not match)", path, r);
      break;
    }
  }
  if (!everyone_ok && error.empty() && !me.ok) error = me.failure;
  const std::string failure = lowest_error(comm, error);
  if (!failure.empty() || !everyone_ok) {
    if (why != nullptr)
      *why = failure.empty() ? "a rank could not create its shared heap" : failure;
    return nullptr;
  }
  return h;
}

PeerHeaps::~PeerHeaps() {
  for (size_t r = 0; r < base_.size(); ++r)
    if (bytes_[r] != 0 && base_[r] != nullptr) munmap(base_[r], bytes_[r]);
}

}  // namespace shardflow::mpi
