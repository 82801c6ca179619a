// covar_samp(x, y) and the state under covar_pop and corr: exact co-moments of each group's pairs
// (rows where x or y is null are skipped).
//
// The state holds, per group, the number of pairs n and exact sums (ExactSums) of x, y and x*y
// (x*y = hi + lo exactly, lo = fma(x, y, -hi)), and for corr of x^2 and y^2 as well. Finalize
// computes Dxy = n * sum(xy) - sum(x) * sum(y) exactly in fixed point and rounds Dxy / (n(n-1))
// (covar_samp) or Dxy / n^2 (covar_pop) once: the covariances are correctly rounded, hence
// bit-identical at every rank count and row order. corr = Dxy / sqrt(Dxx * Dyy) from the three
// exact co-moments each rounded once to a double (deterministic, within a few ulps of the exact
// value), clamped to [-1, 1]; NaN when x or y is constant in the group (as DuckDB).
//
// Null below 2 pairs (covar_samp, corr) or without pairs (covar_pop); a NaN or infinity among the
// values gives NaN; |values| above about 1e154 overflow the products.
//
// State columns: [x][y][xy hi][xy lo]([xx hi][xx lo][yy hi][yy lo] for corr) as ExactSums columns
// (kColumns each, +1 when written with_wide), then [count int64].

#include <algorithm>
#include <cmath>
#include <limits>

#include "fixed_point.hpp"
#include "kernels.hpp"

namespace shardflow::ops::aggregates {

namespace {

using table::Column;
using table::DataType;

enum class CoMoment { kCovarSamp, kCovarPop, kCorr };

class CoMomentsState final : public AggregateState {
 public:
  explicit CoMomentsState(CoMoment kind) : kind_(kind), sums_(kind == CoMoment::kCorr ? 8 : 4) {}

  idx_t num_groups() const override { return static_cast<idx_t>(count_.size()); }

  void resize(idx_t groups) override {
    const auto g = static_cast<size_t>(groups);
    count_.resize(g, 0);
    for (auto& s : sums_)
      s.resize(g);
  }

  void update(const Column*, std::span<const std::int32_t>) override {
    throw RuntimeError("{} takes two columns", name());
  }

  void update_pair(const Column& xc, const Column& yc, std::span<const std::int32_t> gid) override {
    if (update_small_integers(xc, yc, gid)) return;
    const std::vector<double> x = as_doubles(xc), y = as_doubles(yc);
    const size_t n = gid.size();
    auto ok = [&](size_t i) {
      return (xc.validity().empty() || xc.validity()[i]) &&
             (yc.validity().empty() || yc.validity()[i]);
    };
    if (!sums_[0].anchored()) {
      double mx = 0, my = 0;
      for (size_t i = 0; i < n; ++i) {
        if (!ok(i)) continue;
        if (std::isfinite(x[i])) mx = std::max(mx, std::fabs(x[i]));
        if (std::isfinite(y[i])) my = std::max(my, std::fabs(y[i]));
      }
      anchor(mx, my);
    }
    auto add_product = [&](size_t hi_sum, size_t g, double a, double b) {
      const double hi = a * b;
      const double lo = std::fma(a, b, -hi);
      sums_[hi_sum].add(g, hi);
      if (lo != 0) sums_[hi_sum + 1].add(g, lo);
    };
    for (size_t i = 0; i < n; ++i) {
      if (!ok(i)) continue;
      const auto g = static_cast<size_t>(gid[i]);
      sums_[0].add(g, x[i]);
      sums_[1].add(g, y[i]);
      add_product(2, g, x[i], y[i]);
      if (sums_.size() == 8) {
        add_product(4, g, x[i], x[i]);
        add_product(6, g, y[i], y[i]);
      }
      ++count_[g];
    }
  }

  bool may_need_wide_state() const override { return true; }
  bool needs_wide_state() const override {
    return std::any_of(sums_.begin(), sums_.end(), [](const ExactSums& s) { return s.has_wide(); });
  }
  int num_state_columns(bool with_wide) const override {
    return static_cast<int>(sums_.size()) * (ExactSums::kColumns + (with_wide ? 1 : 0)) + 1;
  }
  std::vector<Column> state_columns(bool with_wide) const override {
    std::vector<Column> out;
    for (const auto& s : sums_)
      s.state_columns(out, with_wide);
    out.push_back(int64_column(count_));
    return out;
  }
  void merge(std::span<const Column> partial, std::span<const std::int32_t> gid) override {
    const size_t part = (partial.size() - 1) / sums_.size();
    for (size_t k = 0; k < sums_.size(); ++k)
      sums_[k].merge(partial.subspan(k * part, part), gid);
    merge_counts(count_, partial.back(), gid);
  }

  Column finalize(std::string*) const override {
    table::Buffer<double> v(count_.size());
    table::Buffer<std::int64_t> defined(count_.size());
    const std::int64_t needed = kind_ == CoMoment::kCovarPop ? 1 : 2;
    for (size_t g = 0; g < v.size(); ++g) {
      defined[g] = count_[g] >= needed ? 1 : 0;
      v[g] = defined[g] != 0 ? value(g, count_[g]) : 0.0;
    }
    Column out = float64_column(std::move(v));
    set_validity_from_count(out, defined);
    return out;
  }

 private:
  const char* name() const {
    return kind_ == CoMoment::kCorr ? "corr"
                                    : (kind_ == CoMoment::kCovarSamp ? "covar_samp" : "covar_pop");
  }

  // The fast path for int64 columns whose values are all below 2^31 in magnitude (the common
  // case: counts, codes, small measures): x, y and the products are exact integers, summed per
  // group in 64 and 128 bits (2^31 rows of 2^62 products cannot overflow 128 bits; the row count
  // is below 2^31) and folded into the exact sums once per group. The exact sums then hold the
  // same values as the double path gives, so the result is bit-identical to it. About 4x faster
  // than the double path (benchmarks/groupby_comparisons.sh q9). False when it does not apply.
  bool update_small_integers(const Column& xc, const Column& yc,
                             std::span<const std::int32_t> gid) {
    if (xc.type() != DataType::kInt64 || yc.type() != DataType::kInt64) return false;
    const auto& xv = xc.values<std::int64_t>();
    const auto& yv = yc.values<std::int64_t>();
    const auto& xvalid = xc.validity();
    const auto& yvalid = yc.validity();
    const size_t n = gid.size();
    constexpr std::int64_t kLimit = std::int64_t{1} << 31;
    std::int64_t mx = 0, my = 0;  // the largest magnitudes among the pairs
    auto ok = [&](size_t i) {
      return (xvalid.empty() || xvalid[i]) && (yvalid.empty() || yvalid[i]);
    };
    for (size_t i = 0; i < n; ++i) {
      if (!ok(i)) continue;
      // |INT64_MIN| does not fit: the comparison against -kLimit catches it first.
      if (xv[i] <= -kLimit || xv[i] >= kLimit || yv[i] <= -kLimit || yv[i] >= kLimit) return false;
      mx = std::max(mx, xv[i] < 0 ? -xv[i] : xv[i]);
      my = std::max(my, yv[i] < 0 ? -yv[i] : yv[i]);
    }
    const bool corr = sums_.size() == 8;
    const size_t groups = count_.size();
    std::vector<std::int64_t> sx(groups, 0), sy(groups, 0);
    std::vector<__int128> sxy(groups, 0), sxx(corr ? groups : 0, 0), syy(corr ? groups : 0, 0);
    auto accumulate = [&](auto with_squares, auto check_validity) {
      for (size_t i = 0; i < n; ++i) {
        if constexpr (decltype(check_validity)::value) {
          if (!ok(i)) continue;
        }
        const auto g = static_cast<size_t>(gid[i]);
        const std::int64_t a = xv[i], b = yv[i];
        sx[g] += a;
        sy[g] += b;
        sxy[g] += a * b;
        if constexpr (decltype(with_squares)::value) {
          sxx[g] += a * a;
          syy[g] += b * b;
        }
        ++count_[g];
      }
    };
    const bool dense = xvalid.empty() && yvalid.empty();
    if (corr && dense) accumulate(std::true_type{}, std::false_type{});
    if (corr && !dense) accumulate(std::true_type{}, std::true_type{});
    if (!corr && dense) accumulate(std::false_type{}, std::false_type{});
    if (!corr && !dense) accumulate(std::false_type{}, std::true_type{});
    anchor(static_cast<double>(mx), static_cast<double>(my));
    for (size_t g = 0; g < groups; ++g) {
      sums_[0].add_integer(g, sx[g]);
      sums_[1].add_integer(g, sy[g]);
      sums_[2].add_integer(g, sxy[g]);
      if (corr) {
        sums_[4].add_integer(g, sxx[g]);
        sums_[6].add_integer(g, syy[g]);
      }
    }
    return true;
  }

  // Anchors the sums (once) on the largest magnitudes of x and y about to be added.
  void anchor(double mx, double my) {
    if (sums_[0].anchored()) return;
    const double eps = std::numeric_limits<double>::epsilon();
    sums_[0].anchor(mx);
    sums_[1].anchor(my);
    sums_[2].anchor(mx * my);
    sums_[3].anchor(mx * my * eps);
    if (sums_.size() == 8) {
      sums_[4].anchor(mx * mx);
      sums_[5].anchor(mx * mx * eps);
      sums_[6].anchor(my * my);
      sums_[7].anchor(my * my * eps);
    }
  }

  static std::vector<double> as_doubles(const Column& c) {
    std::vector<double> out(static_cast<size_t>(c.size()));
    c.visit([&](const auto& v) {
      using V = std::decay_t<decltype(v)>;
      if constexpr (kIsValues<V>) {
        for (size_t i = 0; i < out.size(); ++i)
          out[i] = static_cast<double>(v[i]);
      }
    });
    return out;
  }

  // n * (sum of a*b) - (sum of a) * (sum of b) exactly, from the sums at `a`, `b` and the product
  // pair at `ab`; false when a sum is not finite.
  bool co_moment(size_t g, std::int64_t n, size_t a, size_t b, size_t ab, Fixed& out) const {
    Fixed sa, sb, hi, lo;
    if (!exact_sum(sums_[a], g, sa) || !exact_sum(sums_[b], g, sb) ||
        !exact_sum(sums_[ab], g, hi) || !exact_sum(sums_[ab + 1], g, lo))
      return false;
    out = add(multiply(from_u64(static_cast<std::uint64_t>(n)), add(std::move(hi), std::move(lo))),
              negate(multiply(sa, sb)));
    return true;
  }

  double value(size_t g, std::int64_t n) const {
    constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
    const auto un = static_cast<std::uint64_t>(n);
    Fixed dxy;
    if (!co_moment(g, n, 0, 1, 2, dxy)) return kNaN;
    if (kind_ == CoMoment::kCovarSamp) return rounded_ratio(dxy, un, un - 1);
    if (kind_ == CoMoment::kCovarPop) return rounded_ratio(dxy, un, un);
    Fixed dxx, dyy;
    if (!co_moment(g, n, 0, 0, 4, dxx) || !co_moment(g, n, 1, 1, 6, dyy)) return kNaN;
    const double sxx = rounded(dxx), syy = rounded(dyy);
    if (sxx == 0 || syy == 0) return kNaN;
    const double r = rounded(dxy) / (std::sqrt(sxx) * std::sqrt(syy));
    return std::clamp(r, -1.0, 1.0);
  }

  CoMoment kind_;
  table::Buffer<std::int64_t> count_;
  std::vector<ExactSums> sums_;
};

std::unique_ptr<AggregateState> make_state(CoMoment kind) {
  return std::make_unique<CoMomentsState>(kind);
}

}  // namespace

std::unique_ptr<AggregateState> make_comoment_state(int kind) {
  return make_state(static_cast<CoMoment>(kind));
}

AggregateFunction covar_samp_function() {
  AggregateFunction f;
  f.name = "covar_samp";
  f.aliases = {"covar"};
  f.summary = "sample covariance of two columns, exact then rounded once; null below 2 pairs";
  f.two_columns = true;
  f.output_type = [](DataType input, std::string_view column) {
    return variance_output_type("covar_samp", input, column);
  };
  f.make_state = [](const AggregateInput&) { return make_comoment_state(0); };
  return f;
}

}  // namespace shardflow::ops::aggregates
