#include "shardflow/pipeline/job.hpp"

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>

#include "shardflow/common/fingerprint.hpp"

namespace shardflow::pipeline {

std::string SourceLocation::to_string() const {
  if (line > 0) return fmt::format("{}:{}:{}", file, line, column);
  if (!file.empty()) return file;
  return "<unknown location>";
}

const SourceLocation& FieldLocations::of(std::string_view key,
                                         const SourceLocation& fallback) const {
  auto it = values.find(key);
  return it == values.end() ? fallback : it->second;
}

std::string Job::fingerprint() const {
  // The version tag changes whenever the canonical form changes meaning, so fingerprints of
  // different canonical formats can never collide.
  return Fingerprint().add(std::string_view("shardflow-job-v1")).add(canonical_yaml).hex();
}

namespace {

// Doubles are written in their shortest round-trip form so that 0.1, 0.10 and 1e-1 in the job file
// all give the same canonical text (and the same fingerprint).
std::string number(double value) {
  return fmt::format("{}", value);
}

void emit_strings(YAML::Emitter& out, const std::vector<std::string>& values) {
  out << YAML::Flow << YAML::BeginSeq;
  for (const auto& v : values)
    out << v;
  out << YAML::EndSeq;
}

void emit_input(YAML::Emitter& out, const InputSpec& in) {
  out << YAML::Key << in.name << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "format" << YAML::Value << in.format;
  if (in.format == "csv") {
    out << YAML::Key << "path" << YAML::Value;
    emit_strings(out, in.paths);
    if (in.schema) {
      out << YAML::Key << "schema" << YAML::Value << YAML::BeginMap;
      for (const auto& field : in.schema->fields())
        out << YAML::Key << field.name << YAML::Value << std::string(table::to_string(field.type));
      out << YAML::EndMap;
    }
    out << YAML::Key << "header" << YAML::Value << in.header;
    out << YAML::Key << "delimiter" << YAML::Value << YAML::DoubleQuoted
        << std::string(1, in.delimiter);
    out << YAML::Key << "bad_rows" << YAML::Value << std::string(io::to_string(in.bad_rows));
  } else if (in.format == "hdf5") {
    out << YAML::Key << "path" << YAML::Value << (in.paths.empty() ? std::string() : in.paths[0]);
    out << YAML::Key << "table" << YAML::Value << in.hdf5_table;
  } else if (in.format == "generate") {
    out << YAML::Key << "kind" << YAML::Value << in.generate_kind;
    out << YAML::Key << "rows" << YAML::Value << in.generate_rows;
  }
  out << YAML::EndMap;
}

void emit_step(YAML::Emitter& out, const StepSpec& step) {
  out << YAML::BeginMap;
  out << YAML::Key << "op" << YAML::Value << step.op;
  out << YAML::Key << "input" << YAML::Value << step.input;
  if (step.op == "filter") {
    out << YAML::Key << "where" << YAML::Value << step.where;
  } else if (step.op == "group_by") {
    out << YAML::Key << "keys" << YAML::Value;
    emit_strings(out, step.keys);
    // aggs were written as a map column -> functions; regroup by column in first-seen order.
    std::vector<std::pair<std::string, std::vector<std::string>>> by_column;
    for (const auto& agg : step.aggs) {
      // count(*) has an empty column and is written as "*".
      const std::string column = agg.column.empty() ? std::string("*") : agg.column;
      auto it = std::find_if(by_column.begin(), by_column.end(),
                             [&](const auto& entry) { return entry.first == column; });
      if (it == by_column.end()) it = by_column.insert(by_column.end(), {column, {}});
      it->second.emplace_back(ops::to_string(agg.kind));
    }
    out << YAML::Key << "aggs" << YAML::Value << YAML::BeginMap;
    for (const auto& [column, functions] : by_column) {
      out << YAML::Key << column << YAML::Value;
      emit_strings(out, functions);
    }
    out << YAML::EndMap;
  }
  out << YAML::Key << "output" << YAML::Value << step.output;
  out << YAML::EndMap;
}

void emit_train(YAML::Emitter& out, const TrainSpec& t) {
  out << YAML::BeginMap;
  out << YAML::Key << "input" << YAML::Value << t.input;
  out << YAML::Key << "label" << YAML::Value << t.label;
  out << YAML::Key << "features" << YAML::Value << YAML::BeginMap << YAML::Key << "numeric"
      << YAML::Value;
  emit_strings(out, t.numeric_features);
  out << YAML::EndMap;
  out << YAML::Key << "transforms" << YAML::Value << YAML::Flow << YAML::BeginSeq;
  if (t.standard_scale) {
    out << YAML::Flow << YAML::BeginMap << YAML::Key << "scale" << YAML::Value << "standard"
        << YAML::EndMap;
  }
  out << YAML::EndSeq;
  out << YAML::Key << "model" << YAML::Value << YAML::Flow << YAML::BeginMap;
  out << YAML::Key << "type" << YAML::Value << t.model_type;
  out << YAML::Key << "l2" << YAML::Value << number(t.l2);
  out << YAML::EndMap;
  out << YAML::Key << "optimizer" << YAML::Value << YAML::Flow << YAML::BeginMap;
  out << YAML::Key << "type" << YAML::Value << t.optimizer;
  out << YAML::Key << "lr" << YAML::Value << number(t.learning_rate);
  out << YAML::Key << "batch_size" << YAML::Value << t.batch_size;
  out << YAML::Key << "epochs" << YAML::Value << t.epochs;
  out << YAML::Key << "momentum" << YAML::Value << number(t.momentum);
  out << YAML::EndMap;
  out << YAML::Key << "checkpoint" << YAML::Value << YAML::Flow << YAML::BeginMap;
  out << YAML::Key << "every_steps" << YAML::Value << t.checkpoint_every_steps;
  out << YAML::Key << "keep" << YAML::Value << t.checkpoint_keep;
  out << YAML::EndMap;
  out << YAML::EndMap;
}

}  // namespace

std::string to_canonical_yaml(const Job& job) {
  YAML::Emitter out;
  out << YAML::BeginMap;
  out << YAML::Key << "name" << YAML::Value << job.name;
  out << YAML::Key << "seed" << YAML::Value << job.seed;
  out << YAML::Key << "workdir" << YAML::Value << job.workdir;

  out << YAML::Key << "inputs" << YAML::Value << YAML::BeginMap;
  for (const auto& in : job.inputs)
    emit_input(out, in);
  out << YAML::EndMap;

  out << YAML::Key << "steps" << YAML::Value;
  if (job.steps.empty()) out << YAML::Flow;
  out << YAML::BeginSeq;
  for (const auto& step : job.steps)
    emit_step(out, step);
  out << YAML::EndSeq;

  out << YAML::Key << "outputs" << YAML::Value;
  if (job.outputs.empty()) out << YAML::Flow;
  out << YAML::BeginSeq;
  for (const auto& o : job.outputs) {
    out << YAML::BeginMap;
    out << YAML::Key << "table" << YAML::Value << o.table;
    out << YAML::Key << "path" << YAML::Value << o.path;
    out << YAML::Key << "format" << YAML::Value << o.format;
    out << YAML::EndMap;
  }
  out << YAML::EndSeq;

  if (job.train) {
    out << YAML::Key << "train" << YAML::Value;
    emit_train(out, *job.train);
  }
  if (job.evaluate) {
    out << YAML::Key << "evaluate" << YAML::Value << YAML::BeginMap;
    out << YAML::Key << "input" << YAML::Value << job.evaluate->input;
    out << YAML::Key << "metrics" << YAML::Value;
    emit_strings(out, job.evaluate->metrics);
    out << YAML::EndMap;
  }

  const RuntimeSpec& r = job.runtime;
  out << YAML::Key << "runtime" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "shuffle_round_bytes" << YAML::Value << r.shuffle_round_bytes;
  out << YAML::Key << "hdf5_chunk_rows" << YAML::Value << r.hdf5_chunk_rows;
  out << YAML::Key << "max_dictionary_size" << YAML::Value << r.max_dictionary_size;
  out << YAML::Key << "log_level" << YAML::Value << r.log_level;
  out << YAML::Key << "log_all_ranks" << YAML::Value << r.log_all_ranks;
  out << YAML::EndMap;

  out << YAML::EndMap;
  if (!out.good()) {
    throw RuntimeError("cannot emit the canonical YAML of job '{}': {}", job.name,
                       out.GetLastError());
  }
  return std::string(out.c_str()) + "\n";
}

io::CsvOptions csv_options(const InputSpec& input, const RuntimeSpec& runtime) {
  io::CsvOptions options;
  options.paths = input.paths;
  options.schema = input.schema;
  options.header = input.header;
  options.delimiter = input.delimiter;
  options.bad_rows = input.bad_rows;
  options.input_name = input.name;
  options.max_dictionary_size = runtime.max_dictionary_size;
  return options;
}

}  // namespace shardflow::pipeline
