// Hash shuffle throughput against the floor: a plain MPI_Alltoallv of the same bytes per
// destination (what a perfect shuffle would cost: no hashing, no packing, no unpacking).
//
//   bench_shuffle [rows_per_rank=4000000] [repeats=3] [round_mb=64]
//
// Prints one JSON line per implementation on rank 0 (S: best of `repeats`; F: the first repeat):
//   {"bench":"shuffle","impl":"shardflow","ranks":R,"rows":N,"bytes":B,"seconds":S,"first":F,
//    "single_copy":M}
//   {"bench":"shuffle","impl":"shardflow_mpi_transport",...}
//   {"bench":"shuffle","impl":"shardflow_staging",...}
//   {"bench":"shuffle","impl":"shardflow_scalar_scatter",...}
//   {"bench":"shuffle","impl":"mpi_alltoallv","ranks":R,"rows":N,"bytes":B,"seconds":S,...}
// shardflow is hash_shuffle as the engine runs it (on one host: through on-node shared memory);
// shardflow_mpi_transport is the same shuffle forced through MPI_Alltoallv (what it does across
// hosts), kept here as the measurement behind the shared-memory transport;
// shardflow_staging is the shuffle with peers' outputs turned off (rows go through the staging
// segments and are copied out by the receiver), the measurement behind writing straight into
// peers' outputs (ops/shuffle.cpp, common/shared_heap.hpp); shardflow_scalar_scatter is the
// staging line with the scalar scatter, the measurement behind ops/partition_scatter.hpp. rows
// and bytes are
// totals over all ranks; M is OMPI_MCA_btl_vader_single_copy_mechanism ("default" when unset),
// the same for every line since all run in this one job.

#include <mpi.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "bench_main.hpp"
#include "shardflow/common/error.hpp"
#include "shardflow/common/timer.hpp"
#include "shardflow/mpi/allreduce.hpp"
#include "shardflow/mpi/comm.hpp"
#include "shardflow/mpi/environment.hpp"
#include "shardflow/ops/shuffle.hpp"

using namespace shardflow;

namespace {

table::Table make_table(int rank, idx_t rows) {
  std::mt19937_64 rng(0x5eed + static_cast<std::uint64_t>(rank));
  table::Column key(table::DataType::kInt64), v(table::DataType::kInt64),
      x(table::DataType::kFloat64), s(table::DataType::kString);
  std::vector<std::string> words;
  for (int i = 0; i < 100; ++i)
    words.push_back(fmt::format("id{:03d}", i));
  s.set_dictionary(std::make_shared<const table::Dictionary>(words));
  auto& kv = key.values<std::int64_t>();
  auto& vv = v.values<std::int64_t>();
  auto& xv = x.values<double>();
  auto& sv = s.codes();
  kv.resize(static_cast<size_t>(rows));
  vv.resize(static_cast<size_t>(rows));
  xv.resize(static_cast<size_t>(rows));
  sv.resize(static_cast<size_t>(rows));
  for (idx_t i = 0; i < rows; ++i) {
    const auto r = rng();
    kv[static_cast<size_t>(i)] = static_cast<std::int64_t>(r >> 24);
    vv[static_cast<size_t>(i)] = static_cast<std::int64_t>(r & 0xffff);
    xv[static_cast<size_t>(i)] = static_cast<double>(r % 1000003) * 1e-3;
    sv[static_cast<size_t>(i)] = static_cast<std::int32_t>(r % 100);
  }
  table::Table t;
  t.add_column("key", std::move(key));
  t.add_column("v", std::move(v));
  t.add_column("x", std::move(x));
  t.add_column("s", std::move(s));
  return t;
}

int run(int argc, char** argv) {
  mpi::Comm comm;
  const idx_t rows = argc > 1 ? std::atoll(argv[1]) : 4000000;
  const int repeats = argc > 2 ? std::atoi(argv[2]) : 3;
  const idx_t round_mb = argc > 3 ? std::atoll(argv[3]) : 64;
  if (rows < 0 || repeats < 1 || round_mb < 1) {
    throw ConfigError("usage: bench_shuffle [rows_per_rank >= 0] [repeats >= 1] [round_mb >= 1]");
  }
  const table::Table t = make_table(comm.rank(), rows);
  const idx_t row_bytes = 8 + 8 + 8 + 4;
  const int p = comm.size();
  const ops::ShuffleOptions options{.round_bytes = round_mb << 20};
  const ops::ShuffleOptions mpi_options{.round_bytes = round_mb << 20,
                                        .on_node_shared_memory = false};

  // ---- floor: MPI_Alltoallv of the same bytes per destination ----------------------------------
  // Rank d gets exactly the rows whose hash names d (hash_shuffle's destinations), so both sides
  // move the same bytes to every destination. The floor's buffers are allocated and touched once,
  // outside the timed region; the shuffle allocates its output on every call (reusing heap memory,
  // see main), and that is part of its time.
  const std::vector<std::uint64_t> h = ops::hash_rows(t, {0});
  std::vector<idx_t> per_dest(static_cast<size_t>(p), 0);
  for (auto x : h)
    ++per_dest[static_cast<size_t>(ops::rank_of_hash(x, p))];
  std::vector<int> sc(static_cast<size_t>(p)), sd(static_cast<size_t>(p)),
      rc(static_cast<size_t>(p)), rd(static_cast<size_t>(p));
  idx_t so = 0;
  for (int d = 0; d < p; ++d) {
    sc[static_cast<size_t>(d)] = checked_int(per_dest[static_cast<size_t>(d)] * row_bytes, "count");
    sd[static_cast<size_t>(d)] = checked_int(so, "displacement");
    so += per_dest[static_cast<size_t>(d)] * row_bytes;
  }
  mpi::check(MPI_Alltoall(sc.data(), 1, MPI_INT, rc.data(), 1, MPI_INT, comm.native()),
             "MPI_Alltoall");
  idx_t ro = 0;
  for (int d = 0; d < p; ++d) {
    rd[static_cast<size_t>(d)] = checked_int(ro, "displacement");
    ro += rc[static_cast<size_t>(d)];
  }
  std::vector<char> send(static_cast<size_t>(so), 1), recv(static_cast<size_t>(ro));

  // ---- timing: the sides alternate within every repeat ----------------------------------------
  // Other processes share the cores; alternating keeps a burst of outside load from landing on
  // one side only. Best of `repeats` for each.
  double best = std::numeric_limits<double>::max();
  double best_mpi_transport = std::numeric_limits<double>::max();
  double best_scalar = std::numeric_limits<double>::max();
  double best_staging = std::numeric_limits<double>::max();
  double best_mpi = std::numeric_limits<double>::max();
  // The first repeat of each side: what a job's one shuffle pays (fresh output pages and, for the
  // shared-memory transport, its staging segments).
  double first = 0, first_mpi_transport = 0, first_mpi = 0, first_scalar = 0, first_staging = 0;
  idx_t received = 0;
  for (int r = 0; r < repeats; ++r) {
    // 0: shardflow, 1: forced through MPI, 2: through the staging segments, 3: staging with the
    // scalar scatter.
    for (int side = 0; side < 4; ++side) {
      ops::detail::set_peer_outputs(side < 2);
      ops::detail::set_vectorized_scatter(side != 3);
      comm.barrier();
      Stopwatch sw;
      const table::Table out =
          ops::hash_shuffle(comm, t, {"key"}, side == 1 ? mpi_options : options);
      comm.barrier();
      const double seconds = sw.seconds();
      ops::detail::set_peer_outputs(true);
      ops::detail::set_vectorized_scatter(true);
      double* const bests[] = {&best, &best_mpi_transport, &best_staging, &best_scalar};
      double* const firsts[] = {&first, &first_mpi_transport, &first_staging, &first_scalar};
      *bests[side] = std::min(*bests[side], seconds);
      if (r == 0) *firsts[side] = seconds;
      if (received != 0 && received != out.num_rows()) {
        throw RuntimeError(
            "bench_shuffle: rank {} received {} rows from one transport, {} from "
            "the other",
            comm.rank(), received, out.num_rows());
      }
      received = out.num_rows();
    }
    comm.barrier();
    Stopwatch sw;
    mpi::check(MPI_Alltoallv(send.data(), sc.data(), sd.data(), MPI_BYTE, recv.data(), rc.data(),
                             rd.data(), MPI_BYTE, comm.native()),
               "MPI_Alltoallv");
    comm.barrier();
    const double seconds = sw.seconds();
    best_mpi = std::min(best_mpi, seconds);
    if (r == 0) first_mpi = seconds;
  }
  if (received * row_bytes != ro) {
    throw RuntimeError(
        "bench_shuffle: rank {} received {} rows from the shuffle but {} bytes ({} rows) from the "
        "alltoallv floor; both must move the same rows",
        comm.rank(), received, ro, ro / row_bytes);
  }
  const idx_t total_rows = mpi::allreduce_sum<idx_t>(comm, received);
  const idx_t bytes = total_rows * row_bytes;
  // The shared-memory transport's single-copy mechanism changes both sides' numbers (the tests
  // run with "none", which some containers need); it is reported with the results.
  const char* single_copy = std::getenv("OMPI_MCA_btl_vader_single_copy_mechanism");
  const std::string mechanism = single_copy != nullptr ? single_copy : "default";
  if (comm.is_root()) {
    struct Line {
      const char* impl;
      double best, first;
    };
    for (const Line& l : {Line{"shardflow", best, first},
                          Line{"shardflow_mpi_transport", best_mpi_transport, first_mpi_transport},
                          Line{"shardflow_staging", best_staging, first_staging},
                          Line{"shardflow_scalar_scatter", best_scalar, first_scalar},
                          Line{"mpi_alltoallv", best_mpi, first_mpi}}) {
      std::printf(
          "{\"bench\":\"shuffle\",\"impl\":\"%s\",\"ranks\":%d,\"rows\":%lld,\"bytes\":%lld,"
          "\"seconds\":%.6f,\"first\":%.6f,\"single_copy\":\"%s\"}\n",
          l.impl, p, static_cast<long long>(total_rows), static_cast<long long>(bytes), l.best,
          l.first, mechanism.c_str());
    }
    std::fflush(stdout);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  // The MPI baseline reuses its buffers; keep_heap lets repeated shuffles reuse theirs too.
  return bench::driver_main("bench_shuffle", argc, argv, {.keep_heap = true}, run);
}
