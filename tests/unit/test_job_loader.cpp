// Job file -> Job: every structural error path with its exact message and location, profiles,
// --set overrides, canonical YAML round trips and fingerprints.

#include <gtest/gtest.h>

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <set>
#include <string>

#include "shardflow/common/error.hpp"
#include "shardflow/pipeline/job_loader.hpp"
#include "support/canonical_yaml.hpp"
#include "support/test_util.hpp"

using namespace shardflow;
using namespace shardflow::pipeline;
using shardflow::testing_util::TempDir;
using shardflow::testing_util::write_file;

using shardflow::testing_util::canonical;

namespace {

// The full example of the job file format (DESIGN.md "Job file", the supported subset).
const char* kFullJob = R"(# a comment
name: quickstart
seed: 7
workdir: runs/qs
inputs:
  events: {format: generate, kind: classification, rows: 200000}
  more:   {format: csv, path: "data/*.csv", schema: {id: int64, x: float64}, header: true, delimiter: ";", bad_rows: quarantine}
  labels: {format: hdf5, path: data/labels.h5, table: lbl}
steps:
  - {op: filter, input: events, where: "amount > 0", output: clean}
  - {op: group_by, input: clean, keys: [segment], aggs: {amount: [sum, mean, min, max], label: [mean], "*": [count]}, output: by_segment}
outputs:
  - {table: by_segment, path: by_segment.h5, format: hdf5}
  - {table: clean, path: clean.csv}
train:
  input: clean
  label: label
  features: {numeric: [x1, x2, x3, x4]}
  transforms: [{scale: standard}]
  model: {type: logistic, l2: 1.0e-4}
  optimizer: {type: sgd, lr: 0.1, batch_size: 1024, epochs: 5, momentum: 0.9}
  checkpoint: {every_steps: 50, keep: 2}
evaluate: {input: clean, metrics: [auc, logloss, accuracy]}
runtime:
  shuffle_round_bytes: 67108864
  hdf5_chunk_rows: 4096
  max_dictionary_size: 1000
  log_level: debug
  log_all_ranks: true
)";

// A small valid job; tests append or replace lines.
const char* kSmallJob = R"(name: small
inputs:
  events: {format: generate, kind: classification, rows: 100}
steps:
  - {op: filter, input: events, where: "amount > 0", output: clean}
train:
  input: clean
  label: label
  features: {numeric: [x1, x2]}
  optimizer: {lr: 0.5}
)";

class JobLoader : public ::testing::Test {
 protected:
  std::string write(const std::string& name, const std::string& text) {
    const auto path = dir_.path() / name;
    write_file(path, text);
    return path.string();
  }
  // Writes `text` as job.yaml and returns the message of the ConfigError load_job throws.
  std::string load_error(const std::string& text, const std::vector<std::string>& profiles = {},
                         const std::vector<std::string>& overrides = {}) {
    write("job.yaml", text);
    try {
      load_job(path_, profiles, overrides);
    } catch (const ConfigError& e) {
      return e.what();
    }
    ADD_FAILURE() << "no ConfigError for:\n" << text;
    return "";
  }
  std::string at(int line, int column) const {
    return fmt::format("{}:{}:{}: ", path_, line, column);
  }

  TempDir dir_;
  std::string path_ = (dir_.path() / "job.yaml").string();
};

TEST(SourceLocation, Formats) {
  EXPECT_EQ((SourceLocation{"jobs/q.yaml", 12, 5}.to_string()), "jobs/q.yaml:12:5");
  EXPECT_EQ((SourceLocation{"--set train.optimizer.lr", 0, 0}.to_string()),
            "--set train.optimizer.lr");
  EXPECT_EQ(SourceLocation{}.to_string(), "<unknown location>");
}

TEST_F(JobLoader, FullJobLoadsEveryField) {
  const std::string path = write("full.yaml", kFullJob);
  const Job job = load_job(path);
  EXPECT_EQ(job.name, "quickstart");
  EXPECT_EQ(job.seed, 7u);
  EXPECT_EQ(job.workdir, "runs/qs");
  EXPECT_EQ(job.source_file, path);

  ASSERT_EQ(job.inputs.size(), 3u);
  const InputSpec& events = *job.inputs[0];
  EXPECT_EQ(events.name, "events");
  EXPECT_EQ(events.format, "generate");
  EXPECT_EQ(canonical(events), "{format: generate, kind: classification, rows: 200000}");
  EXPECT_EQ(events.location, (SourceLocation{path, 6, 3}));
  EXPECT_EQ(events.fields.of("rows", {}), (SourceLocation{path, 6, 58}));

  const InputSpec& more = *job.inputs[1];
  EXPECT_EQ(more.format, "csv");
  EXPECT_EQ(canonical(more),
            "{format: csv, path: [data/*.csv], schema: {id: int64, x: float64}, header: true, "
            "delimiter: \";\", bad_rows: quarantine, fingerprint: content}");

  const InputSpec& labels = *job.inputs[2];
  EXPECT_EQ(labels.format, "hdf5");
  EXPECT_EQ(canonical(labels),
            "{format: hdf5, path: data/labels.h5, table: lbl, fingerprint: content}");

  ASSERT_EQ(job.steps.size(), 2u);
  const StepSpec& f = *job.steps[0];
  EXPECT_EQ(f.op, "filter");
  EXPECT_EQ(f.name(), "clean");
  ASSERT_EQ(f.inputs.size(), 1u);
  EXPECT_EQ(f.inputs[0].table, "events");
  EXPECT_EQ(f.outputs[0].table, "clean");
  EXPECT_EQ(canonical(f), "{op: filter, input: events, where: amount > 0, output: clean}");
  EXPECT_EQ(f.location, (SourceLocation{path, 10, 5}));
  EXPECT_EQ(f.fields.of("where", {}), (SourceLocation{path, 10, 40}));
  const StepSpec& g = *job.steps[1];
  EXPECT_EQ(g.op, "group_by");
  EXPECT_EQ(canonical(g),
            "{op: group_by, input: clean, keys: [segment], aggs: {amount: [sum, mean, min, max], "
            "label: [mean], \"*\": [count]}, output: by_segment}");

  ASSERT_EQ(job.outputs.size(), 2u);
  EXPECT_EQ(job.outputs[0].table, "by_segment");
  EXPECT_EQ(job.outputs[0].format, "hdf5");
  EXPECT_EQ(job.outputs[1].path, "clean.csv");
  EXPECT_EQ(job.outputs[1].format, "csv");  // from the extension

  ASSERT_TRUE(job.train.has_value());
  const TrainSpec& t = *job.train;
  EXPECT_EQ(t.input, "clean");
  EXPECT_EQ(t.label, "label");
  EXPECT_EQ(t.numeric_features, (std::vector<std::string>{"x1", "x2", "x3", "x4"}));
  ASSERT_EQ(t.transforms.size(), 1u);
  EXPECT_EQ(t.transforms[0]->name, "scale");
  EXPECT_EQ(canonical(*t.transforms[0]), "{scale: standard}");
  EXPECT_EQ(t.transforms[0]->location, (SourceLocation{path, 19, 16}));
  EXPECT_EQ(t.model->type, "logistic");
  EXPECT_DOUBLE_EQ(t.model->as<LogisticModelSpec>().l2, 1e-4);
  EXPECT_EQ(canonical(*t.model), "{type: logistic, l2: 0.0001}");
  EXPECT_EQ(t.model->location, (SourceLocation{path, 20, 10}));
  EXPECT_EQ(t.model->fields.of("l2", {}), (SourceLocation{path, 20, 31}));
  EXPECT_EQ(t.optimizer->type, "sgd");
  const auto& sgd = t.optimizer->as<SgdOptimizerSpec>();
  EXPECT_DOUBLE_EQ(sgd.learning_rate, 0.1);
  EXPECT_EQ(sgd.batch_size, 1024);
  EXPECT_EQ(sgd.epochs, 5);
  EXPECT_DOUBLE_EQ(sgd.momentum, 0.9);
  EXPECT_EQ(canonical(*t.optimizer),
            "{type: sgd, lr: 0.1, batch_size: 1024, epochs: 5, momentum: 0.9}");
  EXPECT_EQ(t.optimizer->fields.of("epochs", {}), (SourceLocation{path, 21, 61}));
  EXPECT_EQ(t.checkpoint_every_steps, 50);
  EXPECT_EQ(t.checkpoint_keep, 2);

  ASSERT_TRUE(job.evaluate.has_value());
  EXPECT_EQ(job.evaluate->input, "clean");
  EXPECT_EQ(job.evaluate->metrics, (std::vector<std::string>{"auc", "logloss", "accuracy"}));

  EXPECT_EQ(job.runtime.shuffle_round_bytes, 67108864);
  EXPECT_EQ(job.runtime.hdf5_chunk_rows, 4096);
  EXPECT_EQ(job.runtime.max_dictionary_size, 1000);
  EXPECT_EQ(job.runtime.log_level, "debug");
  EXPECT_TRUE(job.runtime.log_all_ranks);
  EXPECT_FALSE(job.canonical_yaml.empty());
  EXPECT_EQ(job.fingerprint().size(), 32u);
}

TEST_F(JobLoader, DefaultsAreFilledIn) {
  const Job job =
      load_job(write("job.yaml", "name: tiny\ninputs:\n  e: {format: hdf5, path: x.h5}\n"));
  EXPECT_EQ(job.seed, 42u);
  EXPECT_EQ(job.workdir, "runs/tiny");
  // table defaults to the input name
  EXPECT_EQ(canonical(*job.inputs[0]),
            "{format: hdf5, path: x.h5, table: e, fingerprint: content}");
  EXPECT_TRUE(job.steps.empty());
  EXPECT_TRUE(job.outputs.empty());
  EXPECT_FALSE(job.train.has_value());
  EXPECT_FALSE(job.evaluate.has_value());
  EXPECT_EQ(job.runtime.shuffle_round_bytes, 64 << 20);
  EXPECT_EQ(job.runtime.hdf5_chunk_rows, 65536);
  EXPECT_EQ(job.runtime.log_level, "info");

  const Job small = load_job(write("small.yaml", kSmallJob));
  const auto& sgd = small.train->optimizer->as<SgdOptimizerSpec>();
  EXPECT_EQ(sgd.batch_size, 256);
  EXPECT_EQ(sgd.epochs, 5);
  EXPECT_DOUBLE_EQ(sgd.learning_rate, 0.5);
  EXPECT_DOUBLE_EQ(sgd.momentum, 0.0);
  EXPECT_EQ(small.train->checkpoint_every_steps, 0);
  EXPECT_EQ(small.train->checkpoint_keep, 3);
  EXPECT_TRUE(small.train->transforms.empty());
  // No model section: the default model with its defaults, located at the train section.
  EXPECT_EQ(canonical(*small.train->model), "{type: logistic, l2: 0}");
  EXPECT_EQ(small.train->model->location, small.train->location);
}

// ---- YAML aliases are refused (a self-reference crashed the loader; nested ones exploded)
// ---------

TEST_F(JobLoader, AliasesAreRefusedWithTheirLocation) {
  const std::string tail = "; write the value out, or share settings through --profile files";
  EXPECT_EQ(load_error("name: j\na: &a [*a]\n"),
            at(2, 8) +
                "YAML aliases ('*name') are not supported in job files (they can expand "
                "without bound)" +
                tail);
  // A nine-level "billion laughs": refused at its first alias, before anything expands.
  std::string laughs = "name: j\nl0: &l0 [lol]\n";
  for (int k = 1; k <= 9; ++k) {
    laughs += fmt::format("l{}: &l{} [", k, k);
    for (int r = 0; r < 9; ++r)
      laughs += fmt::format("{}*l{}", r ? ", " : "", k - 1);
    laughs += "]\n";
  }
  EXPECT_EQ(load_error(laughs).rfind(at(3, 10) + "YAML aliases", 0), 0u) << load_error(laughs);
  // Anchors alone are harmless; aliases in --set values are refused too.
  EXPECT_EQ(
      load_job(write("anchor.yaml", "name: &n j\ninputs:\n  e: {format: hdf5, path: x.h5}\n")).name,
      "j");
  const std::string valid = "name: j\ninputs:\n  e: {format: hdf5, path: x.h5}\n";
  EXPECT_EQ(load_error(valid, {}, {"seed=[&x 1, *x]"}),
            "--set seed:1:8: YAML aliases ('*name') are not supported in job files (they can "
            "expand without bound)" +
                tail);
}

// A stray ',' at document level made the alias check loop forever: yaml-cpp's HandleNextDocument
// reports an empty document on every call there (found by fuzz_job_loader; without the fix this
// test hangs until ctest's timeout).
TEST_F(JobLoader, StrayCommaAtDocumentLevelDoesNotHang) {
  EXPECT_NE(load_error(", a\n"), "");
  EXPECT_NE(load_error("name: j\n", {write("p.yaml", ", runtime: {log_level: warn}\n")}), "");
}

// ---- outputs stay inside <workdir>/outputs unless the job opts out ----------------------------

TEST_F(JobLoader, OutputPathsOutsideTheWorkdirNeedAnOptIn) {
  const std::string head = "name: j\ninputs:\n  e: {format: hdf5, path: x.h5}\noutputs:\n";
  const std::string tail =
      "' leaves the workdir's outputs/ directory; write a relative path without '..', or add "
      "allow_outside_workdir: true to this output to write there on purpose";
  EXPECT_EQ(load_error(head + "  - {table: e, path: /etc/x.h5}\n"),
            at(5, 22) + "outputs.0.path '/etc/x.h5" + tail);
  EXPECT_EQ(load_error(head + "  - {table: e, path: ../../x.h5}\n"),
            at(5, 22) + "outputs.0.path '../../x.h5" + tail);
  EXPECT_EQ(load_error(head + "  - {table: e, path: ../outputs2/x.h5}\n"),
            at(5, 22) + "outputs.0.path '../outputs2/x.h5" + tail);
  EXPECT_EQ(load_error(head + "  - {table: e, path: a/../..}\n"),
            at(5, 22) + "outputs.0.path 'a/../.." + tail);
  const Job inside = load_job(write("in.yaml", head + "  - {table: e, path: sub/../x.h5}\n"));
  EXPECT_EQ(inside.outputs[0].path, "sub/../x.h5");
  const Job opted = load_job(
      write("opt.yaml", head + "  - {table: e, path: /tmp/x.h5, allow_outside_workdir: true}\n"));
  EXPECT_TRUE(opted.outputs[0].allow_outside_workdir);
  EXPECT_NE(opted.canonical_yaml.find("allow_outside_workdir: true"), std::string::npos);
  EXPECT_EQ(inside.canonical_yaml.find("allow_outside_workdir"), std::string::npos);
}

// ---- unknown keys at every level --------------------------------------------------------------

TEST_F(JobLoader, UnknownTopLevelKeySuggests) {
  const std::string e = load_error("# job\nnmae: x\ninputs: {}\n");
  EXPECT_EQ(e, at(2, 1) + "unknown key 'nmae' at the top level; did you mean 'name'?");
}

TEST_F(JobLoader, UnknownKeyInTrainOptimizerSuggests) {
  const std::string job = R"(name: small
inputs:
  events: {format: generate, kind: classification, rows: 100}
train:
  input: events
  label: label
  features: {numeric: [x1]}
  optimizer:
    lr: 0.1
    epcohs: 3
)";
  EXPECT_EQ(load_error(job),
            at(10, 5) + "unknown key 'epcohs' in train.optimizer; did you mean 'epochs'?");
}

TEST_F(JobLoader, UnknownKeysAtEveryNestingLevel) {
  const std::string head =
      "name: j\ninputs:\n  events: {format: generate, kind: groupby, rows: 5}\n";
  struct Case {
    std::string text;
    int line, column;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"name: j\ninputs:\n  e: {format: csv, path: a.csv, delimeter: ';'}\n", 3, 33,
       "unknown key 'delimeter' in inputs.e (a csv input); did you mean 'delimiter'?"},
      {"name: j\ninputs:\n  e: {format: hdf5, path: a.h5, tabel: t}\n", 3, 33,
       "unknown key 'tabel' in inputs.e (an hdf5 input); did you mean 'table'?"},
      {"name: j\ninputs:\n  e: {fromat: csv, path: a.csv}\n", 3, 7,
       "unknown key 'fromat' in inputs.e; did you mean 'format'?"},
      {head + "steps:\n  - {op: filter, input: events, wher: x, output: o}\n", 5, 33,
       "unknown key 'wher' in steps.0 (a filter step); did you mean 'where'?"},
      {head + "steps:\n  - {op: group_by, input: events, keys: [id1], agg: {v1: sum}, output: o}\n",
       5, 48, "unknown key 'agg' in steps.0 (a group_by step); did you mean 'aggs'?"},
      {head + "outputs:\n  - {tabel: events}\n", 5, 6,
       "unknown key 'tabel' in outputs.0; did you mean 'table'?"},
      {head + "train: {input: events, label: v1, features: {numric: [v2]}}\n", 4, 46,
       "unknown key 'numric' in train.features; did you mean 'numeric'?"},
      {head + "train: {input: events, label: v1, features: {numeric: [v2]}, model: {l22: 1}}\n", 4,
       70, "unknown key 'l22' in train.model; did you mean 'l2'?"},
      {head + "train: {input: events, label: v1, features: {numeric: [v2]}, checkpoint: "
              "{evry_steps: 1}}\n",
       4, 75, "unknown key 'evry_steps' in train.checkpoint; did you mean 'every_steps'?"},
      {head + "train: {input: events, label: v1, features: {numeric: [v2]}}\nevaluate: {input: "
              "events, metric: [auc]}\n",
       5, 27, "unknown key 'metric' in evaluate; did you mean 'metrics'?"},
      {head + "runtime:\n  log_levle: debug\n", 5, 3,
       "unknown key 'log_levle' in runtime; did you mean 'log_level'?"},
      {head + "train: {inptu: events, label: v1, features: {numeric: [v2]}}\n", 4, 9,
       "unknown key 'inptu' in train; did you mean 'input'?"},
      // nothing close: list the valid keys
      {head + "runtime: {zzzzzz: 1}\n", 4, 11,
       "unknown key 'zzzzzz' in runtime (valid keys: shuffle_round_bytes, hdf5_chunk_rows, "
       "max_dictionary_size, log_level, log_all_ranks, cache_keep, table_liveness, "
       "broadcast_max_bytes, keep_freed_memory, huge_pages)"},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(load_error(c.text), at(c.line, c.column) + c.message) << c.text;
  }
}

// ---- wrong types and ranges ------------------------------------------------------------------

TEST_F(JobLoader, WrongTypesNameTheKeyAndTheValue) {
  const std::string head =
      "name: j\ninputs:\n  events: {format: generate, kind: groupby, rows: 5}\n";
  const std::string train = "train:\n  input: events\n  label: v1\n  features: {numeric: [v2]}\n";
  struct Case {
    std::string text;
    int line, column;
    std::string message;
  };
  const std::vector<Case> cases = {
      {head + train + "  optimizer: {lr: fast}\n", 8, 19,
       "train.optimizer.lr must be a number, got 'fast'"},
      {head + train + "  optimizer: {epochs: 2.5}\n", 8, 23,
       "train.optimizer.epochs must be an integer, got '2.5'"},
      {head + train + "  optimizer: {batch_size: [1]}\n", 8, 27,
       "train.optimizer.batch_size must be an integer, got a list"},
      {head + train + "  optimizer: {lr: -1}\n", 8, 19, "train.optimizer.lr must be > 0, got -1"},
      {head + train + "  optimizer: {momentum: 1}\n", 8, 25,
       "train.optimizer.momentum must be in [0, 1), got 1"},
      {head + train + "  optimizer: {batch_size: 0}\n", 8, 27,
       "train.optimizer.batch_size must be >= 1, got 0"},
      {head + train + "  checkpoint: {keep: 0}\n", 8, 22,
       "train.checkpoint.keep must be >= 1, got 0"},
      {head + train + "  model: {l2: -0.5}\n", 8, 15, "train.model.l2 must be >= 0, got -0.5"},
      {head + "seed: -3\n", 4, 7, "seed must be >= 0, got -3"},
      {head + "seed: 99999999999999999999\n", 4, 7,
       "seed is out of range, got '99999999999999999999'"},
      {"name: [a]\ninputs: {}\n", 1, 7, "name must be a string, got a list"},
      {"name: 'my job'\n", 1, 7,
       "the job name 'my job' may only contain letters, digits, '_' and '-' (it names files and "
       "HDF5 groups)"},
      {head + "steps: {op: filter}\n", 4, 8, "steps must be a list, got a map"},
      {head + "steps:\n  - filter\n", 5, 5,
       "steps.0 must be a map (key: value, ...), got 'filter'"},
      {head + "train: {input: events, label: v1, features: {numeric: {a: 1}}}\n", 4, 55,
       "train.features.numeric must be a name or a list of names, got a map"},
      {head + "train: {input: events, label: v1, features: {numeric: [v2, v2]}}\n", 4, 55,
       "train.features.numeric lists 'v2' twice"},
      {head + "train: {input: events, label: v1, features: {numeric: []}}\n", 4, 55,
       "train.features.numeric must list at least one name"},
      {"name: j\ninputs:\n  e: {format: csv, path: a.csv, header: maybe}\n", 3, 41,
       "inputs.e.header must be true or false, got 'maybe'"},
      {"name: j\ninputs:\n  e: {format: csv, path: a.csv, delimiter: ab}\n", 3, 44,
       "inputs.e.delimiter must be a single character other than a quote or a line break (e.g. "
       "\",\", \";\", \"\\t\"), got 'ab'"},
      {head + "runtime: {shuffle_round_bytes: 16 MB}\n", 4, 32,
       "runtime.shuffle_round_bytes must be a byte count such as 67108864 or 64MiB (units: B, "
       "KiB, MiB, GiB, TiB), got '16 MB'"},
      {head + "runtime: {log_all_ranks: 2}\n", 4, 26,
       "runtime.log_all_ranks must be true or false, got '2'"},
      {"name: j\ninputs: [a]\n", 2, 9, "inputs must be a map (key: value, ...), got a list"},
      {"name: j\ninputs: {}\n", 2, 9,
       "inputs must name at least one input, e.g. inputs: {events: {format: csv, path: "
       "data/events.csv}}"},
      {"name: j\ninputs:\n  'a b': {format: hdf5, path: x.h5}\n", 3, 3,
       "input name 'a b' may only contain letters, digits, '_' and '-' (it names files and HDF5 "
       "groups)"},
      {head + "steps:\n  - {op: filter, input: events, where: x, output: 'a/b'}\n", 5, 51,
       "table name 'a/b' may only contain letters, digits, '_' and '-' (it names files and HDF5 "
       "groups)"},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(load_error(c.text), at(c.line, c.column) + c.message) << c.text;
  }
}

TEST_F(JobLoader, UnknownNamesSuggest) {
  const std::string head =
      "name: j\ninputs:\n  events: {format: generate, kind: groupby, rows: 5}\n";
  const std::string train = "train:\n  input: events\n  label: v1\n  features: {numeric: [v2]}\n";
  struct Case {
    std::string text;
    int line, column;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"name: j\ninputs:\n  e: {format: cs, path: a.csv}\n", 3, 15,
       "inputs.e.format must be one of csv, hdf5, generate, partitioned, got 'cs'; did you mean "
       "'csv'?"},
      {"name: j\ninputs:\n  e: {format: generate, kind: clasification, rows: 3}\n", 3, 31,
       "inputs.e.kind must be one of classification, events, groupby, labels, got 'clasification'; "
       "did you mean "
       "'classification'?"},
      {"name: j\ninputs:\n  e: {format: csv, path: a.csv, schema: {id: in64}}\n", 3, 46,
       "unknown type 'in64' for column 'id' in inputs.e.schema; did you mean 'int64'? (types: "
       "int32, int64, float32, float64, bool, string, timestamp)"},
      {"name: j\ninputs:\n  e: {format: csv, path: a.csv, bad_rows: skp}\n", 3, 43,
       "inputs.e.bad_rows must be one of fail, skip, quarantine, got 'skp'; did you mean 'skip'?"},
      {head + "steps:\n  - {op: fliter, input: events, where: x, output: o}\n", 5, 10,
       "unknown op 'fliter' in steps.0; did you mean 'filter'? (supported: filter, group_by, join, "
       "asof_join, sort, dedup, union, split, sample, rebalance_classes, derive, select, window, "
       "predict, drift)"},
      {head + "steps:\n  - {op: pivot, input: events, output: o}\n", 5, 10,
       "unknown op 'pivot' in steps.0 (supported: filter, group_by, join, asof_join, sort, dedup, "
       "union, split, sample, rebalance_classes, derive, select, window, predict, drift)"},
      {head + "steps:\n  - {op: group_by, input: events, keys: id1, aggs: {v1: [sum, maxx]}, "
              "output: o}\n",
       5, 63,
       "unknown aggregate function 'maxx' in steps.0.aggs.v1; did you mean 'max'? (functions: "
       "count, sum, mean, min, max, var_samp, var_pop, stddev_samp, stddev_pop, any, all, "
       "count_distinct, median, quantile, covar_samp, covar_pop, corr, top_k, first, last, "
       "histogram)"},
      {head + "steps:\n  - {op: group_by, input: events, keys: id1, aggs: {sd: \"stdev(v1)\"}, "
              "output: o}\n",
       5, 57,
       "steps.0.aggs.sd: unknown aggregate function 'stdev'; did you mean 'stddev'? (functions: "
       "count, sum, mean, min, max, var_samp, var_pop, stddev_samp, stddev_pop, any, all, "
       "count_distinct, median, quantile, covar_samp, covar_pop, corr, top_k, first, last, "
       "histogram)"},
      {head + "steps:\n  - {op: group_by, input: events, keys: id1, aggs: {sd: \"stddev(v1\"}, "
              "output: o}\n",
       5, 57,
       "steps.0.aggs.sd: 'stddev(v1' is not an aggregate call: expected ')' at column 10; write "
       "function(column), e.g. \"stddev(v3)\" or \"count(*)\""},
      {head + "steps:\n  - {op: group_by, input: events, keys: id1, aggs: {c: \"corr(v1)\"}, "
              "output: o}\n",
       5, 56,
       "steps.0.aggs.c: 'corr(v1)' is not an aggregate call: expected ',' and a second column "
       "(corr takes two: corr(x, y)) at column 8; write function(column), e.g. \"stddev(v3)\" or "
       "\"count(*)\""},
      {head + "steps:\n  - {op: group_by, input: events, keys: id1, aggs: {c: \"median(v1, v2)\"}, "
              "output: o}\n",
       5, 56,
       "steps.0.aggs.c: 'median(v1, v2)' is not an aggregate call: expected a number (median takes "
       "one column) at column 12; write function(column), e.g. \"stddev(v3)\" or \"count(*)\""},
      {head +
           "steps:\n  - {op: group_by, input: events, keys: id1, aggs: {v1: [corr]}, output: o}\n",
       5, 58,
       "corr in steps.0.aggs.v1 takes two columns; use the named form, e.g. {r: \"corr(v1, "
       "other_column)\"}"},
      {head +
           "steps:\n  - {op: group_by, input: events, keys: id1, aggs: {q: \"quantile(v1, 1.5)\"}, "
           "output: o}\n",
       5, 56,
       "steps.0.aggs.q: quantile: q must be in [0, 1] (arguments: q, a number in [0, 1]: "
       "quantile(v, 0.9))"},
      {head +
           "steps:\n  - {op: group_by, input: events, keys: id1, aggs: {v1: [median, quantile]}, "
           "output: o}\n",
       5, 66,
       "quantile in steps.0.aggs.v1 needs arguments (q, a number in [0, 1]: quantile(v, 0.9)); use "
       "the named form, e.g. {p90_v1: \"quantile(v1, 0.9)\"}"},
      {head + "steps:\n  - {op: group_by, input: events, keys: id1, aggs: {s: \"sum(*)\"}, "
              "output: o}\n",
       5, 56, "steps.0.aggs.s: sum(*) is not an aggregate; only count(*) may omit the column"},
      {head +
           "steps:\n  - {op: group_by, input: events, keys: id1, aggs: {'*': [sum]}, output: o}\n",
       5, 59, "steps.0.aggs.* can only be count (count of rows), got 'sum'"},
      {head + "steps:\n  - {op: group_by, input: events, keys: id1, aggs: {v1: [sum, sum]}, "
              "output: o}\n",
       5, 57, "steps.0.aggs.v1 lists 'sum' twice"},
      {head + "steps:\n  - {op: group_by, input: events, keys: id1, aggs: {v1: [mean, avg]}, "
              "output: o}\n",
       5, 52, "steps.0.aggs computes column 'v1_mean' twice"},
      {head + "steps:\n  - {op: group_by, input: events, keys: id1, aggs: {}, output: o}\n", 5, 52,
       "steps.0.aggs must name at least one column to aggregate, e.g. {amount: [sum]} or "
       "{sd_amount: \"stddev(amount)\"}"},
      {head + train + "  model: {type: ridge}\n", 8, 17,
       "train.model.type must be one of logistic, linear, softmax, mlp, got 'ridge'"},
      {head + train + "  model: {type: mlp, hidden: [4]}\n", 8, 10,
       "train.model needs task: binary (a 0/1 label), multiclass (class labels) or regression (a "
       "numeric target)"},
      {head + train + "  model: {type: mlp, task: binary, hidden: []}\n", 8, 44,
       "train.model.hidden must list at least one hidden layer's units, e.g. [32]"},
      {head + train + "  class_weight: balance\n", 8, 17,
       "train.class_weight must be one of balanced, got 'balance'; did you mean 'balanced'?"},
      {head + train + "  class_weight: {0: -1}\n", 8, 21,
       "train.class_weight.0 must be a positive number, got -1"},
      {head + train + "  class_weight: [1]\n", 8, 17,
       "train.class_weight must be balanced or a map from label value to weight, e.g. {0: 1, 1: "
       "5}, got a list"},
      {head + train + "  model: {type: linear, hidden: [4]}\n", 8, 25,
       "unknown key 'hidden' in train.model (a linear model) (valid keys: type, l2)"},
      {head + train + "  optimizer: {type: sgdd}\n", 8, 21,
       "train.optimizer.type must be one of sgd, adam, adamw, lbfgs, got 'sgdd'; did you mean "
       "'sgd'?"},
      {head + train + "  transforms: [{normalize: l2}]\n", 8, 17,
       "unknown key 'normalize' in train.transforms.0 (supported transforms: {impute: median}, "
       "{scale: standard}, {one_hot: [city]}, {index: [weekday]}, {hash: {columns: [user_agent], "
       "buckets: 64}}) (valid keys: impute, scale, one_hot, index, hash)"},
      {head + train + "  transforms: [{scale: robust}]\n", 8, 24,
       "train.transforms.0.scale must be one of standard, minmax, got 'robust'"},
      {head + "runtime: {log_level: verbose}\n", 4, 22,
       "runtime.log_level must be one of trace, debug, info, warn, error, got 'verbose'"},
      {head + "outputs:\n  - {table: events, format: parquet}\n", 5, 29,
       "outputs.0.format must be one of hdf5, csv, got 'parquet'"},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(load_error(c.text), at(c.line, c.column) + c.message) << c.text;
  }
}

// ---- missing keys, structure ---------------------------------------------------------------

TEST_F(JobLoader, MissingRequiredKeysPointAtTheParentMap) {
  const std::string head =
      "name: j\ninputs:\n  events: {format: generate, kind: groupby, rows: 5}\n";
  struct Case {
    std::string text;
    int line, column;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"\n# no name\ninputs:\n  e: {format: hdf5, path: x.h5}\n", 3, 1,
       "missing required key 'name' at the top level"},
      {"name: j\n", 1, 1, "missing required key 'inputs' at the top level"},
      {"name: j\ninputs:\n  e: {path: a.csv}\n", 3, 6, "missing required key 'format' in inputs.e"},
      {"name: j\ninputs:\n  e:\n    format: csv\n    header: true\n", 4, 5,
       "missing required key 'path' in inputs.e"},
      {"name: j\ninputs:\n  e: {format: generate, kind: groupby}\n", 3, 6,
       "missing required key 'rows' in inputs.e"},
      {head + "steps:\n  - {op: filter, input: events, output: o}\n", 5, 5,
       "missing required key 'where' in steps.0"},
      {head + "steps:\n  - {input: events, output: o}\n", 5, 5,
       "missing required key 'op' in steps.0"},
      {head + "train:\n  input: events\n  features: {numeric: [v2]}\n", 5, 3,
       "missing required key 'label' in train"},
      {head + "train: {input: events, label: v1, features: {}}\n", 4, 45,
       "train.features needs numeric: [columns] or categorical: [columns] (or both)"},
      {head + "steps:\n  - {op: filter, input: events, where: '', output: o}\n", 5, 40,
       "steps.0.where must not be empty"},
      {head + "train: {input: events, label: v1, features: {numeric: [v1]}}\n"
              "evaluate:\n  input: events\n",
       6, 3, "missing required key 'metrics' in evaluate"},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(load_error(c.text), at(c.line, c.column) + c.message) << c.text;
  }
}

TEST_F(JobLoader, EmptyValueOfARequiredKey) {
  // An empty value is reported at its key (yaml-cpp would place it at the next token).
  EXPECT_EQ(load_error("name:\ninputs:\n  e: {format: hdf5, path: x.h5}\n"),
            at(1, 1) + "name is empty; it is required");
}

TEST_F(JobLoader, EvaluateRequiresTrain) {
  EXPECT_EQ(load_error("name: j\ninputs:\n  e: {format: hdf5, path: x.h5}\n"
                       "evaluate: {input: e, metrics: [auc]}\n"),
            at(4, 11) +
                "evaluate needs a train section: there is no model to evaluate; add "
                "train: or remove evaluate:");
}

TEST_F(JobLoader, CsvWithoutHeaderNeedsASchema) {
  EXPECT_EQ(load_error("name: j\ninputs:\n  e: {format: csv, path: a.csv, header: false}\n"),
            at(3, 6) +
                "inputs.e has header: false and no schema, so its columns have no names; "
                "add schema: {column: type, ...}");
}

TEST_F(JobLoader, DuplicateKeysAreRejected) {
  EXPECT_EQ(load_error("name: j\ninputs:\n  e: {format: hdf5, path: x.h5}\nname: k\n"),
            at(4, 1) + "duplicate key 'name' at the top level (first written at " + path_ +
                ":1:1); remove one of them");
  EXPECT_EQ(load_error("name: j\ninputs:\n  e: {format: hdf5, path: x.h5, path: y.h5}\n"),
            at(3, 33) + "duplicate key 'path' in inputs.e (first written at " + path_ +
                ":3:21); remove one of them");
}

TEST_F(JobLoader, YamlSyntaxErrorsCarryThePosition) {
  const std::string e = load_error("name: j\ninputs: [unclosed\n");
  EXPECT_EQ(e.rfind(path_ + ":", 0), 0u) << e;
  EXPECT_NE(e.find(": YAML syntax error: "), std::string::npos) << e;
  const std::string tab = load_error("name: j\ninputs:\n\t- x\n");
  EXPECT_NE(tab.find(path_ + ":3:"), std::string::npos) << tab;
  EXPECT_NE(tab.find("YAML syntax error"), std::string::npos) << tab;
}

TEST_F(JobLoader, TopLevelMustBeAMap) {
  EXPECT_EQ(load_error("- a\n- b\n"),
            at(1, 1) + "a job file must be a map of keys (name, inputs, steps, ...), got a list");
}

TEST_F(JobLoader, MissingFilesAreConfigErrors) {
  const std::string missing = (dir_.path() / "nope.yaml").string();
  try {
    load_job(missing);
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()),
              "cannot read job file '" + missing + "': No such file or directory");
  }
  const std::string job = write("ok.yaml", kSmallJob);
  try {
    load_job(job, {missing});
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()),
              "cannot read profile '" + missing + "': No such file or directory");
  }
  try {
    load_job(dir_.str());
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()), "cannot read job file '" + dir_.str() + "': Is a directory");
  }
}

TEST_F(JobLoader, ByteSizesAcceptBinaryUnits) {
  const std::string head = "name: j\ninputs:\n  e: {format: hdf5, path: x.h5}\n";
  EXPECT_EQ(load_job(write("a.yaml", head + "runtime: {shuffle_round_bytes: 16MiB}\n"))
                .runtime.shuffle_round_bytes,
            16 << 20);
  EXPECT_EQ(load_job(write("b.yaml", head + "runtime: {shuffle_round_bytes: 1.5 GiB}\n"))
                .runtime.shuffle_round_bytes,
            idx_t{3} << 29);
  EXPECT_EQ(load_job(write("c.yaml", head + "runtime: {shuffle_round_bytes: 4096}\n"))
                .runtime.shuffle_round_bytes,
            4096);
}

TEST_F(JobLoader, KeepFreedMemoryDefaultsToTrueAndIsABool) {
  const std::string head = "name: j\ninputs:\n  e: {format: hdf5, path: x.h5}\n";
  EXPECT_TRUE(load_job(write("a.yaml", head)).runtime.keep_freed_memory);
  EXPECT_FALSE(load_job(write("b.yaml", head + "runtime: {keep_freed_memory: false}\n"))
                   .runtime.keep_freed_memory);
  EXPECT_THROW(load_job(write("c.yaml", head + "runtime: {keep_freed_memory: sometimes}\n")),
               ConfigError);
}

TEST_F(JobLoader, HugePagesIsTrueFalseOrAThreshold) {
  const std::string head = "name: j\ninputs:\n  e: {format: hdf5, path: x.h5}\n";
  const Job defaults = load_job(write("a.yaml", head));
  EXPECT_TRUE(defaults.runtime.huge_pages);
  EXPECT_EQ(defaults.runtime.huge_page_min_bytes, idx_t{4} << 20);
  EXPECT_FALSE(
      load_job(write("b.yaml", head + "runtime: {huge_pages: false}\n")).runtime.huge_pages);
  const Job sized = load_job(write("d.yaml", head + "runtime: {huge_pages: 128MiB}\n"));
  EXPECT_TRUE(sized.runtime.huge_pages);
  EXPECT_EQ(sized.runtime.huge_page_min_bytes, idx_t{128} << 20);
  // The size form reads back the same from the job's canonical text (the fingerprint's input).
  EXPECT_NE(sized.fingerprint(), defaults.fingerprint());
  EXPECT_EQ(load_job(write("f.yaml", sized.canonical_yaml)).runtime.huge_page_min_bytes,
            idx_t{128} << 20);
  EXPECT_EQ(load_job(write("g.yaml", defaults.canonical_yaml)).fingerprint(),
            defaults.fingerprint());
  try {
    load_job(write("c.yaml", head + "runtime: {huge_pages: 2}\n"));
    ADD_FAILURE() << "a threshold under one huge page was accepted";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("at least 2MiB"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("c.yaml:4"), std::string::npos) << e.what();
  }
  for (const std::string bad : {"sometimes", "12XB", "[1]"}) {
    try {
      load_job(write("e.yaml", head + "runtime: {huge_pages: " + bad + "}\n"));
      ADD_FAILURE() << "huge_pages: " << bad << " was accepted";
    } catch (const ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find("true, false, or a buffer size"), std::string::npos)
          << e.what();
    }
  }
}

TEST_F(JobLoader, TabDelimiterAndBackslashes) {
  const Job job = load_job(write(
      "t.yaml", "name: j\ninputs:\n  e: {format: csv, path: 'a\\b.csv', delimiter: \"\\t\"}\n"));
  const std::string expected =
      "{format: csv, path: [a\\b.csv], header: true, delimiter: \"\\t\", bad_rows: fail, "
      "fingerprint: content}";
  EXPECT_EQ(canonical(*job.inputs[0]), expected);
  const Job again = load_job(write("t2.yaml", job.canonical_yaml));
  EXPECT_EQ(canonical(*again.inputs[0]), expected);
  EXPECT_EQ(again.canonical_yaml, job.canonical_yaml);
}

// ---- profiles ---------------------------------------------------------------------------------

TEST_F(JobLoader, ProfilesLayerUnderTheJobInOrder) {
  const std::string p1 = write("p1.yaml",
                               "runtime:\n  shuffle_round_bytes: 1MiB\n  hdf5_chunk_rows: 100\n"
                               "  log_level: debug\n  max_dictionary_size: 10\n");
  const std::string p2 = write("p2.yaml", "runtime:\n  hdf5_chunk_rows: 200\n  log_level: warn\n");
  const std::string job =
      write("job.yaml", std::string(kSmallJob) + "runtime:\n  log_level: error\n");

  const Job one = load_job(job, {p1});
  EXPECT_EQ(one.runtime.shuffle_round_bytes, 1 << 20);  // from p1
  EXPECT_EQ(one.runtime.hdf5_chunk_rows, 100);          // from p1
  EXPECT_EQ(one.runtime.log_level, "error");            // the job wins over profiles

  const Job two = load_job(job, {p1, p2});
  EXPECT_EQ(two.runtime.shuffle_round_bytes, 1 << 20);  // p1, untouched by p2
  EXPECT_EQ(two.runtime.hdf5_chunk_rows, 200);          // the later profile wins
  EXPECT_EQ(two.runtime.max_dictionary_size, 10);
  EXPECT_EQ(two.runtime.log_level, "error");

  const Job reversed = load_job(job, {p2, p1});
  EXPECT_EQ(reversed.runtime.hdf5_chunk_rows, 100);

  // --set wins over the job and every profile.
  const Job set = load_job(job, {p1, p2}, {"runtime.log_level=trace", "runtime.hdf5_chunk_rows=7"});
  EXPECT_EQ(set.runtime.log_level, "trace");
  EXPECT_EQ(set.runtime.hdf5_chunk_rows, 7);

  // Profiles and overrides are part of the merged config, hence of the fingerprint.
  EXPECT_NE(one.fingerprint(), two.fingerprint());
  EXPECT_NE(one.canonical_yaml, load_job(job).canonical_yaml);
}

TEST_F(JobLoader, ProfileMaySetAnyJobKey) {
  const std::string p = write("p.yaml", "seed: 5\ntrain: {optimizer: {epochs: 9, lr: 0.2}}\n");
  const Job job = load_job(write("job.yaml", kSmallJob), {p});
  EXPECT_EQ(job.seed, 5u);
  const auto& sgd = job.train->optimizer->as<SgdOptimizerSpec>();
  EXPECT_EQ(sgd.epochs, 9);                  // merged into the job's train map
  EXPECT_DOUBLE_EQ(sgd.learning_rate, 0.5);  // the job's own lr wins
  EXPECT_EQ(job.train->label, "label");
}

TEST_F(JobLoader, ErrorsInProfilesPointAtTheProfile) {
  const std::string p = write("p.yaml", "runtime:\n  shufle_round_bytes: 1\n");
  EXPECT_EQ(load_error(kSmallJob, {p}),
            p + ":2:3: unknown key 'shufle_round_bytes' in runtime; did you mean "
                "'shuffle_round_bytes'?");
  const std::string q = write("q.yaml", "runtime: {log_level: loud}\n");
  EXPECT_EQ(load_error(kSmallJob, {q}),
            q + ":1:22: runtime.log_level must be one of trace, debug, info, warn, error, got "
                "'loud'");
  const std::string list = write("l.yaml", "- a\n");
  EXPECT_EQ(load_error(kSmallJob, {list}),
            list + ":1:1: a profile must be a map of job keys (usually runtime: ...), got a list");
}

TEST_F(JobLoader, ShippedProfilesLoad) {
  const std::string configs = (std::filesystem::path(SHARDFLOW_SOURCE_DIR) / "configs").string();
  const std::string job = write("job.yaml", kSmallJob);
  const Job local = load_job(job, {configs + "/local.yaml"});
  EXPECT_EQ(local.runtime.shuffle_round_bytes, 16 << 20);
  EXPECT_EQ(local.runtime.hdf5_chunk_rows, 65536);
  EXPECT_EQ(local.runtime.log_level, "info");
  const Job cluster = load_job(job, {configs + "/cluster.yaml"});
  EXPECT_EQ(cluster.runtime.shuffle_round_bytes, 256 << 20);
  EXPECT_EQ(cluster.runtime.hdf5_chunk_rows, 1 << 20);
  EXPECT_EQ(cluster.runtime.log_level, "info");
  EXPECT_FALSE(cluster.runtime.log_all_ranks);
}

// ---- --set ------------------------------------------------------------------------------------

TEST_F(JobLoader, SetOverridesNestedKeysAndListItems) {
  const std::string job = write("job.yaml", kSmallJob);
  const Job j = load_job(job, {},
                         {"train.optimizer.lr=0.05", "steps.0.where=amount > 1 and x1 < 2",
                          "train.features.numeric=[x3, x4]", "train.checkpoint.every_steps=10",
                          "seed=9", "workdir=/tmp/elsewhere"});
  EXPECT_DOUBLE_EQ(j.train->optimizer->as<SgdOptimizerSpec>().learning_rate, 0.05);
  EXPECT_EQ(j.train->optimizer->fields.of("lr", {}),
            (SourceLocation{"--set train.optimizer.lr", 0, 0}));
  EXPECT_EQ(canonical(*j.steps[0]),
            "{op: filter, input: events, where: amount > 1 and x1 < 2, output: clean}");
  EXPECT_EQ(j.train->numeric_features, (std::vector<std::string>{"x3", "x4"}));
  EXPECT_EQ(j.train->checkpoint_every_steps, 10);
  EXPECT_EQ(j.seed, 9u);
  EXPECT_EQ(j.workdir, "/tmp/elsewhere");
  EXPECT_EQ(j.steps[0]->fields.of("where", {}), (SourceLocation{"--set steps.0.where", 0, 0}));

  // Index == length appends; a whole map can be given in flow style.
  const Job appended =
      load_job(job, {}, {"steps.1={op: filter, input: clean, where: 'x1 > 0', output: positive}"});
  ASSERT_EQ(appended.steps.size(), 2u);
  EXPECT_EQ(canonical(*appended.steps[1]),
            "{op: filter, input: clean, where: x1 > 0, output: positive}");

  // Later overrides win; a new section can be created key by key.
  const Job later = load_job(job, {}, {"seed=1", "seed=2", "runtime.log_level=debug"});
  EXPECT_EQ(later.seed, 2u);
  EXPECT_EQ(later.runtime.log_level, "debug");
}

TEST_F(JobLoader, SetErrorsNameTheOverride) {
  const std::string job = write("job.yaml", kSmallJob);
  auto error = [&](const std::string& o) -> std::string {
    try {
      load_job(job, {}, {o});
    } catch (const ConfigError& e) {
      return e.what();
    }
    ADD_FAILURE() << "no error for --set " << o;
    return "";
  };
  EXPECT_EQ(error("train.optimizer.lr"),
            "--set 'train.optimizer.lr': expected KEY=VALUE, e.g. --set train.optimizer.lr=0.05");
  EXPECT_EQ(error("=3"), "--set '=3': expected KEY=VALUE, e.g. --set train.optimizer.lr=0.05");
  EXPECT_EQ(error("train..lr=1"),
            "--set 'train..lr=1': the key 'train..lr' has an empty part; write it like a.b.c");
  EXPECT_EQ(error("train.optimizer.lr=fast"),
            "--set train.optimizer.lr: train.optimizer.lr must be a number, got 'fast'");
  EXPECT_EQ(error("train.optimizer.epcohs=3"),
            "--set train.optimizer.epcohs: unknown key 'epcohs' in train.optimizer; did you mean "
            "'epochs'?");
  EXPECT_EQ(error("steps.3.where=x"),
            "--set 'steps.3.where=x': index 3 is out of range: steps has 1 item");
  EXPECT_EQ(error("steps.first.where=x"),
            "--set 'steps.first.where=x': steps is a list, so the next key part must be an index "
            "(0, 1, ...), got 'first'");
  EXPECT_EQ(error("name.x=1"),
            "--set 'name.x=1': name is the value 'small', not a map or list, so it has no key 'x'");
  const std::string bad_yaml = error("train.features.numeric=[x1, ");
  EXPECT_EQ(
      bad_yaml.rfind("--set 'train.features.numeric=[x1, ': the value is not valid YAML: ", 0), 0u)
      << bad_yaml;
}

// ---- canonical YAML and fingerprints ------------------------------------------------------------

TEST_F(JobLoader, CanonicalYamlRoundTrips) {
  const Job job = load_job(write("full.yaml", kFullJob));
  const Job again = load_job(write("canonical.yaml", job.canonical_yaml));
  EXPECT_EQ(again.canonical_yaml, job.canonical_yaml);
  EXPECT_EQ(again.fingerprint(), job.fingerprint());
  EXPECT_EQ(again.name, job.name);
  EXPECT_EQ(again.seed, job.seed);
  ASSERT_EQ(again.inputs.size(), job.inputs.size());
  for (size_t i = 0; i < job.inputs.size(); ++i) {
    EXPECT_EQ(again.inputs[i]->name, job.inputs[i]->name);
    EXPECT_EQ(canonical(*again.inputs[i]), canonical(*job.inputs[i]));
  }
  ASSERT_EQ(again.steps.size(), 2u);
  for (size_t i = 0; i < job.steps.size(); ++i)
    EXPECT_EQ(canonical(*again.steps[i]), canonical(*job.steps[i]));
  EXPECT_EQ(canonical(*again.train->model), canonical(*job.train->model));
  EXPECT_EQ(canonical(*again.train->optimizer), canonical(*job.train->optimizer));
  ASSERT_EQ(again.train->transforms.size(), 1u);
  EXPECT_EQ(canonical(*again.train->transforms[0]), canonical(*job.train->transforms[0]));
  EXPECT_EQ(again.train->optimizer->as<SgdOptimizerSpec>().momentum, 0.9);
  EXPECT_EQ(again.train->model->as<LogisticModelSpec>().l2, 1e-4);
  EXPECT_EQ(again.evaluate->metrics, job.evaluate->metrics);
  EXPECT_EQ(again.runtime.log_all_ranks, true);
  // The lead's training fingerprint reads these sections back from the canonical YAML.
  for (const char* key : {"name:", "seed:", "inputs:", "steps:", "train:", "runtime:"})
    EXPECT_NE(job.canonical_yaml.find(key), std::string::npos) << key;
}

// Named aggregates ("output: function(column)") beside the list form: canonical, quoted column
// names, aliases resolved, located at their key, and the canonical form loads back equal.
TEST_F(JobLoader, NamedAggregatesHaveACanonicalFormThatRoundTrips) {
  const std::string text =
      "name: j\ninputs:\n  events: {format: csv, path: e.csv}\nsteps:\n"
      "  - {op: group_by, input: events, keys: [id1], aggs: {v1: [sum, avg], p9: "
      "\"quantile(v2,0.9)\", sd_v3: \" STDDEV( v3 ) \", n: \"count(*)\", \"odd\": 'var_pop(\"my "
      "\"\"col\"\"\")', v2: [max]}, output: o}\n";
  const Job job = load_job(write("named.yaml", text));
  const StepSpec& g = *job.steps[0];
  EXPECT_EQ(
      canonical(g),
      "{op: group_by, input: events, keys: [id1], aggs: {v1: [sum, mean], p9: \"quantile(v2, "
      "0.9)\", sd_v3: "
      "\"stddev_samp(v3)\", n: \"count(*)\", odd: \"var_pop(\\\"my \\\"\\\"col\\\"\\\"\\\")\", v2: "
      "[max]}, output: o}");
  EXPECT_EQ(g.fields.of("aggs.sd_v3", {}).line, 5);
  const Job again = load_job(write("again.yaml", job.canonical_yaml));
  EXPECT_EQ(canonical(*again.steps[0]), canonical(g));
  EXPECT_EQ(again.fingerprint(), job.fingerprint());
}

// Expressions over aggregates ("range: max(v1) - min(v2)") keep their written text and their
// place among the outputs; errors name the key.
TEST_F(JobLoader, AggregateExpressionsRoundTripAndAreChecked) {
  const std::string head = "name: j\ninputs:\n  e: {format: csv, path: e.csv}\nsteps:\n";
  const Job job = load_job(write(
      "expr.yaml", head +
                       "  - {op: group_by, input: e, keys: [id1], aggs: {r: \" MAX(v1) - "
                       "min(v2) \", v1: [sum], q: \"corr(v1, v2) * corr(v1, v2)\"}, output: o}\n"));
  EXPECT_EQ(canonical(*job.steps[0]),
            "{op: group_by, input: e, keys: [id1], aggs: {r: \"MAX(v1) - min(v2)\", v1: [sum], q: "
            "\"corr(v1, v2) * corr(v1, v2)\"}, output: o}");
  const Job again = load_job(write("again.yaml", job.canonical_yaml));
  EXPECT_EQ(again.fingerprint(), job.fingerprint());
  auto error = [&](const std::string& aggs) {
    try {
      load_job(write("bad.yaml", head + "  - {op: group_by, input: e, keys: [id1], aggs: " + aggs +
                                     ", output: o}\n"));
    } catch (const ConfigError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(error("{r: \"abs(v1)\"}").find("steps.0.aggs.r: 'abs(v1)' has no aggregate call"),
            std::string::npos)
      << error("{r: \"abs(v1)\"}");
  EXPECT_NE(error("{r: \"max(v1) - - \"}").find("steps.0.aggs.r: in 'max(v1) - - ': "),
            std::string::npos)
      << error("{r: \"max(v1) - - \"}");
  const std::string end = error("{r: \"max(v1) - min(v2) +\"}");
  EXPECT_TRUE(
      end.ends_with("bad.yaml:5:53: steps.0.aggs.r: in 'max(v1) - min(v2) +': unexpected "
                    "end of expression at column 20; expected a value (number, 'string', "
                    "column name, null, true, false or '(')"))
      << end;
  EXPECT_NE(error("{r: \"max(v1) + sum(v2, 3)\"}").find("sum takes no arguments"),
            std::string::npos)
      << error("{r: \"max(v1) + sum(v2, 3)\"}");
}

TEST_F(JobLoader, FingerprintIgnoresFormattingButNotValues) {
  const std::string block = R"(name: fp
inputs:
  events:
    format: generate
    kind: classification
    rows: 1000
steps:
  - op: filter
    input: events
    where: amount > 0
    output: clean
train:
  input: clean
  label: label
  features:
    numeric: [x1, x2]
  optimizer:
    lr: 0.1
    epochs: 3
)";
  // Same values: flow style, comments, quoting, key order, number spelling, explicit defaults.
  const std::string flow = R"(# the same job, written differently
name: "fp"
seed: 42           # the default, written out

inputs: {events: {rows: 1000, kind: classification, format: generate}}
steps: [{where: "amount > 0", op: filter, output: clean, input: events}]
train: {input: clean, label: label, features: {numeric: [x1, x2]},
        optimizer: {epochs: 3, lr: 1.0e-1}}
)";
  const Job a = load_job(write("a.yaml", block));
  const Job b = load_job(write("b.yaml", flow));
  EXPECT_EQ(a.canonical_yaml, b.canonical_yaml);
  EXPECT_EQ(a.fingerprint(), b.fingerprint());

  const std::vector<std::string> changes = {
      "train.optimizer.lr=0.2",  "steps.0.where=amount >= 0",       "seed=43",
      "inputs.events.rows=1001", "train.features.numeric=[x2, x1]", "runtime.hdf5_chunk_rows=1000",
      "workdir=runs/other"};
  std::set<std::string> seen = {a.fingerprint()};
  for (const auto& change : changes) {
    const Job changed = load_job(write("a.yaml", block), {}, {change});
    EXPECT_TRUE(seen.insert(changed.fingerprint()).second) << change;
  }
}

}  // namespace

namespace {

TEST(JobLoaderFromString, UsesTheSourceNameInLocations) {
  const Job job = load_job_from_string(kSmallJob, "<stdin>", {}, {"seed=3"});
  EXPECT_EQ(job.seed, 3u);
  EXPECT_EQ(job.source_file, "<stdin>");
  EXPECT_EQ(job.inputs[0]->location, (SourceLocation{"<stdin>", 3, 3}));
  try {
    load_job_from_string("name: x\ninputs: {e: {format: hdf5, path: a.h5, tabel: t}}\n", "<stdin>");
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()),
              "<stdin>:2:40: unknown key 'tabel' in inputs.e (an hdf5 input); did you mean "
              "'table'?");
  }
}

}  // namespace

// train.features.dtype: float32 is parsed, written to the canonical text (so it changes the
// training's fingerprint) and left out of it when float64 or absent (old jobs keep theirs); any
// other value is an error at its location.
TEST_F(JobLoader, TrainFeaturesDtype) {
  const std::string head =
      "name: j\ninputs:\n  events: {format: generate, kind: classification, rows: 10}\n";
  const auto train = [&](const std::string& dtype) {
    return head + "train: {input: events, label: label, features: {numeric: [x1]" + dtype + "}}\n";
  };
  const Job plain = load_job(write("plain.yaml", train("")));
  const Job f64 = load_job(write("f64.yaml", train(", dtype: float64")));
  const Job f32 = load_job(write("f32.yaml", train(", dtype: float32")));
  ASSERT_TRUE(plain.train && f64.train && f32.train);
  EXPECT_EQ(plain.train->matrix_type, ml::MatrixType::kFloat64);
  EXPECT_EQ(f64.train->matrix_type, ml::MatrixType::kFloat64);
  EXPECT_EQ(f32.train->matrix_type, ml::MatrixType::kFloat32);
  EXPECT_EQ(plain.canonical_yaml, f64.canonical_yaml);
  EXPECT_EQ(plain.canonical_yaml.find("dtype"), std::string::npos);
  EXPECT_NE(f32.canonical_yaml.find("dtype: float32"), std::string::npos);
  EXPECT_NE(plain.fingerprint(), f32.fingerprint());
  EXPECT_EQ(load_error(train(", dtype: float16")),
            at(4, 71) +
                "train.features.dtype must be float64 (the default) or float32 (half the memory "
                "of the training matrix, each value rounded to float), not 'float16'");
}
