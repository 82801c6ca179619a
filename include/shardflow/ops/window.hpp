#pragma once
// Window functions (the feature-engineering step): row_number, rank, dense_rank, lag, lead and
// trailing frames over any aggregate of the registry (ops/aggregate.hpp), plus tumbling buckets.
//
// Distribution: rows are hash-partitioned on the partition keys (ops/shuffle.hpp), so each
// partition lives on one rank; each rank sorts its rows by (partition keys, order value, global
// row index) with the sort-key engine (ops/sort_keys.hpp), computes the features, and sends them
// back to the rows' home ranks. The output is the input's rows, distributed and ordered as the
// input, with the features appended: identical at every rank count.
//
// Frames (for row i with order value t, within its partition in the order above):
//  - range d preceding: the rows whose order value lies in [t - d, t] (SQL RANGE: peers, i.e. rows
//    with an equal order value, are in, also those after row i). Integer and timestamp order
//    values are compared exactly (d in the column's units; microseconds for timestamps); float
//    order values compare with t - d computed in double. A row with a null (or NaN) order value
//    has its peers as frame: the rows of its partition with a null (NaN) order value.
//  - rows n preceding: the n rows before row i and row i.
//  - range / rows unbounded preceding: every order value <= t (range; a null or NaN order value:
//    its peers) / every row from the partition's start to row i (rows): cumulative features.
//  - exclude current: row i is left out of either frame (its peers stay).
//  - no frame: the whole partition (with exclude current: all of it but row i, "leave one out").
// An empty frame gives what the aggregate gives for a group without rows: count 0, else null.
// Nulls in the aggregated column are skipped as in group_by. Results equal group_by's over the
// frame's rows bit for bit: count, sum and mean slide over the frame with exact sums (integers in
// 128 bits; floats in the exact accumulator of ops/exact_sum.hpp, rounded once per row), min and
// max slide with a monotonic deque (contiguous frames of non-string columns); every other case
// aggregates each row's frame with the registry's kernels (cost: the sum of the frame sizes).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "shardflow/mpi/comm.hpp"
#include "shardflow/ops/aggregate.hpp"
#include "shardflow/ops/shuffle.hpp"
#include "shardflow/table/schema.hpp"
#include "shardflow/table/table.hpp"
#include "shardflow/table/timestamp.hpp"

namespace shardflow::ops {

enum class WindowFunction { kRowNumber, kRank, kDenseRank, kLag, kLead, kAggregate };

enum class FrameKind { kPartition, kRange, kRows };

struct WindowFrame {
  FrameKind kind = FrameKind::kPartition;
  /// kRange: the offset is a duration (timestamps, `micros`) or a plain number (`number`).
  bool duration = false;
  std::int64_t micros = 0;
  double number = 0;
  std::int64_t rows = 0;  // kRows: preceding rows (>= 0)
  /// `unbounded preceding`: from the partition's start (rows), or every order value <= t (range).
  bool unbounded = false;
  bool exclude_current = false;
  bool operator==(const WindowFrame&) const = default;
};

/// A literal: the default of lag/lead.
struct WindowLiteral {
  enum class Kind { kNone, kNull, kNumber, kString, kBool } kind = Kind::kNone;
  std::string text;  // kNumber: as written; kString: the value; kBool: "true"/"false"
  bool operator==(const WindowLiteral&) const = default;
};

struct WindowFeature {
  std::string output;
  WindowFunction function = WindowFunction::kRowNumber;
  AggSpec agg;         // kAggregate: function (canonical), column ("" = *), column2, args
  std::string column;  // kLag / kLead
  std::int64_t offset = 1;
  WindowLiteral default_value;
  WindowFrame frame;
};

struct WindowSpec {
  std::vector<std::string> partition_by;  // empty: one partition (all rows on one rank)
  std::string order_by;                   // empty: the input's row order
  std::vector<WindowFeature> features;
  /// Tumbling buckets: one output row per (partition keys, bucket of the order value) holding the
  /// features (aggregates without frame) over the bucket. `bucket_duration`: the width is
  /// microseconds of a timestamp order column, else a whole number of its units.
  std::optional<std::int64_t> bucket;
  bool bucket_duration = false;
};

struct WindowOptions {
  ShuffleOptions shuffle;
  /// Generic frame aggregation (holistic functions): rows of frames gathered per batch.
  idx_t batch_rows = idx_t{1} << 20;
};

/// Local: a duration "7d", "12h", "30m", "45s", "500ms", "250us" (a number, optional spaces, a
/// unit) in microseconds; nullopt if `text` is not one; throws ConfigError for a negative,
/// fractional-microsecond or too large one.
using table::parse_duration_micros;
/// Local: canonical text of a duration (the largest unit that divides it).
using table::duration_text;

/// Local: canonical text of a feature ("sum(amount) over range 7d preceding exclude current").
std::string window_feature_text(const WindowFeature& feature);

/// Local: the output type of `feature` given the types of its column(s) and of the order column
/// (nullopt: not known before the data is read; what depends on it is then not checked).
/// Throws ConfigError for an unknown function, a type the function does not take, a range frame
/// over an order column that is not a number or timestamp (or an offset of the wrong kind), a
/// default of the wrong type, a feature that needs order_by without one, or a feature that
/// cannot be used with (or without) buckets.
std::optional<table::DataType> window_feature_type(const WindowSpec& spec,
                                                   const WindowFeature& feature,
                                                   std::optional<table::DataType> column,
                                                   std::optional<table::DataType> column2,
                                                   std::optional<table::DataType> order);

/// Local: name of the bucket-start column: "<order_by>_bucket".
std::string window_bucket_column(const WindowSpec& spec);

/// Local: the output schema: the input's columns and the features (without buckets), or the
/// partition keys, the bucket start and the features (with buckets). Throws ConfigError for an
/// unknown column (with a did-you-mean), the errors of window_feature_type, or an output name
/// that is already a column.
table::Schema window_output_schema(const table::Schema& input, const WindowSpec& spec);

/// Collective: the window features of every row (see the file comment), or the buckets. spec,
/// schema, string encodings and dictionaries must be equal on all ranks. Without buckets the
/// result is distributed and ordered like `table`. With buckets the rows are sorted by (partition
/// keys with nulls first, bucket start) and spread over the ranks in that global order. Without
/// partition keys every row goes to rank 0 (logged as a warning: it does not scale). Errors (a
/// bad spec, an int64 sum that overflows) are agreed.
table::Table window(const mpi::Comm& comm, const table::Table& table, const WindowSpec& spec,
                    const WindowOptions& options = {});

}  // namespace shardflow::ops
