#include "shardflow/ml/scoring.hpp"

#include <algorithm>
#include <vector>

#include "shardflow/ml/linear_models.hpp"
#include "shardflow/mpi/allreduce.hpp"

namespace shardflow::ml {

namespace {

// score_table, and predict_table when `label` is empty (no labels read).
ScoredRows score_rows(const mpi::Comm& comm, const table::Table& table,
                      const std::vector<std::string>& features, const std::string& label,
                      const StandardScaler& scaler, const Model& model,
                      const Eigen::VectorXd& weights) {
  const idx_t rows = table.num_rows();
  const idx_t global_offset = mpi::exscan_sum(comm, rows);
  const int d = model.num_features();
  const bool scaled = !scaler.mean.empty();
  ScoredRows out;
  out.num_outputs = model.num_outputs();
  comm.agree([&] {
    if (static_cast<int>(features.size()) != d || weights.size() != model.num_parameters() ||
        (scaled &&
         (scaler.mean.size() != features.size() || scaler.scale.size() != features.size()))) {
      throw RuntimeError(
          "the {} model has {} features ({} parameters given, {} expected) and the scaler {}, but "
          "{} feature columns were given; score with the feature list the model was trained on",
          model.type(), d, weights.size(), model.num_parameters(), scaler.mean.size(),
          features.size());
    }
    CheckedColumns checked =
        check_training_columns(comm, table, features, label, global_offset, model.label_encoding());
    out.labels = std::move(checked.labels);
    out.outputs.resize(static_cast<Eigen::Index>(rows) * out.num_outputs);
    // Why tiles: the evaluation set's full matrix (rows x features doubles) would be written once
    // and read once, and as fresh memory it costs its page faults too: 2e6 x 64 at 2 ranks spent
    // most of the evaluation building it. A tile of kTile rows (16 KB at 64 features) stays in L1
    // between the column copies and predict().
    constexpr idx_t kTile = 32;
    const auto dd = static_cast<size_t>(d);
    std::vector<double> tile(static_cast<size_t>(kTile) * dd);
    std::vector<double> column(static_cast<size_t>(kTile));
    for (idx_t begin = 0; begin < rows; begin += kTile) {
      const idx_t end = std::min(rows, begin + kTile);
      const auto n = static_cast<size_t>(end - begin);
      for (size_t j = 0; j < dd; ++j) {
        copy_column_block(*checked.features[j], begin, end, column.data());
        if (scaled) {
          const double mean = scaler.mean[j];
          const double scale = scaler.scale[j];
          for (size_t i = 0; i < n; ++i)
            tile[i * dd + j] =
                (column[i] - mean) / scale;  // StandardScaler::transform's expression
        } else {
          for (size_t i = 0; i < n; ++i)
            tile[i * dd + j] = column[i];
        }
      }
      model.predict(
          tile.data(), n, weights.data(),
          out.outputs.data() + static_cast<size_t>(begin) * static_cast<size_t>(out.num_outputs));
    }
  });
  return out;
}

}  // namespace

ScoredRows score_table(const mpi::Comm& comm, const table::Table& table,
                       const std::vector<std::string>& features, const std::string& label,
                       const StandardScaler& scaler, const Model& model,
                       const Eigen::VectorXd& weights) {
  if (label.empty()) throw RuntimeError("score_table: no label column given; use predict_table");
  return score_rows(comm, table, features, label, scaler, model, weights);
}

Eigen::VectorXd predict_table(const mpi::Comm& comm, const table::Table& table,
                              const std::vector<std::string>& features,
                              const StandardScaler& scaler, const Model& model,
                              const Eigen::VectorXd& weights) {
  return score_rows(comm, table, features, "", scaler, model, weights).outputs;
}

ScoredRows score_table(const mpi::Comm& comm, const table::Table& table,
                       const std::vector<std::string>& features, const std::string& label,
                       const StandardScaler& scaler, const LogisticRegression& model) {
  const LinearModel logistic(LinearKind::kLogistic, model.num_features(), model.l2);
  return score_table(comm, table, features, label, scaler, logistic, model.weights);
}

}  // namespace shardflow::ml
