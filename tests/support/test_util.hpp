#pragma once
// Helpers shared by the test suites.

#include <filesystem>
#include <string>
#include <utility>

#include "shardflow/common/types.hpp"

#include "shardflow/mpi/comm.hpp"

namespace shardflow::testing_util {

/// A fresh directory under the system temp dir, removed on destruction. Collective version: rank 0
/// picks and creates the name and broadcasts it, so all ranks share it.
class TempDir {
 public:
  TempDir();
  explicit TempDir(const mpi::Comm& comm);
  ~TempDir();
  const std::filesystem::path& path() const { return path_; }
  std::string str() const { return path_.string(); }

 private:
  std::filesystem::path path_;
  const mpi::Comm* comm_ = nullptr;
};

/// [begin, end) of global rows [0, n) that `rank` of `size` holds under a split `mode`:
/// 0 even contiguous blocks; 1 every row on the last rank; 2 rank r gets a share proportional to
/// r (so rank 0 is empty). Used to check that results do not depend on how rows are split.
std::pair<idx_t, idx_t> split(idx_t n, int rank, int size, int mode);

/// Writes `text` to `path` (creating parent directories).
void write_file(const std::filesystem::path& path, const std::string& text);
/// Reads a whole file.
std::string read_file(const std::filesystem::path& path);

}  // namespace shardflow::testing_util
