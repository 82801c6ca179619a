// mean(column) (alias avg): the correctly rounded quotient of the exact sum by the count
// (float64); the state is sum's (sum.cpp).

#include "kernels.hpp"

namespace shardflow::ops::aggregates {

AggregateFunction mean_function() {
  AggregateFunction f;
  f.name = "mean";
  f.aliases = {"avg"};
  f.summary = "arithmetic mean, the exact sum divided by the count and rounded once (float64)";
  f.output_type = [](table::DataType input, std::string_view column) {
    numeric_input("mean", input, column);
    return table::DataType::kFloat64;
  };
  f.make_state = [](const AggregateInput& input) { return make_sum_state(input, true); };
  return f;
}

}  // namespace shardflow::ops::aggregates
