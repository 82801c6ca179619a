#pragma once
// Row filter by a boolean expression.

#include "shardflow/ops/expression.hpp"
#include "shardflow/table/table.hpp"

namespace shardflow::ops {

/// Local (each rank filters its own rows; no communication): the rows where `predicate` is true
/// (null and false rows are dropped), in their original order. Throws ConfigError if the
/// predicate is not boolean, names an unknown column or is ill-typed.
table::Table filter(const table::Table& table, const Expression& predicate);

}  // namespace shardflow::ops
