#include "shardflow/ml/logistic_regression.hpp"

#include <vector>

namespace shardflow::ml {

LogisticRegression::LogisticRegression(int num_features, double l2_penalty)
    : weights(Eigen::VectorXd::Zero(std::max(num_features, 0) + 1)), l2(l2_penalty) {
  if (num_features < 0) {
    throw RuntimeError("LogisticRegression: negative feature count {}", num_features);
  }
}

Eigen::VectorXd LogisticRegression::predict_proba(const Dataset& data) const {
  const int d = num_features();
  if (data.num_features() != d) {
    throw RuntimeError(
        "the model expects {} features but the dataset has {}; score with the same feature list "
        "the model was trained on",
        d, data.num_features());
  }
  Eigen::VectorXd p(data.rows());
  std::vector<double> row(static_cast<size_t>(d));
  for (Eigen::Index i = 0; i < p.size(); ++i) {
    data.copy_row(static_cast<idx_t>(i), row.data());
    p(i) = sigmoid(margin(row.data(), weights.data(), d));
  }
  return p;
}

}  // namespace shardflow::ml
