// any(column) (alias bool_or) and the state under all: whether some (every) non-null value of a
// bool column is true; null for a group without non-null values (SQL bool_or / bool_and).
// State: [values that decide int64 (true values for any, false values for all), count int64].

#include "kernels.hpp"

namespace shardflow::ops::aggregates {

namespace {

using table::Column;
using table::DataType;

class BoolState final : public AggregateState {
 public:
  explicit BoolState(bool any) : any_(any) {}

  idx_t num_groups() const override { return static_cast<idx_t>(count_.size()); }
  void resize(idx_t groups) override {
    count_.resize(static_cast<size_t>(groups), 0);
    deciding_.resize(static_cast<size_t>(groups), 0);
  }
  void update(const Column* input, std::span<const std::int32_t> gid) override {
    const auto& v = input->values<std::uint8_t>();
    const std::uint8_t decides = any_ ? 1 : 0;
    auto* d = deciding_.data();
    for_valid(gid.size(), input->validity(),
              [&](size_t i) { d[gid[i]] += (v[i] != 0) == (decides != 0) ? 1 : 0; });
    update_counts(count_, input, gid);
  }
  std::vector<Column> state_columns(bool) const override {
    return {int64_column(deciding_), int64_column(count_)};
  }
  int num_state_columns(bool) const override { return 2; }
  void merge(std::span<const Column> partial, std::span<const std::int32_t> gid) override {
    merge_counts(deciding_, partial[0], gid);
    merge_counts(count_, partial.back(), gid);
  }
  Column finalize(std::string*) const override {
    Column out(DataType::kBool);
    auto& v = out.values<std::uint8_t>();
    v.resize(count_.size());
    for (size_t g = 0; g < v.size(); ++g)
      v[g] = any_ ? (deciding_[g] > 0 ? 1 : 0) : (deciding_[g] == 0 ? 1 : 0);
    set_validity_from_count(out, count_);
    return out;
  }

 private:
  bool any_;
  table::Buffer<std::int64_t> count_;
  table::Buffer<std::int64_t> deciding_;
};

}  // namespace

std::unique_ptr<AggregateState> make_bool_state(bool any) {
  return std::make_unique<BoolState>(any);
}

DataType bool_output_type(std::string_view function, DataType input, std::string_view column) {
  if (input != DataType::kBool) {
    throw ConfigError("cannot compute {} of {} column '{}'; {} needs a bool column", function,
                      table::to_string(input), column, function);
  }
  return DataType::kBool;
}

AggregateFunction any_function() {
  AggregateFunction f;
  f.name = "any";
  f.aliases = {"bool_or"};
  f.summary = "true if some value is true (bool columns); null without values";
  f.output_type = [](DataType input, std::string_view column) {
    return bool_output_type("any", input, column);
  };
  f.make_state = [](const AggregateInput&) { return make_bool_state(true); };
  return f;
}

}  // namespace shardflow::ops::aggregates
