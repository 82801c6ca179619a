#include "shardflow/table/data_type.hpp"

namespace shardflow::table {

std::string_view to_string(DataType type) {
  switch (type) {
    case DataType::kInt32:
      return "int32";
    case DataType::kInt64:
      return "int64";
    case DataType::kFloat32:
      return "float32";
    case DataType::kFloat64:
      return "float64";
    case DataType::kBool:
      return "bool";
    case DataType::kString:
      return "string";
    case DataType::kTimestamp:
      return "timestamp";
  }
  return "unknown";
}

std::optional<DataType> parse_data_type(std::string_view name) {
  if (name == "int32" || name == "int") return DataType::kInt32;
  if (name == "int64" || name == "long") return DataType::kInt64;
  if (name == "float32" || name == "float") return DataType::kFloat32;
  if (name == "float64" || name == "double") return DataType::kFloat64;
  if (name == "bool" || name == "boolean") return DataType::kBool;
  if (name == "string" || name == "str") return DataType::kString;
  if (name == "timestamp") return DataType::kTimestamp;
  return std::nullopt;
}

}  // namespace shardflow::table
