#pragma once
// Low-level, local CSV machinery shared by the reader and the writer: the record scanner (the hot
// loop of CSV ingest), value parsers (int, float, bool, ISO-8601 timestamps), byte counting for
// split resynchronisation, and field quoting for output. No MPI here.
//
// Record grammar (RFC 4180 plus the usual extensions):
//   - a record ends at a '\n' that is outside quotes; a '\r' right before it (CRLF) is dropped;
//     the last record of a file may lack the newline;
//   - a field that starts with '"' is quoted: it ends at the next '"' not followed by another '"'
//     ("" is an escaped quote) and may contain the delimiter and newlines;
//   - whether a newline is "outside quotes" is decided by the parity of the number of '"' bytes
//     since the start of the record. This is exactly the quoted-field rule for well-formed data,
//     and it keeps record boundaries well defined (and independent of where a file is split
//     between ranks) even for malformed data: a stray '"' inside an unquoted field makes its record
//     bad, and that record extends to the next newline at even quote parity.
//   - a line with no bytes at all (or just "\r") is blank and skipped.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "shardflow/common/types.hpp"

namespace shardflow::io::csv {

/// One field as scanned: a view into the input buffer, before unescaping.
struct FieldView {
  const char* data = nullptr;
  std::size_t size = 0;
  bool quoted = false;   // the field was enclosed in quotes (data excludes them)
  bool escaped = false;  // data contains "" pairs that unescape() collapses
};

enum class RecordStatus : std::uint8_t {
  kOk,
  kBlank,             // an empty line: not a record
  kStrayQuote,        // '"' inside an unquoted field
  kBadAfterQuote,     // a closing quote followed by something other than delimiter/newline
  kUnterminatedQuote  // a quoted field still open at the end of the file
};

/// Human-readable description of a bad record status (for error messages).
std::string_view describe(RecordStatus status);

struct ScannedRecord {
  const char* begin = nullptr;  // first byte of the record
  const char* end = nullptr;    // end of the record text (excludes the newline and a CR before it)
  const char* next = nullptr;   // start of the next record (or the end of the buffer)
  idx_t newlines = 0;           // '\n' bytes consumed, including the terminator
  std::size_t fields = 0;       // number of fields of a well-formed record
  RecordStatus status = RecordStatus::kOk;
};

/// Splits records into fields. Holds a byte-class table for the delimiter; cheap to copy.
class RecordScanner {
 public:
  explicit RecordScanner(char delimiter);
  /// Scans the record starting at `p` (p < end, p at a record start) and fills `fields` (cleared
  /// first). On a bad record `fields` is unspecified and `next` still points past the record.
  ScannedRecord scan(const char* p, const char* end, std::vector<FieldView>& fields) const;
  /// As above, writing at most `capacity` fields to `out`; `fields` of the result is the true
  /// count (so a count above `capacity` still tells the caller the record is too long).
  ScannedRecord scan(const char* p, const char* end, FieldView* out, std::size_t capacity) const;
  /// Bulk fast path for the common case: scans consecutive records that start before `limit`,
  /// contain no quote, are not blank and have exactly `nfields` fields, at most `max_records` of
  /// them, writing `nfields` FieldViews per record to `out` (record i at out + i * nfields).
  /// Stops before the first record that is not like that, or that is not followed by 64 readable
  /// bytes before `end`; the caller sends that record through scan(). Sets `*next` to the first
  /// record not consumed and returns the number of records consumed (each ends with exactly one
  /// '\n'). Results are identical to calling scan() per record.
  std::size_t scan_simple(const char* p, const char* limit, const char* end, std::size_t nfields,
                          std::size_t max_records, FieldView* out, const char** next) const;
  char delimiter() const { return delimiter_; }

 private:
  ScannedRecord skip_rest(ScannedRecord r, const char* p, bool in_quotes, const char* end) const;
  /// Bit i set iff p[i] (i < 64) is the delimiter, LF or a quote (SSE2 builds only).
  std::uint64_t special_mask(const char* p) const;
  char delimiter_;
  bool special_[256];
};

/// The field's text with "" collapsed; uses `scratch` only when the field has escapes.
std::string_view unescape_slow(const FieldView& field, std::string& scratch);
inline std::string_view unescape(const FieldView& field, std::string& scratch) {
  if (!field.escaped) [[likely]]
    return std::string_view(field.data, field.size);
  return unescape_slow(field, scratch);
}

/// Counts '"' and '\n' bytes in [p, p+n) (SSE2 byte counters where available).
void count_quotes_newlines(const char* p, std::size_t n, idx_t& quotes, idx_t& newlines);

// ---- value parsers: true on success; the whole text must be consumed -------------------------
bool parse_int64_slow(std::string_view text, std::int64_t& out);
/// Optional '-' or '+' then decimal digits; no spaces. Up to 18 digits take an inline fast path
/// (no overflow possible); longer texts and a leading '+' go through std::from_chars with
/// overflow checks.
inline bool parse_int64(std::string_view text, std::int64_t& out) {
  const size_t n = text.size();
  if (n == 0 || n > 18 || text[0] == '+') return parse_int64_slow(text, out);
  const char* p = text.data();
  const bool negative = p[0] == '-';
  size_t i = negative ? 1 : 0;
  if (i == n) return false;
  std::int64_t v = 0;
  for (; i < n; ++i) {
    const unsigned d = static_cast<unsigned>(static_cast<unsigned char>(p[i])) - '0';
    if (d > 9) return false;
    v = v * 10 + static_cast<std::int64_t>(d);
  }
  out = negative ? -v : v;
  return true;
}
bool parse_float64_slow(std::string_view text, double& out);
/// Decimal or scientific notation, inf, nan (std::from_chars), with an optional leading '+'; a
/// value beyond the type's range reads as strtod reads it (0 or a subnormal when too small,
/// infinity when too large), as pandas and DuckDB do. Plain decimals with at most 15
/// significant digits and no exponent take an inline fast path: the digits form an exact integer
/// m < 2^53 and 10^k (k <= 15) is exact, so m / 10^k is the correctly rounded value (Clinger's
/// fast path) and equals what from_chars returns.
inline bool parse_float64(std::string_view text, double& out) {
  static constexpr double kPow10[16] = {1e0, 1e1, 1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                        1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15};
  const size_t n = text.size();
  const char* p = text.data();
  const size_t sign = n > 0 && p[0] == '-' ? 1 : 0;
  if (n == 0 || n > 17 || sign == n) return parse_float64_slow(text, out);
  // Integer digits, then (after one '.') fraction digits: two tight loops rather than one loop
  // that tracks "seen the point" per character.
  std::uint64_t m = 0;
  size_t i = sign;
  for (; i < n; ++i) {
    const unsigned d = static_cast<unsigned>(static_cast<unsigned char>(p[i])) - '0';
    if (d > 9) break;
    m = m * 10 + d;
  }
  const size_t int_digits = i - sign;
  size_t frac = 0;
  if (i < n) {
    if (p[i] != '.') return parse_float64_slow(text, out);
    const size_t frac_begin = ++i;
    for (; i < n; ++i) {
      const unsigned d = static_cast<unsigned>(static_cast<unsigned char>(p[i])) - '0';
      if (d > 9) return parse_float64_slow(text, out);
      m = m * 10 + d;
    }
    frac = n - frac_begin;
  }
  const size_t digits = int_digits + frac;
  if (digits == 0 || digits > 15) return parse_float64_slow(text, out);
  double v = static_cast<double>(m);
  if (frac > 0) v /= kPow10[frac];
  out = sign != 0 ? -v : v;
  return true;
}

bool parse_float32(std::string_view text, float& out);
/// true/false in lower, upper or title case.
bool parse_bool(std::string_view text, bool& out);
/// `YYYY-MM-DD`, or `YYYY-MM-DD[ T]HH:MM:SS[.f{1,9}][Z]` (fraction truncated to microseconds),
/// always UTC, to microseconds since the Unix epoch. Validates month, day-of-month and time ranges.
bool parse_timestamp(std::string_view text, std::int64_t& micros);

/// Appends `micros` as `YYYY-MM-DD HH:MM:SS` plus `.ffffff` when the fraction is non-zero.
void append_timestamp(std::int64_t micros, std::string& out);
/// Days since 1970-01-01 of a proleptic Gregorian date (no range checks).
std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d);

/// Appends a string field, quoted (with "" escapes) if it contains the delimiter, a quote, CR or
/// LF, or is empty (an unquoted empty field reads back as null).
void append_string_field(std::string_view value, char delimiter, std::string& out);
/// Appends a double so that it parses back to the same value and is recognised as a float (not an
/// integer): the shortest round-trip form, with ".0" added to integral values.
void append_float64(double value, std::string& out);

}  // namespace shardflow::io::csv
