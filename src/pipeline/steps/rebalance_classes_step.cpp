// op: rebalance_classes — equal class counts by undersampling or oversampling
// (ops::rebalance_classes).
//
//   - {op: rebalance_classes, input: t, label: label, method: undersample, seed: 7, output: b}
//
// A class is the rows sharing a label value (null is a class of its own). undersample keeps from
// every class as many rows as the smallest class has; oversample repeats every row of a class of
// n rows floor(M / n) times (M: the largest class's count) and M mod n of them once more. Rows
// are chosen by (seed, global row index): the same table at any rank count. seed defaults to the
// job's seed. The output keeps the input's row order, a row's copies adjacent.

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <optional>

#include "shardflow/common/error.hpp"
#include "shardflow/ops/sampling.hpp"
#include "shardflow/pipeline/job.hpp"
#include "shardflow/pipeline/step.hpp"

namespace shardflow::pipeline {

namespace {

const std::vector<std::string> kKeys = {"op", "input", "label", "method", "seed", "output"};

class RebalanceClassesStep final : public StepSpec {
 public:
  std::string label;
  ops::RebalanceMethod method = ops::RebalanceMethod::kUndersample;
  std::optional<std::uint64_t> seed;

  void emit(YAML::Emitter& out) const override {
    out << YAML::BeginMap;
    emit_op_and_inputs(out, *this);
    out << YAML::Key << "label" << YAML::Value << label;
    out << YAML::Key << "method" << YAML::Value
        << (method == ops::RebalanceMethod::kUndersample ? "undersample" : "oversample");
    if (seed) out << YAML::Key << "seed" << YAML::Value << *seed;
    emit_outputs(out, *this);
    out << YAML::EndMap;
  }

  bool uses_job_seed() const override { return !seed; }

  std::vector<TableShape> bind(const std::string& step_label,
                               const std::vector<const TableShape*>& inputs) const override {
    const TableShape& input = *inputs.at(0);
    if (!input.find(label)) {
      throw ConfigError("{}: {}: {}", fields.of("label", location).to_string(), step_label,
                        input.not_a_column("label", label));
    }
    return {input};
  }

  std::vector<table::Table> run(const StepContext& context,
                                const std::vector<const table::Table*>& inputs) const override {
    ops::SamplingOptions options;
    options.shuffle.round_bytes = context.runtime.shuffle_round_bytes;
    std::vector<table::Table> result;
    result.push_back(run_located(fields.of("label", location), context, [&] {
      return ops::rebalance_classes(context.comm, *inputs.at(0), label, method,
                                    seed.value_or(context.seed), options);
    }));
    return result;
  }
};

std::shared_ptr<StepSpec> parse(const MapView& map) {
  map.allow_only(kKeys, " (a rebalance_classes step)");
  auto step = std::make_shared<RebalanceClassesStep>();
  read_input_table(map, "input", *step);
  step->label = to_nonempty_string(map.require("label"), map.path("label"));
  step->method = to_choice(map.require("method"), map.path("method"),
                           {"undersample", "oversample"}) == "undersample"
                     ? ops::RebalanceMethod::kUndersample
                     : ops::RebalanceMethod::kOversample;
  if (const ConfigNode* s = map.find("seed"))
    step->seed = static_cast<std::uint64_t>(to_int(*s, map.path("seed"), 0));
  read_output_table(map, "output", *step);
  return step;
}

}  // namespace

StepType rebalance_classes_step_type() {
  return {"rebalance_classes",
          "equal class counts by undersampling or oversampling (input order kept)", kKeys, &parse};
}

}  // namespace shardflow::pipeline
