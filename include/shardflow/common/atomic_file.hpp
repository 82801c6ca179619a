#pragma once
// The one atomic-file service (DESIGN.md "One service per cross-cutting job"): every file that
// shardflow replaces or publishes (checkpoints, the `latest` pointer, outputs, cached stage files,
// run records) goes through these functions, so that a crash, a kill or a full disk leaves either
// the old file or the complete new one under the final name, never a partial file.
//
// The protocol: write a temporary file in the same directory as the final file (a rename is only
// atomic within one file system), fsync it, rename it over the final name, fsync the directory
// (the rename itself is only durable once the directory entry is on disk).
//
// Temporary names (the rule, so that others can recognise and clean up leftovers):
//   `<file name>.tmp.<pid>`  written by one process (temp_path_for); the pid keeps two processes
//                            that publish the same file (say two runs sharing a workdir) apart;
//   `<file name>.tmp`        the rank-independent name of collective writers, whose temp file
//                            must have the same name on every rank (io::write_ordered_text).
// A process killed between creating and renaming the temp file leaves it behind; a later writer
// of the same file never trips over it (temp files are truncated, not exclusively created), and
// cleanup code finds leftovers with temp_target().
//
// All functions are local (no MPI) and report failures as RuntimeError naming the file, the OS
// reason and what to do, e.g. "cannot write 'runs/x/latest': no space left on device (while
// writing 'runs/x/latest.tmp.4711'); free space or choose another workdir".

#include <filesystem>
#include <optional>
#include <string_view>

namespace shardflow {

/// Local: the temporary name this process uses for `final_path`: same directory,
/// `<file name>.tmp.<pid>`. Always in the directory of `final_path`, so a rename is atomic.
std::filesystem::path temp_path_for(const std::filesystem::path& final_path);

/// Local: if `path`'s file name follows one of the temporary-name patterns above
/// (`<name>.tmp.<digits>` or `<name>.tmp`, with a non-empty <name>), the final path it stands for
/// (`<directory>/<name>`); nullopt otherwise. For cleaning up leftovers of killed writers.
std::optional<std::filesystem::path> temp_target(const std::filesystem::path& path);

/// Local: flushes a regular file's data and metadata to stable storage (fsync). Throws
/// RuntimeError if it cannot be opened or the fsync fails (a delayed write error such as ENOSPC
/// or EIO surfaces here).
void fsync_file(const std::filesystem::path& path);

/// Local: fsyncs a directory, making the creation, removal or renaming of its entries durable.
/// An empty path means the current directory. Throws RuntimeError.
void fsync_directory(const std::filesystem::path& directory);

/// Local: publishes a complete file the caller has written and closed: fsyncs `tmp`, renames it
/// to `final_path` (replacing an existing file atomically), fsyncs the directory of `final_path`.
/// `tmp` must be in the same directory (use temp_path_for or the shared `.tmp` name). If the fsync
/// or the rename fails, `tmp` is removed, `final_path` is left as it was, and RuntimeError is
/// thrown. If only the final directory fsync fails, the new file is in place but may not survive a
/// power loss; that is reported as RuntimeError too.
void publish_file(const std::filesystem::path& tmp, const std::filesystem::path& final_path);

/// Local: replaces `path` with exactly `bytes`: writes temp_path_for(path), checking every write
/// and the close (short writes are continued, EINTR retried), then publish_file(). The directory of
/// `path` must exist (it is not created). On any failure (missing directory, no permission,
/// ENOSPC, EIO) the temp file is removed, an existing `path` is untouched, and RuntimeError is
/// thrown naming `path`, the OS reason and what to do. A new file gets mode 0666 & ~umask.
void write_file_atomically(const std::filesystem::path& path, std::string_view bytes);

/// Local: replaces `to` with a byte-identical copy of `from` (e.g. a cached stage file published
/// as an output), with the same guarantees as write_file_atomically; a missing or unreadable
/// `from` is a RuntimeError naming it. `from` must be a regular file. The copy stays in the kernel
/// (copy_file_range; a reflink where the file system supports it) with a read/write fallback.
void copy_file_atomically(const std::filesystem::path& from, const std::filesystem::path& to);

}  // namespace shardflow
