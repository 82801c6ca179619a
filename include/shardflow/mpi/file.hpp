#pragma once
// `File`: one file written collectively through MPI-IO (RAII). Failures follow DESIGN.md rule 2:
// opening agrees on the outcome, and a failed write is recorded instead of thrown (the other
// ranks are inside the same collective write) and reported, agreed, by close().

#include <mpi.h>

#include <span>
#include <string>

#include "shardflow/common/types.hpp"
#include "shardflow/mpi/comm.hpp"

namespace shardflow::mpi {

class File {
 public:
  /// Collective: creates `path` (or opens it if it exists) for writing; `path` must be equal on
  /// all ranks. `comm` must outlive the File. If any rank fails, every rank throws the same
  /// RuntimeError ("cannot create
  /// '<path>': <MPI error>", naming the failing rank when not all failed) and nothing stays open.
  static File create(const Comm& comm, const std::string& path);

  /// Closes the file if it is still open, which is collective, unless an exception is unwinding
  /// the stack (a rank-local failure must reach MPI_Abort rather than wait in a close that the
  /// other ranks never enter). Errors are logged, not thrown.
  ~File();
  File(File&& other) noexcept;
  File& operator=(File&&) = delete;
  File(const File&) = delete;
  File& operator=(const File&) = delete;

  /// Collective: writes `data` at byte `offset` of the file; every rank calls it the same number
  /// of times (a rank with nothing to write passes an empty span). At most INT_MAX bytes per
  /// call (callers write in rounds). A failure does not throw; close() reports it.
  void write_at_all(idx_t offset, std::span<const char> data);

  /// Collective: closes the file. Throws the same RuntimeError on every rank if any rank's
  /// write_at_all or close failed (the first failure of the lowest failing rank).
  void close();

  const std::string& path() const { return path_; }

 private:
  File(const Comm& comm, std::string path, MPI_File handle)
      : comm_(&comm), path_(std::move(path)), handle_(handle) {}

  const Comm* comm_;
  std::string path_;
  MPI_File handle_ = MPI_FILE_NULL;
  std::string error_;  // the first failure on this rank
  int uncaught_at_open_ = 0;
};

}  // namespace shardflow::mpi
