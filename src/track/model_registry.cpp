#include "shardflow/track/model_registry.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <yaml-cpp/yaml.h>

#include "shardflow/common/atomic_file.hpp"
#include "shardflow/common/error.hpp"

namespace shardflow::track {

namespace fs = std::filesystem;

namespace {

constexpr const char* kVersionPrefix = "version-";

std::optional<int> parse_int(std::string_view text) {
  int v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || v < 1) return std::nullopt;
  return v;
}

std::optional<double> parse_double(const std::string& text) {
  try {
    size_t used = 0;
    const double v = std::stod(text, &used);
    if (used != text.size()) return std::nullopt;
    return v;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

// The versions of a registered model, ascending.
std::vector<int> versions_of(const fs::path& model_dir) {
  std::vector<int> out;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(model_dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (!entry.is_directory() || name.rfind(kVersionPrefix, 0) != 0) continue;
    if (const auto v = parse_int(std::string_view(name).substr(std::string(kVersionPrefix).size())))
      out.push_back(*v);
  }
  std::sort(out.begin(), out.end());
  return out;
}

fs::path version_dir(const fs::path& model_dir, int version) {
  return model_dir / fmt::format("{}{}", kVersionPrefix, version);
}

std::optional<int> alias_version(const fs::path& model_dir, const std::string& alias) {
  return parse_int(read_text_file(model_dir / "aliases" / safe_key(alias)));
}

std::string metric_tag(const std::string& metric) {
  return "shardflow.metric." + metric;
}

std::string describe(const std::string& metric, std::optional<double> value) {
  return value ? fmt::format("{} {}", metric, *value) : metric + " not recorded";
}

}  // namespace

RegistryDecision register_model(const MlflowStore& store, const RunInfo& run,
                                const fs::path& source, const std::string& name,
                                const std::string& metric, bool mode_max, double value,
                                const std::string& alias) {
  const StoreLock lock(store.root());
  const fs::path model_dir = store.root() / "models" / safe_key(name);
  const std::int64_t now = now_ms();
  make_store_directories(model_dir / "aliases");
  if (read_text_file(model_dir / "meta.yaml").empty()) {
    write_file_atomically(model_dir / "meta.yaml",
                          meta_yaml({{"creation_timestamp", meta_integer(now)},
                                     {"description", meta_string("")},
                                     {"last_updated_timestamp", meta_integer(now)},
                                     {"name", meta_string(name)}}));
  }
  RegistryDecision d;
  const std::vector<int> versions = versions_of(model_dir);
  d.version = versions.empty() ? 1 : versions.back() + 1;
  d.value = value;
  const fs::path vdir = version_dir(model_dir, d.version);
  make_store_directories(vdir / "tags");
  write_file_atomically(vdir / "tags" / safe_key(metric_tag(metric)), fmt::format("{}", value));
  write_file_atomically(vdir / "meta.yaml",
                        meta_yaml({{"creation_timestamp", meta_integer(now)},
                                   {"current_stage", meta_string("None")},
                                   {"description", meta_string("")},
                                   {"last_updated_timestamp", meta_integer(now)},
                                   {"name", meta_string(name)},
                                   {"run_id", meta_string(run.run_id)},
                                   {"run_link", meta_string("")},
                                   {"source", meta_string(file_uri(source))},
                                   {"status", meta_string("READY")},
                                   {"status_message", meta_string("")},
                                   {"user_id", meta_string(run.user)},
                                   {"version", meta_integer(d.version)}}));

  d.previous_version = alias_version(model_dir, alias);
  if (d.previous_version) {
    d.previous_value = parse_double(read_text_file(version_dir(model_dir, *d.previous_version) /
                                                   "tags" / safe_key(metric_tag(metric))));
  }
  const char* better = mode_max ? "higher" : "lower";
  if (std::isnan(value)) {
    d.message = fmt::format(
        "model '{}' version {} has no {} (not computable on the evaluation data): '{}' stays {}",
        name, d.version, metric, alias,
        d.previous_version ? fmt::format("at version {}", *d.previous_version) : "unset");
  } else if (!d.previous_version) {
    d.promoted = true;
    d.message = fmt::format("model '{}' version {} ({} {}) becomes '{}': there was none", name,
                            d.version, metric, value, alias);
  } else if (!d.previous_value || std::isnan(*d.previous_value) ||
             (mode_max ? value > *d.previous_value : value < *d.previous_value)) {
    d.promoted = true;
    d.message = fmt::format(
        "model '{}' version {} ({} {}) becomes '{}', replacing version {} ({}): {} is better", name,
        d.version, metric, value, alias, *d.previous_version, describe(metric, d.previous_value),
        better);
  } else {
    d.message = fmt::format(
        "model '{}' version {} ({} {}) is not better than '{}' version {} ({}; {} is "
        "better): '{}' stays at version {}",
        name, d.version, metric, value, alias, *d.previous_version,
        describe(metric, d.previous_value), better, alias, *d.previous_version);
  }
  write_file_atomically(vdir / "tags" / "shardflow.decision", d.message);
  if (d.promoted) {
    write_file_atomically(model_dir / "aliases" / safe_key(alias), std::to_string(d.version));
  }
  return d;
}

fs::path resolve_registry_model(const fs::path& store_root, const std::string& reference) {
  constexpr std::string_view kPrefix = "registry:";
  if (reference.rfind(kPrefix, 0) != 0) return reference;
  const std::string rest = reference.substr(kPrefix.size());
  const auto at = rest.find('@');
  const auto slash = rest.find('/');
  const std::string name = rest.substr(0, std::min(at, slash));
  const fs::path root = fs::absolute(store_root).lexically_normal();
  const fs::path model_dir = root / "models" / safe_key(name);
  if (name.empty() || (at == std::string::npos && slash == std::string::npos)) {
    throw ConfigError(
        "model '{}': expected registry:<name>@<alias> (e.g. registry:churn@champion) or "
        "registry:<name>/<version>",
        reference);
  }
  if (!fs::is_directory(model_dir)) {
    std::string names;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(root / "models", ec))
      names += (names.empty() ? "" : ", ") + e.path().filename().string();
    throw ConfigError("model '{}': the registry in {} has no model '{}' (it has: {})", reference,
                      root.string(), name, names.empty() ? "none" : names);
  }
  std::optional<int> version;
  if (at != std::string::npos) {
    const std::string alias = rest.substr(at + 1);
    version = alias_version(model_dir, alias);
    if (!version) {
      throw ConfigError(
          "model '{}': model '{}' has no alias '{}' in {} (no registered version has taken it "
          "yet)",
          reference, name, alias, root.string());
    }
  } else {
    version = parse_int(rest.substr(slash + 1));
    if (!version) {
      throw ConfigError("model '{}': '{}' is not a version number (1, 2, ...)", reference,
                        rest.substr(slash + 1));
    }
  }
  const fs::path meta_path = version_dir(model_dir, *version) / "meta.yaml";
  if (!fs::is_regular_file(meta_path)) {
    throw ConfigError("model '{}': model '{}' has no version {} in {} (versions: {})", reference,
                      name, *version, root.string(), fmt::join(versions_of(model_dir), ", "));
  }
  std::string source;
  try {
    source = YAML::LoadFile(meta_path.string())["source"].as<std::string>();
  } catch (const YAML::Exception& e) {
    const std::vector<int> versions = versions_of(model_dir);
    throw ConfigError("model '{}': cannot read version {} of model '{}' ({}): {}; versions: {}",
                      reference, *version, name, meta_path.string(), e.what(),
                      fmt::join(versions, ", "));
  }
  if (source.rfind("file://", 0) == 0) source = source.substr(7);
  return source;
}

}  // namespace shardflow::track
