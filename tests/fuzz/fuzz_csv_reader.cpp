// libFuzzer harness for the CSV reader (io/csv_reader.hpp) along the path a user's job takes:
// the input is written to a file and read with read_csv at one rank, under each bad_rows policy.
//
// Input layout: byte 0 selects the options, the rest is the file's content.
//   bits 0-1  delimiter: ',' ';' '\t' '|'
//   bit  2    header: 1 = the first record is a header (with it, schema columns are matched by
//             the names a, b, c; without it, the schema lists the file's columns in order)
//   bits 3-5  schema: 0-2 inferred, 3 {a: int64, b: float64, c: string},
//             4 {a: string, b: bool, c: timestamp}, 5 {a: int32, c: float32},
//             6 {c: string}, 7 {a: int64, b: int64, c: int64}
//   bit  6    max_dictionary_size 2 instead of the default (so string columns stay plain)
//   bit  7    a form feed byte (\f) in the content splits it into two files read as one input
// Checks, besides "no crash, no sanitizer report, only ConfigError/InputError":
//   - stats.rows equals the table's row count;
//   - skip and quarantine give the same outcome: the same table and bad-row count, or the same
//     error;
//   - when fail succeeds, skip gives the same table with no bad rows;
//   - when fail throws and skip succeeds, skip drops at least one row;
//   - read_csv_header agrees with the table's column names when the schema is inferred.
// The reader's read window is 256 bytes here (see LLVMFuzzerInitialize).

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_common.hpp"
#include "shardflow/io/csv_reader.hpp"
#include "shardflow/mpi/comm.hpp"
#include "shardflow/table/schema.hpp"
#include "shardflow/table/table.hpp"

using namespace shardflow;
using table::DataType;

namespace {

namespace fs = std::filesystem;

fs::path& scratch_dir() {
  static fs::path dir;
  return dir;
}

std::optional<table::Schema> schema_for(int choice) {
  using table::Field;
  switch (choice) {
    case 3:
      return table::Schema({Field{"a", DataType::kInt64}, Field{"b", DataType::kFloat64},
                            Field{"c", DataType::kString}});
    case 4:
      return table::Schema({Field{"a", DataType::kString}, Field{"b", DataType::kBool},
                            Field{"c", DataType::kTimestamp}});
    case 5:
      return table::Schema({Field{"a", DataType::kInt32}, Field{"c", DataType::kFloat32}});
    case 6:
      return table::Schema({Field{"c", DataType::kString}});
    case 7:
      return table::Schema({Field{"a", DataType::kInt64}, Field{"b", DataType::kInt64},
                            Field{"c", DataType::kInt64}});
    default:
      return std::nullopt;
  }
}

void write_file(const fs::path& path, std::string_view content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(content.data(), static_cast<std::streamsize>(content.size()));
  if (!out) fuzz::fail("cannot write the scratch input " + path.string());
}

/// The outcome of one read: a table and its stats, or an error message.
struct Outcome {
  bool ok = false;
  std::string error;
  table::Table table;
  io::CsvReadStats stats;
};

Outcome read(const mpi::Comm& comm, io::CsvOptions options, io::BadRowPolicy policy) {
  options.bad_rows = policy;
  Outcome o;
  const std::string what = "read_csv (bad_rows: " + std::string(io::to_string(policy)) + ")";
  try {
    o.table = io::read_csv(comm, options, &o.stats);
    o.ok = true;
  } catch (const Error& e) {
    if (e.kind() != ErrorKind::kConfig && e.kind() != ErrorKind::kInputData) {
      fuzz::fail(what + ": unexpected " + std::string(to_string(e.kind())) + " error: " + e.what());
    }
    o.error = e.what();
    if (o.error.empty()) fuzz::fail(what + ": error without a message");
  } catch (const std::exception& e) {
    fuzz::fail(what + ": non-shardflow exception escaped: " + e.what());
  }
  if (o.ok && o.stats.rows != o.table.num_rows()) fuzz::fail(what + ": stats.rows != rows");
  return o;
}

/// Same schema and the same text and nullness in every cell.
bool same_table(const table::Table& x, const table::Table& y) {
  if (!(x.schema() == y.schema()) || x.num_rows() != y.num_rows()) return false;
  for (int c = 0; c < x.num_columns(); ++c) {
    const auto& a = x.column(c);
    const auto& b = y.column(c);
    for (idx_t r = 0; r < x.num_rows(); ++r) {
      if (a.is_valid(r) != b.is_valid(r) || a.to_string_at(r) != b.to_string_at(r)) return false;
    }
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) {
  fuzz::init_mpi_once(argc, argv);
  scratch_dir() = fuzz::make_scratch_dir("csv");
  // The smallest read window (256 bytes instead of 512 KiB), so that short inputs cross the ends
  // of the reader's pread copy (FileWindow) mid-record and mid-batch.
  io::set_read_window_bytes_for_testing(256);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  static const mpi::Comm comm;
  const unsigned selector = data[0];
  const std::string_view content(reinterpret_cast<const char*>(data) + 1, size - 1);

  static constexpr char kDelimiters[4] = {',', ';', '\t', '|'};
  io::CsvOptions options;
  options.delimiter = kDelimiters[selector & 3u];
  options.header = (selector & 4u) != 0;
  options.schema = schema_for(static_cast<int>((selector >> 3) & 7u));
  if ((selector & 64u) != 0) options.max_dictionary_size = 2;
  options.input_name = "fuzz";
  options.quarantine_path = (scratch_dir() / "rejects.csv").string();

  const auto split = content.find('\f');
  if ((selector & 128u) != 0 && split != std::string_view::npos) {
    write_file(scratch_dir() / "part1.csv", content.substr(0, split));
    write_file(scratch_dir() / "part2.csv", content.substr(split + 1));
    options.paths = {(scratch_dir() / "part*.csv").string()};
  } else {
    write_file(scratch_dir() / "part1.csv", content);
    std::error_code ec;
    fs::remove(scratch_dir() / "part2.csv", ec);
    options.paths = {(scratch_dir() / "part1.csv").string()};
  }

  const Outcome failed = read(comm, options, io::BadRowPolicy::kFail);
  const Outcome skipped = read(comm, options, io::BadRowPolicy::kSkip);
  const Outcome quarantined = read(comm, options, io::BadRowPolicy::kQuarantine);

  if (skipped.ok != quarantined.ok) fuzz::fail("skip and quarantine disagree on success");
  if (!skipped.ok && skipped.error != quarantined.error)
    fuzz::fail("skip and quarantine fail differently:\n" + skipped.error + "\n" +
               quarantined.error);
  if (skipped.ok) {
    if (skipped.stats.bad_rows != quarantined.stats.bad_rows)
      fuzz::fail("skip and quarantine count different bad rows");
    if (!same_table(skipped.table, quarantined.table))
      fuzz::fail("skip and quarantine keep different rows");
  }
  if (!failed.ok && skipped.ok && skipped.stats.bad_rows == 0)
    fuzz::fail("fail throws but skip finds no bad row: " + failed.error);
  if (failed.ok) {
    if (!skipped.ok) fuzz::fail("fail succeeds but skip fails: " + skipped.error);
    if (skipped.stats.bad_rows != 0) fuzz::fail("fail succeeds but skip drops rows");
    if (!same_table(failed.table, skipped.table)) fuzz::fail("fail and skip read different rows");
    if (!options.schema) {
      std::vector<std::string> header;
      if (!fuzz::expect_clean("read_csv_header", [&] { header = io::read_csv_header(options); }))
        fuzz::fail("read_csv succeeds but read_csv_header fails");
      std::vector<std::string> names;
      for (const auto& field : failed.table.schema().fields())
        names.push_back(field.name);
      if (header != names) fuzz::fail("read_csv_header differs from the table's column names");
    }
  }
  return 0;
}
