#include "shardflow/ml/optimizer.hpp"

#include <algorithm>
#include <cmath>

#include "shardflow/common/error.hpp"
#include "shardflow/ml/lbfgs.hpp"

namespace shardflow::ml {

namespace {

class MomentumSgd final : public Optimizer {
 public:
  explicit MomentumSgd(const OptimizerOptions& o) : o_(o) {}
  std::vector<std::string> state_names() const override { return {"velocity"}; }
  void apply(Eigen::VectorXd& weights, const Eigen::VectorXd& grad, idx_t step,
             OptimizerState& state) const override {
    Eigen::VectorXd& v = state.at("velocity");
    v = o_.momentum * v + grad;
    weights -= scheduled_learning_rate(o_, step) * v;
  }

 private:
  OptimizerOptions o_;
};

class Adam final : public Optimizer {
 public:
  explicit Adam(const OptimizerOptions& o) : o_(o) {}
  std::vector<std::string> state_names() const override { return {"m", "s"}; }
  void apply(Eigen::VectorXd& weights, const Eigen::VectorXd& grad, idx_t step,
             OptimizerState& state) const override {
    Eigen::VectorXd& m = state.at("m");
    Eigen::VectorXd& s = state.at("s");
    const auto t = static_cast<double>(step + 1);
    // The bias corrections are computed once per step, in the same order on every rank.
    const double c1 = 1.0 - std::pow(o_.beta1, t);
    const double c2 = 1.0 - std::pow(o_.beta2, t);
    const Eigen::Index n = weights.size();
    const double lr = scheduled_learning_rate(o_, step);
    if (o_.kind == OptimizerKind::kAdamW) {
      const double keep = 1.0 - lr * o_.weight_decay;
      if (o_.decayed.empty()) {
        for (Eigen::Index j = 0; j + 1 < n; ++j)  // coefficients only, as the L2 term
          weights(j) *= keep;
      } else {
        if (o_.decayed.size() != static_cast<size_t>(n)) {
          throw RuntimeError("adamw: {} weights but a decay mask of {}", n, o_.decayed.size());
        }
        for (Eigen::Index j = 0; j < n; ++j)
          if (o_.decayed[static_cast<size_t>(j)] != 0) weights(j) *= keep;
      }
    }
    for (Eigen::Index j = 0; j < n; ++j) {
      m(j) = o_.beta1 * m(j) + (1.0 - o_.beta1) * grad(j);
      s(j) = o_.beta2 * s(j) + (1.0 - o_.beta2) * grad(j) * grad(j);
      weights(j) -= lr * (m(j) / c1) / (std::sqrt(s(j) / c2) + o_.epsilon);
    }
  }

 private:
  OptimizerOptions o_;
};

void check_unit_interval(double value, const char* key) {
  if (!(value >= 0.0 && value < 1.0)) {
    throw ConfigError("{} must be in [0, 1), got {}", key, value);
  }
}

}  // namespace

OptimizerState Optimizer::initial_state(Eigen::Index n) const {
  OptimizerState state;
  for (const auto& name : state_names())
    state[name] = Eigen::VectorXd::Zero(n);
  return state;
}

double scheduled_learning_rate(const OptimizerOptions& o, idx_t step) {
  const LearningRateSchedule& s = o.schedule;
  if (step < s.warmup_steps) {
    return o.learning_rate * static_cast<double>(step + 1) / static_cast<double>(s.warmup_steps);
  }
  const idx_t t = step - s.warmup_steps;
  switch (s.kind) {
    case LearningRateSchedule::Kind::kConstant:
      return o.learning_rate;
    case LearningRateSchedule::Kind::kStep:
      return o.learning_rate * std::pow(s.factor, static_cast<double>(t / s.every_steps));
    case LearningRateSchedule::Kind::kCosine: {
      const idx_t span = std::max<idx_t>(1, o.total_steps - s.warmup_steps);
      const double progress = std::min(1.0, static_cast<double>(t) / static_cast<double>(span));
      return s.min_lr + (o.learning_rate - s.min_lr) * 0.5 * (1.0 + std::cos(M_PI * progress));
    }
  }
  return o.learning_rate;
}

std::unique_ptr<Optimizer> make_optimizer(const OptimizerOptions& o) {
  if (!(o.learning_rate > 0.0) || !std::isfinite(o.learning_rate)) {
    throw ConfigError("learning rate must be a positive finite number, got {}", o.learning_rate);
  }
  const LearningRateSchedule& schedule = o.schedule;
  if (schedule.warmup_steps < 0) {
    throw ConfigError("warmup_steps must be 0 or more, got {}", schedule.warmup_steps);
  }
  if (schedule.kind == LearningRateSchedule::Kind::kStep &&
      (schedule.every_steps < 1 || !(schedule.factor > 0.0 && schedule.factor <= 1.0))) {
    throw ConfigError("a step schedule needs every_steps >= 1 and factor in (0, 1], got {} and {}",
                      schedule.every_steps, schedule.factor);
  }
  if (schedule.kind == LearningRateSchedule::Kind::kCosine &&
      !(schedule.min_lr >= 0.0 && schedule.min_lr <= o.learning_rate)) {
    throw ConfigError("a cosine schedule needs min_lr in [0, lr = {}], got {}", o.learning_rate,
                      schedule.min_lr);
  }
  switch (o.kind) {
    case OptimizerKind::kSgd:
      check_unit_interval(o.momentum, "momentum");
      return std::make_unique<MomentumSgd>(o);
    case OptimizerKind::kAdam:
    case OptimizerKind::kAdamW:
      check_unit_interval(o.beta1, "beta1");
      check_unit_interval(o.beta2, "beta2");
      if (!(o.epsilon > 0.0) || !std::isfinite(o.epsilon)) {
        throw ConfigError("epsilon must be a positive finite number, got {}", o.epsilon);
      }
      if (!(o.weight_decay >= 0.0) || !std::isfinite(o.weight_decay)) {
        throw ConfigError("weight decay must be a finite number >= 0, got {}", o.weight_decay);
      }
      if (o.kind == OptimizerKind::kAdam && o.weight_decay != 0.0) {
        throw ConfigError(
            "weight decay applies to adamw only; use the adamw optimizer, or the model's l2 "
            "penalty with adam");
      }
      return std::make_unique<Adam>(o);
    case OptimizerKind::kLbfgs:
      throw RuntimeError(
          "make_optimizer: lbfgs has no per-step update; train_sgd runs it as a whole "
          "(train_lbfgs)");
  }
  throw RuntimeError("make_optimizer: unknown optimizer kind");
}

std::vector<std::string> optimizer_state_names(OptimizerKind kind) {
  if (kind == OptimizerKind::kLbfgs) return lbfgs_state_names();
  OptimizerOptions o;
  o.kind = kind;
  return make_optimizer(o)->state_names();
}

const char* to_string(LearningRateSchedule::Kind kind) {
  switch (kind) {
    case LearningRateSchedule::Kind::kConstant:
      return "constant";
    case LearningRateSchedule::Kind::kStep:
      return "step";
    case LearningRateSchedule::Kind::kCosine:
      return "cosine";
  }
  return "?";
}

const char* to_string(OptimizerKind kind) {
  switch (kind) {
    case OptimizerKind::kSgd:
      return "sgd";
    case OptimizerKind::kAdam:
      return "adam";
    case OptimizerKind::kAdamW:
      return "adamw";
    case OptimizerKind::kLbfgs:
      return "lbfgs";
  }
  return "?";
}

}  // namespace shardflow::ml
