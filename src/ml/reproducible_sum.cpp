#include "shardflow/ml/reproducible_sum.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>

#ifdef __x86_64__
#include <immintrin.h>
#endif

#include "shardflow/common/simd.hpp"
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

// ---------------------------------------------------------------------------------------------
// The AVX2 path (simd::avx2()). x86 has no vector conversion from double to int64 before
// AVX-512, so the rounding is done with the classic magic-number additions, which round to nearest,
// ties to even, exactly as cvtsd2si does in the default rounding mode. A scaled contribution s
// (|s| < 2^62) is split as s = h + l:
//   t = s + C1, C1 = 1.5 * 2^84: t lies in [2^84, 2^85), where the spacing of doubles is 2^32, so
//     t - C1 = h is s rounded to a multiple of 2^32 (exact subtraction: Sterbenz), and the bits of
//     t minus those of C1 are h / 2^32 as an integer (|h / 2^32| <= 2^30);
//   l = s - h is exact (|l| <= 2^31, and a multiple of s's spacing), and (l + C2) with
//     C2 = 1.5 * 2^52 rounds it to an integer, whose bits minus C2's are round(l) (|.| <= 2^31).
// round(s) = h + round(l): h is an even integer, so a tie in l is broken to even in both. The two
// integers go into 64-bit lanes, which hold 2^32 such terms before they could overflow; they are
// folded into the 128-bit accumulators every 2^31 calls and at the end. The multiplications are
// the scalar path's, in the same order, and this file is compiled without FMA contraction
// (-std=c++20, not gnu++20: -ffp-contract=off), so s is the scalar path's s bit for bit.

constexpr double kSplitHigh = 0x1.8p84;
constexpr double kSplitLow = 0x1.8p52;
constexpr std::uint64_t kFoldEvery = std::uint64_t{1} << 31;

// The scalar form of the split, for the elements after the last full vector.
inline void split_add(double s, std::int64_t& hi, std::int64_t& lo) {
  const double t = s + kSplitHigh;
  const double h = t - kSplitHigh;
  const double l = (s - h) + kSplitLow;
  hi += static_cast<std::int64_t>(std::bit_cast<std::uint64_t>(t) -
                                  std::bit_cast<std::uint64_t>(kSplitHigh));
  lo += static_cast<std::int64_t>(std::bit_cast<std::uint64_t>(l) -
                                  std::bit_cast<std::uint64_t>(kSplitLow));
}

#ifdef __x86_64__
#define SHARDFLOW_FIXED_AVX2 __attribute__((target("avx2")))

SHARDFLOW_FIXED_AVX2 inline void split_add4(__m256d s, std::int64_t* hi, std::int64_t* lo) {
  const __m256d high = _mm256_set1_pd(kSplitHigh);
  const __m256d low = _mm256_set1_pd(kSplitLow);
  const __m256d t = _mm256_add_pd(s, high);
  const __m256d h = _mm256_sub_pd(t, high);
  const __m256d l = _mm256_add_pd(_mm256_sub_pd(s, h), low);
  const __m256i hq = _mm256_sub_epi64(_mm256_castpd_si256(t), _mm256_castpd_si256(high));
  const __m256i lq = _mm256_sub_epi64(_mm256_castpd_si256(l), _mm256_castpd_si256(low));
  auto* hp = reinterpret_cast<__m256i*>(hi);
  auto* lp = reinterpret_cast<__m256i*>(lo);
  _mm256_storeu_si256(hp, _mm256_add_epi64(_mm256_loadu_si256(hp), hq));
  _mm256_storeu_si256(lp, _mm256_add_epi64(_mm256_loadu_si256(lp), lq));
}

// hi[j], lo[j] += split(((factor * x[j]) * weight) * scale[j]) for j < count.
SHARDFLOW_FIXED_AVX2 void add_products_avx2(std::int64_t* hi, std::int64_t* lo, const double* scale,
                                            double factor, const double* x, size_t count,
                                            double weight) {
  const __m256d f = _mm256_set1_pd(factor);
  const __m256d u = _mm256_set1_pd(weight);
  size_t j = 0;
  for (; j + 4 <= count; j += 4) {
    const __m256d p = _mm256_mul_pd(_mm256_mul_pd(f, _mm256_loadu_pd(x + j)), u);
    split_add4(_mm256_mul_pd(p, _mm256_loadu_pd(scale + j)), hi + j, lo + j);
  }
  for (; j < count; ++j)
    split_add(((factor * x[j]) * weight) * scale[j], hi[j], lo[j]);
}

// The sum of split(v[i] * scale) (or of split(((v[i] - center)^2) * scale) when `squared`) over
// i < count (at most 2^31 * 4), in four lanes; returns the total as a 128-bit integer.
template <bool squared>
SHARDFLOW_FIXED_AVX2 __int128 sum_values_avx2(const double* v, size_t count, double scale,
                                              double center) {
  alignas(32) std::int64_t hi[4] = {0, 0, 0, 0};
  alignas(32) std::int64_t lo[4] = {0, 0, 0, 0};
  const __m256d k = _mm256_set1_pd(scale);
  const __m256d c = _mm256_set1_pd(center);
  size_t i = 0;
  for (; i + 4 <= count; i += 4) {
    __m256d x = _mm256_loadu_pd(v + i);
    if constexpr (squared) {
      x = _mm256_sub_pd(x, c);
      x = _mm256_mul_pd(x, x);
    }
    split_add4(_mm256_mul_pd(x, k), hi, lo);
  }
  for (; i < count; ++i) {
    double x = v[i];
    if constexpr (squared) {
      x = x - center;
      x = x * x;
    }
    split_add(x * scale, hi[0], lo[0]);
  }
  __int128 total = 0;
  for (int lane = 0; lane < 4; ++lane)
    total += static_cast<__int128>(hi[lane]) * (__int128{1} << 32) + lo[lane];
  return total;
}

// m[j] = max(m[j], |(r * x[j]) * u|) and check[j] += a - a (NaN once a product is not finite),
// for j < count: reproducible_outer_sum's phase 1, four components at a time. maxpd(a, m) is
// (a > m ? a : m), the scalar loop's expression, NaN and signed zeros included.
SHARDFLOW_FIXED_AVX2 void product_maxima_avx2(double* m, double* check, double r, const double* x,
                                              size_t count, double u) {
  const __m256d rv = _mm256_set1_pd(r);
  const __m256d uv = _mm256_set1_pd(u);
  const __m256d abs_mask = _mm256_castsi256_pd(_mm256_set1_epi64x(0x7fffffffffffffff));
  size_t j = 0;
  for (; j + 4 <= count; j += 4) {
    const __m256d a =
        _mm256_and_pd(_mm256_mul_pd(_mm256_mul_pd(rv, _mm256_loadu_pd(x + j)), uv), abs_mask);
    _mm256_storeu_pd(m + j, _mm256_max_pd(a, _mm256_loadu_pd(m + j)));
    _mm256_storeu_pd(check + j, _mm256_add_pd(_mm256_loadu_pd(check + j), _mm256_sub_pd(a, a)));
  }
  for (; j < count; ++j) {
    const double a = std::fabs((r * x[j]) * u);
    m[j] = a > m[j] ? a : m[j];
    check[j] += a - a;
  }
}

// m[j] = max(m[j], |x[j]|) and check[j] += |x[j]| - |x[j]| (NaN once x[j] is not finite), for
// j < count: the bounded phase 1 of reproducible_outer_sum, one pass per row instead of one per
// residual.
SHARDFLOW_FIXED_AVX2 void abs_maxima_avx2(double* m, double* check, const double* x, size_t count) {
  const __m256d abs_mask = _mm256_castsi256_pd(_mm256_set1_epi64x(0x7fffffffffffffff));
  size_t j = 0;
  for (; j + 4 <= count; j += 4) {
    const __m256d a = _mm256_and_pd(_mm256_loadu_pd(x + j), abs_mask);
    _mm256_storeu_pd(m + j, _mm256_max_pd(a, _mm256_loadu_pd(m + j)));
    _mm256_storeu_pd(check + j, _mm256_add_pd(_mm256_loadu_pd(check + j), _mm256_sub_pd(a, a)));
  }
  for (; j < count; ++j) {
    const double a = std::fabs(x[j]);
    m[j] = a > m[j] ? a : m[j];
    check[j] += a - a;
  }
}

#endif

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

  // Phase 1, bounded: instead of the largest |product| of each component (k passes over a row's
  // features), the largest magnitude of each input (one pass): X_j = max |x_j|, R_c = max |r_c|,
  // L = max |loss|, U = max |u|, max-allreduced. Rounding is monotone, so every contribution
  // (r_c * x_j) * u is at most B = (R_c * X_j) * U in magnitude, the same expression on the maxima;
  // B, equal on every rank, serves as the component's maximum, which only needs to bound it. A
  // softmax epoch spent about a third of its time in the exact maxima (bench_train BM_TrainEpoch).
  // A non-finite input leaves a NaN in its check (x - x is 0 for every finite x and NaN otherwise),
  // which keeps the inner loops free of branches; it makes some product non-finite too (inf * 0 is
  // NaN), so the error below, which names the first non-finite product, always finds one.
  const bool simd = simd::avx2();
  std::vector<double> inputs(dd + kk + 3, 0.0);  // X_j, R_c, L, U, then a non-finite flag
  std::vector<double> x_check(dd, 0.0);
  double scalar_check = 0.0;
  {
    double* x_max = inputs.data();
    double* r_max = x_max + dd;
    const auto raise = [&scalar_check](double& m, double v) {
      const double a = std::fabs(v);
      m = a > m ? a : m;
      scalar_check += a - a;
    };
    for (size_t i = 0; i < n; ++i) {
      if (i + kPrefetchRows < n) prefetch_row(rows[i + kPrefetchRows], d);
      const double* x = rows[i];
#ifdef __x86_64__
      if (simd) {
        abs_maxima_avx2(x_max, x_check.data(), x, dd);
      } else
#endif
      {
        for (size_t j = 0; j < dd; ++j) {
          const double a = std::fabs(x[j]);
          x_max[j] = a > x_max[j] ? a : x_max[j];
          x_check[j] += a - a;
        }
      }
      const double* f = factors + i * (kk + 1);
      for (size_t c = 0; c < kk; ++c)
        raise(r_max[c], f[c]);
      raise(r_max[kk], f[kk]);
      raise(r_max[kk + 1], weight_of(i));
    }
  }
  bool local_bad = scalar_check != 0.0;
  for (size_t j = 0; j < dd; ++j)
    local_bad = local_bad || x_check[j] != 0.0;
  inputs.back() = local_bad ? 1.0 : 0.0;
  mpi::allreduce_inplace(comm, std::span<double>(inputs), mpi::Reduce::kMax);
  bool any_bad = inputs.back() != 0.0;

  std::vector<double> maxima(w, 0.0);
  if (!any_bad) {
    const double* x_max = inputs.data();
    const double* r_max = x_max + dd;
    const double u_max = r_max[kk + 1];
    bool bounds_finite = true;
    for (size_t c = 0; c < kk; ++c) {
      for (size_t j = 0; j < dd; ++j)
        maxima[c * stride + j] = (r_max[c] * x_max[j]) * u_max;
      maxima[c * stride + dd] = r_max[c] * u_max;
    }
    maxima[w - 1] = r_max[kk] * u_max;
    for (double b : maxima)
      bounds_finite = bounds_finite && b <= std::numeric_limits<double>::max();
    if (!bounds_finite) {
      // A bound overflows, so a product may: the exact maxima, as reproducible_sum's, which find
      // it. Equal on every rank (the bounds are), so all ranks take this pass together.
      std::vector<double> exact(w + 1, 0.0);
      std::vector<double> finite_check(w, 0.0);
      for (size_t i = 0; i < n; ++i) {
        const double* x = rows[i];
        const double* f = factors + i * (kk + 1);
        const double u = weight_of(i);
        for (size_t c = 0; c < kk; ++c) {
          const double r = f[c];
          double* m = exact.data() + c * stride;
          double* check = finite_check.data() + c * stride;
#ifdef __x86_64__
          if (simd) {
            product_maxima_avx2(m, check, r, x, dd, u);
          } else
#endif
          {
            for (size_t j = 0; j < dd; ++j) {
              const double a = std::fabs((r * x[j]) * u);
              m[j] = a > m[j] ? a : m[j];
              check[j] += a - a;
            }
          }
          const double a = std::fabs(r * u);
          m[dd] = a > m[dd] ? a : m[dd];
          check[dd] += a - a;
        }
        const double a = std::fabs(f[kk] * u);
        exact[w - 1] = a > exact[w - 1] ? a : exact[w - 1];
        finite_check[w - 1] += a - a;
      }
      for (size_t j = 0; j < w; ++j)
        local_bad = local_bad || finite_check[j] != 0.0;
      exact[w] = local_bad ? 1.0 : 0.0;
      mpi::allreduce_inplace(comm, std::span<double>(exact), mpi::Reduce::kMax);
      any_bad = exact[w] != 0.0;
      exact.pop_back();
      maxima = std::move(exact);
    }
  }
  if (any_bad) {
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
  FixedPointSums sums(std::move(maxima));
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
      acc_(maxima_.size(), 0),
      simd_(simd::avx2()) {
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
  fold_split();
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

void FixedPointSums::add_products_simd(size_t first, double factor, const double* x, size_t count,
                                       double weight) {
#ifdef __x86_64__
  if (hi_.empty()) {
    hi_.assign(maxima_.size(), 0);
    lo_.assign(maxima_.size(), 0);
  }
  add_products_avx2(hi_.data() + first, lo_.data() + first, scale_.data() + first, factor, x, count,
                    weight);
  if (++split_adds_ == kFoldEvery) fold_split();
#else
  (void)first, (void)factor, (void)x, (void)count, (void)weight;
  throw RuntimeError("FixedPointSums: the AVX2 path on a CPU without it; this is a shardflow bug");
#endif
}

void FixedPointSums::fold_split() {
  for (size_t j = 0; j < hi_.size(); ++j) {
    acc_[j] += static_cast<__int128>(hi_[j]) * (__int128{1} << 32) + lo_[j];
    hi_[j] = 0;
    lo_[j] = 0;
  }
  split_adds_ = 0;
}

void FixedPointSums::add_values(size_t j, const double* values, size_t count) {
#ifdef __x86_64__
  if (simd_ && ldexp_[j] == 0) {
    // Chunks of at most 2^31 per lane (sum_values_avx2's bound).
    for (size_t begin = 0; begin < count; begin += 4 * kFoldEvery) {
      const size_t n = std::min(count - begin, static_cast<size_t>(4 * kFoldEvery));
      acc_[j] += sum_values_avx2<false>(values + begin, n, scale_[j], 0.0);
    }
    return;
  }
#endif
  add_each(j, count, [&](size_t i) { return values[i]; });
}

void FixedPointSums::add_squared_deviations(size_t j, const double* values, size_t count,
                                            double center) {
#ifdef __x86_64__
  if (simd_ && ldexp_[j] == 0) {
    for (size_t begin = 0; begin < count; begin += 4 * kFoldEvery) {
      const size_t n = std::min(count - begin, static_cast<size_t>(4 * kFoldEvery));
      acc_[j] += sum_values_avx2<true>(values + begin, n, scale_[j], center);
    }
    return;
  }
#endif
  add_each(j, count, [&](size_t i) {
    const double d = values[i] - center;
    return d * d;
  });
}

}  // namespace shardflow::ml
