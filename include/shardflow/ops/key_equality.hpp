#pragma once
// Column-wise key equality, the companion of hash-based grouping and matching: rows whose hashes
// agree are compared here, value by value.
//
// Within one column (group-by, dedup), null equals null and floats compare by double_key_bits
// (-0.0 == 0.0, NaN == NaN). Across two tables (joins), key columns must have the same logical
// type; dictionary strings compare codes when both sides use the same dictionary and string
// values otherwise (two tables' dictionaries generally differ), plain strings compare values, and
// a null never equals anything (SQL join semantics).

#include <vector>

#include "shardflow/common/types.hpp"
#include "shardflow/table/column.hpp"
#include "shardflow/table/table.hpp"

namespace shardflow::ops {

/// Local: rows a and b of column c hold equal key values (null == null).
bool key_equal(const table::Column& c, idx_t a, idx_t b);

/// Local: compares key tuples of rows of two tables. Key column i of `left` pairs with key column
/// i of `right`; each pair must have the same logical type (RuntimeError otherwise). The tables
/// must outlive the object.
class KeyEquality {
 public:
  KeyEquality(const table::Table& left, const std::vector<int>& left_keys,
              const table::Table& right, const std::vector<int>& right_keys);

  /// True when every key of left row `l` equals the key of right row `r`; false when any of them
  /// is null.
  bool equal(idx_t l, idx_t r) const;

  /// True when some key of left row `l` is null (such a row matches nothing).
  bool left_null(idx_t l) const;
  /// True when some key of right row `r` is null.
  bool right_null(idx_t r) const;

 private:
  enum class Mode { kSame, kCodes, kStrings };
  struct Pair {
    const table::Column* left;
    const table::Column* right;
    Mode mode;
  };
  std::vector<Pair> pairs_;
};

}  // namespace shardflow::ops
