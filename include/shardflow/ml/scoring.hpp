#pragma once
// Scoring a table with a trained logistic regression, straight from its columns.

#include <Eigen/Core>

#include <string>
#include <vector>

#include "shardflow/ml/logistic_regression.hpp"
#include "shardflow/ml/standard_scaler.hpp"
#include "shardflow/mpi/comm.hpp"
#include "shardflow/table/table.hpp"

namespace shardflow::ml {

struct ScoredRows {
  Eigen::VectorXd labels;         // 0/1
  Eigen::VectorXd probabilities;  // P(label = 1)
};

/// Collective: the labels and predicted probabilities of this rank's rows of `table`, with the
/// features standardized by `scaler` unless its mean is empty. The same checks and errors as
/// make_dataset, and the same bits as predict_proba on make_dataset + StandardScaler::transform,
/// but without the rows x features matrix: features are read a block of rows at a time, column
/// by column, and each row's margin is summed in feature order as LogisticRegression::margin
/// does. Must be equal on all ranks: features, label, scaler, model.
ScoredRows score_table(const mpi::Comm& comm, const table::Table& table,
                       const std::vector<std::string>& features, const std::string& label,
                       const StandardScaler& scaler, const LogisticRegression& model);

}  // namespace shardflow::ml
