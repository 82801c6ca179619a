#include "shardflow/io/csv_scanner.hpp"

#include <cstdlib>
#include <string>

#include <fmt/format.h>

#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include <algorithm>
#include <charconv>
#include <cstring>
#include <iterator>

#include "shardflow/common/prefetch.hpp"
#include "shardflow/table/timestamp.hpp"

namespace shardflow::io::csv {

std::string_view describe(RecordStatus status) {
  switch (status) {
    case RecordStatus::kOk:
      return "ok";
    case RecordStatus::kBlank:
      return "blank line";
    case RecordStatus::kStrayQuote:
      return "a '\"' inside an unquoted field (quote the whole field and double the quotes in it)";
    case RecordStatus::kBadAfterQuote:
      return "unexpected character after the closing quote of a quoted field";
    case RecordStatus::kUnterminatedQuote:
      return "a quoted field opens here but is not closed before the end of the file or within "
             "max_field_bytes";
    case RecordStatus::kUnclosedQuote:
      return "a quoted field opens here but is not closed on this line, and the next quote (on a "
             "later line) is not followed by a delimiter or a line end: a missing closing quote?";
    case RecordStatus::kFieldTooLong:
      return "a field is longer than max_field_bytes";
    case RecordStatus::kInvalidText:
      return "invalid UTF-8 or a NUL byte";
  }
  return "unknown";
}

// ------------------------------------------------------------------------------------------------
// Record scanner
// ------------------------------------------------------------------------------------------------

RecordScanner::RecordScanner(char delimiter, std::size_t max_field_bytes)
    : delimiter_(delimiter), max_field_bytes_(max_field_bytes) {
  // Bytes that end an unquoted run: the delimiter, LF and the quote (a stray quote is an error
  // that changes where the record ends, so it must be seen). CR is ordinary data except right
  // before the terminating LF, which is handled when the field is cut.
  std::fill(std::begin(special_), std::end(special_), false);
  special_[static_cast<unsigned char>(delimiter)] = true;
  special_[static_cast<unsigned char>('\n')] = true;
  special_[static_cast<unsigned char>('"')] = true;
}

#ifdef __SSE2__
std::uint64_t RecordScanner::special_mask(const char* p) const {
  const __m128i delim = _mm_set1_epi8(delimiter_);
  const __m128i lf = _mm_set1_epi8('\n');
  const __m128i quote = _mm_set1_epi8('"');
  std::uint64_t mask = 0;
  for (int k = 0; k < 4; ++k) {
    const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 16 * k));
    const __m128i hit = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(b, delim), _mm_cmpeq_epi8(b, lf)),
                                     _mm_cmpeq_epi8(b, quote));
    mask |= static_cast<std::uint64_t>(static_cast<std::uint32_t>(_mm_movemask_epi8(hit)))
            << (16 * k);
  }
  return mask;
}
#endif

namespace {

/// How far ahead of the block being classified scan_simple prefetches the file's bytes: 1 KiB,
/// sixteen blocks. bench_csv_ingest 1 rank, 1e7 rows, user seconds of a read: 0.98-1.05 against
/// 1.04-1.12 without; 512 B, 2 KiB and 4 KiB did about as well.
constexpr std::ptrdiff_t kPrefetchAhead = 1024;

/// The first '"' in [x, limit), or nullptr: one SSE2 compare for the next 16 bytes (quoted fields
/// and the gaps between them are usually short, and a call to memchr costs more than that),
/// then memchr.
inline const char* find_quote(const char* x, const char* limit) {
#ifdef __SSE2__
  if (limit - x >= 16) {
    const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(x));
    const int m = _mm_movemask_epi8(_mm_cmpeq_epi8(b, _mm_set1_epi8('"')));
    if (m != 0) return x + __builtin_ctz(static_cast<unsigned>(m));
    x += 16;
  }
#endif
  return static_cast<const char*>(std::memchr(x, '"', static_cast<size_t>(limit - x)));
}

}  // namespace

QuoteProbe RecordScanner::probe(const char* q, const char* end, const char** close) const {
  // The closing quote must lie within max_field_bytes of text: before q + 2 + max_field_bytes.
  const char* text = q + 1;
  const auto avail = static_cast<std::size_t>(end - text);
  const char* limit = text + std::min(avail, max_field_bytes_ + 1);
  const char* x = text;
  for (;;) {
    const char* c = find_quote(x, limit);
    if (c == nullptr) return QuoteProbe::kRunaway;
    if (c + 1 < end && c[1] == '"') {  // "" inside the field
      x = c + 2;
      if (x >= limit) return QuoteProbe::kRunaway;
      continue;
    }
    *close = c;
    const char* a = c + 1;
    if (a == end || *a == delimiter_ || *a == '\n' ||
        (*a == '\r' && (a + 1 == end || a[1] == '\n'))) {
      return QuoteProbe::kClosed;
    }
    return std::memchr(text, '\n', static_cast<size_t>(c - text)) != nullptr
               ? QuoteProbe::kMisclosed
               : QuoteProbe::kClosed;
  }
}

ScannedRecord RecordScanner::skip_rest(ScannedRecord r, const char* p, const char* end) const {
  // After an error the record still ends where the grammar says it does (at the first newline
  // outside quotes, probing every opening quote), so that boundaries do not depend on how the
  // file was split between ranks.
  while (p < end) {
    const char c = *p;
    if (c == '"') {
      const char* close = nullptr;
      if (probe(p, end, &close) == QuoteProbe::kClosed) {
        r.newlines += std::count(p + 1, close, '\n');
        p = close + 1;
      } else {
        ++p;  // not closed: a plain byte
      }
      continue;
    }
    if (c == '\n') {
      ++r.newlines;
      r.end = (p > r.begin && p[-1] == '\r') ? p - 1 : p;
      r.next = p + 1;
      return r;
    }
    ++p;
  }
  r.end = (end > r.begin && end[-1] == '\r') ? end - 1 : end;
  r.next = end;
  return r;
}

int RecordScanner::parity_after(const char* x, const char* stop, const char* end,
                                int parity) const {
  if (parity != 0) {
    const char* q = find_quote(x, stop);
    if (q == nullptr) return 1;
    x = q + 1;  // the quote that closes the open region
  }
  for (;;) {
    const char* q = find_quote(x, stop);
    if (q == nullptr) return 0;
    const char* close = nullptr;
    if (probe(q, end, &close) != QuoteProbe::kClosed) {
      x = q + 1;
      continue;
    }
    if (close < stop) {
      x = close + 1;
      continue;
    }
    // The region runs past `stop`: the opening quote plus the quotes of "" pairs before stop
    // (a pair may straddle stop).
    return static_cast<int>((1 + std::count(q + 1, stop, '"')) % 2);
  }
}

void RecordScanner::parity_out(const char* x, const char* stop, const char* end, int out[2]) const {
  // Two walks in lockstep: A enters with parity 0 at x, B with parity 1 (= parity 0 after the
  // first quote). Each is described by its next opening quote; once both reach the same one their
  // futures are identical (usually within a record or two, even when B starts inside a quoted
  // field), so the rest is walked once.
  const char* q0 = find_quote(x, stop);
  if (q0 == nullptr) {
    out[0] = 0;
    out[1] = 1;
    return;
  }
  const char* q[2] = {q0, find_quote(q0 + 1, stop)};
  int res[2] = {-1, -1};
  for (;;) {
    for (int k = 0; k < 2; ++k)
      if (res[k] < 0 && q[k] == nullptr) res[k] = 0;
    if (res[0] >= 0 && res[1] >= 0) break;
    if (res[0] < 0 && res[1] < 0 && q[0] == q[1]) {
      res[0] = res[1] = parity_after(q[0], stop, end, 0);
      break;
    }
    const int k = res[1] >= 0 || (res[0] < 0 && q[0] < q[1]) ? 0 : 1;
    const char* close = nullptr;
    if (probe(q[k], end, &close) != QuoteProbe::kClosed) {
      q[k] = find_quote(q[k] + 1, stop);
    } else if (close < stop) {
      q[k] = find_quote(close + 1, stop);
    } else {
      res[k] = static_cast<int>((1 + std::count(q[k] + 1, stop, '"')) % 2);
    }
  }
  out[0] = res[0];
  out[1] = res[1];
}

const char* RecordScanner::next_record_start(const char* x, const char* stop, const char* end,
                                             int parity) const {
  if (parity != 0) {
    // Inside a quoted region: its newlines do not count, the next quote ends it. (If that quote
    // starts a "" pair, the pair's second quote probes closed -- see the header -- so walking on
    // from here as outside quotes gives the same result as the scan.)
    const auto* q = static_cast<const char*>(std::memchr(x, '"', static_cast<size_t>(stop - x)));
    if (q == nullptr) return nullptr;
    x = q + 1;
  }
  while (x < stop) {
    const char c = *x;
    if (c == '\n') return x + 1;
    if (c == '"') {
      const char* close = nullptr;
      if (probe(x, end, &close) == QuoteProbe::kClosed) {
        x = close + 1;
        continue;
      }
    }
    ++x;
  }
  return nullptr;
}

ScannedRecord RecordScanner::scan(const char* p, const char* end,
                                  std::vector<FieldView>& fields) const {
  if (fields.size() < 16) fields.resize(std::max<size_t>(16, fields.capacity()));
  for (;;) {
    const ScannedRecord r = scan(p, end, fields.data(), fields.size());
    if (r.fields <= fields.size()) {
      fields.resize(r.fields);
      return r;
    }
    fields.resize(r.fields);  // more fields than room: scan again with enough
  }
}

ScannedRecord RecordScanner::scan(const char* p, const char* end, FieldView* out,
                                  size_t capacity) const {
  // Fields beyond `capacity` are counted but not stored.
  const auto push = [&](ScannedRecord& rec, const FieldView& f) {
    if (rec.fields < capacity) out[rec.fields] = f;
    ++rec.fields;
  };
  ScannedRecord r;
  r.begin = p;
  if (*p == '\n') {
    r.end = p;
    r.next = p + 1;
    r.newlines = 1;
    r.status = RecordStatus::kBlank;
    return r;
  }
  if (*p == '\r' && (p + 1 == end || p[1] == '\n')) {
    r.end = p;
    r.next = p + 1 == end ? end : p + 2;
    r.newlines = p + 1 == end ? 0 : 1;
    r.status = RecordStatus::kBlank;
    return r;
  }
#ifdef __SSE2__
  // Fast path for records without quotes: classify 64 bytes at a time into a bit mask of
  // delimiter / LF / quote positions and cut fields at the set bits. A quote anywhere in the
  // record, or fewer than 64 bytes left before `end`, sends the record to the general loop below
  // (from its start), so both paths give identical results.
  {
    const char* base = p;
    const char* field = p;
    while (end - base >= 64) {
      std::uint64_t m = special_mask(base);
      while (m != 0) {
        const char* q = base + __builtin_ctzll(m);
        m &= m - 1;
        if (*q == delimiter_) {
          push(r, FieldView{field, static_cast<size_t>(q - field), false, false});
          field = q + 1;
          continue;
        }
        if (*q == '"') goto general;
        size_t n = static_cast<size_t>(q - field);  // '\n': the end of the record
        if (n > 0 && field[n - 1] == '\r') --n;
        push(r, FieldView{field, n, false, false});
        r.end = field + n;
        r.next = q + 1;
        r.newlines = 1;
        return check_lengths(r, out, capacity);
      }
      base += 64;
    }
  }
general:
  r.fields = 0;
#endif
  for (;;) {
    if (p < end && *p == '"') {
      // Quoted field: probe finds the closing quote (memchr, skipping "" escapes).
      const char* close = nullptr;
      const QuoteProbe probed = probe(p, end, &close);
      if (probed != QuoteProbe::kClosed) {
        r.status = probed == QuoteProbe::kRunaway ? RecordStatus::kUnterminatedQuote
                                                  : RecordStatus::kUnclosedQuote;
        r.error_at = p;
        return skip_rest(r, p + 1, end);
      }
      const bool escaped = std::memchr(p + 1, '"', static_cast<size_t>(close - p - 1)) != nullptr;
      r.newlines += std::count(p + 1, close, '\n');
      push(r, FieldView{p + 1, static_cast<size_t>(close - p - 1), true, escaped});
      p = close + 1;
      if (p == end) {
        r.end = end;
        r.next = end;
        return check_lengths(r, out, capacity);
      }
      const char c = *p;
      if (c == delimiter_) {
        ++p;
        continue;
      }
      if (c == '\n') {
        r.end = p;
        r.next = p + 1;
        ++r.newlines;
        return check_lengths(r, out, capacity);
      }
      if (c == '\r' && (p + 1 == end || p[1] == '\n')) {
        r.end = p;
        r.next = p + 1 == end ? end : p + 2;
        if (p + 1 < end) ++r.newlines;
        return check_lengths(r, out, capacity);
      }
      r.status = RecordStatus::kBadAfterQuote;
      r.error_at = p;
      return skip_rest(r, p, end);
    }
    // Unquoted field: the hot loop. (A 16-byte SSE2 search per field measured slower than this
    // table-driven byte loop on the short fields of typical CSV.)
    const char* s = p;
    while (p < end && !special_[static_cast<unsigned char>(*p)])
      ++p;
    if (p == end) {
      size_t n = static_cast<size_t>(p - s);
      if (n > 0 && s[n - 1] == '\r') --n;
      push(r, FieldView{s, n, false, false});
      r.end = s + n;
      r.next = end;
      return check_lengths(r, out, capacity);
    }
    const char c = *p;
    if (c == delimiter_) {
      push(r, FieldView{s, static_cast<size_t>(p - s), false, false});
      ++p;
      continue;
    }
    if (c == '\n') {
      size_t n = static_cast<size_t>(p - s);
      if (n > 0 && s[n - 1] == '\r') --n;
      push(r, FieldView{s, n, false, false});
      r.end = s + n;
      r.next = p + 1;
      ++r.newlines;
      return check_lengths(r, out, capacity);
    }
    // A stray quote: probed like any opening quote; the record ends where the grammar says.
    r.status = RecordStatus::kStrayQuote;
    r.error_at = p;
    const char* close = nullptr;
    if (probe(p, end, &close) == QuoteProbe::kClosed) {
      r.newlines += std::count(p + 1, close, '\n');
      return skip_rest(r, close + 1, end);
    }
    return skip_rest(r, p + 1, end);
  }
}

ScannedRecord RecordScanner::check_lengths(ScannedRecord r, const FieldView* fields,
                                           size_t capacity) const {
  // Quoted fields are bounded by probe(); unquoted ones are checked here, only when the record
  // itself is longer than the limit.
  if (static_cast<size_t>(r.end - r.begin) <= max_field_bytes_) [[likely]]
    return r;
  for (size_t i = 0; i < std::min(r.fields, capacity); ++i) {
    if (fields[i].size > max_field_bytes_) {
      r.status = RecordStatus::kFieldTooLong;
      r.error_at = fields[i].data;
      return r;
    }
  }
  return r;
}

size_t RecordScanner::scan_simple(const char* p, const char* limit, const char* end, size_t nfields,
                                  size_t max_records, FieldView* out, const char** next) const {
  // Why a separate bulk path: scan() starts a fresh 64-byte mask at every record, so a ~50-byte
  // record classifies ~1.5 blocks and pays the call and setup per record. Here one mask stream
  // runs across record boundaries: every input byte is classified once and each field costs a
  // ctz, a byte test and one FieldView store. Anything unusual (a quote, a blank line, a wrong
  // field count, the last 64 bytes of the buffer) stops the bulk path *before* that record, so
  // scan() still decides all of those cases and the results cannot differ.
  size_t n = 0;
  const char* rec = p;
#ifdef __SSE2__
  if (nfields > 0 && end - p >= 64) {
    const char* base = p;
    std::uint64_t m = special_mask(base);
    const char* field = p;
    FieldView* o = out;
    const char delimiter = delimiter_;
    while (n < max_records && rec < limit) {
      // One record: delimiters in the inner loop, the record checks only at its end.
      size_t k = 0;  // fields of this record so far
      const char* q;
      for (;;) {
        while (m == 0) {
          base += 64;
          if (end - base < 64) goto done;
          // The file's bytes come from the page cache, cold: without a software prefetch the
          // block loads stalled (two thirds of this function's samples in a profile), since the
          // hardware prefetcher stops at each 4 KiB page.
          if (end - base >= 64 + kPrefetchAhead) prefetch_line(base + kPrefetchAhead);
          m = special_mask(base);
        }
        q = base + __builtin_ctzll(m);
        m &= m - 1;
        if (*q != delimiter) break;
        if (k + 1 >= nfields) goto done;  // too many fields: scan() reports it
        o[k++] = FieldView{field, static_cast<size_t>(q - field), false, false};
        field = q + 1;
      }
      if (*q != '\n') goto done;  // a quote
      // A blank line ("" or "\r") is not a record; a short record is bad: both go to scan().
      if (k + 1 != nfields || q == rec || (q == rec + 1 && *rec == '\r')) goto done;
      // A record longer than max_field_bytes may hold a too long field: scan() checks.
      if (static_cast<size_t>(q - rec) > max_field_bytes_) goto done;
      size_t len = static_cast<size_t>(q - field);
      if (len > 0 && field[len - 1] == '\r') --len;
      o[k] = FieldView{field, len, false, false};
      o += nfields;
      ++n;
      rec = field = q + 1;
    }
  }
done:
#else
  (void)limit;
  (void)end;
  (void)nfields;
  (void)max_records;
  (void)out;
#endif
  *next = rec;
  return n;
}

const char* find_invalid_text(const char* p, const char* end) {
  while (p < end) {
#ifdef __SSE2__
    // ASCII fast path: 16 bytes at a time, looking for a byte with the high bit set or a NUL.
    const __m128i zero = _mm_setzero_si128();
    while (end - p >= 16) {
      const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
      const int m = _mm_movemask_epi8(b) | _mm_movemask_epi8(_mm_cmpeq_epi8(b, zero));
      if (m != 0) {
        p += __builtin_ctz(static_cast<unsigned>(m));
        break;
      }
      p += 16;
    }
    if (p >= end) return nullptr;
#endif
    const auto c = static_cast<unsigned char>(*p);
    if (c == 0) return p;
    if (c < 0x80) {
      ++p;
      continue;
    }
    // A multi-byte sequence (Unicode Table 3-7): the lead byte fixes the length and the range of
    // the second byte, which excludes overlong forms, surrogates and code points past U+10FFFF.
    size_t n;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) {
      n = 1;
    } else if (c >= 0xE0 && c <= 0xEF) {
      n = 2;
      if (c == 0xE0) lo = 0xA0;
      if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      n = 3;
      if (c == 0xF0) lo = 0x90;
      if (c == 0xF4) hi = 0x8F;
    } else {
      return p;
    }
    if (static_cast<size_t>(end - p) <= n) return p;  // truncated
    const auto c1 = static_cast<unsigned char>(p[1]);
    if (c1 < lo || c1 > hi) return p;
    for (size_t k = 2; k <= n; ++k) {
      const auto ck = static_cast<unsigned char>(p[k]);
      if (ck < 0x80 || ck > 0xBF) return p;
    }
    p += n + 1;
  }
  return nullptr;
}

std::string_view unescape_slow(const FieldView& field, std::string& scratch) {
  scratch.clear();
  for (size_t i = 0; i < field.size; ++i) {
    scratch.push_back(field.data[i]);
    if (field.data[i] == '"') ++i;  // "" -> "
  }
  return scratch;
}

void count_quotes_newlines(const char* p, std::size_t n, idx_t& quotes, idx_t& newlines) {
  std::uint64_t q = 0, nl = 0;
#ifdef __SSE2__
  // Byte-wide counters (subtracting the 0xFF compare results) for up to 255 blocks of 16 bytes,
  // then summed with psadbw: ~4 instructions per 16 bytes. This pass runs over a whole rank's
  // range before parsing (for the next rank's quote parity), so it must cost far less than the
  // parse; the plain byte loop compiled to ~2 instructions per byte.
  const __m128i quote = _mm_set1_epi8('"');
  const __m128i lf = _mm_set1_epi8('\n');
  const __m128i zero = _mm_setzero_si128();
  while (n >= 16) {
    const std::size_t blocks = std::min<std::size_t>(n / 16, 255);
    __m128i cq = zero, cn = zero;
    for (std::size_t i = 0; i < blocks; ++i) {
      const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 16 * i));
      cq = _mm_sub_epi8(cq, _mm_cmpeq_epi8(b, quote));
      cn = _mm_sub_epi8(cn, _mm_cmpeq_epi8(b, lf));
    }
    const __m128i sq = _mm_sad_epu8(cq, zero);
    const __m128i sn = _mm_sad_epu8(cn, zero);
    q += static_cast<std::uint64_t>(_mm_cvtsi128_si64(sq)) +
         static_cast<std::uint64_t>(_mm_cvtsi128_si64(_mm_unpackhi_epi64(sq, sq)));
    nl += static_cast<std::uint64_t>(_mm_cvtsi128_si64(sn)) +
          static_cast<std::uint64_t>(_mm_cvtsi128_si64(_mm_unpackhi_epi64(sn, sn)));
    p += 16 * blocks;
    n -= 16 * blocks;
  }
#endif
  for (std::size_t i = 0; i < n; ++i) {
    q += static_cast<std::uint64_t>(p[i] == '"');
    nl += static_cast<std::uint64_t>(p[i] == '\n');
  }
  quotes = static_cast<idx_t>(q);
  newlines = static_cast<idx_t>(nl);
}

// ------------------------------------------------------------------------------------------------
// Value parsers
// ------------------------------------------------------------------------------------------------

namespace {

// "+5" and "+.5e3" read like "5" and ".5e3" (pandas, DuckDB and strtod accept a leading plus);
// "+-5", "++5" and a lone "+" stay malformed.
std::string_view without_plus(std::string_view text) {
  if (text.size() > 1 && text[0] == '+' && text[1] != '-' && text[1] != '+') text.remove_prefix(1);
  return text;
}

// from_chars reports a value too small or too large for the type as out of range; like strtod,
// pandas and DuckDB, read it as the nearest representable value (0 or a subnormal for
// underflow, infinity for overflow). strtod needs a terminated copy; this path is rare.
template <typename T>
bool parse_out_of_range(std::string_view text, T& out) {
  const std::string copy(text);
  char* end = nullptr;
  const double value = std::strtod(copy.c_str(), &end);
  if (end != copy.c_str() + copy.size()) return false;
  out = static_cast<T>(value);
  return true;
}

}  // namespace

bool parse_int64_slow(std::string_view text, std::int64_t& out) {
  text = without_plus(text);
  if (text.empty()) return false;
  const char* b = text.data();
  const char* e = b + text.size();
  auto [ptr, ec] = std::from_chars(b, e, out);
  return ec == std::errc() && ptr == e;
}

bool parse_float64_slow(std::string_view text, double& out) {
  text = without_plus(text);
  if (text.empty()) return false;
  const char* b = text.data();
  const char* e = b + text.size();
  auto [ptr, ec] = std::from_chars(b, e, out);
  if (ec == std::errc::result_out_of_range && ptr == e) return parse_out_of_range(text, out);
  return ec == std::errc() && ptr == e;
}

bool parse_float32(std::string_view text, float& out) {
  text = without_plus(text);
  if (text.empty()) return false;
  const char* b = text.data();
  const char* e = b + text.size();
  auto [ptr, ec] = std::from_chars(b, e, out);
  if (ec == std::errc::result_out_of_range && ptr == e) return parse_out_of_range(text, out);
  return ec == std::errc() && ptr == e;
}

bool parse_bool(std::string_view t, bool& out) {
  if (t == "true" || t == "True" || t == "TRUE") {
    out = true;
    return true;
  }
  if (t == "false" || t == "False" || t == "FALSE") {
    out = false;
    return true;
  }
  return false;
}

// The calendar and the timestamp text format live in table/timestamp.hpp (the expression
// language parses timestamp literals with the same rules as ingest).
std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
  return table::days_from_civil(y, m, d);
}

bool parse_timestamp(std::string_view text, std::int64_t& micros) {
  return table::parse_timestamp(text, micros);
}

void append_timestamp(std::int64_t micros, std::string& out) {
  table::append_timestamp(micros, out);
}

void append_string_field(std::string_view value, char delimiter, std::string& out) {
  bool quote = value.empty();
  for (char c : value) {
    if (c == delimiter || c == '"' || c == '\n' || c == '\r') {
      quote = true;
      break;
    }
  }
  if (!quote) {
    out.append(value);
    return;
  }
  out.push_back('"');
  for (char c : value) {
    if (c == '"') out.push_back('"');
    out.push_back(c);
  }
  out.push_back('"');
}

void append_float64(double value, std::string& out) {
  const size_t start = out.size();
  fmt::format_to(std::back_inserter(out), "{}", value);
  const std::string_view text(out.data() + start, out.size() - start);
  if (text.find_first_of(".eEna") == std::string_view::npos) out.append(".0");
}

}  // namespace shardflow::io::csv
