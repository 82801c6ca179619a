#include "shardflow/pipeline/saved_model.hpp"

#include <cmath>
#include <stdexcept>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "shardflow/ckpt/checkpoint_store.hpp"
#include "shardflow/common/error.hpp"
#include "shardflow/pipeline/config_node.hpp"
#include "shardflow/pipeline/job_loader.hpp"
#include "shardflow/pipeline/train_components.hpp"

namespace shardflow::pipeline {
namespace {

// A class value as a column-name suffix: "3" for 3.0, "2.5" for 2.5, "-1" for -1.0.
std::string class_name(double c) {
  if (std::nearbyint(c) == c && std::fabs(c) < 9.0e15) {
    return fmt::format("{}", static_cast<std::int64_t>(c));
  }
  return fmt::format("{}", c);
}

bool integral_classes(const std::vector<double>& classes) {
  for (const double c : classes)
    if (std::nearbyint(c) != c || std::fabs(c) >= 9.0e15) return false;
  return true;
}

ml::TransformKind kind_named(const std::string& name) {
  for (const auto k : {ml::TransformKind::kImpute, ml::TransformKind::kStandardScale,
                       ml::TransformKind::kMinMaxScale, ml::TransformKind::kOneHot,
                       ml::TransformKind::kIndex, ml::TransformKind::kHash})
    if (ml::to_string(k) == name) return k;
  throw std::invalid_argument("unknown transform kind '" + name + "'");
}

ml::ImputeStrategy strategy_named(const std::string& name) {
  for (const auto k : {ml::ImputeStrategy::kMean, ml::ImputeStrategy::kMedian,
                       ml::ImputeStrategy::kMostFrequent, ml::ImputeStrategy::kConstant})
    if (ml::to_string(k) == name) return k;
  throw std::invalid_argument("unknown impute strategy '" + name + "'");
}

}  // namespace

std::string feature_pipeline_json(const ml::FeaturePipeline& pipeline) {
  nlohmann::json transforms = nlohmann::json::array();
  for (const auto& t : pipeline.transforms()) {
    transforms.push_back({{"kind", ml::to_string(t.kind)},
                          {"columns", t.columns},
                          {"strategy", ml::to_string(t.strategy)},
                          {"value", t.constant},
                          {"unknown", ml::to_string(t.unknown)},
                          {"max_categories", t.max_categories},
                          {"buckets", t.buckets},
                          {"where", t.where},
                          {"fill", t.fill},
                          {"fill_text", t.fill_text},
                          {"categories", t.categories},
                          {"offset", t.offset},
                          {"divisor", t.divisor}});
  }
  // Doubles are written with 17 significant digits, which read back to the same bits.
  return nlohmann::json{{"numeric", pipeline.numeric()},
                        {"categorical", pipeline.categorical()},
                        {"outputs", pipeline.output_names()},
                        {"transforms", transforms}}
      .dump();
}

ml::FeaturePipeline feature_pipeline_from_json(const std::string& text, const std::string& source) {
  std::vector<ml::FeatureTransform> settings, fitted;
  std::vector<std::string> numeric, categorical, outputs;
  try {
    const auto j = nlohmann::json::parse(text);
    numeric = j.at("numeric").get<std::vector<std::string>>();
    categorical = j.at("categorical").get<std::vector<std::string>>();
    outputs = j.at("outputs").get<std::vector<std::string>>();
    for (const auto& item : j.at("transforms")) {
      ml::FeatureTransform t;
      t.kind = kind_named(item.at("kind").get<std::string>());
      t.columns = item.at("columns").get<std::vector<std::string>>();
      t.strategy = strategy_named(item.at("strategy").get<std::string>());
      t.constant = item.at("value").get<std::string>();
      t.unknown = item.at("unknown").get<std::string>() == "ignore" ? ml::UnknownCategory::kIgnore
                                                                    : ml::UnknownCategory::kError;
      t.max_categories = item.at("max_categories").get<int>();
      t.buckets = item.at("buckets").get<int>();
      t.where = item.at("where").get<std::string>();
      settings.push_back(t);
      t.fill = item.at("fill").get<std::vector<double>>();
      t.fill_text = item.at("fill_text").get<std::vector<std::string>>();
      t.categories = item.at("categories").get<std::vector<std::vector<std::string>>>();
      t.offset = item.at("offset").get<std::vector<double>>();
      t.divisor = item.at("divisor").get<std::vector<double>>();
      fitted.push_back(std::move(t));
    }
  } catch (const std::exception& e) {  // nlohmann::json's errors and the names above
    throw InputError("{} is damaged: its feature_pipeline attribute does not parse ({})", source,
                     e.what());
  }
  // The constant imputers' fill values come from the settings: the fitted ones must agree.
  for (auto& t : settings) {
    t.fill.clear();
    t.fill_text.clear();
  }
  ml::FeaturePipeline pipeline = [&] {
    try {
      return ml::FeaturePipeline(numeric, categorical, settings);
    } catch (const ConfigError& e) {
      throw InputError("{} is damaged: its feature pipeline is not one a job can have: {}", source,
                       e.what());
    }
  }();
  pipeline.restore_fitted(fitted, source);
  if (pipeline.output_names() != outputs) {
    throw InputError("{} is damaged: its feature pipeline lists {} outputs, its state gives {}",
                     source, outputs.size(), pipeline.num_outputs());
  }
  return pipeline;
}

SavedModel read_saved_model(const std::filesystem::path& file) {
  const std::string source = file.string();
  if (!std::filesystem::is_regular_file(file)) {
    throw InputError(
        "model file {} does not exist (or is not a file); a training run writes its model to "
        "<workdir>/model.h5",
        source);
  }
  const ckpt::Checkpoint c = [&] {
    try {
      return ckpt::read_checkpoint_file(file);
    } catch (const InputError& e) {
      throw InputError("{} is not a model file a training run wrote: {}", source, e.what());
    }
  }();
  const auto attribute = [&](const std::string& key) -> const std::string& {
    const auto it = c.meta.attributes.find(key);
    if (it == c.meta.attributes.end()) {
      throw InputError(
          "model file {} has no '{}' attribute: it was written by a shardflow that did not "
          "describe its models (or it is a checkpoint of something else); train it again with "
          "this version",
          source, key);
    }
    return it->second;
  };
  const auto array = [&](const std::string& key) -> const std::vector<double>* {
    const auto it = c.arrays.find(key);
    return it == c.arrays.end() ? nullptr : &it->second;
  };
  SavedModel out;
  out.source = source;
  const std::string& type = attribute("model_type");
  out.label = attribute("label");
  try {
    const auto features = nlohmann::json::parse(attribute("features"));
    out.features = features.get<std::vector<std::string>>();
  } catch (const nlohmann::json::exception& e) {
    throw InputError(
        "model file {} is damaged: its 'features' attribute is not a JSON list of "
        "names ({})",
        source, e.what());
  }
  if (!find_model_type(type)) {
    throw InputError(
        "model file {} holds a model of type '{}', which this shardflow does not "
        "know (model types: {})",
        source, type, fmt::join(model_type_names(), ", "));
  }
  std::shared_ptr<const ModelSpec> spec;
  try {
    spec = load_model_spec(attribute("model_spec"), source + " (model_spec)");
  } catch (const ConfigError& e) {
    throw InputError("model file {} is damaged: its model_spec attribute does not parse: {}",
                     source, e.what());
  }
  const std::vector<double>* classes = array("model/classes");
  const std::vector<double>* weights = array("model/weights");
  if (!weights) throw InputError("model file {} has no dataset /model/weights", source);
  if (const auto it = c.meta.attributes.find("feature_pipeline"); it != c.meta.attributes.end()) {
    out.pipeline = feature_pipeline_from_json(it->second, "model file " + source);
    if (out.pipeline.input_columns() != out.features) {
      throw InputError(
          "model file {} is damaged: its 'features' attribute ({}) is not its feature pipeline's "
          "input columns ({})",
          source, fmt::join(out.features, ", "), fmt::join(out.pipeline.input_columns(), ", "));
    }
  } else {
    // Written before feature pipelines (2026-12-01 and earlier): numeric features, standardized
    // when features/mean and features/scale are not empty.
    const std::vector<double>* mean = array("features/mean");
    const std::vector<double>* scale = array("features/scale");
    ml::FeatureTransform standard;
    standard.kind = ml::TransformKind::kStandardScale;
    standard.where = "scale: standard";
    const bool scaled = mean && scale && !mean->empty();
    if (scaled && (mean->size() != out.features.size() || scale->size() != out.features.size())) {
      throw InputError(
          "model file {} is damaged: its scaler holds {} means and {} scales for {} features",
          source, mean->size(), scale->size(), out.features.size());
    }
    try {
      out.pipeline = ml::FeaturePipeline(out.features, {},
                                         scaled ? std::vector<ml::FeatureTransform>{standard}
                                                : std::vector<ml::FeatureTransform>{});
    } catch (const ConfigError& e) {
      throw InputError("model file {} is damaged: {}", source, e.what());
    }
    if (scaled) {
      standard.columns = out.features;
      standard.offset = *mean;
      standard.divisor = *scale;
    }
    out.pipeline.restore_fitted(
        scaled ? std::vector<ml::FeatureTransform>{standard} : std::vector<ml::FeatureTransform>{},
        "model file " + source);
  }
  try {
    out.model = spec->build(out.pipeline.num_outputs(), classes ? *classes : std::vector<double>{});
  } catch (const Error& e) {
    throw InputError("model file {} is damaged: {}", source, e.what());
  }
  if (static_cast<Eigen::Index>(weights->size()) != out.model->num_parameters()) {
    throw InputError(
        "model file {} is damaged: it holds {} weights, but a {} model of {} features{} has {}",
        source, weights->size(), type, out.pipeline.num_outputs(),
        classes ? fmt::format(" and {} classes", classes->size()) : "",
        out.model->num_parameters());
  }
  out.weights = Eigen::Map<const Eigen::VectorXd>(weights->data(), out.model->num_parameters());
  if (!out.weights.allFinite()) {
    throw InputError("model file {} is damaged: its weights are not all finite", source);
  }
  return out;
}

SavedModel load_saved_model(const mpi::Comm& comm, const std::filesystem::path& file) {
  SavedModel out;
  comm.agree([&] { out = read_saved_model(file); });
  return out;
}

std::vector<PredictionColumn> prediction_columns(const ml::Model& model) {
  switch (model.task()) {
    case ml::Task::kRegression:
      return {{"prediction", table::DataType::kFloat64}};
    case ml::Task::kBinary:
      return {{"prediction", table::DataType::kInt64}, {"probability", table::DataType::kFloat64}};
    case ml::Task::kMulticlass: {
      const std::vector<double> classes = model.label_encoding().classes;
      std::vector<PredictionColumn> out = {{"prediction", integral_classes(classes)
                                                              ? table::DataType::kInt64
                                                              : table::DataType::kFloat64}};
      for (const double c : classes)
        out.push_back({"probability_" + class_name(c), table::DataType::kFloat64});
      return out;
    }
  }
  return {};
}

std::vector<table::Column> prediction_values(const ml::Model& model, const Eigen::VectorXd& outputs,
                                             idx_t rows) {
  const std::vector<PredictionColumn> shape = prediction_columns(model);
  std::vector<table::Column> columns;
  for (const auto& c : shape) {
    columns.emplace_back(c.type);
    columns.back().reserve(rows);
  }
  const auto n = static_cast<size_t>(rows);
  switch (model.task()) {
    case ml::Task::kRegression: {
      auto& v = columns[0].values<double>();
      v.resize(n);
      for (size_t i = 0; i < n; ++i)
        v[i] = outputs(static_cast<Eigen::Index>(i));
      break;
    }
    case ml::Task::kBinary: {
      auto& label = columns[0].values<std::int64_t>();
      auto& p = columns[1].values<double>();
      label.resize(n);
      p.resize(n);
      for (size_t i = 0; i < n; ++i) {
        p[i] = outputs(static_cast<Eigen::Index>(i));
        label[i] = p[i] >= 0.5 ? 1 : 0;  // the threshold of the accuracy metric
      }
      break;
    }
    case ml::Task::kMulticlass: {
      const std::vector<double> classes = model.label_encoding().classes;
      const size_t k = classes.size();
      for (size_t c = 0; c < k; ++c)
        columns[c + 1].values<double>().resize(n);
      if (shape[0].type == table::DataType::kInt64) {
        columns[0].values<std::int64_t>().resize(n);
      } else {
        columns[0].values<double>().resize(n);
      }
      for (size_t i = 0; i < n; ++i) {
        const double* p = outputs.data() + i * k;
        size_t best = 0;
        for (size_t c = 0; c < k; ++c) {
          columns[c + 1].values<double>()[i] = p[c];
          if (p[c] > p[best]) best = c;  // ties go to the lowest class, as the metrics do
        }
        if (shape[0].type == table::DataType::kInt64) {
          columns[0].values<std::int64_t>()[i] = static_cast<std::int64_t>(classes[best]);
        } else {
          columns[0].values<double>()[i] = classes[best];
        }
      }
      break;
    }
  }
  return columns;
}

}  // namespace shardflow::pipeline
