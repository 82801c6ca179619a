// metric: pr_auc — the area under the precision-recall curve as average precision
// (ml::average_precision, scikit-learn's average_precision_score); exact counts, no gather.
//
//   evaluate: {input: test, metrics: [pr_auc]}

#include "shardflow/ml/metric.hpp"
#include "shardflow/ml/metrics.hpp"

namespace shardflow::ml {

Metric pr_auc_metric() {
  return {"pr_auc",
          "area under the precision-recall curve (average precision)",
          true,
          {Task::kBinary},
          [](const mpi::Comm& comm, const Predictions& p) {
            return average_precision(comm, p.labels, p.outputs);
          }};
}

}  // namespace shardflow::ml
