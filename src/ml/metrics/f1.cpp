// metric: f1 — 2 TP / (2 TP + FP + FN) at threshold 0.5 (ml::f1), from exact integer counts.
//
//   evaluate: {input: test, metrics: [f1]}

#include "shardflow/ml/metric.hpp"
#include "shardflow/ml/metrics.hpp"

namespace shardflow::ml {

Metric f1_metric() {
  return {
      "f1",
      "2 TP / (2 TP + FP + FN) at threshold 0.5",
      true,
      {Task::kBinary},
      [](const mpi::Comm& comm, const Predictions& p) { return f1(comm, p.labels, p.outputs); }};
}

}  // namespace shardflow::ml
