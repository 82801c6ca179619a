// metric: f1 — 2 TP / (2 TP + FP + FN) at threshold 0.5 (ml::f1), from exact integer counts.
//
//   evaluate: {input: test, metrics: [f1]}

#include "shardflow/ml/metric.hpp"
#include "shardflow/ml/metrics.hpp"

namespace shardflow::ml {

namespace {

// ml::f1's threshold is a parameter with a default; the registry's signature has none.
double f1_at_half(const mpi::Comm& comm, const Eigen::VectorXd& labels,
                  const Eigen::VectorXd& probabilities) {
  return f1(comm, labels, probabilities);
}

}  // namespace

Metric f1_metric() {
  return {"f1", "2 TP / (2 TP + FP + FN) at threshold 0.5", true, &f1_at_half};
}

}  // namespace shardflow::ml
