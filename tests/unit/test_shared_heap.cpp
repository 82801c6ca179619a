// The shared heap (common/shared_heap.hpp): blocks are page-aligned, usable, reused after free,
// their pages kept up to the retained limit and given back beyond it; column buffers come from
// it only inside a Scope and go back to it when freed.

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <vector>

#include "shardflow/common/shared_heap.hpp"
#include "shardflow/table/buffer.hpp"

namespace shardflow {
namespace {

class SharedHeap : public ::testing::Test {
 protected:
  void SetUp() override {
    const shared_heap::Identity id = shared_heap::identity();
    if (!id.ok) GTEST_SKIP() << "no shared heap here: " << id.failure;
    shared_heap::set_retained_bytes(std::size_t{64} << 20);
    shared_heap::set_used_limit(~std::size_t{0});
  }
  void TearDown() override {
    shared_heap::set_retained_bytes(std::size_t{64} << 20);
    shared_heap::set_used_limit(~std::size_t{0});
  }
};

TEST_F(SharedHeap, BlocksArePageAlignedDisjointAndReused) {
  const std::size_t before = shared_heap::used_bytes();
  void* a = shared_heap::allocate(10000);
  void* b = shared_heap::allocate(1);
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  EXPECT_TRUE(shared_heap::contains(a));
  EXPECT_TRUE(shared_heap::contains(b));
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(a) % 4096, 0u);
  EXPECT_EQ(shared_heap::used_bytes(), before + 12288 + 4096);
  // Writable end to end, and the blocks do not overlap.
  std::memset(a, 0xab, 10000);
  std::memset(b, 0xcd, 1);
  EXPECT_EQ(static_cast<unsigned char*>(a)[9999], 0xab);
  EXPECT_EQ(*static_cast<unsigned char*>(b), 0xcd);
  shared_heap::deallocate(a);
  EXPECT_EQ(shared_heap::used_bytes(), before + 4096);
  // A block of the same size comes back from the freed one, pages kept.
  void* c = shared_heap::allocate(12000);
  EXPECT_EQ(c, a);
  EXPECT_EQ(static_cast<unsigned char*>(c)[9999], 0xab);
  shared_heap::deallocate(b);
  shared_heap::deallocate(c);
  EXPECT_EQ(shared_heap::used_bytes(), before);
  EXPECT_FALSE(shared_heap::contains(&before));
}

TEST_F(SharedHeap, FreedPagesBeyondTheRetainedLimitGoBack) {
  shared_heap::set_retained_bytes(0);
  EXPECT_EQ(shared_heap::retained_bytes(), 0u);
  void* a = shared_heap::allocate(std::size_t{1} << 20);
  ASSERT_NE(a, nullptr);
  std::memset(a, 0x11, std::size_t{1} << 20);
  shared_heap::deallocate(a);
  EXPECT_EQ(shared_heap::retained_bytes(), 0u);
  // Released pages read back as zeros when the block is handed out again.
  void* b = shared_heap::allocate(std::size_t{1} << 20);
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(static_cast<unsigned char*>(b)[12345], 0);
  shared_heap::set_retained_bytes(std::size_t{8} << 20);
  shared_heap::deallocate(b);
  EXPECT_GE(shared_heap::retained_bytes(), std::size_t{1} << 20);
  // Lowering the limit gives retained pages back at once.
  shared_heap::set_retained_bytes(0);
  EXPECT_EQ(shared_heap::retained_bytes(), 0u);
}

TEST_F(SharedHeap, UsedLimitMakesAllocationsFail) {
  shared_heap::set_used_limit(shared_heap::used_bytes() + 8192);
  void* a = shared_heap::allocate(8192);
  EXPECT_NE(a, nullptr);
  EXPECT_EQ(shared_heap::allocate(1), nullptr);
  shared_heap::deallocate(a);
}

TEST_F(SharedHeap, ColumnBuffersComeFromItOnlyInsideAScope) {
  table::Buffer<double> outside(1000);
  EXPECT_FALSE(shared_heap::contains(outside.data()));
  const std::size_t before = shared_heap::used_bytes();
  {
    table::Buffer<double> inside;
    {
      shared_heap::Scope scope;
      inside.resize(100000);
    }
    EXPECT_TRUE(shared_heap::contains(inside.data()));
    EXPECT_GE(shared_heap::used_bytes(), before + 800000);
    inside[99999] = 1.5;
    // Growing outside the scope moves it to the normal heap and frees the shared block.
    inside.resize(300000);
    EXPECT_FALSE(shared_heap::contains(inside.data()));
    EXPECT_EQ(inside[99999], 1.5);
    EXPECT_EQ(shared_heap::used_bytes(), before);
    table::Buffer<double> copy;
    {
      shared_heap::Scope scope;
      copy = table::Buffer<double>(5000, 2.0);
    }
    EXPECT_TRUE(shared_heap::contains(copy.data()));
  }
  EXPECT_EQ(shared_heap::used_bytes(), before);
}

TEST_F(SharedHeap, WhenFullBuffersFallBackToTheNormalHeap) {
  shared_heap::set_used_limit(shared_heap::used_bytes());
  shared_heap::Scope scope;
  table::Buffer<std::int64_t> v(50000);
  EXPECT_FALSE(shared_heap::contains(v.data()));
  v[49999] = 7;
  EXPECT_EQ(v[49999], 7);
}

}  // namespace
}  // namespace shardflow
