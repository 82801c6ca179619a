#include "shardflow/ml/linear_models.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <type_traits>

#ifdef __x86_64__
#include <immintrin.h>
#endif

#include "shardflow/common/error.hpp"
#include "shardflow/common/hash.hpp"
#include "shardflow/common/simd.hpp"
#include "shardflow/ml/exact_math.hpp"
#include "shardflow/ml/logistic_regression.hpp"

namespace shardflow::ml {

LinearModel::LinearModel(LinearKind kind, int num_features, double l2, std::vector<double> classes,
                         double focal_gamma, double l1)
    : kind_(kind),
      d_(num_features),
      outputs_(1),
      l2_(l2),
      classes_(std::move(classes)),
      focal_gamma_(focal_gamma),
      l1_(l1) {
  if (num_features < 0) throw RuntimeError("LinearModel: negative feature count {}", num_features);
  check_focal_gamma(focal_gamma);
  if (focal_gamma != 0.0 && kind != LinearKind::kLogistic) {
    throw ConfigError(
        "focal_gamma applies to binary classification (type logistic, or mlp with "
        "task binary), not to a {} model",
        kind == LinearKind::kLinear ? "linear" : "softmax");
  }
  if (!(l2 >= 0.0) || !std::isfinite(l2)) {
    throw ConfigError("l2 penalty must be a finite number >= 0, got {}", l2);
  }
  if (!(l1 >= 0.0) || !std::isfinite(l1)) {
    throw ConfigError("l1 penalty must be a finite number >= 0, got {}", l1);
  }
  if (l1 != 0.0 && kind != LinearKind::kLogistic) {
    throw ConfigError("an l1 penalty applies to logistic regression only, not to a {} model",
                      kind == LinearKind::kLinear ? "linear" : "softmax");
  }
  if (kind == LinearKind::kSoftmax) {
    check_classes(classes_, "softmax");
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

Task task_of(LinearKind kind) {
  switch (kind) {
    case LinearKind::kLinear:
      return Task::kRegression;
    case LinearKind::kLogistic:
      return Task::kBinary;
    case LinearKind::kSoftmax:
      return Task::kMulticlass;
  }
  return Task::kBinary;
}

Task LinearModel::task() const {
  return task_of(kind_);
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
  h = hash_combine(h, hash_bytes(classes_.data(), classes_.size() * sizeof(double), 0));
  // Mixed in only when set, so that models without it keep their hash.
  if (l1_ != 0.0) {
    std::uint64_t l1_bits;
    std::memcpy(&l1_bits, &l1_, sizeof l1_bits);
    h = hash_combine(h, hash_combine(0x4c31ULL, l1_bits));
  }
  return with_focal_gamma(h, focal_gamma_);
}

std::vector<std::uint8_t> LinearModel::penalized() const {
  std::vector<std::uint8_t> mask(static_cast<size_t>(num_parameters()), 1);
  for (int c = 0; c < outputs_; ++c)
    mask[static_cast<size_t>(c) * (static_cast<size_t>(d_) + 1) + static_cast<size_t>(d_)] = 0;
  return mask;
}

namespace {

// The loss of one row of a least-squares or binary model with margin z and label y, and its
// derivative in z (*r): what sample_gradients and add_gradients both build on.
double row_loss(LinearKind kind, double focal_gamma, double z, double y, double* r) {
  if (kind == LinearKind::kLogistic) return binary_loss(z, y, focal_gamma, r);
  *r = z - y;
  return 0.5 * *r * *r;
}

}  // namespace

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
      double r;
      const double loss = row_loss(kind_, focal_gamma_, z, y, &r);
      for (int j = 0; j < d; ++j)
        out[j] = r * x[j];
      out[d] = r;
      out[d + 1] = loss;
    }
    return;
  }
  // Softmax: the margins of every class, then the cross-entropy's gradient per class.
  const int k = outputs_;
  const auto stride = static_cast<size_t>(d) + 1;
  std::vector<double> z(static_cast<size_t>(k));
  for (size_t i = 0; i < n; ++i, out += width) {
    if (i + kPrefetchRows < n) prefetch_row(rows[i + kPrefetchRows], d);
    const double* x = rows[i];
    const auto y = static_cast<size_t>(labels[i]);
    for (int c = 0; c < k; ++c) {
      z[static_cast<size_t>(c)] =
          LogisticRegression::margin(x, w + static_cast<size_t>(c) * stride, d);
    }
    const double loss = softmax_cross_entropy(z.data(), z.size(), y, z.data());
    for (int c = 0; c < k; ++c) {
      const double r = z[static_cast<size_t>(c)];
      double* g = out + static_cast<size_t>(c) * stride;
      for (int j = 0; j < d; ++j)
        g[j] = r * x[j];
      g[d] = r;
    }
    out[width - 1] = loss;
  }
}

// The bodies of sample_factors and add_gradients (binary and least squares), each compiled
// twice: as written, and with AVX2 (dispatched at run time). The AVX2 copy runs the same IEEE
// operations in the same order (fixed_order_dot's four running sums become one vector's lanes; the
// products and sums per feature are independent lanes; no FMA, which would round differently), so
// both give the same bits and a model trains identically on every x86-64 CPU. 1.6e6 x 64 at 2
// ranks: see bench_train BM_FullBatchObjective and BM_TrainEpoch.
namespace {

struct FactorsArgs {
  LinearKind kind;
  double focal_gamma;
  int d;
  int outputs;
};

[[gnu::always_inline]] inline void sample_factors_body(const FactorsArgs& a,
                                                       const double* const* rows,
                                                       const double* labels, size_t n,
                                                       const double* w, double* out) {
  const int d = a.d;
  if (a.kind != LinearKind::kSoftmax) {
    for (size_t i = 0; i < n; ++i, out += 2) {
      if (i + kPrefetchRows < n) prefetch_row(rows[i + kPrefetchRows], d);
      const double z = LogisticRegression::margin(rows[i], w, d);
      out[1] = row_loss(a.kind, a.focal_gamma, z, labels[i], &out[0]);
    }
    return;
  }
  const auto k = static_cast<size_t>(a.outputs);
  const auto stride = static_cast<size_t>(d) + 1;
  for (size_t i = 0; i < n; ++i, out += k + 1) {
    if (i + kPrefetchRows < n) prefetch_row(rows[i + kPrefetchRows], d);
    for (size_t c = 0; c < k; ++c)
      out[c] = LogisticRegression::margin(rows[i], w + c * stride, d);
    out[k] = softmax_cross_entropy(out, k, static_cast<size_t>(labels[i]), out);
  }
}

template <typename Value>
[[gnu::always_inline]] inline void add_gradients_body(const FactorsArgs& a,
                                                      const Value* const* rows,
                                                      const double* labels, const double* weights,
                                                      size_t n, const double* w, double* acc) {
  const int d = a.d;
  for (size_t i = 0; i < n; ++i) {
    if (i + kPrefetchRows < n) prefetch_row(rows[i + kPrefetchRows], d);
    const Value* x = rows[i];
    const double y = labels[i];
    const double z = LogisticRegression::margin(x, w, d);
    double r;
    double loss = row_loss(a.kind, a.focal_gamma, z, y, &r);
    if (weights != nullptr) {
      r *= weights[i];
      loss *= weights[i];
    }
    for (int j = 0; j < d; ++j)
      acc[j] += r * static_cast<double>(x[j]);
    acc[d] += r;
    acc[d + 1] += loss;
  }
}

void sample_factors_default(const FactorsArgs& a, const double* const* rows, const double* labels,
                            size_t n, const double* w, double* out) {
  sample_factors_body(a, rows, labels, n, w, out);
}
template <typename Value>
void add_gradients_default(const FactorsArgs& a, const Value* const* rows, const double* labels,
                           const double* weights, size_t n, const double* w, double* acc) {
  add_gradients_body(a, rows, labels, weights, n, w, acc);
}

// The log loss's kernels work on blocks of rows: margins, then losses and factors, then (for
// add_gradients) the products with the features. 8 rows: on bench_train's 1.6e6 x 64 objective
// at 1 rank (2026-12-06), blocks of 8 gave 69-74 ms (float64) and 40-57 ms (float32) against
// 98-107 and 44-55 ms with blocks of 64, whose rows the third pass no longer found in L1.
constexpr size_t kLogisticBlock = 8;

// How many rows ahead the margins pass asks for: about 32 KiB, which took the float32 objective
// above from 55-60 ms (8 rows ahead, the row-by-row loops' distance) to 40-51 ms.
size_t prefetch_distance(int d, size_t value_size) {
  const size_t row_bytes = std::max<size_t>(1, static_cast<size_t>(d) * value_size);
  return std::max(kPrefetchRows, size_t{32768} / row_bytes);
}

// The portable twins of the AVX2 kernels below: the same margins, losses and sums in the same
// order, so the same bits. Blocks help here too: the losses of a block are independent of
// each other, where row by row each waited for the row's margin.
template <typename Value>
void logistic_margins_portable(const Value* const* rows, size_t begin, size_t m, size_t n,
                               size_t ahead, const double* w, int d, double* z) {
  for (size_t i = 0; i < m; ++i) {
    if (begin + i + ahead < n) prefetch_row(rows[begin + i + ahead], d);
    z[i] = LogisticRegression::margin(rows[begin + i], w, d);
  }
}

template <typename Value>
void add_logistic_gradients_portable(const Value* const* rows, const double* labels,
                                     const double* weights, size_t n, const double* w, int d,
                                     double* acc) {
  double z[kLogisticBlock];
  double r[kLogisticBlock];
  double loss[kLogisticBlock];
  const size_t ahead = prefetch_distance(d, sizeof(Value));
  for (size_t begin = 0; begin < n; begin += kLogisticBlock) {
    const size_t m = std::min(kLogisticBlock, n - begin);
    logistic_margins_portable(rows, begin, m, n, ahead, w, d, z);
    exact::logistic_losses_portable(z, labels + begin, m, r, loss);
    for (size_t i = 0; i < m; ++i) {
      if (weights != nullptr) {
        r[i] *= weights[begin + i];
        loss[i] *= weights[begin + i];
      }
      const Value* x = rows[begin + i];
      for (int j = 0; j < d; ++j)
        acc[j] += r[i] * static_cast<double>(x[j]);
      acc[d] += r[i];
      acc[d + 1] += loss[i];
    }
  }
}

#ifdef __x86_64__
// The log loss's add_gradients with AVX2, in three passes over blocks of rows: the margins of
// four rows at a time (four independent chains of additions, where one row alone is one chain
// the CPU waits on), the losses and factors four rows at a time (exact::logistic_losses_avx2),
// then the products with the features, 32 sums held in registers across the block's rows. Row
// by row, the exponential and logarithm were calls the CPU waited on. Each margin is
// fixed_order_dot's (its four running sums are a vector's lanes) and every sum takes its terms
// in row order, so the bits are those of the portable row-by-row loop.
#define SF_AVX2 __attribute__((target("avx2"), always_inline)) inline

template <typename Value>
SF_AVX2 __m256d load4(const Value* p) {
  if constexpr (std::is_same_v<Value, float>) {
    return _mm256_cvtps_pd(_mm_loadu_ps(p));
  } else {
    return _mm256_loadu_pd(p);
  }
}

template <typename Value>
SF_AVX2 void margins4(const Value* const* rows, const double* w, int d, double* out) {
  __m256d s[4] = {_mm256_setzero_pd(), _mm256_setzero_pd(), _mm256_setzero_pd(),
                  _mm256_setzero_pd()};
  int j = 0;
  for (; j + 4 <= d; j += 4) {
    const __m256d wv = _mm256_loadu_pd(w + j);
    for (int r = 0; r < 4; ++r)
      s[r] = _mm256_add_pd(s[r], _mm256_mul_pd(load4(rows[r] + j), wv));
  }
  for (int r = 0; r < 4; ++r) {
    alignas(32) double lanes[4];
    _mm256_store_pd(lanes, s[r]);
    for (int k = 0; j + k < d; ++k)
      lanes[k] += static_cast<double>(rows[r][j + k]) * w[j + k];
    out[r] = ((lanes[0] + lanes[1]) + (lanes[2] + lanes[3])) + w[d];
  }
}

template <typename Value>
SF_AVX2 void add_scaled_rows(const Value* const* rows, const double* f, size_t m, int d,
                             double* acc) {
  int j = 0;
  for (; j + 32 <= d; j += 32) {
    __m256d a[8];
    for (int k = 0; k < 8; ++k)
      a[k] = _mm256_loadu_pd(acc + j + 4 * k);
    for (size_t i = 0; i < m; ++i) {
      const __m256d fi = _mm256_set1_pd(f[i]);
      const Value* x = rows[i] + j;
      for (int k = 0; k < 8; ++k)
        a[k] = _mm256_add_pd(a[k], _mm256_mul_pd(fi, load4(x + 4 * k)));
    }
    for (int k = 0; k < 8; ++k)
      _mm256_storeu_pd(acc + j + 4 * k, a[k]);
  }
  for (; j + 4 <= d; j += 4) {
    __m256d a = _mm256_loadu_pd(acc + j);
    for (size_t i = 0; i < m; ++i)
      a = _mm256_add_pd(a, _mm256_mul_pd(_mm256_set1_pd(f[i]), load4(rows[i] + j)));
    _mm256_storeu_pd(acc + j, a);
  }
  for (; j < d; ++j) {
    double a = acc[j];
    for (size_t i = 0; i < m; ++i)
      a += f[i] * static_cast<double>(rows[i][j]);
    acc[j] = a;
  }
}

#undef SF_AVX2

// z[0..m) = the margins of rows [begin, begin + m) of rows[0..n), four at a time, asking for the
// row `ahead` rows on.
template <typename Value>
__attribute__((target("avx2"))) inline void logistic_margins_avx2(const Value* const* rows,
                                                                  size_t begin, size_t m, size_t n,
                                                                  size_t ahead, const double* w,
                                                                  int d, double* z) {
  size_t i = 0;
  for (; i + 4 <= m; i += 4) {
    for (size_t k = begin + i + ahead; k < std::min(n, begin + i + ahead + 4); ++k)
      prefetch_row(rows[k], d);
    margins4(rows + begin + i, w, d, z + i);
  }
  for (; i < m; ++i) {
    if (begin + i + ahead < n) prefetch_row(rows[begin + i + ahead], d);
    z[i] = LogisticRegression::margin(rows[begin + i], w, d);
  }
}

template <typename Value>
__attribute__((target("avx2"))) void add_logistic_gradients_avx2(const Value* const* rows,
                                                                 const double* labels,
                                                                 const double* weights, size_t n,
                                                                 const double* w, int d,
                                                                 double* acc) {
  alignas(32) double z[kLogisticBlock];
  alignas(32) double r[kLogisticBlock];
  alignas(32) double loss[kLogisticBlock];
  const size_t ahead = prefetch_distance(d, sizeof(Value));
  for (size_t begin = 0; begin < n; begin += kLogisticBlock) {
    const size_t m = std::min(kLogisticBlock, n - begin);
    const Value* const* block = rows + begin;
    logistic_margins_avx2(rows, begin, m, n, ahead, w, d, z);
    exact::logistic_losses_avx2(z, labels + begin, m, r, loss);
    if (weights != nullptr) {
      for (size_t i = 0; i < m; ++i) {
        r[i] *= weights[begin + i];
        loss[i] *= weights[begin + i];
      }
    }
    add_scaled_rows(block, r, m, d, acc);
    for (size_t i = 0; i < m; ++i) {
      acc[d] += r[i];
      acc[d + 1] += loss[i];
    }
  }
}

__attribute__((target("avx2"))) void sample_factors_avx2(const FactorsArgs& a,
                                                         const double* const* rows,
                                                         const double* labels, size_t n,
                                                         const double* w, double* out) {
  sample_factors_body(a, rows, labels, n, w, out);
}
template <typename Value>
__attribute__((target("avx2"))) void add_gradients_avx2(const FactorsArgs& a,
                                                        const Value* const* rows,
                                                        const double* labels, const double* weights,
                                                        size_t n, const double* w, double* acc) {
  add_gradients_body(a, rows, labels, weights, n, w, acc);
}
#endif

// sample_factors of the log loss: (sigmoid(z) - y, loss) per row, blockwise, with the AVX2
// kernels (called, not inlined: this function is compiled for any x86-64) or their portable
// twins.
template <bool kAvx2>
void logistic_factors(const double* const* rows, const double* labels, size_t n, const double* w,
                      int d, double* out) {
  alignas(32) double z[kLogisticBlock];
  alignas(32) double r[kLogisticBlock];
  alignas(32) double loss[kLogisticBlock];
  for (size_t begin = 0; begin < n; begin += kLogisticBlock) {
    const size_t m = std::min(kLogisticBlock, n - begin);
    // A mini-batch's rows are scattered: the row-by-row distance, not the streaming one.
#ifdef __x86_64__
    if constexpr (kAvx2) {
      logistic_margins_avx2(rows, begin, m, n, kPrefetchRows, w, d, z);
      exact::logistic_losses_avx2(z, labels + begin, m, r, loss);
    } else
#endif
    {
      logistic_margins_portable(rows, begin, m, n, kPrefetchRows, w, d, z);
      exact::logistic_losses_portable(z, labels + begin, m, r, loss);
    }
    for (size_t i = 0; i < m; ++i) {
      out[2 * (begin + i)] = r[i];
      out[2 * (begin + i) + 1] = loss[i];
    }
  }
}

}  // namespace

bool LinearModel::sample_factors(const double* const* rows, const double* labels, size_t n,
                                 const double* w, double* out) const {
  // The same expressions as sample_gradients, stopping before the products with the features.
  const FactorsArgs a{kind_, focal_gamma_, d_, outputs_};
  const bool log_loss = kind_ == LinearKind::kLogistic && focal_gamma_ == 0.0;
#ifdef __x86_64__
  if (simd::avx2()) {
    if (log_loss) {
      logistic_factors<true>(rows, labels, n, w, d_, out);
    } else {
      sample_factors_avx2(a, rows, labels, n, w, out);
    }
    return true;
  }
#endif
  if (log_loss) {
    logistic_factors<false>(rows, labels, n, w, d_, out);
  } else {
    sample_factors_default(a, rows, labels, n, w, out);
  }
  return true;
}

namespace {

// LinearModel::add_gradients(_f32) for least squares and logistic: the AVX2 copy where the CPU
// has it (the same bits), else the plain one.
template <typename Value>
void add_gradients_dispatch(const FactorsArgs& a, const Value* const* rows, const double* labels,
                            const double* weights, size_t n, const double* w, double* acc) {
#ifdef __x86_64__
  if (simd::avx2()) {
    if (a.kind == LinearKind::kLogistic && a.focal_gamma == 0.0) {
      add_logistic_gradients_avx2(rows, labels, weights, n, w, a.d, acc);
    } else {
      add_gradients_avx2(a, rows, labels, weights, n, w, acc);
    }
    return;
  }
#endif
  if (a.kind == LinearKind::kLogistic && a.focal_gamma == 0.0) {
    add_logistic_gradients_portable(rows, labels, weights, n, w, a.d, acc);
    return;
  }
  add_gradients_default(a, rows, labels, weights, n, w, acc);
}

}  // namespace

void LinearModel::add_gradients(const double* const* rows, const double* labels,
                                const double* weights, size_t n, const double* w,
                                double* acc) const {
  if (kind_ == LinearKind::kSoftmax) {
    Model::add_gradients(rows, labels, weights, n, w, acc);
    return;
  }
  add_gradients_dispatch(FactorsArgs{kind_, focal_gamma_, d_, outputs_}, rows, labels, weights, n,
                         w, acc);
}

void LinearModel::add_gradients_f32(const float* const* rows, const double* labels,
                                    const double* weights, size_t n, const double* w,
                                    double* acc) const {
  if (kind_ == LinearKind::kSoftmax) {
    Model::add_gradients_f32(rows, labels, weights, n, w, acc);
    return;
  }
  add_gradients_dispatch(FactorsArgs{kind_, focal_gamma_, d_, outputs_}, rows, labels, weights, n,
                         w, acc);
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
        for (size_t c = 0; c < k; ++c)
          p[c] = LogisticRegression::margin(x + i * dd, w + c * (dd + 1), d);
        softmax_in_place(p, k);
      }
      return;
    }
  }
}

}  // namespace shardflow::ml
