#pragma once
// MPI lifetime. One `Environment` lives in `main` (or the test main). It works both under
// `mpirun`/`srun` and as a plain process (Open MPI's singleton mode), where the world has one rank.

namespace shardflow::mpi {

class Environment {
 public:
  /// Initializes MPI (MPI_THREAD_FUNNELED) unless already initialized; installs MPI_ERRORS_RETURN
  /// on MPI_COMM_WORLD so that MPI failures become exceptions instead of silent aborts.
  Environment(int* argc, char*** argv);
  /// Finalizes MPI if this object initialized it.
  ~Environment();
  Environment(const Environment&) = delete;
  Environment& operator=(const Environment&) = delete;

  static bool initialized();
  static bool finalized();

 private:
  bool owns_ = false;
};

}  // namespace shardflow::mpi
