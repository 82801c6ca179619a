#pragma once
// A data-quality summary of a distributed table (the run report's "inputs" section): rows, and
// per column its type, nulls, the range of numeric and timestamp values, and the number of
// distinct values. One pass over each rank's rows and two allreduces (one sum of counts, one
// maximum of ranges and sketches), whatever the row count.
//
// Distinct counts are exact for bool columns and for dictionary-encoded string columns whose
// dictionary holds at most kExactDistinctCodes strings (a used-code flag per dictionary entry:
// the dictionary is identical on all ranks); otherwise they are HyperLogLog estimates (1024
// registers, about 3% standard error) and flagged `distinct_exact = false`.

#include <cstdint>
#include <string>
#include <vector>

#include "shardflow/common/types.hpp"
#include "shardflow/mpi/comm.hpp"
#include "shardflow/table/table.hpp"

namespace shardflow::ops {

/// Dictionaries up to this many entries get an exact distinct count.
inline constexpr idx_t kExactDistinctCodes = 4096;

struct ColumnProfile {
  std::string name;
  table::DataType type = table::DataType::kInt64;
  idx_t nulls = 0;  // null rows (NaN in a float column is a value, not a null)
  /// Range of the non-null values (NaN left out) when `has_range`: numeric, bool and timestamp
  /// columns with at least one such value. Integer-like types (int32, int64, bool, timestamp in
  /// microseconds) in `int_min`/`int_max` exactly; float types in `min`/`max`.
  bool has_range = false;
  std::int64_t int_min = 0, int_max = 0;
  double min = 0, max = 0;
  idx_t distinct = 0;  // distinct non-null values
  bool distinct_exact = true;
};

struct TableProfile {
  idx_t rows = 0;
  std::vector<ColumnProfile> columns;  // in schema order
};

/// Collective: the profile of `table`, whose schema (names, types, and each string column's
/// encoding and dictionary) must be equal on all ranks, as every shardflow table's is. The
/// result is identical on every rank and does not depend on how rows are split (the sketches
/// merge by maximum, which is order-independent).
TableProfile profile_table(const mpi::Comm& comm, const table::Table& table);

}  // namespace shardflow::ops
