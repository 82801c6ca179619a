#include "shardflow/ml/standard_scaler.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <span>
#include <string>
#include <tuple>

#ifdef __x86_64__
#include <immintrin.h>
#endif

#include "shardflow/common/simd.hpp"
#include "shardflow/ml/reproducible_sum.hpp"
#include "shardflow/mpi/allreduce.hpp"

namespace shardflow::ml {
namespace {

std::array<double, 2> extremes_portable(std::span<const double> values, bool& any_nan) {
  std::array<double, 2> e = {-std::numeric_limits<double>::infinity(),
                             -std::numeric_limits<double>::infinity()};
  int nan = 0;
  for (const double v : values) {
    e[0] = std::max(e[0], v);
    e[1] = std::max(e[1], -v);
    nan |= static_cast<int>(v != v);
  }
  any_nan = any_nan || nan != 0;
  return e;
}

#ifdef __x86_64__
// The same with AVX2, eight values a step in two accumulators per extreme: the scalar loop is two
// chains of dependent maxsd (latency bound), a third of the scaler fit at 1.6e6 x 64 (bench_train
// BM_SetupFeaturePipeline).
__attribute__((target("avx2"))) std::array<double, 2> extremes_avx2(std::span<const double> values,
                                                                    bool& any_nan) {
  const __m256d lowest = _mm256_set1_pd(-std::numeric_limits<double>::infinity());
  __m256d hi0 = lowest, hi1 = lowest, lo0 = _mm256_set1_pd(std::numeric_limits<double>::infinity());
  __m256d lo1 = lo0;
  // NaN lanes (x != x), or-ed: one compare and one or per four values, so that the pass that
  // finds the extremes also checks the values (fit_scalers reads each column once less).
  __m256d nan = _mm256_setzero_pd();
  const double* v = values.data();
  const size_t n = values.size();
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256d a = _mm256_loadu_pd(v + i);
    const __m256d b = _mm256_loadu_pd(v + i + 4);
    hi0 = _mm256_max_pd(a, hi0);  // a > hi ? a : hi: a NaN keeps hi
    hi1 = _mm256_max_pd(b, hi1);
    lo0 = _mm256_min_pd(a, lo0);
    lo1 = _mm256_min_pd(b, lo1);
    nan = _mm256_or_pd(nan, _mm256_cmp_pd(a, b, _CMP_UNORD_Q));  // a or b is NaN
  }
  any_nan = any_nan || _mm256_movemask_pd(nan) != 0;
  alignas(32) double h[4], l[4];
  _mm256_store_pd(h, _mm256_max_pd(hi0, hi1));
  _mm256_store_pd(l, _mm256_min_pd(lo0, lo1));
  std::array<double, 2> e = extremes_portable(values.subspan(i), any_nan);
  for (int k = 0; k < 4; ++k) {
    e[0] = std::max(e[0], h[k]);
    e[1] = std::max(e[1], -l[k]);
  }
  return e;
}
#endif

}  // namespace

std::array<double, 2> local_extremes(std::span<const double> values, bool& all_finite) {
  bool any_nan = false;
#ifdef __x86_64__
  const std::array<double, 2> e =
      simd::avx2() ? extremes_avx2(values, any_nan) : extremes_portable(values, any_nan);
#else
  const std::array<double, 2> e = extremes_portable(values, any_nan);
#endif
  // An infinity is one of the extremes: +inf the maximum, -inf the minimum (+inf in e[1]).
  constexpr double kInf = std::numeric_limits<double>::infinity();
  all_finite = !any_nan && (values.empty() || (e[0] != kInf && e[1] != kInf));
  return e;
}

std::array<double, 2> local_extremes(std::span<const double> values) {
  bool all_finite = true;
  return local_extremes(values, all_finite);
}

void StandardScaler::fit(const mpi::Comm& comm, const Dataset& data) {
  std::vector<int> all(static_cast<size_t>(data.num_features()));
  for (size_t j = 0; j < all.size(); ++j)
    all[j] = static_cast<int>(j);
  fit(comm, data, all);
}

void StandardScaler::fit(const mpi::Comm& comm, const Dataset& data, std::span<const int> columns) {
  if (data.global_rows == 0) {
    throw InputError(
        "cannot fit the standard scaler: the training data has no rows; check the filters and "
        "the split that produce it");
  }
  if (data.matrix_type() != MatrixType::kFloat64) {
    throw RuntimeError("StandardScaler::fit needs a float64 matrix; this is a shardflow bug");
  }
  const int d = data.num_features();
  const size_t w = columns.size();
  const auto col = [&](size_t j) { return static_cast<size_t>(columns[j]); };
  const auto& x = data.features;
  // A NaN or infinite feature value (make_dataset rejects them, so only a hand-built Dataset):
  // reproducible_sum names the value, row and rank.
  int finite = 1;
  for (Eigen::Index i = 0; i < x.rows(); ++i) {
    const double* row = x.data() + i * d;
    for (size_t j = 0; j < w; ++j)
      finite &= static_cast<int>(std::fabs(row[col(j)]) <= std::numeric_limits<double>::max());
  }
  if (mpi::allreduce_min(comm, finite) == 0) {
    reproducible_sum(comm, std::span<const double>(x.data(), static_cast<size_t>(x.size())), d,
                     "standard scaler mean");
    throw RuntimeError(
        "standard scaler: a non-finite feature value went unreported; this is a "
        "shardflow bug");
  }
  mean.assign(w, 0.0);
  scale.assign(w, 1.0);
  std::vector<double> values(static_cast<size_t>(x.rows()));
  for (size_t j = 0; j < w; ++j) {
    for (Eigen::Index i = 0; i < x.rows(); ++i)
      values[static_cast<size_t>(i)] = x(i, columns[j]);
    const std::string name = col(j) < data.feature_names.size() ? data.feature_names[col(j)]
                                                                : "#" + std::to_string(col(j));
    std::tie(mean[j], scale[j]) =
        fit_standard_scale(comm, values, data.global_rows, data.global_offset, name);
  }
}

std::pair<double, double> fit_standard_scale(const mpi::Comm& comm, std::span<const double> values,
                                             idx_t global_rows, idx_t global_offset,
                                             std::string_view name) {
  return fit_standard_scale(comm, values, global_rows, global_offset, name, local_extremes(values));
}

std::pair<double, double> fit_standard_scale(const mpi::Comm& comm, std::span<const double> values,
                                             idx_t global_rows, idx_t global_offset,
                                             std::string_view name,
                                             std::array<double, 2> extremes) {
  // Two passes (mean, then squared deviations) rather than sum and sum of squares: the latter
  // cancels catastrophically for features far from zero, such as timestamps. Both are
  // reproducible sums (bit-identical at any rank count), computed without a stored copy of the
  // values: the global minimum and maximum give the largest |x| that the sum of x scales by, and
  // also the largest squared deviation, since rounding is monotonic and so the largest computed
  // (x - mean)^2 is that of the minimum or the maximum. Same sums as reproducible_sum over stored
  // contributions. 1.6e6 x 64 at 2 ranks: 1.87 s with a stored 410 MB squares copy, 0.69 s
  // streamed, 0.39 s with FixedPointSums' inline rounding (all columns of a row-major matrix at
  // once; one column at a time, its three passes read it from the cache).
  const auto n = static_cast<double>(global_rows);
  // [max, -min] in one max-allreduce.
  mpi::allreduce_inplace(comm, std::span<double>(extremes), mpi::Reduce::kMax);
  FixedPointSums sums({std::max(std::fabs(extremes[0]), std::fabs(extremes[1]))});
  sums.add_values(0, values.data(), values.size());
  sums.count_rows(static_cast<idx_t>(values.size()));
  const double mean = sums.finish(comm, "standard scaler mean")[0] / n;
  const double high = extremes[0] - mean;
  const double low = -extremes[1] - mean;
  const double largest_square = std::max(high * high, low * low);
  if (!std::isfinite(largest_square)) {
    comm.agree([&] {
      for (size_t i = 0; i < values.size(); ++i) {
        const double dev = values[i] - mean;
        if (std::isfinite(dev * dev)) continue;
        throw InputError(
            "standard scaler: feature '{}' is too large to standardize: at row {} of rank {} "
            "(global row {}) its value {} is so far from the mean {} that the square overflows; "
            "divide that feature by a constant first",
            name, i, comm.rank(), global_offset + static_cast<idx_t>(i), values[i], mean);
      }
    });
    throw RuntimeError(
        "standard scaler: an overflowing square went unreported; this is a "
        "shardflow bug");
  }
  FixedPointSums squares({largest_square});
  squares.add_squared_deviations(0, values.data(), values.size(), mean);
  squares.count_rows(static_cast<idx_t>(values.size()));
  const double sd = std::sqrt(squares.finish(comm, "standard scaler variance")[0] / n);
  return {mean, sd > 0.0 ? sd : 1.0};
}

void StandardScaler::transform(Dataset& data) const {
  if (data.matrix_type() != MatrixType::kFloat64) {
    throw RuntimeError("StandardScaler::transform needs a float64 matrix; this is a shardflow bug");
  }
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
  const auto rows = static_cast<Eigen::Index>(data.rows());
  const bool single = data.matrix_type() == MatrixType::kFloat32;
  const auto x = [&](Eigen::Index i, int j) {
    return single ? static_cast<double>(data.features32(i, j)) : data.features(i, j);
  };
  std::vector<double> max_abs(static_cast<size_t>(d), 0.0);
  for (Eigen::Index i = 0; i < rows; ++i) {
    for (int j = 0; j < d; ++j)
      max_abs[static_cast<size_t>(j)] =
          std::max(max_abs[static_cast<size_t>(j)], std::abs(x(i, j)));
  }
  mpi::allreduce_inplace(comm, std::span<double>(max_abs), mpi::Reduce::kMax);
  std::vector<double> squares(static_cast<size_t>(rows * d));
  for (Eigen::Index i = 0; i < rows; ++i) {
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
