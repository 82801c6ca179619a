// The table of transforms. Adding a transform: write
// src/pipeline/transforms/<name>_transform.cpp with a `TransformType <name>_transform_type()` and
// add it to the two lists below (docs/architecture.md).

#include "shardflow/common/registry.hpp"
#include "shardflow/pipeline/train_components.hpp"

namespace shardflow::pipeline {

TransformType impute_transform_type();
TransformType scale_transform_type();
TransformType one_hot_transform_type();
TransformType index_transform_type();
TransformType hash_transform_type();

const std::vector<TransformType>& transform_types() {
  static const std::vector<TransformType> types = {
      impute_transform_type(), scale_transform_type(), one_hot_transform_type(),
      index_transform_type(),  hash_transform_type(),
  };
  return types;
}

const TransformType* find_transform_type(std::string_view name) {
  return find_entry(transform_types(), name, &TransformType::name);
}

std::vector<std::string> transform_type_names() {
  return entry_names(transform_types(), &TransformType::name);
}

}  // namespace shardflow::pipeline
