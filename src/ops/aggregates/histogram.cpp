// histogram(column, n) and histogram(column, [e0, e1, ..., ek]): the counts of a group's values
// per bin, one output row per bin in bin order, as numpy.histogram computes them (for drift
// checks such as PSI or KS over fixed bins). Each row holds the bin's edges "<name>_lower" and
// "<name>_upper" (float64) and its count "<name>" (int64); the group's keys and other aggregates
// repeat on its rows. Bin i is [e_i, e_{i+1}), the last bin closed. NaN, +-inf and nulls are
// never counted; integer and float32 values are counted as doubles.
//
// histogram(v, n): n equal-width bins over the group's finite values, edges as
// numpy.linspace(min, max, n + 1) ([min - 0.5, max + 0.5] when min == max, [0, 1] without finite
// values) and each value binned as numpy's uniform-bin path does (an index from the scaled
// offset, corrected by one against the edges). Holistic: every value of a group is brought to
// one rank. Of two zeros the minimum is -0.0 and the maximum 0.0 (numpy's pick depends on the
// order of the data), so the edges do not depend on the rank count.
//
// histogram(v, [e0, ..., ek]): k bins over explicit, strictly increasing edges; values outside
// [e0, ek] are not counted. The state is k counts per group, merged across ranks.

#include <algorithm>
#include <cmath>

#include "kernels.hpp"

namespace shardflow::ops::aggregates {

namespace {

using table::Column;
using table::DataType;

constexpr double kMaxBins = 10000;

// Calls f(group, x) for every non-null value of `input`, as a double.
template <typename F>
void for_each_value(const Column& input, std::span<const std::int32_t> gid, F&& f) {
  input.visit([&](const auto& v) {
    using V = std::decay_t<decltype(v)>;
    if constexpr (kIsValues<V>) {
      for_valid(gid.size(), input.validity(),
                [&](size_t i) { f(gid[i], static_cast<double>(v[i])); });
    }
  });
}

// The output of finalize_rows: one row per bin of each group, with the bin's edges as the two
// leading columns.
struct BinRows {
  table::Buffer<double> lower, upper;
  table::Buffer<std::int64_t> counts;

  // Appends group g's bins: edges[0..bins], counts[0..bins).
  void add_group(size_t g, const double* edges, const std::int64_t* bin_counts, size_t bins,
                 std::vector<idx_t>& group_of_row) {
    for (size_t i = 0; i < bins; ++i) {
      lower.push_back(edges[i]);
      upper.push_back(edges[i + 1]);
      counts.push_back(bin_counts[i]);
      group_of_row.push_back(static_cast<idx_t>(g));
    }
  }
  Column finish(std::vector<Column>& leading) {
    leading.clear();
    leading.push_back(float64_column(std::move(lower)));
    leading.push_back(float64_column(std::move(upper)));
    return int64_column(std::move(counts));
  }
};

// Equal-width bins: the finite values of every group, binned at finalize.
class EqualWidthState final : public HolisticState {
 public:
  explicit EqualWidthState(idx_t bins) : HolisticState("histogram(v, n)"), bins_(bins) {}

  void update(const Column* input, std::span<const std::int32_t> gid) override {
    for_each_value(*input, gid, [&](std::int32_t g, double x) {
      if (std::isfinite(x)) values_.push_back({g, x});
    });
  }

  Column finalize(std::string*) const override {
    throw RuntimeError("histogram gives several rows per group: finalize_rows");
  }

  Column finalize_rows(std::vector<idx_t>& group_of_row,
                       std::vector<Column>& leading) const override {
    const auto groups = static_cast<size_t>(groups_);
    const auto n = static_cast<size_t>(bins_);
    std::vector<idx_t> start;
    std::vector<double> by_group;
    regroup(values_, groups, start, by_group);
    BinRows rows;
    group_of_row.clear();
    std::vector<double> edge(n + 1);
    std::vector<std::int64_t> count(n);
    for (size_t g = 0; g < groups; ++g) {
      const double* first = by_group.data() + start[g];
      const double* last = by_group.data() + start[g + 1];
      // The outer edges (numpy's _get_outer_edges).
      double lo = 0, hi = 1;
      if (first != last) {
        lo = hi = *first;
        for (const double* p = first; p != last; ++p) {
          if (less_than(*p, lo)) lo = *p;
          if (less_than(hi, *p)) hi = *p;
        }
      }
      if (lo == hi) {
        lo -= 0.5;
        hi += 0.5;
      }
      // numpy.linspace(lo, hi, n + 1).
      const double delta = hi - lo;
      const double step = delta / static_cast<double>(n);
      for (size_t i = 0; i < n; ++i) {
        const double y = static_cast<double>(i);
        edge[i] = (step == 0 ? y / static_cast<double>(n) * delta : y * step) + lo;
      }
      edge[n] = hi;
      // numpy's uniform-bin path: an index from the scaled offset, corrected against the edges.
      const double norm = static_cast<double>(n) / (hi - lo);
      std::fill(count.begin(), count.end(), 0);
      for (const double* p = first; p != last; ++p) {
        const double x = *p;
        if (!(x >= lo && x <= hi)) continue;  // numpy's "keep" (all are; not after an overflow)
        const double f = (x - lo) * norm;
        // int(f); out-of-range values (only after an overflow of hi - lo) are clamped.
        size_t i = f >= 0 && f < static_cast<double>(n) ? static_cast<size_t>(f)
                   : f >= static_cast<double>(n)        ? n
                                                        : 0;
        if (i == n) i = n - 1;
        if (x < edge[i] && i > 0) --i;
        if (x >= edge[i + 1] && i != n - 1) ++i;
        ++count[i];
      }
      rows.add_group(g, edge.data(), count.data(), n, group_of_row);
    }
    return rows.finish(leading);
  }

 private:
  struct Entry {
    std::int32_t group;
    double value;
  };
  idx_t bins_;
  std::vector<Entry> values_;
};

// Explicit edges: k counts per group and the number counted (the state's last column).
class EdgesState final : public AggregateState {
 public:
  explicit EdgesState(std::vector<double> edges)
      : edges_(std::move(edges)), bins_(edges_.size() - 1) {}

  idx_t num_groups() const override { return static_cast<idx_t>(total_.size()); }
  void resize(idx_t groups) override {
    if (groups <= num_groups()) return;
    total_.resize(static_cast<size_t>(groups), 0);
    counts_.resize(static_cast<size_t>(groups) * bins_, 0);
  }

  void update(const Column* input, std::span<const std::int32_t> gid) override {
    const double lo = edges_.front(), hi = edges_.back();
    for_each_value(*input, gid, [&](std::int32_t g, double x) {
      if (!(x >= lo && x <= hi)) return;  // outside, or NaN
      auto i =
          static_cast<size_t>(std::upper_bound(edges_.begin(), edges_.end(), x) - edges_.begin()) -
          1;
      if (i == bins_) i = bins_ - 1;  // x == the last edge: the last bin is closed
      ++counts_[static_cast<size_t>(g) * bins_ + i];
      ++total_[static_cast<size_t>(g)];
    });
  }

  std::vector<Column> state_columns(bool) const override {
    const size_t groups = total_.size();
    std::vector<Column> cols;
    for (size_t i = 0; i < bins_; ++i) {
      table::Buffer<std::int64_t> c(groups);
      for (size_t g = 0; g < groups; ++g)
        c[g] = counts_[g * bins_ + i];
      cols.push_back(int64_column(std::move(c)));
    }
    table::Buffer<std::int64_t> total(groups);
    std::copy(total_.begin(), total_.end(), total.begin());
    cols.push_back(int64_column(std::move(total)));
    return cols;
  }
  int num_state_columns(bool) const override { return static_cast<int>(bins_) + 1; }
  void merge(std::span<const Column> partial, std::span<const std::int32_t> gid) override {
    for (size_t i = 0; i < bins_; ++i) {
      const auto& c = partial[i].values<std::int64_t>();
      for (size_t r = 0; r < gid.size(); ++r)
        counts_[static_cast<size_t>(gid[r]) * bins_ + i] += c[r];
    }
    const auto& t = partial[bins_].values<std::int64_t>();
    for (size_t r = 0; r < gid.size(); ++r)
      total_[static_cast<size_t>(gid[r])] += t[r];
  }
  Column finalize(std::string*) const override {
    throw RuntimeError("histogram gives several rows per group: finalize_rows");
  }

  Column finalize_rows(std::vector<idx_t>& group_of_row,
                       std::vector<Column>& leading) const override {
    BinRows rows;
    group_of_row.clear();
    for (size_t g = 0; g < total_.size(); ++g)
      rows.add_group(g, edges_.data(), counts_.data() + g * bins_, bins_, group_of_row);
    return rows.finish(leading);
  }

 private:
  std::vector<double> edges_;
  size_t bins_;
  std::vector<std::int64_t> counts_;  // group-major: counts_[g * bins_ + i]
  std::vector<std::int64_t> total_;
};

}  // namespace

AggregateFunction histogram_function() {
  AggregateFunction f;
  f.name = "histogram";
  f.summary =
      "counts per bin as numpy.histogram, one row per bin with its edges (named form: "
      "histogram(v, 10) equal-width, histogram(v, [0, 1, 5]) explicit edges)";
  f.holistic = true;        // histogram(v, n): the group's min and max decide the bins
  f.list_mergeable = true;  // histogram(v, [edges]): counts merge
  f.expands_rows = true;
  f.leading_outputs = {{"_lower", DataType::kFloat64}, {"_upper", DataType::kFloat64}};
  f.args_help =
      "n, the number of equal-width bins from 1 to 10000: histogram(v, 10); or a list of 2 to "
      "10001 strictly increasing bin edges: histogram(v, [0, 10, 100])";
  f.example_args = "10";
  f.check_args = [](const std::vector<double>& args) -> std::string {
    if (args.size() != 1)
      return "expected one argument after the column, the number of bins n or a list of edges";
    if (!(args[0] >= 1 && args[0] <= kMaxBins) || std::floor(args[0]) != args[0])
      return fmt::format("the number of bins must be a whole number from 1 to 10000, got {}",
                         args[0]);
    return "";
  };
  f.check_list = [](const std::vector<double>& edges) -> std::string {
    if (edges.size() < 2 || edges.size() > static_cast<size_t>(kMaxBins) + 1)
      return fmt::format("a list of bin edges needs 2 to 10001 edges, got {}", edges.size());
    for (size_t i = 0; i < edges.size(); ++i) {
      if (!std::isfinite(edges[i]))
        return fmt::format("bin edge {} ({}) is not a finite number", i + 1, edges[i]);
      if (i > 0 && !(edges[i - 1] < edges[i]))
        return fmt::format(
            "bin edges must be strictly increasing: edge {} ({}) is not greater than edge {} "
            "({})",
            i + 1, edges[i], i, edges[i - 1]);
    }
    return "";
  };
  f.output_type = [](DataType input, std::string_view column) {
    if (input != DataType::kInt32 && input != DataType::kInt64 && input != DataType::kFloat32 &&
        input != DataType::kFloat64) {
      throw ConfigError(
          "cannot compute histogram of {} column '{}'; histogram needs a numeric column "
          "(int32, int64, float32 or float64)",
          table::to_string(input), column);
    }
    return DataType::kInt64;
  };
  f.make_state = [](const AggregateInput& input) -> std::unique_ptr<AggregateState> {
    if (input.list_args) return std::make_unique<EdgesState>(input.args);
    return std::make_unique<EqualWidthState>(static_cast<idx_t>(input.args.at(0)));
  };
  return f;
}

}  // namespace shardflow::ops::aggregates
