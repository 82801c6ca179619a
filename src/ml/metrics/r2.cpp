// metric: r2 — coefficient of determination of a regression, 1 - SS_res / SS_tot (ml::r2_score,
// scikit-learn's r2_score); not computable when every label is equal.
//
//   evaluate: {input: test, metrics: [rmse, mae, r2]}

#include "shardflow/ml/metric.hpp"
#include "shardflow/ml/task_metrics.hpp"

namespace shardflow::ml {

Metric r2_metric() {
  return {"r2",
          "coefficient of determination, 1 - SS_res / SS_tot",
          true,
          {Task::kRegression},
          [](const mpi::Comm& comm, const Predictions& p) {
            return r2_score(comm, p.labels, p.outputs);
          }};
}

}  // namespace shardflow::ml
