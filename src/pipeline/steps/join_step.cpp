// op: join — equi-join of two tables on one or several key columns (ops::join: shuffle hash join
// or broadcast join, heavy keys spread over the ranks).
//
//   - {op: join, left: x, right: small, on: [id1], how: inner, output: q1}
//   - {op: join, left: orders, right: users, on: {left: [user], right: [id]}, how: left,
//      suffix: _user, strategy: auto, output: enriched}
//
// how: inner | left | right | full | semi | anti (default inner); strategy: auto | shuffle |
// broadcast (default auto: broadcast when the smaller side is at most runtime.broadcast_max_bytes);
// suffix (default "_right") renames right columns whose names a left column already has.

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <set>

#include "shardflow/common/error.hpp"
#include "shardflow/ops/join.hpp"
#include "shardflow/pipeline/job.hpp"
#include "shardflow/pipeline/step.hpp"

namespace shardflow::pipeline {

namespace {

const std::vector<std::string> kKeys = {"op",  "left",   "right",    "on",
                                        "how", "suffix", "strategy", "output"};

class JoinStep final : public StepSpec {
 public:
  ops::JoinSpec spec;

  void emit(YAML::Emitter& out) const override {
    out << YAML::BeginMap;
    emit_op_and_inputs(out, *this);
    out << YAML::Key << "on" << YAML::Value;
    if (spec.left_keys == spec.right_keys) {
      out << YAML::Flow << spec.left_keys;
    } else {
      out << YAML::Flow << YAML::BeginMap;
      out << YAML::Key << "left" << YAML::Value << YAML::Flow << spec.left_keys;
      out << YAML::Key << "right" << YAML::Value << YAML::Flow << spec.right_keys;
      out << YAML::EndMap;
    }
    out << YAML::Key << "how" << YAML::Value << std::string(ops::to_string(spec.how));
    out << YAML::Key << "suffix" << YAML::Value << spec.suffix;
    out << YAML::Key << "strategy" << YAML::Value << std::string(ops::to_string(spec.strategy));
    emit_outputs(out, *this);
    out << YAML::EndMap;
  }

  std::vector<TableShape> bind(const std::string& label,
                               const std::vector<const TableShape*>& inputs) const override {
    const TableShape& left = *inputs.at(0);
    const TableShape& right = *inputs.at(1);
    auto error = [&](const SourceLocation& at, const std::string& message) {
      return ConfigError("{}: {}: {}", at.to_string(), label, message);
    };
    const SourceLocation& on_at = fields.of("on", location);
    std::vector<std::optional<table::DataType>> key_types;
    for (size_t i = 0; i < spec.left_keys.size(); ++i) {
      const ColumnShape* l = left.find(spec.left_keys[i]);
      if (!l) throw error(on_at, left.not_a_column("left key", spec.left_keys[i]));
      const ColumnShape* r = right.find(spec.right_keys[i]);
      if (!r) throw error(on_at, right.not_a_column("right key", spec.right_keys[i]));
      std::optional<table::DataType> common;
      if (l->type && r->type) {
        common = ops::join_key_type(*l->type, *r->type);
        if (!common) {
          throw error(on_at,
                      fmt::format("join key '{}' is {} in table '{}' but '{}' is {} in table '{}'; "
                                  "these types cannot be compared (keys must have the same type, "
                                  "or be int32/int64 or float32/float64)",
                                  spec.left_keys[i], table::to_string(*l->type), left.name,
                                  spec.right_keys[i], table::to_string(*r->type), right.name));
        }
      }
      key_types.push_back(common);
    }
    // The output: as ops::join_output_schema, with unknown types kept unknown.
    TableShape t;
    std::set<std::string> names;
    for (const auto& c : left.columns) {
      ColumnShape out = c;
      const auto key = std::find(spec.left_keys.begin(), spec.left_keys.end(), c.name);
      if (key != spec.left_keys.end())
        out.type = key_types[static_cast<size_t>(key - spec.left_keys.begin())];
      names.insert(out.name);
      t.columns.push_back(std::move(out));
    }
    if (spec.how != ops::JoinHow::kSemi && spec.how != ops::JoinHow::kAnti) {
      for (const auto& c : right.columns) {
        if (std::find(spec.right_keys.begin(), spec.right_keys.end(), c.name) !=
            spec.right_keys.end())
          continue;
        ColumnShape out = c;
        if (names.count(out.name) != 0) {
          out.name += spec.suffix;
          if (names.count(out.name) != 0) {
            throw error(fields.of("suffix", location),
                        fmt::format("right column '{}' collides with a left column, and '{}' "
                                    "(with the suffix '{}') is taken too; choose another suffix",
                                    c.name, out.name, spec.suffix));
          }
        }
        names.insert(out.name);
        t.columns.push_back(std::move(out));
      }
    }
    return {t};
  }

  std::vector<table::Table> run(const StepContext& context,
                                const std::vector<const table::Table*>& inputs) const override {
    ops::JoinOptions options;
    options.shuffle.round_bytes = context.runtime.shuffle_round_bytes;
    options.broadcast_max_bytes = context.runtime.broadcast_max_bytes;
    std::vector<table::Table> result;
    result.push_back(run_located(fields.of("on", location), context, [&] {
      return ops::join(context.comm, *inputs.at(0), *inputs.at(1), spec, options);
    }));
    return result;
  }
};

std::shared_ptr<StepSpec> parse(const MapView& map) {
  map.allow_only(kKeys, " (a join step)");
  auto step = std::make_shared<JoinStep>();
  read_input_table(map, "left", *step);
  read_input_table(map, "right", *step);
  const ConfigNode& on = map.require("on");
  if (on.is_map()) {
    const MapView on_map(on, map.path("on"));
    on_map.allow_only({"left", "right"});
    step->spec.left_keys =
        to_string_list(on_map.require("left"), on_map.path("left"), /*allow_empty=*/false);
    step->spec.right_keys =
        to_string_list(on_map.require("right"), on_map.path("right"), /*allow_empty=*/false);
    if (step->spec.left_keys.size() != step->spec.right_keys.size()) {
      fail_at(on.location,
              fmt::format("{} has {} left key(s) ({}) but {} right key(s) ({}); give one right key "
                          "per left key",
                          map.path("on"), step->spec.left_keys.size(),
                          fmt::join(step->spec.left_keys, ", "), step->spec.right_keys.size(),
                          fmt::join(step->spec.right_keys, ", ")));
    }
  } else {
    step->spec.left_keys = to_string_list(on, map.path("on"), /*allow_empty=*/false);
    step->spec.right_keys = step->spec.left_keys;
  }
  if (const ConfigNode* how = map.find("how")) {
    step->spec.how = *ops::parse_join_how(to_choice(*how, map.path("how"), ops::join_how_names()));
  }
  if (const ConfigNode* suffix = map.find("suffix")) {
    step->spec.suffix = to_nonempty_string(*suffix, map.path("suffix"));
  }
  if (const ConfigNode* strategy = map.find("strategy")) {
    step->spec.strategy = *ops::parse_join_strategy(
        to_choice(*strategy, map.path("strategy"), ops::join_strategy_names()));
  }
  read_output_table(map, "output", *step);
  return step;
}

}  // namespace

StepType join_step_type() {
  return {"join",
          "equi-join of two tables (inner, left, right, full, semi, anti; shuffle or broadcast)",
          kKeys, &parse};
}

}  // namespace shardflow::pipeline
