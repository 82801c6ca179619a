// type: mlp — a multilayer perceptron (ml/mlp.hpp): dense hidden layers with ReLU or tanh, and an
// output layer for the task: regression (a numeric target), binary (a 0/1 label) or multiclass
// (a numeric class label; the classes are its values in the training data). Weights start from
// a Glorot-uniform draw that depends on the job's seed only.
//
//   model: {type: mlp, task: multiclass, hidden: [64, 32], activation: relu, l2: 1.0e-4}

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include "shardflow/ml/mlp.hpp"
#include "shardflow/pipeline/train_components.hpp"

namespace shardflow::pipeline {

namespace {

const std::vector<std::string> kKeys = {"type",       "task", "hidden",
                                        "activation", "l2",   "focal_gamma"};
const std::vector<std::string> kTasks = {"binary", "multiclass", "regression"};
const std::vector<std::string> kActivations = {"relu", "tanh"};

class MlpModelSpec final : public ModelSpec {
 public:
  ml::Task task_ = ml::Task::kBinary;
  std::vector<int> hidden = {100};  // scikit-learn's default hidden_layer_sizes
  ml::Activation activation = ml::Activation::kRelu;
  double l2 = 0.0;
  double focal_gamma = 0.0;

  void emit(YAML::Emitter& out) const override {
    out << YAML::BeginMap;
    out << YAML::Key << "type" << YAML::Value << "mlp";
    out << YAML::Key << "task" << YAML::Value << task_name(task_);
    out << YAML::Key << "hidden" << YAML::Value << YAML::Flow << hidden;
    out << YAML::Key << "activation" << YAML::Value << std::string(ml::to_string(activation));
    out << YAML::Key << "l2" << YAML::Value << canonical_number(l2);
    emit_focal_gamma(out, focal_gamma);
    out << YAML::EndMap;
  }
  ml::Task task() const override { return task_; }
  std::unique_ptr<ml::Model> build(int num_features, std::vector<double> classes) const override {
    return std::make_unique<ml::Mlp>(task_, num_features, hidden, activation, l2,
                                     std::move(classes), focal_gamma);
  }

  static std::string task_name(ml::Task task) {
    return task == ml::Task::kRegression ? "regression"
           : task == ml::Task::kBinary   ? "binary"
                                         : "multiclass";
  }
};

std::shared_ptr<ModelSpec> parse(const MapView& map) {
  map.allow_only(kKeys, " (an mlp model)");
  auto spec = std::make_shared<MlpModelSpec>();
  const ConfigNode* task = map.find("task");
  if (!task) {
    fail_at(map.location(),
            fmt::format("{} needs task: binary (a 0/1 label), multiclass (class labels) or "
                        "regression (a numeric target)",
                        map.path()));
  }
  const std::string t = to_choice(*task, map.path("task"), kTasks);
  spec->task_ = t == "regression" ? ml::Task::kRegression
                : t == "binary"   ? ml::Task::kBinary
                                  : ml::Task::kMulticlass;
  if (const ConfigNode* hidden = map.find("hidden")) {
    const ConfigNode& list = expect_sequence(*hidden, map.path("hidden"));
    if (list.items.empty()) {
      fail_at(hidden->location,
              fmt::format("{} must list at least one hidden layer's units, e.g. [32]",
                          map.path("hidden")));
    }
    spec->hidden.clear();
    for (size_t i = 0; i < list.items.size(); ++i) {
      spec->hidden.push_back(static_cast<int>(
          to_int(list.items[i], join_path(map.path("hidden"), std::to_string(i)), 1, 100000)));
    }
  }
  if (const ConfigNode* activation = map.find("activation")) {
    spec->activation = to_choice(*activation, map.path("activation"), kActivations) == "relu"
                           ? ml::Activation::kRelu
                           : ml::Activation::kTanh;
  }
  spec->l2 = read_l2(map);
  spec->focal_gamma = read_focal_gamma(map, spec->task_ == ml::Task::kBinary);
  return spec;
}

}  // namespace

ModelType mlp_model_type() {
  return {"mlp", "multilayer perceptron: dense ReLU or tanh layers, for any task", kKeys, &parse};
}

}  // namespace shardflow::pipeline
