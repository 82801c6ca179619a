#include "shardflow/common/memory.hpp"

#include <malloc.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <fstream>

#include "shardflow/common/shared_heap.hpp"

namespace shardflow {

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
  constexpr std::uintptr_t kHuge = std::uintptr_t{2} << 20;
  const auto begin = reinterpret_cast<std::uintptr_t>(p);
  const std::uintptr_t first = (begin + kHuge - 1) & ~(kHuge - 1);
  const std::uintptr_t last = (begin + bytes) & ~(kHuge - 1);
#ifdef MADV_HUGEPAGE
  if (last > first) (void)::madvise(reinterpret_cast<void*>(first), last - first, MADV_HUGEPAGE);
#else
  (void)first;
  (void)last;
#endif
}

void advise_huge_pages_for_buffer(void* p, std::size_t bytes) {
  if (bytes >= huge_page_buffer_min_bytes()) advise_huge_pages(p, bytes);
}

}  // namespace shardflow
