#include "shardflow/ml/scoring.hpp"

#include <algorithm>
#include <array>

#include "shardflow/mpi/allreduce.hpp"

namespace shardflow::ml {

ScoredRows score_table(const mpi::Comm& comm, const table::Table& table,
                       const std::vector<std::string>& features, const std::string& label,
                       const StandardScaler& scaler, const LogisticRegression& model) {
  const idx_t rows = table.num_rows();
  const idx_t global_offset = mpi::exscan_sum(comm, rows);
  const int d = model.num_features();
  const bool scaled = !scaler.mean.empty();
  ScoredRows out;
  comm.agree([&] {
    if (static_cast<int>(features.size()) != d ||
        (scaled &&
         (scaler.mean.size() != features.size() || scaler.scale.size() != features.size()))) {
      throw RuntimeError(
          "the model has {} features and the scaler {}, but {} feature columns were given; score "
          "with the feature list the model was trained on",
          d, scaler.mean.size(), features.size());
    }
    CheckedColumns checked = check_training_columns(comm, table, features, label, global_offset);
    out.labels = std::move(checked.labels);
    out.probabilities.resize(static_cast<Eigen::Index>(rows));
    // Why by columns: the evaluation set's matrix (rows x features doubles) is written once and
    // read once, and as fresh memory costs its page faults too: 2e6 x 64 at 2 ranks spent most
    // of the evaluation building it. Here a block of margins stays in L1 while each feature
    // column adds its term, in feature order, so each row's sum is margin()'s.
    constexpr idx_t kBlock = 512;
    std::array<double, kBlock> z{};
    std::array<double, kBlock> x{};
    const double* w = model.weights.data();
    for (idx_t begin = 0; begin < rows; begin += kBlock) {
      const idx_t end = std::min(rows, begin + kBlock);
      const auto n = static_cast<size_t>(end - begin);
      std::fill_n(z.begin(), n, 0.0);
      for (int j = 0; j < d; ++j) {
        copy_column_block(*checked.features[static_cast<size_t>(j)], begin, end, x.data());
        if (scaled) {
          const double mean = scaler.mean[static_cast<size_t>(j)];
          const double scale = scaler.scale[static_cast<size_t>(j)];
          for (size_t i = 0; i < n; ++i)
            x[i] = (x[i] - mean) / scale;  // StandardScaler::transform's expression
        }
        for (size_t i = 0; i < n; ++i)
          z[i] += x[i] * w[j];
      }
      for (size_t i = 0; i < n; ++i) {
        out.probabilities(begin + static_cast<Eigen::Index>(i)) =
            LogisticRegression::sigmoid(z[i] + w[d]);
      }
    }
  });
  return out;
}

}  // namespace shardflow::ml
