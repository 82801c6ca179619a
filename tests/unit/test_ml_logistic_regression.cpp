// The local parts of the ml module: logistic kernels (against direct formulas, and stable at
// extreme margins), predict_proba, StandardScaler::transform, and their error paths; the linear
// models' AVX2 kernels against their portable copies.

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "shardflow/common/simd.hpp"
#include "shardflow/ml/linear_models.hpp"
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

// LinearModel's AVX2 copies of sample_factors and add_gradients (the same source compiled for
// AVX2) give the portable copies' bits: margins through fixed_order_dot's four running sums,
// per-feature products and sums, for feature counts that leave remainders, every kind, focal
// loss, row weights, and margins large enough that the losses saturate.
TEST(LinearModelKernels, Avx2AndPortableCopiesGiveTheSameBits) {
  if (!simd::avx2()) GTEST_SKIP() << "this CPU has no AVX2: only the portable copy runs";
  std::uint64_t state = 12345;
  const auto next = [&] {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    return static_cast<double>(state >> 11) * 0x1p-53 * 2 - 1;
  };
  for (const int d : {1, 3, 4, 7, 64, 65}) {
    constexpr size_t kRowsPerCase = 157;  // two blocks of the blocked kernel and a partial one
    std::vector<std::vector<double>> x(kRowsPerCase, std::vector<double>(static_cast<size_t>(d)));
    std::vector<const double*> rows;
    std::vector<double> row_weights;
    for (size_t i = 0; i < kRowsPerCase; ++i) {
      for (double& v : x[i])
        v = next() * (i % 5 == 0 ? 1e3 : 3.0);
      rows.push_back(x[i].data());
      row_weights.push_back(0.5 + std::fabs(next()));
    }
    struct Kind {
      ml::LinearKind kind;
      double focal;
      std::vector<double> classes;
    };
    for (const Kind& k :
         {Kind{ml::LinearKind::kLogistic, 0.0, {}}, Kind{ml::LinearKind::kLogistic, 2.0, {}},
          Kind{ml::LinearKind::kLinear, 0.0, {}},
          Kind{ml::LinearKind::kSoftmax, 0.0, {0, 1, 2, 3, 4}}}) {
      const ml::LinearModel model(k.kind, d, 1e-3, k.classes, k.focal);
      std::vector<double> w(static_cast<size_t>(model.num_parameters()));
      for (double& v : w)
        v = next();
      std::vector<double> labels;
      for (size_t i = 0; i < kRowsPerCase; ++i) {
        labels.push_back(k.kind == ml::LinearKind::kSoftmax  ? static_cast<double>(i % 5)
                         : k.kind == ml::LinearKind::kLinear ? next() * 10
                                                             : static_cast<double>(i % 2));
      }
      const size_t outputs = k.kind == ml::LinearKind::kSoftmax ? 5 : 1;
      std::vector<std::vector<double>> factors, sums;
      for (const bool avx2 : {true, false}) {
        const bool previous = simd::set_avx2(avx2);
        std::vector<double> f(kRowsPerCase * (outputs + 1));
        ASSERT_TRUE(
            model.sample_factors(rows.data(), labels.data(), kRowsPerCase, w.data(), f.data()));
        factors.push_back(f);
        std::vector<double> acc(w.size() + 1, 0.0);
        model.add_gradients(rows.data(), labels.data(), row_weights.data(), kRowsPerCase, w.data(),
                            acc.data());
        model.add_gradients(rows.data(), labels.data(), nullptr, kRowsPerCase, w.data(),
                            acc.data());
        sums.push_back(acc);
        simd::set_avx2(previous);
      }
      ASSERT_EQ(factors[0].size(), factors[1].size());
      EXPECT_EQ(
          std::memcmp(factors[0].data(), factors[1].data(), factors[0].size() * sizeof(double)), 0)
          << "d " << d << " kind " << static_cast<int>(k.kind);
      EXPECT_EQ(std::memcmp(sums[0].data(), sums[1].data(), sums[0].size() * sizeof(double)), 0)
          << "d " << d << " kind " << static_cast<int>(k.kind);
    }
  }
}
