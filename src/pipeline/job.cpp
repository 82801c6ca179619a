#include "shardflow/pipeline/job.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>

#include "shardflow/common/fingerprint.hpp"

namespace shardflow::pipeline {

std::string Job::fingerprint() const {
  // The version tag changes whenever the canonical form changes meaning, so fingerprints of
  // different canonical formats can never collide.
  return Fingerprint().add(std::string_view("shardflow-job-v1")).add(canonical_yaml).hex();
}

namespace {

void emit_strings(YAML::Emitter& out, const std::vector<std::string>& values) {
  out << YAML::Flow << YAML::BeginSeq;
  for (const auto& v : values)
    out << v;
  out << YAML::EndSeq;
}

void emit_train(YAML::Emitter& out, const TrainSpec& t) {
  out << YAML::BeginMap;
  out << YAML::Key << "input" << YAML::Value << t.input;
  out << YAML::Key << "label" << YAML::Value << t.label;
  out << YAML::Key << "features" << YAML::Value << YAML::BeginMap << YAML::Key << "numeric"
      << YAML::Value;
  emit_strings(out, t.numeric_features);
  // Written only when present, so that jobs without categorical features keep their canonical
  // text.
  if (!t.categorical_features.empty()) {
    out << YAML::Key << "categorical" << YAML::Value;
    emit_strings(out, t.categorical_features);
  }
  // Likewise only when not the default float64.
  if (t.matrix_type != ml::MatrixType::kFloat64)
    out << YAML::Key << "dtype" << YAML::Value << ml::to_string(t.matrix_type);
  out << YAML::EndMap;
  // The transforms, the model and the optimizer are registry entries; each emits its own map.
  out << YAML::Key << "transforms" << YAML::Value << YAML::Flow << YAML::BeginSeq;
  for (const auto& transform : t.transforms) {
    out << YAML::Flow;
    transform->emit(out);
  }
  out << YAML::EndSeq;
  out << YAML::Key << "model" << YAML::Value << YAML::Flow;
  t.model->emit(out);
  out << YAML::Key << "optimizer" << YAML::Value << YAML::Flow;
  t.optimizer->emit(out);
  out << YAML::Key << "checkpoint" << YAML::Value << YAML::Flow << YAML::BeginMap;
  out << YAML::Key << "every_steps" << YAML::Value << t.checkpoint_every_steps;
  out << YAML::Key << "keep" << YAML::Value << t.checkpoint_keep;
  out << YAML::EndMap;
  // Written only when set, so that jobs without it keep their training fingerprint.
  if (t.class_weight == TrainSpec::ClassWeight::kBalanced) {
    out << YAML::Key << "class_weight" << YAML::Value << "balanced";
  } else if (t.class_weight == TrainSpec::ClassWeight::kGiven) {
    out << YAML::Key << "class_weight" << YAML::Value << YAML::Flow << YAML::BeginMap;
    for (const auto& [label, weight] : t.class_weights)
      out << YAML::Key << canonical_number(label) << YAML::Value << canonical_number(weight);
    out << YAML::EndMap;
  }
  if (t.early_stopping) {
    const EarlyStoppingSpec& e = *t.early_stopping;
    out << YAML::Key << "early_stopping" << YAML::Value << YAML::Flow << YAML::BeginMap << YAML::Key
        << "input" << YAML::Value << e.input << YAML::Key << "metric" << YAML::Value << e.metric
        << YAML::Key << "patience" << YAML::Value << e.patience << YAML::Key << "min_delta"
        << YAML::Value << canonical_number(e.min_delta) << YAML::EndMap;
  }
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
  for (const auto& in : job.inputs) {
    out << YAML::Key << in->name << YAML::Value;
    in->emit(out);
  }
  out << YAML::EndMap;

  out << YAML::Key << "steps" << YAML::Value;
  if (job.steps.empty()) out << YAML::Flow;
  out << YAML::BeginSeq;
  for (const auto& step : job.steps)
    step->emit(out);
  out << YAML::EndSeq;

  out << YAML::Key << "outputs" << YAML::Value;
  if (job.outputs.empty()) out << YAML::Flow;
  out << YAML::BeginSeq;
  for (const auto& o : job.outputs) {
    out << YAML::BeginMap;
    out << YAML::Key << "table" << YAML::Value << o.table;
    out << YAML::Key << "path" << YAML::Value << o.path;
    out << YAML::Key << "format" << YAML::Value << o.format;
    if (o.allow_outside_workdir) out << YAML::Key << "allow_outside_workdir" << YAML::Value << true;
    if (!o.partition_by.empty())
      out << YAML::Key << "partition_by" << YAML::Value << YAML::Flow << o.partition_by;
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

  if (job.track) {
    out << YAML::Key << "track" << YAML::Value << YAML::BeginMap;
    out << YAML::Key << "store" << YAML::Value << job.track->store;
    out << YAML::Key << "experiment" << YAML::Value << job.track->experiment;
    out << YAML::Key << "run_name" << YAML::Value << job.track->run_name;
    out << YAML::EndMap;
  }

  if (job.registration) {
    const RegisterSpec& reg = *job.registration;
    out << YAML::Key << "register" << YAML::Value << YAML::BeginMap;
    out << YAML::Key << "model" << YAML::Value << reg.model;
    out << YAML::Key << "metric" << YAML::Value << reg.metric;
    out << YAML::Key << "mode" << YAML::Value << (reg.higher_is_better ? "max" : "min");
    out << YAML::Key << "alias" << YAML::Value << reg.alias;
    out << YAML::EndMap;
  }

  const RuntimeSpec& r = job.runtime;
  out << YAML::Key << "runtime" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "shuffle_round_bytes" << YAML::Value << r.shuffle_round_bytes;
  out << YAML::Key << "hdf5_chunk_rows" << YAML::Value << r.hdf5_chunk_rows;
  out << YAML::Key << "max_dictionary_size" << YAML::Value << r.max_dictionary_size;
  out << YAML::Key << "log_level" << YAML::Value << r.log_level;
  out << YAML::Key << "log_all_ranks" << YAML::Value << r.log_all_ranks;
  out << YAML::Key << "cache_keep" << YAML::Value << r.cache_keep;
  out << YAML::Key << "table_liveness" << YAML::Value << r.table_liveness;
  out << YAML::Key << "broadcast_max_bytes" << YAML::Value << r.broadcast_max_bytes;
  out << YAML::Key << "keep_freed_memory" << YAML::Value << r.keep_freed_memory;
  out << YAML::Key << "huge_pages";
  if (r.huge_pages && r.huge_page_min_bytes != static_cast<idx_t>(kDefaultHugePageBufferBytes))
    out << YAML::Value << r.huge_page_min_bytes;  // the size form, which reads back the same
  else
    out << YAML::Value << r.huge_pages;
  out << YAML::EndMap;

  out << YAML::EndMap;
  if (!out.good()) {
    throw RuntimeError("cannot emit the canonical YAML of job '{}': {}", job.name,
                       out.GetLastError());
  }
  return std::string(out.c_str()) + "\n";
}

ml::FeaturePipeline feature_pipeline_of(const TrainSpec& train) {
  std::vector<ml::FeatureTransform> transforms;
  for (const auto& t : train.transforms)
    transforms.push_back(t->settings);
  return ml::FeaturePipeline(train.numeric_features, train.categorical_features,
                             std::move(transforms),
                             train.fields.of("features", train.location).to_string());
}

}  // namespace shardflow::pipeline
