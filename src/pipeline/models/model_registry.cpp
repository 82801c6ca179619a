// The table of models. Adding a model: write src/pipeline/models/<name>_model.cpp with a
// `ModelType <name>_model_type()` and add it to the two lists below (docs/architecture.md).

#include "shardflow/common/registry.hpp"
#include "shardflow/pipeline/train_components.hpp"

namespace shardflow::pipeline {

ModelType logistic_model_type();
ModelType linear_model_type();
ModelType softmax_model_type();
ModelType mlp_model_type();

const std::vector<ModelType>& model_types() {
  static const std::vector<ModelType> types = {
      logistic_model_type(),
      linear_model_type(),
      softmax_model_type(),
      mlp_model_type(),
  };
  return types;
}

const ModelType* find_model_type(std::string_view name) {
  return find_entry(model_types(), name, &ModelType::name);
}

std::vector<std::string> model_type_names() {
  return entry_names(model_types(), &ModelType::name);
}

const ModelType& default_model_type() {
  return *find_model_type(LogisticModelSpec::kType);
}

}  // namespace shardflow::pipeline
