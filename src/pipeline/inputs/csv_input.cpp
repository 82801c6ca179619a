// format: csv — one or more CSV files (globs allowed), read in parallel by byte ranges
// (io::read_csv).
//
//   events: {format: csv, path: "data/*.csv", schema: {id: int64, x: float64}, header: true,
//            delimiter: ",", bad_rows: fail, fingerprint: content, max_field_bytes: 1MiB}

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>

#include "shardflow/common/error.hpp"
#include "shardflow/common/suggest.hpp"
#include "shardflow/io/csv_reader.hpp"
#include "shardflow/io/file_glob.hpp"
#include "shardflow/mpi/bcast.hpp"
#include "shardflow/pipeline/input_format.hpp"
#include "shardflow/pipeline/job.hpp"

namespace shardflow::pipeline {

namespace {

const std::vector<std::string> kKeys = {"format",    "path",     "schema",      "header",
                                        "delimiter", "bad_rows", "fingerprint", "max_field_bytes"};

class CsvInput final : public InputSpec {
 public:
  std::vector<std::string> paths;       // files or globs, as written
  std::optional<table::Schema> schema;  // column order as written
  bool header = true;
  char delimiter = ',';
  io::BadRowPolicy bad_rows = io::BadRowPolicy::kFail;
  FileIdentity identity = FileIdentity::kContent;
  idx_t max_field_bytes = static_cast<idx_t>(io::csv::kDefaultMaxFieldBytes);

  void emit(YAML::Emitter& out) const override {
    out << YAML::BeginMap;
    out << YAML::Key << "format" << YAML::Value << format;
    out << YAML::Key << "path" << YAML::Value << YAML::Flow << paths;
    if (schema) {
      out << YAML::Key << "schema" << YAML::Value << YAML::BeginMap;
      for (const auto& field : schema->fields())
        out << YAML::Key << field.name << YAML::Value << std::string(table::to_string(field.type));
      out << YAML::EndMap;
    }
    out << YAML::Key << "header" << YAML::Value << header;
    out << YAML::Key << "delimiter" << YAML::Value << YAML::DoubleQuoted
        << std::string(1, delimiter);
    out << YAML::Key << "bad_rows" << YAML::Value << std::string(io::to_string(bad_rows));
    out << YAML::Key << "fingerprint" << YAML::Value << std::string(to_string(identity));
    // Only when set, so that the canonical form (and stage fingerprints) of existing jobs stay.
    if (max_field_bytes != static_cast<idx_t>(io::csv::kDefaultMaxFieldBytes))
      out << YAML::Key << "max_field_bytes" << YAML::Value << max_field_bytes;
    out << YAML::EndMap;
  }

  io::CsvOptions options(const RuntimeSpec& runtime) const {
    io::CsvOptions o;
    o.paths = paths;
    o.schema = schema;
    o.header = header;
    o.delimiter = delimiter;
    o.bad_rows = bad_rows;
    o.max_field_bytes = max_field_bytes;
    o.input_name = name;
    o.max_dictionary_size = runtime.max_dictionary_size;
    return o;
  }

  TableShape bind() const override {
    TableShape t;
    io::CsvOptions o = options(RuntimeSpec{});
    std::vector<std::string> header_names;
    try {
      o.paths = io::expand_paths(paths);
      if (header) header_names = io::read_csv_header(o);
    } catch (const Error& e) {
      throw_error(e.kind(),
                  fmt::format("{}: input '{}': {}", location.to_string(), name, e.what()));
    }
    if (schema) {
      // The reader matches schema columns to header columns by name and returns the schema's
      // order.
      for (const auto& field : schema->fields()) {
        if (header &&
            std::find(header_names.begin(), header_names.end(), field.name) == header_names.end()) {
          throw InputError(
              "{}: input '{}': schema column '{}' is not in the header of '{}'{} (header: {})",
              fields.of("schema." + field.name, fields.of("schema", location)).to_string(), name,
              field.name, o.paths.front(), did_you_mean(field.name, header_names),
              list_names(header_names));
        }
        t.columns.push_back({field.name, field.type});
      }
    } else {
      for (const auto& column : header_names)
        t.columns.push_back({column, std::nullopt});
    }
    return t;
  }

  std::string data_fingerprint(const InputContext& context) const override {
    // Rank 0 expands the globs so every rank hashes the same list, even on a file system where
    // ranks see directory changes at different times.
    std::string joined;
    context.comm.agree([&] {
      if (!context.comm.is_root()) return;
      try {
        for (const auto& p : io::expand_paths(paths))
          joined += p + '\n';
      } catch (const Error& e) {
        throw_error(e.kind(),
                    fmt::format("{}: input '{}': {}", location.to_string(), name, e.what()));
      }
    });
    mpi::bcast_string(context.comm, joined, 0);
    std::vector<std::string> files;
    for (std::size_t start = 0; start < joined.size();) {
      const auto end = joined.find('\n', start);
      files.push_back(joined.substr(start, end - start));
      start = end + 1;
    }
    return file_data_fingerprint(context.comm, files, identity);
  }

  table::Table load(const InputContext& context) const override {
    io::CsvOptions o = options(context.runtime);
    o.quarantine_path = (context.workdir / "rejects" / (name + ".csv")).string();
    // The reader logs skipped or quarantined rows itself (rank 0, with the first examples).
    io::CsvReadStats stats;
    table::Table table = io::read_csv(context.comm, o, &stats);
    if (context.rejected_rows != nullptr) *context.rejected_rows = stats.bad_rows;
    return table;
  }
};

std::shared_ptr<InputSpec> parse(const std::string& name, const SourceLocation&,
                                 const MapView& map) {
  map.allow_only(kKeys, " (a csv input)");
  auto in = std::make_shared<CsvInput>();
  in->paths = to_string_list(map.require("path"), map.path("path"), false);
  if (map.find("schema")) in->schema = parse_schema_map(map, in->fields);
  if (const ConfigNode* header = map.find("header"))
    in->header = to_bool(*header, map.path("header"));
  if (const ConfigNode* delimiter = map.find("delimiter")) {
    const std::string d = to_string(*delimiter, map.path("delimiter"));
    if (d.size() != 1 || d[0] == '\n' || d[0] == '\r' || d[0] == '"') {
      fail_at(delimiter->location,
              fmt::format("{} must be a single character other than a quote or a line break "
                          "(e.g. \",\", \";\", \"\\t\"), got '{}'",
                          map.path("delimiter"), d));
    }
    in->delimiter = d[0];
  }
  if (const ConfigNode* bad_rows = map.find("bad_rows")) {
    const std::string policy =
        to_choice(*bad_rows, map.path("bad_rows"), {"fail", "skip", "quarantine"});
    const auto parsed = io::parse_bad_row_policy(policy);
    if (!parsed) {
      fail_at(bad_rows->location, fmt::format("{} '{}' is not understood by the CSV reader",
                                              map.path("bad_rows"), policy));
    }
    in->bad_rows = *parsed;
  }
  if (const ConfigNode* limit = map.find("max_field_bytes")) {
    in->max_field_bytes = to_bytes(*limit, map.path("max_field_bytes"));
    if (in->max_field_bytes < 1 || in->max_field_bytes > (idx_t{1} << 40)) {
      fail_at(limit->location,
              fmt::format("{} must be between 1 byte and 1TiB", map.path("max_field_bytes")));
    }
  }
  in->identity = read_file_identity(map);
  if (!in->header && !in->schema) {
    fail_at(map.location(),
            fmt::format("{} has header: false and no schema, so its columns have no names; add "
                        "schema: {{column: type, ...}}",
                        map.path()));
  }
  (void)name;
  return in;
}

}  // namespace

InputFormat csv_input_format() {
  return {"csv", "CSV files (globs allowed), read in parallel by byte ranges", kKeys, &parse};
}

}  // namespace shardflow::pipeline
