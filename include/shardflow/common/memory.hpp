#pragma once
// Process memory as the operating system sees it, for the per-step memory report.

#include "shardflow/common/types.hpp"

namespace shardflow {

/// Local: resident set size of this process now, in bytes (0 where /proc is unavailable).
idx_t current_rss_bytes();
/// Local: the largest resident set size this process has had so far, in bytes.
idx_t peak_rss_bytes();

}  // namespace shardflow
