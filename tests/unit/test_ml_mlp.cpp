// The multilayer perceptron (ml/mlp.hpp) on its own: each sample's gradient against central
// finite differences of its loss for every task and activation, predictions against the loss,
// the parameter layout, the initial weights, and the constructor's errors.

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "shardflow/common/error.hpp"
#include "shardflow/ml/mlp.hpp"
#include "support/model_test_util.hpp"

using namespace shardflow;
using ml::Activation;
using ml::Mlp;
using ml::Task;

namespace {

constexpr int kFeatures = 4;

Mlp mlp_of(Task task, Activation activation) {
  return Mlp(
      task, kFeatures, {5, 3}, activation, 0.0,
      task == Task::kMulticlass ? std::vector<double>{1.0, 2.0, 3.0} : std::vector<double>{});
}

}  // namespace

TEST(Mlp, GradientsMatchFiniteDifferences) {
  std::mt19937_64 rng(5);
  std::normal_distribution<double> normal(0.0, 1.0);
  for (const Task task : {Task::kRegression, Task::kBinary, Task::kMulticlass}) {
    for (const Activation activation : {Activation::kRelu, Activation::kTanh}) {
      const Mlp m = mlp_of(task, activation);
      SCOPED_TRACE(std::string(ml::to_string(task)) + " " + std::string(ml::to_string(activation)));
      for (int trial = 0; trial < 10; ++trial) {
        std::vector<double> x(kFeatures);
        for (double& v : x)
          v = normal(rng);
        Eigen::VectorXd init = m.initial_parameters(static_cast<std::uint64_t>(trial));
        std::vector<double> w(init.data(), init.data() + init.size());
        for (double& v : w)
          v += 0.3 * normal(rng);  // biases away from 0 too
        const double y = task == Task::kRegression
                             ? normal(rng)
                             : static_cast<double>(trial % (task == Task::kMulticlass ? 3 : 2));
        std::vector<double> g;
        testing_util::sample_loss(m, x, y, w, &g);
        testing_util::expect_finite_difference_gradient(m, x, y, w, g, false,
                                                        "trial " + std::to_string(trial));
      }
    }
  }
}

TEST(Mlp, FocalLossGradientsMatchFiniteDifferences) {
  std::mt19937_64 rng(6);
  std::normal_distribution<double> normal(0.0, 1.0);
  const Mlp m(Task::kBinary, kFeatures, {5, 3}, Activation::kTanh, 0.0, {}, 2.0);
  const Mlp log_loss(Task::kBinary, kFeatures, {5, 3}, Activation::kTanh, 0.0);
  for (int trial = 0; trial < 10; ++trial) {
    std::vector<double> x(kFeatures);
    for (double& v : x)
      v = normal(rng);
    Eigen::VectorXd init = m.initial_parameters(static_cast<std::uint64_t>(trial));
    std::vector<double> w(init.data(), init.data() + init.size());
    const double y = trial % 2;
    std::vector<double> g;
    const double focal = testing_util::sample_loss(m, x, y, w, &g);
    // The focal loss is at most the log loss, and below it once p_t > 0.
    EXPECT_LT(focal, testing_util::sample_loss(log_loss, x, y, w));
    testing_util::expect_finite_difference_gradient(m, x, y, w, g, false,
                                                    "trial " + std::to_string(trial));
  }
  EXPECT_THROW(Mlp(Task::kRegression, 3, {4}, Activation::kRelu, 0.0, {}, 1.0), ConfigError);
}

TEST(Mlp, PredictionsAgreeWithTheLoss) {
  const Mlp m = mlp_of(Task::kMulticlass, Activation::kTanh);
  const Eigen::VectorXd w = m.initial_parameters(9);
  const std::vector<double> x = {0.5, -1.0, 2.0, 0.25};
  std::vector<double> p(3);
  m.predict(x.data(), 1, w.data(), p.data());
  EXPECT_NEAR(p[0] + p[1] + p[2], 1.0, 1e-15);
  std::vector<double> wv(w.data(), w.data() + w.size());
  for (int c = 0; c < 3; ++c)
    EXPECT_NEAR(testing_util::sample_loss(m, x, c, wv), -std::log(p[static_cast<size_t>(c)]),
                1e-12);
  const Mlp r = mlp_of(Task::kRegression, Activation::kRelu);
  const Eigen::VectorXd wr = r.initial_parameters(9);
  std::vector<double> wrv(wr.data(), wr.data() + wr.size());
  double prediction = 0;
  r.predict(x.data(), 1, wr.data(), &prediction);
  EXPECT_NEAR(testing_util::sample_loss(r, x, 1.5, wrv),
              0.5 * (prediction - 1.5) * (prediction - 1.5), 1e-15);
}

TEST(Mlp, LayoutPenaltyAndInitialWeights) {
  const Mlp m(Task::kBinary, 3, {4}, Activation::kRelu, 0.1);
  // 3 -> 4: 12 weights + 4 biases; 4 -> 1: 4 weights + 1 bias.
  EXPECT_EQ(m.num_parameters(), 21);
  EXPECT_EQ(m.layer_sizes(), (std::vector<int>{3, 4, 1}));
  std::vector<std::uint8_t> mask(21, 1);
  for (int j = 12; j < 16; ++j)
    mask[static_cast<size_t>(j)] = 0;
  mask[20] = 0;
  EXPECT_EQ(m.penalized(), mask);
  const Eigen::VectorXd w = m.initial_parameters(42);
  EXPECT_EQ(w, m.initial_parameters(42));  // a function of the seed only
  EXPECT_NE(w, m.initial_parameters(43));
  const double bound1 = std::sqrt(6.0 / 7.0), bound2 = std::sqrt(6.0 / 5.0);
  for (int j = 0; j < 12; ++j)
    EXPECT_LE(std::fabs(w(j)), bound1);
  for (int j = 16; j < 20; ++j)
    EXPECT_LE(std::fabs(w(j)), bound2);
  EXPECT_TRUE(w.segment(12, 4).isZero(0));
  EXPECT_EQ(w(20), 0.0);
  EXPECT_NE(Mlp(Task::kBinary, 3, {4}, Activation::kRelu, 0.1).settings_hash(),
            Mlp(Task::kBinary, 3, {4}, Activation::kTanh, 0.1).settings_hash());
  EXPECT_NE(Mlp(Task::kBinary, 3, {4}, Activation::kRelu, 0.1).settings_hash(),
            Mlp(Task::kBinary, 3, {5}, Activation::kRelu, 0.1).settings_hash());
}

TEST(Mlp, ConstructorErrors) {
  EXPECT_THROW(Mlp(Task::kBinary, 3, {}, Activation::kRelu, 0.0), ConfigError);
  EXPECT_THROW(Mlp(Task::kBinary, 3, {0}, Activation::kRelu, 0.0), ConfigError);
  EXPECT_THROW(Mlp(Task::kBinary, 3, {4}, Activation::kRelu, -1.0), ConfigError);
  EXPECT_THROW(Mlp(Task::kMulticlass, 3, {4}, Activation::kRelu, 0.0, {1.0}), InputError);
}
