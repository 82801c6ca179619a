#pragma once
// Parsing shared by the transform entries (src/pipeline/transforms/<name>_transform.cpp).

#include <string>
#include <vector>

#include "shardflow/pipeline/train_components.hpp"

namespace shardflow::pipeline {

/// `columns:` of a transform: a column name or a list of them, at least one, no duplicates.
std::vector<std::string> read_columns(const ConfigNode& node, const std::string& path);

/// The value of a one_hot or index item: a list of columns (the short form) or a map with
/// `columns` and the optional `unknown: error|ignore` and `max_categories: 1..100000`.
void read_encoder_map(const ConfigNode& value, const std::string& path, ml::FeatureTransform& t);

}  // namespace shardflow::pipeline
