#include "shardflow/ml/optimizer.hpp"

#include <cmath>

#include "shardflow/common/error.hpp"

namespace shardflow::ml {

namespace {

class MomentumSgd final : public Optimizer {
 public:
  explicit MomentumSgd(const OptimizerOptions& o) : o_(o) {}
  std::vector<std::string> state_names() const override { return {"velocity"}; }
  void apply(Eigen::VectorXd& weights, const Eigen::VectorXd& grad, idx_t /*step*/,
             OptimizerState& state) const override {
    Eigen::VectorXd& v = state.at("velocity");
    v = o_.momentum * v + grad;
    weights -= o_.learning_rate * v;
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
    if (o_.kind == OptimizerKind::kAdamW) {
      const double keep = 1.0 - o_.learning_rate * o_.weight_decay;
      for (Eigen::Index j = 0; j + 1 < n; ++j)  // coefficients only, as the L2 term
        weights(j) *= keep;
    }
    for (Eigen::Index j = 0; j < n; ++j) {
      m(j) = o_.beta1 * m(j) + (1.0 - o_.beta1) * grad(j);
      s(j) = o_.beta2 * s(j) + (1.0 - o_.beta2) * grad(j) * grad(j);
      weights(j) -= o_.learning_rate * (m(j) / c1) / (std::sqrt(s(j) / c2) + o_.epsilon);
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

std::unique_ptr<Optimizer> make_optimizer(const OptimizerOptions& o) {
  if (!(o.learning_rate > 0.0) || !std::isfinite(o.learning_rate)) {
    throw ConfigError("learning rate must be a positive finite number, got {}", o.learning_rate);
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
  }
  throw RuntimeError("make_optimizer: unknown optimizer kind");
}

std::vector<std::string> optimizer_state_names(OptimizerKind kind) {
  OptimizerOptions o;
  o.kind = kind;
  return make_optimizer(o)->state_names();
}

const char* to_string(OptimizerKind kind) {
  switch (kind) {
    case OptimizerKind::kSgd:
      return "sgd";
    case OptimizerKind::kAdam:
      return "adam";
    case OptimizerKind::kAdamW:
      return "adamw";
  }
  return "?";
}

}  // namespace shardflow::ml
