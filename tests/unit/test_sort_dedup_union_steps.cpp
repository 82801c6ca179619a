// The sort, dedup and union steps: canonical forms (every default written; loads back equal), and
// every parse and bind error with its file:line:column, before any data is read.

#include <gtest/gtest.h>

#include <fmt/format.h>

#include <string>

#include "shardflow/common/error.hpp"
#include "shardflow/pipeline/job_loader.hpp"
#include "shardflow/pipeline/job_validator.hpp"
#include "support/canonical_yaml.hpp"
#include "support/test_util.hpp"

using namespace shardflow;
using namespace shardflow::pipeline;
using shardflow::testing_util::canonical;
using shardflow::testing_util::TempDir;
using shardflow::testing_util::write_file;

namespace {

// Inputs whose schemas are known without data: generated tables (groupby: id1..id3 strings,
// id4..id6 and v1, v2 int64, v3 float64; classification: id int64, segment string, ...).
std::string job(const std::string& steps) {
  return "name: s\ninputs:\n"
         "  g: {format: generate, kind: groupby, rows: 100}\n"
         "  h: {format: generate, kind: groupby, rows: 50}\n"
         "  c: {format: generate, kind: classification, rows: 10}\n"
         "steps:\n" +
         steps;
}

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

std::string at(int line, int column) {
  return fmt::format("{}:{}:{}: ", kFile, line, column);
}

// The location of the first `token` (at or after `from`) in `step`, written on `line` (the first
// step is on line 7).
std::string at(const std::string& step, const std::string& token, int line = 7, size_t from = 0) {
  const size_t column = step.find(token, from);
  EXPECT_NE(column, std::string::npos) << token;
  return at(line, static_cast<int>(column) + 1);
}

bool starts_with(const std::string& s, const std::string& prefix) {
  return s.rfind(prefix, 0) == 0;
}

TEST(SortStep, CanonicalFormAndRoundTrip) {
  const Job j = load(
      job("  - {op: sort, input: g, by: [{column: v3, desc: true, nulls: first}, id1], limit: 100, "
          "output: top}\n"
          "  - {op: sort, input: g, by: id4, output: s}\n"
          "  - {op: dedup, input: g, keys: [id1, id2], keep: last, order_by: v3, output: d}\n"
          "  - {op: dedup, input: g, keys: id1, output: d1}\n"
          "  - {op: union, inputs: [g, h, g], output: u}\n"));
  ASSERT_EQ(j.steps.size(), 5u);
  EXPECT_EQ(canonical(*j.steps[0]),
            "{op: sort, input: g, by: [{column: v3, desc: true, nulls: first}, {column: id1, "
            "desc: false, nulls: last}], limit: 100, output: top}");
  EXPECT_EQ(canonical(*j.steps[1]),
            "{op: sort, input: g, by: [{column: id4, desc: false, nulls: last}], output: s}");
  EXPECT_EQ(canonical(*j.steps[2]),
            "{op: dedup, input: g, keys: [id1, id2], keep: last, order_by: v3, output: d}");
  EXPECT_EQ(canonical(*j.steps[3]), "{op: dedup, input: g, keys: [id1], keep: first, output: d1}");
  EXPECT_EQ(canonical(*j.steps[4]), "{op: union, inputs: [g, h, g], output: u}");
  const Job again = load_job_from_string(j.canonical_yaml, "again.yaml");
  EXPECT_EQ(again.canonical_yaml, j.canonical_yaml);
  const auto tables = validate_job(j);
  EXPECT_EQ(tables.at("top"), tables.at("g"));
  EXPECT_EQ(tables.at("u"), tables.at("g"));
  EXPECT_EQ(tables.at("d"), tables.at("g"));
}

TEST(SortStep, ParseErrors) {
  std::string step = "  - {op: sort, input: g, by: [{column: v3, nulls: middle}], output: s}\n";
  EXPECT_EQ(load_error(job(step)),
            at(step, "middle") + "steps.0.by.0.nulls must be one of first, last, got 'middle'");
  step = "  - {op: sort, input: g, by: [{column: v3, desc: maybe}], output: s}\n";
  std::string e = load_error(job(step));
  EXPECT_TRUE(starts_with(e, at(step, "maybe") + "steps.0.by.0.desc")) << e;
  step = "  - {op: sort, input: g, by: [{column: v3, order: desc}], output: s}\n";
  e = load_error(job(step));
  EXPECT_TRUE(
      starts_with(e, at(step, "order") + "unknown key 'order' in steps.0.by.0 (a sort key)"))
      << e;
  step = "  - {op: sort, input: g, by: [v3, {column: v3}], output: s}\n";
  EXPECT_EQ(load_error(job(step)),
            at(step, "v3", 7, step.find("column")) + "steps.0.by sorts by column 'v3' twice");
  step = "  - {op: sort, input: g, by: [], output: s}\n";
  EXPECT_EQ(load_error(job(step)), at(step, "[]") + "steps.0.by must name at least one column");
  step = "  - {op: sort, input: g, by: [v3], limit: -1, output: s}\n";
  e = load_error(job(step));
  EXPECT_TRUE(starts_with(e, at(step, "-1") + "steps.0.limit")) << e;
  step = "  - {op: sort, input: g, by: [v3], limt: 3, output: s}\n";
  e = load_error(job(step));
  EXPECT_TRUE(starts_with(e, at(step, "limt"))) << e;
  EXPECT_NE(e.find("did you mean 'limit'"), std::string::npos) << e;
  step = "  - {op: sort, input: g, by: [[v3]], output: s}\n";
  e = load_error(job(step));
  EXPECT_TRUE(starts_with(e, at(step, "[v3]") + "steps.0.by.0 must be a column name or")) << e;
}

TEST(SortStep, UnknownColumnIsReportedWhereItIsWritten) {
  const std::string step =
      "  - {op: sort, input: g, by: [id1, {column: amount, desc: true}], output: s}\n";
  const std::string e = validate_error(job(step));
  EXPECT_TRUE(starts_with(
      e, at(step, "amount") + "step 1 (sort): sort key 'amount' is not a column of table 'g'"))
      << e;
}

TEST(DedupStep, Errors) {
  std::string step = "  - {op: dedup, input: g, keys: [id1], keep: latest, output: d}\n";
  EXPECT_EQ(load_error(job(step)),
            at(step, "latest") +
                "steps.0.keep must be one of first, last, got 'latest'; did you mean 'last'?");
  step = "  - {op: dedup, input: g, keys: [id1, user], output: d}\n";
  std::string e = validate_error(job(step));
  EXPECT_TRUE(
      starts_with(e, at(step, "[id1") + "step 1 (dedup): key 'user' is not a column of table 'g'"))
      << e;
  step = "  - {op: dedup, input: g, keys: [id1], order_by: ts, output: d}\n";
  e = validate_error(job(step));
  EXPECT_TRUE(starts_with(
      e, at(step, "ts,") + "step 1 (dedup): order_by 'ts' is not a column of table 'g'"))
      << e;
  step = "  - {op: dedup, input: g, keys: [], output: d}\n";
  e = load_error(job(step));
  EXPECT_TRUE(starts_with(e, at(step, "[]") + "steps.0.keys")) << e;
  step = "  - {op: dedup, input: g, key: [id1], output: d}\n";
  e = load_error(job(step));
  EXPECT_NE(e.find("did you mean 'keys'"), std::string::npos) << e;
}

TEST(UnionStep, Errors) {
  std::string step = "  - {op: union, inputs: [g, c], output: u}\n";
  std::string e = validate_error(job(step));
  EXPECT_TRUE(starts_with(
      e, at(step, "c]") + "step 1 (union): table 'c' has no column 'id1', which 'g' has"))
      << e;
  const std::string union_step = "  - {op: union, inputs: [s, m], output: u}\n";
  e =
      validate_error(job("  - {op: sort, input: g, by: [id1], output: s}\n"
                         "  - {op: group_by, input: h, keys: [id1, id2, id3, id4, id5, id6, v1, "
                         "v2], aggs: {v3: [min]}, output: m}\n" +
                         union_step));
  EXPECT_TRUE(starts_with(
      e, at(union_step, "m]", 9) + "step 3 (union): table 'm' has no column 'v3', which 's' has"))
      << e;
  {
    // Same names, another type: two CSV inputs with schemas (validate reads only the headers).
    TempDir dir;
    const std::string a = (dir.path() / "a.csv").string();
    const std::string b = (dir.path() / "b.csv").string();
    write_file(a, "id4,v3\n1,x\n");
    write_file(b, "v3,id4\n1.5,2\n");
    step = "  - {op: union, inputs: [a, b], output: u}\n";
    e = validate_error(fmt::format(
        "name: s\ninputs:\n  a: {{format: csv, path: {}, schema: {{id4: int64, v3: string}}}}\n"
        "  b: {{format: csv, path: {}, schema: {{v3: float64, id4: int64}}}}\nsteps:\n{}",
        a, b, step));
    EXPECT_TRUE(starts_with(e, at(step, "b]", 6) +
                                   "step 1 (union): column 'v3' is string in table 'a' but "
                                   "float64 in table 'b'; union needs equal types"))
        << e;
  }
  step = "  - {op: union, inputs: [g, nope], output: u}\n";
  e = validate_error(job(step));
  EXPECT_TRUE(starts_with(e, at(step, "nope") + "step 1 (union) reads table 'nope'")) << e;
  step = "  - {op: union, inputs: [g], output: u}\n";
  EXPECT_EQ(load_error(job(step)),
            at(step, "[g]") + "steps.0.inputs must name at least two tables to concatenate, got 1");
  step = "  - {op: union, input: g, output: u}\n";
  e = load_error(job(step));
  EXPECT_NE(e.find("did you mean 'inputs'"), std::string::npos) << e;
}

}  // namespace
