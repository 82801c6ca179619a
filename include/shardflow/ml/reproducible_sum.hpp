#pragma once
// Sums of doubles that are bit-identical no matter how the contributions are split across ranks or
// ordered within a rank (DESIGN.md rule 4: training is bitwise identical across rank counts).
//
// Method: fixed-point accumulation in 128-bit integers with a scale chosen from the data.
//   1. Every rank computes, per component j, the largest |contribution|; one max-allreduce
//      gives the global maximum M_j (a maximum does not depend on order or split).
//   2. With E_j = floor(log2(M_j)), every contribution g is rounded (to nearest, ties to even) to
//      an integer multiple of the quantum 2^(E_j - 61): q = round(g * 2^(61 - E_j)), |q| <= 2^62.
//   3. The q are added in __int128 locally and across ranks (an allreduce with a commutative
//      user-defined reduction, mpi::Op). Integer addition is associative, so the total is exact.
//   4. The total is converted back to double once: sum_j = double(total) * 2^(E_j - 61).
// Range: every finite double, with no overflow; up to 2^62 contributions per component over all
// ranks (2^62 * 2^62 = 2^124 < 2^127). Precision: each contribution is off by at most
// M_j * 2^-62 (about 2e-19 of the largest one, below double's own 1.1e-16 relative rounding), so a
// sum of n contributions is off by at most n * M_j * 2^-62 plus the final rounding to double —
// about 2000 times tighter than the worst case of plain double summation. Non-finite
// contributions (NaN, +-inf) are rejected on every rank.

#include <cmath>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "shardflow/common/types.hpp"
#include "shardflow/mpi/comm.hpp"

namespace shardflow::ml {

/// Largest number of contributions (over all ranks) a single component may receive.
inline constexpr idx_t kReproducibleSumMaxTerms = idx_t{1} << 62;

/// Collective: for each of `width` components, the sum over every rank's contributions.
/// `contributions` is row-major, `contributions.size() / width` rows of `width` values (rows may
/// be zero on any rank). `width` must be equal on all ranks; `what` and `hint` are used in error
/// messages only. The result is identical on every rank and depends only on the multiset of
/// contributions per component, never on their split across ranks or their order.
/// Throws RuntimeError (on every rank, agreed) if a contribution is NaN or infinite, naming `what`,
/// the component, the local row and the rank, followed by `hint`; or if a component receives more
/// than kReproducibleSumMaxTerms contributions.
std::vector<double> reproducible_sum(const mpi::Comm& comm, std::span<const double> contributions,
                                     idx_t width, std::string_view what,
                                     std::string_view hint = {});

/// Collective: reproducible_sum over the contributions of an outer-product gradient (the linear
/// models' mini-batch gradient, Model::sample_factors), computed on the fly instead of stored.
/// Row i of the `n` local rows has `d` features at rows[i] and k + 1 factors at
/// factors[i * (k + 1) ...]: k residuals, then its loss. With u = row_weights[i] (1 if
/// row_weights is null) its contributions, of width k * (d + 1) + 1, are
///   component c * (d + 1) + j, for c < k and j < d:  (factors[c] * rows[i][j]) * u
///   component c * (d + 1) + d  (an intercept):        factors[c] * u
///   component k * (d + 1)      (the loss):            factors[k] * u
/// The sums are FixedPointSums' over those contributions with, as each component's maximum, a
/// bound from the inputs' global largest magnitudes X_j = max |rows[i][j]|, R_c = max |factors c|,
/// L = max |loss| and U = max |u|: (R_c * X_j) * U, R_c * U and L * U (rounding is monotone, so
/// no contribution exceeds them). Only when a bound overflows are the exact maxima taken, as
/// reproducible_sum's (then the sums are its sums bit for bit). So each contribution is off by at
/// most bound * 2^-62 instead of max * 2^-62: the same split-independence, a few bits less
/// headroom when the largest residual and the largest feature are in different rows, and one pass
/// over a row's features instead of k. The error for a non-finite contribution is
/// reproducible_sum's, bit for bit. No per-sample buffer (k * (d + 1) + 1 values per row) is
/// written and read twice. `k`, `d` must be equal on all ranks.
std::vector<double> reproducible_outer_sum(const mpi::Comm& comm, const double* const* rows,
                                           const double* factors, const double* row_weights,
                                           size_t n, int d, int k, std::string_view what,
                                           std::string_view hint = {});

/// Phases 2-4 of reproducible_sum on their own, for a caller that knows each component's global
/// largest magnitude without a pass over the contributions (the standard scaler's squared
/// deviations: from each feature's minimum and maximum) and so never stores them. Sums are
/// identical to reproducible_sum's on the same contributions.
class FixedPointSums {
 public:
  /// `global_maxima[j]`: the largest |contribution| to component j over all ranks, equal on every
  /// rank, finite. Every contribution added must be finite and at most that in magnitude.
  explicit FixedPointSums(std::vector<double> global_maxima);
  size_t width() const { return maxima_.size(); }
  /// Adds one contribution to every component: row[j] to component j.
  void add_row(const double* row) {
    for (size_t j = 0; j < maxima_.size(); ++j)
      add(j, row[j]);
    ++rows_;
  }
  /// Adds v to component j; call count_rows() for the number of rows this amounts to.
  void add(size_t j, double v) {
    acc_[j] += round_to_int64(ldexp_[j] ? std::ldexp(v, shift_[j]) : v * scale_[j]);
  }
  /// std::llrint for |x| < 2^63: to nearest, ties to even (the default rounding mode). On x86-64
  /// one cvtsd2si instead of a call into libm, which GCC makes unless -fno-math-errno: at 1.6e6
  /// x 64 and 2 ranks the scaler's fit went from 0.69 to 0.39 s and an SGD epoch from about 1.1
  /// to 0.93 s.
  static std::int64_t round_to_int64(double x) {
#ifdef __SSE2__
    return _mm_cvtsd_si64(_mm_set_sd(x));
#else
    return std::llrint(x);
#endif
  }
  /// Adds (factor * x[j]) * weight to component first + j for j < count: one row's products
  /// with one residual (reproducible_outer_sum). The same integers as add() per component.
  /// With AVX2 four components at a time (simd::avx2(), common/simd.hpp); otherwise a loop with its
  /// arrays in locals: the compiler cannot keep the members' pointers in registers across the
  /// stores into the accumulators, and the reloads were a third of a softmax epoch (bench_train
  /// BM_TrainEpoch).
  void add_products(size_t first, double factor, const double* x, size_t count, double weight) {
    if (!any_ldexp_) {
      if (simd_) {
        add_products_simd(first, factor, x, count, weight);
        return;
      }
      __int128* acc = acc_.data() + first;
      const double* scale = scale_.data() + first;
      for (size_t j = 0; j < count; ++j)
        acc[j] += round_to_int64(((factor * x[j]) * weight) * scale[j]);
      return;
    }
    for (size_t j = 0; j < count; ++j)
      add(first + j, (factor * x[j]) * weight);
  }
  /// Adds values[i] to component j for i < count: the same integers as count calls of
  /// add(j, values[i]) (the standard scaler's column passes).
  void add_values(size_t j, const double* values, size_t count);
  /// Adds (values[i] - center)^2 to component j for i < count: the same integers as count calls
  /// of add(j, d * d) with d = values[i] - center (the standard scaler's variance).
  void add_squared_deviations(size_t j, const double* values, size_t count, double center);
  /// Adds value_of(i) to component j for i in [0, count), the sum kept in registers (one
  /// component's values in a row). The same bits as count calls of add(j, value_of(i)).
  template <class ValueOf>
  void add_each(size_t j, size_t count, ValueOf value_of) {
    if (ldexp_[j] != 0) {
      for (size_t i = 0; i < count; ++i)
        add(j, value_of(i));
      return;
    }
    const double scale = scale_[j];
    __int128 acc = acc_[j];
    for (size_t i = 0; i < count; ++i)
      acc += round_to_int64(value_of(i) * scale);
    acc_[j] = acc;
  }
  /// Records `rows` rows of contributions made with add().
  void count_rows(idx_t rows) {
    rows_ += rows;
  }
  /// Collective: the sums over every rank's contributions. `what` names them in errors.
  std::vector<double> finish(const mpi::Comm& comm, std::string_view what);

 private:
  std::vector<double> maxima_;
  std::vector<int> exponents_;
  std::vector<int> shift_;     // kFractionBits - exponent
  std::vector<double> scale_;  // 2^shift, or 0 for an all-zero component
  std::vector<char> ldexp_;    // the factor overflows: scale by ldexp instead
  bool any_ldexp_ = false;     // some component takes the ldexp path
  std::vector<__int128> acc_;
  idx_t rows_ = 0;
  // The AVX2 path's accumulators (simd::avx2() when the sums are made): per component, the rounded
  // contributions split into multiples of 2^32 (hi_, counted in units of 2^32) and the rest (lo_),
  // each in 64 bits, folded into acc_ before they could overflow and in finish().
  void add_products_simd(size_t first, double factor, const double* x, size_t count, double weight);
  void fold_split();
  bool simd_ = false;
  std::vector<std::int64_t> hi_, lo_;
  std::uint64_t split_adds_ = 0;  // add_products_simd calls since the last fold
};

}  // namespace shardflow::ml
