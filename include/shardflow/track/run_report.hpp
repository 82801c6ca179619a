#pragma once
// The run report: one self-contained HTML page per run, <workdir>/report.html, opened with no
// network (inline CSS and SVG, no scripts, no external URL). Written by rank 0 at the end of
// every successful `shardflow run` (by the run recorder, which also logs it as an MLflow
// artifact when the job tracks). Everything in it comes from the run's metrics.json record and
// the training losses of the run summary:
//   - training: the batch loss of every step, the mean loss of every epoch, and the validation
//     metric per epoch (train.early_stopping);
//   - steps: a timeline with one lane per rank and one bar per step split into compute,
//     communication and I/O; rows in and out of every step;
//   - inputs: rows, rejected rows and, per column, type, nulls, range and distinct values;
//   - evaluation: the metrics, the confusion matrix and, for binary models, the ROC curve with
//     the exact AUC.
// A chart without data in this run (no training, no evaluation, an input not read because every
// step reading it was reused) is replaced by a one-line note saying so.
//
// Markup a test can count: every chart is <svg class="chart" data-chart="NAME" ...> with
// data-points (loss, epochs, validation, roc), data-lanes and data-steps (timeline; its bars are
// <rect data-part="compute|comm|io" data-rank data-step data-seconds>), data-bars (rows; bars
// <rect data-kind="in|out" data-step data-rows>); tables carry data-table (metrics, steps,
// confusion with data-total, input with data-input); notes are <p class="note" data-note="NAME">.

#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "shardflow/common/types.hpp"
#include "shardflow/mpi/comm.hpp"
#include "shardflow/pipeline/job_runner.hpp"

namespace shardflow::track {

/// Local: the report page for the metrics.json `record` of a finished run and the (step, batch
/// loss) pairs of the training steps the run took. Fields missing from the record give notes,
/// never an error.
std::string run_report_html(const nlohmann::json& record,
                            const std::vector<std::pair<idx_t, double>>& train_losses);

/// Collective: rank 0 writes run_report_html() to <summary.workdir>/report.html atomically
/// (temporary file, fsync, rename). A failure to write is agreed (RuntimeError naming the path).
void write_run_report(const mpi::Comm& comm, const nlohmann::json& record,
                      const pipeline::RunSummary& summary);

}  // namespace shardflow::track
