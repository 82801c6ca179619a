#pragma once
// MPI lifetime. One `Environment` lives in `main` (or the test main). It works both under
// `mpirun`/`srun` and as a plain process (Open MPI's singleton mode), where the world has one rank.

namespace shardflow::mpi {

class Environment {
 public:
  /// Initializes MPI (MPI_THREAD_FUNNELED) unless already initialized; installs MPI_ERRORS_RETURN
  /// on MPI_COMM_WORLD so that MPI failures become exceptions instead of silent aborts. A process
  /// that no launcher started (a singleton) gets OMPI_MCA_ess_singleton_isolated=1 in its
  /// environment first, unless it is set already: Open MPI then starts no daemon for it.
  Environment(int* argc, char*** argv);
  /// Frees the handles of every mpi::Op (op.hpp) and finalizes MPI, if this object initialized it.
  ~Environment();
  Environment(const Environment&) = delete;
  Environment& operator=(const Environment&) = delete;

  static bool initialized();
  static bool finalized();

 private:
  bool owns_ = false;
};

/// Local: this process's rank in the world (all processes of the job). MPI must be running.
int world_rank();
/// Local: the number of processes in the world. MPI must be running.
int world_size();
/// Ends the whole job (MPI_Abort on the world) with `exit_code`; for an error only this rank
/// knows about, after it has been reported. Does not return.
[[noreturn]] void abort_world(int exit_code);

}  // namespace shardflow::mpi
