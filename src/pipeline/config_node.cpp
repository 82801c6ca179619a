#include "shardflow/pipeline/config_node.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>

#include "shardflow/common/error.hpp"
#include "shardflow/common/suggest.hpp"

namespace shardflow::pipeline {

std::string SourceLocation::to_string() const {
  if (line > 0) return fmt::format("{}:{}:{}", file, line, column);
  if (!file.empty()) return file;
  return "<unknown location>";
}

const SourceLocation& FieldLocations::of(std::string_view key,
                                         const SourceLocation& fallback) const {
  auto it = values.find(key);
  return it == values.end() ? fallback : it->second;
}

const ConfigNode* ConfigNode::find(std::string_view key) const {
  for (size_t i = 0; i < keys.size(); ++i) {
    if (keys[i] == key) return &items[i];
  }
  return nullptr;
}

ConfigNode* ConfigNode::find(std::string_view key) {
  return const_cast<ConfigNode*>(static_cast<const ConfigNode*>(this)->find(key));
}

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
std::string describe(const ConfigNode& node) {
  switch (node.kind) {
    case ConfigNode::Kind::kNull:
      return "nothing (an empty value)";
    case ConfigNode::Kind::kScalar:
      return fmt::format("'{}'", node.scalar);
    case ConfigNode::Kind::kSequence:
      return "a list";
    case ConfigNode::Kind::kMap:
      return "a map";
  }
  return "?";
}

bool is_identifier(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
  });
}

std::string list_names(const std::vector<std::string>& names) {
  return fmt::format("{}", fmt::join(names, ", "));
}

std::string canonical_number(double value) {
  return fmt::format("{}", value);
}

// A map being converted, with its key path for messages.
MapView::MapView(const ConfigNode& node, std::string path) : node_(node), path_(std::move(path)) {
  if (!node.is_map()) {
    fail_at(node.location, fmt::format("{} must be a map (key: value, ...), got {}",
                                       path_.empty() ? "the job" : path_, describe(node)));
  }
}

void MapView::allow_only(const std::vector<std::string>& allowed, std::string_view what) const {
  for (size_t i = 0; i < node_.keys.size(); ++i) {
    const std::string& key = node_.keys[i];
    if (std::find(allowed.begin(), allowed.end(), key) != allowed.end()) continue;
    std::string hint = did_you_mean(key, allowed);
    if (hint.empty()) hint = fmt::format(" (valid keys: {})", list_names(allowed));
    fail_at(node_.key_locations[i],
            fmt::format("unknown key '{}' {}{}{}", key, in_path(path_), what, hint));
  }
}

const ConfigNode* MapView::find(std::string_view key) const {
  const ConfigNode* n = node_.find(key);
  // An explicitly empty value ("key:" or "key: ~") means "use the default".
  return n && n->kind != ConfigNode::Kind::kNull ? n : nullptr;
}

const ConfigNode& MapView::require(std::string_view key) const {
  if (const ConfigNode* n = find(key)) return *n;
  if (const ConfigNode* n = node_.find(key)) {
    fail_at(n->location, fmt::format("{} is empty; it is required", path(key)));
  }
  fail_at(node_.location, fmt::format("missing required key '{}' {}", key, in_path(path_)));
}

FieldLocations MapView::field_locations() const {
  FieldLocations fields;
  for (size_t i = 0; i < node_.keys.size(); ++i)
    fields.values[node_.keys[i]] = node_.items[i].location;
  return fields;
}

std::string to_string(const ConfigNode& node, const std::string& path) {
  if (node.kind != ConfigNode::Kind::kScalar) {
    fail_at(node.location, fmt::format("{} must be a string, got {}", path, describe(node)));
  }
  return node.scalar;
}

std::string to_nonempty_string(const ConfigNode& node, const std::string& path) {
  std::string s = to_string(node, path);
  if (s.empty()) fail_at(node.location, fmt::format("{} must not be empty", path));
  return s;
}

std::string to_identifier(const ConfigNode& node, const std::string& path, std::string_view what) {
  std::string s = to_string(node, path);
  if (!is_identifier(s)) {
    fail_at(node.location,
            fmt::format("{} '{}' may only contain letters, digits, '_' and '-' (it names files "
                        "and HDF5 groups)",
                        what, s));
  }
  return s;
}

std::string to_choice(const ConfigNode& node, const std::string& path,
                      const std::vector<std::string>& choices) {
  std::string s = to_string(node, path);
  if (std::find(choices.begin(), choices.end(), s) == choices.end()) {
    fail_at(node.location, fmt::format("{} must be one of {}, got '{}'{}", path,
                                       list_names(choices), s, did_you_mean(s, choices)));
  }
  return s;
}

std::int64_t to_int(const ConfigNode& node, const std::string& path, std::int64_t min,
                    std::int64_t max) {
  if (node.kind != ConfigNode::Kind::kScalar) {
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

double to_double(const ConfigNode& node, const std::string& path) {
  if (node.kind != ConfigNode::Kind::kScalar) {
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

bool to_bool(const ConfigNode& node, const std::string& path) {
  if (node.kind == ConfigNode::Kind::kScalar) {
    std::string lower = node.scalar;
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (lower == "true" || lower == "yes" || lower == "on") return true;
    if (lower == "false" || lower == "no" || lower == "off") return false;
  }
  fail_at(node.location, fmt::format("{} must be true or false, got {}", path, describe(node)));
}

// A byte count: an integer, or a number with a binary unit ("16MiB", "1.5 GiB").
idx_t to_bytes(const ConfigNode& node, const std::string& path) {
  if (node.kind == ConfigNode::Kind::kScalar) {
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
std::vector<std::string> to_string_list(const ConfigNode& node, const std::string& path,
                                        bool allow_empty) {
  std::vector<std::string> out;
  if (node.kind == ConfigNode::Kind::kScalar) {
    out.push_back(to_nonempty_string(node, path));
  } else if (node.kind == ConfigNode::Kind::kSequence) {
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

const ConfigNode& expect_sequence(const ConfigNode& node, const std::string& path) {
  if (node.kind != ConfigNode::Kind::kSequence) {
    fail_at(node.location, fmt::format("{} must be a list, got {}", path, describe(node)));
  }
  return node;
}

}  // namespace shardflow::pipeline
