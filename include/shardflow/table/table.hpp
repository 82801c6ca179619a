#pragma once
// A table: a schema plus one Column per field, all of equal length. A distributed table is simply
// one Table per rank with identical schemas (and identical string dictionaries); which rows live on
// which rank is decided by the operator that produced it.

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "shardflow/table/column.hpp"
#include "shardflow/table/schema.hpp"

namespace shardflow::table {

class Table {
 public:
  Table() = default;

  const Schema& schema() const { return schema_; }
  int num_columns() const { return schema_.num_fields(); }
  idx_t num_rows() const { return columns_.empty() ? 0 : columns_.front().size(); }

  Column& column(int i) { return columns_[static_cast<size_t>(i)]; }
  const Column& column(int i) const { return columns_[static_cast<size_t>(i)]; }
  /// Column by name; throws ConfigError with a did-you-mean if absent.
  Column& column(std::string_view name) {
    return columns_[static_cast<size_t>(schema_.index_of(name))];
  }
  const Column& column(std::string_view name) const {
    return columns_[static_cast<size_t>(schema_.index_of(name))];
  }
  const std::vector<Column>& columns() const { return columns_; }

  /// Adds a column; its type becomes the field's type. Throws RuntimeError if the name is taken
  /// or the length differs from the existing columns.
  void add_column(std::string name, Column column);
  /// Replaces column i (same length required; the type may change).
  void replace_column(int i, Column column);
  /// Keeps only the named columns, in that order.
  Table select(const std::vector<std::string>& names) const;

  /// New table with rows `rows` in that order.
  Table take(std::span<const idx_t> rows) const;
  /// Appends all rows of `other` (same schema required).
  void append(const Table& other);
  /// An empty table with the same schema (and dictionaries).
  Table empty_like() const;
  idx_t byte_size() const;

 private:
  Schema schema_;
  std::vector<Column> columns_;
};

}  // namespace shardflow::table
