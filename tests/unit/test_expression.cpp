// Expression parser (precedence, errors with positions), evaluation against a row-by-row scalar
// reference on random tables (nulls, dictionary and plain strings), and filter.

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <random>

#include "shardflow/ops/expression.hpp"
#include "shardflow/ops/filter.hpp"

using namespace shardflow;
using ops::Expression;
using table::Column;
using table::DataType;
using table::Table;

namespace {

Table random_table(std::uint64_t seed, idx_t rows) {
  std::mt19937_64 rng(seed);
  auto null = [&] { return rng() % 8 == 0; };
  Column i(DataType::kInt64), j(DataType::kInt32), x(DataType::kFloat64), b(DataType::kBool),
      s(DataType::kString);
  Column p = Column::plain_strings();
  s.set_dictionary(std::make_shared<const table::Dictionary>(
      std::vector<std::string>{"AT", "BE", "DE", "FR", "XX"}));
  const char* words[] = {"apple", "banana", "cherry", "", "date"};
  for (Column* c : {&i, &x, &b, &s, &p})
    c->ensure_validity();
  for (idx_t r = 0; r < rows; ++r) {
    i.values<std::int64_t>().push_back(static_cast<std::int64_t>(rng() % 41) - 20);
    i.validity().push_back(!null());
    j.values<std::int32_t>().push_back(static_cast<std::int32_t>(rng() % 11) - 5);
    x.values<double>().push_back(static_cast<double>(rng() % 1000) / 37.0 - 10.0);
    x.validity().push_back(!null());
    b.values<std::uint8_t>().push_back(static_cast<std::uint8_t>(rng() % 2));
    b.validity().push_back(!null());
    s.codes().push_back(static_cast<std::int32_t>(rng() % 5));
    s.validity().push_back(!null());
    p.plain().push_back(words[rng() % 5]);
    p.validity().push_back(!null());
  }
  Table t;
  t.add_column("i", std::move(i));
  t.add_column("j", std::move(j));
  t.add_column("x", std::move(x));
  t.add_column("b", std::move(b));
  t.add_column("s", std::move(s));
  t.add_column("p", std::move(p));
  t.add_column("amount", t.column("x"));
  return t;
}

// Scalar reference values: nullopt = null.
using OptB = std::optional<bool>;
using OptD = std::optional<double>;

struct Row {
  const Table& t;
  idx_t r;
  std::optional<std::int64_t> i() const {
    return t.column("i").is_valid(r)
               ? std::optional(t.column("i").values<std::int64_t>()[static_cast<size_t>(r)])
               : std::nullopt;
  }
  std::int64_t j() const { return t.column("j").values<std::int32_t>()[static_cast<size_t>(r)]; }
  OptD x() const {
    return t.column("x").is_valid(r) ? OptD(t.column("x").values<double>()[static_cast<size_t>(r)])
                                     : std::nullopt;
  }
  OptB b() const {
    return t.column("b").is_valid(r)
               ? OptB(t.column("b").values<std::uint8_t>()[static_cast<size_t>(r)] != 0)
               : std::nullopt;
  }
  std::optional<std::string> s() const {
    return t.column("s").is_valid(r) ? std::optional(std::string(t.column("s").string_at(r)))
                                     : std::nullopt;
  }
  std::optional<std::string> p() const {
    return t.column("p").is_valid(r) ? std::optional(std::string(t.column("p").string_at(r)))
                                     : std::nullopt;
  }
};

OptB and3(OptB a, OptB b) {
  if ((a && !*a) || (b && !*b)) return false;
  if (!a || !b) return std::nullopt;
  return true;
}
OptB or3(OptB a, OptB b) {
  if ((a && *a) || (b && *b)) return true;
  if (!a || !b) return std::nullopt;
  return false;
}
OptB not3(OptB a) {
  return a ? OptB(!*a) : std::nullopt;
}
template <typename A, typename B, typename F>
OptB cmp(const std::optional<A>& a, const std::optional<B>& b, F f) {
  if (!a || !b) return std::nullopt;
  return f(*a, *b);
}

// `part` holds rows `rows` of `t`, in that order, under t's schema.
void expect_rows(const Table& part, const Table& t, const std::vector<idx_t>& rows) {
  ASSERT_EQ(part.schema(), t.schema());
  ASSERT_EQ(part.num_rows(), static_cast<idx_t>(rows.size()));
  for (size_t k = 0; k < rows.size(); ++k)
    for (int col = 0; col < t.num_columns(); ++col)
      ASSERT_EQ(part.column(col).to_string_at(static_cast<idx_t>(k)),
                t.column(col).to_string_at(rows[k]))
          << "row " << k << " column " << col;
}

// filter_split of `t` by `e` (const and consuming, with and without rest) keeps rows `kept`.
void expect_split(const Table& t, const Expression& e, const std::vector<idx_t>& kept) {
  std::vector<idx_t> rest;
  for (idx_t r = 0, k = 0; r < t.num_rows(); ++r) {
    if (static_cast<size_t>(k) < kept.size() && kept[static_cast<size_t>(k)] == r) {
      ++k;
    } else {
      rest.push_back(r);
    }
  }
  for (const bool consume : {false, true}) {
    for (const bool with_rest : {false, true}) {
      SCOPED_TRACE(fmt::format("consume {} with_rest {}", consume, with_rest));
      Table copy = t;
      const ops::FilterSplit split = consume ? ops::filter_split(std::move(copy), e, with_rest)
                                             : ops::filter_split(t, e, with_rest);
      expect_rows(split.kept, t, kept);
      if (with_rest) {
        expect_rows(split.rest, t, rest);
      } else {
        EXPECT_EQ(split.rest.num_columns(), 0);
      }
    }
  }
}

void expect_bool_column(const Table& t, const std::string& text,
                        const std::function<OptB(const Row&)>& ref) {
  SCOPED_TRACE(text);
  const Expression e = Expression::parse(text);
  ASSERT_EQ(e.result_type(t.schema()), DataType::kBool);
  const Column c = e.evaluate(t);
  ASSERT_EQ(c.size(), t.num_rows());
  std::vector<idx_t> kept;
  for (idx_t r = 0; r < t.num_rows(); ++r) {
    const OptB want = ref(Row{t, r});
    ASSERT_EQ(c.is_valid(r), want.has_value()) << "row " << r;
    if (want) {
      ASSERT_EQ(c.values<std::uint8_t>()[static_cast<size_t>(r)] != 0, *want) << "row " << r;
      if (*want) kept.push_back(r);
    }
  }
  // filter keeps exactly the true rows, in order; filter_split's rest holds the others (false
  // and null), in order; the consuming filter_split gives the same tables.
  expect_rows(ops::filter(t, e), t, kept);
  expect_split(t, e, kept);
}

void expect_number_column(const Table& t, const std::string& text, DataType type,
                          const std::function<OptD(const Row&)>& ref) {
  SCOPED_TRACE(text);
  const Expression e = Expression::parse(text);
  ASSERT_EQ(e.result_type(t.schema()), type);
  const Column c = e.evaluate(t);
  for (idx_t r = 0; r < t.num_rows(); ++r) {
    const OptD want = ref(Row{t, r});
    ASSERT_EQ(c.is_valid(r), want.has_value()) << "row " << r;
    if (want) {
      ASSERT_DOUBLE_EQ(c.numeric_at(r), *want) << "row " << r;
    }
  }
}

std::string parse_error(const std::string& text) {
  try {
    Expression::parse(text);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "no error";
}

std::string type_error(const std::string& text) {
  const Table t = random_table(1, 3);
  try {
    Expression::parse(text).result_type(t.schema());
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "no error";
}

}  // namespace

TEST(Expression, PrecedenceAndAssociativity) {
  const Table t = random_table(1, 5);
  for (const char* text :
       {"1 + 2 * 3 = 7", "(1 + 2) * 3 = 9", "2 - 1 - 1 = 0", "8 / 2 / 2 = 2.0", "-2 * -3 = 6",
        "not 1 > 2", "true or false and false", "not false and not false", "7 % 4 = 3",
        "1 < 2 = true", "1e2 = 100", "'a''b' = 'a''b'", "'abc' < 'abd'", "NULL is null",
        "1 is not null", "(null = 1) is null", "TRUE AND NOT (FALSE OR null IS NOT NULL)"}) {
    SCOPED_TRACE(text);
    const Column c = Expression::parse(text).evaluate(t);
    ASSERT_EQ(c.type(), DataType::kBool);
    for (idx_t r = 0; r < t.num_rows(); ++r) {
      ASSERT_TRUE(c.is_valid(r));
      EXPECT_EQ(c.values<std::uint8_t>()[static_cast<size_t>(r)], 1);
    }
  }
}

TEST(Expression, EvaluationMatchesScalarReference) {
  const Table t = random_table(42, 2000);
  expect_bool_column(t, "amount > 0 and s != 'XX'", [](const Row& r) {
    return and3(cmp(r.x(), OptD(0.0), std::greater<>()),
                cmp(r.s(), std::optional<std::string>("XX"), std::not_equal_to<>()));
  });
  expect_bool_column(t, "x * 2.5 >= i or b", [](const Row& r) {
    const OptD lhs = r.x() ? OptD(*r.x() * 2.5) : std::nullopt;
    const OptD rhs = r.i() ? OptD(static_cast<double>(*r.i())) : std::nullopt;
    return or3(cmp(lhs, rhs, std::greater_equal<>()), r.b());
  });
  expect_bool_column(t, "not (s = 'DE') and p < 'cherry'", [](const Row& r) {
    return and3(not3(cmp(r.s(), std::optional<std::string>("DE"), std::equal_to<>())),
                cmp(r.p(), std::optional<std::string>("cherry"), std::less<>()));
  });
  // Dictionary column against present and absent literals, every operator, both sides.
  for (const std::string lit : {"DE", "CZ", "A", "ZZ", "XX"}) {
    const std::optional<std::string> L = lit;
    expect_bool_column(t, "s = '" + lit + "'",
                       [&](const Row& r) { return cmp(r.s(), L, std::equal_to<>()); });
    expect_bool_column(t, "s <> '" + lit + "'",
                       [&](const Row& r) { return cmp(r.s(), L, std::not_equal_to<>()); });
    expect_bool_column(t, "s < '" + lit + "'",
                       [&](const Row& r) { return cmp(r.s(), L, std::less<>()); });
    expect_bool_column(t, "s <= '" + lit + "'",
                       [&](const Row& r) { return cmp(r.s(), L, std::less_equal<>()); });
    expect_bool_column(t, "s > '" + lit + "'",
                       [&](const Row& r) { return cmp(r.s(), L, std::greater<>()); });
    expect_bool_column(t, "'" + lit + "' < s",
                       [&](const Row& r) { return cmp(L, r.s(), std::less<>()); });
    expect_bool_column(t, "s >= '" + lit + "'",
                       [&](const Row& r) { return cmp(r.s(), L, std::greater_equal<>()); });
  }
  expect_bool_column(t, "s = p or p >= s", [](const Row& r) {
    return or3(cmp(r.s(), r.p(), std::equal_to<>()), cmp(r.p(), r.s(), std::greater_equal<>()));
  });
  expect_bool_column(t, "p is null or x is not null",
                     [](const Row& r) { return OptB(!r.p() || r.x().has_value()); });
  expect_bool_column(t, "i / 0 is null", [](const Row&) { return OptB(true); });
  expect_bool_column(t, "\"x\" > 0 == b", [](const Row& r) {
    return cmp(cmp(r.x(), OptD(0.0), std::greater<>()), r.b(), std::equal_to<>());
  });
  expect_bool_column(t, "null = 1", [](const Row&) { return OptB(); });
  expect_bool_column(t, "b and null", [](const Row& r) { return and3(r.b(), std::nullopt); });
  expect_bool_column(t, "b or null", [](const Row& r) { return or3(r.b(), std::nullopt); });
  expect_number_column(t, "i + j * 2 - 3", DataType::kInt64, [](const Row& r) {
    return r.i() ? OptD(static_cast<double>(*r.i() + r.j() * 2 - 3)) : std::nullopt;
  });
  expect_number_column(t, "-(i % 7) + j / 2", DataType::kFloat64, [](const Row& r) {
    return r.i() ? OptD(static_cast<double>(-(*r.i() % 7)) + static_cast<double>(r.j()) / 2.0)
                 : std::nullopt;
  });
  expect_number_column(t, "i % j", DataType::kInt64, [](const Row& r) {
    return r.i() && r.j() != 0 ? OptD(static_cast<double>(*r.i() % r.j())) : std::nullopt;
  });
  expect_number_column(t, "x / j", DataType::kFloat64, [](const Row& r) {
    return r.x() && r.j() != 0 ? OptD(*r.x() / static_cast<double>(r.j())) : std::nullopt;
  });
  // A bare column keeps its type and values.
  const Column j = Expression::parse("j").evaluate(t);
  EXPECT_EQ(j.type(), DataType::kInt32);
  EXPECT_EQ(j.values<std::int32_t>(), t.column("j").values<std::int32_t>());
}

TEST(Expression, ReferencedColumns) {
  const Expression e = Expression::parse("amount > 0 and \"s\" != 'XX' or amount < -x");
  EXPECT_EQ(e.referenced_columns(), (std::vector<std::string>{"amount", "s", "x"}));
  EXPECT_EQ(e.text(), "amount > 0 and \"s\" != 'XX' or amount < -x");
}

TEST(Expression, ParseErrorsNameTheColumn) {
  EXPECT_EQ(parse_error("amount >> 0"),
            "expression 'amount >> 0': unexpected '>' at column 9; expected a value (number, "
            "'string', column name, null, true, false or '(')");
  EXPECT_EQ(parse_error("(a + 1"),
            "expression '(a + 1': unexpected end of expression at column 7; expected ')'");
  EXPECT_EQ(parse_error("a + 1)"),
            "expression 'a + 1)': unexpected ')' at column 6; expected an operator or the end of "
            "the expression");
  EXPECT_EQ(parse_error("a = 'abc"),
            "expression 'a = 'abc': unterminated string starting at column 5");
  EXPECT_EQ(parse_error("a # b"), "expression 'a # b': unexpected character '#' at column 3");
  EXPECT_EQ(parse_error("x is 1"),
            "expression 'x is 1': unexpected '1' at column 6; expected 'null' or 'not null'");
  EXPECT_EQ(parse_error("a and"),
            "expression 'a and': unexpected end of expression at column 6; expected a value "
            "(number, 'string', column name, null, true, false or '(')");
  EXPECT_EQ(parse_error(""),
            "expression '': unexpected end of expression at column 1; expected a value (number, "
            "'string', column name, null, true, false or '(')");
  EXPECT_EQ(parse_error("x > 99999999999999999999"),
            "expression 'x > 99999999999999999999': integer '99999999999999999999' out of range "
            "(use a float literal like 99999999999999999999.0) at column 5");
}

TEST(Expression, TypeErrors) {
  EXPECT_EQ(type_error("amout > 0"),
            "unknown column 'amout' in expression 'amout > 0'; did you mean 'amount'? (columns: i, "
            "j, x, b, s, p, amount)");
  EXPECT_EQ(
      type_error("s + 1"),
      "expression 's + 1': operator '+' at column 3 needs numbers, got a string and an integer");
  EXPECT_EQ(type_error("i = 'a'"),
            "expression 'i = 'a'': operator '=' at column 3 needs two numbers, two strings or two "
            "booleans, got an integer and a string");
  EXPECT_EQ(type_error("x and b"),
            "expression 'x and b': operator 'and' at column 3 needs booleans, got a float and a "
            "boolean");
  EXPECT_EQ(type_error("not i"),
            "expression 'not i': operator 'not' at column 1 needs a boolean, got an integer");
  EXPECT_EQ(type_error("-s"),
            "expression '-s': operator '-' at column 1 needs a number, got a string");
  const Table t = random_table(1, 3);
  try {
    ops::filter(t, Expression::parse("i + 1"));
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()),
              "filter expression 'i + 1' gives int64 values, not true/false; write a comparison "
              "such as \"amount > 0\"");
  }
}

// Hostile depth: long chains, deep nesting and repeated prefixes are refused with a message that
// names the limit (before this limit, 20,000 'or' terms and 100,000 parentheses overflowed the
// stack), and an expression just inside the limit parses, type-checks and evaluates.
TEST(Expression, DepthIsBoundedWithAClearError) {
  auto repeat = [](const std::string& unit, int n) {
    std::string out;
    for (int k = 0; k < n; ++k)
      out += unit;
    return out;
  };
  auto chain = [](const std::string& op, int terms) {
    std::string out = "i = 0";
    for (int k = 1; k < terms; ++k)
      out += " " + op + " i = " + std::to_string(k);
    return out;
  };
  const int limit = ops::kMaxExpressionDepth;
  auto expect_refused = [&](const std::string& text, const std::string& what) {
    try {
      Expression::parse(text);
      ADD_FAILURE() << what << " was accepted";
    } catch (const ConfigError& e) {
      const std::string message = e.what();
      EXPECT_NE(message.find("nests more than " + std::to_string(limit) + " levels deep"),
                std::string::npos)
          << what << ": " << message.substr(message.size() > 300 ? message.size() - 300 : 0);
    }
  };
  expect_refused(chain("or", 20000), "20,000 'or' terms");
  expect_refused(chain("and", 200000), "200,000 'and' terms");
  expect_refused(repeat("not ", 50000) + "b", "50,000 'not'");
  expect_refused(repeat("-", 50000) + "x", "50,000 unary minus");
  expect_refused(repeat("(", 100000) + "x" + repeat(")", 100000), "100,000 parentheses");
  expect_refused(repeat("(", 100000), "100,000 unclosed parentheses");
  expect_refused(repeat("x + ", 5000) + "x > 0", "5,000 additions");

  // Just inside the limit: a chain of `limit` terms (depth limit - 1 for the ors, plus the
  // comparisons' level) and `limit` nested parentheses.
  const Table t = random_table(3, 200);
  const Expression ors = Expression::parse(chain("or", limit - 1));
  EXPECT_EQ(ors.result_type(t.schema()), DataType::kBool);
  const Column kept = ors.evaluate(t);
  EXPECT_EQ(kept.size(), t.num_rows());
  const Expression parens = Expression::parse(repeat("(", limit) + "x" + repeat(")", limit));
  EXPECT_EQ(parens.result_type(t.schema()), DataType::kFloat64);
  expect_refused(repeat("(", limit + 1) + "x" + repeat(")", limit + 1), "limit + 1 parentheses");
}

// Integer arithmetic is checked: a valid row whose result does not fit int64 is an error naming
// the operation (i + 1 > i was false at INT64_MAX); a null row's placeholder never is.
TEST(Expression, IntegerOverflowIsAnError) {
  constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();
  constexpr std::int64_t kMin = std::numeric_limits<std::int64_t>::min();
  Table t;
  Column i(DataType::kInt64), j(DataType::kInt64);
  i.values<std::int64_t>() = {1, kMax, kMin};
  j.values<std::int64_t>() = {kMax, 5, kMin};
  j.ensure_validity();
  j.validity() = {1, 1, 0};  // row 2 of j is null
  t.add_column("i", std::move(i));
  t.add_column("j", std::move(j));
  auto error = [&](const std::string& text) {
    try {
      Expression::parse(text).evaluate(t);
    } catch (const InputError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_EQ(error("i + 1 > i"),
            "expression 'i + 1 > i': integer overflow at column 3: 9223372036854775807 + 1 does "
            "not fit int64; to compute past int64, make one operand a float (e.g. x * 1.0)");
  EXPECT_NE(error("i * 2 > 0").find("9223372036854775807 * 2 does not fit int64"),
            std::string::npos);
  EXPECT_NE(error("i - 1 < 0").find("-9223372036854775808 - 1 does not fit int64"),
            std::string::npos);
  EXPECT_NE(error("-i > 0").find("-(-9223372036854775808) does not fit int64"), std::string::npos);
  // j + i: row 0 overflows (1 + INT64_MAX); rows with a null j never count.
  EXPECT_NE(error("j + i > 0").find("9223372036854775807 + 1"), std::string::npos);
  EXPECT_EQ(error("j - 5 > 0"), "no error");  // row 2 (kMin - 5) is null
  // Past int64 in float: no error.
  EXPECT_EQ(error("i * 1.0 + 1 > i"), "no error");
}

// int64 against float64 compares exactly (through double, 2^53 + 1 equalled 2^53), and floats
// follow one order in filters and in min/max: NaN equals NaN and is greater than every number.
TEST(Expression, MixedComparisonsAreExactAndNaNIsOrdered) {
  constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();
  Table t;
  Column i(DataType::kInt64), x(DataType::kFloat64);
  i.values<std::int64_t>() = {9007199254740993, kMax, -3, 0};
  x.values<double>() = {9007199254740992.0, 9223372036854775808.0, -2.5,
                        std::numeric_limits<double>::quiet_NaN()};
  t.add_column("i", std::move(i));
  t.add_column("x", std::move(x));
  auto rows = [&](const std::string& text) {
    const Column c = Expression::parse(text).evaluate(t);
    std::string out;
    for (idx_t r = 0; r < c.size(); ++r)
      out += c.values<std::uint8_t>()[static_cast<size_t>(r)] ? '1' : '0';
    return out;
  };
  EXPECT_EQ(rows("i > x"), "1000");  // 2^53+1 > 2^53; INT64_MAX < 2^63; -3 < -2.5; 0 < NaN
  EXPECT_EQ(rows("i = x"), "0000");
  EXPECT_EQ(rows("x < i"), "1000");
  EXPECT_EQ(rows("i < x"), "0111");
  EXPECT_EQ(rows("i = 9007199254740992.0"), "0000");
  EXPECT_EQ(rows("x = x"), "1111");  // NaN = NaN
  EXPECT_EQ(rows("x != x"), "0000");
  EXPECT_EQ(rows("x > 1e308"), "0001");  // NaN is greater than every number
  EXPECT_EQ(rows("-0.0 = 0.0"), "1111");
}

// filter_split when one part takes every row (moved whole when consumed), on an empty table, and
// on a condition that is not boolean (an error before any column is freed: the table is whole).
TEST(FilterSplit, WholePartsEmptyTablesAndTypeErrors) {
  const Table t = random_table(5, 300);
  std::vector<idx_t> all(300);
  for (idx_t r = 0; r < 300; ++r)
    all[static_cast<size_t>(r)] = r;
  expect_split(t, Expression::parse("j >= -5"), all);
  expect_split(t, Expression::parse("j > 5"), {});
  expect_split(random_table(5, 0), Expression::parse("i > 0"), {});
  for (const bool with_rest : {false, true}) {
    Table copy = t;
    EXPECT_THROW(ops::filter_split(std::move(copy), Expression::parse("i + 1"), with_rest),
                 ConfigError);
    expect_rows(copy, t, all);
  }
}
