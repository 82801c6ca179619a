#include "shardflow/common/atomic_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "shardflow/common/error.hpp"

namespace shardflow {

namespace fs = std::filesystem;

namespace {

// ================================================================================================
// Messages: what failed, the OS reason, what to do
// ================================================================================================

fs::path directory_of(const fs::path& path) {
  return path.has_parent_path() ? path.parent_path() : fs::path(".");
}

std::string reason(int err) {
  std::string text = std::strerror(err);
  if (!text.empty()) text[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(text[0])));
  return text;
}

std::string hint(int err, const fs::path& file) {
  switch (err) {
    case ENOSPC:
    case EDQUOT:
      return "free space or choose another workdir";
    case ENOENT:
    case ENOTDIR:
      return "check that the directory '" + directory_of(file).string() + "' exists";
    case EACCES:
    case EPERM:
    case EROFS:
      return "check the permissions of '" + directory_of(file).string() +
             "' or choose another workdir";
    case EIO:
      return "check the disk and the kernel log (dmesg)";
    default:
      return "check the path and the file system";
  }
}

/// Closes a descriptor on scope exit unless it was closed (and checked) explicitly.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  /// 0 or the errno of close(). EINTR counts as success: Linux releases the descriptor anyway,
  /// and the data was fsynced before.
  int close() {
    if (fd_ < 0) return 0;
    const int rc = ::close(fd_);
    fd_ = -1;
    return rc != 0 && errno != EINTR ? errno : 0;
  }

 private:
  int fd_;
};

/// 0 or the errno of opening and fsyncing `path`.
int fsync_path(const fs::path& path, bool directory) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | (directory ? O_DIRECTORY : 0)));
  if (!fd.valid()) return errno;
  if (::fsync(fd.get()) != 0) return errno;
  return fd.close();
}

/// Writes all of [data, data+size) to `fd`; 0 or the errno.
int write_all(int fd, const char* data, size_t size) {
  while (size > 0) {
    // Linux writes at most ~2 GiB per call; keep every call well below that.
    const ssize_t n = ::write(fd, data, std::min<size_t>(size, size_t{1} << 30));
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    if (n == 0) return EIO;  // a regular file never accepts zero bytes of a non-empty write
    data += n;
    size -= static_cast<size_t>(n);
  }
  return 0;
}

/// Copies `in` from its current offset to EOF into `out`; 0 or the errno. `read_failed` says
/// whether the error came from reading `in`.
int copy_all(int in, int out, bool& read_failed) {
  read_failed = false;
  // In the kernel first: no copy through user space, and a reflink where the file system can.
  for (;;) {
    const ssize_t n = ::copy_file_range(in, nullptr, out, nullptr, size_t{1} << 30, 0);
    if (n == 0) return 0;
    if (n > 0) continue;
    if (errno == EINTR) continue;
    // Not supported between these files (across file systems on old kernels, special file
    // systems): fall back to read/write from the current offsets.
    if (errno == EXDEV || errno == ENOSYS || errno == EINVAL || errno == EOPNOTSUPP) {
      break;
    }
    // EIO could come from either side; blame the destination only for space and permission.
    read_failed = errno == EIO;
    return errno;
  }
  std::vector<char> buffer(size_t{1} << 20);
  for (;;) {
    const ssize_t n = ::read(in, buffer.data(), buffer.size());
    if (n == 0) return 0;
    if (n < 0) {
      if (errno == EINTR) continue;
      read_failed = true;
      return errno;
    }
    if (const int err = write_all(out, buffer.data(), static_cast<size_t>(n)); err != 0) {
      return err;
    }
  }
}

/// Renames `tmp` over `final_path` and fsyncs the directory. `tmp` is removed if the rename fails.
/// `what` prefixes the messages ("cannot write 'x'").
void rename_and_sync(const fs::path& tmp, const fs::path& final_path, const std::string& what) {
  if (::rename(tmp.c_str(), final_path.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    throw RuntimeError("{}: {} (while renaming '{}' to it); {}", what, reason(err), tmp.string(),
                       hint(err, final_path));
  }
  const fs::path directory = directory_of(final_path);
  if (const int err = fsync_path(directory, true); err != 0) {
    throw RuntimeError(
        "{}: the new file is in place, but fsync of its directory '{}' failed: {}; it may not "
        "survive a crash; {}",
        what, directory.string(), reason(err), hint(err, final_path));
  }
}

}  // namespace

// ================================================================================================
// Names
// ================================================================================================

fs::path temp_path_for(const fs::path& final_path) {
  return final_path.parent_path() /
         (final_path.filename().string() + ".tmp." + std::to_string(::getpid()));
}

std::optional<fs::path> temp_target(const fs::path& path) {
  const std::string name = path.filename().string();
  const std::string marker = ".tmp";
  if (name.size() > marker.size() &&
      name.compare(name.size() - marker.size(), marker.size(), marker) == 0) {
    return path.parent_path() / name.substr(0, name.size() - marker.size());
  }
  const size_t dot = name.rfind(marker + ".");
  if (dot == std::string::npos || dot == 0) return std::nullopt;
  const std::string digits = name.substr(dot + marker.size() + 1);
  if (digits.empty() ||
      !std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return std::nullopt;
  }
  return path.parent_path() / name.substr(0, dot);
}

// ================================================================================================
// fsync and publish
// ================================================================================================

void fsync_file(const fs::path& path) {
  if (const int err = fsync_path(path, false); err != 0) {
    throw RuntimeError("cannot fsync '{}': {}; {}", path.string(), reason(err), hint(err, path));
  }
}

void fsync_directory(const fs::path& directory) {
  const fs::path dir = directory.empty() ? fs::path(".") : directory;
  if (const int err = fsync_path(dir, true); err != 0) {
    throw RuntimeError("cannot fsync the directory '{}': {}; {}", dir.string(), reason(err),
                       hint(err, dir / "x"));
  }
}

void publish_file(const fs::path& tmp, const fs::path& final_path) {
  const std::string what = "cannot publish '" + final_path.string() + "'";
  if (const int err = fsync_path(tmp, false); err != 0) {
    ::unlink(tmp.c_str());
    throw RuntimeError("{}: {} (while fsyncing '{}'); {}", what, reason(err), tmp.string(),
                       hint(err, tmp));
  }
  rename_and_sync(tmp, final_path, what);
}

// ================================================================================================
// Write and copy
// ================================================================================================

void write_file_atomically(const fs::path& path, std::string_view bytes) {
  const std::string what = "cannot write '" + path.string() + "'";
  const fs::path tmp = temp_path_for(path);
  // Truncate rather than O_EXCL: a file with this process's temp name is a leftover of a dead
  // process that had the same pid.
  Fd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666));
  if (!fd.valid()) {
    const int err = errno;
    throw RuntimeError("{}: {} (while creating '{}'); {}", what, reason(err), tmp.string(),
                       hint(err, path));
  }
  const char* step = "writing";
  int err = write_all(fd.get(), bytes.data(), bytes.size());
  // ENOSPC and EIO of delayed allocation are only reported by fsync or close.
  if (err == 0 && ::fsync(fd.get()) != 0) {
    err = errno;
    step = "fsyncing";
  }
  if (err == 0) {
    err = fd.close();
    step = "closing";
  }
  if (err != 0) {
    fd.close();
    ::unlink(tmp.c_str());
    throw RuntimeError("{}: {} (while {} '{}'); {}", what, reason(err), step, tmp.string(),
                       hint(err, path));
  }
  rename_and_sync(tmp, path, what);
}

void copy_file_atomically(const fs::path& from, const fs::path& to) {
  const std::string what = "cannot copy '" + from.string() + "' to '" + to.string() + "'";
  Fd in(::open(from.c_str(), O_RDONLY | O_CLOEXEC));
  if (!in.valid()) {
    const int err = errno;
    throw RuntimeError("{}: cannot open the source: {}; check the path", what, reason(err));
  }
  struct stat st {};
  if (::fstat(in.get(), &st) != 0) {
    const int err = errno;
    throw RuntimeError("{}: cannot stat the source: {}", what, reason(err));
  }
  if (!S_ISREG(st.st_mode)) {
    throw RuntimeError("{}: the source is not a regular file", what);
  }
#ifdef POSIX_FADV_SEQUENTIAL
  ::posix_fadvise(in.get(), 0, 0, POSIX_FADV_SEQUENTIAL);
#endif
  const fs::path tmp = temp_path_for(to);
  Fd out(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666));
  if (!out.valid()) {
    const int err = errno;
    throw RuntimeError("{}: {} (while creating '{}'); {}", what, reason(err), tmp.string(),
                       hint(err, to));
  }
  bool read_failed = false;
  const char* step = "writing";
  int err = copy_all(in.get(), out.get(), read_failed);
  if (err == 0 && ::fsync(out.get()) != 0) {
    err = errno;
    step = "fsyncing";
  }
  if (err == 0) {
    err = out.close();
    step = "closing";
  }
  if (err != 0) {
    out.close();
    ::unlink(tmp.c_str());
    if (read_failed) {
      throw RuntimeError("{}: reading the source failed: {}; {}", what, reason(err),
                         hint(err, from));
    }
    throw RuntimeError("{}: {} (while {} '{}'); {}", what, reason(err), step, tmp.string(),
                       hint(err, to));
  }
  rename_and_sync(tmp, to, what);
}

}  // namespace shardflow
