// The local parts of the ml module: logistic kernels (against direct formulas, and stable at
// extreme margins), predict_proba, StandardScaler::transform, and their error paths.

#include <gtest/gtest.h>

#include <cmath>

#include "shardflow/ml/logistic_regression.hpp"
#include "shardflow/ml/standard_scaler.hpp"

using namespace shardflow;

namespace {

ml::Dataset tiny() {
  ml::Dataset d;
  d.features.resize(3, 2);
  d.features << 1.0, 2.0, -1.0, 0.5, 0.0, 0.0;
  d.labels = Eigen::Vector3d(1, 0, 1);
  d.global_rows = 3;
  d.feature_names = {"a", "b"};
  return d;
}

}  // namespace

TEST(LogisticKernels, MatchDirectFormulas) {
  for (double z : {-30.0, -3.0, -0.5, 0.0, 0.25, 2.0, 30.0}) {
    const long double p = 1.0L / (1.0L + std::exp(-static_cast<long double>(z)));
    EXPECT_DOUBLE_EQ(ml::LogisticRegression::sigmoid(z), static_cast<double>(p));
    for (double y : {0.0, 1.0}) {
      const long double lz = z;
      const long double loss = std::log1p(std::exp(lz)) - y * lz;
      EXPECT_NEAR(ml::LogisticRegression::sample_log_loss(z, y), static_cast<double>(loss),
                  1e-12 * (1 + static_cast<double>(loss)));
    }
  }
}

TEST(LogisticKernels, StableAtExtremeMargins) {
  EXPECT_EQ(ml::LogisticRegression::sigmoid(-800), 0.0);
  EXPECT_EQ(ml::LogisticRegression::sigmoid(800), 1.0);
  EXPECT_EQ(ml::LogisticRegression::sample_log_loss(800, 0), 800.0);
  EXPECT_EQ(ml::LogisticRegression::sample_log_loss(800, 1), 0.0);
  EXPECT_EQ(ml::LogisticRegression::sample_log_loss(-800, 1), 800.0);
  EXPECT_EQ(ml::LogisticRegression::sample_log_loss(-800, 0), 0.0);
}

TEST(LogisticRegression, PredictProba) {
  ml::LogisticRegression model(2);
  EXPECT_EQ(model.weights.size(), 3);
  EXPECT_TRUE(model.weights.isZero(0));
  model.weights << 0.5, -1.0, 0.25;
  const Eigen::VectorXd p = model.predict_proba(tiny());
  ASSERT_EQ(p.size(), 3);
  EXPECT_DOUBLE_EQ(p(0), 1 / (1 + std::exp(-(0.5 - 2.0 + 0.25))));
  EXPECT_DOUBLE_EQ(p(1), 1 / (1 + std::exp(-(-0.5 - 0.5 + 0.25))));
  EXPECT_DOUBLE_EQ(p(2), 1 / (1 + std::exp(-0.25)));
  // margin() is the fixed-order dot product the trainer uses.
  const ml::Dataset d = tiny();
  EXPECT_EQ(ml::LogisticRegression::margin(d.features.row(0).data(), model.weights.data(), 2),
            0.5 * 1.0 + -1.0 * 2.0 + 0.25);
}

TEST(LogisticRegression, FeatureCountMismatch) {
  ml::LogisticRegression model(3);
  try {
    model.predict_proba(tiny());
    ADD_FAILURE() << "expected an error";
  } catch (const RuntimeError& e) {
    EXPECT_EQ(std::string(e.what()),
              "the model expects 3 features but the dataset has 2; score with the same feature "
              "list the model was trained on");
  }
  EXPECT_THROW(ml::LogisticRegression(-1), RuntimeError);
}

TEST(StandardScaler, TransformAppliesMeanAndScale) {
  ml::StandardScaler scaler;
  scaler.mean = {1.0, -2.0};
  scaler.scale = {2.0, 0.5};
  ml::Dataset d = tiny();
  scaler.transform(d);
  EXPECT_EQ(d.features(0, 0), 0.0);
  EXPECT_EQ(d.features(0, 1), 8.0);
  EXPECT_EQ(d.features(1, 0), -1.0);
  EXPECT_EQ(d.features(1, 1), 5.0);
  EXPECT_EQ(d.features(2, 0), -0.5);
  EXPECT_EQ(d.features(2, 1), 4.0);
  scaler.mean = {0.0};
  scaler.scale = {1.0};
  try {
    scaler.transform(d);
    ADD_FAILURE() << "expected an error";
  } catch (const RuntimeError& e) {
    EXPECT_EQ(std::string(e.what()),
              "the standard scaler was fitted on 1 features but the dataset has 2; transform data "
              "with the same feature list it was fitted on");
  }
}
