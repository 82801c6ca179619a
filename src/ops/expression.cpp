#include "shardflow/ops/expression.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <limits>

#include "expression_internal.hpp"
#include "shardflow/common/error.hpp"
#include "shardflow/common/suggest.hpp"
#include "shardflow/table/timestamp.hpp"

namespace shardflow::ops {

namespace {

using detail::and_valid;
using detail::as_double;
using detail::ExprNode;
using detail::iequals;
using detail::kind_name;
using detail::NodePtr;
using detail::Op;
using detail::quoted;
using detail::row_valid;
using detail::str_at;
using detail::Val;
using detail::VK;
using table::Column;
using table::DataType;

// =============================================================================================
// Parser: tokens, then recursive descent
// =============================================================================================

enum class Tok { kEnd, kNumber, kString, kIdent, kQuotedIdent, kSym };

struct Token {
  Tok kind = Tok::kEnd;
  std::string text;  // symbol, identifier, number text, or unescaped string
  int pos = 1;
};

class Parser {
 public:
  explicit Parser(std::string_view text) : text_(text) { tokenize(); }

  NodePtr parse() {
    NodePtr e = parse_or();
    if (cur().kind != Tok::kEnd) fail("an operator or the end of the expression");
    return e;
  }

 private:
  [[noreturn]] void fail_at(int pos, const std::string& what) const {
    throw ConfigError("expression '{}': {} at column {}", quoted(text_), what, pos);
  }
  [[noreturn]] void fail(const std::string& expected) const {
    const Token& t = cur();
    if (t.kind == Tok::kEnd) {
      throw ConfigError("expression '{}': unexpected end of expression at column {}; expected {}",
                        quoted(text_), t.pos, expected);
    }
    std::string shown = t.kind == Tok::kString ? "'" + t.text + "'" : t.text;
    if (t.kind == Tok::kQuotedIdent) shown = "\"" + t.text + "\"";
    throw ConfigError("expression '{}': unexpected '{}' at column {}; expected {}", quoted(text_),
                      shown, t.pos, expected);
  }

  void tokenize() {
    const size_t n = text_.size();
    size_t i = 0;
    while (i < n) {
      const char c = text_[i];
      const int pos = static_cast<int>(i) + 1;
      if (std::isspace(static_cast<unsigned char>(c))) {
        ++i;
        continue;
      }
      if (std::isdigit(static_cast<unsigned char>(c)) ||
          (c == '.' && i + 1 < n && std::isdigit(static_cast<unsigned char>(text_[i + 1])))) {
        size_t j = i;
        while (j < n && (std::isdigit(static_cast<unsigned char>(text_[j])) || text_[j] == '.'))
          ++j;
        if (j < n && (text_[j] == 'e' || text_[j] == 'E')) {
          size_t k = j + 1;
          if (k < n && (text_[k] == '+' || text_[k] == '-')) ++k;
          if (k < n && std::isdigit(static_cast<unsigned char>(text_[k]))) {
            j = k;
            while (j < n && std::isdigit(static_cast<unsigned char>(text_[j])))
              ++j;
          }
        }
        tokens_.push_back({Tok::kNumber, std::string(text_.substr(i, j - i)), pos});
        i = j;
        continue;
      }
      if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
        size_t j = i;
        while (j < n && (std::isalnum(static_cast<unsigned char>(text_[j])) || text_[j] == '_' ||
                         text_[j] == '.'))
          ++j;
        tokens_.push_back({Tok::kIdent, std::string(text_.substr(i, j - i)), pos});
        i = j;
        continue;
      }
      if (c == '\'' || c == '"') {
        std::string s;
        size_t j = i + 1;
        bool closed = false;
        while (j < n) {
          if (text_[j] == c) {
            if (j + 1 < n && text_[j + 1] == c) {
              s += c;
              j += 2;
              continue;
            }
            closed = true;
            ++j;
            break;
          }
          s += text_[j++];
        }
        if (!closed) {
          fail_at(pos, std::string("unterminated ") + (c == '\'' ? "string" : "quoted name") +
                           " starting");
        }
        tokens_.push_back({c == '\'' ? Tok::kString : Tok::kQuotedIdent, std::move(s), pos});
        i = j;
        continue;
      }
      static const char* two[] = {"==", "!=", "<>", "<=", ">="};
      bool matched = false;
      for (const char* t : two) {
        if (text_.substr(i, 2) == t) {
          tokens_.push_back({Tok::kSym, t, pos});
          i += 2;
          matched = true;
          break;
        }
      }
      if (matched) continue;
      if (std::string_view("=<>+-*/%(),").find(c) != std::string_view::npos) {
        tokens_.push_back({Tok::kSym, std::string(1, c), pos});
        ++i;
        continue;
      }
      fail_at(pos, fmt::format("unexpected character '{}'", c));
    }
    tokens_.push_back({Tok::kEnd, "", static_cast<int>(n) + 1});
  }

  const Token& cur() const { return tokens_[at_]; }
  bool is_sym(std::string_view s) const { return cur().kind == Tok::kSym && cur().text == s; }
  bool is_kw(std::string_view s) const {
    return cur().kind == Tok::kIdent && iequals(cur().text, s);
  }

  // Type checking, evaluation and destruction all recurse over the tree, so its depth is
  // bounded here, where the message can point at the operator that went past the limit.
  NodePtr make(Op op, int pos, NodePtr a, NodePtr b = nullptr) const {
    auto n = std::make_shared<ExprNode>();
    n->op = op;
    n->pos = pos;
    n->depth = 1 + std::max(a ? a->depth : 0, b ? b->depth : 0);
    if (n->depth > kMaxExpressionDepth) too_deep(pos);
    n->a = std::move(a);
    n->b = std::move(b);
    return n;
  }

  // A node with any number of children (calls, case, in).
  NodePtr make_n(Op op, int pos, std::vector<NodePtr> args) const {
    auto n = std::make_shared<ExprNode>();
    n->op = op;
    n->pos = pos;
    int deepest = 0;
    for (const auto& arg : args)
      deepest = std::max(deepest, arg->depth);
    n->depth = 1 + deepest;
    if (n->depth > kMaxExpressionDepth) too_deep(pos);
    n->args = std::move(args);
    return n;
  }

  [[noreturn]] void too_deep(int pos) const {
    fail_at(pos, fmt::format("the expression nests more than {} levels deep (operators, 'not', "
                             "unary minus and parentheses each add one); split it over several "
                             "filter steps",
                             kMaxExpressionDepth));
  }

  // Counts the parser's own recursion (parentheses, 'not', unary minus), which a deep input
  // would otherwise turn into a stack overflow before any node is made.
  class Nesting {
   public:
    Nesting(const Parser& parser, int pos) : parser_(parser) {
      if (++parser_.nesting_ > kMaxExpressionDepth) parser_.too_deep(pos);
    }
    ~Nesting() { --parser_.nesting_; }
    Nesting(const Nesting&) = delete;
    Nesting& operator=(const Nesting&) = delete;

   private:
    const Parser& parser_;
  };

  NodePtr parse_or() {
    NodePtr left = parse_and();
    while (is_kw("or")) {
      const int pos = cur().pos;
      ++at_;
      left = make(Op::kOr, pos, left, parse_and());
    }
    return left;
  }
  NodePtr parse_and() {
    NodePtr left = parse_not();
    while (is_kw("and")) {
      const int pos = cur().pos;
      ++at_;
      left = make(Op::kAnd, pos, left, parse_not());
    }
    return left;
  }
  NodePtr parse_not() {
    if (is_kw("not")) {
      const int pos = cur().pos;
      ++at_;
      const Nesting nesting(*this, pos);
      return make(Op::kNot, pos, parse_not());
    }
    return parse_cmp();
  }
  NodePtr parse_cmp() {
    NodePtr left = parse_add();
    if (is_kw("is")) {
      const int pos = cur().pos;
      ++at_;
      bool negated = false;
      if (is_kw("not")) {
        negated = true;
        ++at_;
      }
      if (!is_kw("null")) fail(negated ? "'null'" : "'null' or 'not null'");
      ++at_;
      return make(negated ? Op::kIsNotNull : Op::kIsNull, pos, left);
    }
    // x [not] in (...), x [not] like p
    {
      const size_t start = at_;
      const int pos = cur().pos;
      bool negated = false;
      if (is_kw("not")) {
        negated = true;
        ++at_;
      }
      if (is_kw("in")) {
        ++at_;
        if (!is_sym("(")) fail("'(' starting the list of values");
        const Nesting nesting(*this, cur().pos);
        ++at_;
        std::vector<NodePtr> args{left};
        for (;;) {
          args.push_back(parse_or());
          if (is_sym(",")) {
            ++at_;
            continue;
          }
          if (!is_sym(")")) fail("',' or ')'");
          ++at_;
          break;
        }
        auto n = make_n(Op::kIn, pos, std::move(args));
        std::const_pointer_cast<ExprNode>(n)->negated = negated;
        return n;
      }
      if (is_kw("like")) {
        ++at_;
        auto n = make(Op::kLike, pos, left, parse_add());
        std::const_pointer_cast<ExprNode>(n)->negated = negated;
        return n;
      }
      if (negated) {
        at_ = start;
        fail("'in', 'like' or an operator after the value");
      }
    }
    static const std::pair<const char*, Op> ops[] = {
        {"=", Op::kEq}, {"==", Op::kEq}, {"!=", Op::kNe}, {"<>", Op::kNe},
        {"<", Op::kLt}, {"<=", Op::kLe}, {">", Op::kGt},  {">=", Op::kGe}};
    // Comparisons associate to the left: "a < b = true" is "(a < b) = true".
    bool more = true;
    while (more) {
      more = false;
      for (const auto& [sym, op] : ops) {
        if (is_sym(sym)) {
          const int pos = cur().pos;
          ++at_;
          NodePtr right = parse_add();
          left = make(op, pos, left, right);
          more = true;
          break;
        }
      }
    }
    return left;
  }
  NodePtr parse_add() {
    NodePtr left = parse_mul();
    while (is_sym("+") || is_sym("-")) {
      const Op op = is_sym("+") ? Op::kAdd : Op::kSub;
      const int pos = cur().pos;
      ++at_;
      left = make(op, pos, left, parse_mul());
    }
    return left;
  }
  NodePtr parse_mul() {
    NodePtr left = parse_unary();
    while (is_sym("*") || is_sym("/") || is_sym("%")) {
      const Op op = is_sym("*") ? Op::kMul : is_sym("/") ? Op::kDiv : Op::kMod;
      const int pos = cur().pos;
      ++at_;
      left = make(op, pos, left, parse_unary());
    }
    return left;
  }
  NodePtr parse_unary() {
    if (is_sym("-")) {
      const int pos = cur().pos;
      ++at_;
      const Nesting nesting(*this, pos);
      return make(Op::kNeg, pos, parse_unary());
    }
    return parse_primary();
  }
  NodePtr parse_primary() {
    const Token& t = cur();
    auto lit = std::make_shared<ExprNode>();
    lit->pos = t.pos;
    if (t.kind == Tok::kNumber) {
      const bool is_float = t.text.find_first_of(".eE") != std::string::npos;
      if (is_float) {
        char* end = nullptr;
        lit->lit_kind = VK::kFloat;
        lit->lit_float = std::strtod(t.text.c_str(), &end);
        if (end != t.text.c_str() + t.text.size())
          fail_at(t.pos, "malformed number '" + t.text + "'");
      } else {
        lit->lit_kind = VK::kInt;
        const auto r = std::from_chars(t.text.data(), t.text.data() + t.text.size(), lit->lit_int);
        if (r.ec != std::errc() || r.ptr != t.text.data() + t.text.size()) {
          fail_at(t.pos, "integer '" + t.text + "' out of range (use a float literal like " +
                             t.text + ".0)");
        }
      }
      ++at_;
      return lit;
    }
    if (t.kind == Tok::kString) {
      lit->lit_kind = VK::kStr;
      lit->str = t.text;
      ++at_;
      return lit;
    }
    if (t.kind == Tok::kQuotedIdent) {
      lit->op = Op::kColumn;
      lit->str = t.text;
      ++at_;
      return lit;
    }
    if (t.kind == Tok::kIdent) {
      if (iequals(t.text, "true") || iequals(t.text, "false")) {
        lit->lit_kind = VK::kBool;
        lit->lit_bool = iequals(t.text, "true");
      } else if (iequals(t.text, "null")) {
        lit->lit_kind = VK::kNull;
      } else if (is_keyword(t.text)) {
        if (iequals(t.text, "case")) return parse_case();
        fail("a value (number, 'string', column name, null, true, false or '(')");
      } else if (at_ + 1 < tokens_.size() && tokens_[at_ + 1].kind == Tok::kSym &&
                 tokens_[at_ + 1].text == "(") {
        return parse_call();
      } else {
        lit->op = Op::kColumn;
        lit->str = t.text;
      }
      ++at_;
      return lit;
    }
    if (is_sym("(")) {
      const Nesting nesting(*this, t.pos);
      ++at_;
      NodePtr e = parse_or();
      if (!is_sym(")")) fail("')'");
      ++at_;
      return e;
    }
    fail("a value (number, 'string', column name, null, true, false or '(')");
  }

  static bool is_keyword(std::string_view word) {
    for (const char* k :
         {"and", "or", "not", "is", "in", "like", "case", "when", "then", "else", "end", "as"}) {
      if (iequals(word, k)) return true;
    }
    return false;
  }

  // case when c then v [when c then v]... [else e] end
  NodePtr parse_case() {
    const int pos = cur().pos;
    ++at_;
    const Nesting nesting(*this, pos);
    std::vector<NodePtr> args;
    if (!is_kw("when")) fail("'when'");
    while (is_kw("when")) {
      ++at_;
      args.push_back(parse_or());
      if (!is_kw("then")) fail("'then'");
      ++at_;
      args.push_back(parse_or());
    }
    bool has_else = false;
    if (is_kw("else")) {
      ++at_;
      args.push_back(parse_or());
      has_else = true;
    }
    if (!is_kw("end")) fail(has_else ? "'end'" : "'when', 'else' or 'end'");
    ++at_;
    auto n = make_n(Op::kCase, pos, std::move(args));
    std::const_pointer_cast<ExprNode>(n)->has_else = has_else;
    std::const_pointer_cast<ExprNode>(n)->str = "case";
    return n;
  }

  // name(arg, ...), cast(x as type), if(c, a, b), coalesce(a, ...)
  NodePtr parse_call() {
    const Token name = cur();
    const int pos = name.pos;
    at_ += 2;  // name and '('
    const Nesting nesting(*this, pos);
    std::string lower(name.text);
    for (auto& ch : lower)
      ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    std::vector<NodePtr> args;
    if (lower == "cast") {
      args.push_back(parse_or());
      if (!is_kw("as")) fail("'as' (cast(x as int64|float64|string|bool|timestamp))");
      ++at_;
      static const std::pair<const char*, VK> kTypes[] = {{"int64", VK::kInt},
                                                          {"float64", VK::kFloat},
                                                          {"string", VK::kStr},
                                                          {"bool", VK::kBool},
                                                          {"timestamp", VK::kTime}};
      const Token& type = cur();
      VK to = VK::kNull;
      for (const auto& [type_name, kind] : kTypes) {
        if (type.kind == Tok::kIdent && iequals(type.text, type_name)) to = kind;
      }
      if (to == VK::kNull) fail("a type: int64, float64, string, bool or timestamp");
      ++at_;
      if (!is_sym(")")) fail("')'");
      ++at_;
      auto n = make_n(Op::kCast, pos, std::move(args));
      std::const_pointer_cast<ExprNode>(n)->cast_to = to;
      return n;
    }
    if (!is_sym(")")) {
      for (;;) {
        args.push_back(parse_or());
        if (is_sym(",")) {
          ++at_;
          continue;
        }
        if (!is_sym(")")) fail("',' or ')'");
        break;
      }
    }
    ++at_;
    const auto arity = [&](std::size_t min, std::size_t max, const char* usage) {
      if (args.size() < min || args.size() > max) {
        const std::string count = min == max               ? std::to_string(min)
                                  : max == std::size_t(-1) ? fmt::format("at least {}", min)
                                                           : fmt::format("{} to {}", min, max);
        throw ConfigError("expression '{}': {} at column {} takes {} argument{}, got {}",
                          quoted(text_), usage, pos, count, min == 1 && max == 1 ? "" : "s",
                          args.size());
      }
    };
    if (lower == "if") {
      arity(3, 3, "if(condition, then, else)");
      auto n = make_n(Op::kCase, pos, std::move(args));
      std::const_pointer_cast<ExprNode>(n)->has_else = true;
      std::const_pointer_cast<ExprNode>(n)->str = "if";
      return n;
    }
    if (lower == "coalesce") {
      arity(1, std::size_t(-1), "coalesce(value, ...)");
      return make_n(Op::kCoalesce, pos, std::move(args));
    }
    const detail::Function* function = detail::find_function(lower);
    if (function == nullptr) {
      std::vector<std::string> names = {"cast", "if", "coalesce"};
      for (const auto& f : detail::functions())
        names.emplace_back(f.name);
      throw ConfigError("expression '{}': unknown function '{}' at column {}{} (functions: {})",
                        quoted(text_), name.text, pos, did_you_mean(lower, names),
                        fmt::join(names, ", "));
    }
    arity(static_cast<std::size_t>(function->min_args),
          function->max_args < 0 ? std::size_t(-1) : static_cast<std::size_t>(function->max_args),
          function->usage);
    auto n = make_n(Op::kCall, pos, std::move(args));
    auto* node = std::const_pointer_cast<ExprNode>(n).get();
    node->function = function;
    node->str = function->name;
    return n;
  }

  std::string_view text_;
  std::vector<Token> tokens_;
  size_t at_ = 0;
  mutable int nesting_ = 0;
};

// =============================================================================================
// Types
// =============================================================================================

VK kind_of(DataType t) {
  switch (t) {
    case DataType::kInt32:
    case DataType::kInt64:
      return VK::kInt;
    case DataType::kTimestamp:
      return VK::kTime;
    case DataType::kFloat32:
    case DataType::kFloat64:
      return VK::kFloat;
    case DataType::kBool:
      return VK::kBool;
    case DataType::kString:
      return VK::kStr;
  }
  return VK::kNull;
}

const char* op_name(Op op) {
  switch (op) {
    case Op::kNeg:
      return "-";
    case Op::kNot:
      return "not";
    case Op::kAdd:
      return "+";
    case Op::kSub:
      return "-";
    case Op::kMul:
      return "*";
    case Op::kDiv:
      return "/";
    case Op::kMod:
      return "%";
    case Op::kEq:
      return "=";
    case Op::kNe:
      return "!=";
    case Op::kLt:
      return "<";
    case Op::kLe:
      return "<=";
    case Op::kGt:
      return ">";
    case Op::kGe:
      return ">=";
    case Op::kAnd:
      return "and";
    case Op::kOr:
      return "or";
    case Op::kIsNull:
      return "is null";
    case Op::kIsNotNull:
      return "is not null";
    case Op::kIn:
      return "in";
    case Op::kLike:
      return "like";
    default:
      return "?";
  }
}

bool is_arith(Op op) {
  return op == Op::kAdd || op == Op::kSub || op == Op::kMul || op == Op::kDiv || op == Op::kMod;
}

bool is_num(VK k) {
  return k == VK::kInt || k == VK::kFloat;
}

bool is_string_literal(const ExprNode& n) {
  return n.op == Op::kLiteral && n.lit_kind == VK::kStr;
}

// A string literal where a timestamp is expected: read with the CSV reader's rules.
std::int64_t timestamp_literal(std::string_view text, const ExprNode& literal) {
  std::int64_t micros = 0;
  if (!table::parse_timestamp(literal.str, micros)) {
    throw ConfigError(
        "expression '{}': '{}' at column {} is compared with a timestamp but is not one (write "
        "YYYY-MM-DD or YYYY-MM-DD HH:MM:SS[.ffffff], UTC)",
        quoted(text), literal.str, literal.pos);
  }
  return micros;
}

class Typer {
 public:
  Typer(const std::string& text, const table::Schema& schema) : text_(text), schema_(schema) {}

  VK type(const ExprNode& n) const {
    switch (n.op) {
      case Op::kLiteral:
        return n.lit_kind;
      case Op::kColumn:
        return kind_of(schema_.field(schema_.index_of(n.str, "expression '" + text_ + "'")).type);
      case Op::kNeg: {
        VK a = type(*n.a);
        if (a == VK::kTime) a = VK::kInt;
        if (a != VK::kInt && a != VK::kFloat && a != VK::kNull) bad1(n, a, "a number");
        return a;
      }
      case Op::kNot: {
        const VK a = type(*n.a);
        if (a != VK::kBool && a != VK::kNull) bad1(n, a, "a boolean");
        return VK::kBool;
      }
      case Op::kIsNull:
      case Op::kIsNotNull:
        type(*n.a);
        return VK::kBool;
      case Op::kAnd:
      case Op::kOr: {
        const VK a = type(*n.a), b = type(*n.b);
        if ((a != VK::kBool && a != VK::kNull) || (b != VK::kBool && b != VK::kNull))
          bad2(n, a, b, "booleans");
        return VK::kBool;
      }
      case Op::kLike: {
        const VK a = type(*n.a), b = type(*n.b);
        if ((a != VK::kStr && a != VK::kNull) || (b != VK::kStr && b != VK::kNull))
          bad2(n, a, b, "a string and a string pattern");
        return VK::kBool;
      }
      case Op::kIn: {
        const VK x = type(*n.args[0]);
        for (size_t k = 1; k < n.args.size(); ++k)
          comparable(n, x, type(*n.args[k]), *n.args[0], *n.args[k]);
        return VK::kBool;
      }
      case Op::kCase: {
        // args: (condition, value)* [else]
        const size_t pairs = (n.args.size() - (n.has_else ? 1 : 0)) / 2;
        VK result = VK::kNull;
        for (size_t k = 0; k < pairs; ++k) {
          const VK c = type(*n.args[2 * k]);
          if (c != VK::kBool && c != VK::kNull) {
            throw ConfigError(
                "expression '{}': the condition of {} at column {} must be a "
                "boolean, got {}",
                quoted(text_), n.str, n.pos, kind_name(c));
          }
          result = unify(n, result, *n.args[2 * k + 1]);
        }
        if (n.has_else) result = unify(n, result, *n.args.back());
        return result;
      }
      case Op::kCoalesce: {
        VK result = VK::kNull;
        for (const auto& arg : n.args)
          result = unify(n, result, *arg);
        return result;
      }
      case Op::kCast: {
        const VK from = type(*n.args[0]);
        const VK to = n.cast_to;
        const bool ok = from == VK::kNull || from == to || to == VK::kStr || from == VK::kStr ||
                        (is_num(from) && (is_num(to) || to == VK::kBool)) ||
                        (from == VK::kBool && is_num(to)) || (from == VK::kTime && is_num(to)) ||
                        (from == VK::kInt && to == VK::kTime);
        if (!ok) {
          throw ConfigError("expression '{}': cast at column {} cannot turn {} into {}",
                            quoted(text_), n.pos, kind_name(from), kind_name(to));
        }
        return to;
      }
      case Op::kCall: {
        std::vector<VK> kinds;
        kinds.reserve(n.args.size());
        for (const auto& arg : n.args)
          kinds.push_back(type(*arg));
        return n.function->type(detail::TypeCall{n, kinds, text_});
      }
      default:
        break;
    }
    VK a = type(*n.a), b = type(*n.b);
    if (is_arith(n.op)) {
      if (a == VK::kTime) a = VK::kInt;
      if (b == VK::kTime) b = VK::kInt;
      const bool na = a == VK::kInt || a == VK::kFloat || a == VK::kNull;
      const bool nb = b == VK::kInt || b == VK::kFloat || b == VK::kNull;
      if (!na || !nb) bad2(n, a, b, "numbers");
      if (n.op == Op::kDiv) return VK::kFloat;
      if (a == VK::kFloat || b == VK::kFloat) return VK::kFloat;
      if (a == VK::kNull && b == VK::kNull) return VK::kNull;
      return VK::kInt;
    }
    comparable(n, a, b, *n.a, *n.b);
    return VK::kBool;
  }

 private:
  // Comparisons: numbers (timestamps included) with numbers, strings with strings, bools with
  // bools, and a timestamp with a string literal that parses as one.
  void comparable(const ExprNode& n, VK a, VK b, const ExprNode& na, const ExprNode& nb) const {
    if (a == VK::kNull || b == VK::kNull) return;
    const bool num_a = is_num(a) || a == VK::kTime, num_b = is_num(b) || b == VK::kTime;
    if (num_a && num_b) return;
    if (a == VK::kTime && b == VK::kStr && is_string_literal(nb)) {
      timestamp_literal(text_, nb);
      return;
    }
    if (b == VK::kTime && a == VK::kStr && is_string_literal(na)) {
      timestamp_literal(text_, na);
      return;
    }
    if (a != b) {
      if (n.op == Op::kIn) bad2(n, a, b, "values of one type (numbers, strings, booleans)");
      if ((a == VK::kTime) != (b == VK::kTime)) {
        bad2(n, a, b,
             "two numbers, two strings, two booleans or a timestamp and a 'YYYY-MM-DD' literal "
             "(for a string column: cast(x as timestamp))");
      }
      bad2(n, a, b, "two numbers, two strings or two booleans");
    }
  }

  // The common kind of the branches of case/if/coalesce: null fits anything, int and float give
  // float, and a string literal beside a timestamp is a timestamp.
  VK unify(const ExprNode& n, VK so_far, const ExprNode& value) const {
    const VK v = type(value);
    if (v == VK::kNull) return so_far;
    if (so_far == VK::kNull || so_far == v) return v;
    if (is_num(so_far) && is_num(v)) return VK::kFloat;
    if (so_far == VK::kTime && v == VK::kStr && is_string_literal(value)) {
      timestamp_literal(text_, value);
      return VK::kTime;
    }
    if (so_far == VK::kStr && v == VK::kTime && only_literal_strings(n, value)) return VK::kTime;
    throw ConfigError(
        "expression '{}': the values of {} at column {} must have one type, got {} "
        "and {}",
        quoted(text_), n.op == Op::kCoalesce ? "coalesce" : n.str, n.pos, kind_name(so_far),
        kind_name(v));
  }

  // Whether every value of `n` before `upto` that is a string is a literal that parses as a
  // timestamp (then a timestamp branch makes all of them timestamps).
  bool only_literal_strings(const ExprNode& n, const ExprNode& upto) const {
    const bool is_case = n.op == Op::kCase;
    const size_t pairs = is_case ? (n.args.size() - (n.has_else ? 1 : 0)) / 2 : 0;
    for (size_t k = 0; k < n.args.size(); ++k) {
      const ExprNode& v = *n.args[k];
      if (&v == &upto) break;
      if (is_case && k < 2 * pairs && k % 2 == 0) continue;  // a condition
      if (type(v) != VK::kStr) continue;
      if (!is_string_literal(v)) return false;
      timestamp_literal(text_, v);
    }
    return true;
  }

  [[noreturn]] void bad1(const ExprNode& n, VK a, const char* need) const {
    throw ConfigError("expression '{}': operator '{}' at column {} needs {}, got {}", quoted(text_),
                      op_name(n.op), n.pos, need, kind_name(a));
  }
  [[noreturn]] void bad2(const ExprNode& n, VK a, VK b, const char* need) const {
    throw ConfigError("expression '{}': operator '{}' at column {} needs {}, got {} and {}",
                      quoted(text_), op_name(n.op), n.pos, need, kind_name(a), kind_name(b));
  }
  const std::string& text_;
  const table::Schema& schema_;
};

// =============================================================================================
// Evaluation: every node becomes a vector over all rows (literals are broadcast), except string
// operands, which stay references to a column or a scalar literal.
// =============================================================================================

template <typename T, typename F>
table::Buffer<std::uint8_t> compare_vec(const table::Buffer<T>& a, const table::Buffer<T>& b,
                                        F cmp) {
  table::Buffer<std::uint8_t> r(a.size());
  for (size_t k = 0; k < a.size(); ++k)
    r[k] = cmp(a[k], b[k]) ? 1 : 0;
  return r;
}

template <typename T>
table::Buffer<std::uint8_t> compare_op(Op op, const table::Buffer<T>& a,
                                       const table::Buffer<T>& b) {
  switch (op) {
    case Op::kEq:
      return compare_vec(a, b, [](T x, T y) { return x == y; });
    case Op::kNe:
      return compare_vec(a, b, [](T x, T y) { return x != y; });
    case Op::kLt:
      return compare_vec(a, b, [](T x, T y) { return x < y; });
    case Op::kLe:
      return compare_vec(a, b, [](T x, T y) { return x <= y; });
    case Op::kGt:
      return compare_vec(a, b, [](T x, T y) { return x > y; });
    default:
      return compare_vec(a, b, [](T x, T y) { return x >= y; });
  }
}

// The order of floats in comparisons, as in min/max and as in DuckDB and PostgreSQL: NaN equals
// NaN and is greater than every other value; -0.0 equals 0.0. Returns -1, 0 or 1.
int order(double x, double y) {
  if (std::isnan(x)) return std::isnan(y) ? 0 : 1;
  if (std::isnan(y)) return -1;
  return x < y ? -1 : (x > y ? 1 : 0);
}

// The exact order of an int64 and a float64 (NaN greater than every integer).
int order(std::int64_t i, double d) {
  constexpr std::int64_t kExact = std::int64_t{1} << 53;  // every int64 up to here is a double
  if (i >= -kExact && i <= kExact) return order(static_cast<double>(i), d);
  if (std::isnan(d)) return -1;
  constexpr double kTwo63 = 9223372036854775808.0;  // 2^63, exactly representable
  if (d >= kTwo63) return -1;
  if (d < -kTwo63) return 1;
  const double whole = std::trunc(d);
  const auto t = static_cast<std::int64_t>(whole);  // exact: |whole| < 2^63
  if (i != t) return i < t ? -1 : 1;
  const double fraction = d - whole;
  return fraction > 0 ? -1 : (fraction < 0 ? 1 : 0);
}

template <typename F>
table::Buffer<std::uint8_t> compare_by_order(Op op, size_t n, F order_of) {
  table::Buffer<std::uint8_t> r(n);
  switch (op) {
    case Op::kEq:
      for (size_t k = 0; k < n; ++k)
        r[k] = order_of(k) == 0;
      break;
    case Op::kNe:
      for (size_t k = 0; k < n; ++k)
        r[k] = order_of(k) != 0;
      break;
    case Op::kLt:
      for (size_t k = 0; k < n; ++k)
        r[k] = order_of(k) < 0;
      break;
    case Op::kLe:
      for (size_t k = 0; k < n; ++k)
        r[k] = order_of(k) <= 0;
      break;
    case Op::kGt:
      for (size_t k = 0; k < n; ++k)
        r[k] = order_of(k) > 0;
      break;
    default:
      for (size_t k = 0; k < n; ++k)
        r[k] = order_of(k) >= 0;
      break;
  }
  return r;
}

Op mirror(Op op) {
  switch (op) {
    case Op::kLt:
      return Op::kGt;
    case Op::kLe:
      return Op::kGe;
    case Op::kGt:
      return Op::kLt;
    case Op::kGe:
      return Op::kLe;
    default:
      return op;
  }
}

bool cmp_result(Op op, int c) {  // c = sign of (a - b)
  switch (op) {
    case Op::kEq:
      return c == 0;
    case Op::kNe:
      return c != 0;
    case Op::kLt:
      return c < 0;
    case Op::kLe:
      return c <= 0;
    case Op::kGt:
      return c > 0;
    default:
      return c >= 0;
  }
}

class Evaluator {
 public:
  Evaluator(const table::Table& t, const std::string& text, const EvalContext& context)
      : t_(t),
        n_(static_cast<size_t>(t.num_rows())),
        text_(text),
        context_(context),
        typer_(text, t.schema()) {}

  Val eval(const ExprNode& e) const {
    switch (e.op) {
      case Op::kLiteral:
        return literal(e);
      case Op::kColumn:
        return column(t_.column(e.str));
      case Op::kNeg: {
        Val a = eval(*e.a);
        a.source = nullptr;
        if (a.kind == VK::kTime) a.kind = VK::kInt;
        for (size_t k = 0; k < a.i.size(); ++k) {
          if (a.i[k] == std::numeric_limits<std::int64_t>::min() &&
              (a.valid.empty() || a.valid[k]) && is_active(k)) {
            overflow(e.pos, fmt::format("-({})", a.i[k]));
          }
          a.i[k] = static_cast<std::int64_t>(0ULL - static_cast<std::uint64_t>(a.i[k]));
        }
        for (auto& x : a.f)
          x = -x;
        return a;
      }
      case Op::kNot:
        return negate(eval(*e.a));
      case Op::kIsNull:
      case Op::kIsNotNull: {
        const Val a = eval(*e.a);
        Val r;
        r.kind = VK::kBool;
        const bool want_null = e.op == Op::kIsNull;
        if (a.kind == VK::kNull) {
          r.b.assign(n_, want_null ? 1 : 0);
        } else if (a.valid.empty()) {
          r.b.assign(n_, want_null ? 0 : 1);
        } else {
          r.b.resize(n_);
          for (size_t k = 0; k < n_; ++k)
            r.b[k] = (a.valid[k] == 0) == want_null ? 1 : 0;
        }
        return r;
      }
      case Op::kAnd:
      case Op::kOr:
        return logic(e.op == Op::kAnd, eval(*e.a), eval(*e.b));
      case Op::kIn:
        return in(e);
      case Op::kLike:
        return like(e);
      case Op::kCase:
        return choose(e);
      case Op::kCoalesce:
        return choose(e);
      case Op::kCast:
        return cast(e);
      case Op::kCall:
        return call(e);
      default:
        break;
    }
    Val a = eval(*e.a);
    Val b = eval(*e.b);
    if (a.kind == VK::kNull || b.kind == VK::kNull) return Val{};
    if (is_arith(e.op)) {
      if (a.kind == VK::kTime) a.kind = VK::kInt;
      if (b.kind == VK::kTime) b.kind = VK::kInt;
      return arith(e.op, e.pos, a, b);
    }
    return compare_vals(e.op, a, b, *e.a, *e.b);
  }

 private:
  bool is_active(size_t k) const { return active_ == nullptr || (*active_)[k] != 0; }

  static Val negate(Val a) {
    a.source = nullptr;
    for (auto& x : a.b)
      x = x ? 0 : 1;
    return a;
  }

  // A string literal where a timestamp is compared or chosen: its value broadcast.
  Val time_literal(const ExprNode& node) const {
    Val v;
    v.kind = VK::kTime;
    v.i.assign(n_, timestamp_literal(text_, node));
    return v;
  }

  // A comparison of evaluated operands; a string literal beside a timestamp is read as one.
  Val compare_vals(Op op, const Val& a, const Val& b, const ExprNode& na,
                   const ExprNode& nb) const {
    if (a.kind == VK::kNull || b.kind == VK::kNull) return Val{};
    if (a.kind == VK::kTime && b.kind == VK::kStr) return compare(op, a, time_literal(nb));
    if (b.kind == VK::kTime && a.kind == VK::kStr) return compare(op, time_literal(na), b);
    return compare(op, a, b);
  }

  // x in (v1, v2, ...) is x = v1 or x = v2 or ...: true on a match, else null if x or any value
  // is null, else false. A string column against literals is one set lookup per row (per
  // dictionary entry for a dictionary column); anything else is a comparison per value.
  Val in(const ExprNode& e) const {
    const Val x = eval(*e.args[0]);
    Val r;
    r.kind = VK::kBool;
    if (x.kind == VK::kStr && x.str_col != nullptr) {
      std::vector<std::string_view> set;
      bool null_item = false, literals = true;
      for (size_t k = 1; k < e.args.size() && literals; ++k) {
        const ExprNode& item = *e.args[k];
        if (item.op != Op::kLiteral) {
          literals = false;
        } else if (item.lit_kind == VK::kNull) {
          null_item = true;
        } else {
          set.emplace_back(item.str);
        }
      }
      if (literals) {
        std::sort(set.begin(), set.end());
        r.b = detail::per_string<std::uint8_t>(x, n_, [&](std::string_view v) {
          return static_cast<std::uint8_t>(std::binary_search(set.begin(), set.end(), v));
        });
        r.valid = x.valid;
        if (null_item) {
          // No match with a null in the list: unknown.
          if (r.valid.empty()) r.valid.assign(n_, 1);
          for (size_t k = 0; k < n_; ++k) {
            if (!r.b[k]) r.valid[k] = 0;
          }
        }
        return e.negated ? negate(std::move(r)) : r;
      }
    }
    r.b.assign(n_, 0);
    for (size_t k = 1; k < e.args.size(); ++k) {
      Val eq = compare_vals(Op::kEq, x, eval(*e.args[k]), *e.args[0], *e.args[k]);
      r = logic(false, std::move(r), std::move(eq));
    }
    return e.negated ? negate(std::move(r)) : r;
  }

  Val like(const ExprNode& e) const {
    const Val s = eval(*e.a);
    const Val p = eval(*e.b);
    if (s.kind == VK::kNull || p.kind == VK::kNull) return Val{};
    Val r;
    r.kind = VK::kBool;
    r.valid = and_valid(s.valid, p.valid);
    if (detail::is_literal_string(p)) {
      r.b = detail::per_string<std::uint8_t>(s, n_, [&](std::string_view x) {
        return static_cast<std::uint8_t>(detail::like_match(x, p.str_lit));
      });
    } else {
      r.b.assign(n_, 0);
      for (size_t k = 0; k < n_; ++k) {
        if (row_valid(r, k)) r.b[k] = detail::like_match(str_at(s, k), str_at(p, k)) ? 1 : 0;
      }
    }
    if (e.negated) {
      for (auto& x : r.b)
        x = x ? 0 : 1;
    }
    return r;
  }

  // `v` as the kind `to` chosen for the branches of case/if/coalesce.
  Val coerce(Val v, VK to, const ExprNode& node) const {
    if (v.kind == VK::kNull || v.kind == to) return v;
    if (to == VK::kFloat && v.kind == VK::kInt) {
      Val f;
      f.kind = VK::kFloat;
      f.f = as_double(v);
      f.valid = std::move(v.valid);
      return f;
    }
    if (to == VK::kTime && v.kind == VK::kStr) return time_literal(node);
    throw RuntimeError("expression '{}': cannot use {} as {} at column {}", quoted(text_),
                       kind_name(v.kind), kind_name(to), node.pos);
  }

  // case/if and coalesce: each row takes the first branch that applies. A branch is evaluated
  // with only the rows that may take it active, so its errors (overflow, domain) concern only
  // those rows; a branch no row can take is not evaluated.
  Val choose(const ExprNode& e) const {
    const VK kind = typer_.type(e);
    const bool is_case = e.op == Op::kCase;
    Val r;
    r.kind = kind == VK::kNull ? VK::kBool : kind;
    r.valid.assign(n_, 0);
    switch (r.kind) {
      case VK::kInt:
      case VK::kTime:
        r.i.assign(n_, 0);
        break;
      case VK::kFloat:
        r.f.assign(n_, 0.0);
        break;
      case VK::kBool:
        r.b.assign(n_, 0);
        break;
      default:
        break;
    }
    std::vector<Val> strings;                // kStr: the branches' values
    std::vector<std::int32_t> from(n_, -1);  // kStr: which of them each row takes
    std::vector<std::uint8_t> remaining(n_, 1);
    if (active_ != nullptr) remaining = *active_;
    std::vector<std::uint8_t> taken(n_, 0);
    const auto* saved = active_;
    auto take = [&](const ExprNode& node) {
      bool any = false;
      for (size_t k = 0; k < n_ && !any; ++k)
        any = taken[k] != 0;
      if (!any) return;
      active_ = &taken;
      Val v = coerce(eval(node), kind, node);
      active_ = saved;
      if (v.kind == VK::kNull) return;
      if (r.kind == VK::kStr) strings.push_back(std::move(v));
      const Val& w = r.kind == VK::kStr ? strings.back() : v;
      for (size_t k = 0; k < n_; ++k) {
        if (!taken[k] || !row_valid(w, k)) continue;
        r.valid[k] = 1;
        switch (r.kind) {
          case VK::kInt:
          case VK::kTime:
            r.i[k] = w.i[k];
            break;
          case VK::kFloat:
            r.f[k] = w.f[k];
            break;
          case VK::kBool:
            r.b[k] = w.b[k];
            break;
          default:
            from[k] = static_cast<std::int32_t>(strings.size() - 1);
            break;
        }
      }
    };
    if (is_case) {
      const size_t pairs = (e.args.size() - (e.has_else ? 1 : 0)) / 2;
      for (size_t p = 0; p < pairs; ++p) {
        active_ = &remaining;
        const Val c = eval(*e.args[2 * p]);
        active_ = saved;
        for (size_t k = 0; k < n_; ++k) {
          taken[k] = remaining[k] && c.kind != VK::kNull && row_valid(c, k) && c.b[k] ? 1 : 0;
          if (taken[k]) remaining[k] = 0;
        }
        take(*e.args[2 * p + 1]);
      }
      if (e.has_else) {
        taken = remaining;
        take(*e.args.back());
      }
    } else {
      for (const auto& arg : e.args) {
        // A row takes this argument where it is valid; which rows those are is known only after
        // evaluating it (under the rows still open).
        taken = remaining;
        take(*arg);
        for (size_t k = 0; k < n_; ++k) {
          if (r.valid[k]) remaining[k] = 0;
        }
      }
    }
    if (kind == VK::kNull) return Val{};
    if (r.kind == VK::kStr) {
      table::PlainStrings out;
      for (size_t k = 0; k < n_; ++k)
        out.push_back(from[k] >= 0 ? str_at(strings[static_cast<size_t>(from[k])], k)
                                   : std::string_view());
      Val v = detail::make_strings(std::move(out));
      v.valid = std::move(r.valid);
      r = std::move(v);
    }
    bool all = true;
    for (size_t k = 0; k < n_ && all; ++k)
      all = r.valid[k] != 0;
    if (all) r.valid.clear();
    return r;
  }

  Val cast(const ExprNode& e) const {
    Val v = eval(*e.args[0]);
    if (v.kind == VK::kNull || v.kind == e.cast_to) return v;
    detail::CallContext call{e, n_, context_, text_, active_, v.valid};
    return detail::cast_value(call, std::move(v), e.cast_to);
  }

  Val call(const ExprNode& e) const {
    std::vector<Val> args;
    args.reserve(e.args.size());
    std::vector<std::uint8_t> valid;
    for (const auto& arg : e.args) {
      args.push_back(eval(*arg));
      if (args.back().kind == VK::kNull) return Val{};
      valid = and_valid(valid, args.back().valid);
    }
    detail::CallContext call{e, n_, context_, text_, active_, std::move(valid)};
    Val r = e.function->eval(call, args);
    r.valid = and_valid(call.valid, r.valid);
    return r;
  }

  Val literal(const ExprNode& e) const {
    Val v;
    v.kind = e.lit_kind;
    switch (e.lit_kind) {
      case VK::kInt:
      case VK::kTime:
        v.i.assign(n_, e.lit_int);
        break;
      case VK::kFloat:
        v.f.assign(n_, e.lit_float);
        break;
      case VK::kBool:
        v.b.assign(n_, e.lit_bool ? 1 : 0);
        break;
      case VK::kStr:
        v.str_lit = e.str;
        break;
      case VK::kNull:
        break;
    }
    return v;
  }

  Val column(const Column& c) const {
    Val v;
    v.kind = kind_of(c.type());
    v.valid = c.validity();
    v.source = &c;
    switch (c.type()) {
      case DataType::kInt32: {
        const auto& src = c.values<std::int32_t>();
        v.i.assign(src.begin(), src.end());
        break;
      }
      case DataType::kInt64:
      case DataType::kTimestamp:
        v.i = c.values<std::int64_t>();
        break;
      case DataType::kFloat32: {
        const auto& src = c.values<float>();
        v.f.assign(src.begin(), src.end());
        break;
      }
      case DataType::kFloat64:
        v.f = c.values<double>();
        break;
      case DataType::kBool:
        v.b = c.values<std::uint8_t>();
        break;
      case DataType::kString:
        v.str_col = &c;
        break;
    }
    return v;
  }

  // SQL three-valued and/or: a definite false (and) or true (or) wins over null.
  Val logic(bool is_and, const Val& a, const Val& b) const {
    Val r;
    r.kind = VK::kBool;
    r.b.resize(n_);
    std::vector<std::uint8_t> valid(n_, 1);
    bool any_null = false;
    for (size_t k = 0; k < n_; ++k) {
      const bool an = a.kind == VK::kNull || (!a.valid.empty() && !a.valid[k]);
      const bool bn = b.kind == VK::kNull || (!b.valid.empty() && !b.valid[k]);
      const bool av = !an && a.b[k];
      const bool bv = !bn && b.b[k];
      if (is_and) {
        if ((!an && !av) || (!bn && !bv)) {
          r.b[k] = 0;
        } else if (an || bn) {
          valid[k] = 0;
          r.b[k] = 0;
          any_null = true;
        } else {
          r.b[k] = 1;
        }
      } else {
        if (av || bv) {
          r.b[k] = 1;
        } else if (an || bn) {
          valid[k] = 0;
          r.b[k] = 0;
          any_null = true;
        } else {
          r.b[k] = 0;
        }
      }
    }
    if (any_null) r.valid = std::move(valid);
    return r;
  }

  Val arith(Op op, int pos, const Val& a, const Val& b) const {
    Val r;
    r.valid = and_valid(a.valid, b.valid);
    const bool ints = a.kind == VK::kInt && b.kind == VK::kInt && op != Op::kDiv;
    if (ints) {
      r.kind = VK::kInt;
      r.i.resize(n_);
      // Checked: a null row's stand-in value may overflow harmlessly, a valid row's may not.
      auto check = [&](bool overflowed, size_t k, const char* symbol) {
        if (overflowed && (r.valid.empty() || r.valid[k])) {
          overflow(pos, fmt::format("{} {} {}", a.i[k], symbol, b.i[k]));
        }
      };
      for (size_t k = 0; k < n_; ++k) {
        const std::int64_t x = a.i[k];
        const std::int64_t y = b.i[k];
        switch (op) {
          case Op::kAdd:
            check(__builtin_add_overflow(x, y, &r.i[k]), k, "+");
            break;
          case Op::kSub:
            check(__builtin_sub_overflow(x, y, &r.i[k]), k, "-");
            break;
          case Op::kMul:
            check(__builtin_mul_overflow(x, y, &r.i[k]), k, "*");
            break;
          default:  // kMod
            if (b.i[k] == 0 || (b.i[k] == -1)) {
              r.i[k] = 0;
              if (b.i[k] == 0) {
                if (r.valid.empty()) r.valid.assign(n_, 1);
                r.valid[k] = 0;
              }
            } else {
              r.i[k] = a.i[k] % b.i[k];
            }
            break;
        }
      }
      return r;
    }
    r.kind = VK::kFloat;
    const table::Buffer<double> x = as_double(a), y = as_double(b);
    r.f.resize(n_);
    for (size_t k = 0; k < n_; ++k) {
      switch (op) {
        case Op::kAdd:
          r.f[k] = x[k] + y[k];
          break;
        case Op::kSub:
          r.f[k] = x[k] - y[k];
          break;
        case Op::kMul:
          r.f[k] = x[k] * y[k];
          break;
        default:  // kDiv, kMod: division by zero is null
          if (y[k] == 0.0) {
            r.f[k] = 0.0;
            if (r.valid.empty()) r.valid.assign(n_, 1);
            r.valid[k] = 0;
          } else {
            r.f[k] = op == Op::kDiv ? x[k] / y[k] : std::fmod(x[k], y[k]);
          }
          break;
      }
    }
    return r;
  }

  Val compare(Op op, const Val& a, const Val& b) const {
    Val r;
    r.kind = VK::kBool;
    r.valid = and_valid(a.valid, b.valid);
    // Timestamps compare as their int64 microseconds.
    const VK ak = a.kind == VK::kTime ? VK::kInt : a.kind;
    const VK bk = b.kind == VK::kTime ? VK::kInt : b.kind;
    if (ak == VK::kStr) {
      r.b = compare_strings(op, a, b);
    } else if (ak == VK::kInt && bk == VK::kInt) {
      r.b = compare_op(op, a.i, b.i);
    } else if (ak == VK::kBool) {
      r.b = compare_op(op, a.b, b.b);
    } else if (ak == VK::kFloat && bk == VK::kFloat) {
      r.b = compare_by_order(op, n_, [&](size_t k) { return order(a.f[k], b.f[k]); });
    } else if (ak == VK::kInt) {
      // int64 against float64 exactly, not through a conversion to double (which rounds above
      // 2^53).
      r.b = compare_by_order(op, n_, [&](size_t k) { return order(a.i[k], b.f[k]); });
    } else {
      r.b = compare_by_order(op, n_, [&](size_t k) { return -order(b.i[k], a.f[k]); });
    }
    return r;
  }

  table::Buffer<std::uint8_t> compare_strings(Op op, const Val& a, const Val& b) const {
    table::Buffer<std::uint8_t> r(n_);
    if (a.str_col == nullptr && b.str_col == nullptr) {
      const int c = a.str_lit.compare(b.str_lit);
      r.assign(n_, cmp_result(op, c < 0 ? -1 : c > 0 ? 1 : 0) ? 1 : 0);
      return r;
    }
    if (a.str_col == nullptr) return compare_strings(mirror(op), b, a);
    if (b.str_col == nullptr && a.str_col->is_dictionary_encoded()) {
      // code order == string order: compare codes with the literal's insertion point.
      const auto& values = a.str_col->dictionary()->values();
      const auto it = std::lower_bound(values.begin(), values.end(), b.str_lit);
      const auto lb = static_cast<std::int32_t>(it - values.begin());
      const bool present = it != values.end() && *it == b.str_lit;
      const auto& codes = a.str_col->codes();
      // sign(code - literal) as if the literal had code lb - 0.5 when absent.
      for (size_t k = 0; k < n_; ++k) {
        const std::int32_t c = codes[k];
        const int s = c < lb ? -1 : (c == lb && present) ? 0 : 1;
        r[k] = cmp_result(op, s) ? 1 : 0;
      }
      return r;
    }
    for (size_t k = 0; k < n_; ++k) {
      const auto row = static_cast<idx_t>(k);
      // The value slot of a null row is unspecified (a dictionary code may be out of range).
      if (!a.str_col->is_valid(row) || (b.str_col != nullptr && !b.str_col->is_valid(row))) {
        r[k] = 0;
        continue;
      }
      const std::string_view x = a.str_col->string_at(row);
      const std::string_view y =
          b.str_col != nullptr ? b.str_col->string_at(row) : std::string_view(b.str_lit);
      const int c = x.compare(y);
      r[k] = cmp_result(op, c < 0 ? -1 : c > 0 ? 1 : 0) ? 1 : 0;
    }
    return r;
  }

  // An int64 result that does not fit: an error naming the operation, never a wrapped number.
  [[noreturn]] void overflow(int pos, const std::string& what) const {
    throw InputError(
        "expression '{}': integer overflow at column {}: {} does not fit int64; to compute past "
        "int64, make one operand a float (e.g. x * 1.0)",
        quoted(text_), pos, what);
  }

  const table::Table& t_;
  size_t n_;
  const std::string& text_;
  const EvalContext& context_;
  Typer typer_;
  mutable const std::vector<std::uint8_t>* active_ = nullptr;
};

void collect_columns(const ExprNode& n, std::vector<std::string>& out) {
  if (n.op == Op::kColumn) {
    if (std::find(out.begin(), out.end(), n.str) == out.end()) out.push_back(n.str);
    return;
  }
  if (n.a) collect_columns(*n.a, out);
  if (n.b) collect_columns(*n.b, out);
  for (const auto& arg : n.args)
    collect_columns(*arg, out);
}

DataType to_data_type(VK k) {
  switch (k) {
    case VK::kInt:
      return DataType::kInt64;
    case VK::kFloat:
      return DataType::kFloat64;
    case VK::kStr:
      return DataType::kString;
    case VK::kTime:
      return DataType::kTimestamp;
    case VK::kBool:
    case VK::kNull:
      return DataType::kBool;
  }
  return DataType::kBool;
}

}  // namespace

Expression Expression::parse(std::string_view text) {
  Expression e;
  e.text_ = std::string(text);
  Parser parser(e.text_);
  e.root_ = parser.parse();
  return e;
}

table::DataType Expression::result_type(const table::Schema& schema) const {
  if (root_->op == Op::kColumn)
    return schema.field(schema.index_of(root_->str, "expression '" + text_ + "'")).type;
  return to_data_type(Typer(text_, schema).type(*root_));
}

table::Column Expression::evaluate(const table::Table& table, const EvalContext& context) const {
  const DataType type = result_type(table.schema());
  if (root_->op == Op::kColumn) return table.column(root_->str);
  const size_t n = static_cast<size_t>(table.num_rows());
  Val v = Evaluator(table, text_, context).eval(*root_);
  Column out(type);
  switch (v.kind) {
    case VK::kInt:
    case VK::kTime:
      out.values<std::int64_t>() = std::move(v.i);
      break;
    case VK::kFloat:
      out.values<double>() = std::move(v.f);
      break;
    case VK::kBool:
      out.values<std::uint8_t>() = std::move(v.b);
      break;
    case VK::kNull:
      // Only reachable for an all-null expression; its type was decided by result_type.
      out.visit([&](auto& values) {
        using V = std::decay_t<decltype(values)>;
        if constexpr (!std::is_same_v<V, table::PlainStrings>) values.assign(n, {});
      });
      if (type == DataType::kString) {
        out = Column::plain_strings();
        for (size_t k = 0; k < n; ++k)
          out.plain().push_back({});
      }
      v.valid.assign(n, 0);
      break;
    case VK::kStr: {
      if (v.str_col != nullptr) {
        // A computed column (or a table column chosen by case/coalesce): its strings, with the
        // expression's nulls.
        out = *v.str_col;
      } else {
        // A string literal: a plain column repeating it.
        out = Column::plain_strings();
        for (size_t k = 0; k < n; ++k)
          out.plain().push_back(v.str_lit);
      }
      break;
    }
  }
  out.validity() = std::move(v.valid);
  out.compact_validity();
  return out;
}

bool Expression::uses_random() const {
  const auto visit = [](const auto& self, const ExprNode& n) -> bool {
    if (n.op == Op::kCall && n.str == "rand") return true;
    if (n.a && self(self, *n.a)) return true;
    if (n.b && self(self, *n.b)) return true;
    for (const auto& arg : n.args) {
      if (self(self, *arg)) return true;
    }
    return false;
  };
  return visit(visit, *root_);
}

std::vector<FunctionInfo> expression_functions() {
  std::vector<FunctionInfo> out;
  for (const auto& f : detail::functions())
    out.push_back({f.name, f.usage, f.summary});
  return out;
}

std::vector<std::string> Expression::referenced_columns() const {
  std::vector<std::string> out;
  collect_columns(*root_, out);
  return out;
}

}  // namespace shardflow::ops
