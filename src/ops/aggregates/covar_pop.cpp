// covar_pop(x, y): population covariance of two columns (n in the denominator), exact then
// rounded once (float64). The state is covar_samp's (covar_samp.cpp).

#include "kernels.hpp"

namespace shardflow::ops::aggregates {

AggregateFunction covar_pop_function() {
  AggregateFunction f;
  f.name = "covar_pop";
  f.summary = "population covariance of two columns, exact then rounded once";
  f.two_columns = true;
  f.output_type = [](table::DataType input, std::string_view column) {
    return variance_output_type("covar_pop", input, column);
  };
  f.make_state = [](const AggregateInput&) { return make_comoment_state(1); };
  return f;
}

}  // namespace shardflow::ops::aggregates
