// The table of ops. Adding an op: write src/pipeline/steps/<op>_step.cpp with a
// `StepType <op>_step_type()` and add it to the two lists below (docs/architecture.md).

#include <yaml-cpp/yaml.h>

#include "shardflow/common/registry.hpp"
#include "shardflow/pipeline/step.hpp"

namespace shardflow::pipeline {

StepType filter_step_type();
StepType group_by_step_type();
StepType join_step_type();
StepType asof_join_step_type();
StepType sort_step_type();
StepType dedup_step_type();
StepType union_step_type();
StepType split_step_type();
StepType sample_step_type();
StepType rebalance_classes_step_type();
StepType derive_step_type();
StepType select_step_type();
StepType window_step_type();
StepType predict_step_type();
StepType drift_step_type();

const std::vector<StepType>& step_types() {
  static const std::vector<StepType> types = {
      filter_step_type(),
      group_by_step_type(),
      join_step_type(),
      asof_join_step_type(),
      sort_step_type(),
      dedup_step_type(),
      union_step_type(),
      // Sampling and splits.
      split_step_type(),
      sample_step_type(),
      rebalance_classes_step_type(),
      // Derived columns and column selection.
      derive_step_type(),
      select_step_type(),
      window_step_type(),
      predict_step_type(),
      drift_step_type(),
  };
  return types;
}

const StepType* find_step_type(std::string_view op) {
  return find_entry(step_types(), op, &StepType::op);
}

std::vector<std::string> step_type_names() {
  return entry_names(step_types(), &StepType::op);
}

void rethrow_located(const SourceLocation& where, const std::string& label, const Error& error) {
  throw_error(error.kind(), fmt::format("{}: {}: {}", where.to_string(), label, error.what()),
              error.agreed());
}

void read_input_table(const MapView& map, std::string_view role, StepSpec& spec) {
  const ConfigNode& node = map.require(role);
  spec.inputs.push_back(
      {std::string(role), to_nonempty_string(node, map.path(role)), node.location});
}

void read_output_table(const MapView& map, std::string_view role, StepSpec& spec) {
  const ConfigNode& node = map.require(role);
  spec.outputs.push_back(
      {std::string(role), to_identifier(node, map.path(role), "table name"), node.location});
}

void emit_op_and_inputs(YAML::Emitter& out, const StepSpec& spec) {
  out << YAML::Key << "op" << YAML::Value << spec.op;
  for (const auto& input : spec.inputs)
    out << YAML::Key << input.role << YAML::Value << input.table;
}

void emit_outputs(YAML::Emitter& out, const StepSpec& spec) {
  for (const auto& output : spec.outputs)
    out << YAML::Key << output.role << YAML::Value << output.table;
}

}  // namespace shardflow::pipeline
