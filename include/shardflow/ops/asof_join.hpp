#pragma once
// Distributed as-of join (point-in-time join): every left row is paired with at most one right
// row with equal `by` keys whose time is the closest on one side of the left row's time.
//
// Semantics (a left join; exact at every rank count):
//   backward  the right row with the largest time <= the left time;
//   forward   the right row with the smallest time >= the left time;
//   nearest   the backward or the forward candidate, whichever is closer; on equal distance the
//             backward one.
// Ties on time are broken by the right row's global row index (its position in the right table
// taken in rank order): backward takes the LARGEST index among right rows of the chosen time (the
// last one written, as pandas merge_asof), forward the SMALLEST (the first one). `tolerance`
// bounds |left time - right time| (in the time column's units: microseconds for timestamps);
// a candidate farther away is no match. Null keys, null times and NaN times never match; a left
// row with no match keeps its columns and gets nulls in every right column.
//
// Distribution: with `by` keys both sides are shuffled by a hash of the key values (strings by
// value, so the two sides' dictionaries need not agree; int32 and int64 keys hash equally), then
// each rank sorts its rows by (key, time, global row index) and merges. Without `by` the left rows
// are range-partitioned by time on sampled splitters, and each rank receives the right rows inside
// its left time range plus the last right row before it (backward, nearest) and the first after it
// (forward, nearest). Equal keys (equal times without `by`) are handled on one rank, so one key
// holding most rows puts most of the work on one rank. The joined rows are then sent back to their
// left row's rank and put in the left table's order.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "shardflow/mpi/comm.hpp"
#include "shardflow/ops/shuffle.hpp"
#include "shardflow/table/schema.hpp"
#include "shardflow/table/table.hpp"

namespace shardflow::ops {

enum class AsofDirection { kBackward, kForward, kNearest };

/// "backward", "forward", "nearest".
std::string_view to_string(AsofDirection direction);
/// Parses a direction name; nullopt if unknown.
std::optional<AsofDirection> parse_asof_direction(std::string_view name);
/// The direction names, in declaration order.
std::vector<std::string> asof_direction_names();

struct AsofJoinSpec {
  std::vector<std::string> left_by;   // key columns of the left table (may be empty)
  std::vector<std::string> right_by;  // the matching key columns of the right table (same count)
  std::string left_time;
  std::string right_time;
  AsofDirection direction = AsofDirection::kBackward;
  /// Largest allowed |left time - right time| in the time columns' units (microseconds for
  /// timestamps); none = unbounded. Must be >= 0.
  std::optional<double> tolerance;
  /// Appended to a right column's name when the left table has a column of that name.
  std::string suffix = "_right";
};

struct AsofJoinOptions {
  ShuffleOptions shuffle;
};

/// Local: checks the spec against both schemas and returns the output schema: every left column,
/// then every right column except the right `by` columns (the right time column included), a
/// right column named like a left column renamed to <name><suffix>. Throws ConfigError for an
/// unknown column (with a did-you-mean), `by` lists of different lengths, by columns of
/// incompatible types (int32/int64 and float32/float64 mix; other types must be equal), a time
/// column that is not a timestamp or number, left and right time columns of different types, a
/// negative or non-finite tolerance, or a renamed column that still collides.
table::Schema asof_join_output_schema(const table::Schema& left, const table::Schema& right,
                                      const AsofJoinSpec& spec);

/// Collective: the as-of join of `left` and `right` (see the top of this file). Spec, schemas,
/// string encodings and dictionaries of each side must be equal on all ranks (the two sides'
/// encodings and dictionaries may differ from each other). Every left row appears exactly once in
/// the output, on the rank that holds it in `left` and in `left`'s order: the output is the left
/// table with the right columns added, distributed and ordered like it at every rank count. A spec
/// that does not fit the schemas throws the same ConfigError on every rank.
table::Table asof_join(const mpi::Comm& comm, const table::Table& left, const table::Table& right,
                       const AsofJoinSpec& spec, const AsofJoinOptions& options = {});

}  // namespace shardflow::ops
