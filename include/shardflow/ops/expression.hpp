#pragma once
// A small vectorized expression language for `filter`, `derive` and `select`:
//
//   literals     42  -7  3.5  1e-3  'text' ('' escapes a quote)  true  false  null
//   columns      amount  user_id  "column with spaces"  ("" escapes a double quote)
//   arithmetic   + - * / %  and unary -      (int op int -> int64 except / -> float64;
//                                            any float -> float64; x / 0 and x % 0 -> null;
//                                            a timestamp counts as int64 microseconds)
//   comparison   = == != <> < <= > >=         (numbers with numbers, strings with strings,
//                                            bools with bools, timestamps with timestamps or
//                                            numbers) -> bool
//   logic        and  or  not                 (SQL three-valued logic)
//   null tests   x is null   x is not null    (never null)
//   membership   x in (a, b, ...)  x not in (...)   (as x = a or x = b ...: SQL nulls)
//   patterns     x like 'a%b_'  x not like ...      (% any run, _ one character)
//   conditionals case when c then v [when ...] [else e] end;  if(c, a, b);  coalesce(a, b, ...)
//   casts        cast(x as int64|float64|string|bool|timestamp)
//   functions    name(arg, ...): the table in expression_functions.cpp (docs: see functions())
//   parentheses
// Precedence, loosest first: or, and, not, comparison / is [not] null / in / like, + -, * / %,
// unary -; binary operators (comparisons included) associate to the left.
// Keywords and function names are case-insensitive. Null semantics: arithmetic, comparisons and
// functions with a null argument give null (except is null, coalesce, and the conditions of
// case/if, where null counts as false). Integer arithmetic is checked: a valid row whose int64
// result overflows throws InputError naming the operation; so do math domain errors (log of a
// non-positive number, sqrt of a negative one: DuckDB's behaviour) and casts of text that is not
// a number. Branches of case/if/coalesce that a row does not take raise nothing for that row.
// int64 and float64 compare exactly. Floats are ordered as in min/max (and DuckDB): NaN equals
// NaN and is greater than every number; -0.0 equals 0.0.
// A string literal compared with (or in a list against, or a branch beside) a timestamp is read
// as a timestamp: `ts >= '2024-01-01'` (the CSV reader's format: YYYY-MM-DD[ HH:MM:SS[.ffffff]]).
// Dictionary-encoded strings are compared with a literal by looking the literal up in the
// (global, sorted) dictionary once, then comparing codes; string functions of a dictionary column
// run once per dictionary entry.

#include <cstdint>
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

/// What evaluation may use besides the table: rand() draws from (seed, stream, global row index),
/// so the same job gives the same values at every rank count.
struct EvalContext {
  std::uint64_t seed = 0;       // the job's seed
  std::uint64_t stream = 0;     // separates independent uses (a hash of the step and column)
  std::int64_t row_offset = 0;  // global index of the table's local row 0
};

/// One entry of the function table, for docs and did-you-mean lists.
struct FunctionInfo {
  std::string name;
  std::string usage;    // "log(number)"
  std::string summary;  // one line
};
/// The functions callable as name(arg, ...), in documentation order (cast, case, if, coalesce,
/// in and like are syntax, listed in the header comment above).
std::vector<FunctionInfo> expression_functions();

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
  table::Column evaluate(const table::Table& table, const EvalContext& context = {}) const;

  /// Whether the expression calls rand() (its values then depend on the EvalContext).
  bool uses_random() const;

  /// Names of the columns the expression reads, in order of first appearance, without repeats.
  std::vector<std::string> referenced_columns() const;
  const std::string& text() const { return text_; }

 private:
  Expression() = default;
  std::string text_;
  std::shared_ptr<const detail::ExprNode> root_;
};

}  // namespace shardflow::ops
