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
//   - a line with no bytes at all (or just "\r") is blank and skipped.
//
// Malformed quotes, and where a bad record ends (issue 7: an unclosed quote once swallowed 170
// of 200 rows under bad_rows: skip). Every '"' that would open a quoted region -- at the start of
// a field, inside an unquoted field (a stray quote), or inside the rest of a record that is
// already bad -- is *probed* (RecordScanner::probe): starting after it, the closing quote is the
// first '"' not followed by another '"', searched within max_field_bytes bytes and before the end
// of the file. The quote is
//   - closed (QuoteProbe::kClosed) if such a closing quote exists and it is followed by the
//     delimiter, a line end or the end of the file -- or, failing that, if the quoted text holds
//     no newline (then the record is bad, but it stays on its line);
//   - runaway (kRunaway): no closing quote within max_field_bytes or before the end of the file;
//   - misclosed (kMisclosed): the next quote lies on a later line and is followed by other text
//     (`1,"Alice` then `2,"Bob"` on the next line: the quote before Bob is not a closing quote).
// A closed quote opens a quoted region that ends at its closing quote. A runaway or misclosed
// quote opens nothing: it makes its record bad and is otherwise treated as a plain byte, so the
// bad record ends at the first newline after it that is outside quotes -- the end of the line
// where the quote opened, unless that line holds further quotes -- and the next record starts on
// the next line. So a bad quote costs its own line, never the rest of the file, and messages
// name the line and column where it opened.
//
// The rule is the same at every split of the file between ranks: as a function of the bytes, it
// is a quote-parity walk in which a probed quote that is not closed does not flip the parity.
// The parity at a byte offset is therefore computable piecewise (parity_after gives a range's
// parity out for parity in, 0 or 1, and ranges compose), and next_record_start finds the first
// record boundary after an offset given the parity there, exactly where a scan from the start of
// the file would put it. (Why it is exact: a probe does not depend on the parity it is entered
// with, and the escaped quotes inside a closed region, taken one by one, never cancel --
// probing from the second quote of a "" pair finds the same closing quote.)
//
// Text: read fields must be valid UTF-8 without NUL bytes (find_invalid_text); the reader makes
// other rows bad rows at parse time. A field longer than max_field_bytes makes its row bad
// (kFieldTooLong), without changing where the record ends.

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
  kBlank,              // an empty line: not a record
  kStrayQuote,         // '"' inside an unquoted field
  kBadAfterQuote,      // a closing quote followed by something other than delimiter/newline
  kUnterminatedQuote,  // a quote that is not closed within max_field_bytes or before EOF
  kUnclosedQuote,      // a quote whose next quote is on a later line and followed by text
  kFieldTooLong,       // a field longer than max_field_bytes
  kInvalidText         // invalid UTF-8 or a NUL byte in a field (set by the reader)
};

/// Default limit on a field's length, and on how far a quoted field may run.
inline constexpr std::size_t kDefaultMaxFieldBytes = std::size_t{1} << 20;

/// Outcome of probing a quote that would open a quoted region (see the header comment).
enum class QuoteProbe : std::uint8_t { kClosed, kRunaway, kMisclosed };

/// Human-readable description of a bad record status (for error messages).
std::string_view describe(RecordStatus status);

struct ScannedRecord {
  const char* begin = nullptr;  // first byte of the record
  const char* end = nullptr;    // end of the record text (excludes the newline and a CR before it)
  const char* next = nullptr;   // start of the next record (or the end of the buffer)
  idx_t newlines = 0;           // '\n' bytes consumed, including the terminator
  std::size_t fields = 0;       // number of fields of a well-formed record
  RecordStatus status = RecordStatus::kOk;
  /// Bad records: the byte the problem is at (the opening quote of an unclosed quoted field, a
  /// stray quote, the byte after a closing quote, the first byte of a too long field).
  const char* error_at = nullptr;
};

/// Splits records into fields. Holds a byte-class table for the delimiter; cheap to copy.
class RecordScanner {
 public:
  explicit RecordScanner(char delimiter, std::size_t max_field_bytes = kDefaultMaxFieldBytes);
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
  std::size_t max_field_bytes() const { return max_field_bytes_; }

  /// Probes the quote at `q` (q < end, *q == '"'; `end` is the end of the file): see the header
  /// comment. For kClosed, `*close` is the closing quote.
  QuoteProbe probe(const char* q, const char* end, const char** close) const;
  /// Quote parity at `stop` given parity `parity` (0 or 1) at `x` (x <= stop <= end, `end` the
  /// end of the file): the piecewise form of the record grammar, for splitting files.
  int parity_after(const char* x, const char* stop, const char* end, int parity) const;
  /// parity_after for both entry parities at once: out[p] = parity_after(x, stop, end, p).
  void parity_out(const char* x, const char* stop, const char* end, int out[2]) const;
  /// The first record start after `x`: one past the first '\n' in [x, stop) that is outside
  /// quotes, given quote parity `parity` at x; nullptr if there is none.
  const char* next_record_start(const char* x, const char* stop, const char* end, int parity) const;

 private:
  ScannedRecord skip_rest(ScannedRecord r, const char* p, const char* end) const;
  /// kFieldTooLong if a stored field of an ok record is longer than max_field_bytes.
  ScannedRecord check_lengths(ScannedRecord r, const FieldView* fields, size_t capacity) const;
  /// Bit i set iff p[i] (i < 64) is the delimiter, LF or a quote (SSE2 builds only).
  std::uint64_t special_mask(const char* p) const;
  char delimiter_;
  std::size_t max_field_bytes_;
  bool special_[256];
};

/// The first byte of [p, end) that is a NUL or not part of valid UTF-8 (overlong forms,
/// surrogates, code points above U+10FFFF and truncated sequences are invalid), or nullptr. ASCII
/// runs are checked 16 bytes at a time.
const char* find_invalid_text(const char* p, const char* end);

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
