#include "shardflow/mpi/environment.hpp"

#include <mpi.h>

#include <cstdlib>

#include "shardflow/common/error.hpp"
#include "shardflow/mpi/op.hpp"

namespace shardflow::mpi {

Environment::Environment(int* argc, char*** argv) {
  if (initialized()) return;
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
