#include "kernels.hpp"

namespace shardflow::ops::aggregates {

using table::Column;
using table::DataType;

Column int64_column(table::Buffer<std::int64_t> v) {
  Column c(DataType::kInt64);
  c.values<std::int64_t>() = std::move(v);
  return c;
}

Column float64_column(table::Buffer<double> v) {
  Column c(DataType::kFloat64);
  c.values<double>() = std::move(v);
  return c;
}

ValueSlots::ValueSlots(const AggregateInput& input)
    : plain_(input.plain_strings), column_(input.type) {
  if (input.type == DataType::kString) {
    if (plain_)
      column_ = Column::plain_strings();
    else
      column_.set_dictionary(input.dictionary);
  }
}

void ValueSlots::resize(size_t groups) {
  if (plain_) {
    strings_.resize(groups);
    return;
  }
  column_.visit([&](auto& v) {
    if constexpr (kIsValues<std::decay_t<decltype(v)>>) v.resize(groups, {});
  });
}

Column ValueSlots::to_column() const {
  if (!plain_) return column_;
  Column c = Column::plain_strings();
  for (const auto& s : strings_)
    c.plain().push_back(s);
  return c;
}

void set_validity_from_count(Column& c, const table::Buffer<std::int64_t>& count) {
  bool any_null = false;
  for (auto n : count)
    any_null |= (n == 0);
  if (!any_null) return;
  auto& valid = c.validity();
  valid.resize(count.size());
  for (size_t g = 0; g < count.size(); ++g)
    valid[g] = count[g] > 0 ? 1 : 0;
}

void merge_counts(table::Buffer<std::int64_t>& count, const Column& partial_count,
                  std::span<const std::int32_t> gid) {
  const auto& pc = partial_count.values<std::int64_t>();
  auto* cnt = count.data();
  for (size_t i = 0; i < gid.size(); ++i)
    cnt[gid[i]] += pc[i];
}

void update_counts(table::Buffer<std::int64_t>& count, const Column* input,
                   std::span<const std::int32_t> gid, idx_t first) {
  const size_t n = gid.size();
  auto* cnt = count.data();
  if (input == nullptr || input->validity().empty()) {
    for (size_t i = 0; i < n; ++i)
      ++cnt[gid[i]];
    return;
  }
  const std::uint8_t* valid = input->validity().data() + first;
  for (size_t i = 0; i < n; ++i)
    cnt[gid[i]] += valid[i];
}

DataType numeric_input(std::string_view function, DataType input, std::string_view column) {
  if (input == DataType::kString) {
    throw ConfigError(
        "cannot compute {} of string column '{}'; {} needs a numeric column (use count, min or "
        "max for strings)",
        function, column, function);
  }
  return input;
}

}  // namespace shardflow::ops::aggregates
