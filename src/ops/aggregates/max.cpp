// max(column): the greatest non-null value of each group; the state is min's (min.cpp).

#include "kernels.hpp"

namespace shardflow::ops::aggregates {

AggregateFunction max_function() {
  AggregateFunction f;
  f.name = "max";
  f.summary = "greatest value (any type; floats: NaN greatest, 0.0 > -0.0; strings by value)";
  f.output_type = [](table::DataType input, std::string_view) { return input; };
  f.make_state = [](const AggregateInput& input) { return make_extreme_state(input, false); };
  return f;
}

}  // namespace shardflow::ops::aggregates
