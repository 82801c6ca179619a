// sum(column) and the state under mean: exact sums of each group's non-null values.
//
// State: integers, bools, timestamps: [low int64, high int64, count int64] (the low and high 64
// bits of an exact 128-bit sum); floats: [ExactSums state columns (3, or 4 when written
// with_wide), count int64]. The output of sum: int64 for integer inputs (an exact sum outside
// int64 is an error, never wrapped), float64 (correctly rounded) for float inputs; null for a
// group without non-null values.

#include <fmt/format.h>

#include <limits>

#include "kernels.hpp"
#include "shardflow/ops/exact_sum.hpp"

namespace shardflow::ops::aggregates {

namespace {

using table::Column;
using table::DataType;

std::string int128_to_string(__int128 value) {
  if (value == 0) return "0";
  const bool negative = value < 0;
  auto magnitude =
      negative ? -static_cast<unsigned __int128>(value) : static_cast<unsigned __int128>(value);
  std::string digits;
  while (magnitude > 0) {
    digits.push_back(static_cast<char>('0' + static_cast<int>(magnitude % 10)));
    magnitude /= 10;
  }
  if (negative) digits.push_back('-');
  return std::string(digits.rbegin(), digits.rend());
}

class SumState final : public AggregateState {
 public:
  SumState(DataType input, bool mean) : float_(is_floating(input)), mean_(mean) {}

  idx_t num_groups() const override { return static_cast<idx_t>(count_.size()); }

  void resize(idx_t groups) override {
    const auto g = static_cast<size_t>(groups);
    count_.resize(g, 0);
    if (float_)
      fsum_.resize(g);
    else
      isum_.resize(g, 0);
    if (!float_) isum64_.resize(g, 0);
  }

  void update(const Column* input, std::span<const std::int32_t> gid) override {
    update_rows(input, 0, gid);
  }

  bool updates_row_ranges() const override { return true; }

  void update_rows(const Column* input, idx_t first, std::span<const std::int32_t> gid) override {
    const size_t n = gid.size();
    const auto offset = static_cast<size_t>(first);
    const auto& valid = input->validity();
    auto* cnt = count_.data();
    input->visit([&](const auto& column) {
      using V = std::decay_t<decltype(column)>;
      if constexpr (kIsValues<V>) {
        // A float sum anchors on the whole column (not on the first block it is given), so
        // blocks take the fast tier exactly as often as one update of the column would.
        if constexpr (std::is_same_v<V, table::Buffer<double>>) {
          if (float_ && valid.empty()) {
            if (!fsum_.anchored())
              fsum_.anchor(anchor_magnitude(std::span<const double>(column.data(), column.size())));
            fsum_.add_counted(std::span<const double>(column.data() + offset, n), gid, cnt);
            return;
          }
        }
        const auto* v = column.data() + offset;
        if (float_) {
          if (!fsum_.anchored()) {
            double max_abs = 0;
            for_valid(column.size(), valid, [&](size_t i) {
              const double a = std::fabs(static_cast<double>(column[i]));
              if (a > max_abs && std::isfinite(a)) max_abs = a;
            });
            fsum_.anchor(max_abs);
          }
          for_valid_from(n, valid, offset, [&](size_t i) {
            const auto g = gid[i];
            fsum_.add(static_cast<size_t>(g), static_cast<double>(v[i]));
            ++cnt[g];
          });
        } else {
          // Integers add up in 64 bits (one add to memory per row, not a 128-bit add with
          // carry); a partial sum that would overflow is moved into the 128-bit sum first, so
          // the total stays exact.
          auto* partial = isum64_.data();
          auto* wide = isum_.data();
          for_valid_from(n, valid, offset, [&](size_t i) {
            const auto g = gid[i];
            const auto x = static_cast<std::int64_t>(v[i]);
            std::int64_t sum;
            if (__builtin_add_overflow(partial[g], x, &sum)) [[unlikely]] {
              wide[g] += partial[g];
              sum = x;
            }
            partial[g] = sum;
            ++cnt[g];
          });
        }
      }
    });
  }

  bool may_need_wide_state() const override { return float_; }
  bool needs_wide_state() const override { return float_ && fsum_.has_wide(); }

  int num_state_columns(bool with_wide) const override {
    if (float_) return ExactSums::kColumns + (with_wide ? 1 : 0) + 1;
    return 3;
  }

  std::vector<Column> state_columns(bool with_wide) const override {
    std::vector<Column> out;
    if (float_) {
      fsum_.state_columns(out, with_wide);
    } else {
      table::Buffer<std::int64_t> low(isum_.size()), high(isum_.size());
      for (size_t g = 0; g < isum_.size(); ++g) {
        const auto bits = static_cast<unsigned __int128>(integer_sum(g));
        low[g] = static_cast<std::int64_t>(static_cast<std::uint64_t>(bits));
        high[g] = static_cast<std::int64_t>(static_cast<std::uint64_t>(bits >> 64));
      }
      out.push_back(int64_column(std::move(low)));
      out.push_back(int64_column(std::move(high)));
    }
    out.push_back(int64_column(count_));
    return out;
  }

  void merge(std::span<const Column> partial, std::span<const std::int32_t> gid) override {
    if (float_) {
      fsum_.merge(partial.first(partial.size() - 1), gid);
    } else {
      const auto& low = partial[0].values<std::int64_t>();
      const auto& high = partial[1].values<std::int64_t>();
      auto* s = isum_.data();
      for (size_t i = 0; i < gid.size(); ++i) {
        const auto bits =
            (static_cast<unsigned __int128>(static_cast<std::uint64_t>(high[i])) << 64) |
            static_cast<std::uint64_t>(low[i]);
        s[gid[i]] += static_cast<__int128>(bits);
      }
    }
    merge_counts(count_, partial.back(), gid);
  }

  Column finalize(std::string* overflow) const override {
    Column out;
    if (float_) {
      table::Buffer<double> v(count_.size());
      for (size_t g = 0; g < v.size(); ++g) {
        if (count_[g] == 0)
          v[g] = 0.0;  // null
        else
          v[g] = mean_ ? fsum_.mean(g, count_[g]) : fsum_.value(g, count_[g]);
      }
      out = float64_column(std::move(v));
    } else if (mean_) {
      // The exact 128-bit sum divided by the count, rounded once.
      table::Buffer<double> v(count_.size());
      for (size_t g = 0; g < v.size(); ++g)
        v[g] = count_[g] > 0 ? rounded_quotient(integer_sum(g), count_[g]) : 0.0;
      out = float64_column(std::move(v));
    } else {
      table::Buffer<std::int64_t> v(isum_.size());
      constexpr auto kMin = static_cast<__int128>(std::numeric_limits<std::int64_t>::min());
      constexpr auto kMax = static_cast<__int128>(std::numeric_limits<std::int64_t>::max());
      for (size_t g = 0; g < isum_.size(); ++g) {
        const __int128 sum = integer_sum(g);
        if ((sum < kMin || sum > kMax) && overflow && overflow->empty()) {
          *overflow = fmt::format("a group's exact sum is {}, which does not fit int64 ({} to {})",
                                  int128_to_string(sum), std::numeric_limits<std::int64_t>::min(),
                                  std::numeric_limits<std::int64_t>::max());
        }
        v[g] = static_cast<std::int64_t>(sum);  // only read when no overflow was reported
      }
      out = int64_column(std::move(v));
    }
    set_validity_from_count(out, count_);
    return out;
  }

 private:
  // Group g's exact integer sum: the 128-bit sum plus the 64-bit partial sum of updates.
  __int128 integer_sum(size_t g) const { return isum_[g] + isum64_[g]; }

  bool float_;
  bool mean_;
  table::Buffer<std::int64_t> count_;
  table::Buffer<__int128> isum_;
  table::Buffer<std::int64_t> isum64_;  // updates' partial sums, moved into isum_ before overflow
  ExactSums fsum_;
};

}  // namespace

std::unique_ptr<AggregateState> make_sum_state(const AggregateInput& input, bool mean) {
  return std::make_unique<SumState>(input.type, mean);
}

AggregateFunction sum_function() {
  AggregateFunction f;
  f.name = "sum";
  f.summary = "exact sum (int64 for integers, failing on overflow; correctly rounded float64)";
  f.output_type = [](DataType input, std::string_view column) {
    numeric_input("sum", input, column);
    return is_floating(input) ? DataType::kFloat64 : DataType::kInt64;
  };
  f.make_state = [](const AggregateInput& input) { return make_sum_state(input, false); };
  return f;
}

}  // namespace shardflow::ops::aggregates
