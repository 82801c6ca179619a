#pragma once
// Vectorized partition scatter: the inner loop of the shuffle, which sends every row of a column
// to the region of its destination rank. One AVX2 pass per column: 32 destination bytes give one
// bit mask per destination, a lookup table turns each 4- or 8-row mask into a lane permutation
// that packs that destination's rows to the front of a vector, and the whole vector is stored at
// the destination's cursor (the junk lanes after the rows are overwritten by the next store). The
// scalar scatter it replaced did P stores per row; this does P stores per 4 (8-byte) or 8 (4-byte)
// rows: bench_shuffle's shardflow_scalar_scatter line against shardflow_staging.

#include <cstdint>

#include "shardflow/common/types.hpp"

namespace shardflow::ops {

/// True if partition_scatter can run here (x86-64 with AVX2, decided once at run time).
bool partition_scatter_available();

/// Rows [0, n) of `src` go to cursor[dest[i]], in order; every cursor advances past its rows.
/// `ranks` is in [2, 4], every dest[i] < ranks and count[k] is exactly the number of rows in
/// [0, n) with dest[i] == k (none of it checked: the shuffle counted them already). Exact:
/// nothing is written outside [cursor, cursor + count) of any destination, so regions of
/// different writers may share a cache line. Requires partition_scatter_available().
void partition_scatter(const std::uint64_t* src, const std::uint8_t* dest, idx_t n,
                       std::uint64_t** cursor, const idx_t* count, int ranks);
void partition_scatter(const std::uint32_t* src, const std::uint8_t* dest, idx_t n,
                       std::uint32_t** cursor, const idx_t* count, int ranks);

/// dest[i] = hash_u64(keys[i] ^ seed) & (ranks - 1) for i in [0, n): the shuffle's destination of a
/// row keyed by one int64 column, four keys per AVX2 step (64-bit multiplies built from 32-bit
/// ones), bit for bit the scalar hash. `ranks` is a power of two in [2, 256]. Requires
/// partition_scatter_available().
void hash_destinations_int64(const std::int64_t* keys, idx_t n, std::uint64_t seed, int ranks,
                             std::uint8_t* dest);

/// Adds the number of i in [0, n) with dest[i] == k to count[k] for k in [0, ranks), 32 rows per
/// AVX2 step; false (counts then unspecified) if some dest[i] >= ranks. `ranks` is in [1, 4].
/// Requires partition_scatter_available().
bool count_destinations_u8(const std::uint8_t* dest, idx_t n, int ranks, idx_t* count);

}  // namespace shardflow::ops
