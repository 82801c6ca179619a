#pragma once
// Hive-style partitioned output: a table written as a directory tree
//
//   <dir>/<c1>=<v1>/<c2>=<v2>/part-00000.<csv|h5>
//
// with one directory level per partition column (in the order given) and one file per distinct
// combination of partition values, holding that partition's rows in the table's global order and
// every column except the partition columns (as Hive, Spark, Polars and DuckDB write it).
//
// Directory names (partition_component): `<escaped column name>=<escaped value>`. A value is the
// text the CSV writer writes for it (append_csv_rows, without CSV quoting): ints in decimal, floats
// in the shortest round-trip form with ".0" on integral values (-0.0, nan, inf as such), bools
// true/false, timestamps `YYYY-MM-DD HH:MM:SS[.ffffff]` (UTC), strings as they are. Escaping is
// Hive's percent encoding (%XX, upper-case hex) of every byte that is
//   - a control byte 0x00-0x1F, 0x7F, or any byte >= 0x80 (so names are plain ASCII: no invalid
//     UTF-8 and no Unicode normalization by the file system can change them),
//   - one of  " # % ' * / : = ? \ [ ] ^ { }  (Hive's set: '/' and '\' separate paths, '%' is the
//     escape itself, '=' separates column and value, ':' is illegal on some file systems).
// Everything else (letters, digits, space, . - _ ~ etc.) stays as is. Because every component
// contains '=', none can be '.', '..' or empty, and none contains '/', so no value can name a
// path outside <dir> or collide with another value (decoding is the exact inverse).
// Nulls and empty strings:
//   null             -> <c>=__HIVE_DEFAULT_PARTITION__   (as Hive, Spark and DuckDB write it)
//   ""               -> <c>=                             (nothing after '=')
//   the literal text "__HIVE_DEFAULT_PARTITION__" -> <c>=%5F_HIVE_DEFAULT_PARTITION__ (its first
//   '_' escaped, so it stays apart from null; decoding gives the literal text back).
// A component longer than 255 bytes (the usual file-name limit: NAME_MAX) is an InputError naming
// the column, the row (0-based, in table order) and the start of the value; nothing is written.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "shardflow/common/types.hpp"
#include "shardflow/mpi/comm.hpp"
#include "shardflow/table/table.hpp"

namespace shardflow::io {

/// The directory name that stands for a null partition value.
inline constexpr std::string_view kHiveNullPartition = "__HIVE_DEFAULT_PARTITION__";
/// The longest directory name (one path component) the writer creates, in bytes.
inline constexpr std::size_t kMaxPartitionComponentBytes = 255;

/// Local: percent-encodes the bytes listed above.
std::string escape_partition_text(std::string_view text);
/// Local: decodes %XX sequences (either hex case); throws InputError on a '%' not followed by two
/// hex digits.
std::string unescape_partition_text(std::string_view text);

/// Local: the text of row `row` of `column` as the CSV writer writes it (see above), or nullopt
/// for a null.
std::optional<std::string> partition_value_text(const table::Column& column, idx_t row);

/// Local: `<escaped column>=<escaped value>`, or `<escaped column>=__HIVE_DEFAULT_PARTITION__`
/// for a null value.
std::string partition_component(std::string_view column, const std::optional<std::string>& value);

/// One parsed directory name.
struct PartitionComponent {
  std::string column;
  std::optional<std::string> value;  // nullopt: null
};
/// Local: the inverse of partition_component; nullopt if `name` has no '=' (not a partition
/// directory). Throws InputError on a bad escape.
std::optional<PartitionComponent> parse_partition_component(std::string_view name);

/// Collective: checks that every row's partition directory names fit kMaxPartitionComponentBytes;
/// otherwise every rank throws the same InputError naming the column, the global row index and
/// the value's start. `partition_columns` are column indexes (equal on all ranks).
void check_partition_names(const mpi::Comm& comm, const table::Table& table,
                           const std::vector<int>& partition_columns);

struct PartitionedWriteOptions {
  std::string format = "csv";  // csv | hdf5
  std::string table_name;      // the HDF5 group of each file
  idx_t chunk_rows = 1 << 16;  // HDF5 chunk rows
  std::string fingerprint;     // HDF5 group attribute `fingerprint`
};

/// What a rank wrote.
struct PartitionedWriteResult {
  idx_t partitions = 0;  // directories with a file, on this rank
  idx_t files = 0;
};

/// Collective: writes `table` as the partition tree above under `directory`. Every rank writes the
/// partitions of its own rows with local (non-collective) writers, so all rows of one partition
/// must live on one rank, in global order (hash-shuffle by the partition columns first: ops
/// shuffle_to keeps the source-rank order). The file of a partition is `part-00000.csv` (header,
/// then rows) or `part-00000.h5` (group `/<table_name>`, a normal shardflow table file);
/// dictionary-encoded strings get a dictionary of the values the file holds.
///
/// Publication: the tree is built in the sibling `<directory>.tmp` (removed first if a killed
/// run left it), every file and directory fsynced; then rank 0 swaps it with `<directory>`
/// atomically (renameat2 RENAME_EXCHANGE, or rename when `<directory>` does not exist), removes
/// the old tree and fsyncs the parent. A rerun thus never mixes partitions of two runs, and a
/// failed run leaves the previous tree (if any) whole. Failures (full disk, permission, a name too
/// long for the file system) are agreed: every rank throws the same error naming the rank and the
/// path; the temporary tree is removed. `partition_columns` must leave at least one column.
PartitionedWriteResult write_partitioned(const mpi::Comm& comm, const table::Table& table,
                                         const std::vector<int>& partition_columns,
                                         const std::string& directory,
                                         const PartitionedWriteOptions& options);

}  // namespace shardflow::io
