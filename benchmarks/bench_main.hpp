#pragma once
// The common `main` of the MPI benchmark drivers: MPI set-up, quiet logging, and errors printed
// once (by rank 0) as "<driver>: <message>" with shardflow's exit code.

#include <malloc.h>
#include <mpi.h>

#include <cstdio>

#include "shardflow/common/error.hpp"
#include "shardflow/common/logging.hpp"
#include "shardflow/mpi/environment.hpp"

namespace shardflow::bench {

struct DriverOptions {
  /// Keep freed large blocks in the heap instead of returning them to the kernel, so repeats
  /// reuse already-mapped pages (as an engine with a buffer pool would) rather than paying a page
  /// fault per 4 KiB of output on every repeat.
  bool keep_heap = false;
};

/// Runs `run(argc, argv)` (which returns the exit code) inside an MPI environment.
template <typename Run>
int driver_main(const char* name, int argc, char** argv, DriverOptions options, Run run) {
  if (options.keep_heap) {
    mallopt(M_MMAP_MAX, 0);
    mallopt(M_TRIM_THRESHOLD, 1 << 30);
  }
  mpi::Environment env(&argc, &argv);
  int rank = 0, size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  setup_logging(rank, size, {.level = "warn", .all_ranks = false});
  try {
    return run(argc, argv);
  } catch (const Error& e) {
    if (rank == 0 || !e.agreed()) std::fprintf(stderr, "%s: %s\n", name, e.what());
    return exit_code(e.kind());
  }
}

}  // namespace shardflow::bench
