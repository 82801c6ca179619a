#include "shardflow/pipeline/saved_model.hpp"

#include <cmath>

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

}  // namespace

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
  try {
    out.model = spec->build(static_cast<int>(out.features.size()),
                            classes ? *classes : std::vector<double>{});
  } catch (const Error& e) {
    throw InputError("model file {} is damaged: {}", source, e.what());
  }
  if (static_cast<Eigen::Index>(weights->size()) != out.model->num_parameters()) {
    throw InputError(
        "model file {} is damaged: it holds {} weights, but a {} model of {} features{} has {}",
        source, weights->size(), type, out.features.size(),
        classes ? fmt::format(" and {} classes", classes->size()) : "",
        out.model->num_parameters());
  }
  out.weights = Eigen::Map<const Eigen::VectorXd>(weights->data(), out.model->num_parameters());
  if (!out.weights.allFinite()) {
    throw InputError("model file {} is damaged: its weights are not all finite", source);
  }
  const std::vector<double>* mean = array("features/mean");
  const std::vector<double>* scale = array("features/scale");
  if (mean && scale && !mean->empty()) {
    if (mean->size() != out.features.size() || scale->size() != out.features.size()) {
      throw InputError(
          "model file {} is damaged: its scaler holds {} means and {} scales for {} features",
          source, mean->size(), scale->size(), out.features.size());
    }
    out.scaler.mean = *mean;
    out.scaler.scale = *scale;
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
