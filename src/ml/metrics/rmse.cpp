// metric: rmse — root-mean-square error of a regression, sqrt(mean((y - prediction)^2))
// (ml::root_mean_squared_error), summed exactly.
//
//   evaluate: {input: test, metrics: [rmse, mae, r2]}

#include "shardflow/ml/metric.hpp"
#include "shardflow/ml/task_metrics.hpp"

namespace shardflow::ml {

Metric rmse_metric() {
  return {"rmse",
          "root-mean-square error, sqrt(mean((y - prediction)^2))",
          false,
          {Task::kRegression},
          [](const mpi::Comm& comm, const Predictions& p) {
            return root_mean_squared_error(comm, p.labels, p.outputs);
          }};
}

}  // namespace shardflow::ml
