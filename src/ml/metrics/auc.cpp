// metric: auc — the exact area under the ROC curve (ml::roc_auc); gathers every rank's scores.
//
//   evaluate: {input: test, metrics: [auc]}

#include "shardflow/ml/metric.hpp"
#include "shardflow/ml/metrics.hpp"

namespace shardflow::ml {

Metric auc_metric() {
  return {"auc",
          "area under the ROC curve (exact, ties count 1/2)",
          true,
          {Task::kBinary},
          [](const mpi::Comm& comm, const Predictions& p) {
            return roc_auc(comm, p.labels, p.outputs);
          }};
}

}  // namespace shardflow::ml
