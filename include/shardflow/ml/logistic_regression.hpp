#pragma once
// Binary logistic regression: p(y = 1 | x) = sigmoid(w . x + b).

#include <Eigen/Core>

#include <cmath>

#include "shardflow/ml/dataset.hpp"

namespace shardflow::ml {

struct LogisticRegression {
  Eigen::VectorXd weights;  // d coefficients followed by the intercept (size d+1)
  double l2 = 0.0;          // L2 penalty l2/2 * ||coefficients||^2 (intercept not penalized)

  /// A model with all weights zero.
  explicit LogisticRegression(int num_features = 0, double l2 = 0.0);

  int num_features() const { return static_cast<int>(weights.size()) - 1; }

  /// Local: probability of label 1 for every row of `data`. Each row's value is a fixed function
  /// of that row and the weights (same bits on any rank, at any position). Throws RuntimeError if
  /// the dataset's feature count differs from the model's.
  Eigen::VectorXd predict_proba(const Dataset& data) const;

  /// w . x + b for one row of `d` features, summed in index order. A fixed-order loop instead of
  /// a BLAS/SIMD dot product: vectorized reductions change their summation order with the row's
  /// memory alignment, which would make a row's margin depend on where it is stored.
  static double margin(const double* row, const double* weights, int d) {
    double z = 0.0;
    for (int j = 0; j < d; ++j)
      z += row[j] * weights[j];
    return z + weights[d];
  }

  /// Numerically stable logistic function.
  static double sigmoid(double z) {
    if (z >= 0) return 1.0 / (1.0 + std::exp(-z));
    const double e = std::exp(z);
    return e / (1.0 + e);
  }

  /// Log loss of one sample with margin z and label y in {0, 1}: log(1 + e^z) - y z, computed
  /// without overflow.
  static double sample_log_loss(double z, double y) {
    return std::fmax(z, 0.0) - y * z + std::log1p(std::exp(-std::fabs(z)));
  }
};

}  // namespace shardflow::ml
