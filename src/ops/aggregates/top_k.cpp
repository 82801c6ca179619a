// top_k(column, k): the k greatest non-null values of each group, one output row each, greatest
// first (fewer rows for a group with fewer values, none for a group without). The group's keys
// and other aggregates repeat on its rows (db-benchmark q8: "largest two v3 by id6"). Values are
// ordered as in min/max (floats: NaN greatest, 0.0 > -0.0). Up to k = 16, each group keeps its k
// greatest values and partial states merge; above, holistic: every value of a group is brought
// to one rank and finalize selects the k greatest per group.

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

// k at most this: top_k keeps k values per group and merges partial states (not holistic).
constexpr idx_t kMergeableTopK = 16;

// top_k for a small k: each group keeps its k greatest values so far, greatest first, so partial
// states (k value columns and the input count) merge like a sum's and no raw row is shuffled
// (db-benchmark q8). A group's kept values are the min(k, count) greatest of its inputs; equal
// values are kept separately, so the rows equal the holistic form's.
template <typename T>
class BoundedTopKState final : public AggregateState {
 public:
  BoundedTopKState(DataType type, idx_t k) : type_(type), k_(static_cast<size_t>(k)) {}

  idx_t num_groups() const override { return static_cast<idx_t>(count_.size()); }
  void resize(idx_t groups) override {
    count_.resize(static_cast<size_t>(groups), 0);
    kept_.resize(static_cast<size_t>(groups) * k_);
  }

  void update(const Column* input, std::span<const std::int32_t> gid) override {
    const auto& v = input->values<T>();
    for_valid(gid.size(), input->validity(), [&](size_t i) {
      const auto g = static_cast<size_t>(gid[i]);
      offer(g, count_[g], v[i]);
      ++count_[g];
    });
  }

  std::vector<Column> state_columns(bool) const override {
    std::vector<Column> out;
    for (size_t j = 0; j < k_; ++j) {
      Column c(type_);
      auto& o = c.values<T>();
      o.resize(count_.size());
      for (size_t g = 0; g < count_.size(); ++g)
        o[g] = static_cast<idx_t>(j) < count_[g] ? kept_[g * k_ + j] : T{};
      out.push_back(std::move(c));
    }
    out.push_back(int64_column(count_));
    return out;
  }
  int num_state_columns(bool) const override { return static_cast<int>(k_) + 1; }

  void merge(std::span<const Column> partial, std::span<const std::int32_t> gid) override {
    const auto& count = partial.back().values<std::int64_t>();
    for (size_t i = 0; i < gid.size(); ++i) {
      const auto g = static_cast<size_t>(gid[i]);
      const auto kept = std::min<std::int64_t>(count[i], static_cast<std::int64_t>(k_));
      for (std::int64_t j = 0; j < kept; ++j)
        offer(g, std::min<std::int64_t>(count_[g] + j, static_cast<std::int64_t>(k_)),
              partial[static_cast<size_t>(j)].values<T>()[i]);
      count_[g] += count[i];
    }
  }

  Column finalize(std::string*) const override {
    throw RuntimeError("top_k gives several rows per group: finalize_rows");
  }

  Column finalize_rows(std::vector<idx_t>& group_of_row, std::vector<Column>&) const override {
    Column out(type_);
    auto& o = out.values<T>();
    group_of_row.clear();
    for (size_t g = 0; g < count_.size(); ++g) {
      const auto kept = std::min<std::int64_t>(count_[g], static_cast<std::int64_t>(k_));
      for (std::int64_t j = 0; j < kept; ++j) {
        o.push_back(kept_[g * k_ + static_cast<size_t>(j)]);
        group_of_row.push_back(static_cast<idx_t>(g));
      }
    }
    return out;
  }

 private:
  // Offers x to group g, which keeps min(seen, k) values, greatest first.
  void offer(size_t g, std::int64_t seen, T x) {
    T* kept = kept_.data() + g * k_;
    auto n = static_cast<size_t>(std::min<std::int64_t>(seen, static_cast<std::int64_t>(k_)));
    if (n == k_) {
      if (!less_than(kept[k_ - 1], x)) return;  // not above the least kept value
      --n;                                      // the least kept value drops out
    }
    size_t at = n;
    while (at > 0 && less_than(kept[at - 1], x)) {
      kept[at] = kept[at - 1];
      --at;
    }
    kept[at] = x;
  }

  DataType type_;
  size_t k_;
  table::Buffer<std::int64_t> count_;  // non-null inputs of each group
  std::vector<T> kept_;                // k slots per group
};

template <typename T>
std::unique_ptr<AggregateState> make_top_k(DataType type, idx_t k) {
  if (k <= kMergeableTopK) return std::make_unique<BoundedTopKState<T>>(type, k);
  return std::make_unique<TopKState<T>>(type, k);
}

}  // namespace

AggregateFunction top_k_function() {
  AggregateFunction f;
  f.name = "top_k";
  f.summary = "the k greatest values, one row each, greatest first (named form: top_k(v, 2))";
  f.holistic = true;  // for k above kMergeableTopK
  f.mergeable_with = [](const std::vector<double>& args) {
    return args.size() == 1 && args[0] <= static_cast<double>(kMergeableTopK);
  };
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
        return make_top_k<std::int32_t>(input.type, k);
      case DataType::kFloat32:
        return make_top_k<float>(input.type, k);
      case DataType::kFloat64:
        return make_top_k<double>(input.type, k);
      default:  // int64, timestamp
        return make_top_k<std::int64_t>(input.type, k);
    }
  };
  return f;
}

}  // namespace shardflow::ops::aggregates
