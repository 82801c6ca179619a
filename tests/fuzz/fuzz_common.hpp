#pragma once
// Shared by the libFuzzer harnesses (docs/fuzzing.md): sanitizer defaults, one-rank MPI, quiet
// logging, and the rule for exceptions. A harness may see the errors shardflow documents for bad
// input (ConfigError, exit 2; InputError, exit 3); anything else escaping the code under test (a
// RuntimeError, which marks a broken internal invariant or an I/O failure, a std::exception from
// the standard library, or a crash) is a bug, and fail() turns it into a libFuzzer crash report.

#include <sanitizer/lsan_interface.h>
#include <spdlog/spdlog.h>

#include <pthread.h>
#include <unistd.h>
#include <cstdio>

#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>

#include "shardflow/common/error.hpp"
#include "shardflow/mpi/environment.hpp"

// use_tls=0: LeakSanitizer does not scan thread-local storage. With clang 14 and Debian 12's glibc
// its exit-time check read a bogus dynamic TLS range of the MPI components MPI_Init loads and
// crashed ("Tracer caught signal 11") on some runs; heap, globals and stacks are still scanned.
extern "C" const char* __lsan_default_options() {
  return "use_tls=0";
}

// Open MPI, PMIx, hwloc and libevent keep process-lifetime allocations from MPI_Init that
// LeakSanitizer would report at exit; they are not ours. Leaks in shardflow's code still fail.
extern "C" const char* __lsan_default_suppressions() {
  return "leak:libmpi.so\n"
         "leak:libopen-pal.so\n"
         "leak:libopen-rte.so\n"
         "leak:libpmix.so\n"
         "leak:libhwloc.so\n"
         "leak:libevent\n"
         "leak:mca_\n"
         "leak:libhdf5\n";
}

namespace shardflow::fuzz {

/// Ends the run as a crash libFuzzer reports (and saves the input of).
[[noreturn]] inline void fail(std::string_view what) {
  std::fprintf(stderr, "fuzz harness: BUG: %.*s\n", static_cast<int>(what.size()), what.data());
  std::abort();
}

/// MPI at one rank (Open MPI's singleton mode: no mpirun needed) as shardflow's main sets it up,
/// and no log output. Call from LLVMFuzzerInitialize; MPI is finalized at exit.
inline void init_mpi_once(int* argc, char*** argv) {
  static std::optional<mpi::Environment> environment;
  if (environment) return;
  // Keep Open MPI's plugins loaded at exit, so that LeakSanitizer can attribute what they keep to
  // their libraries (the suppressions above) instead of to unknown modules.
  setenv("OMPI_MCA_mca_base_component_disable_dlclose", "1", 0);
  // What MPI allocates when it starts and finalizes is not the harness's to free.
  {
    __lsan::ScopedDisabler no_leak_tracking;
    environment.emplace(argc, argv);
  }
  std::atexit([] {
    __lsan_disable();  // for the rest of the process: MPI_Finalize, then exit
    environment.reset();
  });
  spdlog::set_level(spdlog::level::off);
}

/// A fresh scratch directory for this process, removed at exit. On /dev/shm when it exists: the
/// reader publishes files with fsync, which costs milliseconds per input on a disk.
inline std::filesystem::path make_scratch_dir(const std::string& name) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::path base =
      fs::is_directory("/dev/shm", ec) ? fs::path("/dev/shm") : fs::temp_directory_path();
  static fs::path dir;
  dir = base / ("shardflow-fuzz-" + name + "-" + std::to_string(getpid()));
  fs::create_directories(dir);
  std::atexit([] {
    std::error_code ignored;
    fs::current_path(dir.parent_path(), ignored);
    fs::remove_all(dir, ignored);
  });
  return dir;
}

/// Runs `work`; returns true if it finished, false if it threw a documented input error (kind
/// ConfigError or InputError, with a non-empty message). Anything else fails the run.
template <typename F>
bool expect_clean(std::string_view what, F&& work) {
  try {
    work();
    return true;
  } catch (const Error& e) {
    if (e.kind() != ErrorKind::kConfig && e.kind() != ErrorKind::kInputData) {
      fail(std::string(what) + ": unexpected " + std::string(to_string(e.kind())) +
           " error: " + e.what());
    }
    if (std::string_view(e.what()).empty()) fail(std::string(what) + ": error without a message");
    return false;
  } catch (const std::exception& e) {
    fail(std::string(what) + ": non-shardflow exception escaped: " + e.what());
  }
}

/// Runs `work` (which must not throw) on a thread with a 256 MiB stack and waits for it. The
/// 1000-level expression seeds recurse past the main thread's 8 MiB under ASan at -O0, and the
/// harnesses are built at -O0 because that halves the fuzz build's time in CI. Raising the
/// process's stack limit instead made LeakSanitizer's exit check crash.
template <typename F>
void run_on_large_stack(F&& work) {
  constexpr std::size_t kStackBytes = std::size_t{256} << 20;
  pthread_attr_t attributes;
  if (pthread_attr_init(&attributes) != 0 ||
      pthread_attr_setstacksize(&attributes, kStackBytes) != 0) {
    fail("pthread_attr_setstacksize failed");
  }
  auto trampoline = [](void* arg) -> void* {
    (*static_cast<std::remove_reference_t<F>*>(arg))();
    return nullptr;
  };
  pthread_t thread;
  if (pthread_create(&thread, &attributes, trampoline, &work) != 0) fail("pthread_create failed");
  pthread_attr_destroy(&attributes);
  if (pthread_join(thread, nullptr) != 0) fail("pthread_join failed");
}

}  // namespace shardflow::fuzz
