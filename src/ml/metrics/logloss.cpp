// metric: logloss — the mean log loss (ml::log_loss), summed reproducibly.
//
//   evaluate: {input: test, metrics: [logloss]}

#include "shardflow/ml/metric.hpp"
#include "shardflow/ml/metrics.hpp"

namespace shardflow::ml {

Metric logloss_metric() {
  return {"logloss", "mean log loss, probabilities clipped to [1e-15, 1 - 1e-15]", false,
          &log_loss};
}

}  // namespace shardflow::ml
