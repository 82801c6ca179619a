// op: asof_join — a point-in-time left join: each left row gets the right row with equal `by`
// keys whose time is the latest at or before its own (backward), the earliest at or after it
// (forward) or the closer of the two (nearest), within `tolerance` (ops::asof_join).
//
//   - {op: asof_join, left: labels, right: features, by: [user_id], left_time: label_ts,
//      right_time: ts, direction: backward, tolerance: 7d, output: train_set}
//
// `by` is a list of columns both tables have, or {left: [a], right: [b]}; it may be empty.
// `tolerance` is a plain number for numeric time columns and a duration (7d, 12h, 30m, 45s,
// 500ms, 250us) for timestamp columns. Right columns named like a left column get `suffix`.

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <charconv>
#include <cmath>

#include "shardflow/common/error.hpp"
#include "shardflow/ops/asof_join.hpp"
#include "shardflow/pipeline/job.hpp"
#include "shardflow/pipeline/step.hpp"
#include "shardflow/table/timestamp.hpp"

namespace shardflow::pipeline {

namespace {

using table::DataType;

const std::vector<std::string> kKeys = {"op",        "left",       "right",     "by",
                                        "left_time", "right_time", "direction", "tolerance",
                                        "suffix",    "output"};

struct Tolerance {
  enum class Kind { kNone, kNumber, kDuration } kind = Kind::kNone;
  double number = 0;        // kNumber
  std::int64_t micros = 0;  // kDuration
  std::string text() const {
    if (kind == Kind::kNumber) return canonical_number(number);
    return table::duration_text(micros);
  }
};

Tolerance parse_tolerance(const ConfigNode& node, const std::string& path) {
  auto bad = [&]() {
    fail_at(node.location,
            fmt::format("{} must be a number >= 0 (numeric time columns) or a duration such as 7d, "
                        "12h, 30m, 45s, 500ms or 250us (timestamp columns), got {}",
                        path, describe(node)));
  };
  if (node.kind != ConfigNode::Kind::kScalar) bad();
  std::string_view text = node.scalar;
  Tolerance t;
  // A duration: a number followed by a unit (table::parse_duration_micros).
  std::optional<std::int64_t> micros;
  try {
    micros = table::parse_duration_micros(text);
  } catch (const ConfigError&) {
    fail_at(node.location, fmt::format("{} must be a duration of whole microseconds from 0 to "
                                       "about 290000 years, got '{}'",
                                       path, text));
  }
  if (micros) {
    t.kind = Tolerance::Kind::kDuration;
    t.micros = *micros;
    return t;
  }
  if (!text.empty() && std::isalpha(static_cast<unsigned char>(text.back()))) bad();
  t.kind = Tolerance::Kind::kNumber;
  t.number = to_double(node, path);
  if (t.number < 0) bad();
  return t;
}

class AsofJoinStep final : public StepSpec {
 public:
  std::vector<std::string> left_by, right_by;
  std::string left_time, right_time;
  ops::AsofDirection direction = ops::AsofDirection::kBackward;
  Tolerance tolerance;
  std::string suffix = "_right";

  void emit(YAML::Emitter& out) const override {
    out << YAML::BeginMap;
    emit_op_and_inputs(out, *this);
    out << YAML::Key << "by" << YAML::Value;
    if (left_by == right_by) {
      out << YAML::Flow << left_by;
    } else {
      out << YAML::Flow << YAML::BeginMap << YAML::Key << "left" << YAML::Value << left_by
          << YAML::Key << "right" << YAML::Value << right_by << YAML::EndMap;
    }
    out << YAML::Key << "left_time" << YAML::Value << left_time;
    out << YAML::Key << "right_time" << YAML::Value << right_time;
    out << YAML::Key << "direction" << YAML::Value << std::string(ops::to_string(direction));
    out << YAML::Key << "tolerance" << YAML::Value;
    if (tolerance.kind == Tolerance::Kind::kNone)
      out << YAML::Null;
    else
      out << tolerance.text();
    out << YAML::Key << "suffix" << YAML::Value << YAML::DoubleQuoted << suffix;
    emit_outputs(out, *this);
    out << YAML::EndMap;
  }

  /// The tolerance in the time column's units, or a ConfigError naming what does not fit.
  std::optional<double> tolerance_for(std::optional<DataType> time_type) const {
    if (tolerance.kind == Tolerance::Kind::kNone) return std::nullopt;
    if (time_type) {
      if (*time_type == DataType::kTimestamp && tolerance.kind == Tolerance::Kind::kNumber) {
        throw ConfigError(
            "tolerance {} is a plain number but the time columns are timestamps; write a duration "
            "such as 7d, 12h, 30m, 45s or 500ms",
            tolerance.text());
      }
      if (*time_type != DataType::kTimestamp && tolerance.kind == Tolerance::Kind::kDuration) {
        throw ConfigError(
            "tolerance {} is a duration but the time columns are {}; write a plain number in the "
            "time columns' units",
            tolerance.text(), table::to_string(*time_type));
      }
    }
    return tolerance.kind == Tolerance::Kind::kNumber ? tolerance.number
                                                      : static_cast<double>(tolerance.micros);
  }

  std::vector<TableShape> bind(const std::string& label,
                               const std::vector<const TableShape*>& inputs) const override {
    const TableShape& left = *inputs.at(0);
    const TableShape& right = *inputs.at(1);
    auto error = [&](const std::string& key, const std::string& message) {
      return ConfigError("{}: {}: {}", fields.of(key, location).to_string(), label, message);
    };
    for (size_t k = 0; k < left_by.size(); ++k) {
      const ColumnShape* l = left.find(left_by[k]);
      if (!l) throw error("by", left.not_a_column("by column", left_by[k]));
      const ColumnShape* r = right.find(right_by[k]);
      if (!r) throw error("by", right.not_a_column("by column", right_by[k]));
      if (l->type && r->type) {
        // The engine decides which key types compare with each other.
        try {
          ops::AsofJoinSpec probe;
          probe.left_by = probe.right_by = {"k"};
          probe.left_time = probe.right_time = "t";
          ops::asof_join_output_schema(table::Schema({{"k", *l->type}, {"t", DataType::kInt64}}),
                                       table::Schema({{"k", *r->type}, {"t", DataType::kInt64}}),
                                       probe);
        } catch (const ConfigError&) {
          throw error("by", fmt::format("by column '{}' is {} in table '{}' but '{}' is {} in "
                                        "table '{}'; key types must match",
                                        left_by[k], table::to_string(*l->type), left.name,
                                        right_by[k], table::to_string(*r->type), right.name));
        }
      }
    }
    const ColumnShape* lt = left.find(left_time);
    if (!lt) throw error("left_time", left.not_a_column("left_time column", left_time));
    const ColumnShape* rt = right.find(right_time);
    if (!rt) throw error("right_time", right.not_a_column("right_time column", right_time));
    auto is_time = [](DataType t) {
      return t == DataType::kTimestamp || t == DataType::kInt32 || t == DataType::kInt64 ||
             t == DataType::kFloat32 || t == DataType::kFloat64;
    };
    for (const auto& [key, column] : {std::pair{"left_time", lt}, std::pair{"right_time", rt}}) {
      if (column->type && !is_time(*column->type)) {
        throw error(key, fmt::format("time column '{}' is {}; it must be a timestamp or a number "
                                     "(int32, int64, float32, float64)",
                                     column->name, table::to_string(*column->type)));
      }
    }
    if (lt->type && rt->type && *lt->type != *rt->type) {
      throw error("right_time",
                  fmt::format("left_time '{}' is {} but right_time '{}' is {}; the types must be "
                              "equal",
                              left_time, table::to_string(*lt->type), right_time,
                              table::to_string(*rt->type)));
    }
    try {
      tolerance_for(lt->type ? lt->type : rt->type);
    } catch (const ConfigError& e) {
      throw error("tolerance", e.what());
    }
    TableShape t;
    t.columns = left.columns;
    for (const auto& c : right.columns) {
      if (std::find(right_by.begin(), right_by.end(), c.name) != right_by.end()) continue;
      ColumnShape out = c;
      if (left.find(c.name)) {
        out.name += suffix;
        if (left.find(out.name) || right.find(out.name)) {
          throw error("suffix", fmt::format("right column '{}' collides with a left column, and "
                                            "its renamed form '{}' exists too; choose another "
                                            "suffix",
                                            c.name, out.name));
        }
      }
      t.columns.push_back(out);
    }
    return {t};
  }

  std::vector<table::Table> run(const StepContext& context,
                                const std::vector<const table::Table*>& inputs) const override {
    const table::Table& left = *inputs.at(0);
    const table::Table& right = *inputs.at(1);
    ops::AsofJoinSpec spec;
    spec.left_by = left_by;
    spec.right_by = right_by;
    spec.left_time = left_time;
    spec.right_time = right_time;
    spec.direction = direction;
    spec.suffix = suffix;
    ops::AsofJoinOptions options;
    options.shuffle.round_bytes = context.runtime.shuffle_round_bytes;
    std::vector<table::Table> result;
    result.push_back(run_located(location, context, [&] {
      // Types unknown at validation (CSV without schema) are known now and equal on all ranks.
      context.comm.agree([&] {
        const auto i = left.schema().find(left_time);
        spec.tolerance =
            tolerance_for(i ? std::optional(left.schema().field(*i).type) : std::nullopt);
      });
      return ops::asof_join(context.comm, left, right, spec, options);
    }));
    return result;
  }
};

std::shared_ptr<StepSpec> parse(const MapView& map) {
  map.allow_only(kKeys, " (an asof_join step)");
  auto step = std::make_shared<AsofJoinStep>();
  read_input_table(map, "left", *step);
  read_input_table(map, "right", *step);
  if (const ConfigNode* by = map.find("by")) {
    if (by->is_map()) {
      const MapView sides(*by, map.path("by"));
      sides.allow_only({"left", "right"}, " (by columns of each side)");
      step->left_by = to_string_list(sides.require("left"), sides.path("left"), true);
      step->right_by = to_string_list(sides.require("right"), sides.path("right"), true);
      if (step->left_by.size() != step->right_by.size()) {
        fail_at(by->location, fmt::format("{}.left and {}.right must name as many columns ({} and "
                                          "{})",
                                          map.path("by"), map.path("by"), step->left_by.size(),
                                          step->right_by.size()));
      }
    } else {
      step->left_by = to_string_list(*by, map.path("by"), true);
      step->right_by = step->left_by;
    }
  }
  step->left_time = to_nonempty_string(map.require("left_time"), map.path("left_time"));
  step->right_time = to_nonempty_string(map.require("right_time"), map.path("right_time"));
  if (const ConfigNode* d = map.find("direction")) {
    step->direction = *ops::parse_asof_direction(
        to_choice(*d, map.path("direction"), ops::asof_direction_names()));
  }
  if (const ConfigNode* t = map.find("tolerance"))
    step->tolerance = parse_tolerance(*t, map.path("tolerance"));
  if (const ConfigNode* s = map.find("suffix")) {
    step->suffix = to_nonempty_string(*s, map.path("suffix"));
  }
  read_output_table(map, "output", *step);
  return step;
}

}  // namespace

StepType asof_join_step_type() {
  return {"asof_join",
          "point-in-time left join: per left row the latest (backward), earliest (forward) or "
          "nearest right row with equal keys, within a tolerance",
          kKeys, &parse};
}

}  // namespace shardflow::pipeline
