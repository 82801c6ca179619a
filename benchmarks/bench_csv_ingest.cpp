// CSV ingest benchmark driver (an MPI program; Google Benchmark is linked but not used).
//
//   bench_csv_ingest FILE [repeats] [--schema groupby|infer]
//                                          reads FILE with io::read_csv `repeats` times (default 3)
//                                          and prints on rank 0 one JSON line per repeat:
//   {"bench":"csv_ingest","impl":"shardflow","ranks":R,"rows":N,"schema":"explicit","seconds":S}
//                                          (S = the slowest rank's time; barrier before start),
//                                          followed by ,"user":U,"sys":K: the largest CPU seconds
//                                          over ranks of the reading thread in user and kernel
//                                          mode (getrusage RUSAGE_THREAD). Why: on a shared
//                                          machine the wall time depends on other work, the CPU
//                                          split much less; "sys" is mostly the first-touch
//                                          faults of the new column buffers.
//                                          --schema groupby (the default) passes the known schema
//                                          of `shardflow gen groupby` files, as the Polars peer
//                                          does; --schema infer infers the types (schema
//                                          "inferred" in the JSON line).
//                                          Each line also has "profile_seconds": the slowest
//                                          rank's time in ops::profile_table of the table read
//                                          (and "profile_best", the best of 5 such scans),
//                                          the data-quality summary every job computes of every
//                                          input it reads (the run report's), so a job's ingest
//                                          costs seconds + profile_seconds.
//   bench_csv_ingest --generate KIND ROWS OUT [seed]
//                                          writes a synthetic CSV (io::generate_csv) to OUT.

#include <sys/resource.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "bench_main.hpp"
#include "shardflow/common/error.hpp"
#include "shardflow/common/logging.hpp"
#include "shardflow/common/timer.hpp"
#include "shardflow/io/csv_reader.hpp"
#include "shardflow/io/synthetic.hpp"
#include "shardflow/io/synthetic_schema.hpp"
#include "shardflow/mpi/allreduce.hpp"
#include "shardflow/mpi/comm.hpp"
#include "shardflow/mpi/environment.hpp"
#include "shardflow/ops/table_profile.hpp"
#include "shardflow/table/schema.hpp"

using namespace shardflow;

namespace {

/// CPU seconds of the calling thread: {user, system}.
std::pair<double, double> thread_cpu() {
  rusage usage{};
  if (getrusage(RUSAGE_THREAD, &usage) != 0) return {0.0, 0.0};
  const auto secs = [](const timeval& t) {
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) * 1e-6;
  };
  return {secs(usage.ru_utime), secs(usage.ru_stime)};
}

int run(const mpi::Comm& comm, int argc, char** argv) {
  const std::string usage =
      "usage: bench_csv_ingest FILE [repeats] [--schema groupby|infer]\n"
      "       bench_csv_ingest --generate KIND ROWS OUT [seed]";
  if (argc >= 2 && std::string(argv[1]) == "--generate") {
    if (argc < 5) throw ConfigError("{}", usage);
    const idx_t rows = std::atoll(argv[3]);
    const std::uint64_t seed = argc > 5 ? std::strtoull(argv[5], nullptr, 10) : 42;
    Stopwatch watch;
    io::generate_csv(comm, argv[2], rows, seed, argv[4]);
    const double seconds = mpi::allreduce_max(comm, watch.seconds());
    if (comm.is_root()) {
      std::printf(
          "{\"bench\":\"csv_generate\",\"kind\":\"%s\",\"ranks\":%d,\"rows\":%lld,"
          "\"seconds\":%.6f}\n",
          argv[2], comm.size(), static_cast<long long>(rows), seconds);
    }
    return 0;
  }
  std::vector<std::string> positional;
  std::string schema = "groupby";
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--schema") {
      if (i + 1 >= argc) throw ConfigError("--schema needs a value (groupby or infer)\n{}", usage);
      schema = argv[++i];
      if (schema != "groupby" && schema != "infer")
        throw ConfigError("--schema must be groupby or infer (got '{}')\n{}", schema, usage);
    } else {
      positional.push_back(arg);
    }
  }
  if (positional.empty() || positional.size() > 2) throw ConfigError("{}", usage);
  const int repeats = positional.size() == 2 ? std::atoi(positional[1].c_str()) : 3;
  if (repeats < 1) throw ConfigError("repeats must be >= 1 (got '{}')", positional[1]);
  io::CsvOptions options;
  options.paths = {positional[0]};
  if (schema == "groupby") {
    // The columns of `shardflow gen groupby` (the db-benchmark G1 layout), as given to Polars.
    options.schema = io::synthetic_schema("groupby");
  }
  const char* schema_label = schema == "groupby" ? "explicit" : "inferred";
  for (int rep = 0; rep < repeats; ++rep) {
    comm.barrier();
    const auto cpu_before = thread_cpu();
    Stopwatch watch;
    io::CsvReadStats stats;
    table::Table table = io::read_csv(comm, options, &stats);
    const double wall = watch.seconds();
    const auto cpu_after = thread_cpu();
    const double seconds = mpi::allreduce_max(comm, wall);
    const double user = mpi::allreduce_max(comm, cpu_after.first - cpu_before.first);
    const double sys = mpi::allreduce_max(comm, cpu_after.second - cpu_before.second);
    // The first profile of the table (what a job pays), and the best of 5 (the scan alone).
    double profile_seconds = 0, profile_best = 0;
    ops::TableProfile profile;
    for (int k = 0; k < 5; ++k) {
      comm.barrier();
      Stopwatch profile_watch;
      profile = ops::profile_table(comm, table);
      const double s = mpi::allreduce_max(comm, profile_watch.seconds());
      if (k == 0) profile_seconds = profile_best = s;
      profile_best = std::min(profile_best, s);
    }
    if (comm.is_root()) {
      std::printf(
          "{\"bench\":\"csv_ingest\",\"impl\":\"shardflow\",\"ranks\":%d,\"rows\":%lld,"
          "\"schema\":\"%s\",\"seconds\":%.6f,\"user\":%.3f,\"sys\":%.3f,"
          "\"profile_seconds\":%.6f,\"profile_best\":%.6f,\"profile_columns\":%zu}\n",
          comm.size(), static_cast<long long>(stats.rows), schema_label, seconds, user, sys,
          profile_seconds, profile_best, profile.columns.size());
      std::fflush(stdout);
    }
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return bench::driver_main("bench_csv_ingest", argc, argv, {}, [](int ac, char** av) {
    mpi::Comm comm;
    return run(comm, ac, av);
  });
}
