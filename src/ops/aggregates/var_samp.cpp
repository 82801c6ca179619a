// var_samp(column) (aliases var, variance) and the state under var_pop, stddev_samp and
// stddev_pop: exact moments of each group's non-null values.
//
// The state holds, per group, the count n and three exact sums (ExactSums): of x, and of the high
// and low parts of x^2 (x*x = hi + lo exactly, lo = fma(x, x, -hi)), so sum(x^2) is exact too.
// Finalize computes D = n * sum(x^2) - sum(x)^2 exactly in fixed-point integers (D >= 0 by
// Cauchy-Schwarz, no cancellation: nothing is rounded until the end) and rounds D / (n(n-1))
// (sample) or D / n^2 (population) once. The variance is therefore the correctly rounded exact
// variance, identical at every rank count and row order, and as accurate for values around 1e9
// with a spread of 1 as for values around 0 (the textbook sum-of-squares formula in doubles loses
// every digit there; Welford's update is accurate but depends on the order). The standard
// deviations are the square roots of those correctly rounded variances.
//
// Limits: a NaN or an infinity among a group's values gives NaN; |x| above about 1.3e154 (x^2
// overflows) gives NaN or inf; |x| below about 1e-154 loses the bits of x^2 under the smallest
// subnormal. A group with no non-null value (or one, for the sample forms) gives null.
//
// State columns: [sum(x): ExactSums columns][sum(hi): ...][sum(lo): ...][count int64], each
// ExactSums part kColumns wide, or kColumns + 1 when written with_wide.

#include <algorithm>
#include <cmath>
#include <limits>

#include "fixed_point.hpp"
#include "kernels.hpp"
#include "shardflow/ops/exact_sum.hpp"

namespace shardflow::ops::aggregates {

namespace {

using table::Column;
using table::DataType;

class MomentsState final : public AggregateState {
 public:
  MomentsState(bool sample, bool sqrt) : sample_(sample), sqrt_(sqrt) {}

  idx_t num_groups() const override { return static_cast<idx_t>(count_.size()); }

  void resize(idx_t groups) override {
    const auto g = static_cast<size_t>(groups);
    count_.resize(g, 0);
    sum_.resize(g);
    square_hi_.resize(g);
    square_lo_.resize(g);
  }

  void update(const Column* input, std::span<const std::int32_t> gid) override {
    const size_t n = gid.size();
    const auto& valid = input->validity();
    auto* cnt = count_.data();
    input->visit([&](const auto& v) {
      using V = std::decay_t<decltype(v)>;
      if constexpr (kIsValues<V>) {
        auto value = [&](size_t i) { return static_cast<double>(v[i]); };
        if (!sum_.anchored()) {
          double max_abs = 0;
          for_valid(n, valid, [&](size_t i) {
            const double a = std::fabs(value(i));
            if (a > max_abs && std::isfinite(a)) max_abs = a;
          });
          sum_.anchor(max_abs);
          square_hi_.anchor(max_abs * max_abs);
          // The low part of x^2 is at most half an ulp of its high part.
          square_lo_.anchor(max_abs * max_abs * std::numeric_limits<double>::epsilon());
        }
        auto sum = sum_.fast_adder();
        auto square_hi = square_hi_.fast_adder();
        auto square_lo = square_lo_.fast_adder();
        for_valid(n, valid, [&](size_t i) {
          const auto g = static_cast<size_t>(gid[i]);
          const double x = value(i);
          const double hi = x * x;
          const double lo = std::fma(x, x, -hi);
          sum.add(g, x);
          square_hi.add(g, hi);
          if (lo != 0) square_lo.add(g, lo);
          ++cnt[g];
        });
      }
    });
  }

  bool may_need_wide_state() const override { return true; }
  bool needs_wide_state() const override {
    return sum_.has_wide() || square_hi_.has_wide() || square_lo_.has_wide();
  }

  int num_state_columns(bool with_wide) const override {
    return 3 * (ExactSums::kColumns + (with_wide ? 1 : 0)) + 1;
  }

  std::vector<Column> state_columns(bool with_wide) const override {
    std::vector<Column> out;
    sum_.state_columns(out, with_wide);
    square_hi_.state_columns(out, with_wide);
    square_lo_.state_columns(out, with_wide);
    out.push_back(int64_column(count_));
    return out;
  }

  void merge(std::span<const Column> partial, std::span<const std::int32_t> gid) override {
    const size_t part = (partial.size() - 1) / 3;
    sum_.merge(partial.subspan(0, part), gid);
    square_hi_.merge(partial.subspan(part, part), gid);
    square_lo_.merge(partial.subspan(2 * part, part), gid);
    merge_counts(count_, partial.back(), gid);
  }

  Column finalize(std::string*) const override {
    table::Buffer<double> v(count_.size());
    table::Buffer<std::int64_t> defined(count_.size());  // 0 where the result is null
    for (size_t g = 0; g < v.size(); ++g) {
      const std::int64_t n = count_[g];
      defined[g] = (n >= (sample_ ? 2 : 1)) ? 1 : 0;
      v[g] = defined[g] != 0 ? variance(g, n) : 0.0;
      if (sqrt_) v[g] = std::sqrt(v[g]);
    }
    Column out = float64_column(std::move(v));
    set_validity_from_count(out, defined);
    return out;
  }

 private:
  double variance(size_t g, std::int64_t n) const {
    Fixed s1, hi, lo;
    if (!exact_sum(sum_, g, s1) || !exact_sum(square_hi_, g, hi) || !exact_sum(square_lo_, g, lo))
      return std::numeric_limits<double>::quiet_NaN();
    const auto un = static_cast<std::uint64_t>(n);
    Fixed d = add(multiply(from_u64(un), add(std::move(hi), std::move(lo))), [&] {
      Fixed square = multiply(s1, s1);
      square.negative = !square.negative;
      return square;
    }());
    if (d.negative && !d.is_zero()) return std::numeric_limits<double>::quiet_NaN();  // cannot be
    return sample_ ? rounded_ratio(d, un, un - 1) : rounded_ratio(d, un, un);
  }

  bool sample_;
  bool sqrt_;
  table::Buffer<std::int64_t> count_;
  ExactSums sum_;
  ExactSums square_hi_;
  ExactSums square_lo_;
};

}  // namespace

std::unique_ptr<AggregateState> make_variance_state(bool sample, bool sqrt) {
  return std::make_unique<MomentsState>(sample, sqrt);
}

DataType variance_output_type(std::string_view function, DataType input, std::string_view column) {
  numeric_input(function, input, column);
  return DataType::kFloat64;
}

AggregateFunction var_samp_function() {
  AggregateFunction f;
  f.name = "var_samp";
  f.aliases = {"var", "variance"};
  f.summary =
      "sample variance (n - 1 in the denominator), exact then rounded once; null below 2 values";
  f.output_type = [](DataType input, std::string_view column) {
    return variance_output_type("var_samp", input, column);
  };
  f.make_state = [](const AggregateInput&) { return make_variance_state(true, false); };
  return f;
}

}  // namespace shardflow::ops::aggregates
