#include "shardflow/mpi/file.hpp"

#include <spdlog/spdlog.h>

#include <exception>
#include <utility>

#include "shardflow/mpi/allreduce.hpp"
#include "shardflow/mpi/environment.hpp"

namespace shardflow::mpi {
namespace {

std::string error_text(int code) {
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  MPI_Error_string(code, text, &length);
  return std::string(text, static_cast<size_t>(length));
}

}  // namespace

File File::create(const Comm& comm, const std::string& path) {
  MPI_File handle = MPI_FILE_NULL;
  const int rc = MPI_File_open(comm.native(), path.c_str(), MPI_MODE_CREATE | MPI_MODE_WRONLY,
                               MPI_INFO_NULL, &handle);
  const bool opened = rc == MPI_SUCCESS;
  // Opening is collective but may fail on some ranks only (a directory missing on one node's
  // view of the filesystem); agree before anyone writes, so that no rank waits in a
  // write_at_all that another rank never enters.
  if (allreduce_max(comm, opened ? 0 : 1) != 0) {
    if (opened) MPI_File_close(&handle);
    comm.agree_outcome(
        ErrorKind::kRuntime,
        opened ? std::string() : fmt::format("cannot create '{}': {}", path, error_text(rc)),
        !opened);
    throw RuntimeError("cannot create '{}' on some rank", path);  // not reached
  }
  File file(comm, path, handle);
  file.uncaught_at_open_ = std::uncaught_exceptions();
  return file;
}

File::File(File&& other) noexcept
    : comm_(other.comm_),
      path_(std::move(other.path_)),
      handle_(std::exchange(other.handle_, MPI_FILE_NULL)),
      error_(std::move(other.error_)),
      uncaught_at_open_(other.uncaught_at_open_) {}

File::~File() {
  if (handle_ == MPI_FILE_NULL || Environment::finalized()) return;
  if (std::uncaught_exceptions() > uncaught_at_open_) return;
  const int rc = MPI_File_close(&handle_);
  if (rc != MPI_SUCCESS) spdlog::error("closing '{}' failed: {}", path_, error_text(rc));
}

void File::write_at_all(idx_t offset, std::span<const char> data) {
  const idx_t n = static_cast<idx_t>(data.size());
  MPI_Status status;
  const int rc = MPI_File_write_at_all(handle_, static_cast<MPI_Offset>(offset), data.data(),
                                       checked_int(n, "write_at_all count"), MPI_BYTE, &status);
  if (rc != MPI_SUCCESS && error_.empty()) {
    error_ = fmt::format("writing {} bytes at offset {} of '{}' failed: {}", n, offset, path_,
                         error_text(rc));
  }
}

void File::close() {
  if (handle_ != MPI_FILE_NULL) {
    const int rc = MPI_File_close(&handle_);
    handle_ = MPI_FILE_NULL;
    if (rc != MPI_SUCCESS && error_.empty()) {
      error_ = fmt::format("closing '{}' failed: {}", path_, error_text(rc));
    }
  }
  comm_->agree_outcome(ErrorKind::kRuntime, error_, !error_.empty());
}

}  // namespace shardflow::mpi
