// The table of metrics. Adding a metric: write src/ml/metrics/<name>.cpp with a
// `Metric <name>_metric()` and add it to the two lists below (docs/architecture.md).

#include <algorithm>

#include "shardflow/common/registry.hpp"
#include "shardflow/ml/metric.hpp"

namespace shardflow::ml {

Metric auc_metric();
Metric logloss_metric();
Metric accuracy_metric();
Metric pr_auc_metric();
Metric precision_metric();
Metric recall_metric();
Metric f1_metric();
Metric macro_f1_metric();
Metric rmse_metric();
Metric mae_metric();
Metric r2_metric();

const std::vector<Metric>& metrics() {
  static const std::vector<Metric> entries = {
      auc_metric(),       logloss_metric(), accuracy_metric(), pr_auc_metric(),
      precision_metric(), recall_metric(),  f1_metric(),       macro_f1_metric(),
      rmse_metric(),      mae_metric(),     r2_metric(),
  };
  return entries;
}

const Metric* find_metric(std::string_view name) {
  return find_entry(metrics(), name, &Metric::name);
}

std::vector<std::string> metric_names() {
  return entry_names(metrics(), &Metric::name);
}

std::vector<std::string> metric_names(Task task) {
  std::vector<std::string> names;
  for (const Metric& m : metrics())
    if (m.supports(task)) names.push_back(m.name);
  return names;
}

bool Metric::supports(Task task) const {
  return std::find(tasks.begin(), tasks.end(), task) != tasks.end();
}

Predictions binary_predictions(Eigen::VectorXd labels, Eigen::VectorXd probabilities) {
  Predictions p;
  p.task = Task::kBinary;
  p.labels = std::move(labels);
  p.outputs = std::move(probabilities);
  return p;
}

}  // namespace shardflow::ml
