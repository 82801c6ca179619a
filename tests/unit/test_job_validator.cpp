// validate_job: the table graph, input files, schema propagation through steps, train/evaluate
// columns -- each error path with its exact message and location -- and io::synthetic_schema.

#include <gtest/gtest.h>

#include <fmt/format.h>

#include <string>

#include "shardflow/common/error.hpp"
#include "shardflow/io/hdf5_table.hpp"
#include "shardflow/io/synthetic_schema.hpp"
#include "shardflow/mpi/comm.hpp"
#include "shardflow/pipeline/job_loader.hpp"
#include "shardflow/pipeline/job_validator.hpp"
#include "support/test_util.hpp"

using namespace shardflow;
using namespace shardflow::pipeline;
using shardflow::table::DataType;
using shardflow::testing_util::TempDir;
using shardflow::testing_util::write_file;

namespace {

// A valid job over a generated input; tests replace parts with --set or edit the text.
const char* kJob = R"(name: v
inputs:
  events: {format: generate, kind: classification, rows: 1000}
steps:
  - {op: filter, input: events, where: "amount > 0 and segment != 'seg_a'", output: clean}
  - {op: group_by, input: clean, keys: [segment], aggs: {amount: [sum, mean, min, max], label: [mean], "*": [count]}, output: by_segment}
outputs:
  - {table: by_segment, path: by_segment.h5}
train:
  input: clean
  label: label
  features: {numeric: [x1, x2, x3, x4]}
evaluate: {input: clean, metrics: [auc, logloss, accuracy]}
)";

class JobValidator : public ::testing::Test {
 protected:
  std::string file(const std::string& name) const { return (dir_.path() / name).string(); }
  Job load(const std::string& text, const std::vector<std::string>& overrides = {}) {
    write_file(path_, text);
    return load_job(path_, {}, overrides);
  }
  // The message of the `Err` that validating `text` (with `overrides`) throws.
  template <typename Err>
  std::string error(const std::string& text, const std::vector<std::string>& overrides = {}) {
    const Job job = load(text, overrides);
    try {
      validate_job(job);
    } catch (const Err& e) {
      return e.what();
    } catch (const std::exception& e) {
      ADD_FAILURE() << "wrong exception type: " << e.what();
      return "";
    }
    ADD_FAILURE() << "validate_job accepted:\n" << text;
    return "";
  }
  std::string at(int line, int column) const {
    return fmt::format("{}:{}:{}: ", path_, line, column);
  }

  TempDir dir_;
  std::string path_ = file("job.yaml");
};

TEST(SyntheticSchema, KnownKinds) {
  EXPECT_EQ(io::synthetic_schema("groupby").to_string(),
            "id1:string, id2:string, id3:string, id4:int64, id5:int64, id6:int64, v1:int64, "
            "v2:int64, v3:float64");
  EXPECT_EQ(io::synthetic_schema("classification").to_string(),
            "id:int64, segment:string, x1:float64, x2:float64, x3:float64, x4:float64, "
            "amount:float64, label:int64");
  EXPECT_EQ(io::synthetic_kind_names(),
            (std::vector<std::string>{"classification", "events", "groupby", "labels"}));
  try {
    io::synthetic_schema("grouby");
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()),
              "unknown synthetic data kind 'grouby'; did you mean 'groupby'? (kinds: "
              "classification, events, groupby, labels)");
  }
}

TEST_F(JobValidator, ValidJobGivesEveryTableSchema) {
  const auto schemas = validate_job(load(kJob));
  ASSERT_EQ(schemas.size(), 3u);
  EXPECT_EQ(schemas.at("events"), io::synthetic_schema("classification"));
  EXPECT_EQ(schemas.at("clean"), io::synthetic_schema("classification"));
  EXPECT_EQ(schemas.at("by_segment").to_string(),
            "segment:string, amount_sum:float64, amount_mean:float64, amount_min:float64, "
            "amount_max:float64, label_mean:float64, count:int64");

  const auto tables = validate_job_tables(load(kJob));
  ASSERT_EQ(tables.size(), 3u);
  EXPECT_EQ(tables[0].produced_by, "input 'events' (generate)");
  EXPECT_EQ(tables[2].name, "by_segment");
  EXPECT_EQ(tables[2].produced_by, "step 2 (group_by)");
}

// ---- 1. the table graph -----------------------------------------------------------------------

TEST_F(JobValidator, StepReadingAnUnknownTableSuggests) {
  EXPECT_EQ(error<ConfigError>(kJob, {"steps.1.input=clen"}),
            "--set steps.1.input: step 2 (group_by) reads table 'clen' which no input or earlier "
            "step produces; did you mean 'clean'?");
  // In the file, the location is the input value's.
  std::string text = kJob;
  text.replace(text.find("input: clean, keys"), 18, "input: clen, keys");
  EXPECT_EQ(error<ConfigError>(text),
            at(6, 27) +
                "step 2 (group_by) reads table 'clen' which no input or earlier step "
                "produces; did you mean 'clean'?");
}

TEST_F(JobValidator, StepReadingALaterTableSaysSo) {
  EXPECT_EQ(error<ConfigError>(kJob, {"steps.0.input=by_segment"}),
            "--set steps.0.input: step 1 (filter) reads table 'by_segment' which no input or "
            "earlier step produces (it is produced by step 2 (group_by), which runs later; steps "
            "run in order)");
}

TEST_F(JobValidator, DuplicateTableNames) {
  EXPECT_EQ(error<ConfigError>(kJob, {"steps.1.output=clean"}),
            "--set steps.1.output: step 2 (group_by) writes table 'clean', which step 1 (filter) "
            "already produces; give it a new name");
  EXPECT_EQ(error<ConfigError>(kJob, {"steps.0.output=events"}),
            "--set steps.0.output: step 1 (filter) writes table 'events', which input 'events' "
            "already produces; give it a new name");
}

TEST_F(JobValidator, OutputTrainAndEvaluateTablesMustExist) {
  EXPECT_EQ(error<ConfigError>(kJob, {"outputs.0.table=by_segmnt"}),
            "--set outputs.0.table: output 1 table 'by_segmnt' is not produced by any input or "
            "step; did you mean 'by_segment'?");
  EXPECT_EQ(error<ConfigError>(kJob, {"train.input=cleaned"}),
            "--set train.input: the train input table 'cleaned' is not produced by any input or "
            "step; did you mean 'clean'?");
  EXPECT_EQ(error<ConfigError>(kJob, {"evaluate.input=test"}),
            "--set evaluate.input: the evaluate input table 'test' is not produced by any input or "
            "step");
  EXPECT_EQ(error<ConfigError>(kJob, {"outputs.1={table: clean, path: by_segment.h5}"}),
            "--set outputs.1: outputs 1 and 2 both write 'by_segment.h5'; give them different "
            "paths");
}

TEST_F(JobValidator, UnknownMetricSuggests) {
  EXPECT_EQ(error<ConfigError>(kJob, {"evaluate.metrics=[auc, logloss, acuracy]"}),
            "--set evaluate.metrics: unknown metric 'acuracy' in evaluate.metrics; did you mean "
            "'accuracy'? (metrics for binary classification: auc, logloss, accuracy, pr_auc, "
            "precision, recall, f1)");
  EXPECT_EQ(error<ConfigError>(kJob, {"evaluate.metrics=[mcc]"}),
            "--set evaluate.metrics: unknown metric 'mcc' in evaluate.metrics (metrics for binary "
            "classification: auc, logloss, accuracy, pr_auc, precision, recall, f1)");
}

TEST_F(JobValidator, GraphErrorsComeBeforeMissingFiles) {
  // The csv input does not exist, but the misnamed step input is reported first.
  const std::string text = fmt::format(
      "name: v\ninputs:\n  a: {{format: csv, path: '{}'}}\nsteps:\n"
      "  - {{op: filter, input: b, where: x, output: c}}\n",
      file("missing.csv"));
  EXPECT_EQ(error<ConfigError>(text),
            at(5, 25) +
                "step 1 (filter) reads table 'b' which no input or earlier step produces; "
                "did you mean 'a'?");
}

// ---- 2. inputs --------------------------------------------------------------------------------

TEST_F(JobValidator, CsvGlobWithoutMatchesIsAnInputError) {
  const std::string pattern = file("data/*.csv");
  const std::string text =
      fmt::format("name: v\ninputs:\n  events: {{format: csv, path: '{}'}}\n", pattern);
  EXPECT_EQ(error<InputError>(text),
            at(3, 3) + "input 'events': no file matches '" + pattern + "'");
  const std::string plain = fmt::format(
      "name: v\ninputs:\n  events: {{format: csv, path: ['{}']}}\n", file("events.csv"));
  EXPECT_EQ(error<InputError>(plain),
            at(3, 3) + "input 'events': input file '" + file("events.csv") + "' does not exist");
}

TEST_F(JobValidator, CsvSchemaColumnsMustBeInTheHeader) {
  write_file(file("e.csv"), "id,amount,label\n1,2.5,0\n");
  const std::string text = fmt::format(
      "name: v\ninputs:\n  e: {{format: csv, path: '{}', schema: {{id: int64, amout: float64}}}}\n",
      file("e.csv"));
  EXPECT_EQ(error<InputError>(text),
            at(3, 50 + static_cast<int>(file("e.csv").size())) +
                "input 'e': schema column 'amout' is not in the header of '" + file("e.csv") +
                "'; did you mean 'amount'? (header: id, amount, label)");
}

TEST_F(JobValidator, CsvSchemaGivesTypesAndHeaderGivesNames) {
  write_file(file("d/part-1.csv"), "id,segment,amount,label\n1,a,2.5,0\n");
  write_file(file("d/part-2.csv"), "id,segment,amount,label\n2,b,-1,1\n");
  const std::string typed = fmt::format(
      "name: v\ninputs:\n  e: {{format: csv, path: '{}', schema: {{amount: float64, id: "
      "int64}}}}\n",
      file("d/*.csv"));
  EXPECT_EQ(validate_job(load(typed)).at("e").to_string(), "amount:float64, id:int64");

  // Without a schema the names come from the header; the types are known only after reading.
  const std::string untyped = fmt::format(
      "name: v\ninputs:\n  e: {{format: csv, path: '{}'}}\nsteps:\n"
      "  - {{op: filter, input: e, where: 'amount > 0', output: pos}}\n"
      "  - {{op: filter, input: pos, where: \"segment = 'a' and amount > 0\", output: a}}\n"
      "  - {{op: filter, input: a, where: 'label', output: b}}\n"
      "  - {{op: group_by, input: b, keys: segment, aggs: {{amount: [sum, mean], '*': count}}, "
      "output: g}}\n",
      file("d/*.csv"));
  const auto tables = validate_job_tables(load(untyped));
  ASSERT_EQ(tables.size(), 5u);
  EXPECT_EQ(tables[0].to_string(), "id:?, segment:?, amount:?, label:?");
  EXPECT_EQ(tables[4].to_string(), "segment:?, amount_sum:?, amount_mean:float64, count:int64");
  EXPECT_EQ(validate_job(load(untyped)).at("g").to_string(),
            "segment:string, amount_sum:string, amount_mean:float64, count:int64");

  // Names are still checked.
  EXPECT_EQ(error<ConfigError>(untyped, {"steps.0.where=amout > 0"}),
            "--set steps.0.where: step 1 (filter): unknown column 'amout' in table 'e'; did you "
            "mean 'amount'? (columns: id, segment, amount, label)");
  EXPECT_EQ(error<ConfigError>(untyped, {"steps.3.keys=[segmnt]"}),
            "--set steps.3.keys: step 4 (group_by): key 'segmnt' is not a column of table 'b'; "
            "did you mean 'segment'? (columns: id, segment, amount, label)");
}

TEST_F(JobValidator, Hdf5InputsAreCheckedAgainstTheFile) {
  const std::string h5 = file("labels.h5");
  {
    mpi::Comm comm;
    table::Table t;
    table::Column id(DataType::kInt64);
    id.values<std::int64_t>() = {1, 2};
    table::Column y(DataType::kFloat64);
    y.values<double>() = {0.5, 1.5};
    t.add_column("id", std::move(id));
    t.add_column("y", std::move(y));
    io::write_table(comm, h5, "labels", t);
  }
  const std::string text =
      fmt::format("name: v\ninputs:\n  lab: {{format: hdf5, path: '{}', table: labels}}\n", h5);
  EXPECT_EQ(validate_job(load(text)).at("lab").to_string(), "id:int64, y:float64");

  const int table_column = 40 + static_cast<int>(h5.size());
  EXPECT_EQ(error<InputError>(text, {"inputs.lab.table=label"}),
            "--set inputs.lab.table: input 'lab': '" + h5 +
                "' has no table 'label'; did you mean 'labels'? (tables: labels)");
  const std::string wrong_table =
      fmt::format("name: v\ninputs:\n  lab: {{format: hdf5, path: '{}', table: zzz}}\n", h5);
  EXPECT_EQ(error<InputError>(wrong_table),
            at(3, table_column) + "input 'lab': '" + h5 + "' has no table 'zzz' (tables: labels)");
  const std::string missing =
      fmt::format("name: v\ninputs:\n  lab: {{format: hdf5, path: '{}'}}\n", file("nope.h5"));
  EXPECT_EQ(error<InputError>(missing),
            at(3, 29) + "input 'lab': HDF5 file '" + file("nope.h5") + "' does not exist");
}

// ---- 3. schemas through the steps ---------------------------------------------------------------

TEST_F(JobValidator, FilterConditionsAreChecked) {
  std::string text = kJob;
  text.replace(text.find("\"amount > 0 and segment != 'seg_a'\""), 35, "\"amout > 0\"");
  EXPECT_EQ(error<ConfigError>(text),
            at(5, 40) +
                "step 1 (filter): unknown column 'amout' in table 'events'; did you mean "
                "'amount'? (columns: id, segment, x1, x2, x3, x4, amount, label)");
  EXPECT_EQ(error<ConfigError>(kJob, {"steps.0.where=amount + 1"}),
            "--set steps.0.where: step 1 (filter): where must be a true/false condition, but "
            "'amount + 1' is float64");
  const std::string syntax = error<ConfigError>(kJob, {"steps.0.where=amount >> 0"});
  EXPECT_EQ(syntax.rfind("--set steps.0.where: step 1 (filter): expression 'amount >> 0': ", 0), 0u)
      << syntax;
  const std::string type = error<ConfigError>(kJob, {"steps.0.where=segment > 1"});
  EXPECT_EQ(type.rfind("--set steps.0.where: step 1 (filter): ", 0), 0u) << type;
  EXPECT_NE(type.find("segment"), std::string::npos) << type;
}

TEST_F(JobValidator, GroupByColumnsAreChecked) {
  EXPECT_EQ(error<ConfigError>(kJob, {"steps.1.keys=[segmnt]"}),
            "--set steps.1.keys: step 2 (group_by): key 'segmnt' is not a column of table "
            "'clean'; did you mean 'segment'? (columns: id, segment, x1, x2, x3, x4, amount, "
            "label)");
  EXPECT_EQ(error<ConfigError>(kJob, {"steps.1.aggs={amout: sum}"}),
            "--set steps.1.aggs: step 2 (group_by): aggregated column 'amout' is not a column of "
            "table 'clean'; did you mean 'amount'? (columns: id, segment, x1, x2, x3, x4, amount, "
            "label)");
  // Errors of ops::group_by_output_schema get the step's location.
  const std::string sum = error<ConfigError>(kJob, {"steps.1.aggs={segment: sum}"});
  EXPECT_EQ(sum.rfind("--set steps.1.aggs: step 2 (group_by): ", 0), 0u) << sum;
  EXPECT_NE(sum.find("segment"), std::string::npos) << sum;
  // An aggregate may not shadow a key.
  write_file(file("c.csv"), "count,x\n1,2\n");
  const std::string text = fmt::format(
      "name: v\ninputs:\n  e: {{format: csv, path: '{}'}}\nsteps:\n"
      "  - {{op: group_by, input: e, keys: [count], aggs: {{'*': [count]}}, output: g}}\n",
      file("c.csv"));
  EXPECT_EQ(error<ConfigError>(text),
            at(5, 52) +
                "step 1 (group_by): aggregate column 'count' has the same name as a key "
                "column");
  // An expression over aggregates is reported in its own terms: the calls as written, columns
  // counted in the written text, no hidden column names.
  EXPECT_EQ(error<ConfigError>(kJob, {"steps.1.aggs={r: \"max(x1) -  sum( x2 ) * segment\"}"}),
            "--set steps.1.aggs: step 2 (group_by): in 'max(x1) -  sum( x2 ) * segment': "
            "operator '*' at column 22 needs numbers, got a float and a string");
  EXPECT_EQ(error<ConfigError>(kJob, {"steps.1.aggs={r: \"max(segment) + 1\"}"}),
            "--set steps.1.aggs: step 2 (group_by): in 'max(segment) + 1': operator '+' at column "
            "14 needs numbers, got a string and an integer");
  // In the file, the aggregated column's own entry is pointed at.
  std::string in_file = kJob;
  in_file.replace(in_file.find("label: [mean]"), 13, "lable: [mean]");
  EXPECT_EQ(error<ConfigError>(in_file),
            at(6, 89) +
                "step 2 (group_by): aggregated column 'lable' is not a column of table "
                "'clean'; did you mean 'label'? (columns: id, segment, x1, x2, x3, x4, "
                "amount, label)");
}

TEST_F(JobValidator, TrainAndEvaluateColumnsAreChecked) {
  EXPECT_EQ(error<ConfigError>(kJob, {"train.label=segment"}),
            "--set train.label: train: label column 'segment' of table 'clean' is string, but "
            "must be numeric");
  EXPECT_EQ(error<ConfigError>(kJob, {"train.features.numeric=[x1, x5]"}),
            "--set train.features.numeric: train: feature 'x5' is not a column of table 'clean'; "
            "did you mean 'x1'? (columns: id, segment, x1, x2, x3, x4, amount, label)");
  EXPECT_EQ(error<ConfigError>(kJob, {"train.features.numeric=[x1, label]"}),
            "--set train.features.numeric: train: the label 'label' is also listed as a feature; "
            "remove it from features");
  std::string in_file = kJob;
  in_file.replace(in_file.find("label: label"), 12, "label: lable");
  EXPECT_EQ(error<ConfigError>(in_file),
            at(11, 10) +
                "train: label 'lable' is not a column of table 'clean'; did you mean "
                "'label'? (columns: id, segment, x1, x2, x3, x4, amount, label)");
  // The evaluate table needs the model's columns too.
  EXPECT_EQ(error<ConfigError>(kJob, {"evaluate.input=by_segment"}),
            "--set evaluate.input: evaluate: label 'label' is not a column of table 'by_segment' "
            "(columns: segment, amount_sum, amount_mean, amount_min, amount_max, label_mean, "
            "count)");
}

}  // namespace
