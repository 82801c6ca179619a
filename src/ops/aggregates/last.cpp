// last(value, order): the value at the greatest order among rows where neither is null; ties on
// the order: the greatest value. The state is first's (first.cpp).

#include "kernels.hpp"

namespace shardflow::ops::aggregates {

AggregateFunction last_function() {
  AggregateFunction f;
  f.name = "last";
  f.summary = "the value at the greatest order (last(v, ts)); ties: the greatest value";
  f.two_columns = true;
  f.check_second = check_order_column;
  f.output_type = [](table::DataType input, std::string_view) { return input; };
  f.make_state = [](const AggregateInput& input) { return make_first_last_state(input, false); };
  return f;
}

}  // namespace shardflow::ops::aggregates
