// count_distinct(column): the number of distinct non-null values of each group, exactly; 0 for a
// group without values. Values compare as in group-by keys: floats with -0.0 == 0.0 and all NaNs
// one value, strings by value (dictionary codes, equal on all ranks, stand for their strings).
// Holistic: the group-by brings every value of a group to one rank and the state keeps them;
// finalize sorts each group's values and counts the runs.

#include <algorithm>
#include <cstring>

#include "kernels.hpp"

namespace shardflow::ops::aggregates {

namespace {

using table::Column;
using table::DataType;

// The 64 bits a value is compared by.
template <typename T>
std::uint64_t value_bits(T v) {
  if constexpr (std::is_floating_point_v<T>) {
    double d = static_cast<double>(v);
    if (d == 0.0) d = 0.0;                 // -0.0 == 0.0
    if (d != d) return ~std::uint64_t{0};  // every NaN is one value
    std::uint64_t bits;
    std::memcpy(&bits, &d, sizeof bits);
    return bits;
  } else {
    return static_cast<std::uint64_t>(static_cast<std::int64_t>(v));
  }
}

class CountDistinctState final : public HolisticState {
 public:
  explicit CountDistinctState(bool plain) : HolisticState("count_distinct"), plain_(plain) {}

  void update(const Column* input, std::span<const std::int32_t> gid) override {
    const auto& valid = input->validity();
    if (plain_) {
      const auto& s = input->plain();
      for_valid(gid.size(), valid, [&](size_t i) {
        strings_.push_back({gid[i], std::string(s.at(static_cast<idx_t>(i)))});
      });
      return;
    }
    input->visit([&](const auto& v) {
      using V = std::decay_t<decltype(v)>;
      if constexpr (kIsValues<V>) {
        for_valid(gid.size(), valid, [&](size_t i) {
          values_.push_back({gid[i], value_bits(v[i])});
        });
      }
    });
  }

  Column finalize(std::string*) const override {
    table::Buffer<std::int64_t> out(static_cast<size_t>(groups_), 0);
    auto count_runs = [&](auto entries) {
      std::sort(entries.begin(), entries.end());
      for (size_t i = 0; i < entries.size(); ++i)
        if (i == 0 || entries[i] != entries[i - 1]) ++out[static_cast<size_t>(entries[i].first)];
    };
    if (plain_)
      count_runs(strings_);
    else
      count_runs(values_);
    return int64_column(std::move(out));
  }

 private:
  bool plain_;
  std::vector<std::pair<std::int32_t, std::uint64_t>> values_;
  std::vector<std::pair<std::int32_t, std::string>> strings_;
};

}  // namespace

AggregateFunction count_distinct_function() {
  AggregateFunction f;
  f.name = "count_distinct";
  f.summary = "exact number of distinct values (any type); 0 for an empty group";
  f.holistic = true;
  f.output_type = [](DataType, std::string_view) { return DataType::kInt64; };
  f.make_state = [](const AggregateInput& input) -> std::unique_ptr<AggregateState> {
    return std::make_unique<CountDistinctState>(input.plain_strings);
  };
  return f;
}

}  // namespace shardflow::ops::aggregates
