// The table of optimizers. Adding an optimizer: write src/pipeline/optimizers/<name>_optimizer.cpp
// with an `OptimizerType <name>_optimizer_type()` and add it to the two lists below
// (docs/architecture.md).

#include <algorithm>

#include "shardflow/pipeline/train_components.hpp"

namespace shardflow::pipeline {

OptimizerType sgd_optimizer_type();

const std::vector<OptimizerType>& optimizer_types() {
  static const std::vector<OptimizerType> types = {
      sgd_optimizer_type(),
  };
  return types;
}

const OptimizerType* find_optimizer_type(std::string_view name) {
  const auto& types = optimizer_types();
  auto it = std::find_if(types.begin(), types.end(), [&](const auto& t) { return t.name == name; });
  return it == types.end() ? nullptr : &*it;
}

std::vector<std::string> optimizer_type_names() {
  std::vector<std::string> names;
  for (const auto& t : optimizer_types())
    names.push_back(t.name);
  return names;
}

const OptimizerType& default_optimizer_type() {
  return *find_optimizer_type(SgdOptimizerSpec::kType);
}

}  // namespace shardflow::pipeline
