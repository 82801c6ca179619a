// corr(x, y): Pearson correlation of two columns from exact co-moments (float64, within a few ulps
// of the exact value, the same bits at every rank count); NaN when a column is constant in the
// group, null below 2 pairs. The state is covar_samp's (covar_samp.cpp).

#include "kernels.hpp"

namespace shardflow::ops::aggregates {

AggregateFunction corr_function() {
  AggregateFunction f;
  f.name = "corr";
  f.summary = "Pearson correlation of two columns; NaN for a constant column, null below 2 pairs";
  f.two_columns = true;
  f.output_type = [](table::DataType input, std::string_view column) {
    return variance_output_type("corr", input, column);
  };
  f.make_state = [](const AggregateInput&) { return make_comoment_state(2); };
  return f;
}

}  // namespace shardflow::ops::aggregates
