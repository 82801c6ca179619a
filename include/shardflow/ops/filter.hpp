#pragma once
// Row filter by a boolean expression.

#include "shardflow/ops/expression.hpp"
#include "shardflow/table/table.hpp"

namespace shardflow::ops {

/// Local (each rank filters its own rows; no communication): the rows where `predicate` is true
/// (null and false rows are dropped), in their original order. Throws ConfigError if the
/// predicate is not boolean, names an unknown column or is ill-typed.
table::Table filter(const table::Table& table, const Expression& predicate);

/// A table's rows split by a condition, each part in the original row order.
struct FilterSplit {
  table::Table kept;  // the rows where the condition is true
  table::Table rest;  // the others (false or null); no columns when not asked for
};

/// Local: filter()'s rows in `kept` and, with `with_rest`, every other row in `rest`.
FilterSplit filter_split(const table::Table& table, const Expression& predicate, bool with_rest);

/// Local: the same of a table it consumes. Each input column is freed as soon as its rows are
/// copied into the outputs, so the peak is the outputs and one input column, not the input and
/// the outputs (a job's split of a table nothing else reads; see StepContext::take_input). The
/// predicate is checked and evaluated before any column is freed: on a ConfigError `table` is
/// whole.
FilterSplit filter_split(table::Table&& table, const Expression& predicate, bool with_rest);

}  // namespace shardflow::ops
