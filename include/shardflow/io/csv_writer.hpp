#pragma once
// Writing distributed tables (and any rank-ordered text) to one file with MPI-IO.

#include <string>

#include "shardflow/mpi/comm.hpp"
#include "shardflow/table/table.hpp"

namespace shardflow::io {

/// Collective: writes the concatenation of every rank's `local_text` in rank order to `path`
/// (`path` equal on all ranks). Each rank writes its block at the offset given by an exclusive
/// prefix sum of the block sizes (mpi::File::write_at_all, in rounds of at most 1 GiB per rank).
/// The data goes to `<path>.tmp` first; after every rank finished and the file's size checked,
/// rank 0 publishes it as `path` (common/atomic_file.hpp publish_file: fsync, rename, fsync the
/// directory), so `path` never holds a partial file, even after a crash or on a full disk. Parent
/// directories are created. Throws RuntimeError on
/// every rank if the file cannot be written.
void write_ordered_text(const mpi::Comm& comm, const std::string& local_text,
                        const std::string& path);

/// Local: appends rows [first, first+count) of `table` as CSV lines (no header). Nulls are empty
/// fields, strings are quoted when needed (an empty string as ""), floats use the shortest form
/// that parses back to the same value (with ".0" on integral values so they read back as
/// floats), bools as true/false, timestamps as `YYYY-MM-DD HH:MM:SS[.ffffff]` (UTC). In a
/// one-column table a null is written as "" (an empty line would be skipped as blank), which
/// reads back as null in a non-string column and as the empty string in a string column.
void append_csv_rows(const table::Table& table, idx_t first, idx_t count, char delimiter,
                     std::string& out);
/// Local: appends the header line (column names, quoted when needed).
void append_csv_header(const table::Schema& schema, char delimiter, std::string& out);
/// Appends the text of the valid value at row `i` of `col` as the CSV writer writes it, strings
/// unquoted (the CSV writer quotes them; partitioned outputs name directories with it).
void append_value_text(const table::Column& col, idx_t i, std::string& out);

/// Collective: writes the distributed table to one CSV file: header, then every rank's rows in
/// rank order. The schema must be equal on all ranks; `path` too.
void write_csv(const mpi::Comm& comm, const table::Table& table, const std::string& path,
               char delimiter = ',');

}  // namespace shardflow::io
