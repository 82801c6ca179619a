#pragma once
// The largest element count a single MPI call is given. MPI counts are `int`; shardflow splits
// anything larger. Tests lower the limit to exercise the splitting paths on small data.

#include "shardflow/common/types.hpp"

namespace shardflow::mpi {

/// Current per-message element limit (default INT_MAX).
idx_t max_message_elements();
/// Sets the per-message element limit; must be >= 1 and equal on all ranks. For tests.
void set_max_message_elements(idx_t limit);

}  // namespace shardflow::mpi
