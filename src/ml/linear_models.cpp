#include "shardflow/ml/linear_models.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "shardflow/common/error.hpp"
#include "shardflow/common/hash.hpp"
#include "shardflow/ml/logistic_regression.hpp"

namespace shardflow::ml {

std::string_view to_string(Task task) {
  switch (task) {
    case Task::kRegression:
      return "regression";
    case Task::kBinary:
      return "binary classification";
    case Task::kMulticlass:
      return "multiclass classification";
  }
  return "?";
}

LinearModel::LinearModel(LinearKind kind, int num_features, double l2, std::vector<double> classes)
    : kind_(kind), d_(num_features), outputs_(1), l2_(l2), classes_(std::move(classes)) {
  if (num_features < 0) throw RuntimeError("LinearModel: negative feature count {}", num_features);
  if (!(l2 >= 0.0) || !std::isfinite(l2)) {
    throw ConfigError("l2 penalty must be a finite number >= 0, got {}", l2);
  }
  if (kind == LinearKind::kSoftmax) {
    if (classes_.size() < 2) {
      throw InputError(
          "a softmax model needs at least 2 classes, but the label has {} distinct value(s) in "
          "the training data; check the label column and the filters before training",
          classes_.size());
    }
    if (!std::is_sorted(classes_.begin(), classes_.end()) ||
        std::adjacent_find(classes_.begin(), classes_.end()) != classes_.end()) {
      throw RuntimeError("LinearModel: softmax classes must be ascending and distinct");
    }
    outputs_ = static_cast<int>(classes_.size());
  } else {
    classes_.clear();
  }
}

std::string_view LinearModel::type() const {
  switch (kind_) {
    case LinearKind::kLinear:
      return "linear";
    case LinearKind::kLogistic:
      return "logistic";
    case LinearKind::kSoftmax:
      return "softmax";
  }
  return "?";
}

Task LinearModel::task() const {
  switch (kind_) {
    case LinearKind::kLinear:
      return Task::kRegression;
    case LinearKind::kLogistic:
      return Task::kBinary;
    case LinearKind::kSoftmax:
      return Task::kMulticlass;
  }
  return Task::kBinary;
}

LabelEncoding LinearModel::label_encoding() const {
  return {task(), classes_};
}

std::uint64_t LinearModel::settings_hash() const {
  std::uint64_t l2_bits;
  std::memcpy(&l2_bits, &l2_, sizeof l2_bits);
  std::uint64_t h = hash_u64(0x4c494e4d4f44ULL);
  for (std::uint64_t x : {static_cast<std::uint64_t>(kind_), static_cast<std::uint64_t>(d_),
                          static_cast<std::uint64_t>(outputs_), l2_bits})
    h = hash_combine(h, x);
  return hash_combine(h, hash_bytes(classes_.data(), classes_.size() * sizeof(double), 0));
}

std::vector<std::uint8_t> LinearModel::penalized() const {
  std::vector<std::uint8_t> mask(static_cast<size_t>(num_parameters()), 1);
  for (int c = 0; c < outputs_; ++c)
    mask[static_cast<size_t>(c) * (static_cast<size_t>(d_) + 1) + static_cast<size_t>(d_)] = 0;
  return mask;
}

void LinearModel::sample_gradients(const double* const* rows, const double* labels, size_t n,
                                   const double* w, double* out) const {
  const int d = d_;
  const auto width = static_cast<size_t>(num_parameters()) + 1;
  if (kind_ != LinearKind::kSoftmax) {
    for (size_t i = 0; i < n; ++i, out += width) {
      if (i + kPrefetchRows < n) prefetch_row(rows[i + kPrefetchRows], d);
      const double* x = rows[i];
      const double y = labels[i];
      const double z = LogisticRegression::margin(x, w, d);
      double r, loss;
      if (kind_ == LinearKind::kLogistic) {
        r = LogisticRegression::sigmoid(z) - y;
        loss = LogisticRegression::sample_log_loss(z, y);
      } else {
        r = z - y;
        loss = 0.5 * r * r;
      }
      for (int j = 0; j < d; ++j)
        out[j] = r * x[j];
      out[d] = r;
      out[d + 1] = loss;
    }
    return;
  }
  // Softmax: the margins of every class, then the probabilities relative to the largest margin
  // (so no exponential overflows), summed in class order.
  const int k = outputs_;
  const auto stride = static_cast<size_t>(d) + 1;
  std::vector<double> z(static_cast<size_t>(k));
  for (size_t i = 0; i < n; ++i, out += width) {
    if (i + kPrefetchRows < n) prefetch_row(rows[i + kPrefetchRows], d);
    const double* x = rows[i];
    const auto y = static_cast<int>(labels[i]);
    double top = -HUGE_VAL;
    for (int c = 0; c < k; ++c) {
      z[static_cast<size_t>(c)] =
          LogisticRegression::margin(x, w + static_cast<size_t>(c) * stride, d);
      top = std::max(top, z[static_cast<size_t>(c)]);
    }
    // loss = log sum_k e^{z_k} - z_y = log(sum) + top - z_y, with sum = sum_k e^{z_k - top} in
    // [1, K]: finite however far apart the margins are (e^{z_y - top} may underflow to 0).
    const double gap = top - z[static_cast<size_t>(y)];
    double sum = 0.0;
    for (int c = 0; c < k; ++c) {
      z[static_cast<size_t>(c)] = std::exp(z[static_cast<size_t>(c)] - top);
      sum += z[static_cast<size_t>(c)];
    }
    const double loss = std::log(sum) + gap;
    for (int c = 0; c < k; ++c) {
      const double r = z[static_cast<size_t>(c)] / sum - (c == y ? 1.0 : 0.0);
      double* g = out + static_cast<size_t>(c) * stride;
      for (int j = 0; j < d; ++j)
        g[j] = r * x[j];
      g[d] = r;
    }
    out[width - 1] = loss;
  }
}

void LinearModel::predict(const double* x, size_t n, const double* w, double* out) const {
  const int d = d_;
  const auto dd = static_cast<size_t>(d);
  switch (kind_) {
    case LinearKind::kLinear:
      for (size_t i = 0; i < n; ++i)
        out[i] = LogisticRegression::margin(x + i * dd, w, d);
      return;
    case LinearKind::kLogistic:
      for (size_t i = 0; i < n; ++i)
        out[i] = LogisticRegression::sigmoid(LogisticRegression::margin(x + i * dd, w, d));
      return;
    case LinearKind::kSoftmax: {
      const auto k = static_cast<size_t>(outputs_);
      for (size_t i = 0; i < n; ++i) {
        double* p = out + i * k;
        double top = -HUGE_VAL;
        for (size_t c = 0; c < k; ++c) {
          p[c] = LogisticRegression::margin(x + i * dd, w + c * (dd + 1), d);
          top = std::max(top, p[c]);
        }
        double sum = 0.0;
        for (size_t c = 0; c < k; ++c) {
          p[c] = std::exp(p[c] - top);
          sum += p[c];
        }
        for (size_t c = 0; c < k; ++c)
          p[c] /= sum;
      }
      return;
    }
  }
}

}  // namespace shardflow::ml
