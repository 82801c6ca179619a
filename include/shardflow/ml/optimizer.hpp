#pragma once
// First-order optimizers for the data-parallel trainer (ml/sgd_trainer.hpp). Each step's gradient
// is the same on every rank (an exact allreduce), and an optimizer is a pure function of the
// gradients it has seen, so every rank holds the same state and applies the same arithmetic:
// weights stay bit-identical on every rank, at every rank count and across a resume from the
// state saved in a checkpoint.
//
// lr is the step's learning rate from the schedule (LearningRateSchedule below).
//   sgd:   v = momentum * v + g;  w -= lr * v
//   adam:  m = b1 m + (1 - b1) g;  s = b2 s + (1 - b2) g^2;  t = step + 1;
//          w -= lr * (m / (1 - b1^t)) / (sqrt(s / (1 - b2^t)) + eps)          (Kingma & Ba)
//   adamw: adam, with the coefficients (not the intercepts: OptimizerOptions::decayed) first
//   decayed:
//          w_j -= lr * weight_decay * w_j                          (Loshchilov & Hutter, decoupled)
//
// lbfgs is no per-step rule: it is a full-batch method with a line search (ml/lbfgs.hpp), which
// train_sgd hands the whole training to; make_optimizer rejects it.

#include <Eigen/Core>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "shardflow/common/types.hpp"

namespace shardflow::ml {

enum class OptimizerKind { kSgd, kAdam, kAdamW, kLbfgs };

/// How the learning rate moves over the steps (t = steps before this one, T = all steps of the
/// training): after `warmup_steps` steps that ramp it linearly to lr (lr * (t + 1) / warmup),
///   constant: lr
///   step:     lr * factor^floor((t - warmup) / every_steps)
///   cosine:   min_lr + (lr - min_lr) * (1 + cos(pi * (t - warmup) / (T - warmup))) / 2
/// A function of t and T only, so a resumed run continues the same sequence.
struct LearningRateSchedule {
  enum class Kind { kConstant, kStep, kCosine };
  Kind kind = Kind::kConstant;
  idx_t warmup_steps = 0;  // >= 0
  idx_t every_steps = 1;   // step: >= 1
  double factor = 0.1;     // step: in (0, 1]
  double min_lr = 0.0;     // cosine: in [0, lr]
};

/// The optimizer's settings (the rest of training's options live in SgdOptions).
struct OptimizerOptions {
  OptimizerKind kind = OptimizerKind::kSgd;
  double learning_rate = 0.1;
  double momentum = 0.0;      // sgd: in [0, 1)
  double beta1 = 0.9;         // adam(w): in [0, 1)
  double beta2 = 0.999;       // adam(w): in [0, 1)
  double epsilon = 1e-8;      // adam(w): > 0
  double weight_decay = 0.0;  // adamw: >= 0
  LearningRateSchedule schedule;
  idx_t total_steps = 0;  // T of the schedule: epochs x steps per epoch (set by the trainer)
  /// adamw: 1 for each weight the decay applies to (the model's coefficients, Model::penalized);
  /// empty: every weight but the last (one intercept, last).
  std::vector<std::uint8_t> decayed;
};

/// The learning rate of the step after `step` steps (see LearningRateSchedule).
double scheduled_learning_rate(const OptimizerOptions& options, idx_t step);

/// Optimizer state: named vectors, one entry per weight each ("velocity" for sgd; "m" and "s" for
/// adam and adamw). Checkpoints store them as optimizer/<name>.
using OptimizerState = std::map<std::string, Eigen::VectorXd>;

class Optimizer {
 public:
  virtual ~Optimizer() = default;
  /// The names of the state vectors, sorted.
  virtual std::vector<std::string> state_names() const = 0;
  /// Zeroed state for `n` weights: a fresh start.
  OptimizerState initial_state(Eigen::Index n) const;
  /// One update of `weights` (intercept last) by `grad`, the gradient of the objective there;
  /// `step` counts the steps before this one (0 for the first). Updates `state` in place.
  virtual void apply(Eigen::VectorXd& weights, const Eigen::VectorXd& grad, idx_t step,
                     OptimizerState& state) const = 0;
};

/// The optimizer for `options`. Throws ConfigError for settings outside the ranges above, naming
/// the setting ("momentum must be in [0, 1), got 1").
std::unique_ptr<Optimizer> make_optimizer(const OptimizerOptions& options);

/// The state vector names of `kind` (what a checkpoint of such training holds); for lbfgs those of
/// ml/lbfgs.hpp, whose sizes differ from the weights' (optimizer_state_size in sgd_trainer.hpp).
std::vector<std::string> optimizer_state_names(OptimizerKind kind);

/// The name of `kind` as written in a job file's train.optimizer.schedule.type.
const char* to_string(LearningRateSchedule::Kind kind);

/// The name of `kind` as written in a job file's train.optimizer.type.
const char* to_string(OptimizerKind kind);

}  // namespace shardflow::ml
