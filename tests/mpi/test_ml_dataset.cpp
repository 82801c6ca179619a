// make_dataset and StandardScaler at every rank count and under skewed splits (empty ranks, all
// rows on one rank): values and global positions against the generating formula, the scaler
// against a brute-force reference and bit-for-bit against a single-process run, and every error
// path with its exact message, identical on all ranks.

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "shardflow/common/hash.hpp"
#include "shardflow/common/simd.hpp"
#include "shardflow/ml/dataset.hpp"
#include "shardflow/ml/reproducible_sum.hpp"
#include "shardflow/ml/scoring.hpp"
#include "shardflow/ml/standard_scaler.hpp"
#include "shardflow/mpi/allgatherv.hpp"
#include "shardflow/mpi/allreduce.hpp"
#include "shardflow/mpi/bcast.hpp"
#include "shardflow/mpi/comm.hpp"
#include "support/test_util.hpp"

using namespace shardflow;
using table::Column;
using table::DataType;

namespace {

constexpr idx_t kRows = 203;
constexpr std::int64_t kEpochMicros = 1'700'000'000'000'000;

using testing_util::split;

// Rank and local row that hold global row g under `mode`.
std::pair<int, idx_t> owner(idx_t n, int size, int mode, idx_t g) {
  for (int r = 0; r < size; ++r) {
    const auto [b, e] = split(n, r, size, mode);
    if (g >= b && g < e) return {r, g - b};
  }
  return {-1, -1};
}

double value(idx_t g, int j) {
  const std::uint64_t h = hash_combine(hash_u64(99), static_cast<std::uint64_t>(g * 8 + j));
  return static_cast<double>(h >> 11) * 0x1p-53;
}

// Expected feature values of global row g, in the order i32, i64, f32, f64, flag, ts.
std::vector<double> expected_row(idx_t g) {
  return {static_cast<double>(static_cast<std::int32_t>(g % 7) - 3),
          static_cast<double>(g * 1000),
          static_cast<double>(static_cast<float>(value(g, 0) * 10)),
          value(g, 1) * 1e6 - 3e5,
          static_cast<double>(g % 2),
          static_cast<double>(kEpochMicros + g * 3'600'000'000LL)};
}

// The rows [begin, end) of the test table: one column of every numeric type, a label, a string.
table::Table make_table(idx_t begin, idx_t end) {
  Column i32(DataType::kInt32), i64(DataType::kInt64), f32(DataType::kFloat32),
      f64(DataType::kFloat64), flag(DataType::kBool), ts(DataType::kTimestamp),
      label(DataType::kInt64);
  Column name = Column::plain_strings();
  for (idx_t g = begin; g < end; ++g) {
    const auto row = expected_row(g);
    i32.values<std::int32_t>().push_back(static_cast<std::int32_t>(row[0]));
    i64.values<std::int64_t>().push_back(g * 1000);
    f32.values<float>().push_back(static_cast<float>(value(g, 0) * 10));
    f64.values<double>().push_back(row[3]);
    flag.values<std::uint8_t>().push_back(static_cast<std::uint8_t>(g % 2));
    ts.values<std::int64_t>().push_back(kEpochMicros + g * 3'600'000'000LL);
    label.values<std::int64_t>().push_back(g % 3 == 0 ? 1 : 0);
    name.plain().push_back("row" + std::to_string(g));
  }
  table::Table t;
  t.add_column("i32", std::move(i32));
  t.add_column("i64", std::move(i64));
  t.add_column("f32", std::move(f32));
  t.add_column("f64", std::move(f64));
  t.add_column("flag", std::move(flag));
  t.add_column("ts", std::move(ts));
  t.add_column("label", std::move(label));
  t.add_column("name", std::move(name));
  return t;
}

const std::vector<std::string> kFeatures = {"i32", "i64", "f32", "f64", "flag", "ts"};

std::string prefix(const mpi::Comm& comm, int failing_rank) {
  return comm.size() > 1 ? "rank " + std::to_string(failing_rank) + ": " : std::string();
}

void expect_same_message_everywhere(const mpi::Comm& comm, const std::string& message) {
  const auto all = mpi::allgather<std::uint64_t>(comm, hash_string(message));
  for (auto h : all)
    EXPECT_EQ(h, all[0]) << message;
}

// Runs make_dataset on every rank and returns the agreed error message ("" if none).
template <typename E>
std::string dataset_error(const mpi::Comm& comm, const table::Table& t,
                          const std::vector<std::string>& features, const std::string& label) {
  try {
    ml::make_dataset(comm, t, features, label);
  } catch (const E& e) {
    expect_same_message_everywhere(comm, e.what());
    return e.what();
  }
  return "";
}

}  // namespace

TEST(MakeDataset, ValuesAndGlobalPositions) {
  mpi::Comm comm;
  for (int mode : {0, 1, 2}) {
    const auto [b, e] = split(kRows, comm.rank(), comm.size(), mode);
    const ml::Dataset data = ml::make_dataset(comm, make_table(b, e), kFeatures, "label");
    EXPECT_EQ(data.global_offset, b);
    EXPECT_EQ(data.global_rows, kRows);
    EXPECT_EQ(data.feature_names, kFeatures);
    ASSERT_EQ(data.rows(), e - b);
    ASSERT_EQ(data.num_features(), 6);
    for (idx_t g = b; g < e; ++g) {
      const auto row = expected_row(g);
      for (int j = 0; j < 6; ++j)
        EXPECT_EQ(data.features(g - b, j), row[static_cast<size_t>(j)]) << g << " " << j;
      EXPECT_EQ(data.labels(g - b), g % 3 == 0 ? 1.0 : 0.0);
    }
  }
}

TEST(MakeDataset, BoolLabelAccepted) {
  mpi::Comm comm;
  const auto [b, e] = split(kRows, comm.rank(), comm.size(), 0);
  const ml::Dataset data = ml::make_dataset(comm, make_table(b, e), {"f64"}, "flag");
  for (idx_t g = b; g < e; ++g)
    EXPECT_EQ(data.labels(g - b), static_cast<double>(g % 2));
}

TEST(MakeDataset, NullFeatureNamesColumnRowsAndRank) {
  mpi::Comm comm;
  for (int mode : {0, 1, 2}) {
    const auto [b, e] = split(kRows, comm.rank(), comm.size(), mode);
    table::Table t = make_table(b, e);
    const idx_t bad = kRows - 2;  // global row made null
    if (bad >= b && bad < e) {
      Column& c = t.column("f64");
      c.ensure_validity();
      c.validity()[static_cast<size_t>(bad - b)] = 0;
    }
    const auto [r, local] = owner(kRows, comm.size(), mode, bad);
    EXPECT_EQ(dataset_error<InputError>(comm, t, kFeatures, "label"),
              prefix(comm, r) + "feature column 'f64' is null at row " + std::to_string(local) +
                  " of rank " + std::to_string(r) + " (global row " + std::to_string(bad) +
                  "); impute it (train transforms: [{impute: {columns: [f64]}}]) or filter nulls "
                  "first");
  }
}

TEST(MakeDataset, NonFiniteFeature) {
  mpi::Comm comm;
  const auto [b, e] = split(kRows, comm.rank(), comm.size(), 0);
  table::Table t = make_table(b, e);
  if (b <= 0 && 0 < e)
    t.column("f64").values<double>()[0] = std::numeric_limits<double>::infinity();
  EXPECT_EQ(dataset_error<InputError>(comm, t, kFeatures, "label"),
            prefix(comm, 0) +
                "feature column 'f64' holds inf at row 0 of rank 0 (global row 0); features must "
                "be finite numbers; filter such rows");
  // NaN is a missing value an imputer would fill: the message says how.
  if (b <= 0 && 0 < e) t.column("f64").values<double>()[0] = std::nan("");
  EXPECT_EQ(dataset_error<InputError>(comm, t, kFeatures, "label"),
            prefix(comm, 0) +
                "feature column 'f64' holds nan at row 0 of rank 0 (global row 0); features must "
                "be finite numbers; filter such rows or impute them (transforms: [{impute: "
                "{columns: [f64]}}])");
}

TEST(MakeDataset, LabelOtherThanZeroOrOne) {
  mpi::Comm comm;
  for (int mode : {0, 2}) {
    const auto [b, e] = split(kRows, comm.rank(), comm.size(), mode);
    table::Table t = make_table(b, e);
    const idx_t bad = 100;
    if (bad >= b && bad < e)
      t.column("label").values<std::int64_t>()[static_cast<size_t>(bad - b)] = 2;
    const auto [r, local] = owner(kRows, comm.size(), mode, bad);
    EXPECT_EQ(dataset_error<InputError>(comm, t, kFeatures, "label"),
              prefix(comm, r) + "label column 'label' holds 2 at row " + std::to_string(local) +
                  " of rank " + std::to_string(r) +
                  " (global row 100); a binary model needs labels 0 or 1 (or bool); for more "
                  "classes use model type softmax, for a numeric target type linear");
  }
}

TEST(MakeDataset, NullLabel) {
  mpi::Comm comm;
  const auto [b, e] = split(kRows, comm.rank(), comm.size(), 1);
  table::Table t = make_table(b, e);
  if (e > b) {
    Column& c = t.column("label");
    c.ensure_validity();
    c.validity()[5] = 0;
  }
  const int last = comm.size() - 1;
  EXPECT_EQ(dataset_error<InputError>(comm, t, kFeatures, "label"),
            prefix(comm, last) + "label column 'label' is null at row 5 of rank " +
                std::to_string(last) + " (global row 5); drop unlabeled rows before training");
}

TEST(MakeDataset, StringColumnsRejected) {
  mpi::Comm comm;
  const auto [b, e] = split(kRows, comm.rank(), comm.size(), 0);
  const table::Table t = make_table(b, e);
  // The schema is the same everywhere, so every rank fails with the same message, which is
  // reported as is (no rank is to blame).
  EXPECT_EQ(dataset_error<InputError>(comm, t, {"f64", "name"}, "label"),
            "feature column 'name' has type string; only numeric columns (int32, int64, "
            "float32, float64, bool, timestamp) can be used; encode it first (e.g. one-hot) or "
            "drop it");
  EXPECT_NE(dataset_error<InputError>(comm, t, {"f64"}, "name")
                .find("label column 'name' has type string"),
            std::string::npos);
}

TEST(MakeDataset, ConfigErrors) {
  mpi::Comm comm;
  const auto [b, e] = split(kRows, comm.rank(), comm.size(), 0);
  const table::Table t = make_table(b, e);
  EXPECT_NE(dataset_error<ConfigError>(comm, t, {"f64x"}, "label").find("did you mean 'f64'"),
            std::string::npos);
  EXPECT_NE(dataset_error<ConfigError>(comm, t, {}, "label").find("no feature columns given"),
            std::string::npos);
  EXPECT_NE(dataset_error<ConfigError>(comm, t, {"f64", "f64"}, "label").find("listed twice"),
            std::string::npos);
  EXPECT_NE(dataset_error<ConfigError>(comm, t, {"f64", "label"}, "label")
                .find("both the label and a feature"),
            std::string::npos);
}

// ---- StandardScaler ----------------------------------------------------------------------------

TEST(StandardScaler, MatchesBruteForceAndSingleProcessBits) {
  mpi::Comm comm;
  ml::StandardScaler ref;
  if (comm.rank() == 0) {
    mpi::Comm self(MPI_COMM_SELF);
    ref.fit(self, ml::make_dataset(self, make_table(0, kRows), kFeatures, "label"));
  }
  ref.mean.resize(kFeatures.size());
  ref.scale.resize(kFeatures.size());
  mpi::bcast(comm, std::span<double>(ref.mean), 0);
  mpi::bcast(comm, std::span<double>(ref.scale), 0);

  // Brute force in long double from the formula.
  for (size_t j = 0; j < kFeatures.size(); ++j) {
    long double sum = 0;
    for (idx_t g = 0; g < kRows; ++g)
      sum += expected_row(g)[j];
    const long double mean = sum / kRows;
    long double ss = 0;
    for (idx_t g = 0; g < kRows; ++g)
      ss += (expected_row(g)[j] - mean) * (expected_row(g)[j] - mean);
    const double sd = static_cast<double>(std::sqrt(ss / kRows));
    EXPECT_NEAR(ref.mean[j], static_cast<double>(mean),
                1e-12 * std::fabs(static_cast<double>(mean)) + 1e-12);
    EXPECT_NEAR(ref.scale[j], sd, 1e-9 * sd);
  }

  for (int mode : {0, 1, 2}) {
    const auto [b, e] = split(kRows, comm.rank(), comm.size(), mode);
    ml::Dataset data = ml::make_dataset(comm, make_table(b, e), kFeatures, "label");
    ml::StandardScaler scaler;
    scaler.fit(comm, data);
    EXPECT_EQ(std::memcmp(scaler.mean.data(), ref.mean.data(), ref.mean.size() * sizeof(double)),
              0);
    EXPECT_EQ(std::memcmp(scaler.scale.data(), ref.scale.data(), ref.scale.size() * sizeof(double)),
              0);
    scaler.transform(data);
    for (idx_t g = b; g < e; ++g) {
      for (size_t j = 0; j < kFeatures.size(); ++j) {
        EXPECT_EQ(data.features(g - b, static_cast<Eigen::Index>(j)),
                  (expected_row(g)[j] - ref.mean[j]) / ref.scale[j]);
      }
    }
  }
}

// The scaler computes its sums without storing the contributions (the largest squared deviation
// comes from each feature's minimum and maximum). It must give the bits of the stored form:
// reproducible_sum over x, then over every (x - mean)^2. Random features of very different
// magnitudes, including ones below 2^-962 (whose fixed-point factor overflows) and negative ones.
// With the AVX2 kernels (extremes, sums) and without.
TEST(StandardScaler, StreamedSumsGiveTheBitsOfStoredContributions) {
  mpi::Comm comm;
  constexpr idx_t kN = 997;
  const std::vector<double> magnitudes = {1.0, 1e-300, 3e150, 1e-5, 7.5e12};
  const int d = static_cast<int>(magnitudes.size());
  for (int run = 0; run < 6; ++run) {
    const int mode = run % 3;
    const bool previous = simd::set_avx2(run < 3);
    const auto [b, e] = split(kN, comm.rank(), comm.size(), mode);
    ml::Dataset data;
    data.features.resize(e - b, d);
    data.labels = Eigen::VectorXd::Zero(e - b);
    data.global_offset = b;
    data.global_rows = kN;
    for (idx_t g = b; g < e; ++g)
      for (int j = 0; j < d; ++j)
        data.features(g - b, j) =
            (value(g, j) - 0.3) * magnitudes[static_cast<size_t>(j)] + (j == 3 ? 2e-5 : 0.0);
    ml::StandardScaler scaler;
    scaler.fit(comm, data);
    simd::set_avx2(previous);

    const auto& x = data.features;
    const std::vector<double> sums = ml::reproducible_sum(
        comm, std::span<const double>(x.data(), static_cast<size_t>(x.size())), d, "x");
    std::vector<double> squares;
    for (Eigen::Index i = 0; i < x.rows(); ++i) {
      for (int j = 0; j < d; ++j) {
        const double dev = x(i, j) - sums[static_cast<size_t>(j)] / kN;
        squares.push_back(dev * dev);
      }
    }
    const std::vector<double> ss = ml::reproducible_sum(comm, squares, d, "squares");
    for (int j = 0; j < d; ++j) {
      const auto k = static_cast<size_t>(j);
      EXPECT_EQ(scaler.mean[k], sums[k] / kN) << "feature " << j << ", split " << mode;
      const double sd = std::sqrt(ss[k] / kN);  // 0 (squares below 2^-1074) gives scale 1
      EXPECT_EQ(scaler.scale[k], sd > 0.0 ? sd : 1.0) << "feature " << j << ", split " << mode;
    }
  }
}

// make_dataset rejects non-finite features, but the scaler takes any Dataset: a NaN is reported by
// the reproducible sum (value, component, row, rank), on every rank alike.
TEST(StandardScaler, NonFiniteValueInAHandBuiltDatasetIsAgreedError) {
  mpi::Comm comm;
  ml::Dataset data;
  const idx_t rows = comm.rank() == comm.size() - 1 ? 3 : 2;
  data.features =
      Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>::Ones(rows, 2);
  data.global_rows = mpi::allreduce_sum(comm, rows);
  if (comm.rank() == comm.size() - 1) data.features(2, 1) = std::nan("");
  ml::StandardScaler scaler;
  try {
    scaler.fit(comm, data);
    ADD_FAILURE() << "expected an error";
  } catch (const RuntimeError& err) {
    const int last = comm.size() - 1;
    EXPECT_EQ(std::string(err.what()),
              prefix(comm, last) +
                  "standard scaler mean: non-finite value nan in component 1 of "
                  "local row 2 on rank " +
                  std::to_string(last));
    expect_same_message_everywhere(comm, err.what());
  }
}

TEST(StandardScaler, ConstantFeatureGetsScaleOne) {
  mpi::Comm comm;
  const auto [b, e] = split(kRows, comm.rank(), comm.size(), 2);
  table::Table t = make_table(b, e);
  for (auto& v : t.column("f64").values<double>())
    v = 4.25;
  ml::StandardScaler scaler;
  scaler.fit(comm, ml::make_dataset(comm, t, {"f64"}, "label"));
  EXPECT_EQ(scaler.mean, std::vector<double>{4.25});
  EXPECT_EQ(scaler.scale, std::vector<double>{1.0});
}

TEST(StandardScaler, EmptyDataAndMismatchedTransform) {
  mpi::Comm comm;
  ml::StandardScaler scaler;
  try {
    scaler.fit(comm, ml::make_dataset(comm, make_table(0, 0), kFeatures, "label"));
    ADD_FAILURE() << "expected an error";
  } catch (const InputError& e) {
    EXPECT_EQ(std::string(e.what()),
              "cannot fit the standard scaler: the training data has no rows; check the filters "
              "and the split that produce it");
  }
  scaler.mean = {0.0};
  scaler.scale = {1.0};
  ml::Dataset data = ml::make_dataset(comm, make_table(0, 0), kFeatures, "label");
  EXPECT_THROW(scaler.transform(data), RuntimeError);
}

TEST(StandardScaler, OverflowingVarianceIsAgreedError) {
  mpi::Comm comm;
  const auto [b, e] = split(kRows, comm.rank(), comm.size(), 0);
  table::Table t = make_table(b, e);
  // Values of +-1e200 have a finite mean but squared deviations beyond the double range.
  auto& v = t.column("f64").values<double>();
  for (size_t i = 0; i < v.size(); ++i)
    v[i] = (static_cast<idx_t>(i) + b) % 2 == 0 ? 1e200 : -1e200;
  const ml::Dataset data = ml::make_dataset(comm, t, {"i32", "f64"}, "label");
  ml::StandardScaler scaler;
  try {
    scaler.fit(comm, data);
    ADD_FAILURE() << "expected an error";
  } catch (const InputError& err) {
    // Every rank has rows and fails; rank 0's first row is reported.
    const std::string others = comm.size() > 1
                                   ? " (and " + std::to_string(comm.size() - 1) + " other rank" +
                                         (comm.size() > 2 ? "s" : "") + " failed too)"
                                   : std::string();
    EXPECT_EQ(
        std::string(err.what()),
        prefix(comm, 0) +
            fmt::format("standard scaler: feature 'f64' is too large to standardize: at row 0 of "
                        "rank 0 (global row 0) its value 1e+200 is so far from the mean {} "
                        "that the square overflows; divide that feature by a constant first",
                        1e200 / kRows) +
            others);
    expect_same_message_everywhere(comm, err.what());
  }
}

// score_table gives predict_proba's bits on make_dataset (+ the scaler's transform) without the
// matrix, for every split, with and without scaling; and make_dataset's errors.
TEST(ScoreTable, SameBitsAsTheMatrixPathForEverySplit) {
  mpi::Comm comm;
  ml::LogisticRegression model(static_cast<int>(kFeatures.size()));
  for (Eigen::Index j = 0; j < model.weights.size(); ++j)
    model.weights(j) = (value(j, 7) - 0.5) * (j == 1 || j == 5 ? 1e-9 : 2.0);
  for (const bool scaled : {false, true}) {
    for (int mode : {0, 1, 2}) {
      const auto [b, e] = split(kRows, comm.rank(), comm.size(), mode);
      const table::Table t = make_table(b, e);
      ml::Dataset data = ml::make_dataset(comm, t, kFeatures, "label");
      ml::StandardScaler scaler;
      if (scaled) {
        scaler.fit(comm, data);
        scaler.transform(data);
      }
      const Eigen::VectorXd expected = model.predict_proba(data);
      const ml::ScoredRows scored = ml::score_table(comm, t, kFeatures, "label", scaler, model);
      ASSERT_EQ(scored.outputs.size(), expected.size());
      EXPECT_EQ(std::memcmp(scored.outputs.data(), expected.data(),
                            static_cast<size_t>(expected.size()) * sizeof(double)),
                0)
          << "scaled " << scaled << ", split " << mode;
      EXPECT_EQ(scored.labels, data.labels);
    }
  }
  // The checks are make_dataset's: a null feature is named with its rows.
  const auto [b, e] = split(kRows, comm.rank(), comm.size(), 0);
  table::Table t = make_table(b, e);
  if (comm.rank() == comm.size() - 1) {
    t.column("f64").ensure_validity();
    t.column("f64").validity()[0] = 0;
  }
  std::string scored_error, dataset_error_text;
  try {
    ml::score_table(comm, t, kFeatures, "label", ml::StandardScaler{}, model);
  } catch (const InputError& err) {
    scored_error = err.what();
  }
  try {
    ml::make_dataset(comm, t, kFeatures, "label");
  } catch (const InputError& err) {
    dataset_error_text = err.what();
  }
  EXPECT_NE(scored_error.find("feature column 'f64' is null at row 0 of rank"), std::string::npos)
      << scored_error;
  EXPECT_EQ(scored_error, dataset_error_text);
}

// local_extremes against a brute force, both paths, every length 0-40 and every position of the
// largest and the smallest value (so in every lane, in both accumulators and in the tail); its
// finiteness test, with a NaN or an infinity at each of those positions.
TEST(StandardScaler, LocalExtremesAtEveryPosition) {
  for (const bool simd : {false, true}) {
    const bool previous = simd::set_avx2(simd);
    for (size_t n = 0; n <= 40; ++n) {
      for (size_t at = 0; at < std::max<size_t>(n, 1); ++at) {
        std::vector<double> v(n);
        for (size_t i = 0; i < n; ++i)
          v[i] = value(static_cast<idx_t>(i + 100 * n), 1) - 0.5;
        if (n > 0) {
          v[at] = 7.0;
          v[n - 1 - at] = at == n - 1 - at ? 7.0 : -9.0;
        }
        double hi = -std::numeric_limits<double>::infinity(), lo = hi;
        for (const double x : v) {
          hi = std::max(hi, x);
          lo = std::max(lo, -x);
        }
        const std::array<double, 2> e = ml::local_extremes(v);
        EXPECT_EQ(e[0], hi) << "simd " << simd << " n " << n << " at " << at;
        EXPECT_EQ(e[1], lo) << "simd " << simd << " n " << n << " at " << at;
        bool all_finite = false;
        const std::array<double, 2> checked = ml::local_extremes(v, all_finite);
        EXPECT_TRUE(all_finite) << "simd " << simd << " n " << n;
        EXPECT_EQ(checked, e);
        // One value NaN or infinite, at this position: all_finite is false.
        for (const double bad : {std::nan(""), std::numeric_limits<double>::infinity(),
                                 -std::numeric_limits<double>::infinity()}) {
          if (n == 0) break;
          std::vector<double> w = v;
          w[at] = bad;
          all_finite = true;
          (void)ml::local_extremes(w, all_finite);
          EXPECT_FALSE(all_finite) << "simd " << simd << " n " << n << " at " << at << " " << bad;
        }
      }
    }
    simd::set_avx2(previous);
  }
}
