// type: lbfgs — full-batch L-BFGS with a strong Wolfe line search for the convex models (linear,
// logistic, softmax), every objective and gradient summed exactly across ranks (ml/lbfgs.hpp).
//
//   optimizer: {type: lbfgs, memory: 10, max_iterations: 100, tolerance: 5.0e-6,
//               objective_tolerance: 1.0e-12}
//
// Each iteration is one step (and one epoch) of the trainer: checkpoint.every_steps counts
// iterations, and a fault or signal after iteration k resumes from the last checkpoint.

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <utility>

#include "shardflow/pipeline/job.hpp"
#include "shardflow/pipeline/train_components.hpp"

namespace shardflow::pipeline {

namespace {

const std::vector<std::string> kKeys = {"type", "memory", "max_iterations", "tolerance",
                                        "objective_tolerance"};

// Settings of the mini-batch optimizers that mean nothing here, with the reason.
const std::vector<std::pair<std::string, std::string>> kNotForLbfgs = {
    {"lr", "lbfgs chooses every step by a line search, so it takes no learning rate"},
    {"batch_size", "lbfgs is full-batch: every iteration uses all training rows"},
    {"epochs", "lbfgs counts iterations, not epochs; bound them with max_iterations"},
    {"momentum", "momentum is sgd's"},
    {"beta1", "beta1 is adam's"},
    {"beta2", "beta2 is adam's"},
    {"eps", "eps is adam's"},
    {"weight_decay", "use train.model.l2 for an L2 penalty"},
    {"schedule", "lbfgs has no learning rate to schedule"},
};

class LbfgsOptimizerSpec final : public OptimizerSpec {
 public:
  int memory = 10;
  int max_iterations = 100;
  double tolerance = 5e-6;
  double objective_tolerance = 1e-12;

  void emit(YAML::Emitter& out) const override {
    out << YAML::BeginMap;
    out << YAML::Key << "type" << YAML::Value << "lbfgs";
    out << YAML::Key << "memory" << YAML::Value << memory;
    out << YAML::Key << "max_iterations" << YAML::Value << max_iterations;
    out << YAML::Key << "tolerance" << YAML::Value << canonical_number(tolerance);
    out << YAML::Key << "objective_tolerance" << YAML::Value
        << canonical_number(objective_tolerance);
    out << YAML::EndMap;
  }

  ml::SgdOptions training_options() const override {
    ml::SgdOptions o;
    o.optimizer = ml::OptimizerKind::kLbfgs;
    o.batch_size = ml::kFullBatch;
    o.epochs = max_iterations;  // one iteration is one full-batch epoch
    o.lbfgs_memory = memory;
    o.tolerance = tolerance;
    o.objective_tolerance = objective_tolerance;
    return o;
  }

  void check_train(const TrainSpec& train) const override {
    // The line search and the stopping tests assume the smooth, convex objective of a
    // generalized linear model; an mlp's has saddle points and plateaus where the quasi-Newton
    // model misleads it, and nothing here was tested on one.
    if (dynamic_cast<const LinearModelSpec*>(train.model.get()) == nullptr) {
      fail_at(fields.of("type", location),
              fmt::format("train.optimizer: lbfgs trains the convex models (linear, logistic, "
                          "softmax), not the {} model of train.model ({}); use sgd, adam or "
                          "adamw for it",
                          train.model->type, train.model->location.to_string()));
    }
    if (train.early_stopping) {
      fail_at(train.early_stopping->location,
              "train.early_stopping measures a validation metric after each epoch of a "
              "mini-batch optimizer; lbfgs minimizes the whole objective to its tolerance "
              "instead: remove early_stopping (regularize with train.model.l2), or use sgd, "
              "adam or adamw");
    }
  }
};

double non_negative(const ConfigNode& node, const std::string& path) {
  const double v = to_double(node, path);
  if (!(v >= 0)) fail_at(node.location, fmt::format("{} must be >= 0, got {}", path, v));
  return v;
}

std::shared_ptr<OptimizerSpec> parse(const MapView& map) {
  for (const auto& [key, why] : kNotForLbfgs) {
    if (const ConfigNode* node = map.find(key)) {
      fail_at(node->location, fmt::format("{}: {}; remove {} (lbfgs takes {})", map.path(key), why,
                                          key, list_names(kKeys)));
    }
  }
  map.allow_only(kKeys, " (an lbfgs optimizer)");
  auto lbfgs = std::make_shared<LbfgsOptimizerSpec>();
  if (const ConfigNode* m = map.find("memory")) {
    lbfgs->memory = static_cast<int>(to_int(*m, map.path("memory"), 1, 1000));
  }
  if (const ConfigNode* i = map.find("max_iterations")) {
    lbfgs->max_iterations = static_cast<int>(to_int(*i, map.path("max_iterations"), 1, 1000000));
  }
  if (const ConfigNode* t = map.find("tolerance")) {
    lbfgs->tolerance = non_negative(*t, map.path("tolerance"));
  }
  if (const ConfigNode* t = map.find("objective_tolerance")) {
    lbfgs->objective_tolerance = non_negative(*t, map.path("objective_tolerance"));
  }
  return lbfgs;
}

}  // namespace

OptimizerType lbfgs_optimizer_type() {
  return {"lbfgs",
          "full-batch L-BFGS with a strong Wolfe line search for the linear, logistic and softmax "
          "models; exact objective and gradient sums across ranks",
          kKeys, &parse};
}

}  // namespace shardflow::pipeline
