#include "shardflow/ml/standard_scaler.hpp"

#include <algorithm>
#include <cmath>
#include <span>
#include <string>

#include "shardflow/ml/reproducible_sum.hpp"
#include "shardflow/mpi/allreduce.hpp"

namespace shardflow::ml {

void StandardScaler::fit(const mpi::Comm& comm, const Dataset& data) {
  if (data.global_rows == 0) {
    throw InputError(
        "cannot fit the standard scaler: the training data has no rows; check the filters and "
        "the split that produce it");
  }
  const int d = data.num_features();
  const auto n = static_cast<double>(data.global_rows);
  // Two passes (mean, then squared deviations) rather than sum and sum of squares: the latter
  // cancels catastrophically for features far from zero, such as timestamps.
  const auto& x = data.features;
  const std::vector<double> sums =
      reproducible_sum(comm, std::span<const double>(x.data(), static_cast<size_t>(x.size())), d,
                       "standard scaler mean");
  mean.assign(static_cast<size_t>(d), 0.0);
  for (int j = 0; j < d; ++j)
    mean[static_cast<size_t>(j)] = sums[static_cast<size_t>(j)] / n;

  std::vector<double> squares(static_cast<size_t>(x.size()));
  comm.agree([&] {
    for (Eigen::Index i = 0; i < x.rows(); ++i) {
      for (int j = 0; j < d; ++j) {
        const double dev = x(i, j) - mean[static_cast<size_t>(j)];
        const double square = dev * dev;
        if (!std::isfinite(square)) {
          const std::string name = static_cast<size_t>(j) < data.feature_names.size()
                                       ? data.feature_names[static_cast<size_t>(j)]
                                       : "#" + std::to_string(j);
          throw InputError(
              "standard scaler: feature '{}' is too large to standardize: at row {} of rank {} "
              "(global row {}) its value {} is so far from the mean {} that the square overflows; "
              "divide that feature by a constant first",
              name, i, comm.rank(), data.global_offset + i, x(i, j), mean[static_cast<size_t>(j)]);
        }
        squares[static_cast<size_t>(i * d + j)] = square;
      }
    }
  });
  const std::vector<double> ss = reproducible_sum(comm, squares, d, "standard scaler variance");
  scale.assign(static_cast<size_t>(d), 1.0);
  for (int j = 0; j < d; ++j) {
    const double sd = std::sqrt(ss[static_cast<size_t>(j)] / n);
    scale[static_cast<size_t>(j)] = sd > 0.0 ? sd : 1.0;
  }
}

void StandardScaler::transform(Dataset& data) const {
  const int d = data.num_features();
  if (static_cast<size_t>(d) != mean.size() || scale.size() != mean.size()) {
    throw RuntimeError(
        "the standard scaler was fitted on {} features but the dataset has {}; transform data "
        "with the same feature list it was fitted on",
        mean.size(), d);
  }
  for (Eigen::Index i = 0; i < data.features.rows(); ++i) {
    for (int j = 0; j < d; ++j) {
      data.features(i, j) =
          (data.features(i, j) - mean[static_cast<size_t>(j)]) / scale[static_cast<size_t>(j)];
    }
  }
}

std::vector<double> feature_root_mean_squares(const mpi::Comm& comm, const Dataset& data) {
  const int d = data.num_features();
  const auto& x = data.features;
  std::vector<double> max_abs(static_cast<size_t>(d), 0.0);
  for (Eigen::Index i = 0; i < x.rows(); ++i) {
    for (int j = 0; j < d; ++j)
      max_abs[static_cast<size_t>(j)] =
          std::max(max_abs[static_cast<size_t>(j)], std::abs(x(i, j)));
  }
  mpi::allreduce_inplace(comm, std::span<double>(max_abs), mpi::Reduce::kMax);
  std::vector<double> squares(static_cast<size_t>(x.size()));
  for (Eigen::Index i = 0; i < x.rows(); ++i) {
    for (int j = 0; j < d; ++j) {
      const double m = max_abs[static_cast<size_t>(j)];
      const double r = m > 0.0 ? x(i, j) / m : 0.0;
      squares[static_cast<size_t>(i * d + j)] = r * r;
    }
  }
  const std::vector<double> sums = reproducible_sum(comm, squares, d, "feature root mean squares");
  std::vector<double> rms(static_cast<size_t>(d), 0.0);
  if (data.global_rows <= 0) return rms;
  for (int j = 0; j < d; ++j) {
    rms[static_cast<size_t>(j)] =
        max_abs[static_cast<size_t>(j)] *
        std::sqrt(sums[static_cast<size_t>(j)] / static_cast<double>(data.global_rows));
  }
  return rms;
}

}  // namespace shardflow::ml
