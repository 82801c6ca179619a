#include "shardflow/pipeline/signals.hpp"

#include <atomic>
#include <csignal>

namespace shardflow::pipeline {
namespace {

// Only lock-free atomics may be touched from a signal handler.
std::atomic<int> g_signal{0};
static_assert(std::atomic<int>::is_always_lock_free);

constexpr int kSignals[] = {SIGTERM, SIGINT, SIGUSR1};
struct sigaction g_previous[3];

extern "C" void on_stop_signal(int signal) {
  g_signal.store(signal);
}

}  // namespace

SignalGuard::SignalGuard() {
  struct sigaction action {};
  action.sa_handler = on_stop_signal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;
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
void reset_stop_signal() {
  g_signal.store(0);
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
