#pragma once
// Runs a validated Job as a DAG of stages, writing everything under the job's workdir:
//   <workdir>/.shardflow.lock             held while a run is under way (workdir_lock.hpp)
//   <workdir>/data/<input>-<fp>.csv       generated inputs (named by their data's fingerprint)
//   <workdir>/stages/<table>-<fp>.h5      every step's outputs (the stage cache, stage_cache.hpp)
//   <workdir>/outputs/<path>              tables listed under `outputs:`
//   <workdir>/checkpoints/ckpt-<step>.h5  training checkpoints (+ `latest`)
//   <workdir>/model.h5                    the final model (same layout as a checkpoint)
//   <workdir>/metrics.json                steps (reused or not, seconds, rows in and out, memory,
//                                         per-rank compute/comm/io split), inputs (fingerprint,
//                                         rows, rejected rows, data-quality profile), training
//                                         summary and evaluation metrics (binary: ROC points and
//                                         confusion matrix); see README "Running jobs"
//   <workdir>/report.html                 the run report (written by track/run_report.hpp)
//
// Fingerprints: an input's is its settings plus its data's identity (content hash, stat or
// generator parameters); a step's covers its canonical spec, its inputs' fingerprints and the
// stage format version; the training's covers the train section, the seed and the training
// table's fingerprint. A step whose outputs are in the stage cache under its fingerprint is not
// recomputed; training resumes only from a checkpoint carrying its fingerprint.
//
// Publication: a run first removes the previous run's published results (outputs/, model.h5,
// metrics.json, report.html), then rebuilds them (from the stage cache when nothing changed, at the
// cost of a file copy), each written under a temporary name, fsynced and renamed. So a failed run
// leaves no result that could be mistaken for its own, and a rerun restores everything.

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "shardflow/mpi/comm.hpp"
#include "shardflow/pipeline/job.hpp"

namespace shardflow::pipeline {

struct RunSummary;

/// Receives a run's events (the run recorder of track/ implements it; the runner never names a
/// tracking store). Both calls are collective: every rank calls them alike, and an exception
/// thrown from them must be agreed (comm.agree), like every error of the runner.
class RunObserver {
 public:
  virtual ~RunObserver() = default;
  /// Once the workdir is locked for this run, before any step.
  virtual void run_started(const mpi::Comm& comm, const Job& job) = 0;
  /// After metrics.json (`record`, the same JSON) is written.
  virtual void run_finished(const mpi::Comm& comm, const Job& job, const RunSummary& summary,
                            const nlohmann::json& record) = 0;
};

struct RunOptions {
  /// "auto": resume training from the newest valid checkpoint of this training if any;
  /// "never": start fresh (existing checkpoints are moved aside); otherwise a checkpoint file path.
  std::string resume = "auto";
  /// Steps (by name: their first output table) to recompute even if cached, with every step
  /// that depends on them.
  std::vector<std::string> rerun;
  /// Recompute every step (the cache is still written).
  bool no_cache = false;
  /// Told when the run starts and finishes (not owned; may be null).
  RunObserver* observer = nullptr;
};

/// What happened to one step.
struct StepRecord {
  std::string name;
  std::string op;
  bool reused = false;
  double seconds = 0;          // the whole step: reading inputs, computing, writing its stage
  double compute_seconds = 0;  // the op alone (inputs in memory, outputs not yet written)
  double stage_seconds = 0;    // writing and publishing the outputs' stage files
  // The step's wall time on this rank split three ways (seconds = compute + comm + io): io is
  // reading inputs and stage files and writing stage files; comm the time inside MPI calls
  // (mpi/comm_time.hpp) outside that I/O; compute the rest. On rank 0 (metrics.json's values).
  double comm_seconds = 0;
  double io_seconds = 0;
  /// The same per rank, index = rank (filled on every rank once the steps are done).
  std::vector<double> rank_seconds, rank_comm_seconds, rank_io_seconds;
  std::map<std::string, idx_t> rows;     // output table -> global rows
  std::map<std::string, idx_t> rows_in;  // input table -> global rows (-1: not known this run)
  std::string fingerprint;
};

struct RunSummary {
  std::map<std::string, idx_t> table_rows;  // global rows of every table whose count is known
  std::vector<StepRecord> steps;
  std::map<std::string, double> metrics;  // evaluation metrics
  idx_t train_steps = 0;                  // global training steps completed
  /// (step, batch loss) of every training step this run took (none when training was reused;
  /// from the resumed step on after a resume).
  std::vector<std::pair<idx_t, double>> train_losses;
  idx_t resumed_from_step = -1;  // step of the checkpoint resumed from, -1 if none
  bool train_reused = false;     // training was complete in a checkpoint already
  idx_t peak_rss_bytes = 0;      // the largest peak resident set size of any rank
  std::filesystem::path workdir;
};

/// Collective: runs `job`, which must be identical on all ranks (every rank loads the same files).
/// Every failure is agreed, so all ranks throw the same error. A stop signal during training writes
/// a checkpoint and throws InterruptedError (exit code 75). Another run holding the workdir gives
/// ConfigError (exit 2) at once. An unknown `options.rerun` name is a ConfigError.
RunSummary run_job(const mpi::Comm& comm, const Job& job, const RunOptions& options);

/// Collective: the fingerprint of every table of `job` (inputs and step outputs), computing the
/// inputs' data fingerprints (reading every input file when they are content-hashed).
std::map<std::string, std::string> table_fingerprints(const mpi::Comm& comm, const Job& job);

/// Local: the fingerprint that checkpoints of `job`'s training carry, given the fingerprint of the
/// training table: it covers the seed, the train section and that table (hence its data and every
/// step that led to it), not the workdir, runtime tuning or the rank count, so a job resumes
/// after such changes but never from a checkpoint of other data or another model.
std::string training_fingerprint(const Job& job, const std::string& train_table_fingerprint);

}  // namespace shardflow::pipeline
