#pragma once
// Distributed equi-join of two tables on one or several key columns (the `join` step).
//
// Semantics (SQL): a left row and a right row match when every key pair is equal; a null key
// never matches anything. Key pairs must have compatible types (join_key_type): equal types,
// int32 with int64 (compared as int64) or float32 with float64 (compared as float64, -0.0 == 0.0,
// NaN == NaN as in group-by). Strings compare by value whatever their encodings and dictionaries.
//
// Output (join_output_schema): inner, left, right and full give every left column in order, then
// every right column that is not a key, renamed <name><suffix> when a left column already has its
// name. The key columns appear once, under the left names, with the common key type; for rows
// that have no left partner (right and full joins) they hold the right row's key values. Columns
// of the missing side are null. semi and anti give the left columns (keys in the common type) of
// the left rows that have (semi) or have not (anti, including rows with null keys) a match.
// Rows within a rank are in no particular order.
//
// Distribution:
//  - shuffle: both sides are hash-partitioned on the keys (hash_rows on keys normalized to the
//    common type; string keys of two different dictionaries are first remapped into their union,
//    so equal strings hash equally). Rows with a null key cannot match and stay where they are.
//    Skew: heavy keys are found on a strided sample of both sides' key hashes (one allgather);
//    a heavy key's rows on its heavier side are spread round-robin over all ranks and the other
//    side's rows of that key are replicated to every rank.
//  - broadcast: the smaller side (by global bytes) is replicated to every rank and the other side
//    does not move.
// Rows replicated to every rank that must be kept when unmatched (outer joins on their side, or
// the left side of semi/anti) carry a matched flag that is OR-reduced over the ranks; each is
// then emitted by exactly one rank. So every `how` is correct with either strategy.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "shardflow/mpi/comm.hpp"
#include "shardflow/ops/shuffle.hpp"
#include "shardflow/table/schema.hpp"
#include "shardflow/table/table.hpp"

namespace shardflow::ops {

enum class JoinHow { kInner, kLeft, kRight, kFull, kSemi, kAnti };
enum class JoinStrategy { kAuto, kShuffle, kBroadcast };

/// "inner", "left", "right", "full", "semi", "anti".
std::string_view to_string(JoinHow how);
std::optional<JoinHow> parse_join_how(std::string_view name);
const std::vector<std::string>& join_how_names();
/// "auto", "shuffle", "broadcast".
std::string_view to_string(JoinStrategy strategy);
std::optional<JoinStrategy> parse_join_strategy(std::string_view name);
const std::vector<std::string>& join_strategy_names();

/// What to join: key i of the left table pairs with key i of the right table.
struct JoinSpec {
  std::vector<std::string> left_keys;
  std::vector<std::string> right_keys;
  JoinHow how = JoinHow::kInner;
  std::string suffix = "_right";
  JoinStrategy strategy = JoinStrategy::kAuto;
};

struct JoinOptions {
  ShuffleOptions shuffle;
  /// strategy auto broadcasts the smaller side when its global byte size (Table::byte_size summed
  /// over ranks) is at most this. Must be equal on all ranks.
  idx_t broadcast_max_bytes = idx_t{64} << 20;
  /// Spread heavy keys over the ranks (shuffle strategy). A key is heavy when its estimated row
  /// count on one side is at least max(2, (left rows + right rows) / (4 * ranks)).
  bool split_heavy_keys = true;
};

/// What one join did on this rank, for logs and tests.
struct JoinStats {
  JoinStrategy strategy = JoinStrategy::kShuffle;  // shuffle or broadcast (1 rank: shuffle)
  bool broadcast_left = false;                     // broadcast: which side was replicated
  idx_t heavy_keys = 0;                            // keys split across ranks (equal on all ranks)
  idx_t left_rows = 0;   // left rows joined on this rank (received + replicated)
  idx_t right_rows = 0;  // right rows joined on this rank
  idx_t output_rows = 0;
  /// left_rows + right_rows of every rank (the join work per rank), in rank order.
  std::vector<idx_t> work_per_rank;
};

/// Local: the common type of a left and a right key type, or nullopt when they cannot be joined
/// (e.g. string with int64, timestamp with int64, int with float).
std::optional<table::DataType> join_key_type(table::DataType left, table::DataType right);

/// Local: the output schema (see above). Throws ConfigError for an empty key list, a different
/// number of left and right keys, an unknown key column (with a did-you-mean), incompatible key
/// types, or an output name that is taken even with the suffix.
table::Schema join_output_schema(const table::Schema& left, const table::Schema& right,
                                 const JoinSpec& spec);

/// Collective: the join of the distributed tables `left` and `right` (see above). Schemas, string
/// encodings and dictionaries of each side, `spec` and `options` must be equal on all ranks.
/// Logs the rows joined per rank at info level; fills `stats` when given.
table::Table join(const mpi::Comm& comm, const table::Table& left, const table::Table& right,
                  const JoinSpec& spec, const JoinOptions& options = {},
                  JoinStats* stats = nullptr);

}  // namespace shardflow::ops
