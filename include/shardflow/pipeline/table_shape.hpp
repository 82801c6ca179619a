#pragma once
// What validation knows about a table before any data is read: its columns and, where known,
// their types. Steps and input formats compute these in their `bind` (what `validate` runs).

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "shardflow/table/data_type.hpp"
#include "shardflow/table/schema.hpp"

namespace shardflow::pipeline {

/// A column as far as validation can tell without reading data: `type` is nullopt for columns of a
/// CSV input without `schema:` (the reader infers their types from the data) and for aggregates
/// whose type follows such a column (sum, min, max).
struct ColumnShape {
  std::string name;
  std::optional<table::DataType> type;
  bool operator==(const ColumnShape&) const = default;
};

/// One table of the job: an input or a step's output, in the order the job produces them.
struct TableShape {
  std::string name;
  std::string produced_by;  // "input 'events' (csv)", "step 2 (group_by)"
  std::vector<ColumnShape> columns;
  /// The columns as a Schema, with every unknown type given as string.
  table::Schema schema() const;
  /// The columns as a Schema, with every unknown type given as `unknown_as`.
  table::Schema schema_with_unknown_as(table::DataType unknown_as) const;
  /// "a:int64, b:?" (unknown types as '?').
  std::string to_string() const;
  const ColumnShape* find(std::string_view column) const;
  std::vector<std::string> column_names() const;
  /// "unknown column 'x' in table 't'; did you mean 'y'? (columns: ...)"
  std::string unknown_column(std::string_view column) const;
  /// "<role> 'x' is not a column of table 't'; did you mean 'y'? (columns: ...)"
  std::string not_a_column(std::string_view role, std::string_view column) const;
};

}  // namespace shardflow::pipeline
