// mpi::Environment: how MPI starts in this process (tests/support/mpi_test_main.cpp constructs
// the Environment before any test runs).

#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include "shardflow/mpi/environment.hpp"

namespace shardflow {
namespace {

// Started without a launcher, the process is an Open MPI singleton, which runs isolated (no orted
// daemon: 0.28 s instead of 0.45 s for `shardflow --version`) unless the user chose otherwise.
TEST(MpiEnvironment, ASingletonRunsIsolated) {
  ASSERT_TRUE(mpi::Environment::initialized());
  for (const char* launcher : {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE"}) {
    if (std::getenv(launcher) != nullptr)
      GTEST_SKIP() << "started by a launcher (" << launcher << " is set)";
  }
  const char* isolated = std::getenv("OMPI_MCA_ess_singleton_isolated");
  ASSERT_NE(isolated, nullptr);
  EXPECT_EQ(std::string(isolated), "1");
  EXPECT_EQ(mpi::world_size(), 1);
}

}  // namespace
}  // namespace shardflow
