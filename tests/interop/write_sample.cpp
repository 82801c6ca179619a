// Writes a small, fully deterministic table with every column type through io::write_table, so
// tests/interop/test_h5py.sh can check that h5py/pandas read it without shardflow.
// Usage: mpiexec -n P interop_write_sample <file.h5>
// Rank r holds rows (rank 1 holds none, to exercise empty slabs); row i (global) has
//   id = i, x = i * 0.5 (null when i % 4 == 3), n = 1000 - i, flag = i odd,
//   ts = 1700000000000000 + i seconds (us), city = ["Berlin", "Paris", "Tokyo"][i % 3],
//   note = "row-<i>" repeated (i % 3 + 1) times,
//   text = ["", "a,b \"q\"\nnext", "été 🙂 日本", 3000 x "x"][i % 4] (plain strings).

#include <cstdio>
#include <exception>
#include <memory>
#include <string>

#include "shardflow/io/hdf5_table.hpp"
#include "shardflow/mpi/allreduce.hpp"
#include "shardflow/mpi/comm.hpp"
#include "shardflow/mpi/environment.hpp"

using namespace shardflow;
using table::Column;
using table::DataType;

int main(int argc, char** argv) {
  mpi::Environment env(&argc, &argv);
  if (argc != 2) {
    std::fprintf(stderr, "usage: interop_write_sample <file.h5>\n");
    return 2;
  }
  try {
    mpi::Comm comm;
    const idx_t rows = comm.rank() == 1 ? 0 : 3 + comm.rank();
    const idx_t first = mpi::exscan_sum(comm, rows);
    Column id(DataType::kInt64), x(DataType::kFloat64), n(DataType::kInt32), flag(DataType::kBool),
        ts(DataType::kTimestamp), city(DataType::kString);
    Column note = Column::plain_strings();
    Column text = Column::plain_strings();
    const std::string texts[] = {"", "a,b \"q\"\nnext",
                                 "\xc3\xa9t\xc3\xa9 \xf0\x9f\x99\x82 \xe6\x97\xa5\xe6\x9c\xac",
                                 std::string(3000, 'x')};
    city.set_dictionary(std::make_shared<const table::Dictionary>(
        std::vector<std::string>{"Berlin", "Paris", "Tokyo"}));
    x.ensure_validity();
    for (idx_t i = first; i < first + rows; ++i) {
      id.values<std::int64_t>().push_back(i);
      x.values<double>().push_back(static_cast<double>(i) * 0.5);
      x.validity().push_back(i % 4 == 3 ? 0 : 1);
      n.values<std::int32_t>().push_back(static_cast<std::int32_t>(1000 - i));
      flag.values<std::uint8_t>().push_back(static_cast<std::uint8_t>(i % 2));
      ts.values<std::int64_t>().push_back(1'700'000'000'000'000 + i * 1'000'000);
      city.codes().push_back(static_cast<std::int32_t>(i % 3));
      std::string s;
      for (idx_t k = 0; k <= i % 3; ++k)
        s += "row-" + std::to_string(i);
      note.plain().push_back(s);
      text.plain().push_back(texts[i % 4]);
    }
    x.compact_validity();
    table::Table t;
    t.add_column("id", std::move(id));
    t.add_column("x", std::move(x));
    t.add_column("n", std::move(n));
    t.add_column("flag", std::move(flag));
    t.add_column("ts", std::move(ts));
    t.add_column("city", std::move(city));
    t.add_column("note", std::move(note));
    t.add_column("text", std::move(text));
    io::write_table(comm, argv[1], "sample", t, {.chunk_rows = 4, .fingerprint = "interop"});
  } catch (const std::exception& e) {
    std::fprintf(stderr, "interop_write_sample: %s\n", e.what());
    return 1;
  }
  return 0;
}
