#include "shardflow/pipeline/job_runner.hpp"

#include <spdlog/spdlog.h>
#include <yaml-cpp/yaml.h>

#include <chrono>
#include <fstream>
#include <optional>

#include "shardflow/ckpt/checkpoint_store.hpp"
#include "shardflow/common/fingerprint.hpp"
#include "shardflow/common/timer.hpp"
#include "shardflow/io/csv_reader.hpp"
#include "shardflow/io/csv_writer.hpp"
#include "shardflow/io/hdf5_table.hpp"
#include "shardflow/io/synthetic.hpp"
#include "shardflow/io/synthetic_schema.hpp"
#include "shardflow/ml/dataset.hpp"
#include "shardflow/ml/logistic_regression.hpp"
#include "shardflow/ml/metrics.hpp"
#include "shardflow/ml/sgd_trainer.hpp"
#include "shardflow/ml/standard_scaler.hpp"
#include "shardflow/mpi/allreduce.hpp"
#include "shardflow/mpi/bcast.hpp"
#include "shardflow/ops/expression.hpp"
#include "shardflow/ops/filter.hpp"
#include "shardflow/ops/group_by.hpp"
#include "shardflow/pipeline/fault_injection.hpp"
#include "shardflow/pipeline/signals.hpp"
#include "shardflow/table/dictionary_encoding.hpp"

namespace shardflow::pipeline {

namespace fs = std::filesystem;

namespace {

// ---------------------------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------------------------

// Writes a small text file on rank 0 atomically (temp name + rename), agreed on all ranks.
void write_text_atomically(const mpi::Comm& comm, const fs::path& path, const std::string& text) {
  comm.agree([&] {
    if (!comm.is_root()) return;
    const fs::path tmp = path.string() + ".tmp";
    {
      std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
      out << text;
      out.flush();
      if (!out)
        throw RuntimeError("cannot write '{}': check free space and permissions", tmp.string());
    }
    fs::rename(tmp, path);
  });
}

// A stop signal between stages ends the job cleanly on every rank at the same point.
void check_interrupted(const mpi::Comm& comm, std::string_view where) {
  const int signal = mpi::allreduce_max(comm, stop_signal_received() ? received_signal() : 0);
  if (signal != 0) {
    InterruptedError error(fmt::format("stopped by {} {}; rerun the same command to continue",
                                       signal_name(signal), where));
    error.set_agreed(true);
    throw error;
  }
}

std::string json_number(double value) {
  if (!std::isfinite(value)) return "null";
  return fmt::format("{}", value);
}

std::string json_string(std::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') out += '\\';
    if (static_cast<unsigned char>(c) < 0x20) {
      out += fmt::format("\\u{:04x}", static_cast<int>(c));
      continue;
    }
    out += c;
  }
  return out + "\"";
}

// ---------------------------------------------------------------------------------------------
// Inputs
// ---------------------------------------------------------------------------------------------

table::Table load_input(const mpi::Comm& comm, const Job& job, const InputSpec& input,
                        const fs::path& workdir) {
  Stopwatch timer;
  table::Table result;
  if (input.format == "generate") {
    // Generated data is a pure function of (kind, rows, seed): reuse it when the sidecar matches.
    const fs::path path = workdir / "data" / (input.name + ".csv");
    const fs::path stamp = path.string() + ".fingerprint";
    const std::string fingerprint = Fingerprint()
                                        .add(input.generate_kind)
                                        .add(static_cast<std::int64_t>(input.generate_rows))
                                        .add(static_cast<std::int64_t>(job.seed))
                                        .hex();
    int fresh = 0;
    comm.agree([&] {
      if (!comm.is_root()) return;
      fs::create_directories(path.parent_path());
      std::ifstream in(stamp);
      std::string existing;
      std::getline(in, existing);
      fresh = (existing == fingerprint && fs::exists(path)) ? 1 : 0;
      // The stamp vouches for the file only once it is completely written: drop it before
      // regenerating, so an interrupted generation is never mistaken for a finished one.
      if (fresh == 0) fs::remove(stamp);
    });
    fresh = mpi::bcast_value(comm, fresh, 0);
    if (fresh == 0) {
      spdlog::info("input '{}': generating {} rows of '{}' into {}", input.name,
                   input.generate_rows, input.generate_kind, path.string());
      io::generate_csv(comm, input.generate_kind, input.generate_rows, job.seed, path.string());
      write_text_atomically(comm, stamp, fingerprint + "\n");
    }
    io::CsvOptions options;
    options.paths = {path.string()};
    options.schema = io::synthetic_schema(input.generate_kind);
    options.max_dictionary_size = job.runtime.max_dictionary_size;
    result = io::read_csv(comm, options);
  } else if (input.format == "csv") {
    io::CsvOptions options = csv_options(input, job.runtime);
    options.quarantine_path = (workdir / "rejects" / (input.name + ".csv")).string();
    // The reader logs skipped or quarantined rows itself (rank 0, with the first examples).
    result = io::read_csv(comm, options);
  } else {
    result = io::read_table(comm, input.paths.at(0), input.hdf5_table);
  }
  const idx_t rows = mpi::allreduce_sum(comm, result.num_rows());
  spdlog::info("input '{}': {} rows, {} columns ({}) in {:.2f} s", input.name, rows,
               result.num_columns(), result.schema().to_string(), timer.seconds());
  return result;
}

// ---------------------------------------------------------------------------------------------
// Steps
// ---------------------------------------------------------------------------------------------

table::Table run_step(const mpi::Comm& comm, const Job& job, const StepSpec& step,
                      const table::Table& input) {
  if (step.op == "filter") {
    table::Table out;
    // Filtering is local; agree so that a type error on one rank's data stops every rank.
    comm.agree([&] {
      try {
        out = ops::filter(input, ops::Expression::parse(step.where));
      } catch (const Error& e) {
        throw_error(e.kind(), step.location.to_string() + ": step '" + step.output +
                                  "' (filter): " + e.what());
      }
    });
    return out;
  }
  if (step.op == "group_by") {
    ops::GroupByOptions options;
    options.shuffle.round_bytes = job.runtime.shuffle_round_bytes;
    return ops::group_by(comm, input, step.keys, step.aggs, options);
  }
  throw ConfigError("{}: unknown op '{}'", step.location.to_string(), step.op);
}

// ---------------------------------------------------------------------------------------------
// Training
// ---------------------------------------------------------------------------------------------

ckpt::Checkpoint to_checkpoint(const mpi::Comm& comm, const ml::TrainState& state,
                               const ml::StandardScaler& scaler, const std::string& fingerprint,
                               std::uint64_t seed) {
  ckpt::Checkpoint c;
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
  c.arrays["optimizer/velocity"].assign(state.velocity.data(),
                                        state.velocity.data() + state.velocity.size());
  c.arrays["features/mean"] = scaler.mean;
  c.arrays["features/scale"] = scaler.scale;
  // Batches derive from (seed, epoch, row index): the seed is the whole RNG state.
  c.uint_arrays["rng/seed"] = {seed};
  return c;
}

ml::TrainState from_checkpoint(const ckpt::Checkpoint& c, idx_t num_weights,
                               ml::StandardScaler& scaler, const std::string& source) {
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
  state.step_in_epoch = std::stoll(attr("step_in_epoch"));
  state.last_loss = std::stod(attr("last_loss"));
  const auto& weights = array("model/weights");
  const auto& velocity = array("optimizer/velocity");
  if (static_cast<idx_t>(weights.size()) != num_weights ||
      static_cast<idx_t>(velocity.size()) != num_weights) {
    throw InputError(
        "checkpoint {} holds {} weights but the model has {}: it belongs to another "
        "feature set; use --resume never to start over",
        source, weights.size(), num_weights);
  }
  state.weights = Eigen::Map<const Eigen::VectorXd>(weights.data(), num_weights);
  state.velocity = Eigen::Map<const Eigen::VectorXd>(velocity.data(), num_weights);
  scaler.mean = array("features/mean");
  scaler.scale = array("features/scale");
  return state;
}

struct TrainOutcome {
  ml::LogisticRegression model;
  ml::StandardScaler scaler;
  ml::TrainState state;
  idx_t resumed_from = -1;
};

TrainOutcome train(const mpi::Comm& comm, const Job& job, const table::Table& input,
                   const RunOptions& options, const fs::path& workdir) {
  const TrainSpec& spec = *job.train;
  const std::string fingerprint = training_fingerprint(job);
  ml::Dataset data = ml::make_dataset(comm, input, spec.numeric_features, spec.label);
  const int d = static_cast<int>(spec.numeric_features.size());

  TrainOutcome out;
  out.model = ml::LogisticRegression(d, spec.l2);
  ckpt::CheckpointStore store(workdir / "checkpoints", spec.checkpoint_keep);

  // ---- where to start -----------------------------------------------------------------------
  std::optional<ml::TrainState> resume;
  std::optional<ckpt::Checkpoint> loaded;
  std::string loaded_from;
  if (options.resume == "auto") {
    loaded = store.load_latest(comm, fingerprint);
    loaded_from = "the newest valid checkpoint in " + store.directory().string();
  } else if (options.resume == "never") {
    comm.agree([&] {
      if (!comm.is_root() || !fs::exists(store.directory()) || store.list().empty()) return;
      const auto stamp = std::chrono::system_clock::now().time_since_epoch().count();
      const fs::path aside = store.directory().string() + ".old-" + std::to_string(stamp);
      spdlog::warn("--resume never: moving existing checkpoints aside to {}", aside.string());
      fs::rename(store.directory(), aside);
    });
  } else {
    loaded = store.load(comm, options.resume);
    loaded_from = options.resume;
    if (loaded->meta.fingerprint != fingerprint) {
      spdlog::warn(
          "checkpoint {} was written by a job with a different configuration "
          "(fingerprint {} != {}); resuming anyway because it was named explicitly",
          options.resume, loaded->meta.fingerprint, fingerprint);
    }
  }
  if (loaded) {
    comm.agree([&] { resume = from_checkpoint(*loaded, d + 1, out.scaler, loaded_from); });
    out.resumed_from = resume->step;
    spdlog::info("resuming training from step {} (epoch {}), saved at {} rank(s), from {}",
                 resume->step, resume->epoch, loaded->meta.world_size, loaded_from);
  } else if (spec.standard_scale) {
    out.scaler.fit(comm, data);
  }
  // Fitted just now, or restored from the checkpoint (empty when the job does not scale).
  if (!out.scaler.mean.empty()) out.scaler.transform(data);

  // ---- train --------------------------------------------------------------------------------
  ml::SgdOptions sgd;
  sgd.learning_rate = spec.learning_rate;
  sgd.batch_size = spec.batch_size;
  sgd.epochs = spec.epochs;
  sgd.momentum = spec.momentum;
  sgd.seed = job.seed;
  const idx_t per_epoch = ml::steps_per_epoch(data.global_rows, sgd.batch_size);
  const idx_t total_steps = per_epoch * sgd.epochs;
  spdlog::info(
      "training logistic regression on {} rows x {} features: {} epochs x {} steps, "
      "batch {}, checkpoint every {} steps",
      data.global_rows, d, sgd.epochs, per_epoch, sgd.batch_size, spec.checkpoint_every_steps);

  idx_t last_saved = resume ? resume->step : -1;
  Stopwatch progress;
  ml::TrainCallbacks callbacks;
  callbacks.after_step = [&](const ml::TrainState& state) {
    maybe_inject_fault("train_step:" + std::to_string(state.step), comm.rank());
    if (spec.checkpoint_every_steps > 0 && state.step % spec.checkpoint_every_steps == 0) {
      store.save(comm, to_checkpoint(comm, state, out.scaler, fingerprint, job.seed));
      last_saved = state.step;
      spdlog::debug("checkpoint written at step {}", state.step);
    }
    if (progress.seconds() >= 5.0 || state.step == total_steps) {
      spdlog::info("step {}/{} (epoch {}), batch loss {:.6f}", state.step, total_steps,
                   state.epoch + (state.step_in_epoch == 0 ? 0 : 1), state.last_loss);
      progress.reset();
    }
  };
  callbacks.stop_requested = [] { return stop_signal_received(); };
  bool stopped = false;
  out.state = ml::train_logistic_sgd(comm, data, out.model, sgd, resume, callbacks, &stopped);
  if (out.state.step != last_saved) {
    store.save(comm, to_checkpoint(comm, out.state, out.scaler, fingerprint, job.seed));
  }
  if (stopped) {
    InterruptedError error(fmt::format(
        "stopped by {} at training step {}; checkpoint written to {}; rerun with --resume "
        "auto to continue",
        signal_name(received_signal()), out.state.step, store.directory().string()));
    error.set_agreed(true);
    throw error;
  }
  out.model.weights = out.state.weights;
  spdlog::info("training finished at step {}, last batch loss {:.6f}", out.state.step,
               out.state.last_loss);

  // The final model, in checkpoint layout, next to the run's other outputs.
  const auto files = store.list();
  comm.agree([&] {
    if (!comm.is_root()) return;
    const fs::path tmp = workdir / "model.h5.tmp";
    fs::copy_file(files.back(), tmp, fs::copy_options::overwrite_existing);
    fs::rename(tmp, workdir / "model.h5");
  });
  return out;
}

}  // namespace

std::string training_fingerprint(const Job& job) {
  const YAML::Node root = YAML::Load(job.canonical_yaml);
  Fingerprint fp;
  for (const char* key : {"seed", "inputs", "steps", "train"}) {
    YAML::Emitter emitter;
    emitter << root[key];
    fp.add(std::string_view(key)).add(std::string_view(emitter.c_str()));
  }
  return fp.hex();
}

RunSummary run_job(const mpi::Comm& comm, const Job& job, const RunOptions& options) {
  Stopwatch total;
  RunSummary summary;
  summary.workdir = job.workdir;
  const fs::path workdir = job.workdir;
  comm.agree([&] {
    if (comm.is_root()) fs::create_directories(workdir);
  });
  spdlog::info("job '{}' on {} rank(s), workdir {}", job.name, comm.size(), workdir.string());

  std::map<std::string, table::Table> tables;
  auto record = [&](const std::string& name, table::Table t) {
    summary.table_rows[name] = mpi::allreduce_sum(comm, t.num_rows());
    tables[name] = std::move(t);
  };

  // ---- inputs -------------------------------------------------------------------------------
  comm.agree([&] { maybe_inject_fault("input", comm.rank()); });
  for (const auto& input : job.inputs) {
    record(input.name, load_input(comm, job, input, workdir));
    check_interrupted(comm, "while reading inputs");
  }

  // ---- steps --------------------------------------------------------------------------------
  for (const auto& step : job.steps) {
    Stopwatch timer;
    table::Table out = run_step(comm, job, step, tables.at(step.input));
    record(step.output, std::move(out));
    spdlog::info("step {} '{}' -> '{}': {} rows in {:.2f} s", step.op, step.input, step.output,
                 summary.table_rows[step.output], timer.seconds());
    check_interrupted(comm, "between steps");
  }

  // ---- outputs ------------------------------------------------------------------------------
  for (const auto& output : job.outputs) {
    const fs::path path = workdir / "outputs" / output.path;
    comm.agree([&] {
      if (comm.is_root()) fs::create_directories(path.parent_path());
    });
    const table::Table& t = tables.at(output.table);
    if (output.format == "csv") {
      io::write_csv(comm, t, path.string());
    } else {
      io::Hdf5WriteOptions h5;
      h5.chunk_rows = job.runtime.hdf5_chunk_rows;
      h5.fingerprint = job.fingerprint();
      io::write_table(comm, path.string(), output.table, t, h5);
    }
    spdlog::info("wrote table '{}' ({} rows) to {}", output.table, summary.table_rows[output.table],
                 path.string());
  }

  // ---- train and evaluate -------------------------------------------------------------------
  std::string train_json = "null";
  if (job.train) {
    TrainOutcome outcome = train(comm, job, tables.at(job.train->input), options, workdir);
    summary.train_steps = outcome.state.step;
    summary.resumed_from_step = outcome.resumed_from;
    train_json = fmt::format(
        R"({{"steps": {}, "epochs": {}, "last_batch_loss": {}, "resumed_from_step": {}}})",
        outcome.state.step, job.train->epochs, json_number(outcome.state.last_loss),
        outcome.resumed_from);
    if (job.evaluate) {
      ml::Dataset eval = ml::make_dataset(comm, tables.at(job.evaluate->input),
                                          job.train->numeric_features, job.train->label);
      if (!outcome.scaler.mean.empty()) outcome.scaler.transform(eval);
      const Eigen::VectorXd p = outcome.model.predict_proba(eval);
      for (const auto& metric : job.evaluate->metrics) {
        double value = 0.0;
        if (metric == "auc")
          value = ml::roc_auc(comm, eval.labels, p);
        else if (metric == "logloss")
          value = ml::log_loss(comm, eval.labels, p);
        else if (metric == "accuracy")
          value = ml::accuracy(comm, eval.labels, p);
        summary.metrics[metric] = value;
        spdlog::info("evaluate on '{}': {} = {:.6f}", job.evaluate->input, metric, value);
      }
    }
  }

  // ---- run record ---------------------------------------------------------------------------
  std::string tables_json, metrics_json;
  for (const auto& [name, rows] : summary.table_rows) {
    tables_json +=
        fmt::format("{}{}: {}", tables_json.empty() ? "" : ", ", json_string(name), rows);
  }
  for (const auto& [name, value] : summary.metrics) {
    metrics_json += fmt::format("{}{}: {}", metrics_json.empty() ? "" : ", ", json_string(name),
                                json_number(value));
  }
  const std::string json = fmt::format(
      "{{\n  \"job\": {},\n  \"ranks\": {},\n  \"fingerprint\": {},\n  \"seconds\": {:.3f},\n"
      "  \"tables\": {{{}}},\n  \"train\": {},\n  \"metrics\": {{{}}}\n}}\n",
      json_string(job.name), comm.size(), json_string(job.fingerprint()), total.seconds(),
      tables_json, train_json, metrics_json);
  write_text_atomically(comm, workdir / "metrics.json", json);
  spdlog::info("job '{}' done in {:.2f} s; metrics in {}", job.name, total.seconds(),
               (workdir / "metrics.json").string());
  return summary;
}

}  // namespace shardflow::pipeline
