// Distributed sort and top-k of rows with an int64 and a float64 key (the DuckDB ORDER BY
// comparison), and the local sort kernel: the radix sort against the comparison sort.
//
//   bench_sort [rows=10000000] [repeats=3]
//
// `rows` in total over all ranks, rank r holding the contiguous share [rows*r/p, rows*(r+1)/p).
// Row g has a = hash(g) % 1000000 (int64, many repeats) and b = (hash(g ^ c) % 2^40) / 1024.0
// (float64), so the table is the same at every rank count. Times (best of `repeats`, barrier to
// barrier; the input is generated once and not timed):
//   sort_i64_f64:   ops::sort by (a, b)
//   top100_i64_f64: ops::sort_limit by (a desc, b), limit 100
//   local_sort_i64_f64, local_sort_i64x100_f64 (one rank only): ops::sort_permutation of the
//                   encoded keys, with the radix sort and with the comparison sort, for `a` as
//                   above and for `a` = hash(g) % 100 (few values, like id1 of gen join)
// and prints on rank 0, one JSON line each:
//   {"bench":"sort_i64_f64","impl":"shardflow","ranks":R,"rows":N,"seconds":S}

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <string>
#include <utility>

#include "bench_main.hpp"
#include "shardflow/common/error.hpp"
#include "shardflow/common/hash.hpp"
#include "shardflow/common/timer.hpp"
#include "shardflow/mpi/allreduce.hpp"
#include "shardflow/mpi/comm.hpp"
#include "shardflow/ops/sort.hpp"

using namespace shardflow;

namespace {

table::Table make_table(idx_t first, idx_t count, std::uint64_t distinct_a = 1000000) {
  table::Column a(table::DataType::kInt64);
  table::Column b(table::DataType::kFloat64);
  a.values<std::int64_t>().resize(static_cast<size_t>(count));
  b.values<double>().resize(static_cast<size_t>(count));
  for (idx_t i = 0; i < count; ++i) {
    const auto g = static_cast<std::uint64_t>(first + i);
    a.values<std::int64_t>()[static_cast<size_t>(i)] =
        static_cast<std::int64_t>(hash_u64(g) % distinct_a);
    b.values<double>()[static_cast<size_t>(i)] =
        static_cast<double>(hash_u64(g ^ 0x9e3779b97f4a7c15ULL) % (std::uint64_t{1} << 40)) /
        1024.0;
  }
  table::Table t;
  t.add_column("a", std::move(a));
  t.add_column("b", std::move(b));
  return t;
}

template <typename F>
double best_of(const mpi::Comm& comm, int repeats, F&& f) {
  double best = std::numeric_limits<double>::max();
  for (int i = 0; i < repeats; ++i) {
    comm.barrier();
    Stopwatch sw;
    f();
    comm.barrier();
    best = std::min(best, sw.seconds());
  }
  return best;
}

void print(const char* bench, int ranks, idx_t rows, double seconds, const char* impl) {
  std::printf("{\"bench\":\"%s\",\"impl\":\"%s\",\"ranks\":%d,\"rows\":%lld,\"seconds\":%.6f}\n",
              bench, impl, ranks, static_cast<long long>(rows), seconds);
}

int run(int argc, char** argv) {
  mpi::Comm comm;
  const idx_t rows = argc > 1 ? std::atoll(argv[1]) : 10000000;
  const int repeats = argc > 2 ? std::atoi(argv[2]) : 3;
  if (rows < 1) throw ConfigError("rows must be >= 1, got '{}'", argv[1]);
  if (repeats < 1) throw ConfigError("repeats must be >= 1, got '{}'", argv[2]);
  const int p = comm.size();
  const idx_t first = rows * comm.rank() / p;
  const table::Table t = make_table(first, rows * (comm.rank() + 1) / p - first);
  const std::vector<ops::SortKey> keys = {{"a"}, {"b"}};
  idx_t sorted_rows = 0;
  const double sort_s = best_of(comm, repeats, [&] {
    sorted_rows = mpi::allreduce_sum(comm, ops::sort(comm, t, keys).num_rows());
  });
  if (sorted_rows != rows) throw RuntimeError("sorted {} of {} rows", sorted_rows, rows);
  const double top_s = best_of(comm, repeats, [&] {
    ops::sort_limit(comm, t, {{"a", true}, {"b"}}, 100);
  });
  if (comm.is_root()) {
    print("sort_i64_f64", p, rows, sort_s, "shardflow");
    print("top100_i64_f64", p, rows, top_s, "shardflow");
  }
  if (p == 1) {
    // The local kernel on two key distributions: `a` with 1e6 values (the table above) and with
    // 100 values (id1 of `shardflow gen join`, the README's sort benchmark).
    const table::Table few = make_table(0, rows, 100);
    for (const auto& [bench, table] :
         {std::pair{"local_sort_i64_f64", &t}, std::pair{"local_sort_i64x100_f64", &few}}) {
      const ops::SortKeyLayout layout(*table, keys, {false, false});
      std::vector<std::int64_t> g(static_cast<size_t>(table->num_rows()));
      for (size_t i = 0; i < g.size(); ++i)
        g[i] = static_cast<std::int64_t>(i);
      const ops::EncodedKeys encoded = ops::encode_sort_keys(layout, *table, g);
      const double radix_s = best_of(comm, repeats, [&] { ops::sort_permutation(encoded); });
      ops::detail::set_radix_min_rows(std::numeric_limits<idx_t>::max());
      const double comparison_s = best_of(comm, repeats, [&] { ops::sort_permutation(encoded); });
      ops::detail::set_radix_min_rows(2048);
      print(bench, p, rows, radix_s, "radix");
      print(bench, p, rows, comparison_s, "std::sort");
    }
  }
  std::fflush(stdout);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return bench::driver_main("bench_sort", argc, argv, {.keep_heap = true}, run);
}
