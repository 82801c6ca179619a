#pragma once
// Schemas of the synthetic data sets that `shardflow gen` and `format: generate` inputs produce.
// The validator uses them to check a job against a generated input without generating it.

#include <string>
#include <string_view>
#include <vector>

#include "shardflow/table/schema.hpp"

namespace shardflow::io {

/// Local: the schema of synthetic data set `kind`:
///   groupby:        id1 string, id2 string, id3 string, id4 int64, id5 int64, id6 int64,
///                   v1 int64, v2 int64, v3 float64   (the db-benchmark group-by table)
///   classification: id int64, segment string, x1 float64, x2 float64, x3 float64, x4 float64,
///                   amount float64, label int64
///   events:         event_id int64, user_id int64, ts timestamp, f1 float64, f2 float64,
///                   f3 float64
///   labels:         label_id int64, user_id int64, label_ts timestamp, label int64
/// Throws ConfigError "unknown synthetic data kind 'x'; did you mean 'y'? (kinds: ...)" otherwise.
table::Schema synthetic_schema(std::string_view kind);

/// Local: the kinds synthetic_schema knows, sorted.
std::vector<std::string> synthetic_kind_names();

}  // namespace shardflow::io
