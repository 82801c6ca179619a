#pragma once
// Basic integer types. Every row count, size and offset is an `idx_t` (DESIGN.md rule 3); `int`
// appears only at an MPI call, through `checked_int`.

#include <climits>
#include <cstdint>
#include <string_view>

#include "shardflow/common/error.hpp"

namespace shardflow {

using idx_t = std::int64_t;

/// Narrows a 64-bit count to `int` for an MPI call; throws RuntimeError naming `what` if it does
/// not fit (callers split messages so this never fires on valid input).
inline int checked_int(idx_t value, std::string_view what) {
  if (value < 0 || value > INT_MAX) {
    throw RuntimeError(
        "{} = {} does not fit in an MPI int count; this is a shardflow bug: the "
        "message should have been split",
        what, value);
  }
  return static_cast<int>(value);
}

}  // namespace shardflow
