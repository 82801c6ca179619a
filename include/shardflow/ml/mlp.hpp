#pragma once
// A multilayer perceptron: dense hidden layers with a ReLU or tanh activation, then an output
// layer whose units and loss follow the task, as in the linear models (ml/linear_models.hpp):
//   regression: one unit, the prediction z;        loss (z - y)^2 / 2
//   binary:     one unit, P(1) = sigmoid(z);       loss log(1 + e^z) - y z
//   multiclass: one unit per class, softmax;       loss log sum_k e^{z_k} - z_y
// Parameters, layer by layer from the input: the layer's weights (one row of fan-in values per
// unit, unit after unit), then its biases. The L2 penalty and weight decay cover the weights, not
// the biases. Forward and backward passes are plain loops in a fixed order (no vectorized
// reduction), so each row's loss and gradient are the same bits wherever the row is stored:
// training stays bit-identical at every rank count.
//
// Initial weights are drawn uniformly from +-sqrt(6 / (fan_in + fan_out)) (Glorot, as
// scikit-learn's MLPClassifier), each a function of (seed, parameter index) only; biases start at
// 0.

#include <vector>

#include "shardflow/ml/model.hpp"

namespace shardflow::ml {

enum class Activation { kRelu, kTanh };

/// "relu", "tanh".
std::string_view to_string(Activation activation);

class Mlp final : public Model {
 public:
  /// `hidden`: the units of each hidden layer (at least one layer, each at least 1 unit);
  /// `classes`: multiclass only, as LinearModel's. Throws ConfigError for an empty or
  /// non-positive `hidden` or an invalid l2, InputError for a multiclass model with fewer than 2
  /// classes, RuntimeError for a negative feature count or unsorted classes.
  /// `focal_gamma` (binary only): > 0 trains on the focal loss (binary_loss); ConfigError when it
  /// is negative, not finite or given to another task.
  Mlp(Task task, int num_features, std::vector<int> hidden, Activation activation, double l2,
      std::vector<double> classes = {}, double focal_gamma = 0.0);

  const std::vector<int>& layer_sizes() const { return sizes_; }  // input, hidden..., output
  Activation activation() const { return activation_; }

  std::string_view type() const override { return "mlp"; }
  Task task() const override { return task_; }
  int num_features() const override { return sizes_.front(); }
  int num_outputs() const override { return sizes_.back(); }
  Eigen::Index num_parameters() const override { return parameters_; }
  LabelEncoding label_encoding() const override { return {task_, classes_}; }
  std::uint64_t settings_hash() const override;
  std::vector<std::uint8_t> penalized() const override;
  double l2() const override { return l2_; }
  Eigen::VectorXd initial_parameters(std::uint64_t seed) const override;

  void sample_gradients(const double* const* rows, const double* labels, size_t n, const double* w,
                        double* out) const override;
  void predict(const double* x, size_t n, const double* w, double* out) const override;

 private:
  // The output layer's margins for one row, leaving every layer's activations in `acts` (layer l
  // at act_offsets_[l]) for the backward pass.
  void forward(const double* x, const double* w, double* acts) const;

  Task task_;
  std::vector<int> sizes_;
  Activation activation_;
  double l2_;
  double focal_gamma_ = 0.0;
  std::vector<double> classes_;
  std::vector<size_t> weight_offsets_;  // layer l's weights start here; its biases follow
  std::vector<size_t> act_offsets_;     // layer l's activations in the per-row buffer
  size_t act_size_ = 0;
  Eigen::Index parameters_ = 0;
};

}  // namespace shardflow::ml
