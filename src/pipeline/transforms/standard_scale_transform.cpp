// scale: standard — every feature standardized to mean 0 and (population) standard deviation 1,
// fitted across ranks on the training table only (ml/standard_scaler.hpp); the fitted means and
// scales are saved in the checkpoint and applied to the evaluation table too.
//
//   transforms: [{scale: standard}]

#include <yaml-cpp/yaml.h>

#include "shardflow/pipeline/train_components.hpp"

namespace shardflow::pipeline {

namespace {

std::shared_ptr<TransformSpec> parse(const ConfigNode& value, const std::string& path) {
  to_choice(value, path, {"standard"});
  return std::make_shared<StandardScaleTransformSpec>();
}

}  // namespace

void StandardScaleTransformSpec::emit(YAML::Emitter& out) const {
  out << YAML::BeginMap << YAML::Key << std::string(kName) << YAML::Value << "standard"
      << YAML::EndMap;
}

TransformType standard_scale_transform_type() {
  return {std::string(StandardScaleTransformSpec::kName),
          "standardize every feature (mean 0, standard deviation 1), fitted on the training data",
          "{scale: standard}", &parse};
}

}  // namespace shardflow::pipeline
