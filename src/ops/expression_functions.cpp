// The expression language's function table: one entry per function (name, arity, usage, type
// rule, kernel). Adding a function is one entry in functions() below plus its kernel; the parser's
// arity check, its did-you-mean list, type checking (`validate`) and the docs loop over the table.

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>

#include "expression_internal.hpp"
#include "shardflow/common/error.hpp"
#include "shardflow/common/hash.hpp"
#include "shardflow/common/suggest.hpp"
#include "shardflow/table/timestamp.hpp"

namespace shardflow::ops::detail {

// =============================================================================================
// Shared helpers
// =============================================================================================

// The expression as messages quote it: whole when short, else its start, so a megabyte of hostile
// input does not become a megabyte of error message.
std::string quoted(std::string_view text) {
  constexpr std::size_t kShown = 80;
  if (text.size() <= kShown) return std::string(text);
  return std::string(text.substr(0, kShown - 3)) + "...";
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

const char* kind_name(VK k) {
  switch (k) {
    case VK::kInt:
      return "an integer";
    case VK::kFloat:
      return "a float";
    case VK::kBool:
      return "a boolean";
    case VK::kStr:
      return "a string";
    case VK::kTime:
      return "a timestamp";
    case VK::kNull:
      return "null";
  }
  return "?";
}

bool is_literal_string(const Val& v) {
  return v.kind == VK::kStr && v.str_col == nullptr;
}

std::vector<std::uint8_t> and_valid(const std::vector<std::uint8_t>& a,
                                    const std::vector<std::uint8_t>& b) {
  if (a.empty()) return b;
  if (b.empty()) return a;
  std::vector<std::uint8_t> v(a.size());
  for (size_t k = 0; k < a.size(); ++k)
    v[k] = a[k] & b[k];
  return v;
}

table::Buffer<double> as_double(const Val& v) {
  if (v.kind == VK::kFloat) return v.f;
  table::Buffer<double> d(v.i.size());
  for (size_t k = 0; k < d.size(); ++k)
    d[k] = static_cast<double>(v.i[k]);
  return d;
}

Val make_strings(table::PlainStrings strings) {
  auto column = std::make_shared<table::Column>(table::Column::plain_strings());
  column->plain() = std::move(strings);
  Val v;
  v.kind = VK::kStr;
  v.str_col = column.get();
  v.owned = std::move(column);
  return v;
}

void append_text(const Val& v, size_t k, std::string& out) {
  switch (v.kind) {
    case VK::kInt:
      out += std::to_string(v.i[k]);
      break;
    case VK::kFloat: {
      const double x = v.f[k];
      std::string s = fmt::format("{}", x);
      // 1.0 reads "1.0", not "1": the text stays a float (as DuckDB and the CSV writer write it).
      if (std::isfinite(x) && s.find_first_of(".e") == std::string::npos) s += ".0";
      out += s;
      break;
    }
    case VK::kBool:
      out += v.b[k] ? "true" : "false";
      break;
    case VK::kStr:
      out += str_at(v, k);
      break;
    case VK::kTime:
      table::append_timestamp(v.i[k], out);
      break;
    case VK::kNull:
      break;
  }
}

void TypeCall::bad_args() const {
  std::string got;
  for (size_t k = 0; k < args.size(); ++k)
    got += (k ? ", " : "") + std::string(kind_name(args[k]));
  throw ConfigError("expression '{}': {} at column {} takes {}, got ({})", quoted(text), node.str,
                    node.pos, node.function->usage, got);
}

void TypeCall::fail(const std::string& what) const {
  throw ConfigError("expression '{}': {} at column {}: {}", quoted(text), node.str, node.pos, what);
}

void CallContext::fail(const std::string& what) const {
  const char* name = node.op == Op::kCast ? "cast" : node.str.c_str();
  throw InputError("expression '{}': {} at column {}: {}", quoted(text), name, node.pos, what);
}

namespace {

bool num(VK k) {
  return k == VK::kInt || k == VK::kFloat || k == VK::kNull;
}
bool str(VK k) {
  return k == VK::kStr || k == VK::kNull;
}
bool is_time(VK k) {
  return k == VK::kTime || k == VK::kNull;
}

Val ints(table::Buffer<std::int64_t> values, VK kind = VK::kInt) {
  Val v;
  v.kind = kind;
  v.i = std::move(values);
  return v;
}
Val floats(table::Buffer<double> values) {
  Val v;
  v.kind = VK::kFloat;
  v.f = std::move(values);
  return v;
}
Val bools(table::Buffer<std::uint8_t> values) {
  Val v;
  v.kind = VK::kBool;
  v.b = std::move(values);
  return v;
}

// Where a string argument must be a literal (a unit name), its text, checked at type time.
const ExprNode& literal_arg(const TypeCall& call, size_t k, const char* what) {
  const ExprNode& a = *call.node.args[k];
  if (a.op != Op::kLiteral || a.lit_kind != VK::kStr) {
    call.fail(fmt::format("{} must be a string literal such as 'day'", what));
  }
  return a;
}

// ---- UTF-8 ---------------------------------------------------------------------------------

bool continuation(char c) {
  return (static_cast<unsigned char>(c) & 0xC0) == 0x80;
}
// Byte length of the character starting at s[i].
size_t char_len(std::string_view s, size_t i) {
  size_t j = i + 1;
  while (j < s.size() && continuation(s[j]))
    ++j;
  return j - i;
}
std::int64_t code_points(std::string_view s) {
  std::int64_t n = 0;
  for (char c : s)
    n += continuation(c) ? 0 : 1;
  return n;
}

// =============================================================================================
// Math
// =============================================================================================

VK type_same_number(const TypeCall& c) {
  if (!num(c.args[0])) c.bad_args();
  return c.args[0] == VK::kNull ? VK::kInt : c.args[0];
}
VK type_float_of_numbers(const TypeCall& c) {
  for (VK k : c.args) {
    if (!num(k)) c.bad_args();
  }
  return VK::kFloat;
}

Val eval_abs(const CallContext& c, std::vector<Val>& a) {
  Val& x = a[0];
  x.source = nullptr;
  for (size_t k = 0; k < x.i.size(); ++k) {
    if (x.i[k] == std::numeric_limits<std::int64_t>::min()) {
      if (c.matters(k)) c.fail(fmt::format("abs({}) does not fit int64", x.i[k]));
      continue;
    }
    x.i[k] = x.i[k] < 0 ? -x.i[k] : x.i[k];
  }
  for (auto& f : x.f)
    f = std::fabs(f);
  x.valid.clear();
  return std::move(x);
}

template <double (*F)(double)>
Val eval_float_unary(const CallContext&, std::vector<Val>& a) {
  table::Buffer<double> x = as_double(a[0]);
  for (auto& v : x)
    v = F(v);
  return floats(std::move(x));
}
double floor_of(double x) {
  return std::floor(x);
}
double ceil_of(double x) {
  return std::ceil(x);
}
double exp_of(double x) {
  return std::exp(x);
}

// floor/ceil keep integers as they are.
template <double (*F)(double)>
Val eval_integral(const CallContext& c, std::vector<Val>& a) {
  if (a[0].kind == VK::kInt) {
    Val x = std::move(a[0]);
    x.valid.clear();
    return x;
  }
  return eval_float_unary<F>(c, a);
}

// round(x) half away from zero; round(x, d) to d decimal places (float64). round(int) is the int.
VK type_round(const TypeCall& c) {
  if (!num(c.args[0])) c.bad_args();
  if (c.args.size() == 2) {
    if (c.args[1] != VK::kInt && c.args[1] != VK::kNull) c.bad_args();
    return VK::kFloat;
  }
  return c.args[0] == VK::kNull ? VK::kInt : c.args[0];
}
Val eval_round(const CallContext& c, std::vector<Val>& a) {
  if (a.size() == 1 && a[0].kind == VK::kInt) return eval_integral<floor_of>(c, a);
  table::Buffer<double> x = as_double(a[0]);
  for (size_t k = 0; k < x.size(); ++k) {
    if (a.size() == 1) {
      x[k] = std::round(x[k]);
      continue;
    }
    const std::int64_t d = std::clamp<std::int64_t>(a[1].i[k], -308, 308);
    const double scale = std::pow(10.0, static_cast<double>(d));
    const double r = std::round(x[k] * scale) / scale;
    if (std::isfinite(r)) x[k] = r;  // huge scales: the value is already exact enough
  }
  return floats(std::move(x));
}

// Domain errors as DuckDB (and PostgreSQL) report them: an error naming the value, not a NaN.
Val eval_sqrt(const CallContext& c, std::vector<Val>& a) {
  table::Buffer<double> x = as_double(a[0]);
  for (size_t k = 0; k < x.size(); ++k) {
    if (x[k] < 0 && c.matters(k)) {
      c.fail(
          fmt::format("cannot take the square root of a negative number ({}); guard it with "
                      "if(x >= 0, sqrt(x), null)",
                      x[k]));
    }
    x[k] = std::sqrt(x[k]);
  }
  return floats(std::move(x));
}

template <double (*F)(double)>
Val eval_log(const CallContext& c, std::vector<Val>& a) {
  table::Buffer<double> x = as_double(a[0]);
  for (size_t k = 0; k < x.size(); ++k) {
    if (x[k] <= 0 && c.matters(k)) {
      c.fail(
          fmt::format("cannot take the logarithm of {} ({}); guard it with if(x > 0, {}(x), "
                      "null)",
                      x[k] == 0 ? "zero" : "a negative number", x[k], c.node.str));
    }
    x[k] = F(x[k]);
  }
  return floats(std::move(x));
}
double ln_of(double x) {
  return std::log(x);
}
double log10_of(double x) {
  return std::log10(x);
}
double log2_of(double x) {
  return std::log2(x);
}

Val eval_pow(const CallContext&, std::vector<Val>& a) {
  table::Buffer<double> x = as_double(a[0]);
  const table::Buffer<double> y = as_double(a[1]);
  for (size_t k = 0; k < x.size(); ++k)
    x[k] = std::pow(x[k], y[k]);
  return floats(std::move(x));
}

// =============================================================================================
// Strings
// =============================================================================================

VK type_string_to_string(const TypeCall& c) {
  if (!str(c.args[0])) c.bad_args();
  return VK::kStr;
}

template <int (*F)(int)>
Val eval_case_map(const CallContext& c, std::vector<Val>& a) {
  // ASCII letters only; other bytes (UTF-8 included) pass through.
  const auto mapped = per_string<std::string>(a[0], c.n, [](std::string_view s) {
    std::string out(s);
    for (auto& ch : out)
      ch = static_cast<char>(F(static_cast<unsigned char>(ch)));
    return out;
  });
  table::PlainStrings out;
  for (const auto& s : mapped)
    out.push_back(s);
  return make_strings(std::move(out));
}
int lower_of(int ch) {
  return std::tolower(ch);
}
int upper_of(int ch) {
  return std::toupper(ch);
}

VK type_length(const TypeCall& c) {
  if (!str(c.args[0])) c.bad_args();
  return VK::kInt;
}
Val eval_length(const CallContext& c, std::vector<Val>& a) {
  return ints(per_string<std::int64_t>(a[0], c.n, code_points));
}

VK type_two_strings_to_bool(const TypeCall& c) {
  if (!str(c.args[0]) || !str(c.args[1])) c.bad_args();
  return VK::kBool;
}
template <bool (*F)(std::string_view, std::string_view)>
Val eval_string_test(const CallContext& c, std::vector<Val>& a) {
  if (is_literal_string(a[1])) {
    const std::string& needle = a[1].str_lit;
    return bools(per_string<std::uint8_t>(
        a[0], c.n, [&](std::string_view s) { return static_cast<std::uint8_t>(F(s, needle)); }));
  }
  table::Buffer<std::uint8_t> r(c.n, 0);
  for (size_t k = 0; k < c.n; ++k) {
    if (c.arg_valid(k)) r[k] = F(str_at(a[0], k), str_at(a[1], k)) ? 1 : 0;
  }
  return bools(std::move(r));
}
bool starts_with_of(std::string_view s, std::string_view p) {
  return s.substr(0, p.size()) == p;
}
bool contains_of(std::string_view s, std::string_view p) {
  return s.find(p) != std::string_view::npos;
}

// substr(s, start[, length]) in characters, 1-based; a negative start counts from the end
// (-1 = the last character); the part of [start, start + length) inside the string.
VK type_substr(const TypeCall& c) {
  if (!str(c.args[0])) c.bad_args();
  for (size_t k = 1; k < c.args.size(); ++k) {
    if (c.args[k] != VK::kInt && c.args[k] != VK::kNull) c.bad_args();
  }
  return VK::kStr;
}
Val eval_substr(const CallContext& c, std::vector<Val>& a) {
  table::PlainStrings out;
  for (size_t k = 0; k < c.n; ++k) {
    if (!c.arg_valid(k)) {
      out.push_back({});
      continue;
    }
    const std::string_view s = str_at(a[0], k);
    const std::int64_t chars = code_points(s);
    std::int64_t start = a[1].i[k];
    if (start < 0) start = std::max<std::int64_t>(chars + start + 1, 1);
    std::int64_t end = chars + 1;  // exclusive, in 1-based characters
    if (a.size() == 3) {
      const std::int64_t length = std::max<std::int64_t>(a[2].i[k], 0);
      end = start > std::numeric_limits<std::int64_t>::max() - length
                ? end
                : std::min(end, start + length);
    }
    start = std::max<std::int64_t>(start, 1);
    if (start >= end) {
      out.push_back({});
      continue;
    }
    size_t b = 0, pos = 1;
    while (static_cast<std::int64_t>(pos) < start && b < s.size()) {
      b += char_len(s, b);
      ++pos;
    }
    size_t e = b;
    while (static_cast<std::int64_t>(pos) < end && e < s.size()) {
      e += char_len(s, e);
      ++pos;
    }
    out.push_back(s.substr(b, e - b));
  }
  return make_strings(std::move(out));
}

// concat(a, b, ...): the text of each argument (as cast(x as string)), joined; null if any is.
VK type_concat(const TypeCall&) {
  return VK::kStr;
}
Val eval_concat(const CallContext& c, std::vector<Val>& a) {
  table::PlainStrings out;
  std::string row;
  for (size_t k = 0; k < c.n; ++k) {
    row.clear();
    if (c.arg_valid(k)) {
      for (const Val& v : a)
        append_text(v, k, row);
    }
    out.push_back(row);
  }
  return make_strings(std::move(out));
}

// =============================================================================================
// Timestamps
// =============================================================================================

struct Civil {
  std::int64_t year;
  unsigned month, day;
  std::int64_t days;  // since 1970-01-01
  std::int64_t micros_of_day;
};
Civil civil(std::int64_t micros) {
  Civil c{};
  c.days = micros / table::kMicrosPerDay;
  c.micros_of_day = micros % table::kMicrosPerDay;
  if (c.micros_of_day < 0) {
    c.micros_of_day += table::kMicrosPerDay;
    --c.days;
  }
  table::civil_from_days(c.days, c.year, c.month, c.day);
  return c;
}

VK type_time_part(const TypeCall& c) {
  if (!is_time(c.args[0])) c.bad_args();
  return VK::kInt;
}
template <std::int64_t (*F)(const Civil&)>
Val eval_time_part(const CallContext& c, std::vector<Val>& a) {
  table::Buffer<std::int64_t> r(c.n);
  for (size_t k = 0; k < c.n; ++k)
    r[k] = c.arg_valid(k) ? F(civil(a[0].i[k])) : 0;
  return ints(std::move(r));
}
std::int64_t year_of(const Civil& c) {
  return c.year;
}
std::int64_t month_of(const Civil& c) {
  return c.month;
}
std::int64_t day_of(const Civil& c) {
  return c.day;
}
std::int64_t hour_of(const Civil& c) {
  return c.micros_of_day / (3600 * table::kMicrosPerSecond);
}
std::int64_t minute_of(const Civil& c) {
  return c.micros_of_day / (60 * table::kMicrosPerSecond) % 60;
}
// 0 = Sunday ... 6 = Saturday (DuckDB's dayofweek); 1970-01-01 was a Thursday.
std::int64_t dayofweek_of(const Civil& c) {
  return ((c.days % 7) + 7 + 4) % 7;
}

const std::vector<std::string> kUnits = {"year", "quarter", "month",  "week",
                                         "day",  "hour",    "minute", "second"};

size_t unit_index(const TypeCall& c) {
  const ExprNode& unit = literal_arg(c, 0, "the unit");
  for (size_t u = 0; u < kUnits.size(); ++u) {
    if (iequals(unit.str, kUnits[u])) return u;
  }
  c.fail(fmt::format("unknown unit '{}'{} (units: {})", unit.str, did_you_mean(unit.str, kUnits),
                     fmt::join(kUnits, ", ")));
}
size_t unit_of(const Val& v) {
  for (size_t u = 0; u < kUnits.size(); ++u) {
    if (iequals(v.str_lit, kUnits[u])) return u;
  }
  return 0;  // checked by the type rule
}

// The start of the unit containing `micros` (weeks start on Monday, as ISO and DuckDB), in 128
// bits: the start of the first day or year of an extreme timestamp is before INT64_MIN.
__int128 trunc_to(size_t unit, std::int64_t micros) {
  const Civil c = civil(micros);
  const auto day_start = [](std::int64_t days) {
    return static_cast<__int128>(days) * table::kMicrosPerDay;
  };
  switch (unit) {
    case 0:
      return day_start(table::days_from_civil(c.year, 1, 1));
    case 1:
      return day_start(table::days_from_civil(c.year, (c.month - 1) / 3 * 3 + 1, 1));
    case 2:
      return day_start(table::days_from_civil(c.year, c.month, 1));
    case 3:
      return day_start(c.days - (dayofweek_of(c) + 6) % 7);
    case 4:
      return day_start(c.days);
    default: {
      static constexpr std::int64_t kLength[] = {
          3600 * table::kMicrosPerSecond, 60 * table::kMicrosPerSecond, table::kMicrosPerSecond};
      const std::int64_t length = kLength[unit - 5];
      return day_start(c.days) + c.micros_of_day / length * length;
    }
  }
}

bool fits_int64(__int128 v) {
  return v >= std::numeric_limits<std::int64_t>::min() &&
         v <= std::numeric_limits<std::int64_t>::max();
}

VK type_date_trunc(const TypeCall& c) {
  if (!str(c.args[0]) || !is_time(c.args[1])) c.bad_args();
  unit_index(c);
  return VK::kTime;
}
Val eval_date_trunc(const CallContext& c, std::vector<Val>& a) {
  const size_t unit = unit_of(a[0]);
  table::Buffer<std::int64_t> r(c.n);
  for (size_t k = 0; k < c.n; ++k) {
    r[k] = 0;
    if (!c.arg_valid(k)) continue;
    const __int128 start = trunc_to(unit, a[1].i[k]);
    if (fits_int64(start)) {
      r[k] = static_cast<std::int64_t>(start);
    } else if (c.matters(k)) {
      c.fail(fmt::format("the start of the {} of timestamp {} is out of range", kUnits[unit],
                         a[1].i[k]));
    }
  }
  return ints(std::move(r), VK::kTime);
}

// date_diff(unit, a, b): the number of unit boundaries from a to b (DuckDB's date_diff):
// date_diff('day', '2024-01-01 23:00', '2024-01-02 01:00') = 1.
VK type_date_diff(const TypeCall& c) {
  if (!str(c.args[0]) || !is_time(c.args[1]) || !is_time(c.args[2])) c.bad_args();
  unit_index(c);
  return VK::kInt;
}
std::int64_t floor_div(std::int64_t x, std::int64_t y) {
  return x / y - ((x % y != 0) && ((x < 0) != (y < 0)) ? 1 : 0);
}
std::int64_t months_of(std::int64_t micros) {
  const Civil c = civil(micros);
  return c.year * 12 + static_cast<std::int64_t>(c.month) - 1;
}
Val eval_date_diff(const CallContext& c, std::vector<Val>& a) {
  const size_t unit = unit_of(a[0]);
  table::Buffer<std::int64_t> r(c.n);
  for (size_t k = 0; k < c.n; ++k) {
    if (!c.arg_valid(k)) {
      r[k] = 0;
      continue;
    }
    const std::int64_t x = a[1].i[k], y = a[2].i[k];
    switch (unit) {
      case 0:
        r[k] = civil(y).year - civil(x).year;
        break;
      case 1:
        r[k] = floor_div(months_of(y), 3) - floor_div(months_of(x), 3);
        break;
      case 2:
        r[k] = months_of(y) - months_of(x);
        break;
      case 3:
        r[k] = static_cast<std::int64_t>((trunc_to(3, y) - trunc_to(3, x)) /
                                         (7 * table::kMicrosPerDay));
        break;
      default: {
        static constexpr std::int64_t kLength[] = {
            table::kMicrosPerDay, 3600 * table::kMicrosPerSecond, 60 * table::kMicrosPerSecond,
            table::kMicrosPerSecond};
        r[k] =
            static_cast<std::int64_t>((trunc_to(unit, y) - trunc_to(unit, x)) / kLength[unit - 4]);
        break;
      }
    }
  }
  return ints(std::move(r));
}

// =============================================================================================
// Hashing and random numbers
// =============================================================================================

// hash(x, ...): a stable 63-bit hash of the values (strings by their text, whatever their
// encoding), the same on every rank and run: hash(x) % 10 buckets rows.
VK type_hash(const TypeCall&) {
  return VK::kInt;
}
std::uint64_t hash_float(double x) {
  if (x == 0.0) x = 0.0;  // -0.0 hashes as 0.0
  if (std::isnan(x)) x = std::numeric_limits<double>::quiet_NaN();
  std::uint64_t bits = 0;
  std::memcpy(&bits, &x, sizeof bits);
  return hash_u64(bits);
}
Val eval_hash(const CallContext& c, std::vector<Val>& a) {
  table::Buffer<std::uint64_t> h(c.n, 0x5f1d5f1d5f1d5f1dULL);
  for (const Val& v : a) {
    table::Buffer<std::uint64_t> part;
    switch (v.kind) {
      case VK::kInt:
      case VK::kTime:
        part.resize(c.n);
        for (size_t k = 0; k < c.n; ++k)
          part[k] = hash_u64(static_cast<std::uint64_t>(v.i[k]));
        break;
      case VK::kFloat:
        part.resize(c.n);
        for (size_t k = 0; k < c.n; ++k)
          part[k] = hash_float(v.f[k]);
        break;
      case VK::kBool:
        part.resize(c.n);
        for (size_t k = 0; k < c.n; ++k)
          part[k] = hash_u64(v.b[k] ? 1 : 2);
        break;
      default:
        part = per_string<std::uint64_t>(v, c.n, [](std::string_view s) { return hash_string(s); });
        break;
    }
    for (size_t k = 0; k < c.n; ++k)
      h[k] = hash_combine(h[k], part[k]);
  }
  table::Buffer<std::int64_t> r(c.n);
  for (size_t k = 0; k < c.n; ++k)
    r[k] = static_cast<std::int64_t>(h[k] >> 1);
  return ints(std::move(r));
}

// rand(): uniform in [0, 1), a function of (seed, stream, the call's position in the text, the
// global row index) only, so a row gets the same value at every rank count.
VK type_rand(const TypeCall&) {
  return VK::kFloat;
}
Val eval_rand(const CallContext& c, std::vector<Val>&) {
  const std::uint64_t key = hash_combine(hash_combine(hash_u64(c.eval.seed), c.eval.stream),
                                         static_cast<std::uint64_t>(c.node.pos));
  table::Buffer<double> r(c.n);
  for (size_t k = 0; k < c.n; ++k) {
    const auto row = static_cast<std::uint64_t>(c.eval.row_offset) + k;
    const std::uint64_t bits = hash_u64(key ^ hash_u64(row + 0x9e3779b97f4a7c15ULL));
    r[k] = static_cast<double>(bits >> 11) * 0x1.0p-53;
  }
  return floats(std::move(r));
}

}  // namespace

// =============================================================================================
// LIKE and casts
// =============================================================================================

bool like_match(std::string_view s, std::string_view p) {
  // Greedy matching with one backtrack point (the last %), linear in practice.
  size_t si = 0, pi = 0;
  size_t star_p = std::string_view::npos, star_s = 0;
  while (si < s.size()) {
    if (pi < p.size() && p[pi] == '%') {
      star_p = pi++;
      star_s = si;
    } else if (pi < p.size() && p[pi] == '_') {
      si += char_len(s, si);
      ++pi;
    } else if (pi < p.size() && p[pi] == s[si]) {
      ++si;
      ++pi;
    } else if (star_p != std::string_view::npos) {
      pi = star_p + 1;
      star_s += char_len(s, star_s);
      si = star_s;
    } else {
      return false;
    }
  }
  while (pi < p.size() && p[pi] == '%')
    ++pi;
  return pi == p.size();
}

Val cast_value(const CallContext& c, Val v, VK to) {
  const size_t n = c.n;
  Val r;
  r.kind = to;
  r.valid = v.valid;
  auto bad_text = [&](size_t k, const char* what) {
    c.fail(
        fmt::format("'{}' is not {} (cast only the rows that are: case when <test> then "
                    "cast(...) end)",
                    quoted(str_at(v, k)), what));
  };
  switch (to) {
    case VK::kStr: {
      table::PlainStrings out;
      std::string text;
      for (size_t k = 0; k < n; ++k) {
        text.clear();
        if (c.arg_valid(k)) append_text(v, k, text);
        out.push_back(text);
      }
      Val s = make_strings(std::move(out));
      s.valid = std::move(r.valid);
      return s;
    }
    case VK::kFloat:
      if (v.kind == VK::kStr) {
        r.f = per_string<double>(v, n, [&](std::string_view s) {
          double x = 0;
          const auto res = std::from_chars(s.data(), s.data() + s.size(), x);
          return res.ec == std::errc() && res.ptr == s.data() + s.size()
                     ? x
                     : std::numeric_limits<double>::quiet_NaN();
        });
        for (size_t k = 0; k < n; ++k) {
          if (std::isnan(r.f[k]) && c.matters(k)) {
            const std::string_view s = str_at(v, k);
            if (!iequals(s, "nan")) bad_text(k, "a number");
          }
        }
      } else if (v.kind == VK::kBool) {
        r.f.resize(n);
        for (size_t k = 0; k < n; ++k)
          r.f[k] = v.b[k] ? 1.0 : 0.0;
      } else {
        r.f = as_double(v);
      }
      return r;
    case VK::kInt:
    case VK::kTime:
      r.i.assign(n, 0);
      if (v.kind == VK::kInt || v.kind == VK::kTime) {
        r.i = std::move(v.i);
      } else if (v.kind == VK::kBool) {
        for (size_t k = 0; k < n; ++k)
          r.i[k] = v.b[k] ? 1 : 0;
      } else if (v.kind == VK::kFloat) {
        // Rounded to the nearest integer (half away from zero), as DuckDB casts.
        for (size_t k = 0; k < n; ++k) {
          const double x = std::round(v.f[k]);
          if (!(x >= -9223372036854775808.0 && x < 9223372036854775808.0)) {
            if (c.matters(k)) c.fail(fmt::format("{} does not fit int64", v.f[k]));
            continue;
          }
          r.i[k] = static_cast<std::int64_t>(x);
        }
      } else {  // strings
        for (size_t k = 0; k < n; ++k) {
          if (!c.arg_valid(k)) continue;
          const std::string_view s = str_at(v, k);
          bool ok = false;
          if (to == VK::kTime) {
            ok = table::parse_timestamp(s, r.i[k]);
          } else {
            const auto res = std::from_chars(s.data(), s.data() + s.size(), r.i[k]);
            ok = res.ec == std::errc() && res.ptr == s.data() + s.size();
          }
          if (!ok && c.matters(k))
            bad_text(k, to == VK::kTime ? "a timestamp (YYYY-MM-DD[ HH:MM:SS])" : "an int64");
        }
      }
      return r;
    case VK::kBool:
      r.b.assign(n, 0);
      if (v.kind == VK::kInt) {
        for (size_t k = 0; k < n; ++k)
          r.b[k] = v.i[k] != 0;
      } else if (v.kind == VK::kFloat) {
        for (size_t k = 0; k < n; ++k)
          r.b[k] = v.f[k] != 0.0;
      } else {
        for (size_t k = 0; k < n; ++k) {
          if (!c.arg_valid(k)) continue;
          const std::string_view s = str_at(v, k);
          if (iequals(s, "true")) {
            r.b[k] = 1;
          } else if (!iequals(s, "false") && c.matters(k)) {
            bad_text(k, "a boolean (true or false)");
          }
        }
      }
      return r;
    case VK::kNull:
      break;
  }
  return r;
}

// =============================================================================================
// The table
// =============================================================================================

const std::vector<Function>& functions() {
  static const std::vector<Function> table = {
      // math
      {"abs", 1, 1, "abs(number)", "absolute value (same type)", type_same_number, eval_abs},
      {"round", 1, 2, "round(number[, int digits])",
       "nearest integer, halves away from zero (same type); with digits: float64", type_round,
       eval_round},
      {"floor", 1, 1, "floor(number)", "largest integer not above (same type)", type_same_number,
       eval_integral<floor_of>},
      {"ceil", 1, 1, "ceil(number)", "smallest integer not below (same type)", type_same_number,
       eval_integral<ceil_of>},
      {"sqrt", 1, 1, "sqrt(number)", "square root (float64; negative: error)",
       type_float_of_numbers, eval_sqrt},
      {"exp", 1, 1, "exp(number)", "e to the power (float64)", type_float_of_numbers,
       eval_float_unary<exp_of>},
      {"log", 1, 1, "log(number)", "natural logarithm (float64; <= 0: error)",
       type_float_of_numbers, eval_log<ln_of>},
      {"ln", 1, 1, "ln(number)", "natural logarithm, as log", type_float_of_numbers,
       eval_log<ln_of>},
      {"log10", 1, 1, "log10(number)", "base-10 logarithm", type_float_of_numbers,
       eval_log<log10_of>},
      {"log2", 1, 1, "log2(number)", "base-2 logarithm", type_float_of_numbers, eval_log<log2_of>},
      {"pow", 2, 2, "pow(number, number)", "power (float64; as C pow: pow(-8, 1.0/3) is NaN)",
       type_float_of_numbers, eval_pow},
      // strings
      {"lower", 1, 1, "lower(string)", "ASCII letters to lower case", type_string_to_string,
       eval_case_map<lower_of>},
      {"upper", 1, 1, "upper(string)", "ASCII letters to upper case", type_string_to_string,
       eval_case_map<upper_of>},
      {"length", 1, 1, "length(string)", "number of characters (UTF-8 code points)", type_length,
       eval_length},
      {"substr", 2, 3, "substr(string, int start[, int length])",
       "characters from start (1-based; negative counts from the end)", type_substr, eval_substr},
      {"concat", 1, -1, "concat(value, ...)", "the values' text joined (null if any is null)",
       type_concat, eval_concat},
      {"starts_with", 2, 2, "starts_with(string, string)",
       "whether the first starts with the second", type_two_strings_to_bool,
       eval_string_test<starts_with_of>},
      {"contains", 2, 2, "contains(string, string)", "whether the first contains the second",
       type_two_strings_to_bool, eval_string_test<contains_of>},
      // timestamps
      {"year", 1, 1, "year(timestamp)", "year (int64)", type_time_part, eval_time_part<year_of>},
      {"month", 1, 1, "month(timestamp)", "month 1-12", type_time_part, eval_time_part<month_of>},
      {"day", 1, 1, "day(timestamp)", "day of the month 1-31", type_time_part,
       eval_time_part<day_of>},
      {"hour", 1, 1, "hour(timestamp)", "hour 0-23", type_time_part, eval_time_part<hour_of>},
      {"minute", 1, 1, "minute(timestamp)", "minute 0-59", type_time_part,
       eval_time_part<minute_of>},
      {"dayofweek", 1, 1, "dayofweek(timestamp)", "0 = Sunday ... 6 = Saturday", type_time_part,
       eval_time_part<dayofweek_of>},
      {"date_trunc", 2, 2, "date_trunc('unit', timestamp)",
       "start of the year, quarter, month, week (Monday), day, hour, minute or second",
       type_date_trunc, eval_date_trunc},
      {"date_diff", 3, 3, "date_diff('unit', timestamp, timestamp)",
       "unit boundaries crossed from the first to the second (int64)", type_date_diff,
       eval_date_diff},
      // hashing, random
      {"hash", 1, -1, "hash(value, ...)",
       "stable 63-bit hash, same on every rank (bucket with hash(x) % n)", type_hash, eval_hash},
      {"rand", 0, 0, "rand()",
       "uniform in [0, 1) from the job seed and the global row index (same at any rank count)",
       type_rand, eval_rand},
  };
  return table;
}

const Function* find_function(std::string_view name) {
  for (const auto& f : functions()) {
    if (iequals(f.name, name)) return &f;
  }
  return nullptr;
}

}  // namespace shardflow::ops::detail
