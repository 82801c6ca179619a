#pragma once
// Full-batch L-BFGS (Nocedal & Wright, Numerical Optimization, algorithms 7.4 and 3.5/3.6) for
// the convex models, bitwise reproducible across rank counts and restarts like train_sgd.
//
// Objective: f(w) = (1/N) sum_i c_i loss_i(w) + l2/2 ||penalized w||^2 over ALL N training rows
// (c_i: the row's class weight, 1 without), the objective whose mini-batch estimates train_sgd
// descends. Every evaluation sums the per-sample gradients and losses of every row exactly
// (128-bit fixed point, ml/reproducible_sum.hpp) across ranks, so f and its gradient are the same
// bits on every rank and at every rank count, and every decision below (direction, step, which
// pairs are kept, when to stop) is made identically everywhere.
//
// Iteration k: the direction d = -H g from the two-loop recursion over the last `memory` pairs
// (s, y) = (w_{k+1} - w_k, g_{k+1} - g_k) with H0 = (s'y / y'y) I (no pairs: d = -g, first trial
// step min(1, 1/||g||_1); else 1); a line search for the strong Wolfe conditions
//   f(w + a d) <= f + 1e-4 a g'd,   |g(w + a d)'d| <= 0.9 |g'd|
// by bracketing and zoom with safeguarded cubic interpolation, at most 25 evaluations. If that
// budget runs out, the lowest point meeting the first condition is taken (if it lowers f). A pair
// is kept only if s'y > eps y'y (curvature; eps = 2^-52). Stops after the iteration where
// max_j |g_j| <= tolerance, where f fell by at most objective_tolerance * max(|f_prev|, |f|, 1),
// when no step lowers f (the precision limit), or after `epochs` iterations.
//
// With an L1 penalty (Model::l1 > 0: F = f + l1 ||penalized w||_1) it is OWL-QN (Andrew & Gao,
// 2007): the pseudo-gradient pg (the one-sided derivative of F that descends, 0 where neither
// does) replaces g in the direction, which keeps only the components that descend along -pg, and
// in the stopping test (max_j |pg_j| <= tolerance); the line search backtracks (halving, at most
// 40 times) from the first trial step, each trial projected onto the current orthant (a
// coefficient that would cross 0 stops at 0), until F(w') <= F(w) + 1e-4 pg'(w' - w); the pairs
// use the smooth part's gradient. f, last_loss and the reported objective include the L1 term.
//
// Cost of the exact path: one evaluation is one pass over the local rows computing per-sample
// gradients, a max-allreduce and an allreduce of 128-bit sums of P + 1 values. The per-sample
// values are kept between the two collectives while they fit kLbfgsCacheValues doubles per rank;
// beyond that they are computed twice (two passes), which doubles the arithmetic, never the
// communication.
//
// State (TrainState::optimizer, checkpointed as optimizer/<name>): lbfgs_s and lbfgs_y, `memory`
// x P values each (pairs oldest first, unused slots zero), lbfgs_info = {pairs, status,
// evaluations}. A resume recomputes f and g at the saved weights (bit-identical by construction,
// and checked against last_loss), so a killed run continues to the uninterrupted run's weights.

#include <Eigen/Core>

#include <optional>
#include <span>
#include <string>
#include <vector>

#include "shardflow/ml/dataset.hpp"
#include "shardflow/ml/model.hpp"
#include "shardflow/ml/sgd_trainer.hpp"
#include "shardflow/mpi/comm.hpp"

namespace shardflow::ml {

/// Per-sample values kept in memory per rank between the two collectives of an evaluation (2^25
/// doubles: 256 MiB); above, they are computed twice.
inline constexpr idx_t kLbfgsCacheValues = idx_t{1} << 25;

/// Why L-BFGS stopped (lbfgs_info[1]); kRunning while it has not.
enum class LbfgsStatus {
  kRunning = 0,
  kGradientTolerance = 1,   // max |g_j| <= tolerance
  kObjectiveTolerance = 2,  // the relative decrease of f <= objective_tolerance
  kNoProgress = 3,          // the line search found no step that lowers f
};

/// "running", "gradient tolerance reached", ...
const char* to_string(LbfgsStatus status);

/// The state vector names, sorted: lbfgs_info, lbfgs_s, lbfgs_y.
std::vector<std::string> lbfgs_state_names();
/// Values in lbfgs_info.
inline constexpr Eigen::Index kLbfgsInfoSize = 3;

/// What a state's lbfgs_info says (all zero when it has none).
struct LbfgsProgress {
  idx_t pairs = 0;
  LbfgsStatus status = LbfgsStatus::kRunning;
  idx_t evaluations = 0;  // objective-and-gradient passes over the data since the start
};
LbfgsProgress lbfgs_progress(const TrainState& state);

/// Collective: the objective above at `w` over every rank's rows, and (if `gradient`) its
/// gradient, identical on every rank and at every rank count. `class_weights`: empty, or one
/// weight per class index as in SgdOptions. Returns +infinity (on every rank, gradient unset) if
/// any per-sample value is not finite. `cache_values`: the kLbfgsCacheValues limit (tests lower
/// it to check that both paths give the same bits). Must be equal on all ranks: w, the model's
/// settings, class_weights, data.global_rows (> 0).
double full_batch_objective(const mpi::Comm& comm, const Dataset& data, const Model& model,
                            std::span<const double> class_weights, const Eigen::VectorXd& w,
                            Eigen::VectorXd* gradient, idx_t cache_values = kLbfgsCacheValues);

/// Collective: L-BFGS on `model`, as train_sgd calls it once it has checked the inputs (equal on
/// all ranks, data not empty, class weights valid). Starts from `resume` (a state this training
/// wrote, possibly at another rank count) or from the model's initial parameters. Calls
/// after_step after every iteration and stops when stop_requested fires on any rank
/// (*stopped_early); *sum_seconds (if given) accumulates the time of the evaluations (the passes
/// over the rows and their exact sums). Errors (on every rank): ConfigError for options outside the
/// ranges of SgdOptions (batch_size other than kFullBatch, memory, tolerances, epochs < 0) or a
/// resume state that does not fit (sizes, counters, position, or an objective at its weights other
/// than its last_loss: the data changed); RuntimeError if the objective is not finite at the start.
TrainState train_lbfgs(const mpi::Comm& comm, const Dataset& data, const Model& model,
                       const SgdOptions& options, const std::optional<TrainState>& resume,
                       const TrainCallbacks& callbacks, bool* stopped_early, double* sum_seconds);

}  // namespace shardflow::ml
