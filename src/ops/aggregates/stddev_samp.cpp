// stddev_samp(column): sample standard deviation, the square root of var_samp; null below 2 values
// (float64). The state is var_samp's (var_samp.cpp).

#include "kernels.hpp"

namespace shardflow::ops::aggregates {

AggregateFunction stddev_samp_function() {
  AggregateFunction f;
  f.name = "stddev_samp";
  f.aliases = {"stddev"};
  f.summary = "sample standard deviation, the square root of var_samp; null below 2 values";
  f.output_type = [](table::DataType input, std::string_view column) {
    return variance_output_type("stddev_samp", input, column);
  };
  f.make_state = [](const AggregateInput&) { return make_variance_state(true, true); };
  return f;
}

}  // namespace shardflow::ops::aggregates
