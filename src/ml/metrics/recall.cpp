// metric: recall — TP / (TP + FN) at threshold 0.5 (ml::recall), from exact integer counts.
//
//   evaluate: {input: test, metrics: [recall]}

#include "shardflow/ml/metric.hpp"
#include "shardflow/ml/metrics.hpp"

namespace shardflow::ml {

Metric recall_metric() {
  return {"recall",
          "TP / (TP + FN) at threshold 0.5",
          true,
          {Task::kBinary},
          [](const mpi::Comm& comm, const Predictions& p) {
            return recall(comm, p.labels, p.outputs);
          }};
}

}  // namespace shardflow::ml
