#pragma once
// Internal to the aggregate functions: exact signed fixed-point integers for finalizing moments
// (variances, covariances, correlations) from exact sums without rounding until the end.

#include <cstdint>
#include <vector>

#include "shardflow/ops/exact_sum.hpp"

namespace shardflow::ops::aggregates {

// (negative ? -1 : 1) * M * 2^low, M in 64-bit digits (least significant first, no leading zero
// digits; empty for zero).
struct Fixed {
  bool negative = false;
  int low = 0;
  std::vector<std::uint64_t> m;

  bool is_zero() const { return m.empty(); }
  // Drops leading and trailing zero digits (the latter into `low`); zero becomes +0 * 2^0.
  void trim();
};

Fixed add(Fixed a, Fixed b);
Fixed negate(Fixed a);
Fixed multiply(const Fixed& a, const Fixed& b);
Fixed from_u64(std::uint64_t v);

// The exact sum of group g of `sums`; false when it is not finite (an infinity or NaN was added).
bool exact_sum(const ExactSums& sums, size_t g, Fixed& out);

// The double nearest d / (d1 * d2) (d1, d2 >= 1), correctly rounded; the sign is d's.
double rounded_ratio(const Fixed& d, std::uint64_t d1, std::uint64_t d2);

// The double nearest d (correctly rounded).
double rounded(const Fixed& d);

}  // namespace shardflow::ops::aggregates
