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
/// "SIGTERM", "SIGINT", "SIGUSR1", or "signal N".
std::string signal_name(int signal);
/// Clears the flag (tests).
void reset_stop_signal();

}  // namespace shardflow::pipeline
