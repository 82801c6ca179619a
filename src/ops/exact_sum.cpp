#include "shardflow/ops/exact_sum.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>

#ifdef __x86_64__
#include <immintrin.h>
#endif

#include "shardflow/common/error.hpp"
#include "shardflow/common/simd.hpp"

namespace shardflow::ops {

namespace {

constexpr int kMinExponent = -1074;  // weight of the lowest bit of any double (2^-1074)

unsigned __int128 magnitude(__int128 v) {
  return v < 0 ? -static_cast<unsigned __int128>(v) : static_cast<unsigned __int128>(v);
}

int bit_length(unsigned __int128 u) {
  const auto hi = static_cast<std::uint64_t>(u >> 64);
  if (hi != 0) return 128 - __builtin_clzll(hi);
  const auto lo = static_cast<std::uint64_t>(u);
  return lo == 0 ? 0 : 64 - __builtin_clzll(lo);
}

// A finite nonzero double as (-1)^negative * m * 2^e with an integer m < 2^53.
struct Decomposed {
  std::uint64_t m;
  int e;
  bool negative;
};
Decomposed decompose(double x) {
  const auto bits = std::bit_cast<std::uint64_t>(x);
  const int biased = static_cast<int>((bits >> 52) & 0x7ff);
  const std::uint64_t frac = bits & ((std::uint64_t{1} << 52) - 1);
  if (biased == 0) return {frac, kMinExponent, (bits >> 63) != 0};
  return {frac | (std::uint64_t{1} << 52), biased - 1075, (bits >> 63) != 0};
}

// Bits [pos, pos + count) of the magnitude in words[0, n) (count <= 63).
std::uint64_t get_bits(const std::uint64_t* w, size_t n, size_t pos, int count) {
  const size_t i = pos / 64;
  const unsigned off = pos % 64;
  std::uint64_t v = i < n ? w[i] >> off : 0;
  if (off != 0 && i + 1 < n) v |= w[i + 1] << (64 - off);
  return v & ((std::uint64_t{1} << count) - 1);
}

// Whether any bit below `pos` is set.
bool any_below(const std::uint64_t* w, size_t n, size_t pos) {
  const size_t i = pos / 64;
  for (size_t j = 0; j < std::min(i, n); ++j)
    if (w[j] != 0) return true;
  const unsigned off = pos % 64;
  return i < n && off != 0 && (w[i] & ((std::uint64_t{1} << off) - 1)) != 0;
}

}  // namespace

// Rounding is done once, on the exact value: keep the 53 bits below the leading one (fewer in
// the subnormal range, where the last kept bit is 2^-1074), then round half to even on the next
// bit and an OR of everything below it (the "sticky" bit; for a quotient it includes a nonzero
// remainder). ldexp of the kept integer is exact, or overflows to inf exactly when IEEE does.
double round_fixed_point(std::span<std::uint64_t> words, int low, bool negative,
                         std::uint64_t divisor) {
  constexpr size_t kMaxWords = 40;
  if (words.size() + 1 > kMaxWords) throw RuntimeError("round_fixed_point: magnitude too wide");
  std::array<std::uint64_t, kMaxWords> buf{};
  size_t n = words.size();
  bool sticky = false;
  if (divisor > 1) {
    // Long division with 64 extra fraction bits: the quotient's bits then reach below any
    // rounding position, and a nonzero remainder only feeds the sticky bit.
    buf[0] = 0;
    std::copy(words.begin(), words.end(), buf.begin() + 1);
    ++n;
    low -= 64;
    unsigned __int128 rem = 0;
    for (size_t i = n; i-- > 0;) {
      const unsigned __int128 cur = (rem << 64) | buf[i];
      buf[i] = static_cast<std::uint64_t>(cur / divisor);
      rem = cur % divisor;
    }
    sticky = rem != 0;
  } else {
    std::copy(words.begin(), words.end(), buf.begin());
  }
  size_t top = n;
  while (top > 0 && buf[top - 1] == 0)
    --top;
  if (top == 0) return negative ? -0.0 : 0.0;
  const int nbits = static_cast<int>(64 * (top - 1)) + 64 - __builtin_clzll(buf[top - 1]);
  const int leading = nbits - 1 + low;                   // exponent of the leading one
  const int ulp = std::max(leading - 52, kMinExponent);  // exponent of the last kept bit
  const int k = ulp - low;                               // bits dropped
  double r;
  if (k <= 0) {
    r = std::ldexp(static_cast<double>(buf[0]), low);  // at most 53 bits, exact
  } else {
    std::uint64_t keep = get_bits(buf.data(), n, static_cast<size_t>(k), 53);
    const bool guard = get_bits(buf.data(), n, static_cast<size_t>(k - 1), 1) != 0;
    const bool rest = sticky || any_below(buf.data(), n, static_cast<size_t>(k - 1));
    if (guard && (rest || (keep & 1) != 0)) ++keep;  // may reach 2^53: still exact
    r = std::ldexp(static_cast<double>(keep), ulp);
  }
  return negative ? -r : r;
}

// The same rounding on one 128-bit magnitude (every group that never needed the wide tier):
// a quotient is taken after shifting the magnitude to the top, so it keeps at least 64
// significant bits, and the remainder feeds the sticky bit.
double round_fixed_point(unsigned __int128 u, int low, bool negative, std::uint64_t divisor) {
  if (u == 0) return negative ? -0.0 : 0.0;
  bool sticky = false;
  if (divisor > 1) {
    const int shift = 128 - bit_length(u);
    u <<= shift;
    low -= shift;
    sticky = u % divisor != 0;
    u /= divisor;
  }
  const int leading = bit_length(u) - 1 + low;
  const int ulp = std::max(leading - 52, kMinExponent);
  const int k = ulp - low;
  double r;
  if (k <= 0) {
    r = std::ldexp(static_cast<double>(static_cast<std::uint64_t>(u)), low);  // <= 53 bits: exact
  } else if (k >= 127) {
    std::array<std::uint64_t, 2> words = {static_cast<std::uint64_t>(u),
                                          static_cast<std::uint64_t>(u >> 64)};
    // Deep in the subnormal range: the general routine (sticky is only set with a divisor, and
    // then u has its top bit at 2^127 >> log2(divisor), far above 2^-1074 here).
    if (sticky) words[0] |= 1;  // below the guard bit, since k >= 127 > 1
    return round_fixed_point(words, low, negative);
  } else {
    std::uint64_t keep = static_cast<std::uint64_t>(u >> k);
    const bool guard = ((u >> (k - 1)) & 1) != 0;
    const bool rest = sticky || (u & ((static_cast<unsigned __int128>(1) << (k - 1)) - 1)) != 0;
    if (guard && (rest || (keep & 1) != 0)) ++keep;  // may reach 2^53: still exact
    r = std::ldexp(static_cast<double>(keep), ulp);
  }
  return negative ? -r : r;
}

double rounded_quotient(__int128 numerator, std::int64_t divisor) {
  return round_fixed_point(magnitude(numerator), 0, numerator < 0,
                           static_cast<std::uint64_t>(divisor));
}

// =============================================================================================
// WideAccumulator
// =============================================================================================

// Limb i holds a signed count of units 2^(32 i - 1074). Additions put digits below 2^32 into
// five consecutive limbs without carrying; limbs hold 63 bits, so 2^30 additions fit before a
// normalization carries every limb's excess into the next one (the top limb keeps the sign).
void WideAccumulator::add_digits(unsigned __int128 magnitude, bool negative, int position) {
  const int c = position / kDigitBits;
  const int r = position % kDigitBits;
  if (position < 0 || c + 4 >= kLimbs) {
    throw RuntimeError("exact sum: bit position {} outside the accumulator", position);
  }
  const unsigned __int128 shifted = magnitude << r;
  const std::uint64_t top = r == 0 ? 0 : static_cast<std::uint64_t>(magnitude >> (128 - r));
  const std::int64_t digits[5] = {
      static_cast<std::int64_t>(static_cast<std::uint32_t>(shifted)),
      static_cast<std::int64_t>(static_cast<std::uint32_t>(shifted >> 32)),
      static_cast<std::int64_t>(static_cast<std::uint32_t>(shifted >> 64)),
      static_cast<std::int64_t>(static_cast<std::uint32_t>(shifted >> 96)),
      static_cast<std::int64_t>(top)};
  for (int j = 0; j < 5; ++j)
    limb_[static_cast<size_t>(c + j)] += negative ? -digits[j] : digits[j];
  if (++pending_ >= (std::int64_t{1} << 30)) normalize();
}

void WideAccumulator::add_scaled(__int128 v, int scale) {
  if (v == 0) return;
  add_digits(magnitude(v), v < 0, scale - kMinExponent);
}

void WideAccumulator::add(double x) {
  if (x == 0) return;
  const Decomposed d = decompose(x);
  add_digits(d.m, d.negative, d.e - kMinExponent);
}

void WideAccumulator::normalize() {
  for (int i = 0; i + 1 < kLimbs; ++i) {
    const std::int64_t carry = limb_[static_cast<size_t>(i)] >> kDigitBits;  // floor division
    limb_[static_cast<size_t>(i)] &= 0xffffffff;
    limb_[static_cast<size_t>(i) + 1] += carry;
  }
  pending_ = 0;
}

void WideAccumulator::merge(const WideAccumulator& other) {
  WideAccumulator o = other;
  o.normalize();
  normalize();
  for (size_t i = 0; i < kLimbs; ++i)
    limb_[i] += o.limb_[i];
  normalize();
}

bool WideAccumulator::is_zero() const {
  WideAccumulator c = *this;
  c.normalize();
  return std::all_of(c.limb_.begin(), c.limb_.end(), [](std::int64_t l) { return l == 0; });
}

bool WideAccumulator::magnitude_words(std::array<std::uint64_t, kLimbs / 2>& words) const {
  WideAccumulator c = *this;
  c.normalize();
  const bool negative = c.limb_[kLimbs - 1] < 0;
  if (negative) {
    for (auto& l : c.limb_)
      l = -l;
    c.normalize();
  }
  for (size_t j = 0; j < words.size(); ++j)
    words[j] = static_cast<std::uint64_t>(c.limb_[2 * j]) |
               (static_cast<std::uint64_t>(c.limb_[2 * j + 1]) << 32);
  return negative;
}

int WideAccumulator::low_exponent() {
  return kMinExponent;
}

double WideAccumulator::round(std::uint64_t divisor) const {
  std::array<std::uint64_t, kLimbs / 2> words{};
  const bool negative = magnitude_words(words);
  return round_fixed_point(words, kMinExponent, negative, divisor);
}

std::string WideAccumulator::serialize() const {
  WideAccumulator c = *this;
  c.normalize();
  std::string out;
  for (int i = 0; i < kLimbs; ++i) {
    const std::int64_t l = c.limb_[static_cast<size_t>(i)];
    if (l == 0) continue;
    if (!out.empty()) out += ',';
    out += fmt::format("{}:{:x}", i, l);
  }
  return out;
}

WideAccumulator WideAccumulator::parse(std::string_view text) {
  WideAccumulator w;
  auto bad = [&] {
    return RuntimeError("exact sum: malformed partial state '{}'",
                        text.substr(0, std::min<size_t>(text.size(), 80)));
  };
  if (!text.empty() && text.back() == ',') throw bad();
  while (!text.empty()) {
    const size_t comma = std::min(text.find(','), text.size());
    const std::string_view item = text.substr(0, comma);
    text.remove_prefix(std::min(comma + 1, text.size()));
    const size_t colon = item.find(':');
    if (colon == std::string_view::npos) throw bad();
    int index = -1;
    std::int64_t value = 0;
    const auto [p1, e1] = std::from_chars(item.data(), item.data() + colon, index);
    const auto [p2, e2] =
        std::from_chars(item.data() + colon + 1, item.data() + item.size(), value, 16);
    if (e1 != std::errc() || p1 != item.data() + colon || e2 != std::errc() ||
        p2 != item.data() + item.size() || index < 0 || index >= kLimbs ||
        (index + 1 < kLimbs && (value < 0 || value > 0xffffffff))) {
      throw bad();
    }
    w.limb_[static_cast<size_t>(index)] = value;
  }
  return w;
}

// =============================================================================================
// ExactSums
// =============================================================================================

ExactSums::Extra& ExactSums::extra_of(size_t g) {
  marked_[g] = 1;
  return extra_[static_cast<std::uint32_t>(g)];
}

const ExactSums::Extra* ExactSums::find_extra(size_t g) const {
  if (!marked_[g]) return nullptr;
  return &extra_.at(static_cast<std::uint32_t>(g));
}

WideAccumulator& ExactSums::wide_of(size_t g) {
  Extra& e = extra_of(g);
  if (e.wide < 0) {
    if (wide_.size() >= static_cast<size_t>(std::numeric_limits<std::int32_t>::max())) {
      throw RuntimeError("exact sum: too many groups with widely spread values");
    }
    e.wide = static_cast<std::int32_t>(wide_.size());
    wide_.emplace_back();
  }
  return wide_[static_cast<size_t>(e.wide)];
}

void ExactSums::anchor(double max_abs) {
  if (scale_ != kUnanchored || !std::isfinite(max_abs) || max_abs == 0) return;
  scale_ = std::max(decompose(max_abs).e + 30 - static_cast<int>(kWindow), kMinExponent);
}

double largest_finite_magnitude(std::span<const double> values) {
  // Branch-free, in four independent maxima: the loop runs at the max instruction's throughput
  // (it was a compare-and-branch chain, a fifth of a float mean's time). NaN and infinities
  // compare false against infinity and count as 0.
  constexpr double kInf = std::numeric_limits<double>::infinity();
  double m[4] = {0, 0, 0, 0};
  const size_t n = values.size();
  size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    for (size_t k = 0; k < 4; ++k) {
      double a = std::fabs(values[i + k]);
      a = a < kInf ? a : 0.0;
      m[k] = a > m[k] ? a : m[k];
    }
  }
  for (; i < n; ++i) {
    double a = std::fabs(values[i]);
    a = a < kInf ? a : 0.0;
    m[0] = a > m[0] ? a : m[0];
  }
  return std::max(std::max(m[0], m[1]), std::max(m[2], m[3]));
}

double anchor_magnitude(std::span<const double> values) {
  // A strided sample, not a full scan: the scan read the whole column once more (8 bytes per
  // row), and db-benchmark q4 is bound by memory bandwidth. A value beyond 2^30 times the
  // sample's largest takes the slow path (the wide tier): still exact, only slower.
  constexpr size_t kSample = 4096;
  const size_t n = values.size();
  if (n <= 4 * kSample) return largest_finite_magnitude(values);
  std::array<double, kSample> sample;
  const size_t stride = n / kSample;
  for (size_t i = 0; i < kSample; ++i)
    sample[i] = values[i * stride];
  return std::max(largest_finite_magnitude(sample), largest_finite_magnitude(values.last(1)));
}

void ExactSums::add_counted(std::span<const double> values, std::span<const std::int32_t> gid,
                            std::int64_t* count) {
  const size_t n = gid.size();
  if (scale_ == kUnanchored) anchor(anchor_magnitude(values.first(n)));
  if (scale_ == kUnanchored) {  // zeros and non-finite values only: all go the slow way
    for (size_t i = 0; i < n; ++i) {
      add(static_cast<size_t>(gid[i]), values[i]);
      ++count[gid[i]];
    }
    return;
  }
  size_t i = 0;
#ifdef __x86_64__
  if (simd::avx2()) i = add_counted_avx2(values.data(), gid.data(), n, count);
#endif
  FastAdder adder = fast_adder();
  for (; i < n; ++i) {
    const auto g = static_cast<size_t>(gid[i]);
    ++count[g];
    adder.add(g, values[i]);
  }
}

#ifdef __x86_64__
// add_fast's arithmetic on four values at once: the exponent test, the 53-bit mantissa shifted
// into a (hi, lo) pair of 64-bit words and its two's complement for negative values are
// branch-free vector operations; only the sum into each value's group is scalar. A group of four
// with any value outside the fast tier (zero, subnormal, inf, NaN, outside the window) goes
// through add() one by one, and a sum that would overflow 128 bits through add_slow(), as in
// add(): the same state, bit for bit. On db-benchmark's q4 at 1e7 rows, 2 ranks (means of v1,
// v2 and v3 by id4: 100 groups, 5e6 rows per rank) v3's sum took 23 ms of the step's 52 before,
// 10 ms after (perf samples of 12 q4 steps, 555 -> 230), and the step's compute 0.037-0.089 s
// before, 0.028-0.042 s after (four job runs of each, alternating).
__attribute__((target("avx2"))) size_t ExactSums::add_counted_avx2(const double* values,
                                                                   const std::int32_t* gid,
                                                                   size_t n, std::int64_t* count) {
  Slot* const slots = slot_.data();
  const __m256i zero = _mm256_setzero_si256();
  const __m256i exponent_mask = _mm256_set1_epi64x(0x7ff);
  const __m256i shift_base = _mm256_set1_epi64x(1075 + static_cast<std::int64_t>(scale_));
  const __m256i window = _mm256_set1_epi64x(kWindow);
  const __m256i mantissa_mask = _mm256_set1_epi64x(static_cast<std::int64_t>(kMantissa));
  const __m256i implicit_bit = _mm256_set1_epi64x(std::int64_t{1} << 52);
  const __m256i sixty_four = _mm256_set1_epi64x(64);
  alignas(32) std::uint64_t term_lo[4], term_hi[4];
  size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    const __m256i bits = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(values + i));
    const __m256i biased = _mm256_and_si256(_mm256_srli_epi64(bits, 52), exponent_mask);
    const __m256i d = _mm256_sub_epi64(biased, shift_base);  // signed
    const __m256i outside =
        _mm256_or_si256(_mm256_or_si256(_mm256_cmpgt_epi64(zero, d), _mm256_cmpgt_epi64(d, window)),
                        _mm256_or_si256(_mm256_cmpeq_epi64(biased, zero),
                                        _mm256_cmpeq_epi64(biased, exponent_mask)));
    if (!_mm256_testz_si256(outside, outside)) [[unlikely]] {
      FastAdder adder = fast_adder();
      for (size_t r = i; r < i + 4; ++r) {
        const auto g = static_cast<size_t>(gid[r]);
        ++count[g];
        adder.add(g, values[r]);
      }
      continue;
    }
    const __m256i m = _mm256_or_si256(_mm256_and_si256(bits, mantissa_mask), implicit_bit);
    // m << d as (hi, lo), 0 <= d <= 73. A variable shift by 64 or more gives 0, so lo is 0 for
    // d >= 64, m >> (64 - d) is 0 for d = 0, and m << (d - 64) is 0 for d < 64 (a negative
    // count is huge unsigned); for d = 64 both hi terms are m.
    const __m256i lo = _mm256_sllv_epi64(m, d);
    const __m256i hi = _mm256_or_si256(_mm256_srlv_epi64(m, _mm256_sub_epi64(sixty_four, d)),
                                       _mm256_sllv_epi64(m, _mm256_sub_epi64(d, sixty_four)));
    // Negative values: flip every bit and add 1; the 1 carries into hi only when lo is 0.
    const __m256i sign = _mm256_srli_epi64(bits, 63);
    const __m256i flip = _mm256_sub_epi64(zero, sign);
    const __m256i carry = _mm256_and_si256(_mm256_cmpeq_epi64(lo, zero), sign);
    _mm256_store_si256(reinterpret_cast<__m256i*>(term_lo),
                       _mm256_add_epi64(_mm256_xor_si256(lo, flip), sign));
    _mm256_store_si256(reinterpret_cast<__m256i*>(term_hi),
                       _mm256_add_epi64(_mm256_xor_si256(hi, flip), carry));
    for (size_t r = 0; r < 4; ++r) {
      const auto g = static_cast<size_t>(gid[i + r]);
      ++count[g];
      Slot& s = slots[g];
      std::uint64_t sum_lo;
      const bool carry2 = __builtin_add_overflow(s.lo, term_lo[r], &sum_lo);
      const std::uint64_t sum_hi = s.hi + term_hi[r] + carry2;
      // Signed 128-bit overflow (add_fast's test): add_slow moves the group to the wide tier.
      if ((~(s.hi ^ term_hi[r]) & (s.hi ^ sum_hi)) >> 63) [[unlikely]] {
        add_slow(g, values[i + r]);
        continue;
      }
      s.lo = sum_lo;
      s.hi = sum_hi;
    }
  }
  return i;
}
#endif

// Adds v * 2^scale to group g: in the fast tier when it fits there exactly, else wide.
void ExactSums::add_scaled(size_t g, __int128 v, int scale) {
  if (v == 0) return;
  if (scale >= scale_) {
    const int shift = scale - scale_;
    __int128 sum;
    if (bit_length(magnitude(v)) + shift <= 126 &&
        !__builtin_add_overflow(slot_[g].acc(), v << shift, &sum)) {
      slot_[g].set_acc(sum);
      return;
    }
  }
  wide_of(g).add_scaled(v, scale);
}

void ExactSums::add_slow(size_t g, double x) {
  if (std::isnan(x)) {
    extra_of(g).flags |= kNaN;
    return;
  }
  if (std::isinf(x)) {
    extra_of(g).flags |= x > 0 ? kPositiveInf : kNegativeInf;
    return;
  }
  if (x == 0) {
    if (std::signbit(x)) ++extra_of(g).negative_zeros;
    return;
  }
  if (scale_ == kUnanchored) anchor(std::fabs(x));  // then x is in the window
  const Decomposed d = decompose(x);
  const int shift = d.e - scale_;
  if (shift >= 0 && shift <= static_cast<int>(kWindow)) {
    // A subnormal in the window, or the 128-bit accumulator overflowed: then the accumulator
    // moves to the wide tier and starts again from this value.
    const __int128 m = static_cast<__int128>(d.m) << shift;
    const __int128 term = d.negative ? -m : m;
    __int128 sum;
    if (__builtin_add_overflow(slot_[g].acc(), term, &sum)) {
      wide_of(g).add_scaled(slot_[g].acc(), scale_);
      sum = term;
    }
    slot_[g].set_acc(sum);
    return;
  }
  wide_of(g).add(x);  // outside the window (or subnormal below it)
}

void ExactSums::state_columns(std::vector<table::Column>& out, bool with_wide) const {
  const size_t n = slot_.size();
  table::Column lo(table::DataType::kInt64), hi(table::DataType::kInt64),
      meta(table::DataType::kInt64);
  auto& l = lo.values<std::int64_t>();
  auto& h = hi.values<std::int64_t>();
  auto& m = meta.values<std::int64_t>();
  l.resize(n);
  h.resize(n);
  m.resize(n);
  const auto scale_bits = static_cast<std::int64_t>(static_cast<std::uint16_t>(scale_));
  for (size_t g = 0; g < n; ++g) {
    l[g] = static_cast<std::int64_t>(slot_[g].lo);
    h[g] = static_cast<std::int64_t>(slot_[g].hi);
    m[g] = scale_bits;
    if (const Extra* e = find_extra(g)) {
      m[g] |= (static_cast<std::int64_t>(e->flags) << 16) | (e->negative_zeros << 24);
    }
  }
  out.push_back(std::move(lo));
  out.push_back(std::move(hi));
  out.push_back(std::move(meta));
  if (with_wide) {
    table::Column w = table::Column::plain_strings();
    auto& p = w.plain();
    for (size_t g = 0; g < n; ++g) {
      const Extra* e = find_extra(g);
      p.push_back(e == nullptr || e->wide < 0 ? std::string()
                                              : wide_[static_cast<size_t>(e->wide)].serialize());
    }
    out.push_back(std::move(w));
  }
}

void ExactSums::merge(std::span<const table::Column> partial, std::span<const std::int32_t> gid) {
  const auto& l = partial[0].values<std::int64_t>();
  const auto& h = partial[1].values<std::int64_t>();
  const auto& m = partial[2].values<std::int64_t>();
  const table::PlainStrings* w = partial.size() > kColumns ? &partial[kColumns].plain() : nullptr;
  auto scale_of = [&](size_t i) {
    return static_cast<int>(static_cast<std::int16_t>(static_cast<std::uint16_t>(m[i] & 0xffff)));
  };
  if (scale_ == kUnanchored) {
    // The smallest incoming scale: the others' accumulators shift up into it (they have 30 bits
    // of headroom) instead of spilling.
    for (size_t i = 0; i < gid.size(); ++i)
      if (scale_of(i) != kUnanchored) scale_ = std::min(scale_, scale_of(i));
  }
  for (size_t i = 0; i < gid.size(); ++i) {
    const auto g = static_cast<size_t>(gid[i]);
    const auto flags = static_cast<std::uint8_t>((m[i] >> 16) & 0xff);
    const std::int64_t negative_zeros = m[i] >> 24;
    if (flags != 0 || negative_zeros != 0) {
      Extra& e = extra_of(g);
      e.flags |= flags;
      e.negative_zeros += negative_zeros;
    }
    Slot p;
    p.lo = static_cast<std::uint64_t>(l[i]);
    p.hi = static_cast<std::uint64_t>(h[i]);
    if (p.acc() != 0) add_scaled(g, p.acc(), scale_of(i));
    if (w != nullptr) {
      const std::string_view text = w->at(static_cast<idx_t>(i));
      if (!text.empty()) wide_of(g).merge(WideAccumulator::parse(text));
    }
  }
}

bool ExactSums::exact_value(size_t g, std::vector<std::uint64_t>& words, int& low,
                            bool& negative) const {
  const Extra* e = find_extra(g);
  if (e != nullptr && (e->flags & (kNaN | kPositiveInf | kNegativeInf)) != 0) return false;
  const __int128 acc = slot_[g].acc();
  words.clear();
  if (e == nullptr || e->wide < 0) {
    negative = acc < 0;
    low = scale_ == kUnanchored ? 0 : scale_;
    const unsigned __int128 m = magnitude(acc);
    if (m != 0) {
      words.push_back(static_cast<std::uint64_t>(m));
      words.push_back(static_cast<std::uint64_t>(m >> 64));
    }
  } else {
    WideAccumulator w = wide_[static_cast<size_t>(e->wide)];
    w.add_scaled(acc, scale_);
    std::array<std::uint64_t, WideAccumulator::kLimbs / 2> all{};
    negative = w.magnitude_words(all);
    low = WideAccumulator::low_exponent();
    words.assign(all.begin(), all.end());
  }
  while (!words.empty() && words.back() == 0)
    words.pop_back();
  return true;
}

double ExactSums::finish(size_t g, std::uint64_t divisor, std::int64_t count) const {
  const Extra* e = find_extra(g);
  const std::uint8_t flags = e ? e->flags : 0;
  if ((flags & kNaN) || ((flags & kPositiveInf) && (flags & kNegativeInf))) {
    return std::numeric_limits<double>::quiet_NaN();
  }
  if (flags & kPositiveInf) return std::numeric_limits<double>::infinity();
  if (flags & kNegativeInf) return -std::numeric_limits<double>::infinity();
  // IEEE: an exact zero sum is -0.0 only when every addend was -0.0.
  const double zero = (e != nullptr && e->negative_zeros == count) ? -0.0 : 0.0;
  const __int128 acc = slot_[g].acc();
  if (e == nullptr || e->wide < 0) {
    if (acc == 0) return zero;
    return round_fixed_point(magnitude(acc), scale_, acc < 0, divisor);
  }
  WideAccumulator w = wide_[static_cast<size_t>(e->wide)];
  w.add_scaled(acc, scale_);
  if (w.is_zero()) return zero;
  return w.round(divisor);
}

}  // namespace shardflow::ops
