#include "shardflow/pipeline/table_shape.hpp"

#include <fmt/format.h>

#include "shardflow/common/suggest.hpp"
#include "shardflow/pipeline/config_node.hpp"

namespace shardflow::pipeline {

using table::DataType;

table::Schema TableShape::schema_with_unknown_as(DataType unknown_as) const {
  std::vector<table::Field> fields;
  fields.reserve(columns.size());
  for (const auto& c : columns)
    fields.push_back({c.name, c.type.value_or(unknown_as)});
  return table::Schema(std::move(fields));
}

table::Schema TableShape::schema() const {
  return schema_with_unknown_as(DataType::kString);
}

std::string TableShape::to_string() const {
  std::string out;
  for (size_t i = 0; i < columns.size(); ++i) {
    if (i) out += ", ";
    out += columns[i].name;
    out += ':';
    out += columns[i].type ? std::string(table::to_string(*columns[i].type)) : std::string("?");
  }
  return out;
}

const ColumnShape* TableShape::find(std::string_view column) const {
  for (const auto& c : columns) {
    if (c.name == column) return &c;
  }
  return nullptr;
}

std::vector<std::string> TableShape::column_names() const {
  std::vector<std::string> out;
  for (const auto& c : columns)
    out.push_back(c.name);
  return out;
}

std::string TableShape::unknown_column(std::string_view column) const {
  const auto names = column_names();
  return fmt::format("unknown column '{}' in table '{}'{} (columns: {})", column, name,
                     did_you_mean(column, names), list_names(names));
}

std::string TableShape::not_a_column(std::string_view role, std::string_view column) const {
  const auto names = column_names();
  return fmt::format("{} '{}' is not a column of table '{}'{} (columns: {})", role, column, name,
                     did_you_mean(column, names), list_names(names));
}

}  // namespace shardflow::pipeline
