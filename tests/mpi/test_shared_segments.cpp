// On-node staging segments at every rank count (all ranks of a test run share this host): every
// rank sees every peer's writes after a barrier, the communicator caches and grows them, and a
// bad size is refused.

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <vector>

#include "shardflow/mpi/comm.hpp"
#include "shardflow/mpi/shared_segments.hpp"

using namespace shardflow;

namespace {

std::uint64_t pattern(int rank, idx_t i) {
  return (static_cast<std::uint64_t>(rank) << 40) ^
         (static_cast<std::uint64_t>(i) * 0x9e3779b97f4a7c15ULL);
}

// Fills this rank's segment with its pattern, then checks every rank's.
void expect_every_segment_readable(const mpi::Comm& comm, const mpi::SharedSegments& s) {
  const idx_t words = s.bytes() / 8;
  auto* mine = reinterpret_cast<std::uint64_t*>(s.mine());
  for (idx_t i = 0; i < words; ++i)
    mine[i] = pattern(comm.rank(), i);
  comm.barrier();
  for (int r = 0; r < comm.size(); ++r) {
    const auto* theirs = reinterpret_cast<const std::uint64_t*>(s.of(r));
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(theirs) % 64, 0u);
    idx_t wrong = 0;
    for (idx_t i = 0; i < words; ++i)
      wrong += theirs[i] != pattern(r, i) ? 1 : 0;
    EXPECT_EQ(wrong, 0) << "words of rank " << r << "'s segment read wrong on rank " << comm.rank();
  }
  comm.barrier();  // nobody rewrites a segment while a peer still reads it
}

}  // namespace

TEST(SharedSegments, EveryRankReadsEveryPeersSegment) {
  mpi::Comm comm;
  std::string why;
  const auto s = mpi::SharedSegments::create(comm, 3 * 4096 + 8, &why);
  ASSERT_NE(s, nullptr) << why;
  EXPECT_TRUE(why.empty());
  EXPECT_GE(s->bytes(), 3 * 4096 + 8);
  EXPECT_EQ(s->of(comm.rank()), s->mine());
  expect_every_segment_readable(comm, *s);
}

TEST(SharedSegments, CommCachesAndGrowsItsStaging) {
  mpi::Comm comm;
  mpi::SharedSegments* first = comm.staging_segments(1 << 12);
  ASSERT_NE(first, nullptr);
  const idx_t first_bytes = first->bytes();
  // A smaller or equal request reuses the segments.
  EXPECT_EQ(comm.staging_segments(1 << 10), first);
  EXPECT_EQ(comm.staging_segments(first_bytes)->bytes(), first_bytes);
  // A larger one grows them at least geometrically; the new ones work.
  mpi::SharedSegments* grown = comm.staging_segments(first_bytes + 1);
  ASSERT_NE(grown, nullptr);
  EXPECT_GE(grown->bytes(), 2 * first_bytes);
  expect_every_segment_readable(comm, *grown);
  // A moved communicator keeps them.
  mpi::Comm moved = std::move(comm);
  EXPECT_EQ(moved.staging_segments(first_bytes), grown);
}

TEST(SharedSegments, NonPositiveSizeIsRefused) {
  mpi::Comm comm;
  EXPECT_THROW(mpi::SharedSegments::create(comm, 0), RuntimeError);
}
