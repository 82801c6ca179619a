#pragma once
// The typed form of a job file (DESIGN.md "Job file"): what load_job produces from the YAML, a
// profile stack and --set overrides, and what validate_job and the stage runner consume. Every spec
// remembers where it was written so that later checks can report `file:line:column`.

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "shardflow/common/memory.hpp"
#include "shardflow/common/types.hpp"
#include "shardflow/ml/dataset.hpp"
#include "shardflow/pipeline/config_node.hpp"
#include "shardflow/pipeline/input_format.hpp"
#include "shardflow/pipeline/step.hpp"
#include "shardflow/pipeline/train_components.hpp"

namespace shardflow::pipeline {

/// One entry of `outputs:`.
struct OutputSpec {
  std::string table;
  std::string path;  // relative to <workdir>/outputs; default "<table>.h5|.csv"; an absolute
                     // path or one that leaves outputs/ needs allow_outside_workdir
  std::string
      format;  // hdf5 (default; csv when the path ends in .csv and no format is given) | csv
  bool allow_outside_workdir = false;
  /// Hive-style partitioned output (io/partitioned_writer.hpp): `path` is a directory written as
  /// <path>/<c1>=<v1>/.../part-00000.<csv|h5>; empty = one file. Locations of the entries are in
  /// `fields` as "partition_by.<i>".
  std::vector<std::string> partition_by;
  SourceLocation location;
  FieldLocations fields;
};

/// `train.early_stopping:` after every epoch, `metric` (a registry metric for the model's task) is
/// computed on table `input` with the epoch's weights; training stops once `patience` epochs in a
/// row have not improved on the best value by more than `min_delta`, and the model kept is the
/// best epoch's (also when every epoch runs).
struct EarlyStoppingSpec {
  std::string input;
  std::string metric;
  int patience = 3;        // >= 1
  double min_delta = 0.0;  // >= 0
  SourceLocation location;
  FieldLocations fields;  // keys: input, metric, patience, min_delta
};

/// `train:`. The model, the optimizer and the transforms are registry entries
/// (train_components.hpp); after loading, model and optimizer are never null (the default types
/// when not written).
struct TrainSpec {
  std::string input;
  std::string label;
  std::vector<std::string> numeric_features;
  /// `features.categorical`: string, integer or bool columns, each encoded by a transform.
  std::vector<std::string> categorical_features;
  /// `features.dtype`: the training matrix's type (float64 by default; float32 halves its
  /// memory, each value rounded once to float, the arithmetic still in double).
  ml::MatrixType matrix_type = ml::MatrixType::kFloat64;
  std::vector<std::shared_ptr<const TransformSpec>> transforms;  // in the order written
  std::shared_ptr<const ModelSpec> model;
  std::shared_ptr<const OptimizerSpec> optimizer;
  idx_t checkpoint_every_steps = 0;  // 0 = only at the end
  int checkpoint_keep = 3;
  /// `class_weight:` (classification models): each training row's loss is multiplied by its
  /// class's weight. kBalanced: n / (classes x rows of the class), from the training data;
  /// kGiven: `class_weights` (label value -> weight > 0; classes not listed weigh 1).
  enum class ClassWeight { kNone, kBalanced, kGiven };
  ClassWeight class_weight = ClassWeight::kNone;
  std::vector<std::pair<double, double>> class_weights;  // kGiven, ascending label value
  std::optional<EarlyStoppingSpec> early_stopping;
  SourceLocation location;
  FieldLocations fields;  // keys: input, label, features, transforms, model, optimizer,
                          // checkpoint, class_weight, early_stopping
};

/// Local: the (unfitted) feature pipeline of the train section: its features and transforms.
/// ConfigError, at the transform's or the features' location, for a pipeline that cannot work
/// (ml::FeaturePipeline's constructor lists the cases).
ml::FeaturePipeline feature_pipeline_of(const TrainSpec& train);

/// `evaluate:` (requires `train:`).
struct EvaluateSpec {
  std::string input;
  std::vector<std::string> metrics;  // names in the metric registry (ml/metric.hpp)
  SourceLocation location;
  FieldLocations fields;
};

/// `track:` records each run in an MLflow file store (track/run_recorder.hpp): experiment
/// `experiment` under `store`, one MLflow run per shardflow run, continued when a run resumes.
struct TrackSpec {
  std::string store = "mlruns";  // a directory; relative to the CWD, like workdir
  std::string experiment;        // default: the job name
  std::string run_name;          // default: the job name
  SourceLocation location;
  FieldLocations fields;  // keys: store, experiment, run_name
};

/// `register:` (needs train, evaluate and track): registers each run's model as a new version of
/// `model` in the tracking store's registry (track/model_registry.hpp); `alias` moves to the new
/// version only if its `metric` (one of evaluate.metrics) beats the alias's version's.
struct RegisterSpec {
  std::string model;
  std::string metric;
  bool higher_is_better = true;  // mode: max (true) | min; default: the metric's own direction
  std::string alias = "champion";
  SourceLocation location;
  FieldLocations fields;  // keys: model, metric, mode, alias
};

/// `runtime:` — usually from a profile (configs/local.yaml, configs/cluster.yaml).
struct RuntimeSpec {
  idx_t shuffle_round_bytes = idx_t{64} << 20;
  idx_t hdf5_chunk_rows = 1 << 16;
  idx_t max_dictionary_size = 1 << 20;
  std::string log_level = "info";  // trace | debug | info | warn | error
  bool log_all_ranks = false;
  /// Stage files kept per table in <workdir>/stages, the current one included (older ones are
  /// pruned after a successful run).
  int cache_keep = 3;
  /// Free each table after its last reader (true), or keep every table until the job ends.
  bool table_liveness = true;
  /// A join's strategy auto replicates the smaller side to every rank (instead of shuffling both)
  /// when that side's global size is at most this many bytes.
  idx_t broadcast_max_bytes = idx_t{64} << 20;
  /// Keep memory freed by one step mapped for the next (common/memory.hpp keep_freed_memory):
  /// faster, but the resident set stays at its peak.
  bool keep_freed_memory = true;
  /// Put column buffers of at least huge_page_min_bytes on transparent huge pages
  /// (common/memory.hpp use_huge_pages_for_buffers): fewer page faults on a step's first pass
  /// over new memory and fewer TLB misses on random access. YAML: `huge_pages: true | false |
  /// <size>` (a size sets huge_page_min_bytes and leaves huge_pages true).
  bool huge_pages = true;
  idx_t huge_page_min_bytes = static_cast<idx_t>(kDefaultHugePageBufferBytes);
};

struct Job {
  std::string name;
  std::uint64_t seed = 42;
  std::string workdir;      // as written (default "runs/<name>"); relative to the CWD
  std::string source_file;  // the job file path as given to load_job
  std::vector<std::shared_ptr<const InputSpec>> inputs;  // in the order written
  std::vector<std::shared_ptr<const StepSpec>> steps;    // in the order written
  std::vector<OutputSpec> outputs;
  std::optional<TrainSpec> train;
  std::optional<EvaluateSpec> evaluate;
  std::optional<TrackSpec> track;
  std::optional<RegisterSpec> registration;  // `register:`
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

}  // namespace shardflow::pipeline
