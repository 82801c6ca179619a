// train_sgd with the linear (regression), softmax (multiclass) and mlp models at every rank count:
// parameters bit-identical to a single-process run for even, skewed and all-on-one-rank splits,
// with sgd and adamw; stop-and-resume gives the uninterrupted result; full-batch descent on the
// linear model reaches the exact ridge solution; the softmax model learns its data. Also the
// label handling these models add: class discovery across ranks and its errors, and the
// multiclass and regression label checks of make_dataset.

#include <gtest/gtest.h>

#include <Eigen/Dense>

#include <cmath>
#include <cstring>
#include <vector>

#include "shardflow/common/hash.hpp"
#include "shardflow/ml/dataset.hpp"
#include "shardflow/ml/linear_models.hpp"
#include "shardflow/ml/mlp.hpp"
#include "shardflow/ml/sgd_trainer.hpp"
#include "shardflow/ml/standard_scaler.hpp"
#include "shardflow/mpi/allgatherv.hpp"
#include "shardflow/mpi/allreduce.hpp"
#include "shardflow/mpi/bcast.hpp"
#include "shardflow/mpi/comm.hpp"
#include "support/per_sample_model.hpp"
#include "support/test_util.hpp"

using namespace shardflow;
using ml::LinearKind;
using table::Column;
using table::DataType;

namespace {

constexpr idx_t kRows = 523;
constexpr int kFeatures = 3;
const std::vector<std::string> kNames = {"x0", "x1", "x2"};
const std::vector<double> kClasses = {-1.0, 3.0, 7.0};  // not 0..K-1: the index mapping is tested

using testing_util::PerSampleModel;
using testing_util::split;

double uniform(idx_t g, int j) {
  const std::uint64_t h = hash_combine(hash_u64(77), static_cast<std::uint64_t>(g * 8 + j));
  return static_cast<double>(h >> 11) * 0x1p-53;
}

std::vector<double> features_of(idx_t g) {
  return {uniform(g, 0) * 4 - 2, uniform(g, 1) * 20 + 5, uniform(g, 2) - 0.5};
}

// Regression target: a linear function plus noise. Class: the largest of three linear scores
// plus noise, as a value of kClasses.
double target_of(idx_t g) {
  const auto x = features_of(g);
  return 2.0 * x[0] - 0.3 * x[1] + 5.0 * x[2] + 1.0 + (uniform(g, 5) - 0.5);
}
double class_of(idx_t g) {
  const auto x = features_of(g);
  const double s[3] = {x[0] + 0.3 * uniform(g, 6), 0.1 * (x[1] - 15) + 0.3 * uniform(g, 7),
                       2 * x[2] + 0.3 * uniform(g, 4)};
  return kClasses[static_cast<size_t>(std::max_element(s, s + 3) - s)];
}

table::Table make_table(idx_t begin, idx_t end) {
  table::Table t;
  for (int j = 0; j < kFeatures; ++j) {
    Column c(DataType::kFloat64);
    for (idx_t g = begin; g < end; ++g)
      c.values<double>().push_back(features_of(g)[static_cast<size_t>(j)]);
    t.add_column(kNames[static_cast<size_t>(j)], std::move(c));
  }
  Column y(DataType::kFloat64);
  Column k(DataType::kInt64);
  for (idx_t g = begin; g < end; ++g) {
    y.values<double>().push_back(target_of(g));
    k.values<std::int64_t>().push_back(static_cast<std::int64_t>(class_of(g)));
  }
  Column b(DataType::kInt64);  // a binary label for logistic regression
  for (idx_t g = begin; g < end; ++g)
    b.values<std::int64_t>().push_back(class_of(g) == kClasses[1] ? 1 : 0);
  t.add_column("y", std::move(y));
  t.add_column("k", std::move(k));
  t.add_column("b", std::move(b));
  return t;
}

ml::LinearModel model_of(LinearKind kind) {
  return kind == LinearKind::kSoftmax ? ml::LinearModel(kind, kFeatures, 1e-3, kClasses)
                                      : ml::LinearModel(kind, kFeatures, 1e-3);
}

ml::Dataset scaled_data(const mpi::Comm& comm, idx_t begin, idx_t end, const ml::Model& model) {
  const std::string label = model.task() == ml::Task::kMulticlass ? "k"
                            : model.task() == ml::Task::kBinary   ? "b"
                                                                  : "y";
  ml::Dataset data =
      ml::make_dataset(comm, make_table(begin, end), kNames, label, model.label_encoding());
  ml::StandardScaler scaler;
  scaler.fit(comm, data);
  scaler.transform(data);
  return data;
}

ml::SgdOptions options(ml::OptimizerKind kind) {
  ml::SgdOptions o;
  o.learning_rate = kind == ml::OptimizerKind::kSgd ? 0.05 : 0.02;
  o.batch_size = 40;  // 523 rows: 14 steps per epoch, the last one partial
  o.epochs = 3;
  o.momentum = kind == ml::OptimizerKind::kSgd ? 0.5 : 0.0;
  o.seed = 3;
  o.optimizer = kind;
  if (kind == ml::OptimizerKind::kAdamW) o.weight_decay = 0.05;
  return o;
}

bool same_bits(const Eigen::VectorXd& a, const Eigen::VectorXd& b) {
  return a.size() == b.size() &&
         std::memcmp(a.data(), b.data(), static_cast<size_t>(a.size()) * sizeof(double)) == 0;
}

// Rank 0 trains on all rows over MPI_COMM_SELF; the weights are broadcast.
Eigen::VectorXd reference_weights(const mpi::Comm& comm, const ml::Model& model,
                                  const ml::SgdOptions& o) {
  Eigen::VectorXd w = Eigen::VectorXd::Zero(model.num_parameters());
  if (comm.rank() == 0) {
    mpi::Comm self(MPI_COMM_SELF);
    w = ml::train_sgd(self, scaled_data(self, 0, kRows, model), model, o, std::nullopt, {}).weights;
  }
  mpi::bcast(comm, std::span<double>(w.data(), static_cast<size_t>(w.size())), 0);
  return w;
}

const LinearKind kModels[] = {LinearKind::kLinear, LinearKind::kSoftmax};
const ml::OptimizerKind kOptimizers[] = {ml::OptimizerKind::kSgd, ml::OptimizerKind::kAdamW};

}  // namespace

TEST(TrainModels, BitIdenticalToSingleProcessForEverySplit) {
  mpi::Comm comm;
  for (const LinearKind kind : kModels) {
    const ml::LinearModel model = model_of(kind);
    for (const ml::OptimizerKind optimizer : kOptimizers) {
      SCOPED_TRACE(std::string(model.type()) + " " + ml::to_string(optimizer));
      const Eigen::VectorXd ref = reference_weights(comm, model, options(optimizer));
      EXPECT_EQ(ref.size(), model.num_parameters());
      EXPECT_FALSE(ref.isZero(0));
      for (int mode : {0, 1, 2}) {
        const auto [b, e] = split(kRows, comm.rank(), comm.size(), mode);
        const ml::TrainState s = ml::train_sgd(comm, scaled_data(comm, b, e, model), model,
                                               options(optimizer), std::nullopt, {});
        EXPECT_EQ(s.step, 3 * 14);
        EXPECT_TRUE(same_bits(s.weights, ref)) << "mode " << mode;
      }
    }
  }
}

// The linear models' gradients are summed from their factors (reproducible_outer_sum) without a
// per-sample buffer; the weights must be those of the per-sample path, with and without class
// weights, for every split. Bit for bit on this data: the factored sums' quantum comes from bounds
// on the inputs and may be a few bits coarser than the per-sample path's, but it lies about 2^-60
// below each component's largest term, so the rounded doubles agree (and a wrong factor would not).
TEST(TrainModels, FactoredGradientSumsGiveThePerSampleWeights) {
  mpi::Comm comm;
  for (const LinearKind kind : {LinearKind::kLinear, LinearKind::kLogistic, LinearKind::kSoftmax}) {
    const ml::LinearModel model = model_of(kind);
    const PerSampleModel per_sample(model);
    std::vector<ml::SgdOptions> settings = {options(ml::OptimizerKind::kSgd)};
    if (kind != LinearKind::kLinear) {
      settings.push_back(settings[0]);
      settings.back().class_weights = kind == LinearKind::kSoftmax
                                          ? std::vector<double>{1.0, 2.5, 0.5}
                                          : std::vector<double>{0.3, 1.7};
    }
    for (const ml::SgdOptions& o : settings) {
      SCOPED_TRACE(std::string(model.type()) + (o.class_weights.empty() ? "" : ", class weights"));
      for (int mode : {0, 1, 2}) {
        const auto [b, e] = split(kRows, comm.rank(), comm.size(), mode);
        const ml::Dataset data = scaled_data(comm, b, e, model);
        double factored_seconds = -1, per_sample_seconds = -1;
        const ml::TrainState factored =
            ml::train_sgd(comm, data, model, o, std::nullopt, {}, nullptr, &factored_seconds);
        const ml::TrainState reference = ml::train_sgd(comm, data, per_sample, o, std::nullopt, {},
                                                       nullptr, &per_sample_seconds);
        EXPECT_FALSE(factored.weights.isZero(0));
        EXPECT_TRUE(same_bits(factored.weights, reference.weights)) << "mode " << mode;
        EXPECT_EQ(factored.last_loss, reference.last_loss) << "mode " << mode;
        EXPECT_GT(factored_seconds, 0.0);
        EXPECT_GT(per_sample_seconds, 0.0);
      }
    }
  }
}

TEST(TrainModels, StopAndResumeGivesTheUninterruptedWeights) {
  mpi::Comm comm;
  for (const LinearKind kind : kModels) {
    const ml::LinearModel model = model_of(kind);
    for (const ml::OptimizerKind optimizer : kOptimizers) {
      SCOPED_TRACE(std::string(model.type()) + " " + ml::to_string(optimizer));
      const Eigen::VectorXd full = reference_weights(comm, model, options(optimizer));
      const auto [b, e] = split(kRows, comm.rank(), comm.size(), 1);
      const ml::Dataset data = scaled_data(comm, b, e, model);
      for (idx_t stop_at : {idx_t{1}, idx_t{14}, idx_t{20}}) {
        idx_t steps = 0;
        ml::TrainCallbacks cb;
        cb.after_step = [&](const ml::TrainState& s) { steps = s.step; };
        cb.stop_requested = [&] { return comm.rank() == 0 && steps >= stop_at; };
        bool stopped = false;
        const ml::TrainState partial =
            ml::train_sgd(comm, data, model, options(optimizer), std::nullopt, cb, &stopped);
        ASSERT_TRUE(stopped);
        EXPECT_EQ(partial.step, stop_at);
        const ml::TrainState done =
            ml::train_sgd(comm, data, model, options(optimizer), partial, {});
        EXPECT_TRUE(same_bits(done.weights, full)) << "stop at " << stop_at;
      }
    }
  }
}

// Full-batch gradient descent with momentum on the linear model minimizes
//   mean (w.x + b - y)^2 / 2 + l2/2 ||w||^2,
// whose minimizer solves (X'X / n + l2 I') w = X'y / n (I' without the intercept). The test
// solves that system directly and expects the trained parameters and objective to match it.
TEST(TrainModels, LinearReachesTheRidgeSolution) {
  mpi::Comm comm;
  const ml::LinearModel model(LinearKind::kLinear, kFeatures, 0.01);
  const auto [b, e] = split(kRows, comm.rank(), comm.size(), 1);
  const ml::Dataset data = scaled_data(comm, b, e, model);
  ml::SgdOptions o;
  o.batch_size = kRows;
  o.epochs = 400;
  o.learning_rate = 0.5;
  o.momentum = 0.8;
  const Eigen::VectorXd w = ml::train_sgd(comm, data, model, o, std::nullopt, {}).weights;

  // The exact solution from every row (gathered: the test data is small).
  const std::vector<double> x_all = mpi::allgatherv(
      comm,
      std::span<const double>(data.features.data(), static_cast<size_t>(data.features.size())));
  const std::vector<double> y_all = mpi::allgatherv(
      comm, std::span<const double>(data.labels.data(), static_cast<size_t>(data.labels.size())));
  Eigen::MatrixXd a = Eigen::MatrixXd::Ones(kRows, kFeatures + 1);
  for (idx_t i = 0; i < kRows; ++i)
    for (int j = 0; j < kFeatures; ++j)
      a(i, j) = x_all[static_cast<size_t>(i * kFeatures + j)];
  const Eigen::VectorXd y = Eigen::Map<const Eigen::VectorXd>(y_all.data(), kRows);
  Eigen::MatrixXd normal = a.transpose() * a / static_cast<double>(kRows);
  for (int j = 0; j < kFeatures; ++j)
    normal(j, j) += 0.01;
  const Eigen::VectorXd exact = normal.ldlt().solve(a.transpose() * y / static_cast<double>(kRows));
  const auto objective = [&](const Eigen::VectorXd& p) {
    return (a * p - y).squaredNorm() / (2.0 * kRows) + 0.005 * p.head(kFeatures).squaredNorm();
  };
  EXPECT_LT((w - exact).norm(), 1e-8 * exact.norm()) << w.transpose() << "\n" << exact.transpose();
  EXPECT_NEAR(objective(w), objective(exact), 1e-12 * objective(exact));
}

TEST(TrainModels, SoftmaxLearnsItsClasses) {
  mpi::Comm comm;
  const ml::LinearModel model = model_of(LinearKind::kSoftmax);
  const auto [b, e] = split(kRows, comm.rank(), comm.size(), 0);
  const ml::Dataset data = scaled_data(comm, b, e, model);
  ml::SgdOptions o = options(ml::OptimizerKind::kSgd);
  o.epochs = 30;
  o.learning_rate = 0.2;
  std::vector<double> losses;
  ml::TrainCallbacks cb;
  cb.after_step = [&](const ml::TrainState& s) { losses.push_back(s.last_loss); };
  const ml::TrainState s = ml::train_sgd(comm, data, model, o, std::nullopt, cb);
  EXPECT_NEAR(losses.front(), std::log(3.0), 1e-12);  // zero weights: p = 1/3 for every class
  // Training accuracy (argmax) over all ranks.
  std::vector<double> p(static_cast<size_t>(data.rows()) * 3);
  model.predict(data.features.data(), static_cast<size_t>(data.rows()), s.weights.data(), p.data());
  idx_t right = 0;
  for (idx_t i = 0; i < data.rows(); ++i) {
    const double* row = p.data() + i * 3;
    right += (std::max_element(row, row + 3) - row) == static_cast<long>(data.labels(i));
  }
  const idx_t total_right = mpi::allreduce_sum(comm, right);
  EXPECT_GT(static_cast<double>(total_right) / kRows, 0.85);
}

TEST(TrainModels, ClassesAreFoundAcrossRanks) {
  mpi::Comm comm;
  for (int mode : {0, 1, 2}) {
    const auto [b, e] = split(kRows, comm.rank(), comm.size(), mode);
    EXPECT_EQ(ml::distinct_label_values(comm, make_table(b, e), "k"), kClasses);
    const ml::Dataset data = ml::make_dataset(comm, make_table(b, e), kNames, "k",
                                              model_of(LinearKind::kSoftmax).label_encoding());
    for (idx_t i = 0; i < data.rows(); ++i)
      ASSERT_EQ(kClasses[static_cast<size_t>(data.labels(i))], class_of(b + i));
  }
  // Too many distinct values, a string label, a missing column: agreed errors on every rank.
  const auto [b, e] = split(kRows, comm.rank(), comm.size(), 0);
  try {
    ml::distinct_label_values(comm, make_table(b, e), "y", 100);
    FAIL() << "a continuous label accepted as classes";
  } catch (const InputError& error) {
    EXPECT_NE(std::string(error.what()).find("label column 'y' has more than 100 distinct values"),
              std::string::npos)
        << error.what();
  }
  EXPECT_THROW(ml::distinct_label_values(comm, make_table(b, e), "nope"), ConfigError);
}

TEST(TrainModels, LabelsThatDoNotFitTheModel) {
  mpi::Comm comm;
  const auto [b, e] = split(kRows, comm.rank(), comm.size(), 0);
  // Class 3 is unknown to a model trained on {-1, 7}.
  const ml::LabelEncoding two_classes{ml::Task::kMulticlass, {-1.0, 7.0}};
  try {
    ml::make_dataset(comm, make_table(b, e), kNames, "k", two_classes);
    FAIL() << "an unknown class accepted";
  } catch (const InputError& error) {
    EXPECT_NE(std::string(error.what())
                  .find("which is not one of the model's 2 classes (the "
                        "labels of the training data: -1, 7)"),
              std::string::npos)
        << error.what();
  }
  // A regression target that is not finite.
  table::Table t = make_table(b, e);
  if (b <= 10 && 10 < e) t.column("y").values<double>()[static_cast<size_t>(10 - b)] = std::nan("");
  try {
    ml::make_dataset(comm, t, kNames, "y", {ml::Task::kRegression, {}});
    FAIL() << "a NaN target accepted";
  } catch (const InputError& error) {
    EXPECT_NE(std::string(error.what())
                  .find("(global row 10); a regression target must be a "
                        "finite number"),
              std::string::npos)
        << error.what();
  }
}

// ---- the multilayer perceptron ------------------------------------------------------------------

namespace {

// A multiclass MLP on the three classes, a regression MLP on the target: both through the same
// bit-identity and resume checks as the linear models (random initial weights from the seed).
std::vector<ml::Mlp> mlps() {
  return {ml::Mlp(ml::Task::kMulticlass, kFeatures, {6, 4}, ml::Activation::kRelu, 1e-3, kClasses),
          ml::Mlp(ml::Task::kRegression, kFeatures, {5}, ml::Activation::kTanh, 1e-3)};
}

}  // namespace

TEST(TrainModels, MlpBitIdenticalForEverySplitAndAcrossResume) {
  mpi::Comm comm;
  for (const ml::Mlp& model : mlps()) {
    for (const ml::OptimizerKind optimizer : kOptimizers) {
      SCOPED_TRACE(std::string(ml::to_string(model.task())) + " " + ml::to_string(optimizer));
      const Eigen::VectorXd ref = reference_weights(comm, model, options(optimizer));
      EXPECT_FALSE(ref.isApprox(model.initial_parameters(3)));  // it trained
      for (int mode : {0, 1, 2}) {
        const auto [b, e] = split(kRows, comm.rank(), comm.size(), mode);
        const ml::Dataset data = scaled_data(comm, b, e, model);
        EXPECT_TRUE(same_bits(
            ml::train_sgd(comm, data, model, options(optimizer), std::nullopt, {}).weights, ref))
            << "mode " << mode;
        idx_t steps = 0;
        ml::TrainCallbacks cb;
        cb.after_step = [&](const ml::TrainState& s) { steps = s.step; };
        cb.stop_requested = [&] { return steps >= 17; };
        const ml::TrainState partial =
            ml::train_sgd(comm, data, model, options(optimizer), std::nullopt, cb);
        ASSERT_EQ(partial.step, 17);
        EXPECT_TRUE(same_bits(
            ml::train_sgd(comm, data, model, options(optimizer), partial, {}).weights, ref));
      }
    }
  }
}

// XOR-like classes (the sign of x0 * x2) that no linear model separates: the logistic model stays
// near chance, a small MLP learns them.
TEST(TrainModels, MlpLearnsWhatALinearModelCannot) {
  mpi::Comm comm;
  const auto [b, e] = split(kRows, comm.rank(), comm.size(), 0);
  table::Table t = make_table(b, e);
  Column xor_label(DataType::kInt64);
  for (idx_t g = b; g < e; ++g) {
    const auto x = features_of(g);
    xor_label.values<std::int64_t>().push_back(x[0] * x[2] > 0 ? 1 : 0);
  }
  t.add_column("xor", std::move(xor_label));
  const auto accuracy = [&](const ml::Model& model, const ml::SgdOptions& o) {
    ml::Dataset data = ml::make_dataset(comm, t, kNames, "xor", model.label_encoding());
    ml::StandardScaler scaler;
    scaler.fit(comm, data);
    scaler.transform(data);
    const ml::TrainState s = ml::train_sgd(comm, data, model, o, std::nullopt, {});
    std::vector<double> p(static_cast<size_t>(data.rows()));
    model.predict(data.features.data(), p.size(), s.weights.data(), p.data());
    idx_t right = 0;
    for (idx_t i = 0; i < data.rows(); ++i)
      right += (p[static_cast<size_t>(i)] >= 0.5) == (data.labels(i) == 1.0);
    return static_cast<double>(mpi::allreduce_sum(comm, right)) / kRows;
  };
  ml::SgdOptions o;
  o.optimizer = ml::OptimizerKind::kAdam;
  o.learning_rate = 0.02;
  o.batch_size = 16;
  o.epochs = 60;
  o.seed = 1;
  const double linear = accuracy(ml::LinearModel(LinearKind::kLogistic, kFeatures, 0.0), o);
  const double mlp =
      accuracy(ml::Mlp(ml::Task::kBinary, kFeatures, {16}, ml::Activation::kTanh, 0.0), o);
  EXPECT_LT(linear, 0.7);
  EXPECT_GT(mlp, 0.9) << "logistic " << linear;
}

// ---- class weights ------------------------------------------------------------------------------

// Weights of 1 change nothing, bit for bit; other weights give the same bits at every split (the
// weighted contributions are summed exactly like the plain ones) and change the result; weights
// that do not fit the model are errors on every rank.
TEST(TrainModels, ClassWeights) {
  mpi::Comm comm;
  const ml::LinearModel model = model_of(LinearKind::kSoftmax);
  ml::SgdOptions plain = options(ml::OptimizerKind::kSgd);
  ml::SgdOptions ones = plain;
  ones.class_weights = {1.0, 1.0, 1.0};
  ml::SgdOptions weighted = plain;
  weighted.class_weights = {1.0, 2.5, 0.5};
  const Eigen::VectorXd reference = reference_weights(comm, model, weighted);
  EXPECT_FALSE(same_bits(reference, reference_weights(comm, model, plain)));
  for (int mode : {0, 1, 2}) {
    const auto [b, e] = split(kRows, comm.rank(), comm.size(), mode);
    const ml::Dataset data = scaled_data(comm, b, e, model);
    EXPECT_TRUE(same_bits(ml::train_sgd(comm, data, model, ones, std::nullopt, {}).weights,
                          ml::train_sgd(comm, data, model, plain, std::nullopt, {}).weights));
    EXPECT_TRUE(
        same_bits(ml::train_sgd(comm, data, model, weighted, std::nullopt, {}).weights, reference))
        << "mode " << mode;
  }
  const auto [b, e] = split(kRows, comm.rank(), comm.size(), 0);
  const ml::Dataset data = scaled_data(comm, b, e, model);
  ml::SgdOptions two = plain;
  two.class_weights = {1.0, 2.0};
  EXPECT_THROW(ml::train_sgd(comm, data, model, two, std::nullopt, {}), ConfigError);
  ml::SgdOptions zero = plain;
  zero.class_weights = {1.0, 0.0, 1.0};
  EXPECT_THROW(ml::train_sgd(comm, data, model, zero, std::nullopt, {}), ConfigError);
  const ml::LinearModel regression = model_of(LinearKind::kLinear);
  ml::SgdOptions any = plain;
  any.class_weights = {1.0};
  EXPECT_THROW(
      ml::train_sgd(comm, scaled_data(comm, b, e, regression), regression, any, std::nullopt, {}),
      ConfigError);
}

namespace {

// The dataset with each feature rounded to float: in a float32 matrix, or in a float64 matrix
// holding the same (rounded) values.
ml::Dataset rounded(const ml::Dataset& data, ml::MatrixType type) {
  ml::Dataset out = data;
  if (type == ml::MatrixType::kFloat32) {
    out.features32 = data.features.cast<float>();
    out.features.resize(0, 0);
  } else {
    out.features = data.features.cast<float>().cast<double>();
  }
  return out;
}

}  // namespace

// features.dtype: float32. Training converts each row back to double exactly, so the weights are
// those of training on the float-rounded values in a float64 matrix, bit for bit, for every split
// (hence at every rank count), with SGD, Adam and full-batch L-BFGS.
TEST(TrainModels, Float32MatrixTrainsAsItsRoundedValuesInDouble) {
  mpi::Comm comm;
  for (const LinearKind kind : {LinearKind::kLogistic, LinearKind::kSoftmax}) {
    const ml::LinearModel model = model_of(kind);
    std::vector<ml::SgdOptions> settings = {options(ml::OptimizerKind::kSgd),
                                            options(ml::OptimizerKind::kAdamW)};
    settings.emplace_back();
    settings.back().optimizer = ml::OptimizerKind::kLbfgs;
    settings.back().batch_size = ml::kFullBatch;
    settings.back().epochs = 20;  // max_iterations
    for (const ml::SgdOptions& o : settings) {
      SCOPED_TRACE(std::string(model.type()) + " " + ml::to_string(o.optimizer));
      Eigen::VectorXd ref = Eigen::VectorXd::Zero(model.num_parameters());
      if (comm.rank() == 0) {
        mpi::Comm self(MPI_COMM_SELF);
        const ml::Dataset all =
            rounded(scaled_data(self, 0, kRows, model), ml::MatrixType::kFloat64);
        ref = ml::train_sgd(self, all, model, o, std::nullopt, {}).weights;
      }
      mpi::bcast(comm, std::span<double>(ref.data(), static_cast<size_t>(ref.size())), 0);
      EXPECT_FALSE(ref.isZero(0));
      for (int mode : {0, 1, 2}) {
        const auto [b, e] = split(kRows, comm.rank(), comm.size(), mode);
        const ml::Dataset single =
            rounded(scaled_data(comm, b, e, model), ml::MatrixType::kFloat32);
        ASSERT_EQ(single.matrix_type(), ml::MatrixType::kFloat32);
        const ml::TrainState s = ml::train_sgd(comm, single, model, o, std::nullopt, {});
        EXPECT_TRUE(same_bits(s.weights, ref)) << "mode " << mode;
      }
    }
  }
}
