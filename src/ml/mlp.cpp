#include "shardflow/ml/mlp.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "shardflow/common/error.hpp"
#include "shardflow/common/hash.hpp"
#include "shardflow/ml/logistic_regression.hpp"

namespace shardflow::ml {

std::string_view to_string(Activation activation) {
  return activation == Activation::kRelu ? "relu" : "tanh";
}

Mlp::Mlp(Task task, int num_features, std::vector<int> hidden, Activation activation, double l2,
         std::vector<double> classes, double focal_gamma)
    : task_(task),
      activation_(activation),
      l2_(l2),
      focal_gamma_(focal_gamma),
      classes_(std::move(classes)) {
  if (num_features < 0) throw RuntimeError("Mlp: negative feature count {}", num_features);
  check_focal_gamma(focal_gamma);
  if (focal_gamma != 0.0 && task != Task::kBinary) {
    throw ConfigError(
        "focal_gamma applies to binary classification (mlp with task binary), not to "
        "{}",
        to_string(task));
  }
  if (hidden.empty()) {
    throw ConfigError("an mlp needs at least one hidden layer, e.g. hidden: [32]");
  }
  for (const int units : hidden) {
    if (units < 1) throw ConfigError("every hidden layer needs at least 1 unit, got {}", units);
  }
  if (!(l2 >= 0.0) || !std::isfinite(l2)) {
    throw ConfigError("l2 penalty must be a finite number >= 0, got {}", l2);
  }
  int outputs = 1;
  if (task == Task::kMulticlass) {
    check_classes(classes_, "multiclass mlp");
    outputs = static_cast<int>(classes_.size());
  } else {
    classes_.clear();
  }
  sizes_.push_back(num_features);
  sizes_.insert(sizes_.end(), hidden.begin(), hidden.end());
  sizes_.push_back(outputs);
  size_t offset = 0, acts = 0;
  for (size_t l = 0; l + 1 < sizes_.size(); ++l) {
    weight_offsets_.push_back(offset);
    offset += static_cast<size_t>(sizes_[l + 1]) * (static_cast<size_t>(sizes_[l]) + 1);
  }
  for (const int units : sizes_) {
    act_offsets_.push_back(acts);
    acts += static_cast<size_t>(units);
  }
  act_size_ = acts;
  parameters_ = static_cast<Eigen::Index>(offset);
}

std::uint64_t Mlp::settings_hash() const {
  std::uint64_t l2_bits;
  std::memcpy(&l2_bits, &l2_, sizeof l2_bits);
  std::uint64_t h = hash_u64(0x4d4c50ULL);
  for (std::uint64_t x :
       {static_cast<std::uint64_t>(task_), static_cast<std::uint64_t>(activation_), l2_bits})
    h = hash_combine(h, x);
  for (const int units : sizes_)
    h = hash_combine(h, static_cast<std::uint64_t>(units));
  h = hash_combine(h, hash_bytes(classes_.data(), classes_.size() * sizeof(double), 0));
  return with_focal_gamma(h, focal_gamma_);
}

std::vector<std::uint8_t> Mlp::penalized() const {
  std::vector<std::uint8_t> mask(static_cast<size_t>(parameters_), 0);
  for (size_t l = 0; l + 1 < sizes_.size(); ++l) {
    const size_t weights = static_cast<size_t>(sizes_[l + 1]) * static_cast<size_t>(sizes_[l]);
    std::fill_n(mask.begin() + static_cast<long>(weight_offsets_[l]), weights, 1);
  }
  return mask;
}

Eigen::VectorXd Mlp::initial_parameters(std::uint64_t seed) const {
  Eigen::VectorXd w = Eigen::VectorXd::Zero(parameters_);
  const std::uint64_t base = hash_combine(hash_u64(seed), 0x4d4c50494e4954ULL);
  for (size_t l = 0; l + 1 < sizes_.size(); ++l) {
    const auto fan_in = static_cast<size_t>(sizes_[l]);
    const auto fan_out = static_cast<size_t>(sizes_[l + 1]);
    const double bound = std::sqrt(6.0 / static_cast<double>(fan_in + fan_out));
    for (size_t k = 0; k < fan_in * fan_out; ++k) {
      const size_t index = weight_offsets_[l] + k;
      const double u = static_cast<double>(hash_combine(base, index) >> 11) * 0x1p-53;  // [0, 1)
      w(static_cast<Eigen::Index>(index)) = (2.0 * u - 1.0) * bound;
    }
  }
  return w;
}

void Mlp::forward(const double* x, const double* w, double* acts) const {
  std::copy(x, x + sizes_[0], acts);
  const size_t layers = sizes_.size() - 1;
  for (size_t l = 0; l < layers; ++l) {
    const auto fan_in = static_cast<size_t>(sizes_[l]);
    const auto units = static_cast<size_t>(sizes_[l + 1]);
    const double* in = acts + act_offsets_[l];
    double* out = acts + act_offsets_[l + 1];
    const double* weights = w + weight_offsets_[l];
    const double* biases = weights + units * fan_in;
    const bool hidden = l + 1 < layers;
    for (size_t j = 0; j < units; ++j) {
      double z =
          LogisticRegression::fixed_order_dot(weights + j * fan_in, in, static_cast<int>(fan_in)) +
          biases[j];
      if (hidden) z = activation_ == Activation::kRelu ? std::max(z, 0.0) : std::tanh(z);
      out[j] = z;
    }
  }
}

void Mlp::sample_gradients(const double* const* rows, const double* labels, size_t n,
                           const double* w, double* out) const {
  const auto width = static_cast<size_t>(parameters_) + 1;
  const size_t layers = sizes_.size() - 1;
  std::vector<double> acts(act_size_);
  std::vector<double> delta, previous;
  for (size_t r = 0; r < n; ++r, out += width) {
    if (r + kPrefetchRows < n) prefetch_row(rows[r + kPrefetchRows], sizes_.front());
    forward(rows[r], w, acts.data());
    const double y = labels[r];
    const auto k = static_cast<size_t>(sizes_.back());
    const double* z = acts.data() + act_offsets_[layers];
    // The output layer's error (d loss / d margin) and the loss.
    delta.assign(z, z + k);
    double loss = 0.0;
    switch (task_) {
      case Task::kRegression:
        delta[0] = z[0] - y;
        loss = 0.5 * delta[0] * delta[0];
        break;
      case Task::kBinary:
        loss = binary_loss(z[0], y, focal_gamma_, &delta[0]);
        break;
      case Task::kMulticlass:
        loss = softmax_cross_entropy(z, k, static_cast<size_t>(y), delta.data());
        break;
    }
    // Backward, from the output layer to the first.
    for (size_t l = layers; l-- > 0;) {
      const auto fan_in = static_cast<size_t>(sizes_[l]);
      const auto units = static_cast<size_t>(sizes_[l + 1]);
      const double* in = acts.data() + act_offsets_[l];
      const double* weights = w + weight_offsets_[l];
      double* g = out + weight_offsets_[l];
      for (size_t j = 0; j < units; ++j) {
        for (size_t i = 0; i < fan_in; ++i)
          g[j * fan_in + i] = delta[j] * in[i];
        g[units * fan_in + j] = delta[j];
      }
      if (l == 0) break;
      // The error of the layer below: through the weights, then the activation's derivative.
      previous.assign(fan_in, 0.0);
      for (size_t i = 0; i < fan_in; ++i) {
        double s = 0.0;
        for (size_t j = 0; j < units; ++j)
          s += weights[j * fan_in + i] * delta[j];
        const double a = in[i];
        previous[i] = s * (activation_ == Activation::kRelu ? (a > 0.0 ? 1.0 : 0.0) : 1.0 - a * a);
      }
      delta.swap(previous);
    }
    out[width - 1] = loss;
  }
}

void Mlp::predict(const double* x, size_t n, const double* w, double* out) const {
  std::vector<double> acts(act_size_);
  const size_t layers = sizes_.size() - 1;
  const auto d = static_cast<size_t>(sizes_.front());
  const auto k = static_cast<size_t>(sizes_.back());
  for (size_t r = 0; r < n; ++r) {
    forward(x + r * d, w, acts.data());
    const double* z = acts.data() + act_offsets_[layers];
    double* p = out + r * k;
    switch (task_) {
      case Task::kRegression:
        p[0] = z[0];
        break;
      case Task::kBinary:
        p[0] = LogisticRegression::sigmoid(z[0]);
        break;
      case Task::kMulticlass:
        std::copy(z, z + k, p);
        softmax_in_place(p, k);
        break;
    }
  }
}

}  // namespace shardflow::ml
