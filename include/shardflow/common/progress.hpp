#pragma once
// The one progress reporter (DESIGN.md "One service per cross-cutting job"): long work (data
// generation, CSV ingest, shuffles, group-by, output writes, training) tells it how far it is; on
// the process that reports (rank 0) it shows how far, how fast and how long is left:
//   - on a terminal (stderr is a tty): one line redrawn in place at most 4 times a second,
//       "reading events.csv: 45% (1.3e+06 rows of 2.9e+06), 1.1e+06 rows/s, ETA 1 s"
//     and ended with a newline by finish();
//   - otherwise (Slurm and batch logs): that text as an info log line every
//     SHARDFLOW_PROGRESS_SECONDS seconds (default 10), the first one only after that long, so
//     short work stays silent.
// The figures are this rank's share of the work (ranks get equal shares), so no collective is
// needed. update() is cheap enough for inner loops' batch boundaries: it reads the clock and does
// nothing more until the next report is due.
//
// A ProgressScope names the larger work a report belongs to: while one lives on this thread,
// every Progress created starts its text with the scope's label, so a shuffle inside a job's
// third step reports "step 3 (group_by) 'q1': shuffling: 45% ..." without the shuffle knowing
// about steps.
//
// Local: nothing here is collective.

#include <chrono>
#include <string>

#include "shardflow/common/types.hpp"

namespace shardflow {

/// Local: while alive, Progress texts on this thread start with "<label>: " (scopes nest; the
/// innermost label wins).
class ProgressScope {
 public:
  explicit ProgressScope(std::string label);
  ~ProgressScope();
  ProgressScope(const ProgressScope&) = delete;
  ProgressScope& operator=(const ProgressScope&) = delete;

  /// The innermost live scope's label, or "" outside any scope.
  static const std::string& current();

 private:
  std::string label_;
  const ProgressScope* outer_;
};

class Progress {
 public:
  /// `what` names the work ("reading events.csv"), prefixed by the current ProgressScope's
  /// label; `total` is this rank's amount of it in `unit`s ("rows", "bytes"); nothing is shown
  /// unless `enabled` (pass comm.is_root()).
  Progress(std::string what, idx_t total, std::string unit, bool enabled);
  ~Progress();
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  /// `done` of `total` units are done.
  void update(idx_t done);
  /// The work is over: ends a terminal line (once).
  void finish();

  /// The text of a report: "<what>: 45% (1.3e+06 rows of 2.9e+06), 1.1e+06 rows/s, ETA 1 s".
  static std::string describe(const std::string& what, idx_t done, idx_t total,
                              const std::string& unit, double seconds);

 private:
  using Clock = std::chrono::steady_clock;
  std::string what_;
  std::string unit_;
  idx_t total_;
  bool enabled_;
  bool terminal_ = false;
  bool drawn_ = false;  // a terminal line is open
  double interval_ = 10;
  Clock::time_point start_;
  Clock::time_point next_;
};

}  // namespace shardflow
