// metric: accuracy — the fraction of rows whose prediction (p >= 0.5) equals the label
// (ml::accuracy), from exact integer counts.
//
//   evaluate: {input: test, metrics: [accuracy]}

#include "shardflow/ml/metric.hpp"
#include "shardflow/ml/metrics.hpp"

namespace shardflow::ml {

namespace {

// ml::accuracy's threshold is a parameter with a default; the registry's signature has none.
double accuracy_at_half(const mpi::Comm& comm, const Eigen::VectorXd& labels,
                        const Eigen::VectorXd& probabilities) {
  return accuracy(comm, labels, probabilities);
}

}  // namespace

Metric accuracy_metric() {
  return {"accuracy", "fraction of rows predicted right at threshold 0.5", true, &accuracy_at_half};
}

}  // namespace shardflow::ml
