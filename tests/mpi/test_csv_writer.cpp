// write_csv: round trip write -> read_csv at every rank count, and byte-identical output.

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <optional>
#include <random>
#include <string>

#include "shardflow/common/hash.hpp"
#include "shardflow/io/csv_reader.hpp"
#include "shardflow/io/csv_writer.hpp"
#include "shardflow/mpi/allreduce.hpp"
#include "shardflow/table/dictionary_encoding.hpp"
#include "support/test_util.hpp"

using namespace shardflow;
using shardflow::table::DataType;

namespace {

constexpr idx_t kRows = 523;

std::uint64_t bits(idx_t row, int column) {
  return hash_u64(static_cast<std::uint64_t>(row) * 31 + static_cast<std::uint64_t>(column));
}
bool is_null(idx_t row, int column) {
  return bits(row, column + 100) % 9 == 0;
}

std::int64_t int_value(idx_t row) {
  return static_cast<std::int64_t>(bits(row, 0)) >> (bits(row, 50) % 60);
}
double float_value(idx_t row) {
  if (row == 5) return std::numeric_limits<double>::infinity();
  if (row == 6) return -0.0;
  if (row == 7) return 3.0;
  const auto b = bits(row, 1);
  return std::ldexp(
      static_cast<double>(static_cast<std::int64_t>(b >> 11)) - static_cast<double>(1LL << 52),
      static_cast<int>(b % 200) - 150);
}
std::string string_value(idx_t row) {
  static const char* pieces[] = {"a", "b,c", "say \"x\"", "two\nlines", "crlf\r\nend", " sp "};
  const auto b = bits(row, 2);
  if (b % 11 == 0) return "";  // the empty string (not null)
  return std::string("v") + pieces[b % 6] + std::to_string(b % 5);
}
bool bool_value(idx_t row) {
  return bits(row, 3) % 2 == 0;
}
std::int64_t ts_value(idx_t row) {
  return static_cast<std::int64_t>(bits(row, 4) % (200LL * 365 * 86400 * 1000000)) -
         50LL * 365 * 86400 * 1000000;
}
std::int32_t int32_value(idx_t row) {
  return static_cast<std::int32_t>(bits(row, 5));
}
float float32_value(idx_t row) {
  return static_cast<float>(bits(row, 6) % 100000) / 7.0f;
}

template <typename T, typename F>
table::Column make_column(DataType type, idx_t first, idx_t count, int c, F value) {
  table::Column col(type);
  auto& v = col.values<T>();
  auto& valid = col.validity();
  for (idx_t r = first; r < first + count; ++r) {
    v.push_back(is_null(r, c) ? T{} : static_cast<T>(value(r)));
    valid.push_back(is_null(r, c) ? 0 : 1);
  }
  col.compact_validity();
  return col;
}

/// Rows [first, first+count) of the test table; strings plain.
table::Table make_table(idx_t first, idx_t count) {
  table::Table t;
  t.add_column("i", make_column<std::int64_t>(DataType::kInt64, first, count, 0, int_value));
  t.add_column("f", make_column<double>(DataType::kFloat64, first, count, 1, float_value));
  table::Column s = table::Column::plain_strings();
  for (idx_t r = first; r < first + count; ++r) {
    s.plain().push_back(is_null(r, 2) ? "" : string_value(r));
    s.validity().push_back(is_null(r, 2) ? 0 : 1);
  }
  s.compact_validity();
  t.add_column("s, \"quoted\" name", std::move(s));
  t.add_column("b", make_column<std::uint8_t>(DataType::kBool, first, count, 3,
                                              [](idx_t r) { return bool_value(r) ? 1 : 0; }));
  t.add_column("t", make_column<std::int64_t>(DataType::kTimestamp, first, count, 4, ts_value));
  t.add_column("i32", make_column<std::int32_t>(DataType::kInt32, first, count, 5, int32_value));
  t.add_column("f32", make_column<float>(DataType::kFloat32, first, count, 6, float32_value));
  return t;
}

class CsvWriter : public ::testing::Test {
 protected:
  mpi::Comm comm;
};

}  // namespace

TEST_F(CsvWriter, RoundTripAndIdenticalBytesAtEveryRankCount) {
  testing_util::TempDir dir(comm);
  // A skewed split: rank 0 holds nothing when there are several ranks.
  const auto p = static_cast<idx_t>(comm.size());
  const auto r = static_cast<idx_t>(comm.rank());
  const idx_t first = kRows * r * r / (p * p);
  const idx_t last = kRows * (r + 1) * (r + 1) / (p * p);
  table::Table t = make_table(first, last - first);
  table::encode_all_strings(comm, t);
  ASSERT_TRUE(t.column(2).is_dictionary_encoded());
  const std::string path = (dir.path() / "out" / "t.csv").string();
  io::write_csv(comm, t, path);

  // The bytes equal a single-process rendering of the whole table.
  if (comm.is_root()) {
    const table::Table whole = make_table(0, kRows);
    std::string expected;
    io::append_csv_header(whole.schema(), ',', expected);
    io::append_csv_rows(whole, 0, kRows, ',', expected);
    EXPECT_EQ(testing_util::read_file(path), expected);
    EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
  }

  // Read back with the schema: every value and null survives.
  io::CsvOptions o;
  o.paths = {path};
  o.schema = t.schema();
  const table::Table back = io::read_csv(comm, o);
  ASSERT_EQ(mpi::allreduce_sum(comm, back.num_rows()), kRows);
  const idx_t offset = mpi::exscan_sum(comm, back.num_rows());
  for (idx_t i = 0; i < back.num_rows(); ++i) {
    const idx_t g = offset + i;
    const auto u = static_cast<size_t>(i);
    for (int c = 0; c < back.num_columns(); ++c)
      ASSERT_EQ(back.column(c).is_valid(i), !is_null(g, c)) << "row " << g << " column " << c;
    if (!is_null(g, 0)) {
      EXPECT_EQ(back.column(0).values<std::int64_t>()[u], int_value(g));
    }
    if (!is_null(g, 1)) {
      const double v = back.column(1).values<double>()[u];
      EXPECT_EQ(v, float_value(g));
      EXPECT_EQ(std::signbit(v), std::signbit(float_value(g)));
    }
    if (!is_null(g, 2)) {
      EXPECT_EQ(back.column(2).string_at(i), string_value(g));
    }
    if (!is_null(g, 3)) {
      EXPECT_EQ(back.column(3).values<std::uint8_t>()[u], bool_value(g) ? 1 : 0);
    }
    if (!is_null(g, 4)) {
      EXPECT_EQ(back.column(4).values<std::int64_t>()[u], ts_value(g));
    }
    if (!is_null(g, 5)) {
      EXPECT_EQ(back.column(5).values<std::int32_t>()[u], int32_value(g));
    }
    if (!is_null(g, 6)) {
      EXPECT_EQ(back.column(6).values<float>()[u], float32_value(g));
    }
  }

  // Read back with inference: the written text keeps every column's type family.
  o.schema.reset();
  const table::Table inferred = io::read_csv(comm, o);
  EXPECT_EQ(inferred.schema().to_string(),
            "i:int64, f:float64, s, \"quoted\" name:string, b:bool, t:timestamp, i32:int64, "
            "f32:float64");
}

TEST_F(CsvWriter, OneColumnNullsSurvive) {
  testing_util::TempDir dir(comm);
  table::Table t;
  table::Column c(DataType::kInt64);
  for (int k = 0; k < 10; ++k) {
    c.values<std::int64_t>().push_back(k);
    c.validity().push_back(k % 3 == 0 ? 0 : 1);
  }
  t.add_column("x", std::move(c));
  const std::string path = (dir.path() / "one.csv").string();
  io::write_csv(comm, t, path);
  // A null in a one-column table is written as "": null again under an explicit schema.
  io::CsvOptions o;
  o.paths = {path};
  o.schema = t.schema();
  const table::Table back = io::read_csv(comm, o);
  EXPECT_EQ(mpi::allreduce_sum(comm, back.num_rows()), 10 * comm.size());
  const idx_t offset = mpi::exscan_sum(comm, back.num_rows());
  for (idx_t i = 0; i < back.num_rows(); ++i) {
    const idx_t k = (offset + i) % 10;
    EXPECT_EQ(back.column(0).is_valid(i), k % 3 != 0);
    if (k % 3 != 0) {
      EXPECT_EQ(back.column(0).values<std::int64_t>()[static_cast<size_t>(i)], k);
    }
  }
}

TEST_F(CsvWriter, UnwritablePathFailsOnEveryRank) {
  testing_util::TempDir dir(comm);
  const std::string blocker = (dir.path() / "file").string();
  if (comm.is_root()) testing_util::write_file(blocker, "x");
  comm.barrier();
  table::Table t = make_table(0, 3);
  table::encode_all_strings(comm, t);
  try {
    io::write_csv(comm, t, blocker + "/sub/out.csv");
    ADD_FAILURE() << "no exception";
  } catch (const RuntimeError& e) {
    EXPECT_NE(std::string(e.what()).find("cannot create the directory of output file '" + blocker +
                                         "/sub/out.csv'"),
              std::string::npos)
        << e.what();
  }
}
