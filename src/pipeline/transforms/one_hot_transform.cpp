// one_hot — a categorical feature (string, integer or bool column) as one 0/1 feature per
// category of the training data ("<column>=<category>", categories ascending); a category the
// training data did not have stops the run (unknown: error, the default) or encodes as all zeros
// (unknown: ignore). More than max_categories (default 1000) distinct values stop the fit.
//
//   transforms: [{one_hot: [city]}]
//   transforms: [{one_hot: {columns: [city], unknown: ignore, max_categories: 50}}]

#include "transform_parsing.hpp"

namespace shardflow::pipeline {

namespace {

std::shared_ptr<TransformSpec> parse(const ConfigNode& value, const std::string& path) {
  auto spec = std::make_shared<TransformSpec>();
  spec->settings.kind = ml::TransformKind::kOneHot;
  read_encoder_map(value, path, spec->settings);
  return spec;
}

}  // namespace

TransformType one_hot_transform_type() {
  return {"one_hot", "a categorical feature as one 0/1 feature per category of the training data",
          "{one_hot: [city]}", &parse};
}

}  // namespace shardflow::pipeline
