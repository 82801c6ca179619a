// keep_freed_memory (common/memory.hpp): with it, a large block comes from the heap and stays
// there when freed (the next large allocation reuses mapped pages); without it, glibc maps large
// blocks fresh and unmaps them on free. Checked through glibc's own accounting (mallinfo2).

#include <gtest/gtest.h>
#include <malloc.h>

#include <cstdlib>
#include <cstring>

#include "shardflow/common/memory.hpp"

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
