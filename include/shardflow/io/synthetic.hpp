#pragma once
// Synthetic data sets for benchmarks, examples and tests. Every value is a pure function of
// (seed, kind, global row index) through a counter-based RNG, so the output is byte-identical at
// any rank count.
//
// Kinds:
//   groupby        the db-benchmark (h2oai) group-by table with K = 100: id1, id2 strings
//                  "id001".."id100"; id3 string "id%010d" in 1..max(1, N/K); id4, id5 int 1..100;
//                  id6 int 1..max(1, N/K); v1 int 1..5; v2 int 1..15; v3 float uniform [0,100)
//                  printed with 6 decimals.
//   classification id (int64 = global row index), segment ("seg_a".."seg_e"), x1..x3 standard
//                  normal, x4 uniform [0,10) (6 decimals), amount (log-normal, ~5% negated), label
//                  0/1 ~ Bernoulli(sigmoid(1.5 x1 - 2 x2 + 0.5 x3 + 0.1 x4 - 0.5 +
//                  effect(segment))) with segment effects -0.5, -0.25, 0, 0.25, 0.5.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "shardflow/common/types.hpp"
#include "shardflow/mpi/comm.hpp"

namespace shardflow::io {

/// The known kinds: {"groupby", "classification"}.
std::vector<std::string> synthetic_kinds();

/// Local: the header line (with '\n') of `kind`. Throws ConfigError for an unknown kind.
std::string synthetic_csv_header(std::string_view kind);

/// Local: appends rows [first_row, first_row + rows) of the `total_rows`-row data set `kind` as
/// CSV lines (no header). Throws ConfigError for an unknown kind.
void generate_csv_block(std::string_view kind, std::uint64_t seed, idx_t total_rows,
                        idx_t first_row, idx_t rows, std::string& out);

/// Collective: generates `rows` rows of dataset `kind` and writes them as ONE CSV file at `path`
/// (header + rows; MPI-IO, each rank writes its contiguous block of global rows). `kind`, `rows`,
/// `seed` and `path` must be equal on all ranks. The file is byte-identical at any rank count.
void generate_csv(const mpi::Comm& comm, std::string_view kind, idx_t rows, std::uint64_t seed,
                  const std::string& path);

}  // namespace shardflow::io
