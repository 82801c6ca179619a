#include "shardflow/pipeline/job_validator.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <set>

#include "shardflow/common/error.hpp"
#include "shardflow/common/suggest.hpp"
#include "shardflow/io/csv_reader.hpp"
#include "shardflow/io/file_glob.hpp"
#include "shardflow/io/hdf5_table.hpp"
#include "shardflow/io/synthetic_schema.hpp"
#include "shardflow/ops/expression.hpp"
#include "shardflow/ops/group_by.hpp"

namespace shardflow::pipeline {

using table::DataType;

table::Schema TableShape::schema() const {
  std::vector<table::Field> fields;
  fields.reserve(columns.size());
  for (const auto& c : columns)
    fields.push_back({c.name, c.type.value_or(DataType::kString)});
  return table::Schema(std::move(fields));
}

std::string TableShape::to_string() const {
  std::string out;
  for (size_t i = 0; i < columns.size(); ++i) {
    if (i) out += ", ";
    out += columns[i].name;
    out += ':';
    out += columns[i].type ? std::string(table::to_string(*columns[i].type)) : std::string("?");
  }
  return out;
}

const std::vector<std::string>& known_metric_names() {
  static const std::vector<std::string> names = {"auc", "logloss", "accuracy"};
  return names;
}

namespace {

std::string step_label(const Job& job, std::size_t i) {
  return fmt::format("step {} ({})", i + 1, job.steps[i].op);
}

std::string list_names(const std::vector<std::string>& names) {
  return fmt::format("{}", fmt::join(names, ", "));
}

std::vector<std::string> column_names(const TableShape& t) {
  std::vector<std::string> out;
  for (const auto& c : t.columns)
    out.push_back(c.name);
  return out;
}

const ColumnShape* find_column(const TableShape& t, std::string_view name) {
  for (const auto& c : t.columns) {
    if (c.name == name) return &c;
  }
  return nullptr;
}

// "feature 'x' is not a column of table 't'; did you mean 'y'? (columns: ...)"
std::string not_a_column(std::string_view role, std::string_view name, const TableShape& t) {
  const auto names = column_names(t);
  return fmt::format("{} '{}' is not a column of table '{}'{} (columns: {})", role, name, t.name,
                     did_you_mean(name, names), list_names(names));
}

// "unknown column 'x' in table 't'; did you mean 'y'? (columns: ...)"
std::string unknown_column(const TableShape& t, std::string_view name) {
  const auto names = column_names(t);
  return fmt::format("unknown column '{}' in table '{}'{} (columns: {})", name, t.name,
                     did_you_mean(name, names), list_names(names));
}

// ============================================================================================
// 1. The table graph
// ============================================================================================

void check_table_graph(const Job& job) {
  // name -> who produces it, in production order
  std::vector<std::pair<std::string, std::string>> produced;
  auto producer = [&](std::string_view name) -> const std::string* {
    for (const auto& [n, who] : produced) {
      if (n == name) return &who;
    }
    return nullptr;
  };
  auto produced_names = [&] {
    std::vector<std::string> names;
    for (const auto& p : produced)
      names.push_back(p.first);
    return names;
  };
  for (const auto& in : job.inputs)
    produced.emplace_back(in.name, fmt::format("input '{}'", in.name));

  for (size_t i = 0; i < job.steps.size(); ++i) {
    const StepSpec& step = job.steps[i];
    if (!producer(step.input)) {
      std::string later;
      for (size_t j = i + 1; j < job.steps.size(); ++j) {
        if (job.steps[j].output == step.input) {
          later = fmt::format(" (it is produced by {}, which runs later; steps run in order)",
                              step_label(job, j));
          break;
        }
      }
      throw ConfigError("{}: {} reads table '{}' which no input or earlier step produces{}{}",
                        step.fields.of("input", step.location).to_string(), step_label(job, i),
                        step.input, did_you_mean(step.input, produced_names()), later);
    }
    if (const std::string* who = producer(step.output)) {
      throw ConfigError("{}: {} writes table '{}', which {} already produces; give it a new name",
                        step.fields.of("output", step.location).to_string(), step_label(job, i),
                        step.output, *who);
    }
    produced.emplace_back(step.output, step_label(job, i));
  }

  auto require_table = [&](const std::string& name, const SourceLocation& at,
                           std::string_view what) {
    if (producer(name)) return;
    throw ConfigError("{}: {} table '{}' is not produced by any input or step{}", at.to_string(),
                      what, name, did_you_mean(name, produced_names()));
  };
  for (size_t i = 0; i < job.outputs.size(); ++i) {
    const OutputSpec& out = job.outputs[i];
    require_table(out.table, out.fields.of("table", out.location), fmt::format("output {}", i + 1));
    for (size_t j = 0; j < i; ++j) {
      if (job.outputs[j].path == out.path) {
        throw ConfigError("{}: outputs {} and {} both write '{}'; give them different paths",
                          out.fields.of("path", out.location).to_string(), j + 1, i + 1, out.path);
      }
    }
  }
  if (job.train) {
    require_table(job.train->input, job.train->fields.of("input", job.train->location),
                  "the train input");
  }
  if (job.evaluate) {
    const EvaluateSpec& e = *job.evaluate;
    require_table(e.input, e.fields.of("input", e.location), "the evaluate input");
    for (const auto& metric : e.metrics) {
      const auto& known = known_metric_names();
      if (std::find(known.begin(), known.end(), metric) == known.end()) {
        throw ConfigError("{}: unknown metric '{}' in evaluate.metrics{} (metrics: {})",
                          e.fields.of("metrics", e.location).to_string(), metric,
                          did_you_mean(metric, known), list_names(known));
      }
    }
  }
}

// ============================================================================================
// 2. Inputs
// ============================================================================================

[[noreturn]] void rethrow_for_input(const InputSpec& in, const Error& e) {
  throw_error(e.kind(),
              fmt::format("{}: input '{}': {}", in.location.to_string(), in.name, e.what()));
}

TableShape csv_shape(const InputSpec& in) {
  TableShape t;
  io::CsvOptions options = csv_options(in, RuntimeSpec{});
  std::vector<std::string> header;
  try {
    options.paths = io::expand_paths(in.paths);
    if (in.header) header = io::read_csv_header(options);
  } catch (const Error& e) {
    rethrow_for_input(in, e);
  }
  if (in.schema) {
    // The reader matches schema columns to header columns by name and returns the schema's order.
    for (const auto& field : in.schema->fields()) {
      if (in.header && std::find(header.begin(), header.end(), field.name) == header.end()) {
        throw InputError(
            "{}: input '{}': schema column '{}' is not in the header of '{}'{} (header: {})",
            in.fields.of("schema." + field.name, in.fields.of("schema", in.location)).to_string(),
            in.name, field.name, options.paths.front(), did_you_mean(field.name, header),
            list_names(header));
      }
      t.columns.push_back({field.name, field.type});
    }
  } else {
    for (const auto& name : header)
      t.columns.push_back({name, std::nullopt});
  }
  return t;
}

TableShape hdf5_shape(const InputSpec& in) {
  const std::string& path = in.paths.at(0);
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    throw InputError("{}: input '{}': HDF5 file '{}' does not exist",
                     in.fields.of("path", in.location).to_string(), in.name, path);
  }
  std::vector<io::Hdf5TableInfo> tables;
  try {
    tables = io::list_tables(path);
  } catch (const Error& e) {
    rethrow_for_input(in, e);
  }
  std::vector<std::string> names;
  for (const auto& info : tables) {
    if (info.name != in.hdf5_table) {
      names.push_back(info.name);
      continue;
    }
    if (!info.complete) {
      throw InputError(
          "{}: input '{}': table '{}' in '{}' is incomplete (its writer was "
          "interrupted); rerun the job that writes it",
          in.location.to_string(), in.name, in.hdf5_table, path);
    }
    TableShape t;
    for (const auto& field : info.schema.fields())
      t.columns.push_back({field.name, field.type});
    return t;
  }
  throw InputError("{}: input '{}': '{}' has no table '{}'{} (tables: {})",
                   in.fields.of("table", in.location).to_string(), in.name, path, in.hdf5_table,
                   did_you_mean(in.hdf5_table, names),
                   names.empty() ? std::string("none") : list_names(names));
}

TableShape input_shape(const InputSpec& in) {
  TableShape t;
  if (in.format == "csv") {
    t = csv_shape(in);
  } else if (in.format == "hdf5") {
    t = hdf5_shape(in);
  } else {
    table::Schema schema;
    try {
      schema = io::synthetic_schema(in.generate_kind);
    } catch (const Error& e) {
      rethrow_for_input(in, e);
    }
    for (const auto& field : schema.fields())
      t.columns.push_back({field.name, field.type});
  }
  t.name = in.name;
  t.produced_by = fmt::format("input '{}' ({})", in.name, in.format);
  return t;
}

// ============================================================================================
// 3. Schemas through the steps
// ============================================================================================

table::Schema with_types(const TableShape& t, DataType unknown_as) {
  std::vector<table::Field> fields;
  for (const auto& c : t.columns)
    fields.push_back({c.name, c.type.value_or(unknown_as)});
  return table::Schema(std::move(fields));
}

std::string not_a_condition(std::string_view where, std::string_view type) {
  return fmt::format("where must be a true/false condition, but '{}' is {}", where, type);
}

void check_filter(const Job& job, std::size_t i, const TableShape& input) {
  const StepSpec& step = job.steps[i];
  const SourceLocation& at = step.fields.of("where", step.location);
  auto error = [&](const std::string& message) {
    return ConfigError("{}: {}: {}", at.to_string(), step_label(job, i), message);
  };
  std::optional<ops::Expression> expr;
  try {
    expr = ops::Expression::parse(step.where);
  } catch (const ConfigError& e) {
    throw error(e.what());
  }
  bool any_untyped = false;
  for (const auto& name : expr->referenced_columns()) {
    const ColumnShape* c = find_column(input, name);
    if (!c) throw error(unknown_column(input, name));
    if (!c->type) any_untyped = true;
  }
  if (!any_untyped) {
    DataType type = DataType::kBool;
    try {
      type = expr->result_type(with_types(input, DataType::kString));
    } catch (const ConfigError& e) {
      throw error(e.what());
    }
    if (type != DataType::kBool) throw error(not_a_condition(step.where, table::to_string(type)));
    return;
  }
  // The condition reads columns whose types are only known after reading (a CSV without a
  // schema), so only what holds for every typing can be reported. Try each column type the CSV
  // reader can infer, for all unknown columns at once: a typing that makes the condition boolean
  // means it may be fine; an identical error under every typing does not depend on the types; a
  // non-boolean result under every typing can never be a condition. Anything else is left to the
  // run, which knows the types.
  std::vector<std::string> errors;
  std::vector<DataType> results;
  for (DataType guess : {DataType::kFloat64, DataType::kInt64, DataType::kString, DataType::kBool,
                         DataType::kTimestamp}) {
    try {
      const DataType type = expr->result_type(with_types(input, guess));
      if (type == DataType::kBool) return;
      results.push_back(type);
    } catch (const ConfigError& e) {
      errors.emplace_back(e.what());
    }
  }
  if (errors.empty()) throw error(not_a_condition(step.where, "not boolean"));
  if (results.empty() &&
      std::all_of(errors.begin(), errors.end(), [&](const auto& e) { return e == errors[0]; })) {
    throw error(errors[0]);
  }
}

TableShape group_by_shape(const Job& job, std::size_t i, const TableShape& input) {
  const StepSpec& step = job.steps[i];
  auto error = [&](const SourceLocation& at, const std::string& message) {
    return ConfigError("{}: {}: {}", at.to_string(), step_label(job, i), message);
  };
  const SourceLocation& keys_at = step.fields.of("keys", step.location);
  const SourceLocation& aggs_at = step.fields.of("aggs", step.location);
  for (const auto& key : step.keys) {
    if (!find_column(input, key)) throw error(keys_at, not_a_column("key", key, input));
  }
  for (const auto& agg : step.aggs) {
    if (agg.column.empty()) continue;
    if (!find_column(input, agg.column)) {
      throw error(step.fields.of("aggs." + agg.column, aggs_at),
                  not_a_column("aggregated column", agg.column, input));
    }
    const std::string output = ops::output_name(agg);
    if (std::find(step.keys.begin(), step.keys.end(), output) != step.keys.end()) {
      throw error(step.fields.of("aggs." + agg.column, aggs_at),
                  fmt::format("aggregate column '{}' has the same name as a key column", output));
    }
  }
  for (const auto& agg : step.aggs) {
    if (agg.column.empty() &&
        std::find(step.keys.begin(), step.keys.end(), ops::output_name(agg)) != step.keys.end()) {
      throw error(step.fields.of("aggs.*", aggs_at),
                  fmt::format("aggregate column '{}' has the same name as a key column",
                              ops::output_name(agg)));
    }
  }
  // Unknown types are stood in for by float64, which every aggregate accepts; outputs that take
  // the input's type (keys, sum, min, max) stay unknown.
  table::Schema out;
  try {
    out = ops::group_by_output_schema(with_types(input, DataType::kFloat64), step.keys, step.aggs);
  } catch (const ConfigError& e) {
    throw error(aggs_at, e.what());
  }
  TableShape t;
  t.name = step.output;
  t.produced_by = step_label(job, i);
  for (const auto& field : out.fields())
    t.columns.push_back({field.name, field.type});
  for (size_t k = 0; k < step.keys.size() && k < t.columns.size(); ++k) {
    if (!find_column(input, step.keys[k])->type) t.columns[k].type.reset();
  }
  for (const auto& agg : step.aggs) {
    if (agg.column.empty() || find_column(input, agg.column)->type) continue;
    if (agg.kind == ops::AggKind::kSum || agg.kind == ops::AggKind::kMin ||
        agg.kind == ops::AggKind::kMax) {
      const std::string name = ops::output_name(agg);
      for (auto& c : t.columns) {
        if (c.name == name) c.type.reset();
      }
    }
  }
  return t;
}

// The train label and features must be numeric columns of `t`.
void check_model_columns(const TrainSpec& train, const TableShape& t, const SourceLocation& at,
                         std::string_view section) {
  auto check = [&](const std::string& column, std::string_view role, const SourceLocation& where) {
    const ColumnShape* c = find_column(t, column);
    if (!c) {
      throw ConfigError("{}: {}: {}", where.to_string(), section, not_a_column(role, column, t));
    }
    if (c->type && !table::is_numeric(*c->type)) {
      throw ConfigError("{}: {}: {} column '{}' of table '{}' is {}, but must be numeric",
                        where.to_string(), section, role, column, t.name,
                        table::to_string(*c->type));
    }
  };
  check(train.label, "label", section == "train" ? train.fields.of("label", at) : at);
  for (const auto& feature : train.numeric_features) {
    check(feature, "feature", section == "train" ? train.fields.of("features.numeric", at) : at);
  }
}

}  // namespace

std::vector<TableShape> validate_job_tables(const Job& job) {
  check_table_graph(job);

  std::vector<TableShape> tables;
  auto table_named = [&](const std::string& name) -> const TableShape& {
    for (const auto& t : tables) {
      if (t.name == name) return t;
    }
    throw RuntimeError("validate_job: table '{}' vanished after the graph check", name);
  };
  for (const auto& in : job.inputs)
    tables.push_back(input_shape(in));

  for (size_t i = 0; i < job.steps.size(); ++i) {
    const StepSpec& step = job.steps[i];
    const TableShape input = table_named(step.input);
    if (step.op == "filter") {
      check_filter(job, i, input);
      TableShape t = input;
      t.name = step.output;
      t.produced_by = step_label(job, i);
      tables.push_back(std::move(t));
    } else if (step.op == "group_by") {
      tables.push_back(group_by_shape(job, i, input));
    } else {
      throw ConfigError("{}: {}: unknown op '{}'", step.location.to_string(), step_label(job, i),
                        step.op);
    }
  }

  if (job.train) {
    const TrainSpec& train = *job.train;
    if (std::find(train.numeric_features.begin(), train.numeric_features.end(), train.label) !=
        train.numeric_features.end()) {
      throw ConfigError(
          "{}: train: the label '{}' is also listed as a feature; remove it from "
          "features",
          train.fields.of("features.numeric", train.location).to_string(), train.label);
    }
    check_model_columns(train, table_named(train.input), train.location, "train");
    if (job.evaluate) {
      check_model_columns(train, table_named(job.evaluate->input),
                          job.evaluate->fields.of("input", job.evaluate->location), "evaluate");
    }
  }
  return tables;
}

std::map<std::string, table::Schema> validate_job(const Job& job) {
  std::map<std::string, table::Schema> out;
  for (const auto& t : validate_job_tables(job))
    out[t.name] = t.schema();
  return out;
}

}  // namespace shardflow::pipeline
