#pragma once
// A trainable model, as the data-parallel trainer (ml/sgd_trainer.hpp) and scoring
// (ml/scoring.hpp) see it: a shape and settings, with its parameters kept apart as one flat vector
// (TrainState::weights, model/weights in a checkpoint). The model gives each sample's loss and
// gradient, the penalty's gradient, and predictions; the trainer owns batching, the exact sums
// across ranks and the optimizer. Each of those functions is a fixed function of one row and the
// parameters, with no reduction whose order could depend on where the row is stored, so that
// training is bit-identical at every rank count.
//
// The models: ml/linear_models.hpp (linear, logistic, softmax), ml/mlp.hpp (mlp).

#include <Eigen/Core>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "shardflow/common/types.hpp"

namespace shardflow::ml {

/// What a model predicts, which decides how its label column is read and which metrics apply.
enum class Task {
  kRegression,  // a real number per row; the label is any finite number
  kBinary,      // P(label = 1); the label is 0 or 1 (or bool)
  kMulticlass,  // a probability per class; the label is one of the classes seen in training
};

/// "regression", "binary classification", "multiclass classification".
std::string_view to_string(Task task);

/// Checks a multiclass model's classes: InputError (naming `model`) for fewer than 2, RuntimeError
/// unless ascending and distinct.
void check_classes(const std::vector<double>& classes, std::string_view model);

/// The softmax of `k` margins, in place: p_c = e^{z_c - max} / sum_k e^{z_k - max}, the sum in
/// class order (no exponential overflows).
void softmax_in_place(double* z, size_t k);

/// Cross-entropy of `k` margins for class index `label`: returns log sum_c e^{z_c} - z_label
/// (finite however far apart the margins are) and writes its gradient p_c - [c == label] to
/// delta[0, k). `z` and `delta` may be the same array.
double softmax_cross_entropy(const double* z, size_t k, size_t label, double* delta);

/// How a label column is read into Dataset::labels (make_dataset, score_table).
struct LabelEncoding {
  Task task = Task::kBinary;
  /// kMulticlass only: the label values, ascending and distinct; Dataset::labels then holds each
  /// row's index into this list (0 .. classes.size() - 1).
  std::vector<double> classes;
};

/// Model::sample_gradients gets a random sample of the rows of a matrix far larger than the
/// caches: each row is a cache miss, and one row's work is too long for the core to reach the
/// next row's loads on its own. Asking for the row kPrefetchRows ahead keeps several misses in
/// flight: bench_train's 1.6e6 x 64 logistic epoch at 1 rank went from 1.25-1.39 s to 0.82-1.17 s
/// (alternating runs on a loaded machine).
inline constexpr size_t kPrefetchRows = 8;

/// Asks for the cache lines of a row of `d` values (double or float).
template <typename Value>
inline void prefetch_row(const Value* row, int d) {
  const auto* bytes = reinterpret_cast<const char*>(row);
  for (size_t offset = 0; offset < static_cast<size_t>(d) * sizeof(Value); offset += 64)
    __builtin_prefetch(bytes + offset);
}

class Model {
 public:
  virtual ~Model() = default;

  /// The model's `type:` in a job file ("logistic").
  virtual std::string_view type() const = 0;
  virtual Task task() const = 0;
  virtual int num_features() const = 0;
  /// Values predict() writes per row: 1 for regression (the value) and binary (P(1)); one per
  /// class for multiclass.
  virtual int num_outputs() const = 0;
  virtual Eigen::Index num_parameters() const = 0;
  virtual LabelEncoding label_encoding() const = 0;
  /// A hash of everything that changes what training computes (type, shape, classes, penalties),
  /// which the trainer compares across ranks.
  virtual std::uint64_t settings_hash() const = 0;
  /// 1 for each parameter the L2 penalty and decoupled weight decay apply to (coefficients), 0
  /// for the others (intercepts).
  virtual std::vector<std::uint8_t> penalized() const = 0;
  /// The L2 penalty l2/2 * ||penalized parameters||^2 added to the mean loss.
  virtual double l2() const = 0;
  /// The L1 penalty l1 * sum |penalized parameters| added to the objective (0: none). Not
  /// differentiable at 0: only lbfgs trains it (OWL-QN, ml/lbfgs.hpp); train_sgd refuses it.
  virtual double l1() const { return 0.0; }

  /// The parameters training starts from: zeros (the linear models), or a function of `seed`
  /// and the parameter's index only (an MLP's random weights), so every rank and every rank count
  /// starts alike.
  virtual Eigen::VectorXd initial_parameters(std::uint64_t seed) const {
    static_cast<void>(seed);
    return Eigen::VectorXd::Zero(num_parameters());
  }

  /// Local: for each of the `n` rows (`rows[i]` points at its num_features() values, `labels[i]`
  /// is its label as LabelEncoding stores it), writes num_parameters() values of the gradient of
  /// its loss at parameters `w`, then its loss, to out[i * (P + 1) ...]. Each row's values are a
  /// fixed function of that row, its label and w.
  virtual void sample_gradients(const double* const* rows, const double* labels, size_t n,
                                const double* w, double* out) const = 0;

  /// Local: adds the per-sample values sample_gradients would write for the `n` rows, each
  /// multiplied by its row's weight (`weights[i]`; every weight 1 when `weights` is null), to
  /// acc[0, P + 1): the gradient's components, then the loss. Contract, which makes a sum over
  /// rows split anyhow between calls (and ranks) the same bits: component j receives exactly one
  /// addition per row, in row order, and the value added is a fixed function of that row, its
  /// label, its weight and w. The default computes sample_gradients and adds its rows; models
  /// override it with a fused loop (no per-sample buffer) that keeps the contract, whose values
  /// may then differ from the default's in the last bit.
  virtual void add_gradients(const double* const* rows, const double* labels, const double* weights,
                             size_t n, const double* w, double* acc) const;
  /// add_gradients for rows stored as float (a MatrixType::kFloat32 dataset): the same bits as
  /// add_gradients on the rows converted to double (exactly). The default converts them, a chunk
  /// at a time; the linear models read the floats in their fused loop instead, which halves the
  /// bytes a pass over the matrix reads (bench_train BM_FullBatchObjective/float32).
  virtual void add_gradients_f32(const float* const* rows, const double* labels,
                                 const double* weights, size_t n, const double* w,
                                 double* acc) const;
  /// Local, optional: for a model whose per-sample gradient is an outer product of num_outputs()
  /// residuals and the row's features (the linear models), writes each row's residuals and then
  /// its loss to out[i * (num_outputs() + 1) ...] and returns true. sample_gradients' values for
  /// the row are then, bit for bit, residual c times feature j at parameter c * (num_features() +
  /// 1) + j, residual c itself at c * (num_features() + 1) + num_features() (the intercept), and
  /// the loss; num_parameters() is num_outputs() * (num_features() + 1). The trainer sums such
  /// gradients without storing them (reproducible_outer_sum, ml/reproducible_sum.hpp). Models of
  /// another form return false and write nothing (the default); the answer depends on the model
  /// only, never on n.
  virtual bool sample_factors(const double* const* rows, const double* labels, size_t n,
                              const double* w, double* out) const {
    static_cast<void>(rows);
    static_cast<void>(labels);
    static_cast<void>(n);
    static_cast<void>(w);
    static_cast<void>(out);
    return false;
  }

  /// Local: predictions for `n` rows stored row-major at `x` (num_features() values per row):
  /// num_outputs() values per row to out[i * num_outputs() ...]. Each row's values are a fixed
  /// function of that row and w (the same bits as the margin the trainer computes).
  virtual void predict(const double* x, size_t n, const double* w, double* out) const = 0;
};

/// The loss of a binary model for margin z (P(1) = sigmoid(z)) and label y (0 or 1), and its
/// derivative d loss / d z in *dz. gamma = 0: the log loss, log(1 + e^z) - y z, derivative
/// sigmoid(z) - y (bit for bit LogisticRegression's). gamma > 0: the focal loss (Lin et al.,
/// 2017), -(1 - p_t)^gamma log p_t with p_t the probability of the true label, which weighs down
/// the rows the model already gets right; logarithms are computed without cancellation.
double binary_loss(double z, double y, double gamma, double* dz);

/// Throws ConfigError unless `gamma` is a finite number >= 0 (a focal loss's focusing parameter).
void check_focal_gamma(double gamma);
/// A model's settings hash `h` with its focal gamma mixed in; unchanged for gamma = 0, so that
/// log-loss models keep the hash they had before focal losses.
std::uint64_t with_focal_gamma(std::uint64_t h, double gamma);

}  // namespace shardflow::ml
