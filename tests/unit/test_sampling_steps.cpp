// The split, sample and rebalance_classes steps: canonical forms (loads back equal), and every
// parse and bind error with its file:line:column, before any data is read.

#include <gtest/gtest.h>

#include <fmt/format.h>

#include <algorithm>
#include <optional>
#include <string>
#include <vector>

#include "shardflow/common/error.hpp"
#include "shardflow/pipeline/job_loader.hpp"
#include "shardflow/pipeline/job_validator.hpp"
#include "shardflow/pipeline/step.hpp"
#include "support/canonical_yaml.hpp"

using namespace shardflow;
using namespace shardflow::pipeline;
using shardflow::testing_util::canonical;

namespace {

// Generated inputs, whose schemas are known without data: c (classification: id int64, segment
// string, x1..x4 float64, amount float64, label int64) and e (events: event_id, user_id int64,
// ts timestamp, f1..f3 float64).
std::string job(const std::string& steps) {
  return "name: s\ninputs:\n"
         "  c: {format: generate, kind: classification, rows: 100}\n"
         "  e: {format: generate, kind: events, rows: 100}\n"
         "steps:\n" +
         steps;
}
constexpr int kFirstStepLine = 6;

const char* kFile = "steps.yaml";

Job load(const std::string& text) {
  return load_job_from_string(text, kFile);
}

std::string load_error(const std::string& text) {
  try {
    load(text);
  } catch (const ConfigError& e) {
    return e.what();
  }
  ADD_FAILURE() << "loaded:\n" << text;
  return "";
}

std::string validate_error(const std::string& text) {
  const Job j = load(text);
  try {
    validate_job(j);
  } catch (const ConfigError& e) {
    return e.what();
  }
  ADD_FAILURE() << "validated:\n" << text;
  return "";
}

// "steps.yaml:<line>:<column>: " for the first `token` (at or after `from`) in `step`.
std::string at(const std::string& step, const std::string& token, size_t from = 0,
               int line = kFirstStepLine) {
  const size_t column = step.find(token, from);
  EXPECT_NE(column, std::string::npos) << token;
  return fmt::format("{}:{}:{}: ", kFile, line, static_cast<int>(column) + 1);
}

// `e` starts with `prefix` (and says so when it does not).
::testing::AssertionResult starts(const std::string& e, const std::string& prefix) {
  if (e.rfind(prefix, 0) == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << "\n  got:      " << e << "\n  expected: " << prefix << "...";
}

TEST(SamplingSteps, CanonicalFormsAndShapes) {
  const Job j = load(
      job("  - {op: split, input: c, fractions: {train: 0.8, test: 0.20}, stratify_by: label}\n"
          "  - {op: split, input: e, by_time: ts, cutoffs: {early: '2024-01-03', mid: "
          "2024-01-05T12:00:00}, rest: late}\n"
          "  - {op: split, input: c, by_time: x4, cutoffs: {low: 2, high: 7.5}}\n"
          "  - {op: sample, input: c, fraction: 1e-1, stratify_by: [segment, label], seed: 7, "
          "output: s}\n"
          "  - {op: sample, input: train, fraction: 0.5, output: s2}\n"
          "  - {op: rebalance_classes, input: c, label: label, method: oversample, output: b}\n"
          "  - {op: rebalance_classes, input: c, label: segment, method: undersample, seed: 3, "
          "output: b2}\n"));
  ASSERT_EQ(j.steps.size(), 7u);
  EXPECT_EQ(canonical(*j.steps[0]),
            "{op: split, input: c, fractions: {train: 0.8, test: 0.2}, stratify_by: [label]}");
  EXPECT_EQ(canonical(*j.steps[1]),
            "{op: split, input: e, by_time: ts, cutoffs: {early: \"2024-01-03\", mid: "
            "\"2024-01-05T12:00:00\"}, rest: late}");
  EXPECT_EQ(canonical(*j.steps[2]),
            "{op: split, input: c, by_time: x4, cutoffs: {low: \"2\", high: \"7.5\"}}");
  EXPECT_EQ(canonical(*j.steps[3]),
            "{op: sample, input: c, fraction: 0.1, stratify_by: [segment, label], seed: 7, "
            "output: s}");
  EXPECT_EQ(canonical(*j.steps[4]),
            "{op: sample, input: train, fraction: 0.5, stratify_by: [], output: s2}");
  EXPECT_EQ(canonical(*j.steps[5]),
            "{op: rebalance_classes, input: c, label: label, method: oversample, output: b}");
  EXPECT_EQ(canonical(*j.steps[6]),
            "{op: rebalance_classes, input: c, label: segment, method: undersample, seed: 3, "
            "output: b2}");
  // Outputs in the order written; the step is named by its first.
  ASSERT_EQ(j.steps[0]->outputs.size(), 2u);
  EXPECT_EQ(j.steps[0]->outputs[0].table, "train");
  EXPECT_EQ(j.steps[0]->outputs[1].table, "test");
  ASSERT_EQ(j.steps[1]->outputs.size(), 3u);
  EXPECT_EQ(j.steps[1]->outputs[2].table, "late");
  EXPECT_EQ(j.steps[2]->outputs.size(), 2u);
  // The job seed matters to the random steps without their own seed only.
  EXPECT_TRUE(j.steps[0]->uses_job_seed());
  EXPECT_FALSE(j.steps[1]->uses_job_seed());
  EXPECT_FALSE(j.steps[3]->uses_job_seed());
  EXPECT_TRUE(j.steps[4]->uses_job_seed());
  EXPECT_TRUE(j.steps[5]->uses_job_seed());
  EXPECT_FALSE(j.steps[6]->uses_job_seed());
  const Job again = load_job_from_string(j.canonical_yaml, "again.yaml");
  EXPECT_EQ(again.canonical_yaml, j.canonical_yaml);
  const auto tables = validate_job(j);
  for (const char* t : {"train", "test", "s", "b", "b2"})
    EXPECT_EQ(tables.at(t), tables.at("c")) << t;
  for (const char* t : {"early", "mid", "late"})
    EXPECT_EQ(tables.at(t), tables.at("e")) << t;
}

TEST(SplitStep, ParseErrors) {
  std::string step = "  - {op: split, input: c, fractions: {train: 0.8, test: 0.3}}\n";
  EXPECT_EQ(load_error(job(step)),
            at(step, "{train") +
                "steps.0.fractions add up to 1.1, but may add up to at most 1 (below 1, the rest "
                "of the rows is dropped)");
  step = "  - {op: split, input: c, fractions: {train: 1.5}}\n";
  EXPECT_EQ(load_error(job(step)),
            at(step, "1.5") + "steps.0.fractions.train must be a fraction in (0, 1], got 1.5");
  step = "  - {op: split, input: c, fractions: {train: 0}}\n";
  EXPECT_EQ(load_error(job(step)),
            at(step, "0}") + "steps.0.fractions.train must be a fraction in (0, 1], got 0");
  step = "  - {op: split, input: c, fractions: {train: a lot}}\n";
  EXPECT_TRUE(starts(load_error(job(step)), at(step, "a lot") + "steps.0.fractions.train"));
  step = "  - {op: split, input: c, fractions: [0.8, 0.2]}\n";
  EXPECT_TRUE(starts(load_error(job(step)),
                     at(step, "[0.8") + "steps.0.fractions must be a map of output table"));
  step = "  - {op: split, input: c, fractions: {\"a b\": 0.5}}\n";
  EXPECT_TRUE(starts(load_error(job(step)), at(step, "\"a b\"") + "table name 'a b'"));
  step = "  - {op: split, input: c}\n";
  EXPECT_TRUE(starts(load_error(job(step)),
                     at(step, "{op") + "steps.0 (a split step) needs either fractions"));
  step = "  - {op: split, input: c, fractions: {a: 0.5}, by_time: ts, cutoffs: {b: 1}}\n";
  EXPECT_NE(load_error(job(step)).find("not both"), std::string::npos);
  step = "  - {op: split, input: c, fractions: {a: 0.5}, rest: r}\n";
  EXPECT_TRUE(starts(load_error(job(step)), at(step, "r}") + "steps.0.rest belongs to a split"));
  step = "  - {op: split, input: e, by_time: ts, cutoffs: {a: '2024-01-01'}, seed: 3}\n";
  EXPECT_TRUE(starts(load_error(job(step)), at(step, "3}") + "steps.0.seed: a split by time"));
  step = "  - {op: split, input: e, by_time: ts, cutoffs: {a: 'june'}}\n";
  EXPECT_EQ(load_error(job(step)),
            at(step, "'june'") +
                "steps.0.cutoffs.a must be a time ('YYYY-MM-DD' or 'YYYY-MM-DDTHH:MM:SS', UTC) or "
                "a number, got 'june'");
  step = "  - {op: split, input: e, by_time: ts, cutoffs: {a: '2024-01-01'}, rest: a}\n";
  EXPECT_EQ(load_error(job(step)),
            at(step, "a}") + "steps.0: output table 'a' is named twice in this split step");
  step = "  - {op: split, input: c, fractions: {a: 0.5}, stratify: label}\n";
  const std::string e = load_error(job(step));
  EXPECT_TRUE(starts(e, at(step, "stratify")));
  EXPECT_NE(e.find("did you mean 'stratify_by'"), std::string::npos) << e;
}

TEST(SplitStep, BindErrors) {
  std::string step = "  - {op: split, input: c, fractions: {a: 0.5}, stratify_by: lable}\n";
  std::string e = validate_error(job(step));
  EXPECT_TRUE(starts(
      e, at(step, "lable") + "step 1 (split): stratify_by 'lable' is not a column of table 'c'"));
  EXPECT_NE(e.find("did you mean 'label'"), std::string::npos) << e;
  step = "  - {op: split, input: e, by_time: tss, cutoffs: {a: '2024-01-01'}}\n";
  e = validate_error(job(step));
  EXPECT_TRUE(
      starts(e, at(step, "tss") + "step 1 (split): by_time 'tss' is not a column of table 'e'"));
  step = "  - {op: split, input: c, by_time: segment, cutoffs: {a: 1}}\n";
  EXPECT_EQ(validate_error(job(step)),
            at(step, "segment") +
                "step 1 (split): by_time column 'segment' of table 'c' is string, but must be a "
                "timestamp or a number");
  step = "  - {op: split, input: e, by_time: ts, cutoffs: {a: 5}}\n";
  EXPECT_EQ(validate_error(job(step)),
            at(step, "5}") +
                "step 1 (split): cutoff '5' for timestamp column 'ts' must be a date 'YYYY-MM-DD' "
                "or a time 'YYYY-MM-DDTHH:MM:SS[.ffffff]' (UTC)");
  step = "  - {op: split, input: e, by_time: f1, cutoffs: {a: '2024-01-01'}}\n";
  EXPECT_EQ(validate_error(job(step)),
            at(step, "'2024") +
                "step 1 (split): cutoff '2024-01-01' for float64 column 'f1' must be a finite "
                "number");
  step = "  - {op: split, input: e, by_time: ts, cutoffs: {a: '2024-02-01', b: '2024-01-01'}}\n";
  EXPECT_EQ(validate_error(job(step)),
            at(step, "'2024-01") +
                "step 1 (split): cutoffs must be ascending, but '2024-01-01' (b) is not above "
                "'2024-02-01'");
  // An output named like an earlier table is reported at its name.
  step = "  - {op: split, input: c, fractions: {train: 0.5, c: 0.5}}\n";
  e = validate_error(job(step));
  EXPECT_TRUE(starts(e, at(step, "c: 0.5") + "step 1 (split) writes table 'c'")) << e;
}

TEST(SampleAndRebalanceSteps, Errors) {
  std::string step = "  - {op: sample, input: c, fraction: 0, output: s}\n";
  EXPECT_EQ(load_error(job(step)),
            at(step, "0,") + "steps.0.fraction must be a fraction in (0, 1], got 0");
  step = "  - {op: sample, input: c, fraction: 1.01, output: s}\n";
  EXPECT_EQ(load_error(job(step)),
            at(step, "1.01") + "steps.0.fraction must be a fraction in (0, 1], got 1.01");
  step = "  - {op: sample, input: c, fraction: 0.1, seed: -1, output: s}\n";
  EXPECT_TRUE(starts(load_error(job(step)), at(step, "-1") + "steps.0.seed"));
  step = "  - {op: sample, input: c, fraction: 0.1, stratify_by: [label, segmnt], output: s}\n";
  std::string e = validate_error(job(step));
  EXPECT_TRUE(starts(e, at(step, "[label") +
                            "step 1 (sample): stratify_by 'segmnt' is not a column of table 'c'"));
  EXPECT_NE(e.find("did you mean 'segment'"), std::string::npos) << e;
  step = "  - {op: rebalance_classes, input: c, label: label, method: smote, output: b}\n";
  EXPECT_EQ(
      load_error(job(step)),
      at(step, "smote") + "steps.0.method must be one of undersample, oversample, got 'smote'");
  step = "  - {op: rebalance_classes, input: c, label: label, method: oversampel, output: b}\n";
  EXPECT_NE(load_error(job(step)).find("did you mean 'oversample'"), std::string::npos);
  step = "  - {op: rebalance_classes, input: c, label: churn, method: undersample, output: b}\n";
  e = validate_error(job(step));
  EXPECT_TRUE(starts(e, at(step, "churn") +
                            "step 1 (rebalance_classes): label 'churn' is not a column of table "
                            "'c'"));
  step = "  - {op: rebalance_classes, input: c, label: label, output: b}\n";
  EXPECT_TRUE(starts(load_error(job(step)), at(step, "{op")));
}

}  // namespace

// filter with `rest`: one pass gives the rows where the condition holds and the others (false or
// null), each in order; the outputs' names are checked; and the step reads the input the job
// hands it through take_input (the job's own copy of a table nothing else reads), not
// `inputs[0]`, and `inputs[0]` when take_input gives nothing.
TEST(FilterStep, RestAndTakenInput) {
  const std::string step =
      "  - {op: filter, input: c, where: \"x1 > 0\", output: pos, rest: other}\n";
  const Job j = load(job(step));
  validate_job(j);
  ASSERT_EQ(j.steps[0]->outputs.size(), 2u);
  EXPECT_EQ(canonical(*j.steps[0]),
            "{op: filter, input: c, where: x1 > 0, output: pos, rest: other}");

  const std::string same =
      "  - {op: filter, input: c, where: \"x1 > 0\", output: pos, rest: pos}\n";
  EXPECT_TRUE(starts(load_error(job(same)), at(same, "pos", same.find("rest"))))
      << load_error(job(same));
  EXPECT_NE(load_error(job(same)).find("output and rest both name table 'pos'"), std::string::npos);
  const std::string taken = "  - {op: filter, input: c, where: \"x1 > 0\", output: pos, rest: e}\n";
  EXPECT_NE(validate_error(job(taken)).find("table 'e'"), std::string::npos)
      << validate_error(job(taken));

  table::Column id(table::DataType::kInt64), x1(table::DataType::kFloat64);
  x1.ensure_validity();
  std::vector<std::int64_t> want_pos, want_other;
  for (std::int64_t r = 0; r < 100; ++r) {
    id.values<std::int64_t>().push_back(r);
    const bool null = r % 7 == 3;
    const double v = static_cast<double>((r * 37) % 11) - 5.0;
    x1.values<double>().push_back(v);
    x1.validity().push_back(!null);
    (!null && v > 0 ? want_pos : want_other).push_back(r);
  }
  table::Table t;
  t.add_column("id", std::move(id));
  t.add_column("x1", std::move(x1));
  table::Table poisoned = t;
  std::fill(poisoned.column("x1").values<double>().begin(),
            poisoned.column("x1").values<double>().end(), 1.0);
  const auto ids = [](const table::Table& out) {
    const auto& v = out.column("id").values<std::int64_t>();
    return std::vector<std::int64_t>(v.begin(), v.end());
  };
  const mpi::Comm comm;
  int takes = 0;
  // The job hands over `t` itself; inputs[0] is a poisoned copy the step must not read.
  StepContext given{comm, j.runtime, "step 1 (filter)", 0, nullptr, [&](std::size_t k) {
                      ++takes;
                      EXPECT_EQ(k, 0u);
                      return std::optional<table::Table>(t);
                    }};
  std::vector<table::Table> out = j.steps[0]->run(given, {&poisoned});
  EXPECT_EQ(takes, 1);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(ids(out[0]), want_pos);
  EXPECT_EQ(ids(out[1]), want_other);
  // Nothing handed over: the step reads inputs[0].
  StepContext kept{comm, j.runtime, "step 1 (filter)",
                   0,    nullptr,   [](std::size_t) { return std::optional<table::Table>(); }};
  out = j.steps[0]->run(kept, {&t});
  EXPECT_EQ(ids(out[0]), want_pos);
  EXPECT_EQ(ids(out[1]), want_other);
}
