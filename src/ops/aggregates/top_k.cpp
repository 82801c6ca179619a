// top_k(column, k): the k greatest non-null values of each group, one output row each, greatest
// first (fewer rows for a group with fewer values, none for a group without). The group's keys
// and other aggregates repeat on its rows (db-benchmark q8: "largest two v3 by id6"). Values are
// ordered as in min/max (floats: NaN greatest, 0.0 > -0.0). Holistic: every value of a group is
// brought to one rank; finalize selects the k greatest per group.

#include <algorithm>
#include <cmath>

#include "kernels.hpp"

namespace shardflow::ops::aggregates {

namespace {

using table::Column;
using table::DataType;

template <typename T>
class TopKState final : public HolisticState {
 public:
  TopKState(DataType type, idx_t k) : HolisticState("top_k"), type_(type), k_(k) {}

  void update(const Column* input, std::span<const std::int32_t> gid) override {
    const auto& v = input->values<T>();
    for_valid(gid.size(), input->validity(), [&](size_t i) { values_.push_back({gid[i], v[i]}); });
  }

  Column finalize(std::string*) const override {
    throw RuntimeError("top_k gives several rows per group: finalize_rows");
  }

  Column finalize_rows(std::vector<idx_t>& group_of_row, std::vector<Column>&) const override {
    const auto groups = static_cast<size_t>(groups_);
    std::vector<idx_t> start;
    std::vector<T> by_group;
    regroup(values_, groups, start, by_group);
    auto greater = [](T a, T b) { return less_than(b, a); };
    Column out(type_);
    auto& o = out.values<T>();
    group_of_row.clear();
    for (size_t g = 0; g < groups; ++g) {
      T* first = by_group.data() + start[g];
      T* last = by_group.data() + start[g + 1];
      const auto take = std::min<idx_t>(k_, static_cast<idx_t>(last - first));
      std::partial_sort(first, first + take, last, greater);
      for (idx_t i = 0; i < take; ++i) {
        o.push_back(first[i]);
        group_of_row.push_back(static_cast<idx_t>(g));
      }
    }
    return out;
  }

 private:
  struct Entry {
    std::int32_t group;
    T value;
  };
  DataType type_;
  idx_t k_;
  std::vector<Entry> values_;
};

}  // namespace

AggregateFunction top_k_function() {
  AggregateFunction f;
  f.name = "top_k";
  f.summary = "the k greatest values, one row each, greatest first (named form: top_k(v, 2))";
  f.holistic = true;
  f.expands_rows = true;
  f.args_help = "k, a whole number from 1 to 1000000: top_k(v, 2)";
  f.example_args = "2";
  f.check_args = [](const std::vector<double>& args) -> std::string {
    if (args.size() != 1) return "expected one argument after the column, the count k";
    if (!(args[0] >= 1 && args[0] <= 1e6) || std::floor(args[0]) != args[0])
      return "k must be a whole number from 1 to 1000000";
    return "";
  };
  f.output_type = [](DataType input, std::string_view column) {
    if (input == DataType::kString || input == DataType::kBool) {
      throw ConfigError(
          "cannot compute top_k of {} column '{}'; top_k needs a numeric or "
          "timestamp column",
          table::to_string(input), column);
    }
    return input;
  };
  f.make_state = [](const AggregateInput& input) -> std::unique_ptr<AggregateState> {
    const auto k = static_cast<idx_t>(input.args.at(0));
    switch (input.type) {
      case DataType::kInt32:
        return std::make_unique<TopKState<std::int32_t>>(input.type, k);
      case DataType::kFloat32:
        return std::make_unique<TopKState<float>>(input.type, k);
      case DataType::kFloat64:
        return std::make_unique<TopKState<double>>(input.type, k);
      default:  // int64, timestamp
        return std::make_unique<TopKState<std::int64_t>>(input.type, k);
    }
  };
  return f;
}

}  // namespace shardflow::ops::aggregates
