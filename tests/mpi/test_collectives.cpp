// Typed collectives and agree(), at every rank count; expected values are formulas in comm.size().

#include <gtest/gtest.h>

#include <numeric>

#include "shardflow/mpi/allgatherv.hpp"
#include "shardflow/mpi/allreduce.hpp"
#include "shardflow/mpi/alltoallv.hpp"
#include "shardflow/mpi/bcast.hpp"
#include "shardflow/mpi/comm.hpp"
#include "shardflow/mpi/limits.hpp"

using namespace shardflow;

namespace {

// Restores the message limit even when an assertion fails.
struct MessageLimit {
  explicit MessageLimit(idx_t limit) { mpi::set_max_message_elements(limit); }
  ~MessageLimit() { mpi::set_max_message_elements(INT_MAX); }
};

}  // namespace

TEST(Collectives, AllreduceSumAndMax) {
  mpi::Comm comm;
  const idx_t p = comm.size();
  EXPECT_EQ(mpi::allreduce_sum<idx_t>(comm, comm.rank() + 1), p * (p + 1) / 2);
  EXPECT_EQ(mpi::allreduce_max<int>(comm, comm.rank()), comm.size() - 1);
  EXPECT_EQ(mpi::exscan_sum(comm, 2), 2 * comm.rank());
}

TEST(Collectives, AllreduceSplitsLargeMessages) {
  mpi::Comm comm;
  MessageLimit limit(7);
  std::vector<double> v(100);
  std::iota(v.begin(), v.end(), 0.0);
  mpi::allreduce_inplace(comm, std::span<double>(v), MPI_SUM);
  for (size_t i = 0; i < v.size(); ++i)
    EXPECT_EQ(v[i], static_cast<double>(i) * comm.size());
}

TEST(Collectives, BcastString) {
  mpi::Comm comm;
  std::string text = comm.is_root() ? std::string("hello from root") : std::string();
  mpi::bcast_string(comm, text, 0);
  EXPECT_EQ(text, "hello from root");
}

TEST(Collectives, AllgathervInRankOrder) {
  for (idx_t limit : {idx_t{INT_MAX}, idx_t{3}}) {
    mpi::Comm comm;
    MessageLimit guard(limit);
    std::vector<int> local(static_cast<size_t>(comm.rank()),
                           comm.rank());  // rank r sends r copies of r
    std::vector<idx_t> counts;
    auto all = mpi::allgatherv<int>(comm, local, &counts);
    std::vector<int> expected;
    for (int r = 0; r < comm.size(); ++r)
      expected.insert(expected.end(), static_cast<size_t>(r), r);
    EXPECT_EQ(all, expected);
    ASSERT_EQ(counts.size(), static_cast<size_t>(comm.size()));
    for (int r = 0; r < comm.size(); ++r)
      EXPECT_EQ(counts[static_cast<size_t>(r)], r);
  }
}

TEST(Collectives, AlltoallvDirectAndSplit) {
  for (idx_t limit : {idx_t{INT_MAX}, idx_t{2}}) {
    mpi::Comm comm;
    MessageLimit guard(limit);
    // Rank s sends (s + d + 1) copies of value 1000*s + d to rank d.
    std::vector<idx_t> send_counts;
    std::vector<std::int64_t> send;
    for (int d = 0; d < comm.size(); ++d) {
      send_counts.push_back(comm.rank() + d + 1);
      send.insert(send.end(), static_cast<size_t>(comm.rank() + d + 1), 1000 * comm.rank() + d);
    }
    std::vector<idx_t> recv_counts;
    auto recv = mpi::alltoallv<std::int64_t>(comm, send, send_counts, &recv_counts);
    std::vector<std::int64_t> expected;
    for (int s = 0; s < comm.size(); ++s) {
      EXPECT_EQ(recv_counts[static_cast<size_t>(s)], s + comm.rank() + 1);
      expected.insert(expected.end(), static_cast<size_t>(s + comm.rank() + 1),
                      1000 * s + comm.rank());
    }
    EXPECT_EQ(recv, expected);
  }
}

TEST(Agree, AllRanksThrowTheSameErrorNamingTheFailingRank) {
  mpi::Comm comm;
  const int failing = comm.size() - 1;
  try {
    comm.agree([&] {
      if (comm.rank() == failing) throw InputError("bad row in x.csv");
    });
    FAIL() << "agree did not throw";
  } catch (const InputError& e) {
    const std::string expected = comm.size() > 1
                                     ? "rank " + std::to_string(failing) + ": bad row in x.csv"
                                     : "bad row in x.csv";
    EXPECT_EQ(std::string(e.what()), expected);
  }
}

TEST(Agree, IdenticalFailureOnEveryRankIsReportedWithoutRank) {
  mpi::Comm comm;
  try {
    comm.agree([] { throw ConfigError("jobs/q.yaml:3:5: unknown key 'epcohs'"); });
    FAIL() << "agree did not throw";
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()), "jobs/q.yaml:3:5: unknown key 'epcohs'");
    EXPECT_TRUE(e.agreed());
  }
}

TEST(Agree, SucceedsWhenNoRankFails) {
  mpi::Comm comm;
  int ran = 0;
  EXPECT_NO_THROW(comm.agree([&] { ran = 1; }));
  EXPECT_EQ(mpi::allreduce_sum(comm, ran), comm.size());
}

TEST(Agree, CountsOtherFailingRanks) {
  mpi::Comm comm;
  try {
    comm.agree([&] { throw ConfigError("rank {} broke", comm.rank()); });
    FAIL() << "agree did not throw";
  } catch (const ConfigError& e) {
    std::string msg = e.what();
    if (comm.size() == 1) {
      EXPECT_EQ(msg, "rank 0 broke");
    } else {
      EXPECT_NE(msg.find("rank 0: rank 0 broke"), std::string::npos) << msg;
      EXPECT_NE(msg.find(std::to_string(comm.size() - 1) + " other rank"), std::string::npos)
          << msg;
    }
  }
}
