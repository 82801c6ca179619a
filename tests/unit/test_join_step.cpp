// The join step's parsing, canonical form and binding (what `shardflow validate` runs): output
// shapes for every kind of `how`, the suffix, common key types, and each error with its location.

#include <gtest/gtest.h>

#include <fmt/format.h>

#include <string>

#include "shardflow/common/error.hpp"
#include "shardflow/pipeline/job_loader.hpp"
#include "shardflow/pipeline/job_validator.hpp"
#include "shardflow/pipeline/step.hpp"
#include "support/canonical_yaml.hpp"
#include "support/test_util.hpp"

using namespace shardflow;
using namespace shardflow::pipeline;
using shardflow::testing_util::canonical;
using shardflow::testing_util::TempDir;
using shardflow::testing_util::write_file;

namespace {

const std::string kHead = R"(name: j
inputs:
  a: {format: generate, kind: classification, rows: 100}
  g: {format: generate, kind: groupby, rows: 100}
steps:
)";

class JoinStep : public ::testing::Test {
 protected:
  Job load(const std::string& steps) {
    write_file(path_, kHead + steps);
    return load_job(path_, {}, {});
  }
  std::string shape(const std::string& steps, const std::string& table) {
    for (const auto& t : validate_job_tables(load(steps)))
      if (t.name == table) return t.to_string();
    return "no table " + table;
  }
  std::string error(const std::string& steps) {
    try {
      validate_job(load(steps));
    } catch (const ConfigError& e) {
      return e.what();
    }
    return "accepted";
  }
  std::string at(int line, int column) const {
    return fmt::format("{}:{}:{}: ", path_, line, column);
  }
  TempDir dir_;
  std::string path_ = (dir_.path() / "job.yaml").string();
};

}  // namespace

TEST_F(JoinStep, CanonicalFormFillsDefaultsAndRoundTrips) {
  const Job job = load("  - {op: join, left: a, right: a, on: id, output: self}\n");
  EXPECT_EQ(canonical(*job.steps.at(0)),
            "{op: join, left: a, right: a, on: [id], how: inner, suffix: _right, strategy: auto, "
            "output: self}");
  const Job map_form = load(
      "  - {op: join, left: a, right: g, on: {left: [id], right: [id4]}, how: semi, "
      "suffix: _g, strategy: broadcast, output: s}\n");
  const std::string text = canonical(*map_form.steps.at(0));
  EXPECT_EQ(text,
            "{op: join, left: a, right: g, on: {left: [id], right: [id4]}, how: semi, suffix: _g, "
            "strategy: broadcast, output: s}");
  EXPECT_EQ(canonical(*load("  - " + text + "\n").steps.at(0)), text);
}

TEST_F(JoinStep, OutputShapes) {
  EXPECT_EQ(shape("  - {op: join, left: a, right: a, on: [id], output: self}\n", "self"),
            "id:int64, segment:string, x1:float64, x2:float64, x3:float64, x4:float64, "
            "amount:float64, label:int64, segment_right:string, x1_right:float64, "
            "x2_right:float64, x3_right:float64, x4_right:float64, amount_right:float64, "
            "label_right:int64");
  EXPECT_EQ(shape("  - {op: join, left: a, right: g, on: {left: [id], right: [id4]}, how: full, "
                  "output: f}\n",
                  "f"),
            "id:int64, segment:string, x1:float64, x2:float64, x3:float64, x4:float64, "
            "amount:float64, label:int64, id1:string, id2:string, id3:string, id5:int64, "
            "id6:int64, v1:int64, v2:int64, v3:float64");
  for (const char* how : {"semi", "anti"}) {
    EXPECT_EQ(shape(fmt::format("  - {{op: join, left: g, right: a, on: {{left: [id1], right: "
                                "[segment]}}, how: {}, output: s}}\n",
                                how),
                    "s"),
              "id1:string, id2:string, id3:string, id4:int64, id5:int64, id6:int64, v1:int64, "
              "v2:int64, v3:float64");
  }
}

TEST_F(JoinStep, ErrorsNameTheirPlace) {
  EXPECT_EQ(error("  - {op: join, left: a, right: g, on: [id], output: o}\n"),
            at(6, 39) +
                "step 1 (join): right key 'id' is not a column of table 'g'; did you mean "
                "'id1'? (columns: id1, id2, id3, id4, id5, id6, v1, v2, v3)");
  EXPECT_EQ(error("  - {op: join, left: a, right: g, on: {left: [segment], right: [id4]}, "
                  "output: o}\n"),
            at(6, 39) +
                "step 1 (join): join key 'segment' is string in table 'a' but 'id4' is int64 in "
                "table 'g'; these types cannot be compared (keys must have the same type, or be "
                "int32/int64 or float32/float64)");
  EXPECT_EQ(error("  - {op: join, left: a, right: g, on: {left: [id], right: []}, output: o}\n"),
            at(6, 59) + "steps.0.on.right must list at least one name");
  EXPECT_EQ(
      error("  - {op: join, left: a, right: a, on: [id], how: cross, output: o}\n"),
      at(6, 50) + "steps.0.how must be one of inner, left, right, full, semi, anti, got 'cross'");
  EXPECT_EQ(error("  - {op: join, left: a, right: a, on: [id], strategy: hash, output: o}\n"),
            at(6, 55) + "steps.0.strategy must be one of auto, shuffle, broadcast, got 'hash'");
  EXPECT_EQ(error("  - {op: join, left: a, right: a, on: {left: [id], rigth: [id]}, output: o}\n"),
            at(6, 52) + "unknown key 'rigth' in steps.0.on; did you mean 'right'?");
  EXPECT_EQ(error("  - {op: join, left: a, right: a, on: [id], suffix: '', output: o}\n"),
            at(6, 53) + "steps.0.suffix must not be empty");
}
