// impute — fills missing values (numeric features: null or NaN; categorical: null) with a value
// fitted on the training table across ranks: the mean (an exact sum), the median (an exact
// distributed selection), the most frequent value (ties: the smallest), or a constant.
//
//   transforms: [{impute: median}]                                  # every numeric feature
//   transforms: [{impute: {strategy: most_frequent, columns: [city]}}]
//   transforms: [{impute: {strategy: constant, columns: [city], value: unknown}}]

#include "transform_parsing.hpp"

namespace shardflow::pipeline {

namespace {

ml::ImputeStrategy strategy_of(const ConfigNode& node, const std::string& path) {
  const std::string s = to_choice(node, path, {"mean", "median", "most_frequent", "constant"});
  if (s == "mean") return ml::ImputeStrategy::kMean;
  if (s == "median") return ml::ImputeStrategy::kMedian;
  if (s == "most_frequent") return ml::ImputeStrategy::kMostFrequent;
  return ml::ImputeStrategy::kConstant;
}

std::shared_ptr<TransformSpec> parse(const ConfigNode& value, const std::string& path) {
  auto spec = std::make_shared<TransformSpec>();
  ml::FeatureTransform& t = spec->settings;
  t.kind = ml::TransformKind::kImpute;
  if (value.kind == ConfigNode::Kind::kScalar) {
    t.strategy = strategy_of(value, path);
    if (t.strategy == ml::ImputeStrategy::kConstant) {
      fail_at(value.location, fmt::format("{}: strategy constant needs a value: write {{impute: "
                                          "{{strategy: constant, value: 0}}}}",
                                          path));
    }
    return spec;
  }
  const MapView map(value, path);
  map.allow_only({"strategy", "columns", "value"});
  t.strategy = strategy_of(map.require("strategy"), map.path("strategy"));
  if (const ConfigNode* columns = map.find("columns"))
    t.columns = read_columns(*columns, map.path("columns"));
  const ConfigNode* fill = map.find("value");
  if (t.strategy == ml::ImputeStrategy::kConstant) {
    if (!fill) {
      fail_at(map.location(),
              fmt::format("{}: strategy constant needs a value (value: 0, or a category)", path));
    }
    t.constant = to_string(*fill, map.path("value"));
  } else if (fill) {
    fail_at(fill->location, fmt::format("{}: value is only for strategy constant (the strategy "
                                        "is {}); remove it",
                                        map.path("value"), ml::to_string(t.strategy)));
  }
  return spec;
}

}  // namespace

TransformType impute_transform_type() {
  return {"impute",
          "fill missing values with the training data's mean, median, most frequent value or a "
          "constant",
          "{impute: median}", &parse};
}

}  // namespace shardflow::pipeline
