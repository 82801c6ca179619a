#include "shardflow/pipeline/job_validator.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <set>

#include "shardflow/common/error.hpp"
#include "shardflow/common/suggest.hpp"
#include "shardflow/ml/metric.hpp"

namespace shardflow::pipeline {

using table::DataType;

namespace {

std::string step_label(const Job& job, std::size_t i) {
  return fmt::format("step {} ({})", i + 1, job.steps[i]->op);
}

// Whether `inner` names `dir` itself or a path below it (both relative to outputs/).
bool path_within(const std::string& inner, const std::string& dir) {
  auto parts = [](const std::string& p) {
    std::vector<std::string> out;
    for (const auto& part : std::filesystem::path(p).lexically_normal())
      if (!part.empty()) out.push_back(part.string());
    return out;
  };
  const auto a = parts(inner);
  const auto d = parts(dir);
  return a.size() >= d.size() && std::equal(d.begin(), d.end(), a.begin());
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
    produced.emplace_back(in->name, fmt::format("input '{}'", in->name));

  for (size_t i = 0; i < job.steps.size(); ++i) {
    const StepSpec& step = *job.steps[i];
    for (const auto& input : step.inputs) {
      if (producer(input.table)) continue;
      std::string later;
      for (size_t j = i + 1; j < job.steps.size() && later.empty(); ++j) {
        for (const auto& output : job.steps[j]->outputs) {
          if (output.table == input.table) {
            later = fmt::format(" (it is produced by {}, which runs later; steps run in order)",
                                step_label(job, j));
            break;
          }
        }
      }
      throw ConfigError("{}: {} reads table '{}' which no input or earlier step produces{}{}",
                        step.fields.of(input.role, step.location).to_string(), step_label(job, i),
                        input.table, did_you_mean(input.table, produced_names()), later);
    }
    for (const auto& output : step.outputs) {
      if (const std::string* who = producer(output.table)) {
        throw ConfigError("{}: {} writes table '{}', which {} already produces; give it a new name",
                          step.fields.of(output.role, step.location).to_string(),
                          step_label(job, i), output.table, *who);
      }
      produced.emplace_back(output.table, step_label(job, i));
    }
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
      // A partitioned output replaces its whole directory: nothing else may live inside it.
      const OutputSpec& other = job.outputs[j];
      for (const auto& [dir, inner] : {std::pair{&other, &out}, std::pair{&out, &other}}) {
        if (dir->partition_by.empty()) continue;
        if (path_within(inner->path, dir->path)) {
          throw ConfigError(
              "{}: outputs {} and {} overlap: '{}' is inside '{}', the directory that the "
              "partitioned output {} replaces as a whole; give them separate paths",
              out.fields.of("path", out.location).to_string(), j + 1, i + 1, inner->path, dir->path,
              dir == &out ? i + 1 : j + 1);
        }
      }
    }
  }
  if (job.train) {
    require_table(job.train->input, job.train->fields.of("input", job.train->location),
                  "the train input");
  }
  // A metric name that is not in the registry or not for the model's task, at `at` in `section`.
  const auto check_metric = [&](const std::string& metric, const SourceLocation& at,
                                std::string_view section) {
    const ml::Task task = job.train->model->task();
    if (!ml::find_metric(metric)) {
      // Suggest among the metrics that fit the model, list those.
      const auto known = ml::metric_names(task);
      throw ConfigError("{}: unknown metric '{}' in {}{} (metrics for {}: {})", at.to_string(),
                        metric, section, did_you_mean(metric, known), ml::to_string(task),
                        list_names(known));
    }
    const ml::Metric& m = *ml::find_metric(metric);
    if (!m.supports(task)) {
      std::vector<std::string> tasks;
      for (const ml::Task t : m.tasks)
        tasks.emplace_back(ml::to_string(t));
      throw ConfigError(
          "{}: metric '{}' is for {}, but the model (type {}) does {}; metrics for {}: {}",
          at.to_string(), metric, fmt::join(tasks, " and "), job.train->model->type,
          ml::to_string(task), ml::to_string(task), list_names(ml::metric_names(task)));
    }
  };
  if (job.train && job.train->early_stopping) {
    const EarlyStoppingSpec& e = *job.train->early_stopping;
    require_table(e.input, e.fields.of("input", e.location), "the early_stopping input");
    check_metric(e.metric, e.fields.of("metric", e.location), "train.early_stopping.metric");
  }
  if (job.evaluate) {
    const EvaluateSpec& e = *job.evaluate;
    require_table(e.input, e.fields.of("input", e.location), "the evaluate input");
    for (const auto& metric : e.metrics)
      check_metric(metric, e.fields.of("metrics", e.location), "evaluate.metrics");
  }
}

// The train label and numeric features must be numeric columns of `t`; the categorical features
// string, integer or bool columns.
void check_model_columns(const TrainSpec& train, const TableShape& t, const SourceLocation& at,
                         std::string_view section) {
  auto check = [&](const std::string& column, std::string_view role, const SourceLocation& where,
                   bool categorical) {
    const ColumnShape* c = t.find(column);
    if (!c)
      throw ConfigError("{}: {}: {}", where.to_string(), section, t.not_a_column(role, column));
    if (!c->type) return;
    const table::DataType type = *c->type;
    if (!categorical && !table::is_numeric(type)) {
      throw ConfigError(
          "{}: {}: {} column '{}' of table '{}' is {}, but must be numeric{}", where.to_string(),
          section, role, column, t.name, table::to_string(type),
          role == "feature" && type == table::DataType::kString
              ? fmt::format("; list it under features.categorical with an encoder such as "
                            "{{one_hot: [{}]}}",
                            column)
              : "");
    }
    const bool categorical_type = type == table::DataType::kString ||
                                  type == table::DataType::kInt32 ||
                                  type == table::DataType::kInt64 || type == table::DataType::kBool;
    if (categorical && !categorical_type) {
      throw ConfigError(
          "{}: {}: categorical feature column '{}' of table '{}' is {}, but must be a string, "
          "integer or bool column; list it under features.numeric",
          where.to_string(), section, column, t.name, table::to_string(type));
    }
  };
  const bool in_train = section == "train";
  check(train.label, "label", in_train ? train.fields.of("label", at) : at, false);
  for (const auto& feature : train.numeric_features)
    check(feature, "feature", in_train ? train.fields.of("features.numeric", at) : at, false);
  for (const auto& feature : train.categorical_features)
    check(feature, "categorical feature",
          in_train ? train.fields.of("features.categorical", at) : at, true);
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
  for (const auto& in : job.inputs) {
    TableShape t = in->bind();
    t.name = in->name;
    t.produced_by = fmt::format("input '{}' ({})", in->name, in->format);
    tables.push_back(std::move(t));
  }

  for (size_t i = 0; i < job.steps.size(); ++i) {
    const StepSpec& step = *job.steps[i];
    std::vector<TableShape> inputs;  // copies: `tables` grows below
    for (const auto& input : step.inputs)
      inputs.push_back(table_named(input.table));
    std::vector<const TableShape*> input_pointers;
    for (const auto& t : inputs)
      input_pointers.push_back(&t);
    std::vector<TableShape> outputs = step.bind(step_label(job, i), input_pointers);
    if (outputs.size() != step.outputs.size()) {
      throw RuntimeError("{}: op '{}' bound {} output tables but declares {}",
                         step.location.to_string(), step.op, outputs.size(), step.outputs.size());
    }
    for (size_t k = 0; k < outputs.size(); ++k) {
      outputs[k].name = step.outputs[k].table;
      outputs[k].produced_by = step_label(job, i);
      tables.push_back(std::move(outputs[k]));
    }
  }

  for (size_t i = 0; i < job.outputs.size(); ++i) {
    const OutputSpec& out = job.outputs[i];
    if (out.partition_by.empty()) continue;
    const TableShape& t = table_named(out.table);
    for (size_t k = 0; k < out.partition_by.size(); ++k) {
      const SourceLocation& at = out.fields.of(fmt::format("partition_by.{}", k),
                                               out.fields.of("partition_by", out.location));
      if (!t.find(out.partition_by[k])) {
        throw ConfigError("{}: output {}: {}", at.to_string(), i + 1,
                          t.not_a_column("partition_by column", out.partition_by[k]));
      }
    }
    if (out.partition_by.size() >= t.columns.size()) {
      throw ConfigError(
          "{}: output {}: partition_by lists every column of table '{}', so the part files would "
          "have no columns; leave at least one column out of partition_by",
          out.fields.of("partition_by", out.location).to_string(), i + 1, out.table);
    }
  }

  if (job.train) {
    const TrainSpec& train = *job.train;
    for (const auto* list : {&train.numeric_features, &train.categorical_features}) {
      if (std::find(list->begin(), list->end(), train.label) == list->end()) continue;
      throw ConfigError(
          "{}: train: the label '{}' is also listed as a feature; remove it from "
          "features",
          train.fields
              .of(list == &train.numeric_features ? "features.numeric" : "features.categorical",
                  train.location)
              .to_string(),
          train.label);
    }
    if (train.class_weight != TrainSpec::ClassWeight::kNone &&
        train.model->task() == ml::Task::kRegression) {
      throw ConfigError(
          "{}: train: class_weight applies to classification models, but the model (type {}) "
          "does regression; remove class_weight",
          train.fields.of("class_weight", train.location).to_string(), train.model->type);
    }
    check_model_columns(train, table_named(train.input), train.location, "train");
    if (train.early_stopping) {
      check_model_columns(train, table_named(train.early_stopping->input),
                          train.early_stopping->fields.of("input", train.early_stopping->location),
                          "early_stopping");
    }
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
