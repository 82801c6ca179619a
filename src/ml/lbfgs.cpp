#include "shardflow/ml/lbfgs.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "shardflow/common/error.hpp"
#include "shardflow/common/timer.hpp"
#include "shardflow/ml/reproducible_sum.hpp"
#include "shardflow/mpi/allreduce.hpp"
#include "shardflow/mpi/point_to_point.hpp"

namespace shardflow::ml {
namespace {

constexpr double kArmijo = 1e-4;    // c1 of the sufficient-decrease condition
constexpr double kCurvature = 0.9;  // c2 of the strong curvature condition (quasi-Newton value)
constexpr int kLineSearchEvaluations = 25;
constexpr int kBacktracks = 40;  // OWL-QN: halvings of the step before giving up
constexpr int kMaxMemory = 1000;
// Rows handed to Model::add_gradients at a time (the default keeps their per-sample values, 64 x
// (parameters + 1) doubles, in cache: a softmax over 5 classes of 64 features: 166 KB).
constexpr size_t kChunkRows = 64;

// Every vector operation below runs in index order in plain loops, never through a vectorized
// reduction whose grouping could depend on alignment: the iteration must be the same arithmetic
// on every rank.
double dot(const double* a, const double* b, Eigen::Index p) {
  double s = 0.0;
  for (Eigen::Index j = 0; j < p; ++j)
    s += a[j] * b[j];
  return s;
}
double dot(const Eigen::VectorXd& a, const Eigen::VectorXd& b) {
  return dot(a.data(), b.data(), a.size());
}
double max_abs(const Eigen::VectorXd& a) {
  double m = 0.0;
  for (Eigen::Index j = 0; j < a.size(); ++j)
    m = std::max(m, std::fabs(a(j)));
  return m;
}

bool is_count(double v, double max) {
  return v >= 0.0 && v <= max && v == std::floor(v);
}

// One point of the line search: step a along d, the weights there, f, g and g'd.
struct Trial {
  double a = 0.0;
  double f = 0.0;
  double slope = 0.0;
  Eigen::VectorXd w;
  Eigen::VectorXd g;
};

// The minimizer of the cubic through (lo.a, lo.f, lo.slope) and (hi.a, hi.f, hi.slope) (Nocedal &
// Wright eq. 3.59), kept at least a tenth of the interval from its ends; the midpoint when the
// cubic has no usable minimizer there (including an infinite f at one end).
double interpolate(const Trial& lo, const Trial& hi) {
  const double left = std::min(lo.a, hi.a), right = std::max(lo.a, hi.a);
  const double width = right - left;
  const double mid = 0.5 * (lo.a + hi.a);
  const double d1 = lo.slope + hi.slope - 3.0 * (lo.f - hi.f) / (lo.a - hi.a);
  const double d2sq = d1 * d1 - lo.slope * hi.slope;
  if (!(d2sq >= 0.0) || !std::isfinite(d2sq)) return mid;
  const double d2 = std::copysign(std::sqrt(d2sq), hi.a - lo.a);
  const double a = hi.a - (hi.a - lo.a) * (hi.slope + d2 - d1) / (hi.slope - lo.slope + 2.0 * d2);
  if (!std::isfinite(a) || a < left + 0.1 * width || a > right - 0.1 * width) return mid;
  return a;
}

class LineSearch {
 public:
  LineSearch(const mpi::Comm& comm, const Dataset& data, const Model& model,
             std::span<const double> class_weights, double* sum_seconds)
      : comm_(comm),
        data_(data),
        model_(model),
        class_weights_(class_weights),
        sum_seconds_(sum_seconds),
        l1_(model.l1()),
        penalized_(model.penalized()) {}

  // The objective at w, the L1 term included, and the gradient of its smooth part.
  double evaluate(const Eigen::VectorXd& w, Eigen::VectorXd& g) {
    const Stopwatch timer;
    double f = full_batch_objective(comm_, data_, model_, class_weights_, w, &g);
    if (sum_seconds_ != nullptr) *sum_seconds_ += timer.seconds();
    if (l1_ != 0.0) {
      double norm = 0.0;
      for (Eigen::Index j = 0; j < w.size(); ++j)
        if (penalized_[static_cast<size_t>(j)] != 0) norm += std::fabs(w(j));
      f += l1_ * norm;
    }
    return f;
  }

  // OWL-QN (Andrew & Gao, 2007): backtracking from `first_step` along d, each trial projected
  // onto the orthant of `start` (a coefficient that would change sign becomes 0; at 0, the
  // orthant -pg points to), until F(w') <= F(w) + 1e-4 pg'(w' - w); nullopt after kBacktracks
  // halvings.
  std::optional<Trial> backtrack(const Trial& start, const Eigen::VectorXd& d,
                                 const Eigen::VectorXd& pg, double first_step) {
    used_ = 0;
    const Eigen::Index p = start.w.size();
    double a = first_step;
    for (int k = 0; k < kBacktracks; ++k, a *= 0.5) {
      Trial t;
      t.a = a;
      t.w.resize(p);
      for (Eigen::Index j = 0; j < p; ++j) {
        t.w(j) = start.w(j) + a * d(j);
        if (penalized_[static_cast<size_t>(j)] == 0) continue;
        const double orthant = start.w(j) != 0.0 ? start.w(j) : -pg(j);
        if (!(t.w(j) * orthant > 0.0)) t.w(j) = 0.0;
      }
      t.f = evaluate(t.w, t.g);
      ++used_;
      double decrease = 0.0;
      for (Eigen::Index j = 0; j < p; ++j)
        decrease += pg(j) * (t.w(j) - start.w(j));
      if (t.f <= start.f + kArmijo * decrease) return t;
    }
    return std::nullopt;
  }

  // Evaluations of the last search().
  int used() const { return used_; }

  // A point along d from `start` (a = 0) meeting the strong Wolfe conditions, else the lowest
  // point meeting sufficient decrease with f below start's, else nullopt.
  std::optional<Trial> search(const Trial& start, const Eigen::VectorXd& d, double first_step) {
    start_ = &start;
    d_ = &d;
    best_.reset();
    used_ = 0;
    Trial prev = start;
    double a = first_step;
    while (used_ < kLineSearchEvaluations) {
      Trial t = at(a);
      if (!decreases(t) || (prev.a > 0.0 && t.f >= prev.f)) return zoom(std::move(prev), t);
      if (std::fabs(t.slope) <= -kCurvature * start.slope) return t;
      if (t.slope >= 0.0) return zoom(t, std::move(prev));
      prev = std::move(t);
      a *= 2.0;
    }
    return best_;
  }

 private:
  bool decreases(const Trial& t) const { return t.f <= start_->f + kArmijo * t.a * start_->slope; }

  Trial at(double a) {
    Trial t;
    t.a = a;
    t.w.resize(start_->w.size());
    for (Eigen::Index j = 0; j < t.w.size(); ++j)
      t.w(j) = start_->w(j) + a * (*d_)(j);
    t.f = evaluate(t.w, t.g);
    ++used_;
    t.slope = std::isfinite(t.f) ? dot(t.g, *d_) : 0.0;
    if (std::isfinite(t.f) && decreases(t) && t.f < start_->f && (!best_ || t.f < best_->f))
      best_ = t;
    return t;
  }

  // Nocedal & Wright algorithm 3.6: lo meets sufficient decrease and has the lowest f so far;
  // the interval between lo and hi holds a point meeting both conditions.
  std::optional<Trial> zoom(Trial lo, Trial hi) {
    while (used_ < kLineSearchEvaluations) {
      const double a = interpolate(lo, hi);
      if (!(a != lo.a && a != hi.a)) break;  // the interval collapsed to adjacent doubles
      Trial t = at(a);
      if (!decreases(t) || t.f >= lo.f) {
        hi = std::move(t);
      } else {
        if (std::fabs(t.slope) <= -kCurvature * start_->slope) return t;
        if (t.slope * (hi.a - lo.a) >= 0.0) hi = lo;
        lo = std::move(t);
      }
    }
    return best_;
  }

  const mpi::Comm& comm_;
  const Dataset& data_;
  const Model& model_;
  std::span<const double> class_weights_;
  double* sum_seconds_;
  const Trial* start_ = nullptr;
  const Eigen::VectorXd* d_ = nullptr;
  std::optional<Trial> best_;
  int used_ = 0;
  double l1_;
  std::vector<std::uint8_t> penalized_;
};

// The pseudo-gradient of f + l1 ||w||_1 (smooth gradient g): for a penalized coefficient, the
// one-sided derivative that descends, 0 where neither does (0 is optimal in that coordinate).
Eigen::VectorXd pseudo_gradient(const Eigen::VectorXd& w, const Eigen::VectorXd& g, double l1,
                                const std::vector<std::uint8_t>& penalized) {
  Eigen::VectorXd pg = g;
  for (Eigen::Index j = 0; j < w.size(); ++j) {
    if (penalized[static_cast<size_t>(j)] == 0) continue;
    if (w(j) > 0.0) {
      pg(j) = g(j) + l1;
    } else if (w(j) < 0.0) {
      pg(j) = g(j) - l1;
    } else if (g(j) + l1 < 0.0) {
      pg(j) = g(j) + l1;
    } else if (g(j) - l1 > 0.0) {
      pg(j) = g(j) - l1;
    } else {
      pg(j) = 0.0;
    }
  }
  return pg;
}

// The two-loop recursion: -H g for the `pairs` pairs at s and y (P values each, oldest first).
Eigen::VectorXd direction(const Eigen::VectorXd& g, const Eigen::VectorXd& s,
                          const Eigen::VectorXd& y, idx_t pairs) {
  const Eigen::Index p = g.size();
  Eigen::VectorXd q = g;
  std::vector<double> alpha(static_cast<size_t>(pairs)), rho(static_cast<size_t>(pairs));
  const auto s_of = [&](idx_t i) { return s.data() + i * p; };
  const auto y_of = [&](idx_t i) { return y.data() + i * p; };
  for (idx_t i = pairs - 1; i >= 0; --i) {
    const auto k = static_cast<size_t>(i);
    rho[k] = 1.0 / dot(y_of(i), s_of(i), p);
    alpha[k] = rho[k] * dot(s_of(i), q.data(), p);
    for (Eigen::Index j = 0; j < p; ++j)
      q(j) -= alpha[k] * y_of(i)[j];
  }
  if (pairs > 0) {
    const double gamma =
        dot(s_of(pairs - 1), y_of(pairs - 1), p) / dot(y_of(pairs - 1), y_of(pairs - 1), p);
    for (Eigen::Index j = 0; j < p; ++j)
      q(j) *= gamma;
  }
  for (idx_t i = 0; i < pairs; ++i) {
    const auto k = static_cast<size_t>(i);
    const double beta = rho[k] * dot(y_of(i), q.data(), p);
    for (Eigen::Index j = 0; j < p; ++j)
      q(j) += (alpha[k] - beta) * s_of(i)[j];
  }
  return -q;
}

void check_options(const SgdOptions& o) {
  if (o.batch_size != kFullBatch) {
    throw ConfigError(
        "lbfgs is full-batch: every iteration uses all training rows, so it takes no batch size "
        "(got {}); leave batch_size at ml::kFullBatch",
        o.batch_size);
  }
  if (o.epochs < 0) throw ConfigError("lbfgs max_iterations must be 0 or more, got {}", o.epochs);
  if (o.lbfgs_memory < 1 || o.lbfgs_memory > kMaxMemory) {
    throw ConfigError("lbfgs memory must be in [1, {}], got {}", kMaxMemory, o.lbfgs_memory);
  }
  if (!(o.tolerance >= 0.0) || !std::isfinite(o.tolerance)) {
    throw ConfigError("lbfgs tolerance must be a finite number >= 0, got {}", o.tolerance);
  }
  if (!(o.objective_tolerance >= 0.0) || !std::isfinite(o.objective_tolerance)) {
    throw ConfigError("lbfgs objective_tolerance must be a finite number >= 0, got {}",
                      o.objective_tolerance);
  }
}

constexpr const char* kStartOver =
    "resume from a checkpoint of this training or start fresh (--resume never)";

void check_resume(const TrainState& s, const SgdOptions& o, const Model& model, idx_t n) {
  const Eigen::Index p = model.num_parameters();
  const Eigen::Index history = static_cast<Eigen::Index>(o.lbfgs_memory) * p;
  const auto size_of = [&](const char* name) -> Eigen::Index {
    const auto it = s.optimizer.find(name);
    return it == s.optimizer.end() ? -1 : it->second.size();
  };
  if (s.weights.size() != p || s.optimizer.size() != 3 || size_of("lbfgs_s") != history ||
      size_of("lbfgs_y") != history || size_of("lbfgs_info") != kLbfgsInfoSize) {
    throw ConfigError(
        "the checkpoint holds {} weights and lbfgs state of sizes s {}, y {}, info {}, but the {} "
        "model has {} parameters and lbfgs with memory {} keeps {}, {} and {}; the features, the "
        "classes or the optimizer changed since it was written; {}",
        s.weights.size(), size_of("lbfgs_s"), size_of("lbfgs_y"), size_of("lbfgs_info"),
        model.type(), p, o.lbfgs_memory, history, history, kLbfgsInfoSize, kStartOver);
  }
  const Eigen::VectorXd& info = s.optimizer.at("lbfgs_info");
  bool fits = s.weights.allFinite() && s.optimizer.at("lbfgs_s").allFinite() &&
              s.optimizer.at("lbfgs_y").allFinite() && std::isfinite(s.last_loss) &&
              is_count(info(0), o.lbfgs_memory) && is_count(info(1), 3) && is_count(info(2), 9e15);
  fits = fits && s.step >= 0 && s.step <= o.epochs && s.epoch == s.step && s.step_in_epoch == 0 &&
         s.samples_seen == s.step * n;
  if (!fits) {
    throw ConfigError(
        "the checkpoint's lbfgs state does not fit this training (iteration {} of at most {}, "
        "epoch {}, {} samples seen over {} rows, info [{}]) or holds non-finite values; {}",
        s.step, o.epochs, s.epoch, s.samples_seen, n,
        fmt::join(std::vector<double>(info.data(), info.data() + info.size()), ", "), kStartOver);
  }
}

}  // namespace

const char* to_string(LbfgsStatus status) {
  switch (status) {
    case LbfgsStatus::kRunning:
      return "running";
    case LbfgsStatus::kGradientTolerance:
      return "the gradient is within the tolerance";
    case LbfgsStatus::kObjectiveTolerance:
      return "the objective's decrease is within objective_tolerance";
    case LbfgsStatus::kNoProgress:
      return "no step lowers the objective any more (the precision limit)";
  }
  return "?";
}

std::vector<std::string> lbfgs_state_names() {
  return {"lbfgs_info", "lbfgs_s", "lbfgs_y"};
}

LbfgsProgress lbfgs_progress(const TrainState& state) {
  LbfgsProgress p;
  const auto it = state.optimizer.find("lbfgs_info");
  if (it == state.optimizer.end() || it->second.size() != kLbfgsInfoSize) return p;
  p.pairs = static_cast<idx_t>(it->second(0));
  p.status = static_cast<LbfgsStatus>(static_cast<int>(it->second(1)));
  p.evaluations = static_cast<idx_t>(it->second(2));
  return p;
}

double full_batch_objective(const mpi::Comm& comm, const Dataset& data, const Model& model,
                            std::span<const double> class_weights, const Eigen::VectorXd& w,
                            Eigen::VectorXd* gradient, idx_t block_rows) {
  if (block_rows < 1) {
    throw RuntimeError(
        "full_batch_objective: block_rows must be at least 1, got {}; this is a "
        "shardflow bug",
        block_rows);
  }
  const Eigen::Index p = model.num_parameters();
  const auto width = static_cast<size_t>(p) + 1;  // the gradient, then the loss
  const idx_t local_rows = data.rows();
  const idx_t first = data.global_offset;  // global index of local row 0
  const idx_t last = first + local_rows;   // one past this rank's last global row
  const idx_t total_rows = data.global_rows;
  const idx_t block = block_rows;

  // Folds local rows [begin, end) into acc, in row order (Model::add_gradients' contract makes
  // the sum independent of how the rows are chunked).
  std::vector<const double*> rows(kChunkRows);
  // A float32 matrix's rows are read as floats by Model::add_gradients_f32 (the same bits as
  // their exact conversion to double, with half the bytes to read).
  const bool single = data.matrix_type() == MatrixType::kFloat32;
  std::vector<const float*> rows32(single ? kChunkRows : 0);
  std::vector<double> labels(kChunkRows);
  std::vector<double> weights(class_weights.empty() ? 0 : kChunkRows);
  const auto fold = [&](idx_t begin, idx_t end, double* acc) {
    for (idx_t chunk = begin; chunk < end; chunk += static_cast<idx_t>(kChunkRows)) {
      const auto count = static_cast<size_t>(std::min<idx_t>(kChunkRows, end - chunk));
      for (size_t i = 0; i < count; ++i) {
        const auto r = static_cast<Eigen::Index>(chunk) + static_cast<Eigen::Index>(i);
        if (single) {
          rows32[i] = data.features32.row(r).data();
        } else {
          rows[i] = data.features.row(r).data();
        }
        labels[i] = data.labels(r);
        if (!weights.empty()) weights[i] = class_weights[static_cast<size_t>(labels[i])];
      }
      const double* row_weights = weights.empty() ? nullptr : weights.data();
      if (single) {
        model.add_gradients_f32(rows32.data(), labels.data(), row_weights, count, w.data(), acc);
      } else {
        model.add_gradients(rows.data(), labels.data(), row_weights, count, w.data(), acc);
      }
    }
  };

  // A block that starts on a lower rank arrives as its running sum (the carry) from the rank
  // below; one that goes on past this rank's rows leaves as a carry to the rank above. Both
  // sides of a boundary see the same condition (this rank's `last` is the next rank's `first`).
  const bool carry_in = first % block != 0 && first < total_rows;
  const bool carry_out = last % block != 0 && last < total_rows;
  constexpr int kCarryTag = 0x5f1b;
  std::vector<double> carry(width, 0.0);
  std::vector<double> outgoing;
  mpi::PendingSend send;
  const auto send_carry = [&](std::vector<double> sum) {
    outgoing = std::move(sum);
    send = mpi::PendingSend::start(comm, std::span<const double>(outgoing), comm.rank() + 1,
                                   kCarryTag);
  };
  const auto receive_carry = [&] {
    mpi::receive(comm, std::span<double>(carry), comm.rank() - 1, kCarryTag);
  };

  // The sums of the blocks that end on this rank, row-major.
  std::vector<double> sums;
  if (local_rows == 0) {
    if (carry_in) {
      receive_carry();
      send_carry(carry);  // carry_out holds too: last == first
    }
  } else {
    const idx_t head = first / block;
    const idx_t tail = (last - 1) / block;
    const auto rows_of = [&](idx_t k) {
      return std::pair<idx_t, idx_t>{std::max(first, k * block) - first,
                                     std::min(last, (k + 1) * block) - first};
    };
    // The tail's carry first (when it does not also need the head's), so that the rank above
    // waits for as little as possible.
    if (carry_out && !(head == tail && carry_in)) {
      std::vector<double> sum(width, 0.0);
      const auto [b, e] = rows_of(tail);
      fold(b, e, sum.data());
      send_carry(std::move(sum));
    }
    sums.reserve(static_cast<size_t>(tail - head + 1) * width);
    for (idx_t k = head; k <= tail; ++k) {
      if ((k == head && carry_in) || (k == tail && carry_out)) continue;
      sums.resize(sums.size() + width, 0.0);
      const auto [b, e] = rows_of(k);
      fold(b, e, sums.data() + sums.size() - width);
    }
    if (carry_in) {
      receive_carry();
      const auto [b, e] = rows_of(head);
      fold(b, e, carry.data());
      if (head == tail && carry_out) {
        send_carry(carry);
      } else {
        sums.insert(sums.end(), carry.begin(), carry.end());
      }
    }
  }
  send.wait();

  // The block sums' largest magnitudes, and one slot flagging a non-finite sum (a non-finite
  // per-sample value, or finite values whose sum overflows).
  std::vector<double> maxima(width + 1, 0.0);
  for (size_t k = 0; k < sums.size(); ++k) {
    const double a = std::fabs(sums[k]);
    if (!(a <= std::numeric_limits<double>::max())) {
      maxima[width] = 1.0;
    } else if (a > maxima[k % width]) {
      maxima[k % width] = a;
    }
  }
  mpi::allreduce_inplace(comm, std::span<double>(maxima), mpi::Reduce::kMax);
  // Every rank knows it and reports an infinite objective, which the line search treats as a
  // step too far.
  if (maxima[width] != 0.0) return std::numeric_limits<double>::infinity();

  // The block sums, added exactly.
  maxima.pop_back();
  FixedPointSums exact(std::move(maxima));
  for (size_t k = 0; k < sums.size(); k += width)
    exact.add_row(sums.data() + k);
  const std::vector<double> total = exact.finish(comm, "the full-batch objective and gradient");

  const auto n = static_cast<double>(data.global_rows);
  const std::vector<std::uint8_t> penalized = model.penalized();
  const double l2 = model.l2();
  double penalty = 0.0;
  for (Eigen::Index j = 0; j < p; ++j)
    if (penalized[static_cast<size_t>(j)] != 0) penalty += w(j) * w(j);
  if (gradient != nullptr) {
    gradient->resize(p);
    for (Eigen::Index j = 0; j < p; ++j) {
      // The same expression as train_sgd's step with one batch of every row.
      (*gradient)(j) = total[static_cast<size_t>(j)] / n;
      if (penalized[static_cast<size_t>(j)] != 0) (*gradient)(j) += l2 * w(j);
    }
  }
  return total[width - 1] / n + 0.5 * l2 * penalty;
}

TrainState train_lbfgs(const mpi::Comm& comm, const Dataset& data, const Model& model,
                       const SgdOptions& options, const std::optional<TrainState>& resume,
                       const TrainCallbacks& callbacks, bool* stopped_early, double* sum_seconds) {
  check_options(options);
  const Eigen::Index p = model.num_parameters();
  const idx_t n = data.global_rows;
  const idx_t memory = options.lbfgs_memory;
  TrainState state;
  if (resume) {
    check_resume(*resume, options, model, n);
    state = *resume;
  } else {
    state.weights = model.initial_parameters(options.seed);
    state.optimizer["lbfgs_s"] = Eigen::VectorXd::Zero(memory * p);
    state.optimizer["lbfgs_y"] = Eigen::VectorXd::Zero(memory * p);
    state.optimizer["lbfgs_info"] = Eigen::VectorXd::Zero(kLbfgsInfoSize);
  }
  Eigen::VectorXd& s_hist = state.optimizer.at("lbfgs_s");
  Eigen::VectorXd& y_hist = state.optimizer.at("lbfgs_y");
  Eigen::VectorXd& info = state.optimizer.at("lbfgs_info");
  auto pairs = static_cast<idx_t>(info(0));
  auto status = static_cast<LbfgsStatus>(static_cast<int>(info(1)));
  auto evaluations = static_cast<idx_t>(info(2));

  LineSearch search(comm, data, model, options.class_weights, sum_seconds);
  Trial current;
  current.w = state.weights;
  current.f = search.evaluate(current.w, current.g);
  if (resume) {
    // The evaluation that produced these weights, done again: the same bits unless the data or
    // the model differ from the ones the checkpoint was written with. Not counted again.
    if (std::memcmp(&current.f, &state.last_loss, sizeof(double)) != 0) {
      throw ConfigError(
          "the checkpoint's objective at its weights was {} but is {} on this training data; the "
          "data or the model changed since it was written, or a shardflow version that computed "
          "the loss differently wrote it; {}",
          state.last_loss, current.f, kStartOver);
    }
  } else {
    if (!std::isfinite(current.f)) {
      throw RuntimeError(
          "lbfgs: the objective is not finite at the initial weights; a feature value or label is "
          "too large: standardize the features (scale: standard)");
    }
    evaluations = 1;
    state.last_loss = current.f;
  }
  const auto save_info = [&] {
    info(0) = static_cast<double>(pairs);
    info(1) = static_cast<double>(static_cast<int>(status));
    info(2) = static_cast<double>(evaluations);
  };

  if (stopped_early != nullptr) *stopped_early = false;
  // With an L1 penalty (OWL-QN), the pseudo-gradient stands for the gradient in the direction,
  // the stopping test and the first step; the pairs still come from the smooth part's gradient.
  const double l1_penalty = model.l1();
  const std::vector<std::uint8_t> penalized = model.penalized();
  const auto steepest = [&](const Trial& t) {
    return l1_penalty != 0.0 ? pseudo_gradient(t.w, t.g, l1_penalty, penalized) : t.g;
  };
  while (status == LbfgsStatus::kRunning && state.step < options.epochs) {
    const Eigen::VectorXd pg = steepest(current);
    if (max_abs(pg) <= options.tolerance) {
      status = LbfgsStatus::kGradientTolerance;  // at the start: the initial weights are optimal
      break;
    }
    // ---- direction and line search (the same arithmetic on every rank) ----------------------
    Eigen::VectorXd d = direction(pg, s_hist, y_hist, pairs);
    if (l1_penalty != 0.0) {
      // OWL-QN: keep only the components that descend along -pg.
      for (Eigen::Index j = 0; j < p; ++j)
        if (d(j) * pg(j) >= 0.0) d(j) = 0.0;
    }
    current.slope = dot(pg, d);
    if (!(current.slope < 0.0) || !std::isfinite(current.slope)) {
      // Rounding made the quasi-Newton direction useless: start the memory over.
      pairs = 0;
      d = -pg;
      current.slope = dot(pg, d);
    }
    double first_step = 1.0;
    if (pairs == 0) {
      double l1 = 0.0;
      for (Eigen::Index j = 0; j < p; ++j)
        l1 += std::fabs(pg(j));
      first_step = std::min(1.0, 1.0 / l1);
    }
    current.a = 0.0;
    std::optional<Trial> next = l1_penalty != 0.0 ? search.backtrack(current, d, pg, first_step)
                                                  : search.search(current, d, first_step);
    evaluations += search.used();
    if (!next) {
      status = LbfgsStatus::kNoProgress;
      break;
    }

    // ---- the pair, the new point, the stopping tests ------------------------------------------
    Eigen::VectorXd s(p), y(p);
    for (Eigen::Index j = 0; j < p; ++j) {
      s(j) = next->w(j) - current.w(j);
      y(j) = next->g(j) - current.g(j);
    }
    const double sy = dot(s, y), yy = dot(y, y);
    if (sy > std::numeric_limits<double>::epsilon() * yy && sy > 0.0) {
      if (pairs == memory) {
        // Drop the oldest pair: shift the others down one slot.
        std::memmove(s_hist.data(), s_hist.data() + p,
                     static_cast<size_t>((memory - 1) * p) * sizeof(double));
        std::memmove(y_hist.data(), y_hist.data() + p,
                     static_cast<size_t>((memory - 1) * p) * sizeof(double));
        --pairs;
      }
      s_hist.segment(pairs * p, p) = s;
      y_hist.segment(pairs * p, p) = y;
      ++pairs;
    }
    const double f_prev = current.f;
    current = std::move(*next);
    state.weights = current.w;
    state.last_loss = current.f;
    state.step += 1;
    state.epoch = state.step;
    state.step_in_epoch = 0;
    state.samples_seen = state.step * n;
    if (max_abs(steepest(current)) <= options.tolerance) {
      status = LbfgsStatus::kGradientTolerance;
    } else if (f_prev - current.f <= options.objective_tolerance *
                                         std::max({std::fabs(f_prev), std::fabs(current.f), 1.0})) {
      status = LbfgsStatus::kObjectiveTolerance;
    }
    save_info();

    if (callbacks.after_step) callbacks.after_step(state);
    const int stop = callbacks.stop_requested && callbacks.stop_requested() ? 1 : 0;
    if (mpi::allreduce_max(comm, stop) != 0) {
      if (stopped_early != nullptr) *stopped_early = true;
      break;
    }
  }
  save_info();
  return state;
}

}  // namespace shardflow::ml
