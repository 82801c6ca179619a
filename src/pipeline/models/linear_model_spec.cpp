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

double read_l2(const MapView& map) {
  const ConfigNode* l2 = map.find("l2");
  if (!l2) return 0.0;
  const double value = to_double(*l2, map.path("l2"));
  if (!(value >= 0))
    fail_at(l2->location, fmt::format("{} must be >= 0, got {}", map.path("l2"), value));
  return value;
}

std::shared_ptr<ModelSpec> parse_linear_model(const MapView& map,
                                              std::shared_ptr<LinearModelSpec> spec) {
  map.allow_only(linear_model_keys(), " (a linear model)");
  spec->l2 = read_l2(map);
  return spec;
}

void LinearModelSpec::emit(YAML::Emitter& out) const {
  out << YAML::BeginMap;
  out << YAML::Key << "type" << YAML::Value << type;
  out << YAML::Key << "l2" << YAML::Value << canonical_number(l2);
  out << YAML::EndMap;
}

ml::Task LinearModelSpec::task() const {
  return ml::task_of(kind);
}

std::unique_ptr<ml::Model> LinearModelSpec::build(int num_features,
                                                  std::vector<double> classes) const {
  return std::make_unique<ml::LinearModel>(kind, num_features, l2, std::move(classes));
}

}  // namespace shardflow::pipeline
