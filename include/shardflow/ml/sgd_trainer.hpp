#pragma once
// Data-parallel mini-batch training of any ml::Model (ml/model.hpp) by a first-order optimizer
// (ml/optimizer.hpp), bitwise reproducible across rank counts and restarts.
//
// Batches: epoch e visits the global rows in the order of EpochPermutation(N, seed, e); step k of
// the epoch uses the rows whose position is in [k*B, min((k+1)*B, N)). Every rank buckets its own
// rows by step once per epoch; no data moves. Gradients: each rank copies its rows of the batch
// into one contiguous buffer and computes the per-sample gradient of the model's loss for them
// (Model::sample_gradients), and reproducible_sum adds them exactly over all ranks (the linear
// models give their per-sample residuals instead, Model::sample_factors, and
// reproducible_outer_sum forms the sums without storing the per-sample gradients, exact to a
// quantum set from bounds on the inputs rather than from the products), so every
// rank applies the same update and the weights after every step depend only on (data, options,
// seed) — not on the rank count or the row split. A run stopped after step k and resumed from its
// TrainState reproduces the uninterrupted run exactly.
//
// optimizer = lbfgs (ml/lbfgs.hpp) is full-batch instead: batch_size must be kFullBatch, each
// iteration is one step and one epoch, and `epochs` bounds the iterations.

#include <Eigen/Core>

#include <cstdint>
#include <functional>
#include <limits>
#include <optional>
#include <string>

#include "shardflow/ml/dataset.hpp"
#include "shardflow/ml/logistic_regression.hpp"
#include "shardflow/ml/model.hpp"
#include "shardflow/ml/optimizer.hpp"

namespace shardflow::ml {

/// SgdOptions::batch_size of full-batch training (lbfgs): every step uses every row, so an epoch
/// is one step.
inline constexpr idx_t kFullBatch = std::numeric_limits<idx_t>::max();

struct SgdOptions {
  double learning_rate = 0.1;
  idx_t batch_size = 256;
  int epochs = 5;
  double momentum = 0.0;  // sgd: v = momentum * v + g; w -= learning_rate * v
  std::uint64_t seed = 42;
  OptimizerKind optimizer = OptimizerKind::kSgd;  // the update rule (ml/optimizer.hpp)
  double beta1 = 0.9;                             // adam, adamw
  double beta2 = 0.999;                           // adam, adamw
  double epsilon = 1e-8;                          // adam, adamw
  double weight_decay = 0.0;                      // adamw
  LearningRateSchedule schedule;                  // the learning rate over the steps
  /// Empty, or one weight per class (by the label's index: 0/1 for a binary model, the class
  /// index for a multiclass one): each row's loss and gradient are multiplied by its class's.
  std::vector<double> class_weights;
  /// lbfgs only (ml/lbfgs.hpp): the (s, y) pairs kept, in [1, 1000]; the iteration stops once
  /// the largest |gradient component| is at most `tolerance`, or the objective fell by at most
  /// objective_tolerance * max(|f_prev|, |f|, 1) in one iteration (both >= 0, finite). The
  /// gradient tolerance's default, 5e-6 on the mean loss, ends within 1e-6 (relative) of the
  /// optimum on the training benchmark's problem at 2e6 rows (51 iterations) and at 2e7 (72,
  /// 9.2e-8; 1e-5 stopped there at 48 iterations, 1.08e-6 above); scikit-learn's default is 1e-4.
  int lbfgs_memory = 10;
  double tolerance = 5e-6;
  double objective_tolerance = 1e-12;

  /// The optimizer's part of these options.
  OptimizerOptions optimizer_options() const;
};

/// Everything needed to continue training exactly: model, optimizer state, position.
/// lbfgs: step = iterations completed = epoch, step_in_epoch = 0, samples_seen = step x rows,
/// last_loss = the full objective (mean loss + penalty) at `weights`.
struct TrainState {
  idx_t step = 0;           // global steps completed
  idx_t epoch = 0;          // epoch of the next step
  idx_t step_in_epoch = 0;  // steps completed in that epoch
  idx_t samples_seen = 0;   // global sample cursor
  Eigen::VectorXd weights;
  OptimizerState optimizer;  // the optimizer's vectors ("velocity" for sgd, "m" and "s" for adam)
  double last_loss = 0.0;    // mean loss of the last batch (reproducible)
};

struct TrainCallbacks {
  /// Called on every rank after each step with the new state (checkpointing, progress). May
  /// throw; the trainer lets it propagate (the pipeline agrees errors itself).
  std::function<void(const TrainState&)> after_step;
  /// Polled after each step on every rank; the trainer combines the answers with an allreduce
  /// (max) so all ranks stop at the same step. Returning true on any rank stops training after
  /// that step.
  std::function<bool()> stop_requested;
};

/// Number of steps in one epoch: ceil(global_rows / batch_size) (0 for no rows).
idx_t steps_per_epoch(idx_t global_rows, idx_t batch_size);

/// True if `state` is the end of training with `options` on `global_rows` rows: every epoch's
/// steps done, or (lbfgs) a stopping test met or the iterations used up.
bool training_finished(const TrainState& state, const SgdOptions& options, idx_t global_rows);

/// The number of values optimizer/<name> holds for a model of `num_parameters` parameters: one
/// per parameter, except lbfgs's history pairs and counters (ml/lbfgs.hpp).
Eigen::Index optimizer_state_size(const SgdOptions& options, const std::string& name,
                                  Eigen::Index num_parameters);

/// True if `state`'s position (step, epoch, step of the epoch, samples seen) is one that training
/// on `global_rows` rows with `batch_size` reaches, and its weights and optimizer state are finite.
bool resume_position_fits(const TrainState& state, idx_t global_rows, idx_t batch_size);

/// Collective: trains `model` with mini-batch steps of the optimizer on the gradient of
///   mean loss over the batch + l2/2 * ||penalized parameters||^2   (Model::l2, Model::penalized),
/// summing the per-sample gradients exactly across ranks every step. Starts from `resume` if given
/// (a state from a checkpoint, possibly written at another rank count), else from the model's
/// initial parameters (Model::initial_parameters(options.seed)) and zero optimizer state. Runs
/// until `options.epochs` epochs are complete or stop_requested fires and returns the final state
/// (lbfgs: runs train_lbfgs, ml/lbfgs.hpp, after the checks below);
/// *stopped_early (if given) tells whether stop_requested fired; *sum_seconds (if given) is the
/// time spent in the gradient sums (the allreduce and its exact accumulation). The data's labels
/// must be encoded as model.label_encoding() says (make_dataset does that). Must be equal on all
/// ranks: options, the model's settings, data.global_rows, the feature count and `resume` (checked:
/// RuntimeError if they differ). Errors (thrown on every rank): ConfigError for invalid options
/// (learning_rate <= 0, batch_size < 1, epochs < 0, momentum outside [0, 1), class weights that
/// are not positive or not one per class of a classification model) or a resume state that
/// does not fit the data (parameter count, step position); InputError if the data has no rows;
/// RuntimeError if the model's feature count differs from the data's, or if a gradient becomes
/// non-finite (training diverged), naming the step.
TrainState train_sgd(const mpi::Comm& comm, const Dataset& data, const Model& model,
                     const SgdOptions& options, const std::optional<TrainState>& resume,
                     const TrainCallbacks& callbacks, bool* stopped_early = nullptr,
                     double* sum_seconds = nullptr);

/// train_sgd for binary logistic regression with model.l2 (ConfigError if l2 < 0); sets
/// model.weights to the final weights (d coefficients, then the intercept).
TrainState train_logistic_sgd(const mpi::Comm& comm, const Dataset& data, LogisticRegression& model,
                              const SgdOptions& options, const std::optional<TrainState>& resume,
                              const TrainCallbacks& callbacks, bool* stopped_early = nullptr);

}  // namespace shardflow::ml
