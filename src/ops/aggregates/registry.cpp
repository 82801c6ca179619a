// The aggregate functions, in the order the docs list them. Adding a function: one file in this
// directory defining its state and its entry, and one line here (and in kernels.hpp).

#include "kernels.hpp"

namespace shardflow::ops {

const std::vector<AggregateFunction>& aggregate_functions() {
  static const std::vector<AggregateFunction> functions = {
      aggregates::count_function(),      aggregates::sum_function(),
      aggregates::mean_function(),       aggregates::min_function(),
      aggregates::max_function(),        aggregates::var_samp_function(),
      aggregates::var_pop_function(),    aggregates::stddev_samp_function(),
      aggregates::stddev_pop_function(), aggregates::any_function(),
      aggregates::all_function(),        aggregates::count_distinct_function(),
      aggregates::median_function(),     aggregates::quantile_function(),
      aggregates::covar_samp_function(), aggregates::covar_pop_function(),
      aggregates::corr_function(),       aggregates::top_k_function(),
      aggregates::first_function(),      aggregates::last_function(),
      aggregates::histogram_function(),
  };
  return functions;
}

}  // namespace shardflow::ops
