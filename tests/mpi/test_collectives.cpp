// Typed collectives, reductions (built-in and mpi::Op), MPI-IO files and agree(), at every rank
// count; expected values are formulas in comm.size().

#include <gtest/gtest.h>

#include <cstdint>
#include <numeric>
#include <string>

#include "shardflow/mpi/allgatherv.hpp"
#include "shardflow/mpi/allreduce.hpp"
#include "shardflow/mpi/alltoallv.hpp"
#include "shardflow/mpi/bcast.hpp"
#include "shardflow/mpi/comm.hpp"
#include "shardflow/mpi/environment.hpp"
#include "shardflow/mpi/file.hpp"
#include "shardflow/mpi/limits.hpp"
#include "shardflow/mpi/op.hpp"
#include "support/test_util.hpp"

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
  mpi::allreduce_inplace(comm, std::span<double>(v), mpi::Reduce::kSum);
  for (size_t i = 0; i < v.size(); ++i)
    EXPECT_EQ(v[i], static_cast<double>(i) * comm.size());
}

TEST(Collectives, BuiltinReductions) {
  mpi::Comm comm;
  const int p = comm.size();
  const int r = comm.rank();
  EXPECT_EQ(mpi::allreduce(comm, 10 - r, mpi::Reduce::kMin), 11 - p);
  EXPECT_EQ(mpi::allreduce(comm, 10 - r, mpi::Reduce::kMax), 10);
  EXPECT_EQ(mpi::allreduce(comm, 1.5 * r, mpi::Reduce::kSum), 1.5 * p * (p - 1) / 2);
  // Rank r sets bit r: all p low bits end up set.
  EXPECT_EQ(mpi::allreduce<std::int32_t>(comm, 1 << r, mpi::Reduce::kBitOr), (1 << p) - 1);
  EXPECT_EQ(mpi::world_size(), p);
  EXPECT_EQ(mpi::world_rank(), r);
}

namespace {

// A struct reduction: count, sum, min, max and the lowest rank holding the max. Commutative.
struct Stats {
  std::int64_t count = 0;
  double sum = 0;
  double min = 0;
  double max = 0;
  std::int32_t max_rank = 0;
};

Stats merge(const Stats& a, const Stats& b) {
  Stats out;
  out.count = a.count + b.count;
  out.sum = a.sum + b.sum;
  out.min = std::min(a.min, b.min);
  out.max = std::max(a.max, b.max);
  // Ties go to the lower rank, so the result does not depend on the combining order.
  out.max_rank = a.max > b.max   ? a.max_rank
                 : b.max > a.max ? b.max_rank
                                 : std::min(a.max_rank, b.max_rank);
  return out;
}

const mpi::Op<Stats> kStats([](const Stats& a, const Stats& b) { return merge(a, b); },
                            /*commutative=*/true);

// Affine maps x -> a*x + b composed in rank order ("left, then right"): associative but not
// commutative, so the result shows the order MPI combined in.
struct Affine {
  std::int64_t a = 1;
  std::int64_t b = 0;
};

}  // namespace

TEST(Collectives, UserOpOnAStruct) {
  mpi::Comm comm;
  const std::int64_t p = comm.size();
  const int r = comm.rank();
  const Stats mine{.count = r + 1,
                   .sum = static_cast<double>((r + 1) * (r + 1)),
                   .min = 10.0 - r,
                   .max = static_cast<double>(r),
                   .max_rank = r};
  const Stats all = mpi::allreduce(comm, mine, kStats);
  EXPECT_EQ(all.count, p * (p + 1) / 2);
  EXPECT_EQ(all.sum, static_cast<double>(p * (p + 1) * (2 * p + 1) / 6));
  EXPECT_EQ(all.min, 11.0 - static_cast<double>(p));
  EXPECT_EQ(all.max, static_cast<double>(p - 1));
  EXPECT_EQ(all.max_rank, p - 1);

  // Every rank holds the same max: the lowest rank wins.
  const Stats tie = mpi::allreduce(comm, Stats{.count = 1, .max = 5.0, .max_rank = r}, kStats);
  EXPECT_EQ(tie.count, p);
  EXPECT_EQ(tie.max_rank, 0);
}

TEST(Collectives, UserOpSplitsLargeMessages) {
  mpi::Comm comm;
  MessageLimit limit(7);
  const std::int64_t p = comm.size();
  const int r = comm.rank();
  std::vector<Stats> v(100);
  for (size_t i = 0; i < v.size(); ++i) {
    const double x = static_cast<double>(i);
    v[i] = Stats{.count = 1, .sum = x + r, .min = x - r, .max = x + r, .max_rank = r};
  }
  mpi::allreduce_inplace(comm, std::span<Stats>(v), kStats);
  for (size_t i = 0; i < v.size(); ++i) {
    const double x = static_cast<double>(i);
    EXPECT_EQ(v[i].count, p);
    EXPECT_EQ(v[i].sum, static_cast<double>(p) * x + static_cast<double>(p * (p - 1) / 2));
    EXPECT_EQ(v[i].min, x - static_cast<double>(p - 1));
    EXPECT_EQ(v[i].max, x + static_cast<double>(p - 1));
    EXPECT_EQ(v[i].max_rank, p - 1);
  }
}

TEST(Collectives, NonCommutativeUserOpCombinesInRankOrder) {
  mpi::Comm comm;
  const std::int64_t p = comm.size();
  // A local Op: created on first use, freed when it goes out of scope (MPI still running).
  const mpi::Op<Affine> compose(
      [](const Affine& first, const Affine& then) {
        return Affine{then.a * first.a, then.a * first.b + then.b};
      },
      /*commutative=*/false);
  // Rank r: x -> 2x + (r + 1). In rank order the composition is x -> 2^p x + sum_r (r+1) 2^(p-1-r)
  // = 2^p x + 2^(p+1) - p - 2; in reverse order b would be sum_r (r+1) 2^r instead.
  std::vector<Affine> v(3, Affine{2, comm.rank() + 1});
  v[1].b *= 3;  // element-wise: the second element's b is 3 times the first's
  mpi::allreduce_inplace(comm, std::span<Affine>(v), compose);
  EXPECT_EQ(v[0].a, std::int64_t{1} << p);
  EXPECT_EQ(v[0].b, (std::int64_t{1} << (p + 1)) - p - 2);
  EXPECT_EQ(v[1].b, 3 * ((std::int64_t{1} << (p + 1)) - p - 2));
  EXPECT_EQ(v[2].b, v[0].b);
}

TEST(Collectives, AllgatherBlocksInRankOrder) {
  mpi::Comm comm;
  const idx_t r = comm.rank();
  const std::vector<idx_t> block = {r, 10 * r, 100 * r};
  const std::vector<idx_t> all = mpi::allgather_blocks(comm, std::span<const idx_t>(block));
  ASSERT_EQ(all.size(), 3 * static_cast<size_t>(comm.size()));
  for (idx_t s = 0; s < comm.size(); ++s) {
    EXPECT_EQ(all[static_cast<size_t>(3 * s)], s);
    EXPECT_EQ(all[static_cast<size_t>(3 * s + 1)], 10 * s);
    EXPECT_EQ(all[static_cast<size_t>(3 * s + 2)], 100 * s);
  }
}

TEST(Collectives, AlltoallvWithCallerLayout) {
  mpi::Comm comm;
  const int p = comm.size();
  const int me = comm.rank();
  const auto up = static_cast<size_t>(p);
  // Rank s sends (d + 1) copies of 100*s + d to rank d. The send regions lie in reverse rank
  // order with a one-element gap after each; the receive regions too, so that neither layout is
  // the packed one.
  std::vector<idx_t> sc(up), sd(up), rc(up), rd(up);
  idx_t send_at = 0, recv_at = 0;
  for (int d = p - 1; d >= 0; --d) {
    const auto ud = static_cast<size_t>(d);
    sc[ud] = d + 1;
    sd[ud] = send_at;
    send_at += sc[ud] + 1;
    rc[ud] = me + 1;  // what rank d sends here
    rd[ud] = recv_at;
    recv_at += rc[ud] + 1;
  }
  std::vector<std::int32_t> send(static_cast<size_t>(send_at), -1);
  for (int d = 0; d < p; ++d)
    for (idx_t k = 0; k < sc[static_cast<size_t>(d)]; ++k)
      send[static_cast<size_t>(sd[static_cast<size_t>(d)] + k)] = 100 * me + d;
  std::vector<std::int32_t> recv(static_cast<size_t>(recv_at), -7);
  mpi::alltoallv_displaced(comm, send.data(), sc, sd, recv.data(), rc, rd);
  for (int s = 0; s < p; ++s) {
    const auto us = static_cast<size_t>(s);
    for (idx_t k = 0; k < rc[us]; ++k)
      EXPECT_EQ(recv[static_cast<size_t>(rd[us] + k)], 100 * s + me);
    EXPECT_EQ(recv[static_cast<size_t>(rd[us] + rc[us])], -7);  // the gap is untouched
  }
}

TEST(Collectives, FileWritesEveryRanksBlockAtItsOffset) {
  mpi::Comm comm;
  testing_util::TempDir dir(comm);
  const std::string path = (dir.path() / "blocks.txt").string();
  // Rank r writes r + 1 copies of the letter 'a' + r after the blocks of the ranks before it, in
  // two collective calls: the first letter, then the rest (nothing on rank 0).
  const int r = comm.rank();
  const std::string block(static_cast<size_t>(r + 1), static_cast<char>('a' + r));
  const idx_t offset = static_cast<idx_t>(r) * (r + 1) / 2;
  {
    mpi::File file = mpi::File::create(comm, path);
    file.write_at_all(offset, std::span<const char>(block.data(), 1));
    file.write_at_all(offset + 1, std::span<const char>(block.data() + 1, block.size() - 1));
    file.close();
  }
  comm.barrier();
  std::string expected;
  for (int s = 0; s < comm.size(); ++s)
    expected.append(static_cast<size_t>(s + 1), static_cast<char>('a' + s));
  EXPECT_EQ(testing_util::read_file(path), expected);
}

TEST(Collectives, FileCreateFailsOnEveryRankAlike) {
  mpi::Comm comm;
  testing_util::TempDir dir(comm);
  const std::string path = (dir.path() / "no-such-dir" / "x.txt").string();
  try {
    mpi::File file = mpi::File::create(comm, path);
    ADD_FAILURE() << "no exception";
  } catch (const RuntimeError& e) {
    EXPECT_TRUE(e.agreed());
    EXPECT_NE(std::string(e.what()).find("cannot create '" + path + "'"), std::string::npos)
        << e.what();
  }
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
