// median(column) and the state under quantile: exact order statistics of each group's non-null
// numeric values. Holistic: the group-by brings every value of a group to one rank (raw rows
// shuffled by key) and the state keeps them all; finalize sorts each group's values (a selection,
// not a full sort) in the total order of min/max (-0.0 < 0.0, NaN greatest).
//
// quantile(column, q) is the continuous quantile of DuckDB's quantile_cont and numpy's default
// (linear interpolation): with the n values sorted, position p = q * (n - 1), lo = floor(p),
// result = x[lo] + (x[lo + 1] - x[lo]) * (p - lo), computed in long double and rounded once to
// float64; median = quantile(column, 0.5) (the mean of the two middle values for even n). Integer
// values keep their 64 bits until the interpolation. Null for a group without non-null values.

#include <algorithm>
#include <cmath>

#include "kernels.hpp"

namespace shardflow::ops::aggregates {

namespace {

using table::Column;
using table::DataType;

template <typename T>
class QuantileState final : public AggregateState {
 public:
  explicit QuantileState(double q) : q_(q) {}

  idx_t num_groups() const override { return groups_; }
  void resize(idx_t groups) override { groups_ = std::max(groups_, groups); }

  void update(const Column* input, std::span<const std::int32_t> gid) override {
    input->visit([&](const auto& v) {
      using V = std::decay_t<decltype(v)>;
      if constexpr (kIsValues<V>) {
        for_valid(gid.size(), input->validity(), [&](size_t i) {
          values_.push_back({gid[i], static_cast<T>(v[i])});
        });
      }
    });
  }

  std::vector<Column> state_columns(bool) const override {
    throw RuntimeError("quantile states are holistic: they have no partial form");
  }
  int num_state_columns(bool) const override { return 0; }
  void merge(std::span<const Column>, std::span<const std::int32_t>) override {
    throw RuntimeError("quantile states are holistic: they cannot be merged");
  }

  Column finalize(std::string*) const override {
    const auto groups = static_cast<size_t>(groups_);
    // Counting sort by group, then a selection per group.
    std::vector<idx_t> start;
    std::vector<T> sorted;
    regroup(values_, groups, start, sorted);
    table::Buffer<double> out(groups, 0.0);
    table::Buffer<std::int64_t> count(groups, 0);
    auto less = [](T a, T b) { return less_than(a, b); };
    for (size_t g = 0; g < groups; ++g) {
      const auto first = static_cast<size_t>(start[g]);
      const auto n = static_cast<size_t>(start[g + 1]) - first;
      count[g] = static_cast<std::int64_t>(n);
      if (n == 0) continue;
      T* x = sorted.data() + first;
      const long double position = static_cast<long double>(q_) * static_cast<long double>(n - 1);
      const auto lo = static_cast<size_t>(std::floor(position));
      const long double fraction = position - static_cast<long double>(lo);
      std::nth_element(x, x + lo, x + n, less);
      const T low = x[lo];
      if (fraction == 0 || lo + 1 >= n) {
        out[g] = static_cast<double>(low);
        continue;
      }
      const T high = *std::min_element(x + lo + 1, x + n, less);
      const long double a = static_cast<long double>(low);
      const long double b = static_cast<long double>(high);
      out[g] = static_cast<double>(a + (b - a) * fraction);
    }
    Column c = float64_column(std::move(out));
    set_validity_from_count(c, count);
    return c;
  }

 private:
  struct Entry {
    std::int32_t group;
    T value;
  };
  double q_;
  idx_t groups_ = 0;
  std::vector<Entry> values_;
};

}  // namespace

std::unique_ptr<AggregateState> make_quantile_state(const AggregateInput& input, double q) {
  if (is_floating(input.type)) return std::make_unique<QuantileState<double>>(q);
  return std::make_unique<QuantileState<std::int64_t>>(q);
}

DataType quantile_output_type(std::string_view function, DataType input, std::string_view column) {
  if (input == DataType::kString || input == DataType::kTimestamp) {
    throw ConfigError("cannot compute {} of {} column '{}'; {} needs a numeric column", function,
                      table::to_string(input), column, function);
  }
  return DataType::kFloat64;
}

AggregateFunction median_function() {
  AggregateFunction f;
  f.name = "median";
  f.summary = "exact median (the mean of the two middle values for an even count), float64";
  f.holistic = true;
  f.output_type = [](DataType input, std::string_view column) {
    return quantile_output_type("median", input, column);
  };
  f.make_state = [](const AggregateInput& input) { return make_quantile_state(input, 0.5); };
  return f;
}

}  // namespace shardflow::ops::aggregates
