// op: split — a table into several by random fractions (optionally stratified) or by time
// cutoffs (ops::random_split, ops::split_by_time).
//
//   - {op: split, input: t, fractions: {train: 0.8, test: 0.2}, stratify_by: label, seed: 7}
//   - {op: split, input: t, by_time: ts, cutoffs: {train: '2024-06-01', valid: '2024-07-01'},
//      rest: test}
//
// fractions: output table -> fraction in (0, 1], in the order written, sum at most 1 (the rest of
// the rows is dropped). Every stratum of n rows (the whole table without stratify_by) gives each
// output exactly its largest-remainder share of n, chosen by (seed, global row index): the same
// tables at any rank count. seed defaults to the job's seed.
// by_time: a timestamp or numeric column; cutoffs: output table -> cutoff, ascending; rows with a
// time below the first cutoff go to the first output, and so on; `rest` (optional) gets the rows
// at or after the last cutoff and those with a null (or NaN) time; without it they are dropped.
// Cutoffs are typed by the column: '2024-06-01' or '2024-06-01T12:00:00' (UTC, the CSV reader's
// timestamp syntax) for timestamps, numbers for numeric columns.
// Every output keeps the input's row order (and its rows on their ranks).

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <optional>

#include "shardflow/common/error.hpp"
#include "shardflow/io/csv_scanner.hpp"
#include "shardflow/ops/sampling.hpp"
#include "shardflow/pipeline/job.hpp"
#include "shardflow/pipeline/step.hpp"

namespace shardflow::pipeline {

namespace {

using table::DataType;

const std::vector<std::string> kKeys = {"op",   "input",   "fractions", "stratify_by",
                                        "seed", "by_time", "cutoffs",   "rest"};

// A cutoff literal as the column of type `type` reads it, or nullopt if it does not parse.
std::optional<ops::TimeCutoff> typed_cutoff(const std::string& text, DataType type) {
  if (type == DataType::kTimestamp) {
    std::int64_t micros = 0;
    if (io::csv::parse_timestamp(text, micros)) return ops::TimeCutoff(micros);
    return std::nullopt;
  }
  std::string_view t = text;
  if (!t.empty() && t[0] == '+') t.remove_prefix(1);
  if (type == DataType::kInt32 || type == DataType::kInt64) {
    std::int64_t v = 0;
    auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
    if (ec == std::errc() && end == t.data() + t.size() && !t.empty()) return ops::TimeCutoff(v);
  }
  if (type == DataType::kInt32 || type == DataType::kInt64 || type == DataType::kFloat32 ||
      type == DataType::kFloat64) {
    double v = 0;
    auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
    if (ec == std::errc() && end == t.data() + t.size() && !t.empty() && std::isfinite(v))
      return ops::TimeCutoff(v);
  }
  return std::nullopt;
}

bool is_time_type(DataType type) {
  return type == DataType::kTimestamp || type == DataType::kInt32 || type == DataType::kInt64 ||
         type == DataType::kFloat32 || type == DataType::kFloat64;
}

class SplitStep final : public StepSpec {
 public:
  // By fractions (outputs in fractions' order).
  std::vector<double> fractions;
  std::vector<std::string> stratify_by;
  std::optional<std::uint64_t> seed;
  // By time (outputs: one per cutoff, then `rest` if given).
  std::optional<std::string> by_time;
  std::vector<std::string> cutoffs;  // the literals as written
  bool has_rest = false;

  void emit(YAML::Emitter& out) const override {
    out << YAML::BeginMap;
    emit_op_and_inputs(out, *this);
    if (by_time) {
      out << YAML::Key << "by_time" << YAML::Value << *by_time;
      out << YAML::Key << "cutoffs" << YAML::Value << YAML::Flow << YAML::BeginMap;
      for (size_t k = 0; k < cutoffs.size(); ++k)
        out << YAML::Key << outputs[k].table << YAML::Value << YAML::DoubleQuoted << cutoffs[k];
      out << YAML::EndMap;
      if (has_rest) out << YAML::Key << "rest" << YAML::Value << outputs.back().table;
    } else {
      out << YAML::Key << "fractions" << YAML::Value << YAML::Flow << YAML::BeginMap;
      for (size_t k = 0; k < fractions.size(); ++k)
        out << YAML::Key << outputs[k].table << YAML::Value << canonical_number(fractions[k]);
      out << YAML::EndMap;
      out << YAML::Key << "stratify_by" << YAML::Value << YAML::Flow << stratify_by;
      if (seed) out << YAML::Key << "seed" << YAML::Value << *seed;
    }
    out << YAML::EndMap;
  }

  bool uses_job_seed() const override { return !by_time && !seed; }

  std::vector<TableShape> bind(const std::string& label,
                               const std::vector<const TableShape*>& inputs) const override {
    const TableShape& input = *inputs.at(0);
    auto error = [&](const SourceLocation& at, const std::string& message) {
      return ConfigError("{}: {}: {}", at.to_string(), label, message);
    };
    if (by_time) {
      const SourceLocation& at = fields.of("by_time", location);
      const ColumnShape* c = input.find(*by_time);
      if (!c) throw error(at, input.not_a_column("by_time", *by_time));
      if (c->type && !is_time_type(*c->type)) {
        throw error(at, fmt::format("by_time column '{}' of table '{}' is {}, but must be a "
                                    "timestamp or a number",
                                    *by_time, input.name, table::to_string(*c->type)));
      }
      // Unknown type (a CSV input without schema): checked again when the data is read.
      if (c->type) typed_cutoffs(*c->type, label);
    } else {
      for (const auto& s : stratify_by) {
        if (!input.find(s))
          throw error(fields.of("stratify_by", location), input.not_a_column("stratify_by", s));
      }
    }
    return std::vector<TableShape>(outputs.size(), input);
  }

  std::vector<table::Table> run(const StepContext& context,
                                const std::vector<const table::Table*>& inputs) const override {
    const table::Table& input = *inputs.at(0);
    if (by_time) {
      std::vector<ops::TimeCutoff> typed;
      context.comm.agree([&] {
        const int index = input.schema().index_of(*by_time);  // bind checked it exists
        typed = typed_cutoffs(input.column(index).type(), context.label);
      });
      return run_located(fields.of("by_time", location), context, [&] {
        return ops::split_by_time(context.comm, input, *by_time, typed, has_rest);
      });
    }
    ops::SamplingOptions options;
    options.shuffle.round_bytes = context.runtime.shuffle_round_bytes;
    return run_located(fields.of("fractions", location), context, [&] {
      return ops::random_split(context.comm, input, fractions, stratify_by,
                               seed.value_or(context.seed), options);
    });
  }

 private:
  // The cutoffs typed by a by_time column of type `type`; throws ConfigError at the offending
  // cutoff (or at by_time for a type that has no cutoffs).
  std::vector<ops::TimeCutoff> typed_cutoffs(DataType type, const std::string& label) const {
    if (!is_time_type(type)) {
      throw ConfigError("{}: {}: by_time column '{}' is {}, but must be a timestamp or a number",
                        fields.of("by_time", location).to_string(), label, *by_time,
                        table::to_string(type));
    }
    std::vector<ops::TimeCutoff> typed;
    for (size_t k = 0; k < cutoffs.size(); ++k) {
      const SourceLocation& at = fields.of("cutoff." + outputs[k].table, location);
      auto value = typed_cutoff(cutoffs[k], type);
      if (!value) {
        throw ConfigError(
            "{}: {}: cutoff '{}' for {} column '{}' must be {}", at.to_string(), label, cutoffs[k],
            table::to_string(type), *by_time,
            type == DataType::kTimestamp
                ? "a date 'YYYY-MM-DD' or a time 'YYYY-MM-DDTHH:MM:SS[.ffffff]' (UTC)"
                : (type == DataType::kInt32 || type == DataType::kInt64 ? "a number"
                                                                        : "a finite number"));
      }
      if (k > 0) {
        const auto& previous = typed.back();
        const bool ascending =
            std::holds_alternative<std::int64_t>(*value) &&
                    std::holds_alternative<std::int64_t>(previous)
                ? std::get<std::int64_t>(previous) < std::get<std::int64_t>(*value)
                : std::visit([](auto v) { return static_cast<double>(v); }, previous) <
                      std::visit([](auto v) { return static_cast<double>(v); }, *value);
        if (!ascending) {
          throw ConfigError("{}: {}: cutoffs must be ascending, but '{}' ({}) is not above '{}'",
                            at.to_string(), label, cutoffs[k], outputs[k].table, cutoffs[k - 1]);
        }
      }
      typed.push_back(*value);
    }
    return typed;
  }
};

// Reads an output table named by a map key (the key's location is where the name was written).
void read_output_key(const ConfigNode& map, size_t i, const std::string& role_prefix,
                     const std::string& path, StepSpec& spec) {
  ConfigNode name;
  name.kind = ConfigNode::Kind::kScalar;
  name.scalar = map.keys[i];
  name.location = map.key_locations[i];
  const std::string role = role_prefix + "." + map.keys[i];
  spec.outputs.push_back({role, to_identifier(name, join_path(path, map.keys[i]), "table name"),
                          map.key_locations[i]});
  spec.fields.values[role] = map.key_locations[i];
}

const ConfigNode& require_map(const ConfigNode& node, const std::string& path,
                              std::string_view what) {
  if (!node.is_map() || node.keys.empty()) {
    fail_at(node.location,
            fmt::format("{} must be a map of {}, got {}", path, what, describe(node)));
  }
  return node;
}

std::shared_ptr<StepSpec> parse(const MapView& map) {
  map.allow_only(kKeys, " (a split step)");
  auto step = std::make_shared<SplitStep>();
  read_input_table(map, "input", *step);
  const ConfigNode* fractions = map.find("fractions");
  const ConfigNode* by_time = map.find("by_time");
  if ((fractions != nullptr) == (by_time != nullptr)) {
    fail_at(map.location(), fmt::format("{} (a split step) needs either fractions (a random "
                                        "split) or by_time and cutoffs (a split by time), {}",
                                        map.path(), fractions ? "not both" : "got neither"));
  }
  if (fractions) {
    for (const char* key : {"cutoffs", "rest"}) {
      if (const ConfigNode* other = map.find(key)) {
        fail_at(other->location,
                fmt::format("{} belongs to a split by time (by_time); a split by fractions has no "
                            "{}",
                            map.path(key), key));
      }
    }
    const std::string path = map.path("fractions");
    require_map(*fractions, path, "output table -> fraction, such as {train: 0.8, test: 0.2}");
    double sum = 0;
    for (size_t i = 0; i < fractions->keys.size(); ++i) {
      const std::string item = join_path(path, fractions->keys[i]);
      read_output_key(*fractions, i, "fractions", path, *step);
      const double f = to_double(fractions->items[i], item);
      if (!(f > 0.0 && f <= 1.0)) {
        fail_at(fractions->items[i].location, fmt::format("{} must be a fraction in (0, 1], got {}",
                                                          item, fractions->items[i].scalar));
      }
      step->fractions.push_back(f);
      sum += f;
    }
    if (sum > 1.0 + 1e-9) {
      fail_at(fractions->location,
              fmt::format("{} add up to {}, but may add up to at most 1 (below 1, the rest of "
                          "the rows is dropped)",
                          path, canonical_number(sum)));
    }
    if (const ConfigNode* s = map.find("stratify_by"))
      step->stratify_by = to_string_list(*s, map.path("stratify_by"), true);
    if (const ConfigNode* s = map.find("seed"))
      step->seed = static_cast<std::uint64_t>(to_int(*s, map.path("seed"), 0));
  } else {
    for (const char* key : {"stratify_by", "seed"}) {
      if (const ConfigNode* other = map.find(key)) {
        fail_at(other->location,
                fmt::format("{}: a split by time (by_time) is not random and has no {}",
                            map.path(key), key));
      }
    }
    step->by_time = to_nonempty_string(*by_time, map.path("by_time"));
    const std::string path = map.path("cutoffs");
    const ConfigNode& cutoffs = require_map(
        map.require("cutoffs"), path, "output table -> cutoff, such as {train: '2024-06-01'}");
    for (size_t i = 0; i < cutoffs.keys.size(); ++i) {
      const std::string item = join_path(path, cutoffs.keys[i]);
      read_output_key(cutoffs, i, "cutoffs", path, *step);
      const ConfigNode& value = cutoffs.items[i];
      if (value.kind != ConfigNode::Kind::kScalar) {
        fail_at(value.location,
                fmt::format("{} must be a time such as '2024-06-01' or a number, got {}", item,
                            describe(value)));
      }
      // The column's type decides (bind); here the literal must be some time or number.
      if (!typed_cutoff(value.scalar, DataType::kTimestamp) &&
          !typed_cutoff(value.scalar, DataType::kFloat64)) {
        fail_at(value.location,
                fmt::format("{} must be a time ('YYYY-MM-DD' or 'YYYY-MM-DDTHH:MM:SS', UTC) or a "
                            "number, got '{}'",
                            item, value.scalar));
      }
      step->cutoffs.push_back(value.scalar);
      step->fields.values["cutoff." + cutoffs.keys[i]] = value.location;
    }
    if (map.find("rest")) {
      read_output_table(map, "rest", *step);
      step->has_rest = true;
    }
  }
  // Output names must be distinct within the step (the validator checks them across steps).
  for (size_t i = 0; i < step->outputs.size(); ++i) {
    for (size_t j = 0; j < i; ++j) {
      if (step->outputs[i].table == step->outputs[j].table) {
        fail_at(step->outputs[i].location,
                fmt::format("{}: output table '{}' is named twice in this split step", map.path(),
                            step->outputs[i].table));
      }
    }
  }
  return step;
}

}  // namespace

StepType split_step_type() {
  return {"split", "a table into several: random fractions (exact per stratum) or time cutoffs",
          kKeys, &parse};
}

}  // namespace shardflow::pipeline
