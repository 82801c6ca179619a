// metric: recall — TP / (TP + FN) at threshold 0.5 (ml::recall), from exact integer counts.
//
//   evaluate: {input: test, metrics: [recall]}

#include "shardflow/ml/metric.hpp"
#include "shardflow/ml/metrics.hpp"

namespace shardflow::ml {

namespace {

// ml::recall's threshold is a parameter with a default; the registry's signature has none.
double recall_at_half(const mpi::Comm& comm, const Eigen::VectorXd& labels,
                      const Eigen::VectorXd& probabilities) {
  return recall(comm, labels, probabilities);
}

}  // namespace

Metric recall_metric() {
  return {"recall", "TP / (TP + FN) at threshold 0.5", true, &recall_at_half};
}

}  // namespace shardflow::ml
