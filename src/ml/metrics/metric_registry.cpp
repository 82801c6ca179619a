// The table of metrics. Adding a metric: write src/ml/metrics/<name>.cpp with a
// `Metric <name>_metric()` and add it to the two lists below (docs/architecture.md).

#include <algorithm>

#include "shardflow/ml/metric.hpp"

namespace shardflow::ml {

Metric auc_metric();
Metric logloss_metric();
Metric accuracy_metric();

const std::vector<Metric>& metrics() {
  static const std::vector<Metric> entries = {
      auc_metric(),
      logloss_metric(),
      accuracy_metric(),
  };
  return entries;
}

const Metric* find_metric(std::string_view name) {
  const auto& entries = metrics();
  auto it =
      std::find_if(entries.begin(), entries.end(), [&](const auto& m) { return m.name == name; });
  return it == entries.end() ? nullptr : &*it;
}

std::vector<std::string> metric_names() {
  std::vector<std::string> names;
  for (const auto& m : metrics())
    names.push_back(m.name);
  return names;
}

}  // namespace shardflow::ml
