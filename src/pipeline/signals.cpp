#include "shardflow/pipeline/signals.hpp"

#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdlib>

namespace shardflow::pipeline {
namespace {

// Only lock-free atomics may be touched from a signal handler.
std::atomic<int> g_signal{0};
std::atomic<pid_t> g_sender{0};
static_assert(std::atomic<int>::is_always_lock_free);
static_assert(std::atomic<pid_t>::is_always_lock_free);

constexpr int kSignals[] = {SIGTERM, SIGINT, SIGUSR1};
struct sigaction g_previous[3];

extern "C" void on_stop_signal(int signal, siginfo_t* info, void*) {
  // The sender first, so that whoever sees the signal also sees where it came from.
  g_sender.store(info != nullptr && info->si_code == SI_USER ? info->si_pid : 0);
  g_signal.store(signal);
}

}  // namespace

SignalGuard::SignalGuard() {
  struct sigaction action {};
  action.sa_sigaction = on_stop_signal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART | SA_SIGINFO;
  for (int i = 0; i < 3; ++i)
    sigaction(kSignals[i], &action, &g_previous[i]);
}

SignalGuard::~SignalGuard() {
  for (int i = 0; i < 3; ++i)
    sigaction(kSignals[i], &g_previous[i], nullptr);
}

bool stop_signal_received() {
  return g_signal.load() != 0;
}
int received_signal() {
  return g_signal.load();
}
bool stop_signal_from_open_mpi_launcher() {
  // ORTE (mpirun/orted of Open MPI 4) sets OMPI_MCA_orte_launch in every process it starts, and
  // the ranks on a host are children of that host's mpirun or orted. It forwards SIGUSR1/SIGUSR2
  // as they are; a SIGTERM from it is its teardown of the job.
  const pid_t sender = g_sender.load();
  return g_signal.load() == SIGTERM && sender != 0 && sender == getppid() &&
         std::getenv("OMPI_MCA_orte_launch") != nullptr;
}
void reset_stop_signal() {
  g_signal.store(0);
  g_sender.store(0);
}

std::string signal_name(int signal) {
  switch (signal) {
    case SIGTERM:
      return "SIGTERM";
    case SIGINT:
      return "SIGINT";
    case SIGUSR1:
      return "SIGUSR1";
    default:
      return "signal " + std::to_string(signal);
  }
}

}  // namespace shardflow::pipeline
