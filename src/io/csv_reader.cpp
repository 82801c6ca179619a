// Parallel CSV reader.
//
// How the work is split (the *why* of the design):
//   1. Rank 0 expands the globs, stats every file and reads each file's header record (checking
//      that all headers agree), inside comm.agree() so that a missing file or a header mismatch
//      becomes the same InputError on every rank. The file list, sizes, header lengths and column
//      names are broadcast.
//   2. The data bytes of all files (everything after the headers) are laid end to end and cut
//      into comm.size() equal byte ranges. Rank r owns every record whose first byte lies in its
//      range; it parses such a record to its end even if that lies past the range (or past the
//      next rank's range). So a record straddling a split is read exactly once.
//   3. Finding the first record that starts in a range needs to know whether the range start is
//      inside a quoted field. Under the grammar of csv_scanner.hpp that is the quote parity at
//      the range start, in a parity walk where an opening quote that does not close (runaway or
//      misclosed) does not flip the parity. Each rank computes, for the part of its range that
//      lies in its last file, the parity out for parity in 0 and 1 (RecordScanner::parity_out;
//      when the part has no quote at all, a plain SIMD count says so) and counts its newlines
//      (for line numbers in messages); one allgather lets every rank compose the parities of the
//      ranges that precede its own start in the same file. The rank then walks forward from its
//      range start to the first newline outside quotes (RecordScanner::next_record_start). This
//      is exact, also for newlines inside quoted fields, for a split between '\r' and '\n' or
//      inside a "" pair, and for unclosed quotes: rank r stops exactly where rank r+1 starts.
//   4. Each rank parses its records into columnar builders. Without an explicit schema each column
//      is parsed optimistically under the type seen so far (int64 -> float64 converts in place);
//      the per-column sets of types seen are OR-ed over ranks, which fixes the final type. A rank
//      whose local guess cannot be converted to the final type (say it saw only ints but another
//      rank saw words) parses its range again with the final types: rare, and still one pass in
//      the common case.
//   5. Strings go into a per-column local hash dictionary while parsing (no per-field
//      allocation; short values are keyed by two machine words, see ShortKey); afterwards the
//      dictionaries are unified across ranks in one sort and one remap pass
//      (table::unified_dictionary_column), or the column is kept as plain strings when it has too
//      many distinct values.
//   Throughput notes (1e7-row db-benchmark file, 2 ranks): plain records go through the bulk
//   scanner (RecordScanner::scan_simple) over a copy of the bytes ahead read with pread into one
//   reused buffer (FileWindow: the first pass through the mapping stalled on every page), the
//   column vectors are sized once and their pages mapped ahead of the writes in the page size
//   measured cheaper (see reserve_populated), the dictionary tables ask for huge pages too, and
//   the quote/newline pre-count (also read with pread) is skipped by a rank whose range ends at
//   the end of its last file.

#include "shardflow/io/csv_reader.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>

#include "shardflow/common/fault_injection.hpp"
#include "shardflow/common/hash.hpp"
#include "shardflow/common/memory.hpp"
#include "shardflow/common/page_aligned_bytes.hpp"
#include "shardflow/common/progress.hpp"
#include "shardflow/common/timer.hpp"
#include "shardflow/io/csv_scanner.hpp"
#include "shardflow/io/csv_writer.hpp"
#include "shardflow/mpi/allgatherv.hpp"
#include "shardflow/mpi/allreduce.hpp"
#include "shardflow/mpi/bcast.hpp"

namespace shardflow::io {

using table::DataType;
namespace csv_ns = shardflow::io::csv;

std::optional<BadRowPolicy> parse_bad_row_policy(std::string_view text) {
  if (text == "fail") return BadRowPolicy::kFail;
  if (text == "skip") return BadRowPolicy::kSkip;
  if (text == "quarantine") return BadRowPolicy::kQuarantine;
  return std::nullopt;
}

std::string_view to_string(BadRowPolicy policy) {
  switch (policy) {
    case BadRowPolicy::kFail:
      return "fail";
    case BadRowPolicy::kSkip:
      return "skip";
    case BadRowPolicy::kQuarantine:
      return "quarantine";
  }
  return "fail";
}

namespace {

// ================================================================================================
// Files
// ================================================================================================

/// A read-only memory map of a whole file. Pages are read on first touch, so mapping a large file
/// on every rank costs only the pages each rank actually reads.
class MappedFile {
 public:
  explicit MappedFile(const std::string& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      throw InputError("cannot open input file '{}': {}", path, std::strerror(errno));
    }
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
      const int err = errno;
      ::close(fd);
      throw InputError("cannot stat input file '{}': {}", path, std::strerror(err));
    }
    size_ = static_cast<idx_t>(st.st_size);
    if (size_ > 0) {
      void* addr = ::mmap(nullptr, static_cast<size_t>(size_), PROT_READ, MAP_PRIVATE, fd, 0);
      if (addr == MAP_FAILED) {
        const int err = errno;
        ::close(fd);
        throw InputError("cannot map input file '{}' into memory: {}", path, std::strerror(err));
      }
      data_ = static_cast<const char*>(addr);
      ::madvise(addr, static_cast<size_t>(size_), MADV_SEQUENTIAL);
    }
    fd_ = fd;  // kept for FileWindow's reads
  }
  ~MappedFile() {
    if (data_ != nullptr) ::munmap(const_cast<char*>(data_), static_cast<size_t>(size_));
    ::close(fd_);
  }
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const char* data() const { return data_; }
  idx_t size() const { return size_; }
  int fd() const { return fd_; }
  /// Asks the kernel to start reading [offset, offset+length) now.
  void prefetch(idx_t offset, idx_t length) const {
    if (data_ == nullptr || length <= 0) return;
    const long page = ::sysconf(_SC_PAGESIZE);
    const idx_t begin = offset / page * page;
    // Populating the page tables for the whole range in one call is much cheaper than taking
    // one page fault per 4 KiB (or per fault-around block) while parsing; kernels before 5.14
    // lack MADV_POPULATE_READ and get a read-ahead hint instead.
    void* addr = const_cast<char*>(data_) + begin;
    const auto bytes = static_cast<size_t>(offset + length - begin);
#ifdef MADV_POPULATE_READ
    if (::madvise(addr, bytes, MADV_POPULATE_READ) == 0) return;
#endif
    ::madvise(addr, bytes, MADV_WILLNEED);
  }

 private:
  const char* data_ = nullptr;
  idx_t size_ = 0;
  int fd_ = -1;
};

/// The size of FileWindow's buffer (set_read_window_bytes_for_testing).
std::atomic<size_t> g_window_bytes{size_t{512} << 10};

/// A copy of a stretch of a mapped file in one reused buffer, read with pread.
///
/// Why: the first pass over a file's pages through the mapping stalls on every new page (a
/// program reading half of the 510 MB group-by file took 0.10-0.14 s to classify it through the
/// mapping, 0.04-0.05 s to pread it 256 KiB at a time into one buffer and classify that, on the
/// development VM; the second pass through the mapping took 0.02 s). The kernel copies from the
/// page cache without those stalls, and the copy lands in cache where the scanner reads it. The
/// mapping stays the reference: positions are kept as pointers into it, and everything but the
/// bulk scan and the text check reads it.
class FileWindow {
 public:
  /// The buffer's size (set_read_window_bytes_for_testing changes it).
  static size_t capacity() { return g_window_bytes.load(std::memory_order_relaxed); }

  /// Makes the window hold the mapped bytes [p, min(p + capacity(), end)), where `p` lies at byte
  /// `file_offset` of the file open as `fd`. False (and an empty window) if the read fails or
  /// comes up short: the caller reads the mapping instead.
  bool fill(int fd, const char* p, const char* end, idx_t file_offset) {
    if (buffer_.size() != capacity()) buffer_ = PageAlignedBytes(capacity());
    source_ = p;
    size_ = 0;
    const auto want =
        static_cast<size_t>(std::min<idx_t>(end - p, static_cast<idx_t>(buffer_.size())));
    size_t got = 0;
    while (got < want) {
      const ssize_t n = ::pread(fd, buffer_.data() + got, want - got,
                                static_cast<off_t>(file_offset + static_cast<idx_t>(got)));
      if (n <= 0) {
        if (n < 0 && errno == EINTR) continue;
        source_ = nullptr;
        return false;
      }
      got += static_cast<size_t>(n);
    }
    size_ = want;
    return true;
  }
  void clear() {
    source_ = nullptr;
    size_ = 0;
  }
  /// True if [p, q) of the mapping lies in the window.
  bool holds(const char* p, const char* q) const {
    return source_ != nullptr && p >= source_ && q <= source_ + size_ && p <= q;
  }
  /// Mapped bytes after the window's last one (a pointer into the mapping).
  const char* map_end() const { return source_ + size_; }
  /// The window's copy of mapped byte `p` (holds(p, p)), and back.
  const char* to_window(const char* p) const { return buffer_.data() + (p - source_); }
  const char* to_map(const char* w) const { return source_ + (w - buffer_.data()); }
  const char* window_end() const { return buffer_.data() + size_; }

 private:
  PageAlignedBytes buffer_;
  const char* source_ = nullptr;
  size_t size_ = 0;
};

/// csv::count_quotes_newlines over the mapped bytes [begin, end), which start at byte
/// `file_offset` of `file`, read through a FileWindow (for the reason given there) and through
/// the mapping where a read fails.
void count_quotes_newlines_read(const MappedFile& file, const char* begin, const char* end,
                                idx_t file_offset, idx_t& quotes, idx_t& newlines) {
  quotes = 0;
  newlines = 0;
  const auto add = [&](const char* bytes, size_t n) {
    idx_t q = 0, nl = 0;
    csv_ns::count_quotes_newlines(bytes, n, q, nl);
    quotes += q;
    newlines += nl;
  };
  FileWindow window;
  for (const char* p = begin; p < end; p = window.map_end()) {
    if (!window.fill(file.fd(), p, end, file_offset + (p - begin))) {
      add(p, static_cast<size_t>(end - p));
      return;
    }
    add(window.to_window(p), static_cast<size_t>(window.map_end() - p));
  }
}

struct FileInfo {
  std::string path;
  idx_t size = 0;        // bytes of the whole file
  idx_t data_begin = 0;  // first byte after the BOM and header record
  idx_t first_line = 1;  // 1-based physical line number of the byte at data_begin
};

struct Plan {
  std::vector<FileInfo> files;
  std::vector<std::string> csv_names;  // the files' columns (from the header or column_<i>)
};

struct HeaderRecord {
  bool empty = true;  // the file has no bytes (besides a BOM / blank lines)
  std::vector<std::string> fields;
  idx_t data_begin = 0;
  idx_t lines = 0;  // newlines consumed up to data_begin
};

/// 1-based line and byte column of `at` in a record that starts at line `line`, byte `begin`
/// (records start at line starts).
std::pair<idx_t, idx_t> line_column(const char* begin, const char* at, idx_t line) {
  idx_t column = static_cast<idx_t>(at - begin) + 1;
  for (const char* q = begin; q < at; ++q) {
    if (*q == '\n') {
      ++line;
      column = static_cast<idx_t>(at - q);
    }
  }
  return {line, column};
}

/// Reads the first record of a file: the header (header = true) or the first data row, whose
/// field count names the columns (header = false).
HeaderRecord read_first_record(const std::string& path, char delimiter, bool header,
                               idx_t max_field_bytes) {
  MappedFile file(path);
  HeaderRecord out;
  const char* data = file.data();
  const char* end = data + file.size();
  const char* p = data;
  if (file.size() >= 3 && std::memcmp(data, "\xEF\xBB\xBF", 3) == 0) p += 3;
  const idx_t bom = static_cast<idx_t>(p - data);
  csv_ns::RecordScanner scanner(delimiter, static_cast<size_t>(max_field_bytes));
  std::vector<csv_ns::FieldView> fields;
  std::string scratch;
  idx_t lines = 0;
  while (p < end) {
    const auto rec = scanner.scan(p, end, fields);
    if (rec.status == csv_ns::RecordStatus::kBlank) {
      lines += rec.newlines;
      p = rec.next;
      continue;
    }
    if (rec.status != csv_ns::RecordStatus::kOk) {
      const auto [line, column] =
          line_column(rec.begin, rec.error_at != nullptr ? rec.error_at : rec.begin, lines + 1);
      throw InputError("{}:{}:{}: cannot read the {}: {}", path, line, column,
                       header ? "header" : "first row", csv_ns::describe(rec.status));
    }
    out.empty = false;
    for (const auto& f : fields)
      out.fields.emplace_back(csv_ns::unescape(f, scratch));
    if (header) {
      out.data_begin = rec.next - data;
      out.lines = lines + rec.newlines;
    } else {
      out.data_begin = bom;
      out.lines = 0;
    }
    return out;
  }
  out.data_begin = file.size();
  out.lines = lines;
  return out;
}

std::vector<std::string> column_names(const std::string& path, const HeaderRecord& rec,
                                      bool header) {
  std::vector<std::string> names;
  for (size_t i = 0; i < rec.fields.size(); ++i) {
    std::string name = header ? rec.fields[i] : std::string();
    if (name.empty()) name = "column_" + std::to_string(i + 1);
    for (size_t k = 0; k < names.size(); ++k) {
      if (names[k] == name) {
        throw InputError(
            "{}:1: column name '{}' appears twice in the header (columns {} and {}); rename one",
            path, name, k + 1, i + 1);
      }
    }
    names.push_back(std::move(name));
  }
  return names;
}

std::string join_names(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) {
    if (!out.empty()) out += ",";
    out += n;
  }
  return out;
}

/// Maps each file column to an output column (-1 = not read) and gives the output types
/// (nullopt = inferred). Throws InputError if the schema does not fit the files.
struct ColumnMap {
  std::vector<int> output_of_csv;
  std::vector<std::string> names;
  std::vector<std::optional<DataType>> types;
};

ColumnMap map_columns(const CsvOptions& o, const Plan& plan, const std::string& first_path) {
  ColumnMap m;
  const auto& csv = plan.csv_names;
  m.output_of_csv.assign(csv.size(), -1);
  if (!o.schema) {
    for (size_t i = 0; i < csv.size(); ++i) {
      m.output_of_csv[i] = static_cast<int>(i);
      m.names.push_back(csv[i]);
      m.types.emplace_back(std::nullopt);
    }
    return m;
  }
  const auto& schema = *o.schema;
  if (o.header) {
    for (int k = 0; k < schema.num_fields(); ++k) {
      const auto& field = schema.field(k);
      auto it = std::find(csv.begin(), csv.end(), field.name);
      if (it == csv.end()) {
        throw InputError("column '{}' of the schema is not in the header of '{}' (columns: {})",
                         field.name, first_path, join_names(csv));
      }
      m.output_of_csv[static_cast<size_t>(it - csv.begin())] = k;
    }
  } else {
    if (!csv.empty() && static_cast<int>(csv.size()) != schema.num_fields()) {
      throw InputError(
          "the schema has {} columns but the first row of '{}' has {} fields; without a header "
          "the schema must list every column of the file in order",
          schema.num_fields(), first_path, csv.size());
    }
    for (int k = 0; k < schema.num_fields(); ++k)
      if (static_cast<size_t>(k) < m.output_of_csv.size())
        m.output_of_csv[static_cast<size_t>(k)] = k;
  }
  for (const auto& field : schema.fields()) {
    m.names.push_back(field.name);
    m.types.emplace_back(field.type);
  }
  return m;
}

Plan make_plan(const CsvOptions& o) {
  Plan plan;
  const auto paths = expand_paths(o.paths);
  int first = -1;
  std::vector<std::string> first_fields;
  for (const auto& path : paths) {
    FileInfo info;
    info.path = path;
    std::error_code ec;
    info.size = static_cast<idx_t>(std::filesystem::file_size(path, ec));
    if (ec) throw InputError("cannot read the size of input file '{}': {}", path, ec.message());
    const bool need_record = o.header || first < 0;
    if (need_record) {
      HeaderRecord rec = read_first_record(path, o.delimiter, o.header, o.max_field_bytes);
      info.data_begin = rec.data_begin;
      info.first_line = rec.lines + 1;
      if (!rec.empty) {
        if (first < 0) {
          first = static_cast<int>(plan.files.size());
          first_fields = rec.fields;
          plan.csv_names = column_names(path, rec, o.header);
        } else if (rec.fields != first_fields) {
          throw InputError(
              "the header of '{}' ({}) differs from the header of '{}' ({}); all files of one "
              "input must have the same columns in the same order",
              path, join_names(rec.fields), plan.files[static_cast<size_t>(first)].path,
              join_names(first_fields));
        }
      }
    } else {
      // Without a header only a byte-order mark precedes the data.
      MappedFile file(path);
      info.size = file.size();
      info.data_begin =
          file.size() >= 3 && std::memcmp(file.data(), "\xEF\xBB\xBF", 3) == 0 ? 3 : 0;
    }
    plan.files.push_back(std::move(info));
  }
  if (first < 0) {
    if (!o.schema) {
      throw InputError(
          "every file matching {} is empty: there is no {} to take the column names from; give "
          "an explicit schema to read empty input",
          join_names(o.paths), o.header ? "header" : "row");
    }
    if (o.header) plan.csv_names = o.schema->names();
  }
  map_columns(o, plan, first >= 0 ? plan.files[static_cast<size_t>(first)].path : paths.front());
  return plan;
}

// Plan broadcast: a flat byte string (integers as 8 raw bytes, strings length-prefixed).
void put_i64(std::string& out, idx_t v) {
  out.append(reinterpret_cast<const char*>(&v), sizeof v);
}
void put_str(std::string& out, const std::string& s) {
  put_i64(out, static_cast<idx_t>(s.size()));
  out.append(s);
}
idx_t get_i64(const std::string& in, size_t& pos) {
  idx_t v;
  std::memcpy(&v, in.data() + pos, sizeof v);
  pos += sizeof v;
  return v;
}
std::string get_str(const std::string& in, size_t& pos) {
  const auto n = static_cast<size_t>(get_i64(in, pos));
  std::string s = in.substr(pos, n);
  pos += n;
  return s;
}

void broadcast_plan(const mpi::Comm& comm, Plan& plan) {
  std::string blob;
  if (comm.is_root()) {
    put_i64(blob, static_cast<idx_t>(plan.csv_names.size()));
    for (const auto& n : plan.csv_names)
      put_str(blob, n);
    put_i64(blob, static_cast<idx_t>(plan.files.size()));
    for (const auto& f : plan.files) {
      put_str(blob, f.path);
      put_i64(blob, f.size);
      put_i64(blob, f.data_begin);
      put_i64(blob, f.first_line);
    }
  }
  mpi::bcast_string(comm, blob, 0);
  if (comm.is_root()) return;
  size_t pos = 0;
  plan = Plan{};
  const idx_t ncols = get_i64(blob, pos);
  for (idx_t i = 0; i < ncols; ++i)
    plan.csv_names.push_back(get_str(blob, pos));
  const idx_t nfiles = get_i64(blob, pos);
  for (idx_t i = 0; i < nfiles; ++i) {
    FileInfo f;
    f.path = get_str(blob, pos);
    f.size = get_i64(blob, pos);
    f.data_begin = get_i64(blob, pos);
    f.first_line = get_i64(blob, pos);
    plan.files.push_back(std::move(f));
  }
}

// ================================================================================================
// Column builders
// ================================================================================================

/// vector::reserve, then asks for transparent huge pages on the new buffer: for the dictionary
/// hash tables, whose random lookups would otherwise also miss the TLB, and under
/// reserve_populated for the column vectors. Harmless where THP is off or "always".
template <typename T, typename A>
void reserve_huge(std::vector<T, A>& v, size_t n) {
  v.reserve(n);
  advise_huge_pages(v.data(), v.capacity() * sizeof(T));
}

/// vector::reserve(capacity), then maps the pages of the next `touch` elements past size() for
/// writing, through `pages` (common/memory.hpp FreshPagePopulator: MADV_POPULATE_WRITE, one system
/// call instead of a fault per page, in the page size measured cheaper here as it goes).
/// For the column vectors (60 bytes per row of the group-by data, 300 MB per rank at 1e7 rows
/// over 2 ranks): a job's load always writes cold memory. `touch` excludes the margin of the
/// capacity, which is likely never written.
template <typename T, typename A>
void reserve_populated(std::vector<T, A>& v, size_t capacity, size_t touch,
                       FreshPagePopulator& pages) {
  v.reserve(capacity);
  const size_t n = std::min(touch, v.capacity() - v.size());
  pages.populate(v.data() + v.size(), n * sizeof(T), v.capacity() * sizeof(T));
}

/// A string of up to 16 bytes as two words plus its length, loaded with overlapping word reads
/// so that nothing outside the string is touched (the last field of a mapped file may end at the
/// last byte of the mapping). For a given length the two words determine the string, so equality
/// of keys is equality of strings: a dictionary lookup compares three integers, no memcmp.
struct ShortKey {
  std::uint64_t a = 0;
  std::uint64_t b = 0;
  std::uint32_t size = 0;
};

inline std::uint64_t load_u64(const char* p) {
  std::uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}
inline std::uint32_t load_u32(const char* p) {
  std::uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

inline constexpr size_t kShortKey = 16;

/// Key of s (s.size() <= kShortKey).
inline ShortKey short_key(const char* s, size_t n) {
  ShortKey k;
  k.size = static_cast<std::uint32_t>(n);
  if (n >= 8) {
    k.a = load_u64(s);
    k.b = load_u64(s + n - 8);
  } else if (n >= 4) {
    k.a = load_u32(s);
    k.b = load_u32(s + n - 4);
  } else if (n > 0) {
    k.a = static_cast<std::uint64_t>(static_cast<unsigned char>(s[0])) |
          static_cast<std::uint64_t>(static_cast<unsigned char>(s[n / 2])) << 8 |
          static_cast<std::uint64_t>(static_cast<unsigned char>(s[n - 1])) << 16;
  }
  return k;
}

/// Hash of a short key: a multiply-xorshift mix (~10 instructions, inline) instead of a call to
/// XXH3, which cost ~40 instructions per field for the three id columns of the group-by data.
/// Local to this rank's hash table only, so it need not match hash_bytes.
inline std::uint64_t short_hash(const ShortKey& k) {
  return hash_u64(k.a * 0x9E3779B97F4A7C15ULL + (k.b ^ (static_cast<std::uint64_t>(k.size) << 56)));
}

/// Open-addressing hash set of the distinct strings of one column on this rank; codes are
/// insertion order. Strings live in one arena, so inserting never allocates per value. A slot is
/// one 32-byte record (one cache miss per lookup) holding the code, the length, and for strings
/// up to 16 bytes (the usual case for categorical data) the ShortKey words, compared as integers;
/// longer strings keep their XXH3 hash in the slot and are compared against the arena.
class LocalDictionary {
 public:
  /// Code of `s`, inserted if new.
  std::int32_t insert(std::string_view s) {
    if (s.size() <= kShortKey) {
      const ShortKey k = short_key(s.data(), s.size());
      return insert_short(k, short_hash(k), s);
    }
    return insert_long(s, hash_bytes(s.data(), s.size()));
  }
  /// Code of the short string `s` whose key is `k` and hash short_hash(k), inserted if new.
  std::int32_t insert_short(const ShortKey& k, std::uint64_t h, std::string_view s) {
    if ((static_cast<size_t>(count()) + 1) * 2 > slots_.size()) [[unlikely]]
      grow();
    const size_t mask = slots_.size() - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
      Slot& slot = slots_[i];
      if (slot.a == k.a && slot.b == k.b && slot.size == k.size && slot.code >= 0) return slot.code;
      if (slot.code < 0) return add(slot, h, s, k.a, k.b);
    }
  }
  std::int32_t insert_long(std::string_view s, std::uint64_t h) {
    if ((static_cast<size_t>(count()) + 1) * 2 > slots_.size()) grow();
    const size_t mask = slots_.size() - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
      Slot& slot = slots_[i];
      if (slot.code < 0) return add(slot, h, s, h, 0);
      if (slot.size != s.size() || slot.a != h) continue;
      const char* text = chars_.data() + offsets_[static_cast<size_t>(slot.code)];
      if (std::memcmp(text, s.data(), s.size()) == 0) return slot.code;
    }
  }
  /// Starts loading the slot where a lookup of hash `h` begins.
  void prefetch(std::uint64_t h) const {
    if (!slots_.empty()) __builtin_prefetch(&slots_[h & (slots_.size() - 1)]);
  }
  idx_t count() const { return static_cast<idx_t>(offsets_.size()) - 1; }
  std::string_view view(std::int32_t code) const {
    const auto b = offsets_[static_cast<size_t>(code)];
    const auto e = offsets_[static_cast<size_t>(code) + 1];
    return std::string_view(chars_.data() + b, static_cast<size_t>(e - b));
  }
  /// Views of the values in code order (valid while the dictionary lives).
  std::vector<std::string_view> views() const {
    std::vector<std::string_view> out;
    out.reserve(static_cast<size_t>(count()));
    for (idx_t c = 0; c < count(); ++c)
      out.push_back(view(static_cast<std::int32_t>(c)));
    return out;
  }
  void clear() { *this = LocalDictionary(); }

 private:
  struct alignas(32) Slot {
    std::uint64_t a = 0;  // ShortKey::a, or the XXH3 hash of a long string
    std::uint64_t b = 0;  // ShortKey::b, or 0
    std::uint32_t size = 0;
    std::int32_t code = -1;  // -1: empty
    std::uint64_t hash = 0;  // for rehashing on growth
  };

  std::int32_t add(Slot& slot, std::uint64_t h, std::string_view s, std::uint64_t a,
                   std::uint64_t b) {
    const auto code = static_cast<std::int32_t>(count());
    chars_.append(s);
    offsets_.push_back(static_cast<idx_t>(chars_.size()));
    slot.a = a;
    slot.b = b;
    slot.size = static_cast<std::uint32_t>(s.size());
    slot.code = code;
    slot.hash = h;
    return code;
  }

  void grow() {
    const size_t n = slots_.empty() ? 1024 : slots_.size() * 2;
    std::vector<Slot> old = std::move(slots_);
    // Huge pages matter here too: the table of a 1e5-value column is 8 MiB, and with 4 KiB
    // pages nearly every (random) lookup also misses the TLB.
    slots_ = std::vector<Slot>();
    reserve_huge(slots_, n);
    slots_.assign(n, Slot{});
    const size_t mask = n - 1;
    for (const Slot& s : old) {
      if (s.code < 0) continue;
      size_t i = s.hash & mask;
      while (slots_[i].code >= 0)
        i = (i + 1) & mask;
      slots_[i] = s;
    }
  }
  std::vector<Slot> slots_;
  std::vector<idx_t> offsets_{0};
  std::string chars_;
};

/// Inference lattice; the bit (1 << kind) of each kind seen is OR-ed over ranks.
enum class Kind : std::uint8_t { kNull = 0, kBool, kInt, kFloat, kTimestamp, kString };

DataType resolve_kinds(std::int32_t mask) {
  const auto bit = [](Kind k) { return 1 << static_cast<int>(k); };
  mask &= ~bit(Kind::kNull);
  if (mask == 0 || (mask & bit(Kind::kString)) != 0) return DataType::kString;
  if (mask == bit(Kind::kBool)) return DataType::kBool;
  if (mask == bit(Kind::kTimestamp)) return DataType::kTimestamp;
  if (mask == bit(Kind::kInt)) return DataType::kInt64;
  if ((mask & ~(bit(Kind::kInt) | bit(Kind::kFloat))) == 0) return DataType::kFloat64;
  return DataType::kString;
}

/// Physical vector in use.
enum class Phys : std::uint8_t { kNone, kI64, kF64, kU8, kI32, kF32, kStr };

Phys phys_of(DataType t) {
  switch (t) {
    case DataType::kInt64:
    case DataType::kTimestamp:
      return Phys::kI64;
    case DataType::kFloat64:
      return Phys::kF64;
    case DataType::kBool:
      return Phys::kU8;
    case DataType::kInt32:
      return Phys::kI32;
    case DataType::kFloat32:
      return Phys::kF32;
    case DataType::kString:
      return Phys::kStr;
  }
  return Phys::kNone;
}

/// Builds one output column on one rank. With a fixed type every value must parse as that type;
/// without one (inference) the column holds the narrowest kind that fits all values seen so far.
class ColumnBuilder {
 public:
  ColumnBuilder(std::optional<DataType> fixed, idx_t max_dictionary)
      : fixed_(fixed.has_value()),
        target_(fixed.value_or(DataType::kString)),
        phys_(fixed ? phys_of(*fixed) : Phys::kNone),
        max_dictionary_(max_dictionary) {
    if (fixed_) kind_ = Kind::kString;  // unused for fixed columns
  }

  /// Appends one field; false if the (fixed) type cannot represent it.
  bool append(const csv_ns::FieldView& f, std::string& scratch) {
    if (f.size == 0) {
      if (f.quoted && (fixed_ ? target_ == DataType::kString : true)) {
        if (!fixed_ && kind_ != Kind::kString) become_string();
        push_string(std::string_view());
      } else {
        push_null();
      }
      return true;
    }
    const std::string_view text = csv_ns::unescape(f, scratch);
    if (is_dictionary_string()) {
      push_string(text);
      return true;
    }
    if (fixed_) return push_fixed(text);
    push_inferred(text);
    return true;
  }

  /// Numeric fast path: while the column holds int64 (or float64) values, appends fields as long
  /// as they are non-empty numbers of that type, in one tight loop without per-field dispatch.
  /// Returns how many of the n fields (stride apart) it took; the caller sends the next one
  /// through append(), which handles nulls, widening and errors.
  size_t append_numeric_run(const csv_ns::FieldView* f, size_t n, size_t stride) {
    size_t i = 0;
    if (phys_ == Phys::kI64 && (fixed_ ? target_ == DataType::kInt64 : kind_ == Kind::kInt)) {
      for (; i < n; ++i) {
        const csv_ns::FieldView& fv = f[i * stride];
        std::int64_t v;
        if (fv.size == 0 || !csv_ns::parse_int64(std::string_view(fv.data, fv.size), v)) break;
        i64_.push_back(v);
      }
    } else if (phys_ == Phys::kF64) {
      for (; i < n; ++i) {
        const csv_ns::FieldView& fv = f[i * stride];
        double v;
        if (fv.size == 0 || !csv_ns::parse_float64(std::string_view(fv.data, fv.size), v)) break;
        f64_.push_back(v);
      }
    } else {
      return 0;
    }
    if (!valid_.empty()) valid_.resize(valid_.size() + i, 1);
    size_ += static_cast<idx_t>(i);
    return i;
  }

  /// True while values go into the local hash dictionary: the caller may then hash a batch of
  /// fields up front and prefetch their slots, hiding the cache miss of each lookup.
  bool is_dictionary_string() const {
    return !plain_mode_ && (fixed_ ? target_ == DataType::kString : kind_ == Kind::kString);
  }

  /// Dictionary string fast path for n fields (stride apart) while is_dictionary_string():
  /// short unquoted non-empty fields are keyed and hashed for the whole batch first, then looked
  /// up with each slot prefetched kPrefetch rows ahead, hiding the cache miss of a lookup in a
  /// large dictionary (1e5 distinct ids). Other fields go through append(). `keys`/`hashes`
  /// are scratch arrays of at least n entries.
  void append_strings(const csv_ns::FieldView* f, size_t n, size_t stride, std::string& scratch,
                      ShortKey* keys, std::uint64_t* hashes) {
    // 32 rows: with 16 the slot loads of the 1e5-value id3 column of the group-by data still
    // stalled (a fifth of the reader's CPU time in a profile); 32 and 48 took about an eighth
    // off the user time of a 2-rank read of 1e7 rows (bench_csv_ingest, 2026-12-01), 4, 64 and
    // 128 less.
    constexpr size_t kPrefetch = 32;
    for (size_t i = 0; i < n; ++i) {
      const auto& fv = f[i * stride];
      if (fv.size - 1 < kShortKey && !fv.escaped) {  // 1..16 bytes
        keys[i] = short_key(fv.data, fv.size);
        hashes[i] = short_hash(keys[i]);
      } else {
        keys[i].size = UINT32_MAX;  // not a short key: append() decides
        hashes[i] = 0;
      }
    }
    for (size_t i = 0; i < std::min(n, kPrefetch); ++i)
      dict_.prefetch(hashes[i]);
    for (size_t i = 0; i < n; ++i) {
      if (i + kPrefetch < n) dict_.prefetch(hashes[i + kPrefetch]);
      const auto& fv = f[i * stride];
      if (keys[i].size == UINT32_MAX || plain_mode_) [[unlikely]] {
        append(fv, scratch);  // never fails for a string column
        continue;
      }
      i32_.push_back(dict_.insert_short(keys[i], hashes[i], std::string_view(fv.data, fv.size)));
      if (!valid_.empty()) valid_.push_back(1);
      ++size_;
      if (dict_.count() > max_dictionary_) [[unlikely]]
        to_plain();
    }
  }

  /// Reserves room for `capacity` rows in the vector currently in use and maps the pages of the
  /// next `touch` rows (reserve_populated).
  void reserve(idx_t capacity, idx_t touch, FreshPagePopulator& pages) {
    const auto cap = static_cast<size_t>(capacity);
    const auto t = static_cast<size_t>(std::max<idx_t>(touch, 0));
    switch (phys_) {
      case Phys::kI64:
        reserve_populated(i64_, cap, t, pages);
        break;
      case Phys::kF64:
        reserve_populated(f64_, cap, t, pages);
        break;
      case Phys::kU8:
        reserve_populated(u8_, cap, t, pages);
        break;
      case Phys::kI32:
      case Phys::kStr:
        reserve_populated(i32_, cap, t, pages);
        break;
      case Phys::kF32:
        reserve_populated(f32_, cap, t, pages);
        break;
      case Phys::kNone:
        break;
    }
  }

  void truncate(idx_t n) {
    if (n >= size_) return;
    const auto un = static_cast<size_t>(n);
    i64_.resize(std::min(i64_.size(), un));
    f64_.resize(std::min(f64_.size(), un));
    u8_.resize(std::min(u8_.size(), un));
    i32_.resize(std::min(i32_.size(), un));
    f32_.resize(std::min(f32_.size(), un));
    if (plain_mode_) {
      plain_.offsets.resize(un + 1);
      plain_.chars.resize(static_cast<size_t>(plain_.offsets.back()));
    }
    if (!valid_.empty()) valid_.resize(un);
    size_ = n;
  }

  idx_t size() const { return size_; }
  Kind kind() const { return kind_; }
  bool fixed() const { return fixed_; }
  bool needs_reparse() const { return needs_reparse_; }
  bool plain_mode() const { return plain_mode_; }

  /// True if this rank's values can be turned into a column of `final_type` without parsing
  /// again.
  bool convertible_to(DataType final_type) const {
    if (fixed_ || kind_ == Kind::kNull) return true;
    if (needs_reparse_) return false;
    switch (kind_) {
      case Kind::kBool:
        return final_type == DataType::kBool;
      case Kind::kInt:
        return final_type == DataType::kInt64 || final_type == DataType::kFloat64;
      case Kind::kFloat:
        return final_type == DataType::kFloat64;
      case Kind::kTimestamp:
        return final_type == DataType::kTimestamp;
      case Kind::kString:
        return final_type == DataType::kString;
      case Kind::kNull:
        return true;
    }
    return false;
  }

  /// Local part of finishing a non-string column of `final_type`.
  table::Column finish_numeric(DataType final_type) {
    table::Column col(final_type);
    const auto n = static_cast<size_t>(size_);
    if (!fixed_ && kind_ == Kind::kNull) {
      col.visit([&](auto& v) {
        using V = std::decay_t<decltype(v)>;
        if constexpr (!std::is_same_v<V, table::PlainStrings>) v.assign(n, {});
      });
      if (n > 0) col.validity().assign(n, 0);
      return col;
    }
    if (!fixed_ && kind_ == Kind::kInt && final_type == DataType::kFloat64) {
      to_float();
    }
    switch (phys_of(final_type)) {
      case Phys::kI64:
        col.values<std::int64_t>() = std::move(i64_);
        break;
      case Phys::kF64:
        col.values<double>() = std::move(f64_);
        break;
      case Phys::kU8:
        col.values<std::uint8_t>() = std::move(u8_);
        break;
      case Phys::kI32:
        col.values<std::int32_t>() = std::move(i32_);
        break;
      case Phys::kF32:
        col.values<float>() = std::move(f32_);
        break;
      case Phys::kStr:
      case Phys::kNone:
        throw RuntimeError("finish_numeric called for a string column");
    }
    col.validity() = std::move(valid_);
    col.compact_validity();
    return col;
  }

  // String results: either (dictionary values, codes) or plain strings.
  /// Views of the distinct values in code order (valid while this builder lives).
  std::vector<std::string_view> dictionary_views() const { return dict_.views(); }
  std::vector<std::uint8_t>& validity() {
    if (!fixed_ && kind_ == Kind::kNull && size_ > 0) valid_.assign(static_cast<size_t>(size_), 0);
    return valid_;
  }
  /// Plain strings of every row (nulls as empty).
  table::PlainStrings take_plain() {
    if (plain_mode_) return std::move(plain_);
    table::PlainStrings out;
    out.offsets.reserve(static_cast<size_t>(size_) + 1);
    for (idx_t i = 0; i < size_; ++i) {
      const bool null = (!fixed_ && kind_ == Kind::kNull) ||
                        (!valid_.empty() && valid_[static_cast<size_t>(i)] == 0);
      out.push_back(null ? std::string_view() : dict_.view(i32_[static_cast<size_t>(i)]));
    }
    return out;
  }
  /// Codes (into dictionary_values()) of every row; nulls get code 0.
  table::Buffer<std::int32_t> take_codes() {
    table::Buffer<std::int32_t> out = std::move(i32_);
    out.resize(static_cast<size_t>(size_), 0);
    return out;
  }

 private:
  template <typename T, typename A>
  void push(std::vector<T, A>& v, T x) {
    v.push_back(x);
    if (!valid_.empty()) valid_.push_back(1);
    ++size_;
  }

  void push_null() {
    switch (phys_) {
      case Phys::kNone:
        ++size_;
        return;
      case Phys::kI64:
        i64_.push_back(0);
        break;
      case Phys::kF64:
        f64_.push_back(0);
        break;
      case Phys::kU8:
        u8_.push_back(0);
        break;
      case Phys::kI32:
        i32_.push_back(0);
        break;
      case Phys::kF32:
        f32_.push_back(0);
        break;
      case Phys::kStr:
        if (plain_mode_)
          plain_.push_back(std::string_view());
        else
          i32_.push_back(0);
        break;
    }
    if (valid_.empty()) valid_.assign(static_cast<size_t>(size_), 1);
    valid_.push_back(0);
    ++size_;
  }

  void push_string(std::string_view s) {
    if (plain_mode_) {
      plain_.push_back(s);
    } else {
      i32_.push_back(dict_.insert(s));
    }
    if (!valid_.empty()) valid_.push_back(1);
    ++size_;
    // After the row's validity is in place: to_plain() reads it for every code (it read past the
    // end here, and turned the value that overflowed the dictionary into "" after a null).
    if (!plain_mode_ && dict_.count() > max_dictionary_) to_plain();
  }

  /// More distinct values on this rank alone than a dictionary may hold: switch to plain
  /// strings now instead of growing the hash table further.
  void to_plain() {
    table::PlainStrings plain;
    plain.offsets.reserve(i32_.size() + 1);
    for (size_t i = 0; i < i32_.size(); ++i) {
      const bool null = !valid_.empty() && valid_[i] == 0;
      plain.push_back(null ? std::string_view() : dict_.view(i32_[i]));
    }
    plain_ = std::move(plain);
    plain_mode_ = true;
    i32_.clear();
    i32_.shrink_to_fit();
    dict_.clear();
  }

  bool push_fixed(std::string_view text) {
    switch (target_) {
      case DataType::kInt64: {
        std::int64_t v;
        if (!csv_ns::parse_int64(text, v)) return false;
        push(i64_, v);
        return true;
      }
      case DataType::kFloat64: {
        double v;
        if (!csv_ns::parse_float64(text, v)) return false;
        push(f64_, v);
        return true;
      }
      case DataType::kString:
        push_string(text);
        return true;
      case DataType::kInt32: {
        std::int64_t v;
        if (!csv_ns::parse_int64(text, v) || v < INT32_MIN || v > INT32_MAX) return false;
        push(i32_, static_cast<std::int32_t>(v));
        return true;
      }
      case DataType::kFloat32: {
        float v;
        if (!csv_ns::parse_float32(text, v)) return false;
        push(f32_, v);
        return true;
      }
      case DataType::kBool: {
        bool v;
        if (!csv_ns::parse_bool(text, v)) return false;
        push(u8_, static_cast<std::uint8_t>(v ? 1 : 0));
        return true;
      }
      case DataType::kTimestamp: {
        std::int64_t v;
        if (!csv_ns::parse_timestamp(text, v)) return false;
        push(i64_, v);
        return true;
      }
    }
    return false;
  }

  void push_inferred(std::string_view text) {
    switch (kind_) {
      case Kind::kInt: {
        std::int64_t v;
        if (csv_ns::parse_int64(text, v)) {
          push(i64_, v);
          return;
        }
        double d;
        if (csv_ns::parse_float64(text, d)) {
          to_float();
          push(f64_, d);
          return;
        }
        break;
      }
      case Kind::kFloat: {
        double d;
        if (csv_ns::parse_float64(text, d)) {
          push(f64_, d);
          return;
        }
        break;
      }
      case Kind::kString:
        push_string(text);
        return;
      case Kind::kBool: {
        bool b;
        if (csv_ns::parse_bool(text, b)) {
          push(u8_, static_cast<std::uint8_t>(b ? 1 : 0));
          return;
        }
        break;
      }
      case Kind::kTimestamp: {
        std::int64_t v;
        if (csv_ns::parse_timestamp(text, v)) {
          push(i64_, v);
          return;
        }
        break;
      }
      case Kind::kNull: {
        std::int64_t v;
        double d;
        bool b;
        if (csv_ns::parse_int64(text, v)) {
          materialize(Kind::kInt, Phys::kI64);
          push(i64_, v);
        } else if (csv_ns::parse_float64(text, d)) {
          materialize(Kind::kFloat, Phys::kF64);
          push(f64_, d);
        } else if (csv_ns::parse_bool(text, b)) {
          materialize(Kind::kBool, Phys::kU8);
          push(u8_, static_cast<std::uint8_t>(b ? 1 : 0));
        } else if (csv_ns::parse_timestamp(text, v)) {
          materialize(Kind::kTimestamp, Phys::kI64);
          push(i64_, v);
        } else {
          materialize(Kind::kString, Phys::kStr);
          push_string(text);
        }
        return;
      }
    }
    become_string();
    push_string(text);
  }

  /// First non-null value: the rows so far were all null.
  void materialize(Kind kind, Phys phys) {
    kind_ = kind;
    phys_ = phys;
    const auto n = static_cast<size_t>(size_);
    switch (phys) {
      case Phys::kI64:
        i64_.assign(n, 0);
        break;
      case Phys::kF64:
        f64_.assign(n, 0);
        break;
      case Phys::kU8:
        u8_.assign(n, 0);
        break;
      case Phys::kStr:
        i32_.assign(n, 0);
        break;
      default:
        break;
    }
    if (n > 0) valid_.assign(n, 0);
  }

  void to_float() {
    f64_.resize(i64_.size());
    for (size_t i = 0; i < i64_.size(); ++i)
      f64_[i] = static_cast<double>(i64_[i]);
    i64_.clear();
    i64_.shrink_to_fit();
    kind_ = Kind::kFloat;
    phys_ = Phys::kF64;
  }

  /// A value that is not a number/bool/timestamp after such values: the earlier values' text is
  /// gone, so this rank must parse again once the final type is known.
  void become_string() {
    if (kind_ == Kind::kNull) {
      materialize(Kind::kString, Phys::kStr);
      return;
    }
    needs_reparse_ = true;
    kind_ = Kind::kString;
    phys_ = Phys::kStr;
    i64_ = {};
    f64_ = {};
    u8_ = {};
    i32_.assign(static_cast<size_t>(size_), 0);
  }

  bool fixed_;
  DataType target_;
  Phys phys_;
  idx_t max_dictionary_;
  Kind kind_ = Kind::kNull;
  bool needs_reparse_ = false;
  bool plain_mode_ = false;
  idx_t size_ = 0;
  table::Buffer<std::int64_t> i64_;
  table::Buffer<double> f64_;
  table::Buffer<std::uint8_t> u8_;
  table::Buffer<std::int32_t> i32_;  // int32 values or string codes
  table::Buffer<float> f32_;
  std::vector<std::uint8_t> valid_;
  LocalDictionary dict_;
  table::PlainStrings plain_;
};

// ================================================================================================
// Parsing this rank's segments
// ================================================================================================

/// The part of one file's data region [begin, end) (offsets relative to the data start) that
/// this rank owns: the records starting there.
struct Segment {
  int file = 0;
  idx_t begin = 0;
  idx_t end = 0;
  int parity_before = 0;      // quote parity at `begin` (csv_scanner.hpp)
  idx_t newlines_before = 0;  // '\n' bytes in the data region before `begin`
};

struct BadRows {
  idx_t count = 0;
  idx_t lines = 0;                    // physical lines of the bad rows
  std::vector<std::string> examples;  // kSkip: the first max_logged_examples messages
  std::string quarantine;             // kQuarantine: CSV rows file,line,reason,raw
};

struct ParseResult {
  idx_t rows = 0;
  BadRows bad;
};

std::string clip(std::string_view text) {
  constexpr size_t kMax = 80;
  if (text.size() <= kMax) return std::string(text);
  // Built by append, not `std::string(...) + "..."`: GCC 12 gives a false -Warray-bounds on the
  // inlined operator+ when the standard headers are precompiled.
  std::string clipped;
  clipped.reserve(kMax + 3);
  clipped.append(text.substr(0, kMax)).append("...");
  return clipped;
}

class SegmentParser {
 public:
  SegmentParser(const CsvOptions& o, const Plan& plan, const ColumnMap& map,
                std::vector<ColumnBuilder>& builders, ParseResult& result)
      : o_(o),
        plan_(plan),
        map_(map),
        builders_(builders),
        result_(result),
        scanner_(o.delimiter, static_cast<size_t>(o.max_field_bytes)) {}

  /// How the column vectors' pages were mapped, for the log.
  const FreshPagePopulator& pages() const { return pages_; }

  /// Reports the bytes parsed so far, over all segments, to `progress` (may be null).
  void report_to(Progress* progress) { progress_ = progress; }

  /// Parses the records of `seg`; `data` is the mapped data region of its file (data_size
  /// bytes), which starts at byte `data_offset` of the file open as `fd`.
  void parse(const Segment& seg, const char* data, idx_t data_size, int fd, idx_t data_offset) {
    const FileInfo& file = plan_.files[static_cast<size_t>(seg.file)];
    // Find the first record that starts in [begin, end): the start of the data region, or the
    // byte after a newline outside quotes (quote parity known from the bytes before `begin`).
    idx_t start = seg.begin;
    idx_t newlines = seg.newlines_before;
    if (seg.begin > 0 && !(data[seg.begin - 1] == '\n' && seg.parity_before == 0)) {
      const char* next = scanner_.next_record_start(data + seg.begin, data + seg.end,
                                                    data + data_size, seg.parity_before);
      start = next == nullptr ? data_size : next - data;
      newlines += std::count(data + seg.begin, data + std::min(start, seg.end), '\n');
    }
    const char* const first = data + start;
    const char* p = first;
    const char* seg_end = data + seg.end;
    const char* file_end = data + data_size;
    idx_t line = file.first_line + newlines;
    const size_t ncsv = plan_.csv_names.size();
    batch_fields_.resize(kBatch * std::max<size_t>(ncsv, 1));
    batch_rows_.resize(kBatch);
    hashes_.resize(kBatch);
    keys_.resize(kBatch);
    bool reserved = false;
    const idx_t rows_before = result_.rows;
    window_.clear();
    bool window_usable = fd >= 0;
    bool skip_window_once = false;  // redo a batch from the mapping (see the text check)
    while (p < seg_end) {
      if (progress_ != nullptr) progress_->update(progress_base_ + (p - (data + seg.begin)));
      // Phase 1: scan up to kBatch well-formed records. A bad record ends the batch, so that
      // bad rows are reported in file order relative to bad values found in phase 2.
      const char* const batch_begin = p;
      const idx_t batch_line = line;
      // The bulk scan reads a FileWindow copy of the bytes ahead (refilled when less than
      // refill_below() of it is left), unless this batch is redone from the mapping.
      const bool windowed = window_usable && !skip_window_once;
      skip_window_once = false;
      if (windowed && (!window_.holds(p, p) ||
                       (window_.map_end() - p < refill_below() && window_.map_end() < file_end))) {
        window_usable = window_.fill(fd, p, file_end, data_offset + (p - data));
      }
      bool used_window = false;
      size_t n = 0;
      bool has_bad = false;
      csv_ns::ScannedRecord bad_rec;
      idx_t bad_line = 0;
      while (p < seg_end && n < kBatch) {
        // Bulk path for plain records (see RecordScanner::scan_simple); whatever it stops at
        // goes through scan() below.
        const char* after = p;
        size_t simple = 0;
        if (windowed && window_usable && window_.holds(p, p)) {
          // Fields point into the window, valid until the next batch refills it.
          const char* wp = window_.to_window(p);
          const char* wlimit =
              seg_end < window_.map_end() ? window_.to_window(seg_end) : window_.window_end();
          const char* wafter = wp;
          simple = scanner_.scan_simple(wp, wlimit, window_.window_end(), ncsv, kBatch - n,
                                        batch_fields_.data() + n * ncsv, &wafter);
          after = window_.to_map(wafter);
          used_window = used_window || simple > 0;
          // Stopped at the window's end (not at the file's): end the batch, the next one
          // refills the window.
          if (simple == 0 && n > 0 && window_.map_end() < file_end &&
              window_.map_end() - p < window_tail())
            break;
        } else {
          simple = scanner_.scan_simple(p, seg_end, file_end, ncsv, kBatch - n,
                                        batch_fields_.data() + n * ncsv, &after);
        }
        if (simple > 0) {
          for (size_t i = 0; i < simple; ++i)
            batch_rows_[n + i] = BatchRow{nullptr, nullptr, line + static_cast<idx_t>(i)};
          n += simple;
          line += static_cast<idx_t>(simple);
          p = after;
          continue;
        }
        // Fields go straight into the batch (extra fields are counted, not stored).
        const csv_ns::ScannedRecord rec =
            scanner_.scan(p, file_end, batch_fields_.data() + n * ncsv, ncsv);
        const idx_t rec_line = line;
        line += rec.newlines;
        p = rec.next;
        if (rec.status == csv_ns::RecordStatus::kOk && rec.fields == ncsv) [[likely]] {
          batch_rows_[n] = BatchRow{rec.begin, rec.end, rec_line};
          ++n;
          continue;
        }
        if (rec.status == csv_ns::RecordStatus::kBlank) continue;
        has_bad = true;
        bad_rec = rec;
        bad_line = rec_line;
        break;
      }
      // Text check: one pass over the batch's bytes, 16 at a time while they are ASCII; only a
      // range with a non-ASCII or NUL byte is looked at field by field. The first row with a
      // bad read field ends the batch; scanning resumes after it. A batch whose fields point
      // into the window is checked on the window's copy; if that finds a bad byte the batch is
      // scanned again from the mapping, so that everything below sees one kind of pointer.
      const char* const checked_end = has_bad ? bad_rec.begin : p;
      if (used_window) {
        const bool bad_text =
            window_.holds(batch_begin, checked_end)
                ? csv_ns::find_invalid_text(window_.to_window(batch_begin),
                                            window_.to_window(checked_end)) != nullptr
                : csv_ns::find_invalid_text(batch_begin, checked_end) != nullptr;
        if (bad_text) [[unlikely]] {
          p = batch_begin;
          line = batch_line;
          skip_window_once = true;
          continue;
        }
      } else if (const char* x = csv_ns::find_invalid_text(batch_begin, checked_end)) [[unlikely]] {
        if (const auto found = first_invalid_row(x, n, ncsv)) {
          const size_t i = found->row;
          const csv_ns::ScannedRecord rec = batch_record(i, ncsv);
          const char* after = record_next(rec.end, file_end);
          has_bad = true;
          bad_rec = rec;
          bad_rec.status = csv_ns::RecordStatus::kInvalidText;
          bad_rec.error_at = found->at;
          bad_rec.next = after;
          bad_line = batch_rows_[i].line;
          n = i;
          p = after;
          line = bad_line + std::count(rec.begin, after, '\n');
          invalid_column_ = found->column;
        }
      }
      // Phase 2: column by column.
      process_batch(file, n, ncsv);
      if (has_bad) report_bad_record(file, bad_line, bad_rec, ncsv);
      if (!reserved && result_.rows - rows_before >= static_cast<idx_t>(kBatch)) {
        // Size the column vectors once from the average record length so far, instead of
        // letting them double (and copy) their way up.
        reserved = true;
        const double per_row =
            static_cast<double>(p - first) / static_cast<double>(result_.rows - rows_before);
        const auto expected = static_cast<idx_t>(static_cast<double>(seg_end - first) / per_row);
        const idx_t done = result_.rows - rows_before;
        for (auto& builder : builders_)
          builder.reserve(rows_before + expected + expected / 20 + 64, expected - done, pages_);
      }
    }
    progress_base_ += seg.end - seg.begin;
  }

 private:
  static constexpr size_t kBatch = 512;
  /// The window (512 KiB) is refilled at a batch's start when less than an eighth of it is left
  /// (a batch of the group-by data is ~26 KiB), and a batch ends early within 4 KiB of its end
  /// (a sixteenth of smaller test windows).
  static std::ptrdiff_t refill_below() {
    return static_cast<std::ptrdiff_t>(FileWindow::capacity() / 8);
  }
  static std::ptrdiff_t window_tail() {
    return static_cast<std::ptrdiff_t>(std::min<size_t>(4096, FileWindow::capacity() / 16));
  }

  /// Where a batch row came from, for messages about it. Rows from the bulk scan path leave
  /// begin/end null: they are recovered from the row's fields (no quotes there) when needed.
  struct BatchRow {
    const char* begin = nullptr;
    const char* end = nullptr;
    idx_t line = 0;
  };

  struct InvalidField {
    size_t row = 0;
    size_t column = 0;  // CSV column (0-based)
    const char* at = nullptr;
  };

  /// The first batch row (of n) with a read field that is not valid UTF-8 or holds a NUL, given
  /// that `x` is the first such byte in the batch's bytes (possibly in an unread column).
  std::optional<InvalidField> first_invalid_row(const char* x, size_t n, size_t ncsv) const {
    const auto& out_of = map_.output_of_csv;
    size_t i = 0;
    while (i + 1 < n && batch_record(i + 1, ncsv).begin <= x)
      ++i;
    for (; i < n; ++i) {
      const csv_ns::FieldView* f = batch_fields_.data() + i * ncsv;
      for (size_t j = 0; j < ncsv; ++j) {
        if (out_of[j] < 0) continue;
        if (const char* bad = csv_ns::find_invalid_text(f[j].data, f[j].data + f[j].size))
          return InvalidField{i, j, bad};
      }
    }
    return std::nullopt;
  }

  /// The start of the record after one whose text ends at `end` (a CR, then a LF, may follow).
  static const char* record_next(const char* end, const char* file_end) {
    if (end < file_end && *end == '\r') ++end;
    if (end < file_end && *end == '\n') ++end;
    return end;
  }

  void report_bad_record(const FileInfo& file, idx_t line, const csv_ns::ScannedRecord& rec,
                         size_t ncsv) {
    using csv_ns::RecordStatus;
    const auto [at_line, column] =
        line_column(rec.begin, rec.error_at != nullptr ? rec.error_at : rec.begin, line);
    switch (rec.status) {
      case RecordStatus::kOk:
        bad(file, line, 0, rec, fmt::format("expected {} fields but found {}", ncsv, rec.fields));
        return;
      case RecordStatus::kInvalidText: {
        const auto c = static_cast<unsigned char>(*rec.error_at);
        bad(file, at_line, column, rec,
            c == 0 ? fmt::format("column {} '{}': a NUL byte", invalid_column_ + 1,
                                 plan_.csv_names[invalid_column_])
                   : fmt::format("column {} '{}': invalid UTF-8 (byte 0x{:02X})",
                                 invalid_column_ + 1, plan_.csv_names[invalid_column_], c));
        return;
      }
      case RecordStatus::kUnterminatedQuote:
        bad(file, at_line, column, rec,
            fmt::format("a quoted field opens here but is not closed before the end of the file "
                        "or within max_field_bytes ({} bytes)",
                        o_.max_field_bytes));
        return;
      case RecordStatus::kFieldTooLong:
        bad(file, at_line, column, rec,
            fmt::format("a field is longer than max_field_bytes ({} bytes)", o_.max_field_bytes));
        return;
      default:
        bad(file, at_line, column, rec, std::string(csv_ns::describe(rec.status)));
        return;
    }
  }

  /// The record of batch row i, for bad().
  csv_ns::ScannedRecord batch_record(size_t i, size_t ncsv) const {
    csv_ns::ScannedRecord rec;
    rec.begin = batch_rows_[i].begin;
    rec.end = batch_rows_[i].end;
    if (rec.begin == nullptr) {
      const csv_ns::FieldView* f = batch_fields_.data() + i * ncsv;
      rec.begin = f[0].data;
      rec.end = f[ncsv - 1].data + f[ncsv - 1].size;
    }
    return rec;
  }

  void process_batch(const FileInfo& file, size_t n, size_t ncsv) {
    const auto& out_of = map_.output_of_csv;
    for (size_t j = 0; j < ncsv; ++j) {
      const int b = out_of[j];
      if (b < 0) continue;
      ColumnBuilder& builder = builders_[static_cast<size_t>(b)];
      const csv_ns::FieldView* f = batch_fields_.data() + j;
      bool ok = true;
      if (builder.is_dictionary_string()) {
        builder.append_strings(f, n, ncsv, scratch_, keys_.data(), hashes_.data());
      } else {
        for (size_t i = 0; i < n && ok;) {
          i += builder.append_numeric_run(f + i * ncsv, n - i, ncsv);
          if (i < n) ok = builder.append(f[i++ * ncsv], scratch_);
        }
      }
      if (!ok) [[unlikely]] {
        // A value that does not parse: redo this batch row by row to reject exactly that row.
        for (auto& other : builders_)
          other.truncate(result_.rows);
        for (size_t i = 0; i < n; ++i)
          process_row(file, i, ncsv);
        return;
      }
    }
    result_.rows += static_cast<idx_t>(n);
  }

  void process_row(const FileInfo& file, size_t i, size_t ncsv) {
    const auto& out_of = map_.output_of_csv;
    const csv_ns::FieldView* f = batch_fields_.data() + i * ncsv;
    for (size_t j = 0; j < ncsv; ++j) {
      const int b = out_of[j];
      if (b < 0) continue;
      if (builders_[static_cast<size_t>(b)].append(f[j], scratch_)) continue;
      for (auto& builder : builders_)
        builder.truncate(result_.rows);
      const std::string text(csv_ns::unescape(f[j], scratch_));
      bad(file, batch_rows_[i].line, 0, batch_record(i, ncsv),
          fmt::format("column {} '{}': cannot parse '{}' as {}", j + 1, plan_.csv_names[j],
                      clip(text), table::to_string(*map_.types[static_cast<size_t>(b)])));
      return;
    }
    ++result_.rows;
  }

  /// A bad row at `line` (and byte `column` of it, 0 = none): thrown, counted or quarantined.
  void bad(const FileInfo& file, idx_t line, idx_t column, const csv_ns::ScannedRecord& rec,
           const std::string& reason) {
    const std::string where = column > 0 ? fmt::format("{}:{}:{}", file.path, line, column)
                                         : fmt::format("{}:{}", file.path, line);
    if (o_.bad_rows == BadRowPolicy::kFail) {
      throw InputError(
          "{}: {} (set inputs.{}.bad_rows: skip or quarantine to continue past bad rows)", where,
          reason, o_.input_name);
    }
    ++result_.bad.count;
    result_.bad.lines += 1 + std::count(rec.begin, rec.end, '\n');
    if (o_.bad_rows == BadRowPolicy::kSkip) {
      if (static_cast<idx_t>(result_.bad.examples.size()) < o_.max_logged_examples) {
        result_.bad.examples.push_back(fmt::format("{}: {}", where, reason));
      }
      return;
    }
    std::string& q = result_.bad.quarantine;
    csv_ns::append_string_field(file.path, ',', q);
    fmt::format_to(std::back_inserter(q), ",{},", line);
    csv_ns::append_string_field(reason, ',', q);
    q.push_back(',');
    csv_ns::append_string_field(
        std::string_view(rec.begin, static_cast<size_t>(rec.end - rec.begin)), ',', q);
    q.push_back('\n');
  }

  const CsvOptions& o_;
  const Plan& plan_;
  const ColumnMap& map_;
  std::vector<ColumnBuilder>& builders_;
  ParseResult& result_;
  csv_ns::RecordScanner scanner_;
  std::vector<csv_ns::FieldView> batch_fields_;
  std::vector<BatchRow> batch_rows_;
  std::vector<std::uint64_t> hashes_;
  std::vector<ShortKey> keys_;
  std::string scratch_;
  FileWindow window_;
  size_t invalid_column_ = 0;  // the column of the last kInvalidText record
  Progress* progress_ = nullptr;
  FreshPagePopulator pages_;  // the column vectors' page size, measured as they are mapped
  idx_t progress_base_ = 0;   // bytes of the segments parsed before this one
};

void validate_options(const CsvOptions& o) {
  if (o.paths.empty()) throw ConfigError("CSV input: no path given (set 'path')");
  if (o.delimiter == '"' || o.delimiter == '\n' || o.delimiter == '\r') {
    throw ConfigError("CSV input: the delimiter cannot be a quote, CR or LF");
  }
  if (o.bad_rows == BadRowPolicy::kQuarantine && o.quarantine_path.empty()) {
    throw ConfigError(
        "CSV input: bad_rows: quarantine needs a quarantine path for the rejected rows");
  }
  if (o.max_field_bytes < 1 || o.max_field_bytes > (idx_t{1} << 40)) {
    throw ConfigError("CSV input: max_field_bytes must be between 1 and 2^40");
  }
  if (o.max_dictionary_size < 0 || o.max_dictionary_size > INT32_MAX) {
    throw ConfigError("CSV input: max_dictionary_size must be between 0 and {}", INT32_MAX);
  }
}

}  // namespace

// ================================================================================================
// read_csv
// ================================================================================================

std::size_t set_read_window_bytes_for_testing(std::size_t bytes) {
  return g_window_bytes.exchange(std::max<std::size_t>(bytes, 256));
}

std::vector<std::string> read_csv_header(const CsvOptions& options) {
  const auto paths = expand_paths(options.paths);
  for (const auto& path : paths) {
    HeaderRecord rec =
        read_first_record(path, options.delimiter, options.header, options.max_field_bytes);
    if (!rec.empty) return column_names(path, rec, options.header);
  }
  throw InputError("every file matching {} is empty: there is no header",
                   join_names(options.paths));
}

table::Table read_csv(const mpi::Comm& comm, const CsvOptions& o, CsvReadStats* stats) {
  validate_options(o);

  Stopwatch phase;  // per-phase timings at debug level
  const auto lap = [&](const char* name) {
    spdlog::debug("read_csv: {} took {:.3f} s", name, phase.seconds());
    phase.reset();
  };
  // ---- 1. plan on rank 0: files, sizes, headers ---------------------------------------------
  Plan plan;
  comm.agree([&] {
    if (comm.is_root()) plan = make_plan(o);
  });
  broadcast_plan(comm, plan);
  const ColumnMap map =
      map_columns(o, plan, plan.files.empty() ? std::string() : plan.files.front().path);

  // ---- 2. byte ranges -----------------------------------------------------------------------
  const auto nfiles = static_cast<int>(plan.files.size());
  std::vector<idx_t> file_start(static_cast<size_t>(nfiles) + 1, 0);  // in global data space
  idx_t total_bytes = 0;
  for (int f = 0; f < nfiles; ++f) {
    const auto& info = plan.files[static_cast<size_t>(f)];
    file_start[static_cast<size_t>(f) + 1] =
        file_start[static_cast<size_t>(f)] + std::max<idx_t>(0, info.size - info.data_begin);
    total_bytes += info.size;
  }
  const idx_t global = file_start.back();
  const auto p = static_cast<__int128>(comm.size());
  const auto range_begin = static_cast<idx_t>(global * static_cast<__int128>(comm.rank()) / p);
  const auto range_end = static_cast<idx_t>(global * static_cast<__int128>(comm.rank() + 1) / p);
  std::vector<Segment> segments;
  for (int f = 0; f < nfiles; ++f) {
    const idx_t fb = file_start[static_cast<size_t>(f)];
    const idx_t fe = file_start[static_cast<size_t>(f) + 1];
    const idx_t b = std::max(fb, range_begin);
    const idx_t e = std::min(fe, range_end);
    if (b < e) segments.push_back(Segment{f, b - fb, e - fb, 0, 0});
  }

  lap("plan");
  // ---- 3. map files; quote parity and line numbers at the range start -----------------------
  std::map<int, std::unique_ptr<MappedFile>> maps;
  // Quote parity out of this rank's part of its last file for parity in 0 and 1, and its
  // newlines.
  idx_t last_parity[2] = {0, 1}, last_newlines = 0;
  const csv_ns::RecordScanner scanner(o.delimiter, static_cast<size_t>(o.max_field_bytes));
  comm.agree([&] {
    for (const auto& seg : segments) {
      const auto& info = plan.files[static_cast<size_t>(seg.file)];
      auto file = std::make_unique<MappedFile>(info.path);
      if (file->size() != info.size) {
        throw InputError("input file '{}' changed size while being read ({} bytes, now {})",
                         info.path, info.size, file->size());
      }
      file->prefetch(info.data_begin + seg.begin, seg.end - seg.begin);
      maps.emplace(seg.file, std::move(file));
    }
    // Only a later rank starting inside this rank's last file needs these; when this rank's
    // range runs to the end of that file (always so for the last rank) the pass is skipped.
    const bool counts_needed =
        !segments.empty() &&
        segments.back().end < file_start[static_cast<size_t>(segments.back().file) + 1] -
                                  file_start[static_cast<size_t>(segments.back().file)];
    if (counts_needed) {
      const auto& seg = segments.back();
      const auto& info = plan.files[static_cast<size_t>(seg.file)];
      const char* data = maps.at(seg.file)->data() + info.data_begin;
      const char* data_end = maps.at(seg.file)->data() + info.size;
      idx_t quotes = 0;
      count_quotes_newlines_read(*maps.at(seg.file), data + seg.begin, data + seg.end,
                                 info.data_begin + seg.begin, quotes, last_newlines);
      if (quotes > 0) {
        int out[2];
        scanner.parity_out(data + seg.begin, data + seg.end, data_end, out);
        last_parity[0] = out[0];
        last_parity[1] = out[1];
      }
    }
  });
  {
    // Per rank: first file, last file, parity out for 0 and 1 in, newlines of its part of the
    // last file.
    constexpr size_t kW = 5;
    const idx_t mine[kW] = {segments.empty() ? -1 : segments.front().file,
                            segments.empty() ? -1 : segments.back().file, last_parity[0],
                            last_parity[1], last_newlines};
    const auto all = mpi::allgatherv<idx_t>(comm, std::span<const idx_t>(mine, kW));
    if (!segments.empty() && segments.front().begin > 0) {
      // Walk back over the ranks whose ranges cover earlier bytes of the same file, then
      // compose their parity maps forward from parity 0 at the file's data start.
      const idx_t f = segments.front().file;
      std::vector<const idx_t*> earlier;
      for (int r = comm.rank() - 1; r >= 0; --r) {
        const idx_t* other = &all[static_cast<size_t>(r) * kW];
        if (other[0] < 0) continue;  // an empty range
        if (other[1] != f) break;
        earlier.push_back(other);
        if (other[0] != f) break;  // its part of file f started at the file's data start
      }
      int parity = 0;
      for (auto it = earlier.rbegin(); it != earlier.rend(); ++it) {
        parity = static_cast<int>((*it)[2 + parity]);
        segments.front().newlines_before += (*it)[4];
      }
      segments.front().parity_before = parity;
    }
  }

  lap("map+counts");
  // ---- 4. parse (inferring or with the explicit schema) -------------------------------------
  const auto ncols = static_cast<int>(map.names.size());
  std::vector<ColumnBuilder> builders;
  ParseResult result;
  const auto parse_all = [&](const std::vector<std::optional<DataType>>& types) {
    builders.clear();
    for (int k = 0; k < ncols; ++k)
      builders.emplace_back(types[static_cast<size_t>(k)], o.max_dictionary_size);
    result = ParseResult{};
    SegmentParser parser(o, plan, map, builders, result);
    idx_t my_bytes = 0;
    for (const auto& seg : segments)
      my_bytes += seg.end - seg.begin;
    Progress progress(o.input_name == "<name>" ? "reading CSV" : "reading " + o.input_name,
                      my_bytes, "bytes", comm.is_root());
    parser.report_to(&progress);
    for (const auto& seg : segments) {
      const auto& info = plan.files[static_cast<size_t>(seg.file)];
      const MappedFile& file = *maps.at(seg.file);
      parser.parse(seg, file.data() + info.data_begin, info.size - info.data_begin, file.fd(),
                   info.data_begin);
    }
    const FreshPagePopulator& pages = parser.pages();
    using Size = FreshPagePopulator::PageSize;
    spdlog::debug(
        "read_csv: column pages: {} MiB as huge pages ({:.2f} s/GB), {} MiB as 4 KiB "
        "pages ({:.2f} s/GB)",
        pages.bytes_in(Size::kHuge) >> 20, pages.seconds_per_gb(Size::kHuge),
        pages.bytes_in(Size::kSmall) >> 20, pages.seconds_per_gb(Size::kSmall));
  };
  comm.agree([&] { parse_all(map.types); });
  maybe_inject_fault("csv_parsed:" + o.input_name, comm.rank());

  std::vector<DataType> final_types(static_cast<size_t>(ncols));
  {
    std::vector<std::int32_t> masks(static_cast<size_t>(ncols), 0);
    for (int k = 0; k < ncols; ++k) {
      if (!map.types[static_cast<size_t>(k)])
        masks[static_cast<size_t>(k)] =
            1 << static_cast<int>(builders[static_cast<size_t>(k)].kind());
    }
    mpi::allreduce_inplace<std::int32_t>(comm, masks, mpi::Reduce::kBitOr);
    bool reparse = false;
    for (int k = 0; k < ncols; ++k) {
      const auto& t = map.types[static_cast<size_t>(k)];
      final_types[static_cast<size_t>(k)] = t ? *t : resolve_kinds(masks[static_cast<size_t>(k)]);
      if (!builders[static_cast<size_t>(k)].convertible_to(final_types[static_cast<size_t>(k)]))
        reparse = true;
    }
    comm.agree([&] {
      if (!reparse) return;
      std::vector<std::optional<DataType>> fixed(final_types.begin(), final_types.end());
      parse_all(fixed);
    });
  }
  maps.clear();

  lap("parse");
  // ---- 5. columns; strings unified across ranks ---------------------------------------------
  std::vector<table::Column> columns(static_cast<size_t>(ncols));
  std::vector<std::int32_t> plain_flags;
  for (int k = 0; k < ncols; ++k) {
    auto& builder = builders[static_cast<size_t>(k)];
    if (final_types[static_cast<size_t>(k)] == DataType::kString) {
      plain_flags.push_back(builder.plain_mode() ? 1 : 0);
    } else {
      columns[static_cast<size_t>(k)] = builder.finish_numeric(final_types[static_cast<size_t>(k)]);
    }
  }
  mpi::allreduce_inplace<std::int32_t>(comm, plain_flags, mpi::Reduce::kMax);
  size_t string_index = 0;
  for (int k = 0; k < ncols; ++k) {
    if (final_types[static_cast<size_t>(k)] != DataType::kString) continue;
    auto& builder = builders[static_cast<size_t>(k)];
    const bool plain = plain_flags[string_index++] != 0;
    std::vector<std::uint8_t> validity = std::move(builder.validity());
    table::Column col;
    if (plain) {
      col = table::Column::plain_strings();
      col.plain() = builder.take_plain();
    } else {
      const auto views = builder.dictionary_views();
      col = table::unified_dictionary_column(comm, views, builder.take_codes(), validity);
      if (col.dictionary()->size() > o.max_dictionary_size) {
        table::Column plain_col = table::Column::plain_strings();
        auto& ps = plain_col.plain();
        ps.offsets.reserve(static_cast<size_t>(col.size()) + 1);
        for (idx_t i = 0; i < col.size(); ++i)
          ps.push_back(col.is_valid(i) ? col.string_at(i) : std::string_view());
        col = std::move(plain_col);
      } else {
        columns[static_cast<size_t>(k)] = std::move(col);
        continue;
      }
    }
    col.validity() = std::move(validity);
    col.compact_validity();
    columns[static_cast<size_t>(k)] = std::move(col);
  }
  table::Table out;
  for (int k = 0; k < ncols; ++k)
    out.add_column(map.names[static_cast<size_t>(k)], std::move(columns[static_cast<size_t>(k)]));
  builders.clear();

  lap("columns");
  // ---- 6. bad rows and statistics -----------------------------------------------------------
  const idx_t local_rows = result.rows;
  const idx_t bad_before = mpi::exscan_sum(comm, result.bad.count);
  const idx_t bad_total = mpi::allreduce_sum(comm, result.bad.count);
  const std::string who = o.input_name == "<name>" ? "" : "input '" + o.input_name + "': ";
  const idx_t bad_lines = mpi::allreduce_sum(comm, result.bad.lines);
  if (o.bad_rows == BadRowPolicy::kSkip) {
    for (size_t i = 0; i < result.bad.examples.size(); ++i) {
      if (bad_before + static_cast<idx_t>(i) < o.max_logged_examples)
        spdlog::warn("{}skipped bad CSV row: {}", who, result.bad.examples[i]);
    }
    if (comm.is_root() && bad_total > 0) {
      spdlog::warn("{}skipped {} bad CSV row(s) in total, {} line(s) (bad_rows: skip)", who,
                   bad_total, bad_lines);
    }
  } else if (o.bad_rows == BadRowPolicy::kQuarantine) {
    std::string text;
    if (comm.is_root()) text = "file,line,reason,raw\n";
    text += result.bad.quarantine;
    write_ordered_text(comm, text, o.quarantine_path);
    if (comm.is_root() && bad_total > 0) {
      spdlog::warn("{}quarantined {} bad CSV row(s), {} line(s), to '{}'", who, bad_total,
                   bad_lines, o.quarantine_path);
    }
  }
  const idx_t rows_total = mpi::allreduce_sum(comm, local_rows);
  if (stats != nullptr) {
    stats->rows = rows_total;
    stats->bad_rows = bad_total;
    stats->bad_lines = bad_lines;
    stats->bytes = total_bytes;
    stats->files = nfiles;
  }
  lap("bad rows+stats");
  return out;
}

}  // namespace shardflow::io
