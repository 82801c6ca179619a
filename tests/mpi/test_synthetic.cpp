// Synthetic data: byte-identical at any rank count, right row counts and value ranges.

#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "shardflow/io/csv_reader.hpp"
#include "shardflow/io/synthetic.hpp"
#include "shardflow/io/synthetic_schema.hpp"
#include "shardflow/mpi/allreduce.hpp"
#include "shardflow/ops/asof_join.hpp"
#include "support/test_util.hpp"

using namespace shardflow;
using shardflow::table::DataType;

namespace {

class Synthetic : public ::testing::Test {
 protected:
  mpi::Comm comm;
};

template <typename T>
std::pair<T, T> global_min_max(const mpi::Comm& comm, const table::Buffer<T>& v) {
  T lo = std::numeric_limits<T>::max(), hi = std::numeric_limits<T>::lowest();
  for (T x : v) {
    lo = std::min(lo, x);
    hi = std::max(hi, x);
  }
  return {mpi::allreduce_min(comm, lo), mpi::allreduce_max(comm, hi)};
}

std::string local_reference(std::string_view kind, std::uint64_t seed, idx_t rows) {
  // Built in uneven pieces: every row depends only on (seed, kind, row).
  std::string text = io::synthetic_csv_header(kind);
  idx_t done = 0, piece = 1;
  while (done < rows) {
    const idx_t n = std::min(piece, rows - done);
    io::generate_csv_block(kind, seed, rows, done, n, text);
    done += n;
    piece = piece * 3 + 1;
  }
  return text;
}

}  // namespace

TEST_F(Synthetic, KindsAndHeaders) {
  EXPECT_EQ(io::synthetic_kinds(),
            (std::vector<std::string>{"groupby", "classification", "events", "labels"}));
  EXPECT_EQ(io::synthetic_csv_header("groupby"), "id1,id2,id3,id4,id5,id6,v1,v2,v3\n");
  try {
    io::generate_csv(comm, "joins", 10, 1, "/tmp/unused.csv");
    ADD_FAILURE() << "no exception";
  } catch (const ConfigError& e) {
    EXPECT_STREQ(e.what(),
                 "unknown synthetic data kind 'joins'; known kinds: groupby, classification, "
                 "events, labels");
  }
}

TEST_F(Synthetic, GroupByIsIdenticalAtAnyRankCountAndInRange) {
  testing_util::TempDir dir(comm);
  const std::string path = (dir.path() / "g.csv").string();
  constexpr idx_t kRows = 2345;
  io::generate_csv(comm, "groupby", kRows, 7, path);
  if (comm.is_root()) {
    EXPECT_EQ(testing_util::read_file(path), local_reference("groupby", 7, kRows));
  }

  io::CsvOptions o;
  o.paths = {path};
  const table::Table t = io::read_csv(comm, o);
  EXPECT_EQ(t.schema().to_string(),
            "id1:string, id2:string, id3:string, id4:int64, id5:int64, id6:int64, v1:int64, "
            "v2:int64, v3:float64");
  EXPECT_EQ(mpi::allreduce_sum(comm, t.num_rows()), kRows);
  EXPECT_EQ(t.column("id1").dictionary()->size(), 100);
  EXPECT_EQ(t.column("id1").dictionary()->values().front(), "id001");
  EXPECT_EQ(t.column("id1").dictionary()->values().back(), "id100");
  EXPECT_EQ(t.column("id2").dictionary()->size(), 100);
  // N/K = 23 distinct id3 values "id0000000001".."id0000000023".
  EXPECT_EQ(t.column("id3").dictionary()->size(), 23);
  EXPECT_EQ(t.column("id3").dictionary()->values().back(), "id0000000023");
  const auto range = [&](const char* name) {
    return global_min_max(comm, t.column(name).values<std::int64_t>());
  };
  EXPECT_EQ(range("id4"), (std::pair<std::int64_t, std::int64_t>(1, 100)));
  EXPECT_EQ(range("id5"), (std::pair<std::int64_t, std::int64_t>(1, 100)));
  EXPECT_EQ(range("id6"), (std::pair<std::int64_t, std::int64_t>(1, 23)));
  EXPECT_EQ(range("v1"), (std::pair<std::int64_t, std::int64_t>(1, 5)));
  EXPECT_EQ(range("v2"), (std::pair<std::int64_t, std::int64_t>(1, 15)));
  const auto v3 = global_min_max(comm, t.column("v3").values<double>());
  EXPECT_GE(v3.first, 0.0);
  EXPECT_LT(v3.second, 100.0);
  EXPECT_GT(v3.second - v3.first, 90.0);
}

TEST_F(Synthetic, ClassificationIsIdenticalAndLearnable) {
  testing_util::TempDir dir(comm);
  const std::string path = (dir.path() / "c.csv").string();
  constexpr idx_t kRows = 4000;
  io::generate_csv(comm, "classification", kRows, 11, path);
  if (comm.is_root()) {
    EXPECT_EQ(testing_util::read_file(path), local_reference("classification", 11, kRows));
  }

  io::CsvOptions o;
  o.paths = {path};
  const table::Table t = io::read_csv(comm, o);
  EXPECT_EQ(t.schema().to_string(),
            "id:int64, segment:string, x1:float64, x2:float64, x3:float64, x4:float64, "
            "amount:float64, label:int64");
  ASSERT_EQ(mpi::allreduce_sum(comm, t.num_rows()), kRows);
  const idx_t offset = mpi::exscan_sum(comm, t.num_rows());
  const auto& id = t.column("id").values<std::int64_t>();
  for (idx_t i = 0; i < t.num_rows(); ++i)
    EXPECT_EQ(id[static_cast<size_t>(i)], offset + i);
  EXPECT_EQ(t.column("segment").dictionary()->values(),
            (std::vector<std::string>{"seg_a", "seg_b", "seg_c", "seg_d", "seg_e"}));
  const auto& x1 = t.column("x1").values<double>();
  const auto& x2 = t.column("x2").values<double>();
  const auto& x4 = t.column("x4").values<double>();
  const auto& amount = t.column("amount").values<double>();
  const auto& label = t.column("label").values<std::int64_t>();
  double s[8] = {0, 0, 0, 0, 0, 0, 0, 0};  // x1, x1^2, negatives, labels, x1|1, n1, x2|1, x2
  for (size_t i = 0; i < x1.size(); ++i) {
    s[0] += x1[i];
    s[1] += x1[i] * x1[i];
    s[2] += amount[i] < 0 ? 1 : 0;
    s[3] += static_cast<double>(label[i]);
    s[4] += label[i] ? x1[i] : 0;
    s[5] += label[i] ? 1 : 0;
    s[6] += label[i] ? x2[i] : 0;
    s[7] += x2[i];
    EXPECT_TRUE(label[i] == 0 || label[i] == 1);
    EXPECT_GE(x4[i], 0.0);
    EXPECT_LT(x4[i], 10.0);
  }
  mpi::allreduce_inplace<double>(comm, s, mpi::Reduce::kSum);
  const double n = kRows;
  EXPECT_LT(std::abs(s[0] / n), 0.1);  // mean of x1 ~ 0
  EXPECT_NEAR(s[1] / n, 1.0, 0.15);    // variance ~ 1
  EXPECT_GT(s[2] / n, 0.03);           // ~5% negative amounts
  EXPECT_LT(s[2] / n, 0.08);
  EXPECT_GT(s[3] / n, 0.25);  // both classes present
  EXPECT_LT(s[3] / n, 0.75);
  EXPECT_GT(s[4] / s[5], (s[0] - s[4]) / (n - s[5]) + 0.5);  // label rises with x1
  EXPECT_LT(s[6] / s[5], (s[7] - s[6]) / (n - s[5]) - 0.5);  // and falls with x2
}

TEST_F(Synthetic, ZeroRowsGivesHeaderOnly) {
  testing_util::TempDir dir(comm);
  const std::string path = (dir.path() / "z.csv").string();
  io::generate_csv(comm, "groupby", 0, 1, path);
  if (comm.is_root()) {
    EXPECT_EQ(testing_util::read_file(path), io::synthetic_csv_header("groupby"));
  }
}

// Events and their labels: byte-identical at any rank count, one event a day per user, and labels
// that a point-in-time join with a 7-day tolerance explains (label rises with the joined features'
// logit), while labels without a recent event carry no such signal.
TEST_F(Synthetic, EventsAndLabelsAreIdenticalAndJoinable) {
  testing_util::TempDir dir(comm);
  constexpr idx_t kEvents = 20000;
  const std::string events_path = (dir.path() / "events.csv").string();
  const std::string labels_path = (dir.path() / "labels.csv").string();
  io::generate_csv(comm, "events", kEvents, 5, events_path);
  io::generate_csv(comm, "labels", kEvents, 5, labels_path);
  if (comm.is_root()) {
    EXPECT_EQ(testing_util::read_file(events_path), local_reference("events", 5, kEvents));
    std::string labels = io::synthetic_csv_header("labels");
    io::generate_csv_block("labels", 5, kEvents, 0, kEvents / 20, labels);
    io::generate_csv_block("labels", 5, kEvents, kEvents / 20, kEvents / 10 - kEvents / 20, labels);
    EXPECT_EQ(testing_util::read_file(labels_path), labels);
  }
  auto read = [&](const std::string& path, const std::string& kind) {
    io::CsvOptions o;
    o.paths = {path};
    o.schema = io::synthetic_schema(kind);
    return io::read_csv(comm, o);
  };
  const table::Table events = read(events_path, "events");
  const table::Table labels = read(labels_path, "labels");
  ASSERT_EQ(mpi::allreduce_sum(comm, events.num_rows()), kEvents);
  ASSERT_EQ(mpi::allreduce_sum(comm, labels.num_rows()), kEvents / 10);
  // Event i is user i % U's (i / U)-th event, on day i / U.
  const std::int64_t users = kEvents / 50;
  const std::int64_t epoch = 1'704'067'200'000'000;
  const auto& id = events.column("event_id").values<std::int64_t>();
  const auto& user = events.column("user_id").values<std::int64_t>();
  const auto& ts = events.column("ts").values<std::int64_t>();
  for (size_t i = 0; i < id.size(); ++i) {
    EXPECT_EQ(user[i], id[i] % users);
    EXPECT_EQ((ts[i] - epoch) / 86'400'000'000, id[i] / users);
  }
  ops::AsofJoinSpec spec;
  spec.left_by = spec.right_by = {"user_id"};
  spec.left_time = "label_ts";
  spec.right_time = "ts";
  spec.tolerance = 7 * 86'400e6;
  const table::Table joined = ops::asof_join(comm, labels, events, spec);
  const auto& f1 = joined.column("f1");
  const auto& f2 = joined.column("f2").values<double>();
  const auto& f3 = joined.column("f3").values<double>();
  const auto& label = joined.column("label").values<std::int64_t>();
  // matched rows: count, labels, logit sum of label 1, of label 0; unmatched: count, labels
  double s[6] = {0, 0, 0, 0, 0, 0};
  for (idx_t r = 0; r < joined.num_rows(); ++r) {
    const auto i = static_cast<size_t>(r);
    if (f1.is_valid(r)) {
      const double logit = 2 * f1.values<double>()[i] - 1.5 * f2[i] + 0.4 * (f3[i] - 5);
      s[0] += 1;
      s[1] += static_cast<double>(label[i]);
      (label[i] ? s[2] : s[3]) += logit;
    } else {
      s[4] += 1;
      s[5] += static_cast<double>(label[i]);
    }
  }
  mpi::allreduce_inplace<double>(comm, s, mpi::Reduce::kSum);
  EXPECT_GT(s[0], 0.7 * kEvents / 10);                 // most labels have a recent event
  EXPECT_GT(s[4], 0.02 * kEvents / 10);                // some have none (before the first, stale)
  EXPECT_GT(s[2] / s[1], s[3] / (s[0] - s[1]) + 2.0);  // labels follow the joined features
  EXPECT_NEAR(s[5] / s[4], 1 / (1 + std::exp(1.0)), 0.1);  // others are sigmoid(-1) coins
}
