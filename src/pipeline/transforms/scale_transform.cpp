// scale: standard | minmax — numeric features standardized ((x - mean) / standard deviation) or
// mapped to [0, 1] ((x - min) / (max - min)), fitted across ranks on the training table only
// (ml/feature_pipeline.hpp); the fitted values are saved with the model.
//
//   transforms: [{scale: standard}]                                 # every numeric feature
//   transforms: [{scale: {method: minmax, columns: [age, income]}}]

#include "transform_parsing.hpp"

namespace shardflow::pipeline {

namespace {

std::shared_ptr<TransformSpec> parse(const ConfigNode& value, const std::string& path) {
  auto spec = std::make_shared<TransformSpec>();
  const auto method = [&](const ConfigNode& node, const std::string& at) {
    return to_choice(node, at, {"standard", "minmax"}) == "standard"
               ? ml::TransformKind::kStandardScale
               : ml::TransformKind::kMinMaxScale;
  };
  if (value.kind == ConfigNode::Kind::kScalar) {
    spec->settings.kind = method(value, path);
    return spec;
  }
  const MapView map(value, path);
  map.allow_only({"method", "columns"});
  spec->settings.kind = method(map.require("method"), map.path("method"));
  if (const ConfigNode* columns = map.find("columns"))
    spec->settings.columns = read_columns(*columns, map.path("columns"));
  return spec;
}

}  // namespace

TransformType scale_transform_type() {
  return {"scale",
          "standardize numeric features (standard) or map them to [0, 1] (minmax), fitted on the "
          "training data",
          "{scale: standard}", &parse};
}

}  // namespace shardflow::pipeline
