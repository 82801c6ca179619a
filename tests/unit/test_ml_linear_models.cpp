// The generalized linear models (ml/linear_models.hpp) on their own: each sample's gradient
// against central finite differences of its loss, losses and predictions against their
// definitions, the parameter layout and the penalty mask, the constructor's errors, and the fused
// gradient sums (add_gradients) against the per-sample default bit for bit.

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "shardflow/common/error.hpp"
#include "shardflow/ml/linear_models.hpp"
#include "shardflow/ml/logistic_regression.hpp"
#include "support/model_test_util.hpp"

using namespace shardflow;
using ml::LinearKind;
using ml::LinearModel;

namespace {

constexpr int kFeatures = 5;

LinearModel model_of(LinearKind kind) {
  return kind == LinearKind::kSoftmax ? LinearModel(kind, kFeatures, 0.0, {-2.0, 0.5, 4.0, 9.0})
                                      : LinearModel(kind, kFeatures, 0.0);
}

}  // namespace

TEST(LinearModels, GradientsMatchFiniteDifferences) {
  std::mt19937_64 rng(11);
  std::normal_distribution<double> normal(0.0, 1.0);
  for (const LinearKind kind : {LinearKind::kLinear, LinearKind::kLogistic, LinearKind::kSoftmax}) {
    const LinearModel m = model_of(kind);
    SCOPED_TRACE(std::string(m.type()));
    for (int trial = 0; trial < 20; ++trial) {
      std::vector<double> x(kFeatures), w(static_cast<size_t>(m.num_parameters()));
      for (double& v : x)
        v = normal(rng) * 2;
      for (double& v : w)
        v = normal(rng);
      double y = 0;
      if (kind == LinearKind::kLinear) y = normal(rng) * 3;
      if (kind == LinearKind::kLogistic) y = trial % 2;
      if (kind == LinearKind::kSoftmax) y = trial % 4;  // a class index
      std::vector<double> g;
      testing_util::sample_loss(m, x, y, w, &g);
      ASSERT_EQ(g.size(), w.size());
      testing_util::expect_finite_difference_gradient(m, x, y, w, g, true,
                                                      "trial " + std::to_string(trial));
    }
  }
}

TEST(LinearModels, FocalLossGradientsMatchFiniteDifferencesAndItsDefinition) {
  std::mt19937_64 rng(12);
  std::normal_distribution<double> normal(0.0, 1.0);
  for (const double gamma : {0.5, 1.0, 2.0, 5.0}) {
    const LinearModel m(LinearKind::kLogistic, kFeatures, 0.0, {}, gamma);
    for (int trial = 0; trial < 20; ++trial) {
      std::vector<double> x(kFeatures), w(static_cast<size_t>(m.num_parameters()));
      for (double& v : x)
        v = normal(rng) * 2;
      for (double& v : w)
        v = normal(rng);
      const double y = trial % 2;
      std::vector<double> g;
      const double loss = testing_util::sample_loss(m, x, y, w, &g);
      // The definition: -(1 - p_t)^gamma log p_t, p_t the probability of the true label.
      double z = w[kFeatures];
      for (int j = 0; j < kFeatures; ++j)
        z += w[static_cast<size_t>(j)] * x[static_cast<size_t>(j)];
      const long double p = 1.0L / (1.0L + std::exp(-static_cast<long double>(z)));
      const long double pt = y == 1.0 ? p : 1.0L - p;
      const double expected = static_cast<double>(-std::pow(1.0L - pt, gamma) * std::log(pt));
      EXPECT_NEAR(loss, expected, 1e-12 * std::max(1.0, std::fabs(expected)));
      testing_util::expect_finite_difference_gradient(
          m, x, y, w, g, true,
          "gamma " + std::to_string(gamma) + " trial " + std::to_string(trial));
    }
  }
  // Far from zero the loss and gradient stay finite and tend to the right limits.
  double dz = 0;
  EXPECT_EQ(ml::binary_loss(800.0, 1.0, 2.0, &dz), 0.0);
  EXPECT_EQ(dz, 0.0);
  EXPECT_NEAR(ml::binary_loss(-800.0, 1.0, 2.0, &dz), 800.0, 1e-9);
  EXPECT_NEAR(dz, -1.0, 1e-12);
  // gamma = 0 is the log loss, bit for bit.
  for (const double z : {-3.5, -0.1, 0.0, 0.7, 12.0}) {
    for (const double y : {0.0, 1.0}) {
      double d0 = 0;
      EXPECT_EQ(ml::binary_loss(z, y, 0.0, &d0), ml::LogisticRegression::sample_log_loss(z, y));
      EXPECT_EQ(d0, ml::LogisticRegression::sigmoid(z) - y);
    }
  }
  EXPECT_THROW(LinearModel(LinearKind::kLogistic, 3, 0.0, {}, -1.0), ConfigError);
  EXPECT_THROW(LinearModel(LinearKind::kLinear, 3, 0.0, {}, 2.0), ConfigError);
  EXPECT_NE(LinearModel(LinearKind::kLogistic, 3, 0.0, {}, 2.0).settings_hash(),
            LinearModel(LinearKind::kLogistic, 3, 0.0).settings_hash());
}

TEST(LinearModels, LossesAndPredictionsFollowTheirDefinitions) {
  const std::vector<double> x = {0.5, -1.0, 2.0, 0.0, 1.5};
  // Linear: the prediction is the margin, the loss half its squared error.
  {
    const LinearModel m(LinearKind::kLinear, kFeatures, 0.0);
    const std::vector<double> w = {1, 2, 3, 4, 5, -0.5};
    const double z = 0.5 - 2.0 + 6.0 + 0.0 + 7.5 - 0.5;
    double prediction = 0;
    m.predict(x.data(), 1, w.data(), &prediction);
    EXPECT_DOUBLE_EQ(prediction, z);
    EXPECT_DOUBLE_EQ(testing_util::sample_loss(m, x, 3.0, w), 0.5 * (z - 3.0) * (z - 3.0));
  }
  // Softmax: probabilities sum to 1, the loss is -log of the label's probability, and shifting
  // every class's margin by the same amount changes nothing (only differences matter).
  {
    const LinearModel m = model_of(LinearKind::kSoftmax);
    std::vector<double> w(static_cast<size_t>(m.num_parameters()));
    for (size_t j = 0; j < w.size(); ++j)
      w[j] = std::sin(static_cast<double>(j));
    std::vector<double> p(4);
    m.predict(x.data(), 1, w.data(), p.data());
    EXPECT_NEAR(p[0] + p[1] + p[2] + p[3], 1.0, 1e-15);
    for (int c = 0; c < 4; ++c)
      EXPECT_NEAR(testing_util::sample_loss(m, x, c, w), -std::log(p[static_cast<size_t>(c)]),
                  1e-12);
    std::vector<double> shifted = w;
    for (int c = 0; c < 4; ++c)
      shifted[static_cast<size_t>(c) * (kFeatures + 1) + kFeatures] += 1000.0;  // all intercepts
    std::vector<double> q(4);
    m.predict(x.data(), 1, shifted.data(), q.data());
    for (size_t c = 0; c < 4; ++c)
      EXPECT_NEAR(q[c], p[c], 1e-12);
    // Margins far apart: no overflow, the loss is the margin gap.
    std::vector<double> far(w.size(), 0.0);
    far[kFeatures] = 800;  // class 0's intercept
    EXPECT_NEAR(testing_util::sample_loss(m, x, 1, far), 800.0, 1e-9);
    EXPECT_EQ(testing_util::sample_loss(m, x, 0, far), 0.0);
  }
}

TEST(LinearModels, ShapeTaskAndPenaltyMask) {
  const LinearModel linear(LinearKind::kLinear, 3, 0.5);
  EXPECT_EQ(linear.type(), "linear");
  EXPECT_EQ(linear.task(), ml::Task::kRegression);
  EXPECT_EQ(linear.num_parameters(), 4);
  EXPECT_EQ(linear.num_outputs(), 1);
  EXPECT_EQ(linear.l2(), 0.5);
  EXPECT_EQ(linear.penalized(), (std::vector<std::uint8_t>{1, 1, 1, 0}));
  const LinearModel softmax(LinearKind::kSoftmax, 2, 0.0, {1.0, 2.0, 5.0});
  EXPECT_EQ(softmax.task(), ml::Task::kMulticlass);
  EXPECT_EQ(softmax.num_parameters(), 9);
  EXPECT_EQ(softmax.num_outputs(), 3);
  EXPECT_EQ(softmax.penalized(), (std::vector<std::uint8_t>{1, 1, 0, 1, 1, 0, 1, 1, 0}));
  EXPECT_EQ(softmax.label_encoding().classes, (std::vector<double>{1.0, 2.0, 5.0}));
  // Settings that change training change the hash.
  EXPECT_NE(LinearModel(LinearKind::kLinear, 3, 0.5).settings_hash(),
            LinearModel(LinearKind::kLinear, 3, 0.25).settings_hash());
  EXPECT_NE(LinearModel(LinearKind::kSoftmax, 2, 0.0, {1.0, 2.0}).settings_hash(),
            LinearModel(LinearKind::kSoftmax, 2, 0.0, {1.0, 3.0}).settings_hash());
  EXPECT_NE(LinearModel(LinearKind::kLinear, 3, 0.0).settings_hash(),
            LinearModel(LinearKind::kLogistic, 3, 0.0).settings_hash());
}

TEST(LinearModels, ConstructorErrors) {
  EXPECT_THROW(LinearModel(LinearKind::kLinear, 3, -1.0), ConfigError);
  EXPECT_THROW(LinearModel(LinearKind::kLinear, 3, std::nan("")), ConfigError);
  try {
    LinearModel(LinearKind::kSoftmax, 3, 0.0, {4.0});
    FAIL() << "a softmax with one class";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("needs at least 2 classes, but the label has 1"),
              std::string::npos)
        << e.what();
  }
  EXPECT_THROW(LinearModel(LinearKind::kSoftmax, 3, 0.0, {2.0, 1.0}), RuntimeError);
  EXPECT_THROW(LinearModel(LinearKind::kLinear, -1, 0.0), RuntimeError);
}

// Without row weights the fused loop adds exactly what the default adds (r x_j per row, in row
// order), so the sums must be the same bits, for every row count, feature counts around the
// margin's four-way sums, both kinds and a focal loss.
TEST(LinearModels, FusedGradientSumsAreTheDefaultsBits) {
  std::mt19937_64 rng(11);
  std::normal_distribution<double> normal(0.0, 2.0);
  for (const int d : {1, 3, 4, 7, 9}) {
    for (const LinearKind kind : {LinearKind::kLinear, LinearKind::kLogistic}) {
      for (const double gamma : {0.0, 2.0}) {
        if (gamma != 0.0 && kind != LinearKind::kLogistic) continue;
        const LinearModel model(kind, d, 0.0, {}, 0.0, gamma);
        std::vector<double> w(static_cast<size_t>(d) + 1);
        for (double& v : w)
          v = normal(rng);
        // Up to 13 rows, and past the blocked kernel's 64-row blocks (partial last block, a
        // tail of one to three rows after its groups of four).
        for (const size_t n :
             {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 63, 64, 65, 131, 198}) {
          std::vector<double> x(n * static_cast<size_t>(d)), labels(n);
          std::vector<const double*> rows(n);
          for (size_t i = 0; i < n; ++i) {
            for (int j = 0; j < d; ++j)
              x[i * static_cast<size_t>(d) + static_cast<size_t>(j)] = normal(rng);
            rows[i] = x.data() + i * static_cast<size_t>(d);
            labels[i] =
                kind == LinearKind::kLogistic ? static_cast<double>(rng() % 2) : normal(rng);
          }
          std::vector<double> fused(static_cast<size_t>(d) + 2, 0.25), plain = fused;
          model.add_gradients(rows.data(), labels.data(), nullptr, n, w.data(), fused.data());
          model.Model::add_gradients(rows.data(), labels.data(), nullptr, n, w.data(),
                                     plain.data());
          EXPECT_EQ(std::memcmp(fused.data(), plain.data(), fused.size() * sizeof(double)), 0)
              << "d " << d << ", kind " << model.type() << ", gamma " << gamma << ", rows " << n;
        }
      }
    }
  }
}
