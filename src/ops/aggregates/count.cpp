// count(column): the number of non-null values of each group; count(*): its number of rows.
// State: [count int64].

#include "kernels.hpp"

namespace shardflow::ops::aggregates {

namespace {

using table::Column;
using table::DataType;

class CountState final : public AggregateState {
 public:
  idx_t num_groups() const override { return static_cast<idx_t>(count_.size()); }
  void resize(idx_t groups) override { count_.resize(static_cast<size_t>(groups), 0); }
  void update(const Column* input, std::span<const std::int32_t> gid) override {
    update_counts(count_, input, gid);
  }
  bool updates_row_ranges() const override { return true; }
  void update_rows(const Column* input, idx_t first, std::span<const std::int32_t> gid) override {
    update_counts(count_, input, gid, first);
  }
  std::vector<Column> state_columns(bool) const override { return {int64_column(count_)}; }
  int num_state_columns(bool) const override { return 1; }
  void merge(std::span<const Column> partial, std::span<const std::int32_t> gid) override {
    merge_counts(count_, partial.back(), gid);
  }
  Column finalize(std::string*) const override { return int64_column(count_); }

 private:
  table::Buffer<std::int64_t> count_;
};

}  // namespace

AggregateFunction count_function() {
  AggregateFunction f;
  f.name = "count";
  f.summary = "number of non-null values (count(*): number of rows); 0 for an empty group";
  f.allows_no_column = true;
  f.output_type = [](DataType, std::string_view) { return DataType::kInt64; };
  f.make_state = [](const AggregateInput&) -> std::unique_ptr<AggregateState> {
    return std::make_unique<CountState>();
  };
  return f;
}

}  // namespace shardflow::ops::aggregates
