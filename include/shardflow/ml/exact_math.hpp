#pragma once
// e^x and log(1 + e) for the logistic losses, with a portable form (these templates on double)
// and an AVX2 form (exact_math.cpp) that run the same IEEE operations in the same order per
// lane, so that the vectorized training kernels and the scalar code (binary_loss,
// LogisticRegression::sigmoid, predict) give the same bits on every x86-64 CPU. glibc's exp and
// log are calls that a compiler cannot vectorize, and in the per-row loop they were a chain of
// dependent calls that left the CPU waiting (bench_train BM_FullBatchObjective).
//
// No fused multiply-add: each product and sum rounds on its own (the build passes
// -ffp-contract=off, and the AVX2 kernels are compiled without FMA). Accuracy: within 2 ulp of
// the exact values on their domains (tests/unit/test_ml_exact_math.cpp measures it against long
// double).

#include <bit>
#include <cstddef>
#include <cstdint>
#include <iterator>

namespace shardflow::ml::exact {

inline constexpr double kLog2e = 1.4426950408889634074;
inline constexpr double kRoundToInteger = 0x1.8p52;  // x + it rounds |x| < 2^51 to an integer
inline constexpr double kLn2Hi = 6.93147180369123816490e-01;  // 0x3fe62e42fee00000: k kLn2Hi exact
inline constexpr double kLn2Lo = 1.90821492927058770002e-10;
inline constexpr double kExpLowest = -708.0;  // below it e^x leaves the normal range: 0
/// 1/13!, 1/12!, ..., 1/2!, 1, 1: the Taylor polynomial of e^r in Horner order.
inline constexpr double kExpCoefficients[] = {1.0 / 6227020800.0,
                                              1.0 / 479001600.0,
                                              1.0 / 39916800.0,
                                              1.0 / 3628800.0,
                                              1.0 / 362880.0,
                                              1.0 / 40320.0,
                                              1.0 / 5040.0,
                                              1.0 / 720.0,
                                              1.0 / 120.0,
                                              1.0 / 24.0,
                                              1.0 / 6.0,
                                              0.5,
                                              1.0,
                                              1.0};
/// 1/31, 1/29, ..., 1/3: 2 atanh(s) / (2 s) - 1 = sum_n s^2n / (2n + 1) in Horner order.
inline constexpr double kLog1pCoefficients[] = {
    1.0 / 31.0, 1.0 / 29.0, 1.0 / 27.0, 1.0 / 25.0, 1.0 / 23.0, 1.0 / 21.0, 1.0 / 19.0, 1.0 / 17.0,
    1.0 / 15.0, 1.0 / 13.0, 1.0 / 11.0, 1.0 / 9.0,  1.0 / 7.0,  1.0 / 5.0,  1.0 / 3.0};

/// e^x for x <= 0: 0 below -708 (the logistic losses add it to 1 or divide it by 1 + e^x, so
/// nothing is lost), NaN for NaN. Cody-Waite reduction x = k ln2 + r, |r| <= ln2 / 2, and the
/// Taylor polynomial of degree 13 (its remainder is below 5e-18 relative), scaled by 2^k through
/// the exponent bits.
inline double exp_nonpositive(double x) {
  const double shifted = x * kLog2e + kRoundToInteger;
  const double k = shifted - kRoundToInteger;
  const double r = (x - k * kLn2Hi) - k * kLn2Lo;
  double p = kExpCoefficients[0];
  for (size_t i = 1; i < std::size(kExpCoefficients); ++i)
    p = p * r + kExpCoefficients[i];
  // k sits in the low bits of `shifted` (two's complement); 2^k's exponent field is k + 1023.
  const std::int64_t k_bits =
      std::bit_cast<std::int64_t>(shifted) - std::bit_cast<std::int64_t>(kRoundToInteger);
  const double scale = std::bit_cast<double>((k_bits + 1023) << 52);
  return x < kExpLowest ? 0.0 : p * scale;
}

/// log(1 + e) for e in [0, 1]: 2 atanh(s) with s = e / (2 + e) <= 1/3, the odd series to s^31
/// (the first term left out is below 2e-17 relative).
inline double log1p_unit(double e) {
  const double s = e / (2.0 + e);
  const double s2 = s * s;
  double q = kLog1pCoefficients[0];
  for (size_t i = 1; i < std::size(kLog1pCoefficients); ++i)
    q = q * s2 + kLog1pCoefficients[i];
  const double two_s = s + s;
  return two_s + two_s * (q * s2);
}

/// The log loss of a binary model with margin z and label y, and its derivative in z (*dz):
/// log(1 + e^z) - y z and sigmoid(z) - y, through one e^-|z|.
inline double logistic_loss(double z, double y, double* dz) {
  const bool positive = z >= 0.0;
  const double e = exp_nonpositive(positive ? -z : z);
  *dz = (positive ? 1.0 : e) / (1.0 + e) - y;
  return ((z > 0.0 ? z : 0.0) - y * z) + log1p_unit(e);
}

/// logistic_loss for rows [0, n): loss[i] = logistic_loss(z[i], y[i], &dz[i]). The AVX2 form
/// (x86-64 only; the CPU must have AVX2: callers check simd::avx2()) gives the same bits as the
/// portable one.
void logistic_losses_portable(const double* z, const double* y, size_t n, double* dz, double* loss);
#ifdef __x86_64__
void logistic_losses_avx2(const double* z, const double* y, size_t n, double* dz, double* loss);
#endif

}  // namespace shardflow::ml::exact
