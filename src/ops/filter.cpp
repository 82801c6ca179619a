#include "shardflow/ops/filter.hpp"

#include <utility>

#include "shardflow/common/error.hpp"

namespace shardflow::ops {

namespace {

// The rows where the predicate is true (and the others, when `rest` is given), in order.
void select_rows(const table::Table& table, const Expression& predicate, std::vector<idx_t>& kept,
                 std::vector<idx_t>* rest) {
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
  kept.reserve(v.size());
  for (size_t i = 0; i < v.size(); ++i) {
    const bool take = v[i] && (valid.empty() || valid[i]);
    if (take) {
      kept.push_back(static_cast<idx_t>(i));
    } else if (rest) {
      rest->push_back(static_cast<idx_t>(i));
    }
  }
}

// Gathers both parts column by column. `owned` is null or `table` itself, which is then consumed:
// each of its columns is freed once copied, and a part that takes every row is it, moved whole.
FilterSplit split_rows(const table::Table& table, const Expression& predicate, bool with_rest,
                       table::Table* owned) {
  std::vector<idx_t> kept;
  std::vector<idx_t> rest;
  select_rows(table, predicate, kept, with_rest ? &rest : nullptr);
  const auto n = static_cast<size_t>(table.num_rows());
  FilterSplit out;
  if (kept.size() == n || (with_rest && rest.size() == n)) {
    table::Table& all = kept.size() == n ? out.kept : out.rest;
    table::Table& none = kept.size() == n ? out.rest : out.kept;
    if (with_rest || &none == &out.kept) none = table.empty_like();
    all = owned ? std::move(*owned) : table;
    return out;
  }
  for (int i = 0; i < table.num_columns(); ++i) {
    const std::string& name = table.schema().field(i).name;
    out.kept.add_column(name, table.column(i).take(kept));
    if (with_rest) out.rest.add_column(name, table.column(i).take(rest));
    if (owned) owned->column(i) = table::Column();  // frees its buffers
  }
  return out;
}

}  // namespace

table::Table filter(const table::Table& table, const Expression& predicate) {
  return filter_split(table, predicate, false).kept;
}

FilterSplit filter_split(const table::Table& table, const Expression& predicate, bool with_rest) {
  return split_rows(table, predicate, with_rest, nullptr);
}

FilterSplit filter_split(table::Table&& table, const Expression& predicate, bool with_rest) {
  return split_rows(table, predicate, with_rest, &table);
}

}  // namespace shardflow::ops
