#pragma once
// The run recorder: writes every finished run's report (<workdir>/report.html,
// track/run_report.hpp), and records a job's runs in an MLflow file store
// (track/mlflow_store.hpp) as the job's `track:` section says. Rank 0 writes; every call is
// collective (the runner's RunObserver contract) except run_failed.
//
// One MLflow run per `shardflow run`, except that a run which did not finish (failed, killed,
// interrupted, preempted or requeued) is continued by the next run of the same job in the same
// workdir: same run id, status back to RUNNING, tag shardflow.restarts counting the restarts,
// metric values appended. Which run a workdir last wrote is kept in <workdir>/tracking.json.
//
// What a run holds:
//   params     the resolved job (canonical YAML), flattened: "train.optimizer.learning_rate",
//              "steps.0.op", ... (list items by index)
//   tags       mlflow.runName, mlflow.user, mlflow.source.name (the job file), mlflow.source.type
//              LOCAL, mlflow.source.git.commit (when the job file is in a git checkout),
//              shardflow.version, shardflow.job_fingerprint, shardflow.world_size,
//              shardflow.workdir, shardflow.restarts, shardflow.slurm_job_id and
//              shardflow.slurm_restart_count (under Slurm), shardflow.input.<name>.fingerprint
//   metrics    from metrics.json: job.seconds; step.<name>.seconds, .compute_seconds,
//              .comm_seconds, .io_seconds, .rows.<table>; train.seconds, .setup_seconds, .steps,
//              .last_batch_loss, train.epoch_seconds and train.epoch_loss (step = epoch),
//              train.loss (each training step's batch loss, step = training step; from the resumed
//              step on after a resume); valid.<metric> per epoch (early stopping); each evaluation
//              metric by name; evaluate.seconds; memory.peak_rss_bytes
//   artifacts  the job file, job.resolved.yaml, metrics.json, report.html, model.h5 (when
//              trained), and the run log: run.log, or run.restart<k>.log for the k-th restart
//              of a continued run (each attempt keeps its own), also for a failed or killed one
//
// Every run, tracked or not, writes rank 0's log to <workdir>/run.log (replaced by each run,
// from the moment the workdir is locked; a failed run's last line is its error).
// With `register:`, the finished run's model.h5 artifact becomes a new version in the store's
// model registry and the alias decision is logged and tagged (shardflow.registry.model,
// .version, .decision) on the run (track/model_registry.hpp).

#include <filesystem>
#include <optional>
#include <string>

#include "shardflow/common/logging.hpp"
#include "shardflow/mpi/comm.hpp"
#include "shardflow/pipeline/job_runner.hpp"
#include "shardflow/track/mlflow_store.hpp"

namespace shardflow::track {

class RunRecorder final : public pipeline::RunObserver {
 public:
  /// Collective: opens (creating) the store and the experiment, then continues the workdir's
  /// unfinished run of this job or starts a new one, and writes its params, tags and the job
  /// artifacts. An unwritable store stops the job here, before any work (agreed RuntimeError
  /// naming the path).
  void run_started(const mpi::Comm& comm, const pipeline::Job& job) override;
  /// Collective: writes <workdir>/report.html (every run, tracked or not); with `track:`, the
  /// metrics and artifacts of the finished run, status FINISHED.
  void run_finished(const mpi::Comm& comm, const pipeline::Job& job,
                    const pipeline::RunSummary& summary, const nlohmann::json& record) override;
  /// Local (rank 0 writes): the run ended with an error: status FAILED, or KILLED when
  /// `interrupted` (a stop signal). The run stays resumable. Never throws: a failure to record is
  /// a warning, since the job's own error is what must reach the user.
  /// `error` is the message the user sees ("config error: ..."); it ends the run log.
  void run_failed(const mpi::Comm& comm, bool interrupted, const std::string& error) noexcept;

  /// The run being recorded (rank 0, once started).
  const std::optional<RunInfo>& run() const { return run_; }

 private:
  /// Rewrites <workdir>/tracking.json: which run this workdir writes, and whether it finished.
  void write_state(bool finished) const;

  /// The run log's name among the run's artifacts.
  std::string log_artifact_name() const;

  std::optional<LogFile> log_file_;  // rank 0, from run_started on
  std::filesystem::path log_path_;   // <workdir>/run.log
  std::optional<MlflowStore> store_;
  std::optional<RunInfo> run_;
  std::filesystem::path state_path_;  // <workdir>/tracking.json
  int restarts_ = 0;
  std::string job_fingerprint_;
};

/// Local: the commit checked out in the git work tree holding `path` (its HEAD, resolved through
/// loose or packed refs), or "" when there is none. Reads .git directly: no git process.
std::string git_commit_of(const std::filesystem::path& path);

}  // namespace shardflow::track
