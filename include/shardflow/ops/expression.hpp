#pragma once
// A small vectorized expression language for `filter` (and `derive`):
//
//   literals     42  -7  3.5  1e-3  'text' ('' escapes a quote)  true  false  null
//   columns      amount  user_id  "column with spaces"
//   arithmetic   + - * / %  and unary -      (int op int -> int64 except / -> float64;
//                                            any float -> float64; x / 0 and x % 0 -> null)
//   comparison   = == != <> < <= > >=         (numbers with numbers, strings with strings,
//                                            bools with bools) -> bool
//   logic        and  or  not                 (SQL three-valued logic)
//   null tests   x is null   x is not null    (never null)
//   parentheses
// Precedence, loosest first: or, and, not, comparison / is [not] null, + -, * / %, unary -;
// binary operators (comparisons included) associate to the left.
// Keywords are case-insensitive. Null semantics: arithmetic and comparisons with null give null.
// Integer arithmetic is checked: a valid row whose int64 result overflows throws InputError
// naming the operation. int64 and float64 compare exactly. Floats are ordered as in min/max
// (and DuckDB): NaN equals NaN and is greater than every number; -0.0 equals 0.0.
// Dictionary-encoded strings are compared with a literal by looking the literal up in the
// (global, sorted) dictionary once, then comparing codes.

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "shardflow/table/column.hpp"
#include "shardflow/table/data_type.hpp"
#include "shardflow/table/schema.hpp"
#include "shardflow/table/table.hpp"

namespace shardflow::ops {

/// The deepest expression accepted: every binary operator (an `or` chain of N terms is N - 1
/// levels deep), `not`, unary minus and pair of parentheses adds a level. Deeper expressions are
/// refused by parse() with a ConfigError naming the column where the limit was passed, so that
/// checking and evaluation never exhaust the stack.
inline constexpr int kMaxExpressionDepth = 1000;

namespace detail {
struct ExprNode;
}

class Expression {
 public:
  /// Parses `text`; throws ConfigError "expression 'amount >> 0': unexpected '>' at column 9;
  /// expected a value (number, 'string', column name, null, true, false or '(')" (column =
  /// 1-based character position in the expression), and for expressions deeper than
  /// kMaxExpressionDepth.
  static Expression parse(std::string_view text);

  /// Local: type of the result over a table with `schema`: a bare column keeps its type;
  /// arithmetic gives int64 or float64; comparisons, logic and null tests give bool. Throws
  /// ConfigError for unknown columns (with a did-you-mean) and type errors (with the column of
  /// the offending operator).
  table::DataType result_type(const table::Schema& schema) const;

  /// Local: evaluates the expression over every row of `table` (validates like result_type).
  table::Column evaluate(const table::Table& table) const;

  /// Names of the columns the expression reads, in order of first appearance, without repeats.
  std::vector<std::string> referenced_columns() const;
  const std::string& text() const { return text_; }

 private:
  Expression() = default;
  std::string text_;
  std::shared_ptr<const detail::ExprNode> root_;
};

}  // namespace shardflow::ops
