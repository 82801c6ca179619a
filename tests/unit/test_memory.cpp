// keep_freed_memory (common/memory.hpp): with it, a large block comes from the heap and stays
// there when freed (the next large allocation reuses mapped pages); without it, glibc maps large
// blocks fresh and unmaps them on free. Checked through glibc's own accounting (mallinfo2).
// use_huge_pages_for_buffers: table::Buffer blocks of huge_page_buffer_min_bytes() and more get
// transparent huge pages, smaller ones do not, checked in /proc/self/smaps; the threshold is
// kDefaultHugePageBufferBytes unless set.

#include <gtest/gtest.h>
#include <malloc.h>
#include <sys/mman.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

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

TEST(FreshPagePopulator, TakesThePageSizeThatCostsLessWhenClearlyCheaper) {
  using Size = FreshPagePopulator::PageSize;
  constexpr size_t kMiB = size_t{1} << 20;
  FreshPagePopulator pages;
  EXPECT_EQ(pages.current(), Size::kHuge) << "huge pages first, as the buffer rule";
  pages.record(Size::kHuge, 8 * kMiB, 0.020);  // 2.5 s per GB
  EXPECT_EQ(pages.current(), Size::kHuge) << "nothing to compare with yet";
  pages.record(Size::kSmall, 2 * kMiB, 0.001);  // 0.5 s per GB
  EXPECT_EQ(pages.current(), Size::kSmall);
  EXPECT_NEAR(pages.seconds_per_gb(Size::kSmall), 0.001 / (2.0 * kMiB) * 1e9, 1e-9);
  // Huge pages turn cheap (memory freed moments ago): a moving average, so it takes a few samples.
  pages.record(Size::kHuge, 2 * kMiB, 0.0001);
  EXPECT_EQ(pages.current(), Size::kSmall);
  pages.record(Size::kHuge, 2 * kMiB, 0.0001);
  pages.record(Size::kHuge, 2 * kMiB, 0.0001);
  EXPECT_EQ(pages.current(), Size::kHuge);
  EXPECT_EQ(pages.bytes_in(Size::kHuge), 14 * kMiB);
  EXPECT_EQ(pages.bytes_in(Size::kSmall), 2 * kMiB);
  // Within a fifth of each other nothing changes.
  FreshPagePopulator close;
  close.record(Size::kHuge, 8 * kMiB, 0.0100);
  close.record(Size::kSmall, 8 * kMiB, 0.0085);
  EXPECT_EQ(close.current(), Size::kHuge);
}

TEST(FreshPagePopulator, MapsEveryPageAndKeepsSmallPageSlicesOffHugePages) {
  if (thp_mode() != "madvise")
    GTEST_SKIP() << "transparent huge pages are '" << thp_mode() << "', not 'madvise'";
  using Size = FreshPagePopulator::PageSize;
  keep_freed_memory(false);  // fresh blocks, as in the tests above
  malloc_trim(0);
  const auto resident_bytes = [](const void* p, size_t bytes) {
    const size_t page = 4096;
    std::vector<unsigned char> in(bytes / page);
    EXPECT_EQ(mincore(const_cast<void*>(p), bytes, in.data()), 0);
    return static_cast<size_t>(
               std::count_if(in.begin(), in.end(), [](unsigned char c) { return (c & 1) != 0; })) *
           page;
  };
  // A column of 48 MiB: a sample in each page size, then chunks in the cheaper one (which depends
  // on the machine's state), with samples of the other in between.
  constexpr size_t kBytes = size_t{48} << 20;
  void* block = std::aligned_alloc(size_t{2} << 20, kBytes);
  ASSERT_NE(block, nullptr);
  advise_huge_pages_for_buffer(block, kBytes);  // what table::Buffer's allocator does
  FreshPagePopulator pages;
  pages.populate(block, kBytes, kBytes);
  EXPECT_EQ(resident_bytes(block, kBytes), kBytes) << "every page mapped without a write";
  EXPECT_EQ(pages.bytes_in(Size::kHuge) + pages.bytes_in(Size::kSmall), kBytes);
  EXPECT_GE(pages.bytes_in(Size::kHuge), FreshPagePopulator::kSampleBytes);
  EXPECT_GE(pages.bytes_in(Size::kSmall), FreshPagePopulator::kSampleBytes);
  EXPECT_GT(pages.seconds_per_gb(Size::kHuge), 0.0);
  EXPECT_GT(pages.seconds_per_gb(Size::kSmall), 0.0);
  const size_t huge = huge_bytes_in(block, kBytes);
  EXPECT_LE(huge, pages.bytes_in(Size::kHuge)) << "slices measured as 4 KiB pages stayed so";
  EXPECT_GT(huge, 0u);
  std::free(block);

  // Under the buffer rule's threshold nothing is measured; the pages are mapped all the same.
  constexpr size_t kSmallBlock = size_t{3} << 20;
  void* small = std::aligned_alloc(size_t{2} << 20, kSmallBlock);
  ASSERT_NE(small, nullptr);
  FreshPagePopulator untouched;
  untouched.populate(small, kSmallBlock, kSmallBlock);
  EXPECT_EQ(resident_bytes(small, kSmallBlock), kSmallBlock);
  EXPECT_EQ(untouched.bytes_in(Size::kHuge) + untouched.bytes_in(Size::kSmall), 0u);
  std::free(small);
}

TEST(FreshPagePopulator, LeavesTheValuesOfMemoryAlreadyWrittenAsTheyWere) {
  // The timed slices touch one byte of every page (memory.cpp touch_pages): a block reused from
  // the heap may hold values, and populate must not change any of them.
  constexpr size_t kBytes = size_t{24} << 20;
  auto* block = static_cast<unsigned char*>(std::aligned_alloc(size_t{2} << 20, kBytes));
  ASSERT_NE(block, nullptr);
  for (size_t i = 0; i < kBytes; ++i)
    block[i] = static_cast<unsigned char>(i * 7 + (i >> 12));
  FreshPagePopulator pages;
  pages.populate(block, kBytes, kBytes);
  size_t changed = 0;
  for (size_t i = 0; i < kBytes; ++i)
    changed += block[i] != static_cast<unsigned char>(i * 7 + (i >> 12)) ? 1 : 0;
  EXPECT_EQ(changed, 0u);
  EXPECT_EQ(pages.bytes_in(FreshPagePopulator::PageSize::kHuge) +
                pages.bytes_in(FreshPagePopulator::PageSize::kSmall),
            kBytes)
      << "the whole block went through the timed slices";
  std::free(block);
}
