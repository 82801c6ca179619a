#include "shardflow/ml/model.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

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

void check_classes(const std::vector<double>& classes, std::string_view model) {
  if (classes.size() < 2) {
    throw InputError(
        "a {} model needs at least 2 classes, but the label has {} distinct value(s) in the "
        "training data; check the label column and the filters before training",
        model, classes.size());
  }
  if (!std::is_sorted(classes.begin(), classes.end()) ||
      std::adjacent_find(classes.begin(), classes.end()) != classes.end()) {
    throw RuntimeError("{}: the classes must be ascending and distinct", model);
  }
}

void softmax_in_place(double* z, size_t k) {
  const double top = *std::max_element(z, z + k);
  double sum = 0.0;
  for (size_t c = 0; c < k; ++c) {
    z[c] = std::exp(z[c] - top);
    sum += z[c];
  }
  for (size_t c = 0; c < k; ++c)
    z[c] /= sum;
}

double softmax_cross_entropy(const double* z, size_t k, size_t label, double* delta) {
  const double top = *std::max_element(z, z + k);
  // log sum_c e^{z_c} - z_label = log(sum) + top - z_label with sum = sum_c e^{z_c - top} in
  // [1, K]: e^{z_label - top} may underflow to 0, this does not.
  const double gap = top - z[label];
  double sum = 0.0;
  for (size_t c = 0; c < k; ++c) {
    delta[c] = std::exp(z[c] - top);
    sum += delta[c];
  }
  for (size_t c = 0; c < k; ++c)
    delta[c] = delta[c] / sum - (c == label ? 1.0 : 0.0);
  return std::log(sum) + gap;
}

void Model::add_gradients(const double* const* rows, const double* labels, const double* weights,
                          size_t n, const double* w, double* acc) const {
  const auto width = static_cast<size_t>(num_parameters()) + 1;
  thread_local std::vector<double> values;
  values.resize(n * width);
  sample_gradients(rows, labels, n, w, values.data());
  for (size_t i = 0; i < n; ++i) {
    const double* v = values.data() + i * width;
    if (weights == nullptr) {
      for (size_t j = 0; j < width; ++j)
        acc[j] += v[j];
    } else {
      for (size_t j = 0; j < width; ++j)
        acc[j] += v[j] * weights[i];
    }
  }
}

void Model::add_gradients_f32(const float* const* rows, const double* labels, const double* weights,
                              size_t n, const double* w, double* acc) const {
  const auto d = static_cast<size_t>(num_features());
  thread_local std::vector<double> converted;
  thread_local std::vector<const double*> converted_rows;
  converted.resize(n * d);
  converted_rows.resize(n);
  for (size_t i = 0; i < n; ++i) {
    double* row = converted.data() + i * d;
    for (size_t j = 0; j < d; ++j)
      row[j] = static_cast<double>(rows[i][j]);
    converted_rows[i] = row;
  }
  add_gradients(converted_rows.data(), labels, weights, n, w, acc);
}

double binary_loss(double z, double y, double gamma, double* dz) {
  if (gamma == 0.0) return exact::logistic_loss(z, y, dz);
  const double p = LogisticRegression::sigmoid(z);
  const double q = LogisticRegression::sigmoid(-z);  // 1 - p, without its cancellation
  // log(1 + e^z) = -log q, and log p = z - log(1 + e^z).
  const double softplus =
      std::fmax(z, 0.0) + exact::log1p_unit(exact::exp_nonpositive(-std::fabs(z)));
  const double log_p = z - softplus;
  const double log_q = -softplus;
  if (y != 0.0) {
    // L = -q^g log p; dp/dz = p q, dq/dz = -p q.
    const double qg = std::pow(q, gamma);
    *dz = gamma * qg * p * log_p - qg * q;
    return -qg * log_p;
  }
  const double pg = std::pow(p, gamma);
  *dz = pg * p - gamma * pg * q * log_q;
  return -pg * log_q;
}

std::uint64_t with_focal_gamma(std::uint64_t h, double gamma) {
  if (gamma == 0.0) return h;
  std::uint64_t bits;
  std::memcpy(&bits, &gamma, sizeof bits);
  return hash_combine(h, bits);
}

void check_focal_gamma(double gamma) {
  if (!(gamma >= 0.0) || !std::isfinite(gamma)) {
    throw ConfigError("focal_gamma must be a finite number >= 0 (0: the log loss), got {}", gamma);
  }
}

}  // namespace shardflow::ml
