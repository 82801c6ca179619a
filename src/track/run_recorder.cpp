#include "shardflow/track/run_recorder.hpp"

#include <pwd.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <limits>
#include <sstream>

#include <spdlog/spdlog.h>
#include <yaml-cpp/yaml.h>
#include <nlohmann/json.hpp>

#include "shardflow/common/atomic_file.hpp"
#include "shardflow/common/error.hpp"
#include "shardflow/track/model_registry.hpp"
#include "shardflow/track/run_report.hpp"
#include "shardflow/version.hpp"

namespace shardflow::track {

namespace fs = std::filesystem;

namespace {

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' '))
    s.pop_back();
  return s;
}

std::string user_name() {
  if (const char* u = std::getenv("USER"); u != nullptr && *u != '\0') return u;
  if (const passwd* pw = ::getpwuid(::geteuid()); pw != nullptr && pw->pw_name != nullptr)
    return pw->pw_name;
  return "unknown";
}

// The resolved job as MLflow params: scalars under their dotted path, list items by index.
void flatten(const YAML::Node& node, const std::string& prefix,
             std::vector<std::pair<std::string, std::string>>& out) {
  if (node.IsMap()) {
    for (const auto& kv : node) {
      const std::string key = kv.first.as<std::string>();
      flatten(kv.second, prefix.empty() ? key : prefix + "." + key, out);
    }
  } else if (node.IsSequence()) {
    if (node.size() == 0) out.emplace_back(prefix, "[]");
    for (size_t i = 0; i < node.size(); ++i)
      flatten(node[i], prefix + "." + std::to_string(i), out);
  } else if (node.IsScalar()) {
    out.emplace_back(prefix, node.Scalar());
  } else {
    out.emplace_back(prefix, "");
  }
}

// j[key] when j is an object holding it, else a null (no temporaries: the iteration below
// keeps references into the record).
const nlohmann::json& field(const nlohmann::json& j, const char* key) {
  static const nlohmann::json null_json;
  if (!j.is_object()) return null_json;
  const auto it = j.find(key);
  return it == j.end() ? null_json : *it;
}

// The metrics of a finished run, from its metrics.json record (see the header).
std::vector<MetricPoint> metrics_of(const nlohmann::json& record) {
  std::vector<MetricPoint> points;
  const std::int64_t now = now_ms();
  auto add = [&](const std::string& key, const nlohmann::json& value, std::int64_t step = 0) {
    if (value.is_number()) points.push_back({key, value.get<double>(), step, now});
  };
  add("job.seconds", field(record, "seconds"));
  const nlohmann::json& steps = field(record, "steps");
  if (steps.is_array()) {
    for (const auto& s : steps) {
      const nlohmann::json& step_name = field(s, "name");
      const std::string name =
          "step." + (step_name.is_string() ? step_name.get<std::string>() : std::string("?"));
      add(name + ".seconds", field(s, "seconds"));
      add(name + ".compute_seconds", field(s, "compute_seconds"));
      add(name + ".comm_seconds", field(s, "comm_seconds"));
      add(name + ".io_seconds", field(s, "io_seconds"));
      const nlohmann::json& rows = field(s, "rows");
      if (rows.is_object()) {
        for (auto it = rows.begin(); it != rows.end(); ++it)
          add(name + ".rows." + it.key(), it.value());
      }
    }
  }
  const nlohmann::json& train = field(record, "train");
  if (train.is_object()) {
    for (const char* key : {"seconds", "setup_seconds", "steps", "last_batch_loss"})
      add(std::string("train.") + key, field(train, key));
    const nlohmann::json& epochs = field(train, "epoch_seconds");
    std::int64_t epoch = 0;
    if (epochs.is_array()) {
      for (const auto& seconds : epochs)
        add("train.epoch_seconds", seconds, ++epoch);
    }
    const nlohmann::json& losses = field(train, "epoch_loss");
    epoch = 0;
    if (losses.is_array()) {
      for (const auto& loss : losses)
        add("train.epoch_loss", loss, ++epoch);
    }
    const nlohmann::json& early = field(train, "early_stopping");
    const nlohmann::json& history = field(early, "history");
    const nlohmann::json& metric = field(early, "metric");
    if (history.is_array() && metric.is_string()) {
      epoch = 0;
      for (const auto& value : history)
        add("valid." + metric.get<std::string>(), value, ++epoch);
    }
  }
  const nlohmann::json& metrics = field(record, "metrics");
  if (metrics.is_object()) {
    for (auto it = metrics.begin(); it != metrics.end(); ++it)
      add(it.key(), it.value());
  }
  add("evaluate.seconds", field(field(record, "evaluate"), "seconds"));
  add("memory.peak_rss_bytes", field(field(record, "memory"), "peak_rss_bytes"));
  return points;
}

}  // namespace

std::string git_commit_of(const fs::path& path) {
  std::error_code ec;
  fs::path dir = fs::absolute(path, ec).parent_path();
  for (; !dir.empty(); dir = dir.parent_path()) {
    const fs::path git = dir / ".git";
    fs::path git_dir;
    if (fs::is_directory(git, ec)) {
      git_dir = git;
    } else if (fs::is_regular_file(git, ec)) {  // a worktree: "gitdir: <path>"
      const std::string text = trim(read_text_file(git));
      if (text.rfind("gitdir: ", 0) != 0) return "";
      git_dir = fs::path(text.substr(8));
      if (git_dir.is_relative()) git_dir = dir / git_dir;
    }
    if (!git_dir.empty()) {
      const std::string head = trim(read_text_file(git_dir / "HEAD"));
      if (head.rfind("ref: ", 0) != 0) return head;  // detached: the commit itself
      const std::string ref = head.substr(5);
      // A worktree's refs live in the main repository (commondir).
      fs::path common = git_dir;
      if (const std::string c = trim(read_text_file(git_dir / "commondir")); !c.empty())
        common = fs::path(c).is_relative() ? git_dir / c : fs::path(c);
      for (const fs::path& base : {git_dir, common}) {
        if (const std::string loose = trim(read_text_file(base / ref)); !loose.empty())
          return loose;
      }
      std::istringstream packed(read_text_file(common / "packed-refs"));
      std::string line;
      while (std::getline(packed, line)) {
        if (line.size() > 41 && line[40] == ' ' && line.substr(41) == ref)
          return line.substr(0, 40);
      }
      return "";
    }
    if (dir == dir.root_path()) break;
  }
  return "";
}

void RunRecorder::run_started(const mpi::Comm& comm, const pipeline::Job& job) {
  if (comm.is_root()) {
    // The workdir is locked: no other run writes this file now.
    log_path_ = fs::path(job.workdir) / "run.log";
    log_file_.emplace(log_path_);
    spdlog::info("run log: {}", log_path_.string());
  }
  if (!job.track) return;
  comm.agree([&] {
    if (!comm.is_root()) return;
    const pipeline::TrackSpec& spec = *job.track;
    store_.emplace(spec.store);
    const std::string experiment = store_->experiment_id(spec.experiment);
    state_path_ = fs::path(job.workdir) / "tracking.json";
    job_fingerprint_ = job.fingerprint();

    // Continue the workdir's unfinished run of this very job, if any.
    nlohmann::json state;
    if (fs::exists(state_path_)) {
      try {
        state = nlohmann::json::parse(read_text_file(state_path_));
      } catch (const nlohmann::json::exception&) {
        state = nullptr;  // unreadable: a new run
      }
    }
    if (state.is_object() && !state.value("finished", true) &&
        state.value("store", std::string()) == store_->root().string() &&
        state.value("experiment_id", std::string()) == experiment &&
        state.value("job_fingerprint", std::string()) == job_fingerprint_) {
      run_ = store_->find_run(experiment, state.value("run_id", std::string()));
      restarts_ = state.value("restarts", 0) + 1;
    }
    if (run_) {
      run_->status = RunStatus::kRunning;
      run_->end_time_ms.reset();
      store_->write_run_meta(*run_);
      spdlog::info("tracking: continuing run {} (restart {}) of experiment '{}' in {}",
                   run_->run_id, restarts_, spec.experiment, store_->root().string());
    } else {
      restarts_ = 0;
      const std::string source =
          job.source_file.empty() ? std::string() : fs::absolute(job.source_file).string();
      run_ = store_->create_run(experiment, spec.run_name, user_name(), source);
      spdlog::info("tracking: run {} of experiment '{}' ({}) in {}", run_->run_id, spec.experiment,
                   experiment, store_->root().string());
    }
    write_state(false);

    std::vector<std::pair<std::string, std::string>> params;
    flatten(YAML::Load(job.canonical_yaml), "", params);
    for (const auto& [key, value] : params)
      store_->log_param(*run_, key, value);
    store_->set_tag(*run_, "mlflow.runName", run_->run_name);
    store_->set_tag(*run_, "mlflow.user", run_->user);
    store_->set_tag(*run_, "mlflow.source.name", run_->source_name);
    store_->set_tag(*run_, "mlflow.source.type", "LOCAL");
    if (!job.source_file.empty()) {
      if (const std::string commit = git_commit_of(job.source_file); !commit.empty())
        store_->set_tag(*run_, "mlflow.source.git.commit", commit);
    }
    store_->set_tag(*run_, "shardflow.version", kVersion);
    store_->set_tag(*run_, "shardflow.job_fingerprint", job_fingerprint_);
    store_->set_tag(*run_, "shardflow.world_size", std::to_string(comm.size()));
    store_->set_tag(*run_, "shardflow.workdir", fs::absolute(job.workdir).string());
    store_->set_tag(*run_, "shardflow.restarts", std::to_string(restarts_));
    if (const char* id = std::getenv("SLURM_JOB_ID"); id != nullptr && *id != '\0')
      store_->set_tag(*run_, "shardflow.slurm_job_id", id);
    if (const char* n = std::getenv("SLURM_RESTART_COUNT"); n != nullptr && *n != '\0')
      store_->set_tag(*run_, "shardflow.slurm_restart_count", n);
    if (!job.source_file.empty() && fs::is_regular_file(job.source_file))
      store_->log_artifact(*run_, job.source_file, fs::path(job.source_file).filename().string());
    store_->log_artifact_text(*run_, "job.resolved.yaml", job.canonical_yaml);
  });
}

void RunRecorder::run_finished(const mpi::Comm& comm, const pipeline::Job& job,
                               const pipeline::RunSummary& summary, const nlohmann::json& record) {
  // Every run gets its report, tracked or not; a tracked run keeps it as an artifact too.
  write_run_report(comm, record, summary);
  if (!job.track) return;
  comm.agree([&] {
    if (!comm.is_root() || !run_) return;
    const nlohmann::json& inputs = field(record, "inputs");
    if (inputs.is_object()) {
      for (auto it = inputs.begin(); it != inputs.end(); ++it) {
        const nlohmann::json& fp = field(it.value(), "fingerprint");
        if (fp.is_string())
          store_->set_tag(*run_, "shardflow.input." + it.key() + ".fingerprint",
                          fp.get<std::string>());
      }
    }
    std::vector<MetricPoint> points = metrics_of(record);
    const std::int64_t now = now_ms();
    for (const auto& [step, loss] : summary.train_losses)
      points.push_back({"train.loss", loss, step, now});
    store_->log_metrics(*run_, points);
    const fs::path workdir = summary.workdir;
    store_->log_artifact(*run_, workdir / "metrics.json", "metrics.json");
    store_->log_artifact(*run_, workdir / "report.html", "report.html");
    if (fs::is_regular_file(log_path_)) store_->log_artifact(*run_, log_path_, log_artifact_name());
    if (job.train && fs::is_regular_file(workdir / "model.h5"))
      store_->log_artifact(*run_, workdir / "model.h5", "model.h5");
    if (job.registration && fs::is_regular_file(workdir / "model.h5")) {
      const pipeline::RegisterSpec& reg = *job.registration;
      const auto it = summary.metrics.find(reg.metric);
      const double value =
          it == summary.metrics.end() ? std::numeric_limits<double>::quiet_NaN() : it->second;
      const RegistryDecision d =
          register_model(*store_, *run_, store_->run_directory(*run_) / "artifacts" / "model.h5",
                         reg.model, reg.metric, reg.higher_is_better, value, reg.alias);
      spdlog::info("registry: {}", d.message);
      store_->set_tag(*run_, "shardflow.registry.model", reg.model);
      store_->set_tag(*run_, "shardflow.registry.version", std::to_string(d.version));
      store_->set_tag(*run_, "shardflow.registry.decision", d.message);
    }
    run_->status = RunStatus::kFinished;
    run_->end_time_ms = now_ms();
    store_->write_run_meta(*run_);
    write_state(true);
    spdlog::info("tracking: run {} finished; {}", run_->run_id,
                 store_->run_directory(*run_).string());
  });
}

void RunRecorder::write_state(bool finished) const {
  write_file_atomically(state_path_, nlohmann::json{{"store", store_->root().string()},
                                                    {"experiment_id", run_->experiment_id},
                                                    {"run_id", run_->run_id},
                                                    {"job_fingerprint", job_fingerprint_},
                                                    {"restarts", restarts_},
                                                    {"finished", finished}}
                                             .dump(2) +
                                         "\n");
}

std::string RunRecorder::log_artifact_name() const {
  return restarts_ == 0 ? std::string("run.log") : fmt::format("run.restart{}.log", restarts_);
}

void RunRecorder::run_failed(const mpi::Comm& comm, bool interrupted,
                             const std::string& error) noexcept {
  if (!comm.is_root()) return;
  if (log_file_) {
    // Only into the file: the command's error report prints it on stderr.
    log_file_->write(spdlog::level::err, "run failed: " + error);
  }
  if (!run_ || !store_) return;
  try {
    run_->status = interrupted ? RunStatus::kKilled : RunStatus::kFailed;
    run_->end_time_ms = now_ms();
    store_->write_run_meta(*run_);
    if (fs::is_regular_file(log_path_)) store_->log_artifact(*run_, log_path_, log_artifact_name());
  } catch (const std::exception& e) {
    spdlog::warn("tracking: could not mark run {} as {}: {}", run_->run_id,
                 interrupted ? "killed" : "failed", e.what());
  }
}

}  // namespace shardflow::track
