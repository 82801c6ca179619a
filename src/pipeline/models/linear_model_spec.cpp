// The spec shared by the generalized linear models (linear, logistic, softmax): one setting, l2.
// Each type's registry entry is in its own file (<type>_model.cpp).

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include "shardflow/pipeline/train_components.hpp"

namespace shardflow::pipeline {

const std::vector<std::string>& linear_model_keys() {
  static const std::vector<std::string> keys = {"type", "l2"};
  return keys;
}

std::shared_ptr<ModelSpec> parse_linear_model(const MapView& map,
                                              std::shared_ptr<LinearModelSpec> spec) {
  map.allow_only(linear_model_keys(), " (a linear model)");
  if (const ConfigNode* l2 = map.find("l2")) {
    spec->l2 = to_double(*l2, map.path("l2"));
    if (!(spec->l2 >= 0)) {
      fail_at(l2->location, fmt::format("{} must be >= 0, got {}", map.path("l2"), spec->l2));
    }
  }
  return spec;
}

void LinearModelSpec::emit(YAML::Emitter& out) const {
  out << YAML::BeginMap;
  out << YAML::Key << "type" << YAML::Value << type;
  out << YAML::Key << "l2" << YAML::Value << canonical_number(l2);
  out << YAML::EndMap;
}

ml::Task LinearModelSpec::task() const {
  switch (kind) {
    case ml::LinearKind::kLinear:
      return ml::Task::kRegression;
    case ml::LinearKind::kLogistic:
      return ml::Task::kBinary;
    case ml::LinearKind::kSoftmax:
      return ml::Task::kMulticlass;
  }
  return ml::Task::kBinary;
}

std::unique_ptr<ml::Model> LinearModelSpec::build(int num_features,
                                                  std::vector<double> classes) const {
  return std::make_unique<ml::LinearModel>(kind, num_features, l2, std::move(classes));
}

}  // namespace shardflow::pipeline
