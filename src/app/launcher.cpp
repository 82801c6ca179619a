#include "shardflow/app/launcher.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>

#include "shardflow/common/error.hpp"

namespace shardflow::app {
namespace detail {

std::vector<std::string> mpirun_command(const std::string& mpirun, const std::string& self,
                                        const std::vector<std::string>& args) {
  const auto separator = std::find(args.begin(), args.end(), "--");
  if (separator == args.end()) {
    throw ConfigError(
        "shardflow launch: expected `--` between mpirun's options and the shardflow command, "
        "e.g. `shardflow launch -np 2 -- run jobs/quickstart.yaml`");
  }
  if (separator + 1 == args.end()) {
    throw ConfigError(
        "shardflow launch: no shardflow command after `--`, e.g. `shardflow launch -np 2 -- run "
        "jobs/quickstart.yaml`");
  }
  std::vector<std::string> command{mpirun};
  command.insert(command.end(), args.begin(), separator);
  const bool stdin_given = std::any_of(args.begin(), separator, [](const std::string& a) {
    return a == "--stdin" || a == "-stdin" || a.starts_with("--stdin=");
  });
  if (!stdin_given) command.insert(command.end(), {"--stdin", "none"});
  command.insert(command.end(), {"-x", kLauncherEnv, self});
  command.insert(command.end(), separator + 1, args.end());
  return command;
}

bool StderrWatcher::observe(std::string_view line) {
  if (const auto at = line.find(kLaunchHostsPrefix); at != std::string_view::npos) {
    std::string_view rest = line.substr(at + kLaunchHostsPrefix.size());
    placement_.clear();
    while (!rest.empty()) {
      const auto start = rest.find_first_not_of(' ');
      if (start == std::string_view::npos) break;
      rest.remove_prefix(start);
      const auto end = std::min(rest.find(' '), rest.size());
      const std::string_view entry = rest.substr(0, end);
      rest.remove_prefix(end);
      const auto eq = entry.find('=');
      if (eq == std::string_view::npos) continue;
      const auto rank = std::strtoul(std::string(entry.substr(0, eq)).c_str(), nullptr, 10);
      if (rank > 1u << 24) continue;  // not a line of ours
      Placement place;
      std::string_view host = entry.substr(eq + 1);
      if (const auto amp = host.rfind('@'); amp != std::string_view::npos) {
        place.daemon =
            static_cast<int>(std::strtol(std::string(host.substr(amp + 1)).c_str(), nullptr, 10));
        host = host.substr(0, amp);
      }
      place.host = std::string(host);
      if (rank >= placement_.size()) placement_.resize(rank + 1);
      placement_[rank] = std::move(place);
    }
    return false;
  }
  // Open MPI 4.1: "  Remote daemon: [[10339,0],2] on node sfh2" -- daemon 2, on node sfh2.
  if (const auto at = line.find("Remote daemon:"); at != std::string_view::npos) {
    const std::string_view rest = line.substr(at);
    if (const auto close = rest.find("],"); close != std::string_view::npos) {
      lost_daemon_ =
          static_cast<int>(std::strtol(std::string(rest.substr(close + 2)).c_str(), nullptr, 10));
    }
    constexpr std::string_view kOnNode = " on node ";
    if (const auto on = rest.find(kOnNode); on != std::string_view::npos) {
      std::string_view host = rest.substr(on + kOnNode.size());
      while (!host.empty() && (host.back() == ' ' || host.back() == '\r'))
        host.remove_suffix(1);
      if (!host.empty()) lost_host_ = std::string(host);
    }
  }
  return true;
}

std::vector<int> StderrWatcher::lost_ranks() const {
  std::vector<int> ranks;
  for (size_t r = 0; r < placement_.size(); ++r) {
    const Placement& p = placement_[r];
    // The daemon is what mpirun lost; a name may be shared (containers, namespaces).
    const bool lost = p.daemon >= 0 ? p.daemon == lost_daemon_ : p.host == lost_host_;
    if (lost) ranks.push_back(static_cast<int>(r));
  }
  return ranks;
}

std::string StderrWatcher::lost_host_message() const {
  if (lost_host_.empty()) return {};
  const std::vector<int> ranks = lost_ranks();
  std::string which;
  if (ranks.empty()) {
    which = placement_.empty() ? "before the ranks said where they run"
                               : "which ran no rank of this job";
  } else {
    which = fmt::format("with rank{} {}", ranks.size() > 1 ? "s" : "", fmt::join(ranks, ", "));
  }
  return fmt::format(
      "shardflow launch: lost host {} {}: the host went down or its network link failed, and "
      "mpirun ended the job. Once the host is reachable (or without it: change --host/--hostfile), "
      "rerun the same command; it reuses the committed stages and resumes training from the "
      "last checkpoint.",
      lost_host_, which);
}

}  // namespace detail

namespace {

void say(const std::string& text) {
  const std::string line = text + "\n";
  // Best effort: a closed stderr must not stop the launcher from waiting for mpirun.
  [[maybe_unused]] const auto written = ::write(STDERR_FILENO, line.data(), line.size());
}

void write_all(int fd, const char* data, size_t size) {
  while (size > 0) {
    const ssize_t n = ::write(fd, data, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    data += n;
    size -= static_cast<size_t>(n);
  }
}

std::string signal_name(int signal) {
  switch (signal) {
    case SIGINT:
      return "SIGINT";
    case SIGTERM:
      return "SIGTERM";
    case SIGHUP:
      return "SIGHUP";
    case SIGUSR1:
      return "SIGUSR1";
    case SIGUSR2:
      return "SIGUSR2";
    default:
      return fmt::format("signal {}", signal);
  }
}

// How mpirun's local children (the ranks) ended, read from /proc while they are zombies: Open MPI
// 4.1's mpirun can deadlock in its own shutdown (PMIx_server_finalize) after a rank died early,
// and then never reaps them. Empty while it has no child or any child still runs.
struct EndedChildren {
  int count = 0;
  int exit_code = 0;  // 0, or the first failure as a shell shows it (status, or 128 + signal)
};

std::optional<EndedChildren> ended_children(pid_t parent) {
  namespace fs = std::filesystem;
  std::error_code ec;
  EndedChildren ended;
  // Children are listed per thread of the parent (whichever thread forked them).
  for (const auto& task : fs::directory_iterator(fmt::format("/proc/{}/task", parent), ec)) {
    std::ifstream children(task.path() / "children");
    pid_t pid = 0;
    while (children >> pid) {
      std::ifstream stat_file(fmt::format("/proc/{}/stat", pid));
      std::string stat((std::istreambuf_iterator<char>(stat_file)), {});
      // Fields after the command (which may hold spaces and parentheses): state is the first,
      // exit_code (waitpid's status) the 50th (field 52 of proc(5)).
      const auto close = stat.rfind(')');
      if (close == std::string::npos) return std::nullopt;
      std::istringstream rest(stat.substr(close + 1));
      std::string state;
      rest >> state;
      if (state != "Z") return std::nullopt;
      std::string field;
      for (int k = 0; k < 48 && rest >> field;)
        ++k;
      int status = 0;
      if (!(rest >> status)) return std::nullopt;
      ++ended.count;
      if (ended.exit_code == 0) {
        if (WIFEXITED(status) && WEXITSTATUS(status) != 0) ended.exit_code = WEXITSTATUS(status);
        if (WIFSIGNALED(status)) ended.exit_code = 128 + WTERMSIG(status);
      }
    }
  }
  if (ec || ended.count == 0) return std::nullopt;
  return ended;
}

// SHARDFLOW_LAUNCH_REAP_SECONDS, or 30: how long every rank may have ended while mpirun does not.
double reap_seconds() {
  if (const char* s = std::getenv("SHARDFLOW_LAUNCH_REAP_SECONDS"); s != nullptr && *s != '\0') {
    char* end = nullptr;
    const double v = std::strtod(s, &end);
    if (end != s && *end == '\0' && v > 0) return v;
  }
  return 30.0;
}

}  // namespace

int launch(const std::vector<std::string>& args) {
  const char* configured = std::getenv("SHARDFLOW_MPIRUN");
  const std::string mpirun = configured != nullptr && *configured != '\0' ? configured : "mpirun";
  std::error_code ec;
  const std::string self = std::filesystem::read_symlink("/proc/self/exe", ec).string();
  if (ec) throw RuntimeError("shardflow launch: cannot find its own executable: {}", ec.message());
  const std::vector<std::string> command = detail::mpirun_command(mpirun, self, args);
  ::setenv(kLauncherEnv, "1", 1);

  // Signals arrive through a signalfd, so that one poll loop handles them, mpirun's stderr and
  // its exit without races.
  sigset_t handled, previous;
  sigemptyset(&handled);
  for (int s : {SIGINT, SIGTERM, SIGHUP, SIGUSR1, SIGUSR2, SIGCHLD})
    sigaddset(&handled, s);
  if (sigprocmask(SIG_BLOCK, &handled, &previous) != 0) {
    throw RuntimeError("shardflow launch: sigprocmask failed: {}", std::strerror(errno));
  }
  const int signals = signalfd(-1, &handled, SFD_CLOEXEC);
  int pipe_fds[2] = {-1, -1};
  if (signals < 0 || pipe2(pipe_fds, O_CLOEXEC) != 0) {
    throw RuntimeError("shardflow launch: cannot set up signal handling or a pipe: {}",
                       std::strerror(errno));
  }

  std::vector<char*> argv;
  for (const auto& a : command)
    argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  const pid_t child = fork();
  if (child < 0) throw RuntimeError("shardflow launch: fork failed: {}", std::strerror(errno));
  if (child == 0) {
    // mpirun in a process group of its own: a terminal's Ctrl-C goes to the launcher's group
    // only, and the launcher decides what mpirun gets.
    setpgid(0, 0);
    sigprocmask(SIG_SETMASK, &previous, nullptr);
    dup2(pipe_fds[1], STDERR_FILENO);
    execvp(argv[0], argv.data());
    const std::string message = fmt::format(
        "shardflow launch: cannot run '{}': {} (install Open MPI's mpirun, or set SHARDFLOW_MPIRUN "
        "to its path)\n",
        argv[0], std::strerror(errno));
    write_all(STDERR_FILENO, message.data(), message.size());
    _exit(127);
  }
  setpgid(child, child);  // also here: whichever of the two runs first, the group exists
  ::close(pipe_fds[1]);

  detail::StderrWatcher watcher;
  std::string pending;  // mpirun's stderr not yet passed on (an incomplete line)
  auto pass_lines = [&](bool flush_partial) {
    size_t start = 0;
    for (size_t nl; (nl = pending.find('\n', start)) != std::string::npos; start = nl + 1) {
      const std::string_view line(pending.data() + start, nl - start);
      if (watcher.observe(line)) write_all(STDERR_FILENO, line.data(), line.size() + 1);
    }
    pending.erase(0, start);
    // A partial line is passed on when mpirun pauses, unless it may be the start of the hosts
    // line (which is written in one piece).
    if (flush_partial && !pending.empty() &&
        pending.find(kLaunchHostsPrefix.substr(
            0, std::min(pending.size(), kLaunchHostsPrefix.size()))) == std::string::npos) {
      write_all(STDERR_FILENO, pending.data(), pending.size());
      pending.clear();
    }
  };

  bool pipe_open = true;
  bool exited = false;
  int status = 0;
  int stops = 0;
  std::chrono::steady_clock::time_point exited_at;
  // Since when every local rank has ended without mpirun ending (see ended_children).
  bool ranks_ended = false;
  std::chrono::steady_clock::time_point ranks_ended_at{};
  const double reap_limit = reap_seconds();
  std::optional<int> stuck_exit;  // set when mpirun was stopped for not ending
  char buffer[65536];
  while (pipe_open || !exited) {
    pollfd fds[2] = {{signals, POLLIN, 0}, {pipe_open ? pipe_fds[0] : -1, POLLIN, 0}};
    const int ready = poll(fds, 2, 200);
    if (ready < 0 && errno != EINTR) {
      throw RuntimeError("shardflow launch: poll failed: {}", std::strerror(errno));
    }
    if (ready == 0) pass_lines(true);
    if (pipe_open && (fds[1].revents & (POLLIN | POLLHUP | POLLERR)) != 0) {
      const ssize_t n = ::read(pipe_fds[0], buffer, sizeof buffer);
      if (n > 0) {
        pending.append(buffer, static_cast<size_t>(n));
        pass_lines(false);
      } else if (n == 0 || errno != EINTR) {
        pipe_open = false;
      }
    }
    if ((fds[0].revents & POLLIN) != 0) {
      signalfd_siginfo info{};
      if (::read(signals, &info, sizeof info) == static_cast<ssize_t>(sizeof info)) {
        const int s = static_cast<int>(info.ssi_signo);
        if (s == SIGCHLD) {
          if (!exited && waitpid(child, &status, WNOHANG) == child) {
            exited = true;
            exited_at = std::chrono::steady_clock::now();
          }
        } else if (exited) {
          // mpirun is gone; nothing to pass the signal to.
        } else if (s == SIGUSR1 || s == SIGUSR2) {
          kill(child, s);
        } else if (++stops == 1) {
          say(fmt::format(
              "shardflow launch: {}: asking every rank to checkpoint and stop (SIGUSR1 to mpirun; "
              "the job then exits 75); send it again to abort at once",
              signal_name(s)));
          kill(child, SIGUSR1);
        } else {
          say(fmt::format(
              "shardflow launch: {} again: aborting (SIGTERM to mpirun); the rerun resumes from "
              "the last checkpoint written",
              signal_name(s)));
          kill(child, SIGTERM);
        }
      }
    }
    if (!exited) {
      const std::optional<EndedChildren> ended = ended_children(child);
      const auto now = std::chrono::steady_clock::now();
      if (!ended) {
        ranks_ended = false;
      } else if (!ranks_ended) {
        ranks_ended = true;
        ranks_ended_at = now;
      } else if (std::chrono::duration<double>(now - ranks_ended_at).count() > reap_limit) {
        say(fmt::format(
            "shardflow launch: every rank process on this host has ended ({} not reaped by mpirun, "
            "exit code {}) but mpirun has not, {:.0f} s later: Open MPI 4.1's mpirun can hang in "
            "its own shutdown when a rank dies while MPI starts; stopping it (SIGKILL) and exiting "
            "with the ranks' code (SHARDFLOW_LAUNCH_REAP_SECONDS sets the wait)",
            ended->count, ended->exit_code, reap_limit));
        stuck_exit = ended->exit_code;
        kill(-child, SIGKILL);
        kill(child, SIGKILL);
        waitpid(child, &status, 0);
        exited = true;
        exited_at = now;
      }
    }
    // Processes mpirun started (ssh to other hosts) may hold its stderr open after it exits:
    // read what is there for about 2 s, then stop waiting for them.
    if (exited && pipe_open &&
        std::chrono::steady_clock::now() - exited_at > std::chrono::seconds(2)) {
      break;
    }
  }
  pass_lines(true);
  if (!pending.empty()) write_all(STDERR_FILENO, pending.data(), pending.size());
  if (const std::string lost = watcher.lost_host_message(); !lost.empty()) say(lost);
  ::close(pipe_fds[0]);
  ::close(signals);
  sigprocmask(SIG_SETMASK, &previous, nullptr);
  if (stuck_exit) return *stuck_exit;
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 1;
}

}  // namespace shardflow::app
