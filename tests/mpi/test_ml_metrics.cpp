// log_loss, accuracy and roc_auc against brute-force references computed from the whole data on
// every rank, with many tied scores, under skewed splits (empty ranks, all rows on one rank), and
// bit-for-bit against a single-process run; error paths with their messages; the metric registry.

#include <gtest/gtest.h>

#include <bit>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "shardflow/common/hash.hpp"
#include "shardflow/ml/metric.hpp"
#include "shardflow/ml/metrics.hpp"
#include "shardflow/ml/task_metrics.hpp"
#include "shardflow/mpi/allgatherv.hpp"
#include "shardflow/mpi/bcast.hpp"
#include "shardflow/mpi/comm.hpp"
#include "support/test_util.hpp"

using namespace shardflow;

namespace {

constexpr idx_t kRows = 517;

using testing_util::split;

double uniform(idx_t g, int j) {
  const std::uint64_t h = hash_combine(hash_u64(5), static_cast<std::uint64_t>(g * 4 + j));
  return static_cast<double>(h >> 11) * 0x1p-53;
}

double label_of(idx_t g) {
  return uniform(g, 0) < 0.4 ? 1.0 : 0.0;
}
// Scores correlated with the label, quantized to multiples of 1/20 so that many tie; 0 and 1
// included.
double score_of(idx_t g) {
  const double raw = std::clamp(0.35 * label_of(g) + 0.8 * uniform(g, 1) - 0.05, 0.0, 1.0);
  return std::round(raw * 20) / 20;
}

struct Local {
  Eigen::VectorXd labels, p;
};
Local local_part(idx_t b, idx_t e) {
  Local l{Eigen::VectorXd(e - b), Eigen::VectorXd(e - b)};
  for (idx_t g = b; g < e; ++g) {
    l.labels(g - b) = label_of(g);
    l.p(g - b) = score_of(g);
  }
  return l;
}

void expect_same_message_everywhere(const mpi::Comm& comm, const std::string& message) {
  const auto all = mpi::allgather<std::uint64_t>(comm, hash_string(message));
  for (auto h : all)
    EXPECT_EQ(h, all[0]) << message;
}

bool same_bits(double a, double b) {
  return std::memcmp(&a, &b, sizeof a) == 0;
}

}  // namespace

TEST(Metrics, MatchBruteForceAndSingleProcessBits) {
  mpi::Comm comm;
  // Brute force from the formula.
  long double loss = 0;
  idx_t correct = 0, pairs = 0;
  long double auc_num = 0;
  for (idx_t g = 0; g < kRows; ++g) {
    const double q = std::clamp(score_of(g), 1e-15, 1 - 1e-15);
    loss += label_of(g) == 1.0 ? -std::log(static_cast<long double>(q))
                               : -std::log(1.0L - static_cast<long double>(q));
    correct += (score_of(g) >= 0.5) == (label_of(g) == 1.0);
    if (label_of(g) != 1.0) continue;
    for (idx_t h = 0; h < kRows; ++h) {
      if (label_of(h) == 1.0) continue;
      ++pairs;
      auc_num += score_of(g) > score_of(h) ? 1.0L : score_of(g) == score_of(h) ? 0.5L : 0.0L;
    }
  }
  const double brute_auc = static_cast<double>(auc_num / pairs);

  double ref[3] = {0, 0, 0};
  if (comm.rank() == 0) {
    mpi::Comm self(MPI_COMM_SELF);
    const Local all = local_part(0, kRows);
    ref[0] = ml::log_loss(self, all.labels, all.p);
    ref[1] = ml::accuracy(self, all.labels, all.p);
    ref[2] = ml::roc_auc(self, all.labels, all.p);
  }
  mpi::bcast(comm, std::span<double>(ref, 3), 0);
  EXPECT_NEAR(ref[0], static_cast<double>(loss / kRows), 1e-13);
  EXPECT_EQ(ref[1], static_cast<double>(correct) / kRows);
  EXPECT_EQ(ref[2], brute_auc);
  EXPECT_GT(ref[2], 0.6);  // the data is informative, so ties and ordering both matter

  for (int mode : {0, 1, 2}) {
    const auto [b, e] = split(kRows, comm.rank(), comm.size(), mode);
    const Local l = local_part(b, e);
    EXPECT_TRUE(same_bits(ml::log_loss(comm, l.labels, l.p), ref[0])) << mode;
    EXPECT_TRUE(same_bits(ml::accuracy(comm, l.labels, l.p), ref[1])) << mode;
    EXPECT_TRUE(same_bits(ml::roc_auc(comm, l.labels, l.p), ref[2])) << mode;
  }
}

// The ROC points against a brute-force count over the whole data at every threshold of the grid,
// at every split; with scores on multiples of 1/20 (edges of the 200-bin grid) every tie lands in
// one bin, so the trapezoid area under the points is the exact AUC.
TEST(Metrics, RocCurveMatchesBruteForce) {
  mpi::Comm comm;
  const auto continuous = [](idx_t g) {
    return std::clamp(0.3 * label_of(g) + 0.7 * uniform(g, 2), 0.0, 1.0);
  };
  for (const int bins : {1, 7, 200}) {
    for (const bool tied : {false, true}) {
      const auto score = [&](idx_t g) { return tied ? score_of(g) : continuous(g); };
      // Brute force: point k is the share of each class at or above the threshold (bins - k) /
      // bins, a row's bin being min(floor(p * bins), bins - 1).
      idx_t positives = 0, negatives = 0;
      for (idx_t g = 0; g < kRows; ++g)
        (label_of(g) == 1.0 ? positives : negatives) += 1;
      std::vector<double> fpr, tpr;
      for (int k = 0; k <= bins; ++k) {
        idx_t fp = 0, tp = 0;
        for (idx_t g = 0; g < kRows; ++g) {
          const int b = std::min(static_cast<int>(std::floor(score(g) * bins)), bins - 1);
          if (k > 0 && b >= bins - k) (label_of(g) == 1.0 ? tp : fp) += 1;
        }
        fpr.push_back(static_cast<double>(fp) / static_cast<double>(negatives));
        tpr.push_back(static_cast<double>(tp) / static_cast<double>(positives));
      }
      for (int mode : {0, 1, 2}) {
        const auto [b, e] = split(kRows, comm.rank(), comm.size(), mode);
        Local l = local_part(b, e);
        for (idx_t g = b; g < e; ++g)
          l.p(g - b) = score(g);
        const ml::RocCurve roc = ml::roc_curve(comm, l.labels, l.p, bins);
        ASSERT_EQ(roc.fpr.size(), static_cast<size_t>(bins) + 1);
        ASSERT_EQ(roc.tpr.size(), static_cast<size_t>(bins) + 1);
        EXPECT_EQ(roc.positives, positives);
        EXPECT_EQ(roc.negatives, negatives);
        for (int k = 0; k <= bins; ++k) {
          EXPECT_EQ(roc.fpr[static_cast<size_t>(k)], fpr[static_cast<size_t>(k)])
              << bins << " " << k;
          EXPECT_EQ(roc.tpr[static_cast<size_t>(k)], tpr[static_cast<size_t>(k)])
              << bins << " " << k;
        }
        EXPECT_EQ(roc.fpr.front(), 0.0);
        EXPECT_EQ(roc.tpr.front(), 0.0);
        EXPECT_EQ(roc.fpr.back(), 1.0);
        EXPECT_EQ(roc.tpr.back(), 1.0);
        if (tied && bins == 200) {
          double area = 0;
          for (size_t k = 1; k < roc.fpr.size(); ++k)
            area += (roc.fpr[k] - roc.fpr[k - 1]) * (roc.tpr[k] + roc.tpr[k - 1]) / 2;
          EXPECT_NEAR(area, ml::roc_auc(comm, l.labels, l.p), 1e-12);
        }
      }
    }
  }
}

TEST(Metrics, BinaryConfusionCountsEveryRow) {
  mpi::Comm comm;
  idx_t tn = 0, fp = 0, fn = 0, tp = 0;
  for (idx_t g = 0; g < kRows; ++g) {
    const bool predicted = score_of(g) >= 0.5, actual = label_of(g) == 1.0;
    (predicted ? (actual ? tp : fp) : (actual ? fn : tn)) += 1;
  }
  for (int mode : {0, 1, 2}) {
    const auto [b, e] = split(kRows, comm.rank(), comm.size(), mode);
    const Local l = local_part(b, e);
    const ml::BinaryConfusion c = ml::binary_confusion(comm, l.labels, l.p);
    EXPECT_EQ(c.tn, tn);
    EXPECT_EQ(c.fp, fp);
    EXPECT_EQ(c.fn, fn);
    EXPECT_EQ(c.tp, tp);
    EXPECT_EQ(c.tn + c.fp + c.fn + c.tp, kRows);
  }
}

TEST(Metrics, RocCurveNeedsBothClasses) {
  mpi::Comm comm;
  const auto [b, e] = split(kRows, comm.rank(), comm.size(), 0);
  const Eigen::VectorXd zeros = Eigen::VectorXd::Zero(e - b);
  const Eigen::VectorXd p = Eigen::VectorXd::Constant(e - b, 0.3);
  try {
    ml::roc_curve(comm, zeros, p);
    ADD_FAILURE() << "expected an error";
  } catch (const ml::MetricNotComputable& err) {
    EXPECT_EQ(std::string(err.what()), "roc_curve: the evaluation data has 0 positive and " +
                                           std::to_string(kRows) +
                                           " negative labels; a ROC curve needs both classes");
  }
}

TEST(Metrics, AucEdgeCases) {
  mpi::Comm comm;
  // One positive and one negative on (possibly) different ranks.
  const bool first = comm.rank() == 0;
  const bool last = comm.rank() == comm.size() - 1;
  auto run = [&](double pos_score, double neg_score) {
    std::vector<double> y, p;
    if (first) y.push_back(1.0), p.push_back(pos_score);
    if (last) y.push_back(0.0), p.push_back(neg_score);
    return ml::roc_auc(comm,
                       Eigen::Map<Eigen::VectorXd>(y.data(), static_cast<Eigen::Index>(y.size())),
                       Eigen::Map<Eigen::VectorXd>(p.data(), static_cast<Eigen::Index>(p.size())));
  };
  EXPECT_EQ(run(0.9, 0.1), 1.0);
  EXPECT_EQ(run(0.1, 0.9), 0.0);
  EXPECT_EQ(run(0.5, 0.5), 0.5);
}

TEST(Metrics, SingleClassAucIsAnError) {
  mpi::Comm comm;
  const auto [b, e] = split(kRows, comm.rank(), comm.size(), 0);
  const Eigen::VectorXd ones = Eigen::VectorXd::Ones(e - b);
  const Eigen::VectorXd p = Eigen::VectorXd::Constant(e - b, 0.3);
  try {
    ml::roc_auc(comm, ones, p);
    ADD_FAILURE() << "expected an error";
  } catch (const InputError& err) {
    EXPECT_EQ(std::string(err.what()),
              "roc_auc: the evaluation data has " + std::to_string(kRows) +
                  " positive and 0 negative labels; AUC needs both classes");
  }
}

TEST(Metrics, BadInputsAreAgreedErrors) {
  mpi::Comm comm;
  const int culprit = comm.size() - 1;
  const auto [b, e] = split(kRows, comm.rank(), comm.size(), 0);
  Local l = local_part(b, e);
  const std::string where = comm.size() > 1 ? "rank " + std::to_string(culprit) + ": " : "";
  {
    Local bad = l;
    if (comm.rank() == culprit) bad.p(1) = 1.5;
    try {
      ml::log_loss(comm, bad.labels, bad.p);
      ADD_FAILURE() << "expected an error";
    } catch (const InputError& err) {
      EXPECT_EQ(std::string(err.what()),
                where + "log_loss: predicted probability 1.5 at row 1 of rank " +
                    std::to_string(culprit) +
                    " is outside [0, 1]; pass probabilities, not raw scores");
      expect_same_message_everywhere(comm, err.what());
    }
  }
  {
    Local bad = l;
    if (comm.rank() == culprit) bad.labels(2) = 3;
    try {
      ml::accuracy(comm, bad.labels, bad.p);
      ADD_FAILURE() << "expected an error";
    } catch (const InputError& err) {
      EXPECT_EQ(std::string(err.what()), where + "accuracy: label 3 at row 2 of rank " +
                                             std::to_string(culprit) + "; labels must be 0 or 1");
    }
  }
  {
    Local bad = l;
    if (comm.rank() == culprit) bad.p(0) = std::numeric_limits<double>::quiet_NaN();
    EXPECT_THROW(ml::roc_auc(comm, bad.labels, bad.p), InputError);
  }
  {
    const Eigen::VectorXd none(0);
    try {
      ml::accuracy(comm, none, none);
      ADD_FAILURE() << "expected an error";
    } catch (const InputError& err) {
      EXPECT_EQ(std::string(err.what()),
                "accuracy: the evaluation data has no rows; check the split that produces it");
    }
  }
}

// ---- the metric registry ----------------------------------------------------------------------

TEST(MetricRegistry, ListsEveryMetricWithItsDirection) {
  EXPECT_EQ(ml::metric_names(),
            (std::vector<std::string>{"auc", "logloss", "accuracy", "pr_auc", "precision", "recall",
                                      "f1", "macro_f1", "rmse", "mae", "r2"}));
  // Each task's metrics, in registry order.
  EXPECT_EQ(ml::metric_names(ml::Task::kRegression),
            (std::vector<std::string>{"rmse", "mae", "r2"}));
  EXPECT_EQ(ml::metric_names(ml::Task::kMulticlass),
            (std::vector<std::string>{"logloss", "accuracy", "macro_f1"}));
  EXPECT_EQ(ml::metric_names(ml::Task::kBinary),
            (std::vector<std::string>{"auc", "logloss", "accuracy", "pr_auc", "precision", "recall",
                                      "f1"}));
  for (const auto& m : ml::metrics()) {
    EXPECT_FALSE(m.summary.empty()) << m.name;
    EXPECT_NE(m.compute, nullptr) << m.name;
    EXPECT_EQ(ml::find_metric(m.name), &m);
  }
  EXPECT_TRUE(ml::find_metric("auc")->higher_is_better);
  EXPECT_TRUE(ml::find_metric("accuracy")->higher_is_better);
  EXPECT_FALSE(ml::find_metric("logloss")->higher_is_better);
  EXPECT_EQ(ml::find_metric("mcc"), nullptr);
  for (const char* name : {"pr_auc", "precision", "recall", "f1"})
    EXPECT_TRUE(ml::find_metric(name)->higher_is_better) << name;
  EXPECT_EQ(ml::find_metric("AUC"), nullptr);  // names are case-sensitive, as in job files
}

TEST(MetricRegistry, ComputesWhatTheMetricFunctionsCompute) {
  mpi::Comm comm;
  for (int mode : {0, 1, 2}) {
    const auto [b, e] = split(kRows, comm.rank(), comm.size(), mode);
    const Local l = local_part(b, e);
    EXPECT_TRUE(
        same_bits(ml::find_metric("auc")->compute(comm, ml::binary_predictions(l.labels, l.p)),
                  ml::roc_auc(comm, l.labels, l.p)));
    EXPECT_TRUE(
        same_bits(ml::find_metric("logloss")->compute(comm, ml::binary_predictions(l.labels, l.p)),
                  ml::log_loss(comm, l.labels, l.p)));
    EXPECT_TRUE(
        same_bits(ml::find_metric("accuracy")->compute(comm, ml::binary_predictions(l.labels, l.p)),
                  ml::accuracy(comm, l.labels, l.p, 0.5)));
  }
}

// The registry dispatches accuracy and logloss by task, and the regression and multiclass
// entries compute what their functions (ml/task_metrics.hpp) compute.
TEST(MetricRegistry, DispatchesByTask) {
  mpi::Comm comm;
  const auto [b, e] = split(kRows, comm.rank(), comm.size(), 1);
  ml::Predictions multi;
  multi.task = ml::Task::kMulticlass;
  multi.num_outputs = 3;
  multi.labels.resize(e - b);
  multi.outputs.resize((e - b) * 3);
  ml::Predictions reg;
  reg.task = ml::Task::kRegression;
  reg.labels.resize(e - b);
  reg.outputs.resize(e - b);
  for (idx_t g = b; g < e; ++g) {
    const auto i = static_cast<Eigen::Index>(g - b);
    multi.labels(i) = static_cast<double>(g % 3);
    const double a = static_cast<double>((g * 7) % 5) + 1, c = static_cast<double>(g % 4) + 1;
    multi.outputs.segment(i * 3, 3) << a / (a + c + 2), c / (a + c + 2), 2 / (a + c + 2);
    reg.labels(i) = static_cast<double>(g % 11) * 0.5;
    reg.outputs(i) = static_cast<double>(g % 7) * 0.75;
  }
  const auto bits = [](double x) { return std::bit_cast<std::uint64_t>(x); };
  EXPECT_EQ(bits(ml::find_metric("accuracy")->compute(comm, multi)),
            bits(ml::multiclass_accuracy(comm, multi.labels, multi.outputs, 3)));
  EXPECT_EQ(bits(ml::find_metric("logloss")->compute(comm, multi)),
            bits(ml::multiclass_log_loss(comm, multi.labels, multi.outputs, 3)));
  EXPECT_EQ(bits(ml::find_metric("macro_f1")->compute(comm, multi)),
            bits(ml::macro_f1(comm, multi.labels, multi.outputs, 3)));
  EXPECT_EQ(bits(ml::find_metric("rmse")->compute(comm, reg)),
            bits(ml::root_mean_squared_error(comm, reg.labels, reg.outputs)));
  EXPECT_EQ(bits(ml::find_metric("mae")->compute(comm, reg)),
            bits(ml::mean_absolute_error(comm, reg.labels, reg.outputs)));
  EXPECT_EQ(bits(ml::find_metric("r2")->compute(comm, reg)),
            bits(ml::r2_score(comm, reg.labels, reg.outputs)));
  EXPECT_TRUE(ml::find_metric("auc")->supports(ml::Task::kBinary));
  EXPECT_FALSE(ml::find_metric("auc")->supports(ml::Task::kMulticlass));
  EXPECT_FALSE(ml::find_metric("rmse")->supports(ml::Task::kBinary));
  EXPECT_FALSE(ml::find_metric("r2")->higher_is_better == false);
  EXPECT_FALSE(ml::find_metric("rmse")->higher_is_better);
}

// ---- average precision, precision, recall, F1 ------------------------------------------------

namespace {

// scikit-learn's average_precision_score by its definition: thresholds at the distinct scores from
// the highest; each adds (recall gained) x (precision at that threshold).
long double brute_average_precision(const std::vector<double>& y, const std::vector<double>& s) {
  std::vector<double> thresholds = s;
  std::sort(thresholds.rbegin(), thresholds.rend());
  thresholds.erase(std::unique(thresholds.begin(), thresholds.end()), thresholds.end());
  idx_t positives = 0;
  for (double v : y)
    positives += v == 1.0;
  long double ap = 0;
  for (double t : thresholds) {
    idx_t tp = 0, fp = 0, at = 0;
    for (size_t i = 0; i < s.size(); ++i) {
      if (s[i] >= t) (y[i] == 1.0 ? tp : fp) += 1;
      if (s[i] == t && y[i] == 1.0) ++at;
    }
    ap += static_cast<long double>(at) / positives * tp / (tp + fp);
  }
  return ap;
}

// Continuous scores (nearly all distinct, so the range partition really splits them), a block of
// exact ties, and both signs of zero, which must tie.
struct Scored {
  std::vector<double> labels, scores;
};
Scored continuous(idx_t n) {
  Scored d;
  for (idx_t g = 0; g < n; ++g) {
    const double y = uniform(g, 2) < 0.3 ? 1.0 : 0.0;
    double s = std::clamp(0.25 * y + 0.75 * uniform(g, 3), 0.0, 1.0);
    if (g % 17 == 0) s = 0.625;
    if (g % 29 == 0) s = g % 2 == 0 ? 0.0 : -0.0;
    d.labels.push_back(y);
    d.scores.push_back(s);
  }
  return d;
}
Local part_of(const Scored& d, idx_t b, idx_t e) {
  Local l{Eigen::VectorXd(e - b), Eigen::VectorXd(e - b)};
  for (idx_t g = b; g < e; ++g) {
    l.labels(g - b) = d.labels[static_cast<size_t>(g)];
    l.p(g - b) = d.scores[static_cast<size_t>(g)];
  }
  return l;
}

}  // namespace

TEST(Metrics, RankingMetricsOnContinuousScoresMatchBruteForceAtEverySplit) {
  mpi::Comm comm;
  constexpr idx_t kN = 3001;  // more distinct scores than the splitters' sample
  const Scored d = continuous(kN);
  long double auc_num = 0;
  idx_t pairs = 0;
  for (idx_t g = 0; g < kN; ++g) {
    if (d.labels[static_cast<size_t>(g)] != 1.0) continue;
    for (idx_t h = 0; h < kN; ++h) {
      if (d.labels[static_cast<size_t>(h)] == 1.0) continue;
      ++pairs;
      const double a = d.scores[static_cast<size_t>(g)], b = d.scores[static_cast<size_t>(h)];
      auc_num += a > b ? 1.0L : a == b ? 0.5L : 0.0L;
    }
  }
  const long double ap = brute_average_precision(d.labels, d.scores);
  double ref[2] = {0, 0};
  if (comm.rank() == 0) {
    mpi::Comm self(MPI_COMM_SELF);
    const Local all = part_of(d, 0, kN);
    ref[0] = ml::roc_auc(self, all.labels, all.p);
    ref[1] = ml::average_precision(self, all.labels, all.p);
  }
  mpi::bcast(comm, std::span<double>(ref, 2), 0);
  EXPECT_EQ(ref[0], static_cast<double>(auc_num / pairs));
  EXPECT_NEAR(ref[1], static_cast<double>(ap), 1e-15);
  EXPECT_GT(ref[1], 0.4);
  for (int mode : {0, 1, 2}) {
    const auto [b, e] = split(kN, comm.rank(), comm.size(), mode);
    const Local l = part_of(d, b, e);
    EXPECT_TRUE(same_bits(ml::roc_auc(comm, l.labels, l.p), ref[0])) << mode;
    EXPECT_TRUE(same_bits(ml::average_precision(comm, l.labels, l.p), ref[1])) << mode;
    EXPECT_TRUE(same_bits(
        ml::find_metric("pr_auc")->compute(comm, ml::binary_predictions(l.labels, l.p)), ref[1]));
  }
}

TEST(Metrics, OneScoreForEveryRowGivesHalfAucAndThePositiveRate) {
  mpi::Comm comm;
  // Every score equal: all entries meet on one rank; AUC 1/2, AP the positive rate.
  for (int mode : {0, 1, 2}) {
    const auto [b, e] = split(kRows, comm.rank(), comm.size(), mode);
    Local l = local_part(b, e);
    l.p.setConstant(0.3);
    idx_t positives = 0;
    for (idx_t g = 0; g < kRows; ++g)
      positives += label_of(g) == 1.0;
    EXPECT_EQ(ml::roc_auc(comm, l.labels, l.p), 0.5);
    EXPECT_DOUBLE_EQ(ml::average_precision(comm, l.labels, l.p),
                     static_cast<double>(positives) / kRows);
  }
}

TEST(Metrics, PrecisionRecallF1FromCounts) {
  mpi::Comm comm;
  idx_t tp = 0, fp = 0, fn = 0;
  for (idx_t g = 0; g < kRows; ++g) {
    const bool predicted = score_of(g) >= 0.5, actual = label_of(g) == 1.0;
    tp += predicted && actual;
    fp += predicted && !actual;
    fn += !predicted && actual;
  }
  ASSERT_GT(tp, 0);
  ASSERT_GT(fp, 0);
  ASSERT_GT(fn, 0);
  for (int mode : {0, 1, 2}) {
    const auto [b, e] = split(kRows, comm.rank(), comm.size(), mode);
    const Local l = local_part(b, e);
    EXPECT_EQ(ml::precision(comm, l.labels, l.p), static_cast<double>(tp) / (tp + fp));
    EXPECT_EQ(ml::recall(comm, l.labels, l.p), static_cast<double>(tp) / (tp + fn));
    EXPECT_EQ(ml::f1(comm, l.labels, l.p), static_cast<double>(2 * tp) / (2 * tp + fp + fn));
    EXPECT_EQ(ml::find_metric("precision")->compute(comm, ml::binary_predictions(l.labels, l.p)),
              ml::precision(comm, l.labels, l.p));
    EXPECT_EQ(ml::find_metric("recall")->compute(comm, ml::binary_predictions(l.labels, l.p)),
              ml::recall(comm, l.labels, l.p));
    EXPECT_EQ(ml::find_metric("f1")->compute(comm, ml::binary_predictions(l.labels, l.p)),
              ml::f1(comm, l.labels, l.p));
  }
}

TEST(Metrics, UndefinedRankingAndCountMetricsAreNotComputableOnEveryRank) {
  mpi::Comm comm;
  const auto [b, e] = split(kRows, comm.rank(), comm.size(), 1);
  Local l = local_part(b, e);
  l.labels.setZero();    // no positives
  l.p.setConstant(0.2);  // no positive predictions
  const auto message = [&](auto&& metric) {
    try {
      metric();
    } catch (const ml::MetricNotComputable& err) {
      expect_same_message_everywhere(comm, err.what());
      return std::string(err.what());
    }
    return std::string("no error");
  };
  EXPECT_EQ(message([&] { ml::average_precision(comm, l.labels, l.p); }),
            fmt::format("pr_auc: the evaluation data has no positive labels ({} negative); "
                        "precision-recall needs positives",
                        kRows));
  EXPECT_EQ(message([&] { ml::precision(comm, l.labels, l.p); }),
            fmt::format("precision: no row is predicted positive (p >= 0.5) among {} rows; "
                        "precision is undefined",
                        kRows));
  EXPECT_EQ(message([&] { ml::recall(comm, l.labels, l.p); }),
            fmt::format("recall: the evaluation data has no positive labels ({} negative); recall "
                        "is undefined",
                        kRows));
  EXPECT_EQ(message([&] { ml::f1(comm, l.labels, l.p); }),
            fmt::format("f1: no positive label and no positive prediction (p >= 0.5) among {} "
                        "rows; F1 is undefined",
                        kRows));
  EXPECT_EQ(message([&] { ml::roc_auc(comm, l.labels, l.p); }),
            fmt::format("roc_auc: the evaluation data has 0 positive and {} negative labels; AUC "
                        "needs both classes",
                        kRows));
}
