#include "shardflow/mpi/environment.hpp"

#include <mpi.h>

#include <cstdlib>

#include "shardflow/common/error.hpp"
#include "shardflow/mpi/op.hpp"

namespace shardflow::mpi {

namespace {

// True when a launcher (mpirun / orterun, srun --mpi=pmix, another PMI) started this process:
// each of them sets one of these variables in its ranks' environment.
bool launched_by_a_launcher() {
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE"})
    if (std::getenv(name) != nullptr) return true;
  return false;
}

}  // namespace

Environment::Environment(int* argc, char*** argv) {
  if (initialized()) return;
  // A process started without a launcher is an MPI singleton, and Open MPI starts a daemon
  // (orted) for it by default so that it could spawn processes later: 0.45 s of every
  // `shardflow validate`, `--help` or single-process run, against 0.28 s without (measured with
  // `shardflow --version`). shardflow never spawns, so the singleton runs isolated unless the
  // user set the parameter.
  if (!launched_by_a_launcher()) setenv("OMPI_MCA_ess_singleton_isolated", "1", 0);
  int provided = 0;
  if (MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) {
    throw RuntimeError("MPI_Init_thread failed: check the MPI installation (mpirun --version)");
  }
  owns_ = true;
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
}

Environment::~Environment() {
  if (owns_ && !finalized()) {
    // User-defined ops and their datatypes must be freed while MPI still runs; the Op objects
    // themselves often are statics that outlive this.
    detail::release_user_ops();
    MPI_Finalize();
  }
}

bool Environment::initialized() {
  int flag = 0;
  MPI_Initialized(&flag);
  return flag != 0;
}

bool Environment::finalized() {
  int flag = 0;
  MPI_Finalized(&flag);
  return flag != 0;
}

int world_rank() {
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  return rank;
}

int world_size() {
  int size = 1;
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  return size;
}

void abort_world(int exit_code) {
  MPI_Abort(MPI_COMM_WORLD, exit_code);
  std::_Exit(exit_code);  // MPI_Abort should not return; make sure of it
}

}  // namespace shardflow::mpi
