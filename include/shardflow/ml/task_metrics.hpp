#pragma once
// Regression and multiclass metrics over a distributed evaluation set: each rank passes its own
// rows. Every result is identical on all ranks, bit for bit, and does not depend on how rows are
// split across ranks or ordered within one: floating-point sums go through reproducible_sum,
// counts are exact 64-bit integers. Errors are agreed (every rank throws the same one); a metric
// that is undefined on the data as a whole throws MetricNotComputable (metrics.hpp).
//
// Names in error messages: rmse, mae, r2, multiclass_accuracy, multiclass_log_loss, macro_f1,
// confusion_matrix. Row numbers in messages are local to the rank they name.

#include <Eigen/Core>
#include <cstdint>
#include <vector>

#include "shardflow/ml/metrics.hpp"
#include "shardflow/mpi/comm.hpp"

namespace shardflow::ml {

// ---- regression: labels and predictions are real values, one of each per row -----------------

/// Collective: sqrt(mean((label - prediction)^2)), the squared errors summed with
/// reproducible_sum. Must be equal on all ranks: nothing (row counts may differ).
/// Errors (agreed on every rank): RuntimeError if labels and predictions differ in length on a
/// rank (a shardflow bug); InputError if a label or a prediction is NaN or infinite, or a squared
/// error overflows a double; MetricNotComputable if there are no rows.
double root_mean_squared_error(const mpi::Comm& comm, const Eigen::VectorXd& labels,
                               const Eigen::VectorXd& predictions);

/// Collective: mean(|label - prediction|), summed with reproducible_sum. Errors as for
/// root_mean_squared_error.
double mean_absolute_error(const mpi::Comm& comm, const Eigen::VectorXd& labels,
                           const Eigen::VectorXd& predictions);

/// Collective: the coefficient of determination 1 - SS_res / SS_tot, as scikit-learn's r2_score
/// (one output): SS_res = sum (label - prediction)^2, SS_tot = sum (label - mean)^2. The mean is
/// the reproducible_sum of the labels over the row count, so it is the same double on every rank
/// at every split; then SS_res and SS_tot are summed with a second reproducible_sum. Can be
/// negative (a model worse than predicting the mean). Errors as for root_mean_squared_error (and
/// InputError if a squared deviation from the mean overflows), plus MetricNotComputable when
/// SS_tot is 0, where R^2 is 0/0: when every label is equal (found exactly from the global minimum
/// and maximum, not from SS_tot: the mean of n copies of 0.1 need not be 0.1 in doubles, which
/// would leave SS_tot tiny but positive and R^2 absurd), or when the labels' deviations underflow.
/// scikit-learn returns 1.0 (perfect predictions) or 0.0 (otherwise) when SS_tot is 0; we do not,
/// because either number would be a score that says nothing about the model (a 1.0 next to real
/// R^2 values reads as a perfect fit, and one wrong row turns it into 0.0), and a constant-label
/// evaluation set is almost always a broken split that the user should hear about.
double r2_score(const mpi::Comm& comm, const Eigen::VectorXd& labels,
                const Eigen::VectorXd& predictions);

// ---- multiclass: K classes ---------------------------------------------------------------------
// `labels` holds one class index 0..K-1 per row, stored as a double (0.0, 1.0, ...).
// `probabilities` holds K values per row, row-major (row i's probability of class k is
// probabilities(i * K + k)), so its length is labels.size() * K; each row is meant to be a
// probability distribution. Rows are not renormalized (scikit-learn 1.2's log_loss divides each
// clipped row by its sum; for rows that sum to 1 the two agree to rounding).
// Common errors (agreed on every rank): RuntimeError if num_classes < 2 or probabilities.size()
// != labels.size() * num_classes on a rank (both shardflow bugs); InputError if a label is not an
// integer in [0, K) (NaN included) or a probability is outside [0, 1] or NaN;
// MetricNotComputable if there are no rows. num_classes must be equal on all ranks.

/// Collective: the fraction of rows whose predicted class equals the label, from exact integer
/// counts. The predicted class is the argmax of the row's probabilities; ties go to the lowest
/// class index (numpy's argmax, as scikit-learn uses it).
double multiclass_accuracy(const mpi::Comm& comm, const Eigen::VectorXd& labels,
                           const Eigen::VectorXd& probabilities, int num_classes);

/// Collective: mean -log(clip(p[label], 1e-15, 1 - 1e-15)) over rows, where p[label] is the row's
/// probability of its true class: scikit-learn 1.2's log_loss with eps = 1e-15 (see above for
/// renormalization). Summed with reproducible_sum.
double multiclass_log_loss(const mpi::Comm& comm, const Eigen::VectorXd& labels,
                           const Eigen::VectorXd& probabilities, int num_classes);

/// Collective: the unweighted mean over classes of per-class F1 = 2 TP / (2 TP + FP + FN), with
/// the predicted class as in multiclass_accuracy and counts from confusion_matrix. A class with
/// no true row and no predicted row (TP + FP + FN = 0) has no F1 and is left out of the mean,
/// exactly as scikit-learn 1.2's f1_score(y_true, y_pred, average='macro', zero_division=0)
/// leaves out a class absent from both y_true and y_pred (it averages over the classes present
/// in either). A class that is only predicted, or only true, has F1 0 and counts. This differs
/// from passing labels=range(K) to scikit-learn, which would count such absent classes as 0.
/// With at least one row some class is present, so this is defined whenever there are rows.
double macro_f1(const mpi::Comm& comm, const Eigen::VectorXd& labels,
                const Eigen::VectorXd& probabilities, int num_classes);

/// Collective: the K x K confusion matrix, row-major: entry [t * K + p] counts the rows whose true
/// class is t and predicted class (as in multiclass_accuracy) is p. Exact 64-bit counts, identical
/// on all ranks (scikit-learn's confusion_matrix(y_true, y_pred, labels=range(K))).
std::vector<std::int64_t> confusion_matrix(const mpi::Comm& comm, const Eigen::VectorXd& labels,
                                           const Eigen::VectorXd& probabilities, int num_classes);

}  // namespace shardflow::ml
