// metric: precision — TP / (TP + FP) at threshold 0.5 (ml::precision), from exact integer counts.
//
//   evaluate: {input: test, metrics: [precision]}

#include "shardflow/ml/metric.hpp"
#include "shardflow/ml/metrics.hpp"

namespace shardflow::ml {

Metric precision_metric() {
  return {"precision",
          "TP / (TP + FP) at threshold 0.5",
          true,
          {Task::kBinary},
          [](const mpi::Comm& comm, const Predictions& p) {
            return precision(comm, p.labels, p.outputs);
          }};
}

}  // namespace shardflow::ml
