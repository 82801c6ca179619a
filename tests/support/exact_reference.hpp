#pragma once
// A slow, independent reference for correctly rounded sums and means: the exact sum of the terms
// as a big integer, written out as an exact decimal (times 5^k / 10^k) and handed to strtod, which
// rounds correctly (to nearest, ties to even, +-inf past the double range). Shares no code with
// ops/exact_sum.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <type_traits>
#include <vector>

namespace shardflow::test {

class ExactReference {
 public:
  /// Adds the finite double x.
  void add(double x) {
    if (x == 0) return;
    int e = 0;
    const double f = std::frexp(x, &e);  // |f| in [0.5, 1)
    const auto m = static_cast<std::int64_t>(std::ldexp(f, 53));
    add_term(m, e - 53);
  }
  /// Adds m * 2^e (e >= -kBase).
  void add_term(__int128 m, int e) {
    if (m == 0) return;
    auto& target = m < 0 ? neg_ : pos_;
    unsigned __int128 u =
        m < 0 ? -static_cast<unsigned __int128>(m) : static_cast<unsigned __int128>(m);
    const int shift = e + kBase;
    size_t word = static_cast<size_t>(shift / 32);
    const int bit = shift % 32;
    // u << bit as 32-bit digits, added with carry.
    std::vector<std::uint32_t> digits;
    unsigned __int128 lo = u << bit;
    const std::uint64_t top = bit == 0 ? 0 : static_cast<std::uint64_t>(u >> (128 - bit));
    for (int i = 0; i < 4; ++i, lo >>= 32)
      digits.push_back(static_cast<std::uint32_t>(lo));
    digits.push_back(static_cast<std::uint32_t>(top));
    if (target.size() < word + digits.size() + 1) target.resize(word + digits.size() + 1, 0);
    std::uint64_t carry = 0;
    for (size_t i = 0; i < digits.size() || carry; ++i) {
      if (word + i >= target.size()) target.push_back(0);
      const std::uint64_t s =
          std::uint64_t{target[word + i]} + (i < digits.size() ? digits[i] : 0) + carry;
      target[word + i] = static_cast<std::uint32_t>(s);
      carry = s >> 32;
    }
  }
  /// The correctly rounded exact sum divided by `divisor`; +0.0 when the sum is zero.
  double value(std::uint64_t divisor = 1) const {
    std::vector<std::uint32_t> p = pos_, n = neg_;
    trim(p);
    trim(n);
    bool negative = false;
    if (less(p, n)) {
      std::swap(p, n);
      negative = true;
    }
    subtract(p, n);  // p = |sum| * 2^kBase
    trim(p);
    if (p.empty()) return 0.0;
    // |sum| * 10^(kBase + kExtra) = p * 5^kBase * 10^kExtra, then integer division by divisor.
    for (int i = 0; i < kBase; ++i)
      mul_small(p, 5);
    for (int i = 0; i < kExtra; ++i)
      mul_small(p, 10);
    const std::uint64_t rem = div_small(p, divisor);
    std::string digits = to_decimal(p);
    const size_t frac = static_cast<size_t>(kBase + kExtra);
    if (digits.size() <= frac) digits.insert(0, frac + 1 - digits.size(), '0');
    digits.insert(digits.size() - frac, ".");
    if (rem != 0) digits += '1';  // sticky: strictly between this decimal and the next
    return std::strtod(((negative ? "-" : "") + digits).c_str(), nullptr);
  }

 private:
  // The fraction digits reach below every midpoint between doubles (at most 1075 digits).
  static constexpr int kBase = 1200;
  static constexpr int kExtra = 30;

  static void trim(std::vector<std::uint32_t>& a) {
    while (!a.empty() && a.back() == 0)
      a.pop_back();
  }
  static bool less(const std::vector<std::uint32_t>& a, const std::vector<std::uint32_t>& b) {
    if (a.size() != b.size()) return a.size() < b.size();
    for (size_t i = a.size(); i-- > 0;)
      if (a[i] != b[i]) return a[i] < b[i];
    return false;
  }
  static void subtract(std::vector<std::uint32_t>& a, const std::vector<std::uint32_t>& b) {
    std::int64_t borrow = 0;
    for (size_t i = 0; i < a.size(); ++i) {
      std::int64_t d = std::int64_t{a[i]} - (i < b.size() ? b[i] : 0) - borrow;
      borrow = d < 0 ? 1 : 0;
      if (d < 0) d += std::int64_t{1} << 32;
      a[i] = static_cast<std::uint32_t>(d);
    }
  }
  static void mul_small(std::vector<std::uint32_t>& a, std::uint32_t k) {
    std::uint64_t carry = 0;
    for (auto& d : a) {
      const std::uint64_t v = std::uint64_t{d} * k + carry;
      d = static_cast<std::uint32_t>(v);
      carry = v >> 32;
    }
    if (carry) a.push_back(static_cast<std::uint32_t>(carry));
  }
  static std::uint64_t div_small(std::vector<std::uint32_t>& a, std::uint64_t k) {
    unsigned __int128 rem = 0;
    for (size_t i = a.size(); i-- > 0;) {
      const unsigned __int128 cur = (rem << 32) | a[i];
      a[i] = static_cast<std::uint32_t>(cur / k);
      rem = cur % k;
    }
    trim(a);
    return static_cast<std::uint64_t>(rem);
  }
  static std::string to_decimal(std::vector<std::uint32_t> a) {
    std::string out;
    while (!a.empty()) {
      const std::uint64_t chunk = div_small(a, 1000000000);
      std::string s = std::to_string(chunk);
      if (!a.empty()) s.insert(0, 9 - s.size(), '0');
      out.insert(0, s);
    }
    return out.empty() ? "0" : out;
  }

  std::vector<std::uint32_t> pos_, neg_;
};

/// The continuous quantile q (0 <= q <= 1) of non-empty `v`, as the definition says (DuckDB's
/// quantile_cont): sort in the total order of min/max (-0.0 < 0.0, NaN greatest), interpolate
/// linearly in long double, round once.
template <typename T>
double quantile_reference(std::vector<T> v, double q) {
  std::sort(v.begin(), v.end(), [](T a, T b) {
    if constexpr (std::is_floating_point_v<T>) {
      if (std::isnan(a)) return false;
      if (std::isnan(b)) return true;
      if (a == b) return std::signbit(a) && !std::signbit(b);
    }
    return a < b;
  });
  const long double position = static_cast<long double>(q) * static_cast<long double>(v.size() - 1);
  const auto lo = static_cast<size_t>(std::floor(position));
  const long double fraction = position - static_cast<long double>(lo);
  if (fraction == 0 || lo + 1 >= v.size()) return static_cast<double>(v[lo]);
  const auto a = static_cast<long double>(v[lo]), b = static_cast<long double>(v[lo + 1]);
  return static_cast<double>(a + (b - a) * fraction);
}

}  // namespace shardflow::test
