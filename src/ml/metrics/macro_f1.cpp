// metric: macro_f1 — the mean over classes of each class's F1 (ml::macro_f1; scikit-learn's
// f1_score with average='macro'), the predicted class being the most probable one.
//
//   evaluate: {input: test, metrics: [accuracy, macro_f1]}

#include "shardflow/ml/metric.hpp"
#include "shardflow/ml/task_metrics.hpp"

namespace shardflow::ml {

Metric macro_f1_metric() {
  return {"macro_f1",
          "mean over classes of 2 TP / (2 TP + FP + FN), most probable class",
          true,
          {Task::kMulticlass},
          [](const mpi::Comm& comm, const Predictions& p) {
            return macro_f1(comm, p.labels, p.outputs, p.num_outputs);
          }};
}

}  // namespace shardflow::ml
