// op: dedup — one row per distinct key: the first or last by an order column (ops::dedup).
//
//   - {op: dedup, input: t, keys: [event_id], keep: last, order_by: ts, output: u}
//
// keep: first (default) | last. Without order_by, first/last mean the input's order. Null keys
// are equal to each other (as SQL DISTINCT); null order values never beat known ones. The output
// keeps the input's row order.

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <optional>

#include "shardflow/common/error.hpp"
#include "shardflow/ops/dedup.hpp"
#include "shardflow/pipeline/job.hpp"
#include "shardflow/pipeline/step.hpp"

namespace shardflow::pipeline {

namespace {

class DedupStep final : public StepSpec {
 public:
  std::vector<std::string> keys;
  ops::DedupKeep keep = ops::DedupKeep::kFirst;
  std::optional<std::string> order_by;

  void emit(YAML::Emitter& out) const override {
    out << YAML::BeginMap;
    emit_op_and_inputs(out, *this);
    out << YAML::Key << "keys" << YAML::Value << YAML::Flow << keys;
    out << YAML::Key << "keep" << YAML::Value
        << (keep == ops::DedupKeep::kFirst ? "first" : "last");
    if (order_by) out << YAML::Key << "order_by" << YAML::Value << *order_by;
    emit_outputs(out, *this);
    out << YAML::EndMap;
  }

  std::vector<TableShape> bind(const std::string& label,
                               const std::vector<const TableShape*>& inputs) const override {
    const TableShape& input = *inputs.at(0);
    for (const auto& key : keys) {
      if (!input.find(key)) {
        throw ConfigError("{}: {}: {}", fields.of("keys", location).to_string(), label,
                          input.not_a_column("key", key));
      }
    }
    if (order_by && !input.find(*order_by)) {
      throw ConfigError("{}: {}: {}", fields.of("order_by", location).to_string(), label,
                        input.not_a_column("order_by", *order_by));
    }
    TableShape out = input;
    return {out};
  }

  std::vector<table::Table> run(const StepContext& context,
                                const std::vector<const table::Table*>& inputs) const override {
    ops::DedupOptions options;
    options.shuffle.round_bytes = context.runtime.shuffle_round_bytes;
    std::vector<table::Table> result;
    result.push_back(run_located(fields.of("keys", location), context, [&] {
      return ops::dedup(context.comm, *inputs.at(0), keys, keep, order_by, options);
    }));
    return result;
  }
};

std::shared_ptr<StepSpec> parse(const MapView& map) {
  map.allow_only({"op", "input", "keys", "keep", "order_by", "output"}, " (a dedup step)");
  auto step = std::make_shared<DedupStep>();
  step->keys = to_string_list(map.require("keys"), map.path("keys"), false);
  if (const ConfigNode* keep = map.find("keep")) {
    step->keep = to_choice(*keep, map.path("keep"), {"first", "last"}) == "first"
                     ? ops::DedupKeep::kFirst
                     : ops::DedupKeep::kLast;
  }
  if (const ConfigNode* order_by = map.find("order_by"))
    step->order_by = to_nonempty_string(*order_by, map.path("order_by"));
  read_input_table(map, "input", *step);
  read_output_table(map, "output", *step);
  return step;
}

}  // namespace

StepType dedup_step_type() {
  return {"dedup",
          "one row per distinct key: the first or last by an order column (input order kept)",
          {"op", "input", "keys", "keep", "order_by", "output"},
          &parse};
}

}  // namespace shardflow::pipeline
