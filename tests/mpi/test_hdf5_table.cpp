// HDF5 table round trips at every rank count, checked against the concatenation of every rank's
// input (each rank can regenerate all ranks' rows from the seed), plus the error paths and the
// properties the layout promises: collective transfers, Fletcher32 on every dataset, `complete`.

#include <gtest/gtest.h>
#include <hdf5.h>

#include <algorithm>
#include <filesystem>
#include <random>

#include "shardflow/io/hdf5_handle.hpp"
#include "shardflow/io/hdf5_table.hpp"
#include "shardflow/mpi/allreduce.hpp"
#include "shardflow/mpi/comm.hpp"
#include "support/test_util.hpp"

using namespace shardflow;
using namespace shardflow::table;
using shardflow::testing_util::TempDir;

namespace {

#define EXPECT_CONTAINS(text, part)                          \
  EXPECT_NE(std::string(text).find(part), std::string::npos) \
      << "expected to find \"" << (part) << "\" in \"" << (text) << "\""

std::shared_ptr<const Dictionary> test_dictionary() {
  return std::make_shared<const Dictionary>(
      std::vector<std::string>{"", "\"quoted\", with comma", "alpha", "beta\nnewline",
                               "gamma with spaces", "z", "\xc3\xa9t\xc3\xa9 \xf0\x9f\x99\x82"});
}

// Rows of rank `rank` for `seed`: `rows` random rows of every type; `null_rank` alone has nulls.
Table make_part(std::uint64_t seed, int rank, idx_t rows, int null_rank) {
  std::mt19937_64 rng(seed * 1000003 + static_cast<std::uint64_t>(rank));
  std::uniform_int_distribution<int> coin(0, 3);
  Column i32(DataType::kInt32), i64(DataType::kInt64), f32(DataType::kFloat32),
      f64(DataType::kFloat64), b(DataType::kBool), ts(DataType::kTimestamp),
      dict(DataType::kString);
  Column plain = Column::plain_strings();
  dict.set_dictionary(test_dictionary());
  for (idx_t i = 0; i < rows; ++i) {
    i32.values<std::int32_t>().push_back(static_cast<std::int32_t>(rng()));
    i64.values<std::int64_t>().push_back(static_cast<std::int64_t>(rng()));
    f32.values<float>().push_back(std::uniform_real_distribution<float>(-1e6f, 1e6f)(rng));
    f64.values<double>().push_back(std::normal_distribution<double>(0, 1e9)(rng));
    b.values<std::uint8_t>().push_back(static_cast<std::uint8_t>(rng() & 1));
    ts.values<std::int64_t>().push_back(1'600'000'000'000'000 +
                                        static_cast<std::int64_t>(rng() % 1000000000));
    dict.codes().push_back(static_cast<std::int32_t>(rng() % 7));
    // Empty strings, separators, quotes, line breaks, multi-byte UTF-8 and NUL bytes.
    static const std::vector<std::string> pieces{"a",
                                                 "q",
                                                 "z",
                                                 ",",
                                                 "\"",
                                                 "'",
                                                 "\n",
                                                 "\r\n",
                                                 " ",
                                                 "\xc3\xa9",
                                                 "\xe6\x97\xa5\xe6\x9c\xac",
                                                 "\xf0\x9f\x99\x82",
                                                 std::string(1, '\0')};
    std::string s;
    for (auto k = rng() % 12; k > 0; --k)
      s += pieces[rng() % pieces.size()];
    plain.plain().push_back(s);
  }
  Table t;
  t.add_column("i32", std::move(i32));
  t.add_column("i64", std::move(i64));
  t.add_column("f32", std::move(f32));
  t.add_column("f64", std::move(f64));
  t.add_column("flag", std::move(b));
  t.add_column("when", std::move(ts));
  t.add_column("category", std::move(dict));
  t.add_column("text, with:odd name", std::move(plain));
  if (rank == null_rank) {
    for (int c : {0, 3, 6, 7}) {
      auto& col = t.column(c);
      col.ensure_validity();
      for (auto& v : col.validity())
        v = coin(rng) != 0;
    }
  }
  return t;
}

idx_t rows_of(int rank, int variant) {
  switch (variant) {
    case 0:
      return 5 + 7 * rank;  // uneven
    case 1:
      return rank == 1 ? 0 : 40 + rank;  // an empty rank
    case 2:
      return rank == 0 ? 100 : 0;  // everything on rank 0
    default:
      return 0;  // zero-row table
  }
}

void expect_same_rows(const Table& actual, const Table& expected) {
  ASSERT_EQ(actual.schema(), expected.schema());
  ASSERT_EQ(actual.num_rows(), expected.num_rows());
  for (int c = 0; c < expected.num_columns(); ++c) {
    const Column& a = actual.column(c);
    const Column& e = expected.column(c);
    SCOPED_TRACE("column " + expected.schema().field(c).name);
    EXPECT_EQ(a.is_dictionary_encoded(), e.is_dictionary_encoded());
    for (idx_t i = 0; i < e.size(); ++i) {
      ASSERT_EQ(a.is_valid(i), e.is_valid(i)) << "row " << i;
      if (!e.is_valid(i)) continue;
      if (e.type() == DataType::kString) {
        ASSERT_EQ(a.string_at(i), e.string_at(i)) << "row " << i;
      } else if (e.type() == DataType::kFloat32) {
        ASSERT_EQ(a.values<float>()[static_cast<size_t>(i)],
                  e.values<float>()[static_cast<size_t>(i)]);
      } else if (e.type() == DataType::kFloat64) {
        ASSERT_EQ(a.values<double>()[static_cast<size_t>(i)],
                  e.values<double>()[static_cast<size_t>(i)]);
      } else {
        ASSERT_EQ(a.to_string_at(i), e.to_string_at(i)) << "row " << i;
      }
    }
    if (e.is_dictionary_encoded()) {
      EXPECT_EQ(a.dictionary()->values(), e.dictionary()->values());
    }
  }
}

// Every rank's expected slice: the global concatenation, split as read_table promises.
Table expected_slice(const mpi::Comm& comm, std::uint64_t seed, int variant, int null_rank) {
  Table all = make_part(seed, 0, rows_of(0, variant), null_rank);
  for (int r = 1; r < comm.size(); ++r)
    all.append(make_part(seed, r, rows_of(r, variant), null_rank));
  const idx_t n = all.num_rows(), p = comm.size(), r = comm.rank();
  const idx_t begin = n / p * r + std::min(n % p, r);
  const idx_t count = n / p + (r < n % p ? 1 : 0);
  std::vector<idx_t> rows(static_cast<size_t>(count));
  for (idx_t i = 0; i < count; ++i)
    rows[static_cast<size_t>(i)] = begin + i;
  return all.take(rows);
}

}  // namespace

TEST(Hdf5Table, RoundTripEveryTypeAndDistribution) {
  mpi::Comm comm;
  TempDir dir(comm);
  const std::string path = dir.str() + "/tables.h5";
  for (int variant = 0; variant < 4; ++variant) {
    for (idx_t chunk : {idx_t{3}, idx_t{1} << 16}) {
      const std::uint64_t seed = 17 + static_cast<std::uint64_t>(variant);
      const int null_rank = variant == 1 ? comm.size() - 1 : 0;
      SCOPED_TRACE("variant " + std::to_string(variant) + " chunk " + std::to_string(chunk));
      const Table part = make_part(seed, comm.rank(), rows_of(comm.rank(), variant), null_rank);
      const std::string name = "t" + std::to_string(variant);
      io::write_table(comm, path, name, part, {.chunk_rows = chunk, .fingerprint = "fp-" + name});
      const Table back = io::read_table(comm, path, name);
      expect_same_rows(back, expected_slice(comm, seed, variant, null_rank));
    }
  }
  if (comm.is_root()) {
    const auto infos = io::list_tables(path);
    ASSERT_EQ(infos.size(), 4u);
    EXPECT_EQ(infos[0].name, "t0");
    EXPECT_EQ(infos[0].fingerprint, "fp-t0");
    EXPECT_TRUE(infos[0].complete);
    EXPECT_EQ(infos[3].num_rows, 0);
    idx_t rows0 = 0;
    for (int r = 0; r < comm.size(); ++r)
      rows0 += rows_of(r, 0);
    EXPECT_EQ(infos[0].num_rows, rows0);
    EXPECT_EQ(infos[0].schema.to_string(), make_part(1, 0, 0, -1).schema().to_string());
  }
}

TEST(Hdf5Table, WritesAreCollectiveAndChecksummed) {
  mpi::Comm comm;
  TempDir dir(comm);
  const std::string path = dir.str() + "/c.h5";
  const Table part = make_part(5, comm.rank(), rows_of(comm.rank(), 1), 0);
  const auto before = io::transfer_stats();
  io::write_table(comm, path, "t", part, {.chunk_rows = 4, .fingerprint = ""});
  const auto after = io::transfer_stats();
  // 8 columns (the plain string column: lengths and bytes) + 1 dictionary (lengths and bytes)
  // + 4 validity datasets (the null rank is rank 0, which has rows).
  EXPECT_EQ(after.collective - before.collective, 15);
  EXPECT_EQ(after.independent, before.independent);
  EXPECT_EQ(after.mixed, before.mixed);
  const auto read_before = io::transfer_stats();
  io::read_table(comm, path, "t");
  EXPECT_EQ(io::transfer_stats().collective - read_before.collective, 15);
  EXPECT_EQ(io::transfer_stats().independent, read_before.independent);

  if (comm.is_root()) {
    io::Hid file(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose);
    ASSERT_TRUE(file.valid());
    int checked = 0;
    for (const char* ds :
         {"i32", "i64", "f32", "f64", "flag", "when", "category", "category.dictionary",
          "category.dictionary.bytes", "text, with:odd name", "text, with:odd name.bytes",
          "i32.valid", "f64.valid", "category.valid"}) {
      io::Hid d(H5Dopen2(file.get(), (std::string("/t/") + ds).c_str(), H5P_DEFAULT), H5Dclose);
      ASSERT_TRUE(d.valid()) << ds;
      io::Hid dcpl(H5Dget_create_plist(d.get()), H5Pclose);
      unsigned flags = 0;
      size_t nelmts = 0;
      unsigned filter_config = 0;
      EXPECT_GE(H5Pget_filter_by_id2(dcpl.get(), H5Z_FILTER_FLETCHER32, &flags, &nelmts, nullptr, 0,
                                     nullptr, &filter_config),
                0)
          << ds << " has no Fletcher32 filter";
      EXPECT_EQ(H5Pget_layout(dcpl.get()), H5D_CHUNKED) << ds;
      ++checked;
    }
    EXPECT_EQ(checked, 14);
    io::Hid group(H5Gopen2(file.get(), "/t", H5P_DEFAULT), H5Gclose);
    EXPECT_EQ(io::read_int64_attribute(group.get(), "complete"), 1);
    EXPECT_EQ(io::read_int64_attribute(group.get(), "format_version"), 2);
    io::Hid when(H5Dopen2(file.get(), "/t/when", H5P_DEFAULT), H5Dclose);
    EXPECT_EQ(io::read_string_attribute(when.get(), "logical_type"), "timestamp");
    EXPECT_EQ(io::read_string_attribute(when.get(), "unit"), "us");
    io::Hid cat(H5Dopen2(file.get(), "/t/category", H5P_DEFAULT), H5Dclose);
    EXPECT_EQ(io::read_string_attribute(cat.get(), "encoding"), "dictionary");
    io::Hid text(H5Dopen2(file.get(), "/t/text, with:odd name", H5P_DEFAULT), H5Dclose);
    EXPECT_EQ(io::read_string_attribute(text.get(), "encoding"), "lengths");
    EXPECT_EQ(io::read_string_attribute(text.get(), "bytes"), "text, with:odd name.bytes");
  }
  comm.barrier();
}

TEST(Hdf5Table, ReplacingAGroupKeepsOnlyTheNewRows) {
  mpi::Comm comm;
  TempDir dir(comm);
  const std::string path = dir.str() + "/r.h5";
  io::write_table(comm, path, "t", make_part(1, comm.rank(), 50, 0));
  io::write_table(comm, path, "other", make_part(2, comm.rank(), 3, 0));
  io::write_table(comm, path, "t", make_part(3, comm.rank(), rows_of(comm.rank(), 0), 0));
  expect_same_rows(io::read_table(comm, path, "t"), expected_slice(comm, 3, 0, 0));
  expect_same_rows(io::read_table(comm, path, "other").select({"i64"}), [&] {
    Table all = make_part(2, 0, 3, 0);
    for (int r = 1; r < comm.size(); ++r)
      all.append(make_part(2, r, 3, 0));
    const idx_t n = all.num_rows(), p = comm.size(), r = comm.rank();
    const idx_t begin = n / p * r + std::min(n % p, r);
    std::vector<idx_t> rows;
    for (idx_t i = 0; i < n / p + (r < n % p ? 1 : 0); ++i)
      rows.push_back(begin + i);
    return all.take(rows).select({"i64"});
  }());
}

TEST(Hdf5Table, IncompleteTableIsRejected) {
  mpi::Comm comm;
  TempDir dir(comm);
  const std::string path = dir.str() + "/i.h5";
  io::write_table(comm, path, "t", make_part(4, comm.rank(), 10, 0));
  if (comm.is_root()) {
    // What a killed writer leaves: everything but the final flag.
    io::Hid file(H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT), H5Fclose);
    io::Hid group(H5Gopen2(file.get(), "/t", H5P_DEFAULT), H5Gclose);
    io::write_int64_attribute(group.get(), "complete", 0);
  }
  comm.barrier();
  try {
    io::read_table(comm, path, "t");
    FAIL() << "expected InputError";
  } catch (const InputError& e) {
    EXPECT_CONTAINS(e.what(), ("table 't' in " + path +
                               " was not completely written (the writer was interrupted); "
                               "rerun the stage that produces it"));
  }
  if (comm.is_root()) {
    const auto infos = io::list_tables(path);
    ASSERT_EQ(infos.size(), 1u);
    EXPECT_FALSE(infos[0].complete);
  }
  comm.barrier();
}

TEST(Hdf5Table, MissingFileAndTableAreInputErrors) {
  mpi::Comm comm;
  TempDir dir(comm);
  const std::string path = dir.str() + "/m.h5";
  try {
    io::read_table(comm, path, "t");
    FAIL() << "expected InputError";
  } catch (const InputError& e) {
    EXPECT_CONTAINS(e.what(), ("HDF5 file " + path + " does not exist"));
  }
  io::write_table(comm, path, "present", make_part(4, comm.rank(), 2, 0));
  try {
    io::read_table(comm, path, "absent");
    FAIL() << "expected InputError";
  } catch (const InputError& e) {
    EXPECT_CONTAINS(e.what(), (path + " has no table 'absent' (tables: present)"));
  }
  if (comm.is_root()) testing_util::write_file(dir.path() / "junk.h5", "not an hdf5 file at all");
  comm.barrier();
  try {
    io::read_table(comm, dir.str() + "/junk.h5", "t");
    FAIL() << "expected InputError";
  } catch (const InputError& e) {
    EXPECT_CONTAINS(e.what(), ("cannot open " + dir.str() + "/junk.h5 as an HDF5 file"));
  }
}

TEST(Hdf5Table, CorruptChunkIsDetectedOnEveryRank) {
  mpi::Comm comm;
  TempDir dir(comm);
  const std::string path = dir.str() + "/x.h5";
  io::write_table(comm, path, "t", make_part(9, comm.rank(), 64, 0),
                  {.chunk_rows = 16, .fingerprint = ""});
  if (comm.is_root()) {
    haddr_t address = 0;
    hsize_t size = 0;
    {
      io::Hid file(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose);
      io::Hid d(H5Dopen2(file.get(), "/t/f64", H5P_DEFAULT), H5Dclose);
      io::Hid space(H5Dget_space(d.get()), H5Sclose);
      hsize_t chunk_offset[1];
      unsigned mask = 0;
      ASSERT_GE(H5Dget_chunk_info(d.get(), space.get(), 0, chunk_offset, &mask, &address, &size),
                0);
    }
    std::FILE* f = std::fopen(path.c_str(), "r+b");
    ASSERT_NE(f, nullptr);
    std::fseek(f, static_cast<long>(address + size / 2), SEEK_SET);
    const int byte = std::fgetc(f);
    std::fseek(f, static_cast<long>(address + size / 2), SEEK_SET);
    std::fputc(byte ^ 0x10, f);
    std::fclose(f);
  }
  comm.barrier();
  try {
    io::read_table(comm, path, "t");
    FAIL() << "expected RuntimeError";
  } catch (const RuntimeError& e) {
    EXPECT_CONTAINS(e.what(), ("/t/f64"));
    EXPECT_CONTAINS(e.what(), ("Fletcher32"));
  }
}

TEST(Hdf5Table, InvalidColumnNamesAreRejectedBeforeWriting) {
  mpi::Comm comm;
  TempDir dir(comm);
  Table t;
  Column a(DataType::kInt64);
  t.add_column("a/b", std::move(a));
  EXPECT_THROW(io::write_table(comm, dir.str() + "/n.h5", "t", t), RuntimeError);
  Table u;
  u.add_column("x", Column(DataType::kInt64));
  u.add_column("x.valid", Column(DataType::kInt64));
  EXPECT_THROW(io::write_table(comm, dir.str() + "/n.h5", "t", u), RuntimeError);
}

TEST(Hdf5Table, ReadableAtAnotherRankCount) {
  mpi::Comm comm;
  TempDir dir(comm);
  const std::string path = dir.str() + "/s.h5";
  io::write_table(comm, path, "t", make_part(21, comm.rank(), rows_of(comm.rank(), 1), 0));
  if (comm.is_root()) {
    // One rank reads everything, in global order.
    mpi::Comm self(MPI_COMM_SELF);
    Table all = make_part(21, 0, rows_of(0, 1), 0);
    for (int r = 1; r < comm.size(); ++r)
      all.append(make_part(21, r, rows_of(r, 1), 0));
    expect_same_rows(io::read_table(self, path, "t"), all);
  }
  comm.barrier();
}

namespace {

// Writes `t` (this rank's rows) and returns the file size and the strings' bytes over all ranks.
std::pair<idx_t, idx_t> file_and_string_bytes(const mpi::Comm& comm, const std::string& path,
                                              const Table& t) {
  idx_t string_bytes = 0;
  for (int c = 0; c < t.num_columns(); ++c) {
    const Column& col = t.column(c);
    if (col.type() != DataType::kString) continue;
    for (idx_t i = 0; i < col.size(); ++i)
      string_bytes += static_cast<idx_t>(col.string_at(i).size());
  }
  io::write_table(comm, path, "t", t);
  return {static_cast<idx_t>(std::filesystem::file_size(path)),
          mpi::allreduce_sum(comm, string_bytes)};
}

}  // namespace

// Issue 7: one 30,000-character value in 80,000 rows made a 2.4 GB file (every value padded to
// the longest) and crashed the collective write at 3-4 ranks; values up to 300 characters made
// 12x the data. Strings now cost their bytes plus a small length each: at most 1.5x.
TEST(Hdf5Table, LongStringsAreStoredCompactly) {
  mpi::Comm comm;
  TempDir dir(comm);
  const idx_t total = 80'000;
  const idx_t p = comm.size(), r = comm.rank();
  const idx_t begin = total / p * r + std::min(total % p, r);
  const idx_t rows = total / p + (r < total % p ? 1 : 0);
  const std::string huge(30'000, 'x');
  std::mt19937_64 rng(7 + static_cast<std::uint64_t>(r));
  for (int variant = 0; variant < 3; ++variant) {
    SCOPED_TRACE("variant " + std::to_string(variant));
    Table t;
    Column s = Column::plain_strings();
    for (idx_t i = begin; i < begin + rows; ++i) {
      if (variant == 0) {  // distinct short values and one of 30,000 characters (plain)
        s.plain().push_back(i == total / 2 ? huge : "value-" + std::to_string(i));
      } else {  // random lengths up to 300
        s.plain().push_back(std::string(rng() % 301, static_cast<char>('a' + i % 26)));
      }
    }
    if (variant == 2) {  // the same values dictionary-encoded (one long dictionary)
      std::vector<std::string> values;
      for (idx_t i = 0; i < total; ++i)
        values.push_back("d" + std::to_string(i) + (i == 7 ? huge : std::string()));
      std::sort(values.begin(), values.end());
      Column d(DataType::kString);
      d.set_dictionary(std::make_shared<const Dictionary>(values));
      for (idx_t i = begin; i < begin + rows; ++i)
        d.codes().push_back(static_cast<std::int32_t>(i));
      s = std::move(d);
    }
    t.add_column("s", std::move(s));
    const std::string path = dir.str() + "/long" + std::to_string(variant) + ".h5";
    const auto [file_bytes, string_bytes] = file_and_string_bytes(comm, path, t);
    // Dictionary: the codes (4 bytes a row) come on top of the dictionary's strings.
    const idx_t extra = variant == 2 ? 4 * total : 0;
    EXPECT_LE(file_bytes, (string_bytes * 3) / 2 + extra)
        << "file " << file_bytes << " bytes for " << string_bytes << " bytes of strings";
    const Table back = io::read_table(comm, path, "t");
    expect_same_rows(back, t);  // read_table splits rows like `begin`/`rows` above
  }
}

TEST(Hdf5Table, RanksDisagreeingOnTheDictionaryAreCaught) {
  mpi::Comm comm;
  if (comm.size() == 1) GTEST_SKIP() << "needs two ranks to disagree";
  TempDir dir(comm);
  Table t;
  Column c(DataType::kString);
  c.set_dictionary(std::make_shared<const Dictionary>(
      std::vector<std::string>{"a", comm.rank() == 1 ? "c" : "b"}));
  c.codes() = {0, 1};
  t.add_column("c", std::move(c));
  try {
    io::write_table(comm, dir.str() + "/d.h5", "t", t);
    FAIL() << "expected RuntimeError";
  } catch (const RuntimeError& e) {
    EXPECT_CONTAINS(e.what(),
                    "the ranks disagree on the table name, schema, string encodings, "
                    "dictionaries or write options");
  }
}

TEST(Hdf5Table, StringsWithNulBytesRoundTrip) {
  mpi::Comm comm;
  TempDir dir(comm);
  Table t;
  Column s = Column::plain_strings();
  s.plain().push_back(std::string("a\0b", 3));
  s.plain().push_back(std::string(2, '\0'));
  t.add_column("s", std::move(s));
  io::write_table(comm, dir.str() + "/nul.h5", "t", t);
  const Table back = io::read_table(comm, dir.str() + "/nul.h5", "t");
  expect_same_rows(back, t);
}
