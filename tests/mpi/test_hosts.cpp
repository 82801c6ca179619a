// Which host each rank runs on, and the shuffle's byte accounting by destination and transport
// (all ranks of a test run share this host; tests/multihost runs the same across two hosts).

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "shardflow/mpi/comm.hpp"
#include "shardflow/mpi/hosts.hpp"
#include "shardflow/ops/shuffle.hpp"
#include "shardflow/table/table.hpp"

using namespace shardflow;
using table::Column;
using table::DataType;
using table::Table;

TEST(Hosts, OneHostIsHostZeroForEveryRank) {
  mpi::Comm comm;
  EXPECT_EQ(mpi::hosts(comm), std::vector<int>(static_cast<size_t>(comm.size()), 0));
  // On a sub-communicator too (ranks numbered within it).
  MPI_Comm split = MPI_COMM_NULL;
  MPI_Comm_split(comm.native(), comm.rank() % 2, comm.rank(), &split);
  {
    mpi::Comm sub(split);
    EXPECT_EQ(mpi::hosts(sub), std::vector<int>(static_cast<size_t>(sub.size()), 0));
  }
  MPI_Comm_free(&split);
}

// Every rank sends k = rank + 1 rows to every other rank: an int64 column (8 bytes), a float64
// column with nulls (8 + 1), and, if `strings`, a plain string column of 3 characters per row
// (8-byte length + 3). The counters must grow by exactly those bytes, under the transport used.
void expect_accounted(bool shared_memory, bool strings) {
  SCOPED_TRACE(::testing::Message() << "shared_memory " << shared_memory << " strings " << strings);
  mpi::Comm comm;
  const int p = comm.size();
  const idx_t k = comm.rank() + 1;
  Table in;
  Column id(DataType::kInt64);
  Column x(DataType::kFloat64);
  Column s = Column::plain_strings();
  std::vector<int> dest;
  for (int d = 0; d < p; ++d) {
    for (idx_t i = 0; i < k; ++i) {
      id.values<std::int64_t>().push_back(i);
      x.values<double>().push_back(0.5);
      s.plain().push_back("abc");
      dest.push_back(d);
    }
  }
  x.validity().assign(dest.size(), 1);
  x.validity()[0] = 0;
  in.add_column("id", std::move(id));
  in.add_column("x", std::move(x));
  if (strings) in.add_column("s", std::move(s));
  const auto before = ops::detail::transport_bytes();
  (void)ops::shuffle_to(comm, in, dest,
                        ops::ShuffleOptions{.on_node_shared_memory = shared_memory});
  const auto after = ops::detail::transport_bytes();
  const idx_t expected = (p - 1) * k * (8 + 9 + (strings ? 8 + 3 : 0));
  EXPECT_EQ(after.other_hosts_mpi - before.other_hosts_mpi, 0);
  // Plain strings (the segment path) go through the exchange as well.
  const bool via_shared = shared_memory;
  EXPECT_EQ(after.this_host_shared_memory - before.this_host_shared_memory,
            via_shared ? expected : 0);
  EXPECT_EQ(after.this_host_mpi - before.this_host_mpi, via_shared ? 0 : expected);
}

TEST(Hosts, ShuffleCountsItsBytesByTransport) {
  for (bool shared_memory : {true, false})
    for (bool strings : {false, true})
      expect_accounted(shared_memory, strings);
}
