#pragma once
// The typed form of a job file (DESIGN.md "Job file"): what load_job produces from the YAML, a
// profile stack and --set overrides, and what validate_job and the stage runner consume. Every spec
// remembers where it was written so that later checks can report `file:line:column`.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "shardflow/common/types.hpp"
#include "shardflow/io/csv_reader.hpp"
#include "shardflow/ops/group_by.hpp"
#include "shardflow/table/schema.hpp"

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

/// One entry of `inputs:`.
struct InputSpec {
  std::string name;
  std::string format;                   // csv | hdf5 | generate
  std::vector<std::string> paths;       // csv: files or globs (as written); hdf5: one file
  std::optional<table::Schema> schema;  // csv only; column order as written
  bool header = true;                   // csv
  char delimiter = ',';                 // csv
  io::BadRowPolicy bad_rows = io::BadRowPolicy::kFail;  // csv
  std::string hdf5_table;     // hdf5: group name in the file (defaults to the input name)
  std::string generate_kind;  // generate: io::synthetic_schema kind
  idx_t generate_rows = 0;    // generate
  SourceLocation location;    // the input's name in `inputs:`
  FieldLocations fields;
};

/// One aggregate as written (`aggs: {amount: [sum]}` -> {"amount", "sum"}); column "*" is count(*).
struct AggregateSpec {
  std::string column;
  std::string function;
};

/// One entry of `steps:`.
struct StepSpec {
  std::string op;  // filter | group_by
  std::string input;
  std::string output;
  std::string where;               // filter: boolean expression (ops::Expression syntax)
  std::vector<std::string> keys;   // group_by
  std::vector<ops::AggSpec> aggs;  // group_by, in the order written; output "<column>_<kind>"
                                   // or "count" for count(*) (written "*", stored as column "")
  SourceLocation location;         // the step's list item
  FieldLocations fields;
};

/// One entry of `outputs:`.
struct OutputSpec {
  std::string table;
  std::string path;  // relative to the job's workdir unless absolute; default "<table>.h5|.csv"
  std::string
      format;  // hdf5 (default; csv when the path ends in .csv and no format is given) | csv
  SourceLocation location;
  FieldLocations fields;
};

/// `train:`.
struct TrainSpec {
  std::string input;
  std::string label;
  std::vector<std::string> numeric_features;
  bool standard_scale = false;  // transforms: [{scale: standard}]
  std::string model_type = "logistic";
  double l2 = 0.0;
  std::string optimizer = "sgd";
  double learning_rate = 0.1;
  idx_t batch_size = 256;
  int epochs = 5;
  double momentum = 0.0;
  idx_t checkpoint_every_steps = 0;  // 0 = only at the end
  int checkpoint_keep = 3;
  SourceLocation location;
  FieldLocations fields;  // keys: input, label, features, transforms, model, optimizer, checkpoint
};

/// `evaluate:` (requires `train:`).
struct EvaluateSpec {
  std::string input;
  std::vector<std::string> metrics;  // auc | logloss | accuracy
  SourceLocation location;
  FieldLocations fields;
};

/// `runtime:` — usually from a profile (configs/local.yaml, configs/cluster.yaml).
struct RuntimeSpec {
  idx_t shuffle_round_bytes = idx_t{64} << 20;
  idx_t hdf5_chunk_rows = 1 << 16;
  idx_t max_dictionary_size = 1 << 20;
  std::string log_level = "info";  // trace | debug | info | warn | error
  bool log_all_ranks = false;
};

struct Job {
  std::string name;
  std::uint64_t seed = 42;
  std::string workdir;            // as written (default "runs/<name>"); relative to the CWD
  std::string source_file;        // the job file path as given to load_job
  std::vector<InputSpec> inputs;  // in the order written
  std::vector<StepSpec> steps;
  std::vector<OutputSpec> outputs;
  std::optional<TrainSpec> train;
  std::optional<EvaluateSpec> evaluate;
  RuntimeSpec runtime;
  /// The merged config (profiles + job + overrides) with every default filled in, emitted as YAML
  /// by to_canonical_yaml. It is itself a valid job file that loads back to an equal Job.
  std::string canonical_yaml;
  /// Fingerprint (common/fingerprint.hpp) of canonical_yaml: changes when any value changes,
  /// not when only comments, quoting, flow/block style or key order change.
  std::string fingerprint() const;
};

/// Local: the canonical YAML of `job` (fixed key order, all defaults written, numbers normalized).
/// Does not read job.canonical_yaml.
std::string to_canonical_yaml(const Job& job);

/// CSV reader options for a `format: csv` input (paths unexpanded; no quarantine path, which
/// depends on the workdir and is set by the runner).
io::CsvOptions csv_options(const InputSpec& input, const RuntimeSpec& runtime);

}  // namespace shardflow::pipeline
