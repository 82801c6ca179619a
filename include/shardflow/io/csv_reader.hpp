#pragma once
// Parallel CSV reader: many files (globs) and single large files split into byte ranges across
// ranks, with schema inference agreed across ranks, global string dictionaries and bad-row
// policies. See csv_scanner.hpp for the record grammar.
//
// Value rules:
//   - an empty field is null; a quoted empty field ("") is the empty string in a string column
//     (so under inference it makes the column a string column) and null in any other column;
//   - inference per column picks the narrowest of int64 < float64 < string, or bool
//     (true/false, any case) or timestamp (`YYYY-MM-DD[ T]HH:MM:SS[.ffffff][Z]` or `YYYY-MM-DD`,
//     int64 microseconds UTC); any other mix becomes string; a column with only nulls is string;
//   - fields are not trimmed: " 12" is a string;
//   - blank lines are skipped; a UTF-8 byte-order mark at the start of a file is ignored;
//   - every field that is read (all fields without a schema; the schema's columns with one) must
//     be valid UTF-8 without NUL bytes, in every column type; a row with such a field is a bad
//     row (file:line:column of the byte), so output strings always decode. Unread columns are
//     not checked. Header names are not checked (inspect and the HDF5 writer cope with them).
//   - bad rows (bad_rows: skip / quarantine) are counted as records and as physical lines; an
//     unclosed quote costs the line where it opened (csv_scanner.hpp), at every rank count.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "shardflow/io/csv_scanner.hpp"
#include "shardflow/io/file_glob.hpp"
#include "shardflow/mpi/comm.hpp"
#include "shardflow/table/dictionary_encoding.hpp"
#include "shardflow/table/schema.hpp"
#include "shardflow/table/table.hpp"

namespace shardflow::io {

enum class BadRowPolicy { kFail, kSkip, kQuarantine };

/// "fail" | "skip" | "quarantine"; nullopt otherwise.
std::optional<BadRowPolicy> parse_bad_row_policy(std::string_view text);
std::string_view to_string(BadRowPolicy policy);

struct CsvOptions {
  /// Files or glob patterns (*, ?, [..]); expanded and sorted by name (see expand_paths).
  std::vector<std::string> paths;
  /// Explicit schema. With a header, columns are matched by name: every schema column must be in
  /// the header, header columns not in the schema are skipped, and the result has the schema's
  /// column order. Without a header, the schema lists the file's columns in order. If absent,
  /// names come from the header ("column_1".. without one) and types are inferred.
  std::optional<table::Schema> schema;
  bool header = true;
  char delimiter = ',';
  BadRowPolicy bad_rows = BadRowPolicy::kFail;
  /// Rejects file for kQuarantine: one CSV file `file,line,reason,raw` (with a header line),
  /// written collectively (rows in global row order); written even when no row is rejected.
  std::string quarantine_path;
  /// String columns with more distinct values than this (over all ranks) stay plain.
  idx_t max_dictionary_size = table::kDefaultMaxDictionarySize;
  /// kSkip: the first N bad rows (in global row order) are logged with spdlog::warn.
  idx_t max_logged_examples = 5;
  /// Longest field, and how far a quoted field may run before its opening quote counts as
  /// unclosed (see csv_scanner.hpp); a longer field makes its row bad.
  idx_t max_field_bytes = static_cast<idx_t>(csv::kDefaultMaxFieldBytes);
  /// Name of the input in the job file, used in the hint of error messages.
  std::string input_name = "<name>";
};

/// Global totals over all ranks.
struct CsvReadStats {
  idx_t rows = 0;       // rows in the result
  idx_t bad_rows = 0;   // rows (records) skipped or quarantined
  idx_t bad_lines = 0;  // physical lines of those rows
  idx_t bytes = 0;      // bytes of all files
  idx_t files = 0;      // files read
};

/// Collective: reads all files. `options` must be equal on all ranks. Every rank gets a contiguous
/// part of the global row sequence (files in sorted name order, rows in file order); rank r's rows
/// all precede rank r+1's. The split: the data bytes of all files (after headers) are divided
/// into equal byte ranges, one per rank; a rank owns the records that start in its range, so a
/// record straddling a split is read exactly once (quote-aware, see csv_reader.cpp). The result
/// schema and string dictionaries are identical on all ranks. Errors (missing file, header
/// mismatch, bad row under kFail) are thrown as the same InputError on every rank.
table::Table read_csv(const mpi::Comm& comm, const CsvOptions& options,
                      CsvReadStats* stats = nullptr);

/// Local, for tests: the size of the buffer the reader copies the bytes ahead into (see FileWindow
/// in csv_reader.cpp; default 512 KiB, at least 256 bytes), so that tests cross many window ends
/// with small files. Returns the previous size.
std::size_t set_read_window_bytes_for_testing(std::size_t bytes);

/// Local: reads just the header record of the first non-empty matching file (for validation) and
/// returns the column names ("column_1".. if options.header is false). Throws InputError.
std::vector<std::string> read_csv_header(const CsvOptions& options);

}  // namespace shardflow::io
