#pragma once
// Standardization of features: x -> (x - mean) / scale, fitted on the training data only.

#include <vector>

#include "shardflow/ml/dataset.hpp"

namespace shardflow::ml {

struct StandardScaler {
  std::vector<double> mean;   // per feature
  std::vector<double> scale;  // per feature: population standard deviation, 1 where it is 0

  /// Collective: fits mean and population standard deviation of every feature over all ranks'
  /// rows. The feature count must be equal on all ranks. Uses reproducible sums, so the result is
  /// bit-identical at any rank count and on every rank. Throws InputError (agreed) if the dataset
  /// has no rows on any rank, or if a feature's squared deviation from its mean overflows double.
  void fit(const mpi::Comm& comm, const Dataset& data);

  /// Local: standardizes `data.features` in place. Throws RuntimeError if the feature count
  /// differs from the fitted one.
  void transform(Dataset& data) const;
};

}  // namespace shardflow::ml
