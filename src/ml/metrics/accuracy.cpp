// metric: accuracy — the fraction of rows predicted right: binary, p >= 0.5 against the 0/1
// label (ml::accuracy); multiclass, the most probable class (ml::multiclass_accuracy). Exact
// counts.
//
//   evaluate: {input: test, metrics: [accuracy]}

#include "shardflow/ml/metric.hpp"
#include "shardflow/ml/metrics.hpp"
#include "shardflow/ml/task_metrics.hpp"

namespace shardflow::ml {

Metric accuracy_metric() {
  return {
      "accuracy",
      "fraction of rows predicted right (binary: p >= 0.5; multiclass: the most probable class)",
      true,
      {Task::kBinary, Task::kMulticlass},
      [](const mpi::Comm& comm, const Predictions& p) {
        return p.task == Task::kMulticlass
                   ? multiclass_accuracy(comm, p.labels, p.outputs, p.num_outputs)
                   : accuracy(comm, p.labels, p.outputs);
      }};
}

}  // namespace shardflow::ml
