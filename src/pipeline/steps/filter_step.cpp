// op: filter — keeps the rows for which a boolean expression is true (ops::filter), in order;
// with `rest`, the other rows (false or null) go to a second table, so one pass splits a table.
//
//   - {op: filter, input: events, where: "amount > 0", output: clean}
//   - {op: filter, input: data, where: "id % 5 != 0", output: train_set, rest: test_set}
//
// When the job reads the input nowhere else, the step takes it over and frees each of its
// columns once copied (StepContext::take_input): its peak is the outputs plus one column.

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <optional>

#include "shardflow/common/error.hpp"
#include "shardflow/ops/expression.hpp"
#include "shardflow/ops/filter.hpp"
#include "shardflow/pipeline/step.hpp"

namespace shardflow::pipeline {

namespace {

using table::DataType;

const std::vector<std::string> kKeys = {"op", "input", "where", "output", "rest"};

class FilterStep final : public StepSpec {
 public:
  std::string where;  // boolean expression (ops::Expression syntax)

  void emit(YAML::Emitter& out) const override {
    out << YAML::BeginMap;
    emit_op_and_inputs(out, *this);
    out << YAML::Key << "where" << YAML::Value << where;
    emit_outputs(out, *this);
    out << YAML::EndMap;
  }

  std::vector<TableShape> bind(const std::string& label,
                               const std::vector<const TableShape*>& inputs) const override {
    const TableShape& input = *inputs.at(0);
    check_condition(label, input);
    return std::vector<TableShape>(outputs.size(), input);
  }

  std::vector<table::Table> run(const StepContext& context,
                                const std::vector<const table::Table*>& inputs) const override {
    const bool with_rest = outputs.size() == 2;
    std::optional<table::Table> owned;
    if (context.take_input) owned = context.take_input(0);
    ops::FilterSplit split;
    // Filtering is local; agree so that a type error on one rank's data stops every rank.
    context.comm.agree([&] {
      try {
        const ops::Expression predicate = ops::Expression::parse(where);
        split = owned ? ops::filter_split(std::move(*owned), predicate, with_rest)
                      : ops::filter_split(*inputs.at(0), predicate, with_rest);
      } catch (const Error& e) {
        throw_error(e.kind(), fmt::format("{}: {}: {}", fields.of("where", location).to_string(),
                                          context.label, e.what()));
      }
    });
    std::vector<table::Table> result;
    result.push_back(std::move(split.kept));
    if (with_rest) result.push_back(std::move(split.rest));
    return result;
  }

 private:
  static std::string not_a_condition(std::string_view where, std::string_view type) {
    return fmt::format("where must be a true/false condition, but '{}' is {}", where, type);
  }

  void check_condition(const std::string& label, const TableShape& input) const {
    const SourceLocation& at = fields.of("where", location);
    auto error = [&](const std::string& message) {
      return ConfigError("{}: {}: {}", at.to_string(), label, message);
    };
    std::optional<ops::Expression> expr;
    try {
      expr = ops::Expression::parse(where);
    } catch (const ConfigError& e) {
      throw error(e.what());
    }
    bool any_untyped = false;
    for (const auto& name : expr->referenced_columns()) {
      const ColumnShape* c = input.find(name);
      if (!c) throw error(input.unknown_column(name));
      if (!c->type) any_untyped = true;
    }
    if (!any_untyped) {
      DataType type = DataType::kBool;
      try {
        type = expr->result_type(input.schema_with_unknown_as(DataType::kString));
      } catch (const ConfigError& e) {
        throw error(e.what());
      }
      if (type != DataType::kBool) throw error(not_a_condition(where, table::to_string(type)));
      return;
    }
    // The condition reads columns whose types are only known after reading (a CSV without a
    // schema), so only what holds for every typing can be reported. Try each column type the CSV
    // reader can infer, for all unknown columns at once: a typing that makes the condition
    // boolean means it may be fine; an identical error under every typing does not depend on the
    // types; a non-boolean result under every typing can never be a condition. Anything else is
    // left to the run, which knows the types.
    std::vector<std::string> errors;
    std::vector<DataType> results;
    for (DataType guess : {DataType::kFloat64, DataType::kInt64, DataType::kString, DataType::kBool,
                           DataType::kTimestamp}) {
      try {
        const DataType type = expr->result_type(input.schema_with_unknown_as(guess));
        if (type == DataType::kBool) return;
        results.push_back(type);
      } catch (const ConfigError& e) {
        errors.emplace_back(e.what());
      }
    }
    if (errors.empty()) throw error(not_a_condition(where, "not boolean"));
    if (results.empty() &&
        std::all_of(errors.begin(), errors.end(), [&](const auto& e) { return e == errors[0]; })) {
      throw error(errors[0]);
    }
  }
};

std::shared_ptr<StepSpec> parse(const MapView& map) {
  map.allow_only(kKeys, " (a filter step)");
  auto step = std::make_shared<FilterStep>();
  step->where = to_nonempty_string(map.require("where"), map.path("where"));
  read_input_table(map, "input", *step);
  read_output_table(map, "output", *step);
  if (map.find("rest")) {
    read_output_table(map, "rest", *step);
    if (step->outputs[1].table == step->outputs[0].table) {
      fail_at(step->outputs[1].location,
              fmt::format("{}: output and rest both name table '{}'; give the rows where the "
                          "condition fails a table of their own",
                          map.path(), step->outputs[1].table));
    }
  }
  return step;
}

}  // namespace

StepType filter_step_type() {
  return {"filter", "keeps the rows where a condition holds (order preserved); rest: the others",
          kKeys, &parse};
}

}  // namespace shardflow::pipeline
