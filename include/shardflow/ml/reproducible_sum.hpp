#pragma once
// Sums of doubles that are bit-identical no matter how the contributions are split across ranks or
// ordered within a rank (DESIGN.md rule 4: training is bitwise identical across rank counts).
//
// Method: fixed-point accumulation in 128-bit integers with a scale chosen from the data.
//   1. Every rank computes, per component j, the largest |contribution|; one max-allreduce
//      gives the global maximum M_j (a maximum does not depend on order or split).
//   2. With E_j = floor(log2(M_j)), every contribution g is rounded (to nearest, ties to even) to
//      an integer multiple of the quantum 2^(E_j - 61): q = round(g * 2^(61 - E_j)), |q| <= 2^62.
//   3. The q are added in __int128 locally and across ranks (an allreduce with a commutative
//      user-defined reduction, mpi::Op). Integer addition is associative, so the total is exact.
//   4. The total is converted back to double once: sum_j = double(total) * 2^(E_j - 61).
// Range: every finite double, with no overflow; up to 2^62 contributions per component over all
// ranks (2^62 * 2^62 = 2^124 < 2^127). Precision: each contribution is off by at most
// M_j * 2^-62 (about 2e-19 of the largest one, below double's own 1.1e-16 relative rounding), so a
// sum of n contributions is off by at most n * M_j * 2^-62 plus the final rounding to double —
// about 2000 times tighter than the worst case of plain double summation. Non-finite
// contributions (NaN, +-inf) are rejected on every rank.

#include <span>
#include <string_view>
#include <vector>

#include "shardflow/common/types.hpp"
#include "shardflow/mpi/comm.hpp"

namespace shardflow::ml {

/// Largest number of contributions (over all ranks) a single component may receive.
inline constexpr idx_t kReproducibleSumMaxTerms = idx_t{1} << 62;

/// Collective: for each of `width` components, the sum over every rank's contributions.
/// `contributions` is row-major, `contributions.size() / width` rows of `width` values (rows may
/// be zero on any rank). `width` must be equal on all ranks; `what` and `hint` are used in error
/// messages only. The result is identical on every rank and depends only on the multiset of
/// contributions per component, never on their split across ranks or their order.
/// Throws RuntimeError (on every rank, agreed) if a contribution is NaN or infinite, naming `what`,
/// the component, the local row and the rank, followed by `hint`; or if a component receives more
/// than kReproducibleSumMaxTerms contributions.
std::vector<double> reproducible_sum(const mpi::Comm& comm, std::span<const double> contributions,
                                     idx_t width, std::string_view what,
                                     std::string_view hint = {});

}  // namespace shardflow::ml
