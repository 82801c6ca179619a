// index — a categorical feature as the index of its category among the training data's
// categories (ascending, from 0); an unknown category stops the run (unknown: error, the default)
// or encodes as -1 (unknown: ignore). More than max_categories (default 1000) stop the fit.
//
//   transforms: [{index: {columns: [weekday], unknown: ignore}}]

#include "transform_parsing.hpp"

namespace shardflow::pipeline {

namespace {

std::shared_ptr<TransformSpec> parse(const ConfigNode& value, const std::string& path) {
  auto spec = std::make_shared<TransformSpec>();
  spec->settings.kind = ml::TransformKind::kIndex;
  read_encoder_map(value, path, spec->settings);
  return spec;
}

}  // namespace

TransformType index_transform_type() {
  return {"index", "a categorical feature as the index of its category (unknown: -1 or an error)",
          "{index: [weekday]}", &parse};
}

}  // namespace shardflow::pipeline
