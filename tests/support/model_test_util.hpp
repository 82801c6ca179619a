#pragma once
// Helpers for the model tests (tests/unit/test_ml_*.cpp).

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "shardflow/ml/model.hpp"

namespace testing_util {

/// One sample's loss through Model::sample_gradients, and (if `gradient`) its gradient.
inline double sample_loss(const shardflow::ml::Model& model, const std::vector<double>& x,
                          double label, const std::vector<double>& w,
                          std::vector<double>* gradient = nullptr) {
  std::vector<double> out(static_cast<size_t>(model.num_parameters()) + 1);
  const double* row = x.data();
  model.sample_gradients(&row, &label, 1, w.data(), out.data());
  if (gradient) gradient->assign(out.begin(), out.end() - 1);
  return out.back();
}

/// Expects each component of `gradient` (the gradient of sample_loss at `w`) to equal the central
/// finite difference of sample_loss, to 1e-6 relative; the step is 1e-6, times max(1, |w_j|)
/// when `relative_step`. `what` names the case in failures.
inline void expect_finite_difference_gradient(const shardflow::ml::Model& model,
                                              const std::vector<double>& x, double label,
                                              const std::vector<double>& w,
                                              const std::vector<double>& gradient,
                                              bool relative_step, const std::string& what) {
  ASSERT_EQ(gradient.size(), w.size()) << what;
  for (size_t j = 0; j < w.size(); ++j) {
    const double h = relative_step ? 1e-6 * std::max(1.0, std::fabs(w[j])) : 1e-6;
    std::vector<double> up = w, down = w;
    up[j] += h;
    down[j] -= h;
    const double numeric =
        (sample_loss(model, x, label, up) - sample_loss(model, x, label, down)) / (2 * h);
    EXPECT_NEAR(gradient[j], numeric, 1e-6 * std::max(1.0, std::fabs(numeric)))
        << what << ", parameter " << j;
  }
}

}  // namespace testing_util
