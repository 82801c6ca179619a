#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "shardflow/io/csv_scanner.hpp"

using namespace shardflow;
using namespace shardflow::io::csv;

namespace {

struct Scanned {
  std::vector<std::string> fields;
  std::vector<bool> quoted;
  RecordStatus status;
  std::string raw;
  idx_t newlines;
  size_t consumed;
};

Scanned scan_one(const std::string& text, char delim = ',') {
  RecordScanner scanner(delim);
  std::vector<FieldView> fields;
  const auto rec = scanner.scan(text.data(), text.data() + text.size(), fields);
  Scanned out;
  std::string scratch;
  for (const auto& f : fields) {
    out.fields.emplace_back(unescape(f, scratch));
    out.quoted.push_back(f.quoted);
  }
  out.status = rec.status;
  out.raw.assign(rec.begin, rec.end);
  out.newlines = rec.newlines;
  out.consumed = static_cast<size_t>(rec.next - text.data());
  return out;
}

}  // namespace

TEST(CsvScanner, PlainFieldsAndTerminators) {
  auto r = scan_one("a,b,,c\nnext");
  EXPECT_EQ(r.status, RecordStatus::kOk);
  EXPECT_EQ(r.fields, (std::vector<std::string>{"a", "b", "", "c"}));
  EXPECT_EQ(r.consumed, 7u);
  EXPECT_EQ(r.newlines, 1);
  EXPECT_EQ(r.raw, "a,b,,c");

  r = scan_one("x,y\r\nz");
  EXPECT_EQ(r.fields, (std::vector<std::string>{"x", "y"}));
  EXPECT_EQ(r.raw, "x,y");
  EXPECT_EQ(r.consumed, 5u);

  r = scan_one("last,line");  // no final newline
  EXPECT_EQ(r.fields, (std::vector<std::string>{"last", "line"}));
  EXPECT_EQ(r.consumed, 9u);
  EXPECT_EQ(r.newlines, 0);

  r = scan_one("a,\n");  // trailing delimiter: an empty last field
  EXPECT_EQ(r.fields, (std::vector<std::string>{"a", ""}));

  r = scan_one("a;b,c\n", ';');
  EXPECT_EQ(r.fields, (std::vector<std::string>{"a", "b,c"}));

  r = scan_one("a\rb,c\n");  // a CR not before LF is data
  EXPECT_EQ(r.fields, (std::vector<std::string>{"a\rb", "c"}));
}

TEST(CsvScanner, QuotedFields) {
  auto r = scan_one("\"a,b\",\"say \"\"hi\"\"\",\"multi\nline\r\nfield\",\"\"\r\nrest");
  EXPECT_EQ(r.status, RecordStatus::kOk);
  EXPECT_EQ(r.fields, (std::vector<std::string>{"a,b", "say \"hi\"", "multi\nline\r\nfield", ""}));
  EXPECT_EQ(r.quoted, (std::vector<bool>{true, true, true, true}));
  EXPECT_EQ(r.newlines, 3);
  EXPECT_EQ(r.raw, "\"a,b\",\"say \"\"hi\"\"\",\"multi\nline\r\nfield\",\"\"");

  r = scan_one("\"end\"");
  EXPECT_EQ(r.fields, (std::vector<std::string>{"end"}));
  EXPECT_EQ(r.consumed, 5u);
}

TEST(CsvScanner, BadQuotesCostTheirLineOnly) {
  // A stray quote whose next quote is on a later line and followed by text opens nothing: the
  // bad record is its own line.
  auto r = scan_one("ab\"c,d\ne\"f\ng\n");
  EXPECT_EQ(r.status, RecordStatus::kStrayQuote);
  EXPECT_EQ(r.raw, "ab\"c,d");
  EXPECT_EQ(r.newlines, 1);
  // A stray quote closed on a later line by a quote before a delimiter still opens a region.
  r = scan_one("ab\"c\nd\",e\nf\n");
  EXPECT_EQ(r.status, RecordStatus::kStrayQuote);
  EXPECT_EQ(r.raw, "ab\"c\nd\",e");

  r = scan_one("\"a\"x,b\nc\n");
  EXPECT_EQ(r.status, RecordStatus::kBadAfterQuote);
  EXPECT_EQ(r.raw, "\"a\"x,b");
  EXPECT_EQ(r.consumed, 7u);

  // Unclosed before the end of the file: the record is the line where the quote opened.
  r = scan_one("a,\"open\nstill open\n");
  EXPECT_EQ(r.status, RecordStatus::kUnterminatedQuote);
  EXPECT_EQ(r.raw, "a,\"open");
  EXPECT_EQ(r.newlines, 1);
  // `1,"Alice` then `2,"Bob"`: the quote before Bob does not close Alice's field.
  r = scan_one("1,\"Alice\n2,\"Bob\"\n");
  EXPECT_EQ(r.status, RecordStatus::kUnclosedQuote);
  EXPECT_EQ(r.raw, "1,\"Alice");
  // A quoted field running past max_field_bytes.
  RecordScanner small(',', 8);
  const std::string text = "1,\"0123456789\nabc\",2\n3,4\n";
  std::vector<FieldView> fields;
  auto rec = small.scan(text.data(), text.data() + text.size(), fields);
  EXPECT_EQ(rec.status, RecordStatus::kUnterminatedQuote);
  EXPECT_EQ(rec.error_at, text.data() + 2);
  EXPECT_EQ(std::string(rec.begin, rec.end), "1,\"0123456789");
  // ... and an unquoted one: the record is bad but ends where it always did.
  const std::string longer = "1,0123456789\n3,4\n";
  rec = small.scan(longer.data(), longer.data() + longer.size(), fields);
  EXPECT_EQ(rec.status, RecordStatus::kFieldTooLong);
  EXPECT_EQ(rec.error_at, longer.data() + 2);
  EXPECT_EQ(rec.next, longer.data() + 13);
  // Exactly max_field_bytes is fine, quoted or not.
  const std::string exact = "\"01234567\",01234567\n";
  rec = small.scan(exact.data(), exact.data() + exact.size(), fields);
  EXPECT_EQ(rec.status, RecordStatus::kOk);
}

TEST(CsvScanner, BlankLines) {
  EXPECT_EQ(scan_one("\nx").status, RecordStatus::kBlank);
  EXPECT_EQ(scan_one("\r\nx").status, RecordStatus::kBlank);
  EXPECT_EQ(scan_one("\r\nx").consumed, 2u);
  EXPECT_EQ(scan_one("\r").status, RecordStatus::kBlank);
}

TEST(CsvScanner, CountQuotesNewlines) {
  std::mt19937_64 rng(7);
  std::string text(100000, 'a');
  idx_t q = 0, n = 0;
  for (auto& c : text) {
    const auto v = rng() % 10;
    if (v == 0) c = '"', ++q;
    if (v == 1) c = '\n', ++n;
  }
  idx_t got_q = -1, got_n = -1;
  count_quotes_newlines(text.data(), text.size(), got_q, got_n);
  EXPECT_EQ(got_q, q);
  EXPECT_EQ(got_n, n);
}

TEST(CsvValues, IntegersFloatsBools) {
  std::int64_t i;
  EXPECT_TRUE(parse_int64("-9223372036854775808", i));
  EXPECT_EQ(i, INT64_MIN);
  EXPECT_FALSE(parse_int64("9223372036854775808", i));
  EXPECT_FALSE(parse_int64("1.0", i));
  EXPECT_FALSE(parse_int64(" 1", i));
  EXPECT_FALSE(parse_int64("", i));
  double d;
  EXPECT_TRUE(parse_float64("1e-3", d));
  EXPECT_EQ(d, 1e-3);
  EXPECT_TRUE(parse_float64("-0.5", d));
  EXPECT_EQ(d, -0.5);
  EXPECT_FALSE(parse_float64("1.5x", d));
  EXPECT_FALSE(parse_float64("abc", d));
  // A leading '+', and values past the range of double read as strtod, pandas and DuckDB read
  // them (these were rejected as malformed).
  EXPECT_TRUE(parse_float64("+1.5", d));
  EXPECT_EQ(d, 1.5);
  EXPECT_TRUE(parse_float64("+.5e1", d));
  EXPECT_EQ(d, 5.0);
  EXPECT_TRUE(parse_float64("1e-400", d));
  EXPECT_EQ(d, 0.0);
  EXPECT_TRUE(parse_float64("-1e-400", d));
  EXPECT_TRUE(d == 0.0 && std::signbit(d));
  EXPECT_TRUE(parse_float64("4.9e-324", d));
  EXPECT_EQ(d, 4.9e-324);
  EXPECT_TRUE(parse_float64("1e400", d));
  EXPECT_TRUE(std::isinf(d) && d > 0);
  EXPECT_FALSE(parse_float64("+", d));
  EXPECT_FALSE(parse_float64("+-1", d));
  EXPECT_FALSE(parse_float64("++1", d));
  EXPECT_FALSE(parse_float64("1e-400x", d));
  float f;
  EXPECT_TRUE(parse_float32("1e-60", f));
  EXPECT_EQ(f, 0.0f);
  EXPECT_TRUE(parse_float32("+2.5", f));
  EXPECT_EQ(f, 2.5f);
  EXPECT_TRUE(parse_int64("+42", i));
  EXPECT_EQ(i, 42);
  EXPECT_FALSE(parse_int64("+-42", i));
  EXPECT_FALSE(parse_int64("+", i));
  bool b;
  EXPECT_TRUE(parse_bool("TRUE", b) && b);
  EXPECT_TRUE(parse_bool("false", b) && !b);
  EXPECT_FALSE(parse_bool("yes", b));
}

TEST(CsvValues, Timestamps) {
  std::int64_t t;
  ASSERT_TRUE(parse_timestamp("1970-01-01", t));
  EXPECT_EQ(t, 0);
  ASSERT_TRUE(parse_timestamp("2000-03-01T00:00:01Z", t));
  EXPECT_EQ(t, 951868801LL * 1000000);
  ASSERT_TRUE(parse_timestamp("2024-02-29 23:59:59.5", t));
  EXPECT_EQ(t, 1709251199LL * 1000000 + 500000);
  ASSERT_TRUE(parse_timestamp("1969-12-31 23:59:59.123456789", t));
  EXPECT_EQ(t, -1000000 + 123456);
  EXPECT_FALSE(parse_timestamp("2023-02-29", t));
  EXPECT_FALSE(parse_timestamp("2024-13-01", t));
  EXPECT_FALSE(parse_timestamp("2024-01-01 24:00:00", t));
  EXPECT_FALSE(parse_timestamp("2024-01-01 12:00", t));
  EXPECT_FALSE(parse_timestamp("2024-01-01X12:00:00", t));
  EXPECT_FALSE(parse_timestamp("2024-01-01 12:00:00.", t));
  EXPECT_FALSE(parse_timestamp("2024-01-01 12:00:00+01", t));
  EXPECT_FALSE(parse_timestamp("20240101", t));
}

TEST(CsvValues, TimestampFormatRoundTrips) {
  std::mt19937_64 rng(11);
  for (int k = 0; k < 2000; ++k) {
    const auto micros = static_cast<std::int64_t>(rng() % (400LL * 365 * 86400 * 1000000)) -
                        100LL * 365 * 86400 * 1000000;
    std::string text;
    append_timestamp(micros, text);
    std::int64_t back;
    ASSERT_TRUE(parse_timestamp(text, back)) << text;
    EXPECT_EQ(back, micros) << text;
  }
  std::string text;
  append_timestamp(0, text);
  EXPECT_EQ(text, "1970-01-01 00:00:00");
}

TEST(CsvValues, FloatAndStringOutput) {
  std::mt19937_64 rng(3);
  for (int k = 0; k < 2000; ++k) {
    const double v = std::ldexp(static_cast<double>(rng() % 1000000) - 500000.0,
                                static_cast<int>(rng() % 80) - 40);
    std::string text;
    append_float64(v, text);
    double back;
    ASSERT_TRUE(parse_float64(text, back)) << text;
    EXPECT_EQ(back, v) << text;
    std::int64_t as_int;
    EXPECT_FALSE(parse_int64(text, as_int)) << text;
  }
  std::string out;
  append_float64(2.0, out);
  EXPECT_EQ(out, "2.0");
  out.clear();
  append_string_field("plain", ',', out);
  out += '|';
  append_string_field("a,\"b\"", ',', out);
  out += '|';
  append_string_field("", ',', out);
  EXPECT_EQ(out, "plain|\"a,\"\"b\"\"\"|\"\"");
}

TEST(CsvValues, FloatFastPathMatchesFromChars) {
  std::mt19937_64 rng(5);
  for (int k = 0; k < 200000; ++k) {
    std::string text;
    if (rng() % 3 == 0) text += '-';
    const int int_digits = static_cast<int>(rng() % 9);
    const int frac_digits = static_cast<int>(rng() % 10);
    for (int d = 0; d < int_digits; ++d)
      text += static_cast<char>('0' + rng() % 10);
    if (rng() % 4 != 0) text += '.';
    for (int d = 0; d < frac_digits; ++d)
      text += static_cast<char>('0' + rng() % 10);
    double fast = 0, reference = 0;
    const bool ok = parse_float64(text, fast);
    const bool ref_ok = parse_float64_slow(text, reference);
    ASSERT_EQ(ok, ref_ok) << text;
    if (ok) {
      ASSERT_EQ(fast, reference) << text;
      ASSERT_EQ(std::signbit(fast), std::signbit(reference)) << text;
    }
  }
  double v;
  EXPECT_FALSE(parse_float64("-", v));
  EXPECT_FALSE(parse_float64(".", v));
  EXPECT_FALSE(parse_float64("1.2.3", v));
  EXPECT_TRUE(parse_float64("5.", v));
  EXPECT_EQ(v, 5.0);
  EXPECT_TRUE(parse_float64(".25", v));
  EXPECT_EQ(v, 0.25);
}
