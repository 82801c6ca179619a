// read_csv against a brute-force single-threaded reference parser, at every rank count.

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <functional>
#include <optional>
#include <random>
#include <regex>
#include <string>
#include <vector>

#include "shardflow/common/error.hpp"
#include "shardflow/io/csv_reader.hpp"
#include "shardflow/io/csv_scanner.hpp"
#include "shardflow/mpi/allgatherv.hpp"
#include "shardflow/mpi/allreduce.hpp"
#include "shardflow/mpi/bcast.hpp"
#include "support/test_util.hpp"

using namespace shardflow;
using shardflow::table::DataType;
namespace fs = std::filesystem;

namespace {

// =================================================================================================
// Reference: a character-at-a-time parser written independently of the scanner.
// =================================================================================================

struct RefField {
  std::string text;
  bool quoted = false;
};

struct RefRecord {
  std::string file;
  long long line = 0;
  std::vector<RefField> fields;
  std::string error;  // non-empty: scan error
  std::string raw;
};

/// The grammar's probe of an opening quote at q (csv_scanner.hpp), by its definition: true if the
/// quote is closed, with its closing quote in *close.
bool ref_closed(const std::string& t, size_t q, char delim, size_t* close) {
  const size_t limit = io::csv::kDefaultMaxFieldBytes;
  size_t j = q + 1;
  while (j < t.size() && !(t[j] == '"' && !(j + 1 < t.size() && t[j + 1] == '"')))
    j += t[j] == '"' ? 2 : 1;
  if (j >= t.size() || j - q - 1 > limit) return false;
  *close = j;
  const size_t a = j + 1;
  if (a == t.size() || t[a] == delim || t[a] == '\n' ||
      (t[a] == '\r' && (a + 1 == t.size() || t[a + 1] == '\n')))
    return true;
  return t.find('\n', q + 1) >= j;
}

/// Invalid UTF-8 or NUL, decoded code point by code point.
bool ref_valid_text(const std::string& s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c == 0) return false;
    if (c < 0x80) {
      ++i;
      continue;
    }
    const int n = (c & 0xE0) == 0xC0 ? 1 : (c & 0xF0) == 0xE0 ? 2 : (c & 0xF8) == 0xF0 ? 3 : -1;
    if (n < 0 || i + static_cast<size_t>(n) >= s.size()) return false;
    std::uint32_t cp = c & (0x7F >> (n + 1));
    for (int k = 1; k <= n; ++k) {
      const auto ck = static_cast<unsigned char>(s[i + static_cast<size_t>(k)]);
      if ((ck & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (ck & 0x3F);
    }
    const std::uint32_t min[4] = {0, 0x80, 0x800, 0x10000};
    if (cp < min[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += static_cast<size_t>(n) + 1;
  }
  return true;
}

std::vector<RefRecord> reference_records(const std::string& path, const std::string& text,
                                         bool header, char delim = ',') {
  std::vector<RefRecord> out;
  size_t i = 0;
  long long line = 1;
  if (text.size() >= 3 && text.compare(0, 3, "\xEF\xBB\xBF") == 0) i = 3;
  bool header_done = !header;
  while (i < text.size()) {
    // Record extent: the first newline outside quotes, where a quote opens a quoted region only
    // if the grammar's probe finds it closed.
    size_t j = i;
    while (j < text.size() && text[j] != '\n') {
      size_t close = 0;
      if (text[j] == '"' && ref_closed(text, j, delim, &close)) {
        j = close + 1;
        continue;
      }
      ++j;
    }
    std::string rec = text.substr(i, j - i);
    const long long rec_line = line;
    line += std::count(text.begin() + static_cast<long>(i),
                       text.begin() + static_cast<long>(std::min(j + 1, text.size())), '\n');
    i = j + 1;
    if (j >= text.size() && !rec.empty() && rec.back() == '\n') rec.pop_back();
    if (!rec.empty() && rec.back() == '\r') rec.pop_back();
    if (rec.empty()) continue;  // blank line
    RefRecord r;
    r.file = path;
    r.line = rec_line;
    r.raw = rec;
    size_t k = 0;
    for (;;) {
      RefField f;
      if (k < rec.size() && rec[k] == '"') {
        f.quoted = true;
        size_t m = k + 1;
        bool closed = false;
        while (m < rec.size()) {
          if (rec[m] == '"') {
            if (m + 1 < rec.size() && rec[m + 1] == '"') {
              f.text += '"';
              m += 2;
              continue;
            }
            closed = true;
            break;
          }
          f.text += rec[m++];
        }
        size_t close = 0;
        if (!closed || !ref_closed(rec, k, delim, &close)) {
          r.error = "a quoted field is not closed";
          break;
        }
        r.fields.push_back(f);
        if (m + 1 == rec.size()) break;
        if (rec[m + 1] == delim) {
          k = m + 2;
          continue;
        }
        r.error = "unexpected character after the closing quote of a quoted field";
        break;
      }
      size_t m = k;
      while (m < rec.size() && rec[m] != delim && rec[m] != '"')
        ++m;
      if (m < rec.size() && rec[m] == '"') {
        r.error =
            "a '\"' inside an unquoted field (quote the whole field and double the quotes in it)";
        break;
      }
      f.text = rec.substr(k, m - k);
      r.fields.push_back(f);
      if (m == rec.size()) break;
      k = m + 1;
    }
    if (r.error.empty()) {
      for (const auto& f : r.fields)
        if (!ref_valid_text(f.text)) r.error = "invalid UTF-8 or NUL";
    }
    if (!header_done) {
      header_done = true;
      continue;
    }
    out.push_back(std::move(r));
  }
  return out;
}

int kind_bit(const RefField& f) {
  std::int64_t i;
  double d;
  bool b;
  if (f.text.empty()) return f.quoted ? 1 << 5 : 0;
  if (io::csv::parse_int64(f.text, i)) return 1 << 2;
  if (io::csv::parse_float64(f.text, d)) return 1 << 3;
  if (io::csv::parse_bool(f.text, b)) return 1 << 1;
  if (io::csv::parse_timestamp(f.text, i)) return 1 << 4;
  return 1 << 5;
}

DataType infer(int mask) {
  if (mask == 0 || (mask & (1 << 5))) return DataType::kString;
  if (mask == (1 << 1)) return DataType::kBool;
  if (mask == (1 << 4)) return DataType::kTimestamp;
  if (mask == (1 << 2)) return DataType::kInt64;
  if ((mask & ~((1 << 2) | (1 << 3))) == 0) return DataType::kFloat64;
  return DataType::kString;
}

/// Checks that `cell` of the distributed result equals the reference field under type `type`.
void expect_cell(const table::Column& col, idx_t row, const RefField& f, DataType type,
                 const std::string& where) {
  const bool null = f.text.empty() && !(f.quoted && type == DataType::kString);
  ASSERT_EQ(!col.is_valid(row), null) << where << " text='" << f.text << "'";
  if (null) return;
  const auto r = static_cast<size_t>(row);
  switch (type) {
    case DataType::kInt64: {
      std::int64_t v;
      ASSERT_TRUE(io::csv::parse_int64(f.text, v)) << where;
      EXPECT_EQ(col.values<std::int64_t>()[r], v) << where;
      break;
    }
    case DataType::kFloat64: {
      double v;
      ASSERT_TRUE(io::csv::parse_float64(f.text, v)) << where;
      EXPECT_EQ(col.values<double>()[r], v) << where;
      break;
    }
    case DataType::kBool: {
      bool v;
      ASSERT_TRUE(io::csv::parse_bool(f.text, v)) << where;
      EXPECT_EQ(col.values<std::uint8_t>()[r], v ? 1 : 0) << where;
      break;
    }
    case DataType::kTimestamp: {
      std::int64_t v;
      ASSERT_TRUE(io::csv::parse_timestamp(f.text, v)) << where;
      EXPECT_EQ(col.values<std::int64_t>()[r], v) << where;
      break;
    }
    case DataType::kString:
      EXPECT_EQ(col.string_at(row), f.text) << where;
      break;
    default:
      FAIL() << "unexpected type";
  }
}

/// Rows of the reference (all files) that are good: right field count and no scan error.
struct Reference {
  std::vector<RefRecord> rows;
  std::vector<RefRecord> bad;
  std::vector<std::string> names;
};

Reference make_reference(const std::vector<std::string>& files, bool header) {
  Reference ref;
  size_t ncols = 0;
  bool have_names = false;
  for (const auto& path : files) {
    const std::string text = testing_util::read_file(path);
    if (header && !have_names) {
      auto with_header = reference_records(path, text, false);
      if (!with_header.empty()) {
        for (const auto& f : with_header.front().fields)
          ref.names.push_back(f.text);
        have_names = true;
        ncols = ref.names.size();
      }
    }
    for (auto& r : reference_records(path, text, header)) {
      if (!header && !have_names) {
        ncols = r.fields.size();
        for (size_t k = 0; k < ncols; ++k)
          ref.names.push_back("column_" + std::to_string(k + 1));
        have_names = true;
      }
      if (!r.error.empty() || r.fields.size() != ncols)
        ref.bad.push_back(std::move(r));
      else
        ref.rows.push_back(std::move(r));
    }
  }
  return ref;
}

/// Compares this rank's slice of `t` with the reference (inferred types).
void check_against_reference(const mpi::Comm& comm, const table::Table& t, const Reference& ref) {
  ASSERT_EQ(t.schema().names(), ref.names);
  const idx_t offset = mpi::exscan_sum(comm, t.num_rows());
  const idx_t total = mpi::allreduce_sum(comm, t.num_rows());
  ASSERT_EQ(total, static_cast<idx_t>(ref.rows.size()));
  for (size_t c = 0; c < ref.names.size(); ++c) {
    int mask = 0;
    for (const auto& r : ref.rows)
      mask |= kind_bit(r.fields[c]);
    const DataType type = infer(mask);
    const auto& col = t.column(static_cast<int>(c));
    ASSERT_EQ(col.type(), type) << "column " << ref.names[c];
    for (idx_t i = 0; i < t.num_rows(); ++i) {
      const auto& rr = ref.rows[static_cast<size_t>(offset + i)];
      expect_cell(col, i, rr.fields[c], type,
                  rr.file + ":" + std::to_string(rr.line) + " column " + ref.names[c]);
      if (::testing::Test::HasFatalFailure()) return;
    }
  }
}

/// Every rank must see the same schema and dictionaries: compare a digest across ranks.
void expect_identical_metadata(const mpi::Comm& comm, const table::Table& t) {
  std::string digest = t.schema().to_string();
  for (int c = 0; c < t.num_columns(); ++c) {
    const auto& col = t.column(c);
    if (col.type() != DataType::kString) continue;
    digest += col.is_dictionary_encoded() ? "|dict:" : "|plain";
    if (col.is_dictionary_encoded()) {
      for (const auto& v : col.dictionary()->values())
        digest += v + "\x1f";
    }
  }
  std::string root = digest;
  mpi::bcast_string(comm, root, 0);
  EXPECT_EQ(digest, root) << "schema or dictionaries differ from rank 0";
}

// =================================================================================================
// Random CSV generation
// =================================================================================================

enum class Gen { kInt, kFloat, kString, kBool, kTimestamp, kIntThenFloat, kIntThenWord, kAllNull };

std::string random_string(std::mt19937_64& rng) {
  static const std::string alphabet = "abcXYZ ,\"\n-_";
  std::string s = "s";
  const int n = static_cast<int>(rng() % 8);
  for (int i = 0; i < n; ++i) {
    const char c = alphabet[rng() % alphabet.size()];
    if (c == '\n' && rng() % 2) s += '\r';
    s += c;
  }
  return s;
}

std::string quote(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

std::string random_value(Gen g, std::mt19937_64& rng, double position) {
  if (g == Gen::kAllNull) return rng() % 2 ? "" : "";
  if (rng() % 10 == 0) return "";  // null
  switch (g) {
    case Gen::kInt:
      return std::to_string(static_cast<long long>(rng() % 2000001) - 1000000);
    case Gen::kFloat: {
      std::string s;
      io::csv::append_float64(
          static_cast<double>(static_cast<long long>(rng() % 200001) - 100000) / 64.0, s);
      return s;
    }
    case Gen::kString: {
      if (rng() % 20 == 0) return "\"\"";  // the empty string
      const std::string s = random_string(rng);
      const bool needs = s.find_first_of(",\"\n\r") != std::string::npos;
      return needs || rng() % 4 == 0 ? quote(s) : s;
    }
    case Gen::kBool:
      return rng() % 2 ? "true" : "FALSE";
    case Gen::kTimestamp: {
      std::string s;
      io::csv::append_timestamp(static_cast<std::int64_t>(rng() % (50LL * 365 * 86400)) * 1000000 +
                                    static_cast<std::int64_t>(rng() % 2) * 250000,
                                s);
      if (rng() % 3 == 0) s[10] = 'T';
      return rng() % 5 == 0 ? quote(s) : s;
    }
    case Gen::kIntThenFloat:
      return position < 0.5 ? std::to_string(rng() % 1000) : std::to_string(rng() % 1000) + ".25";
    case Gen::kIntThenWord:
      return position < 0.7 ? std::to_string(rng() % 1000) : "w" + std::to_string(rng() % 7);
    case Gen::kAllNull:
      return "";
  }
  return "";
}

std::string random_csv(std::mt19937_64& rng, const std::vector<Gen>& gens,
                       const std::vector<std::string>& names, int rows, bool header,
                       bool final_newline) {
  std::string text;
  const bool crlf_file = rng() % 2 == 0;
  const auto eol = [&] { return crlf_file || rng() % 5 == 0 ? "\r\n" : "\n"; };
  if (header) {
    for (size_t c = 0; c < names.size(); ++c)
      text += (c ? "," : "") + names[c];
    text += eol();
  }
  for (int r = 0; r < rows; ++r) {
    for (size_t c = 0; c < gens.size(); ++c) {
      if (c) text += ',';
      text += random_value(gens[c], rng, static_cast<double>(r) / std::max(rows, 1));
    }
    // A row of one empty field would be a blank line; make sure every row has content.
    if (r + 1 < rows || final_newline) text += eol();
  }
  return text;
}

/// comm.agree() names the failing rank ("rank R: ") and counts other failing ranks at the end;
/// both depend on the split, the rest of the message must not.
std::string strip_rank_prefix(const mpi::Comm& comm, const std::string& msg) {
  if (comm.size() == 1) return msg;
  static const std::regex prefix("^rank [0-9]+: ");
  static const std::regex suffix(" \\(and [0-9]+ other ranks? failed too\\)$");
  std::smatch m;
  if (!std::regex_search(msg, m, prefix)) return "<no rank prefix> " + msg;
  return std::regex_replace(m.suffix().str(), suffix, "");
}

/// Runs `f`, which must throw InputError on every rank; returns the message without the rank
/// prefix.
std::string input_error(const mpi::Comm& comm, const std::function<void()>& f) {
  try {
    f();
  } catch (const InputError& e) {
    return strip_rank_prefix(comm, e.what());
  } catch (const std::exception& e) {
    return std::string("<wrong exception type> ") + e.what();
  }
  return "<no exception>";
}

/// The rows of `t`, whose columns are int64 or string, against the reference's rows in global
/// row order (each rank checks its own part).
void expect_int_and_string_rows(const mpi::Comm& comm, const table::Table& t, const Reference& ref,
                                const std::string& label) {
  const idx_t offset = mpi::exscan_sum(comm, t.num_rows());
  for (idx_t i = 0; i < t.num_rows(); ++i) {
    const auto& rr = ref.rows[static_cast<size_t>(offset + i)];
    for (int c = 0; c < t.num_columns(); ++c) {
      const auto& want = rr.fields[static_cast<size_t>(c)].text;
      if (t.column(c).type() == DataType::kInt64) {
        ASSERT_EQ(t.column(c).values<std::int64_t>()[static_cast<size_t>(i)], std::stoll(want))
            << label << ", row " << offset + i << ", column " << c;
      } else {
        ASSERT_EQ(t.column(c).string_at(i), want) << label << ", row " << offset + i;
      }
    }
  }
}

class CsvReader : public ::testing::Test {
 protected:
  mpi::Comm comm;
};

}  // namespace

// =================================================================================================
// Tests
// =================================================================================================

TEST_F(CsvReader, RandomFilesMatchReference) {
  for (int seed = 1; seed <= 6; ++seed) {
    testing_util::TempDir dir(comm);
    std::mt19937_64 rng(static_cast<unsigned>(seed));
    const std::vector<Gen> gens = {Gen::kInt,         Gen::kFloat,     Gen::kString,
                                   Gen::kBool,        Gen::kTimestamp, Gen::kIntThenFloat,
                                   Gen::kIntThenWord, Gen::kAllNull,   Gen::kString};
    const std::vector<std::string> names = {"i", "f", "s", "b", "ts", "mix", "word", "nul", "s2"};
    std::vector<std::string> files;
    const int sizes[] = {seed * 37, 0, 200 + seed * 13, 1, 3};
    for (int k = 0; k < 5; ++k)
      files.push_back((dir.path() / ("part-" + std::to_string(k) + ".csv")).string());
    if (comm.is_root()) {
      for (int k = 0; k < 5; ++k) {
        // File 1 has only a header; file 3 is empty (no bytes at all).
        const std::string text =
            k == 3 ? std::string() : random_csv(rng, gens, names, sizes[k], true, rng() % 2 == 0);
        testing_util::write_file(files[static_cast<size_t>(k)], text);
      }
    }
    comm.barrier();
    io::CsvOptions o;
    o.paths = {(dir.path() / "part-*.csv").string()};
    io::CsvReadStats stats;
    const table::Table t = io::read_csv(comm, o, &stats);
    const Reference ref = make_reference(files, true);
    ASSERT_TRUE(ref.bad.empty());
    check_against_reference(comm, t, ref);
    expect_identical_metadata(comm, t);
    EXPECT_EQ(stats.rows, static_cast<idx_t>(ref.rows.size()));
    EXPECT_EQ(stats.files, 5);
    idx_t bytes = 0;
    for (const auto& f : files)
      bytes += static_cast<idx_t>(fs::file_size(f));
    EXPECT_EQ(stats.bytes, bytes);
    EXPECT_EQ(stats.bad_rows, 0);
    EXPECT_EQ(t.column("mix").type(), DataType::kFloat64);
    EXPECT_EQ(t.column("word").type(), DataType::kString);
    EXPECT_EQ(t.column("nul").type(), DataType::kString);
    EXPECT_EQ(t.column("ts").type(), DataType::kTimestamp);
    EXPECT_EQ(t.column("b").type(), DataType::kBool);
    EXPECT_TRUE(t.column("s").is_dictionary_encoded());
    // String columns that overflow a tiny dictionary limit on the way (nulls before the value
    // that overflows it) read the same values as plain strings.
    o.max_dictionary_size = 2 + seed % 3;
    const table::Table small = io::read_csv(comm, o);
    EXPECT_FALSE(small.column("s").is_dictionary_encoded());
    check_against_reference(comm, small, ref);
    expect_identical_metadata(comm, small);
  }
}

TEST_F(CsvReader, SplitPointsInsideQuotedNewlinesAndCrlf) {
  // Rows dominated by quoted fields with embedded LF and CRLF, CRLF line ends. Padding the first
  // row by 0..47 bytes shifts every split point across every byte position of the rows, so at
  // 2, 3 and 4 ranks splits land inside quoted fields, between "" escapes and between CR and LF.
  for (int pad = 0; pad < 48; ++pad) {
    testing_util::TempDir dir(comm);
    const std::string path = (dir.path() / "q.csv").string();
    if (comm.is_root()) {
      std::string text = "id,note,x\r\n";
      text += "0,\"" + std::string(static_cast<size_t>(pad), 'p') + "\",0.5\r\n";
      for (int r = 1; r < 12; ++r) {
        text += std::to_string(r) + ",\"line one\r\nline \"\"two\"\",\nthree\"," +
                std::to_string(r) + ".5\r\n";
      }
      text += "12,\"no newline at the end\",1";
      testing_util::write_file(path, text);
    }
    comm.barrier();
    io::CsvOptions o;
    o.paths = {path};
    const table::Table t = io::read_csv(comm, o);
    const Reference ref = make_reference({path}, true);
    ASSERT_EQ(ref.rows.size(), 13u);
    check_against_reference(comm, t, ref);
    if (HasFatalFailure()) return;
  }
}

TEST_F(CsvReader, ManyRowsSingleFileMatchesReference) {
  testing_util::TempDir dir(comm);
  const std::string path = (dir.path() / "big.csv").string();
  if (comm.is_root()) {
    std::mt19937_64 rng(99);
    testing_util::write_file(
        path, random_csv(rng, {Gen::kInt, Gen::kString, Gen::kFloat, Gen::kIntThenWord},
                         {"a", "b", "c", "d"}, 5000, true, true));
  }
  comm.barrier();
  io::CsvOptions o;
  o.paths = {path};
  const table::Table t = io::read_csv(comm, o);
  check_against_reference(comm, t, make_reference({path}, true));
  expect_identical_metadata(comm, t);
}

TEST_F(CsvReader, NoHeaderAndDelimiter) {
  testing_util::TempDir dir(comm);
  const std::string path = (dir.path() / "semi.txt").string();
  if (comm.is_root()) {
    std::string text = "\xEF\xBB\xBF";
    for (int r = 0; r < 300; ++r)
      text += std::to_string(r) + ";" + (r % 7 == 0 ? "" : "v" + std::to_string(r % 5)) + ";1,5\n";
    testing_util::write_file(path, text);
  }
  comm.barrier();
  io::CsvOptions o;
  o.paths = {path};
  o.header = false;
  o.delimiter = ';';
  const table::Table t = io::read_csv(comm, o);
  EXPECT_EQ(t.schema().to_string(), "column_1:int64, column_2:string, column_3:string");
  const idx_t offset = mpi::exscan_sum(comm, t.num_rows());
  EXPECT_EQ(mpi::allreduce_sum(comm, t.num_rows()), 300);
  for (idx_t i = 0; i < t.num_rows(); ++i) {
    const idx_t r = offset + i;
    EXPECT_EQ(t.column(0).values<std::int64_t>()[static_cast<size_t>(i)], r);
    EXPECT_EQ(t.column(1).is_valid(i), r % 7 != 0);
    if (r % 7 != 0) {
      EXPECT_EQ(t.column(1).string_at(i), "v" + std::to_string(r % 5));
    }
  }
  EXPECT_EQ(io::read_csv_header(o), (std::vector<std::string>{"column_1", "column_2", "column_3"}));
}

TEST_F(CsvReader, InferenceAgreesAcrossRanks) {
  // The first half of the rows is integral, the second half is not: with a split, rank 0 sees
  // only ints, the last rank only floats/words; every rank must end up with the same types.
  testing_util::TempDir dir(comm);
  const std::string path = (dir.path() / "mix.csv").string();
  constexpr int kRows = 400;
  if (comm.is_root()) {
    std::string text = "n,w,t,e\n";
    for (int r = 0; r < kRows; ++r) {
      text += std::to_string(r) + (r >= kRows / 2 ? ".5" : "") + ",";
      text += (r >= kRows - 10 ? "word" : std::to_string(r)) + ",";
      text += r < kRows / 2 ? "2024-01-02" : "2024-01-02 03:04:05.000001";
      text += ",";
      text += r == kRows - 1 ? "x" : "";
      text += "\n";
    }
    testing_util::write_file(path, text);
  }
  comm.barrier();
  io::CsvOptions o;
  o.paths = {path};
  const table::Table t = io::read_csv(comm, o);
  EXPECT_EQ(t.schema().to_string(), "n:float64, w:string, t:timestamp, e:string");
  expect_identical_metadata(comm, t);
  const idx_t offset = mpi::exscan_sum(comm, t.num_rows());
  for (idx_t i = 0; i < t.num_rows(); ++i) {
    const idx_t r = offset + i;
    EXPECT_EQ(t.column(0).values<double>()[static_cast<size_t>(i)],
              static_cast<double>(r) + (r >= kRows / 2 ? 0.5 : 0.0));
    EXPECT_EQ(t.column(1).string_at(i), r >= kRows - 10 ? "word" : std::to_string(r));
    EXPECT_EQ(t.column(3).is_valid(i), r == kRows - 1);
  }
  check_against_reference(comm, t, make_reference({path}, true));
}

TEST_F(CsvReader, ExplicitSchemaSelectsAndTypesColumns) {
  testing_util::TempDir dir(comm);
  const std::string path = (dir.path() / "typed.csv").string();
  if (comm.is_root()) {
    std::string text = "a,b,c,d\n";
    for (int r = 0; r < 200; ++r)
      text += std::to_string(r) + ",x" + std::to_string(r % 3) + "," + std::to_string(r) +
              ",2020-01-01T00:00:0" + std::to_string(r % 10) + "Z\n";
    testing_util::write_file(path, text);
  }
  comm.barrier();
  io::CsvOptions o;
  o.paths = {path};
  o.schema = table::Schema({{"d", DataType::kTimestamp},
                            {"c", DataType::kFloat32},
                            {"a", DataType::kInt32},
                            {"b", DataType::kString}});
  const table::Table t = io::read_csv(comm, o);
  EXPECT_EQ(t.schema(), *o.schema);
  const idx_t offset = mpi::exscan_sum(comm, t.num_rows());
  EXPECT_EQ(mpi::allreduce_sum(comm, t.num_rows()), 200);
  for (idx_t i = 0; i < t.num_rows(); ++i) {
    const idx_t r = offset + i;
    EXPECT_EQ(t.column(0).values<std::int64_t>()[static_cast<size_t>(i)],
              1577836800LL * 1000000 + (r % 10) * 1000000);
    EXPECT_EQ(t.column(1).values<float>()[static_cast<size_t>(i)], static_cast<float>(r));
    EXPECT_EQ(t.column(2).values<std::int32_t>()[static_cast<size_t>(i)], r);
    EXPECT_EQ(t.column(3).string_at(i), "x" + std::to_string(r % 3));
  }
  EXPECT_EQ(t.column(3).dictionary()->size(), 3);

  o.schema = table::Schema({{"a", DataType::kInt64}, {"zz", DataType::kString}});
  EXPECT_EQ(input_error(comm, [&] { io::read_csv(comm, o); }),
            "column 'zz' of the schema is not in the header of '" + path + "' (columns: a,b,c,d)");
}

TEST_F(CsvReader, BadRowFailNamesFileLineColumnAndText) {
  testing_util::TempDir dir(comm);
  const std::string path = (dir.path() / "events.csv").string();
  if (comm.is_root()) {
    std::string text = "id,kind,amount\n";
    for (int r = 0; r < 500; ++r)
      text += std::to_string(r) + ",k," + (r == 377 ? "abc" : std::to_string(r) + ".5") + "\n";
    testing_util::write_file(path, text);
  }
  comm.barrier();
  io::CsvOptions o;
  o.paths = {path};
  o.input_name = "events";
  o.schema = table::Schema(
      {{"id", DataType::kInt64}, {"kind", DataType::kString}, {"amount", DataType::kFloat64}});
  // Row 377 is on physical line 379 (header is line 1).
  EXPECT_EQ(input_error(comm, [&] { io::read_csv(comm, o); }),
            path +
                ":379: column 3 'amount': cannot parse 'abc' as float64 (set "
                "inputs.events.bad_rows: skip or quarantine to continue past bad rows)");
}

TEST_F(CsvReader, BadRowPoliciesSkipAndQuarantine) {
  testing_util::TempDir dir(comm);
  const std::string a = (dir.path() / "a.csv").string();
  const std::string b = (dir.path() / "b.csv").string();
  if (comm.is_root()) {
    std::string ta = "x,y\n";
    for (int r = 0; r < 150; ++r) {
      if (r == 20) ta += "1,2,3\n";           // line 22: too many fields
      if (r == 90) ta += "bad\"quo\"te,1\n";  // line 93: stray quotes
      if (r == 120) ta += "q,notanint\r\n";   // line 124: bad value (x is int64)
      ta += std::to_string(r) + "," + std::to_string(r * 2) + "\n";
    }
    std::string tb = "x,y\r\n5,\"unterminated\r\n6,7\r\n";
    testing_util::write_file(a, ta);
    testing_util::write_file(b, tb);
  }
  comm.barrier();
  io::CsvOptions o;
  o.paths = {(dir.path() / "*.csv").string()};
  o.schema = table::Schema({{"x", DataType::kInt64}, {"y", DataType::kString}});

  // fail: the first bad row in file order.
  EXPECT_EQ(input_error(comm, [&] { io::read_csv(comm, o); }),
            a + ":22: expected 2 fields but found 3 (set inputs.<name>.bad_rows: skip or "
                "quarantine to continue past bad rows)");

  // The unclosed quote in b.csv costs its own line: the row after it (6,7) is kept.
  o.bad_rows = io::BadRowPolicy::kSkip;
  io::CsvReadStats stats;
  table::Table t = io::read_csv(comm, o, &stats);
  EXPECT_EQ(stats.rows, 151);
  EXPECT_EQ(stats.bad_rows, 4);
  EXPECT_EQ(stats.bad_lines, 4);
  EXPECT_EQ(mpi::allreduce_sum(comm, t.num_rows()), 151);
  const idx_t offset = mpi::exscan_sum(comm, t.num_rows());
  for (idx_t i = 0; i < t.num_rows(); ++i) {
    const idx_t r = offset + i;
    EXPECT_EQ(t.column(0).values<std::int64_t>()[static_cast<size_t>(i)], r < 150 ? r : 6);
    EXPECT_EQ(t.column(1).string_at(i), r < 150 ? std::to_string(r * 2) : "7");
  }

  o.bad_rows = io::BadRowPolicy::kQuarantine;
  o.quarantine_path = (dir.path() / "rejects" / "bad.csv").string();
  t = io::read_csv(comm, o, &stats);
  EXPECT_EQ(stats.bad_rows, 4);
  EXPECT_EQ(stats.bad_lines, 4);
  EXPECT_EQ(mpi::allreduce_sum(comm, t.num_rows()), 151);
  if (comm.is_root()) {
    const std::string expected =
        "file,line,reason,raw\n" + a + ",22,expected 2 fields but found 3,\"1,2,3\"\n" + a +
        ",93,\"a '\"\"' inside an unquoted field (quote the whole field and double the quotes in "
        "it)\",\"bad\"\"quo\"\"te,1\"\n" +
        a + ",124,column 1 'x': cannot parse 'q' as int64,\"q,notanint\"\n" + b +
        ",2,a quoted field opens here but is not closed before the end of the file or within "
        "max_field_bytes (1048576 bytes),\"5,\"\"unterminated\"\n";
    EXPECT_EQ(testing_util::read_file(o.quarantine_path), expected);
  }
}

TEST_F(CsvReader, HeaderMismatchAndMissingFiles) {
  testing_util::TempDir dir(comm);
  const std::string a = (dir.path() / "a.csv").string();
  const std::string b = (dir.path() / "b.csv").string();
  if (comm.is_root()) {
    testing_util::write_file(a, "x,y\n1,2\n");
    testing_util::write_file(b, "x,z\n1,2\n");
  }
  comm.barrier();
  io::CsvOptions o;
  o.paths = {(dir.path() / "*.csv").string()};
  EXPECT_EQ(input_error(comm, [&] { io::read_csv(comm, o); }),
            "the header of '" + b + "' (x,z) differs from the header of '" + a +
                "' (x,y); all files of one input must have the same columns in the same order");
  o.paths = {(dir.path() / "nothing-*.csv").string()};
  EXPECT_EQ(input_error(comm, [&] { io::read_csv(comm, o); }),
            "no file matches '" + o.paths[0] + "'");
  o.paths = {(dir.path() / "missing.csv").string()};
  EXPECT_EQ(input_error(comm, [&] { io::read_csv(comm, o); }),
            "input file '" + o.paths[0] + "' does not exist");
  EXPECT_THROW(io::read_csv_header(o), InputError);
  o.paths = {a};
  EXPECT_EQ(io::read_csv_header(o), (std::vector<std::string>{"x", "y"}));
}

TEST_F(CsvReader, HighCardinalityStringsStayPlain) {
  testing_util::TempDir dir(comm);
  const std::string path = (dir.path() / "u.csv").string();
  if (comm.is_root()) {
    std::string text = "u,c\n";
    for (int r = 0; r < 1000; ++r)
      text += "user" + std::to_string(r) + ",c" + std::to_string(r % 4) + "\n";
    testing_util::write_file(path, text);
  }
  comm.barrier();
  io::CsvOptions o;
  o.paths = {path};
  o.max_dictionary_size = 100;
  const table::Table t = io::read_csv(comm, o);
  EXPECT_FALSE(t.column("u").is_dictionary_encoded());
  EXPECT_TRUE(t.column("c").is_dictionary_encoded());
  EXPECT_EQ(t.column("c").dictionary()->size(), 4);
  expect_identical_metadata(comm, t);
  check_against_reference(comm, t, make_reference({path}, true));
  // The value that overflows the dictionary, after a null, keeps its text (it was read as "").
  if (comm.is_root())
    testing_util::write_file(path, "id,seg\n5,\n93,t\n102,k\n142,a\n148,x\n172,k\n207,zz\n");
  comm.barrier();
  o.max_dictionary_size = 4;
  const table::Table overflow = io::read_csv(comm, o);
  check_against_reference(comm, overflow, make_reference({path}, true));
  if (comm.size() == 1) {
    EXPECT_EQ(overflow.column("seg").string_at(6), "zz");
  }
  // Back to the 1000-row file: each rank alone may fit the limit (at 2+ ranks) while the union
  // does not.
  if (comm.is_root()) {
    std::string text = "u,c\n";
    for (int r = 0; r < 1000; ++r)
      text += "user" + std::to_string(r) + ",c" + std::to_string(r % 4) + "\n";
    testing_util::write_file(path, text);
  }
  comm.barrier();
  o.max_dictionary_size = 600;
  const table::Table t2 = io::read_csv(comm, o);
  EXPECT_FALSE(t2.column("u").is_dictionary_encoded());
  expect_identical_metadata(comm, t2);
  check_against_reference(comm, t2, make_reference({path}, true));
}

TEST_F(CsvReader, EmptyInputWithSchemaAndWithout) {
  testing_util::TempDir dir(comm);
  const std::string a = (dir.path() / "a.csv").string();
  const std::string h = (dir.path() / "h.csv").string();
  if (comm.is_root()) {
    testing_util::write_file(a, "");
    testing_util::write_file(h, "p,q\r\n");
  }
  comm.barrier();
  io::CsvOptions o;
  o.paths = {a};
  EXPECT_EQ(input_error(comm, [&] { io::read_csv(comm, o); }),
            "every file matching " + a +
                " is empty: there is no header to take the column names from; give an explicit "
                "schema to read empty input");
  o.schema = table::Schema({{"p", DataType::kInt64}});
  table::Table t = io::read_csv(comm, o);
  EXPECT_EQ(t.num_rows(), 0);
  EXPECT_EQ(t.schema(), *o.schema);
  o.schema.reset();
  o.paths = {h};
  t = io::read_csv(comm, o);
  EXPECT_EQ(t.schema().to_string(), "p:string, q:string");
  EXPECT_EQ(t.num_rows(), 0);
}

TEST_F(CsvReader, HostileQuotesAndTextCostOnlyTheirRows) {
  // Random files with unclosed quotes (to the end of the file, or closed by a later line's
  // quote), stray quotes, invalid UTF-8 (overlongs, surrogates, truncated sequences) and NUL
  // bytes among well-formed rows with quoted multi-line fields: under skip and quarantine
  // exactly the reference's bad records are dropped, at every rank count (ctest runs this at
  // 1-4 ranks, so the splits land everywhere), and the counts include the lines dropped.
  const std::vector<std::string> hostile = {
      "\"unclosed", "a\"stray", "\"x\"y", "\xC0\xAF",         "\xED\xA0\x80",
      "\xE2\x82",   "\xFF",     "\"é\"",  "\xF4\x90\x80\x80", std::string(1, '\0')};
  for (int seed = 1; seed <= 12; ++seed) {
    testing_util::TempDir dir(comm);
    const std::string path = (dir.path() / "h.csv").string();
    std::mt19937_64 rng(static_cast<unsigned>(seed));
    std::string text = "id,s,n\n";
    const int rows = 40 + seed * 7;
    for (int r = 0; r < rows; ++r) {
      std::string s = "v" + std::to_string(r % 5);
      if (rng() % 6 == 0) s = "\"multi\nline " + std::to_string(r) + "\"";
      if (rng() % 7 == 0) s = hostile[rng() % hostile.size()];
      text += std::to_string(r) + "," + s + "," + std::to_string(r * 3) + "\n";
    }
    if (comm.is_root()) testing_util::write_file(path, text);
    comm.barrier();
    const Reference ref = make_reference({path}, true);
    idx_t ref_lines = 0;
    for (const auto& b : ref.bad)
      ref_lines += 1 + std::count(b.raw.begin(), b.raw.end(), '\n');
    io::CsvOptions o;
    o.paths = {path};
    o.schema = table::Schema(
        {{"id", DataType::kInt64}, {"s", DataType::kString}, {"n", DataType::kInt64}});
    o.bad_rows = io::BadRowPolicy::kQuarantine;
    o.quarantine_path = (dir.path() / "q.csv").string();
    io::CsvReadStats stats;
    const table::Table t = io::read_csv(comm, o, &stats);
    ASSERT_EQ(stats.rows, static_cast<idx_t>(ref.rows.size())) << "seed " << seed;
    ASSERT_EQ(stats.bad_rows, static_cast<idx_t>(ref.bad.size())) << "seed " << seed;
    ASSERT_EQ(stats.bad_lines, ref_lines) << "seed " << seed;
    expect_int_and_string_rows(comm, t, ref, "seed " + std::to_string(seed));
    if (HasFatalFailure()) return;
    if (comm.is_root()) {
      // The raw column of the quarantine file, in order, is the reference's bad records.
      const std::string q = testing_util::read_file(o.quarantine_path);
      io::csv::RecordScanner scanner(',');
      std::vector<io::csv::FieldView> fields;
      std::string scratch;
      std::vector<std::string> raws;
      const char* p = q.data();
      p = scanner.scan(p, q.data() + q.size(), fields).next;  // header
      while (p < q.data() + q.size()) {
        const auto rec = scanner.scan(p, q.data() + q.size(), fields);
        ASSERT_EQ(fields.size(), 4u);
        raws.emplace_back(io::csv::unescape(fields[3], scratch));
        p = rec.next;
      }
      ASSERT_EQ(raws.size(), ref.bad.size()) << "seed " << seed;
      for (size_t k = 0; k < raws.size(); ++k)
        EXPECT_EQ(raws[k], ref.bad[k].raw) << "seed " << seed << " bad row " << k;
    }
  }
}

TEST_F(CsvReader, SmallReadWindowsReadTheSameRecords) {
  // The bulk scan reads a copy of the bytes ahead (FileWindow, 512 KiB); with windows of 256 B-3
  // KiB these files cross hundreds of window ends: mid-record, mid-batch, next to quoted fields
  // (which the bulk scan leaves to the mapping) and next to invalid text (the batch is redone from
  // the mapping). Every read must equal the reference, at every rank count.
  const std::vector<std::string> hostile = {"\"unclosed", "a\"stray",           "\xC0\xAF",
                                            "\xFF",       std::string(1, '\0'), "\"multi\nline\""};
  for (const size_t window : {size_t{256}, size_t{1024}, size_t{1500}, size_t{3000}}) {
    const size_t previous = io::set_read_window_bytes_for_testing(window);
    testing_util::TempDir dir(comm);
    const std::string mixed = (dir.path() / "mixed.csv").string();
    const std::string plain = (dir.path() / "plain.csv").string();
    std::mt19937_64 rng(window);
    if (comm.is_root()) {
      testing_util::write_file(
          mixed, random_csv(rng, {Gen::kInt, Gen::kString, Gen::kFloat, Gen::kIntThenWord},
                            {"a", "b", "c", "d"}, 3000, true, true));
      std::string text = "id,s,n\n";
      for (int r = 0; r < 4000; ++r) {
        std::string s = "v" + std::to_string(r % 9);
        if (rng() % 40 == 0) s = hostile[rng() % hostile.size()];
        text += std::to_string(r) + "," + s + "," + std::to_string(r * 3) + "\n";
      }
      testing_util::write_file(plain, text);
    }
    comm.barrier();
    io::CsvOptions o;
    o.paths = {mixed};
    const table::Table t = io::read_csv(comm, o);
    check_against_reference(comm, t, make_reference({mixed}, true));

    const Reference ref = make_reference({plain}, true);
    ASSERT_FALSE(ref.bad.empty());
    io::CsvOptions q;
    q.paths = {plain};
    q.schema = table::Schema(
        {{"id", DataType::kInt64}, {"s", DataType::kString}, {"n", DataType::kInt64}});
    q.bad_rows = io::BadRowPolicy::kSkip;
    io::CsvReadStats stats;
    const table::Table h = io::read_csv(comm, q, &stats);
    EXPECT_EQ(stats.rows, static_cast<idx_t>(ref.rows.size())) << "window " << window;
    EXPECT_EQ(stats.bad_rows, static_cast<idx_t>(ref.bad.size())) << "window " << window;
    expect_int_and_string_rows(comm, h, ref, "window " + std::to_string(window));
    if (HasFatalFailure()) return;
    io::set_read_window_bytes_for_testing(previous);
  }
}
