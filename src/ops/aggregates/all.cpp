// all(column) (alias bool_and): true if every non-null value of a bool column is true; null for
// a group without non-null values. The state is any's (any.cpp).

#include "kernels.hpp"

namespace shardflow::ops::aggregates {

AggregateFunction all_function() {
  AggregateFunction f;
  f.name = "all";
  f.aliases = {"bool_and"};
  f.summary = "true if every value is true (bool columns); null without values";
  f.output_type = [](table::DataType input, std::string_view column) {
    return bool_output_type("all", input, column);
  };
  f.make_state = [](const AggregateInput&) { return make_bool_state(false); };
  return f;
}

}  // namespace shardflow::ops::aggregates
