#pragma once
// A trained model read back from the model.h5 a training run writes (a copy of its last
// checkpoint), for scoring new data: `op: predict` and `shardflow predict`. The file describes
// itself: /meta attributes model_type, task, label, features (a JSON list of the input columns)
// and feature_pipeline (the features, transforms and their fitted state as JSON, see
// feature_pipeline_json), the array model/weights and, for a multiclass model, model/classes.
// Files written before feature pipelines hold features/mean and features/scale instead (a
// standard scaler, empty when the job did not scale); they still load.

#include <Eigen/Core>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "shardflow/ml/feature_pipeline.hpp"
#include "shardflow/ml/model.hpp"
#include "shardflow/mpi/comm.hpp"
#include "shardflow/table/schema.hpp"

namespace shardflow::pipeline {

struct SavedModel {
  std::unique_ptr<ml::Model> model;
  Eigen::VectorXd weights;
  ml::FeaturePipeline pipeline;  // fitted
  std::string label;
  std::vector<std::string> features;  // the input columns the pipeline reads
  std::string source;                 // the file, for messages
};

/// The settings and fitted state of a fitted pipeline as JSON text: {"numeric": [...],
/// "categorical": [...], "outputs": [...], "transforms": [{"kind", "columns", "strategy", "value",
/// "unknown", "max_categories", "buckets", "where", "fill", "fill_text", "categories", "offset",
/// "divisor"}]}. Doubles round-trip exactly.
std::string feature_pipeline_json(const ml::FeaturePipeline& pipeline);
/// Local: the fitted pipeline from feature_pipeline_json's text; InputError starting with
/// `source` ("model file x.h5") when the text does not parse or the state does not fit.
ml::FeaturePipeline feature_pipeline_from_json(const std::string& text, const std::string& source);

/// Local: reads `file` and builds its model through the model registry. InputError naming the
/// file and what to do when it is not a valid checkpoint (ckpt::read_checkpoint_file's reasons),
/// was written by a shardflow that did not describe its models (no model_type attribute: train
/// it again), names a model type this shardflow does not know, or holds arrays whose sizes do
/// not fit its features and classes.
SavedModel read_saved_model(const std::filesystem::path& file);

/// Collective: read_saved_model on every rank (`file` equal on all ranks), errors agreed.
SavedModel load_saved_model(const mpi::Comm& comm, const std::filesystem::path& file);

/// One column `op: predict` adds.
struct PredictionColumn {
  std::string name;
  table::DataType type;
};

/// The columns a model's predictions fill, in order:
///   regression: prediction (float64);
///   binary:     prediction (int64: 1 when probability >= 0.5), probability (float64, P(1));
///   multiclass: prediction (the most probable class's label, ties to the lowest: int64 when
///               every class is an integer, else float64), then probability_<class> (float64)
///               per class in class order, <class> written as an integer when it is one.
std::vector<PredictionColumn> prediction_columns(const ml::Model& model);

/// Local: the table columns `prediction_columns(model)` describes, from `outputs`
/// (Model::predict's values for `rows` rows, row-major).
std::vector<table::Column> prediction_values(const ml::Model& model, const Eigen::VectorXd& outputs,
                                             idx_t rows);

}  // namespace shardflow::pipeline
