#pragma once
// Job file -> typed Job (DESIGN.md "Job file"). Structural checks only (keys, types, ranges,
// required keys); everything that needs the inputs or the step graph is in job_validator.hpp.

#include <string>
#include <vector>

#include "shardflow/pipeline/job.hpp"

namespace shardflow::pipeline {

/// Local: loads the job file `path`, layering `profiles` (in order; later wins) UNDER the job (the
/// job file wins over every profile), then applies `overrides` last. Maps merge key by key at every
/// level; lists and scalars are replaced whole.
///
/// An override is "a.b.c=value": the key path is split on '.', a numeric segment indexes a list
/// ("steps.0.where=amount > 1"; index == length appends), missing map keys are created, and the
/// value is parsed as a YAML scalar or flow collection ("train.features.numeric=[x1, x2]").
///
/// Every problem throws ConfigError naming where it was written ("jobs/q.yaml:12:5: ..." or
/// "--set train.optimizer.lr: ..."), what is wrong and, for names, the closest valid one. Key
/// paths in messages use the --set form with 0-based list indexes ("steps.0.where"). Examples:
///   "q.yaml:12:5: unknown key 'epcohs' in train.optimizer; did you mean 'epochs'?"
///       (any nesting level; the valid keys are listed when no key is close)
///   "q.yaml:7:11: train.optimizer.lr must be a number, got 'fast'"
///   "q.yaml:7:11: train.optimizer.lr must be > 0, got -1"
///   "q.yaml:3:3: missing required key 'format' in inputs.events" (at the map missing the key)
///   "q.yaml:4:9: YAML syntax error: ..." (yaml-cpp's position)
///   "cannot read job file 'x.yaml': No such file or directory" ("cannot read profile ..." too)
///   "--set 'foo': expected KEY=VALUE, e.g. --set train.optimizer.lr=0.05"
/// and likewise for duplicate keys, unknown op / format / type / aggregate / transform names,
/// and evaluate without train.
/// The returned Job has every default filled in, `source_file = path` and `canonical_yaml` set.
Job load_job(const std::string& path, const std::vector<std::string>& profiles = {},
             const std::vector<std::string>& overrides = {});

/// Local: like load_job but from YAML text already in memory; `source_name` is used in locations.
Job load_job_from_string(const std::string& yaml, const std::string& source_name,
                         const std::vector<std::string>& profiles = {},
                         const std::vector<std::string>& overrides = {});

/// Local: a model spec from the YAML text of a model map (`{type: mlp, hidden: [32]}`; a model
/// file's model_spec attribute), parsed and checked as `train.model` is in a job file.
std::shared_ptr<const ModelSpec> load_model_spec(const std::string& yaml,
                                                 const std::string& source_name);

}  // namespace shardflow::pipeline
