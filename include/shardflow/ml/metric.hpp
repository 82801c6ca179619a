#pragma once
// The metric registry (one entry per name `evaluate.metrics` accepts). Each metric lives in one
// file, src/ml/metrics/<name>.cpp, which gives its name, a one-line summary, its direction and its
// collective computation; src/ml/metrics/metric_registry.cpp lists them. The validator's
// known-metric check and did-you-mean, and the runner's evaluation, loop over the registry, so
// adding a metric is one new file and one line in that list (docs/architecture.md, "Adding a
// metric").

#include <Eigen/Core>
#include <string>
#include <string_view>
#include <vector>

#include "shardflow/mpi/comm.hpp"

namespace shardflow::ml {

/// One registry entry.
struct Metric {
  std::string name;       // as written in `evaluate.metrics`
  std::string summary;    // one line for the docs
  bool higher_is_better;  // what "better" means when models are compared (model registry)
  /// Collective: the metric over a distributed evaluation set; each rank passes its rows'
  /// labels (0/1) and predicted probabilities of label 1. The result is identical on all ranks
  /// and independent of how rows are split. Errors are agreed on every rank (ml/metrics.hpp).
  double (*compute)(const mpi::Comm& comm, const Eigen::VectorXd& labels,
                    const Eigen::VectorXd& probabilities);
};

/// All metrics, in registry order.
const std::vector<Metric>& metrics();
/// The entry named `name`, or nullptr.
const Metric* find_metric(std::string_view name);
/// The metrics' names, in registry order.
std::vector<std::string> metric_names();

}  // namespace shardflow::ml
