#pragma once
// Full-batch L-BFGS (Nocedal & Wright, Numerical Optimization, algorithms 7.4 and 3.5/3.6) for
// the convex models, bitwise reproducible across rank counts and restarts like train_sgd.
//
// Objective: f(w) = (1/N) sum_i c_i loss_i(w) + l2/2 ||penalized w||^2 over ALL N training rows
// (c_i: the row's class weight, 1 without), the objective whose mini-batch estimates train_sgd
// descends. Every evaluation sums the per-sample gradients and losses of every row in a fixed
// order of global rows (see "Cost" below), so f and its gradient are the same bits on every rank
// and at every rank count, and every decision below (direction, step, which pairs are kept, when
// to stop) is made identically everywhere.
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
// Cost of the exact path: the global rows fall into blocks of kLbfgsSumBlockRows (block k holds
// rows [k B, (k + 1) B), wherever they are); a block's per-sample values are added in double, in
// row order, and the block sums are then added exactly (128-bit fixed point,
// ml/reproducible_sum.hpp). A block split between ranks is continued by the next rank from the
// running sum the previous one sends it (one message of P + 1 doubles per rank boundary; a rank
// without rows passes it on). So one evaluation is one pass over the local rows, a max-allreduce
// and an allreduce of 128-bit sums of P + 1 values. The error of a block sum is that of double
// addition of 256 terms (at most 255 ulp-scale roundings, typically about 16), far below the
// line search's needs, and the same at every rank count.
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

/// Global rows per block of the objective's sums (see "Cost of the exact path").
inline constexpr idx_t kLbfgsSumBlockRows = 256;

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
/// any per-sample value (or a block's sum) is not finite. `block_rows`: the kLbfgsSumBlockRows of
/// the sums (tests lower it to put several block boundaries on every rank). Must be equal on all
/// ranks: w, the model's settings, class_weights, data.global_rows (> 0), block_rows (>= 1). Each
/// rank holds the global rows [data.global_offset, data.global_offset + data.rows()), in rank
/// order, as make_dataset builds them.
double full_batch_objective(const mpi::Comm& comm, const Dataset& data, const Model& model,
                            std::span<const double> class_weights, const Eigen::VectorXd& w,
                            Eigen::VectorXd* gradient, idx_t block_rows = kLbfgsSumBlockRows);

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
