// op: union — the rows of several tables with the same columns, matched by name (SQL UNION ALL;
// ops::union_tables).
//
//   - {op: union, inputs: [a, b], output: c}
//
// Every input needs the same column names and types (in any order); the output has the first
// input's column order and holds every row of the first input, then of the second, ...

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include "shardflow/common/error.hpp"
#include "shardflow/ops/union_tables.hpp"
#include "shardflow/pipeline/job.hpp"
#include "shardflow/pipeline/step.hpp"

namespace shardflow::pipeline {

namespace {

class UnionStep final : public StepSpec {
 public:
  void emit(YAML::Emitter& out) const override {
    out << YAML::BeginMap;
    out << YAML::Key << "op" << YAML::Value << op;
    out << YAML::Key << "inputs" << YAML::Value << YAML::Flow << YAML::BeginSeq;
    for (const auto& input : inputs)
      out << input.table;
    out << YAML::EndSeq;
    emit_outputs(out, *this);
    out << YAML::EndMap;
  }

  std::vector<TableShape> bind(const std::string& label,
                               const std::vector<const TableShape*>& shapes) const override {
    const TableShape& first = *shapes.at(0);
    TableShape out = first;
    for (size_t i = 1; i < shapes.size(); ++i) {
      const TableShape& other = *shapes[i];
      auto error = [&](const std::string& message) {
        return ConfigError("{}: {}: {}", inputs[i].location.to_string(), label, message);
      };
      for (auto& column : out.columns) {
        const ColumnShape* c = other.find(column.name);
        if (!c) {
          throw error(fmt::format(
              "table '{}' has no column '{}', which '{}' has; union matches columns by name, so "
              "every input needs the same columns ('{}': {}; '{}': {})",
              other.name, column.name, first.name, other.name, other.to_string(), first.name,
              first.to_string()));
        }
        if (column.type && c->type && *column.type != *c->type) {
          throw error(fmt::format(
              "column '{}' is {} in table '{}' but {} in table '{}'; union needs equal types",
              column.name, table::to_string(*column.type), first.name, table::to_string(*c->type),
              other.name));
        }
        if (!column.type) column.type = c->type;
      }
      for (const auto& c : other.columns) {
        if (!first.find(c.name)) {
          throw error(fmt::format(
              "table '{}' has column '{}', which '{}' lacks; union matches columns by name, so "
              "every input needs the same columns ('{}': {}; '{}': {})",
              other.name, c.name, first.name, other.name, other.to_string(), first.name,
              first.to_string()));
        }
      }
    }
    return {out};
  }

  std::vector<table::Table> run(const StepContext& context,
                                const std::vector<const table::Table*>& tables) const override {
    ops::UnionOptions options;
    options.shuffle.round_bytes = context.runtime.shuffle_round_bytes;
    options.max_dictionary_size = context.runtime.max_dictionary_size;
    std::vector<table::Table> result;
    result.push_back(run_located(fields.of("inputs", location), context,
                                 [&] { return ops::union_tables(context.comm, tables, options); }));
    return result;
  }
};

std::shared_ptr<StepSpec> parse(const MapView& map) {
  map.allow_only({"op", "inputs", "output"}, " (a union step)");
  auto step = std::make_shared<UnionStep>();
  const std::string path = map.path("inputs");
  const ConfigNode& node = expect_sequence(map.require("inputs"), path);
  if (node.items.size() < 2) {
    fail_at(node.location, fmt::format("{} must name at least two tables to concatenate, got {}",
                                       path, node.items.size()));
  }
  for (size_t i = 0; i < node.items.size(); ++i) {
    const ConfigNode& item = node.items[i];
    const std::string role = fmt::format("inputs.{}", i);
    step->inputs.push_back(
        {role, to_nonempty_string(item, fmt::format("{}.{}", path, i)), item.location});
    step->fields.values[role] = item.location;
  }
  read_output_table(map, "output", *step);
  return step;
}

}  // namespace

StepType union_step_type() {
  return {"union",
          "the rows of several tables with the same columns (matched by name), one after another",
          {"op", "inputs", "output"},
          &parse};
}

}  // namespace shardflow::pipeline
