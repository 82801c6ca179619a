// min(column) and the state under max: the least (greatest) non-null value of each group, of the
// input's type. Floats are ordered totally (-0.0 < 0.0, NaN above every number) and strings by
// value (dictionary code order is string order), so the result does not depend on the order in
// which values arrive. State: [value (input type, same encoding and dictionary), count int64].

#include "kernels.hpp"

namespace shardflow::ops::aggregates {

namespace {

using table::Column;
using table::DataType;
using table::PlainStrings;

class ExtremeState final : public AggregateState {
 public:
  ExtremeState(const AggregateInput& input, bool is_min) : is_min_(is_min), kept_(input) {}

  idx_t num_groups() const override { return static_cast<idx_t>(count_.size()); }

  void resize(idx_t groups) override {
    count_.resize(static_cast<size_t>(groups), 0);
    kept_.resize(static_cast<size_t>(groups));
  }

  void update(const Column* input, std::span<const std::int32_t> gid) override {
    fold(*input, input->validity(), nullptr, gid);
  }

  std::vector<Column> state_columns(bool) const override {
    return {kept_.to_column(), int64_column(count_)};
  }
  int num_state_columns(bool) const override { return 2; }

  void merge(std::span<const Column> partial, std::span<const std::int32_t> gid) override {
    fold(partial[0], {}, &partial.back().values<std::int64_t>(), gid);
  }

  Column finalize(std::string*) const override {
    Column out = kept_.to_column();
    set_validity_from_count(out, count_);
    return out;
  }

 private:
  // Folds the values of `values` into their groups: update (rows counted once each, nulls per
  // `valid` skipped) or merge (`partial_count` given: row i stands for partial_count[i] values,
  // none when 0).
  void fold(const Column& values, const std::vector<std::uint8_t>& valid,
            const table::Buffer<std::int64_t>* partial_count, std::span<const std::int32_t> gid) {
    const size_t n = gid.size();
    auto* cnt = count_.data();
    auto weight = [&](size_t i) -> std::int64_t { return partial_count ? (*partial_count)[i] : 1; };
    auto each = [&](auto&& f) {
      for_valid(n, valid, [&](size_t i) {
        const std::int64_t w = weight(i);
        if (w == 0) return;
        f(i);
        cnt[gid[i]] += w;
      });
    };
    if (kept_.plain()) {
      const PlainStrings& s = values.plain();
      each([&](size_t i) {
        const auto g = gid[i];
        const auto sv = s.at(static_cast<idx_t>(i));
        auto& cur = kept_.strings()[static_cast<size_t>(g)];
        if (cnt[g] == 0 || (is_min_ ? sv < cur : cur < sv)) cur.assign(sv);
      });
      return;
    }
    values.visit([&](const auto& v) {
      using V = std::decay_t<decltype(v)>;
      if constexpr (kIsValues<V>) {
        auto* ep = kept_.column().values<typename V::value_type>().data();
        if (is_min_) {
          each([&](size_t i) {
            const auto g = gid[i];
            if (cnt[g] == 0 || less_than(v[i], ep[g])) ep[g] = v[i];
          });
        } else {
          each([&](size_t i) {
            const auto g = gid[i];
            if (cnt[g] == 0 || less_than(ep[g], v[i])) ep[g] = v[i];
          });
        }
      }
    });
  }

  bool is_min_;
  table::Buffer<std::int64_t> count_;
  ValueSlots kept_;
};

}  // namespace

std::unique_ptr<AggregateState> make_extreme_state(const AggregateInput& input, bool is_min) {
  return std::make_unique<ExtremeState>(input, is_min);
}

AggregateFunction min_function() {
  AggregateFunction f;
  f.name = "min";
  f.summary = "least value (any type; floats: -0.0 < 0.0, NaN greatest; strings by value)";
  f.output_type = [](DataType input, std::string_view) { return input; };
  f.make_state = [](const AggregateInput& input) { return make_extreme_state(input, true); };
  return f;
}

}  // namespace shardflow::ops::aggregates
