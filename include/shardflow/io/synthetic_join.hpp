#pragma once
// The db-benchmark (h2oai) join data set: `shardflow gen join --rows N --out DIR` writes four CSV
// files, DIR/x.csv, DIR/small.csv, DIR/medium.csv and DIR/big.csv. Every value is a pure function
// of (seed, table, row index), so the files are byte-identical at any rank count.
//
// Key levels 1, 2, 3 have n1 = max(1, N/1e6), n2 = max(1, N/1e3) and n3 = max(1, N) keys per
// side. At each level the left side (x) draws from keys 1..n and the right sides (small, medium,
// big) from keys 1..m and n+1..n+(n-m), with m = round(0.9 n): about 90% of the keys match, as in
// db-benchmark's join-datagen.R. A table with R rows at level n gives its first min(R, n) rows a
// permutation of the n keys (every key appears) and draws the rest uniformly.
//
//   x       N rows:      id1, id2, id3 (int64 keys at levels 1, 2, 3), id4, id5, id6 (strings
//                        "id<id1>", "id<id2>", "id<id3>"), v1 (float, uniform [0,100), 6 decimals)
//   small   n1 rows:     id1, id4, v2
//   medium  n2 rows:     id1, id2, id4, id5, v2
//   big     N rows:      id1, id2, id3, id4, id5, id6, v2

#include <cstdint>
#include <string>
#include <vector>

#include "shardflow/common/types.hpp"
#include "shardflow/mpi/comm.hpp"

namespace shardflow::io {

/// The tables written, in order: {"x", "small", "medium", "big"}.
std::vector<std::string> join_table_names();

/// Local: the number of rows of join table `table` for `rows` = N. Throws ConfigError for an
/// unknown table.
idx_t join_table_rows(const std::string& table, idx_t rows);

/// Local: the CSV header line (with '\n') of join table `table`.
std::string join_csv_header(const std::string& table);

/// Local: appends rows [first, first + count) of join table `table` (data set of N = `rows`) as
/// CSV lines.
void join_csv_block(const std::string& table, std::uint64_t seed, idx_t rows, idx_t first,
                    idx_t count, std::string& out);

/// Collective: writes the four tables as <dir>/<table>.csv (each one file, written through
/// write_ordered_text: each rank its contiguous block of rows). Arguments equal on all ranks.
void generate_join_csv(const mpi::Comm& comm, idx_t rows, std::uint64_t seed,
                       const std::string& dir);

}  // namespace shardflow::io
