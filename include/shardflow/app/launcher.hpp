#pragma once
// `shardflow launch`: runs `mpirun` for the user and gives it the stop semantics of a single
// process. Open MPI's mpirun cannot forward SIGINT, SIGTERM or SIGHUP and exits 1 after any of them
// whatever the ranks return; it does forward SIGUSR1. The launcher therefore puts mpirun in a
// process group of its own (so a terminal's Ctrl-C reaches the launcher only), turns the first
// SIGINT/SIGTERM/SIGHUP into SIGUSR1 for mpirun (every rank checkpoints and exits 75, and so does
// the launcher) and a second one into SIGTERM (abort at once). It also names the ranks of a host
// that mpirun reports lost: the ranks tell it which host each runs on (kLaunchHostsPrefix).
//
//   shardflow launch [MPIRUN OPTIONS...] -- COMMAND [ARGS...]
//
// mpirun is $SHARDFLOW_MPIRUN if set, else `mpirun` from PATH; the program run is this executable.

#include <string>
#include <string_view>
#include <vector>

namespace shardflow::app {

/// Set (to "1") in the environment of the ranks a launcher starts.
inline constexpr const char* kLauncherEnv = "SHARDFLOW_LAUNCHER";
/// A line rank 0 writes to stderr when kLauncherEnv is set: the prefix, then "RANK=HOST@DAEMON" for
/// every rank separated by spaces (DAEMON: mpi::local_daemon_id(), -1 if unknown). The launcher
/// consumes it (users never see it).
inline constexpr std::string_view kLaunchHostsPrefix = "shardflow-launch-hosts:";

/// Local, no MPI: runs `shardflow launch ARGS...` (args exclude "shardflow" and "launch"); returns
/// the exit status (mpirun's; 2 for a usage error; 128+N if mpirun died of signal N).
int launch(const std::vector<std::string>& args);

namespace detail {
/// The mpirun command line the launcher runs: `mpirun`, the user's options, `--stdin none`
/// (unless given: mpirun runs in the background process group and must not read the terminal),
/// `-x SHARDFLOW_LAUNCHER`, `self`, then the command. Throws ConfigError without a `--` or
/// without a command after it.
std::vector<std::string> mpirun_command(const std::string& mpirun, const std::string& self,
                                        const std::vector<std::string>& args);

/// Follows mpirun's stderr line by line: remembers the ranks' hosts and a lost host, and says
/// which lines to pass on.
class StderrWatcher {
 public:
  /// Returns false for a line the launcher consumes (kLaunchHostsPrefix), true otherwise. `line`
  /// excludes the newline. mpirun's --tag-output/--timestamp-output prefixes are allowed.
  bool observe(std::string_view line);
  /// The host mpirun reported as lost ("Remote daemon: [[J,0],D] on node NAME"), or empty.
  const std::string& lost_host() const { return lost_host_; }
  /// The ranks known to have run under the lost daemon D (or, where the ranks did not know their
  /// daemon, on a host of the lost host's name), ascending; empty if none or the ranks never said.
  std::vector<int> lost_ranks() const;
  /// The launcher's closing line for a lost host, or empty if none was reported.
  std::string lost_host_message() const;

 private:
  struct Placement {
    std::string host;
    int daemon = -1;
  };
  std::vector<Placement> placement_;  // by rank
  std::string lost_host_;
  int lost_daemon_ = -1;
};
}  // namespace detail

}  // namespace shardflow::app
