#pragma once
// Exact sums of doubles, rounded once (engine under the sum and mean aggregates).
//
// The sum of a group's values is accumulated without any rounding error, so the finalized value
// is the double nearest the exact real sum (ties to even) -- the correctly rounded sum -- and is
// therefore the same at every rank count, partitioning and row order. Means are the correctly
// rounded quotient of the exact sum by the count (one rounding, not two).
//
// Representation (Kulisch's long accumulator, as in Neal's xsum; the two tiers keep the common
// case small and fast):
//  - fast tier, 16 bytes per group: a 128-bit two's-complement integer `acc` in units of 2^scale,
//    one scale for all groups of the aggregate (anchored 43 bits below the largest magnitude of
//    the first batch). A double m * 2^e (53-bit integer m) with 0 <= e - scale <= 73 is added
//    exactly as m << (e - scale): values up to ~2^30 times larger and 2^43 times smaller than
//    that magnitude never leave this tier.
//  - wide tier, 560 bytes, only for groups that need it (a value outside the window, or a 128-bit
//    overflow): a fixed-point integer covering the whole double range, 2^-1074 to past 2^2100,
//    in 70 signed 64-bit limbs holding 32-bit digits with carry-save headroom (normalized every
//    2^30 additions), so adding is a few integer additions and merging is limb-wise addition.
// The group's exact sum is acc * 2^scale + wide. Both tiers serialize into plain columns, so
// partial sums can be shuffled and merged (DESIGN.md rule 5).
//
// Special values follow IEEE 754 for the exact sum: any NaN, or both +inf and -inf, give NaN; else
// an infinity gives that infinity; an exact sum beyond the double range rounds to +-inf (as IEEE
// addition overflows: floats have infinities, unlike int64 sums, which fail). A sum of zeros only
// is -0.0 if every value was -0.0, else +0.0; a nonzero exact sum never rounds to zero.

#include <array>
#include <bit>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "shardflow/table/column.hpp"

namespace shardflow::ops {

/// The double nearest (negative ? -1 : 1) * M * 2^low / divisor (ties to even; +-inf beyond the
/// double range), where M is the magnitude held in `words` (64-bit digits, least significant
/// first). divisor >= 1. `words` is used as scratch and left unspecified. A zero M gives +-0.0.
double round_fixed_point(std::span<std::uint64_t> words, int low, bool negative,
                         std::uint64_t divisor = 1);

/// round_fixed_point for a magnitude of at most 128 bits, without a scratch buffer.
double round_fixed_point(unsigned __int128 magnitude, int low, bool negative,
                         std::uint64_t divisor = 1);

/// The double nearest numerator / divisor (divisor >= 1), correctly rounded.
double rounded_quotient(__int128 numerator, std::int64_t divisor);

/// The largest |x| over the finite values (0 if there is none): what ExactSums anchors on.
double largest_finite_magnitude(std::span<const double> values);
/// What add_counted anchors on: largest_finite_magnitude of all of `values` up to 16 Ki of them,
/// else of a strided sample of 4 Ki and the last value.
double anchor_magnitude(std::span<const double> values);

/// Exact fixed-point accumulator over the whole double range (the wide tier described above).
class WideAccumulator {
 public:
  static constexpr int kLimbs = 70;
  static constexpr int kDigitBits = 32;

  /// Adds v * 2^scale exactly; scale >= -1074 and scale + 127 <= 2100 (as produced by ExactSums).
  void add_scaled(__int128 v, int scale);
  /// Adds a finite double exactly.
  void add(double x);
  /// Adds another accumulator exactly.
  void merge(const WideAccumulator& other);
  bool is_zero() const;
  /// The correctly rounded value of this sum divided by `divisor` (>= 1); +0.0 when zero.
  double round(std::uint64_t divisor = 1) const;
  /// The sum as (negative ? -1 : 1) * M * 2^low_exponent(): writes M (64-bit digits, least
  /// significant first) and returns whether it is negative.
  bool magnitude_words(std::array<std::uint64_t, kLimbs / 2>& words) const;
  static int low_exponent();
  /// Text form (nonzero normalized limbs as "index:hex" separated by ','), and its inverse;
  /// parse throws RuntimeError on anything serialize() cannot produce.
  std::string serialize() const;
  static WideAccumulator parse(std::string_view text);

 private:
  void add_digits(unsigned __int128 magnitude, bool negative, int position);
  void normalize();
  std::array<std::int64_t, kLimbs> limb_{};
  std::int64_t pending_ = 0;  // additions since the last normalization
};

/// Exact sums for a growing number of groups: init (resize) / update (add) / merge / finalize
/// (value, mean), with state columns for shuffling partial sums.
class ExactSums {
 public:
  /// State columns: [acc low 64 bits int64, acc high 64 bits int64, meta int64 (scale, flags,
  /// number of -0.0 values)], plus [wide tier as plain strings, "" for groups without one] when
  /// written with_wide.
  static constexpr int kColumns = 3;

  size_t size() const { return slot_.size(); }
  void resize(size_t groups) {
    slot_.resize(groups);
    marked_.resize(groups, 0);
  }
  /// Anchors the shared window on the largest magnitude about to be added (|x| of the batch),
  /// if it is not anchored yet: values up to 2^30 times larger and 2^43 times smaller stay fast.
  void anchor(double max_abs);
  bool anchored() const { return scale_ != kUnanchored; }

  /// Update: adds x to group g exactly.
  [[gnu::always_inline]] void add(size_t g, double x) {
    if (!add_fast(slot_[g], std::bit_cast<std::uint64_t>(x), scale_)) [[unlikely]]
      add_slow(g, x);
  }

 private:
  struct Slot;
  // Adds the double with bits `bits` to `s` if it is a normal number inside the window of `scale`
  // and the sum does not overflow; returns false (and leaves `s` alone) otherwise. Written on
  // 64-bit words: GCC 12 passes the __int128 form's shift, negation and sum through the stack
  // (store-to-load forwarding on the critical path), which made the loop 2-3x slower.
  [[gnu::always_inline]] static bool add_fast(Slot& s, std::uint64_t bits, int scale) {
    const int biased = static_cast<int>((bits >> 52) & 0x7ff);
    const auto d = static_cast<unsigned>(biased - 1075 - scale);
    if (biased == 0 || biased == 0x7ff || d > kWindow) return false;
    const std::uint64_t m = (bits & kMantissa) | (std::uint64_t{1} << 52);
    // m << d as (hi, lo); d <= 73. (m >> 1) >> (63 - d) is m >> (64 - d), also for d = 0.
    const bool low_word = d < 64;
    std::uint64_t lo = low_word ? m << (d & 63) : 0;
    std::uint64_t hi = low_word ? (m >> 1) >> (63 - (d & 63)) : m << ((d - 64) & 63);
    // Negative x: two's complement of (hi, lo), i.e. flip every bit and add 1 with carry.
    const std::uint64_t sign = bits >> 63;
    const std::uint64_t flip = -sign;
    std::uint64_t term_lo;
    const bool carry = __builtin_add_overflow(lo ^ flip, sign, &term_lo);
    const std::uint64_t term_hi = (hi ^ flip) + carry;
    std::uint64_t sum_lo;
    const bool carry2 = __builtin_add_overflow(s.lo, term_lo, &sum_lo);
    const std::uint64_t sum_hi = s.hi + term_hi + carry2;
    // Signed 128-bit overflow: both operands of one sign and the sum of the other.
    if ((~(s.hi ^ term_hi) & (s.hi ^ sum_hi)) >> 63) return false;
    s.lo = sum_lo;
    s.hi = sum_hi;
    return true;
  }

 public:
  /// For hot loops over many values: add() with the slot array and the scale held in registers
  /// (add() reloads them after every store, which the compiler must assume may alias them).
  /// Valid until the next resize(); anchor first, or every value takes the slow way.
  class FastAdder {
   public:
    [[gnu::always_inline]] void add(size_t g, double x) {
      if (!add_fast(slots_[g], std::bit_cast<std::uint64_t>(x), scale_)) [[unlikely]]
        owner_->add_slow(g, x);
    }

   private:
    friend class ExactSums;
    FastAdder(ExactSums* owner)
        : owner_(owner), slots_(owner->slot_.data()), scale_(owner->scale_) {}
    ExactSums* owner_;
    Slot* slots_;
    int scale_;
  };
  FastAdder fast_adder() { return FastAdder(this); }

  /// Update: adds values[i] to group gid[i] exactly and counts it in count[gid[i]], for every i
  /// (the dense-column loop of sum and mean: one pass, the accumulators and the scale kept in
  /// registers). Anchors on anchor_magnitude(values) first when not anchored yet.
  void add_counted(std::span<const double> values, std::span<const std::int32_t> gid,
                   std::int64_t* count);

  /// Update: adds the integer v to group g exactly (an integer fast path that accumulated its
  /// own 128-bit sums folds them in here; anchor first, as for doubles).
  void add_integer(size_t g, __int128 v) { add_scaled(g, v, 0); }

  /// True if some group has a wide tier (then the state needs the fourth column).
  bool has_wide() const { return !wide_.empty(); }
  /// Appends the state columns (see kColumns) of every group.
  void state_columns(std::vector<table::Column>& out, bool with_wide) const;
  /// Merge: folds partial state row i (kColumns or kColumns + 1 columns) into group gid[i].
  void merge(std::span<const table::Column> partial, std::span<const std::int32_t> gid);

  /// The exact sum of group g as (negative ? -1 : 1) * M * 2^low, M in `words` (64-bit digits,
  /// least significant first, no leading zero words; empty for zero). Returns false (and leaves
  /// the outputs unspecified) when an infinity or NaN was added: the sum is then not finite.
  bool exact_value(size_t g, std::vector<std::uint64_t>& words, int& low, bool& negative) const;

  /// Finalize: the correctly rounded sum of group g, which holds `count` values (nulls aside).
  double value(size_t g, std::int64_t count) const { return finish(g, 1, count); }
  /// Finalize: the correctly rounded sum of group g divided by count (>= 1).
  double mean(size_t g, std::int64_t count) const {
    return finish(g, static_cast<std::uint64_t>(count), count);
  }

 private:
  static constexpr unsigned kWindow = 73;  // m << 73 < 2^126 fits the signed 128-bit acc
  static constexpr std::uint64_t kMantissa = (std::uint64_t{1} << 52) - 1;
  static constexpr int kUnanchored = INT16_MAX;  // no nonzero finite value yet
  enum Flags : std::uint8_t { kPositiveInf = 1, kNegativeInf = 2, kNaN = 4 };

  // Fast tier: 16 bytes per group, the 128-bit accumulator in units of 2^scale_ (one scale for
  // all groups, so the hot loop touches nothing else of the group).
  struct Slot {
    std::uint64_t lo = 0;
    std::uint64_t hi = 0;
    __int128 acc() const {
      return static_cast<__int128>((static_cast<unsigned __int128>(hi) << 64) | lo);
    }
    void set_acc(__int128 v) {
      lo = static_cast<std::uint64_t>(v);
      hi = static_cast<std::uint64_t>(static_cast<unsigned __int128>(v) >> 64);
    }
  };
  static_assert(sizeof(Slot) == 16);
  // What few groups need besides: special values, -0.0 counts, a wide tier.
  struct Extra {
    std::uint8_t flags = 0;
    std::int64_t negative_zeros = 0;
    std::int32_t wide = -1;  // index into wide_
  };

  void add_slow(size_t g, double x);
  void add_scaled(size_t g, __int128 v, int scale);
  // add_counted's loop with the terms of four values at a time computed in AVX2 registers;
  // returns how many leading values it added (a multiple of four; the caller adds the rest).
  size_t add_counted_avx2(const double* values, const std::int32_t* gid, size_t n,
                          std::int64_t* count);
  Extra& extra_of(size_t g);
  const Extra* find_extra(size_t g) const;
  WideAccumulator& wide_of(size_t g);
  double finish(size_t g, std::uint64_t divisor, std::int64_t count) const;

  int scale_ = kUnanchored;
  std::vector<Slot> slot_;
  std::vector<std::uint8_t> marked_;  // group has an Extra
  std::unordered_map<std::uint32_t, Extra> extra_;
  std::vector<WideAccumulator> wide_;
};

}  // namespace shardflow::ops
