// quantile(column, q) (alias quantile_cont): the exact continuous quantile q in [0, 1], linear
// interpolation between the order statistics around q * (n - 1) (as DuckDB's quantile_cont and
// numpy's default), float64. The state is median's (median.cpp).

#include <cmath>

#include "kernels.hpp"

namespace shardflow::ops::aggregates {

AggregateFunction quantile_function() {
  AggregateFunction f;
  f.name = "quantile";
  f.aliases = {"quantile_cont"};
  f.summary = "exact quantile q (linear interpolation, as quantile_cont), float64";
  f.holistic = true;
  f.args_help = "q, a number in [0, 1]: quantile(v, 0.9)";
  f.check_args = [](const std::vector<double>& args) -> std::string {
    if (args.size() != 1) return "expected one argument after the column, the quantile q";
    if (!(args[0] >= 0 && args[0] <= 1)) return "q must be in [0, 1]";
    return "";
  };
  f.output_type = [](table::DataType input, std::string_view column) {
    return quantile_output_type("quantile", input, column);
  };
  f.make_state = [](const AggregateInput& input) {
    return make_quantile_state(input, input.args.at(0));
  };
  return f;
}

}  // namespace shardflow::ops::aggregates
