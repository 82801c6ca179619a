#pragma once
// Aggregate functions for group-by (and later window): a registry of functions, each a state with
// init / update / merge / finalize over per-group values that serialize into plain columns, so
// partial states can be shuffled like any table (DESIGN.md rule 5, Arrow-style kernels). Update
// and merge are columnar loops over a vector of group ids; there is no per-row virtual call.
//
// Adding a function is one file in src/ops/aggregates/ (its state class and its registry entry)
// and one line in src/ops/aggregates/registry.cpp; the job loader, `validate`, the did-you-mean
// lists and the docs take the names from the registry.
//
// Determinism (DESIGN.md rule 4): every function's result is independent of the rank count and
// the row order. Float sums are exact until they are finalized (ops/exact_sum.hpp), so a float
// sum is the correctly rounded exact sum of the group's values (the double nearest it, ties to
// even) and a float mean is the correctly rounded quotient of that exact sum by the count; integer
// sums are exact in 128 bits and integer means are the correctly rounded quotient of that sum.
// Variances are the correctly rounded value of the exact n*sum(x^2) - sum(x)^2 over n(n-1) (or
// n^2), standard deviations the square root of that. Special values follow IEEE 754 for the exact
// sum (see exact_sum.hpp). min/max order floats totally (-0.0 < 0.0, NaN above every number) and
// strings by value (dictionary code order equals string order), so they are order-independent as
// well.

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "shardflow/common/types.hpp"
#include "shardflow/table/column.hpp"
#include "shardflow/table/schema.hpp"

namespace shardflow::ops {

/// One aggregate of a group-by: a registered function (its canonical name, see
/// aggregate_function) over a column. `column` empty means the function of the rows themselves:
/// count(*) (only functions with `allows_no_column` accept it). `output` empty means the default
/// name "<column>_<function>" ("count" for count(*)).
struct AggSpec {
  std::string function;
  std::string column;
  std::string output;
  std::vector<double> args = {};  // constant arguments after the column: quantile(v, 0.9)
  std::string column2 = {};       // the second column of a two-column function: corr(v1, v2)
  bool list_args = false;         // `args` were written as one list: histogram(v, [0, 10, 20])
};

/// Output name of an aggregate (its `output`, or the default described above).
std::string output_name(const AggSpec& spec);
/// All output columns of an aggregate, in order: the leading columns of a function that has them
/// ("<output>_lower", "<output>_upper" of histogram, see AggregateFunction::leading_outputs),
/// then output_name(spec).
std::vector<std::string> output_names(const AggSpec& spec);

/// A column as written inside a call: its name when plain (letters, digits, '_', '.'), else
/// double-quoted with "" for a quote.
std::string call_column_text(const std::string& column);
/// The canonical text of an aggregate call: "function(column[, column2][, args...])", or
/// "function(*)" without a column (group_by's named aggregates, window features).
std::string aggregate_call_text(const AggSpec& spec);

/// What a state aggregates: the column's type and encoding.
struct AggregateInput {
  table::DataType type = table::DataType::kInt64;
  bool plain_strings = false;       // a string column that is not dictionary-encoded
  table::DictionaryPtr dictionary;  // its dictionary, if encoded
  bool count_star = false;          // no column: the rows themselves
  std::vector<double> args;         // the spec's constant arguments (checked)
  bool list_args = false;           // written as one list (see AggSpec::list_args)
  table::DataType type2 = table::DataType::kFloat64;  // the second column's, if any
};

/// Per-rank state of one aggregate over a growing number of groups. Every state keeps the
/// number of non-null inputs of each group (all rows for count(*)) as its last state column.
class AggregateState {
 public:
  virtual ~AggregateState() = default;
  virtual idx_t num_groups() const = 0;
  /// Init: adds groups (with empty state) until there are `groups`.
  virtual void resize(idx_t groups) = 0;
  /// Update: folds row i of `input` into group group_of_row[i] (< num_groups()). `input` is
  /// null for count(*).
  virtual void update(const table::Column* input, std::span<const std::int32_t> group_of_row) = 0;
  /// Whether update_rows is supported. Then the group-by may group a block of rows at a time and
  /// update every aggregate from that block, so the block's group ids never leave the cache
  /// (db-benchmark q4: three means by a key of 100 values).
  virtual bool updates_row_ranges() const { return false; }
  /// Update of a block of rows: folds row first + i of `input` (the whole column; null for
  /// count(*)) into group group_of_row[i], for every i. The result of updating every block of a
  /// column equals one update() of the column. Throws unless updates_row_ranges().
  virtual void update_rows(const table::Column* input, idx_t first,
                           std::span<const std::int32_t> group_of_row);
  /// Update of a two-column function (corr(x, y)): folds the pair (x[i], y[i]) into group
  /// group_of_row[i]; rows where either is null are skipped. Others throw.
  virtual void update_pair(const table::Column& x, const table::Column& y,
                           std::span<const std::int32_t> group_of_row);
  /// Whether some group's state needs the optional wide columns (exact float sums whose values
  /// spread beyond the fast tier; see ExactSums). Ranks exchanging partial states must agree on
  /// with_wide (the OR over all ranks) when may_need_wide_state() is true.
  virtual bool may_need_wide_state() const { return false; }
  virtual bool needs_wide_state() const { return false; }
  /// The state as columns, count last; names are given by the caller.
  virtual std::vector<table::Column> state_columns(bool with_wide) const = 0;
  virtual int num_state_columns(bool with_wide) const = 0;
  std::vector<table::Column> state_columns() const { return state_columns(needs_wide_state()); }
  int num_state_columns() const { return num_state_columns(needs_wide_state()); }
  /// Merge: folds partial state row i (columns as produced by state_columns(with_wide)) into
  /// group group_of_row[i].
  virtual void merge(std::span<const table::Column> partial,
                     std::span<const std::int32_t> group_of_row) = 0;
  /// Finalize: the output column (one row per group). A result the output type cannot hold (an
  /// integer sum outside int64) is reported in `*overflow` (the first such group, when
  /// `overflow` is given and empty), never wrapped; the caller must then fail.
  virtual table::Column finalize(std::string* overflow = nullptr) const = 0;
  /// Finalize of a function that gives several rows per group (top_k, histogram): the output rows,
  /// and in `group_of_row` the group of each (groups in order, a group may have none); `leading`
  /// gets the function's leading output columns, one per AggregateFunction::leading_outputs, of the
  /// same rows (histogram's bin edges). Others throw.
  virtual table::Column finalize_rows(std::vector<idx_t>& group_of_row,
                                      std::vector<table::Column>& leading) const;
};

/// One registry entry.
struct AggregateFunction {
  std::string name;                  // canonical, lowercase: the default output suffix
  std::vector<std::string> aliases;  // other accepted spellings ("avg" for mean)
  std::string summary;               // one line for the docs
  bool allows_no_column = false;     // may be applied to "*" (count(*))
  /// Holistic: needs every value of a group on one rank (median, count_distinct, top_k); its state
  /// has no partial form (state_columns and merge throw), so the group-by shuffles raw rows to the
  /// group's rank and updates once. Otherwise partial states are merged.
  bool holistic = false;
  /// Takes a second column (corr(x, y)): `output_type` is then called for each column.
  bool two_columns = false;
  /// Local: throws ConfigError naming `column` when the second column's type is not taken. Null:
  /// `output_type` checks it like the first.
  void (*check_second)(table::DataType input, std::string_view column) = nullptr;
  /// Gives any number of rows per group (top_k, histogram): finalize_rows instead of finalize. At
  /// most one such aggregate per group-by; the group's other columns repeat on its rows.
  bool expands_rows = false;
  /// Columns an expands_rows function gives before its own, as (suffix, type): the output is then
  /// "<output><suffix>"... followed by "<output>" (histogram: "_lower", "_upper", both float64).
  std::vector<table::Field> leading_outputs;
  /// The constant arguments after the column, e.g. "q, a number in [0, 1]"; empty: none.
  std::string args_help;
  /// Local: "" if `args` are valid (count and values), else what is wrong. Null: no arguments.
  std::string (*check_args)(const std::vector<double>& args) = nullptr;
  /// Local: like check_args for the arguments written as one list (histogram(v, [0, 1, 2])).
  /// Null: the function takes no list.
  std::string (*check_list)(const std::vector<double>& list) = nullptr;
  /// With a list argument the function is not holistic (histogram with explicit edges: counts
  /// per bin merge).
  bool list_mergeable = false;
  /// Local: with these constant arguments the function is not holistic (top_k with a small k:
  /// k values per group merge). Null: holistic with every argument.
  bool (*mergeable_with)(const std::vector<double>& args) = nullptr;
  /// Arguments for the example in the error of the list form (aggs: {v: [top_k]}): "2".
  std::string example_args;
  /// Local: the output type over a column of type `input` (ignored without a column). Throws
  /// ConfigError naming `column` for a type the function does not take.
  table::DataType (*output_type)(table::DataType input, std::string_view column) = nullptr;
  /// Local: a state with no groups.
  std::unique_ptr<AggregateState> (*make_state)(const AggregateInput& input) = nullptr;
};

/// All functions, in registry order.
const std::vector<AggregateFunction>& aggregate_functions();
/// The entry whose name or alias is `name` (lowercase), or nullptr.
const AggregateFunction* find_aggregate_function(std::string_view name);
/// The canonical names, in registry order.
std::vector<std::string> aggregate_function_names();
/// "; did you mean 'x'?" for the name or alias closest to an unknown `name`, or "".
std::string aggregate_function_suggestion(std::string_view name);
/// The entry for `name`; throws ConfigError "unknown aggregate function 'x' (did you mean
/// ...?; functions: ...)" otherwise.
const AggregateFunction& aggregate_function(std::string_view name);

/// Output type of `function` over a column of `input` type (ignored for count(*)). Throws
/// ConfigError for an unknown function or an input type it does not take (naming `column`).
table::DataType aggregate_output_type(std::string_view function, table::DataType input,
                                      std::string_view column);

/// Throws ConfigError unless `function` takes a second column of type `input` (see check_second).
void check_second_column(const AggregateFunction& function, table::DataType input,
                         std::string_view column);

/// Throws ConfigError unless `args` suit `function` (number and values; see check_args and, for
/// arguments written as one list, check_list).
void check_aggregate_args(const AggregateFunction& function, const std::vector<double>& args,
                          bool list_args = false);

/// Whether `spec` needs every value of a group on one rank (see AggregateFunction::holistic).
bool is_holistic(const AggSpec& spec);

/// A state for `spec`'s function over `input`. Throws ConfigError for an unknown function, a
/// function other than count without a column, an input type the function does not take, or bad
/// arguments.
std::unique_ptr<AggregateState> make_aggregate_state(const AggSpec& spec,
                                                     const AggregateInput& input);

}  // namespace shardflow::ops
