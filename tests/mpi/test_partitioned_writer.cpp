// Partitioned output (io/partitioned_writer.hpp) after a hash shuffle by the partition columns, as
// the job runner does it: the tree written at any rank count equals a brute-force reference built
// from the whole table (the set of files, every CSV file byte for byte, every HDF5 file's rows),
// with nulls, empty ranks, one partition, dictionary and plain strings, ints, floats, bools,
// timestamps, several columns and tiny shuffle rounds; hostile string values all land inside the
// output directory and decode to themselves; a value too long for a file name is refused on
// every rank naming its global row; a rerun replaces the previous tree without leftovers.

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <set>

#include "ops_test_support.hpp"
#include "shardflow/common/error.hpp"
#include "shardflow/io/csv_writer.hpp"
#include "shardflow/io/hdf5_table.hpp"
#include "shardflow/io/partitioned_writer.hpp"
#include "shardflow/ops/shuffle.hpp"
#include "support/test_util.hpp"

using namespace shardflow;
using namespace shardflow::ops_test;
namespace fs = std::filesystem;
using shardflow::testing_util::read_file;
using shardflow::testing_util::TempDir;

namespace {

std::vector<int> indexes(const Table& t, const std::vector<std::string>& names) {
  std::vector<int> out;
  for (const auto& n : names)
    out.push_back(t.schema().index_of(n));
  return out;
}

// What the job runner does: check names, shuffle by the partition values, write.
void write(const mpi::Comm& comm, const Table& t, const std::vector<std::string>& by,
           const fs::path& dir, const std::string& format, idx_t round_bytes) {
  const std::vector<int> cols = indexes(t, by);
  io::check_partition_names(comm, t, cols);
  const auto hashes = ops::hash_rows(t, cols);
  std::vector<int> dest(hashes.size());
  for (size_t i = 0; i < hashes.size(); ++i)
    dest[i] = ops::rank_of_hash(hashes[i], comm.size());
  const Table shuffled =
      ops::shuffle_to(comm, t, dest, ops::ShuffleOptions{.round_bytes = round_bytes});
  io::PartitionedWriteOptions options;
  options.format = format;
  options.table_name = "t";
  options.chunk_rows = 7;
  io::write_partitioned(comm, shuffled, cols, dir.string(), options);
}

// Every regular file under `dir`, relative, and whether anything else than directories and
// regular files exists.
std::set<std::string> files_under(const fs::path& dir) {
  std::set<std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    if (e.is_regular_file()) {
      out.insert(fs::relative(e.path(), dir).string());
    } else {
      EXPECT_TRUE(e.is_directory()) << e.path();
    }
  }
  return out;
}

// The reference: relative file -> rows of `all` (global order).
std::map<std::string, std::vector<idx_t>> reference(const Table& all,
                                                    const std::vector<std::string>& by,
                                                    const std::string& ext) {
  std::map<std::string, std::vector<idx_t>> out;
  for (idx_t i = 0; i < all.num_rows(); ++i) {
    std::string rel;
    for (const auto& c : by)
      rel += io::partition_component(c, io::partition_value_text(all.column(c), i)) + "/";
    out[rel + "part-00000." + ext].push_back(i);
  }
  return out;
}

std::vector<std::string> data_names(const Table& t, const std::vector<std::string>& by) {
  std::vector<std::string> out;
  for (const auto& n : t.schema().names())
    if (std::find(by.begin(), by.end(), n) == by.end()) out.push_back(n);
  return out;
}

void check_tree(const Table& all, const std::vector<std::string>& by, const fs::path& dir,
                const std::string& format) {
  const std::string ext = format == "csv" ? "csv" : "h5";
  const auto want = reference(all, by, ext);
  std::set<std::string> want_files;
  for (const auto& [f, rows] : want)
    want_files.insert(f);
  ASSERT_EQ(files_under(dir), want_files);
  EXPECT_FALSE(fs::exists(dir.string() + ".tmp"));
  const auto cols = data_names(all, by);
  mpi::Comm self = mpi::Comm::self();
  for (const auto& [f, rows] : want) {
    const Table expected = all.take(rows).select(cols);
    // Each directory name decodes to the row's value.
    fs::path rel(f);
    size_t level = 0;
    for (auto it = rel.begin(); level < by.size(); ++it, ++level) {
      const auto parsed = io::parse_partition_component(it->string());
      ASSERT_TRUE(parsed.has_value());
      EXPECT_EQ(parsed->column, by[level]);
      EXPECT_EQ(parsed->value, io::partition_value_text(all.column(by[level]), rows[0]));
    }
    if (format == "csv") {
      std::string text;
      io::append_csv_header(expected.schema(), ',', text);
      io::append_csv_rows(expected, 0, expected.num_rows(), ',', text);
      EXPECT_EQ(read_file(dir / f), text) << f;
    } else {
      const Table got = io::read_table(self, (dir / f).string(), "t");
      ASSERT_EQ(got.schema(), expected.schema()) << f;
      ASSERT_EQ(got.num_rows(), expected.num_rows()) << f;
      for (idx_t i = 0; i < got.num_rows(); ++i)
        EXPECT_EQ(render_all(got, i), render_all(expected, i)) << f << " row " << i;
      for (const auto& c : got.columns()) {
        if (c.type() != DataType::kString || !c.is_dictionary_encoded()) continue;
        std::set<std::int32_t> used;
        for (idx_t i = 0; i < c.size(); ++i)
          if (c.is_valid(i)) used.insert(c.codes()[static_cast<size_t>(i)]);
        EXPECT_EQ(static_cast<idx_t>(std::max<size_t>(used.size(), 1)), c.dictionary()->size())
            << f;
      }
    }
  }
}

struct Case {
  std::uint64_t seed;
  idx_t base;
  bool empty_others;
  bool skew;
  std::vector<std::string> by;
  std::string format;
  idx_t round_bytes;
};

TEST(PartitionedWriter, TreeEqualsReferenceAtEveryRankCount) {
  mpi::Comm comm;
  TempDir tmp(comm);
  const std::vector<Case> cases = {
      {1, 60, false, false, {"k"}, "csv", 1 << 20},
      {2, 50, false, false, {"s", "b"}, "csv", 64},
      {3, 80, true, false, {"p"}, "hdf5", 256},
      {4, 40, false, true, {"k", "s", "fk"}, "hdf5", 64},
      {5, 12, false, false, {"t", "b", "fk"}, "csv", 128},  // ~1 row per partition
      {6, 8, false, false, {"i"}, "hdf5", 1 << 20},         // ~1 row per partition
      {7, 0, false, false, {"k"}, "csv", 64},               // rank 0 empty at base 0
  };
  int n = 0;
  for (const Case& c : cases) {
    SCOPED_TRACE(fmt::format("case {} by {} {}", n, fmt::join(c.by, ","), c.format));
    PieceOptions o;
    o.skew = c.skew;
    o.key_range = 4;
    o.null_rate = 0.15;
    const Table local = random_piece(c.seed, comm.rank(),
                                     rows_of(comm.rank(), comm.size(), c.base, c.empty_others), o);
    const Table all = global_table(c.seed, comm.size(), c.base, c.empty_others, o);
    const fs::path dir = tmp.path() / fmt::format("out{}", n++);
    write(comm, local, c.by, dir, c.format, c.round_bytes);
    // One rank checks: MPI-IO opens of the HDF5 files may leave short-lived lock-test files
    // next to them, which another rank's directory listing would see.
    if (comm.is_root()) check_tree(all, c.by, dir, c.format);
    comm.barrier();
  }
}

TEST(PartitionedWriter, HostileValuesStayInsideAndDecodeExactly) {
  mpi::Comm comm;
  TempDir tmp(comm);
  const std::vector<std::string> hostile = {"..",
                                            ".",
                                            "../../etc",
                                            "/abs",
                                            "a/b",
                                            std::string("nul\0byte", 8),
                                            "%2F",
                                            "%",
                                            "",
                                            "__HIVE_DEFAULT_PARTITION__",
                                            "\\..\\win",
                                            "c:x",
                                            "k=v",
                                            "\xe6\x97\xa5\xe6\x9c\xac \xc3\xa9",
                                            "\xff\xfe",
                                            "\n",
                                            std::string(200, '.'),
                                            "~"};
  // Row r of the global table: value hostile[r % n] (null every 7th), rank r holds rows
  // [r*11, r*11+11) -- so values spread over ranks and each partition gathers from several.
  auto build = [&](idx_t first, idx_t count) {
    Column v = Column::plain_strings();
    Column id(DataType::kInt64);
    for (idx_t r = first; r < first + count; ++r) {
      v.plain().push_back(hostile[static_cast<size_t>(r) % hostile.size()]);
      v.validity().push_back(r % 7 != 3);
      id.values<std::int64_t>().push_back(r);
    }
    Table t;
    t.add_column("v", std::move(v));
    t.add_column("id", std::move(id));
    return t;
  };
  const idx_t per_rank = 11;
  const Table local = build(comm.rank() * per_rank, per_rank);
  const Table all = build(0, per_rank * comm.size());
  const fs::path dir = tmp.path() / "nest" / "out";
  write(comm, local, {"v"}, dir, "csv", 64);

  const fs::path root = fs::weakly_canonical(dir);
  std::map<std::optional<std::string>, std::string> decoded;  // value -> file text
  for (const auto& e : fs::recursive_directory_iterator(tmp.path())) {
    const fs::path real = fs::weakly_canonical(e.path());
    const auto rel = real.lexically_relative(root);
    if (e.is_regular_file()) {
      // Every file lands inside the output directory, exactly one level down.
      ASSERT_FALSE(rel.empty()) << real;
      ASSERT_NE(*rel.begin(), "..") << real;
      ASSERT_EQ(std::distance(rel.begin(), rel.end()), 2) << real;
      const auto parsed = io::parse_partition_component(rel.begin()->string());
      ASSERT_TRUE(parsed.has_value());
      EXPECT_EQ(parsed->column, "v");
      EXPECT_TRUE(decoded.emplace(parsed->value, read_file(e.path())).second);
    }
  }
  // One partition per distinct value (and one for null), each with exactly its rows.
  std::map<std::optional<std::string>, std::vector<idx_t>> want;
  for (idx_t i = 0; i < all.num_rows(); ++i) {
    const Column& v = all.column("v");
    want[v.is_valid(i) ? std::optional<std::string>(std::string(v.string_at(i))) : std::nullopt]
        .push_back(i);
  }
  ASSERT_EQ(decoded.size(), want.size());
  for (const auto& [value, rows] : want) {
    ASSERT_TRUE(decoded.count(value)) << (value ? *value : "<null>");
    std::string text = "id\n";
    for (const idx_t r : rows)
      text += fmt::format("{}\n", r);
    EXPECT_EQ(decoded.at(value), text);
  }
  EXPECT_TRUE(decoded.count(std::nullopt));
  EXPECT_TRUE(decoded.count(std::string()));
  EXPECT_TRUE(decoded.count(std::string("__HIVE_DEFAULT_PARTITION__")));
}

TEST(PartitionedWriter, TooLongValueIsRefusedOnEveryRankWithItsRow) {
  mpi::Comm comm;
  TempDir tmp(comm);
  // The last row of the last rank is 300 bytes long.
  const idx_t per_rank = 3;
  const idx_t bad = per_rank * comm.size() - 1;
  Column v = Column::plain_strings();
  Column id(DataType::kInt64);
  for (idx_t r = comm.rank() * per_rank; r < (comm.rank() + 1) * per_rank; ++r) {
    v.plain().push_back(r == bad ? std::string(300, 'x') : "ok" + std::to_string(r));
    id.values<std::int64_t>().push_back(r);
  }
  Table t;
  t.add_column("v", std::move(v));
  t.add_column("id", std::move(id));
  const fs::path dir = tmp.path() / "out";
  try {
    write(comm, t, {"v"}, dir, "hdf5", 1 << 20);
    FAIL() << "no error";
  } catch (const InputError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find(fmt::format("partition column 'v', row {} (0-based", bad)),
              std::string::npos)
        << what;
    EXPECT_NE(what.find("(300 bytes)"), std::string::npos) << what;
    EXPECT_NE(what.find("255-byte limit"), std::string::npos) << what;
  }
  comm.barrier();
  EXPECT_FALSE(fs::exists(dir));
  EXPECT_FALSE(fs::exists(dir.string() + ".tmp"));
}

TEST(PartitionedWriter, RerunReplacesTheWholeTree) {
  mpi::Comm comm;
  TempDir tmp(comm);
  const fs::path dir = tmp.path() / "out";
  PieceOptions o;
  o.key_range = 6;
  const Table first =
      random_piece(11, comm.rank(), rows_of(comm.rank(), comm.size(), 40, false), o);
  write(comm, first, {"k"}, dir, "hdf5", 1 << 20);
  // A stale temporary tree of a killed run is ignored and removed.
  if (comm.is_root()) fs::create_directories(dir.string() + ".tmp/k=99");
  comm.barrier();
  o.key_range = 2;  // fewer partitions: the old ones must disappear
  const Table second =
      random_piece(12, comm.rank(), rows_of(comm.rank(), comm.size(), 40, false), o);
  write(comm, second, {"k"}, dir, "hdf5", 1 << 20);
  comm.barrier();
  if (comm.is_root()) check_tree(global_table(12, comm.size(), 40, false, o), {"k"}, dir, "hdf5");
  comm.barrier();
  EXPECT_FALSE(fs::exists(dir.string() + ".old.tmp"));
}

}  // namespace
