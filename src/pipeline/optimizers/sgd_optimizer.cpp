// type: sgd — mini-batch stochastic gradient descent with momentum over a reproducible gradient
// allreduce (ml/sgd_trainer.hpp).
//
//   optimizer: {type: sgd, lr: 0.1, batch_size: 1024, epochs: 5, momentum: 0.9}

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include "shardflow/pipeline/train_components.hpp"

namespace shardflow::pipeline {

namespace {

const std::vector<std::string> kKeys = {"type",   "lr",       "batch_size",
                                        "epochs", "momentum", "schedule"};

std::shared_ptr<OptimizerSpec> parse(const MapView& map) {
  map.allow_only(kKeys, " (an sgd optimizer)");
  auto sgd = std::make_shared<SgdOptimizerSpec>();
  if (const ConfigNode* lr = map.find("lr")) {
    sgd->learning_rate = to_double(*lr, map.path("lr"));
    if (sgd->learning_rate <= 0) {
      fail_at(lr->location,
              fmt::format("{} must be > 0, got {}", map.path("lr"), sgd->learning_rate));
    }
  }
  if (const ConfigNode* b = map.find("batch_size")) {
    sgd->batch_size = to_int(*b, map.path("batch_size"), 1);
  }
  if (const ConfigNode* e = map.find("epochs")) {
    sgd->epochs = static_cast<int>(to_int(*e, map.path("epochs"), 1, 1000000));
  }
  if (const ConfigNode* m = map.find("momentum")) {
    sgd->momentum = to_double(*m, map.path("momentum"));
    if (sgd->momentum < 0 || sgd->momentum >= 1) {
      fail_at(m->location,
              fmt::format("{} must be in [0, 1), got {}", map.path("momentum"), sgd->momentum));
    }
  }
  if (const ConfigNode* schedule = map.find("schedule")) {
    sgd->schedule = parse_schedule(*schedule, map.path("schedule"), sgd->learning_rate);
  }
  return sgd;
}

}  // namespace

void SgdOptimizerSpec::emit(YAML::Emitter& out) const {
  out << YAML::BeginMap;
  out << YAML::Key << "type" << YAML::Value << std::string(kType);
  out << YAML::Key << "lr" << YAML::Value << canonical_number(learning_rate);
  out << YAML::Key << "batch_size" << YAML::Value << batch_size;
  out << YAML::Key << "epochs" << YAML::Value << epochs;
  out << YAML::Key << "momentum" << YAML::Value << canonical_number(momentum);
  emit_schedule(out, schedule);
  out << YAML::EndMap;
}

ml::SgdOptions SgdOptimizerSpec::training_options() const {
  ml::SgdOptions o;
  o.optimizer = ml::OptimizerKind::kSgd;
  o.learning_rate = learning_rate;
  o.batch_size = batch_size;
  o.epochs = epochs;
  o.momentum = momentum;
  o.schedule = schedule;
  return o;
}

OptimizerType sgd_optimizer_type() {
  return {std::string(SgdOptimizerSpec::kType),
          "mini-batch SGD with momentum; gradients summed reproducibly across ranks", kKeys,
          &parse};
}

}  // namespace shardflow::pipeline
