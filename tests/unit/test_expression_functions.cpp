// The expression language's functions, casts, case/if/coalesce, in, like and timestamps:
// evaluation against a row-by-row scalar reference on random tables with nulls (dictionary and
// plain strings; dates and times checked against std::chrono's calendar), lazy branches, rand()
// and hash() invariants, and parse/type errors with the column of the offending call.

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <functional>
#include <limits>
#include <optional>
#include <random>
#include <set>
#include <string>

#include "shardflow/common/error.hpp"
#include "shardflow/ops/expression.hpp"

using namespace shardflow;
using ops::Expression;
using table::Column;
using table::DataType;
using table::Table;

namespace {

using std::optional;

constexpr std::int64_t kDay = std::int64_t{86'400'000'000};

// Sorted, so that code order is string order (as the global dictionaries are).
const std::vector<std::string> kDict = {"AT", "BE", "DE", "FR", "XX", "\xc3\xbcn\xc3\xaf"};
const std::vector<std::string> kWords = {"apple", "",    "h\xc3\xa9llo", "a%b",   "under_score",
                                         "Apple", "BEE", "DE",           "banana"};

Table random_table(std::uint64_t seed, idx_t rows) {
  std::mt19937_64 rng(seed);
  auto null = [&] { return rng() % 7 == 0; };
  Column i(DataType::kInt64), j(DataType::kInt32), x(DataType::kFloat64), b(DataType::kBool),
      s(DataType::kString), ts(DataType::kTimestamp), ts2(DataType::kTimestamp);
  Column p = Column::plain_strings();
  s.set_dictionary(std::make_shared<const table::Dictionary>(kDict));
  for (Column* c : {&i, &x, &b, &s, &p, &ts, &ts2})
    c->ensure_validity();
  // Timestamps from 1900 to 2100 (before the epoch too), some on exact day/hour boundaries.
  auto timestamp = [&]() -> std::int64_t {
    const auto days = static_cast<std::int64_t>(rng() % 73000) - 25567;
    switch (rng() % 3) {
      case 0:
        return days * kDay;
      case 1:
        return days * kDay + static_cast<std::int64_t>(rng() % 24) * 3'600'000'000LL;
      default:
        return days * kDay + static_cast<std::int64_t>(rng() % static_cast<std::uint64_t>(kDay));
    }
  };
  for (idx_t r = 0; r < rows; ++r) {
    i.values<std::int64_t>().push_back(static_cast<std::int64_t>(rng() % 41) - 20);
    i.validity().push_back(!null());
    j.values<std::int32_t>().push_back(static_cast<std::int32_t>(rng() % 11) - 5);
    x.values<double>().push_back(rng() % 10 == 0 ? 0.0
                                                 : static_cast<double>(rng() % 2000) / 37.0 - 27.0);
    x.validity().push_back(!null());
    b.values<std::uint8_t>().push_back(static_cast<std::uint8_t>(rng() % 2));
    b.validity().push_back(!null());
    s.codes().push_back(static_cast<std::int32_t>(rng() % kDict.size()));
    s.validity().push_back(!null());
    p.plain().push_back(kWords[rng() % kWords.size()]);
    p.validity().push_back(!null());
    ts.values<std::int64_t>().push_back(timestamp());
    ts.validity().push_back(!null());
    ts2.values<std::int64_t>().push_back(timestamp());
    ts2.validity().push_back(!null());
  }
  Table t;
  t.add_column("i", std::move(i));
  t.add_column("j", std::move(j));
  t.add_column("x", std::move(x));
  t.add_column("b", std::move(b));
  t.add_column("s", std::move(s));
  t.add_column("p", std::move(p));
  t.add_column("ts", std::move(ts));
  t.add_column("ts2", std::move(ts2));
  return t;
}

struct Row {
  const Table& t;
  idx_t r;
  bool valid(const char* c) const { return t.column(c).is_valid(r); }
  size_t k() const { return static_cast<size_t>(r); }
  optional<std::int64_t> i() const {
    return valid("i") ? optional(t.column("i").values<std::int64_t>()[k()]) : std::nullopt;
  }
  std::int64_t j() const { return t.column("j").values<std::int32_t>()[k()]; }
  optional<double> x() const {
    return valid("x") ? optional(t.column("x").values<double>()[k()]) : std::nullopt;
  }
  optional<bool> b() const {
    return valid("b") ? optional(t.column("b").values<std::uint8_t>()[k()] != 0) : std::nullopt;
  }
  optional<std::string> s() const {
    return valid("s") ? optional(std::string(t.column("s").string_at(r))) : std::nullopt;
  }
  optional<std::string> p() const {
    return valid("p") ? optional(std::string(t.column("p").string_at(r))) : std::nullopt;
  }
  optional<std::int64_t> ts() const {
    return valid("ts") ? optional(t.column("ts").values<std::int64_t>()[k()]) : std::nullopt;
  }
  optional<std::int64_t> ts2() const {
    return valid("ts2") ? optional(t.column("ts2").values<std::int64_t>()[k()]) : std::nullopt;
  }
};

template <typename T>
using Ref = std::function<optional<T>(const Row&)>;

template <typename T>
T value_at(const Column& c, idx_t r) {
  const auto k = static_cast<size_t>(r);
  if constexpr (std::is_same_v<T, std::string>) {
    return std::string(c.string_at(r));
  } else if constexpr (std::is_same_v<T, bool>) {
    return c.values<std::uint8_t>()[k] != 0;
  } else if constexpr (std::is_same_v<T, double>) {
    return c.values<double>()[k];
  } else {
    return c.values<std::int64_t>()[k];
  }
}

template <typename T>
void expect_values(const Table& t, const std::string& text, DataType type, const Ref<T>& ref) {
  SCOPED_TRACE(text);
  const Expression e = Expression::parse(text);
  ASSERT_EQ(e.result_type(t.schema()), type);
  const Column c = e.evaluate(t);
  ASSERT_EQ(c.type(), type);
  ASSERT_EQ(c.size(), t.num_rows());
  for (idx_t r = 0; r < t.num_rows(); ++r) {
    const optional<T> want = ref(Row{t, r});
    ASSERT_EQ(c.is_valid(r), want.has_value()) << "row " << r;
    if (!want) continue;
    const T got = value_at<T>(c, r);
    if constexpr (std::is_same_v<T, double>) {
      if (std::isnan(*want)) {
        ASSERT_TRUE(std::isnan(got)) << "row " << r;
        continue;
      }
    }
    ASSERT_EQ(got, *want) << "row " << r;
  }
}

// Scalar helpers: nullopt in, nullopt out.
template <typename T, typename F>
auto map1(const optional<T>& a, F f) -> optional<decltype(f(*a))> {
  if (!a) return std::nullopt;
  return f(*a);
}

// ---- an independent calendar: std::chrono ----------------------------------------------------

std::chrono::sys_days day_of(std::int64_t micros) {
  std::int64_t d = micros / kDay;
  if (micros % kDay < 0) --d;
  return std::chrono::sys_days{std::chrono::days{d}};
}
std::chrono::year_month_day ymd(std::int64_t micros) {
  return std::chrono::year_month_day{day_of(micros)};
}
std::int64_t micros_of(std::chrono::sys_days d) {
  return static_cast<std::int64_t>(d.time_since_epoch().count()) * kDay;
}
std::int64_t micros_of_day(std::int64_t micros) {
  return micros - micros_of(day_of(micros));
}
std::int64_t trunc_ref(const std::string& unit, std::int64_t t) {
  using namespace std::chrono;
  const auto d = ymd(t);
  if (unit == "year") return micros_of(sys_days{d.year() / January / 1});
  if (unit == "quarter") {
    const unsigned m = (static_cast<unsigned>(d.month()) - 1) / 3 * 3 + 1;
    return micros_of(sys_days{d.year() / month{m} / 1});
  }
  if (unit == "month") return micros_of(sys_days{d.year() / d.month() / 1});
  if (unit == "week") {
    const weekday wd{day_of(t)};
    return micros_of(day_of(t) - days{(wd.iso_encoding() - 1)});
  }
  if (unit == "day") return micros_of(day_of(t));
  const std::int64_t len = unit == "hour"     ? 3'600'000'000LL
                           : unit == "minute" ? 60'000'000
                                              : 1'000'000;
  return micros_of(day_of(t)) + micros_of_day(t) / len * len;
}
std::int64_t diff_ref(const std::string& unit, std::int64_t a, std::int64_t b) {
  const auto ya = ymd(a), yb = ymd(b);
  const auto months = [](std::chrono::year_month_day d) {
    return static_cast<std::int64_t>(static_cast<int>(d.year())) * 12 +
           static_cast<unsigned>(d.month()) - 1;
  };
  const auto floor_div = [](std::int64_t x, std::int64_t y) {
    return x / y - ((x % y != 0) && ((x < 0) != (y < 0)) ? 1 : 0);
  };
  if (unit == "year") return static_cast<int>(yb.year()) - static_cast<int>(ya.year());
  if (unit == "quarter") return floor_div(months(yb), 3) - floor_div(months(ya), 3);
  if (unit == "month") return months(yb) - months(ya);
  const std::int64_t len = unit == "week"     ? 7 * kDay
                           : unit == "day"    ? kDay
                           : unit == "hour"   ? 3'600'000'000LL
                           : unit == "minute" ? 60'000'000
                                              : 1'000'000;
  return (trunc_ref(unit, b) - trunc_ref(unit, a)) / len;
}

// ---- strings ---------------------------------------------------------------------------------

std::vector<std::string> chars_of(const std::string& s) {
  std::vector<std::string> out;
  for (size_t k = 0; k < s.size(); ++k) {
    if ((static_cast<unsigned char>(s[k]) & 0xC0) == 0x80) {
      out.back() += s[k];
    } else {
      out.emplace_back(1, s[k]);
    }
  }
  return out;
}
std::string substr_ref(const std::string& s, std::int64_t start, optional<std::int64_t> len) {
  const auto cs = chars_of(s);
  const auto n = static_cast<std::int64_t>(cs.size());
  if (start < 0) start = std::max<std::int64_t>(n + start + 1, 1);
  std::int64_t end = n + 1;
  if (len) end = std::min(end, start + std::max<std::int64_t>(*len, 0));
  std::string out;
  for (std::int64_t c = std::max<std::int64_t>(start, 1); c < end; ++c)
    out += cs[static_cast<size_t>(c - 1)];
  return out;
}
// LIKE by recursion over characters: the obvious definition.
bool like_ref(const std::vector<std::string>& s, size_t si, const std::string& p, size_t pi) {
  if (pi == p.size()) return si == s.size();
  if (p[pi] == '%') {
    for (size_t k = si; k <= s.size(); ++k) {
      if (like_ref(s, k, p, pi + 1)) return true;
    }
    return false;
  }
  if (si == s.size()) return false;
  if (p[pi] == '_') return like_ref(s, si + 1, p, pi + 1);
  // a literal character of the pattern (possibly multi-byte)
  size_t len = 1;
  while (pi + len < p.size() && (static_cast<unsigned char>(p[pi + len]) & 0xC0) == 0x80)
    ++len;
  return p.compare(pi, len, s[si]) == 0 && like_ref(s, si + 1, p, pi + len);
}
bool like(const std::string& s, const std::string& p) {
  return like_ref(chars_of(s), 0, p, 0);
}
std::string lower_ascii(std::string s) {
  for (auto& c : s)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return s;
}
std::string upper_ascii(std::string s) {
  for (auto& c : s)
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  return s;
}
std::string ts_text(std::int64_t t) {
  const auto d = ymd(t);
  const std::int64_t m = micros_of_day(t);
  std::string out =
      fmt::format("{:04d}-{:02d}-{:02d} {:02d}:{:02d}:{:02d}", static_cast<int>(d.year()),
                  static_cast<unsigned>(d.month()), static_cast<unsigned>(d.day()),
                  m / 3'600'000'000LL, m / 60'000'000 % 60, m / 1'000'000 % 60);
  if (m % 1'000'000 != 0) out += fmt::format(".{:06d}", m % 1'000'000);
  return out;
}

std::string config_error(const std::string& text, const Table& t) {
  try {
    Expression::parse(text).result_type(t.schema());
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "no error";
}

std::string input_error(const std::string& text, const Table& t) {
  try {
    Expression::parse(text).evaluate(t);
  } catch (const InputError& e) {
    return e.what();
  }
  return "no error";
}

bool starts_with(const std::string& s, const std::string& prefix) {
  return s.rfind(prefix, 0) == 0;
}

}  // namespace

TEST(ExpressionFunctions, MathMatchesScalarReference) {
  const Table t = random_table(7, 3000);
  expect_values<std::int64_t>(t, "abs(i)", DataType::kInt64, [](const Row& r) {
    return map1(r.i(), [](std::int64_t v) { return v < 0 ? -v : v; });
  });
  expect_values<double>(t, "abs(x)", DataType::kFloat64, [](const Row& r) {
    return map1(r.x(), [](double v) { return std::fabs(v); });
  });
  expect_values<std::int64_t>(
      t, "round(i) + floor(i) - ceil(j)", DataType::kInt64,
      [](const Row& r) { return map1(r.i(), [&](std::int64_t v) { return v + v - r.j(); }); });
  expect_values<double>(t, "round(x)", DataType::kFloat64, [](const Row& r) {
    return map1(r.x(), [](double v) { return std::round(v); });
  });
  expect_values<double>(t, "round(x, 1)", DataType::kFloat64, [](const Row& r) {
    return map1(r.x(), [](double v) { return std::round(v * 10.0) / 10.0; });
  });
  expect_values<double>(t, "floor(x) + ceil(x)", DataType::kFloat64, [](const Row& r) {
    return map1(r.x(), [](double v) { return std::floor(v) + std::ceil(v); });
  });
  expect_values<double>(t, "sqrt(abs(x)) + exp(x / 10)", DataType::kFloat64, [](const Row& r) {
    return map1(r.x(), [](double v) { return std::sqrt(std::fabs(v)) + std::exp(v / 10); });
  });
  expect_values<double>(
      t, "log(1 + abs(x)) - ln(abs(j) + 1) + log10(abs(x) + 2) * log2(abs(x) + 3)",
      DataType::kFloat64, [](const Row& r) {
        return map1(r.x(), [&](double v) {
          return std::log(1 + std::fabs(v)) - std::log(static_cast<double>(std::abs(r.j()) + 1)) +
                 std::log10(std::fabs(v) + 2) * std::log2(std::fabs(v) + 3);
        });
      });
  expect_values<double>(t, "pow(x, 2) + pow(i, j)", DataType::kFloat64,
                        [](const Row& r) -> optional<double> {
                          if (!r.x() || !r.i()) return std::nullopt;
                          volatile double two = 2.0;  // a real pow call, as the kernel makes
                          return std::pow(*r.x(), two) +
                                 std::pow(static_cast<double>(*r.i()), static_cast<double>(r.j()));
                        });
}

TEST(ExpressionFunctions, StringsMatchScalarReferenceOnDictionaryAndPlainColumns) {
  const Table t = random_table(8, 3000);
  for (const char* c : {"s", "p"}) {
    const std::string col = c;
    auto get = [col](const Row& r) { return col == "s" ? r.s() : r.p(); };
    expect_values<std::string>(t, "lower(" + col + ")", DataType::kString,
                               [&](const Row& r) { return map1(get(r), lower_ascii); });
    expect_values<std::string>(t, "upper(" + col + ")", DataType::kString,
                               [&](const Row& r) { return map1(get(r), upper_ascii); });
    expect_values<std::int64_t>(t, "length(" + col + ")", DataType::kInt64, [&](const Row& r) {
      return map1(get(r), [](const std::string& v) {
        return static_cast<std::int64_t>(chars_of(v).size());
      });
    });
    expect_values<std::string>(t, "substr(" + col + ", j)", DataType::kString, [&](const Row& r) {
      return map1(get(r), [&](const std::string& v) { return substr_ref(v, r.j(), std::nullopt); });
    });
    expect_values<std::string>(t, "substr(" + col + ", 2, i)", DataType::kString,
                               [&](const Row& r) -> optional<std::string> {
                                 if (!get(r) || !r.i()) return std::nullopt;
                                 return substr_ref(*get(r), 2, *r.i());
                               });
    expect_values<std::string>(t, "substr(" + col + ", -2)", DataType::kString, [&](const Row& r) {
      return map1(get(r), [](const std::string& v) { return substr_ref(v, -2, std::nullopt); });
    });
    for (const std::string lit : {"a", "E", "", "DE", "\xc3\xa9"}) {
      expect_values<bool>(
          t, "starts_with(" + col + ", '" + lit + "')", DataType::kBool, [&](const Row& r) {
            return map1(get(r), [&](const std::string& v) { return v.rfind(lit, 0) == 0; });
          });
      expect_values<bool>(
          t, "contains(" + col + ", '" + lit + "')", DataType::kBool, [&](const Row& r) {
            return map1(get(r),
                        [&](const std::string& v) { return v.find(lit) != std::string::npos; });
          });
    }
    for (const std::string pat :
         {"%a%", "_E", "a%", "%", "", "_", "%_%_", "h_llo", "%\xc3\xaf", "a%b%", "%e%e%"}) {
      expect_values<bool>(t, col + " like '" + pat + "'", DataType::kBool, [&](const Row& r) {
        return map1(get(r), [&](const std::string& v) { return like(v, pat); });
      });
      expect_values<bool>(t, col + " not like '" + pat + "'", DataType::kBool, [&](const Row& r) {
        return map1(get(r), [&](const std::string& v) { return !like(v, pat); });
      });
    }
    expect_values<bool>(
        t, col + " in ('DE', 'FR', 'ZZ', 'apple')", DataType::kBool, [&](const Row& r) {
          return map1(get(r),
                      [](const std::string& v) { return v == "DE" || v == "FR" || v == "apple"; });
        });
    // SQL: no match and a null in the list is null.
    expect_values<bool>(t, col + " not in ('DE', null)", DataType::kBool,
                        [&](const Row& r) -> optional<bool> {
                          if (!get(r) || *get(r) != "DE") return std::nullopt;
                          return false;
                        });
  }
  // Column against column: the other encoding, and a column pattern.
  expect_values<bool>(t, "starts_with(p, s) or p like s", DataType::kBool,
                      [](const Row& r) -> optional<bool> {
                        if (!r.p() || !r.s()) return std::nullopt;
                        return r.p()->rfind(*r.s(), 0) == 0 || like(*r.p(), *r.s());
                      });
  expect_values<std::string>(t, "concat(s, '-', i, '/', b, p)", DataType::kString,
                             [](const Row& r) -> optional<std::string> {
                               if (!r.s() || !r.i() || !r.b() || !r.p()) return std::nullopt;
                               return *r.s() + "-" + std::to_string(*r.i()) + "/" +
                                      (*r.b() ? "true" : "false") + *r.p();
                             });
  // Strings against a list with a column: the comparison per value.
  expect_values<bool>(t, "p not in (s, 'apple')", DataType::kBool,
                      [](const Row& r) -> optional<bool> {
                        if (!r.p()) return std::nullopt;
                        if (*r.p() == "apple" || (r.s() && *r.s() == *r.p())) return false;
                        if (!r.s()) return std::nullopt;
                        return true;
                      });
  expect_values<bool>(t, "i in (1, 2, j)", DataType::kBool, [](const Row& r) {
    return map1(r.i(), [&](std::int64_t v) { return v == 1 || v == 2 || v == r.j(); });
  });
}

TEST(ExpressionFunctions, ConditionalsAndCasts) {
  const Table t = random_table(9, 3000);
  expect_values<std::int64_t>(t, "coalesce(i, j)", DataType::kInt64,
                              [](const Row& r) { return optional(r.i() ? *r.i() : r.j()); });
  expect_values<double>(t, "coalesce(null, x, i)", DataType::kFloat64,
                        [](const Row& r) -> optional<double> {
                          if (r.x()) return *r.x();
                          if (r.i()) return static_cast<double>(*r.i());
                          return std::nullopt;
                        });
  expect_values<std::string>(t, "coalesce(s, p)", DataType::kString,
                             [](const Row& r) { return r.s() ? r.s() : r.p(); });
  expect_values<std::int64_t>(t, "if(b, i, j)", DataType::kInt64,
                              [](const Row& r) -> optional<std::int64_t> {
                                if (r.b() && *r.b()) return r.i();
                                return r.j();  // false and null conditions take the else branch
                              });
  expect_values<std::string>(t, "if(b, s, 'none')", DataType::kString,
                             [](const Row& r) -> optional<std::string> {
                               if (r.b() && *r.b()) return r.s();
                               return std::string("none");
                             });
  expect_values<std::string>(t, "case when i > 0 then 'pos' when i < 0 then p end",
                             DataType::kString, [](const Row& r) -> optional<std::string> {
                               if (r.i() && *r.i() > 0) return std::string("pos");
                               if (r.i() && *r.i() < 0) return r.p();
                               return std::nullopt;
                             });
  expect_values<double>(t, "CASE WHEN x > 10 THEN x WHEN b THEN i ELSE -1 END", DataType::kFloat64,
                        [](const Row& r) -> optional<double> {
                          if (r.x() && *r.x() > 10) return *r.x();
                          if (r.b() && *r.b())
                            return map1(r.i(),
                                        [](std::int64_t v) { return static_cast<double>(v); });
                          return -1.0;
                        });
  expect_values<std::string>(t, "cast(i as string)", DataType::kString, [](const Row& r) {
    return map1(r.i(), [](std::int64_t v) { return std::to_string(v); });
  });
  expect_values<std::int64_t>(
      t, "cast(cast(i as string) as int64) - i", DataType::kInt64,
      [](const Row& r) { return map1(r.i(), [](std::int64_t) { return std::int64_t{0}; }); });
  expect_values<double>(t, "cast(cast(x as string) as float64)", DataType::kFloat64,
                        [](const Row& r) { return r.x(); });
  expect_values<std::int64_t>(t, "cast(x as int64)", DataType::kInt64, [](const Row& r) {
    return map1(r.x(), [](double v) { return static_cast<std::int64_t>(std::round(v)); });
  });
  expect_values<std::int64_t>(t, "cast(b as int64) + cast(cast(i as bool) as int64)",
                              DataType::kInt64, [](const Row& r) -> optional<std::int64_t> {
                                if (!r.b() || !r.i()) return std::nullopt;
                                return (*r.b() ? 1 : 0) + (*r.i() != 0 ? 1 : 0);
                              });
  expect_values<bool>(t, "cast(x as bool)", DataType::kBool,
                      [](const Row& r) { return map1(r.x(), [](double v) { return v != 0.0; }); });
  expect_values<std::string>(t, "cast(ts as string)", DataType::kString,
                             [](const Row& r) { return map1(r.ts(), ts_text); });
  expect_values<std::int64_t>(t, "cast(cast(ts as string) as timestamp)", DataType::kTimestamp,
                              [](const Row& r) { return r.ts(); });
  expect_values<std::int64_t>(t, "cast(ts as int64) + 0 * cast(cast(ts as int64) as timestamp)",
                              DataType::kInt64, [](const Row& r) { return r.ts(); });
  expect_values<bool>(t, "cast(lower(cast(b as string)) as bool) = b", DataType::kBool,
                      [](const Row& r) { return map1(r.b(), [](bool) { return true; }); });
}

TEST(ExpressionFunctions, TimestampsMatchTheChronoCalendar) {
  const Table t = random_table(10, 3000);
  using namespace std::chrono;
  expect_values<std::int64_t>(
      t, "year(ts) * 10000 + month(ts) * 100 + day(ts)", DataType::kInt64, [](const Row& r) {
        return map1(r.ts(), [](std::int64_t v) {
          const auto d = ymd(v);
          return static_cast<std::int64_t>(static_cast<int>(d.year())) * 10000 +
                 static_cast<unsigned>(d.month()) * 100 + static_cast<unsigned>(d.day());
        });
      });
  expect_values<std::int64_t>(t, "hour(ts) * 100 + minute(ts)", DataType::kInt64, [](const Row& r) {
    return map1(r.ts(), [](std::int64_t v) {
      const std::int64_t m = micros_of_day(v);
      return m / 3'600'000'000LL * 100 + m / 60'000'000 % 60;
    });
  });
  expect_values<std::int64_t>(t, "dayofweek(ts)", DataType::kInt64, [](const Row& r) {
    return map1(r.ts(), [](std::int64_t v) {
      return static_cast<std::int64_t>(weekday{day_of(v)}.c_encoding());
    });
  });
  for (const std::string unit :
       {"year", "quarter", "month", "week", "day", "hour", "minute", "second"}) {
    expect_values<std::int64_t>(
        t, "date_trunc('" + unit + "', ts)", DataType::kTimestamp, [&](const Row& r) {
          return map1(r.ts(), [&](std::int64_t v) { return trunc_ref(unit, v); });
        });
    expect_values<std::int64_t>(t, "date_diff('" + unit + "', ts, ts2)", DataType::kInt64,
                                [&](const Row& r) -> optional<std::int64_t> {
                                  if (!r.ts() || !r.ts2()) return std::nullopt;
                                  return diff_ref(unit, *r.ts(), *r.ts2());
                                });
  }
  // Literals typed by context, on either side, in lists and in branches.
  const std::int64_t jan = micros_of(sys_days{2024y / January / 1});
  const std::int64_t noon = micros_of(sys_days{1969y / July / 20}) + 12 * 3'600'000'000LL + 500'000;
  expect_values<bool>(
      t, "ts >= '2024-01-01' or '1969-07-20 12:00:00.5' = ts2", DataType::kBool,
      [&](const Row& r) -> optional<bool> {
        const optional<bool> a = map1(r.ts(), [&](std::int64_t v) { return v >= jan; });
        const optional<bool> b = map1(r.ts2(), [&](std::int64_t v) { return v == noon; });
        if ((a && *a) || (b && *b)) return true;
        if (!a || !b) return std::nullopt;
        return false;
      });
  expect_values<bool>(t, "date_trunc('year', ts) in ('2024-01-01', '1999-01-01T00:00:00Z')",
                      DataType::kBool, [&](const Row& r) {
                        return map1(r.ts(), [&](std::int64_t v) {
                          const std::int64_t y = trunc_ref("year", v);
                          return y == jan || y == micros_of(sys_days{1999y / January / 1});
                        });
                      });
  expect_values<std::int64_t>(t, "coalesce(ts, '2024-01-01')", DataType::kTimestamp,
                              [&](const Row& r) { return optional(r.ts() ? *r.ts() : jan); });
  expect_values<std::int64_t>(
      t, "if(b, '2024-01-01', ts)", DataType::kTimestamp,
      [&](const Row& r) { return r.b() && *r.b() ? optional(jan) : r.ts(); });
  // Arithmetic on timestamps stays microseconds (as before functions existed).
  expect_values<std::int64_t>(t, "ts2 - ts", DataType::kInt64,
                              [](const Row& r) -> optional<std::int64_t> {
                                if (!r.ts() || !r.ts2()) return std::nullopt;
                                return *r.ts2() - *r.ts();
                              });
}

TEST(ExpressionFunctions, HashIsStableAndEncodingIndependent) {
  const Table t = random_table(11, 2000);
  // The same strings, plain instead of dictionary-encoded, hash the same.
  Table u = t;
  Column plain = Column::plain_strings();
  for (idx_t r = 0; r < t.num_rows(); ++r)
    plain.plain().push_back(t.column("s").is_valid(r) ? t.column("s").string_at(r) : "");
  plain.validity() = t.column("s").validity();
  u.replace_column(*u.schema().find("p"), std::move(plain));
  const Column a = Expression::parse("hash(s, i)").evaluate(t);
  const Column b = Expression::parse("hash(p, i)").evaluate(u);
  const Column c = Expression::parse("hash(s, i) % 8").evaluate(t);
  ASSERT_EQ(a.type(), DataType::kInt64);
  std::set<std::int64_t> distinct;
  for (idx_t r = 0; r < t.num_rows(); ++r) {
    const bool valid = t.column("s").is_valid(r) && t.column("i").is_valid(r);
    ASSERT_EQ(a.is_valid(r), valid);
    if (!valid) continue;
    const auto k = static_cast<size_t>(r);
    ASSERT_EQ(a.values<std::int64_t>()[k], b.values<std::int64_t>()[k]);
    ASSERT_GE(a.values<std::int64_t>()[k], 0);
    ASSERT_EQ(c.values<std::int64_t>()[k], a.values<std::int64_t>()[k] % 8);
    distinct.insert(a.values<std::int64_t>()[k]);
  }
  // Every (s, i) pair present gets its own hash (a few hundred pairs, no collisions expected).
  std::set<std::pair<std::string, std::int64_t>> pairs;
  for (idx_t r = 0; r < t.num_rows(); ++r) {
    if (t.column("s").is_valid(r) && t.column("i").is_valid(r))
      pairs.insert({std::string(t.column("s").string_at(r)),
                    t.column("i").values<std::int64_t>()[static_cast<size_t>(r)]});
  }
  EXPECT_EQ(distinct.size(), pairs.size());
  // -0.0 and 0.0 are one value; so are all NaNs (pow(-8, 1/3) is one).
  const Column z =
      Expression::parse(
          "hash(0.0) = hash(-0.0) and hash(pow(-8, 1.0 / 3)) = hash(-pow(-8, 1.0 / 3)) "
          "and hash(1) != hash(2)")
          .evaluate(t);
  EXPECT_EQ(z.values<std::uint8_t>()[0], 1);
}

TEST(ExpressionFunctions, RandDependsOnlyOnSeedStreamAndGlobalRow) {
  const Table t = random_table(12, 1000);
  const Expression e = Expression::parse("rand()");
  EXPECT_TRUE(e.uses_random());
  EXPECT_FALSE(Expression::parse("hash(x) > 3").uses_random());
  ops::EvalContext whole{42, 7, 0};
  const Column all = e.evaluate(t, whole);
  ASSERT_EQ(all.type(), DataType::kFloat64);
  // The same rows split at any point, each part evaluated with its global offset.
  for (idx_t split : {idx_t{0}, idx_t{1}, idx_t{333}, idx_t{999}}) {
    std::vector<idx_t> first, second;
    for (idx_t r = 0; r < t.num_rows(); ++r)
      (r < split ? first : second).push_back(r);
    const Column a = e.evaluate(t.take(first), {42, 7, 0});
    const Column b = e.evaluate(t.take(second), {42, 7, split});
    for (idx_t r = 0; r < t.num_rows(); ++r) {
      const double want = all.values<double>()[static_cast<size_t>(r)];
      const double got = r < split ? a.values<double>()[static_cast<size_t>(r)]
                                   : b.values<double>()[static_cast<size_t>(r - split)];
      ASSERT_EQ(got, want) << "split " << split << " row " << r;
    }
  }
  // Values in [0, 1) with a plausible mean; another seed, stream or call position differs.
  double sum = 0;
  for (double v : all.values<double>()) {
    ASSERT_GE(v, 0.0);
    ASSERT_LT(v, 1.0);
    sum += v;
  }
  EXPECT_NEAR(sum / 1000, 0.5, 0.05);
  const Column other_seed = e.evaluate(t, {43, 7, 0});
  const Column other_stream = e.evaluate(t, {42, 8, 0});
  const Column two = Expression::parse("rand() = rand()").evaluate(t, whole);
  int same_seed = 0, same_stream = 0, same_call = 0;
  for (size_t k = 0; k < 1000; ++k) {
    same_seed += other_seed.values<double>()[k] == all.values<double>()[k];
    same_stream += other_stream.values<double>()[k] == all.values<double>()[k];
    same_call += two.values<std::uint8_t>()[k];
  }
  EXPECT_EQ(same_seed, 0);
  EXPECT_EQ(same_stream, 0);
  EXPECT_EQ(same_call, 0);
}

TEST(ExpressionFunctions, BranchesNotTakenRaiseNothing) {
  const Table t = random_table(13, 500);
  // x has negative values and zeros: log(x) alone fails, guarded it does not.
  const std::string log_error = input_error("log(x)", t);
  EXPECT_TRUE(
      starts_with(log_error, "expression 'log(x)': log at column 1: cannot take the logarithm of "))
      << log_error;
  EXPECT_EQ(
      input_error("sqrt(-1.5)", t)
              .find("sqrt at column 1: cannot take the square root of a negative number (-1.5)") !=
          std::string::npos,
      true);
  expect_values<double>(t, "if(x > 0, log(x), null)", DataType::kFloat64,
                        [](const Row& r) -> optional<double> {
                          if (r.x() && *r.x() > 0) return std::log(*r.x());
                          return std::nullopt;
                        });
  expect_values<double>(
      t, "case when x >= 0 then sqrt(x) else sqrt(-x) end", DataType::kFloat64,
      [](const Row& r) { return map1(r.x(), [](double v) { return std::sqrt(std::fabs(v)); }); });
  // A null row's stand-in value raises nothing either.
  expect_values<double>(t, "log(if(x > 0, x, null))", DataType::kFloat64,
                        [](const Row& r) -> optional<double> {
                          if (r.x() && *r.x() > 0) return std::log(*r.x());
                          return std::nullopt;
                        });
  // coalesce evaluates a later argument only for rows the earlier ones left null.
  // Rows with i valid would overflow in the second argument; they never evaluate it.
  expect_values<std::int64_t>(
      t, "coalesce(i, 9223372036854775807 + if(i is null, 0, 1))", DataType::kInt64,
      [](const Row& r) {
        return optional(r.i() ? *r.i() : std::numeric_limits<std::int64_t>::max());
      });
  const std::string overflow = input_error("abs(-9223372036854775807 - 1 + 0 * i)", t);
  EXPECT_NE(overflow.find("abs at column 1: abs(-9223372036854775808) does not fit int64"),
            std::string::npos)
      << overflow;
  EXPECT_EQ(input_error("if(i > 100, abs(-9223372036854775807 - 1 + 0 * i), 0)", t), "no error");
  const std::string bad_cast = input_error("cast(p as int64)", t);
  EXPECT_TRUE(starts_with(bad_cast, "expression 'cast(p as int64)': cast at column 1: '"))
      << bad_cast;
  EXPECT_NE(bad_cast.find("' is not an int64 (cast only the rows that are"), std::string::npos)
      << bad_cast;
  EXPECT_EQ(input_error("if(p = '42', cast(p as int64), 0)", t), "no error");
}

TEST(ExpressionFunctions, ParseAndTypeErrorsNameTheColumn) {
  const Table t = random_table(14, 3);
  EXPECT_TRUE(starts_with(config_error("1 + lgo(x)", t),
                          "expression '1 + lgo(x)': unknown function 'lgo' at column 5; did you "
                          "mean 'log'? (functions: cast, if, coalesce, abs, "))
      << config_error("1 + lgo(x)", t);
  EXPECT_EQ(config_error("log(x, 2)", t),
            "expression 'log(x, 2)': log(number) at column 1 takes 1 argument, got 2");
  EXPECT_EQ(config_error("substr(p)", t),
            "expression 'substr(p)': substr(string, int start[, int length]) at column 1 takes 2 "
            "to 3 arguments, got 1");
  EXPECT_EQ(config_error("rand(1)", t),
            "expression 'rand(1)': rand() at column 1 takes 0 arguments, got 1");
  EXPECT_EQ(
      config_error("x > 0 and log(s) > 1", t),
      "expression 'x > 0 and log(s) > 1': log at column 11 takes log(number), got (a string)");
  EXPECT_EQ(config_error("year(x)", t),
            "expression 'year(x)': year at column 1 takes year(timestamp), got (a float)");
  EXPECT_EQ(config_error("date_trunc('dya', ts)", t),
            "expression 'date_trunc('dya', ts)': date_trunc at column 1: unknown unit 'dya'; did "
            "you mean 'day'? (units: year, quarter, month, week, day, hour, minute, second)");
  EXPECT_EQ(config_error("date_trunc(p, ts)", t),
            "expression 'date_trunc(p, ts)': date_trunc at column 1: the unit must be a string "
            "literal such as 'day'");
  EXPECT_EQ(config_error("ts >= '2024-13-01'", t),
            "expression 'ts >= '2024-13-01'': '2024-13-01' at column 7 is compared with a "
            "timestamp but is not one (write YYYY-MM-DD or YYYY-MM-DD HH:MM:SS[.ffffff], UTC)");
  EXPECT_TRUE(starts_with(config_error("ts >= p", t),
                          "expression 'ts >= p': operator '>=' at column 4 needs two numbers, two "
                          "strings, two booleans or a timestamp and a 'YYYY-MM-DD' literal"))
      << config_error("ts >= p", t);
  EXPECT_EQ(config_error("coalesce(i, s)", t),
            "expression 'coalesce(i, s)': the values of coalesce at column 1 must have one type, "
            "got an integer and a string");
  EXPECT_EQ(config_error("if(i, 1, 2)", t),
            "expression 'if(i, 1, 2)': the condition of if at column 1 must be a boolean, got an "
            "integer");
  EXPECT_EQ(config_error("case when i then 1 end", t),
            "expression 'case when i then 1 end': the condition of case at column 1 must be a "
            "boolean, got an integer");
  EXPECT_EQ(config_error("1 + if(b, 1, 'a')", t),
            "expression '1 + if(b, 1, 'a')': the values of if at column 5 must have one type, got "
            "an integer and a string");
  EXPECT_EQ(
      config_error("cast(ts as bool)", t),
      "expression 'cast(ts as bool)': cast at column 1 cannot turn a timestamp into a boolean");
  EXPECT_EQ(config_error("cast(x as int32)", t),
            "expression 'cast(x as int32)': unexpected 'int32' at column 11; expected a type: "
            "int64, float64, string, bool or timestamp");
  EXPECT_EQ(config_error("s in (1, 2)", t),
            "expression 's in (1, 2)': operator 'in' at column 3 needs values of one type "
            "(numbers, strings, booleans), got a string and an integer");
  EXPECT_EQ(config_error("i like 'a%'", t),
            "expression 'i like 'a%'': operator 'like' at column 3 needs a string and a string "
            "pattern, got an integer and a string");
  EXPECT_EQ(config_error("case when b then 1", t),
            "expression 'case when b then 1': unexpected end of expression at column 19; expected "
            "'when', 'else' or 'end'");
  EXPECT_EQ(config_error("s not between 1", t),
            "expression 's not between 1': unexpected 'not' at column 3; expected 'in', 'like' or "
            "an operator after the value");
  EXPECT_EQ(config_error("s in 'DE'", t),
            "expression 's in 'DE'': unexpected ''DE'' at column 6; expected '(' starting the list "
            "of values");
  EXPECT_EQ(config_error("concat(s,)", t),
            "expression 'concat(s,)': unexpected ')' at column 10; expected a value (number, "
            "'string', column name, null, true, false or '(')");
  // Function names are case-insensitive; a quoted name is always a column.
  EXPECT_EQ(config_error("LOG(x) > ABS(i)", t), "no error");
  EXPECT_TRUE(starts_with(config_error("\"log\"(x)", t),
                          "expression '\"log\"(x)': unexpected '(' at column 6"))
      << config_error("\"log\"(x)", t);
}

TEST(ExpressionFunctions, TableListsEveryFunctionOnce) {
  const auto functions = ops::expression_functions();
  std::set<std::string> names;
  for (const auto& f : functions) {
    EXPECT_TRUE(names.insert(f.name).second) << f.name;
    EXPECT_FALSE(f.usage.empty());
    EXPECT_FALSE(f.summary.empty());
  }
  for (const char* required :
       {"abs",   "round", "floor",  "ceil",      "sqrt",       "exp",         "log",      "pow",
        "lower", "upper", "length", "substr",    "concat",     "starts_with", "contains", "year",
        "month", "day",   "hour",   "dayofweek", "date_trunc", "date_diff",   "hash",     "rand"})
    EXPECT_TRUE(names.count(required)) << required;
}

TEST(ExpressionFunctions, ExtremeTimestampsAndDeepCalls) {
  Column ts(DataType::kTimestamp);
  ts.values<std::int64_t>() = {std::numeric_limits<std::int64_t>::min(),
                               std::numeric_limits<std::int64_t>::max(), 0, -1};
  Table t;
  t.add_column("ts", std::move(ts));
  // 2^63 microseconds is about 292277 years either side of 1970.
  const Column years = Expression::parse("year(ts)").evaluate(t);
  EXPECT_EQ(years.values<std::int64_t>()[0], -290308);
  EXPECT_EQ(years.values<std::int64_t>()[1], 294247);
  EXPECT_EQ(years.values<std::int64_t>()[3], 1969);
  const Column seconds =
      Expression::parse("date_diff('second', ts, cast(0 as timestamp))").evaluate(t);
  EXPECT_EQ(seconds.values<std::int64_t>()[0], 9223372036855);
  EXPECT_EQ(seconds.values<std::int64_t>()[1], -9223372036854);
  EXPECT_EQ(seconds.values<std::int64_t>()[3], 1);
  // One microsecond before the epoch is in 1969's fourth quarter: one boundary crossed.
  const Column quarters =
      Expression::parse("date_diff('quarter', ts, cast(0 as timestamp))").evaluate(t);
  EXPECT_EQ(quarters.values<std::int64_t>()[3], 1);
  EXPECT_EQ(quarters.values<std::int64_t>()[2], 0);
  // INT64_MIN is in December of year -290308: quarter index year * 4 + 3.
  EXPECT_EQ(quarters.values<std::int64_t>()[0], 1970 * 4 - (-290308 * 4 + 3));
  // The start of INT64_MIN's day is before INT64_MIN: an error naming it, unless not taken.
  const std::string e = input_error("date_trunc('day', ts)", t);
  EXPECT_NE(e.find("date_trunc at column 1: the start of the day of timestamp -9223372036854775808 "
                   "is out of range"),
            std::string::npos)
      << e;
  EXPECT_EQ(input_error("if(ts > 0, date_trunc('day', ts), null)", t), "no error");
  // Calls, case and in lists nest like parentheses: deeper than the limit is a ConfigError.
  for (int kind = 0; kind < 3; ++kind) {
    std::string text;
    for (int k = 0; k < 5000; ++k)
      text += kind == 0 ? "abs(" : kind == 1 ? "case when true then " : "1 in (";
    text += "1";
    for (int k = 0; k < 5000; ++k)
      text += kind == 1 ? " end" : ")";
    const std::string error = config_error(text, t);
    EXPECT_NE(error.find("the expression nests more than 1000 levels deep"), std::string::npos)
        << error.substr(0, 300);
  }
}
