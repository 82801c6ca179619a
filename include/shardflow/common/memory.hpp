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
/// machine behaves so, runtime.huge_pages takes a larger threshold ("128MiB"). The CSV reader's
/// column vectors, whose load is where that difference showed, measure instead
/// (FreshPagePopulator below).
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

/// Local: maps the pages of large buffers about to be written once, front to back (the CSV
/// reader's column vectors), in whichever page size this machine charges less for, measured as it
/// goes instead of assumed.
///
/// Why: a column is written sequentially, so huge pages buy it nothing but cheaper faults, and
/// whether they are cheaper depends on the machine and on its state. On bare metal one 2 MiB fault
/// beats 512 4 KiB ones. The development VM is a PVM guest (a hypervisor that shadows the guest's
/// page tables) with free page reporting (the host takes back free 8 MiB blocks about 2 s after
/// the guest frees them). There a huge page costs 1.4-1.8 s per GB when the host must back it
/// again, 0.05-0.5 s per GB when it was freed less than ~2 s before; a 4 KiB page costs ~0.15 s
/// per GB to populate and another ~1.3 s per GB at its first access from user space, the exit that
/// builds its shadow entry (bench_page_faults, 2026-12-07). The first few huge pages of a job come
/// from recently freed memory and are cheap while the rest are not, so one probe at the start
/// misleads: the cost is sampled throughout, and a sample includes the first access of every page
/// (until 2026-12-07 it timed the populate call alone, which made 4 KiB pages look ten times
/// cheaper than they were).
///
/// How: the part of a block that the buffer rule put on huge pages (advise_huge_pages_for_buffer)
/// is populated (MADV_POPULATE_WRITE, then one byte of every page read and written back) in timed
/// slices: first a kSampleBytes slice in each page
/// size, then kChunkBytes chunks in the current one, with a kSampleBytes slice in the other every
/// kExploreEvery-th chunk (every 4 * kExploreEvery-th while the other costs more than twice as
/// much). Each page size keeps a moving average of seconds per byte; the current one changes when
/// the other is cheaper by more than a fifth. Huge pages win ties (the buffer rule's choice,
/// which also suits random reads later). A slice on 4 KiB pages gets MADV_NOHUGEPAGE. Memory
/// already mapped (reused from the heap) costs both sizes next to nothing, and then huge pages
/// stay. Without MADV_POPULATE_WRITE (Linux < 5.14) the pages fault in on first write and nothing
/// is measured.
class FreshPagePopulator {
 public:
  enum class PageSize { kHuge = 0, kSmall = 1 };
  static constexpr std::size_t kChunkBytes = std::size_t{8} << 20;
  static constexpr std::size_t kSampleBytes = std::size_t{2} << 20;
  static constexpr int kExploreEvery = 4;

  /// Maps the pages of [p, p + bytes) for writing; `block_bytes` is the size of the allocation
  /// that holds them (a vector's capacity), which decides the buffer rule.
  void populate(void* p, std::size_t bytes, std::size_t block_bytes);

  /// The page size in use now.
  PageSize current() const { return current_; }
  /// Bytes populated as each page size so far, and the moving average of seconds per GB (0 until
  /// measured), for the log.
  std::size_t bytes_in(PageSize size) const { return bytes_[index(size)]; }
  double seconds_per_gb(PageSize size) const { return seconds_per_byte_[index(size)] * 1e9; }

  /// After a measured population of `bytes` as `size` in `seconds`: the moving averages and the
  /// current page size (exposed for tests of the rule).
  void record(PageSize size, std::size_t bytes, double seconds);

 private:
  static std::size_t index(PageSize size) { return static_cast<std::size_t>(size); }
  PageSize current_ = PageSize::kHuge;
  std::size_t bytes_[2] = {0, 0};
  double seconds_per_byte_[2] = {0, 0};
  bool measured_[2] = {false, false};
  long long chunks_ = 0;
};

}  // namespace shardflow
