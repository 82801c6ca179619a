#pragma once
// Aggregate functions for group-by (and later window): init / update / merge / finalize over
// per-group states that are plain columns, so partial states can be shuffled like any table
// (DESIGN.md rule 5, Arrow-style kernels). Update and merge are columnar loops over a vector of
// group ids; there is no per-row virtual call.
//
// Determinism (DESIGN.md rule 4): float sums and means are accumulated in double-double
// arithmetic (hi, lo) with the TwoSum error-free transformation, and partial states are merged the
// same way. The finalized value is round(hi + lo). hi + lo differs from the exact sum of the
// group's values by at most about n * 2^-106 * sum(|x|) (n = values in the group), independent of
// the order of additions, so the rounded result is the correctly rounded exact sum -- and hence
// bit-identical at every rank count and in every order -- unless the exact sum lies within that
// distance of a rounding boundary (relative distance ~2^-100 for sums without heavy cancellation).
// Infinities and NaN propagate as in plain double addition. Means are round(sum) / count.
// min/max order floats totally (-0.0 < 0.0, NaN above every number) and strings by value
// (dictionary code order equals string order), so they are order-independent as well.

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "shardflow/common/types.hpp"
#include "shardflow/table/column.hpp"

namespace shardflow::ops {

enum class AggKind { kSum, kCount, kMean, kMin, kMax };

/// "sum", "count", "mean", "min", "max".
std::string_view to_string(AggKind kind);
/// Parses "sum", "count", "mean" (or "avg"), "min", "max" (lowercase); nullopt otherwise.
std::optional<AggKind> parse_agg_kind(std::string_view name);

/// One aggregate of a group-by. `column` empty means count(*) (kind must be kCount). `output`
/// empty means the default name "<column>_<kind>" ("count" for count(*)).
struct AggSpec {
  AggKind kind = AggKind::kCount;
  std::string column;
  std::string output;
};

/// Output name of an aggregate (its `output`, or the default described above).
std::string output_name(const AggSpec& spec);

/// Output type of `kind` over an input column of `input` type (ignored for count). sum of
/// ints/bools/timestamps -> int64, sum of floats -> float64, mean -> float64, count -> int64,
/// min/max -> the input type. Throws ConfigError naming `column` for sum/mean of a string.
table::DataType aggregate_output_type(AggKind kind, table::DataType input, std::string_view column);

// ---- double-double accumulation ---------------------------------------------------------------

/// Adds x to (hi, lo): hi receives the rounded sum, lo accumulates the exact rounding error.
inline void dd_add(double& hi, double& lo, double x) {
  const double s = hi + x;
  const double bp = s - hi;
  const double err = (hi - (s - bp)) + (x - bp);
  hi = s;
  lo += err;
}
/// Merges the partial sum (hi2, lo2) into (hi, lo).
inline void dd_merge(double& hi, double& lo, double hi2, double lo2) {
  const double s = hi + hi2;
  const double bp = s - hi;
  const double err = (hi - (s - bp)) + (hi2 - bp);
  hi = s;
  lo += lo2 + err;
}
/// The rounded value of a double-double sum (hi itself if it is infinite or NaN).
inline double dd_value(double hi, double lo) {
  return (hi - hi == 0.0) ? hi + lo : hi;
}

/// Per-rank state of one aggregate over a growing number of groups.
///
/// State columns (all of length num_groups()):
///   count:              [count int64]
///   sum of integers:    [low int64, high int64, count int64]  (the low and high 64 bits of an
///                       exact 128-bit sum)
///   sum/mean:           [hi float64, lo float64, count int64]
///   min/max:            [value (input type, same encoding and dictionary), count int64]
/// where count is the number of non-null inputs (all rows for count(*)).
class AggregateState {
 public:
  /// `input` is the aggregated column's type; `plain_strings` whether that column is a plain
  /// (not dictionary-encoded) string column; `dictionary` its dictionary if encoded.
  /// `count_star` for count(*).
  AggregateState(AggKind kind, table::DataType input, bool plain_strings,
                 table::DictionaryPtr dictionary, bool count_star);

  AggKind kind() const { return kind_; }
  idx_t num_groups() const { return static_cast<idx_t>(count_.size()); }
  /// Init: adds groups (with empty state) until there are `groups`.
  void resize(idx_t groups);
  /// Update: folds row i of `input` into group group_of_row[i] (< num_groups()). `input` is
  /// ignored for count(*) (may be null then).
  void update(const table::Column* input, std::span<const std::int32_t> group_of_row);
  /// The state as columns (see above); names are given by the caller.
  std::vector<table::Column> state_columns() const;
  int num_state_columns() const;
  /// Merge: folds partial state row i (columns as produced by state_columns()) into group
  /// group_of_row[i].
  void merge(std::span<const table::Column> partial, std::span<const std::int32_t> group_of_row);
  /// Finalize: the output column (one row per group). An integer sum outside int64 is reported
  /// in `*overflow` (the first such group, when `overflow` is given and empty), never wrapped;
  /// the caller must then fail.
  table::Column finalize(std::string* overflow = nullptr) const;

 private:
  bool is_float_sum() const;
  AggKind kind_;
  table::DataType input_;
  bool plain_;
  bool star_;
  table::DictionaryPtr dictionary_;
  table::Buffer<std::int64_t> count_;
  table::Buffer<__int128> isum_;
  table::Buffer<double> hi_;
  table::Buffer<double> lo_;
  table::Column extreme_;                 // min/max of fixed-width and dictionary columns
  std::vector<std::string> extreme_str_;  // min/max of plain strings
};

}  // namespace shardflow::ops
