// The exchange transports (mpi/exchange.hpp) without any table logic: random region layouts
// with gaps, empty regions and every element width, through MPI and through on-node shared
// memory, and the hybrid of the two (tests/multihost/test_two_hosts.sh runs this test across two
// hosts), checked element by element against what the senders wrote.

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "shardflow/mpi/allgatherv.hpp"
#include "shardflow/mpi/comm.hpp"
#include "shardflow/mpi/exchange.hpp"

using namespace shardflow;

namespace {

// The value rank `s` sends as element `i` of its region for rank `d`, truncated to the width.
std::uint64_t payload(int s, int d, idx_t i) {
  return (static_cast<std::uint64_t>(s) << 48) ^ (static_cast<std::uint64_t>(d) << 32) ^
         static_cast<std::uint64_t>(i * 2654435761u + 17);
}

template <typename T>
void run_case(const mpi::Comm& comm, bool shared_memory, std::uint64_t seed, idx_t max_count) {
  const int p = comm.size();
  const int me = comm.rank();
  const auto up = static_cast<size_t>(p);
  // counts[s*p + d]: elements rank s sends rank d (0 to itself), the same table on every rank.
  std::mt19937_64 rng(seed);
  std::vector<idx_t> counts(up * up);
  for (size_t s = 0; s < up; ++s)
    for (size_t d = 0; d < up; ++d)
      counts[s * up + d] =
          s == d || rng() % 5 == 0
              ? 0
              : static_cast<idx_t>(rng() % static_cast<std::uint64_t>(max_count + 1));
  // Sender layout: regions in rank order, each followed by a gap of (s + d) % 3 elements.
  auto send_displs_of = [&](int s) {
    std::vector<idx_t> displs(up);
    idx_t at = 0;
    for (size_t d = 0; d < up; ++d) {
      displs[d] = at;
      at += counts[static_cast<size_t>(s) * up + d] +
            (static_cast<idx_t>(s) + static_cast<idx_t>(d)) % 3;
    }
    return displs;
  };
  idx_t area = 0;
  for (int s = 0; s < p; ++s) {
    const auto displs = send_displs_of(s);
    area = std::max(area, displs.back() + counts[static_cast<size_t>(s) * up + up - 1] + 3);
  }
  mpi::Exchange exchange(comm, area * static_cast<idx_t>(sizeof(T)), shared_memory);
  // The transport follows the topology: shared memory where all ranks share a host, hybrid
  // where they span hosts and some share one, MPI otherwise or when shared memory is off.
  const std::vector<int>& hosts = comm.hosts();
  const int host_count = *std::max_element(hosts.begin(), hosts.end()) + 1;
  mpi::ExchangeTransport expected = mpi::ExchangeTransport::kMpi;
  if (shared_memory && host_count == 1 && p > 1) expected = mpi::ExchangeTransport::kSharedMemory;
  if (shared_memory && host_count > 1 && host_count < p) expected = mpi::ExchangeTransport::kHybrid;
  EXPECT_EQ(exchange.transport(), expected) << mpi::to_string(exchange.transport());
  for (int r = 0; r < p; ++r) {
    EXPECT_EQ(exchange.through_shared_memory(r),
              expected != mpi::ExchangeTransport::kMpi && r != me &&
                  hosts[static_cast<size_t>(r)] == hosts[static_cast<size_t>(me)])
        << "rank " << r;
  }
  const std::vector<idx_t> send_displs = send_displs_of(me);
  std::vector<idx_t> send_counts(up), recv_counts(up), recv_displs(up), peer_displs(up);
  T* send = reinterpret_cast<T*>(exchange.send_area());
  for (size_t d = 0; d < up; ++d) {
    send_counts[d] = counts[static_cast<size_t>(me) * up + d];
    for (idx_t i = 0; i < send_counts[d]; ++i)
      send[send_displs[d] + i] = static_cast<T>(payload(me, static_cast<int>(d), i));
  }
  // Receiver layout: sources in reverse rank order with a one-element gap before each, so that
  // displacements are not simply ascending.
  idx_t at = 0;
  for (int s = p - 1; s >= 0; --s) {
    const auto us = static_cast<size_t>(s);
    at += 1;
    recv_displs[us] = at;
    recv_counts[us] = counts[us * up + static_cast<size_t>(me)];
    peer_displs[us] = send_displs_of(s)[static_cast<size_t>(me)];
    at += recv_counts[us];
  }
  const T sentinel = static_cast<T>(0x5a5a5a5a5a5a5a5aull);
  std::vector<T> recv(static_cast<size_t>(at + 1), sentinel);
  exchange.exchange(static_cast<int>(sizeof(T)), send_counts, send_displs, recv.data(), recv_counts,
                    recv_displs, peer_displs);
  for (int s = 0; s < p; ++s) {
    const auto us = static_cast<size_t>(s);
    EXPECT_EQ(recv[static_cast<size_t>(recv_displs[us] - 1)], sentinel)
        << "gap before source " << s;
    for (idx_t i = 0; i < recv_counts[us]; ++i) {
      ASSERT_EQ(recv[static_cast<size_t>(recv_displs[us] + i)], static_cast<T>(payload(s, me, i)))
          << "element " << i << " from rank " << s;
    }
  }
  EXPECT_EQ(recv.back(), sentinel);
}

}  // namespace

TEST(Exchange, RandomLayoutsArriveIntactThroughEveryTransportAndWidth) {
  mpi::Comm comm;
  for (bool shared_memory : {false, true}) {
    for (std::uint64_t seed = 1; seed <= 6; ++seed) {
      SCOPED_TRACE(::testing::Message() << "shared_memory " << shared_memory << " seed " << seed);
      const idx_t max_count = seed % 3 == 0 ? 0 : (seed % 3 == 1 ? 7 : 5000);
      run_case<std::uint8_t>(comm, shared_memory, seed, max_count);
      run_case<std::uint16_t>(comm, shared_memory, seed + 100, max_count);
      run_case<std::uint32_t>(comm, shared_memory, seed + 200, max_count);
      run_case<std::uint64_t>(comm, shared_memory, seed + 300, max_count);
    }
  }
}

TEST(Exchange, ReusesTheSendAreaAcrossCalls) {
  // Two exchanges back to back on one Exchange: the second must not see the first's data, and a
  // rank must not overwrite its area while a peer still reads it.
  mpi::Comm comm;
  for (bool shared_memory : {false, true}) {
    for (int call = 0; call < 20; ++call)
      run_case<std::uint64_t>(comm, shared_memory, 1000 + static_cast<std::uint64_t>(call), 300);
  }
}

TEST(Exchange, RefusesAnUnsupportedWidth) {
  mpi::Comm comm;
  mpi::Exchange exchange(comm, 64, false);
  const std::vector<idx_t> zeros(static_cast<size_t>(comm.size()), 0);
  EXPECT_THROW(exchange.exchange(3, zeros, zeros, nullptr, zeros, zeros, zeros), RuntimeError);
}
