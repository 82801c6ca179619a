#include "shardflow/track/run_catalog.hpp"

#include <algorithm>
#include <ctime>
#include <sstream>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <yaml-cpp/yaml.h>

#include "shardflow/common/error.hpp"

namespace shardflow::track {

namespace fs = std::filesystem;

namespace {

bool is_experiment_id(const std::string& s) {
  return !s.empty() && s.find_first_not_of("0123456789") == std::string::npos;
}

std::string experiment_name(const fs::path& dir) {
  try {
    const YAML::Node meta = YAML::LoadFile((dir / "meta.yaml").string());
    return meta["name"] ? meta["name"].as<std::string>() : std::string();
  } catch (const YAML::Exception&) {
    return {};
  }
}

std::map<std::string, std::string> read_key_files(const fs::path& dir) {
  std::map<std::string, std::string> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    if (e.is_regular_file()) out[e.path().filename().string()] = read_text_file(e.path());
  }
  return out;
}

std::vector<MetricPoint> read_metric(const fs::path& file) {
  std::vector<MetricPoint> points;
  std::istringstream in(read_text_file(file));
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    MetricPoint p;
    std::string value;
    if (!(fields >> p.timestamp_ms >> value)) continue;
    if (!(fields >> p.step)) p.step = 0;
    try {
      p.value = std::stod(value);  // also "nan", "inf"
    } catch (const std::exception&) {
      continue;
    }
    p.key = file.filename().string();
    points.push_back(std::move(p));
  }
  return points;
}

}  // namespace

std::string format_utc(std::int64_t ms) {
  const std::time_t seconds = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char buffer[32];
  std::strftime(buffer, sizeof buffer, "%Y-%m-%d %H:%M:%S", &tm);
  return buffer;
}

std::vector<StoredRun> list_runs(const fs::path& root, const std::string& experiment) {
  if (!fs::is_directory(root)) {
    throw ConfigError(
        "no tracking store at '{}' (a job with track: writes one; give its path with --store)",
        root.string());
  }
  std::vector<StoredRun> runs;
  std::vector<std::string> names;
  bool found = experiment.empty();
  for (const auto& e : fs::directory_iterator(root)) {
    const std::string id = e.path().filename().string();
    if (!e.is_directory() || !is_experiment_id(id)) continue;
    const std::string name = experiment_name(e.path());
    names.push_back(name);
    if (!experiment.empty() && name != experiment) continue;
    found = true;
    for (const auto& r : fs::directory_iterator(e.path())) {
      if (!r.is_directory()) continue;
      try {
        const YAML::Node meta = YAML::LoadFile((r.path() / "meta.yaml").string());
        StoredRun run;
        run.experiment_name = name;
        run.info.experiment_id = id;
        run.info.run_id = meta["run_id"].as<std::string>();
        run.info.run_name = meta["run_name"] ? meta["run_name"].as<std::string>() : "";
        run.info.user = meta["user_id"] ? meta["user_id"].as<std::string>() : "";
        run.info.source_name = meta["source_name"] ? meta["source_name"].as<std::string>() : "";
        run.info.start_time_ms = meta["start_time"].as<std::int64_t>();
        if (meta["end_time"] && !meta["end_time"].IsNull())
          run.info.end_time_ms = meta["end_time"].as<std::int64_t>();
        run.info.status = static_cast<RunStatus>(meta["status"].as<int>());
        runs.push_back(std::move(run));
      } catch (const YAML::Exception&) {
        // Not a run (a half-written or foreign directory): skipped.
      }
    }
  }
  if (!found) {
    std::sort(names.begin(), names.end());
    throw ConfigError("the tracking store '{}' has no experiment '{}' (experiments: {})",
                      root.string(), experiment, fmt::join(names, ", "));
  }
  std::stable_sort(runs.begin(), runs.end(), [](const StoredRun& a, const StoredRun& b) {
    return a.info.start_time_ms < b.info.start_time_ms;
  });
  return runs;
}

StoredRun load_run(const fs::path& root, const std::string& id) {
  std::vector<StoredRun> runs = list_runs(root);
  if (id.size() < 4 || id.find_first_not_of("0123456789abcdef") != std::string::npos) {
    throw ConfigError(
        "run id '{}': expected a run id or its first 4 or more hex digits (shardflow runs list "
        "--store {} shows them)",
        id, root.string());
  }
  std::vector<StoredRun*> matches;
  for (auto& r : runs) {
    if (r.info.run_id.rfind(id, 0) == 0) matches.push_back(&r);
  }
  if (matches.empty()) {
    throw ConfigError(
        "no run '{}' in the tracking store '{}' ({} runs; shardflow runs list "
        "--store {} lists them)",
        id, root.string(), runs.size(), root.string());
  }
  if (matches.size() > 1) {
    std::vector<std::string> ids;
    for (const auto* m : matches)
      ids.push_back(m->info.run_id);
    throw ConfigError("run id '{}' is ambiguous in '{}': {}; give more digits", id, root.string(),
                      fmt::join(ids, ", "));
  }
  StoredRun run = std::move(*matches.front());
  const fs::path dir = root / run.info.experiment_id / run.info.run_id;
  run.params = read_key_files(dir / "params");
  run.tags = read_key_files(dir / "tags");
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir / "metrics", ec)) {
    if (e.is_regular_file()) run.metrics[e.path().filename().string()] = read_metric(e.path());
  }
  for (const auto& e : fs::recursive_directory_iterator(dir / "artifacts", ec)) {
    if (e.is_regular_file())
      run.artifacts.push_back(fs::relative(e.path(), dir / "artifacts").string());
  }
  std::sort(run.artifacts.begin(), run.artifacts.end());
  return run;
}

}  // namespace shardflow::track
