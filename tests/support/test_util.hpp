#pragma once
// Helpers shared by the test suites.

#include <filesystem>
#include <string>

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

/// Writes `text` to `path` (creating parent directories).
void write_file(const std::filesystem::path& path, const std::string& text);
/// Reads a whole file.
std::string read_file(const std::filesystem::path& path);

}  // namespace shardflow::testing_util
