// The table of input formats. Adding a format: write src/pipeline/inputs/<format>_input.cpp with
// an `InputFormat <format>_input_format()` and add it to the two lists below.

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include "shardflow/common/error.hpp"
#include "shardflow/common/registry.hpp"
#include "shardflow/common/suggest.hpp"
#include "shardflow/io/file_fingerprint.hpp"
#include "shardflow/mpi/bcast.hpp"
#include "shardflow/pipeline/input_format.hpp"

namespace shardflow::pipeline {

InputFormat csv_input_format();
InputFormat hdf5_input_format();
InputFormat generate_input_format();
InputFormat partitioned_input_format();

const std::vector<InputFormat>& input_formats() {
  static const std::vector<InputFormat> formats = {
      csv_input_format(),
      hdf5_input_format(),
      generate_input_format(),
      partitioned_input_format(),
  };
  return formats;
}

const InputFormat* find_input_format(std::string_view format) {
  return find_entry(input_formats(), format, &InputFormat::format);
}

std::vector<std::string> input_format_names() {
  return entry_names(input_formats(), &InputFormat::format);
}

table::Schema parse_schema_map(const MapView& input, FieldLocations& fields) {
  const ConfigNode& schema = input.require("schema");
  const MapView columns(schema, input.path("schema"));
  if (schema.keys.empty()) {
    fail_at(schema.location, fmt::format("{} must name at least one column", columns.path()));
  }
  const std::vector<std::string> types = {"int32", "int64",  "float32",  "float64",
                                          "bool",  "string", "timestamp"};
  std::vector<table::Field> out;
  for (size_t i = 0; i < schema.keys.size(); ++i) {
    const std::string& column = schema.keys[i];
    const std::string type_name = to_string(schema.items[i], columns.path(column));
    const auto type = table::parse_data_type(type_name);
    if (!type) {
      fail_at(
          schema.items[i].location,
          fmt::format("unknown type '{}' for column '{}' in {}{} (types: {})", type_name, column,
                      columns.path(), did_you_mean(type_name, types), list_names(types)));
    }
    if (column.empty()) fail_at(schema.key_locations[i], "a column name must not be empty");
    out.push_back({column, *type});
    fields.values["schema." + column] = schema.key_locations[i];
  }
  return table::Schema(std::move(out));
}

FileIdentity read_file_identity(const MapView& map) {
  const ConfigNode* node = map.find("fingerprint");
  if (!node) return FileIdentity::kContent;
  return to_choice(*node, map.path("fingerprint"), {"content", "stat"}) == "stat"
             ? FileIdentity::kStat
             : FileIdentity::kContent;
}

std::string_view to_string(FileIdentity identity) {
  return identity == FileIdentity::kStat ? "stat" : "content";
}

std::string file_data_fingerprint(const mpi::Comm& comm, const std::vector<std::string>& paths,
                                  FileIdentity identity) {
  if (identity == FileIdentity::kContent) return io::content_fingerprint(comm, paths);
  // Rank 0 alone stats the files: ranks on other nodes may see another mtime for a while.
  std::string result;
  comm.agree([&] {
    if (comm.is_root()) result = io::stat_fingerprint(paths);
  });
  mpi::bcast_string(comm, result, 0);
  return result;
}

}  // namespace shardflow::pipeline
