// The asof_join step: parse errors and bind errors (what `shardflow validate` reports) with their
// exact file:line:column, the output shape, and a canonical form that loads back to itself.

#include <gtest/gtest.h>

#include <fmt/format.h>

#include <string>

#include "shardflow/common/error.hpp"
#include "shardflow/pipeline/job_loader.hpp"
#include "shardflow/pipeline/job_validator.hpp"
#include "support/test_util.hpp"

using namespace shardflow;
using namespace shardflow::pipeline;
using shardflow::testing_util::TempDir;
using shardflow::testing_util::write_file;

namespace {

// Line 5 is the step; its values start at the columns the tests name.
const char* kJob = R"(name: a
inputs:
  events: {format: generate, kind: events, rows: 1000}
  labels: {format: generate, kind: labels, rows: 1000}
steps:
  - {op: asof_join, left: labels, right: events, by: [user_id], left_time: label_ts, right_time: ts, direction: backward, tolerance: 7d, output: joined}
)";

class AsofJoinStep : public ::testing::Test {
 protected:
  Job load(const std::string& text, const std::vector<std::string>& overrides = {}) {
    write_file(path_, text);
    return load_job(path_, {}, overrides);
  }
  // The message of the ConfigError that loading and validating throws ("" if none).
  std::string error(const std::string& text, const std::vector<std::string>& overrides = {}) {
    try {
      validate_job(load(text, overrides));
    } catch (const ConfigError& e) {
      return e.what();
    }
    ADD_FAILURE() << "accepted: " << fmt::format("{}", fmt::join(overrides, " "));
    return "";
  }
  std::string at(int line, int column) const {
    return fmt::format("{}:{}:{}: ", path_, line, column);
  }
  // kJob with `from` replaced by `to` in the step line.
  static std::string with(const std::string& from, const std::string& to) {
    std::string text = kJob;
    const auto i = text.find(from);
    EXPECT_NE(i, std::string::npos) << from;
    if (i != std::string::npos) text.replace(i, from.size(), to);
    return text;
  }

  TempDir dir_;
  std::string path_ = (dir_.path() / "job.yaml").string();
};

TEST_F(AsofJoinStep, ValidJobGivesTheOutputShape) {
  const auto shapes = validate_job_tables(load(kJob));
  const auto& joined = shapes.back();
  EXPECT_EQ(joined.name, "joined");
  EXPECT_EQ(joined.to_string(),
            "label_id:int64, user_id:int64, label_ts:timestamp, label:int64, event_id:int64, "
            "ts:timestamp, f1:float64, f2:float64, f3:float64");
  // Colliding right columns get the suffix (user_id is a key, so it is not repeated).
  const auto same =
      validate_job_tables(load(kJob, {"steps.0.right=labels", "steps.0.right_time=label_ts"}));
  EXPECT_EQ(same.back().to_string(),
            "label_id:int64, user_id:int64, label_ts:timestamp, label:int64, label_id_right:int64, "
            "label_ts_right:timestamp, label_right:int64");
  const auto suffixed = validate_job_tables(
      load(kJob, {"steps.0.right=labels", "steps.0.right_time=label_ts", "steps.0.suffix=_r"}));
  EXPECT_EQ(suffixed.back().to_string(),
            "label_id:int64, user_id:int64, label_ts:timestamp, label:int64, label_id_r:int64, "
            "label_ts_r:timestamp, label_r:int64");
}

TEST_F(AsofJoinStep, BindErrorsPointAtTheValue) {
  EXPECT_EQ(error(with("by: [user_id]", "by: [usr_id]")),
            at(6, 54) +
                "step 1 (asof_join): by column 'usr_id' is not a column of table 'labels'; did "
                "you mean 'user_id'? (columns: label_id, user_id, label_ts, label)");
  EXPECT_EQ(error(with("left_time: label_ts", "left_time: label_tz")),
            at(6, 76) +
                "step 1 (asof_join): left_time column 'label_tz' is not a column of table "
                "'labels'; did you mean 'label_ts'? (columns: label_id, user_id, label_ts, label)");
  EXPECT_EQ(error(with("right_time: ts", "right_time: f1")),
            at(6, 98) +
                "step 1 (asof_join): left_time 'label_ts' is timestamp but right_time 'f1' is "
                "float64; the types must be equal");
  EXPECT_EQ(error(kJob, {"steps.0.by={left: [user_id], right: [f1]}"}),
            "--set steps.0.by: step 1 (asof_join): by column 'user_id' is int64 in table "
            "'labels' but 'f1' is float64 in table 'events'; key types must match");
  EXPECT_EQ(error(kJob, {"steps.0.tolerance=12"}),
            "--set steps.0.tolerance: step 1 (asof_join): tolerance 12 is a plain number but the "
            "time columns are timestamps; write a duration such as 7d, 12h, 30m, 45s or 500ms");
  EXPECT_EQ(error(kJob, {"steps.0.left_time=label_id", "steps.0.right_time=event_id"}),
            at(6, 134) +
                "step 1 (asof_join): tolerance 7d is a duration but the "
                "time columns are int64; write a plain number in the time columns' units");
  EXPECT_EQ(
      error(kJob, {"steps.0.right=labels", "steps.0.right_time=label_ts", "steps.0.suffix=_id"}),
      "--set steps.0.suffix: step 1 (asof_join): right column 'label' collides with a left "
      "column, and its renamed form 'label_id' exists too; choose another suffix");
}

TEST_F(AsofJoinStep, TimeColumnMustBeATimestampOrNumber) {
  const std::string text = R"(name: a
inputs:
  x: {format: generate, kind: classification, rows: 100}
steps:
  - {op: asof_join, left: x, right: x, left_time: segment, right_time: segment, output: j}
)";
  EXPECT_EQ(error(text), at(5, 51) +
                             "step 1 (asof_join): time column 'segment' is string; it must be a "
                             "timestamp or a number (int32, int64, float32, float64)");
  // Numbers work, with a plain-number tolerance, and no `by` at all.
  EXPECT_NO_THROW(validate_job(
      load(text, {"steps.0.left_time=x1", "steps.0.right_time=x2", "steps.0.tolerance=0.5"})));
}

TEST_F(AsofJoinStep, ParseErrors) {
  auto load_error = [&](const std::string& text, const std::vector<std::string>& overrides) {
    try {
      load(text, overrides);
    } catch (const ConfigError& e) {
      return std::string(e.what());
    }
    ADD_FAILURE() << "loaded: " << fmt::format("{}", fmt::join(overrides, " "));
    return std::string();
  };
  EXPECT_EQ(load_error(with("direction: backward", "direction: backwards"), {}),
            at(6, 113) +
                "steps.0.direction must be one of backward, forward, nearest, got 'backwards'; "
                "did you mean 'backward'?");
  for (const std::string bad : {"7 days", "-3", "7x", "1.5us", "d", "[1]"}) {
    const std::string e = load_error(kJob, {"steps.0.tolerance=" + bad});
    EXPECT_NE(e.find("steps.0.tolerance must be"), std::string::npos) << bad << ": " << e;
  }
  EXPECT_NE(load_error(kJob, {"steps.0.tolernce=7d"}).find("did you mean 'tolerance'"),
            std::string::npos);
  EXPECT_NE(load_error(kJob, {"steps.0.by={left: [a, b], right: [c]}"}).find("as many columns"),
            std::string::npos);
}

TEST_F(AsofJoinStep, CanonicalFormLoadsBackToItself) {
  for (const std::vector<std::string>& overrides :
       std::vector<std::vector<std::string>>{{},
                                             {"steps.0.tolerance=1.5d"},
                                             {"steps.0.tolerance=90m", "steps.0.direction=nearest"},
                                             {"steps.0.tolerance=", "steps.0.by=[]"},
                                             {"steps.0.by={left: [user_id], right: [event_id]}"}}) {
    const Job job = load(kJob, overrides);
    write_file(path_, job.canonical_yaml);
    const Job again = load_job(path_, {}, {});
    EXPECT_EQ(again.canonical_yaml, job.canonical_yaml);
    validate_job(again);
  }
  // Equal durations written differently are one canonical form (one fingerprint).
  EXPECT_EQ(load(kJob, {"steps.0.tolerance=168h"}).canonical_yaml,
            load(kJob, {"steps.0.tolerance=7d"}).canonical_yaml);
  EXPECT_NE(load(kJob, {"steps.0.tolerance=6d"}).canonical_yaml,
            load(kJob, {"steps.0.tolerance=7d"}).canonical_yaml);
  EXPECT_NE(load(kJob).canonical_yaml.find("tolerance: 7d"), std::string::npos);
}

}  // namespace
