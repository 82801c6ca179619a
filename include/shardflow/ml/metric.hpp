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

#include "shardflow/ml/model.hpp"
#include "shardflow/mpi/comm.hpp"

namespace shardflow::ml {

/// One rank's rows of an evaluation set: labels and a model's predictions (ml/scoring.hpp).
struct Predictions {
  Task task = Task::kBinary;
  Eigen::VectorXd labels;  // binary: 0/1; multiclass: the class index; regression: the value
  /// num_outputs values per row, row-major: binary: P(label = 1); multiclass: the probability of
  /// each class; regression: the predicted value.
  Eigen::VectorXd outputs;
  int num_outputs = 1;
};

/// Binary predictions from labels (0/1) and probabilities of label 1.
Predictions binary_predictions(Eigen::VectorXd labels, Eigen::VectorXd probabilities);

/// One registry entry.
struct Metric {
  std::string name;         // as written in `evaluate.metrics`
  std::string summary;      // one line for the docs
  bool higher_is_better;    // what "better" means when models are compared (model registry)
  std::vector<Task> tasks;  // the tasks it is defined for
  /// Collective: the metric over a distributed evaluation set, each rank passing its rows
  /// (predictions.task is one of `tasks`). The result is identical on all ranks and independent
  /// of how rows are split. Errors are agreed on every rank (ml/metrics.hpp).
  double (*compute)(const mpi::Comm& comm, const Predictions& predictions);

  bool supports(Task task) const;
};

/// All metrics, in registry order.
const std::vector<Metric>& metrics();
/// The entry named `name`, or nullptr.
const Metric* find_metric(std::string_view name);
/// The metrics' names, in registry order.
std::vector<std::string> metric_names();
/// The names of the metrics defined for `task`, in registry order.
std::vector<std::string> metric_names(Task task);

}  // namespace shardflow::ml
