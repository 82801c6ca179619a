// RecordScanner::scan_simple (the bulk path of CSV ingest) must agree with scan() record by
// record, stop before anything scan() has to judge, and still consume plain data.

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "shardflow/io/csv_scanner.hpp"

using namespace shardflow;
using namespace shardflow::io::csv;

namespace {

/// Rows of `nfields` fields, with occasional irregularities: quotes, blank lines, CRLF, CR-only
/// lines, wrong field counts, empty fields.
std::string random_text(std::mt19937_64& rng, size_t nfields, int rows, int irregular_percent) {
  std::string text;
  for (int r = 0; r < rows; ++r) {
    const bool odd = static_cast<int>(rng() % 100) < irregular_percent;
    const int kind = odd ? static_cast<int>(rng() % 5) : -1;
    if (kind == 0) {
      text += rng() % 2 == 0 ? "\n" : "\r\n";  // blank line
      continue;
    }
    const size_t fields = kind == 1 ? nfields + 1 - rng() % 3 : nfields;
    for (size_t f = 0; f < fields; ++f) {
      if (f > 0) text += ',';
      const size_t len = rng() % 14;
      for (size_t i = 0; i < len; ++i)
        text += static_cast<char>('a' + rng() % 26);
      if (kind == 2 && f == 0) text += "\"q,\"\"x\"";  // quotes: stray or quoted field
      if (kind == 3 && f == fields - 1) text += '\r';
    }
    text += kind == 4 ? "\r\n" : "\n";
  }
  return text;
}

}  // namespace

TEST(ScanSimple, AgreesWithScanOnRandomText) {
  std::mt19937_64 rng(11);
  for (int trial = 0; trial < 300; ++trial) {
    const size_t nfields = 1 + rng() % 9;
    const std::string text =
        random_text(rng, nfields, 1 + static_cast<int>(rng() % 200), static_cast<int>(rng() % 30));
    const char* p = text.data();
    const char* end = p + text.size();
    // A limit inside the text: records starting at or after it are not taken.
    const char* limit = p + rng() % (text.size() + 1);
    RecordScanner scanner(',');
    std::vector<FieldView> bulk(nfields * 64);
    std::vector<FieldView> one;
    const char* q = p;
    while (q < end) {
      const char* next = nullptr;
      const size_t max_records = 1 + rng() % 64;
      const size_t n = scanner.scan_simple(q, limit, end, nfields, max_records, bulk.data(), &next);
      ASSERT_LE(n, max_records);
      for (size_t i = 0; i < n; ++i) {
        ASSERT_LT(q, limit) << "a record at or after the limit was taken";
        const auto rec = scanner.scan(q, end, one);
        ASSERT_EQ(rec.status, RecordStatus::kOk) << "trial " << trial;
        ASSERT_EQ(rec.fields, nfields);
        ASSERT_EQ(rec.newlines, 1);
        for (size_t f = 0; f < nfields; ++f) {
          const FieldView& a = bulk[i * nfields + f];
          EXPECT_EQ(std::string(a.data, a.size), std::string(one[f].data, one[f].size));
          EXPECT_FALSE(a.quoted);
          EXPECT_FALSE(a.escaped);
          EXPECT_FALSE(one[f].quoted);
        }
        q = rec.next;
      }
      ASSERT_EQ(next, q);
      if (n == 0) q = scanner.scan(q, end, one).next;  // the record scan() must judge
    }
  }
}

TEST(ScanSimple, ConsumesPlainRowsAndStopsBeforeTheTail) {
  std::string text;
  for (int r = 0; r < 100; ++r)
    text += "id" + std::to_string(r) + "," + std::to_string(r * 7) + ",1.5\n";
  RecordScanner scanner(',');
  std::vector<FieldView> out(3 * 200);
  const char* next = nullptr;
  const char* end = text.data() + text.size();
  const size_t n = scanner.scan_simple(text.data(), end, end, 3, 200, out.data(), &next);
  // Everything but the records within the last 64..127 bytes (left to scan()).
  EXPECT_GT(n, 90u);
  EXPECT_LT(n, 100u);
  EXPECT_GE(end - next, 1);
  EXPECT_EQ(std::string(out[3].data, out[3].size), "id1");
  EXPECT_EQ(std::string(out[4].data, out[4].size), "7");
  // A quote in the first record: nothing is taken.
  const std::string quoted = "\"a\",b,c\n" + text;
  EXPECT_EQ(scanner.scan_simple(quoted.data(), quoted.data() + quoted.size(),
                                quoted.data() + quoted.size(), 3, 200, out.data(), &next),
            0u);
  EXPECT_EQ(next, quoted.data());
}
