#pragma once
// Fingerprints of input files, so that the stage cache and checkpoints recognise the same data
// (DESIGN.md "Extension points": input fingerprints identify the data, not just the
// configuration). Both are 32 lowercase hex characters (common/fingerprint.hpp).
//
// content_fingerprint, definition (version 1), for files f_0..f_{n-1} in the given order with
// sizes s_i and block size B:
//   - file i is cut into ceil(s_i / B) blocks [j*B, min((j+1)*B, s_i)); an empty file has none;
//   - every block is hashed with XXH3-128 (XXH3_128bits of its bytes) into d_ij;
//   - the result is Fingerprint().add("shardflow content fingerprint v1").add(B).add(n), then for
//     each file .add(s_i) followed by .add(d_ij.low64).add(d_ij.high64) for each of its blocks (as
//     int64), rendered with hex().
// It depends only on the bytes, their split into files and B: not on the paths, the rank count
// or the read strategy. Renaming or touching a file keeps it; changing, adding or reordering
// bytes or files changes it.

#include <string>
#include <vector>

#include "shardflow/common/types.hpp"
#include "shardflow/mpi/comm.hpp"

namespace shardflow::io {

/// Block size of content fingerprints: large enough that the per-block overhead (a syscall or a
/// mapping, a digest) vanishes, small enough to spread a single large file over many ranks.
inline constexpr idx_t kDefaultFingerprintBlockBytes = idx_t{16} << 20;

/// How blocks are read. The result is identical either way; only the speed differs.
/// benchmarks/bench_fingerprint.cpp --variants measures them side by side (benchmarks/README.md):
/// on a page-cached 510 MB file, pread with a 256 KiB-4 MiB buffer beat mmap by 10-15% at 1 and
/// 2 ranks (mmap pays for populating and tearing down the page tables; pread's copy lands in a
/// buffer that stays in cache), and is robust to a file that shrinks while it is read (a clean
/// InputError instead of SIGBUS). Both are within 1.2-1.5x of the floor: one pass over the bytes.
enum class FingerprintRead {
  kPread,  // pread() into one reusable page-aligned buffer, hashed with the streaming XXH3 state
  kMmap,   // mmap() of each block, MADV_SEQUENTIAL + MADV_POPULATE_READ, hashed in one call;
           // falls back to kPread for a file system that cannot map the file
};

struct ContentFingerprintOptions {
  /// B in the definition above; part of the fingerprint. Must be positive and equal on all
  /// ranks. Tests use tiny blocks.
  idx_t block_bytes = kDefaultFingerprintBlockBytes;
  /// Read strategy; may differ between ranks, the result does not depend on it.
  FingerprintRead read = FingerprintRead::kPread;
  /// kPread: bytes per pread() call (the reusable buffer). Must be positive.
  idx_t read_bytes = idx_t{1} << 20;
};

/// Collective: the content fingerprint (definition above) of the files `paths` (equal on all
/// ranks; literal paths, not globs: expand them first, see file_glob.hpp). The blocks of all
/// files, in order, are divided among the ranks in contiguous ranges of about equal bytes; each
/// rank reads and hashes its blocks, and the digests are gathered to every rank, so every rank
/// returns the same value, and the value is the same at any rank count. A file that is missing,
/// unreadable or not a regular file is an agreed InputError naming it (the same on every rank);
/// so is a file whose size changes while it is being read. `options.block_bytes` or
/// `options.read_bytes` not positive: ConfigError.
std::string content_fingerprint(const mpi::Comm& comm, const std::vector<std::string>& paths,
                                const ContentFingerprintOptions& options = {});

/// Local: a cheap fingerprint of the files' identity as the file system reports it: each path (as
/// given), size and modification time in nanoseconds, in order. Changes when a file is touched,
/// renamed or rewritten, even to identical bytes; may miss a rewrite within the file system's
/// timestamp granularity that keeps the size. A file that cannot be stat'ed is an InputError
/// naming it.
std::string stat_fingerprint(const std::vector<std::string>& paths);

}  // namespace shardflow::io
