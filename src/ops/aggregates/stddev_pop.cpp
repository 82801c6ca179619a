// stddev_pop(column): population standard deviation, the square root of var_pop (float64). The
// state is var_samp's (var_samp.cpp).

#include "kernels.hpp"

namespace shardflow::ops::aggregates {

AggregateFunction stddev_pop_function() {
  AggregateFunction f;
  f.name = "stddev_pop";

  f.summary = "population standard deviation, the square root of var_pop";
  f.output_type = [](table::DataType input, std::string_view column) {
    return variance_output_type("stddev_pop", input, column);
  };
  f.make_state = [](const AggregateInput&) { return make_variance_state(false, true); };
  return f;
}

}  // namespace shardflow::ops::aggregates
