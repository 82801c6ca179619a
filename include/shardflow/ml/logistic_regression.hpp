#pragma once
// Binary logistic regression: p(y = 1 | x) = sigmoid(w . x + b).

#include <Eigen/Core>

#include <cmath>

#include "shardflow/ml/dataset.hpp"
#include "shardflow/ml/exact_math.hpp"

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

  /// w . x + b for one row of `d` features: fixed_order_dot(row, weights, d) + weights[d]. A
  /// float row gives the bits of the same row converted to double (the conversion is exact).
  template <typename Value>
  static double margin(const Value* row, const double* weights, int d) {
    return fixed_order_dot(row, weights, d) + weights[d];
  }

  /// sum_j a[j] b[j] in a fixed order that depends on n only: four running sums, term j going to
  /// sum j % 4 in index order, combined as (s0 + s1) + (s2 + s3). Not a BLAS/SIMD dot product:
  /// vectorized reductions change their summation order with the data's memory alignment, which
  /// would make a row's margin depend on where it is stored (and training on the rank count).
  /// Four sums instead of one because one running sum is a chain of dependent additions (64
  /// features: 64 x 4 cycles per row); bench_train's 1.6e6 x 64 logistic epoch at 1 rank went
  /// from 1.38-1.48 s to 1.26-1.39 s (alternating runs on a loaded machine).
  /// `a` may be float (each value converted to double exactly first: the same bits as a copy of
  /// the row in double).
  template <typename Value>
  static double fixed_order_dot(const Value* a, const double* b, int n) {
    const auto at = [a](int j) { return static_cast<double>(a[j]); };
    double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0;
    int j = 0;
    for (; j + 4 <= n; j += 4) {
      s0 += at(j) * b[j];
      s1 += at(j + 1) * b[j + 1];
      s2 += at(j + 2) * b[j + 2];
      s3 += at(j + 3) * b[j + 3];
    }
    if (j < n) s0 += at(j) * b[j];
    if (j + 1 < n) s1 += at(j + 1) * b[j + 1];
    if (j + 2 < n) s2 += at(j + 2) * b[j + 2];
    return (s0 + s1) + (s2 + s3);
  }

  /// Numerically stable logistic function, through exact::exp_nonpositive (the same bits as
  /// the vectorized training kernels).
  static double sigmoid(double z) {
    const double e = exact::exp_nonpositive(z >= 0 ? -z : z);
    return (z >= 0 ? 1.0 : e) / (1.0 + e);
  }

  /// Log loss of one sample with margin z and label y in {0, 1}: log(1 + e^z) - y z, computed
  /// without overflow (exact::logistic_loss).
  static double sample_log_loss(double z, double y) {
    double dz;
    return exact::logistic_loss(z, y, &dz);
  }
};

}  // namespace shardflow::ml
