#pragma once
// Column names and types of a table.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "shardflow/table/data_type.hpp"

namespace shardflow::table {

struct Field {
  std::string name;
  DataType type;
  bool operator==(const Field&) const = default;
};

class Schema {
 public:
  Schema() = default;
  explicit Schema(std::vector<Field> fields);

  int num_fields() const { return static_cast<int>(fields_.size()); }
  const Field& field(int i) const { return fields_[static_cast<size_t>(i)]; }
  const std::vector<Field>& fields() const { return fields_; }
  /// Index of the column called `name`, or nullopt.
  std::optional<int> find(std::string_view name) const;
  /// Index of `name`; throws ConfigError "unknown column 'x' in <context>; did you mean 'y'?
  /// (columns: a, b, c)" if absent.
  int index_of(std::string_view name, std::string_view context = "table") const;
  std::vector<std::string> names() const;
  /// Appends a field; throws RuntimeError if the name is taken.
  void add(Field field);
  /// "a:int64, b:string".
  std::string to_string() const;
  bool operator==(const Schema&) const = default;

 private:
  std::vector<Field> fields_;
};

}  // namespace shardflow::table
