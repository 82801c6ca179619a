// op: sort — the rows in the order of one or more keys (ops::sort, a distributed sample sort),
// or only the first `limit` of that order (ops::sort_limit, top-k without a full sort).
//
//   - {op: sort, input: t, by: [{column: amount, desc: true, nulls: last}, id], limit: 100,
//      output: top}
//
// A key is a column name (ascending, nulls last) or {column, desc (default false), nulls: first |
// last (default last)}. Ties are broken by the global row index, so the result is identical at
// every rank count; the output is written in that order.

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <optional>

#include "shardflow/common/error.hpp"
#include "shardflow/ops/sort.hpp"
#include "shardflow/pipeline/job.hpp"
#include "shardflow/pipeline/step.hpp"

namespace shardflow::pipeline {

namespace {

class SortStep final : public StepSpec {
 public:
  std::vector<ops::SortKey> by;
  std::optional<idx_t> limit;

  void emit(YAML::Emitter& out) const override {
    out << YAML::BeginMap;
    emit_op_and_inputs(out, *this);
    out << YAML::Key << "by" << YAML::Value << YAML::Flow << YAML::BeginSeq;
    for (const auto& key : by) {
      out << YAML::Flow << YAML::BeginMap << YAML::Key << "column" << YAML::Value << key.column
          << YAML::Key << "desc" << YAML::Value << key.descending << YAML::Key << "nulls"
          << YAML::Value << std::string(ops::to_string(key.nulls)) << YAML::EndMap;
    }
    out << YAML::EndSeq;
    if (limit) out << YAML::Key << "limit" << YAML::Value << *limit;
    emit_outputs(out, *this);
    out << YAML::EndMap;
  }

  std::vector<TableShape> bind(const std::string& label,
                               const std::vector<const TableShape*>& inputs) const override {
    const TableShape& input = *inputs.at(0);
    const SourceLocation& by_at = fields.of("by", location);
    for (size_t i = 0; i < by.size(); ++i) {
      if (!input.find(by[i].column)) {
        throw ConfigError("{}: {}: {}", fields.of(fmt::format("by.{}", i), by_at).to_string(),
                          label, input.not_a_column("sort key", by[i].column));
      }
    }
    TableShape out = input;
    return {out};
  }

  std::vector<table::Table> run(const StepContext& context,
                                const std::vector<const table::Table*>& inputs) const override {
    ops::SortOptions options;
    options.shuffle.round_bytes = context.runtime.shuffle_round_bytes;
    std::vector<table::Table> result;
    result.push_back(run_located(fields.of("by", location), context, [&] {
      return limit ? ops::sort_limit(context.comm, *inputs.at(0), by, *limit, options)
                   : ops::sort(context.comm, *inputs.at(0), by, options);
    }));
    return result;
  }
};

std::shared_ptr<StepSpec> parse(const MapView& map) {
  map.allow_only({"op", "input", "by", "limit", "output"}, " (a sort step)");
  auto step = std::make_shared<SortStep>();
  const std::string by_path = map.path("by");
  const ConfigNode& by = map.require("by");
  std::vector<const ConfigNode*> items;
  if (by.kind == ConfigNode::Kind::kScalar) {
    items.push_back(&by);
  } else {
    for (const auto& item : expect_sequence(by, by_path).items)
      items.push_back(&item);
  }
  if (items.empty()) fail_at(by.location, fmt::format("{} must name at least one column", by_path));
  for (size_t i = 0; i < items.size(); ++i) {
    const ConfigNode& item = *items[i];
    const std::string path =
        by.kind == ConfigNode::Kind::kScalar ? by_path : fmt::format("{}.{}", by_path, i);
    ops::SortKey key;
    SourceLocation at = item.location;
    if (item.is_map()) {
      const MapView key_map(item, path);
      key_map.allow_only({"column", "desc", "nulls"}, " (a sort key)");
      const ConfigNode& column = key_map.require("column");
      key.column = to_nonempty_string(column, key_map.path("column"));
      at = column.location;
      if (const ConfigNode* desc = key_map.find("desc"))
        key.descending = to_bool(*desc, key_map.path("desc"));
      if (const ConfigNode* nulls = key_map.find("nulls"))
        key.nulls = to_choice(*nulls, key_map.path("nulls"), {"first", "last"}) == "first"
                        ? ops::NullOrder::kFirst
                        : ops::NullOrder::kLast;
    } else if (item.kind == ConfigNode::Kind::kScalar) {
      key.column = to_nonempty_string(item, path);
    } else {
      fail_at(item.location,
              fmt::format("{} must be a column name or {{column: c, desc: true, nulls: first}}, "
                          "got {}",
                          path, describe(item)));
    }
    for (const auto& earlier : step->by) {
      if (earlier.column == key.column) {
        fail_at(at, fmt::format("{} sorts by column '{}' twice", by_path, key.column));
      }
    }
    step->fields.values[fmt::format("by.{}", i)] = at;
    step->by.push_back(std::move(key));
  }
  if (const ConfigNode* limit = map.find("limit"))
    step->limit = to_int(*limit, map.path("limit"), 0);
  read_input_table(map, "input", *step);
  read_output_table(map, "output", *step);
  return step;
}

}  // namespace

StepType sort_step_type() {
  return {"sort",
          "the rows in the order of keys (asc/desc, nulls first/last), or the first `limit`",
          {"op", "input", "by", "limit", "output"},
          &parse};
}

}  // namespace shardflow::pipeline
