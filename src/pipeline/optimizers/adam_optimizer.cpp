// type: adam, adamw — Adam (Kingma & Ba) and AdamW (decoupled weight decay, Loshchilov & Hutter)
// over the same reproducible gradient allreduce as sgd (ml/optimizer.hpp).
//
//   optimizer: {type: adam, lr: 0.001, batch_size: 256, epochs: 5, beta1: 0.9, beta2: 0.999,
//               eps: 1.0e-8}
//   optimizer: {type: adamw, lr: 0.001, batch_size: 256, epochs: 5, weight_decay: 0.01}

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include "shardflow/pipeline/train_components.hpp"

namespace shardflow::pipeline {

namespace {

class AdamOptimizerSpec final : public OptimizerSpec {
 public:
  bool decoupled = false;  // adamw
  double learning_rate = 0.001;
  idx_t batch_size = 256;
  int epochs = 5;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double epsilon = 1e-8;
  double weight_decay = 0.01;  // adamw only; PyTorch's default
  ml::LearningRateSchedule schedule;

  void emit(YAML::Emitter& out) const override {
    out << YAML::BeginMap;
    out << YAML::Key << "type" << YAML::Value << (decoupled ? "adamw" : "adam");
    out << YAML::Key << "lr" << YAML::Value << canonical_number(learning_rate);
    out << YAML::Key << "batch_size" << YAML::Value << batch_size;
    out << YAML::Key << "epochs" << YAML::Value << epochs;
    out << YAML::Key << "beta1" << YAML::Value << canonical_number(beta1);
    out << YAML::Key << "beta2" << YAML::Value << canonical_number(beta2);
    out << YAML::Key << "eps" << YAML::Value << canonical_number(epsilon);
    if (decoupled) {
      out << YAML::Key << "weight_decay" << YAML::Value << canonical_number(weight_decay);
    }
    emit_schedule(out, schedule);
    out << YAML::EndMap;
  }

  ml::SgdOptions training_options() const override {
    ml::SgdOptions o;
    o.optimizer = decoupled ? ml::OptimizerKind::kAdamW : ml::OptimizerKind::kAdam;
    o.learning_rate = learning_rate;
    o.batch_size = batch_size;
    o.epochs = epochs;
    o.beta1 = beta1;
    o.beta2 = beta2;
    o.epsilon = epsilon;
    o.weight_decay = decoupled ? weight_decay : 0.0;
    o.schedule = schedule;
    return o;
  }
};

const std::vector<std::string> kAdamKeys = {"type",  "lr",    "batch_size", "epochs",
                                            "beta1", "beta2", "eps",        "schedule"};
const std::vector<std::string> kAdamWKeys = {"type",  "lr",  "batch_size",   "epochs",  "beta1",
                                             "beta2", "eps", "weight_decay", "schedule"};

double positive(const ConfigNode& node, const std::string& path) {
  const double v = to_double(node, path);
  if (!(v > 0)) fail_at(node.location, fmt::format("{} must be > 0, got {}", path, v));
  return v;
}

double unit_interval(const ConfigNode& node, const std::string& path) {
  const double v = to_double(node, path);
  if (!(v >= 0 && v < 1))
    fail_at(node.location, fmt::format("{} must be in [0, 1), got {}", path, v));
  return v;
}

std::shared_ptr<OptimizerSpec> parse_common(const MapView& map, bool decoupled) {
  if (const ConfigNode* wd = map.find("weight_decay"); wd != nullptr && !decoupled) {
    fail_at(wd->location,
            fmt::format("{} applies to adamw only (decoupled weight decay); use type: adamw, or "
                        "train.model.l2 for an L2 penalty with adam",
                        map.path("weight_decay")));
  }
  map.allow_only(decoupled ? kAdamWKeys : kAdamKeys,
                 decoupled ? " (an adamw optimizer)" : " (an adam optimizer)");
  auto adam = std::make_shared<AdamOptimizerSpec>();
  adam->decoupled = decoupled;
  if (const ConfigNode* lr = map.find("lr")) adam->learning_rate = positive(*lr, map.path("lr"));
  if (const ConfigNode* b = map.find("batch_size")) {
    adam->batch_size = to_int(*b, map.path("batch_size"), 1);
  }
  if (const ConfigNode* e = map.find("epochs")) {
    adam->epochs = static_cast<int>(to_int(*e, map.path("epochs"), 1, 1000000));
  }
  if (const ConfigNode* b1 = map.find("beta1")) adam->beta1 = unit_interval(*b1, map.path("beta1"));
  if (const ConfigNode* b2 = map.find("beta2")) adam->beta2 = unit_interval(*b2, map.path("beta2"));
  if (const ConfigNode* eps = map.find("eps")) adam->epsilon = positive(*eps, map.path("eps"));
  if (const ConfigNode* wd = map.find("weight_decay")) {
    adam->weight_decay = to_double(*wd, map.path("weight_decay"));
    if (!(adam->weight_decay >= 0)) {
      fail_at(wd->location,
              fmt::format("{} must be >= 0, got {}", map.path("weight_decay"), adam->weight_decay));
    }
  }
  if (const ConfigNode* schedule = map.find("schedule")) {
    adam->schedule = parse_schedule(*schedule, map.path("schedule"), adam->learning_rate);
  }
  return adam;
}

std::shared_ptr<OptimizerSpec> parse_adam(const MapView& map) {
  return parse_common(map, false);
}
std::shared_ptr<OptimizerSpec> parse_adamw(const MapView& map) {
  return parse_common(map, true);
}

}  // namespace

OptimizerType adam_optimizer_type() {
  return {"adam", "Adam (adaptive moments); gradients summed reproducibly across ranks", kAdamKeys,
          &parse_adam};
}

OptimizerType adamw_optimizer_type() {
  return {"adamw",
          "AdamW: Adam with decoupled weight decay of the coefficients (not the intercept)",
          kAdamWKeys, &parse_adamw};
}

}  // namespace shardflow::pipeline
