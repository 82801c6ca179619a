// format: partitioned — a Hive-style tree as partitioned outputs write it
// (io/partitioned_writer.hpp): <path>/<c1>=<v1>/.../<part files>, read back with the partition
// columns restored.
//
//   events: {format: partitioned, path: runs/x/outputs/events/, files: csv, schema: {year: int64}}
//
// `files`: csv | hdf5 (default hdf5), the format of the part files (every regular file in a leaf
// directory; names ending in .tmp.<pid> are skipped). `table`: the HDF5 group of each part file
// (default: the input's name). `schema`: types of partition columns (int32, int64, float32,
// float64, bool, string, timestamp); a partition column not listed is int64 when every non-null
// value parses as one, otherwise string. The result has each file's columns, then the partition
// columns in directory order; files are read in sorted path order, one after another
// (collectively), so rows come partition by partition. Every part file must have the same columns
// and types (for csv without a header schema: the reader's inference per file must agree).

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <filesystem>
#include <map>

#include "shardflow/common/error.hpp"
#include "shardflow/common/fingerprint.hpp"
#include "shardflow/common/suggest.hpp"
#include "shardflow/io/csv_reader.hpp"
#include "shardflow/io/csv_scanner.hpp"
#include "shardflow/io/hdf5_table.hpp"
#include "shardflow/io/partitioned_writer.hpp"
#include "shardflow/mpi/allreduce.hpp"
#include "shardflow/mpi/bcast.hpp"
#include "shardflow/ops/shuffle.hpp"
#include "shardflow/pipeline/input_format.hpp"
#include "shardflow/pipeline/job.hpp"
#include "shardflow/table/dictionary_encoding.hpp"

namespace shardflow::pipeline {

namespace {

namespace fs = std::filesystem;
using table::Column;
using table::DataType;

const std::vector<std::string> kKeys = {"format", "path",   "files",
                                        "table",  "schema", "fingerprint"};

// One part file: its path and the decoded partition values along it.
struct Part {
  std::string path;
  std::vector<std::optional<std::string>> values;
};

struct Listing {
  std::vector<std::string> columns;  // partition columns, in directory order
  std::vector<Part> parts;           // sorted by path
};

// Leftovers of interrupted writers (`<name>.tmp.<pid>`, `<name>.tmp`).
bool temp_like(const fs::path& p) {
  const std::string name = p.filename().string();
  return name.ends_with(".tmp") || name.find(".tmp.") != std::string::npos;
}

// Local: walks `root`. Throws InputError for a missing directory, a tree without part files, or
// leaves at different depths / with other column names.
Listing list_tree(const std::string& root, const std::string& where) {
  std::error_code ec;
  if (!fs::is_directory(root, ec)) {
    throw InputError("{}: partitioned input directory '{}' does not exist", where, root);
  }
  Listing out;
  std::vector<std::string> files;
  for (auto it = fs::recursive_directory_iterator(root, ec); !ec && it != fs::end(it);
       it.increment(ec)) {
    if (it->is_regular_file() && !temp_like(it->path())) files.push_back(it->path().string());
  }
  if (ec) throw InputError("{}: cannot list '{}': {}", where, root, ec.message());
  std::sort(files.begin(), files.end());
  if (files.empty()) {
    throw InputError("{}: partitioned input '{}' holds no part files", where, root);
  }
  bool first = true;
  for (const auto& file : files) {
    const fs::path rel = fs::path(file).lexically_relative(root).parent_path();
    Part part{file, {}};
    std::vector<std::string> columns;
    for (const auto& component : rel) {
      const auto parsed = io::parse_partition_component(component.string());
      if (!parsed) {
        throw InputError("{}: '{}' in partitioned input '{}' is not a <column>=<value> directory",
                         where, component.string(), root);
      }
      columns.push_back(parsed->column);
      part.values.push_back(parsed->value);
    }
    if (first) {
      out.columns = columns;
      first = false;
    } else if (columns != out.columns) {
      throw InputError(
          "{}: partitioned input '{}': '{}' is partitioned by [{}], but '{}' by [{}]; every part "
          "file must sit under the same partition columns",
          where, root, out.parts.front().path, fmt::join(out.columns, ", "), file,
          fmt::join(columns, ", "));
    }
    out.parts.push_back(std::move(part));
  }
  return out;
}

Column plain_copy(const Column& c) {
  Column out = Column::plain_strings();
  for (idx_t i = 0; i < c.size(); ++i)
    out.plain().push_back(c.is_valid(i) ? c.string_at(i) : std::string_view());
  if (c.has_nulls()) out.validity() = c.validity();
  return out;
}

// A column of `rows` copies of `value` (text, parsed as `type`), or nulls.
Column constant_column(DataType type, const std::optional<std::string>& value, idx_t rows,
                       const std::string& what) {
  Column out = type == DataType::kString ? Column::plain_strings() : Column(type);
  const bool valid = value.has_value();
  auto bad = [&] {
    return InputError("{}: value '{}' is not a valid {}", what, *value, table::to_string(type));
  };
  for (idx_t i = 0; i < rows; ++i) {
    switch (type) {
      case DataType::kInt32: {
        std::int64_t v = 0;
        if (valid && (!io::csv::parse_int64(*value, v) || v < INT32_MIN || v > INT32_MAX))
          throw bad();
        out.values<std::int32_t>().push_back(static_cast<std::int32_t>(v));
        break;
      }
      case DataType::kInt64:
      case DataType::kTimestamp: {
        std::int64_t v = 0;
        if (valid && !(type == DataType::kInt64 ? io::csv::parse_int64(*value, v)
                                                : io::csv::parse_timestamp(*value, v)))
          throw bad();
        out.values<std::int64_t>().push_back(v);
        break;
      }
      case DataType::kFloat32: {
        float v = 0;
        if (valid && !io::csv::parse_float32(*value, v)) throw bad();
        out.values<float>().push_back(v);
        break;
      }
      case DataType::kFloat64: {
        double v = 0;
        if (valid && !io::csv::parse_float64(*value, v)) throw bad();
        out.values<double>().push_back(v);
        break;
      }
      case DataType::kBool: {
        bool v = false;
        if (valid && !io::csv::parse_bool(*value, v)) throw bad();
        out.values<std::uint8_t>().push_back(v ? 1 : 0);
        break;
      }
      case DataType::kString:
        out.plain().push_back(valid ? std::string_view(*value) : std::string_view());
        break;
    }
  }
  if (!valid) out.validity().assign(static_cast<size_t>(rows), 0);
  return out;
}

class PartitionedInput final : public InputSpec {
 public:
  std::string path;
  std::string files = "hdf5";
  std::string table_name;
  std::optional<table::Schema> schema;
  FileIdentity identity = FileIdentity::kContent;

  void emit(YAML::Emitter& out) const override {
    out << YAML::BeginMap;
    out << YAML::Key << "format" << YAML::Value << format;
    out << YAML::Key << "path" << YAML::Value << path;
    out << YAML::Key << "files" << YAML::Value << files;
    out << YAML::Key << "table" << YAML::Value << table_name;
    if (schema) {
      out << YAML::Key << "schema" << YAML::Value << YAML::BeginMap;
      for (const auto& field : schema->fields())
        out << YAML::Key << field.name << YAML::Value << std::string(table::to_string(field.type));
      out << YAML::EndMap;
    }
    out << YAML::Key << "fingerprint" << YAML::Value << std::string(to_string(identity));
    out << YAML::EndMap;
  }

  std::string where() const { return fields.of("path", location).to_string(); }

  // The partition columns' types: from `schema`, else int64 if every value parses, else string.
  std::vector<DataType> partition_types(const Listing& listing) const {
    std::vector<DataType> types;
    for (size_t k = 0; k < listing.columns.size(); ++k) {
      const std::string& column = listing.columns[k];
      if (const auto index = schema ? schema->find(column) : std::nullopt) {
        types.push_back(schema->field(*index).type);
        continue;
      }
      bool all_int = true;
      for (const auto& part : listing.parts) {
        std::int64_t v = 0;
        if (part.values[k] && !io::csv::parse_int64(*part.values[k], v)) all_int = false;
      }
      types.push_back(all_int ? DataType::kInt64 : DataType::kString);
    }
    return types;
  }

  void check_schema(const Listing& listing) const {
    if (!schema) return;
    for (const auto& field : schema->fields()) {
      if (std::find(listing.columns.begin(), listing.columns.end(), field.name) ==
          listing.columns.end()) {
        throw ConfigError(
            "{}: input '{}': schema column '{}' is not a partition column of '{}'{} (partition "
            "columns: {}); schema: types the partition columns only",
            fields.of("schema." + field.name, fields.of("schema", location)).to_string(), name,
            field.name, path, did_you_mean(field.name, listing.columns),
            list_names(listing.columns));
      }
    }
  }

  TableShape bind() const override {
    const Listing listing = list_tree(path, where());
    check_schema(listing);
    TableShape t;
    const std::string& first = listing.parts.front().path;
    if (files == "csv") {
      io::CsvOptions o;
      o.paths = {first};
      for (const auto& column : io::read_csv_header(o))
        t.columns.push_back({column, std::nullopt});
    } else {
      for (const auto& info : io::list_tables(first)) {
        if (info.name != table_name) continue;
        for (const auto& field : info.schema.fields())
          t.columns.push_back({field.name, field.type});
      }
      if (t.columns.empty()) {
        throw InputError(
            "{}: input '{}': part file '{}' has no table '{}'; set table: to the "
            "group name the files use",
            where(), name, first, table_name);
      }
    }
    const auto types = partition_types(listing);
    for (size_t k = 0; k < listing.columns.size(); ++k) {
      if (t.find(listing.columns[k])) {
        throw InputError("{}: input '{}': partition column '{}' is also a column of '{}'", where(),
                         name, listing.columns[k], first);
      }
      // Inferred types depend on the data: unknown to validation unless written.
      const bool written = schema && schema->find(listing.columns[k]).has_value();
      t.columns.push_back({listing.columns[k], written ? std::optional(types[k]) : std::nullopt});
    }
    return t;
  }

  // Collective: rank 0's listing, on every rank.
  Listing agreed_listing(const mpi::Comm& comm) const {
    std::string joined;
    comm.agree([&] {
      if (!comm.is_root()) return;
      for (const auto& part : list_tree(path, where()).parts)
        joined += part.path + '\n';
    });
    mpi::bcast_string(comm, joined, 0);
    Listing listing;
    bool first = true;
    for (std::size_t start = 0; start < joined.size();) {
      const auto end = joined.find('\n', start);
      Part part{joined.substr(start, end - start), {}};
      start = end + 1;
      const fs::path rel = fs::path(part.path).lexically_relative(path).parent_path();
      for (const auto& component : rel) {
        const auto parsed = io::parse_partition_component(component.string());
        if (first) listing.columns.push_back(parsed->column);
        part.values.push_back(parsed->value);
      }
      first = false;
      listing.parts.push_back(std::move(part));
    }
    return listing;
  }

  std::string data_fingerprint(const InputContext& context) const override {
    const Listing listing = agreed_listing(context.comm);
    std::vector<std::string> paths;
    Fingerprint fp;
    for (const auto& part : listing.parts) {
      paths.push_back(part.path);
      fp.add(fs::path(part.path).lexically_relative(path).string());  // the values are names
    }
    fp.add(file_data_fingerprint(context.comm, paths, identity));
    return fp.hex();
  }

  table::Table load(const InputContext& context) const override {
    const mpi::Comm& comm = context.comm;
    const Listing listing = agreed_listing(comm);
    std::vector<DataType> types;
    comm.agree([&] {
      check_schema(listing);
      types = partition_types(listing);
    });
    table::Table result;
    std::vector<idx_t> positions;  // of this rank's rows in the global order
    idx_t done = 0;
    std::string first_schema;
    for (const Part& part : listing.parts) {
      table::Table piece;
      if (files == "csv") {
        io::CsvOptions o;
        o.paths = {part.path};
        o.input_name = name;
        o.max_dictionary_size = context.runtime.max_dictionary_size;
        piece = io::read_csv(comm, o);
      } else {
        piece = io::read_table(comm, part.path, table_name);
      }
      const std::string piece_schema = piece.schema().to_string();
      if (first_schema.empty()) {
        first_schema = piece_schema;
      } else if (piece_schema != first_schema) {
        throw InputError(
            "{}: input '{}': part file '{}' has columns ({}), but '{}' has ({}); every part file "
            "must have the same columns and types",
            where(), name, part.path, piece_schema, listing.parts.front().path, first_schema);
      }
      for (int k = 0; k < piece.num_columns(); ++k) {
        if (piece.column(k).type() == DataType::kString && piece.column(k).is_dictionary_encoded())
          piece.replace_column(k, plain_copy(piece.column(k)));
      }
      comm.agree([&] {
        for (size_t k = 0; k < listing.columns.size(); ++k) {
          piece.add_column(
              listing.columns[k],
              constant_column(types[k], part.values[k], piece.num_rows(),
                              fmt::format("{}: input '{}': partition directory of '{}'", where(),
                                          name, part.path)));
        }
      });
      // Global positions: this file's rows start at `done`; this rank's slice after the lower
      // ranks' slices of the same file.
      const idx_t before = mpi::exscan_sum(comm, piece.num_rows());
      for (idx_t i = 0; i < piece.num_rows(); ++i)
        positions.push_back(done + before + i);
      done += mpi::allreduce_sum(comm, piece.num_rows());
      if (result.num_columns() == 0) {
        result = std::move(piece);
      } else {
        result.append(piece);
      }
    }
    table::encode_all_strings(comm, result, context.runtime.max_dictionary_size);
    return in_file_order(comm, std::move(result), positions);
  }

  // Collective: each file was split over the ranks, so the concatenated pieces are not in global
  // order (files in order, rows in file order); move each row to the rank that owns its global
  // position in an even contiguous split, then sort locally by position.
  static table::Table in_file_order(const mpi::Comm& comm, table::Table t,
                                    const std::vector<idx_t>& positions) {
    if (comm.size() == 1) return t;
    const idx_t total = mpi::allreduce_sum(comm, t.num_rows());
    std::vector<int> destination(positions.size());
    const auto p = static_cast<unsigned __int128>(comm.size());
    for (size_t i = 0; i < positions.size(); ++i) {
      destination[i] = static_cast<int>(static_cast<unsigned __int128>(positions[i]) * p /
                                        static_cast<unsigned __int128>(total));
    }
    Column pos(DataType::kInt64);
    for (const idx_t v : positions)
      pos.values<std::int64_t>().push_back(v);
    const std::vector<std::string> names = t.schema().names();
    t.add_column("__position__", std::move(pos));
    table::Table moved = ops::shuffle_to(comm, t, destination);
    const auto& got = moved.column("__position__").values<std::int64_t>();
    std::vector<idx_t> order(static_cast<size_t>(moved.num_rows()));
    for (size_t i = 0; i < order.size(); ++i)
      order[i] = static_cast<idx_t>(i);
    std::sort(order.begin(), order.end(), [&](idx_t a, idx_t b) {
      return got[static_cast<size_t>(a)] < got[static_cast<size_t>(b)];
    });
    return moved.take(order).select(names);
  }
};

std::shared_ptr<InputSpec> parse(const std::string& name, const SourceLocation&,
                                 const MapView& map) {
  map.allow_only(kKeys, " (a partitioned input)");
  auto in = std::make_shared<PartitionedInput>();
  in->path = to_nonempty_string(map.require("path"), map.path("path"));
  if (const ConfigNode* f = map.find("files"))
    in->files = to_choice(*f, map.path("files"), {"csv", "hdf5"});
  in->table_name = name;
  if (const ConfigNode* t = map.find("table"))
    in->table_name = to_nonempty_string(*t, map.path("table"));
  if (map.find("schema")) in->schema = parse_schema_map(map, in->fields);
  in->identity = read_file_identity(map);
  return in;
}

}  // namespace

InputFormat partitioned_input_format() {
  return {"partitioned",
          "a Hive-style tree <path>/<column>=<value>/... of csv or hdf5 part files (what outputs "
          "with partition_by write), with the partition columns restored",
          kKeys, &parse};
}

}  // namespace shardflow::pipeline
