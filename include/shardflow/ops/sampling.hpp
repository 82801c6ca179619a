#pragma once
// Sampling, random and time splits, class rebalancing: deterministic at any rank count.
//
// Every random choice derives from (seed, purpose, global row index) through row_draw, never from
// the rank count: the global row index is the row's position in the distributed table (rank
// offset + local index). Random choices within a stratum (the rows sharing the values of the
// stratum columns; nulls equal nulls, -0.0 == 0.0, NaN == NaN, as in group_by) are made by the
// stratum's draw order: its rows ordered by (row_draw, global row index) ascending. A fraction f of
// a stratum of n rows is then exactly the first round(f * n) rows of that order (largest-remainder
// rounding when there are several fractions, so that the counts add up to n).
//
// Engine: the stratum columns, the draw and the global index of every row are sorted together
// (ops/sort.hpp: a balanced sample sort, so one huge stratum or all rows in one stratum is spread
// over the ranks like any other order); every rank finds its strata's runs and, with the first
// and last rows of every rank, where the runs that cross ranks start and end; each row's position
// in its stratum and the stratum's size go back to the rank that holds the row. Only narrow rows
// (stratum columns + 16 bytes) travel. Every output keeps the input's rows on their ranks and in
// their order (a filter of the input; rebalance_classes' oversampling repeats a row in place).

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "shardflow/common/types.hpp"
#include "shardflow/mpi/comm.hpp"
#include "shardflow/ops/shuffle.hpp"
#include "shardflow/table/table.hpp"

namespace shardflow::ops {

struct SamplingOptions {
  ShuffleOptions shuffle;
};

/// Local: the random draw of the row with global index `row` for (seed, purpose): a 64-bit hash,
/// identical on every rank and at every rank count. Purposes used here: "split", "sample",
/// "rebalance_classes" (so a sample and a split of the same table with the same seed are
/// independent).
std::uint64_t row_draw(std::uint64_t seed, std::string_view purpose, std::int64_t row);

/// Local: splits `n` into one count per fraction (each in [0, 1], sum at most 1 + 1e-9) by
/// largest-remainder rounding: every count is floor(f * n) or one more, and the counts plus the
/// dropped part (1 - sum, when the sum is below 1) add up to n. Remainder ties go to the earlier
/// fraction, the dropped part last. Throws ConfigError for fractions out of range.
std::vector<idx_t> largest_remainder_counts(idx_t n, const std::vector<double>& fractions);

/// A row's place in its stratum's draw order.
struct StratumPosition {
  idx_t position = 0;  // 0-based position in the stratum's draw order
  idx_t size = 0;      // rows of the stratum (over all ranks)
};

/// Collective: for every local row (in local order), its position in its stratum's draw order for
/// (seed, purpose) and the stratum's size. `strata` may be empty (one stratum: the whole table).
/// strata, seed, purpose, options, schema, encodings and dictionaries must be equal on all ranks;
/// an unknown column throws ConfigError with a did-you-mean on every rank (agreed).
std::vector<StratumPosition> stratum_positions(const mpi::Comm& comm, const table::Table& table,
                                               const std::vector<std::string>& strata,
                                               std::uint64_t seed, std::string_view purpose,
                                               const SamplingOptions& options = {});

/// Collective: a random split. Output i holds, from every stratum of n rows, exactly
/// largest_remainder_counts(n, fractions)[i] rows: the stratum's rows at those positions of its
/// draw order (purpose "split"; output 0 takes the first positions, output 1 the next, ...);
/// rows beyond the sum of the counts are dropped. Each output keeps the input's order and ranks.
/// fractions: at least one, each in (0, 1], sum at most 1. Same requirements as stratum_positions.
std::vector<table::Table> random_split(const mpi::Comm& comm, const table::Table& table,
                                       const std::vector<double>& fractions,
                                       const std::vector<std::string>& strata, std::uint64_t seed,
                                       const SamplingOptions& options = {});

/// Collective: a random sample of exactly round(fraction * n) rows of every stratum of n rows
/// (half rounds up), the first positions of its draw order for purpose "sample"; fraction in
/// (0, 1]. Input order and ranks kept. Same requirements as stratum_positions.
table::Table sample(const mpi::Comm& comm, const table::Table& table, double fraction,
                    const std::vector<std::string>& strata, std::uint64_t seed,
                    const SamplingOptions& options = {});

enum class RebalanceMethod : std::uint8_t { kUndersample, kOversample };

/// Collective: equal class counts by the values of `label` (null is a class of its own).
/// kUndersample: from every class, the first m rows of its draw order (purpose
/// "rebalance_classes"), m the smallest class's count. kOversample: every row of a class of n rows
/// repeated floor(M / n) times, M the largest class's count, plus one more copy of the first
/// M mod n rows of its draw order. Output in input order, a row's copies adjacent, on the input's
/// ranks. Same requirements as stratum_positions.
table::Table rebalance_classes(const mpi::Comm& comm, const table::Table& table,
                               const std::string& label, RebalanceMethod method, std::uint64_t seed,
                               const SamplingOptions& options = {});

/// A cutoff of split_by_time: an integer (timestamps in microseconds, integer columns) or a
/// number (compared exactly with the column's values).
using TimeCutoff = std::variant<std::int64_t, double>;

/// Collective (agreed checks only; no data moves): splits by the values of `column` (timestamp,
/// int32, int64, float32 or float64) at ascending `cutoffs` c_0 < c_1 < ...: output 0 holds the
/// rows with value < c_0, output i those with c_{i-1} <= value < c_i, and, if `keep_rest`, one
/// more output the rows with value >= the last cutoff, null or NaN. Input order and ranks kept.
/// A missing column, another type or unordered cutoffs throw ConfigError on every rank (agreed).
std::vector<table::Table> split_by_time(const mpi::Comm& comm, const table::Table& table,
                                        const std::string& column,
                                        const std::vector<TimeCutoff>& cutoffs, bool keep_rest);

}  // namespace shardflow::ops
