#pragma once
// Distribution drift of one numeric feature between a reference table (say the training data)
// and a current one (the newest scoring input), exact and the same at any rank count:
//
//   - bins: the reference's exact quantiles split its values into `bins` bins: edges e_i (i = 1
//     .. bins-1) are the reference values at 0-based positions floor(i * n_ref / bins) of its
//     sorted values; a value x falls in bin #{i : e_i <= x} (so (-inf, e_1), [e_1, e_2), ...,
//     [e_{bins-1}, inf));
//   - PSI (population stability index) = sum over bins of (c - r) * ln(c / r), r and c the
//     reference's and current's share of values in the bin, each floored at 1e-4 so that an
//     empty bin counts as rare rather than infinite;
//   - KS: the two-sample Kolmogorov-Smirnov statistic, max over x of |F_ref(x) - F_cur(x)| with
//     the empirical distribution functions (what scipy.stats.ks_2samp reports).
// Null and NaN values are left out and counted. Both tables' values of the feature are sorted
// together with the distributed sample sort (ops/sort.hpp); a scan with exclusive prefix counts
// then gives the quantiles, the bin counts and the exact KS statistic.

#include <string>
#include <vector>

#include "shardflow/common/types.hpp"
#include "shardflow/mpi/comm.hpp"
#include "shardflow/ops/sort.hpp"
#include "shardflow/table/column.hpp"

namespace shardflow::ops {

struct FeatureDrift {
  idx_t reference_rows = 0;  // values compared (not null, not NaN)
  idx_t current_rows = 0;
  idx_t reference_missing = 0;  // null or NaN
  idx_t current_missing = 0;
  double psi = 0;
  double ks = 0;
  std::vector<double> edges;                            // bins - 1 of them
  std::vector<idx_t> reference_counts, current_counts;  // per bin
};

/// Collective: the drift of one feature, from this rank's rows of the reference and current
/// columns (numeric or timestamp, as double). `bins` >= 2. Throws InputError (agreed) when the
/// reference or the current table has no value at all, naming `feature`.
FeatureDrift feature_drift(const mpi::Comm& comm, const std::string& feature,
                           const table::Column& reference, const table::Column& current, int bins,
                           const SortOptions& options = {});

}  // namespace shardflow::ops
