// CSV ingest benchmark driver (an MPI program; Google Benchmark is linked but not used).
//
//   bench_csv_ingest FILE [repeats]        reads FILE with io::read_csv `repeats` times (default 3)
//                                          and prints on rank 0 one JSON line per repeat:
//   {"bench":"csv_ingest","impl":"shardflow","ranks":R,"rows":N,"seconds":S}
//                                          (S = the slowest rank's time; barrier before start)
//   bench_csv_ingest --generate KIND ROWS OUT [seed]
//                                          writes a synthetic CSV (io::generate_csv) to OUT.

#include <cstdio>
#include <cstdlib>
#include <string>

#include "shardflow/common/error.hpp"
#include "shardflow/common/logging.hpp"
#include "shardflow/common/timer.hpp"
#include "shardflow/io/csv_reader.hpp"
#include "shardflow/io/synthetic.hpp"
#include "shardflow/mpi/allreduce.hpp"
#include "shardflow/mpi/comm.hpp"
#include "shardflow/mpi/environment.hpp"

using namespace shardflow;

namespace {

int run(const mpi::Comm& comm, int argc, char** argv) {
  const std::string usage =
      "usage: bench_csv_ingest FILE [repeats]\n"
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
  if (argc < 2 || argc > 3) throw ConfigError("{}", usage);
  const int repeats = argc == 3 ? std::atoi(argv[2]) : 3;
  if (repeats < 1) throw ConfigError("repeats must be >= 1 (got '{}')", argv[2]);
  io::CsvOptions options;
  options.paths = {argv[1]};
  for (int rep = 0; rep < repeats; ++rep) {
    comm.barrier();
    Stopwatch watch;
    io::CsvReadStats stats;
    table::Table table = io::read_csv(comm, options, &stats);
    const double seconds = mpi::allreduce_max(comm, watch.seconds());
    if (comm.is_root()) {
      std::printf(
          "{\"bench\":\"csv_ingest\",\"impl\":\"shardflow\",\"ranks\":%d,\"rows\":%lld,"
          "\"seconds\":%.6f}\n",
          comm.size(), static_cast<long long>(stats.rows), seconds);
      std::fflush(stdout);
    }
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  mpi::Environment env(&argc, &argv);
  mpi::Comm comm;
  setup_logging(comm.rank(), comm.size(), {.level = "warn", .all_ranks = false});
  try {
    return run(comm, argc, argv);
  } catch (const Error& e) {
    if (comm.is_root()) std::fprintf(stderr, "bench_csv_ingest: %s\n", e.what());
    return exit_code(e.kind());
  }
}
