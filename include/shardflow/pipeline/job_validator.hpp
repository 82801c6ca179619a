#pragma once
// Checks a loaded Job against its inputs and its own step graph before any heavy work, so that a
// typo is reported in a second with `file:line:column` rather than after an hour of ingest.

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "shardflow/pipeline/job.hpp"
#include "shardflow/table/schema.hpp"

namespace shardflow::pipeline {

/// A column as far as validation can tell without reading data: `type` is nullopt for columns of a
/// CSV input without `schema:` (the reader infers their types from the data) and for aggregates
/// whose type follows such a column (sum, min, max).
struct ColumnShape {
  std::string name;
  std::optional<table::DataType> type;
  bool operator==(const ColumnShape&) const = default;
};

/// One table of the job: an input or a step's output, in the order the job produces them.
struct TableShape {
  std::string name;
  std::string produced_by;  // "input 'events' (csv)", "step 2 (group_by)"
  std::vector<ColumnShape> columns;
  /// The columns as a Schema, with every unknown type given as string.
  table::Schema schema() const;
  /// "a:int64, b:?" (unknown types as '?').
  std::string to_string() const;
};

/// Local: checks everything that can be checked without running, in this order, and throws the
/// first problem with the location of the offending value:
///   1. the table graph (ConfigError): every step reads a table that an input or an earlier step
///      produces ("q.yaml:9:29: step 2 (group_by) reads table 'clen' which no input or earlier step
///      produces; did you mean 'clean'?"), no step output reuses a name, every output / train /
///      evaluate table exists, output paths are distinct, metric names are known (auc, logloss,
///      accuracy);
///   2. inputs (InputError, exit 3): csv paths and globs match files, a csv header holds every
///      column of an explicit schema, hdf5 files exist and hold a complete table of that name
///      ("q.yaml:5:3: input 'events': no file matches 'data/*.csv'");
///   3. schemas propagate through the steps (ConfigError): filter conditions parse and are boolean,
///      group-by keys and aggregated columns exist and can be aggregated, train label and features
///      exist in the train and evaluate tables and are numeric. Errors of ops functions are
///      re-thrown with the step's location and "step N (op): " prefixed.
/// Input schemas come from the explicit schema or the header line (csv; types unknown), the file
/// (hdf5, io::list_tables) or io::synthetic_schema (generate). Returns every table's shape.
std::vector<TableShape> validate_job_tables(const Job& job);

/// Local: validate_job_tables as a map name -> schema (unknown types given as string).
std::map<std::string, table::Schema> validate_job(const Job& job);

/// The metric names `evaluate.metrics` accepts.
const std::vector<std::string>& known_metric_names();

}  // namespace shardflow::pipeline
