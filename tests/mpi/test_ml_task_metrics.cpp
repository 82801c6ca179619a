// Regression and multiclass metrics (ml/task_metrics.hpp): against brute-force references
// computed from the whole data on every rank (long double sums, exact counts), bit for bit across
// row splits (even blocks, all rows on one rank, skewed with an empty rank, round-robin in reverse
// order) and against a single-process run; hand-checked values from scikit-learn 1.2.1; argmax
// ties; every error path with its message, agreed on every rank.

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#include "shardflow/common/hash.hpp"
#include "shardflow/ml/task_metrics.hpp"
#include "shardflow/mpi/allgatherv.hpp"
#include "shardflow/mpi/bcast.hpp"
#include "shardflow/mpi/comm.hpp"
#include "support/test_util.hpp"

using namespace shardflow;

namespace {

constexpr idx_t kRows = 613;
constexpr int kClasses = 6;  // class 5 is never a label nor predicted; class 4 is only predicted

double uniform(idx_t g, int j) {
  const std::uint64_t h = hash_combine(hash_u64(11), static_cast<std::uint64_t>(g * 8 + j));
  return static_cast<double>(h >> 11) * 0x1p-53;
}

bool same_bits(double a, double b) {
  return std::memcmp(&a, &b, sizeof a) == 0;
}

void expect_same_message_everywhere(const mpi::Comm& comm, const std::string& message) {
  const auto all = mpi::allgather<std::uint64_t>(comm, hash_string(message));
  for (auto h : all)
    EXPECT_EQ(h, all[0]) << message;
}

// The global rows this rank holds under a split `mode`: 0-2 as testing_util::split (even blocks,
// all on the last rank, proportional to the rank so rank 0 is empty); 3 round-robin (row g on rank
// g % size), listed in reverse order, so neither contiguity nor order is assumed.
std::vector<idx_t> rows_of(const mpi::Comm& comm, idx_t n, int mode) {
  std::vector<idx_t> rows;
  if (mode == 3) {
    for (idx_t g = n - 1; g >= 0; --g)
      if (g % comm.size() == comm.rank()) rows.push_back(g);
    return rows;
  }
  const auto [b, e] = testing_util::split(n, comm.rank(), comm.size(), mode);
  for (idx_t g = b; g < e; ++g)
    rows.push_back(g);
  return rows;
}
std::vector<idx_t> all_rows(idx_t n) {
  std::vector<idx_t> rows;
  for (idx_t g = 0; g < n; ++g)
    rows.push_back(g);
  return rows;
}
constexpr int kModes = 4;

Eigen::VectorXd vec(const std::vector<double>& v) {
  return Eigen::Map<const Eigen::VectorXd>(v.data(), static_cast<Eigen::Index>(v.size()));
}

// ---- regression data ---------------------------------------------------------------------------

// Labels of several magnitudes and both signs; predictions near them, every 11th row exact.
double reg_label(idx_t g) {
  return (uniform(g, 0) - 0.3) * (g % 7 == 0 ? 1e3 : 10.0);
}
double reg_prediction(idx_t g) {
  if (g % 11 == 0) return reg_label(g);
  return 0.9 * reg_label(g) + 4.0 * (uniform(g, 1) - 0.5);
}

struct Regression {
  Eigen::VectorXd labels, predictions;
};
Regression regression_rows(const std::vector<idx_t>& rows) {
  Regression r{Eigen::VectorXd(static_cast<Eigen::Index>(rows.size())),
               Eigen::VectorXd(static_cast<Eigen::Index>(rows.size()))};
  for (size_t i = 0; i < rows.size(); ++i) {
    r.labels(static_cast<Eigen::Index>(i)) = reg_label(rows[i]);
    r.predictions(static_cast<Eigen::Index>(i)) = reg_prediction(rows[i]);
  }
  return r;
}

// ---- multiclass data ---------------------------------------------------------------------------

// Labels 0..3 (class 4 never a label, class 5 never anything).
double mc_label(idx_t g) {
  return std::floor(uniform(g, 0) * 4.0);
}
// Softmax of scores favouring the label over classes 0..4 (class 5 gets 0), with every 13th row
// uniform over all classes (a 6-way tie: predicted 0), every 17th row a two-way tie between
// classes 1 and 3 (predicted 1), and every 19th row one-hot on a random class of 0..4 (exact 0s and
// 1s, so the log loss clips).
std::vector<double> mc_row(idx_t g) {
  std::vector<double> p(kClasses, 0.0);
  if (g % 13 == 0) {
    std::fill(p.begin(), p.end(), 1.0 / kClasses);
  } else if (g % 17 == 0) {
    p[1] = p[3] = 0.5;
  } else if (g % 19 == 0) {
    p[static_cast<size_t>(uniform(g, 2) * 5.0)] = 1.0;
  } else {
    double total = 0;
    for (int c = 0; c < 5; ++c) {
      const double s = 3.0 * uniform(g, 3 + c) + (c == static_cast<int>(mc_label(g)) ? 1.5 : 0.0);
      p[static_cast<size_t>(c)] = std::exp(s);
      total += p[static_cast<size_t>(c)];
    }
    for (int c = 0; c < 5; ++c)
      p[static_cast<size_t>(c)] = std::min(1.0, p[static_cast<size_t>(c)] / total);
  }
  return p;
}

struct Multiclass {
  Eigen::VectorXd labels, probabilities;
};
Multiclass multiclass_rows(const std::vector<idx_t>& rows) {
  Multiclass m{Eigen::VectorXd(static_cast<Eigen::Index>(rows.size())),
               Eigen::VectorXd(static_cast<Eigen::Index>(rows.size()) * kClasses)};
  for (size_t i = 0; i < rows.size(); ++i) {
    m.labels(static_cast<Eigen::Index>(i)) = mc_label(rows[i]);
    const std::vector<double> p = mc_row(rows[i]);
    for (int c = 0; c < kClasses; ++c)
      m.probabilities(static_cast<Eigen::Index>(i) * kClasses + c) = p[static_cast<size_t>(c)];
  }
  return m;
}

// The predicted class by std::max_element, which returns the first of equal maxima.
int brute_argmax(const std::vector<double>& p) {
  return static_cast<int>(std::max_element(p.begin(), p.end()) - p.begin());
}

}  // namespace

// ---- regression --------------------------------------------------------------------------------

TEST(TaskMetrics, RegressionMatchesBruteForceAndIsBitIdenticalAtEverySplit) {
  mpi::Comm comm;
  long double sum_y = 0, sq = 0, abs_err = 0;
  for (idx_t g = 0; g < kRows; ++g) {
    const long double y = reg_label(g), p = reg_prediction(g);
    sum_y += y;
    sq += (y - p) * (y - p);
    abs_err += std::fabs(y - p);
  }
  const long double mean = sum_y / kRows;
  long double tot = 0;
  for (idx_t g = 0; g < kRows; ++g)
    tot += (reg_label(g) - mean) * (reg_label(g) - mean);
  const double brute_rmse = static_cast<double>(std::sqrt(sq / kRows));
  const double brute_mae = static_cast<double>(abs_err / kRows);
  const double brute_r2 = static_cast<double>(1.0L - sq / tot);

  double ref[3] = {0, 0, 0};
  if (comm.rank() == 0) {
    mpi::Comm self(MPI_COMM_SELF);
    const Regression all = regression_rows(all_rows(kRows));
    ref[0] = ml::root_mean_squared_error(self, all.labels, all.predictions);
    ref[1] = ml::mean_absolute_error(self, all.labels, all.predictions);
    ref[2] = ml::r2_score(self, all.labels, all.predictions);
  }
  mpi::bcast(comm, std::span<double>(ref, 3), 0);
  EXPECT_NEAR(ref[0], brute_rmse, 1e-14 * brute_rmse);
  EXPECT_NEAR(ref[1], brute_mae, 1e-14 * brute_mae);
  EXPECT_NEAR(ref[2], brute_r2, 1e-14);
  EXPECT_GT(ref[2], 0.5);  // informative predictions: SS_res and SS_tot both matter
  EXPECT_LT(ref[2], 1.0);

  for (int mode = 0; mode < kModes; ++mode) {
    const Regression l = regression_rows(rows_of(comm, kRows, mode));
    EXPECT_TRUE(same_bits(ml::root_mean_squared_error(comm, l.labels, l.predictions), ref[0]))
        << mode;
    EXPECT_TRUE(same_bits(ml::mean_absolute_error(comm, l.labels, l.predictions), ref[1])) << mode;
    EXPECT_TRUE(same_bits(ml::r2_score(comm, l.labels, l.predictions), ref[2])) << mode;
  }
}

TEST(TaskMetrics, RegressionHandCheckedValuesMatchScikitLearn) {
  mpi::Comm comm;
  // scikit-learn 1.2.1, y_true = [3, -0.5, 2, 7], y_pred = [2.5, 0.0, 2, 8]:
  //   r2_score(y_true, y_pred)                          -> 0.9486081370449679
  //   mean_squared_error(y_true, y_pred, squared=False) -> 0.6123724356957945
  //   mean_absolute_error(y_true, y_pred)               -> 0.5
  // By hand: mean 2.875, SS_tot 29.1875, SS_res 1.5, so R^2 = 1 - 1.5 / 29.1875; every sum is
  // exact in doubles, so the results are too.
  const std::vector<double> y = {3, -0.5, 2, 7}, p = {2.5, 0.0, 2, 8};
  for (int mode = 0; mode < kModes; ++mode) {
    std::vector<double> ly, lp;
    for (idx_t g : rows_of(comm, 4, mode)) {
      ly.push_back(y[static_cast<size_t>(g)]);
      lp.push_back(p[static_cast<size_t>(g)]);
    }
    EXPECT_EQ(ml::r2_score(comm, vec(ly), vec(lp)), 0.9486081370449679) << mode;
    EXPECT_EQ(ml::r2_score(comm, vec(ly), vec(lp)), 1.0 - 1.5 / 29.1875) << mode;
    EXPECT_EQ(ml::root_mean_squared_error(comm, vec(ly), vec(lp)), 0.6123724356957945) << mode;
    EXPECT_EQ(ml::mean_absolute_error(comm, vec(ly), vec(lp)), 0.5) << mode;
    // Perfect predictions; predicting the mean everywhere gives R^2 = 0 exactly.
    EXPECT_EQ(ml::r2_score(comm, vec(ly), vec(ly)), 1.0) << mode;
    EXPECT_EQ(ml::root_mean_squared_error(comm, vec(ly), vec(ly)), 0.0) << mode;
    const std::vector<double> mean(ly.size(), 2.875);
    EXPECT_EQ(ml::r2_score(comm, vec(ly), vec(mean)), 0.0) << mode;
  }
}

// ---- multiclass --------------------------------------------------------------------------------

TEST(TaskMetrics, MulticlassMatchesBruteForceAndIsBitIdenticalAtEverySplit) {
  mpi::Comm comm;
  const auto k = static_cast<size_t>(kClasses);
  std::vector<std::int64_t> brute_confusion(k * k, 0);
  idx_t correct = 0;
  long double loss = 0;
  for (idx_t g = 0; g < kRows; ++g) {
    const std::vector<double> p = mc_row(g);
    const auto y = static_cast<size_t>(mc_label(g));
    const int predicted = brute_argmax(p);
    ++brute_confusion[y * k + static_cast<size_t>(predicted)];
    correct += predicted == static_cast<int>(y);
    loss -= std::log(static_cast<long double>(std::clamp(p[y], 1e-15, 1 - 1e-15)));
  }
  // Per-class F1 over the classes that are a label or a prediction somewhere.
  long double f1_sum = 0;
  int present = 0;
  for (size_t c = 0; c < k; ++c) {
    std::int64_t tp = brute_confusion[c * k + c], true_rows = 0, predicted_rows = 0;
    for (size_t o = 0; o < k; ++o) {
      true_rows += brute_confusion[c * k + o];
      predicted_rows += brute_confusion[o * k + c];
    }
    if (true_rows + predicted_rows == 0) continue;
    f1_sum += 2.0L * tp / (true_rows + predicted_rows);
    ++present;
  }
  // The data has what the test is about: ties, a class only predicted, a class absent.
  std::int64_t class4_predicted = 0, class5_any = 0;
  for (size_t o = 0; o < k; ++o) {
    class4_predicted += brute_confusion[o * k + 4];
    class5_any += brute_confusion[o * k + 5] + brute_confusion[5 * k + o];
    EXPECT_EQ(brute_confusion[4 * k + o], 0);
  }
  ASSERT_GT(class4_predicted, 0);
  ASSERT_EQ(class5_any, 0);
  ASSERT_EQ(present, 5);

  double ref[3] = {0, 0, 0};
  std::vector<std::int64_t> ref_confusion(k * k, -1);
  if (comm.rank() == 0) {
    mpi::Comm self(MPI_COMM_SELF);
    const Multiclass all = multiclass_rows(all_rows(kRows));
    ref[0] = ml::multiclass_accuracy(self, all.labels, all.probabilities, kClasses);
    ref[1] = ml::multiclass_log_loss(self, all.labels, all.probabilities, kClasses);
    ref[2] = ml::macro_f1(self, all.labels, all.probabilities, kClasses);
    ref_confusion = ml::confusion_matrix(self, all.labels, all.probabilities, kClasses);
  }
  mpi::bcast(comm, std::span<double>(ref, 3), 0);
  mpi::bcast(comm, std::span<std::int64_t>(ref_confusion), 0);
  EXPECT_EQ(ref[0], static_cast<double>(correct) / kRows);
  EXPECT_NEAR(ref[1], static_cast<double>(loss / kRows), 1e-14 * ref[1]);
  EXPECT_NEAR(ref[2], static_cast<double>(f1_sum / present), 1e-15);
  EXPECT_EQ(ref_confusion, brute_confusion);
  EXPECT_GT(ref[0], 0.4);  // the probabilities are informative

  for (int mode = 0; mode < kModes; ++mode) {
    const Multiclass l = multiclass_rows(rows_of(comm, kRows, mode));
    EXPECT_TRUE(
        same_bits(ml::multiclass_accuracy(comm, l.labels, l.probabilities, kClasses), ref[0]))
        << mode;
    EXPECT_TRUE(
        same_bits(ml::multiclass_log_loss(comm, l.labels, l.probabilities, kClasses), ref[1]))
        << mode;
    EXPECT_TRUE(same_bits(ml::macro_f1(comm, l.labels, l.probabilities, kClasses), ref[2])) << mode;
    EXPECT_EQ(ml::confusion_matrix(comm, l.labels, l.probabilities, kClasses), ref_confusion)
        << mode;
  }
}

namespace {

// Eight rows of four classes; class 3 is neither a label nor a prediction. Ties: row 1 (classes 0
// and 1), row 2 (0 and 1), row 6 (all four); row 7 gives its label probability 0 (clipped).
const std::vector<double> kHandLabels = {0, 0, 1, 1, 1, 2, 2, 0};
const std::vector<std::vector<double>> kHandProbabilities = {
    {0.7, 0.1, 0.1, 0.1}, {0.4, 0.4, 0.1, 0.1}, {0.4, 0.4, 0.2, 0.0},     {0.1, 0.8, 0.1, 0.0},
    {0.2, 0.3, 0.5, 0.0}, {0.0, 0.0, 1.0, 0.0}, {0.25, 0.25, 0.25, 0.25}, {0.0, 1.0, 0.0, 0.0}};

Multiclass hand_rows(const std::vector<idx_t>& rows) {
  Multiclass m{Eigen::VectorXd(static_cast<Eigen::Index>(rows.size())),
               Eigen::VectorXd(static_cast<Eigen::Index>(rows.size()) * 4)};
  for (size_t i = 0; i < rows.size(); ++i) {
    const auto g = static_cast<size_t>(rows[i]);
    m.labels(static_cast<Eigen::Index>(i)) = kHandLabels[g];
    for (int c = 0; c < 4; ++c)
      m.probabilities(static_cast<Eigen::Index>(i) * 4 + c) =
          kHandProbabilities[g][static_cast<size_t>(c)];
  }
  return m;
}

}  // namespace

TEST(TaskMetrics, MulticlassHandCheckedValuesMatchScikitLearn) {
  mpi::Comm comm;
  // With P the rows above and y = [0, 0, 1, 1, 1, 2, 2, 0], in scikit-learn 1.2.1:
  //   pred = P.argmax(axis=1)                                -> [0, 0, 0, 1, 2, 2, 0, 1]
  //   accuracy_score(y, pred)                                -> 0.5
  //   confusion_matrix(y, pred, labels=[0, 1, 2, 3]).ravel() -> [2,1,0,0, 1,1,1,0, 1,0,1,0,
  //   0,0,0,0] f1_score(y, pred, average='macro', zero_division=0)    -> 0.4904761904761905
  //   log_loss(y, P, labels=[0, 1, 2, 3], eps=1e-15)         -> 4.942680439919721
  // By hand: F1 of class 0 = 2*2 / (2*2 + 2 + 1) = 4/7, class 1 = 2/5, class 2 = 2/4, class 3 has
  // no true and no predicted row and is left out: (4/7 + 2/5 + 1/2) / 3. (With labels=[0, 1, 2,
  // 3] scikit-learn would count class 3 as 0: 0.3678571428571429; we do not.)
  // scikit-learn renormalizes each clipped row of P for log_loss; numpy's
  // mean(-log(clip(P[i, y_i], 1e-15, 1 - 1e-15))) is 4.9426804399197195.
  const std::vector<std::int64_t> confusion = {2, 1, 0, 0, 1, 1, 1, 0, 1, 0, 1, 0, 0, 0, 0, 0};
  for (int mode = 0; mode < kModes; ++mode) {
    const Multiclass l = hand_rows(rows_of(comm, 8, mode));
    EXPECT_EQ(ml::multiclass_accuracy(comm, l.labels, l.probabilities, 4), 0.5) << mode;
    EXPECT_EQ(ml::confusion_matrix(comm, l.labels, l.probabilities, 4), confusion) << mode;
    const double f1 = ml::macro_f1(comm, l.labels, l.probabilities, 4);
    EXPECT_DOUBLE_EQ(f1, 0.4904761904761905) << mode;
    EXPECT_EQ(f1, (4.0 / 7 + 2.0 / 5 + 2.0 / 4) / 3) << mode;
    const double loss = ml::multiclass_log_loss(comm, l.labels, l.probabilities, 4);
    EXPECT_NEAR(loss, 4.9426804399197195, 5e-15) << mode;
    EXPECT_NEAR(loss, 4.942680439919721, 5e-14) << mode;
    // By hand: the probabilities of the true classes, the 1 and the 0 clipped.
    const double by_hand =
        -(std::log(0.7) + std::log(0.4) + std::log(0.4) + std::log(0.8) + std::log(0.3) +
          std::log(1 - 1e-15) + std::log(0.25) + std::log(1e-15)) /
        8;
    EXPECT_NEAR(loss, by_hand, 1e-14) << mode;
  }
}

TEST(TaskMetrics, ArgmaxTiesGoToTheLowestClass) {
  mpi::Comm comm;
  // One row per rank at most; each row a tie whose lowest class is (or is not) the label.
  const std::vector<double> labels = {1, 0, 2, 1};
  const std::vector<std::vector<double>> rows = {
      {0.0, 0.5, 0.5}, {0.5, 0.5, 0.0}, {0.5, 0.0, 0.5}, {0.3, 0.3, 0.4}};
  const std::vector<int> expected_predicted = {1, 0, 0, 2};
  for (int mode = 0; mode < kModes; ++mode) {
    std::vector<double> y, p;
    for (idx_t g : rows_of(comm, 4, mode)) {
      y.push_back(labels[static_cast<size_t>(g)]);
      for (double q : rows[static_cast<size_t>(g)])
        p.push_back(q);
    }
    const std::vector<std::int64_t> c = ml::confusion_matrix(comm, vec(y), vec(p), 3);
    std::vector<std::int64_t> expected(9, 0);
    for (size_t g = 0; g < 4; ++g)
      ++expected[static_cast<size_t>(labels[g]) * 3 + static_cast<size_t>(expected_predicted[g])];
    EXPECT_EQ(c, expected) << mode;
    EXPECT_EQ(ml::multiclass_accuracy(comm, vec(y), vec(p), 3), 0.5) << mode;
  }
}

// ---- undefined metrics -------------------------------------------------------------------------

namespace {

// The message of the MetricNotComputable `metric` throws, checked to be agreed and identical on
// every rank; "no error" or "other error: ..." otherwise.
template <typename F>
std::string not_computable(const mpi::Comm& comm, F&& metric) {
  try {
    metric();
  } catch (const ml::MetricNotComputable& err) {
    EXPECT_TRUE(err.agreed());
    expect_same_message_everywhere(comm, err.what());
    return err.what();
  } catch (const std::exception& err) {
    return std::string("other error: ") + err.what();
  }
  return "no error";
}

}  // namespace

TEST(TaskMetrics, R2WithoutVariationInTheLabelsIsNotComputable) {
  mpi::Comm comm;
  constexpr idx_t kN = 101;
  for (int mode = 0; mode < kModes; ++mode) {
    const auto rows = rows_of(comm, kN, mode);
    const idx_t n = static_cast<idx_t>(rows.size());
    // 0.1: the exact sum of 101 copies rounds to a double that divided by 101 is not 0.1, so SS_tot
    // would come out tiny but positive and R^2 absurd (scikit-learn 1.2.1, r2_score([0.1] * 101,
    // [0.1 + 0.01 * (g % 3) for g in range(101)]) -> -2.133468511180152e+29); the equal labels are
    // caught exactly instead.
    const Eigen::VectorXd labels = Eigen::VectorXd::Constant(n, 0.1);
    Eigen::VectorXd predictions = labels;
    for (Eigen::Index i = 0; i < n; ++i)
      predictions(i) += 0.01 * static_cast<double>(rows[static_cast<size_t>(i)] % 3);
    const std::string expected =
        "r2: all 101 labels are equal (0.1), so R^2 = 1 - SS_res / SS_tot divides by SS_tot = 0; "
        "evaluate on data whose labels vary, or use rmse or mae";
    EXPECT_EQ(not_computable(comm, [&] { ml::r2_score(comm, labels, predictions); }), expected)
        << mode;
    // Perfect predictions of constant labels too (scikit-learn returns 1.0 there).
    EXPECT_EQ(not_computable(comm, [&] { ml::r2_score(comm, labels, labels); }), expected) << mode;
    // rmse and mae are defined on the same data.
    EXPECT_GT(ml::root_mean_squared_error(comm, labels, predictions), 0.0) << mode;
  }
  // Labels that differ but whose squared deviations underflow: SS_tot is 0 all the same.
  for (int mode = 0; mode < kModes; ++mode) {
    const std::vector<double> all = {0.0, 1e-170};
    std::vector<double> y;
    for (idx_t g : rows_of(comm, 2, mode))
      y.push_back(all[static_cast<size_t>(g)]);
    EXPECT_EQ(not_computable(comm, [&] { ml::r2_score(comm, vec(y), vec(y)); }),
              "r2: the 2 labels vary (from 0 to 1e-170) but their squared deviations from the mean "
              "underflow, so SS_tot = 0 and R^2 is undefined; rescale the labels, or use rmse or "
              "mae")
        << mode;
  }
}

TEST(TaskMetrics, NoRowsIsNotComputableForEveryMetric) {
  mpi::Comm comm;
  const Eigen::VectorXd none(0);
  const auto expected = [](const char* name) {
    return std::string(name) +
           ": the evaluation data has no rows; check the split that produces it";
  };
  EXPECT_EQ(not_computable(comm, [&] { ml::root_mean_squared_error(comm, none, none); }),
            expected("rmse"));
  EXPECT_EQ(not_computable(comm, [&] { ml::mean_absolute_error(comm, none, none); }),
            expected("mae"));
  EXPECT_EQ(not_computable(comm, [&] { ml::r2_score(comm, none, none); }), expected("r2"));
  EXPECT_EQ(not_computable(comm, [&] { ml::multiclass_accuracy(comm, none, none, 3); }),
            expected("multiclass_accuracy"));
  EXPECT_EQ(not_computable(comm, [&] { ml::multiclass_log_loss(comm, none, none, 3); }),
            expected("multiclass_log_loss"));
  EXPECT_EQ(not_computable(comm, [&] { ml::macro_f1(comm, none, none, 3); }), expected("macro_f1"));
  EXPECT_EQ(not_computable(comm, [&] { ml::confusion_matrix(comm, none, none, 3); }),
            expected("confusion_matrix"));
}

// ---- bad inputs --------------------------------------------------------------------------------

namespace {

// The message of the error of type E that `metric` throws, checked to be agreed and identical on
// every rank; "no error" or "other error: ..." otherwise.
template <typename E, typename F>
std::string agreed_error(const mpi::Comm& comm, F&& metric) {
  try {
    metric();
  } catch (const E& err) {
    EXPECT_TRUE(err.agreed());
    expect_same_message_everywhere(comm, err.what());
    return err.what();
  } catch (const std::exception& err) {
    return std::string("other error: ") + err.what();
  }
  return "no error";
}

}  // namespace

TEST(TaskMetrics, BadRegressionInputsAreAgreedErrors) {
  mpi::Comm comm;
  const int culprit = comm.size() - 1;
  const std::string c = std::to_string(culprit);
  const std::string where = comm.size() > 1 ? "rank " + c + ": " : "";
  const Regression l = regression_rows(rows_of(comm, kRows, 0));
  const bool mine = comm.rank() == culprit;
  const auto [culprit_begin, culprit_end] = testing_util::split(kRows, culprit, comm.size(), 0);
  const idx_t culprit_rows = culprit_end - culprit_begin;
  {
    Regression bad = l;
    if (mine) bad.predictions.conservativeResize(bad.predictions.size() - 1);
    EXPECT_EQ(agreed_error<RuntimeError>(
                  comm, [&] { ml::root_mean_squared_error(comm, bad.labels, bad.predictions); }),
              where + fmt::format("rmse: {} labels but {} predictions on rank {}; this is a "
                                  "shardflow bug",
                                  culprit_rows, culprit_rows - 1, culprit));
  }
  {
    Regression bad = l;
    if (mine) bad.predictions(1) = std::numeric_limits<double>::quiet_NaN();
    EXPECT_EQ(
        agreed_error<InputError>(
            comm, [&] { ml::mean_absolute_error(comm, bad.labels, bad.predictions); }),
        where + "mae: prediction nan at row 1 of rank " + c +
            " is not a finite number; the model diverged or a feature of that row is not finite: "
            "check the features and the learning rate");
  }
  {
    Regression bad = l;
    if (mine) bad.labels(2) = -std::numeric_limits<double>::infinity();
    EXPECT_EQ(
        agreed_error<InputError>(comm, [&] { ml::r2_score(comm, bad.labels, bad.predictions); }),
        where + "r2: label -inf at row 2 of rank " + c +
            " is not a finite number; drop or impute rows with missing labels before "
            "evaluating");
  }
  {
    Regression bad = l;
    if (mine) {
      bad.labels(0) = 1e300;
      bad.predictions(0) = -1e300;
    }
    EXPECT_EQ(agreed_error<InputError>(
                  comm, [&] { ml::root_mean_squared_error(comm, bad.labels, bad.predictions); }),
              where + "rmse: the squared error at row 0 of rank " + c +
                  " overflows a double (label 1e+300, prediction -1e+300); the predictions are "
                  "far off the labels' scale: check the model's training or rescale the labels");
  }
  {
    Regression bad = l;
    if (mine) {
      bad.labels(0) = 1e308;
      bad.predictions(0) = -1e308;
    }
    EXPECT_EQ(agreed_error<InputError>(
                  comm, [&] { ml::mean_absolute_error(comm, bad.labels, bad.predictions); }),
              where + "mae: the absolute error at row 0 of rank " + c +
                  " overflows a double (label 1e+308, prediction -1e+308); the predictions are "
                  "far off the labels' scale: check the model's training or rescale the labels");
  }
}

TEST(TaskMetrics, BadMulticlassInputsAreAgreedErrors) {
  mpi::Comm comm;
  const int culprit = comm.size() - 1;
  const std::string c = std::to_string(culprit);
  const std::string where = comm.size() > 1 ? "rank " + c + ": " : "";
  const Multiclass l = multiclass_rows(rows_of(comm, kRows, 0));
  const bool mine = comm.rank() == culprit;
  const auto [culprit_begin, culprit_end] = testing_util::split(kRows, culprit, comm.size(), 0);
  const idx_t culprit_rows = culprit_end - culprit_begin;
  {
    Multiclass bad = l;
    if (mine) bad.probabilities.conservativeResize(bad.probabilities.size() - 1);
    EXPECT_EQ(
        agreed_error<RuntimeError>(
            comm, [&] { ml::multiclass_log_loss(comm, bad.labels, bad.probabilities, kClasses); }),
        where + fmt::format("multiclass_log_loss: {} labels but {} probabilities on rank {} "
                            "(6 classes need 6 per row); this is a shardflow bug",
                            culprit_rows, culprit_rows * kClasses - 1, culprit));
  }
  // The same on every rank: no rank named.
  EXPECT_EQ(agreed_error<RuntimeError>(comm, [&] { ml::macro_f1(comm, l.labels, l.labels, 1); }),
            "macro_f1: num_classes is 1; a multiclass metric needs at least 2 classes; this is a "
            "shardflow bug");
  const auto bad_label = [&](double value, const char* shown) {
    Multiclass bad = l;
    if (mine) bad.labels(3) = value;
    EXPECT_EQ(
        agreed_error<InputError>(
            comm, [&] { ml::multiclass_accuracy(comm, bad.labels, bad.probabilities, kClasses); }),
        where + "multiclass_accuracy: label " + shown + " at row 3 of rank " + c +
            " is not a class index; labels must be integers from 0 to 5 (the model has 6 "
            "classes): check the label column's encoding");
  };
  bad_label(1.5, "1.5");
  bad_label(-1.0, "-1");
  bad_label(6.0, "6");
  bad_label(std::numeric_limits<double>::quiet_NaN(), "nan");
  const auto bad_probability = [&](double value, const char* shown) {
    Multiclass bad = l;
    if (mine) bad.probabilities(4 * kClasses + 2) = value;
    EXPECT_EQ(
        agreed_error<InputError>(
            comm, [&] { ml::confusion_matrix(comm, bad.labels, bad.probabilities, kClasses); }),
        where + "confusion_matrix: probability " + shown + " of class 2 at row 4 of rank " + c +
            " is outside [0, 1]; pass probabilities (a softmax output), not raw scores");
  };
  bad_probability(1.5, "1.5");
  bad_probability(-0.25, "-0.25");
  bad_probability(std::numeric_limits<double>::quiet_NaN(), "nan");
}
