#include "shardflow/ml/reproducible_sum.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "shardflow/ml/model.hpp"
#include "shardflow/mpi/allreduce.hpp"
#include "shardflow/mpi/op.hpp"

namespace shardflow::ml {
namespace {

using int128 = __int128;
using uint128 = unsigned __int128;

// The fixed-point quantum is 2^(E - kFractionBits) for a component whose largest magnitude lies in
// [2^E, 2^(E+1)): every rounded contribution then fits in a signed 64-bit integer (|q| <= 2^62),
// which converts with one instruction, and 2^62 of them still fit the 128-bit accumulator.
constexpr int kFractionBits = 61;

// Adds 128-bit integers element-wise. Unsigned arithmetic wraps instead of overflowing (which
// would be undefined for signed), and the term-count check afterwards reports any wrap.
const mpi::Op<int128> kInt128Sum(
    [](const int128& a, const int128& b) {
      return static_cast<int128>(static_cast<uint128>(a) + static_cast<uint128>(b));
    },
    /*commutative=*/true);

}  // namespace

std::vector<double> reproducible_sum(const mpi::Comm& comm, std::span<const double> contributions,
                                     idx_t width, std::string_view what, std::string_view hint) {
  if (width < 0 || (width == 0 && !contributions.empty()) ||
      (width > 0 && static_cast<idx_t>(contributions.size()) % width != 0)) {
    throw RuntimeError(
        "reproducible_sum({}): {} values do not form rows of width {}; this is a shardflow bug",
        what, contributions.size(), width);
  }
  const auto w = static_cast<size_t>(width);
  const idx_t rows = width == 0 ? 0 : static_cast<idx_t>(contributions.size()) / width;

  // Phase 1: per-component maximum magnitude, plus one flag for a non-finite value. Both are
  // maxima, so one max-allreduce serves.
  std::vector<double> maxima(w + 1, 0.0);
  for (idx_t r = 0; r < rows; ++r) {
    const double* row = contributions.data() + static_cast<size_t>(r) * w;
    for (size_t j = 0; j < w; ++j) {
      const double a = std::fabs(row[j]);
      if (!(a <= std::numeric_limits<double>::max())) {
        maxima[w] = 1.0;
      } else if (a > maxima[j]) {
        maxima[j] = a;
      }
    }
  }
  const bool local_bad = maxima[w] != 0.0;
  mpi::allreduce_inplace(comm, std::span<double>(maxima), mpi::Reduce::kMax);
  if (maxima[w] != 0.0) {
    // Some rank saw a non-finite value; every rank knows it, so the agreement is collective on
    // all ranks and the failing rank supplies the details.
    comm.agree([&] {
      if (!local_bad) return;
      for (idx_t r = 0; r < rows; ++r) {
        for (size_t j = 0; j < w; ++j) {
          const double v = contributions[static_cast<size_t>(r) * w + j];
          if (std::isfinite(v)) continue;
          throw RuntimeError(
              "{}: non-finite value {} in component {} of local row {} on rank {}{}{}", what, v, j,
              r, comm.rank(), hint.empty() ? "" : "; ", hint);
        }
      }
    });
  }

  // Phases 2-4.
  FixedPointSums sums(
      std::vector<double>(maxima.begin(), maxima.begin() + static_cast<std::ptrdiff_t>(w)));
  for (idx_t r = 0; r < rows; ++r)
    sums.add_row(contributions.data() + static_cast<size_t>(r) * w);
  return sums.finish(comm, what);
}

std::vector<double> reproducible_outer_sum(const mpi::Comm& comm, const double* const* rows,
                                           const double* factors, const double* row_weights,
                                           size_t n, int d, int k, std::string_view what,
                                           std::string_view hint) {
  if (d < 0 || k < 1) {
    throw RuntimeError(
        "reproducible_outer_sum({}): {} features and {} residuals per row; this is a shardflow "
        "bug",
        what, d, k);
  }
  const auto dd = static_cast<size_t>(d);
  const auto kk = static_cast<size_t>(k);
  const size_t stride = dd + 1;
  const size_t w = kk * stride + 1;
  const auto weight_of = [&](size_t i) { return row_weights != nullptr ? row_weights[i] : 1.0; };

  // Phase 1, as reproducible_sum's: the per-component maximum magnitude. Multiplying by a weight
  // of 1 is exact, so the unweighted case shares the expressions. A non-finite contribution
  // leaves a NaN in `finite_check` (x - x is 0 for every finite x and NaN otherwise), which keeps
  // the inner loops free of branches.
  std::vector<double> maxima(w + 1, 0.0);
  std::vector<double> finite_check(w, 0.0);
  for (size_t i = 0; i < n; ++i) {
    if (i + kPrefetchRows < n) prefetch_row(rows[i + kPrefetchRows], d);
    const double* x = rows[i];
    const double* f = factors + i * (kk + 1);
    const double u = weight_of(i);
    for (size_t c = 0; c < kk; ++c) {
      const double r = f[c];
      double* m = maxima.data() + c * stride;
      double* check = finite_check.data() + c * stride;
      for (size_t j = 0; j < dd; ++j) {
        const double a = std::fabs((r * x[j]) * u);
        m[j] = a > m[j] ? a : m[j];
        check[j] += a - a;
      }
      const double a = std::fabs(r * u);
      m[dd] = a > m[dd] ? a : m[dd];
      check[dd] += a - a;
    }
    const double a = std::fabs(f[kk] * u);
    maxima[w - 1] = a > maxima[w - 1] ? a : maxima[w - 1];
    finite_check[w - 1] += a - a;
  }
  bool local_bad = false;
  for (size_t j = 0; j < w; ++j)
    local_bad = local_bad || finite_check[j] != 0.0;
  maxima[w] = local_bad ? 1.0 : 0.0;
  mpi::allreduce_inplace(comm, std::span<double>(maxima), mpi::Reduce::kMax);
  if (maxima[w] != 0.0) {
    comm.agree([&] {
      if (!local_bad) return;
      // The first non-finite value in reproducible_sum's order: by row, then by component.
      std::vector<double> row(w);
      for (size_t i = 0; i < n; ++i) {
        const double* f = factors + i * (kk + 1);
        const double u = weight_of(i);
        for (size_t c = 0; c < kk; ++c) {
          for (size_t j = 0; j < dd; ++j)
            row[c * stride + j] = (f[c] * rows[i][j]) * u;
          row[c * stride + dd] = f[c] * u;
        }
        row[w - 1] = f[kk] * u;
        for (size_t j = 0; j < w; ++j) {
          if (std::isfinite(row[j])) continue;
          throw RuntimeError(
              "{}: non-finite value {} in component {} of local row {} on rank {}{}{}", what,
              row[j], j, i, comm.rank(), hint.empty() ? "" : "; ", hint);
        }
      }
    });
  }

  // Phases 2-4, recomputing each product (cheaper than storing it).
  FixedPointSums sums(
      std::vector<double>(maxima.begin(), maxima.begin() + static_cast<std::ptrdiff_t>(w)));
  for (size_t i = 0; i < n; ++i) {
    if (i + kPrefetchRows < n) prefetch_row(rows[i + kPrefetchRows], d);
    const double* f = factors + i * (kk + 1);
    const double u = weight_of(i);
    for (size_t c = 0; c < kk; ++c) {
      sums.add_products(c * stride, f[c], rows[i], dd, u);
      sums.add(c * stride + dd, f[c] * u);
    }
    sums.add(w - 1, f[kk] * u);
  }
  sums.count_rows(static_cast<idx_t>(n));
  return sums.finish(comm, what);
}

FixedPointSums::FixedPointSums(std::vector<double> global_maxima)
    : maxima_(std::move(global_maxima)),
      exponents_(maxima_.size(), 0),
      shift_(maxima_.size(), 0),
      scale_(maxima_.size(), 0.0),
      ldexp_(maxima_.size(), 0),
      acc_(maxima_.size(), 0) {
  for (size_t j = 0; j < maxima_.size(); ++j) {
    if (maxima_[j] == 0.0) continue;  // every contribution is zero: scale 0 adds nothing
    exponents_[j] = std::ilogb(maxima_[j]);
    shift_[j] = kFractionBits - exponents_[j];
    // Multiplying by a power of two is exact unless the product is subnormal, and a subnormal
    // product is far below 1/2 and rounds to 0 either way. The factor itself overflows only for
    // components whose largest value is below 2^-962; those take the ldexp path.
    if (shift_[j] > std::numeric_limits<double>::max_exponent - 1) {
      ldexp_[j] = 1;
      any_ldexp_ = true;
    } else {
      scale_[j] = std::ldexp(1.0, shift_[j]);
    }
  }
}

std::vector<double> FixedPointSums::finish(const mpi::Comm& comm, std::string_view what) {
  // Phase 3: one allreduce of the accumulators; the last slot counts contributions.
  const size_t w = maxima_.size();
  std::vector<int128> acc(acc_.begin(), acc_.end());
  acc.push_back(rows_);
  mpi::allreduce_inplace(comm, std::span<int128>(acc), kInt128Sum);
  if (acc[w] > static_cast<int128>(kReproducibleSumMaxTerms)) {
    throw RuntimeError(
        "{}: {} contributions exceed the reproducible sum's limit of {} per component; split the "
        "data into smaller batches",
        what, static_cast<long long>(acc[w]), kReproducibleSumMaxTerms);
  }
  // Phase 4: back to double, once.
  std::vector<double> out(w, 0.0);
  for (size_t j = 0; j < w; ++j) {
    if (maxima_[j] == 0.0) continue;
    out[j] = std::ldexp(static_cast<double>(acc[j]), exponents_[j] - kFractionBits);
  }
  return out;
}

}  // namespace shardflow::ml
