#include "shardflow/ml/exact_math.hpp"

#ifdef __x86_64__
#include <immintrin.h>
#endif

namespace shardflow::ml::exact {

void logistic_losses_portable(const double* z, const double* y, size_t n, double* dz,
                              double* loss) {
  for (size_t i = 0; i < n; ++i)
    loss[i] = logistic_loss(z[i], y[i], &dz[i]);
}

#ifdef __x86_64__
namespace {

// Each function below is its scalar twin in exact_math.hpp, operation for operation, on four
// lanes: the same products, sums, quotients and bit operations in the same order, no FMA.
#define SF_AVX2 __attribute__((target("avx2"), always_inline)) inline

SF_AVX2 __m256d exp_nonpositive4(__m256d x) {
  const __m256d round = _mm256_set1_pd(kRoundToInteger);
  const __m256d shifted = _mm256_add_pd(_mm256_mul_pd(x, _mm256_set1_pd(kLog2e)), round);
  const __m256d k = _mm256_sub_pd(shifted, round);
  const __m256d r = _mm256_sub_pd(_mm256_sub_pd(x, _mm256_mul_pd(k, _mm256_set1_pd(kLn2Hi))),
                                  _mm256_mul_pd(k, _mm256_set1_pd(kLn2Lo)));
  __m256d p = _mm256_set1_pd(kExpCoefficients[0]);
  for (size_t i = 1; i < std::size(kExpCoefficients); ++i)
    p = _mm256_add_pd(_mm256_mul_pd(p, r), _mm256_set1_pd(kExpCoefficients[i]));
  const __m256i k_bits = _mm256_sub_epi64(_mm256_castpd_si256(shifted), _mm256_castpd_si256(round));
  const __m256d scale = _mm256_castsi256_pd(
      _mm256_slli_epi64(_mm256_add_epi64(k_bits, _mm256_set1_epi64x(1023)), 52));
  const __m256d below = _mm256_cmp_pd(x, _mm256_set1_pd(kExpLowest), _CMP_LT_OQ);
  return _mm256_andnot_pd(below, _mm256_mul_pd(p, scale));
}

SF_AVX2 __m256d log1p_unit4(__m256d e) {
  const __m256d s = _mm256_div_pd(e, _mm256_add_pd(_mm256_set1_pd(2.0), e));
  const __m256d s2 = _mm256_mul_pd(s, s);
  __m256d q = _mm256_set1_pd(kLog1pCoefficients[0]);
  for (size_t i = 1; i < std::size(kLog1pCoefficients); ++i)
    q = _mm256_add_pd(_mm256_mul_pd(q, s2), _mm256_set1_pd(kLog1pCoefficients[i]));
  const __m256d two_s = _mm256_add_pd(s, s);
  return _mm256_add_pd(two_s, _mm256_mul_pd(two_s, _mm256_mul_pd(q, s2)));
}

SF_AVX2 __m256d logistic_loss4(__m256d z, __m256d y, __m256d* dz) {
  const __m256d zero = _mm256_setzero_pd();
  const __m256d one = _mm256_set1_pd(1.0);
  const __m256d positive = _mm256_cmp_pd(z, zero, _CMP_GE_OQ);
  const __m256d negated = _mm256_xor_pd(z, _mm256_set1_pd(-0.0));  // -z, as the scalar form
  const __m256d e = exp_nonpositive4(_mm256_blendv_pd(z, negated, positive));
  *dz = _mm256_sub_pd(_mm256_div_pd(_mm256_blendv_pd(e, one, positive), _mm256_add_pd(one, e)), y);
  const __m256d z_plus = _mm256_and_pd(_mm256_cmp_pd(z, zero, _CMP_GT_OQ), z);
  return _mm256_add_pd(_mm256_sub_pd(z_plus, _mm256_mul_pd(y, z)), log1p_unit4(e));
}

#undef SF_AVX2

}  // namespace

__attribute__((target("avx2"))) void logistic_losses_avx2(const double* z, const double* y,
                                                          size_t n, double* dz, double* loss) {
  size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    __m256d d;
    const __m256d l = logistic_loss4(_mm256_loadu_pd(z + i), _mm256_loadu_pd(y + i), &d);
    _mm256_storeu_pd(dz + i, d);
    _mm256_storeu_pd(loss + i, l);
  }
  for (; i < n; ++i)
    loss[i] = logistic_loss(z[i], y[i], &dz[i]);
}
#endif

}  // namespace shardflow::ml::exact
