#include "shardflow/ml/sgd_trainer.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "shardflow/common/hash.hpp"
#include "shardflow/common/timer.hpp"
#include "shardflow/ml/epoch_permutation.hpp"
#include "shardflow/ml/lbfgs.hpp"
#include "shardflow/ml/linear_models.hpp"
#include "shardflow/ml/reproducible_sum.hpp"
#include "shardflow/mpi/allreduce.hpp"

namespace shardflow::ml {
namespace {

constexpr const char* kDivergenceHint =
    "training diverged: a feature value is too large or the learning rate too high; standardize "
    "the features (scale: standard) or lower the learning rate";

std::uint64_t bits_of(double v) {
  std::uint64_t b;
  std::memcpy(&b, &v, sizeof b);
  return b;
}

std::uint64_t hash_vector(std::uint64_t h, const Eigen::VectorXd& v) {
  h = hash_combine(h, static_cast<std::uint64_t>(v.size()));
  return hash_combine(
      h, hash_bytes(v.data(), static_cast<size_t>(v.size()) * sizeof(double), 0x57454947ULL));
}

// Every input that must be equal on all ranks, folded into one hash. Ranks compare the minimum
// and maximum of it: a mismatch is a caller bug that would otherwise desynchronize the collectives
// (different step counts) or silently train different models per rank.
std::uint64_t inputs_fingerprint(const Dataset& data, const Model& model, const SgdOptions& o,
                                 const std::optional<TrainState>& resume) {
  std::uint64_t h = hash_u64(0x5347445452414eULL);
  for (std::uint64_t x : {bits_of(o.learning_rate),
                          static_cast<std::uint64_t>(o.batch_size),
                          static_cast<std::uint64_t>(o.epochs),
                          bits_of(o.momentum),
                          o.seed,
                          static_cast<std::uint64_t>(o.optimizer),
                          bits_of(o.beta1),
                          bits_of(o.beta2),
                          bits_of(o.epsilon),
                          bits_of(o.weight_decay),
                          static_cast<std::uint64_t>(o.schedule.kind),
                          static_cast<std::uint64_t>(o.schedule.warmup_steps),
                          static_cast<std::uint64_t>(o.schedule.every_steps),
                          bits_of(o.schedule.factor),
                          bits_of(o.schedule.min_lr),
                          static_cast<std::uint64_t>(o.lbfgs_memory),
                          bits_of(o.tolerance),
                          bits_of(o.objective_tolerance),
                          model.settings_hash(),
                          static_cast<std::uint64_t>(model.num_parameters()),
                          static_cast<std::uint64_t>(data.global_rows),
                          static_cast<std::uint64_t>(data.num_features()),
                          static_cast<std::uint64_t>(data.matrix_type()),
                          static_cast<std::uint64_t>(resume.has_value())}) {
    h = hash_combine(h, x);
  }
  for (const double w : o.class_weights)
    h = hash_combine(h, bits_of(w));
  if (resume) {
    for (std::uint64_t x :
         {static_cast<std::uint64_t>(resume->step), static_cast<std::uint64_t>(resume->epoch),
          static_cast<std::uint64_t>(resume->step_in_epoch),
          static_cast<std::uint64_t>(resume->samples_seen), bits_of(resume->last_loss)}) {
      h = hash_combine(h, x);
    }
    h = hash_vector(h, resume->weights);
    for (const auto& [name, v] : resume->optimizer) {
      h = hash_combine(h, hash_bytes(name.data(), name.size(), 0));
      h = hash_vector(h, v);
    }
  }
  return h;
}

// Checks the options and returns the optimizer they describe, its schedule spanning the whole
// training (`global_rows` rows); make_optimizer checks the learning rate and the optimizer's own
// settings.
std::unique_ptr<Optimizer> validated_optimizer(const SgdOptions& o, const Model& model,
                                               idx_t global_rows) {
  if (o.batch_size < 1) {
    throw ConfigError("batch size must be at least 1, got {}", o.batch_size);
  }
  if (o.epochs < 0) throw ConfigError("epochs must be 0 or more, got {}", o.epochs);
  OptimizerOptions optimizer = o.optimizer_options();
  optimizer.total_steps = steps_per_epoch(global_rows, o.batch_size) * o.epochs;
  optimizer.decayed = model.penalized();
  return make_optimizer(optimizer);
}

bool position_fits(const TrainState& s, idx_t n, idx_t batch, idx_t steps) {
  return s.epoch >= 0 && s.step_in_epoch >= 0 && s.step_in_epoch < steps &&
         s.step == s.epoch * steps + s.step_in_epoch &&
         s.samples_seen == s.epoch * n + std::min(s.step_in_epoch * batch, n);
}

// Checks that a checkpointed state continues this exact training run.
bool state_finite(const OptimizerState& state) {
  for (const auto& [name, v] : state)
    if (!v.allFinite()) return false;
  return true;
}

void validate_resume(const TrainState& s, const SgdOptions& o, const Model& model, idx_t n,
                     idx_t batch, idx_t steps) {
  const std::vector<std::string> names = optimizer_state_names(o.optimizer);
  const Eigen::Index p = model.num_parameters();
  bool sizes_fit = s.weights.size() == p && s.optimizer.size() == names.size();
  for (const auto& name : names) {
    const auto it = s.optimizer.find(name);
    sizes_fit = sizes_fit && it != s.optimizer.end() && it->second.size() == p;
  }
  if (!sizes_fit) {
    std::string held;
    for (const auto& [name, v] : s.optimizer)
      held += fmt::format("{}{} of {}", held.empty() ? "" : ", ", name, v.size());
    throw ConfigError(
        "the checkpoint holds {} weights and optimizer state [{}] but the {} model has {} "
        "parameters ({} features) and the {} optimizer keeps [{}] of {} each; the feature list, "
        "the classes or the optimizer changed since it was written; resume from a matching "
        "checkpoint or start fresh (--resume never)",
        s.weights.size(), held, model.type(), p, model.num_features(), to_string(o.optimizer),
        fmt::join(names, ", "), p);
  }
  if (!s.weights.allFinite() || !state_finite(s.optimizer)) {
    throw ConfigError(
        "the checkpoint at step {} holds non-finite weights; resume from an earlier checkpoint or "
        "start fresh (--resume never)",
        s.step);
  }
  if (!position_fits(s, n, batch, steps)) {
    throw ConfigError(
        "the checkpoint position (step {}, epoch {}, step {} of the epoch, {} samples seen) does "
        "not fit the training data ({} rows, batch size {}: {} steps per epoch); the data or the "
        "batch size changed since it was written; resume from a matching checkpoint or start "
        "fresh (--resume never)",
        s.step, s.epoch, s.step_in_epoch, s.samples_seen, n, batch, steps);
  }
}

}  // namespace

OptimizerOptions SgdOptions::optimizer_options() const {
  OptimizerOptions o;
  o.kind = optimizer;
  o.learning_rate = learning_rate;
  o.momentum = momentum;
  o.beta1 = beta1;
  o.beta2 = beta2;
  o.epsilon = epsilon;
  o.weight_decay = weight_decay;
  o.schedule = schedule;
  return o;
}

idx_t steps_per_epoch(idx_t global_rows, idx_t batch_size) {
  if (batch_size < 1) throw ConfigError("batch size must be at least 1, got {}", batch_size);
  if (global_rows <= 0) return 0;
  return global_rows / batch_size + (global_rows % batch_size != 0 ? 1 : 0);
}

bool training_finished(const TrainState& state, const SgdOptions& options, idx_t global_rows) {
  if (options.optimizer == OptimizerKind::kLbfgs) {
    return state.step >= options.epochs || lbfgs_progress(state).status != LbfgsStatus::kRunning;
  }
  return state.step == steps_per_epoch(global_rows, options.batch_size) * options.epochs;
}

Eigen::Index optimizer_state_size(const SgdOptions& options, const std::string& name,
                                  Eigen::Index num_parameters) {
  if (options.optimizer != OptimizerKind::kLbfgs) return num_parameters;
  if (name == "lbfgs_info") return kLbfgsInfoSize;
  return static_cast<Eigen::Index>(options.lbfgs_memory) * num_parameters;
}

bool resume_position_fits(const TrainState& state, idx_t global_rows, idx_t batch_size) {
  return state.weights.allFinite() && state_finite(state.optimizer) &&
         position_fits(state, global_rows, batch_size, steps_per_epoch(global_rows, batch_size));
}

TrainState train_sgd(const mpi::Comm& comm, const Dataset& data, const Model& model,
                     const SgdOptions& options, const std::optional<TrainState>& resume,
                     const TrainCallbacks& callbacks, bool* stopped_early, double* sum_seconds) {
  if (stopped_early != nullptr) *stopped_early = false;
  if (sum_seconds != nullptr) *sum_seconds = 0.0;
  const std::uint64_t fp = inputs_fingerprint(data, model, options, resume);
  if (mpi::allreduce_min(comm, fp) != mpi::allreduce_max(comm, fp)) {
    throw RuntimeError(
        "train_sgd: options, model settings, dataset size or resume state differ between ranks; "
        "this is a shardflow bug");
  }
  // From here on every check sees identical inputs on every rank, so every rank throws the same
  // error at the same point and no collective is left waiting.
  const int d = data.num_features();
  const idx_t n = data.global_rows;
  const idx_t batch = options.batch_size;
  // lbfgs has no per-step rule (and checks its own options once the data is known to fit).
  const bool lbfgs = options.optimizer == OptimizerKind::kLbfgs;
  const std::unique_ptr<Optimizer> optimizer =
      lbfgs ? nullptr : validated_optimizer(options, model, n);
  if (!lbfgs && model.l1() != 0.0) {
    throw ConfigError(
        "the {} model's l1 penalty is trained by the lbfgs optimizer (OWL-QN) only, not {}",
        model.type(), to_string(options.optimizer));
  }
  const std::vector<double>& class_weights = options.class_weights;
  if (!class_weights.empty()) {
    const size_t classes = model.task() == Task::kBinary ? 2
                           : model.task() == Task::kMulticlass
                               ? model.label_encoding().classes.size()
                               : 0;
    if (class_weights.size() != classes) {
      throw ConfigError("{} class weights given for a {} model of {} classes{}",
                        class_weights.size(), model.type(), classes,
                        classes == 0 ? " (class weights apply to classification models)" : "");
    }
    for (const double w : class_weights) {
      if (!(w > 0.0) || !std::isfinite(w)) {
        throw ConfigError("class weights must be positive finite numbers, got {}", w);
      }
    }
  }
  if (model.num_features() != d) {
    throw RuntimeError("the {} model has {} features but the data has {}", model.type(),
                       model.num_features(), d);
  }
  if (n == 0) {
    throw InputError(
        "cannot train: the training data has no rows; check the filters and the split that "
        "produce it");
  }
  const idx_t steps = steps_per_epoch(n, batch);
  comm.agree([&] {
    // A block outside [0, N) would make the epoch permutation walk forever.
    if (data.global_offset < 0 || data.global_offset + data.rows() > n ||
        data.labels.size() != data.rows()) {
      throw RuntimeError(
          "the dataset on rank {} is inconsistent: {} rows with {} labels at global offset {} of "
          "{} rows; build it with make_dataset",
          comm.rank(), data.rows(), data.labels.size(), data.global_offset, n);
    }
  });
  if (lbfgs) {
    return train_lbfgs(comm, data, model, options, resume, callbacks, stopped_early, sum_seconds);
  }

  const Eigen::Index p = model.num_parameters();
  TrainState state;
  if (resume) {
    validate_resume(*resume, options, model, n, batch, steps);
    state = *resume;
  } else {
    state.weights = model.initial_parameters(options.seed);
    state.optimizer = optimizer->initial_state(p);
  }

  const auto width = static_cast<size_t>(p) + 1;  // the gradient, then the loss
  const std::vector<std::uint8_t> penalized = model.penalized();
  const double l2 = model.l2();
  const idx_t local_rows = data.rows();
  // This epoch's local rows bucketed by step (the rows of step k are step_rows[step_begin[k],
  // step_begin[k + 1]), by ascending local row): a counting sort on the step, where a sort by
  // position took a tenth of a softmax epoch. The order within a step is free: the exact sums
  // do not depend on it.
  std::vector<idx_t> step_rows;
  std::vector<size_t> step_begin;
  idx_t order_epoch = -1;
  std::vector<double> contributions;  // per-sample gradients (models without sample_factors)
  std::vector<double> factors;        // per-sample residuals and loss (Model::sample_factors)
  std::vector<double> weights_of_rows;
  const int outputs = model.num_outputs();
  if (p != static_cast<Eigen::Index>(outputs) * (d + 1) &&
      model.sample_factors(nullptr, nullptr, 0, state.weights.data(), nullptr)) {
    throw RuntimeError(
        "the {} model has {} parameters, not {} outputs x ({} features + 1), and "
        "cannot give its gradient as factors; this is a shardflow bug",
        model.type(), p, outputs, d);
  }
  std::vector<double> batch_values;  // this rank's rows of the batch, contiguous
  std::vector<const double*> rows;
  std::vector<double> labels;
  Eigen::VectorXd grad(p);

  while (state.epoch < options.epochs) {
    const idx_t k = state.step_in_epoch;
    const idx_t begin = k * batch;
    const idx_t end = std::min(begin + batch, n);
    if (order_epoch != state.epoch) {
      const EpochPermutation perm(n, options.seed, state.epoch);
      std::vector<idx_t> step_of(static_cast<size_t>(local_rows));
      step_begin.assign(static_cast<size_t>(steps) + 1, 0);
      for (idx_t i = 0; i < local_rows; ++i) {
        const idx_t step = perm(data.global_offset + i) / batch;
        step_of[static_cast<size_t>(i)] = step;
        ++step_begin[static_cast<size_t>(step) + 1];
      }
      for (size_t s = 1; s < step_begin.size(); ++s)
        step_begin[s] += step_begin[s - 1];
      step_rows.resize(static_cast<size_t>(local_rows));
      std::vector<size_t> next(step_begin.begin(), step_begin.end() - 1);
      for (idx_t i = 0; i < local_rows; ++i)
        step_rows[next[static_cast<size_t>(step_of[static_cast<size_t>(i)])]++] = i;
      order_epoch = state.epoch;
    }

    // ---- local per-sample contributions -------------------------------------------------------
    // The batch's rows lie scattered over a matrix far larger than the caches. One copy into a
    // contiguous buffer, prefetched ahead, is the only pass that waits on memory: the model's
    // pass and the sum's two passes then stream from the cache (bench_train BM_TrainEpoch).
    labels.clear();
    const size_t first = step_begin[static_cast<size_t>(k)];
    const size_t count = step_begin[static_cast<size_t>(k) + 1] - first;
    for (size_t r = 0; r < count; ++r)
      labels.push_back(data.labels(static_cast<Eigen::Index>(step_rows[first + r])));
    const auto dd = static_cast<size_t>(d);
    batch_values.resize(count * dd);
    rows.resize(count);
    // A float32 matrix's rows are converted here (exactly): the kernels always read doubles.
    for (size_t r = 0; r < count; ++r) {
      if (r + kPrefetchRows < count)
        data.prefetch_row(static_cast<idx_t>(step_rows[first + r + kPrefetchRows]));
      double* copy = batch_values.data() + r * dd;
      data.copy_row(static_cast<idx_t>(step_rows[first + r]), copy);
      rows[r] = copy;
    }
    const std::string what = fmt::format("gradient at step {} (epoch {}, step {} of the epoch)",
                                         state.step, state.epoch, k);
    std::vector<double> sums;
    factors.resize(rows.size() * (static_cast<size_t>(outputs) + 1));
    if (model.sample_factors(rows.data(), labels.data(), rows.size(), state.weights.data(),
                             factors.data())) {
      // The linear models: the same sums without the per-sample buffer (about half of a softmax
      // epoch's time went into writing and reading it back).
      const double* row_weights = nullptr;
      if (!class_weights.empty()) {
        weights_of_rows.resize(rows.size());
        for (size_t r = 0; r < rows.size(); ++r)
          weights_of_rows[r] = class_weights[static_cast<size_t>(labels[r])];
        row_weights = weights_of_rows.data();
      }
      const Stopwatch sum_timer;
      sums = reproducible_outer_sum(comm, rows.data(), factors.data(), row_weights, rows.size(), d,
                                    outputs, what, kDivergenceHint);
      if (sum_seconds != nullptr) *sum_seconds += sum_timer.seconds();
    } else {
      contributions.resize(rows.size() * width);
      model.sample_gradients(rows.data(), labels.data(), rows.size(), state.weights.data(),
                             contributions.data());
      if (!class_weights.empty()) {
        // A row's loss weighs its class's weight, so do its gradient terms (the same product on
        // every rank: the weights and the row's values are).
        for (size_t r = 0; r < rows.size(); ++r) {
          const double w = class_weights[static_cast<size_t>(labels[r])];
          double* row = contributions.data() + r * width;
          for (size_t j = 0; j < width; ++j)
            row[j] *= w;
        }
      }
      // ---- exact global sum (identical on every rank) -----------------------------------------
      const Stopwatch sum_timer;
      sums = reproducible_sum(comm, contributions, static_cast<int>(width), what, kDivergenceHint);
      if (sum_seconds != nullptr) *sum_seconds += sum_timer.seconds();
    }
    const auto batch_rows = static_cast<double>(end - begin);
    for (Eigen::Index j = 0; j < p; ++j)
      grad(j) = sums[static_cast<size_t>(j)] / batch_rows;
    for (Eigen::Index j = 0; j < p; ++j)
      if (penalized[static_cast<size_t>(j)] != 0) grad(j) += l2 * state.weights(j);
    optimizer->apply(state.weights, grad, state.step, state.optimizer);
    if (!state.weights.allFinite()) {
      // Every rank holds the same weights, so every rank throws here together.
      throw RuntimeError("the weights became non-finite at step {} (epoch {}); {}", state.step,
                         state.epoch, kDivergenceHint);
    }
    state.last_loss = sums[width - 1] / batch_rows;
    state.step += 1;
    state.step_in_epoch += 1;
    state.samples_seen += end - begin;
    if (state.step_in_epoch == steps) {
      state.epoch += 1;
      state.step_in_epoch = 0;
    }

    if (callbacks.after_step) callbacks.after_step(state);
    const int stop = callbacks.stop_requested && callbacks.stop_requested() ? 1 : 0;
    if (mpi::allreduce_max(comm, stop) != 0) {
      if (stopped_early != nullptr) *stopped_early = true;
      break;
    }
  }
  return state;
}

TrainState train_logistic_sgd(const mpi::Comm& comm, const Dataset& data, LogisticRegression& model,
                              const SgdOptions& options, const std::optional<TrainState>& resume,
                              const TrainCallbacks& callbacks, bool* stopped_early) {
  const LinearModel logistic(LinearKind::kLogistic, model.num_features(), model.l2);
  TrainState state = train_sgd(comm, data, logistic, options, resume, callbacks, stopped_early);
  model.weights = state.weights;
  return state;
}

}  // namespace shardflow::ml
