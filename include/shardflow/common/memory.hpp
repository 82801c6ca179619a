#pragma once
// Process memory as the operating system sees it, for the per-step memory report.

#include <cstddef>

#include "shardflow/common/types.hpp"

namespace shardflow {

/// Local: resident set size of this process now, in bytes (0 where /proc is unavailable).
idx_t current_rss_bytes();
/// Local: the largest resident set size this process has had so far, in bytes.
idx_t peak_rss_bytes();

/// Local: with `keep` true, memory this process frees stays mapped for its next allocations (up to
/// kKeptFreeBytes at the top of the heap) instead of going back to the kernel: glibc malloc then
/// serves every allocation from its heap (M_MMAP_MAX 0) and trims only above that
/// (M_TRIM_THRESHOLD). A later step then writes into pages already mapped instead of paying a page
/// fault (and the kernel's zeroing) per 4 KiB of every large table it builds: q1-q5 of the README's
/// join benchmark at 2 ranks took 6.3 s instead of 7.9-9.4 s. The price: the resident set no
/// longer falls after a step's peak. `keep` false sets glibc's default values (fixed from then on,
/// not adapting as glibc's own defaults do). Call before the large allocations it should apply
/// to; it affects the whole process. The shared heap (shared_heap.hpp) keeps freed blocks' pages
/// by the same rule (up to kKeptFreeBytes, or none).
void keep_freed_memory(bool keep);
inline constexpr idx_t kKeptFreeBytes = (idx_t{1} << 31) - 1;

/// Local: with `on` true (the default), every table::Buffer block of at least
/// kHugePageBufferBytes gets advise_huge_pages when it is allocated, so that its first write
/// faults in 2 MiB pages instead of 4 KiB ones and random access into it misses the TLB less.
/// Smaller blocks stay on 4 KiB pages: on the 2-core development VM a huge page that the host
/// has reclaimed (memory the guest freed a few seconds earlier) costs 2.3-2.8 s per GB to fault
/// in, against 0.5-0.6 s per GB for the same memory in 4 KiB pages (300 MB and 3 GB touched
/// after 15-20 s idle, 2026-12-06); back to back the order reverses (0.11 against 0.5 s/GB),
/// which is what earlier measurements, taken back to back, saw. A job pays the cold figure. The
/// group-by benchmark job at 1e7 rows, 2 ranks, each run after 15 s idle, two rounds alternating
/// (this rule against huge pages from 4 MiB and always for the CSV reader's columns): CSV load
/// 0.62-0.66 s against 1.19-1.33 s, q6 0.24-0.27 against 0.37-0.39 s, load plus q1-q10
/// 1.83-2.04 s against 2.61-2.65 s. At 1e8 rows (columns of 400 MB per rank, above the
/// threshold either way) the job runs as before. The price of a huge page: a block's resident
/// memory grows in 2 MiB steps, which only matters for blocks written sparsely. Sets a
/// process-wide flag; runtime.huge_pages of a job.
void use_huge_pages_for_buffers(bool on);
bool huge_pages_for_buffers();
inline constexpr std::size_t kHugePageBufferBytes = std::size_t{128} << 20;

/// Local: asks for transparent huge pages on the 2 MiB-aligned part of [p, p + bytes), before it
/// is first written: for large buffers read at random (a training matrix), where 4 KiB pages make
/// nearly every access a TLB miss as well. Advice only: a no-op where THP is off or "always", and
/// for buffers under 2 MiB.
void advise_huge_pages(void* p, std::size_t bytes);

}  // namespace shardflow
