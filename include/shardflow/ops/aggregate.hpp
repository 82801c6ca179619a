#pragma once
// Aggregate functions for group-by (and later window): init / update / merge / finalize over
// per-group states that are plain columns, so partial states can be shuffled like any table
// (DESIGN.md rule 5, Arrow-style kernels). Update and merge are columnar loops over a vector of
// group ids; there is no per-row virtual call.
//
// Determinism (DESIGN.md rule 4): float sums are exact until they are finalized
// (ops/exact_sum.hpp), so a float sum is the correctly rounded exact sum of the group's values
// (the double nearest it, ties to even) and a float mean is the correctly rounded quotient of
// that exact sum by the count; integer sums are exact in 128 bits and integer means are the
// correctly rounded quotient of that sum. Each is therefore bit-identical at every rank count and
// row order. Special values follow IEEE 754 for the exact sum (see exact_sum.hpp). min/max order
// floats totally (-0.0 < 0.0, NaN above every number) and strings by value (dictionary code order
// equals string order), so they are order-independent as well.

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "shardflow/common/types.hpp"
#include "shardflow/ops/exact_sum.hpp"
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

/// Per-rank state of one aggregate over a growing number of groups.
///
/// State columns (all of length num_groups()):
///   count:              [count int64]
///   sum/mean of integers: [low int64, high int64, count int64]  (the low and high 64 bits of
///                       an exact 128-bit sum)
///   sum/mean of floats: [ExactSums state columns (3, or 4 when written with_wide), count int64]
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
  /// Whether the state columns need the optional wide column of exact float sums (some group's
  /// values spread beyond the fast tier; see ExactSums). Ranks exchanging partial states must
  /// agree on with_wide (the OR over all ranks).
  bool needs_wide_state() const;
  /// The state as columns (see above); names are given by the caller.
  std::vector<table::Column> state_columns(bool with_wide) const;
  std::vector<table::Column> state_columns() const { return state_columns(needs_wide_state()); }
  int num_state_columns(bool with_wide) const;
  int num_state_columns() const { return num_state_columns(needs_wide_state()); }
  /// Merge: folds partial state row i (columns as produced by state_columns(), with or without
  /// the wide column) into group group_of_row[i].
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
  ExactSums fsum_;
  table::Column extreme_;                 // min/max of fixed-width and dictionary columns
  std::vector<std::string> extreme_str_;  // min/max of plain strings
};

}  // namespace shardflow::ops
