#include "shardflow/pipeline/job_loader.hpp"

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <set>
#include <sstream>

#include "shardflow/common/error.hpp"
#include "shardflow/common/suggest.hpp"
#include "shardflow/io/synthetic_schema.hpp"

namespace shardflow::pipeline {

namespace {

// ============================================================================================
// Config tree
// ============================================================================================
// yaml-cpp nodes carry a line and column but not the file they came from, and the merged config
// mixes nodes from several files and --set flags. So the YAML is first copied into this small tree
// where every value and every map key carries its full SourceLocation; merging, overrides and the
// typed conversion all work on it.

struct Node {
  enum class Kind { kNull, kScalar, kSequence, kMap };
  Kind kind = Kind::kNull;
  std::string scalar;
  std::vector<Node> items;                    // sequence items, or map values
  std::vector<std::string> keys;              // map keys (parallel to items)
  std::vector<SourceLocation> key_locations;  // map keys' locations
  SourceLocation location;

  bool is_map() const { return kind == Kind::kMap; }
  const Node* find(std::string_view key) const {
    for (size_t i = 0; i < keys.size(); ++i) {
      if (keys[i] == key) return &items[i];
    }
    return nullptr;
  }
  Node* find(std::string_view key) {
    return const_cast<Node*>(static_cast<const Node*>(this)->find(key));
  }
};

[[noreturn]] void fail_at(const SourceLocation& location, const std::string& message) {
  throw ConfigError("{}: {}", location.to_string(), message);
}

std::string join_path(std::string_view path, std::string_view key) {
  if (path.empty()) return std::string(key);
  return fmt::format("{}.{}", path, key);
}

std::string in_path(std::string_view path) {
  return path.empty() ? std::string("at the top level") : fmt::format("in {}", path);
}

// How a value is shown after "got ...".
std::string describe(const Node& node) {
  switch (node.kind) {
    case Node::Kind::kNull:
      return "nothing (an empty value)";
    case Node::Kind::kScalar:
      return fmt::format("'{}'", node.scalar);
    case Node::Kind::kSequence:
      return "a list";
    case Node::Kind::kMap:
      return "a map";
  }
  return "?";
}

SourceLocation location_of(const YAML::Mark& mark, const std::string& file) {
  // yaml-cpp marks are 0-based, and -1 for nodes created in code.
  if (mark.line < 0) return SourceLocation{file, 0, 0};
  return SourceLocation{file, mark.line + 1, mark.column + 1};
}

Node from_yaml(const YAML::Node& y, const std::string& file, const std::string& path) {
  Node node;
  node.location = location_of(y.Mark(), file);
  switch (y.Type()) {
    case YAML::NodeType::Undefined:
    case YAML::NodeType::Null:
      node.kind = Node::Kind::kNull;
      break;
    case YAML::NodeType::Scalar:
      node.kind = Node::Kind::kScalar;
      node.scalar = y.Scalar();
      break;
    case YAML::NodeType::Sequence: {
      node.kind = Node::Kind::kSequence;
      std::size_t i = 0;
      for (const auto& item : y) {
        node.items.push_back(from_yaml(item, file, join_path(path, std::to_string(i))));
        ++i;
      }
      break;
    }
    case YAML::NodeType::Map:
      node.kind = Node::Kind::kMap;
      for (const auto& entry : y) {
        const SourceLocation key_location = location_of(entry.first.Mark(), file);
        if (!entry.first.IsScalar()) {
          fail_at(key_location, fmt::format("map keys must be plain names {}, got a {}",
                                            in_path(path), entry.first.IsMap() ? "map" : "list"));
        }
        const std::string key = entry.first.Scalar();
        for (size_t k = 0; k < node.keys.size(); ++k) {
          if (node.keys[k] == key) {
            fail_at(key_location,
                    fmt::format("duplicate key '{}' {} (first written at {}); remove one of them",
                                key, in_path(path), node.key_locations[k].to_string()));
          }
        }
        node.keys.push_back(key);
        node.key_locations.push_back(key_location);
        node.items.push_back(from_yaml(entry.second, file, join_path(path, key)));
        // yaml-cpp places an empty value ("key:") at the next token, possibly lines later.
        if (node.items.back().kind == Node::Kind::kNull) node.items.back().location = key_location;
      }
      break;
  }
  return node;
}

// Reads and parses a YAML file; `what` is "job file" or "profile".
Node parse_yaml_text(const std::string& text, const std::string& source_name) {
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    const SourceLocation at = location_of(e.mark, source_name);
    throw ConfigError("{}: YAML syntax error: {}", at.line > 0 ? at.to_string() : source_name,
                      e.msg);
  }
  Node node = from_yaml(root, source_name, "");
  if (node.kind == Node::Kind::kNull) {
    node.kind = Node::Kind::kMap;  // an empty file is an empty map (and then misses 'name')
    node.location = SourceLocation{source_name, 1, 1};
  }
  return node;
}

Node parse_yaml_file(const std::string& path, std::string_view what) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    throw ConfigError("cannot read {} '{}': {}", what, path, std::strerror(EISDIR));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ConfigError("cannot read {} '{}': {}", what, path, std::strerror(errno));
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) throw ConfigError("cannot read {} '{}': {}", what, path, std::strerror(errno));
  return parse_yaml_text(text.str(), path);
}

// Layers `over` onto `base`: maps merge key by key (recursively), anything else replaces.
void merge_into(Node& base, const Node& over) {
  if (!base.is_map() || !over.is_map()) {
    base = over;
    return;
  }
  base.location = over.location;
  for (size_t i = 0; i < over.keys.size(); ++i) {
    if (Node* existing = base.find(over.keys[i])) {
      merge_into(*existing, over.items[i]);
      for (size_t k = 0; k < base.keys.size(); ++k) {
        if (base.keys[k] == over.keys[i]) base.key_locations[k] = over.key_locations[i];
      }
    } else {
      base.keys.push_back(over.keys[i]);
      base.key_locations.push_back(over.key_locations[i]);
      base.items.push_back(over.items[i]);
    }
  }
}

void relocate(Node& node, const SourceLocation& location) {
  node.location = location;
  for (auto& l : node.key_locations)
    l = location;
  for (auto& item : node.items)
    relocate(item, location);
}

std::optional<std::size_t> parse_index(std::string_view text) {
  std::size_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

// Applies one "--set a.b.c=value".
void apply_override(Node& root, const std::string& text) {
  const auto eq = text.find('=');
  if (eq == std::string::npos || eq == 0) {
    throw ConfigError("--set '{}': expected KEY=VALUE, e.g. --set train.optimizer.lr=0.05", text);
  }
  const std::string key_path = text.substr(0, eq);
  const std::string value_text = text.substr(eq + 1);
  std::vector<std::string> segments;
  for (std::size_t start = 0;;) {
    const auto dot = key_path.find('.', start);
    segments.push_back(key_path.substr(start, dot == std::string::npos ? dot : dot - start));
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  if (std::any_of(segments.begin(), segments.end(), [](const auto& s) { return s.empty(); })) {
    throw ConfigError("--set '{}': the key '{}' has an empty part; write it like a.b.c", text,
                      key_path);
  }
  const SourceLocation here{"--set " + key_path, 0, 0};

  Node value;
  try {
    value = from_yaml(YAML::Load(value_text), here.file, key_path);
  } catch (const YAML::Exception& e) {
    throw ConfigError("--set '{}': the value is not valid YAML: {}", text, e.msg);
  }
  relocate(value, here);

  Node* current = &root;
  std::string walked;
  for (size_t s = 0; s < segments.size(); ++s) {
    const std::string& segment = segments[s];
    const bool last = s + 1 == segments.size();
    if (current->kind == Node::Kind::kNull) {
      current->kind = Node::Kind::kMap;
      current->location = here;
    }
    if (current->kind == Node::Kind::kSequence) {
      const auto index = parse_index(segment);
      if (!index) {
        throw ConfigError(
            "--set '{}': {} is a list, so the next key part must be an index "
            "(0, 1, ...), got '{}'",
            text, walked, segment);
      }
      const std::size_t size = current->items.size();
      if (*index > size || (*index == size && !last)) {
        throw ConfigError("--set '{}': index {} is out of range: {} has {} item{}", text, *index,
                          walked, size, size == 1 ? "" : "s");
      }
      if (*index == size) {
        current->items.push_back(value);
        return;
      }
      if (last) {
        current->items[*index] = value;
        return;
      }
      current = &current->items[*index];
    } else if (current->kind == Node::Kind::kMap) {
      Node* next = current->find(segment);
      if (!next) {
        current->keys.push_back(segment);
        current->key_locations.push_back(here);
        Node fresh;
        fresh.location = here;
        current->items.push_back(fresh);
        next = &current->items.back();
      }
      if (last) {
        *next = value;
        for (size_t k = 0; k < current->keys.size(); ++k) {
          if (current->keys[k] == segment) current->key_locations[k] = here;
        }
        return;
      }
      current = next;
    } else {
      throw ConfigError("--set '{}': {} is the value {}, not a map or list, so it has no key '{}'",
                        text, walked, describe(*current), segment);
    }
    walked = join_path(walked, segment);
  }
}

// ============================================================================================
// Typed conversion
// ============================================================================================

bool is_identifier(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
  });
}

std::string list_names(const std::vector<std::string>& names) {
  return fmt::format("{}", fmt::join(names, ", "));
}

// A map being converted, with its key path for messages.
class MapView {
 public:
  MapView(const Node& node, std::string path) : node_(node), path_(std::move(path)) {
    if (!node.is_map()) {
      fail_at(node.location, fmt::format("{} must be a map (key: value, ...), got {}",
                                         path_.empty() ? "the job" : path_, describe(node)));
    }
  }

  /// Rejects keys outside `allowed`, naming the closest valid key (or listing all).
  void allow_only(const std::vector<std::string>& allowed, std::string_view what = "") const {
    for (size_t i = 0; i < node_.keys.size(); ++i) {
      const std::string& key = node_.keys[i];
      if (std::find(allowed.begin(), allowed.end(), key) != allowed.end()) continue;
      std::string hint = did_you_mean(key, allowed);
      if (hint.empty()) hint = fmt::format(" (valid keys: {})", list_names(allowed));
      fail_at(node_.key_locations[i],
              fmt::format("unknown key '{}' {}{}{}", key, in_path(path_), what, hint));
    }
  }

  const Node* find(std::string_view key) const {
    const Node* n = node_.find(key);
    // An explicitly empty value ("key:" or "key: ~") means "use the default".
    return n && n->kind != Node::Kind::kNull ? n : nullptr;
  }
  const Node& require(std::string_view key) const {
    if (const Node* n = find(key)) return *n;
    if (const Node* n = node_.find(key)) {
      fail_at(n->location, fmt::format("{} is empty; it is required", path(key)));
    }
    fail_at(node_.location, fmt::format("missing required key '{}' {}", key, in_path(path_)));
  }
  std::string path(std::string_view key) const { return join_path(path_, key); }
  const std::string& path() const { return path_; }
  const SourceLocation& location() const { return node_.location; }
  const Node& node() const { return node_; }

  /// Records the location of every value written in this map.
  FieldLocations field_locations() const {
    FieldLocations fields;
    for (size_t i = 0; i < node_.keys.size(); ++i)
      fields.values[node_.keys[i]] = node_.items[i].location;
    return fields;
  }

 private:
  const Node& node_;
  std::string path_;
};

std::string to_string(const Node& node, const std::string& path) {
  if (node.kind != Node::Kind::kScalar) {
    fail_at(node.location, fmt::format("{} must be a string, got {}", path, describe(node)));
  }
  return node.scalar;
}

std::string to_nonempty_string(const Node& node, const std::string& path) {
  std::string s = to_string(node, path);
  if (s.empty()) fail_at(node.location, fmt::format("{} must not be empty", path));
  return s;
}

std::string to_identifier(const Node& node, const std::string& path, std::string_view what) {
  std::string s = to_string(node, path);
  if (!is_identifier(s)) {
    fail_at(node.location,
            fmt::format("{} '{}' may only contain letters, digits, '_' and '-' (it names files "
                        "and HDF5 groups)",
                        what, s));
  }
  return s;
}

std::string to_choice(const Node& node, const std::string& path,
                      const std::vector<std::string>& choices) {
  std::string s = to_string(node, path);
  if (std::find(choices.begin(), choices.end(), s) == choices.end()) {
    fail_at(node.location, fmt::format("{} must be one of {}, got '{}'{}", path,
                                       list_names(choices), s, did_you_mean(s, choices)));
  }
  return s;
}

std::int64_t to_int(const Node& node, const std::string& path, std::int64_t min,
                    std::int64_t max = std::numeric_limits<std::int64_t>::max()) {
  if (node.kind != Node::Kind::kScalar) {
    fail_at(node.location, fmt::format("{} must be an integer, got {}", path, describe(node)));
  }
  std::string_view text = node.scalar;
  if (!text.empty() && text[0] == '+') text.remove_prefix(1);
  std::int64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec == std::errc::result_out_of_range) {
    fail_at(node.location, fmt::format("{} is out of range, got '{}'", path, node.scalar));
  }
  if (ec != std::errc() || end != text.data() + text.size() || text.empty()) {
    fail_at(node.location, fmt::format("{} must be an integer, got '{}'", path, node.scalar));
  }
  if (value < min) {
    fail_at(node.location, fmt::format("{} must be >= {}, got {}", path, min, value));
  }
  if (value > max) {
    fail_at(node.location, fmt::format("{} must be <= {}, got {}", path, max, value));
  }
  return value;
}

double to_double(const Node& node, const std::string& path) {
  if (node.kind != Node::Kind::kScalar) {
    fail_at(node.location, fmt::format("{} must be a number, got {}", path, describe(node)));
  }
  std::string_view text = node.scalar;
  if (!text.empty() && text[0] == '+') text.remove_prefix(1);
  double value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty() ||
      !std::isfinite(value)) {
    fail_at(node.location, fmt::format("{} must be a number, got '{}'", path, node.scalar));
  }
  return value;
}

bool to_bool(const Node& node, const std::string& path) {
  if (node.kind == Node::Kind::kScalar) {
    std::string lower = node.scalar;
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (lower == "true" || lower == "yes" || lower == "on") return true;
    if (lower == "false" || lower == "no" || lower == "off") return false;
  }
  fail_at(node.location, fmt::format("{} must be true or false, got {}", path, describe(node)));
}

// A byte count: an integer, or a number with a binary unit ("16MiB", "1.5 GiB").
idx_t to_bytes(const Node& node, const std::string& path) {
  if (node.kind == Node::Kind::kScalar) {
    static const std::vector<std::pair<std::string, double>> units = {{"TiB", 1099511627776.0},
                                                                      {"GiB", 1073741824.0},
                                                                      {"MiB", 1048576.0},
                                                                      {"KiB", 1024.0},
                                                                      {"B", 1.0}};
    std::string_view text = node.scalar;
    for (const auto& [suffix, scale] : units) {
      if (text.size() > suffix.size() && text.ends_with(suffix)) {
        std::string_view number = text.substr(0, text.size() - suffix.size());
        while (!number.empty() && number.back() == ' ')
          number.remove_suffix(1);
        double value = 0;
        auto [end, ec] = std::from_chars(number.data(), number.data() + number.size(), value);
        if (ec == std::errc() && end == number.data() + number.size() && !number.empty() &&
            std::isfinite(value) && value >= 1 && value * scale < 9.0e18) {
          return static_cast<idx_t>(value * scale);
        }
        break;
      }
    }
    if (!text.empty() && (text.back() < '0' || text.back() > '9')) {
      fail_at(node.location,
              fmt::format("{} must be a byte count such as 67108864 or 64MiB (units: B, KiB, MiB, "
                          "GiB, TiB), got '{}'",
                          path, node.scalar));
    }
  }
  return to_int(node, path, 1);
}

// A string or a list of strings.
std::vector<std::string> to_string_list(const Node& node, const std::string& path,
                                        bool allow_empty) {
  std::vector<std::string> out;
  if (node.kind == Node::Kind::kScalar) {
    out.push_back(to_nonempty_string(node, path));
  } else if (node.kind == Node::Kind::kSequence) {
    for (size_t i = 0; i < node.items.size(); ++i) {
      out.push_back(to_nonempty_string(node.items[i], join_path(path, std::to_string(i))));
    }
  } else {
    fail_at(node.location,
            fmt::format("{} must be a name or a list of names, got {}", path, describe(node)));
  }
  if (out.empty() && !allow_empty) {
    fail_at(node.location, fmt::format("{} must list at least one name", path));
  }
  for (size_t i = 0; i < out.size(); ++i) {
    for (size_t j = 0; j < i; ++j) {
      if (out[i] == out[j]) {
        fail_at(node.location, fmt::format("{} lists '{}' twice", path, out[i]));
      }
    }
  }
  return out;
}

const Node& expect_sequence(const Node& node, const std::string& path) {
  if (node.kind != Node::Kind::kSequence) {
    fail_at(node.location, fmt::format("{} must be a list, got {}", path, describe(node)));
  }
  return node;
}

// ---- inputs --------------------------------------------------------------------------------

const std::vector<std::string> kInputFormats = {"csv", "hdf5", "generate"};

InputSpec read_input(const std::string& name, const SourceLocation& name_location,
                     const Node& node) {
  InputSpec in;
  in.name = name;
  in.location = name_location;
  if (!is_identifier(name)) {
    fail_at(name_location, fmt::format("input name '{}' may only contain letters, digits, '_' "
                                       "and '-' (it names files and HDF5 groups)",
                                       name));
  }
  const MapView map(node, join_path("inputs", name));
  // The format decides which keys are valid, so read it before rejecting unknown keys, unless
  // the format key itself is the misspelled one.
  const Node* format_node = map.find("format");
  if (!format_node) {
    map.allow_only(
        {"format", "path", "schema", "header", "delimiter", "bad_rows", "table", "kind", "rows"});
  }
  in.format = to_choice(map.require("format"), map.path("format"), kInputFormats);
  in.fields = map.field_locations();

  if (in.format == "csv") {
    map.allow_only({"format", "path", "schema", "header", "delimiter", "bad_rows"},
                   " (a csv input)");
    in.paths = to_string_list(map.require("path"), map.path("path"), false);
    if (const Node* schema = map.find("schema")) {
      const MapView columns(*schema, map.path("schema"));
      if (schema->keys.empty()) {
        fail_at(schema->location, fmt::format("{} must name at least one column", columns.path()));
      }
      std::vector<table::Field> fields;
      const std::vector<std::string> types = {"int32", "int64",  "float32",  "float64",
                                              "bool",  "string", "timestamp"};
      for (size_t i = 0; i < schema->keys.size(); ++i) {
        const std::string& column = schema->keys[i];
        const std::string path = columns.path(column);
        const std::string type_name = to_string(schema->items[i], path);
        const auto type = table::parse_data_type(type_name);
        if (!type) {
          fail_at(schema->items[i].location,
                  fmt::format("unknown type '{}' for column '{}' in {}{} (types: {})", type_name,
                              column, columns.path(), did_you_mean(type_name, types),
                              list_names(types)));
        }
        if (column.empty()) fail_at(schema->key_locations[i], "a column name must not be empty");
        fields.push_back({column, *type});
        in.fields.values["schema." + column] = schema->key_locations[i];
      }
      in.schema = table::Schema(std::move(fields));
    }
    if (const Node* header = map.find("header")) in.header = to_bool(*header, map.path("header"));
    if (const Node* delimiter = map.find("delimiter")) {
      const std::string d = to_string(*delimiter, map.path("delimiter"));
      if (d.size() != 1 || d[0] == '\n' || d[0] == '\r' || d[0] == '"') {
        fail_at(delimiter->location,
                fmt::format("{} must be a single character other than a quote or a line break "
                            "(e.g. \",\", \";\", \"\\t\"), got '{}'",
                            map.path("delimiter"), d));
      }
      in.delimiter = d[0];
    }
    if (const Node* bad_rows = map.find("bad_rows")) {
      const std::string policy =
          to_choice(*bad_rows, map.path("bad_rows"), {"fail", "skip", "quarantine"});
      const auto parsed = io::parse_bad_row_policy(policy);
      if (!parsed) {
        fail_at(bad_rows->location, fmt::format("{} '{}' is not understood by the CSV reader",
                                                map.path("bad_rows"), policy));
      }
      in.bad_rows = *parsed;
    }
    if (!in.header && !in.schema) {
      fail_at(map.location(),
              fmt::format("{} has header: false and no schema, so its columns have no names; add "
                          "schema: {{column: type, ...}}",
                          map.path()));
    }
  } else if (in.format == "hdf5") {
    map.allow_only({"format", "path", "table"}, " (an hdf5 input)");
    in.paths = {to_nonempty_string(map.require("path"), map.path("path"))};
    in.hdf5_table = name;
    if (const Node* t = map.find("table"))
      in.hdf5_table = to_nonempty_string(*t, map.path("table"));
  } else {
    map.allow_only({"format", "kind", "rows"}, " (a generate input)");
    const Node& kind = map.require("kind");
    in.generate_kind = to_choice(kind, map.path("kind"), io::synthetic_kind_names());
    in.generate_rows = to_int(map.require("rows"), map.path("rows"), 1);
  }
  return in;
}

// ---- steps ---------------------------------------------------------------------------------

const std::vector<std::string> kOps = {"filter", "group_by"};
const std::vector<std::string> kAggFunctions = {"sum", "count", "mean", "min", "max"};

std::vector<ops::AggSpec> read_aggs(const Node& node, const std::string& path) {
  const MapView map(node, path);
  if (node.keys.empty()) {
    fail_at(
        node.location,
        fmt::format("{} must name at least one column to aggregate, e.g. {{amount: [sum]}}", path));
  }
  std::vector<ops::AggSpec> aggs;
  for (size_t i = 0; i < node.keys.size(); ++i) {
    const std::string& column = node.keys[i];
    const std::string column_path = fmt::format("{}.{}", path, column);
    const Node& value = node.items[i];
    const std::vector<std::string> functions = to_string_list(value, column_path, false);
    for (size_t f = 0; f < functions.size(); ++f) {
      const std::string& function = functions[f];
      const SourceLocation& function_location =
          value.kind == Node::Kind::kSequence ? value.items[f].location : value.location;
      const auto kind = ops::parse_agg_kind(function);
      if (!kind) {
        fail_at(function_location,
                fmt::format("unknown aggregate function '{}' in {}{} (functions: {})", function,
                            column_path, did_you_mean(function, kAggFunctions),
                            list_names(kAggFunctions)));
      }
      if (column == "*" && *kind != ops::AggKind::kCount) {
        fail_at(function_location, fmt::format("{} can only be count (count of rows), got '{}'",
                                               column_path, function));
      }
      ops::AggSpec agg;
      agg.kind = *kind;
      agg.column = column == "*" ? std::string() : column;  // ops: empty column = count(*)
      agg.output = ops::output_name(agg);
      aggs.push_back(std::move(agg));
    }
  }
  for (size_t i = 0; i < aggs.size(); ++i) {
    for (size_t j = 0; j < i; ++j) {
      if (aggs[i].output == aggs[j].output) {
        fail_at(node.location, fmt::format("{} computes column '{}' twice", path, aggs[i].output));
      }
    }
  }
  return aggs;
}

StepSpec read_step(const Node& node, std::size_t index) {
  const MapView map(node, fmt::format("steps.{}", index));
  StepSpec step;
  step.location = node.location;
  if (!map.find("op")) {
    map.allow_only({"op", "input", "output", "where", "keys", "aggs"});
  }
  const Node& op = map.require("op");
  step.op = to_string(op, map.path("op"));
  if (std::find(kOps.begin(), kOps.end(), step.op) == kOps.end()) {
    fail_at(op.location, fmt::format("unknown op '{}' in {}{} (supported: {})", step.op, map.path(),
                                     did_you_mean(step.op, kOps), list_names(kOps)));
  }
  step.fields = map.field_locations();
  if (step.op == "filter") {
    map.allow_only({"op", "input", "where", "output"}, " (a filter step)");
    step.where = to_nonempty_string(map.require("where"), map.path("where"));
  } else {
    map.allow_only({"op", "input", "keys", "aggs", "output"}, " (a group_by step)");
    step.keys = to_string_list(map.require("keys"), map.path("keys"), true);
    const Node& aggs = map.require("aggs");
    step.aggs = read_aggs(aggs, map.path("aggs"));
    for (size_t i = 0; i < aggs.keys.size(); ++i) {
      step.fields.values["aggs." + aggs.keys[i]] = aggs.key_locations[i];
    }
  }
  step.input = to_nonempty_string(map.require("input"), map.path("input"));
  step.output = to_identifier(map.require("output"), map.path("output"), "table name");
  return step;
}

// ---- outputs -------------------------------------------------------------------------------

OutputSpec read_output(const Node& node, std::size_t index) {
  const MapView map(node, fmt::format("outputs.{}", index));
  map.allow_only({"table", "path", "format"});
  OutputSpec out;
  out.location = node.location;
  out.fields = map.field_locations();
  out.table = to_nonempty_string(map.require("table"), map.path("table"));
  const Node* path = map.find("path");
  if (path) out.path = to_nonempty_string(*path, map.path("path"));
  if (const Node* format = map.find("format")) {
    out.format = to_choice(*format, map.path("format"), {"hdf5", "csv"});
  } else {
    out.format = out.path.ends_with(".csv") ? "csv" : "hdf5";
  }
  if (!path) out.path = out.table + (out.format == "csv" ? ".csv" : ".h5");
  return out;
}

// ---- train / evaluate / runtime ------------------------------------------------------------

const std::vector<std::string> kModels = {"logistic"};
const std::vector<std::string> kOptimizers = {"sgd"};
const std::vector<std::string> kLogLevels = {"trace", "debug", "info", "warn", "error"};

TrainSpec read_train(const Node& node) {
  const MapView map(node, "train");
  map.allow_only({"input", "label", "features", "transforms", "model", "optimizer", "checkpoint"});
  TrainSpec t;
  t.location = node.location;
  t.fields = map.field_locations();
  t.input = to_nonempty_string(map.require("input"), map.path("input"));
  t.label = to_nonempty_string(map.require("label"), map.path("label"));

  const MapView features(map.require("features"), map.path("features"));
  features.allow_only({"numeric"});
  const Node& numeric = features.require("numeric");
  t.numeric_features = to_string_list(numeric, features.path("numeric"), false);
  t.fields.values["features.numeric"] = numeric.location;

  if (const Node* transforms = map.find("transforms")) {
    expect_sequence(*transforms, map.path("transforms"));
    for (size_t i = 0; i < transforms->items.size(); ++i) {
      const std::string path = fmt::format("train.transforms.{}", i);
      const Node& item = transforms->items[i];
      const MapView transform(item, path);
      if (item.keys.size() != 1) {
        fail_at(item.location,
                fmt::format("{} must have exactly one key, e.g. {{scale: standard}}", path));
      }
      transform.allow_only({"scale"}, " (supported transforms: {scale: standard})");
      to_choice(item.items[0], transform.path("scale"), {"standard"});
      t.standard_scale = true;
    }
  }
  if (const Node* model = map.find("model")) {
    const MapView m(*model, map.path("model"));
    m.allow_only({"type", "l2"});
    if (const Node* type = m.find("type")) t.model_type = to_choice(*type, m.path("type"), kModels);
    if (const Node* l2 = m.find("l2")) {
      t.l2 = to_double(*l2, m.path("l2"));
      if (t.l2 < 0)
        fail_at(l2->location, fmt::format("{} must be >= 0, got {}", m.path("l2"), t.l2));
    }
  }
  if (const Node* optimizer = map.find("optimizer")) {
    const MapView o(*optimizer, map.path("optimizer"));
    o.allow_only({"type", "lr", "batch_size", "epochs", "momentum"});
    if (const Node* type = o.find("type"))
      t.optimizer = to_choice(*type, o.path("type"), kOptimizers);
    if (const Node* lr = o.find("lr")) {
      t.learning_rate = to_double(*lr, o.path("lr"));
      if (t.learning_rate <= 0) {
        fail_at(lr->location, fmt::format("{} must be > 0, got {}", o.path("lr"), t.learning_rate));
      }
    }
    if (const Node* b = o.find("batch_size")) t.batch_size = to_int(*b, o.path("batch_size"), 1);
    if (const Node* e = o.find("epochs")) {
      t.epochs = static_cast<int>(to_int(*e, o.path("epochs"), 1, 1000000));
    }
    if (const Node* m = o.find("momentum")) {
      t.momentum = to_double(*m, o.path("momentum"));
      if (t.momentum < 0 || t.momentum >= 1) {
        fail_at(m->location,
                fmt::format("{} must be in [0, 1), got {}", o.path("momentum"), t.momentum));
      }
    }
  }
  if (const Node* checkpoint = map.find("checkpoint")) {
    const MapView c(*checkpoint, map.path("checkpoint"));
    c.allow_only({"every_steps", "keep"});
    if (const Node* e = c.find("every_steps")) {
      t.checkpoint_every_steps = to_int(*e, c.path("every_steps"), 0);
    }
    if (const Node* k = c.find("keep")) {
      t.checkpoint_keep = static_cast<int>(to_int(*k, c.path("keep"), 1, 1000000));
    }
  }
  return t;
}

EvaluateSpec read_evaluate(const Node& node) {
  const MapView map(node, "evaluate");
  map.allow_only({"input", "metrics"});
  EvaluateSpec e;
  e.location = node.location;
  e.fields = map.field_locations();
  e.input = to_nonempty_string(map.require("input"), map.path("input"));
  e.metrics = to_string_list(map.require("metrics"), map.path("metrics"), false);
  return e;
}

RuntimeSpec read_runtime(const Node& node) {
  const MapView map(node, "runtime");
  map.allow_only({"shuffle_round_bytes", "hdf5_chunk_rows", "max_dictionary_size", "log_level",
                  "log_all_ranks"});
  RuntimeSpec r;
  if (const Node* n = map.find("shuffle_round_bytes")) {
    r.shuffle_round_bytes = to_bytes(*n, map.path("shuffle_round_bytes"));
  }
  if (const Node* n = map.find("hdf5_chunk_rows")) {
    r.hdf5_chunk_rows = to_int(*n, map.path("hdf5_chunk_rows"), 1);
  }
  if (const Node* n = map.find("max_dictionary_size")) {
    r.max_dictionary_size = to_int(*n, map.path("max_dictionary_size"), 1);
  }
  if (const Node* n = map.find("log_level")) {
    r.log_level = to_choice(*n, map.path("log_level"), kLogLevels);
  }
  if (const Node* n = map.find("log_all_ranks")) {
    r.log_all_ranks = to_bool(*n, map.path("log_all_ranks"));
  }
  return r;
}

Job to_job(const Node& root, const std::string& source_file) {
  const MapView map(root, "");
  map.allow_only(
      {"name", "seed", "workdir", "inputs", "steps", "outputs", "train", "evaluate", "runtime"});
  Job job;
  job.source_file = source_file;
  job.name = to_identifier(map.require("name"), "name", "the job name");
  if (const Node* seed = map.find("seed")) {
    job.seed = static_cast<std::uint64_t>(to_int(*seed, "seed", 0));
  }
  job.workdir = "runs/" + job.name;
  if (const Node* workdir = map.find("workdir"))
    job.workdir = to_nonempty_string(*workdir, "workdir");

  const Node& inputs = map.require("inputs");
  MapView input_map(inputs, "inputs");
  if (inputs.keys.empty()) {
    fail_at(inputs.location,
            "inputs must name at least one input, e.g. inputs: {events: {format: "
            "csv, path: data/events.csv}}");
  }
  for (size_t i = 0; i < inputs.keys.size(); ++i) {
    job.inputs.push_back(read_input(inputs.keys[i], inputs.key_locations[i], inputs.items[i]));
  }
  if (const Node* steps = map.find("steps")) {
    expect_sequence(*steps, "steps");
    for (size_t i = 0; i < steps->items.size(); ++i)
      job.steps.push_back(read_step(steps->items[i], i));
  }
  if (const Node* outputs = map.find("outputs")) {
    expect_sequence(*outputs, "outputs");
    for (size_t i = 0; i < outputs->items.size(); ++i)
      job.outputs.push_back(read_output(outputs->items[i], i));
  }
  if (const Node* train = map.find("train")) job.train = read_train(*train);
  if (const Node* evaluate = map.find("evaluate")) {
    job.evaluate = read_evaluate(*evaluate);
    if (!job.train) {
      fail_at(evaluate->location,
              "evaluate needs a train section: there is no model to evaluate; add train: or "
              "remove evaluate:");
    }
  }
  if (const Node* runtime = map.find("runtime")) job.runtime = read_runtime(*runtime);
  job.canonical_yaml = to_canonical_yaml(job);
  return job;
}

Job load(Node job_root, const std::string& source_name, const std::vector<std::string>& profiles,
         const std::vector<std::string>& overrides) {
  Node merged;
  bool have_base = false;
  for (const auto& profile : profiles) {
    Node p = parse_yaml_file(profile, "profile");
    if (!p.is_map()) {
      fail_at(p.location, fmt::format("a profile must be a map of job keys (usually runtime: ...), "
                                      "got {}",
                                      describe(p)));
    }
    if (have_base) {
      merge_into(merged, p);
    } else {
      merged = std::move(p);
      have_base = true;
    }
  }
  if (!job_root.is_map()) {
    fail_at(job_root.location,
            fmt::format("a job file must be a map of keys (name, inputs, steps, ...), got {}",
                        describe(job_root)));
  }
  if (have_base) {
    merge_into(merged, job_root);
  } else {
    merged = std::move(job_root);
  }
  for (const auto& o : overrides)
    apply_override(merged, o);
  return to_job(merged, source_name);
}

}  // namespace

Job load_job(const std::string& path, const std::vector<std::string>& profiles,
             const std::vector<std::string>& overrides) {
  return load(parse_yaml_file(path, "job file"), path, profiles, overrides);
}

Job load_job_from_string(const std::string& yaml, const std::string& source_name,
                         const std::vector<std::string>& profiles,
                         const std::vector<std::string>& overrides) {
  return load(parse_yaml_text(yaml, source_name), source_name, profiles, overrides);
}

}  // namespace shardflow::pipeline
