#include "shardflow/app/cli.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <yaml-cpp/yaml.h>
#include <boost/program_options.hpp>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <tuple>

#include "shardflow/app/launcher.hpp"
#include "shardflow/ckpt/checkpoint_store.hpp"
#include "shardflow/common/atomic_file.hpp"
#include "shardflow/common/error.hpp"
#include "shardflow/common/html.hpp"
#include "shardflow/common/logging.hpp"
#include "shardflow/common/suggest.hpp"
#include "shardflow/io/hdf5_table.hpp"
#include "shardflow/io/synthetic.hpp"
#include "shardflow/io/synthetic_join.hpp"
#include "shardflow/mpi/allgatherv.hpp"
#include "shardflow/mpi/allreduce.hpp"
#include "shardflow/mpi/comm.hpp"
#include "shardflow/mpi/environment.hpp"
#include "shardflow/mpi/hosts.hpp"
#include "shardflow/pipeline/job_loader.hpp"
#include "shardflow/pipeline/job_runner.hpp"
#include "shardflow/pipeline/job_validator.hpp"
#include "shardflow/pipeline/signals.hpp"
#include "shardflow/pipeline/stage_cache.hpp"
#include "shardflow/pipeline/workdir_lock.hpp"
#include "shardflow/track/model_registry.hpp"
#include "shardflow/track/run_catalog.hpp"
#include "shardflow/track/run_recorder.hpp"
#include "shardflow/version.hpp"

namespace po = boost::program_options;

namespace shardflow::app {
namespace {

constexpr const char* kUsage = R"(shardflow: distributed data pipelines and model training on MPI

usage:
  shardflow run JOB.yaml [--profile P.yaml]... [--set key.path=value]... [--resume auto|never|PATH]
                        [--rerun STEP]... [--no-cache]
  shardflow validate JOB.yaml [--profile P.yaml]... [--set key.path=value]...
  shardflow predict --model MODEL.h5 --input DATA.csv|DATA.h5 [--table T] --output OUT.csv|OUT.h5
                        [--keep COLUMN]... [--workdir DIR]   (DIR: runs/predict)
                    --model registry:NAME@ALIAS|registry:NAME/VERSION [--store DIR] (DIR: mlruns)
  shardflow cache list|clear (JOB.yaml [--profile P.yaml]... [--set k=v]... | --workdir DIR)
                        [--table T]...
  shardflow inspect FILE.h5 [--json]
  shardflow drift --reference A.csv|A.h5 --current B.csv|B.h5 [--table T] [--features F]...
                        [--bins 10] [--psi-threshold 0.2] [--ks-threshold 0.1]
                        [--output drift.csv] [--html drift.html] [--fail-on-drift] [--workdir DIR]
  shardflow runs list [--experiment NAME] | show RUN_ID | compare RUN_ID RUN_ID  [--store DIR]
                        (DIR: mlruns; a run id may be shortened to its first 4+ digits)
  shardflow gen KIND --rows N --out PATH [--seed S]      (KIND: groupby, classification)
  shardflow gen join --rows N --out DIR [--seed S]       (DIR/x.csv, small, medium, big)
  shardflow gen events --rows N --out DIR [--seed S]     (DIR/events.csv, DIR/labels.csv)
  shardflow launch [MPIRUN OPTIONS]... -- COMMAND [ARGS]...
  shardflow --version | --help

Launch under MPI with `shardflow launch -np N -- run ...` (mpirun, with Ctrl-C and SIGTERM
stopping at a checkpoint with exit 75), `mpirun -np N shardflow run ...` or
`srun --mpi=pmix shardflow run ...`; without a launcher it runs as a single process.

common options:
  --log-level LEVEL   trace|debug|info|warn|error (default: the job's runtime.log_level, else info)
  --log-all-ranks     log every rank at LEVEL, not only rank 0

exit codes: 0 ok, 1 runtime failure, 2 usage or configuration error, 3 input data rejected,
            4 drift found (drift --fail-on-drift),
            75 stopped by a signal after writing a checkpoint (Slurm requeues it)
)";

const std::vector<std::string> kCommands = {"run", "validate", "predict", "inspect",
                                            "gen", "cache",    "runs",    "launch"};

struct Context {
  int rank = 0;
  int size = 1;
};

// An error every rank raises identically without communicating (same argv, same files).
template <typename... Args>
[[noreturn]] void usage_error(fmt::format_string<Args...> f, Args&&... args) {
  ConfigError error(fmt::format(f, std::forward<Args>(args)...));
  error.set_agreed(true);
  throw error;
}

// Parses `args` for one subcommand; unknown options become a ConfigError with a suggestion.
po::variables_map parse(const std::string& command, const std::vector<std::string>& args,
                        const po::options_description& options,
                        const po::positional_options_description& positional) {
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(args).options(options).positional(positional).run(), vm);
    po::notify(vm);
  } catch (const po::unknown_option& e) {
    std::vector<std::string> names;
    for (const auto& o : options.options())
      names.push_back("--" + o->long_name());
    usage_error("shardflow {}: unknown option '{}'{} (see shardflow --help)", command,
                e.get_option_name(), did_you_mean(e.get_option_name(), names));
  } catch (const po::required_option& e) {
    // The positional arguments are options underneath; name them as the usage line does.
    const std::string option = e.get_option_name();
    const std::string what = option == "--job"    ? "the job file, e.g. jobs/quickstart.yaml"
                             : option == "--file" ? "the HDF5 file to inspect"
                             : option == "--kind" ? "the kind of data (groupby or classification)"
                                                  : "the option " + option;
    usage_error("shardflow {}: missing {} (see shardflow {} --help)", command, what,
                command.substr(0, command.find(' ')));
  } catch (const po::error& e) {
    usage_error("shardflow {}: {} (see shardflow --help)", command, e.what());
  }
  return vm;
}

po::options_description logging_options() {
  po::options_description o;
  o.add_options()("log-level", po::value<std::string>(), "log level")(
      "log-all-ranks", po::bool_switch(), "log on every rank");
  return o;
}

void configure_logging(const Context& ctx, const po::variables_map& vm,
                       const std::string& job_level, bool job_all_ranks) {
  LoggingOptions options;
  options.level = vm.count("log-level") ? vm["log-level"].as<std::string>() : job_level;
  options.all_ranks =
      (vm.count("log-all-ranks") && vm["log-all-ranks"].as<bool>()) || job_all_ranks;
  setup_logging(ctx.rank, ctx.size, options);
}

// ---------------------------------------------------------------------------------------------
// shardflow run / validate
// ---------------------------------------------------------------------------------------------

struct JobArgs {
  std::string job;
  std::vector<std::string> profiles;
  std::vector<std::string> overrides;
};

po::options_description job_options(JobArgs& args) {
  po::options_description o = logging_options();
  o.add_options()("job", po::value<std::string>(&args.job)->required(), "job file")(
      "profile", po::value<std::vector<std::string>>(&args.profiles)->composing(), "profile")(
      "set", po::value<std::vector<std::string>>(&args.overrides)->composing(), "override");
  return o;
}

int command_run(const Context& ctx, const std::vector<std::string>& argv) {
  JobArgs args;
  std::string resume = "auto";
  std::vector<std::string> rerun;
  po::options_description options = job_options(args);
  options.add_options()("resume", po::value<std::string>(&resume), "auto|never|PATH")(
      "rerun", po::value<std::vector<std::string>>(&rerun)->composing(), "step")(
      "no-cache", po::bool_switch(), "recompute every step");
  po::positional_options_description positional;
  positional.add("job", 1);
  const auto vm = parse("run", argv, options, positional);

  mpi::Comm comm;
  configure_logging(ctx, vm, "info", false);
  if (comm.size() > 1) {
    // Which host runs which rank: in the log for everyone, and for `shardflow launch`, which
    // names the ranks of a host that mpirun reports lost.
    const std::vector<std::string> names = mpi::host_names(comm);
    const std::vector<int> daemons = mpi::allgather(comm, mpi::local_daemon_id());
    if (comm.rank() == 0) {
      const char* launched = std::getenv(kLauncherEnv);
      if (launched != nullptr && std::string_view(launched) == "1") {
        std::string line(kLaunchHostsPrefix);
        for (size_t r = 0; r < names.size(); ++r)
          line += fmt::format(" {}={}@{}", r, names[r], daemons[r]);
        std::fprintf(stderr, "%s\n", line.c_str());
        std::fflush(stderr);
      }
    }
    // Names can be shared by distinct nodes (containers, network namespaces): tell them apart
    // by MPI's shared-memory node.
    const std::vector<int>& nodes = comm.hosts();
    std::vector<std::string> labels = names;
    for (size_t r = 0; r < names.size(); ++r) {
      for (size_t q = 0; q < names.size(); ++q) {
        if (names[q] == names[r] && nodes[q] != nodes[r]) {
          labels[r] = fmt::format("{} (node {})", names[r], nodes[r]);
          break;
        }
      }
    }
    const std::string by_host = mpi::describe_ranks_by_host(labels);
    if (by_host.find(';') != std::string::npos) {
      spdlog::info("ranks by host: {}", by_host);
    } else {
      spdlog::debug("ranks by host: {}", by_host);
    }
  }
  pipeline::Job job;
  // Every rank loads and validates the same files; agreeing turns any difference (a file visible
  // on one node only) into one error instead of a hang.
  comm.agree([&] {
    job = pipeline::load_job(args.job, args.profiles, args.overrides);
    pipeline::validate_job(job);
  });
  configure_logging(ctx, vm, job.runtime.log_level, job.runtime.log_all_ranks);
  pipeline::SignalGuard signals;
  pipeline::RunOptions run_options;
  if (resume != "auto" && resume != "never") {
    // Checked before any work: a typo here must not cost a whole pipeline run.
    comm.agree([&] {
      if (!std::filesystem::is_regular_file(resume)) {
        throw ConfigError(
            "--resume '{}': expected auto, never or the path of a checkpoint file, and no file "
            "'{}' exists",
            resume, resume);
      }
    });
  }
  run_options.resume = resume;
  run_options.rerun = rerun;
  run_options.no_cache = vm["no-cache"].as<bool>();
  track::RunRecorder recorder;
  run_options.observer = &recorder;
  try {
    pipeline::run_job(comm, job, run_options);
  } catch (const InterruptedError& e) {
    recorder.run_failed(comm, true, fmt::format("{}: {}", to_string(e.kind()), e.what()));
    throw;
  } catch (const Error& e) {
    recorder.run_failed(comm, false, fmt::format("{}: {}", to_string(e.kind()), e.what()));
    throw;
  } catch (const std::exception& e) {
    recorder.run_failed(comm, false, e.what());
    throw;
  } catch (...) {
    recorder.run_failed(comm, false, "unknown error");
    throw;
  }
  return 0;
}

// ---------------------------------------------------------------------------------------------
// shardflow predict
// ---------------------------------------------------------------------------------------------

// A file's extension, lower-cased (".CSV" -> ".csv").
std::string lower_extension(const std::string& path) {
  std::string e = std::filesystem::path(path).extension().string();
  std::transform(e.begin(), e.end(), e.begin(), [](unsigned char c) { return std::tolower(c); });
  return e;
}

// Emits the input `name` of a job that a command generates, for the data file `path` given as
// --`flag`: {format, path} with the format from the extension (.csv; .h5/.hdf5, which needs
// --table: `table`). `purpose` completes "name the table" in the error (" to score"). Returns
// whether the file is HDF5. Usage errors start with "shardflow `command`:".
bool emit_file_input(YAML::Emitter& out, std::string_view command, std::string_view flag,
                     std::string_view name, const std::string& path, const std::string& table,
                     std::string_view purpose) {
  const std::string ext = lower_extension(path);
  const bool hdf5 = ext == ".h5" || ext == ".hdf5";
  if (!hdf5 && ext != ".csv") {
    usage_error("shardflow {}: --{} '{}': expected a .csv or .h5 file", command, flag, path);
  }
  if (hdf5 && table.empty()) {
    usage_error(
        "shardflow {}: --{} '{}' is an HDF5 file: name the table{} with --table "
        "(shardflow inspect {} lists its tables; '/' reads datasets at the file's root)",
        command, flag, path, purpose, path);
  }
  out << YAML::Key << std::string(name) << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "format" << YAML::Value << (hdf5 ? "hdf5" : "csv");
  out << YAML::Key << "path" << YAML::Value << path;
  if (hdf5) out << YAML::Key << "table" << YAML::Value << table;
  out << YAML::EndMap;
  return hdf5;
}

// The one-step job `shardflow predict` runs: the input file, an `op: predict` step with the model,
// and the output file (outside the workdir, where the user named it).
std::string predict_job_yaml(const std::string& model, const std::string& input,
                             const std::string& table, const std::string& output,
                             const std::vector<std::string>& keep, const std::string& workdir) {
  YAML::Emitter out;
  out << YAML::BeginMap;
  out << YAML::Key << "name" << YAML::Value << "predict";
  out << YAML::Key << "workdir" << YAML::Value << workdir;
  out << YAML::Key << "inputs" << YAML::Value << YAML::BeginMap;
  const bool in_hdf5 = emit_file_input(out, "predict", "input", "data", input, table, " to score");
  if (!in_hdf5 && !table.empty()) {
    usage_error("shardflow predict: --table applies to HDF5 inputs only, not '{}'", input);
  }
  const std::string out_ext = lower_extension(output);
  if (out_ext != ".csv" && out_ext != ".h5" && out_ext != ".hdf5") {
    usage_error("shardflow predict: --output '{}': expected a .csv or .h5 path", output);
  }
  out << YAML::EndMap;
  out << YAML::Key << "steps" << YAML::Value << YAML::BeginSeq << YAML::BeginMap;
  out << YAML::Key << "op" << YAML::Value << "predict";
  out << YAML::Key << "input" << YAML::Value << "data";
  out << YAML::Key << "model" << YAML::Value << model;
  if (!keep.empty()) out << YAML::Key << "keep" << YAML::Value << YAML::Flow << keep;
  out << YAML::Key << "output" << YAML::Value << "predictions";
  out << YAML::EndMap << YAML::EndSeq;
  out << YAML::Key << "outputs" << YAML::Value << YAML::BeginSeq << YAML::BeginMap;
  out << YAML::Key << "table" << YAML::Value << "predictions";
  out << YAML::Key << "path" << YAML::Value << std::filesystem::absolute(output).string();
  out << YAML::Key << "format" << YAML::Value << (out_ext == ".csv" ? "csv" : "hdf5");
  out << YAML::Key << "allow_outside_workdir" << YAML::Value << true;
  out << YAML::EndMap << YAML::EndSeq;
  out << YAML::EndMap;
  return out.c_str();
}

int command_predict(const Context& ctx, const std::vector<std::string>& argv) {
  std::string model, input, table, output, workdir = "runs/predict", store = "mlruns";
  std::vector<std::string> keep;
  po::options_description options = logging_options();
  options.add_options()("model", po::value<std::string>(&model)->required(), "model file")(
      "input", po::value<std::string>(&input)->required(), "data to score")(
      "table", po::value<std::string>(&table), "HDF5 table")(
      "output", po::value<std::string>(&output)->required(), "output file")(
      "keep", po::value<std::vector<std::string>>(&keep)->composing(), "input column to keep")(
      "workdir", po::value<std::string>(&workdir), "workdir")(
      "store", po::value<std::string>(&store),
      "tracking store of --model registry:<name>@<alias> (default mlruns)");
  const auto vm = parse("predict", argv, options, {});
  mpi::Comm comm;
  configure_logging(ctx, vm, "info", false);
  pipeline::Job job;
  comm.agree([&] {
    // registry:<name>@<alias> or registry:<name>/<version>: the registered version's model.h5.
    if (model.rfind("registry:", 0) == 0) {
      const std::string reference = model;
      model = track::resolve_registry_model(store, reference).string();
      spdlog::info("model {} is {}", reference, model);
    }
    job = pipeline::load_job_from_string(
        predict_job_yaml(model, input, table, output, keep, workdir), "shardflow predict");
    pipeline::validate_job(job);
  });
  configure_logging(ctx, vm, job.runtime.log_level, job.runtime.log_all_ranks);
  pipeline::SignalGuard signals;
  pipeline::RunOptions run_options;
  const pipeline::RunSummary summary = pipeline::run_job(comm, job, run_options);
  if (comm.is_root()) {
    spdlog::info("predictions for {} rows written to {}",
                 summary.table_rows.count("predictions") ? summary.table_rows.at("predictions") : 0,
                 output);
  }
  return 0;
}

int command_validate(const Context& ctx, const std::vector<std::string>& argv) {
  JobArgs args;
  po::options_description options = job_options(args);
  po::positional_options_description positional;
  positional.add("job", 1);
  const auto vm = parse("validate", argv, options, positional);
  configure_logging(ctx, vm, "warn", false);
  mpi::Comm comm;
  pipeline::Job job;
  std::vector<pipeline::TableShape> tables;
  comm.agree([&] {
    job = pipeline::load_job(args.job, args.profiles, args.overrides);
    tables = pipeline::validate_job_tables(job);
  });
  if (ctx.rank == 0) {
    fmt::print("{}: job '{}' is valid (fingerprint {})\n", args.job, job.name, job.fingerprint());
    // '?' marks a column whose type is inferred from the data at run time.
    for (const auto& t : tables) {
      fmt::print("  table {} from {}: {}\n", t.name, t.produced_by, t.to_string());
    }
  }
  return 0;
}

// ---------------------------------------------------------------------------------------------
// shardflow inspect
// ---------------------------------------------------------------------------------------------

// Prints one JSON document on one line. Names and strings from a file may hold any bytes; bytes
// that are not UTF-8 are replaced by U+FFFD rather than failing the whole inspection.
void print_json(const nlohmann::ordered_json& document) {
  fmt::print("{}\n",
             document.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace));
}

void inspect_file(const std::string& file, bool json);

int command_inspect(const Context& ctx, const std::vector<std::string>& argv) {
  std::string file;
  po::options_description options = logging_options();
  options.add_options()("file", po::value<std::string>(&file)->required(), "file")(
      "json", po::bool_switch(), "JSON output");
  po::positional_options_description positional;
  positional.add("file", 1);
  const auto vm = parse("inspect", argv, options, positional);
  configure_logging(ctx, vm, "warn", false);
  const bool json = vm["json"].as<bool>();
  // Only rank 0 reads and prints; the outcome is agreed so a failure is reported once.
  mpi::Comm comm;
  comm.agree([&] {
    if (ctx.rank == 0) inspect_file(file, json);
  });
  return 0;
}

void inspect_file(const std::string& file, bool json) {
  if (!std::filesystem::exists(file)) {
    throw InputError("cannot inspect '{}': no such file", file);
  }
  if (ckpt::is_checkpoint_file(file)) {
    const ckpt::Checkpoint c = ckpt::read_checkpoint_file(file);
    if (json) {
      nlohmann::ordered_json arrays = nlohmann::ordered_json::object();
      for (const auto& [k, v] : c.arrays)
        arrays[k] = v.size();
      nlohmann::ordered_json attributes = nlohmann::ordered_json::object();
      for (const auto& [k, v] : c.meta.attributes)
        attributes[k] = v;
      print_json({{"kind", "checkpoint"},
                  {"step", c.meta.step},
                  {"epoch", c.meta.epoch},
                  {"sample_cursor", c.meta.sample_cursor},
                  {"world_size", c.meta.world_size},
                  {"fingerprint", c.meta.fingerprint},
                  {"created", c.meta.created},
                  {"version", c.meta.version},
                  {"arrays", std::move(arrays)},
                  {"attributes", std::move(attributes)}});
    } else {
      fmt::print("{}: checkpoint at step {} (epoch {}, {} samples seen)\n", file, c.meta.step,
                 c.meta.epoch, c.meta.sample_cursor);
      fmt::print("  saved by shardflow {} at {} on {} rank(s); training fingerprint {}\n",
                 c.meta.version, c.meta.created, c.meta.world_size, c.meta.fingerprint);
      for (const auto& [k, v] : c.meta.attributes)
        fmt::print("  {} = {}\n", k, v);
      for (const auto& [k, v] : c.arrays) {
        std::string preview;
        for (size_t i = 0; i < v.size() && i < 6; ++i)
          preview += fmt::format("{}{:.6g}", i ? ", " : "", v[i]);
        fmt::print("  /{}: {} values [{}{}]\n", k, v.size(), preview, v.size() > 6 ? ", ..." : "");
      }
    }
    return;
  }
  const auto tables = io::list_tables(file);
  if (json) {
    nlohmann::ordered_json items = nlohmann::ordered_json::array();
    for (const auto& t : tables) {
      nlohmann::ordered_json columns = nlohmann::ordered_json::array();
      for (const auto& f : t.schema.fields()) {
        columns.push_back({{"name", f.name}, {"type", table::to_string(f.type)}});
      }
      items.push_back({{"name", t.name},
                       {"rows", t.num_rows},
                       {"complete", t.complete},
                       {"fingerprint", t.fingerprint},
                       {"columns", std::move(columns)}});
    }
    print_json({{"kind", "tables"}, {"file", file}, {"tables", std::move(items)}});
  } else {
    fmt::print("{}: {} table(s)\n", file, tables.size());
    for (const auto& t : tables) {
      fmt::print("  {}: {} rows{}\n    {}\n", t.name, t.num_rows,
                 t.complete ? "" : " (INCOMPLETE: the writer was interrupted)",
                 t.schema.to_string());
    }
  }
}

// ---------------------------------------------------------------------------------------------
// shardflow runs
// ---------------------------------------------------------------------------------------------

std::string_view status_name(track::RunStatus status) {
  switch (status) {
    case track::RunStatus::kRunning:
      return "RUNNING";
    case track::RunStatus::kScheduled:
      return "SCHEDULED";
    case track::RunStatus::kFinished:
      return "FINISHED";
    case track::RunStatus::kFailed:
      return "FAILED";
    case track::RunStatus::kKilled:
      return "KILLED";
  }
  return "UNKNOWN";
}

std::string run_seconds(const track::RunInfo& r) {
  return r.end_time_ms
             ? fmt::format("{:.2f}", static_cast<double>(*r.end_time_ms - r.start_time_ms) / 1000)
             : std::string("-");
}

// Rows of text cells as aligned columns, two spaces apart.
void print_columns(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> width;
  for (const auto& row : rows)
    for (size_t c = 0; c < row.size(); ++c) {
      if (width.size() <= c) width.push_back(0);
      width[c] = std::max(width[c], row[c].size());
    }
  for (const auto& row : rows) {
    std::string line;
    for (size_t c = 0; c < row.size(); ++c)
      line += c + 1 == row.size() ? row[c] : fmt::format("{:<{}}  ", row[c], width[c]);
    fmt::print("{}\n", line);
  }
}

std::string last_value(const track::StoredRun& run, const std::string& metric) {
  const auto it = run.metrics.find(metric);
  if (it == run.metrics.end() || it->second.empty()) return "-";
  return fmt::format("{}", it->second.back().value);
}

void runs_list(const std::string& store, const std::string& experiment) {
  const std::vector<track::StoredRun> runs = track::list_runs(store, experiment);
  std::vector<std::vector<std::string>> rows = {
      {"RUN ID", "EXPERIMENT", "NAME", "STATUS", "STARTED (UTC)", "SECONDS"}};
  for (const auto& r : runs)
    rows.push_back({r.info.run_id, r.experiment_name, r.info.run_name,
                    std::string(status_name(r.info.status)),
                    track::format_utc(r.info.start_time_ms), run_seconds(r.info)});
  print_columns(rows);
  fmt::print("{} run(s) in {}\n", runs.size(), store);
}

void runs_show(const std::string& store, const std::string& id) {
  const track::StoredRun r = track::load_run(store, id);
  fmt::print("run {} ('{}') of experiment '{}' ({})\n", r.info.run_id, r.info.run_name,
             r.experiment_name, r.info.experiment_id);
  fmt::print("  status {}, started {} UTC, {} s, user {}, source {}\n", status_name(r.info.status),
             track::format_utc(r.info.start_time_ms), run_seconds(r.info), r.info.user,
             r.info.source_name);
  fmt::print("params ({}):\n", r.params.size());
  for (const auto& [k, v] : r.params)
    fmt::print("  {} = {}\n", k, v);
  fmt::print("tags ({}):\n", r.tags.size());
  for (const auto& [k, v] : r.tags)
    fmt::print("  {} = {}\n", k, v);
  fmt::print("metrics ({}; the last value, its step, and how many values):\n", r.metrics.size());
  for (const auto& [k, points] : r.metrics)
    if (!points.empty())
      fmt::print("  {} = {} (step {}; {} value{})\n", k, points.back().value, points.back().step,
                 points.size(), points.size() == 1 ? "" : "s");
  fmt::print("artifacts ({}):\n", r.artifacts.size());
  for (const auto& a : r.artifacts)
    fmt::print("  {}\n", a);
}

void runs_compare(const std::string& store, const std::string& id_a, const std::string& id_b) {
  const track::StoredRun a = track::load_run(store, id_a);
  const track::StoredRun b = track::load_run(store, id_b);
  fmt::print("A: run {} ('{}', experiment '{}', {}, started {} UTC)\n", a.info.run_id,
             a.info.run_name, a.experiment_name, status_name(a.info.status),
             track::format_utc(a.info.start_time_ms));
  fmt::print("B: run {} ('{}', experiment '{}', {}, started {} UTC)\n", b.info.run_id,
             b.info.run_name, b.experiment_name, status_name(b.info.status),
             track::format_utc(b.info.start_time_ms));
  std::set<std::string> keys;
  for (const auto& [k, v] : a.params)
    keys.insert(k);
  for (const auto& [k, v] : b.params)
    keys.insert(k);
  std::vector<std::vector<std::string>> rows = {{"  PARAM", "A", "B"}};
  for (const auto& k : keys) {
    const auto ia = a.params.find(k);
    const auto ib = b.params.find(k);
    const std::string va = ia == a.params.end() ? "-" : ia->second;
    const std::string vb = ib == b.params.end() ? "-" : ib->second;
    if (ia == a.params.end() || ib == b.params.end() || va != vb)
      rows.push_back({"  " + k, va, vb});
  }
  fmt::print("params that differ ({} of {}):\n", rows.size() - 1, keys.size());
  if (rows.size() > 1) print_columns(rows);
  keys.clear();
  for (const auto& [k, v] : a.metrics)
    keys.insert(k);
  for (const auto& [k, v] : b.metrics)
    keys.insert(k);
  rows = {{"  METRIC", "A", "B", "B - A"}};
  for (const auto& k : keys) {
    const std::string va = last_value(a, k);
    const std::string vb = last_value(b, k);
    std::string diff = "-";
    if (va != "-" && vb != "-")
      diff = fmt::format("{:+.6g}", b.metrics.at(k).back().value - a.metrics.at(k).back().value);
    rows.push_back({"  " + k, va, vb, diff});
  }
  fmt::print("metrics (last values, {}):\n", keys.size());
  if (rows.size() > 1) print_columns(rows);
}

int command_runs(const Context& ctx, const std::vector<std::string>& argv) {
  std::string action, store = "mlruns", experiment;
  std::vector<std::string> ids;
  po::options_description options = logging_options();
  options.add_options()("action", po::value<std::string>(&action)->required(), "list|show|compare")(
      "id", po::value<std::vector<std::string>>(&ids), "run id")(
      "store", po::value<std::string>(&store), "tracking store")(
      "experiment", po::value<std::string>(&experiment), "experiment name");
  po::positional_options_description positional;
  positional.add("action", 1).add("id", -1);
  const auto vm = parse("runs", argv, options, positional);
  configure_logging(ctx, vm, "warn", false);
  const std::size_t wanted = action == "list" ? 0 : action == "show" ? 1 : 2;
  if (action != "list" && action != "show" && action != "compare") {
    usage_error(
        "shardflow runs: unknown action '{}' (actions: list, show RUN_ID, compare RUN_ID "
        "RUN_ID)",
        action);
  }
  if (ids.size() != wanted) {
    usage_error("shardflow runs {}: expected {} run id(s), got {}", action, wanted, ids.size());
  }
  if (!experiment.empty() && action != "list") {
    usage_error("shardflow runs {}: --experiment applies to list only", action);
  }
  // Only rank 0 reads and prints; the outcome is agreed so a failure is reported once.
  mpi::Comm comm;
  comm.agree([&] {
    if (ctx.rank != 0) return;
    if (action == "list") runs_list(store, experiment);
    if (action == "show") runs_show(store, ids[0]);
    if (action == "compare") runs_compare(store, ids[0], ids[1]);
  });
  return 0;
}

// ---------------------------------------------------------------------------------------------
// shardflow drift
// ---------------------------------------------------------------------------------------------

constexpr int kDriftFoundExitCode = 4;

// One CSV record as shardflow's writer quotes it (RFC 4180: "" inside quotes).
std::vector<std::string> split_csv_line(const std::string& line) {
  std::vector<std::string> out(1);
  bool quoted = false;
  for (size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (quoted) {
      if (c == '"' && i + 1 < line.size() && line[i + 1] == '"') {
        out.back() += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        out.back() += c;
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      out.emplace_back();
    } else {
      out.back() += c;
    }
  }
  return out;
}

// The drift report as one self-contained HTML page (no scripts, no network): the settings, one
// table row per feature, and SVG bars of PSI and KS against their thresholds.
std::string drift_html(const std::vector<std::vector<std::string>>& rows,
                       const std::string& reference, const std::string& current,
                       double psi_threshold, double ks_threshold) {
  std::string html = fmt::format(
      "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>shardflow drift</title>\n"
      "<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}"
      "td,th{{border:1px solid #ccc;padding:4px 8px;text-align:right}}td:first-child{{text-align:"
      "left}}.drifted{{background:#fdd}}</style></head><body>\n<h1>Drift report</h1>\n"
      "<p>reference: <code>{}</code><br>current: <code>{}</code><br>thresholds: PSI &gt; {}, KS "
      "&gt; {}</p>\n",
      html_escape(reference), html_escape(current), psi_threshold, ks_threshold);
  // rows[0] is the header: feature, reference_rows, current_rows, reference_missing,
  // current_missing, psi, ks, drifted, reason.
  int drifted = 0;
  for (size_t i = 1; i < rows.size(); ++i)
    drifted += rows[i].at(7) == "true" ? 1 : 0;
  html += fmt::format("<p><b>{} of {} feature(s) drifted.</b></p>\n", drifted, rows.size() - 1);
  html +=
      "<table><tr><th>feature</th><th>reference values</th><th>current values</th>"
      "<th>reference missing</th><th>current missing</th><th>PSI</th><th>KS</th><th>drifted"
      "</th></tr>\n";
  for (size_t i = 1; i < rows.size(); ++i) {
    const auto& r = rows[i];
    html += fmt::format(
        "<tr class=\"{}\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.4f}</td>"
        "<td>{:.4f}</td><td>{}</td></tr>\n",
        r.at(7) == "true" ? "drifted" : "", html_escape(r.at(0)), r.at(1), r.at(2), r.at(3),
        r.at(4), std::stod(r.at(5)), std::stod(r.at(6)),
        r.at(7) == "true" ? html_escape(r.at(8)) : "no");
  }
  html += "</table>\n";
  // Bars: one row per feature, PSI (scaled to the larger of the largest value and twice the
  // threshold) and KS (on [0, 1]), each with its threshold as a line.
  const int bar_width = 300, row_height = 22, label_width = 160;
  for (const auto& [title, column, threshold] :
       {std::tuple{"PSI", 5, psi_threshold}, std::tuple{"KS", 6, ks_threshold}}) {
    double scale = title == std::string("KS") ? 1.0 : 2 * threshold;
    for (size_t i = 1; i < rows.size(); ++i)
      scale = std::max(scale, std::stod(rows[i].at(column)));
    if (!(scale > 0)) scale = 1;
    const int height = static_cast<int>(rows.size() - 1) * row_height + 30;
    html += fmt::format(
        "<h2>{}</h2>\n<svg class=\"chart\" xmlns=\"http://www.w3.org/2000/svg\" "
        "width=\"{}\" height=\"{}\">\n",
        title, label_width + bar_width + 80, height);
    for (size_t i = 1; i < rows.size(); ++i) {
      const double v = std::stod(rows[i].at(column));
      const int y = static_cast<int>(i - 1) * row_height + 5;
      html += fmt::format(
          "<text x=\"0\" y=\"{}\" font-size=\"12\">{}</text><rect class=\"bar\" x=\"{}\" "
          "y=\"{}\" width=\"{:.1f}\" height=\"{}\" fill=\"{}\"/><text x=\"{:.1f}\" y=\"{}\" "
          "font-size=\"12\">{:.4f}</text>\n",
          y + 14, html_escape(rows[i].at(0)), label_width, y,
          std::max(1.0, bar_width * std::min(v / scale, 1.0)), row_height - 6,
          v > threshold ? "#d33" : "#4a8",
          label_width + std::max(1.0, bar_width * std::min(v / scale, 1.0)) + 4, y + 14, v);
    }
    const double tx = label_width + bar_width * std::min(threshold / scale, 1.0);
    html += fmt::format(
        "<line x1=\"{:.1f}\" y1=\"0\" x2=\"{:.1f}\" y2=\"{}\" stroke=\"#000\" "
        "stroke-dasharray=\"4\"/><text x=\"{:.1f}\" y=\"{}\" font-size=\"11\">threshold {}</text>\n"
        "</svg>\n",
        tx, tx, height - 15, tx + 2, height - 3, threshold);
  }
  html += "</body></html>\n";
  return html;
}

int command_drift(const Context& ctx, const std::vector<std::string>& argv) {
  std::string reference, current, table, output = "drift.csv", html, workdir = "runs/drift";
  std::vector<std::string> features;
  int bins = 10;
  double psi_threshold = 0.2, ks_threshold = 0.1;
  po::options_description options = logging_options();
  options.add_options()("reference", po::value<std::string>(&reference)->required(), "reference")(
      "current", po::value<std::string>(&current)->required(), "current")(
      "table", po::value<std::string>(&table), "HDF5 table")(
      "features", po::value<std::vector<std::string>>(&features)->composing(), "feature")(
      "bins", po::value<int>(&bins), "bins")("psi-threshold", po::value<double>(&psi_threshold),
                                             "PSI threshold")(
      "ks-threshold", po::value<double>(&ks_threshold), "KS threshold")(
      "output", po::value<std::string>(&output), "report CSV")(
      "html", po::value<std::string>(&html), "report HTML")("fail-on-drift", po::bool_switch(),
                                                            "exit 4 when a feature drifted")(
      "workdir", po::value<std::string>(&workdir), "workdir");
  const auto vm = parse("drift", argv, options, {});
  if (html.empty()) html = std::filesystem::path(output).replace_extension(".html").string();
  if (lower_extension(output) != ".csv") {
    usage_error("shardflow drift: --output '{}': expected a .csv path", output);
  }
  // Both inputs as one job: two inputs, a drift step, the report as a CSV output.
  YAML::Emitter out;
  out << YAML::BeginMap;
  out << YAML::Key << "name" << YAML::Value << "drift";
  out << YAML::Key << "workdir" << YAML::Value << workdir;
  out << YAML::Key << "inputs" << YAML::Value << YAML::BeginMap;
  emit_file_input(out, "drift", "reference", "reference", reference, table, "");
  emit_file_input(out, "drift", "current", "current", current, table, "");
  out << YAML::EndMap;
  out << YAML::Key << "steps" << YAML::Value << YAML::BeginSeq << YAML::BeginMap;
  out << YAML::Key << "op" << YAML::Value << "drift";
  out << YAML::Key << "reference" << YAML::Value << "reference";
  out << YAML::Key << "current" << YAML::Value << "current";
  if (!features.empty()) out << YAML::Key << "features" << YAML::Value << YAML::Flow << features;
  out << YAML::Key << "bins" << YAML::Value << bins;
  out << YAML::Key << "psi_threshold" << YAML::Value << psi_threshold;
  out << YAML::Key << "ks_threshold" << YAML::Value << ks_threshold;
  out << YAML::Key << "output" << YAML::Value << "drift";
  out << YAML::EndMap << YAML::EndSeq;
  out << YAML::Key << "outputs" << YAML::Value << YAML::BeginSeq << YAML::BeginMap;
  out << YAML::Key << "table" << YAML::Value << "drift";
  out << YAML::Key << "path" << YAML::Value << std::filesystem::absolute(output).string();
  out << YAML::Key << "format" << YAML::Value << "csv";
  out << YAML::Key << "allow_outside_workdir" << YAML::Value << true;
  out << YAML::EndMap << YAML::EndSeq;
  out << YAML::EndMap;

  mpi::Comm comm;
  configure_logging(ctx, vm, "info", false);
  pipeline::Job job;
  comm.agree([&] {
    job = pipeline::load_job_from_string(out.c_str(), "shardflow drift");
    pipeline::validate_job(job);
  });
  pipeline::SignalGuard signals;
  pipeline::run_job(comm, job, pipeline::RunOptions{});
  int drifted = 0;
  comm.agree([&] {
    if (!comm.is_root()) return;
    std::ifstream in(output);
    std::vector<std::vector<std::string>> rows;
    std::string line;
    while (std::getline(in, line))
      rows.push_back(split_csv_line(line));
    for (size_t i = 1; i < rows.size(); ++i)
      drifted += rows[i].size() > 7 && rows[i][7] == "true" ? 1 : 0;
    write_file_atomically(html, drift_html(rows, reference, current, psi_threshold, ks_threshold));
    spdlog::info("drift: {} of {} feature(s) drifted; report {} and {}", drifted, rows.size() - 1,
                 output, html);
  });
  drifted = mpi::allreduce_max(comm, drifted);
  if (vm["fail-on-drift"].as<bool>() && drifted > 0) {
    if (comm.is_root())
      std::fprintf(stderr, "shardflow: drift found: %d feature(s) over the thresholds (see %s)\n",
                   drifted, html.c_str());
    return kDriftFoundExitCode;
  }
  return 0;
}

// ---------------------------------------------------------------------------------------------
// shardflow gen
// ---------------------------------------------------------------------------------------------

int command_gen(const Context& ctx, const std::vector<std::string>& argv) {
  std::string kind, out;
  idx_t rows = 0;
  std::string rows_text;
  std::uint64_t seed = 42;
  po::options_description options = logging_options();
  options.add_options()("kind", po::value<std::string>(&kind)->required(), "kind")(
      "rows", po::value<std::string>(&rows_text)->required(), "rows")(
      "out", po::value<std::string>(&out)->required(), "output")(
      "seed", po::value<std::uint64_t>(&seed), "seed");
  po::positional_options_description positional;
  positional.add("kind", 1);
  const auto vm = parse("gen", argv, options, positional);
  configure_logging(ctx, vm, "info", false);
  auto kinds = io::synthetic_kinds();
  kinds.push_back("join");  // four tables in a directory (io/synthetic_join.hpp)
  if (std::find(kinds.begin(), kinds.end(), kind) == kinds.end()) {
    usage_error("shardflow gen: unknown kind '{}'{} (kinds: {})", kind, did_you_mean(kind, kinds),
                fmt::join(kinds, ", "));
  }
  // A row count may be written like 1000000, 1e6 or 2.5e5; it must be a whole number.
  {
    double value = 0;
    const char* begin = rows_text.data();
    const char* end = begin + rows_text.size();
    auto [stop, ec] = std::from_chars(begin, end, value);
    if (ec != std::errc() || stop != end || !(value >= 0) || value > 9.0e18 ||
        value != std::floor(value)) {
      usage_error(
          "shardflow gen: --rows must be a whole number >= 0 such as 1000000 or 1e6, got "
          "'{}'",
          rows_text);
    }
    rows = static_cast<idx_t>(value);
  }
  mpi::Comm comm;
  if (kind == "events") {
    // Two tables into the directory --out: events.csv and the labels drawn from it, labels.csv.
    comm.agree([&] {
      if (comm.is_root()) std::filesystem::create_directories(out);
    });
    const auto dir = std::filesystem::path(out);
    io::generate_csv(comm, "events", rows, seed, (dir / "events.csv").string());
    io::generate_csv(comm, "labels", rows, seed, (dir / "labels.csv").string());
    spdlog::info("wrote {} events to {} and {} labels to {}", rows, (dir / "events.csv").string(),
                 rows / 10, (dir / "labels.csv").string());
    return 0;
  }
  comm.agree([&] {
    const auto parent = std::filesystem::path(out).parent_path();
    if (comm.is_root() && !parent.empty()) std::filesystem::create_directories(parent);
  });
  if (kind == "join") {
    io::generate_join_csv(comm, rows, seed, out);
    spdlog::info("wrote the join tables x, small, medium and big for N = {} to {}/", rows, out);
    return 0;
  }
  io::generate_csv(comm, kind, rows, seed, out);
  spdlog::info("wrote {} rows of '{}' to {}", rows, kind, out);
  return 0;
}

// ---------------------------------------------------------------------------------------------
// shardflow cache list|clear
// ---------------------------------------------------------------------------------------------

int command_cache(const Context& ctx, const std::vector<std::string>& argv) {
  if (argv.empty() || (argv[0] != "list" && argv[0] != "clear")) {
    usage_error(
        "shardflow cache: expected 'list' or 'clear', e.g. shardflow cache list "
        "jobs/quickstart.yaml (see shardflow --help)");
  }
  const std::string action = argv[0];
  JobArgs args;
  std::string workdir;
  std::vector<std::string> only_tables;
  po::options_description options = logging_options();
  options.add_options()("job", po::value<std::string>(&args.job), "job file")(
      "profile", po::value<std::vector<std::string>>(&args.profiles)->composing(), "profile")(
      "set", po::value<std::vector<std::string>>(&args.overrides)->composing(), "override")(
      "workdir", po::value<std::string>(&workdir), "workdir")(
      "table", po::value<std::vector<std::string>>(&only_tables)->composing(), "table");
  po::positional_options_description positional;
  positional.add("job", 1);
  const auto vm = parse("cache " + action, {argv.begin() + 1, argv.end()}, options, positional);
  configure_logging(ctx, vm, "warn", false);
  if (args.job.empty() == workdir.empty()) {
    usage_error("shardflow cache {}: give either a job file or --workdir DIR", action);
  }
  mpi::Comm comm;
  std::optional<pipeline::Job> job;
  std::map<std::string, std::string> current;  // table -> fingerprint of the job as it is now
  if (!args.job.empty()) {
    comm.agree([&] {
      job = pipeline::load_job(args.job, args.profiles, args.overrides);
      pipeline::validate_job(*job);
    });
    workdir = job->workdir;
    if (action == "list") current = pipeline::table_fingerprints(comm, *job);
  }
  const pipeline::StageCache cache(std::filesystem::path(workdir) / "stages");
  auto selected = [&](const pipeline::StageEntry& e) {
    return only_tables.empty() ||
           std::find(only_tables.begin(), only_tables.end(), e.table) != only_tables.end();
  };
  if (action == "list") {
    if (ctx.rank == 0) {
      const auto entries = cache.list();
      std::uintmax_t total = 0;
      int shown = 0;
      for (const auto& e : entries) {
        if (!selected(e)) continue;
        auto it = current.find(e.table);
        const bool is_current = it != current.end() && it->second == e.fingerprint;
        const auto age = std::chrono::duration_cast<std::chrono::seconds>(
            std::filesystem::file_time_type::clock::now() - e.modified);
        fmt::print("{:<24} {}  {:>12} rows  {:>10.1f} MiB  {:>7} s ago{}\n", e.table, e.fingerprint,
                   e.rows < 0 ? std::string("?") : std::to_string(e.rows),
                   static_cast<double>(e.bytes) / 1048576.0, age.count(),
                   is_current ? "  (current)" : "");
        total += e.bytes;
        ++shown;
      }
      fmt::print("{} stage file(s), {:.1f} MiB in {}\n", shown,
                 static_cast<double>(total) / 1048576.0, cache.directory().string());
    }
    return 0;
  }
  // clear: the workdir must not be in use.
  comm.agree([&] {
    if (comm.is_root()) std::filesystem::create_directories(workdir);
  });
  const pipeline::WorkdirLock lock(comm, workdir);
  int removed = 0;
  comm.agree([&] {
    if (!comm.is_root()) return;
    for (const auto& e : cache.list()) {
      if (!selected(e)) continue;
      std::filesystem::remove(e.path);
      ++removed;
    }
  });
  if (ctx.rank == 0)
    fmt::print("removed {} stage file(s) from {}\n", removed, cache.directory().string());
  return 0;
}

int dispatch(const Context& ctx, int argc, char** argv) {
  if (argc < 2) {
    if (ctx.rank == 0) std::fputs(kUsage, stderr);
    return exit_code(ErrorKind::kConfig);
  }
  const std::string command = argv[1];
  if (command == "--help" || command == "-h" || command == "help") {
    if (ctx.rank == 0) std::fputs(kUsage, stdout);
    return 0;
  }
  if (command == "--version") {
    if (ctx.rank == 0) fmt::print("shardflow {}\n", kVersion);
    return 0;
  }
  const std::vector<std::string> rest(argv + 2, argv + argc);
  // `shardflow run --help` and the like: the one usage text covers every command.
  if (std::find(kCommands.begin(), kCommands.end(), command) != kCommands.end() &&
      std::any_of(rest.begin(), rest.end(),
                  [](const auto& a) { return a == "--help" || a == "-h"; })) {
    if (ctx.rank == 0) std::fputs(kUsage, stdout);
    return 0;
  }
  if (command == "run") return command_run(ctx, rest);
  if (command == "validate") return command_validate(ctx, rest);
  if (command == "predict") return command_predict(ctx, rest);
  if (command == "inspect") return command_inspect(ctx, rest);
  if (command == "gen") return command_gen(ctx, rest);
  if (command == "cache") return command_cache(ctx, rest);
  if (command == "runs") return command_runs(ctx, rest);
  if (command == "drift") return command_drift(ctx, rest);
  usage_error("unknown command '{}'{} (commands: {}; see shardflow --help)", command,
              did_you_mean(command, kCommands), fmt::join(kCommands, ", "));
}

void report(ErrorKind kind, const std::string& message) {
  std::fprintf(stderr, "shardflow: %s: %s\n", std::string(to_string(kind)).c_str(),
               message.c_str());
  std::fflush(stderr);
}

}  // namespace

int main(int argc, char** argv) {
  // The launcher runs mpirun; it must not be an MPI process itself.
  if (argc >= 2 && std::string_view(argv[1]) == "launch") {
    const std::vector<std::string> args(argv + 2, argv + argc);
    if (args.empty() || args.front() == "--help" || args.front() == "-h") {
      std::fputs(kUsage, args.empty() ? stderr : stdout);
      return args.empty() ? exit_code(ErrorKind::kConfig) : 0;
    }
    try {
      return launch(args);
    } catch (const Error& e) {
      report(e.kind(), e.what());
      return exit_code(e.kind());
    }
  }
  mpi::Environment env(&argc, &argv);
  Context ctx;
  ctx.rank = mpi::world_rank();
  ctx.size = mpi::world_size();
  try {
    setup_logging(ctx.rank, ctx.size, {});
    return dispatch(ctx, argc, argv);
  } catch (const Error& e) {
    // An agreed error is thrown identically on every rank: rank 0 reports it once and everyone
    // exits normally. Anything else is known to this rank only; others may be blocked in a
    // collective, so the job is torn down with MPI_Abort after this rank has explained why.
    if (e.agreed() || ctx.size == 1) {
      if (ctx.rank == 0) report(e.kind(), e.what());
      return exit_code(e.kind());
    }
    report(e.kind(), fmt::format("rank {}: {}", ctx.rank, e.what()));
    mpi::abort_world(exit_code(e.kind()));
    return exit_code(e.kind());
  } catch (const std::exception& e) {
    report(ErrorKind::kRuntime,
           fmt::format("{}{}", ctx.size > 1 ? fmt::format("rank {}: ", ctx.rank) : "", e.what()));
    if (ctx.size > 1) mpi::abort_world(exit_code(ErrorKind::kRuntime));
    return exit_code(ErrorKind::kRuntime);
  }
}

}  // namespace shardflow::app
