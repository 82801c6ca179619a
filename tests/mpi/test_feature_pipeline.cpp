// The feature pipeline (ml/feature_pipeline.hpp) at every rank count and under skewed splits:
// fitted statistics against brute-force references (mean, exact median, most frequent with ties,
// categories, standard and min-max scales), bit-identical to a single-process fit; the assembled
// rows against a brute-force assembly; scoring a tile at a time gives the matrix's bits; and the
// errors, agreed on every rank.

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <numeric>
#include <random>
#include <vector>

#include "shardflow/common/hash.hpp"
#include "shardflow/ml/feature_pipeline.hpp"
#include "shardflow/ml/linear_models.hpp"
#include "shardflow/ml/scoring.hpp"
#include "shardflow/mpi/allgatherv.hpp"
#include "shardflow/mpi/comm.hpp"
#include "support/test_util.hpp"

using namespace shardflow;
using table::Column;
using table::DataType;
using testing_util::split;

namespace {

constexpr idx_t kRows = 311;
const std::vector<std::string> kCities = {"oslo", "lima", "paris", "rome", "berlin", ""};

// Global row g of the test table, from a fixed formula: `num` is a float64 with nulls, NaN and
// repeated values (so the median and the most frequent value are tested with ties); `small` an
// int32; `city` a string with nulls (the empty string is a category); `plan` an int64 category
// whose values sort differently as numbers and as text; `label` 0/1.
struct Row {
  bool num_null, num_nan;
  double num;
  std::int32_t small;
  bool city_null;
  std::string city;
  std::int64_t plan;
  std::int64_t label;
};

Row row_of(idx_t g) {
  const std::uint64_t h = hash_u64(static_cast<std::uint64_t>(g) + 17);
  Row r;
  r.num_null = h % 11 == 0;
  r.num_nan = !r.num_null && h % 13 == 0;
  r.num = g % 5 == 0 ? 2.5 : static_cast<double>((h >> 20) % 1000) / 8.0 - 40.0;
  if (g % 7 == 0) r.num = -0.0;
  r.small = static_cast<std::int32_t>((h >> 8) % 50) - 10;
  r.city_null = (h >> 30) % 9 == 0;
  r.city = kCities[(h >> 33) % kCities.size()];
  r.plan = std::array<std::int64_t, 4>{9, 10, -3, 100}[(h >> 40) % 4];
  r.label = static_cast<std::int64_t>((h >> 50) % 2);
  return r;
}

table::Table make_table(idx_t begin, idx_t end) {
  Column num(DataType::kFloat64), small(DataType::kInt32), plan(DataType::kInt64),
      label(DataType::kInt64);
  Column city = Column::plain_strings();
  num.ensure_validity();
  city.ensure_validity();
  for (idx_t g = begin; g < end; ++g) {
    const Row r = row_of(g);
    num.values<double>().push_back(r.num_nan ? std::nan("") : r.num);
    num.validity().push_back(r.num_null ? 0 : 1);
    small.values<std::int32_t>().push_back(r.small);
    city.plain().push_back(r.city_null ? "" : r.city);
    city.validity().push_back(r.city_null ? 0 : 1);
    plan.values<std::int64_t>().push_back(r.plan);
    label.values<std::int64_t>().push_back(r.label);
  }
  table::Table t;
  t.add_column("num", std::move(num));
  t.add_column("small", std::move(small));
  t.add_column("city", std::move(city));
  t.add_column("plan", std::move(plan));
  t.add_column("label", std::move(label));
  return t;
}

ml::FeatureTransform transform(ml::TransformKind kind, std::vector<std::string> columns) {
  ml::FeatureTransform t;
  t.kind = kind;
  t.columns = std::move(columns);
  t.where = "t" + std::string(ml::to_string(kind));
  return t;
}

ml::FeatureTransform impute(ml::ImputeStrategy s, std::vector<std::string> columns,
                            std::string constant = "") {
  ml::FeatureTransform t = transform(ml::TransformKind::kImpute, std::move(columns));
  t.strategy = s;
  t.constant = std::move(constant);
  return t;
}

// The pipeline under test: median on num, mean on small (no missing values), most_frequent on
// city, one_hot city, index plan (ignoring unknowns), standard on [num, small], then min-max on
// num (fitted on the standardized values).
ml::FeaturePipeline make_pipeline(ml::ImputeStrategy num_strategy = ml::ImputeStrategy::kMedian) {
  auto index = transform(ml::TransformKind::kIndex, {"plan"});
  index.unknown = ml::UnknownCategory::kIgnore;
  return ml::FeaturePipeline(
      {"num", "small"}, {"city", "plan"},
      {impute(num_strategy, {"num"}), impute(ml::ImputeStrategy::kMean, {"small"}),
       impute(ml::ImputeStrategy::kMostFrequent, {"city"}),
       transform(ml::TransformKind::kOneHot, {"city"}), index,
       transform(ml::TransformKind::kStandardScale, {}),
       transform(ml::TransformKind::kMinMaxScale, {"num"})});
}

std::vector<double> present_nums() {
  std::vector<double> v;
  for (idx_t g = 0; g < kRows; ++g) {
    const Row r = row_of(g);
    if (!r.num_null && !r.num_nan) v.push_back(r.num);
  }
  return v;
}

double brute_median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : std::midpoint(v[n / 2 - 1], v[n / 2]);
}

bool same_bits(double a, double b) {
  return std::memcmp(&a, &b, sizeof a) == 0;
}

void expect_same_state(const ml::FeaturePipeline& a, const ml::FeaturePipeline& b) {
  ASSERT_EQ(a.transforms().size(), b.transforms().size());
  for (size_t i = 0; i < a.transforms().size(); ++i) {
    const auto& x = a.transforms()[i];
    const auto& y = b.transforms()[i];
    ASSERT_EQ(x.fill.size(), y.fill.size());
    for (size_t k = 0; k < x.fill.size(); ++k)
      EXPECT_TRUE(same_bits(x.fill[k], y.fill[k])) << i;
    EXPECT_EQ(x.fill_text, y.fill_text);
    EXPECT_EQ(x.categories, y.categories);
    ASSERT_EQ(x.offset.size(), y.offset.size());
    for (size_t k = 0; k < x.offset.size(); ++k) {
      EXPECT_TRUE(same_bits(x.offset[k], y.offset[k])) << i;
      EXPECT_TRUE(same_bits(x.divisor[k], y.divisor[k])) << i;
    }
  }
  EXPECT_EQ(a.output_names(), b.output_names());
}

// Every rank's rows of `data` in global order, on every rank.
std::vector<double> all_features(const mpi::Comm& comm, const ml::Dataset& data) {
  return mpi::allgatherv(comm, std::span<const double>(data.features.data(),
                                                       static_cast<size_t>(data.features.size())));
}

template <typename E>
std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const E& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(ExactMedian, EqualsSortingAtEverySplit) {
  const mpi::Comm comm;
  std::mt19937_64 rng(5);
  for (const idx_t n : {1, 2, 3, 10, 257, 1000}) {
    std::vector<double> all(static_cast<size_t>(n));
    for (auto& v : all) {
      switch (rng() % 5) {
        case 0:
          v = 0.0;
          break;
        case 1:
          v = -0.0;
          break;
        case 2:
          v = static_cast<double>(static_cast<int>(rng() % 7)) - 3.0;
          break;
        case 3:
          v = std::ldexp(static_cast<double>(rng() % 1000), static_cast<int>(rng() % 80) - 40);
          break;
        default:
          v = -1e300 * static_cast<double>(rng() % 3);
          break;
      }
    }
    std::vector<double> finite = all;
    for (int mode = 0; mode < 3; ++mode) {
      const auto [b, e] = split(n, comm.rank(), comm.size(), mode);
      std::vector<double> mine(all.begin() + b, all.begin() + e);
      mine.push_back(std::nan(""));  // skipped
      const std::optional<double> median = ml::exact_median(comm, mine);
      ASSERT_TRUE(median.has_value());
      const double expected = brute_median(finite) + 0.0;
      EXPECT_EQ(*median, expected) << "n=" << n << " mode=" << mode;
    }
  }
  EXPECT_FALSE(ml::exact_median(comm, std::vector<double>{std::nan("")}).has_value());
}

TEST(FeaturePipeline, FitMatchesBruteForceAndOneProcessBitForBit) {
  const mpi::Comm comm;
  // The reference: one process holding every row.
  ml::FeaturePipeline reference = make_pipeline();
  ml::Dataset ref_data;
  {
    const mpi::Comm self = mpi::Comm::self();
    ref_data = reference.fit(self, make_table(0, kRows), "label", {});
  }
  // Brute force: the fitted statistics.
  const auto& tr = reference.transforms();
  const std::vector<double> nums = present_nums();
  EXPECT_EQ(tr[0].fill.at(0), brute_median(nums) + 0.0);
  double small_sum = 0;
  for (idx_t g = 0; g < kRows; ++g)
    small_sum += row_of(g).small;  // integers: exact in double
  EXPECT_EQ(tr[1].fill.at(0), small_sum / static_cast<double>(kRows));
  std::map<std::string, int> city_counts;
  for (idx_t g = 0; g < kRows; ++g)
    if (!row_of(g).city_null) ++city_counts[row_of(g).city];
  std::string most = city_counts.begin()->first;
  for (const auto& [c, k] : city_counts)
    if (k > city_counts[most]) most = c;
  EXPECT_EQ(tr[2].fill_text, std::vector<std::string>{most});
  std::vector<std::string> cities;
  for (const auto& [c, k] : city_counts)
    cities.push_back(c);  // std::map: byte order; nulls filled with `most`, already present
  EXPECT_EQ(tr[3].categories, std::vector<std::vector<std::string>>{cities});
  // Integers in numeric order, not text order ("-3" < "9" < "10" < "100").
  EXPECT_EQ(tr[4].categories, (std::vector<std::vector<std::string>>{{"-3", "9", "10", "100"}}));
  // The assembled rows, by brute force from the fitted values.
  std::vector<std::string> names = {"num", "small"};
  for (const auto& c : cities)
    names.push_back("city=" + c);
  names.push_back("plan");
  EXPECT_EQ(reference.output_names(), names);
  const size_t width = names.size();
  ASSERT_EQ(static_cast<size_t>(ref_data.features.cols()), width);
  double num_mean = 0, small_mean = 0;
  std::vector<double> num_imputed;
  for (idx_t g = 0; g < kRows; ++g) {
    const Row r = row_of(g);
    num_imputed.push_back(r.num_null || r.num_nan ? tr[0].fill[0] : r.num);
    num_mean += num_imputed.back();
    small_mean += r.small;
  }
  num_mean /= kRows;
  small_mean /= kRows;
  EXPECT_NEAR(tr[5].offset[0], num_mean, 1e-12 * std::abs(num_mean) + 1e-12);
  EXPECT_NEAR(tr[5].offset[1], small_mean, 1e-12);
  double ss = 0;
  for (const double v : num_imputed)
    ss += (v - num_mean) * (v - num_mean);
  EXPECT_NEAR(tr[5].divisor[0], std::sqrt(ss / kRows), 1e-12);
  double lo = 1e300, hi = -1e300;
  for (const double v : num_imputed) {
    const double s = (v - tr[5].offset[0]) / tr[5].divisor[0];
    lo = std::min(lo, s);
    hi = std::max(hi, s);
  }
  EXPECT_EQ(tr[6].offset[0], lo);
  EXPECT_EQ(tr[6].divisor[0], hi - lo);
  for (idx_t g = 0; g < kRows; ++g) {
    const Row r = row_of(g);
    const double* row = ref_data.features.data() + static_cast<size_t>(g) * width;
    const double standard =
        (num_imputed[static_cast<size_t>(g)] - tr[5].offset[0]) / tr[5].divisor[0];
    EXPECT_EQ(row[0], (standard - tr[6].offset[0]) / tr[6].divisor[0]) << g;
    EXPECT_EQ(row[1], (r.small - tr[5].offset[1]) / tr[5].divisor[1]) << g;
    const std::string city = r.city_null ? most : r.city;
    for (size_t c = 0; c < cities.size(); ++c)
      EXPECT_EQ(row[2 + c], cities[c] == city ? 1.0 : 0.0) << g;
    const std::vector<std::int64_t> plans = {-3, 9, 10, 100};
    EXPECT_EQ(row[width - 1],
              static_cast<double>(std::find(plans.begin(), plans.end(), r.plan) - plans.begin()));
    EXPECT_EQ(ref_data.labels(static_cast<Eigen::Index>(g)), static_cast<double>(r.label));
  }

  // Every split at this rank count: the same state and the same rows, bit for bit.
  for (int mode = 0; mode < 3; ++mode) {
    const auto [b, e] = split(kRows, comm.rank(), comm.size(), mode);
    ml::FeaturePipeline pipeline = make_pipeline();
    const ml::Dataset data = pipeline.fit(comm, make_table(b, e), "label", {});
    expect_same_state(pipeline, reference);
    const std::vector<double> rows = all_features(comm, data);
    ASSERT_EQ(rows.size(), static_cast<size_t>(ref_data.features.size()));
    for (size_t i = 0; i < rows.size(); ++i)
      ASSERT_TRUE(same_bits(rows[i], ref_data.features.data()[i])) << "mode " << mode << " " << i;
    // The fitted pipeline assembles the same rows again, and scoring a tile at a time gives the
    // bits of predicting on the matrix.
    const ml::Dataset again = pipeline.assemble(comm, make_table(b, e), "label", {});
    EXPECT_EQ(all_features(comm, again), rows);
    const ml::LinearModel model(ml::LinearKind::kLogistic, pipeline.num_outputs(), 0.0);
    Eigen::VectorXd weights(model.num_parameters());
    for (Eigen::Index k = 0; k < weights.size(); ++k)
      weights(k) = 0.1 * static_cast<double>(k % 5) - 0.2;
    const ml::ScoredRows scored =
        ml::score_table(comm, make_table(b, e), pipeline, "label", model, weights);
    Eigen::VectorXd direct(data.rows());
    model.predict(data.features.data(), static_cast<size_t>(data.rows()), weights.data(),
                  direct.data());
    ASSERT_EQ(scored.outputs.size(), direct.size());
    for (Eigen::Index k = 0; k < direct.size(); ++k)
      ASSERT_TRUE(same_bits(scored.outputs(k), direct(k))) << k;
  }
}

TEST(FeaturePipeline, MeanAndMostFrequentOfANumericColumnAndAConstant) {
  const mpi::Comm comm;
  const std::vector<double> nums = present_nums();
  std::map<double, int> counts;
  for (const double v : nums)
    ++counts[v + 0.0];
  double most = counts.begin()->first;
  for (const auto& [v, k] : counts)
    if (k > counts[most]) most = v;  // ties keep the smaller (map order)
  long double sum = 0;
  for (const double v : nums)
    sum += v;
  for (int mode = 0; mode < 3; ++mode) {
    const auto [b, e] = split(kRows, comm.rank(), comm.size(), mode);
    for (const auto strategy : {ml::ImputeStrategy::kMean, ml::ImputeStrategy::kMostFrequent}) {
      ml::FeaturePipeline p = make_pipeline(strategy);
      p.fit(comm, make_table(b, e), "label", {});
      const double fill = p.transforms()[0].fill.at(0);
      if (strategy == ml::ImputeStrategy::kMean) {
        // The values are multiples of 1/8 below 2^10: the long double sum is exact.
        EXPECT_EQ(fill, static_cast<double>(sum) / static_cast<double>(nums.size()));
      } else {
        EXPECT_EQ(fill, most);
      }
    }
    auto hash = transform(ml::TransformKind::kHash, {"city"});
    hash.buckets = 4;
    ml::FeaturePipeline constant(
        {"num"}, {"city"}, {impute(ml::ImputeStrategy::kConstant, {"num", "city"}, "-7.5"), hash});
    const ml::Dataset data = constant.fit(comm, make_table(b, e), "label", {});
    EXPECT_EQ(constant.output_names(),
              (std::vector<std::string>{"num", "city#0", "city#1", "city#2", "city#3"}));
    for (idx_t i = 0; i < data.rows(); ++i) {
      const Row r = row_of(b + i);
      EXPECT_EQ(data.features(i, 0), r.num_null || r.num_nan ? -7.5 : r.num);
      const std::string city = r.city_null ? "-7.5" : r.city;
      for (int k = 0; k < 4; ++k)
        EXPECT_EQ(data.features(i, 1 + k),
                  hash_string(city) % 4 == static_cast<std::uint64_t>(k) ? 1.0 : 0.0);
    }
  }
}

TEST(FeaturePipeline, UnknownCategoriesNullsAndTooManyCategoriesAreAgreedErrors) {
  const mpi::Comm comm;
  const auto [b, e] = split(kRows, comm.rank(), comm.size(), 0);
  // Fitted on rows without "berlin": scoring rows with it is an error (one_hot, unknown: error)
  // or all zeros (unknown: ignore).
  table::Table fit_rows;
  {
    table::Table all = make_table(b, e);
    std::vector<idx_t> keep;
    for (idx_t i = 0; i < all.num_rows(); ++i)
      if (all.column("city").to_string_at(i) != "berlin") keep.push_back(i);
    fit_rows = all.take(keep);
  }
  for (const auto unknown : {ml::UnknownCategory::kError, ml::UnknownCategory::kIgnore}) {
    auto one_hot = transform(ml::TransformKind::kOneHot, {"city"});
    one_hot.unknown = unknown;
    one_hot.where = "job.yaml:3:4: train.transforms.1 (one_hot)";
    ml::FeaturePipeline p({}, {"city"},
                          {impute(ml::ImputeStrategy::kConstant, {"city"}, "none"), one_hot});
    p.fit(comm, fit_rows, "label", {});
    EXPECT_EQ(std::count(p.transforms()[1].categories[0].begin(),
                         p.transforms()[1].categories[0].end(), "berlin"),
              0);
    const std::string error =
        error_of<InputError>([&] { p.assemble(comm, make_table(b, e), "label", {}); });
    if (unknown == ml::UnknownCategory::kError) {
      EXPECT_NE(error.find("categorical feature column 'city' holds 'berlin' at row "),
                std::string::npos)
          << error;
      EXPECT_NE(error.find("set unknown: ignore on its encoder (job.yaml:3:4: train.transforms.1 "
                           "(one_hot)) to encode them as all zeros"),
                std::string::npos)
          << error;
    } else {
      EXPECT_EQ(error, "");
      const ml::Dataset data = p.assemble(comm, make_table(b, e), "label", {});
      for (idx_t i = 0; i < data.rows(); ++i) {
        const Row r = row_of(b + i);
        if (!r.city_null && r.city == "berlin")
          EXPECT_EQ(data.features.row(i).sum(), 0.0);
        else
          EXPECT_EQ(data.features.row(i).sum(), 1.0);
      }
    }
  }
  // A null category without an imputer.
  ml::FeaturePipeline no_impute({}, {"city"}, {transform(ml::TransformKind::kOneHot, {"city"})});
  const std::string null_error =
      error_of<InputError>([&] { no_impute.fit(comm, make_table(b, e), "label", {}); });
  EXPECT_NE(null_error.find("categorical feature column 'city' is null at row"), std::string::npos)
      << null_error;
  // Too many categories.
  auto capped = transform(ml::TransformKind::kIndex, {"small"});
  capped.max_categories = 10;
  ml::FeaturePipeline too_many({}, {"small"}, {capped});
  const std::string many =
      error_of<InputError>([&] { too_many.fit(comm, make_table(b, e), "label", {}); });
  EXPECT_NE(many.find("categorical feature column 'small' has "), std::string::npos) << many;
  EXPECT_NE(many.find("hash"), std::string::npos) << many;
  // Categories are saved as text: bytes that are not UTF-8 stop the fit naming the row (valid
  // multi-byte text is a category like any other); hash saves none, so it takes them.
  for (const bool valid : {true, false}) {
    table::Table t = make_table(b, e);
    Column text = Column::plain_strings();
    for (idx_t g = b; g < e; ++g)
      text.plain().push_back(g == 7 ? (valid ? "\xc3\xa9t\xc3\xa9 \xf0\x9f\x8c\x8d" : "ab\xff")
                                    : (g % 2 == 0 ? "x" : "\xe6\x97\xa5\xe6\x9c\xac"));
    t.add_column("text", std::move(text));
    ml::FeaturePipeline p({}, {"text"}, {transform(ml::TransformKind::kOneHot, {"text"})});
    const std::string error = error_of<InputError>([&] { p.fit(comm, t, "label", {}); });
    if (valid) {
      EXPECT_EQ(error, "");
      EXPECT_EQ(p.output_names().size(), 3u);
    } else {
      EXPECT_NE(error.find("categorical feature column 'text' holds bytes that are not UTF-8 "
                           "text at row "),
                std::string::npos)
          << error;
      EXPECT_NE(error.find("(global row 7)"), std::string::npos) << error;
      auto hash = transform(ml::TransformKind::kHash, {"text"});
      hash.buckets = 4;
      ml::FeaturePipeline hashed({}, {"text"}, {hash});
      EXPECT_EQ(error_of<InputError>([&] { hashed.fit(comm, t, "label", {}); }), "");
    }
  }
  // A numeric feature with a null and no imputer: make_dataset's message.
  ml::FeaturePipeline raw({"num"}, {}, {});
  idx_t first_bad = 0;
  while (!row_of(first_bad).num_null && !row_of(first_bad).num_nan)
    ++first_bad;
  const std::string first_bad_num_message =
      row_of(first_bad).num_null
          ? "feature column 'num' is null at row " + std::to_string(first_bad) + " of rank"
          : "feature column 'num' holds nan at row " + std::to_string(first_bad) + " of rank";
  const std::string raw_error =
      error_of<InputError>([&] { raw.fit(comm, make_table(0, kRows), "label", {}); });
  EXPECT_NE(raw_error.find(first_bad_num_message), std::string::npos) << raw_error;
  // A string column as a numeric feature.
  ml::FeaturePipeline wrong({"city"}, {}, {});
  const std::string wrong_error =
      error_of<InputError>([&] { wrong.fit(comm, make_table(b, e), "label", {}); });
  EXPECT_NE(wrong_error.find("feature column 'city' has type string; a numeric feature"),
            std::string::npos)
      << wrong_error;
}

TEST(FeaturePipeline, StructureErrorsNameTheTransform) {
  const auto error = [](std::vector<std::string> numeric, std::vector<std::string> categorical,
                        std::vector<ml::FeatureTransform> t) {
    return error_of<ConfigError>([&] {
      ml::FeaturePipeline(std::move(numeric), std::move(categorical), std::move(t), "f.yaml:2:3");
    });
  };
  EXPECT_EQ(error({"a"}, {"c"}, {}),
            "f.yaml:2:3: categorical feature 'c' has no encoder; add one of {one_hot: {columns: "
            "[c]}}, {index: {columns: [c]}} or {hash: {columns: [c], buckets: 32}} to "
            "train.transforms");
  EXPECT_EQ(error({"a"}, {},
                  {transform(ml::TransformKind::kStandardScale, {}),
                   impute(ml::ImputeStrategy::kMean, {"a"})}),
            "timpute: 'a' is imputed after tscale: standard uses it; put the impute before it in "
            "train.transforms");
  EXPECT_EQ(error({"a"}, {"c"},
                  {transform(ml::TransformKind::kOneHot, {"c"}),
                   transform(ml::TransformKind::kStandardScale, {"c"})}),
            "tscale: standard: 'c' is a categorical feature; scale applies to numeric features "
            "only (an encoder's outputs are not scaled)");
  EXPECT_EQ(error({"a"}, {"c"},
                  {transform(ml::TransformKind::kOneHot, {"c"}),
                   impute(ml::ImputeStrategy::kMedian, {"c"})}),
            "timpute: 'c' is a categorical feature, which has no median; use strategy "
            "most_frequent or constant");
  EXPECT_EQ(error({"a"}, {}, {impute(ml::ImputeStrategy::kConstant, {"a"}, "x")}),
            "timpute: value 'x' is not a finite number, so it cannot fill the numeric feature 'a'");
  EXPECT_EQ(error({"a"}, {}, {transform(ml::TransformKind::kOneHot, {"a"})}),
            "tone_hot: 'a' is a numeric feature; one_hot encodes categorical features: list it "
            "under train.features.categorical");
  EXPECT_EQ(error({"a"}, {"c"},
                  {transform(ml::TransformKind::kOneHot, {"c"}),
                   transform(ml::TransformKind::kHash, {"c"})}),
            "thash: 'c' is already encoded by tone_hot; give each categorical feature one encoder");
  EXPECT_NE(
      error({"amount"}, {}, {impute(ml::ImputeStrategy::kMean, {"amont"})})
          .find("'amont' is not a feature: transforms apply to the columns listed under "
                "train.features (numeric: amount; categorical: none); did you mean 'amount'?"),
      std::string::npos);
  EXPECT_EQ(error({}, {}, {}),
            "f.yaml:2:3: no feature columns given for training; list at least one column under "
            "train.features.numeric or train.features.categorical");
}

// Float64 columns without imputers or encoders take the transposing fast path (four rows by four
// columns in registers, in blocks of 1024 rows by 8 columns): its rows are (x - offset) / divisor
// of the fitted scalers, bit for bit, for widths (up to three column blocks) and row counts (up to
// three row blocks) that leave remainders, unscaled columns, a column with two scalers
// (which falls back to the general loop), an int64 column (general loop too), at every split;
// and a NaN in a scaled column is still the agreed error naming it.
TEST(FeaturePipeline, Float64ColumnsAssembleAsTheScalarExpression) {
  const mpi::Comm comm;
  constexpr idx_t kPlainRows = 2603;  // more than two of write_plain's 1024-row blocks
  const auto value = [](idx_t g, int j) {
    const std::uint64_t h =
        hash_combine(hash_u64(static_cast<std::uint64_t>(j) + 77), static_cast<std::uint64_t>(g));
    return (static_cast<double>(h >> 11) * 0x1p-53 - 0.3) * std::ldexp(1.0, j * 5 - 10);
  };
  const auto table_of = [&](idx_t begin, idx_t end, int width, bool int_column, idx_t nan_row) {
    table::Table t;
    for (int j = 0; j < width; ++j) {
      if (int_column && j == 1) {
        table::Column c(table::DataType::kInt64);
        for (idx_t g = begin; g < end; ++g)
          c.values<std::int64_t>().push_back(static_cast<std::int64_t>(value(g, j) * 100));
        t.add_column("f" + std::to_string(j), std::move(c));
        continue;
      }
      table::Column c(table::DataType::kFloat64);
      for (idx_t g = begin; g < end; ++g)
        c.values<double>().push_back(g == nan_row && j == 2 ? std::nan("") : value(g, j));
      t.add_column("f" + std::to_string(j), std::move(c));
    }
    table::Column label(table::DataType::kInt64);
    for (idx_t g = begin; g < end; ++g)
      label.values<std::int64_t>().push_back(g % 2);
    t.add_column("label", std::move(label));
    return t;
  };
  struct Case {
    int width;
    bool int_column;
    bool twice_scaled;
  };
  for (const Case c :
       {Case{7, false, false}, Case{8, false, false}, Case{5, false, true}, Case{6, true, false},
        Case{1, false, false}, Case{12, false, false}, Case{19, false, false}}) {
    std::vector<std::string> names;
    for (int j = 0; j < c.width; ++j)
      names.push_back("f" + std::to_string(j));
    // Standard on every column but the last, min-max on f0 as well when twice_scaled; the last
    // column (when there are several) is left as it is.
    std::vector<std::string> standard(names.begin(), names.end() - (c.width > 1 ? 1 : 0));
    std::vector<ml::FeatureTransform> transforms = {
        transform(ml::TransformKind::kStandardScale, standard)};
    if (c.twice_scaled) transforms.push_back(transform(ml::TransformKind::kMinMaxScale, {"f0"}));
    for (int mode = 0; mode < 3; ++mode) {
      const auto [b, e] = split(kPlainRows, comm.rank(), comm.size(), mode);
      const table::Table t = table_of(b, e, c.width, c.int_column, -1);
      ml::FeaturePipeline pipeline(names, {}, transforms);
      const ml::Dataset data = pipeline.fit(comm, t, "label", {});
      ASSERT_EQ(data.num_features(), c.width);
      for (idx_t i = 0; i < data.rows(); ++i) {
        for (int j = 0; j < c.width; ++j) {
          double x = t.column(j).type() == table::DataType::kInt64
                         ? static_cast<double>(t.column(j).values<std::int64_t>()[i])
                         : t.column(j).values<double>()[i];
          for (const auto& tr : pipeline.transforms()) {
            for (size_t k = 0; k < tr.columns.size(); ++k)
              if (tr.columns[k] == names[static_cast<size_t>(j)])
                x = (x - tr.offset[k]) / tr.divisor[k];
          }
          ASSERT_TRUE(same_bits(data.features(i, j), x))
              << "width " << c.width << " mode " << mode << " row " << i << " column " << j;
        }
      }
    }
  }
  // A NaN in a standardized column: the agreed error names the column and the global row.
  const auto [b, e] = split(kPlainRows, comm.rank(), comm.size(), 0);
  ml::FeaturePipeline pipeline({"f0", "f1", "f2"}, {},
                               {transform(ml::TransformKind::kStandardScale, {})});
  const std::string message =
      error_of<InputError>([&] { pipeline.fit(comm, table_of(b, e, 3, false, 700), "label", {}); });
  EXPECT_NE(message.find("feature column 'f2' holds nan"), std::string::npos) << message;
  EXPECT_NE(message.find("global row 700"), std::string::npos) << message;
}

// The scalers' first pass over a float64 column finds its extremes and tests every value for
// finiteness at once (fit_scalers); a bad value found that way still stops the fit with the value
// check's agreed error, naming the kind and the global row: NaN, +inf and -inf at rows in every
// SIMD lane, both accumulators and the tail, a null (a column with a validity), for the standard
// and the min-max scaler, at every split. A clean column with a validity fits as one without.
TEST(FeaturePipeline, ScalerPassChecksEveryValue) {
  const mpi::Comm comm;
  constexpr idx_t kRows = 203;
  const auto value = [](idx_t g) {
    return static_cast<double>(hash_combine(hash_u64(5), static_cast<std::uint64_t>(g)) >> 11) *
           0x1p-53;
  };
  enum class Bad { kNan, kPlusInf, kMinusInf, kNull, kNone };
  const auto table_of = [&](idx_t begin, idx_t end, Bad bad, idx_t bad_row, bool validity) {
    table::Table t;
    table::Column f(table::DataType::kFloat64);
    for (idx_t g = begin; g < end; ++g) {
      double x = value(g);
      if (g == bad_row && bad == Bad::kNan) x = std::nan("");
      if (g == bad_row && bad == Bad::kPlusInf) x = std::numeric_limits<double>::infinity();
      if (g == bad_row && bad == Bad::kMinusInf) x = -std::numeric_limits<double>::infinity();
      f.values<double>().push_back(x);
      if (validity) f.validity().push_back(g == bad_row && bad == Bad::kNull ? 0 : 1);
    }
    t.add_column("f", std::move(f));
    table::Column label(table::DataType::kInt64);
    for (idx_t g = begin; g < end; ++g)
      label.values<std::int64_t>().push_back(g % 2);
    t.add_column("label", std::move(label));
    return t;
  };
  const auto [b, e] = split(kRows, comm.rank(), comm.size(), 0);
  for (const auto kind : {ml::TransformKind::kStandardScale, ml::TransformKind::kMinMaxScale}) {
    // Clean: with and without a validity, the same fitted scaler.
    std::vector<double> fitted;
    for (const bool validity : {false, true}) {
      ml::FeaturePipeline p({"f"}, {}, {transform(kind, {})});
      EXPECT_EQ(error_of<InputError>(
                    [&] { p.fit(comm, table_of(b, e, Bad::kNone, -1, validity), "label", {}); }),
                "");
      fitted.push_back(p.transforms()[0].offset.at(0));
      fitted.push_back(p.transforms()[0].divisor.at(0));
    }
    EXPECT_EQ(fitted[0], fitted[2]);
    EXPECT_EQ(fitted[1], fitted[3]);
    for (const Bad bad : {Bad::kNan, Bad::kPlusInf, Bad::kMinusInf, Bad::kNull}) {
      for (const idx_t row : {idx_t{0}, idx_t{1}, idx_t{3}, idx_t{4}, idx_t{7}, idx_t{8},
                              idx_t{101}, idx_t{kRows - 2}, idx_t{kRows - 1}}) {
        ml::FeaturePipeline p({"f"}, {}, {transform(kind, {})});
        const std::string message = error_of<InputError>(
            [&] { p.fit(comm, table_of(b, e, bad, row, bad == Bad::kNull), "label", {}); });
        const std::string what = bad == Bad::kNull      ? "is null at row"
                                 : bad == Bad::kNan     ? "holds nan at row"
                                 : bad == Bad::kPlusInf ? "holds inf at row"
                                                        : "holds -inf at row";
        EXPECT_NE(message.find("feature column 'f' " + what), std::string::npos)
            << message << " (row " << row << ")";
        EXPECT_NE(message.find("(global row " + std::to_string(row) + ")"), std::string::npos)
            << message;
      }
    }
  }
}

// features.dtype: float32. Fitting is the same (statistics in double from the columns), and each
// value of the float32 matrix is the float nearest the float64 matrix's value, for every split;
// assemble() does the same with a fitted pipeline. The rows are assembled a tile at a time, so
// the table is longer than one tile (256 KiB of doubles) at one rank.
TEST(FeaturePipeline, Float32MatrixHoldsTheNearestFloatOfEveryValue) {
  const mpi::Comm comm;
  constexpr idx_t kLong = 7000;  // more than one tile of 256 KiB of doubles at one rank
  ml::FeaturePipeline reference = make_pipeline();
  ml::Dataset ref64;
  {
    const mpi::Comm self = mpi::Comm::self();
    ref64 = reference.fit(self, make_table(0, kLong), "label", {});
  }
  ASSERT_EQ(ref64.matrix_type(), ml::MatrixType::kFloat64);
  for (int mode = 0; mode < 3; ++mode) {
    const auto [b, e] = split(kLong, comm.rank(), comm.size(), mode);
    ml::FeaturePipeline pipeline = make_pipeline();
    const ml::Dataset data =
        pipeline.fit(comm, make_table(b, e), "label", {}, ml::MatrixType::kFloat32);
    expect_same_state(pipeline, reference);
    ASSERT_EQ(data.matrix_type(), ml::MatrixType::kFloat32);
    EXPECT_EQ(data.features.size(), 0);
    ASSERT_EQ(data.rows(), e - b);
    ASSERT_EQ(data.num_features(), ref64.num_features());
    const ml::Dataset again =
        pipeline.assemble(comm, make_table(b, e), "label", {}, ml::MatrixType::kFloat32);
    std::vector<double> row(static_cast<size_t>(data.num_features()));
    for (idx_t i = 0; i < data.rows(); ++i) {
      data.copy_row(i, row.data());
      for (int j = 0; j < data.num_features(); ++j) {
        const double expected = static_cast<double>(static_cast<float>(ref64.features(b + i, j)));
        ASSERT_TRUE(same_bits(row[static_cast<size_t>(j)], expected))
            << "mode " << mode << " row " << i << " feature " << j;
        ASSERT_TRUE(same_bits(again.features32(i, j), data.features32(i, j)));
      }
      ASSERT_EQ(data.labels(i), ref64.labels(b + i));
    }
  }
}
