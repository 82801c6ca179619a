#pragma once
// Helpers for the model tests (tests/unit/test_ml_*.cpp).

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

}  // namespace testing_util
