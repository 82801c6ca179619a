// The table of optimizers. Adding an optimizer: write src/pipeline/optimizers/<name>_optimizer.cpp
// with an `OptimizerType <name>_optimizer_type()` and add it to the two lists below
// (docs/architecture.md).

#include "shardflow/common/registry.hpp"
#include "shardflow/pipeline/train_components.hpp"

namespace shardflow::pipeline {

OptimizerType sgd_optimizer_type();
OptimizerType adam_optimizer_type();
OptimizerType adamw_optimizer_type();
OptimizerType lbfgs_optimizer_type();

const std::vector<OptimizerType>& optimizer_types() {
  static const std::vector<OptimizerType> types = {
      sgd_optimizer_type(),
      adam_optimizer_type(),
      adamw_optimizer_type(),
      lbfgs_optimizer_type(),
  };
  return types;
}

const OptimizerType* find_optimizer_type(std::string_view name) {
  return find_entry(optimizer_types(), name, &OptimizerType::name);
}

std::vector<std::string> optimizer_type_names() {
  return entry_names(optimizer_types(), &OptimizerType::name);
}

const OptimizerType& default_optimizer_type() {
  return *find_optimizer_type(SgdOptimizerSpec::kType);
}

}  // namespace shardflow::pipeline
