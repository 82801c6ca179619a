#pragma once
// Checks a loaded Job against its inputs and its own step graph before any heavy work, so that a
// typo is reported in a second with `file:line:column` rather than after an hour of ingest.

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "shardflow/pipeline/job.hpp"
#include "shardflow/pipeline/table_shape.hpp"
#include "shardflow/table/schema.hpp"

namespace shardflow::pipeline {

/// Local: checks everything that can be checked without running, in this order, and throws the
/// first problem with the location of the offending value:
///   1. the table graph (ConfigError): every step reads a table that an input or an earlier step
///      produces ("q.yaml:9:29: step 2 (group_by) reads table 'clen' which no input or earlier step
///      produces; did you mean 'clean'?"), no step output reuses a name, every output / train /
///      evaluate table exists, output paths are distinct, metric names are in the metric registry
///      (ml/metric.hpp);
///   2. inputs (InputError, exit 3): csv paths and globs match files, a csv header holds every
///      column of an explicit schema, hdf5 files exist and hold a complete table of that name
///      ("q.yaml:5:3: input 'events': no file matches 'data/*.csv'");
///   3. schemas propagate through the steps (ConfigError): each step's StepSpec::bind (filter
///      conditions parse and are boolean, group-by keys and aggregated columns exist and can be
///      aggregated, ...), then train label and features exist in the train and evaluate tables
///      and are numeric. Messages carry the step's location and "step N (op): ".
/// Input shapes come from each input's InputSpec::bind (the explicit schema or the header line
/// for csv, the file for hdf5, the generator's schema). Returns every table's shape.
std::vector<TableShape> validate_job_tables(const Job& job);

/// Local: validate_job_tables as a map name -> schema (unknown types given as string).
std::map<std::string, table::Schema> validate_job(const Job& job);

}  // namespace shardflow::pipeline
