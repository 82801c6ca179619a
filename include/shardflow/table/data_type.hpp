#pragma once
// Logical column types and their physical storage.

#include <cstdint>
#include <optional>
#include <string_view>

namespace shardflow::table {

enum class DataType : std::uint8_t {
  kInt32,
  kInt64,
  kFloat32,
  kFloat64,
  kBool,       // stored as uint8_t 0/1
  kString,     // dictionary codes (int32) or plain offsets+bytes, see Column
  kTimestamp,  // int64 microseconds since the Unix epoch, UTC
};

/// Lowercase name as used in job files and HDF5 attributes: "int64", "timestamp", ...
std::string_view to_string(DataType type);
/// Parses a type name (also accepts "double", "float", "int", "str"); nullopt if unknown.
std::optional<DataType> parse_data_type(std::string_view name);

constexpr bool is_numeric(DataType t) {
  return t == DataType::kInt32 || t == DataType::kInt64 || t == DataType::kFloat32 ||
         t == DataType::kFloat64 || t == DataType::kBool || t == DataType::kTimestamp;
}
constexpr bool is_integer_like(DataType t) {
  return t == DataType::kInt32 || t == DataType::kInt64 || t == DataType::kTimestamp ||
         t == DataType::kBool;
}
constexpr bool is_floating(DataType t) {
  return t == DataType::kFloat32 || t == DataType::kFloat64;
}

}  // namespace shardflow::table
