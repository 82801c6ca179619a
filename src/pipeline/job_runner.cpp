#include "shardflow/pipeline/job_runner.hpp"

#include <spdlog/spdlog.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <chrono>
#include <cstdlib>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string_view>

#include "shardflow/ckpt/checkpoint_store.hpp"
#include "shardflow/common/atomic_file.hpp"
#include "shardflow/common/fault_injection.hpp"
#include "shardflow/common/fingerprint.hpp"
#include "shardflow/common/memory.hpp"
#include "shardflow/common/progress.hpp"
#include "shardflow/common/suggest.hpp"
#include "shardflow/common/timer.hpp"
#include "shardflow/io/csv_writer.hpp"
#include "shardflow/io/file_fingerprint.hpp"
#include "shardflow/io/hdf5_table.hpp"
#include "shardflow/io/partitioned_writer.hpp"
#include "shardflow/ml/dataset.hpp"
#include "shardflow/ml/feature_pipeline.hpp"
#include "shardflow/ml/lbfgs.hpp"
#include "shardflow/ml/logistic_regression.hpp"
#include "shardflow/ml/metric.hpp"
#include "shardflow/ml/metrics.hpp"
#include "shardflow/ml/scoring.hpp"
#include "shardflow/ml/sgd_trainer.hpp"
#include "shardflow/ml/task_metrics.hpp"
#include "shardflow/mpi/allgatherv.hpp"
#include "shardflow/mpi/allreduce.hpp"
#include "shardflow/mpi/bcast.hpp"
#include "shardflow/mpi/comm_time.hpp"
#include "shardflow/ops/shuffle.hpp"
#include "shardflow/ops/table_profile.hpp"
#include "shardflow/pipeline/saved_model.hpp"
#include "shardflow/pipeline/signals.hpp"
#include "shardflow/pipeline/stage_cache.hpp"
#include "shardflow/pipeline/workdir_lock.hpp"

namespace shardflow::pipeline {

namespace fs = std::filesystem;

namespace {

// ---------------------------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------------------------

// Collective: the stop signal any rank received (0 if none), and whether Open MPI's mpirun sent
// it, agreed so that every rank builds the same message (a user may signal one rank only).
struct StopCause {
  int signal = 0;
  bool from_mpirun = false;
};
StopCause agreed_stop_cause(const mpi::Comm& comm) {
  StopCause cause;
  cause.signal = mpi::allreduce_max(comm, stop_signal_received() ? received_signal() : 0);
  cause.from_mpirun = mpi::allreduce_max(comm, stop_signal_from_open_mpi_launcher() ? 1 : 0) != 0;
  return cause;
}

// "stopped by SIGTERM <where>; <what next>", and why the launcher will not report exit 75.
std::string stop_message(const StopCause& cause, std::string_view where,
                         std::string_view what_next) {
  if (!cause.from_mpirun) {
    return fmt::format("stopped by {} {}; {}", signal_name(cause.signal), where, what_next);
  }
  return fmt::format(
      "stopped by {} from mpirun {}; {} (Open MPI's mpirun stops the ranks this way when it is "
      "itself sent Ctrl-C, SIGINT or SIGTERM, and then exits 1, not 75; send mpirun SIGUSR1 "
      "instead, or start the job with `shardflow launch`, to stop with exit 75)",
      signal_name(cause.signal), where, what_next);
}

// A stop signal between stages ends the job cleanly on every rank at the same point.
void check_interrupted(const mpi::Comm& comm, std::string_view where) {
  const StopCause cause = agreed_stop_cause(comm);
  if (cause.signal != 0) {
    InterruptedError error(stop_message(cause, where, "rerun the same command to continue"));
    error.set_agreed(true);
    throw error;
  }
}

std::string emit_yaml(const auto& emit) {
  YAML::Emitter out;
  emit(out);
  if (!out.good()) throw RuntimeError("cannot emit canonical YAML: {}", out.GetLastError());
  return out.c_str();
}

std::string step_label(std::size_t index, const StepSpec& step) {
  return fmt::format("step {} ({})", index + 1, step.op);
}

double mib(idx_t bytes) {
  return static_cast<double>(bytes) / (1024.0 * 1024.0);
}

// ---------------------------------------------------------------------------------------------
// Fingerprints
// ---------------------------------------------------------------------------------------------

std::string input_fingerprint(const InputSpec& input, const std::string& data_fingerprint) {
  return Fingerprint()
      .add(std::string_view("input"))
      .add(static_cast<std::int64_t>(kStageFormatVersion))
      .add(emit_yaml([&](YAML::Emitter& out) { input.emit(out); }))
      .add(data_fingerprint)
      .hex();
}

std::string step_fingerprint(const mpi::Comm& comm, const StepSpec& step,
                             const RuntimeSpec& runtime, std::uint64_t seed,
                             const std::map<std::string, std::string>& tables) {
  Fingerprint fp;
  fp.add(std::string_view("step"))
      .add(static_cast<std::int64_t>(kStageFormatVersion))
      .add(emit_yaml([&](YAML::Emitter& out) { step.emit(out); }))
      // The only runtime setting that changes results: which string columns get a dictionary.
      .add(static_cast<std::int64_t>(runtime.max_dictionary_size));
  if (step.uses_job_seed()) fp.add(std::string_view("seed")).add(static_cast<std::int64_t>(seed));
  if (const std::vector<std::string> files = step.file_dependencies(); !files.empty()) {
    fp.add(std::string_view("files")).add(io::content_fingerprint(comm, files));
  }
  for (const auto& input : step.inputs)
    fp.add(input.table).add(tables.at(input.table));
  return fp.hex();
}

// ---------------------------------------------------------------------------------------------
// The executor
// ---------------------------------------------------------------------------------------------

// One table of the job. `data` holds it while some reader still needs it.
struct TableState {
  std::string fingerprint;
  const InputSpec* input = nullptr;  // set for inputs
  int producer = -1;                 // step index for step outputs
  std::optional<table::Table> data;
  idx_t rows = -1;       // global rows, once known
  int last_reader = -1;  // the last position (see Executor) that reads it
  // Inputs read in this run: the rows the reader rejected (-1: the format rejects none) and the
  // data-quality profile of the loaded table (the run report's input summary).
  idx_t rejected_rows = -1;
  std::optional<ops::TableProfile> profile;
};

// Runs the job's stages in dependency order. Positions, in order: 0..n-1 the steps, then
// kPublish (outputs), kTrain, kEvaluate. A table is freed after the last position that reads it.
class Executor {
 public:
  Executor(const mpi::Comm& comm, const Job& job, const RunOptions& options, fs::path workdir)
      : comm_(comm),
        job_(job),
        options_(options),
        workdir_(std::move(workdir)),
        cache_(workdir_ / "stages"),
        context_{comm, job.runtime, job.seed, workdir_} {}

  int publish_position() const { return static_cast<int>(job_.steps.size()); }
  int train_position() const { return publish_position() + 1; }
  int evaluate_position() const { return publish_position() + 2; }

  // ---- planning ---------------------------------------------------------------------------

  void fingerprint_tables(bool log) {
    for (const auto& input : job_.inputs) {
      Stopwatch timer;
      const std::string data = input->data_fingerprint(context_);
      TableState& t = tables_[input->name];
      t.input = input.get();
      t.fingerprint = input_fingerprint(*input, data);
      if (log) {
        spdlog::info("input '{}': data fingerprint {} ({:.3f} s)", input->name, data.substr(0, 16),
                     timer.seconds());
      }
      input_fingerprint_seconds_[input->name] = timer.seconds();
    }
    std::map<std::string, std::string> fingerprints;
    for (const auto& [name, t] : tables_)
      fingerprints[name] = t.fingerprint;
    for (size_t i = 0; i < job_.steps.size(); ++i) {
      const StepSpec& step = *job_.steps[i];
      const std::string fp =
          step_fingerprint(context_.comm, step, job_.runtime, job_.seed, fingerprints);
      step_fingerprints_.push_back(fp);
      for (const auto& output : step.outputs) {
        TableState& t = tables_[output.table];
        t.producer = static_cast<int>(i);
        t.fingerprint = fp;
        fingerprints[output.table] = fp;
      }
    }
  }

  std::map<std::string, std::string> fingerprints() const {
    std::map<std::string, std::string> out;
    for (const auto& [name, t] : tables_)
      out[name] = t.fingerprint;
    return out;
  }

  void plan_liveness() {
    auto reads = [&](const std::string& table, int position) {
      TableState& t = tables_.at(table);
      t.last_reader = std::max(t.last_reader, position);
    };
    for (size_t i = 0; i < job_.steps.size(); ++i) {
      for (const auto& input : job_.steps[i]->inputs)
        reads(input.table, static_cast<int>(i));
    }
    for (const auto& output : job_.outputs)
      reads(output.table, publish_position());
    if (job_.train) reads(job_.train->input, train_position());
    if (job_.train && job_.train->early_stopping)
      reads(job_.train->early_stopping->input, train_position());
    if (job_.evaluate) reads(job_.evaluate->input, evaluate_position());
  }

  // Steps named by --rerun, and every step downstream of them; all steps with --no-cache.
  std::vector<bool> forced_steps() const {
    std::vector<bool> forced(job_.steps.size(), options_.no_cache);
    std::set<std::string> dirty;
    for (size_t i = 0; i < job_.steps.size(); ++i) {
      const StepSpec& step = *job_.steps[i];
      bool force = forced[i] || std::find(options_.rerun.begin(), options_.rerun.end(),
                                          step.name()) != options_.rerun.end();
      for (const auto& input : step.inputs)
        force = force || dirty.count(input.table) > 0;
      forced[i] = force;
      if (force) {
        for (const auto& output : step.outputs)
          dirty.insert(output.table);
      }
    }
    return forced;
  }

  // ---- running ----------------------------------------------------------------------------

  // Times a stretch of I/O (reading an input or a stage file, writing stage files): its wall
  // time and the communication inside it, which a step's comm_seconds leaves out so that
  // compute + comm + io adds up to the step's seconds.
  class IoScope {
   public:
    explicit IoScope(Executor& e) : e_(e), comm_(mpi::communication_seconds()) {}
    ~IoScope() {
      e_.io_seconds_ += timer_.seconds();
      e_.io_comm_seconds_ += mpi::communication_seconds() - comm_;
    }
    IoScope(const IoScope&) = delete;
    IoScope& operator=(const IoScope&) = delete;

   private:
    Executor& e_;
    Stopwatch timer_;
    double comm_;
  };

  void run_steps() {
    const std::vector<bool> forced = forced_steps();
    records_.resize(job_.steps.size());
    for (size_t i = 0; i < job_.steps.size(); ++i) {
      const StepSpec& step = *job_.steps[i];
      Stopwatch timer;
      const double comm_before = mpi::communication_seconds();
      const double io_before = io_seconds_, io_comm_before = io_comm_seconds_;
      StepRecord& record = records_[i];
      record.name = step.name();
      record.op = step.op;
      record.fingerprint = step_fingerprints_[i];
      bool reused = false;
      if (!forced[i]) {
        reused = true;
        for (const auto& output : step.outputs) {
          const auto rows = [&] {
            const IoScope io(*this);
            return cache_.probe(comm_, output.table, record.fingerprint);
          }();
          if (!rows) {
            reused = false;
            break;
          }
          tables_.at(output.table).rows = *rows;
        }
      }
      record.reused = reused;
      if (!reused) compute_step(i);
      record.seconds = timer.seconds();
      record.io_seconds = io_seconds_ - io_before;
      record.comm_seconds = std::max(
          0.0, (mpi::communication_seconds() - comm_before) - (io_comm_seconds_ - io_comm_before));
      free_after(static_cast<int>(i));
      const idx_t rss = mpi::allreduce_max(comm_, current_rss_bytes());
      const idx_t peak = mpi::allreduce_max(comm_, peak_rss_bytes());
      step_memory_.push_back({rss, peak});
      const idx_t rows = tables_.at(step.outputs.front().table).rows;
      if (reused) {
        spdlog::info("{} '{}': reused {} ({} rows)", step_label(i, step), record.name,
                     cache_.path_for(step.outputs.front().table, record.fingerprint).string(),
                     rows);
      } else {
        spdlog::info(
            "{} '{}': {} rows in {:.3f} s (compute {:.3f} s, stage write {:.3f} s){}; memory per "
            "rank {:.0f} MiB (peak {:.0f} MiB)",
            step_label(i, step), record.name, rows, record.seconds, record.compute_seconds,
            record.stage_seconds, forced[i] ? " (forced)" : "", mib(rss), mib(peak));
      }
      check_interrupted(comm_, "between steps");
    }
  }

  // Collective: what happened to each step, with the row counts as finally known and every
  // rank's time split (one allgather of three numbers per step).
  std::vector<StepRecord> step_records() const {
    std::vector<StepRecord> out = records_;
    std::vector<double> mine;
    for (size_t i = 0; i < out.size(); ++i) {
      for (const auto& output : job_.steps[i]->outputs)
        out[i].rows[output.table] = tables_.at(output.table).rows;
      for (const auto& input : job_.steps[i]->inputs)
        out[i].rows_in[input.table] = tables_.at(input.table).rows;
      mine.insert(mine.end(), {out[i].seconds, out[i].comm_seconds, out[i].io_seconds});
    }
    const std::vector<double> all = mpi::allgather_blocks<double>(comm_, mine);
    for (size_t i = 0; i < out.size(); ++i) {
      for (int r = 0; r < comm_.size(); ++r) {
        const size_t at = static_cast<size_t>(r) * mine.size() + 3 * i;
        out[i].rank_seconds.push_back(all[at]);
        out[i].rank_comm_seconds.push_back(all[at + 1]);
        out[i].rank_io_seconds.push_back(all[at + 2]);
      }
    }
    return out;
  }

  // The table `name`, loading or computing it if it is not in memory.
  const table::Table& materialize(const std::string& name) {
    TableState& t = tables_.at(name);
    if (t.data) return *t.data;
    if (t.input) {
      Stopwatch timer;
      if (!injected_input_fault_) {
        comm_.agree([&] { maybe_inject_fault("input", comm_.rank()); });
        injected_input_fault_ = true;
      }
      {
        const IoScope io(*this);
        context_.rejected_rows = &t.rejected_rows;
        t.data = t.input->load(context_);
        context_.rejected_rows = nullptr;
      }
      t.rows = mpi::allreduce_sum(comm_, t.data->num_rows());
      // One pass and two small allreduces: the report's data-quality summary of this input.
      const Stopwatch profile_timer;
      t.profile = ops::profile_table(comm_, *t.data);
      spdlog::debug("input '{}': data-quality profile in {:.3f} s", name, profile_timer.seconds());
      spdlog::info("input '{}': {} rows, {} columns ({}) in {:.3f} s", name, t.rows,
                   t.data->num_columns(), t.data->schema().to_string(), timer.seconds());
      check_interrupted(comm_, "while reading inputs");
      return *t.data;
    }
    std::optional<table::Table> loaded;
    {
      const IoScope io(*this);
      loaded = cache_.load(comm_, name, t.fingerprint);
    }
    if (loaded) {
      t.data = std::move(*loaded);
      t.rows = mpi::allreduce_sum(comm_, t.data->num_rows());
      return *t.data;
    }
    compute_step(static_cast<std::size_t>(t.producer));
    return *tables_.at(name).data;
  }

  // Computes step `index` and commits its outputs. A step planned as reused lands here when one
  // of its stage files turned out damaged on reading: its record then says it was recomputed.
  void compute_step(std::size_t index) {
    const StepSpec& step = *job_.steps[index];
    // Long work inside the step (reading an input, a shuffle, a group-by, the stage write)
    // reports progress under the step's name.
    const ProgressScope progress_scope(
        fmt::format("{} '{}'", step_label(index, step), step.name()));
    Stopwatch timer;
    std::vector<const table::Table*> inputs;
    for (const auto& input : step.inputs)
      inputs.push_back(&materialize(input.table));
    // Early, from inside the step, what run_steps does after it: the tables whose last reader is
    // this step (its inputs; any other such table was freed before).
    StepContext context{comm_,
                        job_.runtime,
                        step_label(index, step),
                        job_.seed,
                        [this, index] { free_after(static_cast<int>(index)); },
                        [this, &step, index](std::size_t k) { return take_input(step, index, k); },
                        [this, &step](std::size_t k) { return input_profile(step, k); }};
    Stopwatch compute_timer;
    std::vector<table::Table> outputs = step.run(context, inputs);
    const double compute_seconds = compute_timer.seconds();
    Stopwatch stage_timer;
    if (outputs.size() != step.outputs.size()) {
      throw RuntimeError("{}: op '{}' produced {} tables but declares {}",
                         step.location.to_string(), step.op, outputs.size(), step.outputs.size());
    }
    {
      const IoScope io(*this);
      for (size_t k = 0; k < outputs.size(); ++k) {
        const std::string& name = step.outputs[k].table;
        TableState& t = tables_.at(name);
        cache_.commit(comm_, name, t.fingerprint, outputs[k], job_.runtime.hdf5_chunk_rows);
        t.rows = mpi::allreduce_sum(comm_, outputs[k].num_rows());
        t.data = std::move(outputs[k]);
      }
    }
    if (index < records_.size()) {
      records_[index].compute_seconds += compute_seconds;
      records_[index].stage_seconds += stage_timer.seconds();
    }
    if (index < records_.size() && records_[index].reused) {
      records_[index].reused = false;
      records_[index].seconds += timer.seconds();
    }
  }

  // Whether `t` may go once `position` is done with it: no later position reads it.
  bool releasable(const TableState& t, int position) const {
    return job_.runtime.table_liveness && t.data && t.last_reader <= position;
  }

  // StepContext::take_input of step `index`.
  std::optional<table::Table> take_input(const StepSpec& step, std::size_t index, std::size_t k) {
    const std::string& name = step.inputs.at(k).table;
    for (std::size_t j = 0; j < step.inputs.size(); ++j)
      if (j != k && step.inputs[j].table == name) return std::nullopt;
    TableState& t = tables_.at(name);
    if (!releasable(t, static_cast<int>(index))) return std::nullopt;
    std::optional<table::Table> out = std::move(t.data);
    t.data.reset();
    spdlog::debug("{}: takes over table '{}' (read by no later step), freeing it as it goes",
                  step_label(index, step), name);
    return out;
  }

  // StepContext::input_profile: input k's load-time profile, which still describes it (a job's
  // tables do not change once made; a step that takes one over is its last reader).
  const ops::TableProfile* input_profile(const StepSpec& step, std::size_t k) const {
    const TableState& t = tables_.at(step.inputs.at(k).table);
    return t.input != nullptr && t.profile ? &*t.profile : nullptr;
  }

  // Frees table `name` now if no position after `position` reads it (with table_liveness): for a
  // reader done with it before its position ends (training, once its matrix is assembled).
  void release(const std::string& name, int position) {
    TableState& t = tables_.at(name);
    if (!releasable(t, position)) return;
    t.data.reset();
    spdlog::debug("freed table '{}' early: its last reader is done with it", name);
  }

  // Frees every table whose last reader is `position` (or earlier).
  void free_after(int position) {
    for (auto& [name, t] : tables_) {
      if (releasable(t, position)) t.data.reset();
    }
  }

  void publish_outputs() {
    for (const auto& output : job_.outputs) {
      fs::path path = workdir_ / "outputs" / output.path;
      if (!path.has_filename()) path = path.parent_path();  // a directory written "events/"
      comm_.agree([&] {
        if (comm_.is_root()) fs::create_directories(path.parent_path());
      });
      TableState& t = tables_.at(output.table);
      const ProgressScope progress_scope(fmt::format("output '{}'", output.table));
      // Reading the table verifies a cached stage file (Fletcher32 on every chunk; a damaged one
      // is recomputed) before its bytes are published.
      const table::Table& data = materialize(output.table);
      maybe_inject_fault("output_write:" + output.table, comm_.rank());
      if (!output.partition_by.empty()) {
        publish_partitioned(output, t, data, path);
      } else if (output.format == "csv") {
        io::write_csv(comm_, data, path.string());
      } else if (t.producer >= 0) {
        // The committed stage file is this output, byte for byte.
        comm_.agree([&] {
          if (comm_.is_root())
            copy_file_atomically(cache_.path_for(output.table, t.fingerprint), path);
        });
      } else {
        const fs::path tmp = path.string() + ".tmp";
        comm_.agree([&] {
          if (comm_.is_root()) fs::remove(tmp);
        });
        io::Hdf5WriteOptions h5;
        h5.chunk_rows = job_.runtime.hdf5_chunk_rows;
        h5.fingerprint = t.fingerprint;
        io::write_table(comm_, tmp.string(), output.table, data, h5);
        maybe_inject_fault("output_written:" + output.table, comm_.rank());
        comm_.agree([&] {
          if (comm_.is_root()) publish_file(tmp, path);
        });
      }
      log_published(output, t, path);
      maybe_inject_fault("output_published:" + output.table, comm_.rank());
    }
    free_after(publish_position());
  }

  // A partitioned output (io/partitioned_writer.hpp): rows are hash-shuffled by the partition
  // values so that each partition lives whole on one rank (shuffle_to keeps the source-rank
  // order, so its rows stay in the table's global order), then every rank writes its partitions
  // with local writers into <path>.tmp, which rank 0 swaps into place.
  void publish_partitioned(const OutputSpec& output, const TableState& t, const table::Table& data,
                           const fs::path& path) {
    std::vector<int> columns;
    for (const auto& name : output.partition_by)
      columns.push_back(data.schema().index_of(name));
    io::check_partition_names(comm_, data, columns);
    std::vector<int> destination;
    if (comm_.size() > 1) {
      const std::vector<std::uint64_t> hashes = ops::hash_rows(data, columns);
      destination.resize(hashes.size());
      for (size_t i = 0; i < hashes.size(); ++i)
        destination[i] = ops::rank_of_hash(hashes[i], comm_.size());
    }
    ops::ShuffleOptions shuffle;
    shuffle.round_bytes = job_.runtime.shuffle_round_bytes;
    const table::Table shuffled =
        comm_.size() > 1 ? ops::shuffle_to(comm_, data, destination, shuffle) : table::Table();
    io::PartitionedWriteOptions options;
    options.format = output.format;
    options.table_name = output.table;
    options.chunk_rows = job_.runtime.hdf5_chunk_rows;
    options.fingerprint = t.fingerprint;
    const io::PartitionedWriteResult written = io::write_partitioned(
        comm_, comm_.size() > 1 ? shuffled : data, columns, path.string(), options);
    const idx_t partitions = mpi::allreduce_sum(comm_, written.partitions);
    spdlog::info("table '{}': {} partition(s) by [{}]", output.table, partitions,
                 fmt::join(output.partition_by, ", "));
  }

  void log_published(const OutputSpec& output, const TableState& t, const fs::path& path) {
    spdlog::info("wrote table '{}' ({} rows) to {}", output.table, t.rows, path.string());
  }

  TableState& table(const std::string& name) { return tables_.at(name); }
  const StageCache& cache() const { return cache_; }
  const std::vector<std::pair<idx_t, idx_t>>& step_memory() const { return step_memory_; }
  /// This rank's I/O time so far (IoScope), and the communication inside it.
  double io_seconds() const { return io_seconds_; }
  double io_comm_seconds() const { return io_comm_seconds_; }
  const std::map<std::string, double>& input_fingerprint_seconds() const {
    return input_fingerprint_seconds_;
  }
  std::vector<std::pair<std::string, std::string>> step_output_fingerprints() const {
    std::vector<std::pair<std::string, std::string>> out;
    for (const auto& step : job_.steps) {
      for (const auto& output : step->outputs)
        out.emplace_back(output.table, tables_.at(output.table).fingerprint);
    }
    return out;
  }

 private:
  const mpi::Comm& comm_;
  const Job& job_;
  const RunOptions& options_;
  fs::path workdir_;
  StageCache cache_;
  InputContext context_;
  std::map<std::string, TableState> tables_;
  std::vector<std::string> step_fingerprints_;
  std::vector<StepRecord> records_;
  std::vector<std::pair<idx_t, idx_t>> step_memory_;  // (rss, peak) after each step
  std::map<std::string, double> input_fingerprint_seconds_;
  bool injected_input_fault_ = false;
  // I/O time of this rank so far, and the communication inside it (IoScope).
  double io_seconds_ = 0;
  double io_comm_seconds_ = 0;
};

// metrics.json's per_rank object: each rank's seconds split into compute (the rest), comm and io.
nlohmann::json per_rank_json(const std::vector<double>& seconds, const std::vector<double>& comm,
                             const std::vector<double>& io) {
  std::vector<double> compute;
  for (size_t r = 0; r < seconds.size(); ++r)
    compute.push_back(std::max(0.0, seconds[r] - comm[r] - io[r]));
  return {{"seconds", seconds},
          {"compute_seconds", compute},
          {"comm_seconds", comm},
          {"io_seconds", io}};
}

// Times work outside the steps (training, evaluation) as run_steps times a step: the wall time
// split into communication, I/O (the executor's IoScopes: reading tables, checkpoints) and the
// rest, on every rank, for the run report's timeline.
class PhaseTimes {
 public:
  explicit PhaseTimes(const Executor& executor)
      : executor_(executor),
        comm_(mpi::communication_seconds()),
        io_(executor.io_seconds()),
        io_comm_(executor.io_comm_seconds()) {}

  /// Collective (one allgather of three numbers): the per_rank object, up to now.
  nlohmann::json per_rank(const mpi::Comm& comm) const {
    const double io = executor_.io_seconds() - io_;
    const double in_io = executor_.io_comm_seconds() - io_comm_;
    const std::vector<double> mine = {
        timer_.seconds(), std::max(0.0, mpi::communication_seconds() - comm_ - in_io), io};
    const std::vector<double> all = mpi::allgather_blocks<double>(comm, mine);
    std::vector<double> seconds, comms, ios;
    for (int r = 0; r < comm.size(); ++r) {
      seconds.push_back(all[3 * static_cast<size_t>(r)]);
      comms.push_back(all[3 * static_cast<size_t>(r) + 1]);
      ios.push_back(all[3 * static_cast<size_t>(r) + 2]);
    }
    return per_rank_json(seconds, comms, ios);
  }

 private:
  const Executor& executor_;
  Stopwatch timer_;
  double comm_, io_, io_comm_;
};

// Removes the temporaries in `directory` (`<name>.tmp`, `<name>.tmp.<pid>`: common/atomic_file.hpp)
// whose final name satisfies `is_ours`. Only for a locked workdir, where no writer is alive.
// Not collective: the root calls it.
template <typename Predicate>
void remove_temporaries(const fs::path& directory, Predicate is_ours) {
  std::error_code ec;
  std::vector<fs::path> leftovers;
  for (fs::directory_iterator it(directory, ec), end; !ec && it != end; it.increment(ec)) {
    const auto target = temp_target(it->path());
    if (target && is_ours(target->filename().string())) leftovers.push_back(it->path());
  }
  for (const auto& path : leftovers)
    fs::remove(path, ec);
}

// Temporary files of generated data (`<input>-<16 hex>.csv.tmp`, see inputs/generate_input.cpp)
// left by a run killed while writing it. The workdir is locked, so no writer is alive; a run that
// reuses every stage would otherwise never regenerate the data and leave them forever.
void remove_generated_temporaries(const mpi::Comm& comm, const fs::path& directory) {
  comm.agree([&] {
    if (!comm.is_root()) return;
    remove_temporaries(directory, [](const std::string& name) {
      const auto dash = name.rfind('-');
      return dash != std::string::npos && name.size() == dash + 1 + 16 + 4 &&
             name.ends_with(".csv") &&
             name.find_first_not_of("0123456789abcdef", dash + 1) == name.size() - 4;
    });
  });
}

// A --rerun name that names no step is a usage error, reported before the run touches anything.
void check_rerun_names(const Job& job, const RunOptions& options) {
  std::vector<std::string> names;
  for (const auto& s : job.steps)
    names.push_back(s->name());
  for (const auto& name : options.rerun) {
    if (std::find(names.begin(), names.end(), name) != names.end()) continue;
    ConfigError error(fmt::format(
        "--rerun '{}': no step is named so{} (steps are named by their first output table: {})",
        name, did_you_mean(name, names), names.empty() ? "none" : list_names(names)));
    error.set_agreed(true);
    throw error;
  }
}

// ---------------------------------------------------------------------------------------------
// Training
// ---------------------------------------------------------------------------------------------

// What a checkpoint says about the model beside its arrays, so that model.h5 describes itself:
// type, task, label and features (a JSON list), as /meta attributes.
struct ModelDescription {
  const ml::Model* model = nullptr;
  const ModelSpec* spec = nullptr;
  std::string label;
  std::vector<std::string> features;
};

ckpt::Checkpoint to_checkpoint(const mpi::Comm& comm, const ml::TrainState& state,
                               const ml::FeaturePipeline& features, const std::string& fingerprint,
                               std::uint64_t seed, const ModelDescription& description) {
  ckpt::Checkpoint c;
  const ml::Model& model = *description.model;
  c.meta.attributes["model_type"] = std::string(model.type());
  // The model's settings as the job wrote them (canonical YAML), so that a reader rebuilds the
  // same model (an mlp's layers) through the model registry.
  YAML::Emitter spec;
  spec << YAML::Flow;
  description.spec->emit(spec);
  c.meta.attributes["model_spec"] = spec.c_str();
  c.meta.attributes["task"] = std::string(ml::to_string(model.task()));
  c.meta.attributes["label"] = description.label;
  c.meta.attributes["features"] = nlohmann::json(description.features).dump();
  if (model.task() == ml::Task::kMulticlass)
    c.arrays["model/classes"] = model.label_encoding().classes;
  c.meta.step = state.step;
  c.meta.epoch = state.epoch;
  c.meta.sample_cursor = state.samples_seen;
  c.meta.world_size = comm.size();
  c.meta.fingerprint = fingerprint;
  c.meta.attributes["step_in_epoch"] = std::to_string(state.step_in_epoch);
  // Shortest round-trip form, so the loss read back is the exact double.
  c.meta.attributes["last_loss"] = fmt::format("{}", state.last_loss);
  c.arrays["model/weights"].assign(state.weights.data(),
                                   state.weights.data() + state.weights.size());
  for (const auto& [name, v] : state.optimizer)
    c.arrays["optimizer/" + name].assign(v.data(), v.data() + v.size());
  // The fitted transforms, so that a resume and a scoring run use the training's statistics.
  c.meta.attributes["feature_pipeline"] = feature_pipeline_json(features);
  // Batches derive from (seed, epoch, row index): the seed is the whole RNG state.
  c.uint_arrays["rng/seed"] = {seed};
  return c;
}

// The classes a multiclass model's checkpoint holds (model/classes; empty if absent).
std::vector<double> checkpoint_classes(const ckpt::Checkpoint& c) {
  const auto it = c.arrays.find("model/classes");
  return it == c.arrays.end() ? std::vector<double>{} : it->second;
}

// The job's feature pipeline `features` with the fitted state `c` holds (InputError naming
// `source` when it has none or it does not fit the job's transforms).
ml::FeaturePipeline restored_features(const ckpt::Checkpoint& c, ml::FeaturePipeline features,
                                      const std::string& source) {
  const auto it = c.meta.attributes.find("feature_pipeline");
  if (it == c.meta.attributes.end()) {
    throw InputError(
        "checkpoint {} lacks the attribute 'feature_pipeline'; it was not written by this job",
        source);
  }
  const ml::FeaturePipeline saved = feature_pipeline_from_json(it->second, "checkpoint " + source);
  features.restore_fitted(saved.transforms(), "checkpoint " + source);
  return features;
}

ml::TrainState from_checkpoint(const ckpt::Checkpoint& c, idx_t num_weights,
                               const ml::SgdOptions& options, const std::string& source) {
  auto array = [&](const std::string& key) -> const std::vector<double>& {
    auto it = c.arrays.find(key);
    if (it == c.arrays.end()) {
      throw InputError("checkpoint {} has no dataset /{}; it was not written by this job", source,
                       key);
    }
    return it->second;
  };
  ml::TrainState state;
  state.step = c.meta.step;
  state.epoch = c.meta.epoch;
  state.samples_seen = c.meta.sample_cursor;
  auto attr = [&](const std::string& key) {
    auto it = c.meta.attributes.find(key);
    if (it == c.meta.attributes.end()) {
      throw InputError("checkpoint {} lacks the attribute '{}'; it was not written by this job",
                       source, key);
    }
    return it->second;
  };
  // Written by to_checkpoint as an integer and a shortest round-trip double; anything else is
  // damage (the store's meta_checksum catches an edit, this an older file's).
  const std::string step_in_epoch = attr("step_in_epoch");
  const auto [end, ec] = std::from_chars(
      step_in_epoch.data(), step_in_epoch.data() + step_in_epoch.size(), state.step_in_epoch);
  if (ec != std::errc() || end != step_in_epoch.data() + step_in_epoch.size()) {
    throw InputError(
        "checkpoint {} is damaged: its attribute 'step_in_epoch' is '{}', not an "
        "integer",
        source, step_in_epoch);
  }
  const std::string last_loss = attr("last_loss");
  char* loss_end = nullptr;
  state.last_loss = std::strtod(last_loss.c_str(), &loss_end);
  if (last_loss.empty() || loss_end != last_loss.c_str() + last_loss.size()) {
    throw InputError("checkpoint {} is damaged: its attribute 'last_loss' is '{}', not a number",
                     source, last_loss);
  }
  const auto& weights = array("model/weights");
  if (static_cast<idx_t>(weights.size()) != num_weights) {
    throw InputError(
        "checkpoint {} holds {} weights but the model has {}: it belongs to another "
        "feature set; use --resume never to start over",
        source, weights.size(), num_weights);
  }
  state.weights = Eigen::Map<const Eigen::VectorXd>(weights.data(), num_weights);
  for (const std::string& name : ml::optimizer_state_names(options.optimizer)) {
    const auto& v = array("optimizer/" + name);
    // One value per weight, except lbfgs's history pairs and counters.
    const Eigen::Index size = ml::optimizer_state_size(options, name, num_weights);
    if (static_cast<idx_t>(v.size()) != size) {
      throw InputError(
          "checkpoint {} holds {} values of optimizer/{} but the model's {} weights need {}: it "
          "belongs to another feature set or optimizer; use --resume never to start over",
          source, v.size(), name, num_weights, size);
    }
    state.optimizer[name] = Eigen::Map<const Eigen::VectorXd>(v.data(), size);
  }
  return state;
}

// train.early_stopping: the metric after every epoch, the best epoch and its weights; saved in
// every checkpoint (attribute early_stopping, array early_stopping/best_weights) so that a resumed
// run continues exactly, and sets the finished model's weights to the best epoch's.
struct EarlyStopping {
  const EarlyStoppingSpec* spec = nullptr;  // null: not configured
  const ml::Metric* metric = nullptr;
  std::vector<double> history;  // the metric after each completed epoch, in order
  double best = 0.0;
  idx_t best_epoch = -1;  // epochs completed when `best` was measured; -1 before any epoch
  idx_t bad_epochs = 0;   // epochs since then without an improvement of more than min_delta
  Eigen::VectorXd best_weights;
  bool stopped = false;  // patience ran out: training is finished

  explicit EarlyStopping(const TrainSpec& train) {
    if (!train.early_stopping) return;
    spec = &*train.early_stopping;
    metric = ml::find_metric(spec->metric);
  }
  bool enabled() const { return spec != nullptr; }

  void save(ckpt::Checkpoint& c) const {
    if (!enabled()) return;
    c.meta.attributes["early_stopping"] = nlohmann::json{
        {"history", history},
        {"best", best},
        {"best_epoch", best_epoch},
        {"bad_epochs", bad_epochs},
        {"stopped", stopped}}.dump();
    c.arrays["early_stopping/best_weights"].assign(best_weights.data(),
                                                   best_weights.data() + best_weights.size());
  }

  // Local: the state `c` holds (InputError naming `source` when it is missing or damaged).
  void load(const ckpt::Checkpoint& c, idx_t num_weights, const std::string& source) {
    if (!enabled()) return;
    const auto it = c.meta.attributes.find("early_stopping");
    const auto weights = c.arrays.find("early_stopping/best_weights");
    if (it == c.meta.attributes.end() || weights == c.arrays.end()) {
      throw InputError("checkpoint {} has no early-stopping state; it was not written by this job",
                       source);
    }
    try {
      const auto j = nlohmann::json::parse(it->second);
      history = j.at("history").get<std::vector<double>>();
      best = j.at("best").get<double>();
      best_epoch = j.at("best_epoch").get<idx_t>();
      bad_epochs = j.at("bad_epochs").get<idx_t>();
      stopped = j.at("stopped").get<bool>();
    } catch (const nlohmann::json::exception& e) {
      throw InputError("checkpoint {} is damaged: its early-stopping state does not parse ({})",
                       source, e.what());
    }
    const bool started = best_epoch >= 0;
    if (static_cast<idx_t>(weights->second.size()) != (started ? num_weights : 0) ||
        best_epoch > static_cast<idx_t>(history.size()) || bad_epochs < 0) {
      throw InputError("checkpoint {} is damaged: its early-stopping state does not fit the model",
                       source);
    }
    best_weights = Eigen::Map<const Eigen::VectorXd>(
        weights->second.data(), static_cast<Eigen::Index>(weights->second.size()));
  }

  // Collective: the metric of the weights after `epochs` completed epochs on `table`; updates the
  // best epoch and decides whether patience has run out.
  void after_epoch(const mpi::Comm& comm, const table::Table& table,
                   const ml::FeaturePipeline& features, const std::string& label,
                   const ml::Model& model, const Eigen::VectorXd& weights, idx_t epochs) {
    ml::ScoredRows scored = ml::score_table(comm, table, features, label, model, weights);
    ml::Predictions predictions;
    predictions.task = model.task();
    predictions.labels = std::move(scored.labels);
    predictions.outputs = std::move(scored.outputs);
    predictions.num_outputs = scored.num_outputs;
    double value = 0;
    try {
      value = metric->compute(comm, predictions);
    } catch (const ml::MetricNotComputable& e) {
      InputError error(fmt::format(
          "{}: early stopping cannot compute {} on table '{}' after epoch {}: {}; choose another "
          "metric or a larger validation table",
          spec->fields.of("metric", spec->location).to_string(), spec->metric, spec->input, epochs,
          e.what()));
      error.set_agreed(true);
      throw error;
    }
    history.push_back(value);
    const bool improved =
        best_epoch < 0 || (metric->higher_is_better ? value > best + spec->min_delta
                                                    : value < best - spec->min_delta);
    if (improved) {
      best = value;
      best_epoch = epochs;
      best_weights = weights;
      bad_epochs = 0;
    } else {
      ++bad_epochs;
    }
    stopped = bad_epochs >= spec->patience;
    spdlog::info("epoch {}: {} on '{}' = {:.6f} (best {:.6f} after epoch {}{})", epochs,
                 spec->metric, spec->input, value, best, best_epoch,
                 improved ? ""
                          : fmt::format("; {} of {} epochs without improvement", bad_epochs,
                                        spec->patience));
    if (stopped) {
      spdlog::info("early stopping after epoch {}: keeping the weights of epoch {} ({} = {:.6f})",
                   epochs, best_epoch, spec->metric, best);
    }
  }

  nlohmann::json summary() const {
    if (!enabled()) return nullptr;
    return {{"input", spec->input},         {"metric", spec->metric}, {"patience", spec->patience},
            {"min_delta", spec->min_delta}, {"history", history},     {"best_value", best},
            {"best_epoch", best_epoch},     {"stopped", stopped}};
  }
};

struct TrainOutcome {
  std::unique_ptr<ml::Model> model;
  ml::FeaturePipeline features;  // fitted
  ml::TrainState state;
  idx_t resumed_from = -1;
  bool reused = false;
  std::string fingerprint;
  // Where the time went (metrics.json "train"): from the start of train() to the first step, each
  // epoch this run completed (the first may be partial after a resume), the gradient sums.
  double setup_seconds = 0.0;
  std::vector<double> epoch_seconds;
  // The training loss this run saw: each step's batch loss, and the mean batch loss of each epoch
  // this run completed (the first may be partial after a resume).
  std::vector<std::pair<idx_t, double>> step_losses;
  std::vector<double> epoch_losses;
  double gradient_sum_seconds = 0.0;
  nlohmann::json early_stopping = nullptr;  // EarlyStopping::summary()
};

// Moves every checkpoint in `store` aside (checkpoints.old-<time>), so that checkpoints of other
// training never compete with this training's in keep-K pruning.
void move_checkpoints_aside(const mpi::Comm& comm, const ckpt::CheckpointStore& store,
                            const std::string& why) {
  comm.agree([&] {
    if (!comm.is_root() || !fs::exists(store.directory()) || store.list().empty()) return;
    const auto stamp = std::chrono::system_clock::now().time_since_epoch().count();
    const fs::path aside = store.directory().string() + ".old-" + std::to_string(stamp);
    spdlog::info("{}: moving {} checkpoint(s) aside to {}", why, store.list().size(),
                 aside.string());
    fs::rename(store.directory(), aside);
  });
}

// Training stops when the batch loss exceeds this multiple of the run's first batch loss (or is
// not finite): gradient steps that make the loss 100 times worse have left any useful model.
constexpr double kDivergenceFactor = 100.0;

// Unscaled features whose root mean squares differ by more than this factor get a warning.
// Without scaling, a gradient step sees feature j with curvature ~ E[x_j^2] (raw values, offset
// included: a year or an id is as badly scaled as a wide spread), so a ratio R of root mean
// squares is a ratio R^2 of curvatures: at any learning rate that is stable for the largest
// feature, the smallest learns R^2 times slower. At R = 100 that is 10^4, more steps than a
// typical run has; smaller ratios are common in raw data (an age beside a 0/1 flag) and train.
constexpr double kUnscaledRatioWarning = 100.0;

// Collective: one warning (rank 0) when unscaled features differ in scale by more than
// kUnscaledRatioWarning. Features that are 0 everywhere are left out.
void warn_unscaled_features(const mpi::Comm& comm, const ml::Dataset& data) {
  const std::vector<double> rms = ml::feature_root_mean_squares(comm, data);
  int smallest = -1, largest = -1;
  for (int j = 0; j < static_cast<int>(rms.size()); ++j) {
    const double r = rms[static_cast<size_t>(j)];
    if (!(r > 0.0)) continue;
    if (smallest < 0 || r < rms[static_cast<size_t>(smallest)]) smallest = j;
    if (largest < 0 || r > rms[static_cast<size_t>(largest)]) largest = j;
  }
  if (smallest < 0) return;
  const double lo = rms[static_cast<size_t>(smallest)], hi = rms[static_cast<size_t>(largest)];
  if (!(hi > kUnscaledRatioWarning * lo) || !comm.is_root()) return;
  const auto name = [&](int j) { return data.feature_names.at(static_cast<size_t>(j)); };
  spdlog::warn(
      "training on unscaled features of very different scales: '{}' has root mean square {:.4g} "
      "and '{}' {:.4g}, {:.3g} times more (above {:g}); at a learning rate that is stable for "
      "'{}', '{}' learns about {:.2g} times slower. Add transforms: [{{scale: standard}}] to the "
      "train section",
      name(smallest), lo, name(largest), hi, hi / lo, kUnscaledRatioWarning, name(largest),
      name(smallest), (hi / lo) * (hi / lo));
}

// Collective: the class weights `train.class_weight` asks for, by label index (empty without
// it). balanced: n / (classes x rows of the class), from exact global counts; a class without
// rows keeps weight 1. Given weights: a label value that is not a class is an agreed ConfigError.
std::vector<double> class_weights_for(const mpi::Comm& comm, const TrainSpec& spec,
                                      const ml::Model& model, const ml::Dataset& data) {
  if (spec.class_weight == TrainSpec::ClassWeight::kNone) return {};
  const std::vector<double> classes = model.task() == ml::Task::kBinary
                                          ? std::vector<double>{0.0, 1.0}
                                          : model.label_encoding().classes;
  std::vector<double> weights(classes.size(), 1.0);
  if (spec.class_weight == TrainSpec::ClassWeight::kBalanced) {
    std::vector<idx_t> counts(classes.size(), 0);
    for (Eigen::Index i = 0; i < data.labels.size(); ++i)
      ++counts[static_cast<size_t>(data.labels(i))];
    mpi::allreduce_inplace(comm, std::span<idx_t>(counts), mpi::Reduce::kSum);
    idx_t n = 0;
    for (const idx_t c : counts)
      n += c;
    for (size_t c = 0; c < classes.size(); ++c) {
      if (counts[c] > 0) {
        weights[c] = static_cast<double>(n) /
                     (static_cast<double>(classes.size()) * static_cast<double>(counts[c]));
      }
    }
  } else {
    comm.agree([&] {
      for (const auto& [label, weight] : spec.class_weights) {
        const auto it = std::find(classes.begin(), classes.end(), label);
        if (it == classes.end()) {
          throw ConfigError(
              "{}: class_weight gives a weight to label {}, which is not a class of the training "
              "data (classes: {}); remove it or fix the label",
              spec.fields.of("class_weight", spec.location).to_string(), label,
              fmt::join(classes, ", "));
        }
        weights[static_cast<size_t>(it - classes.begin())] = weight;
      }
    });
  }
  std::vector<std::string> shown;
  for (size_t c = 0; c < classes.size(); ++c)
    shown.push_back(fmt::format("{}: {:.6g}", classes[c], weights[c]));
  spdlog::info("class weights ({}): {}",
               spec.class_weight == TrainSpec::ClassWeight::kBalanced ? "balanced" : "given",
               fmt::join(shown, ", "));
  return weights;
}

TrainOutcome train(const mpi::Comm& comm, const Job& job, Executor& executor,
                   const RunOptions& options, const fs::path& workdir) {
  const Stopwatch train_timer;
  const TrainSpec& spec = *job.train;
  // The model is a piece built from its spec (ModelSpec::build); the optimizer's spec gives the
  // trainer's options and its state names the checkpoint arrays (optimizer/<name>). The
  // transforms make the feature pipeline, fitted on the training table (or restored from the
  // checkpoint), which gives the model its number of features.
  const ModelSpec& model_spec = *spec.model;
  ml::SgdOptions sgd = spec.optimizer->training_options();
  sgd.seed = job.seed;
  const ml::FeaturePipeline unfitted = feature_pipeline_of(spec);
  bool scaled = false;
  for (const auto& name : unfitted.numeric())
    scaled = scaled || unfitted.is_scaled(name);
  TableState& source = executor.table(spec.input);
  TrainOutcome out;
  EarlyStopping early(spec);
  // The validation table decides where training stops: its data is part of the training's
  // identity too.
  out.fingerprint = training_fingerprint(
      job, early.enabled()
               ? source.fingerprint + "+" + executor.table(early.spec->input).fingerprint
               : source.fingerprint);
  const auto describe = [&] {
    return ModelDescription{out.model.get(), &model_spec, spec.label, out.features.input_columns()};
  };

  ckpt::CheckpointStore store(workdir / "checkpoints", spec.checkpoint_keep);
  store.remove_temporaries(comm);

  // ---- where to start -----------------------------------------------------------------------
  std::optional<ckpt::Checkpoint> loaded;
  std::string loaded_from;
  if (options.resume == "auto") {
    // A checkpoint of this training (same fingerprint, so same data and batch size) whose state
    // does not parse or whose position this training cannot reach is damaged: the store falls
    // back to an older one, as it does for a damaged file.
    const auto accept = [&](const ckpt::Checkpoint& c, const fs::path& file) {
      const ml::FeaturePipeline features = restored_features(c, unfitted, file.string());
      const std::unique_ptr<ml::Model> model =
          model_spec.build(features.num_outputs(), checkpoint_classes(c));
      const ml::TrainState state = from_checkpoint(c, model->num_parameters(), sgd, file.string());
      EarlyStopping check(spec);
      check.load(c, model->num_parameters(), file.string());
      if (source.rows >= 0 && !ml::resume_position_fits(state, source.rows, sgd.batch_size)) {
        throw InputError(
            "checkpoint {} is damaged: its position (step {}, epoch {}, step {} of the epoch, {} "
            "samples seen) or its weights cannot come from this training ({} rows, batch size "
            "{}), which it claims by its fingerprint",
            file.string(), state.step, state.epoch, state.step_in_epoch, state.samples_seen,
            source.rows, sgd.batch_size);
      }
    };
    loaded = [&] {
      const Executor::IoScope io(executor);
      return store.load_latest(comm, out.fingerprint, accept);
    }();
    loaded_from = "the newest valid checkpoint in " + store.directory().string();
    if (!loaded) {
      move_checkpoints_aside(
          comm, store,
          fmt::format("training starts over: no checkpoint in {} was written for this training "
                      "(fingerprint {}, covering the train section, the seed and the data of "
                      "table '{}')",
                      store.directory().string(), out.fingerprint, spec.input));
    }
  } else if (options.resume == "never") {
    move_checkpoints_aside(comm, store, "--resume never");
  } else {
    loaded = [&] {
      const Executor::IoScope io(executor);
      return store.load(comm, options.resume);
    }();
    loaded_from = options.resume;
    if (loaded->meta.fingerprint != out.fingerprint) {
      spdlog::warn(
          "checkpoint {} was written for other training data or configuration "
          "(fingerprint {} != {}); resuming anyway because it was named explicitly",
          options.resume, loaded->meta.fingerprint, out.fingerprint);
    }
  }

  std::optional<ml::TrainState> resume;
  if (loaded) {
    comm.agree([&] {
      // A multiclass model's classes come with its checkpoint: the data they were found in is
      // this data (the fingerprint says so), and a finished model is reused without reading it.
      out.features = restored_features(*loaded, unfitted, loaded_from);
      out.model = model_spec.build(out.features.num_outputs(), checkpoint_classes(*loaded));
      resume = from_checkpoint(*loaded, out.model->num_parameters(), sgd, loaded_from);
      early.load(*loaded, out.model->num_parameters(), loaded_from);
    });
    out.resumed_from = resume->step;
    // A checkpoint at the last step holds the finished model: nothing to train, no data to read.
    if (early.stopped || (source.rows >= 0 && ml::training_finished(*resume, sgd, source.rows))) {
      out.state = *resume;
      out.reused = true;
      spdlog::info("training: reused the finished model of {} (step {}, fingerprint {})",
                   loaded_from, resume->step, out.fingerprint.substr(0, 16));
    } else {
      spdlog::info("resuming training from step {} (epoch {}), saved at {} rank(s), from {}",
                   resume->step, resume->epoch, loaded->meta.world_size, loaded_from);
    }
  }

  if (!out.reused) {
    const table::Table& table = executor.materialize(spec.input);
    ml::Dataset data;
    if (out.model) {
      // Resuming: the pipeline's state comes from the checkpoint.
      data = out.features.assemble(comm, table, spec.label, out.model->label_encoding(),
                                   spec.matrix_type);
    } else {
      ml::LabelEncoding labels{model_spec.task(), {}};
      if (model_spec.task() == ml::Task::kMulticlass) {
        labels.classes = ml::distinct_label_values(comm, table, spec.label);
        spdlog::info("training '{}': {} classes in label '{}': {}", model_spec.type,
                     labels.classes.size(), spec.label, fmt::join(labels.classes, ", "));
      }
      out.features = unfitted;
      data = out.features.fit(comm, table, spec.label, labels, spec.matrix_type);
      if (out.features.num_outputs() != static_cast<int>(unfitted.numeric().size())) {
        spdlog::info("feature pipeline: {} input columns give {} features",
                     out.features.input_columns().size(), out.features.num_outputs());
      }
      comm.agree([&] {
        out.model = model_spec.build(out.features.num_outputs(), std::move(labels.classes));
      });
    }
    // The matrix holds what training reads: the table goes now unless evaluation (a later
    // position) or early stopping (below) reads it too. Its columns and the matrix are alike in
    // size, so this halves what training keeps (2e7 x 64 float64 at 2 ranks: 4.1 GB per rank).
    if (!early.enabled() || early.spec->input != spec.input)
      executor.release(spec.input, executor.train_position());
    if (!scaled) warn_unscaled_features(comm, data);

    sgd.class_weights = class_weights_for(comm, spec, *out.model, data);
    const idx_t per_epoch = ml::steps_per_epoch(data.global_rows, sgd.batch_size);
    const idx_t total_steps = per_epoch * sgd.epochs;
    if (sgd.optimizer == ml::OptimizerKind::kLbfgs) {
      spdlog::info(
          "training {} ({}, {} parameters) with lbfgs on {} rows x {} features ({} matrix): full "
          "batch, at most {} iterations, memory {}, tolerance {} (gradient) and {} (objective), "
          "checkpoint every {} iterations",
          out.model->type(), ml::to_string(out.model->task()), out.model->num_parameters(),
          data.global_rows, data.num_features(), ml::to_string(data.matrix_type()), sgd.epochs,
          sgd.lbfgs_memory, sgd.tolerance, sgd.objective_tolerance, spec.checkpoint_every_steps);
    } else {
      spdlog::info(
          "training {} ({}, {} parameters) with {} on {} rows x {} features ({} matrix): {} "
          "epochs x {} steps, batch {}, checkpoint every {} steps",
          out.model->type(), ml::to_string(out.model->task()), out.model->num_parameters(),
          ml::to_string(sgd.optimizer), data.global_rows, data.num_features(),
          ml::to_string(data.matrix_type()), sgd.epochs, per_epoch, sgd.batch_size,
          spec.checkpoint_every_steps);
    }

    idx_t last_saved = resume ? resume->step : -1;
    // The checkpoint of `state`. Once training is finished (patience ran out, or the last step)
    // with early stopping, its model is the best epoch's: the model.h5 a run publishes.
    const auto checkpoint_of = [&](const ml::TrainState& state) {
      ml::TrainState published = state;
      if (early.enabled() && (early.stopped || state.step == total_steps))
        published.weights = early.best_weights;
      ckpt::Checkpoint c =
          to_checkpoint(comm, published, out.features, out.fingerprint, job.seed, describe());
      early.save(c);
      return c;
    };
    const table::Table* validation =
        early.enabled() ? &executor.materialize(early.spec->input) : nullptr;
    Stopwatch progress;
    const Stopwatch training_clock;
    const idx_t first_step = resume ? resume->step : 0;
    ml::TrainCallbacks callbacks;
    // The first batch loss of this run, the yardstick for divergence. The loss is the same on
    // every rank (an allreduced sum), so every rank stops at the same step.
    double first_loss = -1;
    Stopwatch epoch_timer;
    double epoch_loss_sum = 0;
    idx_t epoch_loss_steps = 0;
    callbacks.after_step = [&](const ml::TrainState& state) {
      maybe_inject_fault("train_step:" + std::to_string(state.step), comm.rank());
      out.step_losses.emplace_back(state.step, state.last_loss);
      epoch_loss_sum += state.last_loss;
      ++epoch_loss_steps;
      if (state.step_in_epoch == 0) {
        out.epoch_seconds.push_back(epoch_timer.seconds());
        epoch_timer.reset();
        out.epoch_losses.push_back(epoch_loss_sum / static_cast<double>(epoch_loss_steps));
        epoch_loss_sum = 0;
        epoch_loss_steps = 0;
      }
      if (first_loss < 0) first_loss = state.last_loss;
      if (!std::isfinite(state.last_loss) ||
          state.last_loss > kDivergenceFactor * std::max(first_loss, 1e-6)) {
        RuntimeError error(fmt::format(
            "training diverged at step {}: the batch loss is {} (the first batch's was {}); lower "
            "train.optimizer.lr (now {}){}; the last good checkpoint is kept",
            state.step, state.last_loss, first_loss, sgd.learning_rate,
            scaled ? "" : " or scale the features (transforms: [{scale: standard}])"));
        error.set_agreed(true);
        throw error;
      }
      // After each epoch, before that step's checkpoint: the checkpoint holds the decision.
      if (early.enabled() && state.step_in_epoch == 0 && state.step > 0) {
        early.after_epoch(comm, *validation, out.features, spec.label, *out.model, state.weights,
                          state.epoch);
      }
      if (spec.checkpoint_every_steps > 0 && state.step % spec.checkpoint_every_steps == 0) {
        const Executor::IoScope io(executor);
        store.save(comm, checkpoint_of(state));
        last_saved = state.step;
        spdlog::debug("checkpoint written at step {}", state.step);
      }
      if (progress.seconds() >= 5.0 || ml::training_finished(state, sgd, data.global_rows)) {
        // Rate and time left from this run's steps (a resumed run starts its clock anew).
        const double seconds = training_clock.seconds();
        const auto steps_done = static_cast<double>(state.step - first_step);
        const double steps_per_second = seconds > 0 ? steps_done / seconds : 0;
        // A full-batch step (lbfgs) goes over every row, and its loss is the objective; its
        // iteration count is at most total_steps, so the ETA is an upper bound.
        const bool full_batch = sgd.batch_size == ml::kFullBatch;
        spdlog::info(
            "step {}/{} (epoch {}), {} {:.6f}, {:.3g} rows/s, ETA {}{}", state.step, total_steps,
            state.epoch + (state.step_in_epoch == 0 ? 0 : 1),
            full_batch ? "objective" : "batch loss", state.last_loss,
            steps_per_second * static_cast<double>(full_batch ? data.global_rows : sgd.batch_size),
            steps_per_second > 0
                ? fmt::format("{:.0f} s",
                              static_cast<double>(total_steps - state.step) / steps_per_second)
                : std::string("?"),
            full_batch ? " at most" : "");
        progress.reset();
      }
    };
    // early.stopped is equal on every rank (the metric is).
    callbacks.stop_requested = [&] { return stop_signal_received() || early.stopped; };
    bool stopped = false;
    out.setup_seconds = train_timer.seconds();
    epoch_timer.reset();
    out.state = ml::train_sgd(comm, data, *out.model, sgd, resume, callbacks, &stopped,
                              &out.gradient_sum_seconds);
    if (out.state.step != last_saved) {
      const Executor::IoScope io(executor);
      store.save(comm, checkpoint_of(out.state));
    }
    if (stopped && !early.stopped) {
      InterruptedError error(
          stop_message(agreed_stop_cause(comm), fmt::format("at training step {}", out.state.step),
                       fmt::format("checkpoint written to {}; rerun with --resume auto to continue",
                                   store.directory().string())));
      error.set_agreed(true);
      throw error;
    }
    if (sgd.optimizer == ml::OptimizerKind::kLbfgs) {
      const ml::LbfgsProgress lbfgs = ml::lbfgs_progress(out.state);
      spdlog::info(
          "lbfgs stopped after {} iterations ({} objective and gradient passes over the data): "
          "{}; objective {:.17g}",
          out.state.step, lbfgs.evaluations,
          lbfgs.status == ml::LbfgsStatus::kRunning ? "max_iterations reached"
                                                    : ml::to_string(lbfgs.status),
          out.state.last_loss);
    } else {
      spdlog::info("training finished at step {}, last batch loss {:.6f}", out.state.step,
                   out.state.last_loss);
    }
    if (early.enabled()) out.state.weights = early.best_weights;
  }
  out.early_stopping = early.summary();

  // The final model, in checkpoint layout, next to the run's other outputs: a copy of the
  // checkpoint of the last step, so a rerun publishes the same bytes.
  const fs::path final_checkpoint =
      out.reused && options.resume != "auto" && options.resume != "never"
          ? fs::path(options.resume)  // a finished model named by --resume PATH
          : store.directory() / ckpt::checkpoint_file_name(out.state.step);
  comm.agree([&] {
    if (comm.is_root()) copy_file_atomically(final_checkpoint, workdir / "model.h5");
  });
  return out;
}

// ---------------------------------------------------------------------------------------------
// Run record
// ---------------------------------------------------------------------------------------------

nlohmann::json number_or_null(double value) {
  return std::isfinite(value) ? nlohmann::json(value) : nlohmann::json(nullptr);
}

// An input's data-quality profile (metrics.json inputs.<name>.profile): integer-like ranges as
// exact integers (timestamps in microseconds), float ranges as numbers (null if infinite).
nlohmann::json profile_json(const ops::TableProfile& profile) {
  nlohmann::json columns = nlohmann::json::array();
  for (const ops::ColumnProfile& c : profile.columns) {
    nlohmann::json column = {{"name", c.name},
                             {"type", table::to_string(c.type)},
                             {"nulls", c.nulls},
                             {"min", nullptr},
                             {"max", nullptr},
                             {"distinct", c.distinct},
                             {"distinct_exact", c.distinct_exact}};
    if (c.has_range && table::is_floating(c.type)) {
      column["min"] = number_or_null(c.min);
      column["max"] = number_or_null(c.max);
    } else if (c.has_range) {
      column["min"] = c.int_min;
      column["max"] = c.int_max;
    }
    columns.push_back(std::move(column));
  }
  return {{"rows", profile.rows}, {"columns", columns}};
}

}  // namespace

std::string training_fingerprint(const Job& job, const std::string& train_table_fingerprint) {
  const YAML::Node root = YAML::Load(job.canonical_yaml);
  YAML::Emitter emitter;
  emitter << root["train"];
  return Fingerprint()
      .add(std::string_view("train-v3"))
      .add(static_cast<std::int64_t>(job.seed))
      .add(std::string_view(emitter.c_str()))
      .add(train_table_fingerprint)
      .hex();
}

std::map<std::string, std::string> table_fingerprints(const mpi::Comm& comm, const Job& job) {
  RunOptions options;
  Executor executor(comm, job, options, job.workdir);
  executor.fingerprint_tables(false);
  return executor.fingerprints();
}

RunSummary run_job(const mpi::Comm& comm, const Job& job, const RunOptions& options) {
  Stopwatch total;
  check_rerun_names(job, options);
  RunSummary summary;
  summary.workdir = job.workdir;
  const fs::path workdir = job.workdir;
  comm.agree([&] {
    if (comm.is_root()) fs::create_directories(workdir);
  });
  const WorkdirLock lock(comm, workdir);
  if (options.observer) options.observer->run_started(comm, job);
  spdlog::info("job '{}' on {} rank(s), workdir {}", job.name, comm.size(), workdir.string());
  keep_freed_memory(job.runtime.keep_freed_memory);
  use_huge_pages_for_buffers(job.runtime.huge_pages);
  set_huge_page_buffer_min_bytes(static_cast<std::size_t>(job.runtime.huge_page_min_bytes));

  // A run rebuilds the published results; removing the previous run's first means a run that
  // fails leaves none behind that could pass for its own. So go the temporaries of a run killed
  // while publishing one (`model.h5.tmp.<pid>`): the workdir is locked, so their writer is dead,
  // and a rerun that reuses every step would otherwise never write them again to replace them.
  comm.agree([&] {
    if (!comm.is_root()) return;
    fs::remove_all(workdir / "outputs");
    const std::array<std::string_view, 3> published = {"model.h5", "metrics.json", "report.html"};
    for (const auto name : published)
      fs::remove(workdir / name);
    remove_temporaries(workdir, [&](const std::string& name) {
      return std::find(published.begin(), published.end(), name) != published.end();
    });
  });

  Executor executor(comm, job, options, workdir);
  executor.cache().remove_temporaries(comm);
  remove_generated_temporaries(comm, workdir / "data");
  executor.fingerprint_tables(true);
  executor.plan_liveness();

  // ---- steps, then outputs ------------------------------------------------------------------
  executor.run_steps();
  executor.publish_outputs();

  // ---- train and evaluate -------------------------------------------------------------------
  nlohmann::json train_json = nullptr;
  nlohmann::json evaluate_json = nullptr;
  std::vector<std::string> not_computable;  // metrics undefined on the evaluation data
  if (job.train) {
    Stopwatch timer;
    const PhaseTimes train_times(executor);
    TrainOutcome outcome = [&] {
      const ProgressScope progress_scope("training");
      return train(comm, job, executor, options, workdir);
    }();
    executor.free_after(executor.train_position());
    summary.train_steps = outcome.state.step;
    summary.train_losses = outcome.step_losses;
    summary.resumed_from_step = outcome.resumed_from;
    summary.train_reused = outcome.reused;
    train_json = {{"steps", outcome.state.step},
                  {"epochs", job.train->optimizer->training_options().epochs},
                  {"last_batch_loss", number_or_null(outcome.state.last_loss)},
                  {"resumed_from_step", outcome.resumed_from},
                  {"reused", outcome.reused},
                  {"fingerprint", outcome.fingerprint},
                  {"model", outcome.model->type()},
                  {"task", ml::to_string(outcome.model->task())},
                  {"parameters", outcome.model->num_parameters()},
                  {"matrix_type", ml::to_string(job.train->matrix_type)},
                  {"seconds", timer.seconds()},
                  {"setup_seconds", outcome.setup_seconds},
                  {"epoch_seconds", outcome.epoch_seconds},
                  {"epoch_loss", outcome.epoch_losses},
                  {"gradient_sum_seconds", outcome.gradient_sum_seconds},
                  {"early_stopping", outcome.early_stopping},
                  {"per_rank", train_times.per_rank(comm)}};
    if (job.train->optimizer->training_options().optimizer == ml::OptimizerKind::kLbfgs) {
      const ml::LbfgsProgress lbfgs = ml::lbfgs_progress(outcome.state);
      train_json["lbfgs"] = {
          {"iterations", outcome.state.step},
          {"evaluations", lbfgs.evaluations},
          {"pairs", lbfgs.pairs},
          {"converged", lbfgs.status != ml::LbfgsStatus::kRunning},
          {"stop_reason", lbfgs.status == ml::LbfgsStatus::kRunning ? "max_iterations reached"
                                                                    : ml::to_string(lbfgs.status)},
          {"objective", number_or_null(outcome.state.last_loss)}};
    }
    if (job.evaluate) {
      const Stopwatch evaluate_timer;
      const PhaseTimes evaluate_times(executor);
      const ProgressScope progress_scope("evaluation");
      ml::ScoredRows scored =
          ml::score_table(comm, executor.materialize(job.evaluate->input), outcome.features,
                          job.train->label, *outcome.model, outcome.state.weights);
      ml::Predictions predictions;
      predictions.task = outcome.model->task();
      predictions.labels = std::move(scored.labels);
      predictions.outputs = std::move(scored.outputs);
      predictions.num_outputs = scored.num_outputs;
      for (const auto& name : job.evaluate->metrics) {
        const ml::Metric* metric = ml::find_metric(name);
        if (!metric || !metric->supports(predictions.task)) {
          // validate_job rejects unknown names before any work; the names are equal on all
          // ranks, so every rank stops here alike.
          ConfigError error(fmt::format(
              "{}: metric '{}' in evaluate.metrics is not one for {} (metrics for it: {})",
              job.evaluate->fields.of("metrics", job.evaluate->location).to_string(), name,
              ml::to_string(predictions.task), list_names(ml::metric_names(predictions.task))));
          error.set_agreed(true);
          throw error;
        }
        double value = std::numeric_limits<double>::quiet_NaN();
        try {
          value = metric->compute(comm, predictions);
          spdlog::info("evaluate on '{}': {} = {:.6f}", job.evaluate->input, name, value);
        } catch (const ml::MetricNotComputable& e) {
          // Undefined on this data (every rank knows it alike): say so, keep the other metrics.
          if (comm.is_root()) {
            spdlog::warn(
                "evaluate on '{}': {} is not computable: {}; metrics.json reports it as null",
                job.evaluate->input, name, e.what());
          }
          not_computable.push_back(name);
        }
        summary.metrics[name] = value;
      }
      evaluate_json = {
          {"input", job.evaluate->input},
          {"rows", mpi::allreduce_sum(comm, static_cast<idx_t>(predictions.labels.size()))}};
      if (predictions.task == ml::Task::kBinary) {
        // For the run report: the confusion matrix at 0.5 (rows: true 0, 1; columns: predicted)
        // and the ROC curve on a 200-bin grid with the exact AUC beside it. Both are global
        // counts, so no rank gathers the scores. Undefined without rows or with one class (the
        // ROC curve): left out.
        try {
          const ml::BinaryConfusion c =
              ml::binary_confusion(comm, predictions.labels, predictions.outputs);
          evaluate_json["confusion_matrix"] = {
              {"classes", {0, 1}}, {"threshold", 0.5}, {"counts", {{c.tn, c.fp}, {c.fn, c.tp}}}};
          const ml::RocCurve roc = ml::roc_curve(comm, predictions.labels, predictions.outputs);
          const auto auc = summary.metrics.find("auc");
          evaluate_json["roc"] = {
              {"bins", roc.fpr.size() - 1},
              {"fpr", roc.fpr},
              {"tpr", roc.tpr},
              {"auc", auc != summary.metrics.end() && std::isfinite(auc->second)
                          ? auc->second
                          : ml::roc_auc(comm, predictions.labels, predictions.outputs)}};
        } catch (const ml::MetricNotComputable& e) {
          if (comm.is_root()) spdlog::info("evaluate: no ROC curve for the report: {}", e.what());
        }
      }
      if (predictions.task == ml::Task::kMulticlass) {
        // Rows: the true class; columns: the predicted (most probable) class; in class order.
        const std::vector<std::int64_t> counts = ml::confusion_matrix(
            comm, predictions.labels, predictions.outputs, predictions.num_outputs);
        const auto k = static_cast<size_t>(predictions.num_outputs);
        nlohmann::json matrix = nlohmann::json::array();
        for (size_t t = 0; t < k; ++t)
          matrix.push_back(
              std::vector<std::int64_t>(counts.begin() + static_cast<long>(t * k),
                                        counts.begin() + static_cast<long>((t + 1) * k)));
        evaluate_json["confusion_matrix"] = {{"classes", outcome.model->label_encoding().classes},
                                             {"counts", matrix}};
      }
      executor.free_after(executor.evaluate_position());
      evaluate_json["seconds"] = evaluate_timer.seconds();
      evaluate_json["per_rank"] = evaluate_times.per_rank(comm);
    }
  }

  // ---- cache upkeep -------------------------------------------------------------------------
  const int pruned =
      executor.cache().prune(comm, executor.step_output_fingerprints(), job.runtime.cache_keep);
  if (pruned > 0) {
    spdlog::info("stage cache: removed {} old file(s) (runtime.cache_keep = {})", pruned,
                 job.runtime.cache_keep);
  }

  // ---- run record ---------------------------------------------------------------------------
  summary.steps = executor.step_records();
  summary.peak_rss_bytes = mpi::allreduce_max(comm, peak_rss_bytes());
  nlohmann::json steps = nlohmann::json::array();
  for (size_t i = 0; i < summary.steps.size(); ++i) {
    const StepRecord& s = summary.steps[i];
    nlohmann::json rows = nlohmann::json::object();
    for (const auto& [table, n] : s.rows)
      rows[table] = n;
    nlohmann::json rows_in = nlohmann::json::object();
    for (const auto& [table, n] : s.rows_in)
      rows_in[table] = n >= 0 ? nlohmann::json(n) : nlohmann::json(nullptr);
    // compute = seconds - comm - io on each rank (unlike compute_seconds above, the op's wall
    // time with its communication).
    const nlohmann::json per_rank =
        per_rank_json(s.rank_seconds, s.rank_comm_seconds, s.rank_io_seconds);
    steps.push_back({{"name", s.name},
                     {"op", s.op},
                     {"reused", s.reused},
                     {"seconds", s.seconds},
                     {"compute_seconds", s.compute_seconds},
                     {"stage_seconds", s.stage_seconds},
                     {"comm_seconds", s.comm_seconds},
                     {"io_seconds", s.io_seconds},
                     {"per_rank", per_rank},
                     {"rows", rows},
                     {"rows_in", rows_in},
                     {"fingerprint", s.fingerprint},
                     {"rss_bytes", executor.step_memory()[i].first},
                     {"peak_rss_bytes", executor.step_memory()[i].second}});
  }
  nlohmann::json tables = nlohmann::json::object();
  nlohmann::json inputs = nlohmann::json::object();
  for (const auto& input : job.inputs) {
    const TableState& t = executor.table(input->name);
    inputs[input->name] = {
        {"format", input->format},
        {"fingerprint", t.fingerprint},
        {"rows", t.rows >= 0 ? nlohmann::json(t.rows) : nlohmann::json(nullptr)},
        {"rejected_rows",
         t.rejected_rows >= 0 ? nlohmann::json(t.rejected_rows) : nlohmann::json(nullptr)},
        {"fingerprint_seconds", executor.input_fingerprint_seconds().at(input->name)},
        {"profile", t.profile ? profile_json(*t.profile) : nlohmann::json(nullptr)}};
  }
  for (const auto& [name, fp] : executor.fingerprints()) {
    const TableState& t = executor.table(name);
    if (t.rows >= 0) {
      tables[name] = t.rows;
      summary.table_rows[name] = t.rows;
    }
  }
  nlohmann::json metrics = nlohmann::json::object();
  for (const auto& [name, value] : summary.metrics)
    metrics[name] = number_or_null(value);
  const nlohmann::json record = {{"job", job.name},
                                 {"ranks", comm.size()},
                                 {"fingerprint", job.fingerprint()},
                                 {"seconds", total.seconds()},
                                 {"inputs", inputs},
                                 {"steps", steps},
                                 {"tables", tables},
                                 {"train", train_json},
                                 {"evaluate", evaluate_json},
                                 {"metrics", metrics},
                                 {"metrics_not_computable", not_computable},
                                 {"memory",
                                  {{"peak_rss_bytes", summary.peak_rss_bytes},
                                   {"table_liveness", job.runtime.table_liveness},
                                   {"keep_freed_memory", job.runtime.keep_freed_memory},
                                   {"huge_pages", job.runtime.huge_pages},
                                   {"huge_page_min_bytes", job.runtime.huge_page_min_bytes}}}};
  // Column names come from the data (a CSV header may hold any byte) and reach the record
  // through the input profiles: bytes that are not UTF-8 are written as U+FFFD, as inspect
  // --json does, instead of failing the run.
  comm.agree([&] {
    if (comm.is_root()) {
      write_file_atomically(
          workdir / "metrics.json",
          record.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n");
    }
  });
  if (options.observer) options.observer->run_finished(comm, job, summary, record);
  const auto reused = std::count_if(summary.steps.begin(), summary.steps.end(),
                                    [](const auto& s) { return s.reused; });
  spdlog::info(
      "job '{}' done in {:.2f} s ({} of {} steps reused; peak memory per rank {:.0f} MiB); "
      "metrics in {}",
      job.name, total.seconds(), reused, summary.steps.size(), mib(summary.peak_rss_bytes),
      (workdir / "metrics.json").string());
  return summary;
}

}  // namespace shardflow::pipeline
