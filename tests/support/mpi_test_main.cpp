// gtest main for tests/mpi: initializes MPI, runs every test on every rank, and gathers failures so
// that rank 0 prints one summary naming the ranks that failed. All ranks exit non-zero if any
// rank failed. Ranks other than 0 print only their failures.

#include <gtest/gtest.h>
#include <mpi.h>

#include <cstdio>
#include <string>

#include "shardflow/common/logging.hpp"
#include "shardflow/mpi/environment.hpp"

namespace {

class RankFailurePrinter : public testing::EmptyTestEventListener {
 public:
  explicit RankFailurePrinter(int rank) : rank_(rank) {}
  void OnTestPartResult(const testing::TestPartResult& result) override {
    if (!result.failed()) return;
    std::fprintf(stderr, "[rank %d] FAILURE %s:%d\n%s\n", rank_,
                 result.file_name() ? result.file_name() : "?", result.line_number(),
                 result.summary());
  }

 private:
  int rank_;
};

}  // namespace

int main(int argc, char** argv) {
  shardflow::mpi::Environment env(&argc, &argv);
  testing::InitGoogleTest(&argc, argv);
  int rank = 0, size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  shardflow::setup_logging(rank, size, {.level = "warn", .all_ranks = false});

  auto& listeners = testing::UnitTest::GetInstance()->listeners();
  if (rank != 0) {
    delete listeners.Release(listeners.default_result_printer());
    listeners.Append(new RankFailurePrinter(rank));
  }
  const int local = RUN_ALL_TESTS();
  int failed_ranks = 0;
  const int mine = local != 0 ? 1 : 0;
  MPI_Allreduce(&mine, &failed_ranks, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
  if (rank == 0) {
    std::printf("[mpi] %d rank(s), %d with failures\n", size, failed_ranks);
    std::fflush(stdout);
  }
  return failed_ranks == 0 ? 0 : 1;
}
