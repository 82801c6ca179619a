#pragma once
// Logging setup. Every line carries the MPI rank ("[r1]"). Rank 0 logs at the configured level;
// other ranks log at `warn` unless `all_ranks` is set, so a 64-rank job prints one progress stream.

#include <spdlog/spdlog.h>

#include <filesystem>
#include <memory>
#include <string>

namespace shardflow {

struct LoggingOptions {
  std::string level = "info";  // trace|debug|info|warn|error|off
  bool all_ranks = false;      // log every rank at `level`, not only rank 0
};

/// Installs the default spdlog logger for this process (stderr, rank-tagged pattern).
/// Throws ConfigError on an unknown level.
void setup_logging(int rank, int world_size, const LoggingOptions& options);

/// Local: while alive, every line this process logs also goes to `path` (created or truncated;
/// its directory must exist), in the same format, flushed line by line so that a killed process's
/// file ends at its last line. A file that cannot be opened or written (a full disk) costs one
/// warning on stderr and never stops work: the log goes on on stderr alone.
class LogFile {
 public:
  explicit LogFile(const std::filesystem::path& path);
  ~LogFile();
  LogFile(const LogFile&) = delete;
  LogFile& operator=(const LogFile&) = delete;

  /// A line in the file alone (not on stderr), formatted like every other line.
  void write(spdlog::level::level_enum level, std::string_view text);

 private:
  std::shared_ptr<spdlog::sinks::sink> sink_;
};

}  // namespace shardflow
