#include "shardflow/ml/metrics.hpp"

#include <algorithm>
#include <cmath>
#include <span>
#include <vector>

#include "shardflow/ml/reproducible_sum.hpp"
#include "shardflow/mpi/allgatherv.hpp"
#include "shardflow/mpi/allreduce.hpp"

namespace shardflow::ml {
namespace {

// Checks the local inputs of a metric inside an agreement, so a bad value on one rank becomes the
// same error on every rank; returns the global row count.
idx_t check_inputs(const mpi::Comm& comm, const Eigen::VectorXd& labels, const Eigen::VectorXd& p,
                   const char* metric) {
  comm.agree([&] {
    if (labels.size() != p.size()) {
      throw RuntimeError("{}: {} labels but {} predictions on rank {}; this is a shardflow bug",
                         metric, labels.size(), p.size(), comm.rank());
    }
    for (Eigen::Index i = 0; i < labels.size(); ++i) {
      if (labels(i) != 0.0 && labels(i) != 1.0) {
        throw InputError("{}: label {} at row {} of rank {}; labels must be 0 or 1", metric,
                         labels(i), i, comm.rank());
      }
      if (!(p(i) >= 0.0 && p(i) <= 1.0)) {
        throw InputError(
            "{}: predicted probability {} at row {} of rank {} is outside [0, 1]; pass "
            "probabilities, not raw scores",
            metric, p(i), i, comm.rank());
      }
    }
  });
  const idx_t n = mpi::allreduce_sum(comm, static_cast<idx_t>(labels.size()));
  if (n == 0) {
    throw MetricNotComputable(fmt::format(
        "{}: the evaluation data has no rows; check the split that produces it", metric));
  }
  return n;
}

}  // namespace

double log_loss(const mpi::Comm& comm, const Eigen::VectorXd& labels, const Eigen::VectorXd& p) {
  const idx_t n = check_inputs(comm, labels, p, "log_loss");
  constexpr double kEps = 1e-15;
  std::vector<double> losses(static_cast<size_t>(labels.size()));
  for (Eigen::Index i = 0; i < labels.size(); ++i) {
    const double q = std::clamp(p(i), kEps, 1.0 - kEps);
    losses[static_cast<size_t>(i)] = labels(i) == 1.0 ? -std::log(q) : -std::log1p(-q);
  }
  return reproducible_sum(comm, losses, 1, "log_loss")[0] / static_cast<double>(n);
}

double accuracy(const mpi::Comm& comm, const Eigen::VectorXd& labels, const Eigen::VectorXd& p,
                double threshold) {
  const idx_t n = check_inputs(comm, labels, p, "accuracy");
  idx_t correct = 0;
  for (Eigen::Index i = 0; i < labels.size(); ++i)
    correct += ((p(i) >= threshold) == (labels(i) == 1.0)) ? 1 : 0;
  correct = mpi::allreduce_sum(comm, correct);
  return static_cast<double>(correct) / static_cast<double>(n);
}

double roc_auc(const mpi::Comm& comm, const Eigen::VectorXd& labels, const Eigen::VectorXd& p) {
  check_inputs(comm, labels, p, "roc_auc");
  std::vector<double> pos_local, neg_local;
  for (Eigen::Index i = 0; i < labels.size(); ++i)
    (labels(i) == 1.0 ? pos_local : neg_local).push_back(p(i));
  std::vector<double> pos = mpi::allgatherv<double>(comm, pos_local);
  std::vector<double> neg = mpi::allgatherv<double>(comm, neg_local);
  if (pos.empty() || neg.empty()) {
    throw MetricNotComputable(fmt::format(
        "roc_auc: the evaluation data has {} positive and {} negative labels; AUC needs both "
        "classes",
        pos.size(), neg.size()));
  }
  std::sort(pos.begin(), pos.end());
  std::sort(neg.begin(), neg.end());
  // Twice the Mann-Whitney U statistic, as an exact integer: each positive scores 2 per negative
  // with a lower score and 1 per tied negative. Sorting makes the count independent of the
  // gathered order, so it is the same at every rank count.
  unsigned __int128 twice_u = 0;
  size_t below = 0;
  size_t upto = 0;
  for (const double s : pos) {
    while (below < neg.size() && neg[below] < s)
      ++below;
    upto = std::max(upto, below);
    while (upto < neg.size() && neg[upto] <= s)
      ++upto;
    twice_u += 2 * static_cast<unsigned __int128>(below) + (upto - below);
  }
  const long double denominator =
      2.0L * static_cast<long double>(pos.size()) * static_cast<long double>(neg.size());
  return static_cast<double>(static_cast<long double>(twice_u) / denominator);
}

}  // namespace shardflow::ml
