// db-benchmark group-by questions on the h2oai groupby table (id1..id6, v1, v2, v3).
//
//   bench_group_by CSV_FILE [repeats=3] [generate_rows]
//
// Reads CSV_FILE with io::read_csv (ingest is not timed). If the file does not exist and
// generate_rows is given, it is first written with io::generate_csv("groupby", generate_rows).
// Times (best of `repeats`, barrier to barrier):
//   q1:   sum(v1) by id1
//   all6: sum(v3), count(*) by id1, id2, id3, id4, id5, id6
//   v3_id1, v3_id3: sum(v3), mean(v3) by id1 (K groups) and by id3 (N/K groups): the cost of
//         exact float sums per row and per group
//   q4:   mean(v1), mean(v2), mean(v3) by id4 (K integer values): direct-indexed grouping
//         (ops::group_direct) and the exact float adds on 64-bit words (ExactSums::add_fast)
// and prints on rank 0, one JSON line each:
//   {"bench":"groupby_q1","impl":"shardflow","ranks":R,"rows":N,"groups":G,"seconds":S}
//   {"bench":"groupby_all6","impl":"shardflow","ranks":R,"rows":N,"groups":G,"seconds":S}

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "bench_main.hpp"
#include "shardflow/common/error.hpp"
#include "shardflow/common/timer.hpp"
#include "shardflow/io/csv_reader.hpp"
#include "shardflow/io/synthetic.hpp"
#include "shardflow/mpi/allreduce.hpp"
#include "shardflow/mpi/comm.hpp"
#include "shardflow/mpi/environment.hpp"
#include "shardflow/ops/group_by.hpp"

using namespace shardflow;

namespace {

struct Result {
  double seconds = std::numeric_limits<double>::max();
  idx_t groups = 0;
};

Result time_query(const mpi::Comm& comm, const table::Table& t,
                  const std::vector<std::string>& keys, const std::vector<ops::AggSpec>& aggs,
                  int repeats) {
  Result r;
  for (int i = 0; i < repeats; ++i) {
    comm.barrier();
    Stopwatch sw;
    const table::Table out = ops::group_by(comm, t, keys, aggs);
    comm.barrier();
    r.seconds = std::min(r.seconds, sw.seconds());
    r.groups = mpi::allreduce_sum<idx_t>(comm, out.num_rows());
  }
  return r;
}

int run(int argc, char** argv) {
  mpi::Comm comm;
  if (argc < 2) {
    throw ConfigError("usage: bench_group_by CSV_FILE [repeats >= 1] [generate_rows]");
  }
  const std::string path = argv[1];
  const int repeats = argc > 2 ? std::atoi(argv[2]) : 3;
  if (repeats < 1) throw ConfigError("bench_group_by: repeats must be >= 1, got '{}'", argv[2]);
  if (argc > 3 && !std::filesystem::exists(path)) {
    const idx_t rows = std::atoll(argv[3]);
    if (rows < 1)
      throw ConfigError("bench_group_by: generate_rows must be >= 1, got '{}'", argv[3]);
    io::generate_csv(comm, "groupby", rows, 42, path);
  }
  io::CsvOptions options;
  options.paths = {path};
  using table::DataType;
  options.schema = table::Schema({{"id1", DataType::kString},
                                  {"id2", DataType::kString},
                                  {"id3", DataType::kString},
                                  {"id4", DataType::kInt32},
                                  {"id5", DataType::kInt32},
                                  {"id6", DataType::kInt32},
                                  {"v1", DataType::kInt32},
                                  {"v2", DataType::kInt32},
                                  {"v3", DataType::kFloat64}});
  io::CsvReadStats stats;
  Stopwatch ingest;
  const table::Table t = io::read_csv(comm, options, &stats);
  const double ingest_seconds = ingest.seconds();
  const int p = comm.size();

  const Result q1 = time_query(comm, t, {"id1"}, {{"sum", "v1", ""}}, repeats);
  const Result all6 = time_query(comm, t, {"id1", "id2", "id3", "id4", "id5", "id6"},
                                 {{"sum", "v3", ""}, {"count", "", ""}}, repeats);
  const std::vector<ops::AggSpec> v3 = {{"sum", "v3", ""}, {"mean", "v3", ""}};
  const Result v3_id1 = time_query(comm, t, {"id1"}, v3, repeats);
  const Result v3_id3 = time_query(comm, t, {"id3"}, v3, repeats);
  const Result q4 = time_query(comm, t, {"id4"},
                               {{"mean", "v1", ""}, {"mean", "v2", ""}, {"mean", "v3", ""}}, repeats);
  if (comm.is_root()) {
    std::fprintf(stderr, "bench_group_by: ingest %.3f s for %lld rows\n", ingest_seconds,
                 static_cast<long long>(stats.rows));
    std::printf(
        "{\"bench\":\"groupby_q1\",\"impl\":\"shardflow\",\"ranks\":%d,\"rows\":%lld,\"groups\":%"
        "lld,\"seconds\":%.6f}\n",
        p, static_cast<long long>(stats.rows), static_cast<long long>(q1.groups), q1.seconds);
    std::printf(
        "{\"bench\":\"groupby_all6\",\"impl\":\"shardflow\",\"ranks\":%d,\"rows\":%lld,\"groups\":"
        "%lld,\"seconds\":%.6f}\n",
        p, static_cast<long long>(stats.rows), static_cast<long long>(all6.groups), all6.seconds);
    for (const auto& [name, r] : {std::pair{"v3_id1", v3_id1}, std::pair{"v3_id3", v3_id3},
                                  std::pair{"q4", q4}}) {
      std::printf(
          "{\"bench\":\"groupby_%s\",\"impl\":\"shardflow\",\"ranks\":%d,\"rows\":%lld,"
          "\"groups\":%lld,\"seconds\":%.6f}\n",
          name, p, static_cast<long long>(stats.rows), static_cast<long long>(r.groups), r.seconds);
    }
    std::fflush(stdout);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return bench::driver_main("bench_group_by", argc, argv, {.keep_heap = true}, run);
}
