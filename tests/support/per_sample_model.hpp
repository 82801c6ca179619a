#pragma once
// A linear model seen only through its per-sample path, for the tests and bench_train that compare
// the trainer's paths (header-only: the benchmarks include it without linking the test support).

#include <cstdint>
#include <string_view>
#include <vector>

#include "shardflow/ml/linear_models.hpp"

namespace shardflow::testing_util {

/// Forwards everything to `m` except Model::sample_factors and Model::add_gradients, which keep
/// their defaults: train_sgd then stores every per-sample gradient and sums those, and lbfgs adds
/// them through the default loop. `m` must outlive this view.
class PerSampleModel final : public ml::Model {
 public:
  explicit PerSampleModel(const ml::LinearModel& m) : m_(m) {}
  std::string_view type() const override { return m_.type(); }
  ml::Task task() const override { return m_.task(); }
  int num_features() const override { return m_.num_features(); }
  int num_outputs() const override { return m_.num_outputs(); }
  Eigen::Index num_parameters() const override { return m_.num_parameters(); }
  ml::LabelEncoding label_encoding() const override { return m_.label_encoding(); }
  std::uint64_t settings_hash() const override { return m_.settings_hash(); }
  std::vector<std::uint8_t> penalized() const override { return m_.penalized(); }
  double l2() const override { return m_.l2(); }
  void sample_gradients(const double* const* rows, const double* labels, size_t n, const double* w,
                        double* out) const override {
    m_.sample_gradients(rows, labels, n, w, out);
  }
  void predict(const double* x, size_t n, const double* w, double* out) const override {
    m_.predict(x, n, w, out);
  }

 private:
  const ml::LinearModel& m_;
};

}  // namespace shardflow::testing_util
