#include "shardflow/io/synthetic_schema.hpp"

#include <fmt/format.h>

#include "shardflow/common/error.hpp"
#include "shardflow/common/suggest.hpp"

namespace shardflow::io {

using table::DataType;
using table::Schema;

table::Schema synthetic_schema(std::string_view kind) {
  if (kind == "groupby") {
    return Schema({{"id1", DataType::kString},
                   {"id2", DataType::kString},
                   {"id3", DataType::kString},
                   {"id4", DataType::kInt64},
                   {"id5", DataType::kInt64},
                   {"id6", DataType::kInt64},
                   {"v1", DataType::kInt64},
                   {"v2", DataType::kInt64},
                   {"v3", DataType::kFloat64}});
  }
  if (kind == "classification") {
    return Schema({{"id", DataType::kInt64},
                   {"segment", DataType::kString},
                   {"x1", DataType::kFloat64},
                   {"x2", DataType::kFloat64},
                   {"x3", DataType::kFloat64},
                   {"x4", DataType::kFloat64},
                   {"amount", DataType::kFloat64},
                   {"label", DataType::kInt64}});
  }
  if (kind == "events") {
    return Schema({{"event_id", DataType::kInt64},
                   {"user_id", DataType::kInt64},
                   {"ts", DataType::kTimestamp},
                   {"f1", DataType::kFloat64},
                   {"f2", DataType::kFloat64},
                   {"f3", DataType::kFloat64}});
  }
  if (kind == "labels") {
    return Schema({{"label_id", DataType::kInt64},
                   {"user_id", DataType::kInt64},
                   {"label_ts", DataType::kTimestamp},
                   {"label", DataType::kInt64}});
  }
  const auto kinds = synthetic_kind_names();
  throw ConfigError("unknown synthetic data kind '{}'{} (kinds: {})", kind,
                    did_you_mean(kind, kinds), fmt::join(kinds, ", "));
}

std::vector<std::string> synthetic_kind_names() {
  return {"classification", "events", "groupby", "labels"};
}

}  // namespace shardflow::io
