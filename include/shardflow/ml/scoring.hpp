#pragma once
// Scoring a table with a trained model, straight from its columns.

#include <Eigen/Core>

#include <string>
#include <vector>

#include "shardflow/ml/feature_pipeline.hpp"
#include "shardflow/ml/logistic_regression.hpp"
#include "shardflow/ml/model.hpp"
#include "shardflow/ml/standard_scaler.hpp"
#include "shardflow/mpi/comm.hpp"
#include "shardflow/table/table.hpp"

namespace shardflow::ml {

struct ScoredRows {
  Eigen::VectorXd labels;  // encoded as the model's LabelEncoding (0/1, class index, value)
  /// Model::predict's values, num_outputs per row, row-major: P(label = 1) for a binary model,
  /// the prediction for regression, the class probabilities for multiclass.
  Eigen::VectorXd outputs;
  int num_outputs = 1;
};

/// Collective: the labels and predictions of this rank's rows of `table` by `model` with
/// parameters `weights`, the rows assembled by the fitted pipeline `features`. The same checks and
/// errors as FeaturePipeline::assemble (the label read as model.label_encoding() says), and the
/// same bits as Model::predict on its matrix, but without the rows x features matrix: rows are
/// assembled a tile at a time into a small row-major block that predict() reads. Must be equal on
/// all ranks: features, label, model, weights.
ScoredRows score_table(const mpi::Comm& comm, const table::Table& table,
                       const FeaturePipeline& features, const std::string& label,
                       const Model& model, const Eigen::VectorXd& weights);

/// Collective: the predictions (Model::predict's values, num_outputs() per row, row-major) for
/// this rank's rows of `table`, which need no label: score_table without the label.
Eigen::VectorXd predict_table(const mpi::Comm& comm, const table::Table& table,
                              const FeaturePipeline& features, const Model& model,
                              const Eigen::VectorXd& weights);

/// score_table on the numeric `features` standardized by `scaler` (unless its mean is empty):
/// the same bits as Model::predict on make_dataset + StandardScaler::transform.
ScoredRows score_table(const mpi::Comm& comm, const table::Table& table,
                       const std::vector<std::string>& features, const std::string& label,
                       const StandardScaler& scaler, const Model& model,
                       const Eigen::VectorXd& weights);

/// score_table for a binary logistic regression.
ScoredRows score_table(const mpi::Comm& comm, const table::Table& table,
                       const std::vector<std::string>& features, const std::string& label,
                       const StandardScaler& scaler, const LogisticRegression& model);

}  // namespace shardflow::ml
