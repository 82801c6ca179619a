// The window step: the output shape, a canonical form that loads back to itself (equal features
// written differently are one form), and parse and bind errors (what `shardflow validate`
// reports) at the feature's exact file:line:column.

#include <gtest/gtest.h>

#include <fmt/format.h>
#include <fmt/ranges.h>

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

// Line 8 is the feature `a`; its value starts at column 10.
const char* kJob = R"yaml(name: w
inputs:
  events: {format: generate, kind: events, rows: 1000}
steps:
  - op: window
    input: events
    features:
      a: "sum(f1) over range 7d preceding exclude current"
      b: "count(*) over rows 3 preceding"
      c: "lag(f2, 2, 0.5)"
      d: "row_number()"
    partition_by: [user_id]
    order_by: ts
    output: feats
)yaml";

class WindowStep : public ::testing::Test {
 protected:
  Job load(const std::string& text, const std::vector<std::string>& overrides = {}) {
    write_file(path_, text);
    return load_job(path_, {}, overrides);
  }
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
  static std::string with_a(const std::string& feature) {
    std::string text = kJob;
    const std::string from = "sum(f1) over range 7d preceding exclude current";
    text.replace(text.find(from), from.size(), feature);
    return text;
  }

  TempDir dir_;
  std::string path_ = (dir_.path() / "job.yaml").string();
};

TEST_F(WindowStep, ValidJobGivesTheOutputShape) {
  const auto shapes = validate_job_tables(load(kJob));
  EXPECT_EQ(shapes.back().name, "feats");
  EXPECT_EQ(shapes.back().to_string(),
            "event_id:int64, user_id:int64, ts:timestamp, f1:float64, f2:float64, f3:float64, "
            "a:float64, b:int64, c:float64, d:int64");
  const auto buckets = validate_job_tables(
      load(kJob, {"steps.0.bucket=1h", "steps.0.features={n: \"count(*)\", m: \"median(f1)\"}"}));
  EXPECT_EQ(buckets.back().to_string(), "user_id:int64, ts_bucket:timestamp, n:int64, m:float64");
}

TEST_F(WindowStep, CanonicalFormLoadsBackToItself) {
  for (const std::vector<std::string>& overrides : std::vector<std::vector<std::string>>{
           {},
           {"steps.0.partition_by=[]"},
           {"steps.0.order_by=",
            "steps.0.features={r: \"ROW_NUMBER( )\", s: \"lead(\\\"f1\\\", "
            "0, null)\"}"},
           {"steps.0.features={q: \"quantile(f1, 0.25) over rows 0 preceding exclude current\", "
            "c: \"corr(f1, f2)\", f: \"first(f1, ts) over range 90m preceding\", "
            "u: \"sum(f1) over range UNBOUNDED preceding exclude current\", "
            "v: \"max(f2) over rows unbounded preceding\", w: \"mean(f3) EXCLUDE current\"}"},
           {"steps.0.bucket=1d", "steps.0.features={n: \"count(*)\"}"}}) {
    const Job job = load(kJob, overrides);
    write_file(path_, job.canonical_yaml);
    const Job again = load_job(path_, {}, {});
    EXPECT_EQ(again.canonical_yaml, job.canonical_yaml);
    validate_job(again);
  }
  // Equal features written differently are one canonical form (one fingerprint).
  EXPECT_EQ(load(with_a("SUM( f1 )  OVER RANGE 168h PRECEDING EXCLUDE CURRENT")).canonical_yaml,
            load(kJob).canonical_yaml);
  EXPECT_NE(load(with_a("sum(f1) over range 6d preceding exclude current")).canonical_yaml,
            load(kJob).canonical_yaml);
  EXPECT_NE(load(with_a("sum(f1) over range 7d preceding")).canonical_yaml,
            load(kJob).canonical_yaml);
}

TEST_F(WindowStep, ErrorsAtTheFeature) {
  const std::string a = at(8, 10);
  auto expect = [&](const std::string& feature, const std::string& part) {
    const std::string e = error(with_a(feature));
    EXPECT_EQ(e.rfind(a, 0), 0u) << e;
    EXPECT_NE(e.find(part), std::string::npos) << e;
  };
  expect("summ(f1) over rows 2 preceding", "unknown window function 'summ'; did you mean 'sum'?");
  expect("sum(f9) over rows 2 preceding", "'f9' is not a column of table 'events'");
  expect("sum(f1) over range 7d preceding include current", "expected 'exclude current'");
  expect("sum(f1) over range -7d preceding", "duration '-7d' must be >= 0");
  expect("sum(f1) over range 1.5us preceding", "whole number of microseconds");
  expect("sum(f1) over rows 1.5 preceding", "whole number >= 0");
  expect("sum(f1) over range 7 preceding", "plain number but order_by 'ts' is a timestamp");
  expect("lag(f1, -2)", "lag offset must be >= 0");
  expect("lag(f1, 1, 'x')", "does not fit column 'f1'");
  expect("sum(*) over rows 1 preceding", "only count(*) may omit the column");
  expect("top_k(f1, 2) over rows 1 preceding", "several rows");
  expect("histogram(f1, 10) over rows 1 preceding",
         "histogram gives several rows per group and cannot be a window feature (any aggregate "
         "of the registry, not top_k or histogram)");
  expect("histogram(f1, [0, 1, 2]) over rows 1 preceding", "not top_k or histogram");
  expect("quantile(f1) over rows 1 preceding", "quantile");
  expect("corr(f1) over rows 1 preceding", "second column");
  expect("rank() over rows 1 preceding", "takes no frame");
  EXPECT_NE(error(kJob, {"steps.0.order_by=", "steps.0.features={r: \"rank()\"}"})
                .find("rank() needs order_by"),
            std::string::npos);
  EXPECT_NE(error(kJob, {"steps.0.order_by=user_id",
                         "steps.0.features={r: \"count(*) over range 1d preceding\"}"})
                .find("is a duration but order_by 'user_id' is int64"),
            std::string::npos);
  EXPECT_NE(error(kJob, {"steps.0.bucket=1h"}).find("drop the frame"), std::string::npos);
  EXPECT_NE(error(kJob, {"steps.0.bucket=1h", "steps.0.features={r: \"row_number()\"}"})
                .find("cannot be used with bucket"),
            std::string::npos);
  EXPECT_NE(error(kJob, {"steps.0.bucket=3", "steps.0.features={n: \"count(*)\"}"})
                .find("plain number but order_by 'ts' is a timestamp"),
            std::string::npos);
  EXPECT_NE(error(kJob, {"steps.0.partition_by=[usr_id]"}).find("did you mean 'user_id'"),
            std::string::npos);
  EXPECT_NE(error(kJob, {"steps.0.features={ts: \"row_number()\"}"}).find("rename it"),
            std::string::npos);
}

}  // namespace
