#pragma once
// The generalized linear models. Output c has the margin z_c = w_c . x + b_c, where w_c is its d
// coefficients and b_c its intercept, stored as parameters [c (d + 1), (c + 1)(d + 1)):
// coefficients first, intercept last. Margins are summed in feature order
// (LogisticRegression::margin), never by a vectorized reduction, so a row's margin does not depend
// on where it is stored.
//
//   linear:   one output, the prediction z;   loss (z - y)^2 / 2      (least squares; ridge: l2)
//   logistic: one output, P(1) = sigmoid(z);  loss log(1 + e^z) - y z
//   softmax:  one output per class, P(c) = e^{z_c} / sum_k e^{z_k};  loss log sum_k e^{z_k} - z_y
//
// The objective is the mean loss plus l2/2 times the squared coefficients (intercepts are not
// penalized). For the linear model that is scikit-learn's Ridge with alpha = l2 * rows (Ridge
// sums the squared errors without the 1/2 and the mean); for the logistic and softmax models
// scikit-learn's LogisticRegression with C = 1 / (l2 * rows).

#include <vector>

#include "shardflow/ml/model.hpp"

namespace shardflow::ml {

enum class LinearKind { kLinear, kLogistic, kSoftmax };

/// What a linear model of `kind` predicts: regression, binary, multiclass.
Task task_of(LinearKind kind);

class LinearModel final : public Model {
 public:
  /// `classes`: softmax only, the label values (ascending, distinct, at least 2); `focal_gamma`:
  /// logistic only, > 0 trains on the focal loss instead of the log loss (binary_loss). Throws
  /// ConfigError for l2 < 0 or not finite, a focal_gamma that is negative, not finite or given to
  /// another kind, an l1 that is negative, not finite or given to a model other than logistic
  /// (`l1`: the L1 penalty of Model::l1), InputError for a softmax with fewer than 2 classes,
  /// RuntimeError for a negative feature count or unsorted classes.
  LinearModel(LinearKind kind, int num_features, double l2, std::vector<double> classes = {},
              double focal_gamma = 0.0, double l1 = 0.0);

  LinearKind kind() const { return kind_; }
  const std::vector<double>& classes() const { return classes_; }
  double focal_gamma() const { return focal_gamma_; }

  std::string_view type() const override;
  Task task() const override;
  int num_features() const override { return d_; }
  int num_outputs() const override { return outputs_; }
  Eigen::Index num_parameters() const override {
    return static_cast<Eigen::Index>(outputs_) * (d_ + 1);
  }
  LabelEncoding label_encoding() const override;
  std::uint64_t settings_hash() const override;
  std::vector<std::uint8_t> penalized() const override;
  double l2() const override { return l2_; }
  double l1() const override { return l1_; }

  void sample_gradients(const double* const* rows, const double* labels, size_t n, const double* w,
                        double* out) const override;
  /// Least squares and logistic: one loop per row adding w_i r x_j (r: the loss's derivative in
  /// the margin) straight into acc; softmax: the default.
  void add_gradients(const double* const* rows, const double* labels, const double* weights,
                     size_t n, const double* w, double* acc) const override;
  /// The same loop reading float rows (softmax: the default).
  void add_gradients_f32(const float* const* rows, const double* labels, const double* weights,
                         size_t n, const double* w, double* acc) const override;
  /// Every kind: the loss's derivative in each output's margin (one for least squares and
  /// logistic, one per class for softmax), then the loss.
  bool sample_factors(const double* const* rows, const double* labels, size_t n, const double* w,
                      double* out) const override;
  void predict(const double* x, size_t n, const double* w, double* out) const override;

 private:
  LinearKind kind_;
  int d_;
  int outputs_;
  double l2_;
  std::vector<double> classes_;
  double focal_gamma_ = 0.0;
  double l1_ = 0.0;
};

}  // namespace shardflow::ml
