#pragma once
// Classification metrics over a distributed dataset: each rank passes its rows' labels (0/1) and
// predicted probabilities of label 1. Every result is identical on all ranks and does not depend
// on how rows are split across ranks.

#include <Eigen/Core>
#include <vector>

#include "shardflow/common/error.hpp"
#include "shardflow/mpi/comm.hpp"

namespace shardflow::ml {

/// A metric that is undefined on the evaluation data as a whole (no rows; AUC with one class).
/// Thrown identically on every rank (its condition is computed from global counts) and marked
/// agreed, so a caller may report the metric as not computable and go on.
class MetricNotComputable : public InputError {
 public:
  explicit MetricNotComputable(std::string message) : InputError(std::move(message)) {
    set_agreed(true);
  }
};

/// Collective: mean log loss -[y log p + (1-y) log(1-p)], with p clipped to [1e-15, 1 - 1e-15].
/// Summed with reproducible_sum. Must be equal on all ranks: nothing (row counts may differ).
/// Errors (agreed on every rank): RuntimeError if labels and p differ in length on a rank;
/// InputError if a label is not 0/1, a probability is outside [0, 1] or NaN;
/// MetricNotComputable if there are no rows.
double log_loss(const mpi::Comm& comm, const Eigen::VectorXd& labels, const Eigen::VectorXd& p);

/// Collective: fraction of rows whose prediction (p >= threshold) equals the label. Exact (integer
/// counts). Must be equal on all ranks: threshold. Errors as for log_loss.
double accuracy(const mpi::Comm& comm, const Eigen::VectorXd& labels, const Eigen::VectorXd& p,
                double threshold = 0.5);

/// Collective: exact area under the ROC curve, ties counted as 1/2 (the Mann-Whitney U
/// statistic / (positives * negatives)). No rank gathers the scores: each rank collapses its rows
/// into (distinct score, positives, negatives), those entries are range-partitioned by score over
/// the ranks (equal scores meet on one rank), and U is an exact 128-bit integer sum. Memory per
/// rank is that of its share of the distinct scores. Errors as for log_loss, plus
/// MetricNotComputable if all labels are equal (AUC is undefined with one class).
double roc_auc(const mpi::Comm& comm, const Eigen::VectorXd& labels, const Eigen::VectorXd& p);

/// Collective: area under the precision-recall curve as average precision (scikit-learn's
/// average_precision_score): the sum over distinct scores, from the highest, of the recall gained
/// at that score times the precision of every row scored at or above it. Computed from the same
/// range-partitioned score counts as roc_auc, its terms added with reproducible_sum, so it is the
/// same at every rank count. Errors as for log_loss, plus MetricNotComputable without positive
/// labels.
double average_precision(const mpi::Comm& comm, const Eigen::VectorXd& labels,
                         const Eigen::VectorXd& p);

/// Collective: TP / (TP + FP) with p >= threshold predicting 1, from exact counts.
/// MetricNotComputable when no row is predicted positive. Errors otherwise as for log_loss.
double precision(const mpi::Comm& comm, const Eigen::VectorXd& labels, const Eigen::VectorXd& p,
                 double threshold = 0.5);
/// Collective: TP / (TP + FN) at the threshold. MetricNotComputable without positive labels.
double recall(const mpi::Comm& comm, const Eigen::VectorXd& labels, const Eigen::VectorXd& p,
              double threshold = 0.5);
/// Collective: 2 TP / (2 TP + FP + FN) at the threshold (the harmonic mean of precision and
/// recall). MetricNotComputable when there is neither a positive label nor a positive prediction.
double f1(const mpi::Comm& comm, const Eigen::VectorXd& labels, const Eigen::VectorXd& p,
          double threshold = 0.5);

/// The binary confusion counts at a threshold (p >= threshold predicts 1), summed over the ranks.
struct BinaryConfusion {
  idx_t tn = 0, fp = 0, fn = 0, tp = 0;
};

/// Collective: the confusion counts at `threshold`, exact. Must be equal on all ranks: threshold.
/// Errors as for log_loss (MetricNotComputable if there are no rows).
BinaryConfusion binary_confusion(const mpi::Comm& comm, const Eigen::VectorXd& labels,
                                 const Eigen::VectorXd& p, double threshold = 0.5);

/// A ROC curve as points (fpr[k], tpr[k]), from (0, 0) to (1, 1), both nondecreasing.
struct RocCurve {
  std::vector<double> fpr;
  std::vector<double> tpr;
  idx_t positives = 0;  // rows labelled 1, over all ranks
  idx_t negatives = 0;
};

/// Collective: the ROC curve on a fixed grid of `bins` equal-width score bins over [0, 1], for a
/// chart (the exact area is roc_auc's). Row i falls in bin b = min(floor(p(i) * bins), bins - 1);
/// point k (k = 0..bins) holds the shares of negatives (fpr) and of positives (tpr) whose bin is
/// at least bins - k, i.e. those predicted positive at the threshold (bins - k) / bins, so
/// bins + 1 points. No rank sees another's scores: each rank counts its rows per bin and class,
/// and one allreduce of 2 x bins integers adds the counts, so the curve is the same at every rank
/// count. Must be equal on all ranks: bins (>= 1; RuntimeError otherwise). Errors as for roc_auc
/// (MetricNotComputable when one class is missing).
RocCurve roc_curve(const mpi::Comm& comm, const Eigen::VectorXd& labels, const Eigen::VectorXd& p,
                   int bins = 200);

}  // namespace shardflow::ml
