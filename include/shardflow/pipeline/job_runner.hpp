#pragma once
// Runs a validated Job: inputs -> steps -> outputs -> train (with checkpoints) -> evaluate, writing
// everything under the job's workdir:
//   <workdir>/data/<input>.csv            generated inputs (reused when their fingerprint matches)
//   <workdir>/outputs/<path>              tables listed under `outputs:`
//   <workdir>/checkpoints/ckpt-<step>.h5  training checkpoints (+ `latest`)
//   <workdir>/model.h5                    the final model (same layout as a checkpoint)
//   <workdir>/metrics.json                row counts, training summary and evaluation metrics

#include <filesystem>
#include <map>
#include <string>

#include "shardflow/mpi/comm.hpp"
#include "shardflow/pipeline/job.hpp"

namespace shardflow::pipeline {

struct RunOptions {
  /// "auto": resume training from the newest valid checkpoint of this job if any;
  /// "never": start fresh (existing checkpoints are moved aside); otherwise a checkpoint file path.
  std::string resume = "auto";
};

struct RunSummary {
  std::map<std::string, idx_t> table_rows;  // global rows of every table produced
  std::map<std::string, double> metrics;    // evaluation metrics
  idx_t train_steps = 0;                    // global training steps completed
  idx_t resumed_from_step = -1;             // step of the checkpoint resumed from, -1 if none
  std::filesystem::path workdir;
};

/// Collective: runs `job`, which must be identical on all ranks (every rank loads the same files).
/// Every failure is agreed, so all ranks throw the same error. A stop signal during training writes
/// a checkpoint and throws InterruptedError (exit code 75).
RunSummary run_job(const mpi::Comm& comm, const Job& job, const RunOptions& options);

/// Local: the fingerprint that checkpoints of `job` carry: it covers the seed, inputs, steps and
/// train sections, not the workdir, runtime tuning or the rank count, so a job resumes after such
/// changes but never from another job's (or another model's) checkpoint.
std::string training_fingerprint(const Job& job);

}  // namespace shardflow::pipeline
