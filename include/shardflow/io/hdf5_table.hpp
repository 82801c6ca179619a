#pragma once
// Distributed tables in HDF5 files (DESIGN.md "Data model and files"). Layout of table `t`
// (format_version 2):
//
//   /t                    group; attributes: schema ("a:int64,b:string"), columns (string array,
//                         column order), num_rows (int64), fingerprint, shardflow_version,
//                         format_version (2), complete (1; written last)
//   /t/<col>              1-D chunked dataset, Fletcher32; attribute logical_type (and for
//                         timestamps unit=us). int32/int64/float32/float64 natively, bool and
//                         validity as uint8, timestamp as int64 microseconds (UTC)
//   strings, dictionary-encoded (attribute encoding=dictionary):
//   /t/<col>              int32 codes into the dictionary
//   /t/<col>.dictionary   the sorted dictionary as compact strings (below)
//   strings, plain (attribute encoding=lengths):
//   /t/<col>              the column's values as compact strings (below)
//   /t/<col>.valid        uint8 (1 = valid), only when the column has a null on some rank
//
// Compact strings `s`: `s` holds the length in bytes of each string, as the narrowest unsigned
// integer type that holds the longest (uint8 below 256 bytes, then uint16, uint32, uint64), and
// `s.bytes` (uint8) every string's UTF-8 bytes back to back, so string i is s.bytes[e - s[i]:e]
// with e = s[0] + ... + s[i]. Both are chunked with Fletcher32; `s` carries the attributes bytes
// (the name of the bytes dataset) and decode (that rule in words). Nothing is padded, so strings
// cost their bytes plus 1-8 bytes each, and any byte (NUL included) round-trips.
//
// Rows are stored in global order: rank r's rows follow rank r-1's. The whole file is readable with
// h5py/pandas alone (see README). read_table also reads format_version 1 (strings as fixed-length,
// null-padded HDF5 strings; encoding=plain).
//
// Tables written by other tools: a group (or the root, table name "/") without a format_version
// attribute whose 1-D datasets all have one length is read as a table of those datasets, in name
// order (what `h5py` writes with one create_dataset per column). Types come from the datasets:
// signed integers up to 32 bits and unsigned up to 16 -> int32, 64-bit signed and 32-bit unsigned
// -> int64, float32, float64, h5py's bool (an enum FALSE/TRUE) -> bool, fixed-length and variable-
// length strings -> string. Other types (uint64, float16, compound, arrays) are refused naming the
// dataset; datasets of other ranks are ignored. There are no nulls (NaN stays a float value).

#include <string>
#include <vector>

#include "shardflow/common/types.hpp"
#include "shardflow/mpi/comm.hpp"
#include "shardflow/table/schema.hpp"
#include "shardflow/table/table.hpp"

namespace shardflow::io {

/// Version of the table layout above, stored as the group attribute `format_version`.
inline constexpr std::int64_t kTableFormatVersion = 2;

struct Hdf5WriteOptions {
  idx_t chunk_rows = 1 << 16;  // rows per chunk; clipped to [1, global row count]
  std::string fingerprint;     // stored as the group attribute `fingerprint`
  bool fletcher32 = true;      // checksum every chunk
  /// Rank 0 of `comm` reports progress (common/progress.hpp); off where many small writes on
  /// per-rank communicators make one larger piece of work (partitioned output).
  bool report_progress = true;
};

/// Collective: writes `table` as group `/<name>` of the HDF5 file `path` with collective MPI-IO,
/// each rank its rows as one contiguous slab in rank order. The schema, string encodings and
/// dictionaries, `name` and `options` must be identical on all ranks; row counts may differ (and be
/// zero). The file is created if absent; an existing group `/<name>` is replaced (the space it used
/// is not reclaimed). The group attribute `complete` is written last, after every dataset is
/// closed and flushed, so an interrupted writer leaves a group that read_table rejects.
void write_table(const mpi::Comm& comm, const std::string& path, const std::string& name,
                 const table::Table& table, const Hdf5WriteOptions& options = {});

/// Collective: reads group `/<name>` of `path`; `path` and `name` must be identical on all ranks.
/// Rows are split into contiguous, nearly equal ranges in global order (rank r gets rows
/// [N*r/p, N*(r+1)/p)). String dictionaries are identical on all ranks. Throws InputError if the
/// file or group is missing, or the group is not marked complete; RuntimeError if the data is
/// damaged (e.g. a Fletcher32 checksum fails). Every rank throws the same error.
table::Table read_table(const mpi::Comm& comm, const std::string& path, const std::string& name);

struct Hdf5TableInfo {
  std::string name;
  table::Schema schema;
  idx_t num_rows = 0;
  bool complete = false;
  std::string fingerprint;
  std::int64_t format_version = 0;  // 0: a group written by another tool (see above)
  std::string problem;              // why a foreign group is not a table ("" when it is)
};

/// Process-wide counts of the dataset transfers made by write_table/read_table, by the I/O mode
/// MPI-IO actually used (H5Pget_mpio_actual_io_mode after each H5Dwrite/H5Dread). Lets tests prove
/// that I/O is collective; a non-zero `independent` means HDF5 silently fell back (logged at debug
/// with the reason).
struct Hdf5TransferStats {
  idx_t collective = 0;   // H5D_MPIO_CHUNK_COLLECTIVE or H5D_MPIO_CONTIGUOUS_COLLECTIVE
  idx_t mixed = 0;        // H5D_MPIO_CHUNK_MIXED
  idx_t independent = 0;  // H5D_MPIO_NO_COLLECTIVE (or independent chunk I/O)
};
Hdf5TransferStats transfer_stats();

/// Local (no MPI; serial file access): the tables at the root of `path`, by name: shardflow's
/// (groups with a `format_version` attribute), then foreign groups with at least one 1-D dataset
/// (and the root itself, as "/", when it holds 1-D datasets), with `problem` set when such a
/// group cannot be read as a table. Throws InputError if the file cannot be opened.
std::vector<Hdf5TableInfo> list_tables(const std::string& path);

}  // namespace shardflow::io
