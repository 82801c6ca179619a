// Content fingerprint vs CSV ingest benchmark driver (an MPI program; Google Benchmark is linked
// but not used). The goal (issue "Pipeline core"): fingerprinting an input costs under 5% of
// ingesting it, so the stage cache can identify inputs by content on every run.
//
//   bench_fingerprint FILE [repeats] [--variants] [--cold]
//
// Times, side by side in one process on the same file, io::content_fingerprint (the default
// options) and io::read_csv (the `shardflow gen groupby` schema, as bench_csv_ingest), `repeats`
// rounds (default 5), alternating. Every time is the slowest rank's (barrier before the start).
// Prints on rank 0 one JSON line per measurement
//   {"bench":"fingerprint","impl":"pread_1m_default","ranks":R,"bytes":B,"round":K,"seconds":S,
//    "cpu_seconds":C}
//   {"bench":"csv_ingest","impl":"shardflow","ranks":R,"bytes":B,"round":K,"seconds":S,...}
// and a summary line: first-round and best-of-N wall seconds of both and their ratios, and the
// best CPU seconds (user + system of the slowest rank) and their ratio
//   {"bench":"fingerprint_vs_ingest","ranks":R,"hash_first":..,"hash_best":..,
//    "ingest_first":..,"ingest_best":..,"ratio_first":..,"ratio_best":..,"hash_cpu_best":..,
//    "ingest_cpu_best":..,"cpu_ratio_best":..}
// On a machine shared with other work the CPU ratio is the steadier one: a 50 ms hash often runs
// between two time slices of a competing process while a 0.5 s ingest is interrupted many times,
// so the wall-clock ratio under load flatters the hash.
//
// --variants also times, per round, the read strategies the default was chosen from (same
// fingerprint, checked) and three floors over this rank's equal share of the bytes:
//   pread_64k .. pread_16m   pread() into a reusable buffer of that size + streaming XXH3-128
//   mmap                     mmap per block + MADV_SEQUENTIAL + MADV_POPULATE_READ + one-shot hash
//   floor_read               pread() of the share into a 1 MiB buffer, no hash (the copy cost)
//   floor_hash_dispatch      XXH3-128 (libxxhash's run-time dispatch: AVX2 here) over the share
//                            already in memory (the hash cost)
//   floor_hash_inline        XXH3-64 as common/hash.cpp compiles it (inlined, SSE2 baseline) over
//                            the same memory: the same inner loop as XXH3-128, without dispatch
// --cold evicts FILE from the page cache (posix_fadvise DONTNEED, only this file's pages) before
// every timed run, so both sides read from the device.

#include <fcntl.h>
#include <unistd.h>
#if defined(__x86_64__) && __has_include(<xxh_x86dispatch.h>)
#include <xxh_x86dispatch.h>  // XXH3_128bits -> libxxhash's run-time dispatched version
#else
#include <xxhash.h>
#endif

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "bench_main.hpp"
#include "shardflow/common/error.hpp"
#include "shardflow/common/hash.hpp"
#include "shardflow/common/timer.hpp"
#include "shardflow/io/csv_reader.hpp"
#include "shardflow/io/file_fingerprint.hpp"
#include "shardflow/io/synthetic_schema.hpp"
#include "shardflow/mpi/allreduce.hpp"
#include "shardflow/mpi/comm.hpp"

using namespace shardflow;

namespace {

void evict(const mpi::Comm& comm, const std::string& path) {
  if (comm.is_root()) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
      ::fdatasync(fd);
      ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
      ::close(fd);
    }
  }
  comm.barrier();
}

double cpu_seconds() {
  timespec ts{};
  ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

/// Wall-clock and CPU (user + system) seconds of the slowest rank.
struct Time {
  double wall = 0;
  double cpu = 0;
};

/// Times `work` (barrier first).
Time timed(const mpi::Comm& comm, bool cold, const std::string& path,
           const std::function<void()>& work) {
  if (cold) evict(comm, path);
  comm.barrier();
  const double cpu_start = cpu_seconds();
  Stopwatch watch;
  work();
  const double wall = watch.seconds();
  const double cpu = cpu_seconds() - cpu_start;
  return {mpi::allreduce_max(comm, wall), mpi::allreduce_max(comm, cpu)};
}

/// [begin, end) of this rank's equal share of `size` bytes.
std::pair<idx_t, idx_t> share(const mpi::Comm& comm, idx_t size) {
  return {size * comm.rank() / comm.size(), size * (comm.rank() + 1) / comm.size()};
}

std::uint64_t floor_read(const std::string& path, idx_t begin, idx_t end) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw InputError("cannot open '{}'", path);
  ::posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
  // Page-aligned, as in content_fingerprint: see the note on its buffer.
  std::unique_ptr<char, decltype(&std::free)> buffer(
      static_cast<char*>(std::aligned_alloc(4096, size_t{1} << 20)), &std::free);
  std::uint64_t sink = 0;
  for (idx_t offset = begin; offset < end;) {
    const ssize_t n = ::pread(fd, buffer.get(),
                              static_cast<size_t>(std::min<idx_t>(1 << 20, end - offset)), offset);
    if (n <= 0) break;
    sink += static_cast<unsigned char>(buffer.get()[0]);
    offset += n;
  }
  ::close(fd);
  return sink;
}

std::string load_share(const std::string& path, idx_t begin, idx_t end) {
  std::string bytes(static_cast<size_t>(end - begin), '\0');
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw InputError("cannot open '{}'", path);
  for (idx_t done = 0; done < end - begin;) {
    const ssize_t n =
        ::pread(fd, bytes.data() + done, static_cast<size_t>(end - begin - done), begin + done);
    if (n <= 0) break;
    done += n;
  }
  ::close(fd);
  return bytes;
}

void print_measurement(const mpi::Comm& comm, const char* bench, const std::string& impl,
                       idx_t bytes, int round, Time t) {
  if (!comm.is_root()) return;
  std::printf(
      "{\"bench\":\"%s\",\"impl\":\"%s\",\"ranks\":%d,\"bytes\":%lld,\"round\":%d,"
      "\"seconds\":%.6f,\"cpu_seconds\":%.6f}\n",
      bench, impl.c_str(), comm.size(), static_cast<long long>(bytes), round, t.wall, t.cpu);
  std::fflush(stdout);
}

int run(const mpi::Comm& comm, int argc, char** argv) {
  const std::string usage = "usage: bench_fingerprint FILE [repeats] [--variants] [--cold]";
  std::vector<std::string> positional;
  bool variants = false, cold = false;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--variants") {
      variants = true;
    } else if (arg == "--cold") {
      cold = true;
    } else if (arg.rfind("--", 0) == 0) {
      throw ConfigError("unknown option '{}'\n{}", arg, usage);
    } else {
      positional.push_back(arg);
    }
  }
  if (positional.empty() || positional.size() > 2) throw ConfigError("{}", usage);
  const std::string path = positional[0];
  const int repeats = positional.size() == 2 ? std::atoi(positional[1].c_str()) : 5;
  if (repeats < 1) throw ConfigError("repeats must be >= 1 (got '{}')", positional[1]);

  io::CsvOptions csv;
  csv.paths = {path};
  csv.schema = io::synthetic_schema("groupby");
  const std::vector<std::string> paths = {path};
  io::ContentFingerprintOptions defaults;
  std::string expected;
  idx_t bytes = 0;
  comm.agree([&] {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw InputError("cannot open '{}'", path);
    bytes = ::lseek(fd, 0, SEEK_END);
    ::close(fd);
  });

  struct Variant {
    std::string name;
    io::ContentFingerprintOptions options;
  };
  std::vector<Variant> strategies;
  if (variants) {
    for (const auto& [name, read_bytes] :
         std::vector<std::pair<std::string, idx_t>>{{"pread_64k", idx_t{64} << 10},
                                                    {"pread_256k", idx_t{256} << 10},
                                                    {"pread_1m", idx_t{1} << 20},
                                                    {"pread_4m", idx_t{4} << 20},
                                                    {"pread_16m", idx_t{16} << 20}}) {
      strategies.push_back({name, {.read = io::FingerprintRead::kPread, .read_bytes = read_bytes}});
    }
    strategies.push_back({"mmap", {.read = io::FingerprintRead::kMmap}});
  }
  const auto [begin, end] = share(comm, bytes);
  std::string in_memory;
  if (variants) in_memory = load_share(path, begin, end);

  constexpr double kInf = std::numeric_limits<double>::max();
  Time hash_first, ingest_first, hash_best{kInf, kInf}, ingest_best{kInf, kInf};
  const auto keep_best = [](Time& best, Time t) {
    best.wall = std::min(best.wall, t.wall);
    best.cpu = std::min(best.cpu, t.cpu);
  };
  const char* default_name = defaults.read == io::FingerprintRead::kMmap ? "mmap" : "pread_1m";
  for (int round = 0; round < repeats; ++round) {
    std::string fingerprint;
    const Time hash = timed(comm, cold, path,
                            [&] { fingerprint = io::content_fingerprint(comm, paths, defaults); });
    if (expected.empty()) expected = fingerprint;
    if (fingerprint != expected) throw RuntimeError("fingerprint changed between rounds");
    print_measurement(comm, "fingerprint", std::string(default_name) + "_default", bytes, round,
                      hash);
    const Time ingest = timed(comm, cold, path, [&] { io::read_csv(comm, csv); });
    print_measurement(comm, "csv_ingest", "shardflow", bytes, round, ingest);
    if (round == 0) {
      hash_first = hash;
      ingest_first = ingest;
    }
    keep_best(hash_best, hash);
    keep_best(ingest_best, ingest);

    for (const auto& v : strategies) {
      std::string other;
      const Time t =
          timed(comm, cold, path, [&] { other = io::content_fingerprint(comm, paths, v.options); });
      if (other != expected)
        throw RuntimeError("read strategy {} gives another fingerprint", v.name);
      print_measurement(comm, "fingerprint", v.name, bytes, round, t);
    }
    if (variants) {
      std::uint64_t sink = 0;
      Time t = timed(comm, cold, path, [&] { sink += floor_read(path, begin, end); });
      print_measurement(comm, "fingerprint", "floor_read", bytes, round, t);
      t = timed(comm, false, path,
                [&] { sink += XXH3_128bits(in_memory.data(), in_memory.size()).low64; });
      print_measurement(comm, "fingerprint", "floor_hash_dispatch", bytes, round, t);
      t = timed(comm, false, path, [&] { sink += hash_bytes(in_memory.data(), in_memory.size()); });
      print_measurement(comm, "fingerprint", "floor_hash_inline", bytes, round, t);
      if (sink == 42) std::fprintf(stderr, " ");  // keeps the floors from being optimized away
    }
  }
  if (comm.is_root()) {
    std::printf(
        "{\"bench\":\"fingerprint_vs_ingest\",\"ranks\":%d,\"bytes\":%lld,\"cache\":\"%s\","
        "\"hash_first\":%.6f,\"hash_best\":%.6f,\"ingest_first\":%.6f,\"ingest_best\":%.6f,"
        "\"ratio_first\":%.4f,\"ratio_best\":%.4f,\"hash_cpu_best\":%.6f,"
        "\"ingest_cpu_best\":%.6f,\"cpu_ratio_best\":%.4f}\n",
        comm.size(), static_cast<long long>(bytes), cold ? "cold" : "warm", hash_first.wall,
        hash_best.wall, ingest_first.wall, ingest_best.wall, hash_first.wall / ingest_first.wall,
        hash_best.wall / ingest_best.wall, hash_best.cpu, ingest_best.cpu,
        hash_best.cpu / ingest_best.cpu);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return bench::driver_main("bench_fingerprint", argc, argv, {}, [](int ac, char** av) {
    mpi::Comm comm;
    return run(comm, ac, av);
  });
}
