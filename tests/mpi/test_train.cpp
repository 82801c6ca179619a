// train_logistic_sgd at every rank count: weights bit-identical to a single-process run (over
// MPI_COMM_SELF on rank 0) for even, skewed and all-on-one-rank splits; stop-and-resume gives the
// uninterrupted result exactly, also when the state comes from a different rank count; the
// gradient matches finite differences; the model learns the synthetic data; error paths.

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <vector>

#include "shardflow/common/hash.hpp"
#include "shardflow/ml/dataset.hpp"
#include "shardflow/ml/logistic_regression.hpp"
#include "shardflow/ml/metrics.hpp"
#include "shardflow/ml/sgd_trainer.hpp"
#include "shardflow/ml/standard_scaler.hpp"
#include "shardflow/mpi/allgatherv.hpp"
#include "shardflow/mpi/bcast.hpp"
#include "shardflow/mpi/comm.hpp"
#include "support/test_util.hpp"

using namespace shardflow;
using table::Column;
using table::DataType;

namespace {

constexpr idx_t kRows = 601;
constexpr int kFeatures = 4;
const std::vector<std::string> kNames = {"x0", "x1", "x2", "x3"};

using testing_util::split;

double uniform(idx_t g, int j) {
  const std::uint64_t h = hash_combine(hash_u64(2024), static_cast<std::uint64_t>(g * 8 + j));
  return static_cast<double>(h >> 11) * 0x1p-53;
}

// Synthetic, mostly linearly separable data, a pure function of the global row index: features on
// different scales and offsets (so the scaler matters), label from a linear rule plus noise.
std::vector<double> features_of(idx_t g) {
  return {uniform(g, 0) * 4 - 2, uniform(g, 1) * 200 + 50, uniform(g, 2) - 0.5,
          static_cast<double>(g % 5)};
}
double label_of(idx_t g) {
  const auto x = features_of(g);
  const double noise = (uniform(g, 5) - 0.5) * 1.0;
  const double z = 1.5 * x[0] - 0.02 * (x[1] - 150) + 2.0 * x[2] + 0.1 * (x[3] - 2) + noise;
  return z > 0 ? 1.0 : 0.0;
}

table::Table make_table(idx_t begin, idx_t end, double feature_scale = 1.0) {
  table::Table t;
  for (int j = 0; j < kFeatures; ++j) {
    Column c(DataType::kFloat64);
    for (idx_t g = begin; g < end; ++g)
      c.values<double>().push_back(features_of(g)[static_cast<size_t>(j)] * feature_scale);
    t.add_column(kNames[static_cast<size_t>(j)], std::move(c));
  }
  Column y(DataType::kBool);
  for (idx_t g = begin; g < end; ++g)
    y.values<std::uint8_t>().push_back(static_cast<std::uint8_t>(label_of(g)));
  t.add_column("y", std::move(y));
  return t;
}

// Dataset of rows [begin, end), standardized with a scaler fitted over `comm`.
ml::Dataset scaled_data(const mpi::Comm& comm, idx_t begin, idx_t end) {
  ml::Dataset data = ml::make_dataset(comm, make_table(begin, end), kNames, "y");
  ml::StandardScaler scaler;
  scaler.fit(comm, data);
  scaler.transform(data);
  return data;
}

ml::SgdOptions options(ml::OptimizerKind kind = ml::OptimizerKind::kSgd) {
  ml::SgdOptions o;
  o.learning_rate = 0.3;
  o.batch_size = 32;  // 601 rows: 19 steps per epoch, the last one partial
  o.epochs = 3;
  o.momentum = 0.9;
  o.seed = 7;
  o.optimizer = kind;
  if (kind != ml::OptimizerKind::kSgd) {
    o.momentum = 0.0;
    o.learning_rate = 0.05;
    o.beta2 = 0.99;
  }
  // The schedules ride along, so that every bit-identity and resume test covers them too.
  if (kind == ml::OptimizerKind::kAdam) {
    o.schedule.kind = ml::LearningRateSchedule::Kind::kCosine;
    o.schedule.warmup_steps = 5;
    o.schedule.min_lr = 0.001;
  }
  if (kind == ml::OptimizerKind::kAdamW) {
    o.weight_decay = 0.1;
    o.schedule.kind = ml::LearningRateSchedule::Kind::kStep;
    o.schedule.every_steps = 10;
    o.schedule.factor = 0.5;
  }
  return o;
}

const ml::OptimizerKind kOptimizers[] = {ml::OptimizerKind::kSgd, ml::OptimizerKind::kAdam,
                                         ml::OptimizerKind::kAdamW};

bool same_state(const ml::OptimizerState& a, const ml::OptimizerState& b);
constexpr double kL2 = 1e-3;

bool same_bits(const Eigen::VectorXd& a, const Eigen::VectorXd& b) {
  return a.size() == b.size() &&
         std::memcmp(a.data(), b.data(), static_cast<size_t>(a.size()) * sizeof(double)) == 0;
}

bool same_state(const ml::OptimizerState& a, const ml::OptimizerState& b) {
  if (a.size() != b.size()) return false;
  for (const auto& [name, v] : a) {
    const auto it = b.find(name);
    if (it == b.end() || !same_bits(v, it->second)) return false;
  }
  return true;
}

// Broadcasts a TrainState from rank 0.
void bcast_state(const mpi::Comm& comm, ml::TrainState& s, ml::OptimizerKind kind) {
  idx_t header[4] = {s.step, s.epoch, s.step_in_epoch, s.samples_seen};
  mpi::bcast(comm, std::span<idx_t>(header, 4), 0);
  s.step = header[0];
  s.epoch = header[1];
  s.step_in_epoch = header[2];
  s.samples_seen = header[3];
  s.weights.resize(kFeatures + 1);
  mpi::bcast(comm, std::span<double>(s.weights.data(), kFeatures + 1), 0);
  for (const auto& name : ml::optimizer_state_names(kind)) {
    s.optimizer[name].resize(kFeatures + 1);
    mpi::bcast(comm, std::span<double>(s.optimizer[name].data(), kFeatures + 1), 0);
  }
  s.last_loss = mpi::bcast_value(comm, s.last_loss, 0);
}

// The single-process reference: rank 0 trains on all rows over MPI_COMM_SELF; `stop_after`
// (if > 0) stops it after that many steps. The state is broadcast to all ranks.
ml::TrainState reference(const mpi::Comm& comm, idx_t stop_after = 0,
                         ml::OptimizerKind kind = ml::OptimizerKind::kSgd) {
  ml::TrainState s;
  if (comm.rank() == 0) {
    mpi::Comm self(MPI_COMM_SELF);
    const ml::Dataset data = scaled_data(self, 0, kRows);
    ml::LogisticRegression model(kFeatures, kL2);
    idx_t steps = 0;
    ml::TrainCallbacks cb;
    cb.after_step = [&](const ml::TrainState& st) { steps = st.step; };
    cb.stop_requested = [&] { return stop_after > 0 && steps >= stop_after; };
    s = ml::train_logistic_sgd(self, data, model, options(kind), std::nullopt, cb);
  }
  bcast_state(comm, s, kind);
  return s;
}

void expect_same_message_everywhere(const mpi::Comm& comm, const std::string& message) {
  const auto all = mpi::allgather<std::uint64_t>(comm, hash_string(message));
  for (auto h : all)
    EXPECT_EQ(h, all[0]) << message;
}

}  // namespace

TEST(Train, StepsPerEpoch) {
  EXPECT_EQ(ml::steps_per_epoch(601, 32), 19);
  EXPECT_EQ(ml::steps_per_epoch(640, 32), 20);
  EXPECT_EQ(ml::steps_per_epoch(0, 32), 0);
  EXPECT_EQ(ml::steps_per_epoch(5, 100), 1);
  EXPECT_THROW(ml::steps_per_epoch(5, 0), ConfigError);
}

TEST(Train, BitIdenticalToSingleProcessForEverySplitAndOptimizer) {
  mpi::Comm comm;
  for (const ml::OptimizerKind kind : kOptimizers) {
    SCOPED_TRACE(ml::to_string(kind));
    const ml::TrainState ref = reference(comm, 0, kind);
    EXPECT_EQ(ref.step, 3 * 19);
    EXPECT_EQ(ref.epoch, 3);
    EXPECT_EQ(ref.step_in_epoch, 0);
    EXPECT_EQ(ref.samples_seen, 3 * kRows);
    for (int mode : {0, 1, 2}) {
      const auto [b, e] = split(kRows, comm.rank(), comm.size(), mode);
      const ml::Dataset data = scaled_data(comm, b, e);
      ml::LogisticRegression model(kFeatures, kL2);
      idx_t calls = 0;
      ml::TrainCallbacks cb;
      cb.after_step = [&](const ml::TrainState& s) {
        ++calls;
        EXPECT_EQ(s.step, calls);
      };
      bool stopped = true;
      const ml::TrainState s =
          ml::train_logistic_sgd(comm, data, model, options(kind), std::nullopt, cb, &stopped);
      EXPECT_FALSE(stopped);
      EXPECT_EQ(calls, 3 * 19);
      EXPECT_TRUE(same_bits(s.weights, ref.weights)) << "mode " << mode << "\n"
                                                     << s.weights.transpose() << "\n"
                                                     << ref.weights.transpose();
      EXPECT_TRUE(same_state(s.optimizer, ref.optimizer));
      EXPECT_TRUE(same_bits(model.weights, ref.weights));
      EXPECT_EQ(std::memcmp(&s.last_loss, &ref.last_loss, sizeof(double)), 0);
      EXPECT_EQ(s.samples_seen, ref.samples_seen);
    }
  }
}

TEST(Train, LearnsTheSyntheticDataWithEveryOptimizer) {
  mpi::Comm comm;
  for (const ml::OptimizerKind kind : kOptimizers) {
    SCOPED_TRACE(ml::to_string(kind));
    const auto [b, e] = split(kRows, comm.rank(), comm.size(), 0);
    const ml::Dataset data = scaled_data(comm, b, e);
    ml::LogisticRegression model(kFeatures, kL2);
    ml::TrainCallbacks cb;
    std::vector<double> losses;
    cb.after_step = [&](const ml::TrainState& s) { losses.push_back(s.last_loss); };
    ml::train_logistic_sgd(comm, data, model, options(kind), std::nullopt, cb);
    const Eigen::VectorXd p = model.predict_proba(data);
    EXPECT_GT(ml::accuracy(comm, data.labels, p), 0.8);
    EXPECT_GT(ml::roc_auc(comm, data.labels, p), 0.9);
    EXPECT_LT(ml::log_loss(comm, data.labels, p), 0.45);
    EXPECT_NEAR(losses.front(), std::log(2.0), 1e-12);  // zero weights: p = 1/2 for every row
    // The coefficients recover the signs of the generating rule.
    EXPECT_GT(model.weights(0), 0);
    EXPECT_LT(model.weights(1), 0);
    EXPECT_GT(model.weights(2), 0);
  }
}

TEST(Train, StopAndResumeGivesTheUninterruptedWeights) {
  mpi::Comm comm;
  for (const ml::OptimizerKind kind : kOptimizers) {
    SCOPED_TRACE(ml::to_string(kind));
    const ml::TrainState full = reference(comm, 0, kind);
    for (idx_t stop_at : {idx_t{1}, idx_t{19}, idx_t{25}}) {  // first step, epoch end, mid-epoch
      for (int mode : {0, 2}) {
        const auto [b, e] = split(kRows, comm.rank(), comm.size(), mode);
        const ml::Dataset data = scaled_data(comm, b, e);
        ml::LogisticRegression model(kFeatures, kL2);
        // Only the last rank asks to stop: the trainer must stop every rank at the same step.
        idx_t steps = 0;
        ml::TrainCallbacks cb;
        cb.after_step = [&](const ml::TrainState& s) { steps = s.step; };
        cb.stop_requested = [&] { return comm.rank() == comm.size() - 1 && steps >= stop_at; };
        bool stopped = false;
        const ml::TrainState partial =
            ml::train_logistic_sgd(comm, data, model, options(kind), std::nullopt, cb, &stopped);
        EXPECT_TRUE(stopped);
        EXPECT_EQ(partial.step, stop_at);
        EXPECT_EQ(partial.epoch, stop_at / 19);
        EXPECT_EQ(partial.step_in_epoch, stop_at % 19);
        EXPECT_TRUE(same_bits(model.weights, partial.weights));

        ml::LogisticRegression resumed(kFeatures, kL2);
        bool stopped_again = true;
        const ml::TrainState done =
            ml::train_logistic_sgd(comm, data, resumed, options(kind), partial, {}, &stopped_again);
        EXPECT_FALSE(stopped_again);
        EXPECT_EQ(done.step, full.step);
        EXPECT_EQ(done.samples_seen, full.samples_seen);
        EXPECT_TRUE(same_bits(done.weights, full.weights)) << "stop at " << stop_at;
        EXPECT_TRUE(same_bits(resumed.weights, full.weights));
        EXPECT_TRUE(same_state(done.optimizer, full.optimizer));
      }
    }
  }
}

TEST(Train, ResumeAtAnotherRankCount) {
  mpi::Comm comm;
  for (const ml::OptimizerKind kind : kOptimizers) {
    SCOPED_TRACE(ml::to_string(kind));
    const ml::TrainState full = reference(comm, 0, kind);
    const ml::TrainState partial = reference(comm, 30, kind);  // one process, stopped at step 30
    ASSERT_EQ(partial.step, 30);
    const auto [b, e] = split(kRows, comm.rank(), comm.size(), 2);
    const ml::Dataset data = scaled_data(comm, b, e);
    ml::LogisticRegression model(kFeatures, kL2);
    const ml::TrainState done =
        ml::train_logistic_sgd(comm, data, model, options(kind), partial, {});
    EXPECT_TRUE(same_bits(done.weights, full.weights));
  }
}

// Adam's first step from zero has a closed form in the first gradient g: m = (1 - b1) g,
// s = (1 - b2) g^2, w = -lr (m / (1 - b1)) / (sqrt(s / (1 - b2)) + eps). g itself is what one SGD
// step with learning rate 1 and no momentum subtracts from zero weights.
TEST(Train, AdamFirstStepHasItsClosedForm) {
  mpi::Comm comm;
  const auto [b, e] = split(kRows, comm.rank(), comm.size(), 1);
  const ml::Dataset data = scaled_data(comm, b, e);
  ml::TrainCallbacks stop_after_one;
  stop_after_one.stop_requested = [] { return true; };
  ml::SgdOptions plain = options();
  plain.learning_rate = 1.0;
  plain.momentum = 0.0;
  ml::LogisticRegression sgd_model(kFeatures, kL2);
  const Eigen::VectorXd g =
      -ml::train_logistic_sgd(comm, data, sgd_model, plain, std::nullopt, stop_after_one).weights;
  ml::SgdOptions adam = options(ml::OptimizerKind::kAdam);
  adam.schedule = {};  // constant
  ml::LogisticRegression adam_model(kFeatures, kL2);
  const ml::TrainState s =
      ml::train_logistic_sgd(comm, data, adam_model, adam, std::nullopt, stop_after_one);
  ASSERT_EQ(s.step, 1);
  for (int j = 0; j <= kFeatures; ++j) {
    const double m = (1.0 - adam.beta1) * g(j);
    const double v = (1.0 - adam.beta2) * g(j) * g(j);
    const double expected =
        0.0 - adam.learning_rate * (m / (1.0 - std::pow(adam.beta1, 1.0))) /
                  (std::sqrt(v / (1.0 - std::pow(adam.beta2, 1.0))) + adam.epsilon);
    EXPECT_EQ(s.weights(j), expected) << j;
    EXPECT_EQ(s.optimizer.at("m")(j), m) << j;
    EXPECT_EQ(s.optimizer.at("s")(j), v) << j;
  }
}

// The schedule's learning rate per step, from its formulas; warm-up first.
TEST(Train, LearningRateSchedules) {
  ml::OptimizerOptions o;
  o.learning_rate = 0.2;
  o.total_steps = 110;
  EXPECT_EQ(ml::scheduled_learning_rate(o, 0), 0.2);
  EXPECT_EQ(ml::scheduled_learning_rate(o, 109), 0.2);
  o.schedule.warmup_steps = 10;
  EXPECT_DOUBLE_EQ(ml::scheduled_learning_rate(o, 0), 0.02);
  EXPECT_DOUBLE_EQ(ml::scheduled_learning_rate(o, 4), 0.1);
  EXPECT_EQ(ml::scheduled_learning_rate(o, 10), 0.2);
  o.schedule.kind = ml::LearningRateSchedule::Kind::kStep;
  o.schedule.every_steps = 30;
  o.schedule.factor = 0.5;
  EXPECT_EQ(ml::scheduled_learning_rate(o, 39), 0.2);  // 29 steps after the warm-up
  EXPECT_EQ(ml::scheduled_learning_rate(o, 40), 0.1);
  EXPECT_EQ(ml::scheduled_learning_rate(o, 100), 0.2 * 0.125);
  o.schedule.kind = ml::LearningRateSchedule::Kind::kCosine;
  o.schedule.min_lr = 0.02;
  EXPECT_EQ(ml::scheduled_learning_rate(o, 10), 0.2);
  EXPECT_DOUBLE_EQ(ml::scheduled_learning_rate(o, 60), 0.11);  // half-way: the mean
  EXPECT_DOUBLE_EQ(ml::scheduled_learning_rate(o, 110), 0.02);
  EXPECT_DOUBLE_EQ(ml::scheduled_learning_rate(o, 500), 0.02);  // past the end: stays at min_lr

  ml::OptimizerOptions bad = o;
  bad.schedule.min_lr = 0.3;
  EXPECT_THROW(ml::make_optimizer(bad), ConfigError);
  bad = o;
  bad.schedule.kind = ml::LearningRateSchedule::Kind::kStep;
  bad.schedule.every_steps = 0;
  EXPECT_THROW(ml::make_optimizer(bad), ConfigError);
}

// AdamW decays the coefficients, not the intercept, before the Adam step: from the same state,
// one AdamW step differs from one Adam step by -lr * weight_decay * w on the coefficients only.
TEST(Train, AdamWDecaysCoefficientsButNotTheIntercept) {
  mpi::Comm comm;
  const auto [b, e] = split(kRows, comm.rank(), comm.size(), 0);
  const ml::Dataset data = scaled_data(comm, b, e);
  ml::TrainState start;
  start.weights = Eigen::VectorXd::LinSpaced(kFeatures + 1, -1.0, 1.5);
  start.optimizer = {{"m", Eigen::VectorXd::Zero(kFeatures + 1)},
                     {"s", Eigen::VectorXd::Zero(kFeatures + 1)}};
  ml::TrainCallbacks stop_after_one;
  stop_after_one.stop_requested = [] { return true; };
  ml::SgdOptions adam = options(ml::OptimizerKind::kAdam);
  ml::SgdOptions adamw = options(ml::OptimizerKind::kAdamW);
  adam.schedule = {};
  adamw.schedule = {};
  ml::LogisticRegression m1(kFeatures, kL2), m2(kFeatures, kL2);
  const Eigen::VectorXd a =
      ml::train_logistic_sgd(comm, data, m1, adam, start, stop_after_one).weights;
  const Eigen::VectorXd w =
      ml::train_logistic_sgd(comm, data, m2, adamw, start, stop_after_one).weights;
  for (int j = 0; j < kFeatures; ++j) {
    EXPECT_NEAR(w(j) - a(j), -adamw.learning_rate * adamw.weight_decay * start.weights(j), 1e-15)
        << j;
  }
  EXPECT_EQ(w(kFeatures), a(kFeatures));  // the intercept
}

TEST(Train, GradientMatchesFiniteDifferences) {
  mpi::Comm comm;
  constexpr idx_t n = 40;
  constexpr double l2 = 0.1;
  const auto [b, e] = split(n, comm.rank(), comm.size(), 0);
  const ml::Dataset data = ml::make_dataset(comm, make_table(b, e, 0.01), kNames, "y");
  // Brute-force objective over all n rows (computed on every rank from the formula).
  auto objective = [&](const Eigen::VectorXd& w) {
    long double total = 0;
    for (idx_t g = 0; g < n; ++g) {
      const auto x = features_of(g);
      long double z = w(kFeatures);
      for (int j = 0; j < kFeatures; ++j)
        z += static_cast<long double>(w(j)) * (x[static_cast<size_t>(j)] * 0.01);
      const long double p = 1.0L / (1.0L + std::exp(-z));
      total += label_of(g) == 1.0 ? -std::log(p) : -std::log(1.0L - p);
    }
    long double reg = 0;
    for (int j = 0; j < kFeatures; ++j)
      reg += static_cast<long double>(w(j)) * w(j);
    return static_cast<double>(total / n + l2 / 2 * reg);
  };
  Eigen::VectorXd w0(kFeatures + 1);
  w0 << 0.3, -1.2, 0.7, 0.05, -0.4;
  // One full-batch step with learning rate 1 from w0: w1 = w0 - grad(w0).
  ml::TrainState start;
  start.weights = w0;
  start.optimizer = {{"velocity", Eigen::VectorXd::Zero(kFeatures + 1)}};
  ml::SgdOptions o;
  o.learning_rate = 1.0;
  o.batch_size = n;
  o.epochs = 1;
  ml::LogisticRegression model(kFeatures, l2);
  const ml::TrainState s = ml::train_logistic_sgd(comm, data, model, o, start, {});
  ASSERT_EQ(s.step, 1);
  const Eigen::VectorXd grad = w0 - s.weights;
  for (int j = 0; j <= kFeatures; ++j) {
    const double h = 1e-5;
    Eigen::VectorXd plus = w0, minus = w0;
    plus(j) += h;
    minus(j) -= h;
    const double fd = (objective(plus) - objective(minus)) / (2 * h);
    EXPECT_NEAR(grad(j), fd, 1e-7) << "component " << j;
  }
  // The reported loss is the batch's mean log loss at w0 (without the penalty).
  const double penalty = l2 / 2 * w0.head(kFeatures).squaredNorm();
  EXPECT_NEAR(s.last_loss, objective(w0) - penalty, 1e-12);
}

TEST(Train, DivergenceIsAnAgreedErrorNamingTheStep) {
  mpi::Comm comm;
  const auto [b, e] = split(kRows, comm.rank(), comm.size(), 0);
  // Unscaled features of magnitude ~1e200 make the second step's margins overflow.
  const ml::Dataset data = ml::make_dataset(comm, make_table(b, e, 1e200), kNames, "y");
  ml::LogisticRegression model(kFeatures);
  ml::SgdOptions o;
  o.learning_rate = 1.0;
  o.batch_size = kRows;
  try {
    ml::train_logistic_sgd(comm, data, model, o, std::nullopt, {});
    ADD_FAILURE() << "expected an error";
  } catch (const RuntimeError& err) {
    const std::string m = err.what();
    EXPECT_NE(m.find("gradient at step 1 (epoch 1, step 0 of the epoch): non-finite value"),
              std::string::npos)
        << m;
    EXPECT_NE(m.find("; training diverged: a feature value is too large or the learning rate too "
                     "high; standardize the features (scale: standard) or lower the learning "
                     "rate"),
              std::string::npos)
        << m;
    expect_same_message_everywhere(comm, m);
  }
}

TEST(Train, InvalidOptionsAndResumeStates) {
  mpi::Comm comm;
  const auto [b, e] = split(kRows, comm.rank(), comm.size(), 0);
  const ml::Dataset data = scaled_data(comm, b, e);
  ml::LogisticRegression model(kFeatures);
  auto error_of = [&](const ml::SgdOptions& o, const std::optional<ml::TrainState>& resume) {
    try {
      ml::train_logistic_sgd(comm, data, model, o, resume, {});
    } catch (const ConfigError& err) {
      return std::string(err.what());
    }
    return std::string();
  };
  ml::SgdOptions o = options();
  o.batch_size = 0;
  EXPECT_EQ(error_of(o, std::nullopt), "batch size must be at least 1, got 0");
  o = options();
  o.learning_rate = -1;
  EXPECT_EQ(error_of(o, std::nullopt), "learning rate must be a positive finite number, got -1");
  o = options();
  o.momentum = 1.0;
  EXPECT_EQ(error_of(o, std::nullopt), "momentum must be in [0, 1), got 1");

  o = options(ml::OptimizerKind::kAdam);
  o.beta1 = 1.0;
  EXPECT_EQ(error_of(o, std::nullopt), "beta1 must be in [0, 1), got 1");
  o = options(ml::OptimizerKind::kAdam);
  o.epsilon = 0.0;
  EXPECT_EQ(error_of(o, std::nullopt), "epsilon must be a positive finite number, got 0");
  o = options(ml::OptimizerKind::kAdam);
  o.weight_decay = 0.1;
  EXPECT_EQ(error_of(o, std::nullopt),
            "weight decay applies to adamw only; use the adamw optimizer, or the model's l2 "
            "penalty with adam");

  ml::TrainState bad;
  bad.weights = Eigen::VectorXd::Zero(kFeatures + 1);
  bad.optimizer = {{"velocity", Eigen::VectorXd::Zero(kFeatures + 1)}};
  bad.step = 40;
  bad.epoch = 1;
  bad.step_in_epoch = 21;  // only 19 steps per epoch at batch size 32
  bad.samples_seen = kRows + 21 * 32;
  EXPECT_EQ(error_of(options(), bad),
            "the checkpoint position (step 40, epoch 1, step 21 of the epoch, 1273 samples seen) "
            "does not fit the training data (601 rows, batch size 32: 19 steps per epoch); the "
            "data or the batch size changed since it was written; resume from a matching "
            "checkpoint or start fresh (--resume never)");
  bad = ml::TrainState{};
  bad.weights = Eigen::VectorXd::Zero(3);
  bad.optimizer = {{"velocity", Eigen::VectorXd::Zero(3)}};
  EXPECT_NE(error_of(options(), bad).find("the checkpoint holds 3 weights"), std::string::npos);
  // An sgd state resumed by adam: the optimizer changed.
  bad.weights = Eigen::VectorXd::Zero(kFeatures + 1);
  bad.optimizer = {{"velocity", Eigen::VectorXd::Zero(kFeatures + 1)}};
  EXPECT_EQ(error_of(options(ml::OptimizerKind::kAdam), bad),
            "the checkpoint holds 5 weights and optimizer state [velocity of 5] but the logistic "
            "model has 5 parameters (4 features) and the adam optimizer keeps [m, s] of 5 each; "
            "the feature list, the classes or the optimizer changed since it was written; resume "
            "from a matching checkpoint or start fresh (--resume never)");

  ml::LogisticRegression wrong(kFeatures + 1);
  EXPECT_THROW(ml::train_logistic_sgd(comm, data, wrong, options(), std::nullopt, {}),
               RuntimeError);
  ml::Dataset shifted = data;
  if (comm.rank() == comm.size() - 1) shifted.global_offset += 1;  // runs past the last row
  try {
    ml::train_logistic_sgd(comm, shifted, model, options(), std::nullopt, {});
    ADD_FAILURE() << "expected an error";
  } catch (const RuntimeError& err) {
    EXPECT_NE(
        std::string(err.what())
            .find("the dataset on rank " + std::to_string(comm.size() - 1) + " is inconsistent"),
        std::string::npos)
        << err.what();
  }
  const ml::Dataset empty = ml::make_dataset(comm, make_table(0, 0), kNames, "y");
  EXPECT_THROW(ml::train_logistic_sgd(comm, empty, model, options(), std::nullopt, {}), InputError);
}

TEST(Train, MismatchedOptionsAcrossRanksAreDetected) {
  mpi::Comm comm;
  if (comm.size() == 1) GTEST_SKIP() << "needs two ranks";
  const auto [b, e] = split(kRows, comm.rank(), comm.size(), 0);
  const ml::Dataset data = scaled_data(comm, b, e);
  ml::LogisticRegression model(kFeatures);
  ml::SgdOptions o = options();
  if (comm.rank() == 1) o.seed = 8;
  EXPECT_THROW(ml::train_logistic_sgd(comm, data, model, o, std::nullopt, {}), RuntimeError);
}

TEST(Train, ZeroEpochsReturnsTheStartState) {
  mpi::Comm comm;
  const auto [b, e] = split(kRows, comm.rank(), comm.size(), 0);
  const ml::Dataset data = scaled_data(comm, b, e);
  ml::LogisticRegression model(kFeatures);
  ml::SgdOptions o = options();
  o.epochs = 0;
  const ml::TrainState s = ml::train_logistic_sgd(comm, data, model, o, std::nullopt, {});
  EXPECT_EQ(s.step, 0);
  EXPECT_TRUE(s.weights.isZero(0));
}

// The scales behind the unscaled-features warning: sqrt(mean(x^2)) per feature, bit-identical on
// every rank and for every split (hence at every rank count), close to the plain formula, 0 for an
// all-zero feature, and no overflow for values whose square is not finite.
TEST(Train, FeatureRootMeanSquaresAreIdenticalForEverySplit) {
  mpi::Comm comm;
  std::vector<double> ref(kFeatures);
  if (comm.rank() == 0) {
    mpi::Comm self(MPI_COMM_SELF);
    ref = ml::feature_root_mean_squares(self,
                                        ml::make_dataset(self, make_table(0, kRows), kNames, "y"));
  }
  mpi::bcast(comm, std::span<double>(ref), 0);
  for (int j = 0; j < kFeatures; ++j) {
    double sum = 0;
    for (idx_t g = 0; g < kRows; ++g)
      sum += features_of(g)[static_cast<size_t>(j)] * features_of(g)[static_cast<size_t>(j)];
    EXPECT_NEAR(ref[static_cast<size_t>(j)], std::sqrt(sum / kRows),
                1e-12 * ref[static_cast<size_t>(j)]);
  }
  for (int mode : {0, 1, 2}) {
    const auto [b, e] = split(kRows, comm.rank(), comm.size(), mode);
    const auto rms =
        ml::feature_root_mean_squares(comm, ml::make_dataset(comm, make_table(b, e), kNames, "y"));
    ASSERT_EQ(rms.size(), ref.size());
    EXPECT_EQ(std::memcmp(rms.data(), ref.data(), ref.size() * sizeof(double)), 0)
        << "mode " << mode;
    // 1e300 * feature: the squares overflow, the root mean square does not.
    const auto huge = ml::feature_root_mean_squares(
        comm, ml::make_dataset(comm, make_table(b, e, 1e300), kNames, "y"));
    for (size_t j = 0; j < ref.size(); ++j)
      EXPECT_NEAR(huge[j] / 1e300, ref[j], 1e-12 * ref[j]) << j;
    // All zero (0 * feature): 0, not NaN.
    for (double r : ml::feature_root_mean_squares(
             comm, ml::make_dataset(comm, make_table(b, e, 0.0), kNames, "y")))
      EXPECT_EQ(r, 0.0);
  }
}
