// metric: precision — TP / (TP + FP) at threshold 0.5 (ml::precision), from exact integer counts.
//
//   evaluate: {input: test, metrics: [precision]}

#include "shardflow/ml/metric.hpp"
#include "shardflow/ml/metrics.hpp"

namespace shardflow::ml {

namespace {

// ml::precision's threshold is a parameter with a default; the registry's signature has none.
double precision_at_half(const mpi::Comm& comm, const Eigen::VectorXd& labels,
                         const Eigen::VectorXd& probabilities) {
  return precision(comm, labels, probabilities);
}

}  // namespace

Metric precision_metric() {
  return {"precision", "TP / (TP + FP) at threshold 0.5", true, &precision_at_half};
}

}  // namespace shardflow::ml
