#pragma once
// The model registry in MLflow's file-store layout, under the tracking store:
//
//   <store>/models/<name>/meta.yaml                    the registered model
//   <store>/models/<name>/version-<n>/meta.yaml        version n: run_id, source (the run's
//                                                      model.h5 artifact), status READY
//   <store>/models/<name>/version-<n>/tags/<key>       shardflow.metric.<metric>: its value;
//                                                      shardflow.decision: the alias decision
//   <store>/models/<name>/aliases/<alias>              the version number the alias points to
//
// "Deploy if better": every registration adds a version, and the alias (default "champion")
// moves to it only if its metric beats the alias's current version's (strictly: higher for mode
// max, lower for min), or when there is none yet. A metric that is not a number (not computable
// on the evaluation data) never takes the alias. Registrations hold the store's lock, so
// concurrent jobs get distinct versions and one alias decision at a time.
//
// Local: rank 0 writes; nothing here is collective.

#include <filesystem>
#include <optional>
#include <string>

#include "shardflow/track/mlflow_store.hpp"

namespace shardflow::track {

/// What a registration did.
struct RegistryDecision {
  int version = 0;                       // the new version
  double value = 0;                      // its metric
  std::optional<int> previous_version;   // the alias's version before, if any
  std::optional<double> previous_value;  // and its metric
  bool promoted = false;                 // the alias now points to `version`
  std::string message;                   // one line saying why, with both values
};

/// Registers `run`'s model (`source`, a file) as a new version of model `name` and decides the
/// alias. `mode_max`: higher metric values are better. Throws RuntimeError naming the path when
/// the registry cannot be written.
RegistryDecision register_model(const MlflowStore& store, const RunInfo& run,
                                const std::filesystem::path& source, const std::string& name,
                                const std::string& metric, bool mode_max, double value,
                                const std::string& alias);

/// The model file that `reference` names: "registry:<name>@<alias>" (e.g. registry:churn@champion)
/// or "registry:<name>/<version>", in the registry of `store_root`. Throws ConfigError naming
/// what is missing (no such model, alias or version) and what exists.
std::filesystem::path resolve_registry_model(const std::filesystem::path& store_root,
                                             const std::string& reference);

}  // namespace shardflow::track
