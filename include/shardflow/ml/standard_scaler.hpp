#pragma once
// Standardization of features: x -> (x - mean) / scale, fitted on the training data only.

#include <array>
#include <span>
#include <string_view>
#include <utility>
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
  /// Collective: fit on the listed feature columns only (mean and scale hold one entry per listed
  /// column, in that order); the same values fit() gives for those columns.
  void fit(const mpi::Comm& comm, const Dataset& data, std::span<const int> columns);

  /// Local: standardizes `data.features` in place. Throws RuntimeError if the feature count
  /// differs from the fitted one.
  void transform(Dataset& data) const;
};

/// Local: {max(v), max(-v)} over `values` (-inf for none), with AVX2 where simd::avx2(). NaN
/// values are skipped (callers check them first); of two equal values of opposite sign (0.0 and
/// -0.0) either may be kept, which no caller can tell apart (they take magnitudes and
/// differences from the mean).
std::array<double, 2> local_extremes(std::span<const double> values);
/// Local: as above, and `all_finite` tells whether every value is finite (no NaN, no infinity):
/// the check of a column in the same pass over it.
std::array<double, 2> local_extremes(std::span<const double> values, bool& all_finite);

/// Collective: the standard scaler of one feature, {mean, scale}, from every rank's values of it
/// (`values`: this rank's, all finite; `global_rows` over all ranks, > 0): the bits
/// StandardScaler::fit gives for that feature, without a matrix. FeaturePipeline::fit streams each
/// scaled column through it. InputError (agreed) if a squared deviation from the mean overflows
/// double, naming `name`, the row (the lowest failing rank's first), the rank and the global row
/// (global_offset + the row).
std::pair<double, double> fit_standard_scale(const mpi::Comm& comm, std::span<const double> values,
                                             idx_t global_rows, idx_t global_offset,
                                             std::string_view name);
/// Collective: as above, with this rank's local_extremes(values) already computed (`extremes`).
std::pair<double, double> fit_standard_scale(const mpi::Comm& comm, std::span<const double> values,
                                             idx_t global_rows, idx_t global_offset,
                                             std::string_view name, std::array<double, 2> extremes);

/// Collective: the root mean square sqrt(mean(x_j^2)) of every feature over all ranks' rows (0
/// for a feature that is 0 everywhere, and for no rows): the scale an unscaled feature has for a
/// gradient step. Computed as max|x_j| (exact) times the root of a reproducible sum of
/// (x_j / max|x_j|)^2, so it never overflows and is bit-identical on every rank and at every rank
/// count. The feature count must be equal on all ranks.
std::vector<double> feature_root_mean_squares(const mpi::Comm& comm, const Dataset& data);

}  // namespace shardflow::ml
