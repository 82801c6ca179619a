#include "shardflow/io/file_fingerprint.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <memory>
#include <new>
#include <optional>
#include <span>
#include <utility>

// On x86-64, libxxhash exports XXH3 variants that pick SSE2, AVX2 or AVX-512 at run time; the
// header renames XXH3_128bits and XXH3_128bits_update to them. On data in cache AVX2 hashes ~1.5x
// faster than the SSE2 baseline a portable build gets by inlining; from memory both are bound by
// memory bandwidth (floor_hash_* in benchmarks/bench_fingerprint.cpp).
#if defined(__x86_64__) && __has_include(<xxh_x86dispatch.h>)
#include <xxh_x86dispatch.h>
#else
#include <xxhash.h>
#endif

#include "shardflow/common/error.hpp"
#include "shardflow/common/fingerprint.hpp"
#include "shardflow/common/page_aligned_bytes.hpp"
#include "shardflow/mpi/allgatherv.hpp"
#include "shardflow/mpi/bcast.hpp"

namespace shardflow::io {

namespace {

// ================================================================================================
// Files
// ================================================================================================

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(Fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  Fd& operator=(Fd&&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

/// Opens an input file for reading; InputError naming it if it is missing, unreadable or not a
/// regular file. `size` receives its size.
Fd open_input(const std::string& path, idx_t& size) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) {
    throw InputError("cannot read input file '{}': {}", path, std::strerror(errno));
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) {
    throw InputError("cannot stat input file '{}': {}", path, std::strerror(errno));
  }
  if (!S_ISREG(st.st_mode)) {
    throw InputError("input path '{}' is not a regular file", path);
  }
  size = static_cast<idx_t>(st.st_size);
  return fd;
}

[[noreturn]] void throw_changed(const std::string& path, idx_t expected) {
  throw InputError(
      "input file '{}' changed while it was being fingerprinted (expected {} bytes); do not "
      "modify inputs while a job runs",
      path, expected);
}

// ================================================================================================
// Blocks and their owners
// ================================================================================================

struct Block {
  size_t file = 0;
  idx_t offset = 0;  // within the file
  idx_t length = 0;
};

/// Every block of every file, in order.
std::vector<Block> split_blocks(const std::vector<idx_t>& sizes, idx_t block_bytes) {
  std::vector<Block> blocks;
  for (size_t f = 0; f < sizes.size(); ++f) {
    for (idx_t offset = 0; offset < sizes[f]; offset += block_bytes) {
      blocks.push_back({f, offset, std::min(block_bytes, sizes[f] - offset)});
    }
  }
  return blocks;
}

/// [first, last) of the blocks `rank` hashes: those whose first byte, in the concatenation of all
/// files, lies in the rank's equal share of the bytes. Contiguous, and balanced by bytes rather
/// than by block count (many small files next to a large one).
std::pair<size_t, size_t> owned_range(const std::vector<Block>& blocks,
                                      const std::vector<idx_t>& sizes, int rank, int ranks) {
  std::vector<idx_t> file_start(sizes.size() + 1, 0);
  for (size_t f = 0; f < sizes.size(); ++f)
    file_start[f + 1] = file_start[f] + sizes[f];
  const auto total = static_cast<__int128>(file_start.back());
  const auto owner = [&](const Block& b) {
    const auto start = static_cast<__int128>(file_start[b.file] + b.offset);
    return static_cast<int>(start * ranks / total);  // total > 0 whenever a block exists
  };
  size_t first = 0;
  while (first < blocks.size() && owner(blocks[first]) < rank)
    ++first;
  size_t last = first;
  while (last < blocks.size() && owner(blocks[last]) == rank)
    ++last;
  return {first, last};
}

// ================================================================================================
// Hashing one block
// ================================================================================================

/// Hashes blocks of open files the chosen way. The pread buffer and the streaming state are
/// created on first use and reused for every block.
class BlockHasher {
 public:
  explicit BlockHasher(const ContentFingerprintOptions& options)
      : read_(options.read),
        buffer_bytes_(static_cast<size_t>(std::min(options.read_bytes, options.block_bytes))) {}

  XXH128_hash_t hash(int fd, const Block& b, const std::string& path, idx_t file_size) {
    if (read_ == FingerprintRead::kMmap) {
      if (const auto digest = hash_mapped(fd, b)) return *digest;
    }
    return hash_read(fd, b, path, file_size);
  }

 private:
  struct StateDeleter {
    void operator()(XXH3_state_t* state) const { XXH3_freeState(state); }
  };

  /// Maps the block, asks the kernel to populate its page tables in one call (instead of a fault
  /// per page) and hashes it in one call: no copy, but page-table set-up and teardown per block.
  /// nullopt if the file system cannot map it (the caller falls back to pread). A file truncated
  /// under the mapping would raise SIGBUS (the CSV reader takes the same risk).
  static std::optional<XXH128_hash_t> hash_mapped(int fd, const Block& b) {
    static const idx_t page = ::sysconf(_SC_PAGESIZE);
    const idx_t begin = b.offset / page * page;
    const auto length = static_cast<size_t>(b.offset + b.length - begin);
    void* addr = ::mmap(nullptr, length, PROT_READ, MAP_PRIVATE, fd, begin);
    if (addr == MAP_FAILED) return std::nullopt;
    ::madvise(addr, length, MADV_SEQUENTIAL);
#ifdef MADV_POPULATE_READ
    if (::madvise(addr, length, MADV_POPULATE_READ) != 0) ::madvise(addr, length, MADV_WILLNEED);
#else
    ::madvise(addr, length, MADV_WILLNEED);
#endif
    const XXH128_hash_t digest = XXH3_128bits(static_cast<const char*>(addr) + (b.offset - begin),
                                              static_cast<size_t>(b.length));
    ::munmap(addr, length);
    return digest;
  }

  /// Reads the block with pread() into the buffer, one buffer at a time, through the streaming
  /// state (whose digest equals the one-shot XXH3_128bits of the whole block). The kernel copies
  /// each byte once from the page cache into the buffer, which stays in cache for the hash.
  XXH128_hash_t hash_read(int fd, const Block& b, const std::string& path, idx_t file_size) {
    if (!state_) {
      state_.reset(XXH3_createState());
      if (!state_) throw RuntimeError("content_fingerprint: out of memory for the hash state");
      buffer_ = PageAlignedBytes(buffer_bytes_);  // page-aligned: see page_aligned_bytes.hpp
    }
    XXH3_128bits_reset(state_.get());
    idx_t offset = b.offset;
    idx_t left = b.length;
    while (left > 0) {
      const auto want = static_cast<size_t>(std::min(left, static_cast<idx_t>(buffer_bytes_)));
      const ssize_t n = ::pread(fd, buffer_.data(), want, offset);
      if (n < 0) {
        if (errno == EINTR) continue;
        throw InputError("cannot read input file '{}' at offset {}: {}", path, offset,
                         std::strerror(errno));
      }
      if (n == 0) throw_changed(path, file_size);
      XXH3_128bits_update(state_.get(), buffer_.data(), static_cast<size_t>(n));
      offset += n;
      left -= n;
    }
    return XXH3_128bits_digest(state_.get());
  }

  FingerprintRead read_;
  size_t buffer_bytes_;
  std::unique_ptr<XXH3_state_t, StateDeleter> state_;
  PageAlignedBytes buffer_;
};

}  // namespace

// ================================================================================================
// content_fingerprint
// ================================================================================================

std::string content_fingerprint(const mpi::Comm& comm, const std::vector<std::string>& paths,
                                const ContentFingerprintOptions& options) {
  if (options.block_bytes <= 0 || options.read_bytes <= 0) {
    throw ConfigError("content_fingerprint: block_bytes ({}) and read_bytes ({}) must be positive",
                      options.block_bytes, options.read_bytes);
  }

  // ---- Phase 1: every rank checks every file (so a missing one is the same error everywhere,
  // reported once, without a rank) and rank 0's sizes are the ones everybody hashes.
  std::vector<idx_t> local_sizes(paths.size(), 0);
  comm.agree([&] {
    for (size_t f = 0; f < paths.size(); ++f)
      open_input(paths[f], local_sizes[f]);
  });
  std::vector<idx_t> sizes = local_sizes;
  mpi::bcast(comm, std::span<idx_t>(sizes), 0);

  // ---- Phase 2: hash this rank's contiguous range of blocks.
  const std::vector<Block> blocks = split_blocks(sizes, options.block_bytes);
  // Not a structured binding: clang before 16 cannot capture one in the lambdas below.
  const auto owned = owned_range(blocks, sizes, comm.rank(), comm.size());
  const size_t first = owned.first;
  const size_t last = owned.second;
  std::vector<std::uint64_t> local(2 * (last - first));
  comm.agree([&] {
    for (size_t f = 0; f < paths.size(); ++f) {
      if (local_sizes[f] != sizes[f]) {
        throw InputError(
            "input file '{}' has {} bytes on this rank but {} bytes on rank 0; is it being "
            "written while the job starts?",
            paths[f], local_sizes[f], sizes[f]);
      }
    }
    BlockHasher hasher(options);
    for (size_t k = first; k < last;) {
      const size_t f = blocks[k].file;
      idx_t size = 0;
      Fd fd = open_input(paths[f], size);
      if (size != sizes[f]) throw_changed(paths[f], sizes[f]);
      ::posix_fadvise(fd.get(), 0, 0, POSIX_FADV_SEQUENTIAL);  // a larger read-ahead window
      for (; k < last && blocks[k].file == f; ++k) {
        const XXH128_hash_t d = hasher.hash(fd.get(), blocks[k], paths[f], sizes[f]);
        local[2 * (k - first)] = d.low64;
        local[2 * (k - first) + 1] = d.high64;
      }
      // A file that grew or shrank while we read it would give a fingerprint of bytes the
      // reader may not see.
      struct stat st {};
      if (::fstat(fd.get(), &st) != 0 || static_cast<idx_t>(st.st_size) != sizes[f]) {
        throw_changed(paths[f], sizes[f]);
      }
    }
  });

  // ---- Phase 3: every rank gets every digest, in block order, and combines them.
  const std::vector<std::uint64_t> digests =
      mpi::allgatherv<std::uint64_t>(comm, std::span<const std::uint64_t>(local));
  Fingerprint fingerprint;
  fingerprint.add(std::string_view("shardflow content fingerprint v1"))
      .add(options.block_bytes)
      .add(static_cast<std::int64_t>(paths.size()));
  size_t k = 0;
  for (size_t f = 0; f < sizes.size(); ++f) {
    fingerprint.add(sizes[f]);
    for (; k < blocks.size() && blocks[k].file == f; ++k) {
      fingerprint.add(static_cast<std::int64_t>(digests[2 * k]))
          .add(static_cast<std::int64_t>(digests[2 * k + 1]));
    }
  }
  return fingerprint.hex();
}

// ================================================================================================
// stat_fingerprint
// ================================================================================================

std::string stat_fingerprint(const std::vector<std::string>& paths) {
  Fingerprint fingerprint;
  fingerprint.add(std::string_view("shardflow stat fingerprint v1"))
      .add(static_cast<std::int64_t>(paths.size()));
  for (const auto& path : paths) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) {
      throw InputError("cannot stat input file '{}': {}", path, std::strerror(errno));
    }
    const std::int64_t mtime_ns =
        static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
    fingerprint.add(std::string_view(path))
        .add(static_cast<std::int64_t>(st.st_size))
        .add(mtime_ns);
  }
  return fingerprint.hex();
}

}  // namespace shardflow::io
