#pragma once
// Logging setup. Every line carries the MPI rank ("[r1]"). Rank 0 logs at the configured level;
// other ranks log at `warn` unless `all_ranks` is set, so a 64-rank job prints one progress stream.

#include <spdlog/spdlog.h>

#include <string>

namespace shardflow {

struct LoggingOptions {
  std::string level = "info";  // trace|debug|info|warn|error|off
  bool all_ranks = false;      // log every rank at `level`, not only rank 0
};

/// Installs the default spdlog logger for this process (stderr, rank-tagged pattern).
/// Throws ConfigError on an unknown level.
void setup_logging(int rank, int world_size, const LoggingOptions& options);

}  // namespace shardflow
