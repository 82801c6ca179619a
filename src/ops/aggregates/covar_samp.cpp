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
