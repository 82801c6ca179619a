#include "shardflow/table/table.hpp"

#include "shardflow/common/error.hpp"

namespace shardflow::table {

void Table::add_column(std::string name, Column column) {
  if (!columns_.empty() && column.size() != num_rows()) {
    throw RuntimeError("column '{}' has {} rows but the table has {}", name, column.size(),
                       num_rows());
  }
  schema_.add(Field{std::move(name), column.type()});
  columns_.push_back(std::move(column));
}

void Table::replace_column(int i, Column column) {
  if (column.size() != num_rows()) {
    throw RuntimeError("replacement for column '{}' has {} rows but the table has {}",
                       schema_.field(i).name, column.size(), num_rows());
  }
  std::vector<Field> fields = schema_.fields();
  fields[static_cast<size_t>(i)].type = column.type();
  schema_ = Schema(std::move(fields));
  columns_[static_cast<size_t>(i)] = std::move(column);
}

Table Table::select(const std::vector<std::string>& names) const {
  Table out;
  for (const auto& name : names)
    out.add_column(name, column(name));
  return out;
}

Table Table::take(std::span<const idx_t> rows) const {
  Table out;
  for (int i = 0; i < num_columns(); ++i)
    out.add_column(schema_.field(i).name, column(i).take(rows));
  return out;
}

void Table::append(const Table& other) {
  if (!(other.schema_ == schema_)) {
    throw RuntimeError("cannot append a table with schema ({}) to one with schema ({})",
                       other.schema_.to_string(), schema_.to_string());
  }
  for (size_t i = 0; i < columns_.size(); ++i)
    columns_[i].append(other.columns_[i]);
}

Table Table::empty_like() const {
  std::vector<idx_t> none;
  return take(none);
}

idx_t Table::byte_size() const {
  idx_t bytes = 0;
  for (const auto& c : columns_)
    bytes += c.byte_size();
  return bytes;
}

}  // namespace shardflow::table
