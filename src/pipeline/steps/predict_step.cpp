// op: predict — scores a table with a trained model: the model.h5 a training run wrote (it names
// its features, their scaling, the model type and, for a classifier, its classes). The output is
// the input's columns (all, or those listed under `keep`) followed by the prediction columns:
//   regression: prediction;  binary: prediction (0/1 at 0.5), probability;
//   multiclass: prediction (the most probable class), probability_<class> for each class.
// The model's features must be numeric columns of the input; no label is needed. The step's
// fingerprint covers the model file's content, so a retrained model reruns it.
//
//   - {op: predict, input: new_events, model: runs/quickstart/model.h5, keep: [id],
//      output: scored}

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>

#include "shardflow/common/error.hpp"
#include "shardflow/ml/scoring.hpp"
#include "shardflow/pipeline/saved_model.hpp"
#include "shardflow/pipeline/step.hpp"

namespace shardflow::pipeline {

namespace {

class PredictStep final : public StepSpec {
 public:
  std::string model;              // the model file
  bool keep_all = true;           // `keep` not written: every input column
  std::vector<std::string> keep;  // else these input columns, in this order

  void emit(YAML::Emitter& out) const override {
    out << YAML::BeginMap;
    emit_op_and_inputs(out, *this);
    out << YAML::Key << "model" << YAML::Value << model;
    if (!keep_all) out << YAML::Key << "keep" << YAML::Value << YAML::Flow << keep;
    emit_outputs(out, *this);
    out << YAML::EndMap;
  }

  std::vector<std::string> file_dependencies() const override { return {model}; }

  std::vector<TableShape> bind(const std::string& label,
                               const std::vector<const TableShape*>& inputs) const override {
    const TableShape& input = *inputs.at(0);
    const SourceLocation& model_at = fields.of("model", location);
    SavedModel saved;
    try {
      saved = read_saved_model(model);
    } catch (const Error& e) {
      throw ConfigError("{}: {}: {}", model_at.to_string(), label, e.what());
    }
    for (const auto& feature : saved.features) {
      const ColumnShape* c = input.find(feature);
      if (!c) {
        throw ConfigError("{}: {}: the model {} was trained on feature '{}', but {}",
                          model_at.to_string(), label, model, feature,
                          input.unknown_column(feature));
      }
      const auto& numeric = saved.pipeline.numeric();
      const bool is_numeric_feature =
          std::find(numeric.begin(), numeric.end(), feature) != numeric.end();
      if (c->type && is_numeric_feature && !table::is_numeric(*c->type)) {
        throw ConfigError(
            "{}: {}: feature '{}' of the model {} is a {} column of table '{}'; it "
            "must be numeric, as in training",
            model_at.to_string(), label, feature, model, table::to_string(*c->type), input.name);
      }
      if (c->type && !is_numeric_feature && !table::is_numeric(*c->type) &&
          *c->type != table::DataType::kString) {
        throw ConfigError(
            "{}: {}: categorical feature '{}' of the model {} is a {} column of table '{}'; it "
            "must be a string, integer or bool column, as in training",
            model_at.to_string(), label, feature, model, table::to_string(*c->type), input.name);
      }
    }
    TableShape out;
    for (const auto& name : kept(input.column_names())) {
      const ColumnShape* c = input.find(name);
      if (!c) {
        throw ConfigError("{}: {}: {}", fields.of("keep", location).to_string(), label,
                          input.not_a_column("kept column", name));
      }
      out.columns.push_back(*c);
    }
    for (const auto& p : prediction_columns(*saved.model)) {
      if (out.find(p.name)) {
        throw ConfigError(
            "{}: {}: the input already has a column '{}', which the predictions would replace; "
            "leave it out with keep: [...] or rename it with a select step first",
            location.to_string(), label, p.name);
      }
      out.columns.push_back({p.name, p.type});
    }
    return {out};
  }

  std::vector<table::Table> run(const StepContext& context,
                                const std::vector<const table::Table*>& inputs) const override {
    const table::Table& input = *inputs.at(0);
    return run_located(fields.of("model", location), context, [&] {
      const SavedModel saved = load_saved_model(context.comm, model);
      const Eigen::VectorXd outputs =
          ml::predict_table(context.comm, input, saved.pipeline, *saved.model, saved.weights);
      table::Table out;
      for (const auto& name : kept(input.schema().names()))
        out.add_column(name, input.column(name));
      std::vector<table::Column> predictions =
          prediction_values(*saved.model, outputs, input.num_rows());
      const auto names = prediction_columns(*saved.model);
      for (size_t i = 0; i < names.size(); ++i)
        out.add_column(names[i].name, std::move(predictions[i]));
      std::vector<table::Table> result;
      result.push_back(std::move(out));
      return result;
    });
  }

 private:
  std::vector<std::string> kept(const std::vector<std::string>& all) const {
    return keep_all ? all : keep;
  }
};

std::shared_ptr<StepSpec> parse(const MapView& map) {
  map.allow_only({"op", "input", "model", "keep", "output"}, " (a predict step)");
  auto step = std::make_shared<PredictStep>();
  step->model = to_nonempty_string(map.require("model"), map.path("model"));
  if (const ConfigNode* keep = map.find("keep")) {
    step->keep_all = false;
    step->keep = to_string_list(*keep, map.path("keep"), true);
    for (size_t i = 0; i < step->keep.size(); ++i) {
      if (std::count(step->keep.begin(), step->keep.end(), step->keep[i]) > 1) {
        fail_at(keep->location, fmt::format("{} lists '{}' twice; list each column once",
                                            map.path("keep"), step->keep[i]));
      }
    }
  }
  read_input_table(map, "input", *step);
  read_output_table(map, "output", *step);
  return step;
}

}  // namespace

StepType predict_step_type() {
  return {"predict",
          "scores a table with a trained model file (model.h5): prediction and probability "
          "columns",
          {"op", "input", "model", "keep", "output"},
          &parse};
}

}  // namespace shardflow::pipeline
