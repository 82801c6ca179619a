// exact::exp_nonpositive, exact::log1p_unit and exact::logistic_loss: within 2 ulp of long double
// references on their domains, the same bits in the portable and the AVX2 form of
// logistic_losses, and the edge values the losses rely on.

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "shardflow/common/simd.hpp"
#include "shardflow/ml/exact_math.hpp"

namespace {

namespace exact = shardflow::ml::exact;

// Distance in units in the last place of `expected` (rounded to double) between two doubles.
double ulp_error(double got, long double expected) {
  const auto nearest = static_cast<double>(expected);
  const double ulp = std::nextafter(std::fabs(nearest), std::numeric_limits<double>::infinity()) -
                     std::fabs(nearest);
  return static_cast<double>(std::fabs(static_cast<long double>(got) - expected) / ulp);
}

std::vector<double> sample_points(double low, double high, int count, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> uniform(low, high);
  std::vector<double> points{low, high};
  for (int i = 0; i < count; ++i)
    points.push_back(uniform(rng));
  return points;
}

TEST(ExactMath, ExpIsWithinTwoUlpOnItsDomain) {
  double worst = 0.0;
  for (const double x : sample_points(-708.0, 0.0, 200000, 1)) {
    worst = std::max(worst,
                     ulp_error(exact::exp_nonpositive(x), std::exp(static_cast<long double>(x))));
  }
  for (const double x : sample_points(-1.0, 0.0, 200000, 2)) {
    worst = std::max(worst,
                     ulp_error(exact::exp_nonpositive(x), std::exp(static_cast<long double>(x))));
  }
  EXPECT_LE(worst, 2.0);
}

TEST(ExactMath, ExpEdges) {
  EXPECT_EQ(exact::exp_nonpositive(0.0), 1.0);
  EXPECT_EQ(exact::exp_nonpositive(-0.0), 1.0);
  EXPECT_EQ(exact::exp_nonpositive(-708.5), 0.0);
  EXPECT_EQ(exact::exp_nonpositive(-1e300), 0.0);
  EXPECT_EQ(exact::exp_nonpositive(-std::numeric_limits<double>::infinity()), 0.0);
  EXPECT_TRUE(std::isnan(exact::exp_nonpositive(std::numeric_limits<double>::quiet_NaN())));
  EXPECT_GT(exact::exp_nonpositive(-708.0), 0.0);
}

TEST(ExactMath, Log1pIsWithinTwoUlpOnTheUnitInterval) {
  double worst = 0.0;
  for (const double e : sample_points(0.0, 1.0, 200000, 3)) {
    if (e == 0.0) continue;
    worst =
        std::max(worst, ulp_error(exact::log1p_unit(e), std::log1p(static_cast<long double>(e))));
  }
  for (const double e : {1e-300, 1e-20, 1e-9, 0x1p-53, 0.5, 1.0}) {
    worst =
        std::max(worst, ulp_error(exact::log1p_unit(e), std::log1p(static_cast<long double>(e))));
  }
  EXPECT_LE(worst, 2.0);
  EXPECT_EQ(exact::log1p_unit(0.0), 0.0);
}

// The AVX2 form of logistic_losses gives the portable form's bits, lane by lane, on margins from
// every region of the exponential (saturated, the normal range, zero of both signs, NaN) and
// counts that leave a tail of one to three rows.
TEST(ExactMath, Avx2LogisticLossesGiveThePortableBits) {
  if (!shardflow::simd::avx2()) GTEST_SKIP() << "this CPU has no AVX2: only the portable form runs";
#ifdef __x86_64__
  std::vector<double> z = sample_points(-40.0, 40.0, 40000, 4);
  const std::vector<double> wide = sample_points(-1000.0, 1000.0, 4000, 5);
  z.insert(z.end(), wide.begin(), wide.end());
  z.insert(z.end(),
           {800.0, -800.0, 708.0, -708.0, 708.5, -708.5, 0.0, -0.0, 1e-300, -1e-300,
            std::numeric_limits<double>::infinity(), -std::numeric_limits<double>::infinity(),
            std::numeric_limits<double>::quiet_NaN()});
  std::vector<double> y(z.size());
  for (size_t i = 0; i < y.size(); ++i)
    y[i] = static_cast<double>(i % 2);
  for (const size_t n : {z.size(), z.size() - 1, z.size() - 2, z.size() - 3, size_t{3}}) {
    std::vector<double> dz_portable(n), loss_portable(n), dz_avx2(n), loss_avx2(n);
    exact::logistic_losses_portable(z.data(), y.data(), n, dz_portable.data(),
                                    loss_portable.data());
    exact::logistic_losses_avx2(z.data(), y.data(), n, dz_avx2.data(), loss_avx2.data());
    EXPECT_EQ(std::memcmp(dz_portable.data(), dz_avx2.data(), n * sizeof(double)), 0) << n;
    EXPECT_EQ(std::memcmp(loss_portable.data(), loss_avx2.data(), n * sizeof(double)), 0) << n;
  }
#endif
}

TEST(ExactMath, LogisticLossMatchesItsDefinition) {
  for (const double z : sample_points(-30.0, 30.0, 20000, 7)) {
    for (const double y : {0.0, 1.0}) {
      const long double zl = z;
      const long double expected =
          std::log1p(std::exp(-std::fabs(zl))) + std::fmax(zl, 0.0L) - y * zl;
      const long double expected_dz = 1.0L / (1.0L + std::exp(-zl)) - y;
      double dz;
      const double loss = exact::logistic_loss(z, y, &dz);
      EXPECT_NEAR(loss, static_cast<double>(expected), 4e-16 * std::fmax(1.0, std::fabs(z)));
      EXPECT_NEAR(dz, static_cast<double>(expected_dz), 4e-16);
    }
  }
  double dz;
  EXPECT_EQ(exact::logistic_loss(800.0, 1.0, &dz), 0.0);
  EXPECT_EQ(dz, 0.0);
  EXPECT_EQ(exact::logistic_loss(-800.0, 0.0, &dz), 0.0);
  EXPECT_EQ(dz, 0.0);
  EXPECT_EQ(exact::logistic_loss(800.0, 0.0, &dz), 800.0);
  EXPECT_EQ(dz, 1.0);
  EXPECT_TRUE(std::isnan(exact::logistic_loss(std::numeric_limits<double>::quiet_NaN(), 1.0, &dz)));
  EXPECT_TRUE(std::isnan(dz));
}

}  // namespace
