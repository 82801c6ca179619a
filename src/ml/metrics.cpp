#include "shardflow/ml/metrics.hpp"

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <span>
#include <vector>

#include "shardflow/ml/reproducible_sum.hpp"
#include "shardflow/mpi/allgatherv.hpp"
#include "shardflow/mpi/allreduce.hpp"
#include "shardflow/mpi/alltoallv.hpp"
#include "shardflow/mpi/op.hpp"

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

namespace {

// The evaluation set as distinct scores with their label counts, sorted by score across the ranks:
// every distinct score is held by exactly one rank, and rank r's scores are all below rank r+1's.
// Rows never leave their rank as rows: each rank collapses its own (score, label) pairs first, so
// a model with few distinct scores moves few entries, and a range partition by value (splitters
// from a sample of every rank's distinct scores) keeps equal scores together.
struct ScoreCount {
  double score = 0;
  idx_t positives = 0;
  idx_t negatives = 0;
};

// Entries sorted by score, with equal scores merged into one.
std::vector<ScoreCount> merge_equal_scores(const std::vector<ScoreCount>& entries) {
  std::vector<ScoreCount> out;
  for (const ScoreCount& e : entries) {
    if (!out.empty() && out.back().score == e.score) {
      out.back().positives += e.positives;
      out.back().negatives += e.negatives;
    } else {
      out.push_back(e);
    }
  }
  return out;
}

// This rank's rows as distinct scores with their label counts, sorted by score. Why a radix sort:
// the scores are probabilities in [0, 1] (check_inputs), whose bit patterns as unsigned integers
// sort as the numbers do (after -0.0 becomes +0.0), and an LSD radix sort of the 64-bit patterns
// with the label in the lowest bit (so a key is 2 * bits + label, using the 63 bits below the
// sign) takes a fixed number of linear passes; passes whose byte is equal in every key are
// skipped. std::sort of (score, label) records was about twice as slow at 1e6 rows per rank.
std::vector<ScoreCount> collapse_scores(const Eigen::VectorXd& labels, const Eigen::VectorXd& p) {
  const auto n = static_cast<size_t>(p.size());
  std::vector<std::uint64_t> keys(n), scratch(n);
  for (size_t i = 0; i < n; ++i) {
    const auto bits = std::bit_cast<std::uint64_t>(p(static_cast<Eigen::Index>(i)) + 0.0);
    keys[i] = (bits << 1) | (labels(static_cast<Eigen::Index>(i)) == 1.0 ? 1 : 0);
  }
  for (int shift = 0; shift < 64; shift += 8) {
    std::array<size_t, 257> offset{};
    for (const std::uint64_t k : keys)
      ++offset[((k >> shift) & 0xFF) + 1];
    if (std::find(offset.begin() + 1, offset.end(), n) != offset.end()) continue;  // one bucket
    for (size_t b = 1; b < offset.size(); ++b)
      offset[b] += offset[b - 1];
    for (const std::uint64_t k : keys)
      scratch[offset[(k >> shift) & 0xFF]++] = k;
    keys.swap(scratch);
  }
  std::vector<ScoreCount> out;
  for (const std::uint64_t k : keys) {
    const double score = std::bit_cast<double>(k >> 1);
    if (out.empty() || out.back().score != score) out.push_back({score, 0, 0});
    ((k & 1) != 0 ? out.back().positives : out.back().negatives) += 1;
  }
  return out;
}

std::vector<ScoreCount> sorted_score_counts(const mpi::Comm& comm, const Eigen::VectorXd& labels,
                                            const Eigen::VectorXd& p) {
  std::vector<ScoreCount> local = collapse_scores(labels, p);
  if (comm.size() == 1) return local;
  // Splitters: kSample evenly spaced distinct scores of every rank, gathered and sorted; the
  // size - 1 quantiles of that sample split the score range.
  constexpr size_t kSample = 64;
  std::vector<double> sample;
  const size_t step = std::max<size_t>(1, local.size() / kSample);
  for (size_t i = 0; i < local.size(); i += step)
    sample.push_back(local[i].score);
  std::vector<double> all = mpi::allgatherv<double>(comm, sample);
  std::sort(all.begin(), all.end());
  std::vector<double> splitters;
  for (int r = 1; r < comm.size(); ++r) {
    if (all.empty()) break;
    splitters.push_back(
        all[all.size() * static_cast<size_t>(r) / static_cast<size_t>(comm.size())]);
  }
  // Entry with score s goes to the number of splitters <= s: equal scores to one rank, and the
  // local entries (sorted) to ranks in order.
  // Sent as three 64-bit words per entry (score bits, positives, negatives).
  std::vector<idx_t> counts(static_cast<size_t>(comm.size()), 0);
  std::vector<idx_t> words;
  words.reserve(3 * local.size());
  for (const ScoreCount& e : local) {
    const auto dest =
        std::upper_bound(splitters.begin(), splitters.end(), e.score) - splitters.begin();
    counts[static_cast<size_t>(dest)] += 3;
    words.push_back(std::bit_cast<idx_t>(e.score));
    words.push_back(e.positives);
    words.push_back(e.negatives);
  }
  local = {};
  std::vector<idx_t> recv_counts;
  const std::vector<idx_t> in =
      mpi::alltoallv<idx_t>(comm, std::span<const idx_t>(words), counts, &recv_counts);
  words = {};
  std::vector<ScoreCount> received(in.size() / 3);
  for (size_t i = 0; i < received.size(); ++i)
    received[i] = {std::bit_cast<double>(in[3 * i]), in[3 * i + 1], in[3 * i + 2]};
  // Each source's entries arrive sorted: merge the runs pairwise instead of sorting again.
  const auto by_score = [](const ScoreCount& a, const ScoreCount& b) { return a.score < b.score; };
  for (size_t width = 1; width < recv_counts.size(); width *= 2) {
    for (size_t r = 0; r + width < recv_counts.size(); r += 2 * width) {
      const auto at = [&](size_t source) {
        idx_t entries = 0;
        for (size_t q = 0; q < source && q < recv_counts.size(); ++q)
          entries += recv_counts[q] / 3;
        return received.begin() + entries;
      };
      std::inplace_merge(at(r), at(r + width), at(std::min(r + 2 * width, recv_counts.size())),
                         by_score);
    }
  }
  return merge_equal_scores(received);
}

// Adds 128-bit integers; unsigned arithmetic wraps instead of overflowing (sums here are far below
// 2^127: at most 2^63 rows, each adding at most 2^64).
const mpi::Op<unsigned __int128> kUint128Sum([](const unsigned __int128& a,
                                                const unsigned __int128& b) { return a + b; },
                                             /*commutative=*/true);

struct ClassTotals {
  idx_t positives = 0;
  idx_t negatives = 0;
  idx_t positives_below = 0;  // on lower ranks
  idx_t negatives_below = 0;
};

ClassTotals class_totals(const mpi::Comm& comm, const std::vector<ScoreCount>& counts) {
  ClassTotals t;
  idx_t pos = 0, neg = 0;
  for (const ScoreCount& c : counts) {
    pos += c.positives;
    neg += c.negatives;
  }
  t.positives = mpi::allreduce_sum(comm, pos);
  t.negatives = mpi::allreduce_sum(comm, neg);
  t.positives_below = mpi::exscan_sum(comm, pos);
  t.negatives_below = mpi::exscan_sum(comm, neg);
  return t;
}

void require_both_classes(const ClassTotals& t, const char* metric, const char* what) {
  if (t.positives == 0 || t.negatives == 0) {
    throw MetricNotComputable(fmt::format(
        "{}: the evaluation data has {} positive and {} negative labels; {} needs both classes",
        metric, t.positives, t.negatives, what));
  }
}

// The confusion counts at a threshold (p >= threshold predicts 1), summed over the ranks.
struct Confusion {
  idx_t tp = 0, fp = 0, tn = 0, fn = 0;
};
Confusion confusion(const mpi::Comm& comm, const Eigen::VectorXd& labels, const Eigen::VectorXd& p,
                    double threshold) {
  std::vector<idx_t> c(4, 0);
  for (Eigen::Index i = 0; i < labels.size(); ++i) {
    const bool predicted = p(i) >= threshold;
    const bool actual = labels(i) == 1.0;
    ++c[static_cast<size_t>((predicted ? 2 : 0) + (actual ? 1 : 0))];
  }
  mpi::allreduce_inplace(comm, std::span<idx_t>(c), mpi::Reduce::kSum);
  return {c[3], c[2], c[0], c[1]};
}

}  // namespace

double roc_auc(const mpi::Comm& comm, const Eigen::VectorXd& labels, const Eigen::VectorXd& p) {
  check_inputs(comm, labels, p, "roc_auc");
  const std::vector<ScoreCount> counts = sorted_score_counts(comm, labels, p);
  const ClassTotals totals = class_totals(comm, counts);
  require_both_classes(totals, "roc_auc", "AUC");
  // Twice the Mann-Whitney U statistic, as an exact integer: each positive scores 2 per negative
  // with a lower score and 1 per tied negative. Integer addition makes it independent of how the
  // scores are split over ranks, so it is the same at every rank count.
  unsigned __int128 twice_u = 0;
  auto below = static_cast<unsigned __int128>(totals.negatives_below);
  for (const ScoreCount& c : counts) {
    twice_u += static_cast<unsigned __int128>(c.positives) *
               (2 * below + static_cast<unsigned __int128>(c.negatives));
    below += static_cast<unsigned __int128>(c.negatives);
  }
  twice_u = mpi::allreduce(comm, twice_u, kUint128Sum);
  const long double denominator = 2.0L * static_cast<long double>(totals.positives) *
                                  static_cast<long double>(totals.negatives);
  return static_cast<double>(static_cast<long double>(twice_u) / denominator);
}

double average_precision(const mpi::Comm& comm, const Eigen::VectorXd& labels,
                         const Eigen::VectorXd& p) {
  check_inputs(comm, labels, p, "pr_auc");
  const std::vector<ScoreCount> counts = sorted_score_counts(comm, labels, p);
  const ClassTotals totals = class_totals(comm, counts);
  if (totals.positives == 0) {
    throw MetricNotComputable(fmt::format(
        "pr_auc: the evaluation data has no positive labels ({} negative); precision-recall needs "
        "positives",
        totals.negatives));
  }
  // Thresholds at each distinct score, from the highest: a score's positives raise the recall by
  // positives / P at the precision TP / (TP + FP) of everything scored at or above it. The rows
  // at or above a score: those on higher ranks, plus this rank's from that score up. Each term
  // depends only on global counts, and the terms are added with reproducible_sum, so the result
  // is the same at every rank count.
  idx_t local_pos = 0, local_neg = 0;
  for (const ScoreCount& c : counts) {
    local_pos += c.positives;
    local_neg += c.negatives;
  }
  idx_t tp = totals.positives - totals.positives_below - local_pos;  // on higher ranks
  idx_t fp = totals.negatives - totals.negatives_below - local_neg;
  std::vector<double> terms;
  for (auto it = counts.rbegin(); it != counts.rend(); ++it) {
    tp += it->positives;
    fp += it->negatives;
    if (it->positives == 0) continue;
    terms.push_back(static_cast<double>(it->positives) *
                    (static_cast<double>(tp) / static_cast<double>(tp + fp)));
  }
  return reproducible_sum(comm, terms, 1, "pr_auc")[0] / static_cast<double>(totals.positives);
}

double precision(const mpi::Comm& comm, const Eigen::VectorXd& labels, const Eigen::VectorXd& p,
                 double threshold) {
  check_inputs(comm, labels, p, "precision");
  const Confusion c = confusion(comm, labels, p, threshold);
  if (c.tp + c.fp == 0) {
    throw MetricNotComputable(fmt::format(
        "precision: no row is predicted positive (p >= {}) among {} rows; precision is undefined",
        threshold, c.tn + c.fn));
  }
  return static_cast<double>(c.tp) / static_cast<double>(c.tp + c.fp);
}

double recall(const mpi::Comm& comm, const Eigen::VectorXd& labels, const Eigen::VectorXd& p,
              double threshold) {
  check_inputs(comm, labels, p, "recall");
  const Confusion c = confusion(comm, labels, p, threshold);
  if (c.tp + c.fn == 0) {
    throw MetricNotComputable(fmt::format(
        "recall: the evaluation data has no positive labels ({} negative); recall is undefined",
        c.tn + c.fp));
  }
  return static_cast<double>(c.tp) / static_cast<double>(c.tp + c.fn);
}

double f1(const mpi::Comm& comm, const Eigen::VectorXd& labels, const Eigen::VectorXd& p,
          double threshold) {
  check_inputs(comm, labels, p, "f1");
  const Confusion c = confusion(comm, labels, p, threshold);
  if (c.tp + c.fp + c.fn == 0) {
    throw MetricNotComputable(fmt::format(
        "f1: no positive label and no positive prediction (p >= {}) among {} rows; F1 is "
        "undefined",
        threshold, c.tn));
  }
  return static_cast<double>(2 * c.tp) / static_cast<double>(2 * c.tp + c.fp + c.fn);
}

BinaryConfusion binary_confusion(const mpi::Comm& comm, const Eigen::VectorXd& labels,
                                 const Eigen::VectorXd& p, double threshold) {
  check_inputs(comm, labels, p, "confusion_matrix");
  const Confusion c = confusion(comm, labels, p, threshold);
  return {c.tn, c.fp, c.fn, c.tp};
}

RocCurve roc_curve(const mpi::Comm& comm, const Eigen::VectorXd& labels, const Eigen::VectorXd& p,
                   int bins) {
  if (bins < 1) throw RuntimeError("roc_curve: {} bins; at least 1 is needed", bins);
  check_inputs(comm, labels, p, "roc_curve");
  // Why a fixed grid: the histogram of every rank adds up with one allreduce of 2 x bins
  // integers, whatever the number of rows or distinct scores, and the curve drawn from it is
  // indistinguishable from the exact one at chart resolution (the exact AUC is roc_auc's).
  const auto nb = static_cast<size_t>(bins);
  std::vector<idx_t> counts(2 * nb, 0);  // [negatives by bin..., positives by bin...]
  for (Eigen::Index i = 0; i < labels.size(); ++i) {
    const auto b = std::min(static_cast<size_t>(p(i) * bins), nb - 1);
    ++counts[(labels(i) == 1.0 ? nb : 0) + b];
  }
  mpi::allreduce_inplace(comm, std::span<idx_t>(counts), mpi::Reduce::kSum);
  RocCurve roc;
  for (size_t b = 0; b < nb; ++b) {
    roc.negatives += counts[b];
    roc.positives += counts[nb + b];
  }
  if (roc.positives == 0 || roc.negatives == 0) {
    throw MetricNotComputable(fmt::format(
        "roc_curve: the evaluation data has {} positive and {} negative labels; a ROC curve needs "
        "both classes",
        roc.positives, roc.negatives));
  }
  idx_t fp = 0, tp = 0;
  roc.fpr.push_back(0.0);
  roc.tpr.push_back(0.0);
  for (size_t k = 1; k <= nb; ++k) {
    fp += counts[nb - k];
    tp += counts[2 * nb - k];
    // The last point is exactly (1, 1), not a ratio that could round below it.
    roc.fpr.push_back(k == nb ? 1.0 : static_cast<double>(fp) / static_cast<double>(roc.negatives));
    roc.tpr.push_back(k == nb ? 1.0 : static_cast<double>(tp) / static_cast<double>(roc.positives));
  }
  return roc;
}

}  // namespace shardflow::ml
