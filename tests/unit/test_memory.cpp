// keep_freed_memory (common/memory.hpp): with it, a large block comes from the heap and stays
// there when freed (the next large allocation reuses mapped pages); without it, glibc maps large
// blocks fresh and unmaps them on free. Checked through glibc's own accounting (mallinfo2).
// use_huge_pages_for_buffers: table::Buffer blocks of huge_page_buffer_min_bytes() and more get
// transparent huge pages, smaller ones do not, checked in /proc/self/smaps; the threshold is
// kDefaultHugePageBufferBytes unless set.

#include <gtest/gtest.h>
#include <malloc.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>

#include "shardflow/common/memory.hpp"
#include "shardflow/table/buffer.hpp"

using namespace shardflow;

namespace {

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kGlibcMalloc = false;  // ASan replaces malloc: mallinfo2 does not see its blocks
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool kGlibcMalloc = false;
#else
constexpr bool kGlibcMalloc = true;
#endif
#else
constexpr bool kGlibcMalloc = true;
#endif

constexpr size_t kBlock = size_t{64} << 20;  // above glibc's largest mmap threshold (32 MiB)

}  // namespace

TEST(KeepFreedMemory, LargeBlocksStayInTheHeapOnlyWhenKept) {
  if (!kGlibcMalloc) GTEST_SKIP() << "not glibc's malloc (sanitizer build)";

  keep_freed_memory(false);
  const size_t mapped_before = mallinfo2().hblkhd;
  void* fresh = std::malloc(kBlock);
  ASSERT_NE(fresh, nullptr);
  std::memset(fresh, 1, kBlock);
  EXPECT_GE(mallinfo2().hblkhd, mapped_before + kBlock) << "a 64 MiB block is mapped by default";
  std::free(fresh);
  EXPECT_EQ(mallinfo2().hblkhd, mapped_before) << "and unmapped when freed";

  keep_freed_memory(true);
  void* kept = std::malloc(kBlock);
  ASSERT_NE(kept, nullptr);
  std::memset(kept, 1, kBlock);
  EXPECT_EQ(mallinfo2().hblkhd, mapped_before) << "kept: the block comes from the heap";
  std::free(kept);
  EXPECT_GE(mallinfo2().fordblks, kBlock) << "kept: the freed block stays in the heap";

  keep_freed_memory(false);  // leave the process as other tests expect it
}

namespace {

// The transparent huge page mode in effect ("always", "madvise" or "never"), "" if unknown.
std::string thp_mode() {
  std::ifstream f("/sys/kernel/mm/transparent_hugepage/enabled");
  std::string line;
  std::getline(f, line);
  const auto open = line.find('[');
  const auto close = line.find(']');
  if (open == std::string::npos || close == std::string::npos) return "";
  return line.substr(open + 1, close - open - 1);
}

// Bytes of anonymous huge pages mapped in [p, p + bytes), from /proc/self/smaps.
size_t huge_bytes_in(const void* p, size_t bytes) {
  const auto begin = reinterpret_cast<std::uintptr_t>(p);
  const std::uintptr_t end = begin + bytes;
  std::ifstream smaps("/proc/self/smaps");
  std::string line;
  bool inside = false;
  size_t total = 0;
  while (std::getline(smaps, line)) {
    std::uintptr_t lo = 0, hi = 0;
    if (std::sscanf(line.c_str(), "%lx-%lx ", &lo, &hi) == 2 && line.find(':') > line.find(' ')) {
      inside = lo < end && hi > begin;
      continue;
    }
    size_t kb = 0;
    if (inside && std::sscanf(line.c_str(), "AnonHugePages: %zu kB", &kb) == 1) total += kb << 10;
  }
  return total;
}

}  // namespace

TEST(HugePagesForBuffers, OnlyBuffersFromTheThresholdUpGetHugePagesAndOnlyWhenOn) {
  if (thp_mode() != "madvise")
    GTEST_SKIP() << "transparent huge pages are '" << thp_mode() << "', not 'madvise'";
  if (!kGlibcMalloc) GTEST_SKIP() << "not glibc's malloc (sanitizer build)";
  ASSERT_TRUE(huge_pages_for_buffers()) << "on by default";
  ASSERT_EQ(huge_page_buffer_min_bytes(), kDefaultHugePageBufferBytes);
  // Fresh memory only: a block carved from free heap memory that an earlier test in this process
  // wrote keeps the 4 KiB pages it already has (the advice acts on the next fault), so give the
  // heap's free memory back first and let glibc map the blocks below anew.
  keep_freed_memory(false);
  malloc_trim(0);
  // A 1e7-row table's column at 2 ranks (40 MB) is above the default threshold.
  constexpr size_t kColumn = (size_t{40} << 20) / sizeof(double);
  // Below it: 3 MiB, which holds a whole aligned 2 MiB page wherever it starts.
  constexpr size_t kSmall = (size_t{3} << 20) / sizeof(double);
  static_assert(kSmall * sizeof(double) < kDefaultHugePageBufferBytes);
  auto huge_after_write = [](size_t n) {
    table::Buffer<double> b(n);
    std::fill(b.begin(), b.end(), 1.0);
    return huge_bytes_in(b.data(), n * sizeof(double));
  };
  EXPECT_GT(huge_after_write(kColumn), 0u);
  EXPECT_EQ(huge_after_write(kSmall), 0u) << "below the threshold a buffer stays on 4 KiB pages";

  // A larger threshold (runtime.huge_pages: 128MiB) leaves the column on 4 KiB pages.
  set_huge_page_buffer_min_bytes(size_t{128} << 20);
  EXPECT_EQ(huge_page_buffer_min_bytes(), size_t{128} << 20);
  EXPECT_EQ(huge_after_write(kColumn), 0u);
  EXPECT_GT(huge_after_write((size_t{136} << 20) / sizeof(double)), 0u);
  set_huge_page_buffer_min_bytes(kDefaultHugePageBufferBytes);

  use_huge_pages_for_buffers(false);
  EXPECT_EQ(huge_page_buffer_min_bytes(), SIZE_MAX);
  EXPECT_EQ(huge_after_write(kColumn), 0u);
  use_huge_pages_for_buffers(true);
}

TEST(HugePagesForBuffers, MatricesOutsideBuffersFollowTheSameRule) {
  // A training matrix (Eigen storage, not a table::Buffer) asks through
  // advise_huge_pages_for_buffer, so runtime.huge_pages: false leaves it on 4 KiB pages too.
  if (thp_mode() != "madvise")
    GTEST_SKIP() << "transparent huge pages are '" << thp_mode() << "', not 'madvise'";
  constexpr size_t kBytes = size_t{40} << 20;
  keep_freed_memory(false);  // fresh blocks, as in the test above
  malloc_trim(0);
  auto huge_after_write = [&] {
    void* p = std::aligned_alloc(size_t{2} << 20, kBytes);
    EXPECT_NE(p, nullptr);
    advise_huge_pages_for_buffer(p, kBytes);
    std::memset(p, 1, kBytes);
    const size_t huge = huge_bytes_in(p, kBytes);
    std::free(p);
    return huge;
  };
  EXPECT_GT(huge_after_write(), 0u);
  use_huge_pages_for_buffers(false);
  EXPECT_EQ(huge_after_write(), 0u);
  use_huge_pages_for_buffers(true);
  set_huge_page_buffer_min_bytes(size_t{128} << 20);
  EXPECT_EQ(huge_after_write(), 0u) << "40 MB is under a 128 MiB threshold";
  set_huge_page_buffer_min_bytes(kDefaultHugePageBufferBytes);
}
