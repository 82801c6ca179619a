#include "shardflow/ops/filter.hpp"

#include "shardflow/common/error.hpp"

namespace shardflow::ops {

table::Table filter(const table::Table& table, const Expression& predicate) {
  const table::DataType type = predicate.result_type(table.schema());
  if (type != table::DataType::kBool) {
    throw ConfigError(
        "filter expression '{}' gives {} values, not true/false; write a comparison "
        "such as \"amount > 0\"",
        predicate.text(), table::to_string(type));
  }
  const table::Column keep = predicate.evaluate(table);
  const auto& v = keep.values<std::uint8_t>();
  const auto& valid = keep.validity();
  std::vector<idx_t> rows;
  rows.reserve(v.size());
  for (size_t i = 0; i < v.size(); ++i)
    if (v[i] && (valid.empty() || valid[i])) rows.push_back(static_cast<idx_t>(i));
  if (rows.size() == v.size()) return table;
  return table.take(rows);
}

}  // namespace shardflow::ops
