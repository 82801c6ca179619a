// The derive and select steps: canonical forms (load back equal), output shapes (types of the
// derived columns, replacement in place, renames), and every parse and bind error with its
// file:line:column, before any data is read.

#include <gtest/gtest.h>

#include <fmt/format.h>

#include <functional>
#include <string>
#include <vector>

#include "shardflow/common/error.hpp"
#include "shardflow/pipeline/job_loader.hpp"
#include "shardflow/pipeline/job_validator.hpp"
#include "support/canonical_yaml.hpp"
#include "support/test_util.hpp"

using namespace shardflow;
using namespace shardflow::pipeline;
using shardflow::testing_util::canonical;

namespace {

// events: event_id int64, user_id int64, ts timestamp, f1 float64, f2 float64, f3 float64;
// groupby: id1 id2 id3 string, id4 id5 id6 v1 v2 int64, v3 float64.
std::string job(const std::string& steps) {
  return "name: d\ninputs:\n"
         "  e: {format: generate, kind: events, rows: 100}\n"
         "  g: {format: generate, kind: groupby, rows: 50}\n"
         "steps:\n" +
         steps;
}

const char* kFile = "derive.yaml";

Job load(const std::string& text, const std::vector<std::string>& sets = {}) {
  return load_job_from_string(text, kFile, {}, sets);
}

template <typename E>
std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const E& e) {
    return e.what();
  }
  ADD_FAILURE() << "no error";
  return "";
}

std::string load_error(const std::string& text) {
  return error_of<ConfigError>([&] { load(text); });
}

std::string validate_error(const std::string& text, const std::vector<std::string>& sets = {}) {
  return error_of<ConfigError>([&] { validate_job(load(text, sets)); });
}

// The location of the first `token` (at or after `from`) in `step`, on `line` (the first step is
// on line 6).
std::string at(const std::string& step, const std::string& token, int line = 6, size_t from = 0) {
  const size_t column = step.find(token, from);
  EXPECT_NE(column, std::string::npos) << token;
  return fmt::format("{}:{}:{}: ", kFile, line, static_cast<int>(column) + 1);
}

bool starts_with(const std::string& s, const std::string& prefix) {
  return s.rfind(prefix, 0) == 0;
}

TEST(DeriveStep, CanonicalFormShapesAndRoundTrip) {
  const Job j = load(
      job("  - {op: derive, input: e, columns: {year: \"year(ts)\", f1_log: \"log(1 + abs(f1))\", "
          "big: \"f1 > 1 and user_id in (1, 2)\", bucket: \"hash(user_id) % 4\", r: \"rand()\", "
          "year2: \"year + 1\", f2: \"cast(f2 as string)\", \"with space\": \"upper(concat('a', "
          "year2))\"}, output: e2}\n"
          "  - {op: select, input: e2, columns: [event_id, year2, \"with space\", f1_log], rename: "
          "{f1_log: la, \"with space\": ws}, output: e3}\n"
          "  - {op: select, input: g, columns: id1, output: g1}\n"));
  ASSERT_EQ(j.steps.size(), 3u);
  EXPECT_EQ(
      canonical(*j.steps[0]),
      "{op: derive, input: e, columns: {year: year(ts), f1_log: log(1 + abs(f1)), big: \"f1 > "
      "1 and user_id in (1, 2)\", bucket: hash(user_id) % 4, r: rand(), year2: year + 1, f2: "
      "cast(f2 as string), with space: \"upper(concat('a', year2))\"}, output: e2}");
  EXPECT_EQ(canonical(*j.steps[1]),
            "{op: select, input: e2, columns: [event_id, year2, with space, f1_log], rename: "
            "{f1_log: la, with space: ws}, output: e3}");
  EXPECT_EQ(canonical(*j.steps[2]),
            "{op: select, input: g, columns: [id1], rename: {}, output: g1}");
  const Job again = load_job_from_string(j.canonical_yaml, "again.yaml");
  EXPECT_EQ(again.canonical_yaml, j.canonical_yaml);
  const auto tables = validate_job(j);
  // A name that exists (f2) is replaced in place; new names are appended in the order written.
  EXPECT_EQ(tables.at("e2").to_string(),
            "event_id:int64, user_id:int64, ts:timestamp, f1:float64, f2:string, f3:float64, "
            "year:int64, f1_log:float64, big:bool, bucket:int64, r:float64, year2:int64, with "
            "space:string");
  EXPECT_EQ(tables.at("e3").to_string(), "event_id:int64, year2:int64, ws:string, la:float64");
  EXPECT_EQ(tables.at("g1").to_string(), "id1:string");
}

TEST(DeriveStep, ParseErrors) {
  std::string step = "  - {op: derive, input: e, columns: [year], output: e2}\n";
  EXPECT_TRUE(starts_with(load_error(job(step)), at(step, "[year]") +
                                                     "steps.0.columns must map new column names to "
                                                     "expressions, e.g. {year: \"year(ts)\""))
      << load_error(job(step));
  step = "  - {op: derive, input: e, columns: {}, output: e2}\n";
  EXPECT_TRUE(starts_with(load_error(job(step)), at(step, "{}") + "steps.0.columns must map"));
  step = "  - {op: derive, input: e, columns: {y: ''}, output: e2}\n";
  EXPECT_TRUE(starts_with(load_error(job(step)), at(step, "''") + "steps.0.columns.y"))
      << load_error(job(step));
  step = "  - {op: derive, input: e, columns: {a/b: 'f1 / f2'}, output: e2}\n";
  EXPECT_EQ(load_error(job(step)),
            at(step, "a/b") +
                "steps.0.columns: 'a/b' cannot be a column name (empty, '.', '..' "
                "or containing '/')");
  step = "  - {op: derive, input: e, columns: {'..': f1}, output: e2}\n";
  EXPECT_TRUE(starts_with(load_error(job(step)), at(step, "'..'") + "steps.0.columns: '..' cannot"))
      << load_error(job(step));
  step = "  - {op: derive, input: e, column: {y: 'year(ts)'}, output: e2}\n";
  const std::string e = load_error(job(step));
  EXPECT_TRUE(starts_with(e, at(step, "column:"))) << e;
  EXPECT_NE(e.find("did you mean 'columns'"), std::string::npos) << e;
}

TEST(DeriveStep, ExpressionErrorsAreReportedWhereTheExpressionIsWritten) {
  std::string step =
      "  - {op: derive, input: e, columns: {y: \"year(ts)\", z: \"y + f9\"}, output: e2}\n";
  EXPECT_EQ(validate_error(job(step)),
            at(step, "\"y + f9\"") +
                "step 1 (derive): column 'z': unknown column 'f9' in table 'e'; did you mean 'f1'? "
                "(columns: event_id, user_id, ts, f1, f2, f3, y)");
  step = "  - {op: derive, input: e, columns: {y: \"log(ts)\"}, output: e2}\n";
  EXPECT_EQ(validate_error(job(step)),
            at(step, "\"log(ts)\"") +
                "step 1 (derive): column 'y': expression 'log(ts)': log at column 1 takes "
                "log(number), got (a timestamp)");
  step = "  - {op: derive, input: e, columns: {y: \"yaer(ts)\"}, output: e2}\n";
  EXPECT_TRUE(starts_with(validate_error(job(step)),
                          at(step, "\"yaer(ts)\"") +
                              "step 1 (derive): column 'y': expression 'yaer(ts)': unknown "
                              "function 'yaer' at column 1; did you mean 'year'?"))
      << validate_error(job(step));
  // A later column sees an earlier one's type.
  step = "  - {op: derive, input: e, columns: {y: \"year(ts)\", m: \"month(y)\"}, output: e2}\n";
  EXPECT_EQ(validate_error(job(step)),
            at(step, "\"month(y)\"") +
                "step 1 (derive): column 'm': expression 'month(y)': month at column 1 takes "
                "month(timestamp), got (an integer)");
  // Through --set: the location is the override, whole map or one column.
  const std::string base =
      job("  - {op: derive, input: e, columns: {y: \"year(ts)\"}, output: e2}\n");
  const std::string bad_date =
      "step 1 (derive): column 'y': expression 'ts >= '2024-02-30'': '2024-02-30' at column 7 is "
      "compared with a timestamp but is not one (write YYYY-MM-DD or YYYY-MM-DD "
      "HH:MM:SS[.ffffff], UTC)";
  EXPECT_EQ(validate_error(base, {"steps.0.columns={y: \"ts >= '2024-02-30'\"}"}),
            "--set steps.0.columns: " + bad_date);
  EXPECT_EQ(validate_error(base, {"steps.0.columns.y=ts >= '2024-02-30'"}),
            "--set steps.0.columns.y: " + bad_date);
}

TEST(SelectStep, ParseAndBindErrors) {
  std::string step = "  - {op: select, input: g, columns: [id1, id9], output: s}\n";
  EXPECT_EQ(validate_error(job(step)),
            at(step, "id9") +
                "step 1 (select): selected column 'id9' is not a column of table 'g'; did you "
                "mean 'id1'? (columns: id1, id2, id3, id4, id5, id6, v1, v2, v3)");
  step = "  - {op: select, input: g, columns: [id1, v1], rename: {v2: w}, output: s}\n";
  EXPECT_EQ(load_error(job(step)),
            at(step, "v2") + "steps.0.rename renames 'v2', which is not in columns (id1, v1)");
  step = "  - {op: select, input: g, columns: [id1, v1], rename: {v1: id1}, output: s}\n";
  EXPECT_EQ(load_error(job(step)),
            at(step, "{v1") + "steps.0.rename would give two output columns the name 'id1'");
  step = "  - {op: select, input: g, columns: [id1, v1], rename: {v1: v/1}, output: s}\n";
  EXPECT_EQ(load_error(job(step)), at(step, "v/1") +
                                       "steps.0.rename.v1: 'v/1' cannot be a column "
                                       "name (empty, '.', '..' or containing '/')");
  step = "  - {op: select, input: g, columns: [id1, id1], output: s}\n";
  EXPECT_EQ(load_error(job(step)), at(step, "[id1") + "steps.0.columns lists 'id1' twice");
  step = "  - {op: select, input: g, columns: [id1], rename: [v1], output: s}\n";
  EXPECT_TRUE(starts_with(load_error(job(step)),
                          at(step, "[v1]") + "steps.0.rename must map selected columns to new "
                                             "names"))
      << load_error(job(step));
  step = "  - {op: select, input: g, columns: [], output: s}\n";
  EXPECT_TRUE(starts_with(load_error(job(step)), at(step, "[]"))) << load_error(job(step));
}

}  // namespace
