#include "shardflow/pipeline/workdir_lock.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <sstream>

#include "shardflow/common/error.hpp"

namespace shardflow::pipeline {

namespace fs = std::filesystem;

fs::path WorkdirLock::path_for(const fs::path& workdir) {
  return workdir / ".shardflow.lock";
}

WorkdirLock::WorkdirLock(const mpi::Comm& comm, const fs::path& workdir) {
  comm.agree([&] {
    if (!comm.is_root()) return;
    const fs::path path = path_for(workdir);
    const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
      throw RuntimeError("cannot open the workdir lock '{}': {}", path.string(),
                         std::strerror(errno));
    }
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      const int error = errno;
      ::close(fd);
      if (error != EWOULDBLOCK) {
        throw RuntimeError("cannot lock the workdir lock '{}': {}", path.string(),
                           std::strerror(error));
      }
      std::ifstream in(path);
      std::string holder;
      std::getline(in, holder);
      if (holder.empty()) holder = "holder unknown";
      throw ConfigError(
          "workdir '{}' is in use by another shardflow run ({}); wait for it to end or give this "
          "run another workdir (--set workdir=...)",
          workdir.string(), holder);
    }
    char host[256] = {};
    ::gethostname(host, sizeof host - 1);
    const auto now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
    char when[64] = {};
    std::strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
    std::ostringstream text;
    text << "pid " << ::getpid() << " on host " << host << ", since " << when << "\n";
    const std::string record = text.str();
    // Best effort: the record only improves the next job's message.
    if (::ftruncate(fd, 0) == 0) {
      [[maybe_unused]] const auto written = ::pwrite(fd, record.data(), record.size(), 0);
    }
    fd_ = fd;
  });
}

WorkdirLock::~WorkdirLock() {
  if (fd_ >= 0) ::close(fd_);  // releases the flock
}

}  // namespace shardflow::pipeline
