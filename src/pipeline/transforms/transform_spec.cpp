// The canonical form of a transform item, written from its settings (train_components.hpp), and
// the parsing the entries share (src/pipeline/transforms/<name>_transform.cpp).

#include "transform_parsing.hpp"

#include <yaml-cpp/yaml.h>

namespace shardflow::pipeline {

void TransformSpec::emit(YAML::Emitter& out) const {
  const ml::FeatureTransform& t = settings;
  const auto columns = [&] {
    out << YAML::Key << "columns" << YAML::Value << YAML::Flow << YAML::BeginSeq;
    for (const auto& c : t.columns)
      out << c;
    out << YAML::EndSeq;
  };
  out << YAML::BeginMap << YAML::Key << name << YAML::Value;
  switch (t.kind) {
    case ml::TransformKind::kStandardScale:
    case ml::TransformKind::kMinMaxScale: {
      const char* method = t.kind == ml::TransformKind::kStandardScale ? "standard" : "minmax";
      if (t.columns.empty()) {
        out << method;
      } else {
        out << YAML::BeginMap << YAML::Key << "method" << YAML::Value << method;
        columns();
        out << YAML::EndMap;
      }
      break;
    }
    case ml::TransformKind::kImpute:
      if (t.columns.empty() && t.strategy != ml::ImputeStrategy::kConstant) {
        out << std::string(ml::to_string(t.strategy));
      } else {
        out << YAML::BeginMap << YAML::Key << "strategy" << YAML::Value
            << std::string(ml::to_string(t.strategy));
        if (!t.columns.empty()) columns();
        if (t.strategy == ml::ImputeStrategy::kConstant)
          out << YAML::Key << "value" << YAML::Value << YAML::DoubleQuoted << t.constant;
        out << YAML::EndMap;
      }
      break;
    case ml::TransformKind::kOneHot:
    case ml::TransformKind::kIndex:
      out << YAML::BeginMap;
      columns();
      out << YAML::Key << "unknown" << YAML::Value << std::string(ml::to_string(t.unknown))
          << YAML::Key << "max_categories" << YAML::Value << t.max_categories << YAML::EndMap;
      break;
    case ml::TransformKind::kHash:
      out << YAML::BeginMap;
      columns();
      out << YAML::Key << "buckets" << YAML::Value << t.buckets << YAML::EndMap;
      break;
  }
  out << YAML::EndMap;
}

std::vector<std::string> read_columns(const ConfigNode& node, const std::string& path) {
  return to_string_list(node, path, false);
}

void read_encoder_map(const ConfigNode& value, const std::string& path, ml::FeatureTransform& t) {
  if (value.kind == ConfigNode::Kind::kSequence || value.kind == ConfigNode::Kind::kScalar) {
    t.columns = read_columns(value, path);  // the short form: the columns only
    return;
  }
  const MapView map(value, path);
  map.allow_only({"columns", "unknown", "max_categories"});
  t.columns = read_columns(map.require("columns"), map.path("columns"));
  if (const ConfigNode* unknown = map.find("unknown")) {
    t.unknown = to_choice(*unknown, map.path("unknown"), {"error", "ignore"}) == "error"
                    ? ml::UnknownCategory::kError
                    : ml::UnknownCategory::kIgnore;
  }
  if (const ConfigNode* max = map.find("max_categories"))
    t.max_categories = static_cast<int>(to_int(*max, map.path("max_categories"), 1, 100000));
}

}  // namespace shardflow::pipeline
