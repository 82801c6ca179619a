#pragma once
// Key packing: several key columns folded into one 64-bit integer per row, so that group-by, join
// and dedup can hash and compare keys as integers.
//
// Keys pack when every key column is an integer, timestamp, bool or dictionary string and the
// product of the columns' global value ranges (plus one null slot per nullable column) is below
// 2^62. Column j's code (value - global min, +1 when nullable; null -> 0) gets a place value; with
// power-of-two place values ("bit packed") decoding is shifts and masks. Equal key tuples give
// equal packed keys on every rank; distinct tuples give distinct packed keys.

#include <cstdint>
#include <optional>
#include <vector>

#include "shardflow/mpi/comm.hpp"
#include "shardflow/ops/table_profile.hpp"
#include "shardflow/table/column.hpp"
#include "shardflow/table/table.hpp"

namespace shardflow::ops {

/// One key column's share of the packed key: code in [0, slots), null -> 0 when nullable.
struct PackedColumn {
  int column = -1;
  table::DataType type = table::DataType::kInt64;
  bool dictionary = false;
  bool nullable = false;
  std::int64_t min = 0;     // integers: smallest value over all ranks
  std::uint64_t slots = 1;  // number of codes
  std::uint64_t mult = 1;   // place value in the packed key
  int shift = 0;            // bit-packed keys: code = (key >> shift) & mask
  std::uint64_t mask = 0;
  table::DictionaryPtr dict;
};

struct KeyPacking {
  bool packable = false;
  bool bit_packed = false;   // place values are powers of two (decoding by shifts)
  std::uint64_t domain = 1;  // keys are in [0, domain)
  std::vector<PackedColumn> columns;
};

/// What is known, over all ranks, of an integer, timestamp or bool key column's current values
/// (from the profile taken when its table was loaded, ops/table_profile.hpp): the range of its
/// non-null values (unused for bool) and whether any value is null.
struct KnownKeyRange {
  std::int64_t min = 0;
  std::int64_t max = -1;
  bool has_nulls = false;
};

/// Collective: decides (identically on all ranks) whether the key columns `key_idx` of `t` pack
/// into 62 bits, and how. Schema and dictionaries must be equal on all ranks. Returns
/// packable == false (and no columns) when some key is a float or a plain string, or the global
/// value ranges are too wide. `known`: empty, or one entry per key, equal on all ranks (nullopt:
/// not known); a known integer, timestamp or bool key is not scanned, and when every key is
/// known no ranges are reduced across ranks (an entry for another type is ignored). Entries must
/// be exact (a range at least as wide as the values, a null flag that is true when a value is
/// null); a range wider than the values packs correctly, with more slots.
KeyPacking plan_packing(const mpi::Comm& comm, const table::Table& t,
                        const std::vector<int>& key_idx,
                        const std::vector<std::optional<KnownKeyRange>>& known = {});

/// Local: plan_packing's `known` for keys `key_idx` of `t` from `profile`, the profile of `t`'s
/// current values over all ranks (null: nothing known). A key is known when its profile entry
/// has the key's name and type and a range (a column of nulls only is scanned as before).
std::vector<std::optional<KnownKeyRange>> known_key_ranges(const TableProfile* profile,
                                                           const table::Table& t,
                                                           const std::vector<int>& key_idx);

/// Local: the packed key of every row of `t` (`p` from plan_packing on this table, packable).
table::Buffer<std::uint64_t> pack_keys(const table::Table& t, const KeyPacking& p);
/// Local: the packed keys of rows [begin, end) of `t` into key[0, end - begin).
void pack_keys_into(const table::Table& t, const KeyPacking& p, idx_t begin, idx_t end,
                    std::uint64_t* key);

/// Local: the key columns (types, dictionaries and nulls as in the packed table) of packed keys.
std::vector<table::Column> unpack_keys(const std::vector<std::uint64_t>& keys, const KeyPacking& p);

}  // namespace shardflow::ops
