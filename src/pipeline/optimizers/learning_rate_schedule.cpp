// `schedule:` under train.optimizer, for every optimizer type: how the learning rate moves over
// the steps (ml/optimizer.hpp, LearningRateSchedule).
//
//   optimizer: {type: adam, lr: 0.001, schedule: {type: cosine, warmup_steps: 100, min_lr: 0}}
//   optimizer: {type: sgd, lr: 0.1, schedule: {type: step, every_steps: 1000, factor: 0.5}}

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include "shardflow/pipeline/train_components.hpp"

namespace shardflow::pipeline {

ml::LearningRateSchedule parse_schedule(const ConfigNode& node, const std::string& path,
                                        double learning_rate) {
  const MapView map(node, path);
  const std::string type =
      to_choice(map.require("type"), map.path("type"), {"constant", "step", "cosine"});
  ml::LearningRateSchedule s;
  if (type == "constant") {
    map.allow_only({"type", "warmup_steps"}, " (a constant schedule)");
  } else if (type == "step") {
    map.allow_only({"type", "warmup_steps", "every_steps", "factor"}, " (a step schedule)");
    s.kind = ml::LearningRateSchedule::Kind::kStep;
    s.every_steps = to_int(map.require("every_steps"), map.path("every_steps"), 1);
    if (const ConfigNode* f = map.find("factor")) {
      s.factor = to_double(*f, map.path("factor"));
      if (!(s.factor > 0 && s.factor <= 1)) {
        fail_at(f->location,
                fmt::format("{} must be in (0, 1], got {}", map.path("factor"), s.factor));
      }
    }
  } else {
    map.allow_only({"type", "warmup_steps", "min_lr"}, " (a cosine schedule)");
    s.kind = ml::LearningRateSchedule::Kind::kCosine;
    if (const ConfigNode* m = map.find("min_lr")) {
      s.min_lr = to_double(*m, map.path("min_lr"));
      if (!(s.min_lr >= 0 && s.min_lr <= learning_rate)) {
        fail_at(m->location, fmt::format("{} must be in [0, lr = {}], got {}", map.path("min_lr"),
                                         canonical_number(learning_rate), s.min_lr));
      }
    }
  }
  if (const ConfigNode* w = map.find("warmup_steps")) {
    s.warmup_steps = to_int(*w, map.path("warmup_steps"), 0);
  }
  return s;
}

void emit_schedule(YAML::Emitter& out, const ml::LearningRateSchedule& s) {
  // The default (constant, no warm-up) is not written: the canonical text, and so the training
  // fingerprint that checkpoints are matched by, stays what it was before schedules existed.
  if (s.kind == ml::LearningRateSchedule::Kind::kConstant && s.warmup_steps == 0) return;
  out << YAML::Key << "schedule" << YAML::Value << YAML::Flow << YAML::BeginMap;
  out << YAML::Key << "type" << YAML::Value << ml::to_string(s.kind);
  out << YAML::Key << "warmup_steps" << YAML::Value << s.warmup_steps;
  if (s.kind == ml::LearningRateSchedule::Kind::kStep) {
    out << YAML::Key << "every_steps" << YAML::Value << s.every_steps;
    out << YAML::Key << "factor" << YAML::Value << canonical_number(s.factor);
  } else if (s.kind == ml::LearningRateSchedule::Kind::kCosine) {
    out << YAML::Key << "min_lr" << YAML::Value << canonical_number(s.min_lr);
  }
  out << YAML::EndMap;
}

}  // namespace shardflow::pipeline
