#pragma once
// The configuration tree a job file is read into, and the typed conversions every registry entry
// (steps, input formats, models, ...) uses to parse its part of it. yaml-cpp nodes carry a line
// and column but not their file, and a merged job mixes several files and --set flags, so every
// value and map key here carries its full SourceLocation.
//
// Every conversion throws ConfigError "<file>:<line>:<column>: <what is wrong>", with the key
// path in the --set form ("steps.0.where") and, for names, the closest valid one.

#include <cstdint>
#include <limits>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "shardflow/common/types.hpp"

namespace shardflow::pipeline {

/// Where a value was written. `file` is the job or profile path as given; line and column are
/// 1-based. Values from `--set key=value` have file "--set key" and line 0; line 0 with an empty
/// file means unknown.
struct SourceLocation {
  std::string file;
  int line = 0;
  int column = 0;
  /// "jobs/q.yaml:12:5", or "--set train.optimizer.lr" (line 0), or "<unknown location>".
  std::string to_string() const;
  bool operator==(const SourceLocation&) const = default;
};

/// Locations of the values of a spec's keys as written ("where" -> the where string), so that a
/// problem found later points at the exact value rather than at the start of the spec. Nested
/// entries: "features.numeric" (train), "aggs.<column>" (group_by: the column's key),
/// "schema.<column>" (csv input: the column's key).
struct FieldLocations {
  std::map<std::string, SourceLocation, std::less<>> values;
  /// The location of `key`'s value, or `fallback` when the key was not written (a default).
  const SourceLocation& of(std::string_view key, const SourceLocation& fallback) const;
};

/// One node of the configuration tree.
struct ConfigNode {
  enum class Kind { kNull, kScalar, kSequence, kMap };
  Kind kind = Kind::kNull;
  std::string scalar;
  std::vector<ConfigNode> items;              // sequence items, or map values
  std::vector<std::string> keys;              // map keys (parallel to items)
  std::vector<SourceLocation> key_locations;  // map keys' locations
  SourceLocation location;

  bool is_map() const { return kind == Kind::kMap; }
  const ConfigNode* find(std::string_view key) const;
  ConfigNode* find(std::string_view key);
};

/// Throws ConfigError "<location>: <message>".
[[noreturn]] void fail_at(const SourceLocation& location, const std::string& message);

/// "a.b" from ("a", "b"); "b" from ("", "b").
std::string join_path(std::string_view path, std::string_view key);
/// "at the top level" or "in <path>".
std::string in_path(std::string_view path);
/// How a value is shown after "got ...": "'x'", "a list", "a map", "nothing (an empty value)".
std::string describe(const ConfigNode& node);
/// "a, b, c".
std::string list_names(const std::vector<std::string>& names);
/// Letters, digits, '_' and '-' only (names of files and HDF5 groups).
bool is_identifier(std::string_view s);
/// A double as canonical YAML writes it: the shortest text that reads back to the same value, so
/// that 0.1, 0.10 and 1e-1 in a job file give the same canonical text (and fingerprint).
std::string canonical_number(double value);

/// A map being converted, with its key path for messages.
class MapView {
 public:
  /// Throws unless `node` is a map ("<path> must be a map (key: value, ...), got ...").
  MapView(const ConfigNode& node, std::string path);

  /// Rejects keys outside `allowed`, naming the closest valid key (or listing all); `what` is
  /// appended to the place ("unknown key 'x' in steps.0 (a filter step); did you mean ...").
  void allow_only(const std::vector<std::string>& allowed, std::string_view what = "") const;

  /// The value of `key`, or nullptr when absent or explicitly empty ("key:" means the default).
  const ConfigNode* find(std::string_view key) const;
  /// The value of `key`; throws when it is absent or empty.
  const ConfigNode& require(std::string_view key) const;
  std::string path(std::string_view key) const { return join_path(path_, key); }
  const std::string& path() const { return path_; }
  const SourceLocation& location() const { return node_.location; }
  const ConfigNode& node() const { return node_; }
  /// The location of every value written in this map, by key.
  FieldLocations field_locations() const;

 private:
  const ConfigNode& node_;
  std::string path_;
};

std::string to_string(const ConfigNode& node, const std::string& path);
std::string to_nonempty_string(const ConfigNode& node, const std::string& path);
/// A name that may be used as a file name and HDF5 group (is_identifier); `what` starts the
/// message ("table name 'a b' may only contain ...").
std::string to_identifier(const ConfigNode& node, const std::string& path, std::string_view what);
std::string to_choice(const ConfigNode& node, const std::string& path,
                      const std::vector<std::string>& choices);
std::int64_t to_int(const ConfigNode& node, const std::string& path, std::int64_t min,
                    std::int64_t max = std::numeric_limits<std::int64_t>::max());
/// A finite number; a leading '+' is accepted.
double to_double(const ConfigNode& node, const std::string& path);
/// true/false/yes/no/on/off, any case.
bool to_bool(const ConfigNode& node, const std::string& path);
/// A byte count: an integer, or a number with a binary unit ("16MiB", "1.5 GiB").
idx_t to_bytes(const ConfigNode& node, const std::string& path);
/// A string or a list of strings, no duplicates; at least one unless `allow_empty`.
std::vector<std::string> to_string_list(const ConfigNode& node, const std::string& path,
                                        bool allow_empty);
/// Throws unless `node` is a sequence.
const ConfigNode& expect_sequence(const ConfigNode& node, const std::string& path);

}  // namespace shardflow::pipeline
