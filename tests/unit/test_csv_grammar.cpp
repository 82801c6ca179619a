// The CSV record grammar of csv_scanner.hpp (malformed quotes, record boundaries, split points)
// and the UTF-8/NUL check, against brute-force references written independently of the scanner:
// a character-at-a-time record parser that follows the grammar's definition literally, and a
// code-point-by-code-point UTF-8 decoder.

#include <gtest/gtest.h>

#include <optional>
#include <random>
#include <string>
#include <vector>

#include "shardflow/io/csv_scanner.hpp"

using namespace shardflow;
using namespace shardflow::io::csv;

namespace {

enum class Probe { kClosed, kRunaway, kMisclosed };

/// The quote at q: closed (with its closing quote) or not, by the definition.
Probe ref_probe(const std::string& t, size_t q, size_t limit, char delim, size_t* close) {
  size_t j = q + 1;
  while (j < t.size()) {
    if (t[j] == '"') {
      if (j + 1 < t.size() && t[j + 1] == '"') {
        j += 2;
        continue;
      }
      break;
    }
    ++j;
  }
  if (j >= t.size() || j - q - 1 > limit) return Probe::kRunaway;
  *close = j;
  const size_t a = j + 1;
  const bool ok = a == t.size() || t[a] == delim || t[a] == '\n' ||
                  (t[a] == '\r' && (a + 1 == t.size() || t[a + 1] == '\n'));
  if (ok) return Probe::kClosed;
  for (size_t k = q + 1; k < j; ++k)
    if (t[k] == '\n') return Probe::kMisclosed;
  return Probe::kClosed;
}

struct RefRecord {
  size_t begin = 0, end = 0, next = 0;
  RecordStatus status = RecordStatus::kOk;
  size_t error_at = 0;
  std::vector<std::string> fields;
};

/// Walks on from p (outside quotes) to the first newline outside quotes; returns its index
/// (or t.size()).
size_t ref_skip(const std::string& t, size_t p, size_t limit, char delim) {
  while (p < t.size()) {
    if (t[p] == '\n') return p;
    if (t[p] == '"') {
      size_t close = 0;
      if (ref_probe(t, p, limit, delim, &close) == Probe::kClosed) {
        p = close + 1;
        continue;
      }
    }
    ++p;
  }
  return p;
}

/// All records of t from its start, blank lines included.
std::vector<RefRecord> ref_records(const std::string& t, size_t limit, char delim) {
  std::vector<RefRecord> out;
  size_t i = 0;
  while (i < t.size()) {
    RefRecord r;
    r.begin = i;
    size_t p = i;
    bool bad = false;
    std::string field;
    size_t nl = t.size();  // the terminating newline (or t.size())
    for (;;) {
      if (p < t.size() && t[p] == '"') {
        size_t close = 0;
        const Probe pr = ref_probe(t, p, limit, delim, &close);
        if (pr != Probe::kClosed) {
          r.status = pr == Probe::kRunaway ? RecordStatus::kUnterminatedQuote
                                           : RecordStatus::kUnclosedQuote;
          r.error_at = p;
          nl = ref_skip(t, p + 1, limit, delim);
          bad = true;
          break;
        }
        field.clear();
        for (size_t k = p + 1; k < close; ++k) {
          field += t[k];
          if (t[k] == '"') ++k;
        }
        r.fields.push_back(field);
        p = close + 1;
        if (p == t.size()) {
          nl = p;
          break;
        }
        if (t[p] == delim) {
          ++p;
          continue;
        }
        if (t[p] == '\n') {
          nl = p;
          break;
        }
        if (t[p] == '\r' && (p + 1 == t.size() || t[p + 1] == '\n')) {
          nl = p + 1 == t.size() ? p + 1 : p + 1;
          break;
        }
        r.status = RecordStatus::kBadAfterQuote;
        r.error_at = p;
        nl = ref_skip(t, p, limit, delim);
        bad = true;
        break;
      }
      size_t k = p;
      while (k < t.size() && t[k] != delim && t[k] != '\n' && t[k] != '"')
        ++k;
      if (k < t.size() && t[k] == '"') {
        r.status = RecordStatus::kStrayQuote;
        r.error_at = k;
        size_t close = 0;
        nl = ref_probe(t, k, limit, delim, &close) == Probe::kClosed
                 ? ref_skip(t, close + 1, limit, delim)
                 : ref_skip(t, k + 1, limit, delim);
        bad = true;
        break;
      }
      field = t.substr(p, k - p);
      if (k == t.size() || t[k] == '\n') {
        if (!field.empty() && field.back() == '\r') field.pop_back();
        r.fields.push_back(field);
        nl = k;
        break;
      }
      r.fields.push_back(field);
      p = k + 1;
    }
    r.next = nl < t.size() ? nl + 1 : t.size();
    r.end = nl;
    if (r.end > r.begin && r.end <= t.size() && t[r.end - 1] == '\r') --r.end;
    if (!bad) {
      if (r.end == r.begin) {
        r.status = RecordStatus::kBlank;
        r.fields.clear();
      } else {
        for (size_t f = 0; f < r.fields.size(); ++f) {
          if (r.fields[f].size() > limit) {
            // Only unquoted fields can be this long (a quoted one would not be closed).
            r.status = RecordStatus::kFieldTooLong;
            break;
          }
        }
      }
    }
    out.push_back(r);
    i = r.next;
  }
  return out;
}

/// Random text over an alphabet rich in quotes, newlines, CRs and delimiters.
std::string random_csv(std::mt19937_64& rng, size_t n) {
  static const std::string alphabet = "ab,\"\"\n\n\r1 ";
  std::string t;
  for (size_t i = 0; i < n; ++i) {
    if (rng() % 9 == 0) {
      t += "\"x,\ny\"";  // a well-formed quoted field with a newline
      continue;
    }
    t += alphabet[rng() % alphabet.size()];
  }
  return t;
}

/// The first record start at or after b, as the reader finds it from the parity at b.
size_t split_start(const RecordScanner& sc, const std::string& t, size_t b) {
  const char* d = t.data();
  const char* e = d + t.size();
  if (b == 0) return 0;
  const int parity = sc.parity_after(d, d + b, e, 0);
  if (t[b - 1] == '\n' && parity == 0) return b;
  const char* next = sc.next_record_start(d + b, e, e, parity);
  return next == nullptr ? t.size() : static_cast<size_t>(next - d);
}

}  // namespace

TEST(CsvGrammar, ScannerMatchesReferenceOnRandomText) {
  std::mt19937_64 rng(2024);
  for (int trial = 0; trial < 3000; ++trial) {
    const size_t limit = 1 + rng() % 12;
    const std::string t = random_csv(rng, 1 + rng() % 60);
    const auto ref = ref_records(t, limit, ',');
    RecordScanner sc(',', limit);
    std::vector<FieldView> fields;
    std::string scratch;
    const char* p = t.data();
    const char* e = p + t.size();
    size_t k = 0;
    while (p < e) {
      const auto r = sc.scan(p, e, fields);
      ASSERT_LT(k, ref.size());
      const RefRecord& w = ref[k];
      const std::string where =
          "trial " + std::to_string(trial) + " record " + std::to_string(k) + " text '" + t + "'";
      ASSERT_EQ(static_cast<size_t>(r.begin - t.data()), w.begin) << where;
      ASSERT_EQ(static_cast<size_t>(r.next - t.data()), w.next) << where;
      ASSERT_EQ(static_cast<size_t>(r.end - t.data()), w.end) << where;
      ASSERT_EQ(r.status, w.status) << where;
      if (w.status == RecordStatus::kOk) {
        ASSERT_EQ(fields.size(), w.fields.size()) << where;
        for (size_t f = 0; f < fields.size(); ++f)
          ASSERT_EQ(std::string(unescape(fields[f], scratch)), w.fields[f]) << where;
      } else if (w.status != RecordStatus::kBlank && w.status != RecordStatus::kFieldTooLong) {
        ASSERT_EQ(static_cast<size_t>(r.error_at - t.data()), w.error_at) << where;
      }
      p = r.next;
      ++k;
    }
    ASSERT_EQ(k, ref.size());
  }
}

TEST(CsvGrammar, EverySplitPointFindsTheSameRecords) {
  // At every byte offset b, the first record start at or after b found from the parity at b
  // (as a rank whose range starts at b does) is the reference's; and parities compose over
  // 2, 3 and 4 ranges, as the ranks of one file compose them.
  std::mt19937_64 rng(77);
  for (int trial = 0; trial < 1500; ++trial) {
    const size_t limit = 1 + rng() % 12;
    const std::string t = random_csv(rng, 1 + rng() % (trial % 5 == 0 ? 300 : 50));
    const auto ref = ref_records(t, limit, ',');
    RecordScanner sc(',', limit);
    const char* d = t.data();
    const char* e = d + t.size();
    for (size_t b = 0; b <= t.size(); ++b) {
      size_t expected = t.size();
      for (const auto& r : ref) {
        if (r.begin >= b) {
          expected = r.begin;
          break;
        }
      }
      ASSERT_EQ(split_start(sc, t, b), expected)
          << "trial " << trial << " b=" << b << " '" << t << "'";
    }
    for (int ranks = 2; ranks <= 4; ++ranks) {
      std::vector<size_t> cuts = {0};
      for (int r = 1; r < ranks; ++r)
        cuts.push_back(rng() % (t.size() + 1));
      std::sort(cuts.begin(), cuts.end());
      cuts.push_back(t.size());
      int parity = 0;
      for (size_t r = 0; r + 1 < cuts.size(); ++r) {
        ASSERT_EQ(parity, sc.parity_after(d, d + cuts[r], e, 0)) << "trial " << trial;
        // Both entry parities, as the ranks compute them (in one lockstep walk).
        int out[2];
        sc.parity_out(d + cuts[r], d + cuts[r + 1], e, out);
        ASSERT_EQ(out[0], sc.parity_after(d + cuts[r], d + cuts[r + 1], e, 0)) << trial;
        ASSERT_EQ(out[1], sc.parity_after(d + cuts[r], d + cuts[r + 1], e, 1)) << trial;
        parity = out[parity];
      }
      ASSERT_EQ(parity, sc.parity_after(d, e, e, 0)) << "trial " << trial;
    }
  }
}

namespace {

/// Reference UTF-8 check: decode code point by code point; an overlong form, a surrogate, a
/// value past U+10FFFF, a bad continuation or a truncated sequence is invalid, as is NUL.
std::optional<size_t> ref_invalid(const std::string& s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c == 0) return i;
    if (c < 0x80) {
      ++i;
      continue;
    }
    int n;
    std::uint32_t cp;
    if ((c & 0xE0) == 0xC0) {
      n = 1;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      n = 2;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      n = 3;
      cp = c & 0x07;
    } else {
      return i;
    }
    if (i + static_cast<size_t>(n) >= s.size()) return i;
    for (int k = 1; k <= n; ++k) {
      const auto ck = static_cast<unsigned char>(s[i + static_cast<size_t>(k)]);
      if ((ck & 0xC0) != 0x80) return i;
      cp = (cp << 6) | (ck & 0x3F);
    }
    const std::uint32_t min[4] = {0, 0x80, 0x800, 0x10000};
    if (cp < min[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return i;
    i += static_cast<size_t>(n) + 1;
  }
  return std::nullopt;
}

}  // namespace

TEST(CsvGrammar, InvalidTextMatchesReference) {
  const std::vector<std::string> pieces = {"a",
                                           "plain ascii text, longer than sixteen bytes",
                                           "\xC3\xA9",          // é
                                           "\xE2\x82\xAC",      // €
                                           "\xF0\x9F\x98\x80",  // emoji
                                           "\xC0\xAF",          // overlong '/'
                                           "\xE0\x80\xAF",
                                           "\xF0\x80\x80\xAF",  // overlongs
                                           "\xED\xA0\x80",      // surrogate
                                           "\xF4\x90\x80\x80",  // > U+10FFFF
                                           "\xC3",
                                           "\xE2\x82",
                                           "\xF0\x9F\x98",  // truncated
                                           "\x80",
                                           "\xFF",
                                           std::string(1, '\0'),
                                           "\xEF\xBF\xBF",
                                           "\xED\x9F\xBF"};
  std::mt19937_64 rng(5);
  for (int trial = 0; trial < 200000; ++trial) {
    std::string s;
    const int n = static_cast<int>(rng() % 8);
    for (int k = 0; k < n; ++k)
      s += pieces[rng() % pieces.size()];
    // Arbitrary bytes too, now and then.
    if (rng() % 4 == 0) s += static_cast<char>(rng() % 256);
    const char* got = find_invalid_text(s.data(), s.data() + s.size());
    const auto want = ref_invalid(s);
    ASSERT_EQ(got == nullptr, !want.has_value()) << trial;
    if (want) {
      ASSERT_EQ(static_cast<size_t>(got - s.data()), *want) << trial;
    }
  }
  // Every 1-, 2-, 3-byte string, and 4-byte strings with a varied prefix.
  for (unsigned a = 0; a < 256; ++a) {
    for (unsigned b = 0; b < 256; ++b) {
      for (unsigned c = 0; c < 256; c += (a >= 0xE0 && a <= 0xF4) ? 1 : 255) {
        const std::string s = {static_cast<char>(a), static_cast<char>(b), static_cast<char>(c)};
        for (size_t len = 1; len <= 3; ++len) {
          const std::string u = s.substr(0, len);
          const char* got = find_invalid_text(u.data(), u.data() + u.size());
          const auto want = ref_invalid(u);
          ASSERT_EQ(got == nullptr, !want.has_value()) << a << " " << b << " " << c;
          if (want) {
            ASSERT_EQ(static_cast<size_t>(got - u.data()), *want);
          }
        }
      }
    }
  }
}
