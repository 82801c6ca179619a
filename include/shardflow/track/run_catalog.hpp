#pragma once
// Reading a tracking store back (track/mlflow_store.hpp's layout, also what MLflow writes): the
// runs of every experiment, and one run whole, for `shardflow runs list | show | compare`.
//
// Local: nothing here is collective; callers read on rank 0.

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "shardflow/track/mlflow_store.hpp"

namespace shardflow::track {

/// A run as stored.
struct StoredRun {
  RunInfo info;
  std::string experiment_name;
  std::map<std::string, std::string> params;                // loaded by load_run only
  std::map<std::string, std::string> tags;                  // loaded by load_run only
  std::map<std::string, std::vector<MetricPoint>> metrics;  // every value, in file order
  std::vector<std::string> artifacts;                       // relative paths, sorted
};

/// Every run in the store with its meta.yaml read (params, tags, metrics not loaded), oldest
/// first; only experiment `experiment` when not empty. A directory that is not a readable run is
/// skipped. Throws ConfigError when `root` is not a directory, or names no experiment
/// `experiment`, listing the experiments there are.
std::vector<StoredRun> list_runs(const std::filesystem::path& root,
                                 const std::string& experiment = "");

/// The run whose id is `id` or starts with it (at least 4 hex digits), fully loaded. Throws
/// ConfigError naming the store when no run matches or the prefix is ambiguous (with the ids).
StoredRun load_run(const std::filesystem::path& root, const std::string& id);

/// "YYYY-MM-DD HH:MM:SS" (UTC) of a millisecond timestamp.
std::string format_utc(std::int64_t ms);

}  // namespace shardflow::track
