// type: logistic — binary logistic regression (ml/logistic_regression.hpp) with an optional L2
// penalty on the coefficients.
//
//   model: {type: logistic, l2: 1.0e-4}

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include "shardflow/pipeline/train_components.hpp"

namespace shardflow::pipeline {

namespace {

const std::vector<std::string> kKeys = {"type", "l2"};

std::shared_ptr<ModelSpec> parse(const MapView& map) {
  map.allow_only(kKeys, " (a logistic model)");
  auto model = std::make_shared<LogisticModelSpec>();
  if (const ConfigNode* l2 = map.find("l2")) {
    model->l2 = to_double(*l2, map.path("l2"));
    if (model->l2 < 0) {
      fail_at(l2->location, fmt::format("{} must be >= 0, got {}", map.path("l2"), model->l2));
    }
  }
  return model;
}

}  // namespace

void LogisticModelSpec::emit(YAML::Emitter& out) const {
  out << YAML::BeginMap;
  out << YAML::Key << "type" << YAML::Value << std::string(kType);
  out << YAML::Key << "l2" << YAML::Value << canonical_number(l2);
  out << YAML::EndMap;
}

ModelType logistic_model_type() {
  return {std::string(LogisticModelSpec::kType),
          "binary logistic regression, p(y = 1 | x) = sigmoid(w . x + b), optional L2 penalty",
          kKeys, &parse};
}

}  // namespace shardflow::pipeline
