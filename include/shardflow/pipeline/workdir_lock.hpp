#pragma once
// One run per workdir at a time. Two jobs on one workdir would race on its stage files,
// checkpoints and outputs, so a run holds an exclusive lock on <workdir>/.shardflow.lock for its
// whole life. The lock is an flock(2) held by rank 0, which the kernel drops when the process
// ends however it ends, so a killed job never leaves a stale lock behind. The file records the
// holder (pid, host, start time) for the message the next job prints.

#include <filesystem>
#include <string>

#include "shardflow/mpi/comm.hpp"

namespace shardflow::pipeline {

class WorkdirLock {
 public:
  /// Collective: takes the lock (rank 0) or throws on every rank the same ConfigError (exit 2):
  /// "workdir 'runs/q' is in use by another shardflow run (pid 123 on host h, since ...); wait for
  /// it to end or give this run another workdir (--set workdir=...)". `workdir` must exist.
  WorkdirLock(const mpi::Comm& comm, const std::filesystem::path& workdir);
  ~WorkdirLock();
  WorkdirLock(const WorkdirLock&) = delete;
  WorkdirLock& operator=(const WorkdirLock&) = delete;

  /// The lock file's path.
  static std::filesystem::path path_for(const std::filesystem::path& workdir);

 private:
  int fd_ = -1;
};

}  // namespace shardflow::pipeline
