// format: hdf5 — a table written by shardflow (or any writer of the same layout, see
// io/hdf5_table.hpp), read collectively.
//
//   prev: {format: hdf5, path: runs/other/outputs/t.h5, table: t, fingerprint: content}

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <filesystem>

#include "shardflow/common/error.hpp"
#include "shardflow/common/suggest.hpp"
#include "shardflow/io/hdf5_table.hpp"
#include "shardflow/pipeline/input_format.hpp"

namespace shardflow::pipeline {

namespace {

const std::vector<std::string> kKeys = {"format", "path", "table", "fingerprint"};

class Hdf5Input final : public InputSpec {
 public:
  std::string path;
  std::string table_name;  // group in the file (defaults to the input name)
  FileIdentity identity = FileIdentity::kContent;

  void emit(YAML::Emitter& out) const override {
    out << YAML::BeginMap;
    out << YAML::Key << "format" << YAML::Value << format;
    out << YAML::Key << "path" << YAML::Value << path;
    out << YAML::Key << "table" << YAML::Value << table_name;
    out << YAML::Key << "fingerprint" << YAML::Value << std::string(to_string(identity));
    out << YAML::EndMap;
  }

  TableShape bind() const override {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(path, ec)) {
      throw InputError("{}: input '{}': HDF5 file '{}' does not exist",
                       fields.of("path", location).to_string(), name, path);
    }
    std::vector<io::Hdf5TableInfo> tables;
    try {
      tables = io::list_tables(path);
    } catch (const Error& e) {
      throw_error(e.kind(),
                  fmt::format("{}: input '{}': {}", location.to_string(), name, e.what()));
    }
    std::vector<std::string> names;
    for (const auto& info : tables) {
      if (info.name != table_name) {
        names.push_back(info.name);
        continue;
      }
      if (!info.problem.empty()) {
        throw InputError("{}: input '{}': group '{}' in '{}' cannot be read as a table: {}",
                         fields.of("table", location).to_string(), name, table_name, path,
                         info.problem);
      }
      if (!info.complete) {
        throw InputError(
            "{}: input '{}': table '{}' in '{}' is incomplete (its writer was "
            "interrupted); rerun the job that writes it",
            location.to_string(), name, table_name, path);
      }
      TableShape t;
      for (const auto& field : info.schema.fields())
        t.columns.push_back({field.name, field.type});
      return t;
    }
    throw InputError("{}: input '{}': '{}' has no table '{}'{} (tables: {})",
                     fields.of("table", location).to_string(), name, path, table_name,
                     did_you_mean(table_name, names),
                     names.empty() ? std::string("none") : list_names(names));
  }

  std::string data_fingerprint(const InputContext& context) const override {
    return file_data_fingerprint(context.comm, {path}, identity);
  }

  table::Table load(const InputContext& context) const override {
    return io::read_table(context.comm, path, table_name);
  }
};

std::shared_ptr<InputSpec> parse(const std::string& name, const SourceLocation&,
                                 const MapView& map) {
  map.allow_only(kKeys, " (an hdf5 input)");
  auto in = std::make_shared<Hdf5Input>();
  in->path = to_nonempty_string(map.require("path"), map.path("path"));
  in->table_name = name;
  if (const ConfigNode* t = map.find("table"))
    in->table_name = to_nonempty_string(*t, map.path("table"));
  in->identity = read_file_identity(map);
  return in;
}

}  // namespace

InputFormat hdf5_input_format() {
  return {"hdf5",
          "a table in an HDF5 file: shardflow's layout, or a group of equal-length 1-D datasets "
          "(h5py), read collectively",
          kKeys, &parse};
}

}  // namespace shardflow::pipeline
