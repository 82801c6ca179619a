#pragma once
// Vectorized partition scatter: the inner loop of the shuffle, which sends every row of a column
// to the region of its destination rank. One AVX2 pass per column: 32 destination bytes give one
// bit mask per destination, a lookup table turns each 4- or 8-row mask into a lane permutation
// that packs that destination's rows to the front of a vector, and the vector goes into a small
// cache-resident buffer per destination (software write-combining), which leaves as whole cache
// lines. The scalar scatter it replaced did P stores per row; this does P stores per 4 (8-byte) or
// 8 (4-byte) rows: bench_shuffle's shardflow_scalar_scatter line against shardflow_staging.
// Non-temporal flushes are an option; the shuffle does not use them (ops/shuffle.cpp says why).

#include <cstdint>

#include "shardflow/common/types.hpp"

namespace shardflow::ops {

/// True if partition_scatter can run here (x86-64 with AVX2, decided once at run time).
bool partition_scatter_available();

/// Rows [0, n) of `src` go to cursor[dest[i]], in order; every cursor advances past its rows.
/// `ranks` is in [2, 4] and every dest[i] < ranks (not checked). Exact: nothing is written
/// outside [cursor before, cursor after) of any destination, so regions of different writers may
/// share a cache line. `streaming`: full cache lines are written with non-temporal stores (for
/// outputs larger than the cache), followed by a fence. Requires partition_scatter_available().
void partition_scatter(const std::uint64_t* src, const std::uint8_t* dest, idx_t n,
                       std::uint64_t** cursor, int ranks, bool streaming);
void partition_scatter(const std::uint32_t* src, const std::uint8_t* dest, idx_t n,
                       std::uint32_t** cursor, int ranks, bool streaming);

/// dest[i] = hash_u64(keys[i] ^ seed) & (ranks - 1) for i in [0, n): the shuffle's destination of a
/// row keyed by one int64 column, four keys per AVX2 step (64-bit multiplies built from 32-bit
/// ones), bit for bit the scalar hash. `ranks` is a power of two in [2, 256]. Requires
/// partition_scatter_available().
void hash_destinations_int64(const std::int64_t* keys, idx_t n, std::uint64_t seed, int ranks,
                             std::uint8_t* dest);

}  // namespace shardflow::ops
