// The table of models. Adding a model: write src/pipeline/models/<name>_model.cpp with a
// `ModelType <name>_model_type()` and add it to the two lists below (docs/architecture.md).

#include <algorithm>

#include "shardflow/pipeline/train_components.hpp"

namespace shardflow::pipeline {

ModelType logistic_model_type();

const std::vector<ModelType>& model_types() {
  static const std::vector<ModelType> types = {
      logistic_model_type(),
  };
  return types;
}

const ModelType* find_model_type(std::string_view name) {
  const auto& types = model_types();
  auto it = std::find_if(types.begin(), types.end(), [&](const auto& t) { return t.name == name; });
  return it == types.end() ? nullptr : &*it;
}

std::vector<std::string> model_type_names() {
  std::vector<std::string> names;
  for (const auto& t : model_types())
    names.push_back(t.name);
  return names;
}

const ModelType& default_model_type() {
  return *find_model_type(LogisticModelSpec::kType);
}

}  // namespace shardflow::pipeline
