// metric: mae — mean absolute error of a regression, mean(|y - prediction|)
// (ml::mean_absolute_error), summed exactly.
//
//   evaluate: {input: test, metrics: [rmse, mae, r2]}

#include "shardflow/ml/metric.hpp"
#include "shardflow/ml/task_metrics.hpp"

namespace shardflow::ml {

Metric mae_metric() {
  return {"mae",
          "mean absolute error, mean(|y - prediction|)",
          false,
          {Task::kRegression},
          [](const mpi::Comm& comm, const Predictions& p) {
            return mean_absolute_error(comm, p.labels, p.outputs);
          }};
}

}  // namespace shardflow::ml
