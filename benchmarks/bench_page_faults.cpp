// What this machine charges for memory touched for the first time, as 4 KiB pages and as
// transparent huge pages, after the machine was idle (what a job's load and each step's new
// tables pay), and for random reads over it afterwards. runtime.huge_pages (common/memory.hpp)
// chooses between the two; on the development VM the cheaper one changed from day to day with
// the host's state, so measure a machine before changing the threshold.
//
//   build/benchmarks/bench_page_faults [MB=1024] [idle_seconds=15] [rounds=2]
//
// Each round maps MB of fresh memory per page size (4 KiB first, then huge), each after
// `idle_seconds` of sleep, writes every byte once (first write, seconds per GB), then reads 2e7
// random bytes of it; then, again per page size after the idle time, maps MB with
// MADV_POPULATE_WRITE (as common/memory.hpp FreshPagePopulator does) and writes every byte once,
// timing the two apart: on a VM whose hypervisor shadows page tables the populate call is cheap
// for 4 KiB pages and the first write after it is not. Prints one line per measurement and the
// THP mode; needs no MPI.

#include <sys/mman.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <thread>
#include <utility>

namespace {

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

struct Result {
  double first_write_s = 0;
  double random_reads_s = 0;
};

/// Maps `bytes` of fresh memory in one page size with MADV_POPULATE_WRITE (what
/// FreshPagePopulator does), then writes every byte once: the populate call and the first write
/// after it, in seconds. Under a hypervisor that shadows page tables the second is not free.
std::pair<double, double> measure_populated(std::size_t bytes, bool huge) {
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) {
    std::perror("bench_page_faults: mmap");
    std::exit(1);
  }
  (void)madvise(p, bytes, huge ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
  auto start = std::chrono::steady_clock::now();
#ifdef MADV_POPULATE_WRITE
  (void)madvise(p, bytes, MADV_POPULATE_WRITE);
#endif
  const double populate_s = seconds_since(start);
  start = std::chrono::steady_clock::now();
  std::memset(p, 1, bytes);
  const double write_s = seconds_since(start);
  munmap(p, bytes);
  return {populate_s, write_s};
}

Result measure(std::size_t bytes, bool huge) {
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) {
    std::perror("bench_page_faults: mmap");
    std::exit(1);
  }
  (void)madvise(p, bytes, huge ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
  auto* bytes_p = static_cast<unsigned char*>(p);
  Result r;
  auto start = std::chrono::steady_clock::now();
  std::memset(bytes_p, 1, bytes);
  r.first_write_s = seconds_since(start);
  std::uint64_t x = 88172645463325252ULL, sum = 0;
  start = std::chrono::steady_clock::now();
  for (int i = 0; i < 20'000'000; ++i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    sum += bytes_p[x % bytes];
  }
  r.random_reads_s = seconds_since(start);
  munmap(p, bytes);
  if (sum == 0) std::printf("(checksum 0)\n");  // keeps the reads
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  const long mb = argc > 1 ? std::atol(argv[1]) : 1024;
  const long idle = argc > 2 ? std::atol(argv[2]) : 15;
  const long rounds = argc > 3 ? std::atol(argv[3]) : 2;
  if (mb < 4 || idle < 0 || rounds < 1) {
    std::fprintf(stderr, "usage: bench_page_faults [MB >= 4] [idle_seconds >= 0] [rounds >= 1]\n");
    return 2;
  }
  std::string thp = "unknown";
  std::ifstream mode("/sys/kernel/mm/transparent_hugepage/enabled");
  std::getline(mode, thp);
  std::printf(
      "transparent_hugepage/enabled: %s (huge pages act only under 'madvise' or 'always')\n",
      thp.c_str());
  const std::size_t bytes = static_cast<std::size_t>(mb) << 20;
  for (long round = 1; round <= rounds; ++round) {
    for (const bool huge : {false, true}) {
      std::this_thread::sleep_for(std::chrono::seconds(idle));
      const Result r = measure(bytes, huge);
      std::printf(
          "round %ld, %-9s %ld MB after %ld s idle: first write %.3f s (%.2f s/GB), 2e7 random "
          "reads %.3f s\n",
          round, huge ? "huge" : "4 KiB", mb, idle, r.first_write_s,
          r.first_write_s / (static_cast<double>(mb) / 1024.0), r.random_reads_s);
      std::fflush(stdout);
    }
    for (const bool huge : {false, true}) {
      std::this_thread::sleep_for(std::chrono::seconds(idle));
      const auto [populate_s, write_s] = measure_populated(bytes, huge);
      const double gb = static_cast<double>(mb) / 1024.0;
      std::printf(
          "round %ld, %-9s %ld MB after %ld s idle: populate, then first write: %.3f s + %.3f s "
          "(%.2f + %.2f = %.2f s/GB)\n",
          round, huge ? "huge" : "4 KiB", mb, idle, populate_s, write_s, populate_s / gb,
          write_s / gb, (populate_s + write_s) / gb);
      std::fflush(stdout);
    }
  }
  return 0;
}
