// metric: logloss — the mean log loss of the true class (ml::log_loss, ml::multiclass_log_loss),
// summed reproducibly.
//
//   evaluate: {input: test, metrics: [logloss]}

#include "shardflow/ml/metric.hpp"
#include "shardflow/ml/metrics.hpp"
#include "shardflow/ml/task_metrics.hpp"

namespace shardflow::ml {

Metric logloss_metric() {
  return {"logloss",
          "mean log loss of the true class, probabilities clipped to [1e-15, 1 - 1e-15]",
          false,
          {Task::kBinary, Task::kMulticlass},
          [](const mpi::Comm& comm, const Predictions& p) {
            return p.task == Task::kMulticlass
                       ? multiclass_log_loss(comm, p.labels, p.outputs, p.num_outputs)
                       : log_loss(comm, p.labels, p.outputs);
          }};
}

}  // namespace shardflow::ml
