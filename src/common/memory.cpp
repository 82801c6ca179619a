#include "shardflow/common/memory.hpp"

#include <malloc.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <fstream>

#include "shardflow/common/shared_heap.hpp"
#include "shardflow/common/timer.hpp"

namespace shardflow {

namespace {

constexpr std::uintptr_t kSmallPage = 4096;
constexpr std::uintptr_t kHugePage = std::uintptr_t{2} << 20;

std::uintptr_t round_up(std::uintptr_t v, std::uintptr_t to) {
  return (v + to - 1) & ~(to - 1);
}
std::uintptr_t round_down(std::uintptr_t v, std::uintptr_t to) {
  return v & ~(to - 1);
}

// madvise over the whole pages of [begin, end); advice only, so failures are ignored.
void advise_range(std::uintptr_t begin, std::uintptr_t end, int advice, std::uintptr_t page) {
  begin = round_up(begin, page);
  end = round_down(end, page);
  if (end > begin) (void)::madvise(reinterpret_cast<void*>(begin), end - begin, advice);
}

void populate_range(std::uintptr_t begin, std::uintptr_t end) {
#ifdef MADV_POPULATE_WRITE
  advise_range(begin, end, MADV_POPULATE_WRITE, kSmallPage);
#else
  (void)begin;
  (void)end;
#endif
}

/// Reads and writes back one byte of every 4 KiB page of [begin, end), leaving every value as it
/// was: the first access of each page from user space.
///
/// Why it is part of a timed slice: under a hypervisor that shadows the guest's page tables (the
/// development VM is a PVM guest, see memory.hpp) the first user-space access of a page costs an
/// exit to the host even after MADV_POPULATE_WRITE mapped it, once per 4 KiB page and once per
/// huge page. Timing the populate call alone charged 4 KiB pages 0.13-0.18 s per GB when they
/// cost 1.3-1.4 s per GB in all (bench_page_faults "populate, then first write"), so the reader
/// chose them for most of its columns and paid the rest inside its parse loop.
void touch_pages(std::uintptr_t begin, std::uintptr_t end) {
  for (std::uintptr_t at = begin; at < end; at += kSmallPage) {
    auto* byte = reinterpret_cast<volatile unsigned char*>(at);
    *byte = *byte;
  }
}

}  // namespace

idx_t current_rss_bytes() {
  // statm: size resident shared text lib data dt, in pages.
  std::ifstream statm("/proc/self/statm");
  idx_t size = 0, resident = 0;
  if (!(statm >> size >> resident)) return 0;
  return resident * static_cast<idx_t>(sysconf(_SC_PAGESIZE));
}

idx_t peak_rss_bytes() {
  rusage usage{};
  if (getrusage(RUSAGE_SELF, &usage) != 0) return 0;
  return static_cast<idx_t>(usage.ru_maxrss) * 1024;  // Linux reports kilobytes
}

void keep_freed_memory(bool keep) {
  // glibc's defaults: mmap for blocks from 128 KiB (the threshold then adapts up to 32 MiB), at
  // most 65536 mappings, trim the heap top above 128 KiB. Blocks above 32 MiB (every column of a
  // large table) were always mapped fresh and unmapped on free.
  mallopt(M_MMAP_MAX, keep ? 0 : 65536);
  mallopt(M_TRIM_THRESHOLD, keep ? static_cast<int>(kKeptFreeBytes) : 128 * 1024);
  if (!keep) mallopt(M_MMAP_THRESHOLD, 128 * 1024);
  // The shared heap (the shuffle's output columns) follows the same rule.
  shared_heap::set_retained_bytes(keep ? static_cast<std::size_t>(kKeptFreeBytes) : 0);
}

namespace {
std::atomic<bool> g_huge_pages_for_buffers{true};
std::atomic<std::size_t> g_huge_page_min_bytes{kDefaultHugePageBufferBytes};
}  // namespace

void use_huge_pages_for_buffers(bool on) {
  g_huge_pages_for_buffers.store(on);
}
bool huge_pages_for_buffers() {
  return g_huge_pages_for_buffers.load(std::memory_order_relaxed);
}

void set_huge_page_buffer_min_bytes(std::size_t bytes) {
  g_huge_page_min_bytes.store(bytes);
}
std::size_t huge_page_buffer_min_bytes() {
  if (!huge_pages_for_buffers()) return SIZE_MAX;
  return g_huge_page_min_bytes.load(std::memory_order_relaxed);
}

void advise_huge_pages(void* p, std::size_t bytes) {
#ifdef MADV_HUGEPAGE
  const auto begin = reinterpret_cast<std::uintptr_t>(p);
  advise_range(begin, begin + bytes, MADV_HUGEPAGE, kHugePage);
#else
  (void)p;
  (void)bytes;
#endif
}

void advise_huge_pages_for_buffer(void* p, std::size_t bytes) {
  if (bytes >= huge_page_buffer_min_bytes()) advise_huge_pages(p, bytes);
}
void FreshPagePopulator::record(PageSize size, std::size_t bytes, double seconds) {
  if (bytes == 0) return;
  const std::size_t i = index(size);
  const double per_byte = seconds / static_cast<double>(bytes);
  // A short memory: the machine's state changes within one load (see the header).
  seconds_per_byte_[i] = measured_[i] ? 0.5 * seconds_per_byte_[i] + 0.5 * per_byte : per_byte;
  measured_[i] = true;
  bytes_[i] += bytes;
  if (!measured_[0] || !measured_[1]) return;
  const std::size_t now = index(current_);
  const std::size_t other = 1 - now;
  if (seconds_per_byte_[other] * 1.25 < seconds_per_byte_[now])
    current_ = static_cast<PageSize>(other);
}

void FreshPagePopulator::populate(void* p, std::size_t bytes, std::size_t block_bytes) {
  auto begin = reinterpret_cast<std::uintptr_t>(p);
  const std::uintptr_t end = begin + bytes;
  // Only blocks the buffer rule put on huge pages have a choice to make.
#if defined(MADV_POPULATE_WRITE) && defined(MADV_NOHUGEPAGE) && defined(MADV_HUGEPAGE)
  if (block_bytes >= huge_page_buffer_min_bytes()) {
    std::uintptr_t at = std::min(round_up(begin, kHugePage), end);
    populate_range(begin, at);  // the head before the first whole huge page
    while (at + kHugePage <= end) {
      // Samples of both sizes first; then the other size every few chunks, less often while
      // it costs more than twice as much (each sample of the dearer size costs its difference).
      PageSize size = current_;
      bool explore = false;
      if (!measured_[index(PageSize::kSmall)] || !measured_[index(PageSize::kHuge)]) {
        explore = true;
        size = measured_[index(PageSize::kSmall)] ? PageSize::kHuge : PageSize::kSmall;
      } else {
        const double ratio = seconds_per_byte_[1 - index(current_)] /
                             std::max(seconds_per_byte_[index(current_)], 1e-15);
        const long long every = ratio > 2 ? kExploreEvery * 4 : kExploreEvery;
        explore = ++chunks_ % every == 0;
        if (explore) size = static_cast<PageSize>(1 - index(current_));
      }
      const std::uintptr_t n = std::min<std::uintptr_t>(explore ? kSampleBytes : kChunkBytes,
                                                        round_down(end - at, kHugePage));
      advise_range(at, at + n, size == PageSize::kHuge ? MADV_HUGEPAGE : MADV_NOHUGEPAGE,
                   kHugePage);
      Stopwatch watch;
      populate_range(at, at + n);
      touch_pages(at, at + n);
      record(size, n, watch.seconds());
      at += n;
    }
    begin = at;
  }
#else
  (void)block_bytes;
#endif
  populate_range(begin, end);
}

}  // namespace shardflow
