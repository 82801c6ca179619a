#include "fixed_point.hpp"

#include <algorithm>

namespace shardflow::ops::aggregates {

namespace {

// M << bits.
std::vector<std::uint64_t> shifted_left(const std::vector<std::uint64_t>& m, int bits) {
  const auto words = static_cast<size_t>(bits / 64);
  const int rest = bits % 64;
  std::vector<std::uint64_t> out(m.size() + words + 1, 0);
  for (size_t i = 0; i < m.size(); ++i) {
    out[i + words] |= m[i] << rest;
    if (rest != 0) out[i + words + 1] |= m[i] >> (64 - rest);
  }
  while (!out.empty() && out.back() == 0)
    out.pop_back();
  return out;
}

int compare_magnitudes(const std::vector<std::uint64_t>& a, const std::vector<std::uint64_t>& b) {
  if (a.size() != b.size()) return a.size() < b.size() ? -1 : 1;
  for (size_t i = a.size(); i-- > 0;) {
    if (a[i] != b[i]) return a[i] < b[i] ? -1 : 1;
  }
  return 0;
}

// a += b or a -= b on magnitudes (for subtraction a >= b).
void add_magnitude(std::vector<std::uint64_t>& a, const std::vector<std::uint64_t>& b) {
  if (a.size() < b.size()) a.resize(b.size(), 0);
  unsigned __int128 carry = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    const unsigned __int128 s =
        static_cast<unsigned __int128>(a[i]) + (i < b.size() ? b[i] : 0) + carry;
    a[i] = static_cast<std::uint64_t>(s);
    carry = s >> 64;
  }
  if (carry != 0) a.push_back(static_cast<std::uint64_t>(carry));
}

void subtract_magnitude(std::vector<std::uint64_t>& a, const std::vector<std::uint64_t>& b) {
  std::uint64_t borrow = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    const std::uint64_t bi = i < b.size() ? b[i] : 0;
    const std::uint64_t d = a[i] - bi - borrow;
    borrow = (a[i] < bi || (a[i] == bi && borrow != 0)) ? 1 : 0;
    a[i] = d;
  }
  while (!a.empty() && a.back() == 0)
    a.pop_back();
}

// floor(M / d) in place; returns whether the remainder is nonzero.
bool divide_magnitude(std::vector<std::uint64_t>& m, std::uint64_t d) {
  unsigned __int128 rem = 0;
  for (size_t i = m.size(); i-- > 0;) {
    const unsigned __int128 cur = (rem << 64) | m[i];
    m[i] = static_cast<std::uint64_t>(cur / d);
    rem = cur % d;
  }
  while (!m.empty() && m.back() == 0)
    m.pop_back();
  return rem != 0;
}

}  // namespace

// A signed fixed-point integer: (negative ? -1 : 1) * M * 2^low, M in 64-bit digits (least
// significant first, no leading zero digits; empty for zero).
void Fixed::trim() {
  while (!m.empty() && m.back() == 0)
    m.pop_back();
  size_t zeros = 0;
  while (zeros < m.size() && m[zeros] == 0)
    ++zeros;
  if (zeros > 0) {
    m.erase(m.begin(), m.begin() + static_cast<std::ptrdiff_t>(zeros));
    low += 64 * static_cast<int>(zeros);
  }
  if (m.empty()) {
    negative = false;
    low = 0;
  }
}

Fixed add(Fixed a, Fixed b) {
  if (a.is_zero()) return b;
  if (b.is_zero()) return a;
  // Align on the lower exponent.
  if (a.low > b.low) {
    a.m = shifted_left(a.m, a.low - b.low);
    a.low = b.low;
  } else if (b.low > a.low) {
    b.m = shifted_left(b.m, b.low - a.low);
    b.low = a.low;
  }
  if (a.negative == b.negative) {
    add_magnitude(a.m, b.m);
  } else if (compare_magnitudes(a.m, b.m) >= 0) {
    subtract_magnitude(a.m, b.m);
  } else {
    subtract_magnitude(b.m, a.m);
    b.trim();
    return b;
  }
  a.trim();
  return a;
}

Fixed multiply(const Fixed& a, const Fixed& b) {
  Fixed out;
  if (a.is_zero() || b.is_zero()) return out;
  out.negative = a.negative != b.negative;
  out.low = a.low + b.low;
  out.m.assign(a.m.size() + b.m.size(), 0);
  for (size_t i = 0; i < a.m.size(); ++i) {
    unsigned __int128 carry = 0;
    for (size_t j = 0; j < b.m.size(); ++j) {
      const unsigned __int128 cur =
          static_cast<unsigned __int128>(a.m[i]) * b.m[j] + out.m[i + j] + carry;
      out.m[i + j] = static_cast<std::uint64_t>(cur);
      carry = cur >> 64;
    }
    out.m[i + b.m.size()] = static_cast<std::uint64_t>(carry);
  }
  out.trim();
  return out;
}

Fixed from_u64(std::uint64_t v) {
  Fixed out;
  if (v != 0) out.m.push_back(v);
  return out;
}

// The double nearest d / (d1 * d2) for d >= 0 (d1, d2 >= 1), correctly rounded: the quotient is
// computed with 128 extra bits, rounded to odd on three words (truncated, the lowest bit set when
// anything was dropped), which round_fixed_point then rounds to nearest. Rounding to odd with at
// least two more bits than the target precision and then to nearest equals rounding once.
double rounded_ratio(const Fixed& d, std::uint64_t d1, std::uint64_t d2) {
  if (d.is_zero()) return 0.0;
  std::vector<std::uint64_t> q = shifted_left(d.m, 128);
  int low = d.low - 128;
  bool inexact = divide_magnitude(q, d1);
  if (d2 > 1) inexact = divide_magnitude(q, d2) || inexact;
  if (q.empty()) return 0.0;  // cannot happen: 128 extra bits keep the quotient nonzero
  if (q.size() > 3) {
    const size_t drop = q.size() - 3;
    for (size_t i = 0; i < drop; ++i)
      inexact = inexact || q[i] != 0;
    q.erase(q.begin(), q.begin() + static_cast<std::ptrdiff_t>(drop));
    low += 64 * static_cast<int>(drop);
  }
  if (inexact) q[0] |= 1;
  return round_fixed_point(q, low, d.negative);
}

Fixed negate(Fixed a) {
  if (!a.is_zero()) a.negative = !a.negative;
  return a;
}

bool exact_sum(const ExactSums& sums, size_t g, Fixed& out) {
  if (!sums.exact_value(g, out.m, out.low, out.negative)) return false;
  out.trim();
  return true;
}

double rounded(const Fixed& d) {
  return rounded_ratio(d, 1, 1);
}

}  // namespace shardflow::ops::aggregates
