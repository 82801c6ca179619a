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
/// huge_page_buffer_min_bytes() gets advise_huge_pages when it is allocated, so that its first
/// write faults in 2 MiB pages instead of 4 KiB ones and random access into it misses the TLB
/// less. Smaller blocks stay on 4 KiB pages. Sets a process-wide flag; runtime.huge_pages of a
/// job (false).
///
/// Which page size a job's first touch of memory pays less for depends on the machine, and on the
/// development VM on the host's state, which changed between sessions: after 15 s idle, 1 GB
/// written once cost 0.5-0.6 s as 4 KiB pages and 2.3-2.8 s as huge pages on 2026-12-06 morning,
/// and 2.8 s against 1.7-2.3 s that evening (benchmarks/bench_page_faults.cpp measures a machine).
/// The default follows what holds on bare metal (one fault and one TLB entry per 2 MiB) and what
/// the join benchmark job measured on both days: blocks from 4 MiB (a 1e7-row table's columns
/// at 2 ranks, 20-40 MB) take huge pages. With the 128 MiB rule of the morning, that job's q5
/// (5e6 x 5e6 rows per rank) ran 2.5-3.6 s against 1.5-2.2 s; in the evening q1-q5 took 11.5-16.0
/// s against 6.1-7.0 s, while the group-by job was even (load 1.10-1.30 s against 1.13-1.26 s).
/// The morning's group-by load favoured 128 MiB (0.62-0.66 s against 1.19-1.33 s): where a
/// machine behaves so, runtime.huge_pages takes a larger threshold ("128MiB").
void use_huge_pages_for_buffers(bool on);
bool huge_pages_for_buffers();
inline constexpr std::size_t kDefaultHugePageBufferBytes = std::size_t{4} << 20;
/// Local: the smallest block that gets huge pages while they are on (at least 2 MiB, the page;
/// smaller values act as 2 MiB). Sets a process-wide value; runtime.huge_pages of a job (a size).
void set_huge_page_buffer_min_bytes(std::size_t bytes);
/// Local: the smallest table::Buffer block that gets advise_huge_pages: SIZE_MAX when
/// use_huge_pages_for_buffers(false), else the set_huge_page_buffer_min_bytes value.
std::size_t huge_page_buffer_min_bytes();

/// Local: advise_huge_pages(p, bytes) when `bytes` is at least huge_page_buffer_min_bytes(): the
/// rule of every table::Buffer block, and of large buffers that are not Buffers (a training
/// matrix), so that runtime.huge_pages governs them too.
void advise_huge_pages_for_buffer(void* p, std::size_t bytes);

/// Local: asks for transparent huge pages on the 2 MiB-aligned part of [p, p + bytes), before it
/// is first written: for large buffers read at random (a training matrix), where 4 KiB pages make
/// nearly every access a TLB miss as well. Advice only: a no-op where THP is off or "always", and
/// for buffers under 2 MiB.
void advise_huge_pages(void* p, std::size_t bytes);

}  // namespace shardflow
