#include "shardflow/ml/task_metrics.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <span>
#include <vector>

#include "shardflow/ml/reproducible_sum.hpp"
#include "shardflow/mpi/allreduce.hpp"

namespace shardflow::ml {
namespace {

// Throws MetricNotComputable when the evaluation data as a whole has no rows. `n` is a global
// count, so every rank throws it.
void require_rows(idx_t n, const char* metric) {
  if (n == 0) {
    throw MetricNotComputable(fmt::format(
        "{}: the evaluation data has no rows; check the split that produces it", metric));
  }
}

// ---- regression --------------------------------------------------------------------------------

// The error for a row whose labels and prediction are finite but whose error term is not.
[[noreturn]] void throw_overflow(const mpi::Comm& comm, const char* metric, const char* term,
                                 Eigen::Index row, double label, double prediction) {
  throw InputError(
      "{}: the {} at row {} of rank {} overflows a double (label {}, prediction {}); the "
      "predictions are far off the labels' scale: check the model's training or rescale the labels",
      metric, term, row, comm.rank(), label, prediction);
}

// Checks the local inputs of a regression metric inside an agreement, so a bad value on one rank
// becomes the same error on every rank, and calls per_row(i) for every row once it is checked
// (inside the same agreement: it may throw too); returns the global row count.
template <typename PerRow>
idx_t check_regression(const mpi::Comm& comm, const Eigen::VectorXd& labels,
                       const Eigen::VectorXd& predictions, const char* metric, PerRow&& per_row) {
  comm.agree([&] {
    if (labels.size() != predictions.size()) {
      throw RuntimeError("{}: {} labels but {} predictions on rank {}; this is a shardflow bug",
                         metric, labels.size(), predictions.size(), comm.rank());
    }
    for (Eigen::Index i = 0; i < labels.size(); ++i) {
      if (!std::isfinite(labels(i))) {
        throw InputError(
            "{}: label {} at row {} of rank {} is not a finite number; drop or impute rows with "
            "missing labels before evaluating",
            metric, labels(i), i, comm.rank());
      }
      if (!std::isfinite(predictions(i))) {
        throw InputError(
            "{}: prediction {} at row {} of rank {} is not a finite number; the model diverged or "
            "a feature of that row is not finite: check the features and the learning rate",
            metric, predictions(i), i, comm.rank());
      }
      per_row(i);
    }
  });
  const idx_t n = mpi::allreduce_sum(comm, static_cast<idx_t>(labels.size()));
  require_rows(n, metric);
  return n;
}

// ---- multiclass --------------------------------------------------------------------------------

// Checks the local inputs of a multiclass metric inside an agreement; returns the global row
// count.
idx_t check_multiclass(const mpi::Comm& comm, const Eigen::VectorXd& labels,
                       const Eigen::VectorXd& probabilities, int num_classes, const char* metric) {
  comm.agree([&] {
    if (num_classes < 2) {
      throw RuntimeError(
          "{}: num_classes is {}; a multiclass metric needs at least 2 classes; this is a "
          "shardflow bug",
          metric, num_classes);
    }
    const idx_t k = num_classes;
    if (static_cast<idx_t>(labels.size()) * k != static_cast<idx_t>(probabilities.size())) {
      throw RuntimeError(
          "{}: {} labels but {} probabilities on rank {} ({} classes need {} per row); this is a "
          "shardflow bug",
          metric, labels.size(), probabilities.size(), comm.rank(), num_classes, num_classes);
    }
    for (Eigen::Index i = 0; i < labels.size(); ++i) {
      const double y = labels(i);
      if (!(y >= 0.0 && y < static_cast<double>(num_classes) && y == std::floor(y))) {
        throw InputError(
            "{}: label {} at row {} of rank {} is not a class index; labels must be integers "
            "from 0 to {} (the model has {} classes): check the label column's encoding",
            metric, y, i, comm.rank(), num_classes - 1, num_classes);
      }
      for (idx_t c = 0; c < k; ++c) {
        const double q = probabilities(static_cast<Eigen::Index>(i * k + c));
        if (!(q >= 0.0 && q <= 1.0)) {
          throw InputError(
              "{}: probability {} of class {} at row {} of rank {} is outside [0, 1]; pass "
              "probabilities (a softmax output), not raw scores",
              metric, q, c, i, comm.rank());
        }
      }
    }
  });
  const idx_t n = mpi::allreduce_sum(comm, static_cast<idx_t>(labels.size()));
  require_rows(n, metric);
  return n;
}

// The predicted class of local row i: the first index of the row's largest probability (ties go to
// the lowest class, like numpy's argmax). The probabilities are checked: no NaN.
int predicted_class(const Eigen::VectorXd& probabilities, Eigen::Index i, int num_classes) {
  const double* row = probabilities.data() + i * num_classes;
  int best = 0;
  for (int c = 1; c < num_classes; ++c)
    if (row[c] > row[best]) best = c;
  return best;
}

// The global confusion matrix of checked inputs: [true * K + predicted].
std::vector<std::int64_t> global_confusion(const mpi::Comm& comm, const Eigen::VectorXd& labels,
                                           const Eigen::VectorXd& probabilities, int num_classes) {
  const auto k = static_cast<size_t>(num_classes);
  std::vector<std::int64_t> counts(k * k, 0);
  for (Eigen::Index i = 0; i < labels.size(); ++i) {
    const auto t = static_cast<size_t>(labels(i));
    const auto p = static_cast<size_t>(predicted_class(probabilities, i, num_classes));
    ++counts[t * k + p];
  }
  mpi::allreduce_inplace(comm, std::span<std::int64_t>(counts), mpi::Reduce::kSum);
  return counts;
}

}  // namespace

double root_mean_squared_error(const mpi::Comm& comm, const Eigen::VectorXd& labels,
                               const Eigen::VectorXd& predictions) {
  std::vector<double> squares(static_cast<size_t>(labels.size()));
  const idx_t n = check_regression(comm, labels, predictions, "rmse", [&](Eigen::Index i) {
    const double e = labels(i) - predictions(i);
    squares[static_cast<size_t>(i)] = e * e;
    if (!std::isfinite(e * e))
      throw_overflow(comm, "rmse", "squared error", i, labels(i), predictions(i));
  });
  return std::sqrt(reproducible_sum(comm, squares, 1, "rmse")[0] / static_cast<double>(n));
}

double mean_absolute_error(const mpi::Comm& comm, const Eigen::VectorXd& labels,
                           const Eigen::VectorXd& predictions) {
  std::vector<double> errors(static_cast<size_t>(labels.size()));
  const idx_t n = check_regression(comm, labels, predictions, "mae", [&](Eigen::Index i) {
    const double e = std::abs(labels(i) - predictions(i));
    errors[static_cast<size_t>(i)] = e;
    if (!std::isfinite(e))
      throw_overflow(comm, "mae", "absolute error", i, labels(i), predictions(i));
  });
  return reproducible_sum(comm, errors, 1, "mae")[0] / static_cast<double>(n);
}

double r2_score(const mpi::Comm& comm, const Eigen::VectorXd& labels,
                const Eigen::VectorXd& predictions) {
  // The labels' range first: equal labels make R^2 0/0, and are told apart exactly here (the
  // mean of n copies of 0.1 is not always 0.1 in doubles, which would leave SS_tot a tiny
  // positive number and R^2 a huge negative one, as scikit-learn then gives).
  std::array<double, 2> range = {-std::numeric_limits<double>::infinity(),
                                 -std::numeric_limits<double>::infinity()};  // max, -min
  const idx_t n = check_regression(comm, labels, predictions, "r2", [&](Eigen::Index i) {
    range[0] = std::max(range[0], labels(i));
    range[1] = std::max(range[1], -labels(i));
  });
  mpi::allreduce_inplace(comm, std::span<double>(range), mpi::Reduce::kMax);
  if (range[0] == -range[1]) {
    throw MetricNotComputable(fmt::format(
        "r2: all {} labels are equal ({}), so R^2 = 1 - SS_res / SS_tot divides by SS_tot = 0; "
        "evaluate on data whose labels vary, or use rmse or mae",
        n, range[0]));
  }
  const std::span<const double> y(labels.data(), static_cast<size_t>(labels.size()));
  const double mean =
      reproducible_sum(comm, y, 1, "r2 (sum of labels)")[0] / static_cast<double>(n);
  // Row-major pairs (squared error, squared deviation from the mean), summed in one
  // reproducible_sum, each component with its own scale.
  std::vector<double> terms(2 * y.size());
  comm.agree([&] {
    for (Eigen::Index i = 0; i < labels.size(); ++i) {
      const double e = labels(i) - predictions(i);
      const double d = labels(i) - mean;
      terms[2 * static_cast<size_t>(i)] = e * e;
      terms[2 * static_cast<size_t>(i) + 1] = d * d;
      if (!std::isfinite(e * e))
        throw_overflow(comm, "r2", "squared error", i, labels(i), predictions(i));
      if (!std::isfinite(d * d))
        throw_overflow(comm, "r2", "squared deviation from the mean label", i, labels(i),
                       predictions(i));
    }
  });
  const std::vector<double> sums = reproducible_sum(comm, terms, 2, "r2 (sums of squares)");
  if (sums[1] == 0.0) {
    throw MetricNotComputable(fmt::format(
        "r2: the {} labels vary (from {} to {}) but their squared deviations from the mean "
        "underflow, so SS_tot = 0 and R^2 is undefined; rescale the labels, or use rmse or mae",
        n, -range[1], range[0]));
  }
  return 1.0 - sums[0] / sums[1];
}

double multiclass_accuracy(const mpi::Comm& comm, const Eigen::VectorXd& labels,
                           const Eigen::VectorXd& probabilities, int num_classes) {
  const idx_t n = check_multiclass(comm, labels, probabilities, num_classes, "multiclass_accuracy");
  idx_t correct = 0;
  for (Eigen::Index i = 0; i < labels.size(); ++i)
    correct +=
        predicted_class(probabilities, i, num_classes) == static_cast<int>(labels(i)) ? 1 : 0;
  correct = mpi::allreduce_sum(comm, correct);
  return static_cast<double>(correct) / static_cast<double>(n);
}

double multiclass_log_loss(const mpi::Comm& comm, const Eigen::VectorXd& labels,
                           const Eigen::VectorXd& probabilities, int num_classes) {
  const idx_t n = check_multiclass(comm, labels, probabilities, num_classes, "multiclass_log_loss");
  constexpr double kEps = 1e-15;
  std::vector<double> losses(static_cast<size_t>(labels.size()));
  for (Eigen::Index i = 0; i < labels.size(); ++i) {
    const double q = probabilities(i * num_classes + static_cast<Eigen::Index>(labels(i)));
    losses[static_cast<size_t>(i)] = -std::log(std::clamp(q, kEps, 1.0 - kEps));
  }
  return reproducible_sum(comm, losses, 1, "multiclass_log_loss")[0] / static_cast<double>(n);
}

double macro_f1(const mpi::Comm& comm, const Eigen::VectorXd& labels,
                const Eigen::VectorXd& probabilities, int num_classes) {
  check_multiclass(comm, labels, probabilities, num_classes, "macro_f1");
  const std::vector<std::int64_t> counts =
      global_confusion(comm, labels, probabilities, num_classes);
  // Every term is computed from global counts and added in class order, so the plain double sum
  // is the same on every rank and at every split.
  const auto k = static_cast<size_t>(num_classes);
  double sum = 0;
  idx_t present = 0;
  for (size_t c = 0; c < k; ++c) {
    std::int64_t true_rows = 0, predicted_rows = 0;
    for (size_t o = 0; o < k; ++o) {
      true_rows += counts[c * k + o];
      predicted_rows += counts[o * k + c];
    }
    const std::int64_t tp = counts[c * k + c];
    const std::int64_t fp = predicted_rows - tp, fn = true_rows - tp;
    if (tp + fp + fn == 0) continue;  // neither true nor predicted: not in the mean
    sum += static_cast<double>(2 * tp) / static_cast<double>(2 * tp + fp + fn);
    ++present;
  }
  return sum / static_cast<double>(present);  // present >= 1: every row has a true class
}

std::vector<std::int64_t> confusion_matrix(const mpi::Comm& comm, const Eigen::VectorXd& labels,
                                           const Eigen::VectorXd& probabilities, int num_classes) {
  check_multiclass(comm, labels, probabilities, num_classes, "confusion_matrix");
  return global_confusion(comm, labels, probabilities, num_classes);
}

}  // namespace shardflow::ml
