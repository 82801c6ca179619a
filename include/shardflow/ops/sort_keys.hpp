#pragma once
// The sort-key engine under sort, top-k and dedup: an order-preserving encoding of key columns
// into 64-bit words, compared lexicographically, with plain strings compared by value and the
// global row index as the last key, so that every row's composite key is distinct and any sort
// algorithm gives one order.
//
// The order of one key column (ascending; `descending` reverses the values, not the nulls):
//   - integers, timestamps, bools: numeric order;
//   - floats: numeric order with -0.0 == 0.0 and NaN == NaN greater than every number (+inf
//     included), as in filters and min/max (README "Filter expressions");
//   - strings: byte-wise (UTF-8 code point) order of the value. Dictionary strings compare by
//     code: a table::Dictionary is sorted and distinct by construction (its constructor throws
//     otherwise), so code order is string order;
//   - nulls: before every value (NullOrder::kFirst) or after (kLast), in either direction.
//
// Encoding (one layout for a schema, identical on every rank once `nullable` is agreed):
//   int32, bool, dictionary codes: one word, (null rank << 32) | 32-bit order value;
//   int64, timestamp, float32, float64: one word, plus a null-rank word before it when the column
//   is nullable; plain strings: no word, compared from the column.
// Descending flips the value bits (~); the null rank is 0 for the side nulls go to first.

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "shardflow/common/types.hpp"
#include "shardflow/table/table.hpp"

namespace shardflow::ops {

enum class NullOrder : std::uint8_t { kFirst, kLast };

/// One sort key: a column, its direction, and where its nulls go (default: last, in either
/// direction, as in DuckDB).
struct SortKey {
  std::string column;
  bool descending = false;
  NullOrder nulls = NullOrder::kLast;
  bool operator==(const SortKey&) const = default;
};

std::string_view to_string(NullOrder nulls);

/// Local: the 64-bit order word of a double: -0.0 -> 0.0, every NaN -> one NaN above +inf, then
/// the IEEE bits with the sign flipped for positives and all bits flipped for negatives, so that
/// unsigned word order is numeric order.
std::uint64_t double_order_bits(double v);

/// How the key columns of a schema are encoded (see the file comment). Built locally from the
/// schema, the string encodings and `nullable` (which must be equal on all ranks when encoded
/// rows of different ranks are compared).
class SortKeyLayout {
 public:
  SortKeyLayout() = default;
  /// Throws ConfigError (with a did-you-mean) for an unknown key column.
  /// `nullable[k]`: key k may hold nulls on some rank.
  SortKeyLayout(const table::Table& table, const std::vector<SortKey>& keys,
                const std::vector<bool>& nullable);

  struct Part {
    int column = -1;     // index in the table
    bool plain = false;  // plain strings (no words; compared from the column)
    int word = 0;        // first word of this part
    int words = 0;       // 0 (plain), 1 or 2
    bool descending = false;
    NullOrder nulls = NullOrder::kLast;
    table::DataType type = table::DataType::kInt64;
  };

  const std::vector<Part>& parts() const { return parts_; }
  int words() const { return words_; }
  bool has_plain_strings() const { return plain_; }

 private:
  std::vector<Part> parts_;
  int words_ = 0;
  bool plain_ = false;
};

/// Encoded keys of a set of rows: `layout.words()` words per row, the row's global index, and the
/// plain-string key columns to compare from.
struct EncodedKeys {
  const SortKeyLayout* layout = nullptr;
  std::vector<std::uint64_t> words;           // row-major, layout->words() per row
  std::vector<std::int64_t> global_index;     // one per row: the last key
  std::vector<const table::Column*> strings;  // per part: the column of a plain part, or null
  idx_t size() const { return static_cast<idx_t>(global_index.size()); }
};

/// Local: encodes every row of `table` (which must have the schema and encodings the layout was
/// built from). `global_index` (one per row) becomes the last key; the table must outlive the
/// result when the layout has plain strings.
EncodedKeys encode_sort_keys(const SortKeyLayout& layout, const table::Table& table,
                             std::vector<std::int64_t> global_index);

/// Local: <0, 0 or >0 as row i of `a` sorts before, equal to (same global index too) or after row
/// j of `b`. Both must use the same layout.
int compare_rows(const EncodedKeys& a, idx_t i, const EncodedKeys& b, idx_t j);
/// Local: as compare_rows, but on the key columns only (the global index is ignored).
int compare_keys(const EncodedKeys& a, idx_t i, const EncodedKeys& b, idx_t j);

/// Local: the permutation that sorts the rows by (keys, global index). With `limit` >= 0 only the
/// first min(limit, rows) of that order are computed and returned (a partial sort). A full sort
/// of keys without plain strings (at most 3 words) is a stable most-significant-digit radix sort
/// on the varying bits of the key words, plus the global index as one more word unless the rows
/// come in ascending global index order; otherwise a comparison sort. The permutation is the same
/// either way.
std::vector<idx_t> sort_permutation(const EncodedKeys& keys, idx_t limit = -1);

namespace detail {
/// Full sorts of at least this many rows (default 2048) use the radix sort. For tests, to run it
/// on small tables (0: always).
void set_radix_min_rows(idx_t rows);
}  // namespace detail

}  // namespace shardflow::ops
