// The spec shared by the generalized linear models (linear, logistic, softmax): one setting, l2.
// Each type's registry entry is in its own file (<type>_model.cpp).

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include "shardflow/pipeline/job.hpp"
#include "shardflow/pipeline/train_components.hpp"

namespace shardflow::pipeline {

const std::vector<std::string>& linear_model_keys(ml::LinearKind kind) {
  static const std::vector<std::string> keys = {"type", "l2"};
  static const std::vector<std::string> binary_keys = {"type", "l2", "focal_gamma", "l1"};
  return kind == ml::LinearKind::kLogistic ? binary_keys : keys;
}

double read_l2(const MapView& map) {
  const ConfigNode* l2 = map.find("l2");
  if (!l2) return 0.0;
  const double value = to_double(*l2, map.path("l2"));
  if (!(value >= 0))
    fail_at(l2->location, fmt::format("{} must be >= 0, got {}", map.path("l2"), value));
  return value;
}

double read_focal_gamma(const MapView& map, bool binary) {
  const ConfigNode* gamma = map.find("focal_gamma");
  if (!gamma) return 0.0;
  const double value = to_double(*gamma, map.path("focal_gamma"));
  if (!binary) {
    fail_at(gamma->location,
            fmt::format("{}: the focal loss is for binary classification (type logistic, or mlp "
                        "with task: binary); remove focal_gamma",
                        map.path("focal_gamma")));
  }
  if (!(value >= 0))
    fail_at(gamma->location, fmt::format("{} must be >= 0 (0: the log loss), got {}",
                                         map.path("focal_gamma"), value));
  return value;
}

void emit_focal_gamma(YAML::Emitter& out, double gamma) {
  if (gamma != 0.0) out << YAML::Key << "focal_gamma" << YAML::Value << canonical_number(gamma);
}

std::shared_ptr<ModelSpec> parse_linear_model(const MapView& map,
                                              std::shared_ptr<LinearModelSpec> spec) {
  map.allow_only(linear_model_keys(spec->kind), " (a linear model)");
  spec->l2 = read_l2(map);
  spec->focal_gamma = read_focal_gamma(map, spec->kind == ml::LinearKind::kLogistic);
  if (const ConfigNode* l1 = map.find("l1")) {
    spec->l1 = to_double(*l1, map.path("l1"));
    if (!(spec->l1 >= 0))
      fail_at(l1->location, fmt::format("{} must be >= 0, got {}", map.path("l1"), spec->l1));
  }
  return spec;
}

void LinearModelSpec::emit(YAML::Emitter& out) const {
  out << YAML::BeginMap;
  out << YAML::Key << "type" << YAML::Value << type;
  out << YAML::Key << "l2" << YAML::Value << canonical_number(l2);
  emit_focal_gamma(out, focal_gamma);
  // Written only when set, so that models without it keep their canonical text and fingerprint.
  if (l1 != 0.0) out << YAML::Key << "l1" << YAML::Value << canonical_number(l1);
  out << YAML::EndMap;
}

void LinearModelSpec::check_train(const TrainSpec& train) const {
  // |w| has no gradient at 0: mini-batch steps would make the coefficients jitter around zero
  // instead of setting them to it, so only OWL-QN (lbfgs) trains an L1 penalty.
  if (l1 != 0.0 && train.optimizer->type != "lbfgs") {
    fail_at(fields.of("l1", location),
            fmt::format("train.model.l1: an L1 penalty is trained by optimizer lbfgs (OWL-QN) "
                        "only, not by {}; use optimizer: {{type: lbfgs}}, or remove l1",
                        train.optimizer->type));
  }
}

ml::Task LinearModelSpec::task() const {
  return ml::task_of(kind);
}

std::unique_ptr<ml::Model> LinearModelSpec::build(int num_features,
                                                  std::vector<double> classes) const {
  return std::make_unique<ml::LinearModel>(kind, num_features, l2, std::move(classes), focal_gamma,
                                           l1);
}

}  // namespace shardflow::pipeline
