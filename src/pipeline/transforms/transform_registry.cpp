// The table of transforms. Adding a transform: write
// src/pipeline/transforms/<name>_transform.cpp with a `TransformType <name>_transform_type()` and
// add it to the two lists below (docs/architecture.md).

#include <algorithm>

#include "shardflow/pipeline/train_components.hpp"

namespace shardflow::pipeline {

TransformType standard_scale_transform_type();

const std::vector<TransformType>& transform_types() {
  static const std::vector<TransformType> types = {
      standard_scale_transform_type(),
  };
  return types;
}

const TransformType* find_transform_type(std::string_view name) {
  const auto& types = transform_types();
  auto it = std::find_if(types.begin(), types.end(), [&](const auto& t) { return t.name == name; });
  return it == types.end() ? nullptr : &*it;
}

std::vector<std::string> transform_type_names() {
  std::vector<std::string> names;
  for (const auto& t : transform_types())
    names.push_back(t.name);
  return names;
}

}  // namespace shardflow::pipeline
