#pragma once
// A writer of MLflow's file-store layout (what `mlflow ui --backend-store-uri DIR` reads):
//
//   <root>/<experiment_id>/meta.yaml                 name, artifact_location, lifecycle_stage, ...
//   <root>/<experiment_id>/<run_id>/meta.yaml        run_id, run_name, status, start/end time, ...
//   <root>/<experiment_id>/<run_id>/params/<key>     the value, as text
//   <root>/<experiment_id>/<run_id>/metrics/<key>    one line per value: "<ms timestamp> <value>
//   <step>" <root>/<experiment_id>/<run_id>/tags/<key>       the value, as text
//   <root>/<experiment_id>/<run_id>/artifacts/...    files
//
// Every file is replaced atomically (temp file, fsync, rename: common/atomic_file.hpp), so a
// reader never sees half a file and a crash leaves the previous version. Experiments are created
// under an exclusive lock on <root>/.shardflow.lock, so that jobs starting at once with the same
// experiment name share one experiment; runs have random 32-hex-digit ids and are written by one
// process each, so concurrent jobs never write the same run. A new store gets MLflow's "Default"
// experiment 0, as MLflow itself creates it.
//
// Local: only one process (rank 0) writes; nothing here is collective.

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace shardflow::track {

/// MLflow's RunStatus values, as written in a run's meta.yaml.
enum class RunStatus : int {
  kRunning = 1,
  kScheduled = 2,
  kFinished = 3,
  kFailed = 4,
  kKilled = 5
};

/// A run's meta.yaml.
struct RunInfo {
  std::string experiment_id;
  std::string run_id;
  std::string run_name;
  std::string user;
  std::string source_name;
  std::int64_t start_time_ms = 0;
  std::optional<std::int64_t> end_time_ms;  // none while running
  RunStatus status = RunStatus::kRunning;
};

/// One metric value.
struct MetricPoint {
  std::string key;
  double value = 0;
  std::int64_t step = 0;
  std::int64_t timestamp_ms = 0;
};

/// Milliseconds since the Unix epoch (MLflow's timestamps).
std::int64_t now_ms();

/// A key MLflow accepts and that names one file: every character outside [A-Za-z0-9_.-] becomes
/// '_' (MLflow would take '/' as a subdirectory and spaces, which shell users trip over), and a key
/// that is empty, "." or ".." gets a leading '_'.
std::string safe_key(std::string_view key);

/// The whole content of a file, or "" when it is missing or unreadable.
std::string read_text_file(const std::filesystem::path& path);
/// Creates `dir` and its parents; throws RuntimeError naming it and the OS reason.
void make_store_directories(const std::filesystem::path& dir);
/// The file:// URI of an absolute path.
std::string file_uri(const std::filesystem::path& path);

/// One value of a meta.yaml: a string, an integer, null or an empty list.
struct MetaValue {
  enum class Kind { kString, kInteger, kNull, kEmptyList } kind = Kind::kString;
  std::string text;
  std::int64_t integer = 0;
};
MetaValue meta_string(std::string s);
MetaValue meta_integer(std::int64_t v);
MetaValue meta_integer_or_null(std::optional<std::int64_t> v);
MetaValue meta_empty_list();

/// A meta.yaml's text as MLflow writes it (yaml.safe_dump: keys sorted), strings double-quoted so
/// that any name reads back as the same string.
std::string meta_yaml(const std::map<std::string, MetaValue>& fields);

/// The store's lock (an exclusive flock on <root>/.shardflow.lock, released on destruction or
/// when the process dies): held while experiments or registry entries are created. Throws
/// RuntimeError naming the lock file when it cannot be opened or taken.
class StoreLock {
 public:
  explicit StoreLock(const std::filesystem::path& root);
  ~StoreLock();
  StoreLock(const StoreLock&) = delete;
  StoreLock& operator=(const StoreLock&) = delete;

 private:
  int fd_ = -1;
};

class MlflowStore {
 public:
  /// `root` is made absolute (artifact URIs are file:// URIs of absolute paths). Creates the
  /// directory and the Default experiment when missing; throws RuntimeError naming the path and
  /// the OS reason when it cannot.
  explicit MlflowStore(const std::filesystem::path& root);

  const std::filesystem::path& root() const { return root_; }

  /// The id of the active experiment named `name`, created (next free integer id) if there is
  /// none, under the store's lock.
  std::string experiment_id(const std::string& name);

  /// A new run in `experiment_id` (status RUNNING, started now), with its directories and
  /// meta.yaml.
  RunInfo create_run(const std::string& experiment_id, const std::string& run_name,
                     const std::string& user, const std::string& source_name);
  /// The run's meta.yaml read back, or nullopt when the run directory or its meta.yaml is
  /// missing or not one this class wrote.
  std::optional<RunInfo> find_run(const std::string& experiment_id,
                                  const std::string& run_id) const;
  /// Rewrites the run's meta.yaml from `run` (status, end time).
  void write_run_meta(const RunInfo& run) const;

  std::filesystem::path run_directory(const RunInfo& run) const;

  void log_param(const RunInfo& run, std::string_view key, std::string_view value) const;
  void set_tag(const RunInfo& run, std::string_view key, std::string_view value) const;
  /// Appends each point to its metric's file (one rewrite per metric key).
  void log_metrics(const RunInfo& run, const std::vector<MetricPoint>& points) const;
  /// Copies the file `from` to artifacts/<name>.
  void log_artifact(const RunInfo& run, const std::filesystem::path& from,
                    std::string_view name) const;
  /// Writes `text` as artifacts/<name>.
  void log_artifact_text(const RunInfo& run, std::string_view name, std::string_view text) const;

 private:
  std::filesystem::path root_;
};

}  // namespace shardflow::track
