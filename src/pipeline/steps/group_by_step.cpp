// op: group_by — one row per distinct key combination with aggregates of its rows
// (ops::group_by: a distributed hash aggregation).
//
//   - {op: group_by, input: clean, keys: [segment], aggs: {amount: [sum, mean], "*": [count]},
//      output: by_segment}

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>

#include "shardflow/common/error.hpp"
#include "shardflow/common/suggest.hpp"
#include "shardflow/ops/group_by.hpp"
#include "shardflow/pipeline/job.hpp"
#include "shardflow/pipeline/step.hpp"

namespace shardflow::pipeline {

namespace {

using table::DataType;

const std::vector<std::string> kAggFunctions = {"sum", "count", "mean", "min", "max"};

class GroupByStep final : public StepSpec {
 public:
  std::vector<std::string> keys;
  /// In the order written; output "<column>_<kind>", or "count" for count(*) (written "*",
  /// stored as column "").
  std::vector<ops::AggSpec> aggs;

  void emit(YAML::Emitter& out) const override {
    out << YAML::BeginMap;
    emit_op_and_inputs(out, *this);
    out << YAML::Key << "keys" << YAML::Value << YAML::Flow << keys;
    // aggs were written as a map column -> functions; regroup by column in first-seen order.
    std::vector<std::pair<std::string, std::vector<std::string>>> by_column;
    for (const auto& agg : aggs) {
      const std::string column = agg.column.empty() ? std::string("*") : agg.column;
      auto it = std::find_if(by_column.begin(), by_column.end(),
                             [&](const auto& entry) { return entry.first == column; });
      if (it == by_column.end()) it = by_column.insert(by_column.end(), {column, {}});
      it->second.emplace_back(ops::to_string(agg.kind));
    }
    out << YAML::Key << "aggs" << YAML::Value << YAML::BeginMap;
    for (const auto& [column, functions] : by_column)
      out << YAML::Key << column << YAML::Value << YAML::Flow << functions;
    out << YAML::EndMap;
    emit_outputs(out, *this);
    out << YAML::EndMap;
  }

  std::vector<TableShape> bind(const std::string& label,
                               const std::vector<const TableShape*>& inputs) const override {
    const TableShape& input = *inputs.at(0);
    auto error = [&](const SourceLocation& at, const std::string& message) {
      return ConfigError("{}: {}: {}", at.to_string(), label, message);
    };
    const SourceLocation& keys_at = fields.of("keys", location);
    const SourceLocation& aggs_at = fields.of("aggs", location);
    for (const auto& key : keys) {
      if (!input.find(key)) throw error(keys_at, input.not_a_column("key", key));
    }
    for (const auto& agg : aggs) {
      const SourceLocation& at =
          fields.of("aggs." + (agg.column.empty() ? "*" : agg.column), aggs_at);
      if (!agg.column.empty() && !input.find(agg.column)) {
        throw error(at, input.not_a_column("aggregated column", agg.column));
      }
      const std::string output = ops::output_name(agg);
      if (std::find(keys.begin(), keys.end(), output) != keys.end()) {
        throw error(at,
                    fmt::format("aggregate column '{}' has the same name as a key column", output));
      }
    }
    // Unknown types are stood in for by float64, which every aggregate accepts; outputs that take
    // the input's type (keys, sum, min, max) stay unknown.
    table::Schema schema;
    try {
      schema =
          ops::group_by_output_schema(input.schema_with_unknown_as(DataType::kFloat64), keys, aggs);
    } catch (const ConfigError& e) {
      throw error(aggs_at, e.what());
    }
    TableShape t;
    for (const auto& field : schema.fields())
      t.columns.push_back({field.name, field.type});
    for (size_t k = 0; k < keys.size() && k < t.columns.size(); ++k) {
      if (!input.find(keys[k])->type) t.columns[k].type.reset();
    }
    for (const auto& agg : aggs) {
      if (agg.column.empty() || input.find(agg.column)->type) continue;
      if (agg.kind == ops::AggKind::kSum || agg.kind == ops::AggKind::kMin ||
          agg.kind == ops::AggKind::kMax) {
        const std::string name = ops::output_name(agg);
        for (auto& c : t.columns) {
          if (c.name == name) c.type.reset();
        }
      }
    }
    return {t};
  }

  std::vector<table::Table> run(const StepContext& context,
                                const std::vector<const table::Table*>& inputs) const override {
    ops::GroupByOptions options;
    options.shuffle.round_bytes = context.runtime.shuffle_round_bytes;
    std::vector<table::Table> result;
    // Errors found in the data (an int64 sum that overflows) are agreed inside group_by.
    result.push_back(run_located(fields.of("aggs", location), context, [&] {
      return ops::group_by(context.comm, *inputs.at(0), keys, aggs, options);
    }));
    return result;
  }
};

std::vector<ops::AggSpec> read_aggs(const ConfigNode& node, const std::string& path) {
  const MapView map(node, path);
  if (node.keys.empty()) {
    fail_at(
        node.location,
        fmt::format("{} must name at least one column to aggregate, e.g. {{amount: [sum]}}", path));
  }
  std::vector<ops::AggSpec> aggs;
  for (size_t i = 0; i < node.keys.size(); ++i) {
    const std::string& column = node.keys[i];
    const std::string column_path = fmt::format("{}.{}", path, column);
    const ConfigNode& value = node.items[i];
    const std::vector<std::string> functions = to_string_list(value, column_path, false);
    for (size_t f = 0; f < functions.size(); ++f) {
      const std::string& function = functions[f];
      const SourceLocation& function_location =
          value.kind == ConfigNode::Kind::kSequence ? value.items[f].location : value.location;
      const auto kind = ops::parse_agg_kind(function);
      if (!kind) {
        fail_at(function_location,
                fmt::format("unknown aggregate function '{}' in {}{} (functions: {})", function,
                            column_path, did_you_mean(function, kAggFunctions),
                            list_names(kAggFunctions)));
      }
      if (column == "*" && *kind != ops::AggKind::kCount) {
        fail_at(function_location, fmt::format("{} can only be count (count of rows), got '{}'",
                                               column_path, function));
      }
      ops::AggSpec agg;
      agg.kind = *kind;
      agg.column = column == "*" ? std::string() : column;  // ops: empty column = count(*)
      agg.output = ops::output_name(agg);
      aggs.push_back(std::move(agg));
    }
  }
  for (size_t i = 0; i < aggs.size(); ++i) {
    for (size_t j = 0; j < i; ++j) {
      if (aggs[i].output == aggs[j].output) {
        fail_at(node.location, fmt::format("{} computes column '{}' twice", path, aggs[i].output));
      }
    }
  }
  return aggs;
}

std::shared_ptr<StepSpec> parse(const MapView& map) {
  map.allow_only({"op", "input", "keys", "aggs", "output"}, " (a group_by step)");
  auto step = std::make_shared<GroupByStep>();
  step->keys = to_string_list(map.require("keys"), map.path("keys"), true);
  const ConfigNode& aggs = map.require("aggs");
  step->aggs = read_aggs(aggs, map.path("aggs"));
  for (size_t i = 0; i < aggs.keys.size(); ++i)
    step->fields.values["aggs." + aggs.keys[i]] = aggs.key_locations[i];
  read_input_table(map, "input", *step);
  read_output_table(map, "output", *step);
  return step;
}

}  // namespace

StepType group_by_step_type() {
  return {"group_by",
          "one row per distinct key with aggregates (sum, count, mean, min, max)",
          {"op", "input", "keys", "aggs", "output"},
          &parse};
}

}  // namespace shardflow::pipeline
