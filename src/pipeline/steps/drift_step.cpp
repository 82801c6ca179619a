// op: drift — per-feature distribution drift of a current table against a reference table
// (ops/drift.hpp: PSI over the reference's quantile bins and the exact two-sample KS statistic),
// e.g. the training data against the newest scoring input.
//
//   - {op: drift, reference: train_set, current: new_events, features: [x1, x2], bins: 10,
//      psi_threshold: 0.2, ks_threshold: 0.1, output: drift}
//
// features: numeric (or timestamp) columns of both tables; default every numeric column the two
// share. The output has one row per feature (on rank 0): feature, reference_rows, current_rows,
// reference_missing, current_missing (null or NaN), psi, ks, drifted (psi > psi_threshold or
// ks > ks_threshold) and reason ("" or which thresholds it crossed). The same at any rank count.

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>
#include <yaml-cpp/yaml.h>

#include <functional>
#include <optional>

#include "shardflow/common/error.hpp"
#include "shardflow/ops/drift.hpp"
#include "shardflow/pipeline/job.hpp"
#include "shardflow/pipeline/step.hpp"

namespace shardflow::pipeline {

namespace {

using table::Column;
using table::DataType;

bool numeric_or_time(const std::optional<DataType>& type) {
  return type && (table::is_numeric(*type) || *type == DataType::kTimestamp);
}

class DriftStep final : public StepSpec {
 public:
  std::vector<std::string> features;  // empty: every numeric column of both
  int bins = 10;
  double psi_threshold = 0.2;
  double ks_threshold = 0.1;

  void emit(YAML::Emitter& out) const override {
    out << YAML::BeginMap;
    emit_op_and_inputs(out, *this);
    out << YAML::Key << "features" << YAML::Value << YAML::Flow << features;
    out << YAML::Key << "bins" << YAML::Value << bins;
    out << YAML::Key << "psi_threshold" << YAML::Value << psi_threshold;
    out << YAML::Key << "ks_threshold" << YAML::Value << ks_threshold;
    emit_outputs(out, *this);
    out << YAML::EndMap;
  }

  // The features compared: as written, or every numeric column both tables have (reference's
  // order).
  std::vector<std::string> resolved(
      const std::vector<std::string>& reference_numeric,
      const std::function<bool(const std::string&)>& in_current) const {
    if (!features.empty()) return features;
    std::vector<std::string> out;
    for (const auto& c : reference_numeric)
      if (in_current(c)) out.push_back(c);
    return out;
  }

  std::vector<TableShape> bind(const std::string& label,
                               const std::vector<const TableShape*>& shapes) const override {
    const TableShape& reference = *shapes.at(0);
    const TableShape& current = *shapes.at(1);
    const SourceLocation& features_at = fields.of("features", location);
    for (size_t i = 0; i < features.size(); ++i) {
      const SourceLocation at = fields.of(fmt::format("features.{}", i), features_at);
      for (const TableShape* t : {&reference, &current}) {
        const ColumnShape* c = t->find(features[i]);
        if (!c) {
          throw ConfigError("{}: {}: {}", at.to_string(), label,
                            t->not_a_column("drift feature", features[i]));
        }
        if (c->type && !numeric_or_time(c->type)) {
          throw ConfigError(
              "{}: {}: drift feature '{}' is a {} column of table '{}'; drift compares numeric "
              "or timestamp columns",
              at.to_string(), label, features[i], table::to_string(*c->type), t->name);
        }
      }
    }
    if (features.empty()) {
      std::vector<std::string> numeric;
      for (const auto& c : reference.columns)
        if (numeric_or_time(c.type)) numeric.push_back(c.name);
      const auto both = resolved(numeric, [&](const std::string& name) {
        const ColumnShape* c = current.find(name);
        return c && (!c->type || numeric_or_time(c->type));
      });
      // With unknown types (an untyped CSV) the features are only known at run time.
      bool all_known = true;
      for (const auto* t : {&reference, &current})
        for (const auto& c : t->columns)
          all_known = all_known && c.type.has_value();
      if (both.empty() && all_known) {
        throw ConfigError(
            "{}: {}: tables '{}' and '{}' share no numeric column to compare; name them with "
            "features: [...]",
            location.to_string(), label, reference.name, current.name);
      }
    }
    TableShape out;
    out.columns = {{"feature", DataType::kString},
                   {"reference_rows", DataType::kInt64},
                   {"current_rows", DataType::kInt64},
                   {"reference_missing", DataType::kInt64},
                   {"current_missing", DataType::kInt64},
                   {"psi", DataType::kFloat64},
                   {"ks", DataType::kFloat64},
                   {"drifted", DataType::kBool},
                   {"reason", DataType::kString}};
    return {out};
  }

  std::vector<table::Table> run(const StepContext& context,
                                const std::vector<const table::Table*>& tables) const override {
    const table::Table& reference = *tables.at(0);
    const table::Table& current = *tables.at(1);
    std::vector<std::string> names;
    context.comm.agree([&] {
      std::vector<std::string> numeric;
      for (const auto& f : reference.schema().fields())
        if (numeric_or_time(f.type)) numeric.push_back(f.name);
      names = resolved(numeric, [&](const std::string& name) {
        const std::optional<int> i = current.schema().find(name);
        return i && numeric_or_time(current.schema().field(*i).type);
      });
      if (names.empty()) {
        throw ConfigError(
            "{}: {}: the tables share no numeric column to compare; name them with features: "
            "[...]",
            location.to_string(), context.label);
      }
    });
    ops::SortOptions options;
    options.shuffle.round_bytes = context.runtime.shuffle_round_bytes;
    Column feature = Column::plain_strings(), reason = Column::plain_strings();
    Column ref_rows(DataType::kInt64), cur_rows(DataType::kInt64), ref_missing(DataType::kInt64),
        cur_missing(DataType::kInt64), psi(DataType::kFloat64), ks(DataType::kFloat64),
        drifted(DataType::kBool);
    for (const auto& name : names) {
      const ops::FeatureDrift d = run_located(fields.of("features", location), context, [&] {
        return ops::feature_drift(
            context.comm, name, reference.column(reference.schema().index_of(name, "drift")),
            current.column(current.schema().index_of(name, "drift")), bins, options);
      });
      std::string why;
      if (d.psi > psi_threshold) why = fmt::format("psi {:.4f} > {}", d.psi, psi_threshold);
      if (d.ks > ks_threshold)
        why += fmt::format("{}ks {:.4f} > {}", why.empty() ? "" : "; ", d.ks, ks_threshold);
      spdlog::info("{}: feature '{}': psi {:.4f}, ks {:.4f} ({} reference and {} current values){}",
                   context.label, name, d.psi, d.ks, d.reference_rows, d.current_rows,
                   why.empty() ? "" : ": DRIFTED (" + why + ")");
      if (!context.comm.is_root()) continue;
      feature.plain().push_back(name);
      reason.plain().push_back(why);
      ref_rows.values<std::int64_t>().push_back(d.reference_rows);
      cur_rows.values<std::int64_t>().push_back(d.current_rows);
      ref_missing.values<std::int64_t>().push_back(d.reference_missing);
      cur_missing.values<std::int64_t>().push_back(d.current_missing);
      psi.values<double>().push_back(d.psi);
      ks.values<double>().push_back(d.ks);
      drifted.values<std::uint8_t>().push_back(why.empty() ? 0 : 1);
    }
    table::Table out;
    out.add_column("feature", std::move(feature));
    out.add_column("reference_rows", std::move(ref_rows));
    out.add_column("current_rows", std::move(cur_rows));
    out.add_column("reference_missing", std::move(ref_missing));
    out.add_column("current_missing", std::move(cur_missing));
    out.add_column("psi", std::move(psi));
    out.add_column("ks", std::move(ks));
    out.add_column("drifted", std::move(drifted));
    out.add_column("reason", std::move(reason));
    std::vector<table::Table> result;
    result.push_back(std::move(out));
    return result;
  }
};

std::shared_ptr<StepSpec> parse(const MapView& map) {
  map.allow_only(
      {"op", "reference", "current", "features", "bins", "psi_threshold", "ks_threshold", "output"},
      " (a drift step)");
  auto step = std::make_shared<DriftStep>();
  read_input_table(map, "reference", *step);
  read_input_table(map, "current", *step);
  if (const ConfigNode* f = map.find("features")) {
    step->features = to_string_list(*f, map.path("features"), false);
    const auto& items = f->items;
    for (size_t i = 0; i < items.size(); ++i)
      step->fields.values[fmt::format("features.{}", i)] = items[i].location;
  }
  if (const ConfigNode* n = map.find("bins"))
    step->bins = static_cast<int>(to_int(*n, map.path("bins"), 2, 1000));
  for (const auto& [key, value] :
       {std::pair{"psi_threshold", &step->psi_threshold}, {"ks_threshold", &step->ks_threshold}}) {
    if (const ConfigNode* n = map.find(key)) {
      *value = to_double(*n, map.path(key));
      if (!(*value >= 0)) fail_at(n->location, fmt::format("{} must be 0 or more", map.path(key)));
    }
  }
  read_output_table(map, "output", *step);
  return step;
}

}  // namespace

StepType drift_step_type() {
  return {
      "drift",
      "per-feature drift of a table against a reference: PSI and the KS statistic, with a "
      "drifted flag",
      {"op", "reference", "current", "features", "bins", "psi_threshold", "ks_threshold", "output"},
      &parse};
}

}  // namespace shardflow::pipeline
