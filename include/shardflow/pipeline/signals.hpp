#pragma once

#include <string>
// Graceful stop on SIGTERM/SIGINT/SIGUSR1 (Slurm preemption, scancel, Ctrl-C). The handler only
// sets a flag; the trainer polls it after every step, agrees across ranks, writes a checkpoint and
// the job exits with code 75 so Slurm can requeue it.

namespace shardflow::pipeline {

class SignalGuard {
 public:
  /// Installs the handlers; the previous ones are restored on destruction.
  SignalGuard();
  ~SignalGuard();
  SignalGuard(const SignalGuard&) = delete;
  SignalGuard& operator=(const SignalGuard&) = delete;
};

/// True once a stop signal arrived in this process.
bool stop_signal_received();
/// The signal number that arrived (0 if none).
int received_signal();
/// True if the stop signal is a SIGTERM sent by this process's parent and that parent is Open
/// MPI's launcher (mpirun, or orted on another host): Open MPI 4's mpirun tears a job down that
/// way (SIGCONT, then SIGTERM after odls_base_sigkill_timeout seconds, SIGKILL after as many
/// again) when it receives SIGINT, SIGTERM or SIGHUP itself, and then exits 1 whatever the ranks
/// return. Signals it forwards (SIGUSR1, SIGUSR2) do not count.
bool stop_signal_from_open_mpi_launcher();
/// "SIGTERM", "SIGINT", "SIGUSR1", or "signal N".
std::string signal_name(int signal);
/// Clears the flag (tests).
void reset_stop_signal();

}  // namespace shardflow::pipeline
