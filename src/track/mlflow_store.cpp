#include "shardflow/track/mlflow_store.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <map>
#include <random>
#include <sstream>

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include "shardflow/common/atomic_file.hpp"
#include "shardflow/common/error.hpp"

namespace shardflow::track {

namespace fs = std::filesystem;

namespace {

constexpr const char* kDefaultExperimentId = "0";

std::string random_run_id() {
  std::random_device device;  // /dev/urandom: ids of concurrent jobs never collide by seed
  std::uint64_t a = (std::uint64_t{device()} << 32) | device();
  std::uint64_t b = (std::uint64_t{device()} << 32) | device();
  return fmt::format("{:016x}{:016x}", a, b);
}

}  // namespace

std::string read_text_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return {};
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

void make_store_directories(const fs::path& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) {
    throw RuntimeError(
        "cannot create the tracking directory '{}': {}; check track.store and its permissions",
        dir.string(), ec.message());
  }
}

std::string file_uri(const fs::path& path) {
  return "file://" + path.lexically_normal().string();
}

MetaValue meta_string(std::string s) {
  return {MetaValue::Kind::kString, std::move(s), 0};
}
MetaValue meta_integer(std::int64_t v) {
  return {MetaValue::Kind::kInteger, {}, v};
}
MetaValue meta_integer_or_null(std::optional<std::int64_t> v) {
  return v ? meta_integer(*v) : MetaValue{MetaValue::Kind::kNull, {}, 0};
}
MetaValue meta_empty_list() {
  return {MetaValue::Kind::kEmptyList, {}, 0};
}

std::string meta_yaml(const std::map<std::string, MetaValue>& fields) {
  YAML::Emitter out;
  out << YAML::BeginMap;
  for (const auto& [key, v] : fields) {
    out << YAML::Key << key << YAML::Value;
    switch (v.kind) {
      case MetaValue::Kind::kString:
        out << YAML::DoubleQuoted << v.text;
        break;
      case MetaValue::Kind::kInteger:
        out << v.integer;
        break;
      case MetaValue::Kind::kNull:
        out << YAML::Null;
        break;
      case MetaValue::Kind::kEmptyList:
        out << YAML::Flow << YAML::BeginSeq << YAML::EndSeq;
        break;
    }
  }
  out << YAML::EndMap;
  return std::string(out.c_str()) + "\n";
}

StoreLock::StoreLock(const fs::path& root) {
  const fs::path path = root / ".shardflow.lock";
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0666);
  if (fd_ < 0) {
    throw RuntimeError("cannot open the tracking store's lock '{}': {}; check track.store",
                       path.string(), std::strerror(errno));
  }
  while (::flock(fd_, LOCK_EX) != 0) {
    if (errno != EINTR) {
      const int e = errno;
      ::close(fd_);
      throw RuntimeError("cannot lock the tracking store's lock '{}': {}", path.string(),
                         std::strerror(e));
    }
  }
}

StoreLock::~StoreLock() {
  ::close(fd_);  // closing releases the lock
}

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string safe_key(std::string_view key) {
  std::string out;
  out.reserve(key.size());
  for (char c : key) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '.' || c == '-';
    out.push_back(ok ? c : '_');
  }
  if (out.empty() || out == "." || out == "..") out.insert(out.begin(), '_');
  return out;
}

MlflowStore::MlflowStore(const fs::path& root) : root_(fs::absolute(root).lexically_normal()) {
  make_store_directories(root_);
  const StoreLock lock(root_);
  const fs::path default_dir = root_ / kDefaultExperimentId;
  if (!fs::exists(default_dir / "meta.yaml")) {
    make_store_directories(default_dir);
    const std::int64_t now = now_ms();
    write_file_atomically(default_dir / "meta.yaml",
                          meta_yaml({{"artifact_location", meta_string(file_uri(default_dir))},
                                     {"creation_time", meta_integer(now)},
                                     {"experiment_id", meta_string(kDefaultExperimentId)},
                                     {"last_update_time", meta_integer(now)},
                                     {"lifecycle_stage", meta_string("active")},
                                     {"name", meta_string("Default")}}));
  }
}

std::string MlflowStore::experiment_id(const std::string& name) {
  const StoreLock lock(root_);
  std::int64_t largest = 0;
  for (const auto& entry : fs::directory_iterator(root_)) {
    const std::string id = entry.path().filename().string();
    if (!entry.is_directory() || id.empty() ||
        id.find_first_not_of("0123456789") != std::string::npos || id.size() > 18)
      continue;
    largest = std::max<std::int64_t>(largest, std::stoll(id));
    try {
      const YAML::Node meta = YAML::LoadFile((entry.path() / "meta.yaml").string());
      if (meta["name"] && meta["name"].as<std::string>() == name &&
          (!meta["lifecycle_stage"] || meta["lifecycle_stage"].as<std::string>() == "active"))
        return id;
    } catch (const YAML::Exception&) {
      // Not an experiment this store can read (a half-deleted one, say): skipped, its id kept.
    }
  }
  const std::string id = std::to_string(largest + 1);
  const fs::path dir = root_ / id;
  make_store_directories(dir);
  const std::int64_t now = now_ms();
  write_file_atomically(dir / "meta.yaml",
                        meta_yaml({{"artifact_location", meta_string(file_uri(dir))},
                                   {"creation_time", meta_integer(now)},
                                   {"experiment_id", meta_string(id)},
                                   {"last_update_time", meta_integer(now)},
                                   {"lifecycle_stage", meta_string("active")},
                                   {"name", meta_string(name)}}));
  return id;
}

fs::path MlflowStore::run_directory(const RunInfo& run) const {
  return root_ / run.experiment_id / run.run_id;
}

RunInfo MlflowStore::create_run(const std::string& experiment_id, const std::string& run_name,
                                const std::string& user, const std::string& source_name) {
  RunInfo run;
  run.experiment_id = experiment_id;
  run.run_name = run_name;
  run.user = user;
  run.source_name = source_name;
  run.start_time_ms = now_ms();
  run.status = RunStatus::kRunning;
  do {
    run.run_id = random_run_id();
  } while (fs::exists(run_directory(run)));
  const fs::path dir = run_directory(run);
  for (const char* sub : {"params", "metrics", "tags", "artifacts"})
    make_store_directories(dir / sub);
  write_run_meta(run);
  return run;
}

void MlflowStore::write_run_meta(const RunInfo& run) const {
  const fs::path dir = run_directory(run);
  write_file_atomically(dir / "meta.yaml",
                        meta_yaml({{"artifact_uri", meta_string(file_uri(dir / "artifacts"))},
                                   {"end_time", meta_integer_or_null(run.end_time_ms)},
                                   {"entry_point_name", meta_string("")},
                                   {"experiment_id", meta_string(run.experiment_id)},
                                   {"lifecycle_stage", meta_string("active")},
                                   {"run_id", meta_string(run.run_id)},
                                   {"run_name", meta_string(run.run_name)},
                                   {"run_uuid", meta_string(run.run_id)},
                                   {"source_name", meta_string(run.source_name)},
                                   {"source_type", meta_integer(4)},  // LOCAL
                                   {"source_version", meta_string("")},
                                   {"start_time", meta_integer(run.start_time_ms)},
                                   {"status", meta_integer(static_cast<int>(run.status))},
                                   {"tags", meta_empty_list()},
                                   {"user_id", meta_string(run.user)}}));
}

std::optional<RunInfo> MlflowStore::find_run(const std::string& experiment_id,
                                             const std::string& run_id) const {
  if (experiment_id.empty() || run_id.empty() ||
      run_id.find_first_not_of("0123456789abcdef") != std::string::npos)
    return std::nullopt;
  const fs::path meta_path = root_ / experiment_id / run_id / "meta.yaml";
  try {
    const YAML::Node meta = YAML::LoadFile(meta_path.string());
    RunInfo run;
    run.experiment_id = meta["experiment_id"].as<std::string>();
    run.run_id = meta["run_id"].as<std::string>();
    run.run_name = meta["run_name"].as<std::string>();
    run.user = meta["user_id"].as<std::string>();
    run.source_name = meta["source_name"].as<std::string>();
    run.start_time_ms = meta["start_time"].as<std::int64_t>();
    if (meta["end_time"] && !meta["end_time"].IsNull())
      run.end_time_ms = meta["end_time"].as<std::int64_t>();
    run.status = static_cast<RunStatus>(meta["status"].as<int>());
    if (run.experiment_id != experiment_id || run.run_id != run_id) return std::nullopt;
    return run;
  } catch (const YAML::Exception&) {
    return std::nullopt;
  }
}

void MlflowStore::log_param(const RunInfo& run, std::string_view key,
                            std::string_view value) const {
  write_file_atomically(run_directory(run) / "params" / safe_key(key), value);
}

void MlflowStore::set_tag(const RunInfo& run, std::string_view key, std::string_view value) const {
  write_file_atomically(run_directory(run) / "tags" / safe_key(key), value);
}

void MlflowStore::log_metrics(const RunInfo& run, const std::vector<MetricPoint>& points) const {
  std::map<std::string, std::string> lines;  // file name -> lines to append
  for (const auto& p : points) {
    // MLflow's file store writes repr(float): a NaN as "nan", infinities as "inf"/"-inf".
    std::string value = std::isnan(p.value)   ? "nan"
                        : std::isinf(p.value) ? (p.value > 0 ? "inf" : "-inf")
                                              : fmt::format("{}", p.value);
    lines[safe_key(p.key)] += fmt::format("{} {} {}\n", p.timestamp_ms, value, p.step);
  }
  for (const auto& [name, text] : lines) {
    const fs::path path = run_directory(run) / "metrics" / name;
    write_file_atomically(path, read_text_file(path) + text);
  }
}

void MlflowStore::log_artifact(const RunInfo& run, const fs::path& from,
                               std::string_view name) const {
  copy_file_atomically(from, run_directory(run) / "artifacts" / safe_key(name));
}

void MlflowStore::log_artifact_text(const RunInfo& run, std::string_view name,
                                    std::string_view text) const {
  write_file_atomically(run_directory(run) / "artifacts" / safe_key(name), text);
}

}  // namespace shardflow::track
