// var_pop(column): population variance (n in the denominator), exact then rounded once (float64).
// The state is var_samp's (var_samp.cpp).

#include "kernels.hpp"

namespace shardflow::ops::aggregates {

AggregateFunction var_pop_function() {
  AggregateFunction f;
  f.name = "var_pop";

  f.summary = "population variance (n in the denominator), exact then rounded once";
  f.output_type = [](table::DataType input, std::string_view column) {
    return variance_output_type("var_pop", input, column);
  };
  f.make_state = [](const AggregateInput&) { return make_variance_state(false, false); };
  return f;
}

}  // namespace shardflow::ops::aggregates
