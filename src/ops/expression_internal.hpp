#pragma once
// Internals of the expression language shared by the parser/evaluator (expression.cpp) and the
// function table (expression_functions.cpp). Not a public header.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "shardflow/ops/expression.hpp"
#include "shardflow/table/column.hpp"

namespace shardflow::ops::detail {

enum class Op {
  kLiteral,
  kColumn,
  kNeg,
  kNot,
  kAdd,
  kSub,
  kMul,
  kDiv,
  kMod,
  kEq,
  kNe,
  kLt,
  kLe,
  kGt,
  kGe,
  kAnd,
  kOr,
  kIsNull,
  kIsNotNull,
  kCall,      // a function of the table: args
  kCast,      // cast(a as cast_to)
  kCase,      // case when args[0] then args[1] ... [else args.back()] end; if(c, a, b)
  kCoalesce,  // coalesce(args...)
  kIn,        // args[0] [not] in (args[1], ...); negated for not in
  kLike,      // a [not] like b; negated for not like
};

// Value classes of the language; every column type maps onto one.
enum class VK { kInt, kFloat, kBool, kStr, kNull, kTime };

struct Function;

struct ExprNode {
  Op op = Op::kLiteral;
  int pos = 1;  // 1-based column of the token that made this node (the operator for operations)
  // literal
  VK lit_kind = VK::kNull;
  std::int64_t lit_int = 0;
  double lit_float = 0.0;
  bool lit_bool = false;
  std::string str;  // string literal, column name or function name
  std::shared_ptr<const ExprNode> a, b;
  std::vector<std::shared_ptr<const ExprNode>> args;  // kCall, kCase, kCoalesce, kIn
  const Function* function = nullptr;                 // kCall
  VK cast_to = VK::kNull;                             // kCast
  bool negated = false;                               // kIn, kLike
  bool has_else = false;                              // kCase
  int depth = 1;  // nodes on the longest path to a leaf, this one included
};

using NodePtr = std::shared_ptr<const ExprNode>;

/// One value per row (literals broadcast), except strings, which are a column (of the table, or
/// `owned`, computed) or a scalar literal.
struct Val {
  VK kind = VK::kNull;
  table::Buffer<std::int64_t> i;  // kInt, kTime
  table::Buffer<double> f;
  table::Buffer<std::uint8_t> b;
  std::vector<std::uint8_t> valid;             // empty = all valid; ignored for kNull (all null)
  const table::Column* str_col = nullptr;      // kStr from a column
  std::string str_lit;                         // kStr literal
  std::shared_ptr<const table::Column> owned;  // keeps a computed str_col alive
  const table::Column* source = nullptr;       // set when the value is exactly a table column
};

inline bool row_valid(const Val& v, size_t k) {
  return v.valid.empty() || v.valid[k] != 0;
}
/// The string of row k (a valid row) of a kStr value.
inline std::string_view str_at(const Val& v, size_t k) {
  return v.str_col != nullptr ? v.str_col->string_at(static_cast<idx_t>(k))
                              : std::string_view(v.str_lit);
}
bool is_literal_string(const Val& v);

std::vector<std::uint8_t> and_valid(const std::vector<std::uint8_t>& a,
                                    const std::vector<std::uint8_t>& b);
table::Buffer<double> as_double(const Val& v);
/// A kStr value owning `strings` (one per row; "" for null rows).
Val make_strings(table::PlainStrings strings);
/// The expression as messages quote it (whole when short).
std::string quoted(std::string_view text);
const char* kind_name(VK k);
bool iequals(std::string_view a, std::string_view b);
/// Text of one value as cast(x as string) gives it.
void append_text(const Val& v, size_t k, std::string& out);

/// What a function's type rule sees: the call and its arguments' kinds.
struct TypeCall {
  const ExprNode& node;
  const std::vector<VK>& args;
  std::string_view text;
  /// Throws ConfigError "expression '...': name(...) at column N takes <usage>, got <kinds>".
  [[noreturn]] void bad_args() const;
  /// Throws ConfigError "expression '...': <name> at column N: <what>".
  [[noreturn]] void fail(const std::string& what) const;
};

/// What a function's kernel sees besides its arguments.
struct CallContext {
  const ExprNode& node;
  size_t n;  // rows
  const EvalContext& eval;
  std::string_view text;
  const std::vector<std::uint8_t>* active;  // rows whose result is used (nullptr = all)
  std::vector<std::uint8_t> valid;          // rows where every argument is valid (empty = all)
  /// Whether row k's result is used and its arguments are all valid: only such rows may raise
  /// errors (a null row's stand-in value, or a branch not taken, must not).
  bool matters(size_t k) const {
    return (valid.empty() || valid[k] != 0) && (active == nullptr || (*active)[k] != 0);
  }
  bool arg_valid(size_t k) const { return valid.empty() || valid[k] != 0; }
  /// Throws InputError "expression '...': <name> at column N: <what>".
  [[noreturn]] void fail(const std::string& what) const;
};

/// One entry of the function table.
struct Function {
  const char* name;
  int min_args;
  int max_args;       // -1: any number
  const char* usage;  // "log(number)": what messages and docs show
  const char* summary;
  /// The result kind, or throws through call.bad_args() / call.fail().
  VK (*type)(const TypeCall& call);
  /// Values for every row. Arguments arrive evaluated; when a literal null is passed the result is
  /// null without calling the kernel. The returned validity is combined with the arguments' (a
  /// null argument gives a null result), so a kernel sets `valid` only for extra nulls.
  Val (*eval)(const CallContext& call, std::vector<Val>& args);
};

/// f(string) for every valid row of the kStr value `s` (R{} for null rows); a dictionary column's
/// strings are each passed once, a literal once.
template <typename R, typename F>
table::Buffer<R> per_string(const Val& s, size_t n, F&& f) {
  table::Buffer<R> out;
  if (s.str_col == nullptr) {
    out.assign(n, f(std::string_view(s.str_lit)));
    return out;
  }
  out.assign(n, R{});
  if (s.str_col->is_dictionary_encoded()) {
    const auto& values = s.str_col->dictionary()->values();
    std::vector<R> per_entry(values.size());
    for (size_t d = 0; d < values.size(); ++d)
      per_entry[d] = f(std::string_view(values[d]));
    const auto& codes = s.str_col->codes();
    for (size_t k = 0; k < n; ++k) {
      if (row_valid(s, k)) out[k] = per_entry[static_cast<size_t>(codes[k])];
    }
    return out;
  }
  for (size_t k = 0; k < n; ++k) {
    if (row_valid(s, k)) out[k] = f(str_at(s, k));
  }
  return out;
}

/// SQL LIKE: % matches any run of characters, _ exactly one (UTF-8) character; no escape.
bool like_match(std::string_view s, std::string_view pattern);
/// cast(v as to); v's kind differs from `to` and is not null.
Val cast_value(const CallContext& call, Val v, VK to);

/// The function table, in documentation order.
const std::vector<Function>& functions();
const Function* find_function(std::string_view name);

}  // namespace shardflow::ops::detail
