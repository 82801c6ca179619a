#pragma once
// Internal to the aggregate functions (src/ops/aggregates/): the registry entries, one per file,
// and the small kernels their states share.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <span>
#include <string_view>
#include <type_traits>
#include <vector>

#include "shardflow/common/error.hpp"
#include "shardflow/ops/aggregate.hpp"
#include "shardflow/table/column.hpp"

namespace shardflow::ops::aggregates {

// ---- registry entries (one file each; listed in registry.cpp) ----------------------------------
AggregateFunction count_function();
AggregateFunction sum_function();
AggregateFunction mean_function();
AggregateFunction min_function();
AggregateFunction max_function();
AggregateFunction var_samp_function();
AggregateFunction var_pop_function();
AggregateFunction stddev_samp_function();
AggregateFunction stddev_pop_function();
AggregateFunction any_function();
AggregateFunction all_function();
AggregateFunction median_function();
AggregateFunction quantile_function();
AggregateFunction count_distinct_function();
AggregateFunction covar_samp_function();
AggregateFunction covar_pop_function();
AggregateFunction corr_function();
AggregateFunction top_k_function();
AggregateFunction first_function();
AggregateFunction last_function();
AggregateFunction histogram_function();

// The exact-sum state under sum and mean (sum.cpp).
std::unique_ptr<AggregateState> make_sum_state(const AggregateInput& input, bool mean);
// The extreme-value state under min and max (min.cpp).
std::unique_ptr<AggregateState> make_extreme_state(const AggregateInput& input, bool is_min);
// The exact moments state under the variances and standard deviations (var_samp.cpp).
std::unique_ptr<AggregateState> make_variance_state(bool sample, bool sqrt);
table::DataType variance_output_type(std::string_view function, table::DataType input,
                                     std::string_view column);  // float64; throws for strings
// The true/false counting state under any and all (any.cpp).
std::unique_ptr<AggregateState> make_bool_state(bool any);
table::DataType bool_output_type(std::string_view function, table::DataType input,
                                 std::string_view column);  // bool; throws for other types

// The order-statistics state under median and quantile (median.cpp).
std::unique_ptr<AggregateState> make_quantile_state(const AggregateInput& input, double q);
table::DataType quantile_output_type(std::string_view function, table::DataType input,
                                     std::string_view column);  // float64; numeric columns only

// The co-moments state under covar_samp (0), covar_pop (1) and corr (2) (covar_samp.cpp).
std::unique_ptr<AggregateState> make_comoment_state(int kind);

// The best (order, value) state under first and last (first.cpp); throws ConfigError for an
// order column that is not a number or a timestamp.
std::unique_ptr<AggregateState> make_first_last_state(const AggregateInput& input, bool first);
void check_order_column(table::DataType type, std::string_view column);

// ---- shared kernels
// ------------------------------------------------------------------------------

template <typename V>
constexpr bool kIsValues = !std::is_same_v<V, table::PlainStrings>;

// Total order for min/max: -0.0 < 0.0 and NaN is greater than every number, so the result does
// not depend on the order in which values arrive (and hence not on the rank count).
template <typename T>
inline bool less_than(T a, T b) {
  if constexpr (std::is_floating_point_v<T>) {
    if (std::isnan(a)) return false;
    if (std::isnan(b)) return true;
    if (a == b) return std::signbit(a) && !std::signbit(b);
  }
  return a < b;
}

// Calls f(i) for every row i < n that is valid (`valid` empty: all rows).
template <typename F>
inline void for_valid(size_t n, const std::vector<std::uint8_t>& valid, F&& f) {
  if (valid.empty()) {
    for (size_t i = 0; i < n; ++i)
      f(i);
  } else {
    for (size_t i = 0; i < n; ++i)
      if (valid[i]) f(i);
  }
}

// Calls f(i) for every i < n whose row offset + i is valid (`valid` empty: all rows).
template <typename F>
inline void for_valid_from(size_t n, const std::vector<std::uint8_t>& valid, size_t offset, F&& f) {
  if (valid.empty()) {
    for (size_t i = 0; i < n; ++i)
      f(i);
  } else {
    const std::uint8_t* row_valid = valid.data() + offset;
    for (size_t i = 0; i < n; ++i)
      if (row_valid[i]) f(i);
  }
}

// Base of a holistic aggregate's state (ops::is_holistic): every row of a group is brought to
// one rank, so there is no partial form and nothing to merge; those calls throw, naming `what`.
// Derived states count their groups in groups_.
class HolisticState : public AggregateState {
 public:
  explicit HolisticState(const char* what) : what_(what) {}
  idx_t num_groups() const final { return groups_; }
  void resize(idx_t groups) final { groups_ = std::max(groups_, groups); }
  std::vector<table::Column> state_columns(bool) const final {
    throw RuntimeError("{} states are holistic: they have no partial form", what_);
  }
  int num_state_columns(bool) const final { return 0; }
  void merge(std::span<const table::Column>, std::span<const std::int32_t>) final {
    throw RuntimeError("{} states are holistic: they cannot be merged", what_);
  }

 protected:
  idx_t groups_ = 0;

 private:
  const char* what_;
};

// One value per group, of a column's type and encoding (dictionary kept; plain strings held as
// std::string so that replacing one is cheap): the kept values of min/max and first/last.
class ValueSlots {
 public:
  explicit ValueSlots(const AggregateInput& input);
  void resize(size_t groups);
  bool plain() const { return plain_; }
  std::vector<std::string>& strings() { return strings_; }  // plain strings
  table::Column& column() { return column_; }               // everything else
  // The values as a column (no validity).
  table::Column to_column() const;

 private:
  bool plain_;
  table::Column column_;
  std::vector<std::string> strings_;
};

// Regroups (group, value) entries: afterwards group g's values are values[start[g], start[g+1])
// (a counting sort by group; values of a group keep their order).
template <typename Entry, typename T>
void regroup(const std::vector<Entry>& entries, size_t groups, std::vector<idx_t>& start,
             std::vector<T>& values) {
  start.assign(groups + 1, 0);
  for (const auto& e : entries)
    ++start[static_cast<size_t>(e.group) + 1];
  for (size_t g = 0; g < groups; ++g)
    start[g + 1] += start[g];
  values.resize(entries.size());
  std::vector<idx_t> cursor(start.begin(), start.end() - 1);
  for (const auto& e : entries)
    values[static_cast<size_t>(cursor[static_cast<size_t>(e.group)]++)] = e.value;
}

table::Column int64_column(table::Buffer<std::int64_t> v);
table::Column float64_column(table::Buffer<double> v);

// Marks group g of `c` null where count[g] == 0 (an aggregate over no non-null value is null).
void set_validity_from_count(table::Column& c, const table::Buffer<std::int64_t>& count);

// Adds the count column of a partial state (always its last column) into `count`.
void merge_counts(table::Buffer<std::int64_t>& count, const table::Column& partial_count,
                  std::span<const std::int32_t> group_of_row);

// Counts the non-null rows first + i of `input` (every row when `input` is null) in group
// group_of_row[i].
void update_counts(table::Buffer<std::int64_t>& count, const table::Column* input,
                   std::span<const std::int32_t> group_of_row, idx_t first = 0);

// Output-type rules shared by several functions.
table::DataType numeric_input(std::string_view function, table::DataType input,
                              std::string_view column);  // throws for strings; returns input

}  // namespace shardflow::ops::aggregates
